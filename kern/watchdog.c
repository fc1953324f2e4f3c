// The guest watchdog: a CPU that has been inside a guest for WATCHDOG_S
// seconds without one host timer tick, while another CPU's ticks go on, is
// one the host cannot interrupt. With V_INTR_MASKING a physical interrupt
// exits the guest only if the host's RFLAGS.IF was 1 at VMRUN (APM Vol. 2
// 15.21.1 "Physical Interrupt Masking"), so the usual cause is a VMRUN with
// IF=0, and the guest then owns the CPU until it exits on its own: a test
// would wait out its whole timeout. The watchdog names the cause and powers
// off instead. A CPU outside guests is left alone (ktests run with IF=0).
#include "defs.h"
#include "x86.h"
#include "param.h"
#include "cpu.h"

#define WATCHDOG_S 5

static struct {
  uint64 seen;      // the CPU's tick count when last looked at
  uint64 since;     // the watcher's tick count when it last changed
} watch[NCPU][NCPU];   // [watcher][watched]
static int fired;

void watchdog_tick(void)
{
  struct cpu *me = mycpu();
  for (int i = 0; i < ncpu; i++) {
    struct cpu *c = &cpus[i];
    if (c == me)
      continue;
    uint64 t = __atomic_load_n(&c->ticks, __ATOMIC_RELAXED);
    if (!c->in_guest || t != watch[me->id][i].seen) {
      watch[me->id][i].seen = t;
      watch[me->id][i].since = me->ticks;
      continue;
    }
    if (me->ticks - watch[me->id][i].since < WATCHDOG_S * HZ ||
        __atomic_exchange_n(&fired, 1, __ATOMIC_RELAXED))
      continue;
    printf("watchdog: FAIL: cpu%d has run a guest for %d s without a host timer interrupt: host "
           "interrupts do not exit the guest (was the host's IF=1 at VMRUN?)\n", i, WATCHDOG_S);
    panicked = 1;   // poweroff asks only this CPU to leave SVM: the stuck one would never answer
    poweroff(POWEROFF_FAIL);
  }
}
