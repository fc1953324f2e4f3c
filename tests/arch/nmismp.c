// NMIs between two CPUs through the ICR, where the order of events is the
// architecture's:
//   sti_shadow    the AP runs a block of "sti; cli" pairs while the BSP
//                 sends it NMIs one at a time. None may be taken inside an
//                 STI shadow, i.e. with its return address right after an STI
//                 (the shadow holds off interrupts until the next instruction
//                 is done: AMD APM Vol. 2 §15.21.5 "Interrupt Shadows"; the
//                 Intel SDM's STI page (Vol. 2B) lets a CPU inhibit NMIs
//                 at that boundary too; KVM never injects an NMI in a
//                 shadow, and kvm-unit-tests' apic test, "nmi-after-sti",
//                 expects none);
//   nmi_in_nmi    the BSP sends itself an NMI; inside its handler it has the
//                 AP send it an NMI and then a fixed IPI, and waits for the
//                 AP to be done. The second NMI is held until the handler's
//                 IRET (APM Vol. 2 §8.2.11; SDM Vol. 3A §6.7.1 "Handling
//                 Multiple NMIs") and then taken before the fixed interrupt
//                 sent behind it (NMI outranks INTR: APM Vol. 2 §8.5
//                 "Event Priorities");
//   two_nmis      the BSP and the AP send the BSP an NMI at the same moment,
//                 the AP a fixed IPI behind its NMI (kvm-unit-tests' "multiple
//                 nmi"): both NMIs come before the fixed interrupt.
// Each line counts the rounds that broke the rule, so that a run compares
// equal with plain QEMU's whatever the timing.
#include "rt.h"

// archtest: cpus 2

const char kernel_name[] = "nmismp";

// Each NMI costs a round trip through the VMM (about 10 ms on a loaded
// host): few into the shadows (ktest=nmi_step checks the kernel's shadow
// rule deterministically), more of two_nmis, whose merge is a race.
#define SHADOW_NMIS 100         // NMIs sent into the sti/cli block
#define IN_NMI_ROUNDS 30        // rounds of nmi_in_nmi
#define TWO_NMI_ROUNDS 120      // rounds of two_nmis
#define FIXED_VEC 0x44
#define TRAMP 0x8000            // the SIPI's page (vector 0x08)
#define STACK 16384

// ICR (SDM Vol. 3A §10.6.1)
#define ICR_LO 0x300
#define ICR_HI 0x310
#define DM_FIXED (0 << 8)
#define DM_NMI (4 << 8)
#define DM_INIT (5 << 8)
#define DM_SIPI (6 << 8)
#define PENDING (1 << 12)
#define ASSERT (1 << 14)
#define LEVEL (1 << 15)
#define SH_OTHERS (3 << 18)

__attribute__((used)) u8 ap_stack[STACK] __attribute__((aligned(16)));
static volatile u32 bsp_id, ap_id;
static volatile int ap_started, phase, gave_up;
static u64 tsc_hz;

// What the handlers record (the BSP's NMIs and fixed IPIs, the AP's NMIs).
static volatile u32 ap_nmis, ap_in_shadow;
static volatile u32 bsp_nmis, nested, depth, fixed_seen, nmis_at_fixed;
static volatile int go, ap_done;   // nmi_in_nmi / two_nmis handshakes

static u64 deadline_ms(int ms) { return rdtsc() + tsc_hz / 1000 * ms; }

static int on_ap(void)
{
  u64 sp = (u64)__builtin_frame_address(0);
  return sp >= (u64)ap_stack && sp < (u64)ap_stack + STACK;
}

static void icr_send(u32 dest, u32 lo)
{
  LAPIC_REG(ICR_HI) = dest << 24;
  LAPIC_REG(ICR_LO) = lo;
  u64 end = deadline_ms(1000);
  while ((LAPIC_REG(ICR_LO) & PENDING) && rdtsc() < end)
    asm volatile("pause");
}

// Waits until *p == v or ms pass; 1 if it got there.
static int wait_eq(volatile int *p, int v, int ms)
{
  u64 end = deadline_ms(ms);
  while (*p != v)
    if (rdtsc() > end)
      return 0;
  return 1;
}

#define AP1_TRAMP TRAMP
#include "ap1.h"

static void start_ap(void)
{
  ap1_start();
  wait_eq(&ap_started, 1, 3000);
}

// ---- sti_shadow ----
// 64 "sti; cli" pairs and a jump back: every other instruction boundary in
// the block is an STI shadow. The AP runs it with IF=0 outside the pairs, so
// only NMIs reach it; the loop ends when phase moves on.
asm(".text\n.globl shadow_block, shadow_block_end\nshadow_block:\n"
    ".rept 64\n  sti\n  cli\n.endr\n"
    "  cmpl $1, phase(%rip)\n  je shadow_block\n  ret\nshadow_block_end:\n");
extern char shadow_block[], shadow_block_end[];

static void nmi(struct frame *f)
{
  if (on_ap()) {
    ap_nmis++;
    u8 *rip = (u8 *)f->rip;
    if (rip > (u8 *)shadow_block && rip < (u8 *)shadow_block_end && rip[-1] == 0xFB)
      ap_in_shadow++;   // returns right behind an STI
    return;
  }
  if (++depth > 1)
    nested++;
  if (++bsp_nmis == 1 && phase == 2) {   // nmi_in_nmi: the AP sends the second one now
    go = 1;
    if (!wait_eq(&ap_done, 1, 2000))
      gave_up = 1;
  }
  depth--;
}

static void fixed(struct frame *f)
{
  (void)f;
  nmis_at_fixed = bsp_nmis;
  fixed_seen++;
  LAPIC_REG(0xB0) = 0;   // EOI
}

static void sti_shadow(void)
{
  int lost = 0;
  phase = 1;
  for (int i = 0; i < SHADOW_NMIS && lost < 3; i++) {
    u32 before = ap_nmis;
    icr_send(ap_id, DM_NMI | ASSERT);
    u64 end = deadline_ms(500);
    while (ap_nmis == before)
      if (rdtsc() > end) {
        lost++;
        break;
      }
  }
  phase = 0;
  out("sti_shadow", "%d NMIs sent to a CPU running sti;cli pairs: %u taken, %u inside an STI shadow",
      SHADOW_NMIS, ap_nmis, ap_in_shadow);
}

// One round of nmi_in_nmi or two_nmis on the BSP (IF=1): 1 if both NMIs
// came in time, 0 if not, -1 if something never arrived. A self-NMI is
// taken before the instruction after the ICR write completes; the AP's NMI
// must come before the fixed IPI it sent behind it. So in two_nmis, once
// the fixed IPI is seen (whenever the AP sent it), both NMIs have come; in
// nmi_in_nmi the second NMI, held until the first one's IRET, comes before
// the fixed IPI.
static int round(int p)
{
  bsp_nmis = 0, fixed_seen = 0, ap_done = 0, go = 0;
  phase = p;
  if (p == 3)
    go = 1;   // two_nmis: the AP sends as the BSP does
  icr_send(bsp_id, DM_NMI | ASSERT);
  if (!wait_eq((volatile int *)&fixed_seen, 1, 2000) || !wait_eq(&ap_done, 1, 2000))
    return -1;
  int ok = p == 2 ? nmis_at_fixed == 2 : bsp_nmis == 2;
  u64 end = deadline_ms(1);   // and no third NMI
  while (rdtsc() < end)
    ;
  phase = 0;
  return ok && bsp_nmis == 2;
}

static void nmi_rounds(int p, const char *name, int rounds)
{
  int good = 0, lost = 0;
  nested = 0;
  for (int i = 0; i < rounds && !gave_up; i++) {
    int r = round(p);
    good += r == 1;
    if (r < 0 && ++lost >= 3)
      break;
  }
  out(name, "%d rounds: %d with both NMIs before the fixed IPI, %d incomplete, nested NMIs %u",
      rounds, good, lost, nested);
}

__attribute__((used)) void ap_main(void)
{
  lapic_enable();
  ap_id = LAPIC_REG(0x20) >> 24;
  ap_started = 1;
  for (;;) {
    if (phase == 1)
      ((void (*)(void))shadow_block)();
    if ((phase == 2 || phase == 3) && go && !ap_done) {
      icr_send(bsp_id, DM_NMI | ASSERT);
      icr_send(bsp_id, DM_FIXED | ASSERT | FIXED_VEC);
      ap_done = 1;
    }
    asm volatile("pause");
  }
}

void kmain(void)
{
  lapic_enable();
  LAPIC_REG(0x80) = 0;
  handlers[2] = nmi;
  handlers[FIXED_VEC] = fixed;
  u64 t0 = rdtsc();
  delay_pit_ms(20);
  tsc_hz = (rdtsc() - t0) * 50;
  bsp_id = LAPIC_REG(0x20) >> 24;
  start_ap();
  out("ap", "%s", ap_started ? "started" : "did not start");
  if (!ap_started)
    return;
  sti_shadow();
  asm volatile("sti");
  nmi_rounds(2, "nmi_in_nmi", IN_NMI_ROUNDS);
  nmi_rounds(3, "two_nmis", TWO_NMI_ROUNDS);
  asm volatile("cli");
}
