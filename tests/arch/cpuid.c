// CPUID: relations a kernel relies on rather than the model's feature list
// (which legitimately differs between QEMU's "max" CPU and the VMM's): the
// APIC bit follows IA32_APIC_BASE.EN, OSXSAVE follows CR4, the initial APIC
// ID matches the local APIC's ID register, leaves stay stable, CPUID works
// at CPL 3 (APM Vol. 3 "CPUID", Vol. 2 §16.3 for the APIC ID).
#include "rt.h"

const char kernel_name[] = "cpuid";

static u32 u1[4];
static void u_cpuid(void) { cpuid(1, 0, u1); }

void kmain(void)
{
  u32 r[4], m[4], e[4];
  cpuid(0, 0, m);
  char vendor[13];
  *(u32 *)vendor = m[1], *(u32 *)(vendor + 4) = m[3], *(u32 *)(vendor + 8) = m[2];
  vendor[12] = 0;
  out("vendor", "%s", vendor);
  out("max_basic_at_least_7", "%s", m[0] >= 7 ? "yes" : "no");
  cpuid(0x80000000, 0, e);
  out("max_extended_at_least_8000_0008", "%s", e[0] >= 0x80000008 ? "yes" : "no");
  cpuid(0x80000008, 0, r);
  out("phys_bits_in_range", "%s", (r[0] & 0xFF) >= 36 && (r[0] & 0xFF) <= 52 ? "yes" : "no");
  cpuid(0x80000001, 0, r);
  out("long_mode_nx_syscall", "lm %u nx %u syscall %u", r[3] >> 29 & 1, r[3] >> 20 & 1, r[3] >> 11 & 1);
  cpuid(1, 0, r);
  out("apic_bit_matches_msr", "%s", (r[3] >> 9 & 1) == (rdmsr(0x1B) >> 11 & 1) ? "yes" : "no");
  out("initial_apic_id_matches_lapic", "%s", r[1] >> 24 == LAPIC_REG(0x20) >> 24 ? "yes" : "no");
  out("osxsave_matches_cr4", "%s", (r[2] >> 27 & 1) == (READ_CR(4) >> 18 & 1) ? "yes" : "no");
  out("basic_features", "fpu %u tsc %u msr %u pae %u cx8 %u apic %u pge %u cmov %u fxsr %u sse2 %u",
      r[3] & 1, r[3] >> 4 & 1, r[3] >> 5 & 1, r[3] >> 6 & 1, r[3] >> 8 & 1, r[3] >> 9 & 1,
      r[3] >> 13 & 1, r[3] >> 15 & 1, r[3] >> 24 & 1, r[3] >> 26 & 1);
  // OSXSAVE appears once CR4.OSXSAVE is set, where XSAVE is offered.
  if (r[2] >> 26 & 1) {
    u64 cr4 = READ_CR(4);
    WRITE_CR(4, cr4 | 1 << 18);
    u32 s[4];
    cpuid(1, 0, s);
    out("osxsave_after_cr4", "%u", s[2] >> 27 & 1);
    WRITE_CR(4, cr4);
  } else
    out("osxsave_after_cr4", "no xsave");
  run_user(u_cpuid, 2);
  out("cpl3_same_as_cpl0", "%s", u1[0] == r[0] && u1[2] == r[2] && u1[3] == r[3] ? "yes" : "no");
  u32 a[4], b[4];
  cpuid(7, 0, a);
  cpuid(7, 0, b);
  out("leaf7_stable", "%s", a[1] == b[1] && a[2] == b[2] ? "yes" : "no");
}
