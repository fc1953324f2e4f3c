// In-kernel tests of the kernel base: SMP bring-up, smp_call, the timer,
// trap reports and survivable kernel traps, and the kernel #PF panic.
#include "defs.h"
#include "cpu.h"
#include "errno.h"
#include "ktest.h"
#include "trap.h"
#include "x86.h"

// ---- ktest=smp ---------------------------------------------------------

struct cpuinfo {
  volatile int ran;
  int id, apicid, intr_off;
  uint64 gdt_base, idt_base;
  uint16 tr;
  uint64 tss_desc;
};
static struct cpuinfo info[NCPU];

// Runs on the target CPU (smp_call): records who and what it is.
static void record_cpu(void *arg)
{
  struct cpuinfo *ci = &info[(uint64)arg];
  struct descptr gdtr, idtr;
  asm volatile("sgdt %0; sidt %1" : "=m"(gdtr), "=m"(idtr));
  ci->id = cpuid_self();
  ci->apicid = lapicid();
  ci->intr_off = !(rflags() & FL_IF);
  ci->gdt_base = gdtr.base;
  ci->idt_base = idtr.base;
  ci->tr = str();
  ci->tss_desc = mycpu()->gdt[SEG_TSS];
  ci->ran++;
}

KTEST(smp)
{
  KCHECK(ncpu >= 1 && ncpu <= NCPU, "ncpu %d in 1..%d", ncpu, NCPU);
  int distinct = 1;
  for (int i = 0; i < ncpu; i++)
    for (int j = 0; j < i; j++)
      distinct &= cpus[i].apicid != cpus[j].apicid;
  KCHECK(distinct, "%d cpus have distinct apic ids", ncpu);
  for (int i = 0; i < ncpu; i++) {
    KCHECK(cpu_online(i), "cpu%d online", i);
    int r = smp_call(i, record_cpu, (void *)(uint64)i);
    struct cpuinfo *ci = &info[i];
    KCHECK(r == 0 && ci->ran == 1, "smp_call(%d) returned %d, fn ran %d time(s)", i, r, ci->ran);
    KCHECK(ci->id == i && ci->apicid == cpus[i].apicid, "cpu%d: fn ran on cpu%d apic %d (expected apic %d)", i,
           ci->id, ci->apicid, cpus[i].apicid);
    KCHECK(ci->intr_off, "cpu%d: fn ran with interrupts off", i);
    KCHECK(ci->gdt_base == (uint64)cpus[i].gdt, "cpu%d: GDTR %lx is its own GDT %p", i, ci->gdt_base,
           cpus[i].gdt);
    // TR loaded: the descriptor's type went from available (9) to busy (11).
    KCHECK(ci->tr == TSS_SEL && ((ci->tss_desc >> 40) & 0xF) == 0xB, "cpu%d: TR %x, busy TSS descriptor %lx",
           i, ci->tr, ci->tss_desc);
    uint64 tss_base = (ci->tss_desc >> 16 & 0xFFFFFF) | (ci->tss_desc >> 56 << 24) | (cpus[i].gdt[SEG_TSS + 1] << 32);
    KCHECK(tss_base == (uint64)&cpus[i].ts && cpus[i].ts.ist[IST_DF - 1] && cpus[i].ts.ist[IST_NMI - 1],
           "cpu%d: TSS at its own struct cpu (%lx), IST stacks set", i, tss_base);
  }
  for (int i = 1; i < ncpu; i++)
    KCHECK(cpus[i].ts.ist[IST_DF - 1] != cpus[0].ts.ist[IST_DF - 1], "cpu%d: #DF stack differs from cpu0's", i);
  KCHECK(smp_call(ncpu, record_cpu, 0) == -EINVAL && smp_call(-1, record_cpu, 0) == -EINVAL,
         "smp_call to a CPU that does not exist gives -EINVAL");
}

// ---- ktest=timer ---------------------------------------------------------

KTEST(timer)
{
  uint64 before[NCPU];
  for (int i = 0; i < ncpu; i++)
    before[i] = cpus[i].ticks;
  uint64 t0 = uptime_us();
  sti();
  int all;
  do {   // every CPU sees 5 ticks, or 2 s pass
    all = 1;
    for (int i = 0; i < ncpu; i++)
      all &= cpus[i].ticks >= before[i] + 5;
    pause();
  } while (!all && uptime_us() - t0 < 2000000);
  cli();
  uint64 us = uptime_us() - t0;
  for (int i = 0; i < ncpu; i++)
    KCHECK(cpus[i].ticks >= before[i] + 5, "cpu%d: ticks advanced %lu -> %lu", i, before[i], cpus[i].ticks);
  // 5 ticks at HZ take 50 ms; allow a slow or busy host generous slack.
  uint64 got = cpus[0].ticks - before[0];
  KCHECK(us >= 5 * 1000000 / HZ / 2 && us < 1000000, "cpu0: %lu ticks in %lu us (%d Hz expected)", got, us, HZ);
}

// ---- ktest=trap ------------------------------------------------------------

KTEST(trap)
{
  // #BP: reported, then the kernel continues after the INT3 with every
  // register as it was (the trap frame round trip).
  uint64 bp0 = trap_counts[T_BP];
  uint64 rbx = 0x1111222233334444, r12 = 0x5555666677778888, r15 = 0x9999aaaabbbbcccc;
  uint64 o_rbx, o_r12, o_r15;
  asm volatile("movq %3, %%rbx; movq %4, %%r12; movq %5, %%r15; int3;"
               "movq %%rbx, %0; movq %%r12, %1; movq %%r15, %2"
               : "=r"(o_rbx), "=r"(o_r12), "=r"(o_r15)
               : "r"(rbx), "r"(r12), "r"(r15)
               : "rbx", "r12", "r15", "memory");
  KCHECK(trap_counts[T_BP] == bp0 + 1, "#BP counted once (%lu -> %lu)", bp0, trap_counts[T_BP]);
  KCHECK(o_rbx == rbx && o_r12 == r12 && o_r15 == r15, "registers survive the trap (rbx %lx r12 %lx r15 %lx)",
         o_rbx, o_r12, o_r15);

  // #UD from ud2, expected: reported, skipped, RIP recorded.
  uint64 rip, err, cr2, here;
  int hits;
  trap_expect(T_UD, 2);
  asm volatile("leaq 1f(%%rip), %0; 1: ud2" : "=r"(here));
  hits = trap_expect_done(&rip, &err, &cr2);
  KCHECK(hits == 1 && rip == here, "#UD at %lx caught at rip %lx", here, rip);

  // #PF on an unmapped kernel address (3-byte load), expected.
  uint64 bad = 0xFFFF900000000000UL, v;
  trap_expect(T_PF, 3);
  asm volatile("movq (%1), %0" : "=r"(v) : "a"(bad) : "memory");
  hits = trap_expect_done(&rip, &err, &cr2);
  KCHECK(hits == 1 && cr2 == bad && (err & 7) == 0, "#PF caught: cr2 %lx err %lx (not-present read kernel)", cr2,
         err);

  // #GP from a non-canonical address.
  trap_expect(T_GP, 3);
  asm volatile("movq (%1), %0" : "=r"(v) : "a"(0x8000000000000000UL) : "memory");
  hits = trap_expect_done(&rip, &err, &cr2);
  KCHECK(hits == 1 && rip > here, "#GP on a non-canonical load caught at %lx, err %lx", rip, err);

  // Nothing armed now: the dispatcher must not treat the next #BP as expected.
  hits = trap_expect_done(&rip, &err, &cr2);
  KCHECK(hits == 0, "expectations are one-shot (%d hits when nothing was armed)", hits);
  KCHECK(trap_name(T_PF)[1] == 'P' && trap_name(T_DF)[1] == 'D', "names: %s, %s", trap_name(T_PF), trap_name(T_DF));
}

// ---- ktest=panic_pf --------------------------------------------------------
// Must end in the #PF report, "panic:" and power-off code 3 (the grader
// checks the output); the check below runs only if the kernel survived.

KTEST(panic_pf)
{
  volatile uint64 *p = (volatile uint64 *)0xFFFF900000001000UL;
  uint64 v = *p;
  KCHECK(0, "unmapped kernel read returned %lx instead of panicking", v);
}
