// Multiprocessor bring-up and cross-CPU calls.
//
// smp_boot starts each application processor found by acpiinit with the
// INIT-SIPI-SIPI sequence (one INIT to every AP, a single 10 ms wait, then a
// STARTUP IPI per AP, a second one 200 us later if it has not answered),
// one AP at a time because they share the trampoline page. Each AP runs
// entryother.S and then mpenter.
//
// smp_call runs a function on another CPU from its T_IPI_CALL interrupt.
// One call slot per target CPU; a caller owns the slot until the target
// has run the function. While a caller waits (with IF=0) it serves calls
// aimed at its own CPU, so two CPUs calling each other do not deadlock.
#include "defs.h"
#include "cpu.h"
#include "errno.h"
#include "trap.h"
#include "x86.h"
#include "../lib/string.h"

extern char entryother_start[], entryother_end[], entryother_args[];
extern pte_t boot_pml4[];

struct apargs {   // entryother.S, same order
  uint64 cr3, cr4, stack, cpu, entry;
};

static volatile int online[NCPU];   // set by each CPU as it comes up

static struct callslot {
  volatile uint32 busy;        // owned by a caller
  void (*volatile fn)(void *); // taken (set to NULL) by the target
  void *arg;
  volatile int done;
} slots[NCPU];

#define AP_TIMEOUT_US 5000000   // generous: TCG on a loaded host

// Each AP arrives here from entryother.S on its own stack, the boot page
// tables and the trampoline's GDT, with interrupts off.
void mpenter(struct cpu *c)
{
  cpu_setself(c);
  kvmswitch();
  seginit();
  syscallinit();
  trapinithart();
  lapicinit();
  svm_hardware_enable();
  printf("cpu%d: online (apic %d)\n", c->id, lapicid());
  online[c->id] = 1;
  xchg((volatile uint32 *)&c->started, 1);
  scheduler();
  panic("mpenter: scheduler returned");
}

// Starts AP c (INIT already sent) and waits until it is online.
static void start_ap(struct cpu *c)
{
  struct apargs *a = P2V(APENTRY_PA + (entryother_args - entryother_start));
  char *stack = kalloc_pages(KSTACKSIZE / PGSIZE, 1);
  if (!stack)
    panic("smp_boot: no memory for cpu%d's stack", c->id);
  a->cr3 = V2P(boot_pml4);
  a->cr4 = rcr4() & ~CR4_OSFXSR;   // on only while CR0.TS is (svm/fpu.c)
  a->stack = (uint64)stack + KSTACKSIZE;
  a->cpu = (uint64)c;
  a->entry = (uint64)mpenter;
  __sync_synchronize();
  lapic_sipi(c->apicid, APENTRY_PA);
  microdelay(200);
  if (!c->started)
    lapic_sipi(c->apicid, APENTRY_PA);   // a CPU that is already running ignores it
  uint64 t0 = uptime_us();
  while (!c->started) {
    if (uptime_us() - t0 > AP_TIMEOUT_US)
      panic("smp_boot: cpu%d (apic %d) did not start", c->id, c->apicid);
    pause();
  }
}

// Starts every AP; returns when all are online. Call on the BSP after
// lapicinit (it needs the calibrated delay).
void smp_boot(void)
{
  struct cpu *me = mycpu();
  printf("cpu%d: online (apic %d)\n", me->id, lapicid());
  online[me->id] = 1;
  if (ncpu == 1)
    return;
  memmove(P2V(APENTRY_PA), entryother_start, entryother_end - entryother_start);
  for (int i = 1; i < ncpu; i++)
    lapic_init_ipi(cpus[i].apicid);
  microdelay(10000);   // INIT to STARTUP: 10 ms
  for (int i = 1; i < ncpu; i++)
    start_ap(&cpus[i]);
}

// 1 if CPU cpu has finished its bring-up.
int cpu_online(int cpu) { return cpu >= 0 && cpu < ncpu && online[cpu]; }

// Runs the call waiting in this CPU's slot, if any. IF=0.
void smp_call_intr(void)
{
  struct callslot *s = &slots[cpuid_self()];
  void (*fn)(void *) = __atomic_exchange_n(&s->fn, NULL, __ATOMIC_ACQ_REL);
  if (!fn)
    return;
  fn(s->arg);
  __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
}

// Runs fn(arg) on CPU cpu and waits until it has returned. See the top.
int smp_call(int cpu, void (*fn)(void *), void *arg)
{
  if (!fn || !cpu_online(cpu))
    return -EINVAL;
  pushcli();
  if (cpu == cpuid_self()) {
    fn(arg);
    popcli();
    return 0;
  }
  struct callslot *s = &slots[cpu];
  while (xchg(&s->busy, 1))
    smp_call_intr();
  s->arg = arg;
  s->done = 0;
  __atomic_store_n(&s->fn, fn, __ATOMIC_RELEASE);
  lapic_ipi(cpus[cpu].apicid, T_IPI_CALL);
  while (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE)) {
    smp_call_intr();
    pause();
  }
  __atomic_store_n(&s->busy, 0, __ATOMIC_RELEASE);
  popcli();
  return 0;
}
