// The guest's debug registers (APM Vol. 2 §13.1 "Software-Debug Resources").
//
// VMRUN loads the guest's DR6 and DR7 from the VMCB and #VMEXIT gives the
// host its own back (§15.5.1 "Basic Operation", §15.6 "#VMEXIT"), but DR0-3
// are not switched at all. The kernel intercepts every MOV to and from DR0-7
// (the DR intercept word at VMCB offset 004h, Appendix B; set by
// svm_force_intercepts) and emulates
// it here, as KVM does while a guest has not used them: DR0-3 live in
// v->dr[], DR6 and DR7 in the VMCB, and the guest's DR0-3 are put into the
// CPU just before VMRUN only when its DR7 enables a breakpoint. The host
// never enables a breakpoint (its DR7 stays at the reset value 0x400), so
// the guest's addresses left in DR0-3 after an exit match nothing.
//
// Why every access exits, not only until first use as KVM does: on QEMU
// 7.2 a guest's own MOV to DR7 arms TCG breakpoints that VMRUN and #VMEXIT,
// which assign DR7 without re-arming, never take away again; they then fired
// in the host (a guest breakpoint on a kernel address reset the machine).
// Intercepted, the guest's DR7 reaches the CPU only through the VMCB and
// through svm_dr_arm below.
//
// For the same reason a DR7 that only VMRUN loads arms nothing on QEMU, and
// the guest's breakpoints would never fire. So while the guest's DR7 enables
// any, the kernel itself writes it to DR7 (MOV DR7 arms them) as the last
// step before the world switch and writes the host's 0x400 back as the
// first step after it (svm_dr_arm, svm_dr_disarm). Between the two the host
// runs only the world switch, which touches the kernel image, this
// process's kernel stack, the vcpu and its VMCB (and, should an NMI or #MC
// arrive before CLGI or after STGI, this CPU's IST stacks and the kernel
// image's handlers): a guest breakpoint on any of those is left unarmed
// (on a CPU it would match guest addresses, not these; a guest loses it
// only if its own address equals one of them). On a
// CPU this costs nothing wrong: #VMEXIT restores the DR7 VMRUN saved, which
// is then the armed one, and svm_dr_disarm clears it at once.
#include "defs.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "proc.h"
#include "mmu.h"

#define DR6_FIXED1 0xFFFF0FF0UL   // bits 31:16 and 11:4 read as 1
#define DR6_VOLATILE 0xE00FUL     // B0-B3, BD, BS, BT
#define DR6_BD (1UL << 13)
#define DR7_FIXED1 0x400UL        // bit 10 reads as 1
#define DR7_VOLATILE 0xFFFF23FFUL // enables, LE/GE, GD, R/W and LEN fields
#define DR7_GD (1UL << 13)
#define DR7_ENABLES 0xFFUL        // L0/G0 .. L3/G3

static inline void load_dr(int n, uint64 val)
{
  switch (n) {
  case 0: asm volatile("mov %0, %%dr0" ::"r"(val)); break;
  case 1: asm volatile("mov %0, %%dr1" ::"r"(val)); break;
  case 2: asm volatile("mov %0, %%dr2" ::"r"(val)); break;
  case 3: asm volatile("mov %0, %%dr3" ::"r"(val)); break;
  }
}

// The length in bytes a DR7 breakpoint covers (LEN field; instruction
// breakpoints have LEN 0, one byte).
static uint64 bp_len(uint64 dr7, int i)
{
  static const uint64 len[4] = {1, 2, 8, 4};
  return len[(dr7 >> (18 + 4 * i)) & 3];
}

extern char __kernel_start[], __bss_end[];   // kernel.ld: the kernel image

static int overlaps(uint64 a, uint64 n, const void *lo, uint64 size)
{
  uint64 b = (uint64)lo;
  return a < b + size && a + n > b;
}

// 1 if [a, a+n) lies on host memory the world switch touches.
static int on_switch_memory(struct vcpu *v, uint64 a, uint64 n)
{
  struct proc *p = myproc();
  return overlaps(a, n, __kernel_start, (uint64)(__bss_end - __kernel_start)) ||
         (p && overlaps(a, n, p->kstack, KSTACKSIZE)) || overlaps(a, n, v, sizeof *v) ||
         overlaps(a, n, v->vmcb, PGSIZE) || ist_overlaps(a, n);
}

// The guest's DR7 as the host loads it for the world switch: GD is the
// kernel's to emulate, breakpoints on the switch's own memory stay off.
// Not static: ktest=nmi_step checks which addresses stay unarmed.
uint64 svm_dr7_for_switch(struct vcpu *v)
{
  uint64 dr7 = v->vmcb->save.dr7 & ~DR7_GD;
  for (int i = 0; i < 4; i++)
    if ((dr7 & (3UL << (2 * i))) && on_switch_memory(v, v->dr[i], bp_len(dr7, i)))
      dr7 &= ~(3UL << (2 * i));
  return dr7;
}

// With interrupts off, the last step before svm_enter_guest: the guest's
// breakpoint addresses into DR0-3 and its DR7 armed. 1 if armed.
int svm_dr_arm(struct vcpu *v)
{
  if (!(v->vmcb->save.dr7 & DR7_ENABLES))
    return 0;
  for (int i = 0; i < 4; i++)
    load_dr(i, v->dr[i]);
  uint64 dr7 = svm_dr7_for_switch(v);
  if (!(dr7 & DR7_ENABLES))
    return 0;
  asm volatile("mov %0, %%dr7" ::"r"(dr7));
  return 1;
}

// The first step after svm_enter_guest: the host's DR7, nothing armed.
void svm_dr_disarm(int armed)
{
  if (armed)
    asm volatile("mov %0, %%dr7" ::"r"(DR7_FIXED1));
}

// I/O breakpoints (§13.1.1.4, CR4.DE=1, R/W 10b): the CPU checks them as
// the IN or OUT completes, but an intercepted one completes in the kernel
// or the VMM, so svm_insn_done asks here after each instruction it
// finishes. The DR6 bits of those the IOIO exit in the VMCB (port and size
// in EXITINFO1, §15.10.2) matched; 0 for any other instruction.
uint64 svm_dr_io_hits(struct vcpu *v)
{
  struct vmcb_save *s = &v->vmcb->save;
  if (v->vmcb->control.exitcode != SVM_EXIT_IOIO || !(s->cr4 & CR4_DE) || !(s->dr7 & DR7_ENABLES))
    return 0;
  uint64 info = v->vmcb->control.exitinfo1, port = info >> 16;
  uint64 size = (info & 0x10) ? 1 : (info & 0x20) ? 2 : 4, hits = 0;
  for (int i = 0; i < 4; i++) {
    int enabled = (s->dr7 >> (2 * i)) & 3, rw = (s->dr7 >> (16 + 4 * i)) & 3;
    uint64 n = bp_len(s->dr7, i), a = v->dr[i] & 0xFFFF & ~(n - 1);
    if (enabled && rw == 2 && a < port + size && a + n > port)
      hits |= 1UL << i;
  }
  return hits;
}

// DR7.GD (general detect, §13.1.1.5): the MOV faults with #DB before it
// executes, DR6.BD set; the CPU clears GD as it enters the handler, so that
// the handler can use the debug registers.
static int general_detect(struct vcpu *v, struct vm_exit *e)
{
  struct vmcb_save *s = &v->vmcb->save;
  s->dr6 = (s->dr6 & ~0xFUL) | DR6_BD | DR6_FIXED1;
  s->dr7 &= ~DR7_GD;
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_DR);
  return svm_inject_fault(v, e, 1, 0);
}

// DRn's value as the guest reads it (n is 0-3, 6 or 7).
static uint64 dr_get(struct vcpu *v, int n)
{
  return n < 4 ? v->dr[n] : n == 6 ? v->vmcb->save.dr6 : v->vmcb->save.dr7;
}

// Writes DRn; -1 when the value is refused (#GP: bits 63:32 of DR6/DR7).
static int dr_set(struct vcpu *v, int n, uint64 val)
{
  if (n < 4) {
    v->dr[n] = val;
    return 0;
  }
  if (val >> 32)
    return -1;
  if (n == 6)
    v->vmcb->save.dr6 = (val & DR6_VOLATILE) | DR6_FIXED1;
  else
    v->vmcb->save.dr7 = (val & DR7_VOLATILE) | DR7_FIXED1;
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_DR);
  return 0;
}

// SVM_EXIT_READ_DR0..7 and SVM_EXIT_WRITE_DR0..7 (run.c's table). The exit
// code names the register; the instruction (MOV r, DRn is 0F 21, MOV DRn, r
// 0F 23, always a register operand) names the general register. The CPU has
// checked CPL 0 already (instruction intercepts come after those simple
// exceptions, §15.7 "Intercept Operation"). Operands are 64-bit in 64-bit
// mode, 32-bit elsewhere.
int dr_interception(struct vcpu *v, struct vm_exit *e)
{
  uint64 code = v->vmcb->control.exitcode;
  int write = code >= SVM_EXIT_WRITE_DR0, n = code & 0xF;
  struct svm_insn d;
  if (svm_decode_0f(v, &d) < 0 || d.op != (write ? 0x23 : 0x21))
    return svm_inject_fault(v, e, 13, 1);
  if (d.reg >= 8)
    return svm_inject_fault(v, e, 6, 0);   // DR8-15 do not exist: #UD
  if (n == 4 || n == 5) {
    if (v->vmcb->save.cr4 & CR4_DE)
      return svm_inject_fault(v, e, 6, 0); // debugging extensions: DR4/5 are #UD
    n += 2;                                // else aliases of DR6/DR7
  }
  if (v->vmcb->save.dr7 & DR7_GD)
    return general_detect(v, e);
  int is64 = svm_guest_64bit(v);
  if (write) {
    uint64 val = svm_gpr(v, d.rm);
    if (dr_set(v, n, is64 ? val : (uint32)val) < 0)
      return svm_inject_fault(v, e, 13, 1);
  } else {
    uint64 val = dr_get(v, n);
    svm_set_gpr(v, d.rm, is64 ? val : (uint32)val);
  }
  return svm_emulated(v, e, d.len);
}
