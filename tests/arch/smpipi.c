// Interprocessor interrupts between N CPUs (archtest runs it with 2 and 4).
// The BSP finds the CPUs in the MADT, starts each AP with INIT-SIPI-SIPI
// through a real-mode trampoline (Intel SDM Vol. 3A §8.4.4.1 "Typical BSP
// Initialization Sequence"), then every CPU sends a seeded random storm of
// IPIs through its ICR (SDM Vol. 3A §10.6.1): fixed ones to physical and
// logical destinations (flat model, then cluster model: LDR/DFR, §10.6.2.2),
// the shorthands self / all including self / all excluding self, NMIs, and
// lowest priority (§10.6.2.4: exactly one CPU of the set, which one is the
// chipset's choice, so only that is counted). Each CPU counts the vectors it
// takes; a sender's vectors are its own (0x40 + 16 * sender + k), so a count
// says who sent it. The digest of the counts per CPU must be the one plain
// QEMU's APIC gives; the kernel also checks them against the SDM's rules
// (nothing lost, nothing twice, nothing misdirected). Combinations the SDM
// calls invalid (Table 10-3: NMI or lowest priority to self, lowest priority
// to all including self) are not sent.
//
// No IRR merging is possible: a sender reuses one of its vectors only after
// every earlier IPI of that vector was taken by each of its targets, and
// NMIs are sent one at a time (a CPU holds one NMI pending, §10.5.1).
//
// Then, with every CPU's TPR 0 in the storm so far: a logical 0xFF in the
// cluster model (the broadcast), lowest priority among different TPRs, and
// last INIT to the BSP, which ends the run (on QEMU through SeaBIOS's
// reset; the VMM has no firmware and ends the guest with a reset). The
// phases: 1 flat storm, 2 cluster storm, 3 TPRs set (lowest_tpr), 4 APs
// stop taking interrupts, 5 CPU 1 sends the INIT.
#include "rt.h"

// archtest: cpus 2 4

const char kernel_name[] = "smpipi";

#define MAXCPU 8
#define SEED 0x5eed1e55u
#define PER_SENDER 160          // IPIs each CPU sends in each phase
#define VBASE 0x40              // sender s owns vectors VBASE + 16 s .. + 15
#define LOWEST_K 15             // ... the last one for lowest priority
#define TRAMP 0x8000            // the SIPI's page (vector 0x08)
#define STACK 16384

// ICR (§10.6.1, Figure 10-12)
#define ICR_LO 0x300
#define ICR_HI 0x310
#define DM_FIXED (0 << 8)
#define DM_LOWEST (1 << 8)
#define DM_NMI (4 << 8)
#define DM_INIT (5 << 8)
#define DM_SIPI (6 << 8)
#define LOGICAL (1 << 11)
#define PENDING (1 << 12)       // delivery status: send pending
#define ASSERT (1 << 14)
#define LEVEL (1 << 15)
#define SH_SELF (1 << 18)
#define SH_ALL (2 << 18)
#define SH_OTHERS (3 << 18)

static int ncpu;
static u8 apic_id[MAXCPU];           // by CPU index (MADT order, BSP first)
__attribute__((used)) u8 index_of[256];   // APIC ID -> CPU index (ap_start64 reads it)
__attribute__((used)) u8 stacks[MAXCPU][STACK] __attribute__((aligned(16)));
static u64 tsc_hz;

// What the APs report at their start.
static volatile int started[MAXCPU];
static volatile u32 ap_cr0[MAXCPU];
static volatile u64 ap_apicbase[MAXCPU];

// Phase control and the tallies. counts[r][v] is written by CPU r only
// (its handler), sent[r][v] by v's sender only.
static volatile int phase, arrived;
static volatile u32 counts[MAXCPU][256], sent[MAXCPU][256];
static volatile u32 nmis[MAXCPU], nmi_sent[MAXCPU];
static volatile int nmi_lock;
static volatile u32 lost[MAXCPU], misdirected[MAXCPU], stuck[MAXCPU];
static volatile u32 kinds[MAXCPU][8];
static volatile int cluster_model;            // this phase's logical model (0 flat, 1 cluster)
static volatile int gave_up;         // an IPI was lost: every CPU stops sending (a broken APIC
                                     // would otherwise cost a timeout per IPI)

// This CPU's index, from its stack (each AP runs on stacks[i]; the BSP on
// the boot stack): no MMIO read in the interrupt handlers.
static int me(void)
{
  u64 sp = (u64)__builtin_frame_address(0);
  if (sp >= (u64)stacks && sp < (u64)stacks + sizeof stacks)
    return (sp - (u64)stacks) / STACK;
  return 0;
}

// ---- seeded random numbers (xorshift64*) ----
static u64 rnd(u64 *s)
{
  *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
  return (*s * 0x2545F4914F6CDD1DUL) >> 32;
}

static u64 tsc_deadline(int ms) { return rdtsc() + tsc_hz / 1000 * ms; }

// ---- firmware: the CPUs from the MADT (ACPI 6.x §5.2.12) ----
static int sum8(const u8 *p, u32 n)
{
  u8 s = 0;
  while (n--)
    s += *p++;
  return s;
}

static const u8 *madt(void)
{
  for (u64 a = 0xE0000; a < 0x100000; a += 16)
    if (!__builtin_memcmp((void *)a, "RSD PTR ", 8) && sum8((u8 *)a, 20) == 0) {
      const u8 *rsdt = (const u8 *)(u64) * (u32 *)(a + 16);
      for (u32 off = 36; off + 4 <= *(u32 *)(rsdt + 4); off += 4) {
        const u8 *t = (const u8 *)(u64) * (u32 *)(rsdt + off);
        if (!__builtin_memcmp(t, "APIC", 4))
          return t;
      }
    }
  return 0;
}

// Fills apic_id[] with the enabled local APICs, the BSP's first.
static void find_cpus(void)
{
  const u8 *m = madt();
  u8 bsp = LAPIC_REG(0x20) >> 24;
  ncpu = 1, apic_id[0] = bsp;
  for (u32 off = 44; m && off + 2 <= *(u32 *)(m + 4) && m[off + 1] >= 2; off += m[off + 1]) {
    const u8 *e = m + off;
    if (e[0] == 0 && (*(u32 *)(e + 4) & 1) && e[3] != bsp && ncpu < MAXCPU)
      apic_id[ncpu++] = e[3];
  }
  for (int i = 0; i < ncpu; i++)
    index_of[apic_id[i]] = i;
  u16 fw = 0;
  fwcfg_read(0x05, &fw, 2);
  out("cpus", "%d in the MADT (fw_cfg says %u), BSP apic id %u", ncpu, fw, bsp);
}

// ---- the ICR ----
// Writes the ICR and waits (bounded) until the delivery status is idle.
static void icr_send(u32 dest, u32 lo)
{
  LAPIC_REG(ICR_HI) = dest << 24;
  LAPIC_REG(ICR_LO) = lo;
  u64 end = tsc_deadline(1000);
  while (LAPIC_REG(ICR_LO) & PENDING)
    if (rdtsc() > end) {
      stuck[me()]++;
      return;
    }
}

// ---- AP start-up: the trampoline (copied to TRAMP) ----
// Real mode at CS = TRAMP >> 4, IP 0: load the GDT, protected mode, then
// the BSP's page tables, long mode and ap_start64 on its own stack.
#define T(x) #x " - tramp + 0x8000"
asm(".text\n.code16\n.globl tramp, tramp_end, tramp_gdtr, tramp_cr3, tramp_cr0\n"
    "tramp:\n  cli\n  mov %cs, %ax\n  mov %ax, %ds\n"
    "  mov %cr0, %eax\n  mov %eax, tramp_cr0 - tramp\n"
    "  lgdtl tramp_gdtr - tramp\n"
    "  mov %cr0, %eax\n  or $1, %eax\n  mov %eax, %cr0\n"
    "  ljmpl $0x40, $(" T(tramp32) ")\n"
    ".code32\ntramp32:\n  mov $0x10, %ax\n  mov %ax, %ds\n  mov %ax, %es\n  mov %ax, %ss\n"
    "  mov %cr4, %eax\n  or $0x20, %eax\n  mov %eax, %cr4\n"
    "  mov " T(tramp_cr3) ", %eax\n  mov %eax, %cr3\n"
    "  mov $0xC0000080, %ecx\n  rdmsr\n  or $0x100, %eax\n  wrmsr\n"
    "  mov %cr0, %eax\n  and $0x9FFFFFFF, %eax\n  or $0x80010001, %eax\n  mov %eax, %cr0\n"
    "  ljmp $0x08, $ap_start64\n"
    ".align 8\ntramp_gdtr: .word 0\n  .long 0\n"
    "tramp_cr3: .long 0\ntramp_cr0: .long 0\ntramp_end:\n"
    ".code64\n"
    "ap_start64:\n  mov $0x10, %ax\n  mov %ax, %ds\n  mov %ax, %es\n  mov %ax, %ss\n"
    "  lidt ap_idtr(%rip)\n"
    "  mov $0xFEE00020, %rbx\n  mov (%rbx), %eax\n  shr $24, %eax\n"
    "  lea index_of(%rip), %rbx\n  movzbl (%rbx,%rax), %edi\n"
    "  lea 1(%rdi), %rax\n  shl $14, %rax\n  lea stacks(%rip), %rsp\n  add %rax, %rsp\n"
    "  call ap_main\n1: cli\n  hlt\n  jmp 1b\n");
extern char tramp[], tramp_end[], tramp_gdtr[], tramp_cr3[], tramp_cr0[];
struct { u16 limit; u64 base; } __attribute__((packed)) ap_idtr;
_Static_assert(STACK == 1 << 14, "ap_start64 shifts by 14");

static void *low(u64 a)
{
  asm("" : "+r"(a));
  return (void *)a;
}

static void ipi_handler(struct frame *f);
static void nmi_handler(struct frame *f);
static void storm(int self);

static void lapic_on(void)
{
  LAPIC_REG(0x80) = 0;          // TPR: every class
  lapic_enable();
}

__attribute__((used)) void ap_main(int self)
{
  u8 *t = low(TRAMP);
  ap_cr0[self] = *(volatile u32 *)(t + (tramp_cr0 - tramp));
  ap_apicbase[self] = rdmsr(0x1B);
  lapic_on();
  started[self]++;
  storm(self);
  if (self == 1) {   // the last act: INIT to the BSP (init_bsp)
    while (phase < 5)
      asm volatile("pause");
    icr_send(apic_id[0], DM_INIT | ASSERT | LEVEL);
    icr_send(apic_id[0], DM_INIT | LEVEL);
  }
}

// INIT (assert), INIT de-assert, 10 ms, SIPI, 1 ms, SIPI (§8.4.4.1); the AP
// must say it started within a second, and only once (the second SIPI
// reaches a running CPU: ignored, §8.4.4.1 / §10.6.1).
static void start_ap(int i)
{
  u8 *t = low(TRAMP);
  for (long k = 0; k < tramp_end - tramp; k++)
    t[k] = tramp[k];
  struct { u16 limit; u64 base; } __attribute__((packed)) gdtr;
  asm volatile("sgdt %0" : "=m"(gdtr));
  u32 base32 = (u32)gdtr.base;                // the GDT lies below 4 GiB
  __builtin_memcpy(t + (tramp_gdtr - tramp), &gdtr.limit, 2);
  __builtin_memcpy(t + (tramp_gdtr - tramp) + 2, &base32, 4);
  *(u32 *)(t + (tramp_cr3 - tramp)) = (u32)READ_CR(3);
  asm volatile("sidt %0" : "=m"(ap_idtr));
  icr_send(apic_id[i], DM_INIT | ASSERT | LEVEL);
  icr_send(apic_id[i], DM_INIT | LEVEL);
  delay_pit_ms(10);
  for (int k = 0; k < 2; k++) {
    icr_send(apic_id[i], DM_SIPI | (TRAMP >> 12));
    delay_pit_ms(1);
  }
  u64 end = tsc_deadline(3000);
  while (!started[i] && rdtsc() < end)
    asm volatile("pause");
  delay_pit_ms(5);
}

static void start_aps(void)
{
  for (int i = 1; i < ncpu; i++)
    start_ap(i);
  int once = 0, cr0_same = 1, bsp_bit = 0, enabled = 0;
  for (int i = 1; i < ncpu; i++) {
    once += started[i] == 1;
    cr0_same &= ap_cr0[i] == ap_cr0[1];
    bsp_bit += ap_apicbase[i] >> 8 & 1;
    enabled += ap_apicbase[i] >> 11 & 1;
  }
  out("startup", "%d of %d APs started once", once, ncpu - 1);
  out("ap_state", "cr0 at the SIPI %x (all %s), APIC_BASE: BSP bit on %d APs, enabled on %d, BSP's BSP bit %lu",
      ncpu > 1 ? ap_cr0[1] : 0, cr0_same ? "equal" : "differ", bsp_bit, enabled, rdmsr(0x1B) >> 8 & 1);
}

// ---- destinations, by the SDM's rules (§10.6.2) ----
// Each CPU's logical ID in this phase: flat model, one bit each in a
// shuffled order; cluster model, clusters 1 and 2, one bit each.
static u8 ldr_of(int i)
{
  if (!cluster_model)
    return 1 << ((i * 5 + 3) & 7);
  return (1 + (i & 1)) << 4 | 1 << ((i >> 1) ^ 1);
}

static int logical_match(int i, u8 dest)
{
  u8 l = ldr_of(i);
  if (dest == 0xFF)
    return 1;
  if (!cluster_model)
    return (dest & l) != 0;
  return (dest >> 4) == (l >> 4) && (dest & l & 0xF) != 0;
}

// The CPUs an ICR value reaches when `from` sends it, as a bit mask.
static u32 targets(int from, u32 dest, u32 lo)
{
  u32 set = 0;
  for (int i = 0; i < ncpu; i++) {
    int hit;
    switch (lo & SH_OTHERS) {
    case SH_SELF: hit = i == from; break;
    case SH_ALL: hit = 1; break;
    case SH_OTHERS: hit = i != from; break;
    default: hit = (lo & LOGICAL) ? logical_match(i, dest) : dest == 0xFF || dest == apic_id[i];
    }
    set |= (u32)hit << i;
  }
  return set;
}

// ---- receiving ----
static void ipi_handler(struct frame *f)
{
  counts[me()][f->vec]++;
  LAPIC_REG(0xB0) = 0;
}

static void nmi_handler(struct frame *f)
{
  (void)f;
  nmis[me()]++;
}

// ---- sending ----
// Waits until every target of vector v from `self` has taken what was
// sent to it (a bounded wait: what never comes is lost).
static void drain(int self, int v, u32 set)
{
  if (gave_up)
    return;
  u64 end = tsc_deadline(2000);
  for (int i = 0; i < ncpu; i++)
    while ((set >> i & 1) && counts[i][v] < sent[i][v])
      if (rdtsc() > end) {
        lost[self] += sent[i][v] - counts[i][v];
        sent[i][v] = counts[i][v];
        gave_up = 1;
        break;
      }
}

// How many IPIs of vector v CPUs inside and outside set have taken.
static void split(u32 set, int v, u32 *in, u32 *outside)
{
  *in = *outside = 0;
  for (int i = 0; i < ncpu; i++)
    *(set >> i & 1 ? in : outside) += counts[i][v];
}

// Lowest priority: one CPU of the set takes it, none outside it.
static void lowest(int self, u32 dest, u32 lo, u32 set)
{
  int v = VBASE + 16 * self + LOWEST_K;
  u32 in, outside, in2, out2;
  split(set, v, &in, &outside);
  icr_send(dest, lo | DM_LOWEST | v);
  sent[self][v]++;    // the total, kept in the sender's row
  u64 end = tsc_deadline(2000);
  do
    split(set, v, &in2, &out2);
  while (in2 + out2 == in + outside && rdtsc() < end);
  for (int k = 0; k < 1000; k++)   // a second delivery would come now
    asm volatile("pause");
  split(set, v, &in2, &out2);
  if (in2 + out2 == in + outside)
    lost[self]++, gave_up = 1;
  else if (in2 != in + 1 || out2 != outside)
    misdirected[self]++;
}

static void nmi(int self, u32 dest, u32 lo, u32 set)
{
  while (__atomic_exchange_n(&nmi_lock, 1, __ATOMIC_ACQUIRE))
    asm volatile("pause");
  u32 before[MAXCPU];
  for (int i = 0; i < ncpu; i++)
    before[i] = nmis[i], nmi_sent[i] += set >> i & 1;
  icr_send(dest, lo | DM_NMI);
  u64 end = tsc_deadline(2000);
  for (int i = 0; i < ncpu; i++)
    while ((set >> i & 1) && nmis[i] == before[i] && rdtsc() < end)
      asm volatile("pause");
  for (int k = 0; k < 1000; k++)
    asm volatile("pause");
  for (int i = 0; i < ncpu; i++)
    if (nmis[i] != before[i] + (set >> i & 1)) {
      (nmis[i] == before[i] ? lost : misdirected)[self]++;
      gave_up |= nmis[i] == before[i];
    }
  __atomic_store_n(&nmi_lock, 0, __ATOMIC_RELEASE);
}

// A random destination for this phase: (dest, ICR mode bits).
static void pick_dest(u64 *r, u32 *dest, u32 *lo)
{
  u32 x = rnd(r) % 8;
  if (x < 3) {                                // physical: one CPU, or 0xFF
    *lo = 0, *dest = x == 0 && rnd(r) % 4 == 0 ? 0xFF : apic_id[rnd(r) % ncpu];
  } else if (x < 6) {                         // logical
    *lo = LOGICAL;
    if (cluster_model)   // (0xFF: broadcast_ff below)
      *dest = (1 + rnd(r) % 2) << 4 | (1 + rnd(r) % 15);
    else
      *dest = rnd(r) % 8 == 0 ? 0xFF : 1 + rnd(r) % 255;
  } else {
    *lo = x == 6 ? SH_ALL : SH_OTHERS, *dest = 0;
  }
}

static void send_one(int self, u64 *r, int n)
{
  u32 dest, lo, op = rnd(r) % 16;
  pick_dest(r, &dest, &lo);
  if (op == 0)
    lo = SH_SELF, dest = 0;
  u32 set = targets(self, dest, lo), sh = lo & SH_OTHERS;
  if (!set)
    return;
  if (op == 1 && sh != SH_SELF) {             // NMI: not to self alone (Table 10-3)
    kinds[self][1]++;
    nmi(self, dest, lo, set);
  } else if (op == 2 && (sh == 0 || sh == SH_OTHERS)) {   // lowest: not self, not all
    kinds[self][2]++;
    lowest(self, dest, lo, set);
  } else {
    int v = VBASE + 16 * self + n % LOWEST_K;
    drain(self, v, set);                      // its earlier IPIs taken: no merging
    kinds[self][0]++;
    for (int i = 0; i < ncpu; i++)
      sent[i][v] += set >> i & 1;
    icr_send(dest, lo | DM_FIXED | v);
  }
}

// Every CPU meets here; returns once all have.
static void meet(int round)
{
  __atomic_fetch_add(&arrived, 1, __ATOMIC_SEQ_CST);
  u64 end = tsc_deadline(5000);
  while (arrived < ncpu * round && rdtsc() < end)
    asm volatile("pause");
}

// One phase on one CPU: its logical ID, its storm, its IPIs drained.
static void storm_phase(int self, int p)
{
  LAPIC_REG(0xE0) = cluster_model ? 0x0FFFFFFF : 0xFFFFFFFF;   // DFR
  LAPIC_REG(0xD0) = (u32)ldr_of(self) << 24;                    // LDR
  meet(2 * p - 1);
  u64 r = SEED ^ (u64)(p * 16 + self) * 0x9E3779B97F4A7C15UL ^ ncpu;
  for (int n = 0; n < PER_SENDER && !gave_up; n++)
    send_one(self, &r, n);
  for (int k = 0; k < LOWEST_K; k++)
    drain(self, VBASE + 16 * self + k, (1u << ncpu) - 1);
  meet(2 * p);
}

// For lowest_tpr: the flat model again, and a TPR class of its own.
static u8 tpr_of(int i) { return ((i * 3 + 1) % ncpu) << 4; }
static volatile int tpr_ready;

static void set_priority(int self)
{
  LAPIC_REG(0xE0) = 0xFFFFFFFF;
  LAPIC_REG(0xD0) = (u32)ldr_of(self) << 24;
  LAPIC_REG(0x80) = tpr_of(self);
  __atomic_fetch_add(&tpr_ready, 1, __ATOMIC_SEQ_CST);
}

static void storm(int self)
{
  asm volatile("sti");
  for (int p = 1; p <= 2; p++) {
    while (phase < p)
      asm volatile("pause");
    storm_phase(self, p);
  }
  while (phase < 3)   // (still taking interrupts: broadcast_ff)
    asm volatile("pause");
  set_priority(self);
  while (phase < 4)   // (lowest_tpr)
    asm volatile("pause");
  asm volatile("cli");
}

// FNV-1a over what CPU r took: each vector's count and its NMIs.
static u32 digest(int r)
{
  u32 h = 2166136261u;
  for (int v = 0; v < 256; v++) {
    if (v >= VBASE && (v - VBASE) % 16 == LOWEST_K)
      continue;
    u32 x = counts[r][v] * 256 + v;
    for (int k = 0; k < 4; k++)
      h = (h ^ (x >> 8 * k & 0xFF)) * 16777619u;
  }
  return (h ^ nmis[r]) * 16777619u;
}

static void report(const char *name)
{
  char key[32];
  u32 extra = 0, lo = 0, mis = 0, st = 0, sum[3] = {0};
  for (int r = 0; r < ncpu; r++) {
    u32 fixed = 0, from = 0;
    for (int s = 0; s < ncpu; s++) {
      u32 got = 0;
      for (int k = 0; k < LOWEST_K; k++) {
        int v = VBASE + 16 * s + k;
        got += counts[r][v];
        extra += counts[r][v] > sent[r][v] ? counts[r][v] - sent[r][v] : 0;
      }
      fixed += got, from += got != 0;
    }
    extra += nmis[r] > nmi_sent[r] ? nmis[r] - nmi_sent[r] : 0;
    snprintf(key, sizeof key, "%s.cpu%d", name, r);
    out(key, "fixed %u from %u senders, nmi %u, digest %x", fixed, from, nmis[r], digest(r));
    lo += lost[r], mis += misdirected[r], st += stuck[r];
    for (int k = 0; k < 3; k++)
      sum[k] += kinds[r][k];
  }
  snprintf(key, sizeof key, "%s.sent", name);
  out(key, "fixed %u, nmi %u, lowest priority %u", sum[0], sum[1], sum[2]);
  snprintf(key, sizeof key, "%s.rules", name);
  out(key, "lost %u, extra %u, misdirected %u, stuck in send pending %u", lo, extra, mis, st);
}

// A logical destination of 0xFF in the cluster model: every CPU (SDM
// §10.6.2.2, as in the flat model; KVM's kvm_apic_broadcast). Plain QEMU
// 7.2 delivers it to none (its cluster match wants cluster 0xF).
static void broadcast_ff(void)
{
  int v = 0x31, took = 0;
  handlers[v] = ipi_handler;
  icr_send(0xFF, LOGICAL | DM_FIXED | v);
  u64 end = tsc_deadline(300);
  while (rdtsc() < end)
    asm volatile("pause");
  for (int i = 0; i < ncpu; i++)
    took += counts[i][v] == 1;
  out("cluster_broadcast_ff", "taken once by %d of %d CPUs", took, ncpu);
}

// Lowest priority among CPUs of different TPRs, to random flat logical
// sets: the CPU of the set with the lowest priority takes it (§10.6.2.4).
// Plain QEMU 7.2 arbitrates on nothing (apic_get_arb_pri is 0): the first
// CPU of the set.
static void lowest_tpr(void)
{
  int v = 0xEE, right = 0, tries = 8;
  u64 r = SEED;
  handlers[v] = ipi_handler;
  cluster_model = 0;
  phase = 3;
  set_priority(0);
  u64 end = tsc_deadline(2000);
  while (tpr_ready < ncpu && rdtsc() < end)
    asm volatile("pause");
  for (int k = 0; k < tries; k++) {
    u32 set = rnd(&r) % (1u << ncpu), dest = 0;
    if (!(set & (set - 1)))   // fewer than two CPUs
      set = (1u << ncpu) - 1;
    int best = -1;
    for (int i = 0; i < ncpu; i++)
      if (set >> i & 1) {
        dest |= ldr_of(i);
        if (best < 0 || tpr_of(i) < tpr_of(best))
          best = i;
      }
    u32 before = counts[best][v];
    icr_send(dest, LOGICAL | DM_LOWEST | v);
    end = tsc_deadline(300);
    while (counts[best][v] == before && rdtsc() < end)
      asm volatile("pause");
    right += counts[best][v] == before + 1;
  }
  out("lowest_tpr", "%d of %d to the CPU of the set with the lowest TPR", right, tries);
}

// INIT to the BSP: unlike an AP it does not wait for a SIPI but restarts
// at the reset vector FFFFFFF0h, in the firmware (SDM Vol. 3A §8.4.1,
// §9.1). On QEMU SeaBIOS finds itself started a second time and resets the
// machine (QEMU -no-reboot then stops); svmlab's VMM has no firmware there
// and ends the guest with a reset. Either way this CPU never comes back.
static void init_bsp(void)
{
  out("init_bsp", "cpu1 sends INIT to the BSP");
  phase = 5;
  u64 end = tsc_deadline(2000);
  while (rdtsc() < end)
    asm volatile("pause");
  out("after_init_bsp", "the BSP still runs its kernel");
}

static void reset_tallies(void)
{
  __builtin_memset((void *)counts, 0, sizeof counts);
  __builtin_memset((void *)sent, 0, sizeof sent);
  __builtin_memset((void *)nmis, 0, sizeof nmis);
  __builtin_memset((void *)nmi_sent, 0, sizeof nmi_sent);
  __builtin_memset((void *)lost, 0, sizeof lost);
  __builtin_memset((void *)misdirected, 0, sizeof misdirected);
  __builtin_memset((void *)stuck, 0, sizeof stuck);
  __builtin_memset((void *)kinds, 0, sizeof kinds);
}

void kmain(void)
{
  lapic_on();
  for (int v = VBASE; v < VBASE + 16 * MAXCPU; v++)
    handlers[v] = ipi_handler;
  handlers[2] = nmi_handler;
  u64 t0 = rdtsc();
  delay_pit_ms(20);
  tsc_hz = (rdtsc() - t0) * 50;
  find_cpus();
  start_aps();
  out("seed", "%x, %d IPIs per CPU per phase", SEED, PER_SENDER);
  asm volatile("sti");
  static const char *names[] = {"flat", "cluster"};
  for (int p = 1; p <= 2; p++) {
    cluster_model = p == 2;
    reset_tallies();
    phase = p;
    storm_phase(0, p);
    report(names[p - 1]);
  }
  broadcast_ff();
  lowest_tpr();
  phase = 4;
  init_bsp();
}
