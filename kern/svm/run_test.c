// ktests for lab 4 (run): tiny guests in kernel memory driven through
// vcpu_run, checking exits, completions, RIP advance and host state.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "errno.h"
#include "ktest.h"
#include "vmabi.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "../lib/string.h"

#define GPA_CODE 0x1000
struct testguest {
  struct npt npt;
  struct vmcb_perm perm;
  struct vcpu *v;
  uint8 *mem[2];   // guest-physical 0x0000 (IVT, stack) and 0x1000 (code)
};

// A real-mode guest whose code (len bytes) starts at GPA_CODE, SP=0x0F00.
static int guest_new(struct testguest *t, const uint8 *code, int len)
{
  memset(t, 0, sizeof *t);
  if (npt_init(&t->npt) < 0 || vmcb_perm_alloc(&t->perm) < 0 || !(t->v = vcpu_alloc()))
    return -ENOMEM;
  for (int i = 0; i < 2; i++)
    if (!(t->mem[i] = kalloc()) || npt_map(&t->npt, i * PGSIZE, V2P(t->mem[i]), PGSIZE, NPT_W) < 0)
      return -ENOMEM;
  memmove(t->mem[1], code, len);
  struct vmcb_setup s = {.mode = GUEST_REAL, .rip = GPA_CODE, .rsp = 0x0F00, .asid = 1, .ncr3 = t->npt.pml4_pa};
  vmcb_init_control(t->v->vmcb, &s, &t->perm);
  vmcb_init_save(t->v->vmcb, &s);
  svm_force_intercepts(t->v->vmcb);
  return 0;
}

// guest_new for a test, with the exit record e zeroed. Returns 1, or 0 after
// a failed check: the test then returns at once.
static int guest_start(struct testguest *t, struct vm_exit *e, const uint8 *code, int len)
{
  memset(e, 0, sizeof *e);
  if (guest_new(t, code, len) < 0) {
    KCHECK(0, "test guest set up");
    return 0;
  }
  return 1;
}

static void guest_free(struct testguest *t)
{
  if (t->v)
    vcpu_free(t->v);
  for (int i = 0; i < 2; i++)
    if (t->mem[i])
      kfree(t->mem[i]);
  npt_free(&t->npt);
  vmcb_perm_free(&t->perm);
}

// vcpu_run with host interrupts on, as in a system call.
static int run_raw(struct testguest *t, struct vm_exit *e)
{
  uint64 f = rflags();
  sti();
  int r = vcpu_run(t->v, e);
  if (!(f & FL_IF))
    cli();
  return r;
}

// run_raw until an exit of the guest's own: vcpu_run also returns
// VM_EXIT_INTR whenever a host timer tick went by (on a loaded host even a
// few guest instructions can span one), which completes nothing; a VMM
// just runs again.
static int run(struct testguest *t, struct vm_exit *e)
{
  int r;
  do
    r = run_raw(t, e);
  while (r == 0 && e->reason == VM_EXIT_INTR);
  return r;
}

// mov eax,0x11223344; xor ecx,ecx; cpuid; vmmcall; hlt
static const uint8 g_cpuid[] = {0x66, 0xB8, 0x44, 0x33, 0x22, 0x11, 0x66, 0x31, 0xC9,
                                0x0F, 0xA2, 0x0F, 0x01, 0xD9, 0xF4};

KTEST(run_cpuid)
{
  struct testguest t;
  struct vm_exit e;
  if (!guest_start(&t, &e, g_cpuid, sizeof g_cpuid))
    return;
  int r = run(&t, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_CPUID && e.u.cpuid.leaf == 0x11223344 && e.rip == 0x1009,
         "first exit: CPUID leaf 0x%x at rip 0x%lx (r=%d reason=%u code=0x%lx)", e.u.cpuid.leaf, e.rip, r,
         e.reason, e.code);
  e.u.cpuid.eax = 0xCAFEF00D;
  r = run(&t, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_VMMCALL && e.rip == 0x100B,
         "after the CPUID completes, RIP moved 2 bytes: VMMCALL at rip 0x%lx (reason %u)", e.rip, e.reason);
  KCHECK(e.u.hypercall.rax == 0xCAFEF00D, "the CPUID result reached the guest's EAX: 0x%lx", e.u.hypercall.rax);
  e.u.hypercall.ret = 7;
  r = run(&t, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_HLT && e.rip == 0x100E && t.v->vmcb->save.rax == 7,
         "VMMCALL is 3 bytes: HLT at rip 0x%lx, guest RAX=%lu", e.rip, t.v->vmcb->save.rax);
  KCHECK(e.ran_on_cpu == (uint32)cpuid_self(), "ran_on_cpu %u is this CPU", e.ran_on_cpu);
  guest_free(&t);
}

// mov al,0x41; out 0x80,al; in al,0x81; cpuid; hlt
static const uint8 g_io[] = {0xB0, 0x41, 0xE6, 0x80, 0xE4, 0x81, 0x0F, 0xA2, 0xF4};

KTEST(run_io)
{
  struct testguest t;
  struct vm_exit e;
  if (!guest_start(&t, &e, g_io, sizeof g_io))
    return;
  int r = run(&t, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_IO && !e.u.io.in && e.u.io.port == 0x80 && e.u.io.size == 1 &&
             e.u.io.data == 0x41 && e.rip == 0x1002,
         "OUT 0x80: port 0x%x size %u data 0x%lx at rip 0x%lx", e.u.io.port, e.u.io.size, e.u.io.data, e.rip);
  r = run(&t, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_IO && e.u.io.in && e.u.io.port == 0x81 && e.rip == 0x1004,
         "next RIP from EXITINFO2: IN 0x81 at rip 0x%lx", e.rip);
  e.u.io.data = 0x5A;
  r = run(&t, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_CPUID && (e.u.cpuid.leaf & 0xFF) == 0x5A && e.rip == 0x1006,
         "IN completed into AL: CPUID leaf 0x%x at rip 0x%lx", e.u.cpuid.leaf, e.rip);
  guest_free(&t);
}

// mov ax,0x10; mov fs,ax; cpuid; hlt
static const uint8 g_fs[] = {0xB8, 0x10, 0x00, 0x8E, 0xE0, 0x0F, 0xA2, 0xF4};

KTEST(run_hostregs)
{
  struct testguest t;
  struct vm_exit e;
  if (!guest_start(&t, &e, g_fs, sizeof g_fs))
    return;
  struct vmcb_save *s = &t.v->vmcb->save;
  s->lstar = 0xFFFF8000DEAD0000;   // guest values of what only VMLOAD/VMSAVE switch
  s->star = 0x0023001000000000;
  s->sfmask = 0x4700;
  s->kernel_gs_base = 0x123456;
  s->tr.selector = 0x40;
  s->tr.base = 0x5000;
  uint64 lstar = rdmsr(MSR_LSTAR), star = rdmsr(MSR_STAR), kgs = rdmsr(MSR_KERNEL_GS_BASE);
  uint16 tr = str();
  int r = run(&t, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_CPUID, "guest ran to its CPUID (r=%d reason=%u)", r, e.reason);
  KCHECK(rdmsr(MSR_LSTAR) == lstar && rdmsr(MSR_STAR) == star, "host LSTAR 0x%lx and STAR are back after #VMEXIT",
         rdmsr(MSR_LSTAR));
  KCHECK(str() == tr && rdmsr(MSR_KERNEL_GS_BASE) == kgs, "host TR 0x%x (was 0x%x) and KernelGsBase are back", str(), tr);
  KCHECK(mycpu() == &cpus[cpuid_self()] && rdmsr(MSR_GS_BASE) == (uint64)mycpu(), "GS base is this CPU's struct cpu");
  KCHECK(s->fs.selector == 0x10, "VMSAVE kept the FS the guest loaded: selector 0x%x", s->fs.selector);
  KCHECK(s->lstar == 0xFFFF8000DEAD0000 && s->tr.selector == 0x40, "the guest's LSTAR/TR survive in its VMCB");
  guest_free(&t);
}

// clgi (an SVM instruction in the guest) -> #UD through the IVT to 0x1100: hlt
static const uint8 g_clgi[] = {0x0F, 0x01, 0xDD, 0xF4};

KTEST(run_svmins)
{
  struct testguest t;
  struct vm_exit e;
  if (!guest_start(&t, &e, g_clgi, sizeof g_clgi))
    return;
  ((uint16 *)t.mem[0])[6 * 2] = 0x1100;   // IVT[6] = 0000:1100
  ((uint16 *)t.mem[0])[6 * 2 + 1] = 0;
  t.mem[1][0x100] = 0xF4;
  int r = run(&t, &e);
  // In real mode the CPU raises #UD itself (SVM instructions need protected
  // mode); in other modes the CLGI intercept does and the kernel injects #UD
  // (the svmins guest of lab_run covers that path).
  KCHECK(r == 0 && e.reason == VM_EXIT_HLT && e.rip == 0x1100,
         "the guest's CLGI raised #UD in the guest: its handler's HLT at rip 0x%lx (%lu kernel exits)", e.rip,
         e.kexits);
  guest_free(&t);
}

// cli; jmp $: only host interrupts end it.
static const uint8 g_spin[] = {0xFA, 0xEB, 0xFE};

KTEST(run_intr)
{
  struct testguest t;
  struct vm_exit e;
  if (!guest_start(&t, &e, g_spin, sizeof g_spin))
    return;
  uint64 t0 = cpus[0].ticks;
  int r = run_raw(&t, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_INTR && e.kexits >= 1 && e.code == SVM_EXIT_INTR,
         "a guest spinning with IF=0 comes back with VM_EXIT_INTR after %lu INTR exits", e.kexits);
  KCHECK(cpus[0].ticks > t0, "the host timer kept ticking (%lu -> %lu)", t0, cpus[0].ticks);
  guest_free(&t);
}

KTEST(run_invalid)
{
  struct testguest t;
  struct vm_exit e;
  if (!guest_start(&t, &e, g_cpuid, sizeof g_cpuid))
    return;
  t.v->vmcb->save.efer &= ~EFER_SVME;   // illegal guest state (§15.5.1)
  int r = run(&t, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_INVALID && (uint32)e.code == 0xFFFFFFFF,
         "VMRUN with EFER.SVME=0 gives VM_EXIT_INVALID (code 0x%lx)", e.code);
  r = run(&t, &e);
  KCHECK(r == -EINVAL, "the vcpu is never entered again: %d", r);
  guest_free(&t);
}

// 1: cpuid; jmp 1b -- for timing exits handled without user space.
static const uint8 g_cpuidloop[] = {0x0F, 0xA2, 0xEB, 0xFC};

// Cost of an exit round trip through vcpu_run alone (no system call, no
// VMM): 100,000 CPUID exits, completed here. Reports TSC cycles and ticks.
KTEST(run_bench)
{
  struct testguest t;
  struct vm_exit e;
  if (!guest_start(&t, &e, g_cpuidloop, sizeof g_cpuidloop))
    return;
  int n = 0, other = 0;
  uint64 tick0 = cpus[cpuid_self()].ticks, tsc0 = rdtsc();
  while (n < 100000) {
    if (run(&t, &e) < 0)
      break;
    if (e.reason == VM_EXIT_CPUID)
      n++;
    else
      other++;
  }
  uint64 cycles = rdtsc() - tsc0, ticks = cpus[cpuid_self()].ticks - tick0;
  KCHECK(n == 100000, "100000 CPUID exits in %lu ms (%lu TSC cycles per exit; %d other returns)", ticks * 10,
         cycles / 100000, other);
  guest_free(&t);
}
