// Guest control-register writes the kernel checks and emulates: CR0 writes
// of long-mode guests (below) and every MOV to CR8 (cr8_write_interception).
//
// Why: QEMU 7.2 lets a guest clear CR0.PG in 64-bit mode, where the CPU
// raises #GP (APM Vol. 2 §14.7 "Leaving Long Mode"; MOV CRn in Vol. 3). The
// guest is then in 32-bit mode with EFER.LME=1 and paging off, may clear
// CR4.PAE too, and at the next #VMEXIT QEMU cannot give the host its paging
// back: it reloads the host's CR0 while the guest's CR4 (no PAE) and EFER
// (LME) are still in place and refuses to turn paging on, so the host CPU
// runs on without paging (user/guests/hostile_lmexit.S). The kernel keeps
// the invariant "EFER.LME=1 in a VMCB => CR0.PG=1": vcpu_setregs refuses
// LME without PG (sysvm.c); a guest WRMSR setting LME with paging off, the
// first step into long mode, is only noted (v->lme_pending, run.c efer_msr)
// and the VMCB's LME stays clear until the guest's CR0 write that turns
// paging on, which sets LME and LMA with it (or is #GP without CR4.PAE, as
// on a CPU, §14.6.1); while LME=1 or pending every CR0 write exits here (MOV
// CR0, CLTS, LMSW are CR0 writes, §15.9 "Instruction Intercepts"). QEMU has
// no decode assists, so the instruction is fetched from guest memory (a
// 4-level walk: LME=1 implies long mode) and decoded. A write that clears PG,
// sets reserved bits, PG without PE or NW without CD is #GP(0); other ones
// are applied and RIP moves past the instruction. Deviation: the CPU lets
// compatibility-mode code leave long mode; svmlab does not (#GP).
#include "defs.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "../lib/string.h"

#define CR0_RESERVED 0xFFFFFFFF00000000UL
#define GPTE_ADDR 0x000FFFFFFFFFF000UL

// Reads n bytes (not crossing a page) of guest-physical memory. 0 or -1.
static int gpa_read(struct vcpu *v, uint64 gpa, void *dst, uint64 n)
{
  uint64 hpa, perm;
  if (!v->vm || npt_lookup(vm_npt(v->vm), gpa, &hpa, &perm) < 0)
    return -1;
  memmove(dst, P2V(hpa), n);
  return 0;
}

// Translates gva through the guest's 4-level page table (CR3); with paging
// off (LME pending) linear is physical. 0 or -1.
static int gva_to_gpa(struct vcpu *v, uint64 gva, uint64 *gpa)
{
  if (!(v->vmcb->save.cr0 & CR0_PG)) {
    *gpa = (uint32)gva;
    return 0;
  }
  uint64 table = v->vmcb->save.cr3 & GPTE_ADDR;
  for (int level = 3; level >= 0; level--) {
    uint64 e;
    if (gpa_read(v, table + PX(level, gva) * 8, &e, 8) < 0 || !(e & PTE_P))
      return -1;
    uint64 span = 1UL << (12 + 9 * level);
    if (level == 0 || ((level == 1 || level == 2) && (e & PTE_PS))) {
      *gpa = ((e & GPTE_ADDR) & ~(span - 1)) | (gva & (span - 1));
      return 0;
    }
    table = e & GPTE_ADDR;
  }
  return -1;
}

// Fetches up to n instruction bytes at CS:RIP, stopping at the first byte
// that cannot be read (the instruction may end before it). The count.
static int fetch(struct vcpu *v, uint8 *b, int n)
{
  for (int i = 0; i < n; i++) {
    uint64 gpa;
    if (gva_to_gpa(v, v->vmcb->save.cs.base + v->vmcb->save.rip + i, &gpa) < 0 || gpa_read(v, gpa, &b[i], 1) < 0)
      return i;
  }
  return n;
}

// General register n (0 = RAX .. 15 = R15, x86 encoding order).
static uint64 gpr(struct vcpu *v, int n)
{
  struct svm_gprs *g = &v->gprs;
  const uint64 regs[16] = {v->vmcb->save.rax, g->rcx, g->rdx, g->rbx, v->vmcb->save.rsp, g->rbp, g->rsi, g->rdi,
                           g->r8, g->r9, g->r10, g->r11, g->r12, g->r13, g->r14, g->r15};
  return regs[n & 15];
}

static int is_prefix(uint8 b)
{
  return b == 0x66 || b == 0x67 || b == 0xF0 || b == 0xF2 || b == 0xF3 || b == 0x2E || b == 0x36 ||
         b == 0x3E || b == 0x26 || b == 0x64 || b == 0x65;
}

// Decodes the CR0 write at RIP: *val = the new CR0, *len = its length.
// 0, or -1 for anything but MOV to CR0, CLTS and register LMSW.
static int decode(struct vcpu *v, uint64 *val, uint32 *len)
{
  uint8 b[15];
  int i = 0, rex = 0, is64 = (v->vmcb->save.cs.attrib >> 9) & 1;
  uint64 cr0 = v->vmcb->save.cr0;
  int n = fetch(v, b, sizeof b);
  while (i < n && i < 12 && is_prefix(b[i]))
    i++;
  if (i < n && is64 && (b[i] & 0xF0) == 0x40)
    rex = b[i++];
  if (i + 2 > n || b[i] != 0x0F || (b[i + 1] != 0x06 && i + 3 > n))
    return -1;
  uint8 op = b[i + 1], modrm = b[i + 2], reg = (modrm >> 3) & 7;
  int rm = (modrm & 7) | ((rex & 1) << 3);
  if (op == 0x06) {                                         // CLTS
    *val = cr0 & ~CR0_TS, *len = i + 2;
  } else if (op == 0x22 && reg == 0 && !(rex & 4)) {        // MOV CR0, reg
    *val = is64 ? gpr(v, rm) : (uint32)gpr(v, rm), *len = i + 3;
  } else if (op == 0x01 && reg == 6 && (modrm >> 6) == 3) { // LMSW reg: PE can be set, not cleared
    *val = (cr0 & ~0xEUL) | (gpr(v, rm) & 0xF), *len = i + 3;
  } else {
    return -1;
  }
  return 0;
}

static int inject_gp(struct vcpu *v, struct vm_exit *e)
{
  v->vmcb->control.eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_VALID_ERR | SVM_EVTINJ_TYPE_EXEPT | 13;
  e->kexits++;
  return 1;
}

// MOV to CR8 (64-bit mode: REX.R with CR0's encoding, 0F 22 /0): the new
// TPR class in V_TPR. The write is intercepted although V_INTR_MASKING makes
// CR8 writes go to V_TPR by themselves: QEMU 7.2 aborts (an assertion about
// its I/O thread lock in tcg_handle_interrupt) when a guest writes CR8 while
// a V_IRQ is pending, as it is while our interrupt window is open; and a
// lowered TPR may unblock an interrupt the VMM's LAPIC holds back, so the
// VMM must look again (VM_EXIT_TPR; KVM intercepts CR8 writes for that reason
// too, update_cr8_intercept). Reads stay unintercepted: they return V_TPR.
int cr8_write_interception(struct vcpu *v, struct vm_exit *e)
{
  uint8 b[15];
  int i = 0, rex = 0, n = fetch(v, b, sizeof b);
  while (i < n && i < 12 && is_prefix(b[i]))
    i++;
  if (i < n && (b[i] & 0xF0) == 0x40)
    rex = b[i++];
  if (i + 3 > n || b[i] != 0x0F || b[i + 1] != 0x22 || ((b[i + 2] >> 3) & 7) != 0 || !(rex & 4))
    return inject_gp(v, e);   // only MOV CR8, reg writes CR8 (AMD's LOCK MOV CR0 alias is not offered)
  uint64 val = gpr(v, (b[i + 2] & 7) | ((rex & 1) << 3));
  if (val > 15)
    return inject_gp(v, e);   // CR8 bits 63:4 are reserved
  struct vmcb_control *c = &v->vmcb->control;
  uint64 old = c->int_ctl & 0xF;
  c->int_ctl = (c->int_ctl & ~0xFUL) | val;
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTR);
  svm_insn_done(v, v->vmcb->save.rip + i + 3, v->exit_rflags);   // step.c
  if (val >= old) {
    e->kexits++;
    return 1;
  }
  svm_exit_record(v, e, VM_EXIT_TPR);
  return 0;
}

// SVM_EXIT_WRITE_CR0 handler (run.c's table): 1, the guest runs on.
int cr0_write_interception(struct vcpu *v, struct vm_exit *e)
{
  struct vmcb_save *s = &v->vmcb->save;
  uint64 val;
  uint32 len;
  if (decode(v, &val, &len) < 0)
    return inject_gp(v, e);   // a CR0 write we cannot decode (LMSW from memory) is refused
  if ((val & CR0_RESERVED) || ((val & CR0_PG) && !(val & CR0_PE)) || ((val & CR0_NW) && !(val & CR0_CD)) ||
      ((s->efer & EFER_LMA) && !(val & CR0_PG)))
    return inject_gp(v, e);
  if ((val & CR0_PG) && !(s->cr0 & CR0_PG) && v->lme_pending) {
    if (!(s->cr4 & CR4_PAE))
      return inject_gp(v, e);   // long mode needs PAE (§14.6.1)
    s->efer |= EFER_LME | EFER_LMA;   // long mode is active from this write on
    v->lme_pending = 0;
    v->vmcb->control.tlb_control = TLB_CONTROL_FLUSH_ALL;   // paging changed under the guest
  }
  s->cr0 = val;
  svm_insn_done(v, s->rip + len, v->exit_rflags);   // step.c
  vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_CR);
  e->kexits++;
  return 1;
}

// Before each VMRUN: CR0 writes exit exactly while EFER.LME=1 or pending.
void svm_cr0_guard(struct vcpu *v)
{
  struct vmcb_control *c = &v->vmcb->control;
  uint32 w = c->intercepts[INTERCEPT_WORD_CR];
  uint32 want = ((v->vmcb->save.efer & EFER_LME) || v->lme_pending) ? INTERCEPT_CR_WRITE(0) : 0;
  if ((w & INTERCEPT_CR_WRITE(0)) != want) {
    c->intercepts[INTERCEPT_WORD_CR] = (w & ~INTERCEPT_CR_WRITE(0)) | want;
    vmcb_mark_dirty(v->vmcb, VMCB_CLEAN_INTERCEPTS);
  }
}
