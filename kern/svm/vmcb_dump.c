// Names for exit codes and a VMCB printer: every field of Appendix B by name,
// for debugging (vmcb_dump) and for the GDB helpers' tests to compare with.
#include "defs.h"
#include "svm/vmm.h"

#define X(code) [code] = #code
static const char *exit_names[] = {
  X(SVM_EXIT_INTR), X(SVM_EXIT_NMI), X(SVM_EXIT_SMI), X(SVM_EXIT_INIT), X(SVM_EXIT_VINTR),
  X(SVM_EXIT_CR0_SEL_WRITE), X(SVM_EXIT_IDTR_READ), X(SVM_EXIT_GDTR_READ),
  X(SVM_EXIT_LDTR_READ), X(SVM_EXIT_TR_READ), X(SVM_EXIT_IDTR_WRITE),
  X(SVM_EXIT_GDTR_WRITE), X(SVM_EXIT_LDTR_WRITE), X(SVM_EXIT_TR_WRITE), X(SVM_EXIT_RDTSC),
  X(SVM_EXIT_RDPMC), X(SVM_EXIT_PUSHF), X(SVM_EXIT_POPF), X(SVM_EXIT_CPUID), X(SVM_EXIT_RSM),
  X(SVM_EXIT_IRET), X(SVM_EXIT_SWINT), X(SVM_EXIT_INVD), X(SVM_EXIT_PAUSE), X(SVM_EXIT_HLT),
  X(SVM_EXIT_INVLPG), X(SVM_EXIT_INVLPGA), X(SVM_EXIT_IOIO), X(SVM_EXIT_MSR),
  X(SVM_EXIT_TASK_SWITCH), X(SVM_EXIT_FERR_FREEZE), X(SVM_EXIT_SHUTDOWN), X(SVM_EXIT_VMRUN),
  X(SVM_EXIT_VMMCALL), X(SVM_EXIT_VMLOAD), X(SVM_EXIT_VMSAVE), X(SVM_EXIT_STGI),
  X(SVM_EXIT_CLGI), X(SVM_EXIT_SKINIT), X(SVM_EXIT_RDTSCP), X(SVM_EXIT_ICEBP),
  X(SVM_EXIT_WBINVD), X(SVM_EXIT_MONITOR), X(SVM_EXIT_MWAIT), X(SVM_EXIT_MWAIT_COND),
  X(SVM_EXIT_XSETBV), X(SVM_EXIT_RDPRU), X(SVM_EXIT_EFER_WRITE_TRAP), X(SVM_EXIT_INVLPGB),
  X(SVM_EXIT_INVLPGB_ILLEGAL), X(SVM_EXIT_INVPCID), X(SVM_EXIT_MCOMMIT), X(SVM_EXIT_TLBSYNC),
  X(SVM_EXIT_NPF), X(SVM_EXIT_AVIC_INCOMPLETE_IPI), X(SVM_EXIT_AVIC_NOACCEL),
  X(SVM_EXIT_VMGEXIT),
};
#undef X

// Ranges of exit codes (one per register or vector) share a name: the
// caller adds the index, e.g. "SVM_EXIT_EXCP_BASE+14" for #PF.
static const struct { uint32 lo, hi; const char *name; } exit_ranges[] = {
  {SVM_EXIT_READ_CR0, SVM_EXIT_READ_CR0 + 15, "SVM_EXIT_READ_CR"},
  {SVM_EXIT_WRITE_CR0, SVM_EXIT_WRITE_CR0 + 15, "SVM_EXIT_WRITE_CR"},
  {SVM_EXIT_READ_DR0, SVM_EXIT_READ_DR0 + 15, "SVM_EXIT_READ_DR"},
  {SVM_EXIT_WRITE_DR0, SVM_EXIT_WRITE_DR0 + 15, "SVM_EXIT_WRITE_DR"},
  {SVM_EXIT_EXCP_BASE, SVM_EXIT_EXCP_BASE + 31, "SVM_EXIT_EXCP"},
  {SVM_EXIT_CR0_WRITE_TRAP, SVM_EXIT_CR0_WRITE_TRAP + 15, "SVM_EXIT_CR_WRITE_TRAP"},
};

// Name of an exit code. Ranges give only the family name ("SVM_EXIT_EXCP");
// svm_exit_index() gives the register or vector.
const char *svm_exit_name(uint64 code)
{
  if (SVM_EXIT_IS_INVALID(code))
    return "SVM_EXIT_INVALID";
  if (SVM_EXIT_LOW32(code) == (uint32)SVM_EXIT_BUSY)
    return "SVM_EXIT_BUSY";
  if (code < ARRAY_SIZE(exit_names) && exit_names[code])
    return exit_names[code];
  for (uint64 i = 0; i < ARRAY_SIZE(exit_ranges); i++)
    if (code >= exit_ranges[i].lo && code <= exit_ranges[i].hi)
      return exit_ranges[i].name;
  return "unknown";
}

static void dump_seg(const char *name, const struct vmcb_seg *s)
{
  printf("  %-5s sel=0x%04x attrib=0x%03x limit=0x%08x base=0x%016lx\n", name, s->selector,
         s->attrib, s->limit, s->base);
}

#define F(name, v) printf("  %-20s 0x%016lx\n", name, (uint64)(v))

static void dump_control(const struct vmcb_control *c)
{
  printf("vmcb control area:\n");
  F("intercept_cr", c->intercepts[INTERCEPT_WORD_CR]);
  F("intercept_dr", c->intercepts[INTERCEPT_WORD_DR]);
  F("intercept_exceptions", c->intercepts[INTERCEPT_WORD_EXC]);
  F("intercept_misc1", c->intercepts[INTERCEPT_WORD_MISC1]);
  F("intercept_misc2", c->intercepts[INTERCEPT_WORD_MISC2]);
  F("intercept_misc3", c->intercepts[INTERCEPT_WORD_MISC3]);
  F("pause_filter_thresh", c->pause_filter_thresh);
  F("pause_filter_count", c->pause_filter_count);
  F("iopm_base_pa", c->iopm_base_pa);
  F("msrpm_base_pa", c->msrpm_base_pa);
  F("tsc_offset", c->tsc_offset);
  F("asid", c->asid);
  F("tlb_control", c->tlb_control);
  F("int_ctl", c->int_ctl);
  F("int_state", c->int_state);
  printf("  %-20s 0x%016lx (%s)\n", "exitcode", c->exitcode, svm_exit_name(c->exitcode));
  F("exitinfo1", c->exitinfo1);
  F("exitinfo2", c->exitinfo2);
  F("exitintinfo", c->exitintinfo);
  F("nested_ctl", c->nested_ctl);
  F("avic_apic_bar", c->avic_apic_bar);
  F("ghcb_gpa", c->ghcb_gpa);
  F("eventinj", c->eventinj);
  F("ncr3", c->ncr3);
  F("virt_ext", c->virt_ext);
  F("clean", c->clean);
  F("next_rip", c->next_rip);
  F("insn_len", c->insn_len);
  F("avic_backing_page", c->avic_backing_page);
  F("avic_logical_id", c->avic_logical_id);
  F("avic_physical_id", c->avic_physical_id);
  F("vmsa_pa", c->vmsa_pa);
}

static void dump_save_regs(const struct vmcb_save *s)
{
  F("cpl", s->cpl);
  F("efer", s->efer);
  F("cr0", s->cr0);
  F("cr2", s->cr2);
  F("cr3", s->cr3);
  F("cr4", s->cr4);
  F("dr6", s->dr6);
  F("dr7", s->dr7);
  F("rflags", s->rflags);
  F("rip", s->rip);
  F("rsp", s->rsp);
  F("rax", s->rax);
  F("star", s->star);
  F("lstar", s->lstar);
  F("cstar", s->cstar);
  F("sfmask", s->sfmask);
  F("kernel_gs_base", s->kernel_gs_base);
  F("sysenter_cs", s->sysenter_cs);
  F("sysenter_esp", s->sysenter_esp);
  F("sysenter_eip", s->sysenter_eip);
  F("g_pat", s->g_pat);
  F("dbgctl", s->dbgctl);
  F("br_from", s->br_from);
  F("br_to", s->br_to);
  F("lastexcpfrom", s->lastexcpfrom);
  F("lastexcpto", s->lastexcpto);
  F("s_cet", s->s_cet);
  F("ssp", s->ssp);
  F("isst_addr", s->isst_addr);
  F("xss", s->xss);
  F("spec_ctrl", s->spec_ctrl);
}

static void dump_save(const struct vmcb_save *s)
{
  printf("vmcb save area:\n");
  dump_seg("es", &s->es);
  dump_seg("cs", &s->cs);
  dump_seg("ss", &s->ss);
  dump_seg("ds", &s->ds);
  dump_seg("fs", &s->fs);
  dump_seg("gs", &s->gs);
  dump_seg("gdtr", &s->gdtr);
  dump_seg("ldtr", &s->ldtr);
  dump_seg("idtr", &s->idtr);
  dump_seg("tr", &s->tr);
  dump_save_regs(s);
}
#undef F

// Prints every field of the VMCB by name (control area, then save area).
void vmcb_dump(const struct vmcb *vmcb)
{
  printf("vmcb at %p (pa 0x%lx):\n", vmcb, V2P(vmcb));
  dump_control(&vmcb->control);
  dump_save(&vmcb->save);
}
