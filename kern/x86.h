// Inline wrappers for x86 instructions the kernel uses, each named after its instruction.
#pragma once
#include "types.h"

static inline uint8 inb(uint16 port)
{
  uint8 v;
  asm volatile("inb %1, %0" : "=a"(v) : "d"(port));
  return v;
}
static inline void outb(uint16 port, uint8 v) { asm volatile("outb %0, %1" : : "a"(v), "d"(port)); }
static inline uint16 inw(uint16 port)
{
  uint16 v;
  asm volatile("inw %1, %0" : "=a"(v) : "d"(port));
  return v;
}
static inline void outw(uint16 port, uint16 v) { asm volatile("outw %0, %1" : : "a"(v), "d"(port)); }
static inline void outl(uint16 port, uint32 v) { asm volatile("outl %0, %1" : : "a"(v), "d"(port)); }

static inline uint64 rdmsr(uint32 msr)
{
  uint32 lo, hi;
  asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64)hi << 32) | lo;
}
static inline void wrmsr(uint32 msr, uint64 v)
{
  asm volatile("wrmsr" : : "c"(msr), "a"((uint32)v), "d"((uint32)(v >> 32)) : "memory");
}

struct cpuid_regs { uint32 eax, ebx, ecx, edx; };
static inline struct cpuid_regs cpuid(uint32 leaf, uint32 subleaf)
{
  struct cpuid_regs r;
  asm volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
  return r;
}

#define DEFINE_CR(n)                                                     \
  static inline uint64 rcr##n(void)                                      \
  {                                                                      \
    uint64 v;                                                            \
    asm volatile("mov %%cr" #n ", %0" : "=r"(v));                        \
    return v;                                                            \
  }                                                                      \
  static inline void lcr##n(uint64 v) { asm volatile("mov %0, %%cr" #n : : "r"(v) : "memory"); }
DEFINE_CR(0)
DEFINE_CR(2)
DEFINE_CR(3)
DEFINE_CR(4)
#undef DEFINE_CR

static inline uint64 rflags(void)
{
  uint64 v;
  asm volatile("pushfq; popq %0" : "=r"(v));
  return v;
}
static inline void cli(void) { asm volatile("cli" ::: "memory"); }
static inline void sti(void) { asm volatile("sti" ::: "memory"); }
static inline void hlt(void) { asm volatile("hlt"); }
static inline void pause(void) { asm volatile("pause"); }
static inline void invlpg(void *va) { asm volatile("invlpg (%0)" : : "r"(va) : "memory"); }
static inline uint64 rdtsc(void)
{
  uint32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64)hi << 32) | lo;
}
static inline uint32 xchg(volatile uint32 *addr, uint32 v)
{
  asm volatile("lock; xchgl %0, %1" : "+m"(*addr), "+r"(v) : : "cc");
  return v;
}

struct descptr {
  uint16 limit;
  uint64 base;
} __attribute__((packed));
static inline void lgdt(void *base, uint16 size)
{
  struct descptr d = {size - 1, (uint64)base};
  asm volatile("lgdt %0" : : "m"(d));
}
static inline void lidt(void *base, uint16 size)
{
  struct descptr d = {size - 1, (uint64)base};
  asm volatile("lidt %0" : : "m"(d));
}
static inline void ltr(uint16 sel) { asm volatile("ltr %0" : : "r"(sel)); }
static inline uint16 str(void)
{
  uint16 sel;
  asm volatile("str %0" : "=r"(sel));
  return sel;
}
