// ktest=watchdog: this CPU poses as one stuck in a guest the host cannot
// interrupt (in_guest set, IF=0, spinning); another CPU's watchdog must say
// so and power off within a few seconds (kern/watchdog.c). Needs 2 CPUs.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "ktest.h"

KTEST(watchdog)
{
  KCHECK(ncpu >= 2, "%d CPUs (expected 2 or more: the watchdog runs on another CPU)", ncpu);
  if (ncpu < 2)
    return;
  cli();
  mycpu()->in_guest = 1;
  uint64 end = clock_ns() + 10 * 1000000000UL;
  while (clock_ns() < end)
    pause();
  mycpu()->in_guest = 0;
  sti();
  KCHECK(0, "cpu%d spun 10 s as if inside a guest, with IF=0, and no watchdog powered off", mycpu()->id);
}
