// Mutual exclusion spin lock (interrupts are off while it is held).
#pragma once
#include "types.h"
struct cpu;
struct spinlock {
  volatile uint32 locked;
  const char *name;
  struct cpu *cpu;   // holder, for debugging and holding()
  int cls;           // lock-order class (spinlock.c): 1 + index by name; 0 = not yet looked up
};
