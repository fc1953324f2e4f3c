// Creating the VM from the image and the exit loop.
#include "vmm.h"
#include "mmio.h"
#include "kvmpv.h"

// Maps guest-physical [gpa, gpa+len) to the VMM's copy of guest memory.
static int map(struct guest *g, uint64 gpa, uint64 len)
{
  return vm_map(g->vm, gpa, g->mem + gpa, len, VM_MAP_RWX);
}

// Creates the VM and its vcpu in the image's mode, maps memory (only the
// image with GUEST_F_DEMAND), sets the entry registers. 0 or -1.
int guest_setup(struct guest *g)
{
  struct guest_header *h = &g->hdr;
  int r;
  g->board = &g->board0;
  g->mp = MP_RUNNABLE;
  if ((g->vm = vm_create()) < 0) {
    printf("vmm: vm_create: %s\n", errstr(g->vm));
    return -1;
  }
  if (h->flags & GUEST_F_DEMAND)
    r = map(g, h->load, (g->imagesize + 4095) & ~4095UL);
  else
    r = map(g, 0, h->memsize);
  if (r < 0 || (g->vcpu = vcpu_create(g->vm, h->mode)) < 0) {
    printf("vmm: %s: %s\n", r < 0 ? "vm_map" : "vcpu_create", errstr(r < 0 ? r : g->vcpu));
    return -1;
  }
  struct vm_regs regs;
  if ((r = vcpu_getregs(g->vm, g->vcpu, &regs)) < 0)
    return printf("vmm: vcpu_getregs: %s\n", errstr(r)), -1;
  regs.rip = h->entry;
  regs.rsp = h->stack;
  if (h->mode == GUEST_MODE_LONG64)
    regs.cr3 = h->cr3;
  if (g->o->kernel)
    linux_regs(g, &regs);
  g->open_bus = g->o->kernel != NULL;   // Linux and multiboot kernels get a PC
  if ((r = vcpu_setregs(g->vm, g->vcpu, &regs)) < 0)
    return printf("vmm: vcpu_setregs: %s\n", errstr(r)), -1;
  if ((h->flags & GUEST_F_APIC) && !g->o->kernel && apic_setup(g) < 0)
    return -1;
  if (kvmpv_setup(g) < 0)
    return -1;
  if (g->o->nvcpus > 1 && smp_setup(g) < 0)
    return -1;
  return testdev_setup(g);
}

// A nested page fault: a device's or (PC board) open bus: the instruction is
// emulated; with GUEST_F_DEMAND, back the page with the VMM's memory and let
// the guest retry; anything else ends the guest.
static int npf(struct guest *g)
{
  uint64 gpa = g->e.u.npf.gpa & ~4095UL;
  if (mmio_find(g->e.u.npf.gpa) || (g->open_bus && g->e.u.npf.gpa >= g->hdr.memsize))
    return mmio_exit(g);
  if ((g->hdr.flags & GUEST_F_DEMAND) && gpa < g->hdr.memsize && !(g->e.u.npf.access & VM_NPF_PRESENT)) {
    int r = map(g, gpa, 4096);
    if (r == 0)
      return 1;
    guest_fail(g, "vm_map of gpa 0x%lx: %s", gpa, errstr(r));
    return 0;
  }
  guest_fail(g, "nested page fault at gpa 0x%lx (access 0x%lx)", g->e.u.npf.gpa, g->e.u.npf.access);
  return 0;
}

// VM_EXIT_HLT: HLT with IF=0 and nothing pending (HLT with IF=1 blocks in
// the kernel): nothing will wake the guest, so it is done. With several
// vcpus only this one stops (an NMI or INIT may still wake it, smp.c); the
// guest is done when every vcpu has stopped.
static int guest_halted(struct guest *g)
{
  if (g->smp)
    return smp_stopped(g);
  g->end = END_HALT;
  return 0;
}

// Handles one exit; 1 to run on, 0 when the guest has ended.
int guest_handle(struct guest *g)
{
  struct vm_exit *e = &g->e;
  switch (e->reason) {
  case VM_EXIT_IO: g->count[C_IO]++; return loop_io(g);
  case VM_EXIT_CPUID: g->count[C_CPUID]++; return dev_cpuid(g);
  case VM_EXIT_MSR: g->count[C_MSR]++; return dev_msr(g);
  case VM_EXIT_VMMCALL: g->count[C_VMMCALL]++; return dev_hypercall(g);
  case VM_EXIT_HLT: g->count[C_HLT]++; return guest_halted(g);
  case VM_EXIT_NPF: g->count[C_NPF]++; return npf(g);
  case VM_EXIT_INTR: g->count[C_INTR]++; return 1;
  case VM_EXIT_DEADLINE: g->count[C_DEADLINE]++; return 1;   // loop_before_run clocks the chips
  case VM_EXIT_KICK: g->count[C_KICK]++; return 1;
  case VM_EXIT_CONSOLE: g->count[C_CONSOLE]++; return 1;     // loop_before_run reads the input
  case VM_EXIT_TPR: g->count[C_INTR]++; return 1;            // loop_after_run took the new CR8
  case VM_EXIT_PIO: g->count[C_INTR]++; return 1;            // loop_after_run applied the writes
  case VM_EXIT_SHUTDOWN: g->count[C_OTHER]++; g->end = END_SHUTDOWN; return 0;
  case VM_EXIT_EXCEPTION:
    g->count[C_EXC]++;
    guest_fail(g, "exception %u at rip 0x%lx", e->u.exception.vector, e->rip);
    return 0;
  case VM_EXIT_INVALID:
    g->count[C_OTHER]++;
    guest_fail(g, "VMRUN refused the guest state (VMEXIT_INVALID)");
    return 0;
  }
  g->count[C_OTHER]++;
  guest_fail(g, "unhandled exit code 0x%lx at rip 0x%lx", e->code, e->rip);
  return 0;
}

static uint64 guest_exits(struct guest *g)
{
  uint64 n = 0;
  for (int i = 0; i < C_INTR; i++)
    n += g->count[i];
  return n;
}

// 1 (and the guest's end is END_BUDGET) once -t ms or -n exits are used up.
// The clock's end (budget_end_ns, also the runs' deadline) counts as well as
// the scheduler's ticks: a kernel that misses ticks (svmlab as L1 under load
// does not catch them up) would otherwise see every run return at once at
// the passed deadline, and spin, until its ticks caught up.
int guest_over_budget(struct guest *g, long t0, long ticks)
{
  if ((ticks && (uptime() - t0 >= ticks || (g->budget_end_ns && guest_now() >= g->budget_end_ns))) ||
      (g->o->max_exits && (long)guest_exits(g) >= g->o->max_exits)) {
    g->end = END_BUDGET;
    return 1;
  }
  return 0;
}

// Runs the guest until it ends or a budget (-t ms, -n exits) is used up.
void guest_run(struct guest *g)
{
  long t0 = uptime(), ticks = g->o->budget_ms ? (g->o->budget_ms * 100 + 999) / 1000 : 0;
  memset(&g->e, 0, sizeof g->e);
  loop_init(g);
  stats_start(g);
  if (g->smp) {
    smp_run(g);   // one thread per vcpu (smp.c)
  } else {
    while (g->end == END_NONE) {
      if (loop_before_run(g) < 0)
        break;
      stats_entry(g);
      int r = vcpu_run(g->vm, g->vcpu, &g->e);
      stats_exit(g);
      if (r < 0) {
        guest_fail(g, "vcpu_run: %s", errstr(r));
        break;
      }
      loop_after_run(g);
      if (g->e.ran_on_cpu < 64)
        g->cpus_seen |= 1UL << g->e.ran_on_cpu;
      if (!guest_handle(g) || guest_over_budget(g, t0, ticks))
        break;
    }
  }
  uart_flush(g);
  testdev_report(g);
  g->ticks = uptime() - t0;
}
