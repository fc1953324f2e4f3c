// In-kernel tests of the kernel base: SMP bring-up, smp_call, the timer,
// trap reports and survivable kernel traps, and the kernel #PF panic.
#include "defs.h"
#include "cpu.h"
#include "errno.h"
#include "ktest.h"
#include "trap.h"
#include "x86.h"
#include "../lib/string.h"

// ---- ktest=smp ---------------------------------------------------------

struct cpuinfo {
  volatile int ran;
  int id, apicid, intr_off;
  uint64 gdt_base, idt_base;
  uint16 tr;
  uint64 tss_desc;
};
static struct cpuinfo info[NCPU];

// Runs on the target CPU (smp_call): records who and what it is.
static void record_cpu(void *arg)
{
  struct cpuinfo *ci = &info[(uint64)arg];
  struct descptr gdtr, idtr;
  asm volatile("sgdt %0; sidt %1" : "=m"(gdtr), "=m"(idtr));
  ci->id = cpuid_self();
  ci->apicid = lapicid();
  ci->intr_off = !(rflags() & FL_IF);
  ci->gdt_base = gdtr.base;
  ci->idt_base = idtr.base;
  ci->tr = str();
  ci->tss_desc = mycpu()->gdt[SEG_TSS];
  ci->ran++;
}

// A call that passes itself on around the ring of CPUs, 1 -> 2 -> ... -> 0.
// The last hop lands on the BSP while it is still waiting, with IF=0, for
// cpu1: smp_call must serve calls to its own CPU while it waits.
static volatile int ring_seen[NCPU];
static void ring_fn(void *arg)
{
  int next = (cpuid_self() + 1) % ncpu;
  ring_seen[cpuid_self()]++;
  if (next != 1)
    smp_call(next, ring_fn, arg);
}

// Runs record_cpu on CPU i and checks what it saw.
static void check_cpu(int i)
{
  KCHECK(cpu_online(i), "cpu%d online: %d (expected 1)", i, cpu_online(i));
  int r = smp_call(i, record_cpu, (void *)(uint64)i);
  struct cpuinfo *ci = &info[i];
  KCHECK(r == 0 && ci->ran == 1, "smp_call(%d) returned %d, fn ran %d time(s) (expected 0, once)", i, r,
         ci->ran);
  KCHECK(ci->id == i && ci->apicid == cpus[i].apicid, "cpu%d: fn ran on cpu%d apic %d (expected cpu%d apic %d)",
         i, ci->id, ci->apicid, i, cpus[i].apicid);
  KCHECK(ci->intr_off, "cpu%d: fn ran with interrupts %s (expected off)", i, ci->intr_off ? "off" : "on");
  KCHECK(ci->gdt_base == (uint64)cpus[i].gdt, "cpu%d: GDTR base %lx (expected its own GDT %p)", i, ci->gdt_base,
         cpus[i].gdt);
  // TR loaded: the descriptor's type went from available (9) to busy (11).
  KCHECK(ci->tr == TSS_SEL && ((ci->tss_desc >> 40) & 0xF) == 0xB, "cpu%d: TR %x, TSS type %lu (expected TR %x, type 11: busy)",
         i, ci->tr, (ci->tss_desc >> 40) & 0xF, TSS_SEL);
  uint64 tss_base = (ci->tss_desc >> 16 & 0xFFFFFF) | (ci->tss_desc >> 56 << 24) | (cpus[i].gdt[SEG_TSS + 1] << 32);
  KCHECK(tss_base == (uint64)&cpus[i].ts && cpus[i].ts.ist[IST_DF - 1] && cpus[i].ts.ist[IST_NMI - 1],
         "cpu%d: TSS at %lx, IST #DF %lx #NMI %lx (expected %p, both set)", i, tss_base,
         cpus[i].ts.ist[IST_DF - 1], cpus[i].ts.ist[IST_NMI - 1], &cpus[i].ts);
}

KTEST(smp)
{
  KCHECK(ncpu >= 1 && ncpu <= NCPU, "ncpu %d (expected 1..%d)", ncpu, NCPU);
  int distinct = 1;
  for (int i = 0; i < ncpu; i++)
    for (int j = 0; j < i; j++)
      distinct &= cpus[i].apicid != cpus[j].apicid;
  KCHECK(distinct, "%d cpus: apic ids %s (expected distinct)", ncpu, distinct ? "distinct" : "repeated");
  for (int i = 0; i < ncpu; i++)
    check_cpu(i);
  for (int i = 1; i < ncpu; i++)
    KCHECK(cpus[i].ts.ist[IST_DF - 1] != cpus[0].ts.ist[IST_DF - 1], "cpu%d: #DF stack %lx, cpu0's %lx (expected different)", i,
           cpus[i].ts.ist[IST_DF - 1], cpus[0].ts.ist[IST_DF - 1]);
  if (ncpu > 1) {
    smp_call(1, ring_fn, 0);
    int once = 0;
    for (int i = 0; i < ncpu; i++)
      once += ring_seen[i] == 1;
    KCHECK(once == ncpu, "a call passed around all %d CPUs (back to the waiting BSP) ran exactly once on %d "
           "(expected all)", ncpu, once);
  }
  int r1 = smp_call(ncpu, record_cpu, 0), r2 = smp_call(-1, record_cpu, 0);
  KCHECK(r1 == -EINVAL && r2 == -EINVAL, "smp_call to cpu%d and cpu-1 returned %d and %d (expected -EINVAL, %d)",
         ncpu, r1, r2, -EINVAL);
}

// ---- ktest=timer ---------------------------------------------------------

KTEST(timer)
{
  uint64 before[NCPU];
  for (int i = 0; i < ncpu; i++)
    before[i] = cpus[i].ticks;
  uint64 t0 = uptime_us();
  sti();
  int all;
  do {   // every CPU sees 5 ticks, or 2 s pass
    all = 1;
    for (int i = 0; i < ncpu; i++)
      all &= cpus[i].ticks >= before[i] + 5;
    pause();
  } while (!all && uptime_us() - t0 < 2000000);
  cli();
  uint64 us = uptime_us() - t0;
  for (int i = 0; i < ncpu; i++)
    KCHECK(cpus[i].ticks >= before[i] + 5, "cpu%d: ticks %lu -> %lu in %lu us (expected 5 more)", i, before[i],
           cpus[i].ticks, us);
  // 5 ticks at HZ take 50 ms; allow a slow or busy host generous slack.
  uint64 got = cpus[0].ticks - before[0];
  KCHECK(us >= 5 * 1000000 / HZ / 2 && us < 1000000, "cpu0: %lu ticks in %lu us (expected 5 in %d..999999 us at %d Hz)",
         got, us, 5 * 1000000 / HZ / 2, HZ);
}

// ---- ktest=cr8 -------------------------------------------------------------
// In 64-bit mode CR8 is the local APIC's TPR[7:4] (SDM Vol. 3 §10.8.6.1): a
// MOV to CR8 sets TPR to CR8 << 4, the TPR's class is read back from CR8,
// and an interrupt whose class is not above it waits. Run inside svmlab's
// VMM (user/cmdlines/svmlab-cr8) it checks the VMM's TPR/CR8 sync (kern/svm/
// run.c VM_RUN_SET_CR8, user/vmm/apic.c); on QEMU alone, the test itself.

static inline uint64 rcr8(void)
{
  uint64 v;
  asm volatile("mov %%cr8, %0" : "=r"(v));
  return v;
}
static inline void lcr8(uint64 v) { asm volatile("mov %0, %%cr8" ::"r"(v) : "memory"); }

// Spins with interrupts on until trap_counts[vector] passes n or ms pass; the count.
static uint64 wait_trap(int vector, uint64 n, uint64 ms)
{
  uint64 t0 = uptime_us();
  sti();
  while (trap_counts[vector] == n && uptime_us() - t0 < ms * 1000)
    pause();
  cli();
  return trap_counts[vector];
}

KTEST(cr8)
{
  cli();
  lcr8(5);
  KCHECK(lapic_tpr() == 0x50, "MOV 5 to CR8: the TPR reads 0x%x (expected 0x50)", lapic_tpr());
  lapic_set_tpr(0x3A);
  KCHECK(rcr8() == 3, "TPR 0x3A written through the APIC page: CR8 reads %lu (expected 3)", rcr8());
  KCHECK(lapic_tpr() == 0x3A, "the TPR keeps its low bits: 0x%x (expected 0x3A)", lapic_tpr());
  lcr8(15);   // class 15: even the kick IPI (vector 0xF1) waits
  uint64 n = trap_counts[T_IPI_KICK];
  lapic_ipi(lapicid(), T_IPI_KICK);
  uint64 held = wait_trap(T_IPI_KICK, n, 100);
  KCHECK(held == n, "a self-IPI of class 15 with CR8 = 15: taken %lu times in 100 ms (expected 0: it waits)",
         held - n);
  lcr8(0);
  uint64 t0 = uptime_us();
  uint64 got = wait_trap(T_IPI_KICK, n, 1000);
  KCHECK(got == n + 1, "CR8 = 0 lets it in: taken %lu times, %lu us after the MOV (expected once)", got - n,
         uptime_us() - t0);
  KCHECK(lapic_tpr() == 0, "TPR back to 0x%x (expected 0)", lapic_tpr());
}

// ---- ktest=trap ------------------------------------------------------------

KTEST(trap)
{
  // #BP: reported, then the kernel continues after the INT3 with every
  // register as it was (the trap frame round trip).
  uint64 bp0 = trap_counts[T_BP];
  uint64 rbx = 0x1111222233334444, r12 = 0x5555666677778888, r15 = 0x9999aaaabbbbcccc;
  uint64 o_rbx, o_r12, o_r15;
  asm volatile("movq %3, %%rbx; movq %4, %%r12; movq %5, %%r15; int3;"
               "movq %%rbx, %0; movq %%r12, %1; movq %%r15, %2"
               : "=r"(o_rbx), "=r"(o_r12), "=r"(o_r15)
               : "r"(rbx), "r"(r12), "r"(r15)
               : "rbx", "r12", "r15", "memory");
  KCHECK(trap_counts[T_BP] == bp0 + 1, "#BP count %lu -> %lu (expected one more)", bp0, trap_counts[T_BP]);
  KCHECK(o_rbx == rbx && o_r12 == r12 && o_r15 == r15, "after the trap rbx %lx r12 %lx r15 %lx (expected %lx %lx %lx)",
         o_rbx, o_r12, o_r15, rbx, r12, r15);

  // #UD from ud2, expected: reported, skipped, RIP recorded.
  uint64 rip, err, cr2, rax, here;
  int hits;
  trap_expect(T_UD, 2);
  asm volatile("leaq 1f(%%rip), %0; 1: ud2" : "=r"(here));
  hits = trap_expect_done(&rip, &err, &cr2, &rax);
  KCHECK(hits == 1 && rip == here, "#UD: %d caught at rip %lx (expected 1 at %lx)", hits, rip, here);

  // #PF on an unmapped kernel address (3-byte load), expected.
  uint64 bad = 0xFFFF900000000000UL, v;
  trap_expect(T_PF, 3);
  asm volatile("movq (%1), %0" : "=r"(v) : "a"(bad) : "memory");
  hits = trap_expect_done(&rip, &err, &cr2, &rax);
  KCHECK(hits == 1 && cr2 == bad && (err & 7) == 0, "#PF: %d caught, cr2 %lx err %lx (expected 1, cr2 %lx, err 0: not-present kernel read)", hits, cr2, err, bad);

  // #GP from a non-canonical address.
  trap_expect(T_GP, 3);
  asm volatile("movq (%1), %0" : "=r"(v) : "a"(0x8000000000000000UL) : "memory");
  hits = trap_expect_done(&rip, &err, &cr2, &rax);
  KCHECK(hits == 1 && rip > here, "#GP on a non-canonical load: %d caught at %lx, err %lx (expected 1 after %lx)", hits, rip, err,
         here);

  // Nothing armed now: the dispatcher must not treat the next #BP as expected.
  hits = trap_expect_done(&rip, &err, &cr2, &rax);
  KCHECK(hits == 0, "%d hits with nothing armed (expected 0: expectations are one-shot)", hits);
  KCHECK(trap_name(T_PF)[1] == 'P' && trap_name(T_DF)[1] == 'D', "names: %s, %s (expected #PF ..., #DF ...)", trap_name(T_PF),
         trap_name(T_DF));
}

// ---- ktest=panic_pf --------------------------------------------------------
// Must end in the #PF report, "panic:" and power-off code 3 (the grader
// checks the output); the check below runs only if the kernel survived.

KTEST(panic_pf)
{
  volatile uint64 *p = (volatile uint64 *)0xFFFF900000001000UL;
  uint64 v = *p;
  KCHECK(0, "unmapped kernel read returned %lx (expected a #PF report and a panic)", v);
}

// ---- ktest=usertrap ----------------------------------------------------------
// Enters ring 3 through trapret with a hand-made trapframe, lets small user
// programs fault, and comes back through an expected-trap resume point. This
// checks trapret, the ring-3 entry in alltraps (swapgs, TSS.rsp0), the
// user-mode report, and the IDT gate DPLs.

void user_probe(struct trapframe *tf);
void user_probe_resume(void);
// user_probe saves the callee-saved registers and its stack pointer, then
// IRETQs into ring 3 through trapret; trap() sends the expected fault to
// user_probe_resume, which restores them and returns.
asm(".text\n"
    ".globl user_probe, user_probe_resume\n"
    "user_probe:\n"
    "  pushq %rbp; movq %rsp, %rbp\n"
    "  pushq %rbx; pushq %r12; pushq %r13; pushq %r14; pushq %r15\n"
    "  movq %rsp, probe_rsp(%rip)\n"
    "  movq %rdi, %rsp\n"
    "  jmp trapret\n"
    "user_probe_resume:\n"
    "  movq probe_rsp(%rip), %rsp\n"
    "  popq %r15; popq %r14; popq %r13; popq %r12; popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".data\n"
    "probe_rsp: .quad 0\n"
    ".text\n");

struct probe {
  const char *what;
  uint8 code[16];
  int len;          // bytes of code
  int trapno;
  int ripoff;       // expected RIP offset in the report
  uint64 err;
};

#define UCODE_VA USERBASE
#define USTACK_VA (USERBASE + 0x10000)

static const struct probe probes[] = {
  // mov $1, %eax; ud2
  {"ud2", {0xb8, 1, 0, 0, 0, 0x0f, 0x0b}, 7, T_UD, 5, 0},
  // mov $2, %eax; int3  (a trap: RIP after it; the DPL 3 gate lets it through)
  {"int3", {0xb8, 2, 0, 0, 0, 0xcc}, 6, T_BP, 6, 0},
  // mov $3, %eax; mov 0xffffffff80100000, %rax   (kernel text: present, supervisor)
  {"read kernel", {0xb8, 3, 0, 0, 0, 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x10, 0x80}, 13, T_PF, 5, 0x5},
  // mov $4, %eax; out %al, $0x80   (IOPL 0, no I/O bitmap)
  {"out", {0xb8, 4, 0, 0, 0, 0xe6, 0x80}, 7, T_GP, 5, 0},
};

// Frees the page-table pages below table (level 3 = the PML4, lower half
// only); leaf pages are the caller's.
static void free_tables(pte_t *table, int level)
{
  for (int i = 0; i < (level == 3 ? 256 : 512); i++) {
    if (!(table[i] & PTE_P))
      continue;
    pte_t *child = P2V(PTE_ADDR(table[i]));
    if (level > 1)
      free_tables(child, level - 1);
    kfree(child);
  }
}

static void run_probe(const struct probe *p, int idx)
{
  static struct trapframe tf;
  uint64 rip, err, cr2, rax;
  memset(&tf, 0, sizeof tf);
  tf.rip = UCODE_VA + 64 * idx;
  tf.cs = UCODE_SEL;
  tf.ss = UDATA_SEL;
  tf.rflags = FL_RSVD1;
  tf.rsp = USTACK_VA + PGSIZE;
  trap_expect_user(p->trapno, (uint64)user_probe_resume);
  user_probe(&tf);
  int hits = trap_expect_done(&rip, &err, &cr2, &rax);
  KCHECK(hits == 1 && rip == tf.rip + p->ripoff && rax == (uint64)idx + 1 && err == p->err,
         "ring 3 %s: %d %s, rip +%ld, rax %lu, err 0x%lx (expected 1, rip +%d, rax %lu, err 0x%lx)",
         p->what, hits, trap_name(p->trapno), (long)(rip - tf.rip), rax, err, p->ripoff, (uint64)idx + 1,
         (uint64)p->err);
  KCHECK(mycpu() == &cpus[0] && rdmsr(MSR_KERNEL_GS_BASE) == 0, "back in ring 0: mycpu() %p, KERNEL_GS_BASE %lx (expected %p, 0)",
         mycpu(), rdmsr(MSR_KERNEL_GS_BASE), &cpus[0]);
}

KTEST(usertrap)
{
  uint64 before = kfreecount();
  pte_t *pml4 = pml4_new();
  char *code = kalloc(), *ustack = kalloc(), *kstack = kalloc();
  if (!pml4 || !code || !ustack || !kstack ||
      mappages(pml4, UCODE_VA, PGSIZE, V2P(code), PTE_U) < 0 ||
      mappages(pml4, USTACK_VA, PGSIZE, V2P(ustack), PTE_U | PTE_W | PTE_NX) < 0) {
    KCHECK(0, "setting up the user probe: out of memory (expected 4 pages and 2 mappings)");
    return;
  }
  for (uint64 i = 0; i < ARRAY_SIZE(probes); i++)
    memmove(code + 64 * i, probes[i].code, probes[i].len);
  uint64 old_rsp0 = mycpu()->ts.rsp0;
  mycpu()->ts.rsp0 = (uint64)kstack + PGSIZE;
  lcr3(V2P(pml4));
  for (uint64 i = 0; i < ARRAY_SIZE(probes); i++)
    run_probe(&probes[i], i);
  KCHECK(trap_counts[T_UD] >= 1 && trap_counts[T_GP] >= 1, "ring 3 faults counted: #UD %lu, #GP %lu (expected 1 or more each)",
         trap_counts[T_UD], trap_counts[T_GP]);
  kvmswitch();
  mycpu()->ts.rsp0 = old_rsp0;
  free_tables(pml4, 3);
  kfree(pml4);
  kfree(code);
  kfree(ustack);
  kfree(kstack);
  KCHECK(kfreecount() == before, "free pages %lu before, %lu after (expected equal: no leak)", before,
         kfreecount());
}

// ---- ktest=panic_df ----------------------------------------------------------
// A kernel stack that points at unmapped memory: the #PF cannot push its
// frame, so the CPU raises #DF, which runs on its IST stack and must still
// print a report and panic (power-off code 3).

KTEST(panic_df)
{
  asm volatile("movq $0xFFFF900000010000, %%rsp; pushq $0" ::: "memory");
  KCHECK(0, "survived a push to an unmapped stack (expected #DF and a panic)");
}

// ---- ktest=consin --------------------------------------------------------------
// Run with bytes on the serial input, e.g.
//   printf 'svm' | qemu-system-x86_64 ... -append ktest=consin
// Checks that they arrive through the COM1 interrupt (IOAPIC -> cpu0).

KTEST(consin)
{
  uint64 irq0 = trap_counts[T_IRQ0 + IRQ_COM1], t0 = uptime_us();
  char got[4] = {0};
  int n = 0;
  sti();
  while (trap_counts[T_IRQ0 + IRQ_COM1] == irq0 && uptime_us() - t0 < 3000000)
    hlt();   // woken by the UART or the timer
  cli();
  int c;
  while (n < 3 && (c = console_getc_nonblock()) >= 0)
    got[n++] = c;
  KCHECK(trap_counts[T_IRQ0 + IRQ_COM1] > irq0, "COM1 receive interrupts: %lu (expected 1 or more)",
         trap_counts[T_IRQ0 + IRQ_COM1] - irq0);
  KCHECK(n == 3 && got[0] == 's' && got[1] == 'v' && got[2] == 'm', "read \"%s\" (%d bytes) from the console input (expected \"svm\")",
         got, n);
}
