// Per-CPU state. Each CPU's GS base points at its struct cpu while in the
// kernel, so mycpu() is one load; the SYSCALL entry (swapgs) relies on the
// first three fields staying where they are.
#pragma once
#include "types.h"
#include "mmu.h"
#include "param.h"

// 64-bit task state segment (APM Vol. 2 §12.2.5 "64-Bit Task State Segment").
struct taskstate {
  uint32 rsvd0;
  uint64 rsp0, rsp1, rsp2;
  uint64 rsvd1;
  uint64 ist[7];
  uint64 rsvd2;
  uint16 rsvd3;
  uint16 iomb;
} __attribute__((packed));

struct proc;
struct context;

struct vcpu;

struct cpu {
  struct cpu *self;          // 0x00: %gs:0, read by mycpu()
  uint64 kstack_top;         // 0x08: kernel stack for SYSCALL entry
  uint64 user_rsp;           // 0x10: scratch for SYSCALL entry
  int id;                    // index in cpus[]
  uint8 apicid;              // local APIC id
  volatile int started;      // set once the CPU runs the scheduler
  int ncli;                  // pushcli depth
  int intena;                // were interrupts on before the first pushcli?
  struct proc *proc;         // running process, or NULL
  struct context *scheduler; // swtch() here to enter the scheduler
  struct taskstate ts;
  uint64 gdt[NSEGS];
  uint64 ticks;              // timer ticks seen on this CPU
  struct vcpu *fpu_owner;    // whose x87/SSE state the registers hold (kern/svm/fpu.c)
  volatile int in_guest;     // between VMRUN's setup and its #VMEXIT (kern/watchdog.c)
  volatile int idle;         // the scheduler found nothing to run and halts (kern/proc.c)
};
#define CPU_OFF_KSTACK 0x08
#define CPU_OFF_USER_RSP 0x10

extern struct cpu cpus[NCPU];
extern int ncpu;

static inline struct cpu *mycpu(void)
{
  struct cpu *c;
  asm volatile("movq %%gs:0, %0" : "=r"(c));
  return c;
}
static inline int cpuid_self(void) { return mycpu()->id; }
