// The string instructions with an MMIO operand (the local APIC's TPR):
// LODS, STOS, MOVS, CMPS and SCAS, also with DF=1, their flags and the
// index registers after them (APM Vol. 3 "CMPS", "SCAS", "LODS", "MOVS").
#include "rt.h"

const char kernel_name[] = "mmiostr";

#define TPR 0x80

static void strings(void)
{
  volatile u32 *tpr = &LAPIC_REG(TPR);
  LAPIC_REG(TPR) = 0x40;
  u32 v;
  const volatile u32 *s = tpr;
  asm volatile("lodsl" : "=a"(v), "+S"(s) :: "memory");
  out("lodsl", "%x rsi +%ld", v, (long)((u64)s - (u64)tpr));
  s = tpr;
  asm volatile("std; lodsl; cld" : "=a"(v), "+S"(s) :: "memory");
  out("lodsl_df1", "%x rsi %ld", v, (long)((u64)s - (u64)tpr));
  volatile u32 *d = tpr;
  asm volatile("stosl" : "+D"(d) : "a"(0x50) : "memory");
  out("stosl", "tpr %x rdi +%ld", LAPIC_REG(TPR), (long)((u64)d - (u64)tpr));
  static u32 ram[4] = {0x50, 0x51, 0, 0};
  u8 zf;
  s = ram, d = tpr;
  asm volatile("cmpsl; sete %0" : "=q"(zf), "+S"(s), "+D"(d) :: "memory", "cc");
  out("cmpsl_equal", "zf %u", zf);
  s = ram + 1, d = tpr;
  asm volatile("cmpsl; sete %0" : "=q"(zf), "+S"(s), "+D"(d) :: "memory", "cc");
  out("cmpsl_differ", "zf %u", zf);
  s = tpr, d = ram + 1;
  asm volatile("cmpsl; setb %0" : "=q"(zf), "+S"(s), "+D"(d) :: "memory", "cc");
  out("cmpsl_mmio_first", "cf %u", zf);
  d = tpr;
  asm volatile("scasl; sete %0" : "=q"(zf), "+D"(d) : "a"(0x50) : "memory", "cc");
  out("scasl_equal", "zf %u rdi +%ld", zf, (long)((u64)d - (u64)tpr));
  d = tpr;
  asm volatile("scasl; setb %0" : "=q"(zf), "+D"(d) : "a"(0x10) : "memory", "cc");
  out("scasl_below", "cf %u", zf);
  // One element with DF=1: the APIC's registers are 16 bytes apart, and the
  // reserved offsets between them are another question.
  u64 n = 1;
  s = tpr, d = ram + 2;
  asm volatile("std; rep movsl; cld" : "+S"(s), "+D"(d), "+c"(n) :: "memory");
  out("rep_movsl_df1_from_mmio", "%x rsi %ld rdi %ld", ram[2], (long)((u64)s - (u64)tpr),
      (long)((u64)d - (u64)(ram + 2)));
}

void kmain(void)
{
  lapic_enable();
  strings();
}
