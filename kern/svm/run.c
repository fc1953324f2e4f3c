// Lab 4 (run): enter the guest, take the #VMEXIT, dispatch it.
//
// Following KVM (vcpu_enter_guest -> svm_vcpu_run -> svm_vcpu_enter_exit,
// svm_handle_exit, svm_exit_handlers[]). vcpu_run_once turns interrupts off
// (no preemption, no migration) and loads the vcpu on this CPU; the world
// switch (svm_enter_guest + vmenter.S, part A) runs the guest once with
// GIF, EFLAGS.IF and the VMSAVE/VMLOAD state managed so that a host
// interrupt during the guest forces an INTR exit but is taken only when the
// host's state is back (APM Vol. 2 §15.5 "VMRUN Instruction", §15.5.2
// "VMSAVE and VMLOAD Instructions", §15.17 "Global Interrupt Flag, STGI and
// CLGI Instructions", §15.21.1); the exit is handled with interrupts still
// off, and vcpu_run_once enables them afterwards (the timer may reschedule
// us there). A handler (part B) returns 1 to re-enter or 0 to return to user
// space with *e filled in. Instructions the VMM emulates are completed at the
// next vcpu_run (vcpu_complete, part C): QEMU has no NRIPS, so the next RIP
// is the exit RIP plus the instruction's known length, or EXITINFO2 for I/O
// (§15.10.2).
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "errno.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "svm/svm_ops.h"
#include "svm/vmenter.h"
#include "svm/nested.h"
#include "../lib/string.h"

_Static_assert(offsetof(struct svm_gprs, rbx) == GPR_RBX && offsetof(struct svm_gprs, rsi) == GPR_RSI &&
                   offsetof(struct svm_gprs, rbp) == GPR_RBP && offsetof(struct svm_gprs, r8) == GPR_R8 &&
                   offsetof(struct svm_gprs, r15) == GPR_R15,
               "vmenter.h offsets match struct svm_gprs");

// Lengths of the instructions the kernel skips without NRIPS.
#define LEN_CPUID 2     // 0F A2
#define LEN_RDWRMSR 2   // 0F 32 / 0F 30
#define LEN_VMMCALL 3   // 0F 01 D9
#define LEN_HLT 1       // F4

#define INVALID_DUMPS 4 // VMCB dumps per boot on VMEXIT_INVALID (invalid_vmcb)

// Each CPU's page for the host's VMSAVE/VMLOAD state. Not VM_HSAVE_PA: that
// page belongs to the processor (§15.30.4), this one to software. Static, so
// that running a guest allocates nothing that outlives it.
static uint8 host_save[NCPU][PGSIZE] __attribute__((aligned(PGSIZE)));

// Set by the lab 4 stubs of svm_enter_guest (1) and vmenter.S (2): the
// world switch is missing, so vcpu_run_once reports that (it cannot print
// while the guest's GS may be loaded) instead of handling a made-up exit.
int lab4_enter_missing;

// ktests only (run_exits): an exit code to report instead of the one the CPU
// wrote, once: QEMU never produces codes beyond the exit table's end.
uint64 ktest_fake_exitcode;

// ---- RIP advance and completion of emulated instructions ----------------

// Records where the intercepted instruction of length len ends: next_rip from
// the VMCB when the CPU has NRIPS (§15.7.1), else RIP + len.
static void svm_skip_later(struct vcpu *v, uint32 len)
{
  // LAB 4 BEGIN
  if (svm_has(SVM_FEAT_NRIPS) && v->vmcb->control.next_rip)
    v->next_rip = v->vmcb->control.next_rip;
  else
    v->next_rip = v->vmcb->save.rip + len;
  // LAB 4 STUB
  // // LAB 4: (C) set v->next_rip to the RIP after the intercepted instruction of length len (§15.7.1).
  // static int told;
  // if (!told++)
  //   lab_missing(4, "svm_skip_later");
  // v->next_rip = v->vmcb->save.rip;
  // LAB 4 END
}

// Moves RIP past the instruction, ends the interrupt shadow it may have been
// in and raises the single-step #DB its TF asks for (KVM
// kvm_skip_emulated_instruction; step.c).
static void svm_skip_now(struct vcpu *v)
{
  svm_insn_done(v, v->next_rip, v->exit_rflags);
}

static uint64 size_mask(uint32 size) { return size >= 8 ? ~0UL : (1UL << (8 * size)) - 1; }

// The value of a register after an instruction wrote val to it through the
// low bits am (0xFFFF, 0xFFFFFFFF or all): a 16-bit write keeps bits 63:16, a
// 32-bit one zero-extends (APM Vol. 1 §3.1.2.3 "64-Bit Mode").
static uint64 addr_write(uint64 old, uint64 val, uint64 am)
{
  return am == 0xFFFF ? (old & ~am) | (val & am) : val & am;
}

// Completes an I/O exit: IN data into RAX, string pointers advanced.
static void complete_io(struct vcpu *v, const struct vm_exit *u)
{
  // LAB 4 BEGIN
  const struct vm_exit *k = &v->last;   // the kernel's copy: user space may scribble on *u
  if (!k->u.io.string) {
    uint64 rax = v->vmcb->save.rax, m = size_mask(k->u.io.size);
    if (k->u.io.in)   // a 32-bit IN zero-extends into RAX; 8/16-bit ones merge
      v->vmcb->save.rax = k->u.io.size == 4 ? (uint32)u->u.io.data : (rax & ~m) | (u->u.io.data & m);
    return;
  }
  uint64 am = size_mask(k->u.io.asize);
  int64 step = (int64)k->u.io.size * k->u.io.count;
  if (v->vmcb->save.rflags & FL_DF)
    step = -step;
  uint64 *ptr = k->u.io.in ? &v->gprs.rdi : &v->gprs.rsi;
  *ptr = addr_write(*ptr, *ptr + step, am);
  if (k->u.io.rep)
    v->gprs.rcx = addr_write(v->gprs.rcx, 0, am);
  // LAB 4 STUB
  // // LAB 4: (C) finish the I/O exit recorded in v->last: an IN puts u->u.io.data into the guest's
  // // rAX as a CPU would for its size; string I/O moves rSI or rDI past the data, rep leaves rCX 0.
  // (void)u, (void)size_mask, (void)addr_write;
  // static int told;
  // if (!told++)
  //   lab_missing(4, "complete_io");
  // LAB 4 END
}

// Applies what user space filled into *u for the pending exit, then moves
// RIP past the instruction (see kern/vmabi.h).
static void vcpu_complete(struct vcpu *v, const struct vm_exit *u)
{
  // LAB 4 BEGIN
  switch (v->pending) {
  case VM_EXIT_IO:
    complete_io(v, u);
    break;
  case VM_EXIT_CPUID:
    v->vmcb->save.rax = u->u.cpuid.eax;
    v->gprs.rbx = u->u.cpuid.ebx;
    v->gprs.rcx = u->u.cpuid.ecx;
    v->gprs.rdx = u->u.cpuid.edx;
    break;
  case VM_EXIT_MSR:
    if (!v->last.u.msr.write) {
      v->vmcb->save.rax = (uint32)u->u.msr.value;
      v->gprs.rdx = u->u.msr.value >> 32;
    }
    break;
  case VM_EXIT_VMMCALL:
    v->vmcb->save.rax = u->u.hypercall.ret;
    break;
  case VM_EXIT_HLT:
    break;
  default:
    return;
  }
  v->pending = 0;
  svm_skip_now(v);
  // LAB 4 STUB
  // // LAB 4: (C) if an exit is pending (v->pending), apply what user space wrote into *u (I/O,
  // // CPUID, RDMSR and VMMCALL results) to the guest's registers, then move RIP past it once.
  // (void)u, (void)svm_skip_now, (void)complete_io;
  // static int told;
  // if (v->pending && !told++)
  //   lab_missing(4, "vcpu_complete");
  // LAB 4 END
}

// Cancels the pending completion: the instruction faults instead (inject.c).
void vcpu_cancel_completion(struct vcpu *v) { v->pending = 0; }

// ---- exit handlers -----------------------------------------------------

// Fills the parts of *e every exit has.
static void exit_record(struct vcpu *v, struct vm_exit *e, uint32 reason)
{
  struct vmcb_control *c = &v->vmcb->control;
  e->reason = reason;
  e->ran_on_cpu = v->last_cpu;
  e->code = c->exitcode;
  e->exitinfo1 = c->exitinfo1;
  e->exitinfo2 = c->exitinfo2;
  e->exitintinfo = c->exitintinfo;
  e->rip = v->vmcb->save.rip;
}

// The same for exit handlers in other files (cr0.c).
void svm_exit_record(struct vcpu *v, struct vm_exit *e, uint32 reason) { exit_record(v, e, reason); }

// An instruction user space emulates: report it, complete it at the next run.
static int user_exit(struct vcpu *v, struct vm_exit *e, uint32 reason, uint32 len)
{
  exit_record(v, e, reason);
  svm_skip_later(v, len);
  v->pending = reason;
  return 0;
}

// The linear address of seg:off, seg numbered as in EXITINFO1 (0 ES, 1 CS,
// 2 SS, 3 DS, 4 FS, 5 GS).
static uint64 string_gva(struct vcpu *v, uint32 seg, uint64 off)
{
  // LAB 4 BEGIN
  // In 64-bit mode only FS and GS have a base (APM Vol. 1 §4.5.3); elsewhere
  // the linear address wraps at 4 GiB.
  struct vmcb_save *s = &v->vmcb->save;
  const struct vmcb_seg *segs[6] = {&s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs};
  int lm64 = (s->efer & EFER_LMA) && (s->cs.attrib & SEG_ATTR_L);
  uint64 base = seg > 5 || (lm64 && seg < 4) ? 0 : segs[seg]->base;
  return lm64 ? base + off : (uint32)(base + off);
  // LAB 4 STUB
  // // LAB 4: (B) the linear address of seg:off as the CPU forms it in the guest's mode.
  // (void)v, (void)seg;
  // return off;
  // LAB 4 END
}

// IOIO (§15.10.2 "IOIO Intercepts"): EXITINFO1 describes the instruction,
// EXITINFO2 is the RIP after it. The guest's registers give the count and
// the string address. Fills e->u.io and v->next_rip; 0, or <0 from the stub.
// Also pio.c's fast path decodes with it.
int svm_ioio_decode(struct vcpu *v, struct vm_exit *e)
{
  uint64 info = v->vmcb->control.exitinfo1;
  // LAB 4 BEGIN
  info = svm_ioio_exitinfo1(v);   // with the address size and segment (ioio_assist.c)
  e->u.io.port = info >> 16;
  e->u.io.in = info & 1;
  e->u.io.string = (info >> 2) & 1;
  e->u.io.rep = (info >> 3) & 1;
  e->u.io.size = (info & 0x10) ? 1 : (info & 0x20) ? 2 : 4;
  e->u.io.asize = (info & 0x80) ? 2 : (info & 0x100) ? 4 : 8;
  uint64 amask = size_mask(e->u.io.asize);
  e->u.io.count = e->u.io.rep ? (uint32)(v->gprs.rcx & amask) : 1;
  if (e->u.io.string)   // OUTS reads seg:rSI (DS unless overridden), INS writes ES:rDI
    e->u.io.gva = e->u.io.in ? string_gva(v, 0, v->gprs.rdi & amask)
                             : string_gva(v, (info >> 10) & 7, v->gprs.rsi & amask);
  else if (!e->u.io.in)
    e->u.io.data = v->vmcb->save.rax & size_mask(e->u.io.size);
  v->next_rip = v->vmcb->control.exitinfo2;
  // LAB 4 STUB
  // // LAB 4: (B) decode EXITINFO1 (info; svm_ioio_exitinfo1 fills in what QEMU leaves out) into
  // // e->u.io: port, in, string, rep, size, asize, count (rCX under the address size), gva for
  // // string I/O (string_gva), data for OUT; and v->next_rip for completion.
  // (void)info, (void)string_gva;
  // return lab_missing(4, "io_interception");
  // LAB 4 END
  return 0;
}

__attribute__((unused)) static int io_interception(struct vcpu *v, struct vm_exit *e)
{
  exit_record(v, e, VM_EXIT_IO);
  int r = svm_ioio_decode(v, e);
  if (r < 0)
    return r;
  e->u.io.down = e->u.io.string && (v->vmcb->save.rflags & FL_DF);   // which way the VMM walks
  v->pending = VM_EXIT_IO;
  return 0;
}

// pio.c's fast path: completes the IN decoded into *d with value, as
// vcpu_complete would, and moves RIP past it.
void svm_pio_complete(struct vcpu *v, const struct vm_exit *d, uint64 value)
{
  __typeof__(v->last.u.io) saved = v->last.u.io;   // the record user space will complete
  v->last.u.io = d->u.io;
  v->last.u.io.data = value;
  if (d->u.io.in)
    complete_io(v, &v->last);
  v->last.u.io = saved;
  svm_skip_now(v);
}

__attribute__((unused)) static int cpuid_interception(struct vcpu *v, struct vm_exit *e)
{
  e->u.cpuid.leaf = v->vmcb->save.rax;
  e->u.cpuid.subleaf = v->gprs.rcx;
  uint32 r[4];
  if (svm_cpuid_lookup(v, e->u.cpuid.leaf, e->u.cpuid.subleaf, r)) {   // the VMM's table (cpuid_table.c)
    v->vmcb->save.rax = r[0];   // 32-bit results, zero-extended as CPUID writes them
    v->gprs.rbx = r[1];
    v->gprs.rcx = r[2];
    v->gprs.rdx = r[3];
    svm_skip_later(v, LEN_CPUID);
    svm_skip_now(v);
    e->kexits++;
    return 1;
  }
  return user_exit(v, e, VM_EXIT_CPUID, LEN_CPUID);
}

// EFER stays the kernel's business: the guest must keep EFER.SVME=1 in its
// VMCB (§15.5.1) but does not see it, and writes of SVME are ignored. A
// write that sets a reserved bit, or changes LME while paging is on, raises
// #GP as on a CPU (APM Vol. 2 §3.1.7 "Extended Feature Enable Register"):
// let through, it would leave EFER.LMA out of step with LME and CR0.PG, a
// state no CPU can be in (QEMU then runs the guest on in a broken mode).
// Setting LME with paging off is what a guest does to enter long mode
// (§14.6.1 "Activating Long Mode"): the kernel notes it (lme_pending) but
// keeps the VMCB's LME clear until the guest turns paging on, when cr0.c sets
// LME and LMA together, so that no #VMEXIT ever sees LME=1 with paging off
// (cr0.c says why that matters on QEMU). RDMSR shows the guest its LME.
#define EFER_GUEST_BITS (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE | EFER_SVME)
static int efer_msr(struct vcpu *v, int write, struct vm_exit *e)
{
  struct vmcb_save *s = &v->vmcb->save;
  if (write) {
    uint64 val = ((uint64)v->gprs.rdx << 32) | (uint32)s->rax;
    uint64 cur = s->efer | (v->lme_pending ? EFER_LME : 0);
    if ((val & ~EFER_GUEST_BITS) || (((val ^ cur) & EFER_LME) && (s->cr0 & CR0_PG)) ||
        nested_efer_svme(v, 1, val) < 0) {   // lab 9: SVME is the guest's when it has SVM
      return svm_inject_fault(v, e, 13, 1);   // #GP(0), RIP stays on the WRMSR
    }
    int paging = (s->cr0 & CR0_PG) != 0;
    v->lme_pending = !paging && (val & EFER_LME);
    s->efer = (val & (EFER_SCE | EFER_NXE | (paging ? EFER_LME : 0))) | EFER_SVME | (s->efer & EFER_LMA);
    vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_CR);
  } else {
    uint64 shown = (s->efer & ~EFER_SVME) | (v->lme_pending ? EFER_LME : 0) |
                   (nested_efer_svme(v, 0, 0) ? EFER_SVME : 0);
    s->rax = (uint32)shown;
    v->gprs.rdx = shown >> 32;
  }
  svm_skip_later(v, LEN_RDWRMSR);
  svm_skip_now(v);
  return 1;
}

// MSR: EXITINFO1 = 0 for RDMSR, 1 for WRMSR (§15.11); ECX names the MSR.
__attribute__((unused)) static int msr_interception(struct vcpu *v, struct vm_exit *e)
{
  uint32 msr = v->gprs.rcx;
  int write = v->vmcb->control.exitinfo1 & 1;
  if (msr == MSR_EFER)
    return efer_msr(v, write, e);
  if (nested_msr(v, msr, write, e))   // lab 9: VM_CR, VM_HSAVE_PA when the guest has SVM
    return 1;
  if (svm_tsc_deadline_write(v, msr, write, e)) {   // tsc_deadline.c: VM_RUN_TSC_DEADLINE
    svm_skip_later(v, LEN_RDWRMSR);
    svm_skip_now(v);
    return 1;
  }
  if (msr == MSR_TSC_AUX && svm_tsc_aux_msr(v, write)) {   // tsc_aux.c
    svm_skip_later(v, LEN_RDWRMSR);
    svm_skip_now(v);
    return 1;
  }
  e->u.msr.msr = msr;
  e->u.msr.write = write;
  if (write)
    e->u.msr.value = ((uint64)(uint32)v->gprs.rdx << 32) | (uint32)v->vmcb->save.rax;
  return user_exit(v, e, VM_EXIT_MSR, LEN_RDWRMSR);
}

__attribute__((unused)) static int vmmcall_interception(struct vcpu *v, struct vm_exit *e)
{
  e->u.hypercall.rax = v->vmcb->save.rax;
  e->u.hypercall.rbx = v->gprs.rbx;
  e->u.hypercall.rcx = v->gprs.rcx;
  e->u.hypercall.rdx = v->gprs.rdx;
  return user_exit(v, e, VM_EXIT_VMMCALL, LEN_VMMCALL);
}

// HLT with IF=1 waits in the kernel (lab 5, halt.c); with IF=0 it ends the
// guest's work, user space hears of it. L2's HLT always waits (lab 9).
__attribute__((unused)) static int halt_interception(struct vcpu *v, struct vm_exit *e)
{
  if (nested_halt(v, e))
    return 1;
  if (vcpu_halt_blocks(v)) {
    svm_skip_later(v, LEN_HLT);
    svm_skip_now(v);
    e->kexits++;
    return 1;
  }
  return user_exit(v, e, VM_EXIT_HLT, LEN_HLT);
}

// Nested page fault (§15.25.6): EXITINFO2 = guest-physical address,
// EXITINFO1 = page-fault style error code. The instruction restarts.
__attribute__((unused)) static int npf_interception(struct vcpu *v, struct vm_exit *e)
{
  exit_record(v, e, VM_EXIT_NPF);
  e->u.npf.gpa = v->vmcb->control.exitinfo2;
  e->u.npf.access = v->vmcb->control.exitinfo1 & (VM_NPF_PRESENT | VM_NPF_WRITE | VM_NPF_USER | VM_NPF_FETCH);
  return 0;
}

// An intercepted exception: user space decides (exitinfo1 = error code).
__attribute__((unused)) static int exception_interception(struct vcpu *v, struct vm_exit *e)
{
  exit_record(v, e, VM_EXIT_EXCEPTION);
  e->u.exception.vector = v->vmcb->control.exitcode - SVM_EXIT_EXCP_BASE;
  e->u.exception.has_error = 1;
  e->u.exception.error = v->vmcb->control.exitinfo1;
  return 0;
}

// A physical interrupt arrived while the guest ran: re-enter; the host takes
// it when vcpu_run turns interrupts back on (and may reschedule there).
__attribute__((unused)) static int intr_interception(struct vcpu *v, struct vm_exit *e)
{
  e->kexits++;
  return 1;
}

// An NMI is taken as soon as STGI sets GIF again; nothing else to do.
__attribute__((unused)) static int nmi_interception(struct vcpu *v, struct vm_exit *e)
{
  e->kexits++;
  return 1;
}

// The guest's own VMRUN/VMLOAD/VMSAVE/STGI/CLGI/SKINIT/INVLPGA: without
// SVM for the guest (EFER.SVME is hidden), these raise #UD as on a CPU
// without SVM; with it (VM_RUN_NESTED), nested.c carries them out.
__attribute__((unused)) static int svm_insn_interception(struct vcpu *v, struct vm_exit *e)
{
  if (v->nested && !v->nested->guest_mode)
    return nested_svm_insn(v, e);
  v->vmcb->control.eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 6;
  e->kexits++;
  return 1;
}

// Triple fault. The VMCB's guest state is undefined afterwards (§15.9): the
// vcpu is never entered again.
__attribute__((unused)) static int shutdown_interception(struct vcpu *v, struct vm_exit *e)
{
  exit_record(v, e, VM_EXIT_SHUTDOWN);
  v->dead = 1;
  return 0;
}

// VMRUN refused the guest state (§15.5.1). Entering again would fail again.
__attribute__((unused)) static int invalid_vmcb(struct vcpu *v, struct vm_exit *e)
{
  exit_record(v, e, VM_EXIT_INVALID);
  enum vmcb_rule r = vmcb_check(v->vmcb);
  printf("svm: vcpu %d: VMRUN failed with VMEXIT_INVALID (check: %s)\n", v->id, vmcb_rule_name(r));
  // Any process can make VMRUN fail at will: dump the VMCB (some 60 lines)
  // only the first few times, so that it cannot flood the console.
  static int dumps;
  int n = __atomic_fetch_add(&dumps, 1, __ATOMIC_RELAXED);
  if (n < INVALID_DUMPS)
    vmcb_dump(v->vmcb);
  else if (n == INVALID_DUMPS)
    printf("svm: further VMCB dumps suppressed\n");
  v->dead = 1;
  return 0;
}

__attribute__((unused)) static int unknown_exit(struct vcpu *v, struct vm_exit *e)
{
  exit_record(v, e, VM_EXIT_UNKNOWN);
  return 0;
}

// LAB 4 BEGIN
#define EXCP(n) [SVM_EXIT_EXCP_BASE + (n)] = exception_interception
static int (*const svm_exit_handlers[])(struct vcpu *v, struct vm_exit *e) = {
  EXCP(0), EXCP(1), EXCP(3), EXCP(4), EXCP(5), EXCP(6), EXCP(7), EXCP(8), EXCP(10), EXCP(11),
  EXCP(12), EXCP(13), EXCP(14), EXCP(16), EXCP(17), EXCP(18), EXCP(19),
  [SVM_EXIT_INTR] = intr_interception,
  [SVM_EXIT_NMI] = nmi_interception,
  [SVM_EXIT_CPUID] = cpuid_interception,
  [SVM_EXIT_HLT] = halt_interception,
  [SVM_EXIT_INVLPGA] = svm_insn_interception,
  [SVM_EXIT_IOIO] = io_interception,
  [SVM_EXIT_MSR] = msr_interception,
  [SVM_EXIT_SHUTDOWN] = shutdown_interception,
  [SVM_EXIT_VMRUN] = svm_insn_interception,
  [SVM_EXIT_VMMCALL] = vmmcall_interception,
  [SVM_EXIT_VMLOAD] = svm_insn_interception,
  [SVM_EXIT_VMSAVE] = svm_insn_interception,
  [SVM_EXIT_STGI] = svm_insn_interception,
  [SVM_EXIT_CLGI] = svm_insn_interception,
  [SVM_EXIT_SKINIT] = svm_insn_interception,
  [SVM_EXIT_MONITOR] = svm_insn_interception,   // hidden by CPUID: #UD (vmcb_required_intercepts)
  [SVM_EXIT_MWAIT] = svm_insn_interception,
  [SVM_EXIT_XSETBV] = xsetbv_interception,
  [SVM_EXIT_NPF] = npf_interception,
  [SVM_EXIT_WRITE_CR0] = cr0_write_interception,
  [SVM_EXIT_WRITE_CR8] = cr8_write_interception,
  [SVM_EXIT_WRITE_CR0 + 4] = cr4_write_interception,
  [SVM_EXIT_READ_DR0 ... SVM_EXIT_READ_DR0 + 7] = dr_interception,
  [SVM_EXIT_WRITE_DR0 ... SVM_EXIT_WRITE_DR0 + 7] = dr_interception,
};
#undef EXCP
// LAB 4 STUB
// // LAB 4: (B) svm_exit_handlers[exit code] = the handler above for each exit the kernel intercepts
// // (vmcb.c's intercept list and svm_force_intercepts); unlisted codes stay NULL.
// static int (*const svm_exit_handlers[1])(struct vcpu *v, struct vm_exit *e);
// LAB 4 END

// Dispatches the exit in v's VMCB. VMEXIT_INVALID is compared on its low
// 32 bits: QEMU writes 0x00000000FFFFFFFF where hardware writes all ones.
static int svm_handle_exit(struct vcpu *v, struct vm_exit *e)
{
  // LAB 4 BEGIN
  uint64 code = v->vmcb->control.exitcode;
  if (SVM_EXIT_IS_INVALID(code))
    return invalid_vmcb(v, e);
  if (code >= ARRAY_SIZE(svm_exit_handlers) || !svm_exit_handlers[code])
    return unknown_exit(v, e);
  return svm_exit_handlers[code](v, e);
  // LAB 4 STUB
  // // LAB 4: (B) call svm_exit_handlers[] for the exit code in the VMCB; VMEXIT_INVALID goes to
  // // invalid_vmcb, a code with no handler to unknown_exit. Return what the handler returns.
  // (void)svm_exit_handlers;
  // exit_record(v, e, VM_EXIT_UNKNOWN);
  // return lab_missing(4, "svm_handle_exit");
  // LAB 4 END
}

// cr0.c's selective CR0 write intercept: a CR0 write like any other, for the
// exit table's CR0 write handler (without decode assists both exits carry
// nothing but the code, APM Vol. 2 §15.9.1). The exit is recorded as
// SVM_EXIT_WRITE_CR0 from here on: one code for the VMM, one table entry.
static int cr0_sel_write_exit(struct vcpu *v, struct vm_exit *e)
{
  v->vmcb->control.exitcode = SVM_EXIT_WRITE_CR0;
  return svm_handle_exit(v, e);
}

// ---- entering the guest ------------------------------------------------

// One VMRUN of v on this CPU, interrupts off and v loaded. Returns with
// interrupts still off and GIF=1.
static void svm_enter_guest(struct vcpu *v, int cpu)
{
  uint64 vmcb_pa = v->current_vmcb->pa, host_pa = V2P(host_save[cpu]);
  // LAB 4 BEGIN
  clgi();
  sti();               // IF=1 for VMRUN; GIF=0 keeps the interrupts pending
  vmsave(host_pa);
  vmload(vmcb_pa);
  v->guest_state_loaded = 1;
  svm_vmrun_regs(vmcb_pa, &v->gprs);
  // Until the VMLOAD below, FS/GS/TR and the SYSCALL MSRs are the guest's:
  // no per-CPU data (mycpu() reads GS), no printf, nothing that faults.
  vmsave(vmcb_pa);
  vmload(host_pa);
  v->guest_state_loaded = 0;
  cli();
  stgi();
  // LAB 4 STUB
  // // LAB 4: (A) one VMRUN of the VMCB at vmcb_pa through svm_vmrun_regs, with GIF and IF set so that
  // // a host interrupt makes an INTR exit, and the VMSAVE/VMLOAD state switched (host: host_pa).
  // (void)vmcb_pa, (void)host_pa;
  // lab4_enter_missing = 1;
  // LAB 4 END
}

// After each #VMEXIT: forget one-shot requests, re-queue an event whose
// delivery the exit interrupted (EXITINTINFO, §15.20), and note that the
// VMCB as it is now is what the CPU has seen (clean bits, §15.15.3).
static void svm_after_exit(struct vcpu *v, int cpu)
{
  struct vmcb_control *c = &v->vmcb->control;
  c->tlb_control = TLB_CONTROL_DO_NOTHING;
  // LAB 4 BEGIN
  c->eventinj = 0;
  // A software interrupt (INT n; QEMU also reports INT3 and INTO as type 4)
  // is raised again by its instruction, which RIP still points at; injected
  // again, it would push that RIP as the return address and run twice.
  // (AMD hardware reports INT3/INTO as exceptions, type 3; KVM re-executes
  // those too, kvm_exception_is_soft. svmlab follows the type QEMU gives.)
  if ((c->exitintinfo & SVM_EVTINJ_VALID) && (c->exitintinfo & SVM_EVTINJ_TYPE_MASK) != SVM_EVTINJ_TYPE_SOFT)
    c->eventinj = c->exitintinfo;
  // LAB 4 STUB
  // // LAB 4: (C) EVENTINJ is a one-shot request; an event whose delivery this exit interrupted
  // // (EXITINTINFO, §15.20) must reach the guest exactly once, as the CPU would have delivered it.
  // static int told;
  // if (!told++)
  //   lab_missing(4, "svm_after_exit (EVENTINJ, EXITINTINFO)");
  // LAB 4 END
  c->clean = VMCB_CLEAN_ALL;
  v->last_cpu = cpu;
  v->nexits++;
}

// The class of the exit in v's VMCB for vm_exit.switches[].
static int switch_class(struct vcpu *v)
{
  uint64 code = v->vmcb->control.exitcode;
  switch (code) {
  case SVM_EXIT_INTR: case SVM_EXIT_INTR + 2: case SVM_EXIT_INTR + 3: return VM_SW_INTR;   // INTR SMI INIT
  case SVM_EXIT_NMI: return VM_SW_NMI;
  case SVM_EXIT_VINTR: return VM_SW_VINTR;
  case SVM_EXIT_IOIO: return v->vmcb->control.exitinfo1 & 1 ? VM_SW_IO_IN : VM_SW_IO_OUT;
  case SVM_EXIT_CPUID: return VM_SW_CPUID;
  case SVM_EXIT_MSR: return VM_SW_MSR;
  case SVM_EXIT_HLT: return VM_SW_HLT;
  case SVM_EXIT_VMMCALL: return VM_SW_VMMCALL;
  case SVM_EXIT_NPF: return VM_SW_NPF;
  }
  if (code < 0x20 || code == SVM_EXIT_CR0_SEL_WRITE)   // reads and writes of CR0-CR15 (0x00-0x1F), cr0.c's
    return VM_SW_CR;
  if (code >= SVM_EXIT_EXCP_BASE && code < SVM_EXIT_EXCP_BASE + 32)
    return VM_SW_EXCP;
  return VM_SW_OTHER;
}

// One entry and exit with interrupts off; returns the handler's verdict.
static int vcpu_run_once(struct vcpu *v, struct vm_exit *e)
{
  pushcli();
  int cpu = cpuid_self();
  // lab 9: an interrupt of L1's while L2 runs is L1's exit, and a stale
  // shadow NPT goes (before the load: the current VMCB may change)
  int r = nested_check_events(v);
  if (r == 0)
    r = vcpu_load(v, cpu);
  if (r == 0) {
    // On VMEXIT_INVALID QEMU writes its current state, the host's, into the
    // save area (hardware leaves it alone). Put back what VMRUN refused: it
    // is what the VMM may read (vcpu_getregs) and what vmcb_check examines.
    struct vmcb_save entry = v->vmcb->save;
    svm_cr0_guard(v);
    svm_tr_guard(v);                     // QEMU 7.2 (kern/svm/tr_guard.c)
    svm_inject_nmi(v);                   // nmi.c: NMIs (and held events) before the line
    if (!svm_prepare_entry(v, cpu)) {   // lab 5: a kick or HLT came first
      vcpu_put(v);
      popcli();
      return 1;
    }
    svm_exit_after_intr(v, cpu);         // QEMU 7.2 (kern/svm/irq.c)
    svm_nmi_window(v, cpu);              // nmi.c: an exit as soon as a waiting NMI can go in
    svm_guest_fpu_load(v);
    uint64 host_tsc_aux = svm_tsc_aux_enter(v);
    int dr_armed = svm_dr_arm(v);        // dr.c: the guest's breakpoints, armed for the switch only
    int vgif = nested_vgif_enter(v);     // lab 9: L1's CLGI/STGI without exits (nested_vgif.c)
    mycpu()->in_guest = 1;               // watchdog.c: a guest the host cannot interrupt
    svm_enter_guest(v, cpu);
    mycpu()->in_guest = 0;
    nested_vgif_exit(v, vgif);
    svm_dr_disarm(dr_armed);
    svm_tsc_aux_exit(v, host_tsc_aux);
    svm_complete_interrupts(v);          // lab 5: out of guest mode, window closed
    if (ktest_fake_exitcode) {
      v->vmcb->control.exitcode = ktest_fake_exitcode;
      ktest_fake_exitcode = 0;
    }
    if (lab4_enter_missing) {
      r = lab_missing(4, lab4_enter_missing == 1 ? "svm_enter_guest" : "svm_vmrun_regs (vmenter.S)");
      lab4_enter_missing = 0;
    } else {
      if (SVM_EXIT_IS_INVALID(v->vmcb->control.exitcode))
        v->vmcb->save = entry;
      svm_after_exit(v, cpu);
      e->switches[switch_class(v)]++;
      int nr = nested_guest_mode(v) ? nested_exit(v, e) : -1;   // lab 9: L1's exit, or L0's
      if (nr >= 0)
        r = nr;
      else if (svm_nmi_after_exit(v, e))      // nmi.c: IRET, or its own single-step #DB
        r = 1;
      else if (v->vmcb->control.exitcode == SVM_EXIT_VINTR)   // lab 5: the interrupt window opened
        r = svm_vintr_interception(v, e);
      else if (v->vmcb->control.exitcode == SVM_EXIT_IOIO && svm_pio_fast(v, e))   // pio.c
        r = 1;
      else if (v->vmcb->control.exitcode == SVM_EXIT_CR0_SEL_WRITE)   // cr0.c's guard
        r = cr0_sel_write_exit(v, e);
      else
        r = svm_handle_exit(v, e);
    }
    vcpu_put(v);
  }
  popcli();   // a host interrupt behind an INTR exit is taken here
  return r;
}

// The guest's CR8. With V_INTR_MASKING, its MOV to and from CR8 use V_TPR
// without an exit (APM Vol. 2 §15.21.3 "Virtual TPR"; the intercept stays
// off), so the VMM's LAPIC learns the TPR from every exit record and gives
// it back with VM_RUN_SET_CR8 (KVM sync_cr8_to_lapic / sync_lapic_to_cr8).
#define CR8_V_TPR 0xFUL
static void vcpu_set_cr8(struct vcpu *v, uint32 cr8)
{
  struct vmcb *vmcb = nested_tpr_vmcb(v);   // lab 9: L1's TPR, not L2's own CR8
  struct vmcb_control *c = &vmcb->control;
  c->int_ctl = (c->int_ctl & ~CR8_V_TPR) | (cr8 & CR8_V_TPR);
  vmcb_mark_dirty(vmcb, VMCB_CLEAN_INTR);
}

// Runs v until an exit user space must see (*e, returns 0). Returns
// VM_EXIT_INTR after host interrupts when a timer tick went by, so that the
// caller can check for kill and budgets; -EINVAL for a dead vcpu or a caller
// with interrupts off (the host could never take the interrupt behind an
// INTR exit, so the guest would exit again at once, forever); -ENOSYS from
// unfinished labs.
int vcpu_run(struct vcpu *v, struct vm_exit *e)
{
  if (v->dead || !(rflags() & FL_IF))
    return -EINVAL;
  if (e->run_flags & VM_RUN_INIT)   // the VMM restarted it by INIT-SIPI (init.c)
    vcpu_init_signal(v);
  if ((e->run_flags & VM_RUN_INSN_DONE) && !v->pending)   // user space emulated it (MMIO)
    svm_insn_done(v, v->vmcb->save.rip, v->exit_rflags);
  vcpu_complete(v, e);
  uint64 deadline = e->deadline_ns;
  uint32 flags = e->run_flags & ~(VM_RUN_INSN_DONE | VM_RUN_INIT);   // one-shot: not kept
  if ((flags & VM_RUN_NESTED) && nested_enable(v) < 0)   // lab 9: the guest gets SVM
    return -ENOMEM;
  if (flags & VM_RUN_SET_CR8)
    vcpu_set_cr8(v, e->cr8);
  v->pio = e->pio;
  uint64 tsc_deadline = e->tsc_deadline;
  memset(e, 0, sizeof *e);
  e->pio = v->pio;                         // kept, as deadline_ns and run_flags are
  e->tsc_deadline = tsc_deadline;
  vcpu_run_start(v, e, deadline, flags);   // lab 5
  svm_tsc_deadline_start(v, e);            // tsc_deadline.c: its time counts as a deadline
  uint64 t0 = mycpu()->ticks;
  for (;;) {
    int r = svm_pio_before_halt(v, e) ? 0 : vcpu_check_requests(v, e);   // lab 5: kicks, deadline, HLT
    if (r > 0)
      r = vcpu_run_once(v, e);
    if (r <= 0) {
      vcpu_run_end(v, e);
      nested_report(v, e);
      e->cr8 = nested_tpr_vmcb(v)->control.int_ctl & CR8_V_TPR;
      v->last = *e;
      return r;
    }
    if (mycpu()->ticks != t0) {
      exit_record(v, e, VM_EXIT_INTR);
      vcpu_run_end(v, e);
      nested_report(v, e);
      e->cr8 = nested_tpr_vmcb(v)->control.int_ctl & CR8_V_TPR;
      v->last = *e;
      return 0;
    }
  }
}
