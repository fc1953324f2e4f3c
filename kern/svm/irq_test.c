// Lab 5 ktests: the injection decisions (irq.c) and the halt/kick paths
// (halt.c) checked on a vcpu that never runs, where QEMU cannot hide a
// mistake: the interrupt shadow at entry (QEMU takes a pending V_IRQ at once
// after VMRUN even when int_state says "shadow"), clean bits (QEMU ignores
// them), IPIs that a loaded host would deliver late anyway, the timer armed
// for a running guest's deadline. The orders that make kicks race-free are
// checked with a data watchpoint (DR0, APM Vol. 2 §13.1 "Software-Debug
// Resources"): every access to one field traps, and the trap looks at the
// other field at that moment, which is what a CPU racing with us would see.
//   ktest=irq_decide   svm_interrupt_allowed, inject, window, completion
//   ktest=irq_halt     HLT, events, kicks, deadlines, the IPIs, orders
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "trap.h"
#include "ktest.h"
#include "../lib/string.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

#define VEC 0x40

static struct vcpu *fresh(void)
{
  struct vcpu *v = vcpu_alloc();
  if (v)
    v->vmcb->save.rflags = FL_RSVD1 | FL_IF;
  return v;
}

// One entry decision with interrupts off, as vcpu_run_once makes it.
static int enter(struct vcpu *v)
{
  pushcli();
  int r = svm_prepare_entry(v, cpuid_self());
  popcli();
  return r;
}

static int window_open(struct vcpu *v)
{
  struct vmcb_control *c = &v->vmcb->control;
  return (c->int_ctl & V_IRQ) && (c->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_VINTR);
}

static void check_allowed(struct vcpu *v)
{
  struct vmcb *m = v->vmcb;
  KCHECK(svm_interrupt_allowed(v) == 1, "allowed: IF=1, no shadow, EVENTINJ free: %d", svm_interrupt_allowed(v));
  m->save.rflags = FL_RSVD1;
  KCHECK(svm_interrupt_allowed(v) == 0, "not allowed with the guest's IF=0: %d", svm_interrupt_allowed(v));
  m->save.rflags = FL_RSVD1 | FL_IF;
  m->control.int_state = SVM_INTERRUPT_SHADOW;
  KCHECK(svm_interrupt_allowed(v) == 0, "not allowed in an interrupt shadow: %d", svm_interrupt_allowed(v));
  m->control.int_state = SVM_GUEST_INT_MASK;
  KCHECK(svm_interrupt_allowed(v) == 1, "int_state bit 1 (the guest's mask) is not the shadow: %d",
         svm_interrupt_allowed(v));
  m->control.int_state = 0;
  m->control.eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 14;
  KCHECK(svm_interrupt_allowed(v) == 0, "not allowed while EVENTINJ holds an event: %d", svm_interrupt_allowed(v));
  m->control.eventinj = 0;
}

static void check_inject(struct vcpu *v)
{
  struct vmcb_control *c = &v->vmcb->control;
  v->irq_line = VEC;
  int r = enter(v);
  KCHECK(r == 1 && c->eventinj == (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | VEC),
         "IF=1: the line's vector goes into EVENTINJ as an external interrupt: 0x%lx", c->eventinj);
  KCHECK(v->irq_line == 0 && v->irq_acked == VEC && v->nirqs == 1,
         "the injection is the INTA: line %d, acked 0x%x, nirqs %lu", v->irq_line, v->irq_acked, v->nirqs);
  KCHECK(!window_open(v) && !v->irq_window, "no window when the vector went in directly");
  KCHECK(v->guest_cpu == cpuid_self() + 1, "entering marks guest mode: guest_cpu %d on cpu%d (expected CPU + 1)",
         v->guest_cpu, cpuid_self());
  svm_complete_interrupts(v);
  c->eventinj = 0;
  v->irq_line = VEC + 1;
  enter(v);
  KCHECK(c->eventinj == 0 && v->irq_line == VEC + 1, "one INTA per vcpu_run: a second vector waits (eventinj 0x%lx)",
         c->eventinj);
  svm_complete_interrupts(v);
  v->irq_line = 0, v->irq_acked = 0;
}

// IF=1 but an STI or MOV SS shadow: the line must not go into EVENTINJ
// (which ignores the shadow, §15.20) but wait behind a window.
static void check_inject_shadow(struct vcpu *v)
{
  struct vmcb_control *c = &v->vmcb->control;
  v->vmcb->save.rflags = FL_RSVD1 | FL_IF;
  c->int_state = SVM_INTERRUPT_SHADOW;
  v->irq_line = VEC;
  enter(v);
  KCHECK(c->eventinj == 0 && v->irq_line == VEC && window_open(v),
         "IF=1 in an interrupt shadow: nothing injected, a window instead (eventinj 0x%lx, line 0x%x, window %d)",
         c->eventinj, v->irq_line, window_open(v));
  svm_complete_interrupts(v);
  c->int_state = 0;
  c->eventinj = 0;
  v->irq_line = 0, v->irq_acked = 0, v->nwindows = 0;
}

// A kick that came before the entry keeps the vcpu out of the guest.
static void check_entry_kick(struct vcpu *v)
{
  v->kick = 1;
  v->irq_line = VEC;
  int r = enter(v);
  KCHECK(r == 0 && v->guest_cpu == 0 && v->vmcb->control.eventinj == 0,
         "a kick already requested: the entry returns 0, out of guest mode, nothing injected (r %d, guest_cpu %d)", r,
         v->guest_cpu);
  svm_complete_interrupts(v);
  v->vmcb->control.eventinj = 0;
  v->kick = 0;
  v->irq_line = 0, v->irq_acked = 0, v->nirqs = 0;
}

static void check_window(struct vcpu *v)
{
  struct vmcb_control *c = &v->vmcb->control;
  v->vmcb->save.rflags = FL_RSVD1;
  v->irq_line = VEC;
  c->clean = VMCB_CLEAN_ALL;   // as after a VMRUN: the CPU may use its cached copy of every group
  c->int_ctl |= 0xF;           // V_TPR 15: the guest's CR8 masks every APIC priority
  enter(v);
  KCHECK(c->eventinj == 0 && v->irq_line == VEC, "IF=0: nothing injected, the line stays (eventinj 0x%lx)", c->eventinj);
  KCHECK(window_open(v) && v->irq_window && v->nwindows == 1, "IF=0: a window: V_IRQ %d, VINTR intercept %d, nwindows %lu",
         (c->int_ctl & V_IRQ) != 0, (c->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_VINTR) != 0, v->nwindows);
  KCHECK(vmcb_is_dirty(v->vmcb, VMCB_CLEAN_INTERCEPTS) && vmcb_is_dirty(v->vmcb, VMCB_CLEAN_INTR),
         "opening it marks the intercepts and the interrupt control dirty (clean bits 0x%x after all were clean)",
         c->clean);
  // §15.21.4: a V_IRQ is taken when V_IGN_TPR is set or V_INTR_PRIO > V_TPR[3:0]. An external
  // interrupt is not subject to the TPR, so the window must open whatever the guest's CR8.
  uint64 prio = (c->int_ctl & V_INTR_PRIO_MASK) >> V_INTR_PRIO_SHIFT;
  KCHECK((c->int_ctl & V_IGN_TPR) || prio > (c->int_ctl & 0xF),
         "the window opens whatever the guest's TPR (V_TPR 15): int_ctl 0x%lx, priority %lu, V_IGN_TPR needed",
         c->int_ctl, prio);
  c->clean = VMCB_CLEAN_ALL;
  svm_complete_interrupts(v);
  KCHECK(!(c->int_ctl & V_IRQ) && !(c->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_VINTR) && !v->irq_window,
         "after the exit the window is closed: int_ctl 0x%lx", c->int_ctl);
  KCHECK(vmcb_is_dirty(v->vmcb, VMCB_CLEAN_INTERCEPTS) && vmcb_is_dirty(v->vmcb, VMCB_CLEAN_INTR),
         "closing it marks the intercepts and the interrupt control dirty (clean bits 0x%x after all were clean)",
         c->clean);
  c->int_ctl &= ~(uint64)0xF;
  v->vmcb->save.rflags = FL_RSVD1 | FL_IF;
  c->eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 3;
  enter(v);
  KCHECK(c->eventinj == (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | 3) && window_open(v) && v->irq_line == VEC,
         "an event in EVENTINJ goes first: kept (0x%lx), the line waits behind a window", c->eventinj);
  svm_complete_interrupts(v);
  c->eventinj = 0;
  c->int_ctl |= V_IRQ | ((uint64)0x51 << V_INTR_VECTOR_SHIFT);   // the VMM's own V_IRQ
  v->vmcb->save.rflags = FL_RSVD1;
  enter(v);
  svm_complete_interrupts(v);
  KCHECK((c->int_ctl & V_IRQ) && ((c->int_ctl & V_INTR_VECTOR_MASK) >> V_INTR_VECTOR_SHIFT) == 0x51,
         "a V_IRQ the VMM queued survives entry and exit: int_ctl 0x%lx", c->int_ctl);
  c->int_ctl &= ~(V_IRQ | V_INTR_VECTOR_MASK);
  v->irq_line = 0;
}

KTEST(irq_decide)
{
  struct vcpu *v = fresh();
  if (!v) {
    KCHECK(0, "vcpu_alloc");
    return;
  }
  check_allowed(v);
  check_inject(v);
  check_inject_shadow(v);
  check_entry_kick(v);
  check_window(v);
  vcpu_free(v);
}

static void check_halt(struct vcpu *v)
{
  v->vmcb->save.rflags = FL_RSVD1;
  int r0 = vcpu_halt_blocks(v);
  KCHECK(r0 == 0 && !v->halted, "HLT with IF=0 goes to user space, not halted: returns %d, halted %d", r0, v->halted);
  v->vmcb->save.rflags = FL_RSVD1 | FL_IF;
  int r = vcpu_halt_blocks(v);
  KCHECK(r == 1 && v->halted, "HLT with IF=1 waits in the kernel: returns %d, halted %d", r, v->halted);
  KCHECK(!vcpu_has_events(v), "a vcpu with nothing pending has no events");
  v->irq_line = VEC;
  KCHECK(vcpu_has_events(v), "the line is an event");
  v->irq_acked = VEC;
  KCHECK(!vcpu_has_events(v), "not once this run took a vector from it");
  v->irq_line = v->irq_acked = 0;
  v->vmcb->control.eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_NMI | 2;
  KCHECK(vcpu_has_events(v), "an event in EVENTINJ (an NMI) is an event");
  v->vmcb->control.eventinj = 0;
  v->vmcb->control.int_ctl |= V_IRQ;
  KCHECK(vcpu_has_events(v), "the VMM's own V_IRQ is an event");
  v->vmcb->control.int_ctl &= ~V_IRQ;
  KCHECK(enter(v) == 0, "a halted vcpu is not entered");
  v->halted = 0;
}

static void check_requests(struct vcpu *v)
{
  struct vm_exit e;
  memset(&e, 0, sizeof e);
  vcpu_run_start(v, &e, 0, 0);
  v->kick = 1;
  int r = vcpu_check_requests(v, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_KICK && v->kick == 0, "a kick ends the run once: r %d reason %u, kick left %d", r,
         e.reason, v->kick);
  KCHECK(vcpu_check_requests(v, &e) == 1, "without requests the vcpu enters");
  vcpu_run_start(v, &e, clock_ns() - 1, 0);
  r = vcpu_check_requests(v, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_DEADLINE, "a deadline passed ends the run: r %d reason %u", r, e.reason);
  uint64 d = clock_ns() + 500000000UL;
  vcpu_run_start(v, &e, d, 0);
  pushcli();
  r = svm_prepare_entry(v, cpuid_self());
  uint64 armed = lapic_deadline_armed();
  svm_complete_interrupts(v);
  popcli();
  uint64 want = ns_to_tsc(d), ms = ns_to_tsc(d) - ns_to_tsc(d - 1000000);
  KCHECK(r == 1 && armed && armed <= want && armed + ms >= want,
         "entering with a deadline arms this CPU's timer for it, within 1 ms before: TSC %lu for deadline TSC %lu (%ld us "
         "early)", armed, want, (long)(want - armed) * 1000 / (long)(ms ? ms : 1));
  vcpu_run_start(v, &e, 0, 0);
}

// ---- orders, seen through a data watchpoint ---------------------------------
// The kick protocol (KVM kvm_vcpu_kick / vcpu_enter_guest): the entry stores
// guest mode and then reads the request; the kicker stores the request and
// then reads guest mode. Either the entry sees the request, or the kicker
// sees guest mode and IPIs. An access to the watched field traps (#DB after
// the access) and the trap samples the other field: at the last access, what
// a racing CPU could have changed in between must already be in place.

static struct vcpu *wv;
static int (*watch_probe)(void);
static volatile int watch_hits, watch_last;

static int on_db(struct trapframe *tf)
{
  uint64 dr6;
  asm volatile("mov %%dr6, %0" : "=r"(dr6));
  if (!(dr6 & 1))
    return 0;
  asm volatile("mov %0, %%dr6" ::"r"(0xFFFF0FF0UL));
  watch_hits++;
  watch_last = watch_probe();
  return 1;
}

// Every read or write of the 4 bytes at addr traps; probe runs at each.
static void watch(volatile int *addr, int (*probe)(void))
{
  watch_probe = probe;
  watch_hits = 0, watch_last = -1;
  ktest_db_hook = on_db;
  asm volatile("mov %0, %%dr0" ::"r"(addr));
  asm volatile("mov %0, %%dr7" ::"r"(1UL | 3UL << 16 | 3UL << 18));   // L0, R/W0 = read/write, LEN0 = 4
}

static void unwatch(void)
{
  asm volatile("mov %0, %%dr7" ::"r"(0UL));
  ktest_db_hook = 0;
}

static int probe_guest_cpu(void) { return wv->guest_cpu; }
static int probe_kick(void) { return wv->kick; }
static int probe_line(void) { return wv->irq_line; }

static void check_orders(struct vcpu *v)
{
  wv = v;
  watch(&v->kick, probe_guest_cpu);
  int r = enter(v);
  unwatch();
  svm_complete_interrupts(v);
  KCHECK(r == 1 && watch_hits > 0 && watch_last == cpuid_self() + 1,
         "the entry reads the kick request after marking guest mode: at its last of %d looks at v->kick guest_cpu was %d "
         "(expected %d; else a kick in between is neither seen nor IPIed)",
         watch_hits, watch_last, cpuid_self() + 1);
  watch(&v->guest_cpu, probe_kick);
  vcpu_kick(v);
  unwatch();
  KCHECK(watch_hits > 0 && watch_last == 1,
         "vcpu_kick reads guest_cpu after storing the request: at its last of %d reads v->kick was %d (expected 1; else "
         "an entry in between is neither stopped nor IPIed)",
         watch_hits, watch_last);
  v->kick = 0;
  watch(&v->guest_cpu, probe_line);
  vcpu_set_irq_line(v, VEC);
  unwatch();
  KCHECK(watch_hits > 0 && watch_last == VEC,
         "vcpu_set_irq_line reads guest_cpu after storing the line: at its last of %d reads the line was 0x%x (expected "
         "0x%x)", watch_hits, watch_last, VEC);
  v->irq_line = 0;
}

// What the vcpu's fields hold when an IPI goes out.
static struct vcpu *hooked;
static volatile int hook_calls, hook_line, hook_kick;

static void on_kick_cpu(int guest_cpu)
{
  (void)guest_cpu;
  hook_calls++;
  hook_line = hooked->irq_line;
  hook_kick = hooked->kick;
}

// Kicks and the line to a vcpu "running" on the other CPU must IPI it.
static void check_ipis(struct vcpu *v)
{
  int other = cpuid_self() == 0 ? 1 : 0;
  if (!cpu_online(other)) {
    KCHECK(0, "needs 2 CPUs");
    return;
  }
  v->guest_cpu = other + 1;
  hooked = v, hook_calls = 0;
  kick_cpu_hook = on_kick_cpu;
  uint64 n0 = trap_counts[T_IPI_KICK];
  vcpu_kick(v);
  int calls = hook_calls, kick = hook_kick;
  for (uint64 t = clock_ns(); trap_counts[T_IPI_KICK] == n0 && clock_ns() - t < 1000000000UL;)
    pause();
  KCHECK(v->kick == 1 && trap_counts[T_IPI_KICK] == n0 + 1, "vcpu_kick of a vcpu in guest mode on cpu%d sends it one IPI (%lu)",
         other, trap_counts[T_IPI_KICK] - n0);
  v->kick = 0;
  n0 = trap_counts[T_IPI_KICK];
  vcpu_set_irq_line(v, VEC);
  for (uint64 t = clock_ns(); trap_counts[T_IPI_KICK] == n0 && clock_ns() - t < 1000000000UL;)
    pause();
  KCHECK(v->irq_line == VEC && trap_counts[T_IPI_KICK] == n0 + 1, "asserting its line sends one IPI too (%lu)",
         trap_counts[T_IPI_KICK] - n0);
  kick_cpu_hook = 0;
  // (through kick_cpu; an IPI sent some other way was counted above)
  KCHECK((calls == 0 || kick == 1) && (hook_calls == calls || hook_line == VEC),
         "each IPI goes out after the request it is for is stored: kick %d, line 0x%x when they were sent",
         calls ? kick : 1, hook_calls > calls ? hook_line : VEC);
  v->guest_cpu = 0;
  v->irq_line = 0;
}

KTEST(irq_halt)
{
  struct vcpu *v = fresh();
  if (!v) {
    KCHECK(0, "vcpu_alloc");
    return;
  }
  check_halt(v);
  check_requests(v);
  check_orders(v);
  check_ipis(v);
  vcpu_free(v);
}
