// The guest's memory and registers as the kernel's own emulation sees them
// (cr0.c, cr4.c, dr.c): QEMU has no decode assists (APM Vol. 2 §15.33), so
// an intercepted MOV to or from a control or debug register names neither
// the instruction's length nor its register; the kernel fetches the bytes at
// CS:RIP through the guest's page tables and nested page table and decodes
// them. The walk follows whatever paging mode the guest is in (APM Vol. 2
// §5.2-§5.4: none, 32-bit with optional 4 MiB pages, PAE, long mode). It
// checks no permissions: the CPU fetched these bytes a moment ago to raise
// the intercept, so they are readable; a guest that changes its tables on
// another vcpu in between gets a #GP, never host memory.
#include "defs.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "svm/nested.h"
#include "../lib/string.h"

#define PTE_ADDR64 0x000FFFFFFFFFF000UL
#define PTE_ADDR32 0xFFFFF000UL

// Reads n bytes (not crossing a page) of guest-physical memory. 0 or -1.
// While L2 runs with L1's nested paging, gpa is L2's: L1's table first.
int svm_gpa_read(struct vcpu *v, uint64 gpa, void *dst, uint64 n)
{
  uint64 hpa, perm;
  if (nested_guest_mode(v) && (v->nested->vmcb12->control.nested_ctl & SVM_NESTED_CTL_NP_ENABLE) &&
      nested_l2_to_l1(v, gpa, &gpa) < 0)
    return -1;
  if (!v->vm || npt_lookup(vm_npt(v->vm), gpa, &hpa, &perm) < 0)
    return -1;
  memmove(dst, P2V(hpa), n);
  return 0;
}

// One page-table entry of `size` bytes at gpa; 0 if it cannot be read or
// is not present (bit 0 in every format).
static uint64 pte(struct vcpu *v, uint64 gpa, int size)
{
  uint64 e = 0;
  if (svm_gpa_read(v, gpa, &e, size) < 0)
    return 0;
  return (e & PTE_P) ? e : 0;
}

// Long mode, 4 levels (§5.3); PAE, 3 levels with a 4-entry PDPT (§5.4):
// `levels` is 4 or 3, entries are 8 bytes, PS ends the walk at 1 GiB
// (level 2, long mode only) or 2 MiB (level 1).
static int walk64(struct vcpu *v, uint64 gva, int levels, uint64 *gpa)
{
  uint64 cr3 = v->vmcb->save.cr3;
  uint64 table = levels == 4 ? (cr3 & PTE_ADDR64) : (cr3 & 0xFFFFFFE0UL);
  for (int level = levels - 1; level >= 0; level--) {
    uint64 index = levels == 3 && level == 2 ? (gva >> 30) & 3 : PX(level, gva);
    uint64 e = pte(v, table + index * 8, 8);
    if (!e)
      return -1;
    uint64 span = 1UL << (12 + 9 * level);
    int leaf = level == 0 || (level == 1 && (e & PTE_PS)) || (levels == 4 && level == 2 && (e & PTE_PS));
    if (leaf) {
      *gpa = ((e & PTE_ADDR64) & ~(span - 1)) | (gva & (span - 1));
      return 0;
    }
    table = e & PTE_ADDR64;
  }
  return -1;
}

// 32-bit paging (§5.2): 4-byte entries, 4 MiB pages when CR4.PSE and the
// PDE's PS bit say so, with PSE-36 address bits 39:32 in PDE bits 20:13.
static int walk32(struct vcpu *v, uint64 gva, uint64 *gpa)
{
  uint64 pde = pte(v, (v->vmcb->save.cr3 & PTE_ADDR32) + ((gva >> 22) & 0x3FF) * 4, 4);
  if (!pde)
    return -1;
  if ((pde & PTE_PS) && (v->vmcb->save.cr4 & CR4_PSE)) {
    *gpa = (pde & 0xFFC00000UL) | (((pde >> 13) & 0xFF) << 32) | (gva & 0x3FFFFF);
    return 0;
  }
  uint64 e = pte(v, (pde & PTE_ADDR32) + ((gva >> 12) & 0x3FF) * 4, 4);
  if (!e)
    return -1;
  *gpa = (e & PTE_ADDR32) | (gva & 0xFFF);
  return 0;
}

// Translates a linear address in the guest's current paging mode. 0 or -1.
int svm_gva_to_gpa(struct vcpu *v, uint64 gva, uint64 *gpa)
{
  struct vmcb_save *s = &v->vmcb->save;
  if (!(s->cr0 & CR0_PG)) {
    *gpa = (uint32)gva;
    return 0;
  }
  if (s->efer & EFER_LMA)
    return walk64(v, gva, 4, gpa);
  if (s->cr4 & CR4_PAE)
    return walk64(v, (uint32)gva, 3, gpa);
  return walk32(v, (uint32)gva, gpa);
}

// 1 while the guest runs 64-bit code (long mode and CS.L, §4.8.1).
int svm_guest_64bit(struct vcpu *v)
{
  return (v->vmcb->save.efer & EFER_LMA) && ((v->vmcb->save.cs.attrib >> 9) & 1);
}

// Fetches up to n instruction bytes at CS:RIP, stopping at the first byte
// that cannot be read (the instruction may end before it). The count.
int svm_fetch_insn(struct vcpu *v, uint8 *b, int n)
{
  struct vmcb_save *s = &v->vmcb->save;
  for (int i = 0; i < n; i++) {
    uint64 lin = svm_guest_64bit(v) ? s->rip + i : (uint32)(s->cs.base + s->rip + i);
    uint64 gpa;
    if (svm_gva_to_gpa(v, lin, &gpa) < 0 || svm_gpa_read(v, gpa, &b[i], 1) < 0)
      return i;
  }
  return n;
}

static int is_prefix(uint8 b)
{
  return b == 0x66 || b == 0x67 || b == 0xF0 || b == 0xF2 || b == 0xF3 || b == 0x2E || b == 0x36 ||
         b == 0x3E || b == 0x26 || b == 0x64 || b == 0x65;
}

// Decodes the two-byte opcode 0F op with a ModRM byte at RIP (MOV to/from
// CRn and DRn, LMSW, CLTS without ModRM): prefixes, a REX in 64-bit mode
// (elsewhere 40-4F are INC/DEC, so never a prefix). 0 with *d filled, -1
// if the bytes are not of that form.
int svm_decode_0f(struct vcpu *v, struct svm_insn *d)
{
  uint8 b[15];
  int i = 0, n = svm_fetch_insn(v, b, sizeof b);
  memset(d, 0, sizeof *d);
  while (i < n && i < 14 && is_prefix(b[i]))
    i++;
  if (i < n && svm_guest_64bit(v) && (b[i] & 0xF0) == 0x40)
    d->rex = b[i++];
  if (i + 2 > n || b[i] != 0x0F)
    return -1;
  d->op = b[i + 1];
  if (d->op == 0x06) {   // CLTS: no ModRM
    d->len = i + 2;
    return 0;
  }
  if (i + 3 > n)
    return -1;
  d->reg = ((b[i + 2] >> 3) & 7) | ((d->rex & 4) << 1);
  d->rm = (b[i + 2] & 7) | ((d->rex & 1) << 3);
  d->mod = b[i + 2] >> 6;
  d->len = i + 3;
  return 0;
}

// General register n (0 = RAX .. 15 = R15, x86 encoding order): RAX and
// RSP live in the VMCB, the others in v->gprs (vmenter.S).
uint64 svm_gpr(struct vcpu *v, int n)
{
  struct svm_gprs *g = &v->gprs;
  const uint64 regs[16] = {v->vmcb->save.rax, g->rcx, g->rdx, g->rbx, v->vmcb->save.rsp, g->rbp, g->rsi, g->rdi,
                           g->r8, g->r9, g->r10, g->r11, g->r12, g->r13, g->r14, g->r15};
  return regs[n & 15];
}

void svm_set_gpr(struct vcpu *v, int n, uint64 val)
{
  struct svm_gprs *g = &v->gprs;
  uint64 *regs[16] = {NULL, &g->rcx, &g->rdx, &g->rbx, NULL, &g->rbp, &g->rsi, &g->rdi,
                      &g->r8, &g->r9, &g->r10, &g->r11, &g->r12, &g->r13, &g->r14, &g->r15};
  if ((n & 15) == 0)
    v->vmcb->save.rax = val;
  else if ((n & 15) == 4)
    v->vmcb->save.rsp = val;
  else
    *regs[n & 15] = val;
}

// Raises exception vec in the guest at the next VMRUN (with error code 0
// when has_err): the intercepted instruction faults, RIP stays on it.
int svm_inject_fault(struct vcpu *v, struct vm_exit *e, int vec, int has_err)
{
  int r = nested_exception_exit(v, e, vec, 0);   // lab 9: L2's exception, and L1 intercepts it
  if (r >= 0)
    return r;
  v->vmcb->control.eventinj =
      SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | vec | (has_err ? SVM_EVTINJ_VALID_ERR : 0);
  e->kexits++;
  return 1;
}

// Moves RIP past an instruction the kernel emulated, as the CPU would have
// finished it: interrupt shadow over, single-step trap if TF was set
// (step.c; KVM skip_emulated_instruction).
void svm_skip_insn(struct vcpu *v, uint32 len)
{
  svm_insn_done(v, v->vmcb->save.rip + len, v->exit_rflags);
}

// The same, for a handler whose guest runs on: counted as a kernel exit.
int svm_emulated(struct vcpu *v, struct vm_exit *e, uint32 len)
{
  svm_skip_insn(v, len);
  e->kexits++;
  return 1;
}
