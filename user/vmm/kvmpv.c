// KVM's paravirtual interface, for kernels that speak it (Debian's Linux
// does: CONFIG_KVM_GUEST). Every world switch costs tens of microseconds on
// QEMU's SVM (docs/internals/linux-guest.md), so the point is fewer exits:
// - CPUID 4000_0000h says "KVMKVMKVM", 4000_0001h the features below,
//   4000_0010h the TSC and APIC bus frequencies (kHz);
// - kvmclock (MSR_KVM_SYSTEM_TIME_NEW, MSR_KVM_WALL_CLOCK_NEW): the guest
//   reads time from the TSC and a scale the VMM writes into its memory, and
//   needs no PIT calibration;
// - NOP_IO_DELAY: no port 80h writes between PIC/PIT accesses;
// - PV EOI (MSR_KVM_PV_EOI_EN): the VMM sets a flag in guest memory when the
//   next EOI needs no exit; the guest clears it instead of writing the EOI
//   register, and the VMM does the EOI at the next exit;
// - x2APIC (x2apic.c) and the TSC-deadline timer: a tick is one WRMSR;
// - hypercalls with KVM's numbers and error codes.
// Facts from KVM's Documentation/virt/kvm/x86/{cpuid,msr,hypercalls}.rst and
// arch/x86/include/asm/pvclock-abi.h. One guest per VMM process. With
// several vcpus (-V) each has its own kvmclock area and PV EOI flag (the
// guest's MSR writes on each CPU name them); the wall clock and the TSC
// scale are the VM's. Calls come from the vcpu's thread under the VMM lock
// (smp.c), so the current vcpu is g->index and its APIC apic_current.
#include "vmm.h"
#include "kvmpv.h"

#define KVM_FEATURE_NOP_IO_DELAY 1
#define KVM_FEATURE_CLOCKSOURCE2 3
#define KVM_FEATURE_PV_EOI 6
#define KVM_FEATURE_CLOCKSOURCE_STABLE_BIT 24

#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define MSR_KVM_PV_EOI_EN 0x4b564d04
#define MSR_TSC_DEADLINE 0x6E0

#define PVCLOCK_TSC_STABLE_BIT 1   // flags: the TSC runs at one rate on every vcpu

#define KVM_ENOSYS 1000
#define KVM_EPERM 1
#define KVM_HC_VAPIC_POLL_IRQ 1

// pvclock_vcpu_time_info: time in ns = system_time +
// ((tsc - tsc_timestamp) shifted by tsc_shift) * tsc_to_system_mul >> 32.
struct pvclock_time {
  uint32 version, pad0;   // odd while the VMM writes the rest
  uint64 tsc_timestamp, system_time;
  uint32 tsc_to_system_mul;
  int8 tsc_shift;
  uint8 flags, pad[2];
};
_Static_assert(sizeof(struct pvclock_time) == 32, "pvclock_vcpu_time_info is 32 bytes");

struct pvclock_wall {
  uint32 version, sec, nsec;   // the wall-clock time when kvmclock read 0
};

static struct {
  int on;
  uint64 khz;             // the TSC's rate (linux.c measured it against the kernel's clock)
  uint64 tsc0;            // the TSC when kvmclock read 0 (kvmpv_setup)
  uint64 ns0;             // clock_ns() then
  uint32 mul;             // ns = (tsc delta << shift) * mul >> 32
  int shift;
  uint64 wall_msr;
  struct {                // each vcpu's (g->index)
    uint64 time_msr, eoi_msr;
    int eoi_armed;        // the flag in guest memory was set at the last entry
  } cpu[GUEST_MAXVCPUS];
  uint64 eois_in_memory;  // EOIs the guest did without an exit (vmm -s)
  uint64 tscd_in_kernel;  // TSC-deadline writes the kernel finished (VM_RUN_TSC_DEADLINE)
} pv;

#define ME(g) (pv.cpu[(g)->index])

// mul and shift for a TSC of khz: ns per tick = 10^6 / khz, as a 32-bit
// fraction (mul / 2^32) times 2^shift, mul as large as fits for precision.
static void scale(uint64 khz, uint32 *mul, int *shift)
{
  uint64 q = (1000000UL << 32) / khz;   // ns per tick * 2^32
  int s = 0;
  while (q >= 1UL << 32)
    q >>= 1, s++;
  while (q < 1UL << 31 && s > -10)   // a fast TSC: shift right, keep 32 bits of mul
    q = (1000000UL << (32 - s + 1)) / khz, s--;
  *mul = (uint32)q, *shift = s;
}

static uint64 rdtsc(void)
{
  uint32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64)hi << 32 | lo;
}

// kvmclock's reading at TSC value tsc, computed as the guest does.
static uint64 pv_ns(uint64 tsc)
{
  uint64 d = tsc - pv.tsc0;
  d = pv.shift >= 0 ? d << pv.shift : d >> -pv.shift;
  return (uint64)(((unsigned __int128)d * pv.mul) >> 32);
}

// On for Linux guests that have the board it needs (the APIC's features
// are most of it): -A with a bzImage and one vcpu, unless -p off; or
// wherever -p on asks (also with -V N). Several vcpus stay on the xAPIC by
// default: lab 8's Linux test exercises its logical destinations.
int kvmpv_wanted(const struct guest *g)
{
  return g->o->kvmpv > 0 || (g->o->kvmpv == 0 && g->bzimage && g->o->apic && g->o->nvcpus <= 1);
}

int kvmpv_setup(struct guest *g)
{
  memset(&pv, 0, sizeof pv);
  if (!kvmpv_wanted(g))
    return 0;
  pv.on = 1;
  pv.khz = vmm_tsc_khz();
  if (!pv.khz)
    return printf("vmm: -p on: cannot measure the TSC\n"), -1;
  scale(pv.khz, &pv.mul, &pv.shift);
  pv.tsc0 = rdtsc();
  pv.ns0 = guest_now();
  return 0;
}

int kvmpv_on(const struct guest *g) { return pv.on; }

// Leaf 1 gains x2APIC (ECX 21) and TSC-deadline (ECX 24) with the local APIC.
void kvmpv_cpuid(struct guest *g, uint32 leaf, uint32 *r)
{
  if (!kvmpv_on(g))
    return;
  if (leaf == 1 && g->board->apics)
    r[2] |= 1u << 21 | 1u << 24;
  if (leaf < 0x40000000 || leaf > 0x400000FF)
    return;
  r[0] = r[1] = r[2] = r[3] = 0;
  if (leaf == 0x40000000) {
    r[0] = 0x40000010;   // the highest leaf: the frequencies
    memmove(&r[1], "KVMKVMKVM\0\0\0", 12);
  } else if (leaf == 0x40000001) {
    r[0] = 1u << KVM_FEATURE_NOP_IO_DELAY | 1u << KVM_FEATURE_CLOCKSOURCE2 |
           1u << KVM_FEATURE_CLOCKSOURCE_STABLE_BIT | (g->board->apics ? 1u << KVM_FEATURE_PV_EOI : 0);
  } else if (leaf == 0x40000010) {
    r[0] = (uint32)pv.khz;
    r[1] = 1000000000 / LAPIC_NS_PER_COUNT / 1000;   // the APIC timer's bus clock
  }
}

// Writes the time structure at the gpa MSR_KVM_SYSTEM_TIME_NEW names, with
// the version protocol: odd while the fields change, even after, higher
// than before.
static void write_time(struct guest *g)
{
  uint64 msr = ME(g).time_msr;
  struct pvclock_time *p = (struct pvclock_time *)gpa_ptr(g, msr & ~1UL, sizeof *p);
  if (!(msr & 1) || !p)
    return;   // disabled, or not RAM: KVM too leaves it alone
  volatile uint32 *ver = &p->version;
  uint32 v = (*ver + 1) | 1;
  *ver = v;
  asm volatile("" ::: "memory");
  p->tsc_timestamp = rdtsc();
  p->system_time = pv_ns(p->tsc_timestamp);
  p->tsc_to_system_mul = pv.mul;
  p->tsc_shift = (int8)pv.shift;
  p->flags = PVCLOCK_TSC_STABLE_BIT;
  asm volatile("" ::: "memory");
  *ver = v + 1;
}

// The wall-clock time at kvmclock 0: the RTC's time then.
static void write_wall(struct guest *g)
{
  struct pvclock_wall *w = (struct pvclock_wall *)gpa_ptr(g, pv.wall_msr, sizeof *w);
  if (!w)
    return;
  struct rtc *rtc = &g->board->rtc;
  uint64 ns = (rtc->base_s + rtc->offset_s) * NSEC + pv.ns0;
  uint32 v = (w->version + 1) | 1;
  w->version = v;
  asm volatile("" ::: "memory");
  w->sec = (uint32)(ns / NSEC);
  w->nsec = (uint32)(ns % NSEC);
  asm volatile("" ::: "memory");
  w->version = v + 1;
}

// MSR_KVM_PV_EOI_EN: bit 0 enables, bit 1 is reserved (an address that is
// not 4-byte aligned, #GP as in KVM), the rest is the flag's address.
static int set_pv_eoi(struct guest *g, uint64 v)
{
  if (!g->board->apics || ((v & 1) && ((v & 2) || !gpa_ptr(g, v & ~3UL, 4))))
    return 0;
  ME(g).eoi_msr = v;
  ME(g).eoi_armed = 0;
  return 1;
}

// IA32_TSC_DEADLINE: the guest's TSC is the host's, so the deadline falls
// at now + (tsc - TSC now) / rate.
static int tsc_deadline(struct guest *g, struct lapic *a, int write, uint64 *v)
{
  uint64 now = guest_now(), t = rdtsc();
  if (!write) {
    *v = lapic_tsc_deadline(a);
    return 1;
  }
  uint64 d = *v > t ? *v - t : 0, q = d / pv.khz;   // in ms, then the rest: no product overflows
  uint64 ns = q > (1UL << 42) ? 1UL << 62 : q * 1000000 + ((d % pv.khz) * 1000000 + pv.khz - 1) / pv.khz;
  lapic_set_tsc_deadline(a, *v, ns >= (1UL << 62) ? 1UL << 62 : now + ns);
  return 1;
}

int kvmpv_msr(struct guest *g, uint32 msr, int write, uint64 *v)
{
  if (!kvmpv_on(g))
    return -1;
  struct lapic *a = apic_current(g->board);
  uint64 *slot = msr == MSR_KVM_WALL_CLOCK_NEW ? &pv.wall_msr : msr == MSR_KVM_SYSTEM_TIME_NEW ? &ME(g).time_msr
                 : msr == MSR_KVM_PV_EOI_EN ? &ME(g).eoi_msr : NULL;
  if (slot && !write) {
    *v = *slot;
    return 1;
  }
  if (msr == MSR_KVM_SYSTEM_TIME_NEW)
    return ME(g).time_msr = *v, write_time(g), 1;
  if (msr == MSR_KVM_WALL_CLOCK_NEW)
    return pv.wall_msr = *v, write_wall(g), 1;
  if (msr == MSR_KVM_PV_EOI_EN)
    return set_pv_eoi(g, *v);
  if (!a)
    return -1;
  if (msr == MSR_TSC_DEADLINE)
    return tsc_deadline(g, a, write, v);
  return x2apic_msr(a, msr, write, v, guest_now());
}

// KVM's hypercall ABI: number in RAX, arguments in RBX, RCX, RDX, RSI,
// result in RAX; from CPL > 0 -KVM_EPERM, an unknown number -KVM_ENOSYS.
// KVM_HC_VAPIC_POLL_IRQ is a no-op that returns 0; the interface offers no
// other (KICK_CPU, SEND_IPI... need features this VMM does not announce).
int kvmpv_hypercall(struct guest *g)
{
  struct vm_exit *e = &g->e;
  struct vm_regs r;
  long ret = -KVM_ENOSYS;
  if (vcpu_getregs(g->vm, g->vcpu, &r) == 0 && ((r.ss.attr >> 5) & 3) != 0)
    ret = -KVM_EPERM;
  else if (e->u.hypercall.rax == KVM_HC_VAPIC_POLL_IRQ)
    ret = 0;
  e->u.hypercall.ret = ret;
  return 1;
}

// The flag word MSR_KVM_PV_EOI_EN names, or NULL when PV EOI is off.
static uint8 *eoi_flag(struct guest *g)
{
  if (!kvmpv_on(g) || !(ME(g).eoi_msr & 1) || !apic_current(g->board))
    return NULL;
  return gpa_ptr(g, ME(g).eoi_msr & ~3UL, 1);
}

// Bits set in a 256-bit register, counted up to 2.
static int bits256(const uint32 *r)
{
  int n = 0;
  for (int i = 0; i < 8 && n < 2; i++)
    n += r[i] == 0 ? 0 : (r[i] & (r[i] - 1)) ? 2 : 1;
  return n;
}

static int highest256(const uint32 *r)
{
  for (int i = 7; i >= 0; i--)
    if (r[i])
      return 32 * i + 31 - __builtin_clz(r[i]);
  return -1;
}

// The vector whose EOI the guest may do in memory: KVM sets the flag when
// nothing is waiting in the IRR and the highest in-service vector is edge-
// triggered (a level one must reach the I/O APIC at once). KVM decides at
// entry after injecting; here the kernel injects during the run, so the
// vector the line carries counts as in service when the ISR is empty and it
// is all the IRR holds (if it is not injected, the guest has nothing in
// service to EOI). -1: leave the flag clear.
static int eoi_candidate(struct lapic *a)
{
  int isr = highest256(a->isr), irr = highest256(a->irr);
  if (isr >= 0 && irr < 0)
    return isr;
  if (isr < 0 && irr >= 0 && bits256(a->irr) == 1 && lapic_pending(a) == irr)
    return irr;
  return -1;
}

// The timer in TSC-deadline mode (LVT timer bits 18:17 = 10b, SDM Vol. 3A
// §10.5.4.1): the kernel may take the guest's writes of the MSR
// (kern/svm/tsc_deadline.c); the model gets them after the run. Not with -P
// (every exit reaches the VMM).
static void tsc_deadline_to_kernel(struct guest *g, struct lapic *a)
{
  if (g->o->pio_exits || !a->has_tsc_deadline || (a->lvt[0] & LVT_TIMER_MODE) != LVT_TIMER_TSC_DEADLINE)
    return;
  g->e.run_flags |= VM_RUN_TSC_DEADLINE;
  g->e.tsc_deadline = a->tsc_deadline;   // the guest's TSC is the host's (no TSC offset)
}

// After the run: the last value the guest wrote in the kernel, due when the
// kernel's clock said (the run's deadline was that time: the same number,
// so that the timer fires at the VM_EXIT_DEADLINE it brings).
static void tsc_deadline_from_kernel(struct guest *g, struct lapic *a)
{
  if (!(g->e.run_flags & VM_RUN_TSC_DEADLINE) || !g->e.tsc_deadline_writes)
    return;
  lapic_set_tsc_deadline(a, g->e.tsc_deadline, g->e.tsc_deadline_ns);
  pv.tscd_in_kernel += g->e.tsc_deadline_writes;
}

void kvmpv_before_run(struct guest *g)
{
  struct lapic *a = apic_current(g->board);
  if (kvmpv_on(g) && a) {
    a->has_tsc_deadline = 1;   // CPUID says so (the board is attached only when the guest runs)
    tsc_deadline_to_kernel(g, a);
  }
  uint8 *f = eoi_flag(g);
  if (!f)
    return;
  int v = eoi_candidate(a);
  if (v < 0 || ((a->tmr[v >> 5] >> (v & 31)) & 1))
    return;
  *f |= 1;
  ME(g).eoi_armed = 1;
}

// After the exit (and the INTA, loop_after_run): a flag the guest cleared
// was an EOI; one it left is taken back, as KVM does at every exit.
void kvmpv_after_run(struct guest *g)
{
  if (kvmpv_on(g) && apic_current(g->board))
    tsc_deadline_from_kernel(g, apic_current(g->board));
  uint8 *f = eoi_flag(g);
  if (!f || !ME(g).eoi_armed)
    return;
  ME(g).eoi_armed = 0;
  if (*f & 1) {
    *f &= ~1;
    return;
  }
  pv.eois_in_memory++;
  lapic_write(apic_current(g->board), LAPIC_EOI, 0, guest_now());
}

// One kvmclock area per vcpu that enabled one, in vcpu order.
void kvmpv_report(struct guest *g)
{
  if (!kvmpv_on(g))
    return;
  printf("%svmm: kvmpv: %lu TSC-deadline writes finished in the kernel\n", g->prefix, pv.tscd_in_kernel);
  printf("%svmm: kvmpv: %lu EOIs done in guest memory (PV EOI), kvmclock at", g->prefix, pv.eois_in_memory);
  for (int i = 0; i < GUEST_MAXVCPUS; i++)
    if (i == 0 || pv.cpu[i].time_msr)
      printf(" 0x%lx", pv.cpu[i].time_msr);
  printf(", %lu kHz\n", pv.khz);
}
