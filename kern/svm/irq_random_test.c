// Lab 5 randomized ktest: seeded random schedules of the events the entry
// decision sees (the line raised with a random vector or lowered, kicks, run
// boundaries, deadlines, the guest's IF, STI/MOV SS shadows, CR8, an event
// already in EVENTINJ, a V_IRQ of the VMM's, a halted vcpu), each followed by
// one entry decision (svm_prepare_entry) and one exit (svm_complete_interrupts)
// on a vcpu that never runs. The expected outcome is computed here from the
// rules of APM Vol. 2 §15.20-15.21 and kern/vmabi.h, not from irq.c:
//   - no entry while a kick is requested or the vcpu is halted;
//   - an external interrupt only with IF=1, outside a shadow, with EVENTINJ
//     free, at most one INTA per vcpu_run, the line's own vector, once;
//   - otherwise, while the line has a vector to give, a window that the CPU
//     would open whatever the guest's TPR (V_IGN_TPR or priority > V_TPR);
//   - an event already in EVENTINJ and the VMM's V_IRQ untouched;
//   - guest mode exactly while entered, the deadline timer armed for it;
//   - vcpu_has_events agrees with what the next entry would deliver.
// Seed: "irqseed=N" on the command line, else from the TSC; printed first.
//   ktest=irq_random [irqseed=N]
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "ktest.h"
#include "../lib/string.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

#define STEPS 3000

static int chance(int percent) { return (int)(ktest_rnd() % 100) < percent; }

// The state a step sets up, kept to be printed with a failure.
struct step {
  int n, iflag, shadow, busy, tpr, vmm_virq, line, newrun, kick, halted;
  uint64 deadline;
};

static int failures;

static void fail(const struct step *s, const char *what, uint64 got)
{
  if (failures++ < 5)
    printf("FAIL: step %d: %s (got 0x%lx) with IF=%d shadow=%d EVENTINJ busy=%d V_TPR=%d VMM V_IRQ=0x%x line=0x%x "
           "new run=%d kick=%d halted=%d deadline=%d\n",
           s->n, what, got, s->iflag, s->shadow, s->busy, s->tpr, s->vmm_virq, s->line, s->newrun, s->kick, s->halted,
           s->deadline != 0);
}

static void setup(struct vcpu *v, struct step *s, uint64 *deadline_next)
{
  struct vmcb_control *c = &v->vmcb->control;
  s->iflag = chance(70);
  s->shadow = chance(20);
  s->busy = chance(15);
  s->tpr = chance(30) ? (int)(ktest_rnd() % 16) : 0;
  s->vmm_virq = chance(10) ? 0x50 + (int)(ktest_rnd() % 16) : 0;
  s->newrun = chance(40);
  s->kick = chance(10);
  s->halted = chance(10);
  s->deadline = 0;
  if (s->newrun) {
    struct vm_exit e;
    memset(&e, 0, sizeof e);
    if (chance(50)) {
      s->deadline = *deadline_next;   // each earlier than the last: the timer takes the new one
      *deadline_next -= 1000000;
    }
    vcpu_run_start(v, &e, s->deadline, 0);
  }
  if (chance(50))   // the line: a new vector, lowered, or left as it is
    vcpu_set_irq_line(v, chance(80) ? 0x20 + (int)(ktest_rnd() % 0xE0) : 0);
  s->line = v->irq_line;
  v->vmcb->save.rflags = FL_RSVD1 | (s->iflag ? FL_IF : 0) | (ktest_rnd() & (FL_CF | FL_DF | 0x40));
  c->int_state = (s->shadow ? SVM_INTERRUPT_SHADOW : 0) | (chance(30) ? SVM_GUEST_INT_MASK : 0);
  c->eventinj = s->busy ? SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | (ktest_rnd() % 32 == 2 ? 3 : ktest_rnd() % 32) : 0;
  c->int_ctl &= ~(V_TPR_MASK | V_IRQ | V_INTR_VECTOR_MASK | V_INTR_PRIO_MASK | V_IGN_TPR);
  c->int_ctl |= (uint64)s->tpr;
  if (s->vmm_virq)
    c->int_ctl |= V_IRQ | V_IGN_TPR | (0xFUL << V_INTR_PRIO_SHIFT) | ((uint64)s->vmm_virq << V_INTR_VECTOR_SHIFT);
  v->kick = s->kick;
  v->halted = s->halted;
}

// What vcpu_has_events must say before the entry.
static void check_events(struct vcpu *v, const struct step *s, int acked)
{
  int want = (s->line && !acked) || s->busy || s->vmm_virq;
  int got = vcpu_has_events(v);
  if (got != want)
    fail(s, "vcpu_has_events disagrees with what the next entry would deliver", got);
}

static void check_entry(struct vcpu *v, const struct step *s, int acked, int r, uint64 armed, uint64 *intas)
{
  struct vmcb_control *c = &v->vmcb->control;
  uint64 inj = c->eventinj;
  uint64 old = s->busy ? inj : 0;
  int enter = !s->kick && !s->halted;
  int allowed = s->iflag && !s->shadow && !s->busy;
  int give = s->line && !acked;   // the line has a vector this run may take
  if (r != enter) {
    fail(s, "svm_prepare_entry must return 0 exactly when a kick is requested or the vcpu is halted", r);
    return;
  }
  if (v->guest_cpu != (enter ? cpuid_self() + 1 : 0))
    fail(s, "guest_cpu must be CPU + 1 once entered, 0 when not", v->guest_cpu);
  if (!enter) {
    if (s->line && v->irq_line != s->line)
      fail(s, "no entry, no INTA: the line keeps its vector", v->irq_line);
    return;
  }
  if (s->busy && inj != old)
    fail(s, "an event already in EVENTINJ stays as it was", inj);
  if (!s->busy && give && allowed) {
    (*intas)++;
    if (inj != (SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | (uint64)s->line))
      fail(s, "IF=1, no shadow, EVENTINJ free: the line's vector goes in as an external interrupt", inj);
    if (v->irq_line != 0 || v->irq_acked != s->line)
      fail(s, "the injection is the INTA: the line drops, irq_acked says which vector", v->irq_line);
  } else if (!s->busy && (inj & SVM_EVTINJ_VALID)) {
    fail(s, "nothing may be injected with IF=0, in a shadow, or after this run's INTA", inj);
  }
  if (!(give && allowed && !s->busy) && s->line && v->irq_line != s->line)
    fail(s, "a vector not injected stays on the line (nothing lost)", v->irq_line);
  int prio = (int)((c->int_ctl & V_INTR_PRIO_MASK) >> V_INTR_PRIO_SHIFT);
  if (s->vmm_virq) {
    if (!(c->int_ctl & V_IRQ) || ((c->int_ctl & V_INTR_VECTOR_MASK) >> V_INTR_VECTOR_SHIFT) != (uint64)s->vmm_virq)
      fail(s, "the VMM's V_IRQ is left as it was", c->int_ctl);
  } else if (give && !allowed) {
    int open = (c->int_ctl & V_IRQ) && (c->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_VINTR);
    if (!open)
      fail(s, "a vector the guest cannot take yet needs a window (V_IRQ + VINTR intercept)", c->int_ctl);
    else if (!(c->int_ctl & V_IGN_TPR) && prio <= s->tpr)
      fail(s, "the window must open whatever the guest's TPR (§15.21.4)", c->int_ctl);
  }
  if (s->deadline) {
    uint64 want = ns_to_tsc(s->deadline), ms = ns_to_tsc(s->deadline) - ns_to_tsc(s->deadline - 1000000);
    if (armed > want || armed + ms < want)
      fail(s, "the timer is armed for the run's deadline (within 1 ms before it)", armed);
  }
}

static void check_exit(struct vcpu *v, const struct step *s)
{
  struct vmcb_control *c = &v->vmcb->control;
  if (v->guest_cpu != 0)
    fail(s, "after the exit the vcpu is out of guest mode", v->guest_cpu);
  if (s->vmm_virq) {
    if (!(c->int_ctl & V_IRQ) || ((c->int_ctl & V_INTR_VECTOR_MASK) >> V_INTR_VECTOR_SHIFT) != (uint64)s->vmm_virq)
      fail(s, "the exit keeps the VMM's V_IRQ", c->int_ctl);
  } else if ((c->int_ctl & V_IRQ) || (c->intercepts[INTERCEPT_WORD_MISC1] & INTERCEPT_VINTR)) {
    fail(s, "the exit closes the window", c->int_ctl);
  }
}

KTEST(irq_random)
{
  uint64 seed = ktest_num("irqseed", rdtsc() % 1000000007);
  printf("irq_random: seed %lu, %d steps; replay: make qemu CPUS=2 APPEND='ktest=irq_random irqseed=%lu'\n", seed,
         STEPS, seed);
  ktest_seed(seed);
  struct vcpu *v = vcpu_alloc();
  if (!v) {
    KCHECK(0, "vcpu_alloc");
    return;
  }
  uint64 deadline_next = clock_ns() + 60UL * 1000000000UL, intas = 0;
  struct step s;
  for (int i = 0; i < STEPS; i++) {
    memset(&s, 0, sizeof s);
    s.n = i;
    setup(v, &s, &deadline_next);
    int acked = v->irq_acked;
    check_events(v, &s, acked);
    pushcli();
    int r = svm_prepare_entry(v, cpuid_self());
    uint64 armed = lapic_deadline_armed();
    check_entry(v, &s, acked, r, armed, &intas);
    svm_complete_interrupts(v);
    popcli();
    check_exit(v, &s);
    v->kick = 0;
    v->halted = 0;
  }
  KCHECK(failures == 0, "random entry decisions followed the rules: seed %lu, %d steps, %lu INTAs, %d broke one", seed,
         STEPS, intas, failures);
  v->vmcb->control.eventinj = 0;
  vcpu_free(v);
}
