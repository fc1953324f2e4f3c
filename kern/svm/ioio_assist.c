// The address size and segment of an IOIO exit, where the CPU left them out.
//
// EXITINFO1 of an IOIO intercept (APM Vol. 2 §15.10.2, Figure 15-2) names
// the address size (A16/A32/A64, bits 9:7, one-hot) and, with decode
// assists, the effective segment (bits 12:10: 0 ES, 1 CS, 2 SS, 3 DS, 4 FS,
// 5 GS). QEMU 7.2 fills neither: only TYPE, STR, REP and the operand size.
// svm_ioio_exitinfo1 gives lab 4's decoder the EXITINFO1 a CPU would have
// written, by reading the instruction's prefixes at CS:RIP (a 0x67 prefix
// flips the mode's default address size, APM Vol. 1 §2.2.3; a segment
// override names OUTS's segment; INS always writes ES). It is what a decode
// assist gives: it says which registers and segment the instruction uses,
// not what to do with them.
#include "defs.h"
#include "mmu.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

#define IOIO_STR 0x4
#define IOIO_IN 0x1
#define IOIO_A16 (1UL << 7)
#define IOIO_A32 (1UL << 8)
#define IOIO_A64 (1UL << 9)
#define IOIO_ASIZE (IOIO_A16 | IOIO_A32 | IOIO_A64)
#define IOIO_SEG_SHIFT 10
#define SEG_ES 0
#define SEG_DS 3
#define ADDR_MASK 0x000FFFFFFFFFF000UL

// Host-physical address of gpa through the nested table rooted at ncr3 (4
// levels, 4 KiB or 2 MiB leaves, as npt.c builds it), or 0.
static uint64 nested_pa(uint64 ncr3, uint64 gpa)
{
  uint64 table = ncr3 & ADDR_MASK;
  for (int level = 3; level >= 0; level--) {
    uint64 e = ((uint64 *)P2V(table))[PX(level, gpa)];
    if (!(e & PTE_P))
      return 0;
    if (level == 0 || (level == 1 && (e & PTE_PS)))
      return (e & ADDR_MASK & ~((1UL << (12 + 9 * level)) - 1)) | (gpa & ((1UL << (12 + 9 * level)) - 1));
    table = e & ADDR_MASK;
  }
  return 0;
}

// Reads a 64-bit guest-physical word (aligned). 0 or -1.
static int gpa_word(struct vcpu *v, uint64 gpa, uint64 *w)
{
  uint64 hpa = nested_pa(v->vmcb->control.ncr3, gpa);
  if (!hpa)
    return -1;
  *w = *(uint64 *)P2V(hpa);
  return 0;
}

// Linear to guest-physical through the guest's page tables: none, or the
// 4-level (long mode) walk. 32-bit paging: not needed by any guest that
// does string I/O here; treated as unreadable (the mode default is used).
static int linear_to_gpa(struct vcpu *v, uint64 la, uint64 *gpa)
{
  struct vmcb_save *s = &v->vmcb->save;
  if (!(s->cr0 & CR0_PG)) {
    *gpa = (uint32)la;
    return 0;
  }
  if (!(s->efer & EFER_LMA))
    return -1;
  uint64 table = s->cr3 & ADDR_MASK;
  for (int level = 3; level >= 0; level--) {
    uint64 e;
    if (gpa_word(v, table + PX(level, la) * 8, &e) < 0 || !(e & PTE_P))
      return -1;
    uint64 span = 1UL << (12 + 9 * level);
    if (level == 0 || ((level == 1 || level == 2) && (e & PTE_PS))) {
      *gpa = ((e & ADDR_MASK) & ~(span - 1)) | (la & (span - 1));
      return 0;
    }
    table = e & ADDR_MASK;
  }
  return -1;
}

// One instruction byte at CS:RIP+i, or -1.
static int insn_byte(struct vcpu *v, int i)
{
  struct vmcb_save *s = &v->vmcb->save;
  int lma64 = (s->efer & EFER_LMA) && (s->cs.attrib & SEG_ATTR_L);
  uint64 la = s->cs.base + s->rip + i, gpa, hpa;
  if (!lma64)
    la = (uint32)la;
  if (linear_to_gpa(v, la, &gpa) < 0 || !(hpa = nested_pa(v->vmcb->control.ncr3, gpa)))
    return -1;
  return *(uint8 *)P2V(hpa);
}

// Address size in bytes of the mode's default (CS.L, CS.D; APM Vol. 1 §2.2.3).
static int default_asize(struct vcpu *v)
{
  struct vmcb_save *s = &v->vmcb->save;
  if ((s->efer & EFER_LMA) && (s->cs.attrib & SEG_ATTR_L))
    return 8;
  return (s->cs.attrib & SEG_ATTR_DB) ? 4 : 2;
}

static int seg_override(int b)
{
  switch (b) {
  case 0x26: return 0;   // ES
  case 0x2E: return 1;   // CS
  case 0x36: return 2;   // SS
  case 0x3E: return 3;   // DS
  case 0x64: return 4;   // FS
  case 0x65: return 5;   // GS
  }
  return -1;
}

// EXITINFO1 of the current IOIO exit with A16/A32/A64 and SEG filled in
// when the CPU left the address size out; unchanged otherwise.
uint64 svm_ioio_exitinfo1(struct vcpu *v)
{
  uint64 info = v->vmcb->control.exitinfo1;
  if (info & IOIO_ASIZE)
    return info;
  int asize = default_asize(v), seg = SEG_DS, flip = 0;
  for (int i = 0; i < 15; i++) {
    int b = insn_byte(v, i);
    if (b == 0x67)
      flip = 1;
    else if (seg_override(b) >= 0)
      seg = seg_override(b);
    else if (!(b == 0x66 || b == 0xF0 || b == 0xF2 || b == 0xF3 || (asize == 8 && (b & 0xF0) == 0x40)))
      break;   // the opcode (or an unreadable byte)
  }
  if (flip)
    asize = asize == 4 ? 2 : 4;   // 16 <-> 32; in 64-bit mode 64 -> 32
  if (info & IOIO_IN)
    seg = SEG_ES;   // INS writes ES:rDI, no override (APM Vol. 3 "INS")
  info |= asize == 2 ? IOIO_A16 : asize == 4 ? IOIO_A32 : IOIO_A64;
  return info | ((uint64)seg << IOIO_SEG_SHIFT);
}
