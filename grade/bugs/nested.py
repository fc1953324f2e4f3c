# Lab 9 (nested): plausible student mistakes, each of which must lose points
# (tools/bugs.py), and correct variants that must keep them all. Parts:
# A the vmcb02 merge (nested_prepare_vmcb02), B whose exit it is
# (nested_exit_wanted), C what #VMEXIT writes into vmcb12 (nested_vmexit_copy).
N = "kern/svm/nested.c"
T = ["nested/svmnest"]

# ---- A: vmcb02 from vmcb01 and vmcb12 ---------------------------------------

bug("l0_intercepts_only",
    "vmcb02 keeps only L0's intercepts: nothing L1 asked for (CPUID, HLT...) reaches L1",
    edits=[(N, "    c->intercepts[i] = v01->control.intercepts[i] | v12->control.intercepts[i];",
            "    c->intercepts[i] = v01->control.intercepts[i];")],
    tests=T)

bug("no_exception_intercepts_of_l1",
    "merges every intercept word but the exception bitmap, which stays L0's",
    edits=[(N, "  c->intercepts[INTERCEPT_WORD_MISC1] &= ~INTERCEPT_VINTR;   // L0's own window is vmcb01's\n",
            "  c->intercepts[INTERCEPT_WORD_MISC1] &= ~INTERCEPT_VINTR;   // L0's own window is vmcb01's\n"
            "  c->intercepts[INTERCEPT_WORD_EXC] = v01->control.intercepts[INTERCEPT_WORD_EXC];\n")],
    tests=T)

bug("no_eventinj",
    "forgets vmcb12's EVENTINJ: the event L1 injects never reaches L2",
    edits=[(N, "  c->eventinj = v12->control.eventinj;   // delivered by this VMRUN (§15.20)\n", "")],
    tests=T)

bug("rax_from_l1",
    "gives L2 L1's RAX (the vmcb12 address) instead of vmcb12's",
    edits=[(N, "s->rsp = s12->rsp, s->rax = s12->rax;", "s->rsp = s12->rsp, s->rax = v01->save.rax;")],
    tests=T)

bug("rsp_from_l1",
    "gives L2 L1's stack pointer instead of vmcb12's RSP",
    edits=[(N, "s->rsp = s12->rsp, s->rax = s12->rax;", "s->rsp = v01->save.rsp, s->rax = s12->rax;")],
    tests=T)

bug("vmload_state_from_vmcb12",
    "loads FS/GS/TR/the SYSCALL MSRs from vmcb12 as VMRUN does the other registers: VMRUN does not "
    "load them (§15.5.2), L2 must run with what L1 has VMLOADed",
    edits=[(N, "  nested_copy_vmload_state(s, &v01->save);\n  s->es = s12->es",
            "  nested_copy_vmload_state(s, &v12->save);\n  s->es = s12->es")],
    tests=T)

bug("rip_not_loaded",
    "forgets L2's RIP: L2 starts at 0",
    edits=[(N, "  s->rip = s12->rip, s->rsp", "  s->rsp")],
    tests=T)

bug("cr3_from_l1",
    "gives L2 L1's CR3 (they happen to match in svmnest, not in svmlab's guests)",
    edits=[(N, "s->cr3 = s12->cr3, s->cr4", "s->cr3 = v01->save.cr3, s->cr4")],
    tests=["nested/turtles_guests"])

bug("int_ctl_drops_l1s",
    "copies vmcb12's int_ctl without its virtual interrupt and vector fields",
    edits=[(N, "  c->int_ctl = (v12->control.int_ctl & (V_TPR_MASK | V_IRQ | V_INTR_PRIO_MASK | V_IGN_TPR | V_INTR_VECTOR_MASK)) |\n"
               "               V_INTR_MASKING;",
            "  c->int_ctl = V_INTR_MASKING;")],
    tests=T)

# ---- B: whose exit ------------------------------------------------------------

bug("intr_to_l1",
    "reflects physical interrupts to L1 (host timer ticks while L2 runs are L0's)",
    edits=[(N, "  if (code == SVM_EXIT_INTR || code == SVM_EXIT_NMI || code == SVM_EXIT_SMI)\n    return 0;\n", "")],
    tests=T)

bug("io_ignores_iopm",
    "reflects every I/O exit when L1 sets IOIO_PROT, without reading L1's IOPM",
    edits=[(N, "(c12->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_IOIO_PROT) && l1_wants_io(v, c->exitinfo1);",
            "(c12->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_IOIO_PROT) && (l1_wants_io(v, 0) || 1);")],
    tests=T)

bug("iopm_first_port_only",
    "checks only the first port of a multi-byte access in L1's IOPM (§15.10.1: every byte's bit)",
    edits=[(N, "  for (uint32 i = 0; i < size; i++)\n    if (l1_map_bit(v, base, (uint64)port + i))",
            "  for (uint32 i = 0; i < size && i < 1; i++)\n    if (l1_map_bit(v, base, (uint64)port + i))")],
    tests=T)

bug("msr_ignores_msrpm",
    "reflects every MSR exit when L1 sets MSR_PROT, without reading L1's MSRPM",
    edits=[(N, "    return (c12->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_MSR_PROT) &&\n"
               "           l1_wants_msr(v, v->gprs.rcx, c->exitinfo1 & 1);",
            "    return (c12->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_MSR_PROT) && (l1_wants_msr(v, 0, 0) || 1);")],
    tests=T)

bug("msrpm_read_write_swapped",
    "takes the write bit of L1's MSRPM for RDMSR and the read bit for WRMSR",
    edits=[(N, "(uint64)(msr & 0x1FFF) * 2 + (write ? 1 : 0);", "(uint64)(msr & 0x1FFF) * 2 + (write ? 0 : 1);")],
    tests=T)

bug("msrpm_range_bytes",
    "places the second MSR range at bit 0x800 instead of byte 0x800 of the MSRPM",
    edits=[(N, "  uint64 bit = off * 8 + ", "  uint64 bit = off + ")],
    tests=T)

bug("exceptions_never_l1s",
    "never reflects an exception (L0 re-raises nothing: L1's #UD intercept is lost)",
    edits=[(N, "    return (c12->intercepts[INTERCEPT_WORD_EXC] >> (code - SVM_EXIT_EXCP_BASE)) & 1;",
            "    return 0;")],
    tests=T)

bug("cr_reads_as_writes",
    "looks up CR exits in the write half of the CR intercept word only",
    edits=[(N, "    return (c12->intercepts[INTERCEPT_WORD_CR] >> code) & 1;",
            "    return (c12->intercepts[INTERCEPT_WORD_CR] >> (code | 16)) & 1;")],
    tests=T)

bug("vmmcall_always_l0s",
    "treats L2's VMMCALL as a hypercall to L0 whatever vmcb12 says (L1's VMMCALL intercept is lost)",
    edits=[(N, "  if (code == SVM_EXIT_INTR || code == SVM_EXIT_NMI || code == SVM_EXIT_SMI)\n",
            "  if (code == SVM_EXIT_INTR || code == SVM_EXIT_NMI || code == SVM_EXIT_SMI || code == SVM_EXIT_VMMCALL)\n")],
    tests=T)

bug("npf_to_l1_without_np",
    "reflects NPFs to an L1 that has no nested paging (L2's addresses are L1's: the NPF is L0's, "
    "here the VMM's MMIO device)",
    edits=[(N, "  if (code == SVM_EXIT_NPF)   // L1 without nested paging has no NPFs: L2's address is L1's, L0's table\n"
               "    return 0;\n", "")],
    tests=T)

bug("everything_to_l1",
    "reflects every exit of L2 to L1 (the UART's OUTs, host ticks, L0's NPFs)",
    edits=[(N, "  if (code == SVM_EXIT_INTR || code == SVM_EXIT_NMI || code == SVM_EXIT_SMI)\n    return 0;\n",
            "  return 1;\n")],
    tests=T)

# ---- C: #VMEXIT into vmcb12 ---------------------------------------------------

bug("rip_not_saved",
    "does not write L2's RIP into vmcb12: L1 resumes L2 at a stale RIP",
    edits=[(N, "  s12->rflags = s->rflags, s12->rip = s->rip, s12->rsp", "  s12->rflags = s->rflags, s12->rsp")],
    tests=T)

bug("rsp_not_saved",
    "does not write L2's RSP into vmcb12: L2's stack moves back at each reflected exit",
    edits=[(N, "s12->rip = s->rip, s12->rsp = s->rsp, s12->rax", "s12->rip = s->rip, s12->rax")],
    tests=T)

bug("rax_not_saved",
    "does not write L2's RAX into vmcb12 (L1 reads CPUID's leaf there)",
    edits=[(N, "s12->rsp = s->rsp, s12->rax = s->rax;", "s12->rsp = s->rsp;")],
    tests=T)

bug("exitinfo1_not_saved",
    "leaves EXITINFO1 out of vmcb12 (L1 cannot tell the port or the NPF's error code)",
    edits=[(N, "  c12->exitinfo1 = c->exitinfo1;\n", "")],
    tests=T)

bug("exitinfo2_not_saved",
    "leaves EXITINFO2 out of vmcb12 (the NPF's address, the I/O's next RIP)",
    edits=[(N, "  c12->exitinfo2 = c->exitinfo2;\n", "")],
    tests=T)

bug("eventinj_kept",
    "leaves vmcb12's EVENTINJ valid after the exit: L1's event is delivered again at each VMRUN",
    edits=[(N, "  c12->eventinj = 0;   // taken by the VMRUN, or reported in EXITINTINFO\n", "")],
    tests=T)

bug("virq_not_saved",
    "does not give V_IRQ back to vmcb12: L1 still sees its virtual interrupt pending and raises it again",
    edits=[(N, "  c12->int_ctl = (c12->int_ctl & ~(V_TPR_MASK | V_IRQ)) | (c->int_ctl & (V_TPR_MASK | V_IRQ));\n", "")],
    tests=T)

bug("exitcode_not_saved",
    "forgets the exit code: L1 sees the previous one",
    edits=[(N, "  c12->exitcode = c->exitcode;\n", "")],
    tests=T)

# ---- D: L1's permission maps (l1_wants_io, l1_wants_msr) --------------------

D = ["nested/nsvm_differential"]

bug("iopm_word_dword_swapped",
    "decodes EXITINFO1's size bits the wrong way round (SZ16 is bit 5, SZ32 bit 6, §15.10.2): a word "
    "access checks four ports, a dword two",
    edits=[(N, "size = (info1 & 0x10) ? 1 : (info1 & 0x20) ? 2 : 4;", "size = (info1 & 0x10) ? 1 : (info1 & 0x20) ? 4 : 2;")],
    tests=D)

bug("msrpm_third_range_missing",
    "knows two MSRPM ranges: C001_0000h-C001_1FFFh (VM_CR, VM_HSAVE_PA...) always exit to L1",
    edits=[(N, "  else if (msr >= 0xC0010000 && msr <= 0xC0011FFF)\n    off = 0x1000;\n", "")],
    tests=D)

bug("msrpm_second_range_at_0x400",
    "puts the second MSR range at byte 0x400 of the MSRPM instead of 0x800 (2 bits per MSR, 8K MSRs: 2 KiB "
    "a range)",
    edits=[(N, "    off = 0x800;\n", "    off = 0x400;\n")],
    tests=D)

bug("msrpm_index_unmasked",
    "indexes a range by the whole MSR number instead of its offset in the range",
    edits=[(N, "(uint64)(msr & 0x1FFF) * 2 + (write ? 1 : 0);", "(uint64)msr * 2 + (write ? 1 : 0);")],
    tests=D)

# ---- E: L1's state around the nested VMRUN and #VMEXIT ------------------------

bug("l1_cr2_not_updated",
    "gives L1 back the CR2 it had at VMRUN: #VMEXIT does not restore CR2, L1 sees L2's last page fault "
    "address (§15.6)",
    edits=[(N, "  v01->save.cr2 = v02->save.cr2;\n", "")],
    tests=D)

bug("l1_dr7_not_reset",
    "leaves L1's DR7 as it was at VMRUN: #VMEXIT resets it to 0x400 (§15.6)",
    edits=[(N, "  v01->save.dr7 = DR7_RESET;\n", "")],
    tests=D)

bug("l1_vmload_state_lost",
    "gives L1 back the FS/GS/TR/SYSCALL state it had at VMRUN: the CPU does not switch the VMLOAD state "
    "at #VMEXIT, L1 finds what L2 left (§15.5.2)",
    edits=[(N, "  nested_copy_vmload_state(&v01->save, &v02->save);   // L2 may have changed it (no VMLOAD exits)\n", "")],
    tests=T + D)

# ---- correct variants ---------------------------------------------------------

variant("iopm_one_read",
        "reads the IOPM bits of the access as one 16-bit word (they may span two bytes) instead of bit by bit",
        edits=[(N, "  for (uint32 i = 0; i < size; i++)\n    if (l1_map_bit(v, base, (uint64)port + i))\n"
                   "      return 1;\n  return 0;",
                "  uint16 w = 0;\n  uint64 b = (base & ~(uint64)(PGSIZE - 1)) + port / 8;\n"
                "  for (int k = 0; k < 2; k++) {\n    uint8 byte = 0xFF;\n"
                "    nested_gpa_read(v, b + k, &byte, 1);\n    w |= (uint16)byte << (8 * k);\n  }\n"
                "  return ((w >> (port % 8)) & ((1u << size) - 1)) != 0;")],
        tests=T)

variant("kvm_int_ctl_l1_bits",
        "KVM's choice: vmcb02's int_ctl keeps L0's V_INTR_MASKING and takes L1's V_TPR, V_IRQ and the "
        "vector/priority fields with one mask of the bits L1 may set",
        edits=[(N, "  c->int_ctl = (v12->control.int_ctl & (V_TPR_MASK | V_IRQ | V_INTR_PRIO_MASK | V_IGN_TPR | V_INTR_VECTOR_MASK)) |\n"
                   "               V_INTR_MASKING;",
                "  const uint64 l1_bits = V_TPR_MASK | V_IRQ | V_INTR_PRIO_MASK | V_IGN_TPR | V_INTR_VECTOR_MASK;\n"
                "  c->int_ctl = (v01->control.int_ctl & V_INTR_MASKING) | (v12->control.int_ctl & l1_bits) | V_INTR_MASKING;")],
        tests=T + ["nested/turtles_guests"])

variant("exc_switch_order",
        "tests the exception range before the CR and DR ranges",
        edits=[(N, "  if (code <= 0x1F)   // CR reads 0-15, writes 16-31: one bit each\n",
                "  if (code >= SVM_EXIT_EXCP_BASE && code < SVM_EXIT_EXCP_BASE + 32)\n"
                "    return (c12->intercepts[INTERCEPT_WORD_EXC] >> (code - SVM_EXIT_EXCP_BASE)) & 1;\n"
                "  if (code <= 0x1F)   // CR reads 0-15, writes 16-31: one bit each\n")],
        tests=T)

variant("msrpm_range_table",
        "finds the MSRPM range in a table of first MSRs and computes the byte and bit of the MSR separately",
        edits=[(N, "  uint64 base = v->nested->vmcb12->control.msrpm_base_pa, off;\n"
                   "  if (msr <= 0x1FFF)\n"
                   "    off = 0;\n"
                   "  else if (msr >= 0xC0000000 && msr <= 0xC0001FFF)\n"
                   "    off = 0x800;\n"
                   "  else if (msr >= 0xC0010000 && msr <= 0xC0011FFF)\n"
                   "    off = 0x1000;\n"
                   "  else\n"
                   "    return 1;\n"
                   "  uint64 bit = off * 8 + (uint64)(msr & 0x1FFF) * 2 + (write ? 1 : 0);\n"
                   "  return l1_map_bit(v, base, bit);\n",
                "  static const uint32 first[3] = {0, 0xC0000000, 0xC0010000};\n"
                "  uint64 base = v->nested->vmcb12->control.msrpm_base_pa;\n"
                "  for (int r = 0; r < 3; r++) {\n"
                "    uint32 i = msr - first[r];\n"
                "    if (i <= 0x1FFF)\n"
                "      return l1_map_bit(v, base, (uint64)(r * 0x800 + i / 4) * 8 + (i % 4) * 2 + (write != 0));\n"
                "  }\n"
                "  return 1;\n")],
        tests=T + D)

variant("l1_after_vmexit_reordered",
        "resets CPL and DR7 first, then copies the VMLOAD state and CR2, and clears EVENTINJ through the control "
        "area pointer",
        edits=[(N, "  nested_copy_vmload_state(&v01->save, &v02->save);   // L2 may have changed it (no VMLOAD exits)\n"
                   "  v01->save.cr2 = v02->save.cr2;\n"
                   "  v01->save.dr7 = DR7_RESET;\n"
                   "  v01->save.cpl = 0;\n"
                   "  v01->control.eventinj = 0;\n",
                "  struct vmcb_save *s1 = &v01->save;\n"
                "  struct vmcb_control *c1 = &v01->control;\n"
                "  s1->cpl = 0;\n"
                "  s1->dr7 = 0x400;\n"
                "  nested_copy_vmload_state(s1, &v02->save);\n"
                "  s1->cr2 = v02->save.cr2;\n"
                "  c1->eventinj = 0;\n")],
        tests=T + D)
