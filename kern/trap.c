// Traps and interrupts: the IDT, the dispatcher, and the exception report.
//
// Every vector goes through vectors.S and trapasm.S to trap(tf). CPU
// exceptions print a report (name, error code, RIP with its symbol, CR2 for
// #PF, every register, the CPU); in the kernel that ends in a panic, in ring 3
// it ends the process (proc_fault). Device and IPI vectors go to their
// drivers. All gates are interrupt gates, so IF is 0 in every handler
// (APM Vol. 2 §8.9 "Long-Mode Interrupt Control Transfers").
#include "defs.h"
#include "cpu.h"
#include "trap.h"
#include "x86.h"
#include "../lib/fmt.h"

// A 64-bit interrupt gate (APM Vol. 2 §4.8.4 "Gate Descriptors").
struct gatedesc {
  uint16 off_lo;
  uint16 sel;
  uint8 ist;        // bits 2:0: IST slot, 0 = none
  uint8 type;       // P, DPL, type 0xE = 64-bit interrupt gate
  uint16 off_mid;
  uint32 off_hi;
  uint32 rsvd;
} __attribute__((packed));
_Static_assert(sizeof(struct gatedesc) == 16, "gate size");

#define GATE_INTR 0x8E   // present, DPL 0, interrupt gate
#define GATE_DPL3 0x60

static struct gatedesc idt[256];
extern uint64 vectors[];   // vectors.S

static const char *excnames[32] = {
  [T_DE] = "#DE divide error",       [T_DB] = "#DB debug",
  [T_NMI] = "NMI non-maskable interrupt", [T_BP] = "#BP breakpoint",
  [4] = "#OF overflow",              [5] = "#BR bound range exceeded",
  [T_UD] = "#UD invalid opcode",     [7] = "#NM device not available",
  [T_DF] = "#DF double fault",       [9] = "coprocessor segment overrun",
  [10] = "#TS invalid TSS",          [11] = "#NP segment not present",
  [12] = "#SS stack fault",          [T_GP] = "#GP general protection",
  [T_PF] = "#PF page fault",         [16] = "#MF x87 floating-point",
  [17] = "#AC alignment check",      [T_MC] = "#MC machine check",
  [19] = "#XF SIMD floating-point",  [21] = "#CP control protection",
  [28] = "#HV hypervisor injection", [29] = "#VC VMM communication",
  [30] = "#SX security exception",
};

// Traps and interrupts seen so far, by vector (all CPUs); tests read it.
volatile uint64 trap_counts[256];

// A one-shot "this fault is expected" per CPU, for tests (trap_expect).
static struct trap_expect {
  int trapno;       // -1: not armed
  int skip;         // kernel: bytes to advance RIP past the faulting instruction
  uint64 resume;    // ring 3: kernel address to continue at instead
  int hits;
  uint64 rip, err, cr2, rax;
} expect[NCPU];

const char *trap_name(uint64 trapno)
{
  if (trapno < 32)
    return excnames[trapno] ? excnames[trapno] : "reserved exception";
  if (trapno == T_SPURIOUS)
    return "spurious interrupt";
  if (trapno == T_IPI_KICK)
    return "vcpu kick IPI";
  if (trapno == T_IPI_REEXIT)
    return "exit-after-injection IPI";
  return trapno == T_IPI_CALL ? "smp_call IPI" : "interrupt";
}

static void setgate(int n, uint64 handler, int ist, int dpl3)
{
  struct gatedesc *g = &idt[n];
  g->off_lo = handler & 0xFFFF;
  g->sel = KCODE_SEL;
  g->ist = ist;
  g->type = GATE_INTR | (dpl3 ? GATE_DPL3 : 0);
  g->off_mid = (handler >> 16) & 0xFFFF;
  g->off_hi = handler >> 32;
  g->rsvd = 0;
}

// Builds the IDT (once, on the BSP). #BP and #OF may be raised from ring 3
// by INT3/INTO, so their gates have DPL 3; #DF, NMI and #MC switch to their
// own IST stacks so a broken kernel stack still gives a report.
void trapinit(void)
{
  for (int i = 0; i < 256; i++)
    setgate(i, vectors[i], 0, 0);
  setgate(T_BP, vectors[T_BP], 0, 1);
  setgate(4, vectors[4], 0, 1);
  setgate(T_DF, vectors[T_DF], IST_DF, 0);
  setgate(T_NMI, vectors[T_NMI], IST_NMI, 0);
  setgate(T_MC, vectors[T_MC], IST_MC, 0);
  for (int i = 0; i < NCPU; i++)
    expect[i].trapno = -1;
}

// Loads the IDT on this CPU.
void trapinithart(void) { lidt(idt, sizeof idt); }

// ---- the report ----------------------------------------------------------

static void print_pf_err(uint64 err)
{
  printf(" [%s %s %s%s%s]", err & 1 ? "protection" : "not-present", err & 2 ? "write" : "read",
         err & 4 ? "user" : "kernel", err & 8 ? " reserved-bit" : "", err & 16 ? " ifetch" : "");
}

static void print_regs(struct trapframe *tf)
{
  printf("  rax %016lx rbx %016lx rcx %016lx rdx %016lx\n", tf->rax, tf->rbx, tf->rcx, tf->rdx);
  printf("  rsi %016lx rdi %016lx rbp %016lx rsp %016lx\n", tf->rsi, tf->rdi, tf->rbp, tf->rsp);
  printf("  r8  %016lx r9  %016lx r10 %016lx r11 %016lx\n", tf->r8, tf->r9, tf->r10, tf->r11);
  printf("  r12 %016lx r13 %016lx r14 %016lx r15 %016lx\n", tf->r12, tf->r13, tf->r14, tf->r15);
  printf("  cs %lx ss %lx rflags %lx cr0 %lx cr3 %lx cr4 %lx\n", tf->cs, tf->ss, tf->rflags,
         rcr0(), rcr3(), rcr4());
}

// Prints the exception report for tf on the console.
void trap_report(struct trapframe *tf, uint64 cr2)
{
  uint64 off = 0;
  const char *sym = (tf->cs & 3) ? NULL : ksym_lookup(tf->rip, &off);
  printf("trap: cpu%d: %s (vector %lu) in %s mode, err 0x%lx", cpuid_self(), trap_name(tf->trapno),
         tf->trapno, (tf->cs & 3) ? "user" : "kernel", tf->err);
  if (tf->trapno == T_PF)
    print_pf_err(tf->err);
  printf("\n  rip %016lx", tf->rip);
  if (!(tf->cs & 3))
    printf(" <%s+0x%lx>", sym ? sym : "?", off);
  if (tf->trapno == T_PF)
    printf("  cr2 %016lx", cr2);
  printf("\n");
  print_regs(tf);
}

// ---- expected faults (tests) ------------------------------------------------

// Arms a one-shot expectation on this CPU: the next kernel-mode exception
// `trapno` is reported, recorded and survived by advancing RIP by `skip`
// bytes (the length of the faulting instruction). Call with IF=0 so the
// caller stays on this CPU.
void trap_expect(int trapno, int skip)
{
  struct trap_expect *e = &expect[cpuid_self()];
  e->trapno = trapno;
  e->skip = skip;
  e->resume = 0;
  e->hits = 0;
  e->rip = e->err = e->cr2 = e->rax = 0;
}

// Like trap_expect, for a ring-3 exception instead: trap() makes the frame
// return to the kernel at `resume` (ring 0, IF=0, on the trap stack: resume
// must reload its own RSP) rather than calling proc_fault.
void trap_expect_user(int trapno, uint64 resume)
{
  trap_expect(trapno, 0);
  expect[cpuid_self()].resume = resume;
}

// Disarms, and returns how often the expected trap hit (0 or 1) with its
// RIP, error code and CR2 (and RAX, for ring-3 probes).
int trap_expect_done(uint64 *rip, uint64 *err, uint64 *cr2, uint64 *rax)
{
  struct trap_expect *e = &expect[cpuid_self()];
  e->trapno = -1;
  *rip = e->rip;
  *err = e->err;
  *cr2 = e->cr2;
  *rax = e->rax;
  int hits = e->hits;
  e->hits = 0;
  return hits;
}

static int expect_matches(struct trapframe *tf)
{
  struct trap_expect *e = &expect[cpuid_self()];
  int user = (tf->cs & 3) != 0;
  return e->trapno == (int)tf->trapno && user == (e->resume != 0);
}

// If tf is the armed expected trap: records it and redirects tf (see
// trap_expect and trap_expect_user). Returns 1 if so.
static int expected(struct trapframe *tf, uint64 cr2)
{
  struct trap_expect *e = &expect[cpuid_self()];
  if (!expect_matches(tf))
    return 0;
  e->trapno = -1;
  e->hits++;
  e->rip = tf->rip;
  e->err = tf->err;
  e->cr2 = cr2;
  e->rax = tf->rax;
  if (tf->cs & 3) {
    tf->rip = e->resume;
    tf->cs = KCODE_SEL;
    tf->ss = KDATA_SEL;
    tf->rflags = FL_RSVD1;
    tf->rsp = (uint64)tf;   // some kernel stack; resume reloads its own
  } else {
    tf->rip += e->skip;
  }
  return 1;
}

// ---- dispatch --------------------------------------------------------------

// A CPU exception. Kernel: survivable only for INT3 (a trap: RIP is already
// past it) and armed expectations; anything else panics with a backtrace
// that starts at the faulting function. Ring 3: the process dies.
static void exception(struct trapframe *tf)
{
  uint64 cr2 = tf->trapno == T_PF ? rcr2() : 0;
  // A fatal kernel fault may have hit inside printf with the console lock
  // held: report it the way panic prints, without the lock.
  if (!(tf->cs & 3) && tf->trapno != T_BP && !expect_matches(tf))
    panicked = 1;
  trap_report(tf, cr2);
  if (expected(tf, cr2)) {
    printf("trap: cpu%d: expected; continuing at rip %016lx\n", cpuid_self(), tf->rip);
    return;
  }
  if (tf->cs & 3) {
    char what[128];
    snprintf(what, sizeof what, "%s at rip 0x%lx addr 0x%lx err 0x%lx", trap_name(tf->trapno),
             tf->rip, cr2, tf->err);
    proc_fault(tf, what);
    return;
  }
  if (tf->trapno == T_BP) {
    printf("trap: cpu%d: kernel continues at rip %016lx\n", cpuid_self(), tf->rip);
    return;
  }
  uint64 off = 0;
  const char *sym = ksym_lookup(tf->rip, &off);
  panic("%s in kernel at rip 0x%lx (%s+0x%lx) addr 0x%lx err 0x%lx", trap_name(tf->trapno), tf->rip,
        sym ? sym : "?", off, cr2, tf->err);
}

// The local APIC timer: a scheduler tick, an expired deadline (lapic.c), or
// both. Deadlines wake halted vcpus (kern/svm/halt.c) and make a running
// guest exit, which this interrupt already did.
static void timer_intr(void)
{
  int deadline;
  int tick = lapic_timer_intr(&deadline);
  if (tick) {
    mycpu()->ticks++;
    watchdog_tick();
  }
  lapiceoi();     // before proc_tick: it may switch away from this stack
  if (deadline)
    vcpu_deadline_wakeup();
  if (tick)
    proc_tick();
}

// A ktest's #DB handler for kernel-mode debug traps; returns 1 if it was its own.
int (*ktest_db_hook)(struct trapframe *tf);

void trap(struct trapframe *tf)
{
  __atomic_fetch_add(&trap_counts[tf->trapno & 0xFF], 1, __ATOMIC_RELAXED);
  switch (tf->trapno) {
  case T_IRQ0 + IRQ_TIMER:
    timer_intr();
    return;
  case T_IRQ0 + IRQ_COM1:
    uartintr();
    lapiceoi();
    return;
  case T_NM:   // a guest's FPU state is loaded (CR0.TS): give it back, retry
    if (svm_guest_fpu_release())
      return;
    break;
  case T_IPI_CALL:
    lapiceoi();
    smp_call_intr();
    return;
  case T_IPI_KICK:   // vcpu_kick: the #VMEXIT it caused was all it was for
  case T_IPI_REEXIT: // the same, for an injected interrupt (kern/svm/irq.c)
  case T_IPI_WAKE:   // wakeup(): the halted scheduler looks again (kern/proc.c)
    lapiceoi();
    return;
  case T_SPURIOUS:   // the local APIC wants no EOI for its spurious vector
    return;
  case T_DB:         // a ktest's data watchpoint (kern/svm/irq_test.c)
    if (!(tf->cs & 3) && ktest_db_hook && ktest_db_hook(tf))
      return;
    break;
  }
  if (tf->trapno < 32) {
    exception(tf);
    return;
  }
  printf("trap: cpu%d: unexpected vector %lu at rip %lx, ignored\n", cpuid_self(), tf->trapno, tf->rip);
  lapiceoi();
}

// ---- defaults until proc.c exists -------------------------------------------
// proc.c's definitions replace these (HACKING.md, "Interfaces between kernel parts").

__attribute__((weak)) void proc_tick(void) {}
__attribute__((weak)) void vcpu_deadline_wakeup(void) {}

__attribute__((weak)) void proc_fault(struct trapframe *tf, const char *what)
{
  panic("ring 3 fault but no process support: %s", what);
}

// Idles with interrupts on, so timer ticks and smp_call IPIs are served.
__attribute__((weak)) void scheduler(void)
{
  for (;;)
    asm volatile("sti; hlt; cli" ::: "memory");
}
