// Lab 5 (irq): HLT, blocking and waking a vcpu, kicks, and the requests
// vcpu_run checks before each entry (KVM kvm_emulate_halt, kvm_vcpu_halt,
// kvm_vcpu_block, kvm_vcpu_kick, kvm_check_request).
//
// A guest that runs HLT with IF=1 waits for an interrupt. The kernel does not
// return to user space for that: it completes the HLT and puts the vcpu to
// sleep (v->halted), using no host CPU, until something can wake it: an
// event to deliver, the run's deadline, a kick, console input (if asked for)
// or a kill. Everything a sleeper waits for is changed under halt_lock and
// followed by a wakeup on halt_chan, and the sleeper checks it under the same
// lock before sleep(), so no wakeup is lost. One channel for every vcpu: a
// wakeup makes each sleeper check its own conditions again.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "proc.h"
#include "trap.h"
#include "errno.h"
#include "spinlock.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "svm/nested.h"

static struct spinlock halt_lock = {0, "vcpu_halt", NULL};
static int halt_chan;

// Wakes every halted vcpu to check its conditions again (interrupt context
// or not; halt_lock must not be held).
static void halt_wakeup_all(void)
{
  acquire(&halt_lock);
  wakeup(&halt_chan);
  release(&halt_lock);
}

void vcpu_deadline_wakeup(void) { halt_wakeup_all(); }
void vcpu_console_wakeup(void) { halt_wakeup_all(); }

// Tests: called with each kick_cpu's argument before the IPI goes out.
void (*kick_cpu_hook)(int guest_cpu);

// Makes the CPU a vcpu runs on (guest_cpu, CPU + 1) leave the guest: any
// host interrupt forces an INTR #VMEXIT.
__attribute__((unused)) static void kick_cpu(int guest_cpu)
{
  if (kick_cpu_hook)
    kick_cpu_hook(guest_cpu);
  if (guest_cpu > 0 && guest_cpu - 1 != cpuid_self())
    lapic_ipi(cpus[guest_cpu - 1].apicid, T_IPI_KICK);
}

// vcpu_irq: sets the line to vector (0 lowers it) and makes the vcpu look at
// it: woken if halted, sent out of the guest if running elsewhere.
void vcpu_set_irq_line(struct vcpu *v, int vector)
{
  // LAB 5 BEGIN
  acquire(&halt_lock);
  v->irq_line = vector;
  if (vector)
    wakeup(&halt_chan);
  int cpu = __atomic_load_n(&v->guest_cpu, __ATOMIC_SEQ_CST);
  release(&halt_lock);
  if (vector)
    kick_cpu(cpu);
  // LAB 5 STUB
  // // LAB 5: set the line; a halted vcpu must notice at once, a running one must leave the guest
  // //   (KVM kvm_vcpu_kick). Mind what a sleeper checks and under which lock.
  // v->irq_line = vector;
  // LAB 5 END
}

// vcpu_kick: the current or next vcpu_run returns VM_EXIT_KICK.
void vcpu_kick(struct vcpu *v)
{
  // LAB 5 BEGIN
  acquire(&halt_lock);
  __atomic_store_n(&v->kick, 1, __ATOMIC_SEQ_CST);
  wakeup(&halt_chan);
  int cpu = __atomic_load_n(&v->guest_cpu, __ATOMIC_SEQ_CST);
  release(&halt_lock);
  kick_cpu(cpu);
  // LAB 5 STUB
  // // LAB 5: request VM_EXIT_KICK (v->kick) and make the vcpu see it at once, halted or running.
  // lab_missing(5, "vcpu_kick");
  // LAB 5 END
}

// "halt_widen=US" on the command line (a grader's test, never in normal use):
// a vcpu going to sleep in vcpu_block waits US microseconds inside sleep(),
// still holding halt_lock, so that a waker that does not take the lock (and
// so loses its wakeup) is caught every time instead of once in a while.
static void widen_wakeup_race(void)
{
  static int done;
  char val[16];
  if (done)
    return;
  done = 1;
  if (cmdline_get("halt_widen", val, sizeof val)) {
    uint64 us = 0;
    for (char *p = val; *p >= '0' && *p <= '9' && us < 100000; p++)
      us = us * 10 + (*p - '0');
    sleep_widen_us = us;
    sleep_widen_chan = &halt_chan;
  }
}

// At the start of vcpu_run: the run's requests from user space.
void vcpu_run_start(struct vcpu *v, struct vm_exit *e, uint64 deadline_ns, uint32 run_flags)
{
  widen_wakeup_race();
  e->deadline_ns = deadline_ns;
  e->run_flags = run_flags;
  v->run_deadline = deadline_ns;
  v->run_flags = run_flags;
  v->irq_acked = 0;
}

// On every return of vcpu_run: what user space must know of the line.
void vcpu_run_end(struct vcpu *v, struct vm_exit *e)
{
  e->irq_acked = v->irq_acked ? v->irq_acked : -1;
  e->halted = v->halted;
}

// HLT exit: 1 if the kernel waits for an interrupt (the vcpu is then
// halted), 0 if user space gets VM_EXIT_HLT (kern/vmabi.h: when a HLT is the
// guest's end; KVM kvm_emulate_halt, kvm_vcpu_halt).
int vcpu_halt_blocks(struct vcpu *v)
{
  // LAB 5 BEGIN
  if (!(v->vmcb->save.rflags & FL_IF))
    return 0;
  v->halted = 1;
  return 1;
  // LAB 5 STUB
  // // LAB 5: decide what this HLT means (kvm_emulate_halt): wait in the kernel, or report it.
  // (void)v;
  // return 0;
  // LAB 5 END
}

// 1 if the vcpu has something the next entry would deliver, so a halted one
// runs again (KVM kvm_vcpu_has_events).
int vcpu_has_events(struct vcpu *v)
{
  int nested = nested_has_events(v);   // lab 9: halted L2 (nested.c)
  if (nested >= 0)
    return nested;
  // LAB 5 BEGIN
  struct vmcb_control *c = &v->vmcb->control;
  if (v->irq_line && !v->irq_acked)
    return 1;
  if (c->eventinj & SVM_EVTINJ_VALID)
    return 1;
  return (c->int_ctl & V_IRQ) && !v->irq_window;
  // LAB 5 STUB
  // // LAB 5: 1 if the next entry would deliver something (KVM kvm_vcpu_has_events).
  // (void)v;
  // return 0;
  // LAB 5 END
}

// Why vcpu_run must return now (halt_lock held): -EINTR when killed, a
// VM_EXIT_* reason (kern/vmabi.h lists them, including the one for a second
// vector while halted), or 0 to go on.
static int vcpu_return_reason(struct vcpu *v)
{
  struct proc *p = myproc();
  // LAB 5 BEGIN
  if (p && p->killed)
    return -EINTR;
  if (__atomic_exchange_n(&v->kick, 0, __ATOMIC_SEQ_CST))
    return VM_EXIT_KICK;
  if (v->run_deadline && clock_ns() >= v->run_deadline)
    return VM_EXIT_DEADLINE;
  if ((v->run_flags & VM_RUN_WAKE_CONSOLE) && console_input_waiting())
    return VM_EXIT_CONSOLE;
  if (v->halted && v->irq_line && v->irq_acked)
    return VM_EXIT_INTR;   // a second vector while halted: user space first sees the first
  return 0;
  // LAB 5 STUB
  // // LAB 5: the requests of kern/vmabi.h that end a run (kill, kick, deadline, console), and a
  // //   halted vcpu whose line carries a vector it cannot take in this run.
  // return p && p->killed ? -EINTR : 0;
  // LAB 5 END
}

// Sleeps until something for v happens (halt_lock held; KVM kvm_vcpu_block).
// The timer of this CPU is armed for the deadline first.
__attribute__((unused)) static void vcpu_block(struct vcpu *v)
{
  // LAB 5 BEGIN
  if (v->run_deadline)
    lapic_deadline_arm(ns_to_tsc(v->run_deadline));
  v->blocked = 1;
  v->nblocks++;
  sleep(&halt_chan, &halt_lock);
  v->blocked = 0;
  // LAB 5 STUB
  // // LAB 5: sleep until a wake source calls; count it in nblocks, show it in v->blocked. Who
  // //   wakes a vcpu whose only hope is its deadline?
  // (void)v;
  // LAB 5 END
}

// Before each entry (KVM vcpu_run's loop: kvm_check_request, kvm_vcpu_block):
// returns 1 to enter the guest, 0 with *e filled to return to user space, or
// -EINTR. A halted vcpu sleeps here until it has an event or must return.
int vcpu_check_requests(struct vcpu *v, struct vm_exit *e)
{
  acquire(&halt_lock);
  int reason;
  if (v->halted && svm_events_waiting(v))
    v->halted = 0;   // nmi.c: an NMI (or a held event) wakes it too
  // LAB 5 BEGIN
  while ((reason = vcpu_return_reason(v)) == 0 && v->halted) {
    if (vcpu_has_events(v)) {
      v->halted = 0;
      break;
    }
    vcpu_block(v);
  }
  // LAB 5 STUB
  // // LAB 5: a halted vcpu waits here (vcpu_block) until it has an event (it runs again) or a
  // //   reason to return; reason is that reason, 0 to enter the guest.
  // reason = vcpu_return_reason(v);
  // LAB 5 END
  release(&halt_lock);
  if (reason < 0)
    return reason;
  if (reason == 0)
    return 1;
  e->reason = reason;
  e->ran_on_cpu = v->last_cpu;
  e->code = 0;
  e->exitinfo1 = e->exitinfo2 = e->exitintinfo = 0;
  e->rip = v->vmcb->save.rip;
  return 0;
}
