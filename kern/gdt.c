// Per-CPU segments: a GDT and a 64-bit TSS in each struct cpu.
//
// Long mode ignores segment bases and limits for code and data (APM Vol. 2
// §4.8 "Long-Mode Segment Descriptors"), so the GDT exists only to name the
// privilege levels and to point at the TSS. The TSS carries RSP0 (the stack
// the CPU switches to on a trap from ring 3) and the IST stacks used by
// #DF and NMI, which must work even when the current stack is bad
// (APM Vol. 2 §8.9 "Long-Mode Interrupt Control Transfers", interrupt-stack table).
#include "defs.h"
#include "cpu.h"
#include "x86.h"
#include "trap.h"

// Descriptor bits (APM Vol. 2 §4.7 "Legacy Segment Descriptors", §4.8).
#define DESC_P    (1UL << 47)          // present
#define DESC_S    (1UL << 44)          // code/data (not a system segment)
#define DESC_CODE (1UL << 43)          // executable
#define DESC_RW   (1UL << 41)          // readable code / writable data
#define DESC_DPL(n) ((uint64)(n) << 45)
#define DESC_L    (1UL << 53)          // 64-bit code
#define DESC_DB   (1UL << 54)          // 32-bit default (data: "big")
#define DESC_G    (1UL << 55)          // limit in pages
#define DESC_LIMIT 0x000F00000000FFFFUL // limit 0xFFFFF
#define DESC_TSS64 (0x9UL << 40)       // available 64-bit TSS (type 9)

#define CODE64(dpl) (DESC_P | DESC_S | DESC_CODE | DESC_RW | DESC_L | DESC_G | DESC_LIMIT | DESC_DPL(dpl))
#define DATA(dpl) (DESC_P | DESC_S | DESC_RW | DESC_DB | DESC_G | DESC_LIMIT | DESC_DPL(dpl))

#define ISTPAGES 2   // pages per IST stack

// Fills the two GDT slots of a 64-bit TSS descriptor (APM Vol. 2 §4.8.3
// "System Descriptors": the upper 8 bytes hold base bits 63:32).
static void set_tss_desc(uint64 *gdt, struct taskstate *ts)
{
  uint64 base = (uint64)ts, limit = sizeof(*ts) - 1;
  gdt[SEG_TSS] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | DESC_TSS64 | DESC_P |
                 (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
  gdt[SEG_TSS + 1] = base >> 32;
}

// Returns the top of a fresh IST stack, reusing this CPU's stack if seginit
// ran before (it does not, except in tests).
static uint64 ist_stack(struct cpu *c, int n)
{
  if (c->ts.ist[n])
    return c->ts.ist[n];
  char *stk = kalloc_pages(ISTPAGES, 1);
  if (!stk)
    panic("seginit: no memory for IST stack %d", n + 1);
  return (uint64)stk + ISTPAGES * PGSIZE;
}

// 1 if [a, a+n) overlaps one of this CPU's IST stacks: an NMI or #MC runs
// there, even in the few instructions around the world switch where a
// guest's breakpoints are armed (kern/svm/dr.c keeps them off these).
int ist_overlaps(uint64 a, uint64 n)
{
  struct taskstate *ts = &mycpu()->ts;
  for (int i = 0; i < 7; i++) {
    uint64 top = ts->ist[i];
    if (top && a < top && a + n > top - ISTPAGES * PGSIZE)
      return 1;
  }
  return 0;
}

// Loads the GDT and reloads CS (a far return), SS, DS and ES. FS and GS
// are left alone: loading a selector there would clear the GS base that
// mycpu() depends on.
static void load_gdt(uint64 *gdt)
{
  lgdt(gdt, NSEGS * sizeof(uint64));
  asm volatile("pushq %0\n\t"
               "leaq 1f(%%rip), %%rax\n\t"
               "pushq %%rax\n\t"
               "lretq\n"
               "1:\n\t"
               "movw %w1, %%ss\n\t"
               "movw %w1, %%ds\n\t"
               "movw %w1, %%es\n\t"
               : : "i"((uint64)KCODE_SEL), "r"(KDATA_SEL) : "rax", "memory");
}

// Sets up this CPU's GDT and TSS and loads them. Call once per CPU, after
// cpu_setself. ts.rsp0 starts at 0: the process code sets it (and
// kstack_top) to the running process's kernel stack before entering ring 3.
void seginit(void)
{
  struct cpu *c = mycpu();
  c->gdt[0] = 0;
  c->gdt[SEG_KCODE] = CODE64(0);
  c->gdt[SEG_KDATA] = DATA(0);
  c->gdt[SEG_UDATA] = DATA(3);
  c->gdt[SEG_UCODE] = CODE64(3);
  c->ts.ist[IST_DF - 1] = ist_stack(c, IST_DF - 1);
  c->ts.ist[IST_NMI - 1] = ist_stack(c, IST_NMI - 1);
  c->ts.ist[IST_MC - 1] = ist_stack(c, IST_MC - 1);
  c->ts.iomb = sizeof(c->ts);   // no I/O permission bitmap: ring 3 I/O faults
  set_tss_desc(c->gdt, &c->ts);
  load_gdt(c->gdt);
  ltr(TSS_SEL);
}
