// Guests with several vcpus (vmm -V N). Each vcpu runs on a thread of its
// own, in a loop like the one-vcpu loop of run.c; the host schedules the
// threads on any CPU, so a vcpu migrates as a one-vcpu guest does. What the
// vcpus share (the board's chips, the APICs, the exit handlers' state) lives
// under one lock, the VMM lock: a thread holds it for everything but
// vcpu_run and its waits.
//
// The local APICs talk to each other through the ICR (lapic.c's ICR write
// calls smp_ipi_hook through lapic_ipi_hook): fixed, lowest-priority, NMI,
// INIT and startup IPIs to physical or logical destinations or a shorthand
// (Intel SDM Vol. 3A §10.6, AMD APM Vol. 2 §16.5 "Interprocessor
// Interrupts"). An interrupt for another vcpu is useless until that vcpu
// looks at its APIC again: one running in the guest on another host CPU must
// leave it (vcpu_kick), one blocked in HLT must wake (a kick wakes it too,
// kern/vmabi.h), one waiting for a startup IPI sleeps on a futex here and
// must be woken.
//
// The startup protocol (SDM Vol. 3A §8.4.4.1 "Typical BSP Initialization
// Sequence", the INIT-SIPI-SIPI of MP systems): an AP starts in
// wait-for-SIPI; INIT puts any vcpu back there (its registers and APIC to
// their INIT state, SDM Table 9-1, §10.4.7.3); the first SIPI after an INIT
// starts it in real mode at CS = vector << 8, IP 0; further SIPIs, and SIPIs
// to a vcpu that is not waiting, are ignored.
#include "vmm.h"
#include "ioapic.h"
#include "kvmpv.h"

struct smp {
  struct mutex lock;        // the VMM lock
  int n;                    // vcpus
  struct guest *cpu[GUEST_MAXVCPUS];   // each vcpu's view; cpu[0] is the caller's
  int self;                 // the vcpu whose thread holds the lock
  int pic_before;           // the PIC's output when the lock was taken (smp_unlock)
  int over;                 // the guest ended: every thread leaves its loop
  struct vm_regs reset;     // a fresh vcpu's registers: what INIT leaves (then the SIPI sets CS)
  long t0, ticks;           // -t budget (guest_over_budget)
  int tid[GUEST_MAXVCPUS];
};
static struct smp smp;

// ICR fields (SDM Vol. 3A §10.6.1, Figure 10-12).
#define ICR_VECTOR(lo) ((lo) & 0xFF)
#define ICR_DM(lo) (((lo) >> 8) & 7)
#define ICR_LOGICAL (1u << 11)
#define ICR_ASSERT (1u << 14)          // level: 0 only in the INIT level de-assert
#define ICR_SHORTHAND(lo) (((lo) >> 18) & 3)
enum { SH_NONE, SH_SELF, SH_ALL, SH_OTHERS };

// A part of lab 8 not written yet: say which, and stop this VMM (every thread).
__attribute__((unused)) static void lab8_missing(const char *what)
{
  printf("vmm: lab 8: %s not implemented\n", what);
  exit(1);
}

// vmm -W us: an AP's thread that let the lock go waits that long before
// going on to vcpu_run, 40 times as long before it sleeps in wait_wake
// (longer than the SDM's 10 ms between INIT and SIPI), so that a test sees a
// window a kick or a wakeup must cover. Not vcpu 0's: it sends quickly into
// the APs' gaps.
static void widen(struct guest *g, int times)
{
  static volatile int never;
  if (g->o->widen_us > 0 && g->index != 0)
    futex_wait(&never, 0, g->o->widen_us * 1000 * times);
}

// Takes the VMM lock for g's thread; the APIC page, CR8 and the line then
// mean g's local APIC.
void smp_lock(struct guest *g)
{
  if (!g->smp)
    return;
  mutex_lock(&smp.lock);
  smp.self = g->index;
  apic_select(g->index);
  smp.pic_before = pic_output(&g->board->pic);
}

// Lets the VMM lock go. An exit of another vcpu that changed the 8259's
// output concerns the first vcpu (its LINT0 is the PIC's wire): kicked.
// -W widens the gap between here and the vcpu_run that follows.
void smp_unlock(struct guest *g)
{
  if (!g->smp)
    return;
  int kick0 = g->index != 0 && pic_output(&g->board->pic) != smp.pic_before;
  mutex_unlock(&smp.lock);
  if (kick0)
    vcpu_kick(g->vm, 0);
  widen(g, 1);
}

int smp_over(struct guest *g) { return g->smp && smp.over; }

// Drops the lock until someone bumps g->wake (wake() below); the caller
// looks at its state again.
__attribute__((unused)) static void wait_wake(struct guest *g)
{
  int seen = g->wake;
  mutex_unlock(&smp.lock);
  widen(g, 40);
  futex_wait(&g->wake, seen, 0);
  smp_lock(g);
}

// INIT's effect on the VMM's side of vcpu g (SDM Table 9-1, §10.4.7.3): the
// local APIC returns to its power-up state but for its ID, the line drops,
// an emulated instruction in flight is forgotten. The registers are set
// when the SIPI comes (sipi_start).
__attribute__((unused)) static void init_reset(struct guest *g)
{
  struct lapic *l = apic_lapic(g->index);
  void (*eoi_level)(void *, int) = l->eoi_level;
  void *eoi_ctx = l->eoi_ctx;
  uint32 id = l->id;
  uint64 base = l->base_msr;
  lapic_reset(l, id, g->index == 0);
  l->base_msr = base, l->eoi_level = eoi_level, l->eoi_ctx = eoi_ctx;
  if (g->irq_line != -1 && vcpu_irq(g->vm, g->vcpu, -1) == 0)
    g->irq_line = -1;
  g->insn_done = 0;
  g->init_pending = 0;
}

// A startup IPI's vector starts g: real mode, CS = vector << 8 (base
// vector << 12), IP 0 (SDM §8.4.4.1 and §10.6.1 "Start-Up"). The next run
// passes VM_RUN_INIT, so that the kernel forgets a HLT or an event from
// before the INIT. 0, or -1 after failing the guest.
__attribute__((unused)) static int sipi_start(struct guest *g, int vector)
{
  struct vm_regs r = smp.reset;
  r.cs.sel = vector << 8;
  r.cs.base = (uint64)vector << 12;
  r.rip = 0;
  int e = vcpu_setregs(g->vm, g->vcpu, &r);
  if (e < 0) {
    guest_fail(g, "vcpu %d: vcpu_setregs at the SIPI: %s", g->index, errstr(e));
    return -1;
  }
  g->restarted = 1;
  return 0;
}

// Makes vcpu i look at its local APIC and its state: out of the guest if it
// runs (elsewhere: not the caller's own), awake if it sleeps in HLT
// (the kernel's kick) or waits in wait_wake. A thread that is not in_run
// looks before it enters the guest again: a kick (a system call, and an
// extra exit later) would be wasted on it.
static void wake(int i)
{
  // LAB 8 BEGIN
  struct guest *t = smp.cpu[i];
  t->wake++;
  futex_wake(&t->wake, 1);
  if (i != smp.self && t->in_run)
    vcpu_kick(t->vm, t->vcpu);
  // LAB 8 STUB
  // // LAB 8: make vcpu i notice what changed for it, whatever it is doing: running in the guest on
  // //   another CPU, blocked in HLT in the kernel, about to enter, or waiting in wait_wake.
  // (void)i;
  // LAB 8 END
}

// The I/O APIC raised an NMI at vcpu i's local APIC.
void smp_notify(int i)
{
  if (smp.n > 1 && i >= 0 && i < smp.n) {
    struct guest *t = smp.cpu[i];
    if (t->mp == MP_STOPPED && apic_lapic(i)->nmi_pending)
      t->mp = MP_RUNNABLE;   // an NMI ends a HLT with IF=0
    wake(i);
  }
}

// A fixed interrupt for vcpu i's local APIC (an IPI, or the I/O APIC's),
// then i is made to look. The kernel may already have injected the vector
// on i's line (its INTA) without the VMM knowing: i's exit will say so
// (irq_acked). A second interrupt of that vector arriving meanwhile is not
// one that merges with the first in IRR, since the first has left IRR for
// ISR on the CPU (SDM Vol. 3A §10.8.4: IRR and ISR each hold one): it is
// remembered, and goes into IRR again once the exit's ack moved the first
// to ISR (smp_acked). If the exit shows no ack, the two did merge.
void smp_accept(int i, int vector, int level)
{
  struct guest *t = smp.cpu[i];
  struct lapic *l = apic_lapic(i);
  uint32 bit = 1u << (vector & 31);
  if (smp.n <= 1) {   // one vcpu: the I/O APIC's interrupts go in between runs
    lapic_accept(l, vector, level);
    return;
  }
  if (i != smp.self && t->irq_line == vector && (l->irr[vector >> 5] & bit))
    t->again[vector >> 5] |= bit;
  lapic_accept(l, vector, level);
  wake(i);
}

// After each run of g: the vector the kernel took from its line (-1 none).
// One that arrived again meanwhile goes into IRR now; others merged.
void smp_acked(struct guest *g, int vector)
{
  if (!g->smp)
    return;
  if (vector >= 0 && (g->again[vector >> 5] >> (vector & 31)) & 1)
    lapic_accept(apic_lapic(g->index), vector, 0);
  memset(g->again, 0, sizeof g->again);
}

// Whether vcpu i is a destination of the ICR value lo/dest sent by vcpu `from`.
static int ipi_dest(int i, int from, uint32 lo, uint32 dest)
{
  // LAB 8 BEGIN
  switch (ICR_SHORTHAND(lo)) {
  case SH_SELF: return i == from;
  case SH_ALL: return 1;
  case SH_OTHERS: return i != from;
  }
  return lapic_match_dest(apic_lapic(i), dest, (lo & ICR_LOGICAL) != 0);
  // LAB 8 STUB
  // // LAB 8: 1 if the IPI reaches vcpu i: the shorthand, else the destination field in physical
  // //   or logical mode (lapic_match_dest knows the APIC bus's addressing).
  // (void)i, (void)from, (void)lo, (void)dest;
  // return 0;
  // LAB 8 END
}

// One IPI of delivery mode dm arrives at vcpu i.
static void ipi_one(int i, uint32 dm, int vector)
{
  struct guest *t = smp.cpu[i];
  struct lapic *l = apic_lapic(i);
  // LAB 8 BEGIN
  switch (dm) {
  case DM_FIXED:
  case DM_LOWEST:
    smp_accept(i, vector, 0);   // (wakes i itself)
    return;
  case DM_NMI:
    lapic_nmi(l);
    if (t->mp == MP_STOPPED)
      t->mp = MP_RUNNABLE;
    break;
  case DM_INIT:   // whatever it was doing: back to wait-for-SIPI (its thread resets it)
    t->init_pending = 1;
    t->mp = MP_WAIT_SIPI;
    t->sipi_vector = -1;
    break;
  case DM_SIPI:   // only the first after an INIT counts
    if (t->mp != MP_WAIT_SIPI || t->sipi_vector >= 0)
      return;
    t->sipi_vector = vector;
    break;
  default:
    return;       // SMI, ExtINT and the reserved modes are not sent between vcpus
  }
  wake(i);
  // LAB 8 STUB
  // // LAB 8: what an IPI of each delivery mode does to vcpu i (its local APIC: fixed ones through
  // //   smp_accept; or its place in the INIT-SIPI protocol: t->mp, t->init_pending,
  // //   t->sipi_vector), and then make it notice.
  // (void)t, (void)l, (void)dm, (void)vector;
  // LAB 8 END
}

// Whether the IPI reaches vcpu i: a sender in x2APIC mode (KVM's interface,
// vmm -p on) has 32-bit destinations (x2apic.c), the rest goes to ipi_dest.
static int reaches(int i, int from, uint32 lo, uint32 dest)
{
  int x2 = x2apic_ipi_reaches(apic_lapic(from), apic_lapic(i), lo);
  return x2 >= 0 ? x2 : ipi_dest(i, from, lo, dest);
}

// Lowest priority (§10.6.2.4): one destination of the set, which
// lapic_lowest (ioapic.c) chooses.
static int lowest_dest(int from, uint32 lo, uint32 dest)
{
  uint32 set = 0;
  for (int i = 0; i < smp.n; i++)
    if (reaches(i, from, lo, dest))
      set |= 1u << i;
  return lapic_lowest(apic_lapic(0), smp.n, set);
}

// INIT to the BSP (APIC_BASE.BSP set): unlike an AP, the BSP does not wait
// for a SIPI after INIT but restarts at the reset vector FFFFFFF0h, in the
// firmware (SDM Vol. 3A §8.4.1, §9.1; QEMU's do_cpu_init leaves only APs
// waiting, and SeaBIOS, started a second time, resets the machine). This
// VMM loads its kernels without firmware: nothing at the reset vector, so
// the guest ends with a reset, as on QEMU. 1 if it did.
static int init_to_bsp(int from, uint32 lo, uint32 dest)
{
  for (int i = 0; i < smp.n; i++)
    if ((apic_lapic(i)->base_msr & APIC_BASE_BSP) && reaches(i, from, lo, dest)) {
      struct guest *g = smp.cpu[from];
      g->end = END_RESET;
      snprintf(g->why, sizeof g->why, "INIT to the BSP (vcpu %d), no firmware at the reset vector", i);
      return 1;
    }
  return 0;
}

// The ICR was written on `from` (lapic.c's send_ipi): deliver it. The
// delivery status reads idle at once: every IPI is delivered before the
// write returns.
static void smp_ipi_hook(struct lapic *from)
{
  uint32 lo = from->icr_lo, dest = from->icr_hi >> 24, dm = ICR_DM(lo);
  int self = from - apic_lapic(0);
  if (dm == DM_INIT && !(lo & ICR_ASSERT))
    return;   // INIT level de-assert: no effect on today's CPUs (§10.6.1)
  if (dm == DM_INIT && init_to_bsp(self, lo, dest))
    return;
  int lowest = dm == DM_LOWEST ? lowest_dest(self, lo, dest) : -1;
  for (int i = 0; i < smp.n; i++)
    if (dm == DM_LOWEST ? i == lowest : reaches(i, self, lo, dest))
      ipi_one(i, dm, ICR_VECTOR(lo));
}

// Before each run of g: where it is in the INIT-SIPI protocol. 0 to enter
// the guest; 1 when it waited (or failed the guest) and the caller must look
// again.
__attribute__((unused)) static int mp_step(struct guest *g)
{
  // LAB 8 BEGIN
  if (g->init_pending)
    init_reset(g);
  if (g->mp == MP_WAIT_SIPI && g->sipi_vector >= 0) {
    if (sipi_start(g, g->sipi_vector) < 0)
      return 1;
    g->mp = MP_RUNNABLE;
  }
  if (g->mp == MP_RUNNABLE)
    return 0;
  wait_wake(g);
  return 1;
  // LAB 8 STUB
  // // LAB 8: the vcpu's side of the INIT-SIPI protocol: carry out an INIT that arrived
  // //   (init_reset), start at an accepted SIPI's vector (sipi_start), or wait (wait_wake).
  // (void)g;
  // lab8_missing("mp_step (user/vmm/smp.c)");
  // return 1;
  // LAB 8 END
}

// VM_EXIT_HLT (IF=0) of g: it stops until an NMI or INIT. 1 to go on, 0
// once every vcpu has stopped (the guest halted).
int smp_stopped(struct guest *g)
{
  g->mp = MP_STOPPED;
  for (int i = 0; i < smp.n; i++)
    if (smp.cpu[i]->mp == MP_RUNNABLE)
      return 1;
  g->end = END_HALT;
  return 0;
}

// g's thread leaves its loop: the first to end ends the guest for all
// (cpu[0] carries the end the VMM reports), the others are woken to leave.
static void smp_end(struct guest *g)
{
  struct guest *g0 = smp.cpu[0];
  if (smp.over)
    return;
  smp.over = 1;
  if (g != g0 && g0->end == END_NONE) {
    g0->end = g->end == END_NONE ? END_FAIL : g->end;
    g0->code = g->code;
    memmove(g0->why, g->why, sizeof g0->why);
  }
  for (int i = 0; i < smp.n; i++)
    if (i != g->index)
      wake(i);
}

// One vcpu's life: runs g until the guest ends.
static void vcpu_loop(struct guest *g)
{
  smp_lock(g);
  // LAB 8 BEGIN
  while (g->end == END_NONE && !smp.over) {
    if (mp_step(g))
      continue;
    if (loop_before_run(g) < 0)
      break;
    if (g->restarted)
      g->e.run_flags |= VM_RUN_INIT;
    g->restarted = 0;
    g->in_run = 1;
    smp_unlock(g);
    stats_entry(g);
    int r = vcpu_run(g->vm, g->vcpu, &g->e);
    g->in_run = 0;
    stats_exit(g);
    smp_lock(g);
    if (r < 0) {
      guest_fail(g, "vcpu %d: vcpu_run: %s", g->index, errstr(r));
      break;
    }
    loop_after_run(g);
    if (g->e.ran_on_cpu < 64)
      g->cpus_seen |= 1UL << g->e.ran_on_cpu;
    if (!guest_handle(g) || guest_over_budget(g, smp.t0, smp.ticks))
      break;
  }
  // LAB 8 STUB
  // // LAB 8: run vcpu g as run.c's guest_run does, until the guest ends (g->end, or another vcpu
  // //   ended it: smp.over), with the VMM lock held except around vcpu_run and the waits. A vcpu
  // //   that is not runnable (mp_step) does not enter; a restarted one passes VM_RUN_INIT once.
  // lab8_missing("vcpu_loop (user/vmm/smp.c)");
  // LAB 8 END
  smp_end(g);
  smp_unlock(g);
}

static void vcpu_thread(void *arg) { vcpu_loop(arg); }

// Creates vcpus 1..N-1 beside g's vcpu 0, each with its own view of the
// guest, waiting for a startup IPI. 0, or -1 after saying why.
int smp_setup(struct guest *g)
{
  int n = g->o->nvcpus;
  if (n > GUEST_MAXVCPUS || !apic_lapic(0)) {
    printf("vmm: %s: %s\n", g->name, !apic_lapic(0) ? "several vcpus need the APICs (a guest with GUEST_F_APIC, -k with -A, a multiboot kernel)" : "too many vcpus");
    return -1;
  }
  smp.n = n;
  smp.cpu[0] = g;
  g->smp = &smp;
  g->index = 0;
  for (int i = 1; i < n; i++) {
    int v = vcpu_create(g->vm, VM_MODE_REAL);
    struct guest *c = malloc(sizeof *c);
    if (v != i || !c) {
      printf("vmm: vcpu_create: %s\n", v < 0 ? errstr(v) : "out of memory");
      return -1;
    }
    *c = *g;
    memset(&c->e, 0, sizeof c->e);
    memset(c->count, 0, sizeof c->count);
    memset(&c->st, 0, sizeof c->st);
    memset(&c->msr, 0, sizeof c->msr);
    c->vcpu = v, c->index = i;
    c->mp = MP_WAIT_SIPI, c->sipi_vector = -1, c->init_pending = 0, c->restarted = 0, c->wake = 0;
    c->irq_line = -1, c->insn_done = 0, c->now_valid = 0, c->cpus_seen = 0, c->moves = 0;
    c->cpuid_set = 0;   // its own CPUID table (cpuid.c)
    smp.cpu[i] = c;
  }
  int r = vcpu_getregs(g->vm, 1, &smp.reset);
  if (r < 0)
    return printf("vmm: vcpu_getregs: %s\n", errstr(r)), -1;
  lapic_ipi_hook = smp_ipi_hook;
  return 0;
}

static uint64 tsc_now(void)
{
  uint32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64)hi << 32 | lo;
}

// vmm -s: each vcpu's exits, their rate over the whole run, and the share
// of the run its thread spent in vcpu_run (the TSC converted with the rate
// stats.c measured: vcpu 0's start).
static void print_vcpu_rates(struct guest *g)
{
  uint64 ns = clock_ns() - g->st.ns0, cyc = tsc_now() - g->st.tsc0;
  if (!ns || !cyc)
    return;
  for (int i = 0; i < smp.n; i++) {
    struct guest *c = smp.cpu[i];
    uint64 n = 0;
    for (int k = 0; k < VM_EXIT_NREASONS; k++)
      n += c->st.count[k];
    printf("%svmm: vcpu %d: %lu exits, %lu per second, %lu%% of the run in vcpu_run\n", g->prefix, i, n,
           n * 1000000 / (ns / 1000 ? ns / 1000 : 1), c->st.in_run * 100 / cyc);
  }
}

// Adds the other vcpus' counters and CPUs into cpu[0]'s, for the report
// (vmm -s's table too: exits by reason and their handling time).
static void merge_counts(struct guest *g)
{
  for (int i = 1; i < smp.n; i++) {
    struct guest *c = smp.cpu[i];
    for (int k = 0; k < NCOUNT; k++)
      g->count[k] += c->count[k];
    for (int k = 0; k < VM_EXIT_NREASONS; k++)
      g->st.count[k] += c->st.count[k], g->st.cycles[k] += c->st.cycles[k];
    g->cpus_seen |= c->cpus_seen;
    g->moves += c->moves;
    for (int k = 0; k < VM_SW_N; k++)   // world switches (stats.c): every vcpu's
      g->st.sw[k] += c->st.sw[k], g->st.sw_user[k] += c->st.sw_user[k];
  }
}

// Runs every vcpu, vcpu 0 on the calling thread, until the guest ends.
void smp_run(struct guest *g)
{
  smp.t0 = uptime();
  smp.ticks = g->o->budget_ms ? (g->o->budget_ms * 100 + 999) / 1000 : 0;
  for (int i = 1; i < smp.n; i++) {
    smp.cpu[i]->budget_end_ns = g->budget_end_ns;
    smp.tid[i] = thread_spawn(vcpu_thread, smp.cpu[i]);
    if (smp.tid[i] < 0) {
      guest_fail(g, "thread_spawn: %s", errstr(smp.tid[i]));
      smp.over = 1;
      smp.n = i;   // the vcpus without a thread are never delivered to
      break;
    }
  }
  vcpu_loop(g);
  for (int i = 1; i < smp.n; i++) {
    int st;
    thread_join(smp.tid[i], &st);
  }
  if (g->o->stats)
    print_vcpu_rates(g);
  merge_counts(g);
  printf("%svmm: %d vcpus\n", g->prefix, smp.n);
}
