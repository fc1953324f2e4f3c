// hostile: runs hostile guests and checks that the host survives them
// (issue 7). Its own small VMM, so that each check controls the policy it
// tests; the real VMM is user/vmm. Subcommands (one line "hostile: NAME: ok"
// or "hostile: NAME: FAIL: why" each; exit status 0 iff all passed):
//
//   hostile uaf           guest memory freed by sbrk(-n) leaves the guest
//   hostile execvm        exec drops the caller's VMs with its memory
//   hostile sregs         vcpu_setregs refuses impossible paging states
//   hostile invalid       after VMEXIT_INVALID getregs returns the guest's state
//   hostile probe         guest probes guest-physical memory to 4 GiB (full: all pages)
//   hostile badimages     vmm refuses every broken image
//   hostile cycles        N create/map/run/destroy cycles (N: a number before it)
//   hostile kill          killing processes in vcpu_run frees their VMs
//   hostile smp           ncpu*4 VMs at once, moving between CPUs
//   hostile oom           VM calls with no free memory: -ENOMEM, nothing leaked
//   hostile dr            guest breakpoints on host code/data (ksym:ADDR args before it)
//   hostile progress CMD  CMD on CPU 0 next to a ticker that must keep running
//
// The guests with a policy to check (MSRs, EFER, CR0, SVM instructions) run
// under the real VMM instead (grade/lab_hostile.py; the policies are listed
// in HACKING.md, "Hostile guests").
// `probe` answers reads of guest-physical memory outside RAM as open bus.
#include "user.h"
#include "vm.h"
#include "guests/guest.h"
#include "hv.h"

#define CR0_PG_BIT (1UL << 31)

static int failures;

static void result(const char *name, const char *fail)
{
  if (fail) {
    printf("hostile: %s: FAIL: %s\n", name, fail);
    failures++;
  } else {
    printf("hostile: %s: ok\n", name);
  }
}

// ---- uaf: sbrk(-n) of a page the guest has ----------------------------

#define CANARY 0xC0FFEE15DEADBEEFUL

// prot32 code at gpa 0x1000: mov eax,[0x2000]; out 0x80,eax; hlt
static const uint8 read2000[] = {0xA1, 0x00, 0x20, 0x00, 0x00, 0xE7, 0x80, 0xF4};

// The guest reads gpa 0x2000, backed by the top heap page, after the
// process freed that page with sbrk(-4096) (its content, the canary, is still
// in the freed frame). It must take a nested page fault, never see the canary.
static const char *uaf(void)
{
  struct hv h;
  if (hv_new(&h, 0x2000, VM_MODE_PROT32) < 0)
    return "cannot create the VM";
  uint64 *data = (uint64 *)hv_pages(1);
  data[0] = CANARY;
  memcpy(h.mem + 0x1000, read2000, sizeof read2000);
  if (vm_map(h.vm, 0x2000, data, PGSIZE, VM_MAP_RWX) < 0)
    return "vm_map of the data page failed";
  sbrk(-PGSIZE);   // frees the frame behind gpa 0x2000
  hv_setrip(&h, 0x1000, 0);
  int r = hv_run(&h);   // not vcpu_run: a host tick may come first (VM_EXIT_INTR)
  const char *why = NULL;
  if (r < 0)
    why = "vcpu_run failed";
  else if (h.e.reason == VM_EXIT_IO && (uint32)h.e.u.io.data == (uint32)CANARY)
    why = "the guest read the canary from a freed page";
  else if (h.e.reason != VM_EXIT_NPF || h.e.u.npf.gpa != 0x2000)
    why = "expected a nested page fault at 0x2000";
  hv_free(&h);
  return why;
}

// ---- execvm: exec drops the VMs ----------------------------------------

// After exec the VM built on the old image's memory is gone: the new image's
// vcpu_run(0, 0) is -ESRCH and nothing of the old memory is readable.
static const char *execvm_child(void)
{
  struct vm_exit e;
  memset(&e, 0, sizeof e);
  int r = vcpu_run(0, 0, &e);
  if (r == 0 && e.reason == VM_EXIT_IO && (uint32)e.u.io.data == (uint32)CANARY)
    return "a VM outlived exec and read the old image's freed page";
  if (r != -ESRCH)
    return "vcpu_run on a handle from before exec did not return -ESRCH";
  return NULL;
}

static const char *execvm(void)
{
  int pid = fork();
  if (pid == 0) {
    struct hv h;
    if (hv_new(&h, 0x3000, VM_MODE_PROT32) < 0 || h.vm != 0)
      exit(2);
    *(uint64 *)(h.mem + 0x2000) = CANARY;
    memcpy(h.mem + 0x1000, read2000, sizeof read2000);
    hv_setrip(&h, 0x1000, 0);
    char *argv[] = {"hostile", "execvm-child", NULL};
    exec("/hostile", argv);
    exit(3);
  }
  int status = -1;
  if (pid < 0 || wait(&status) != pid)
    return "fork/wait failed";
  return status == 0 ? NULL : status == 1 ? "after exec: see above" : "the child could not set up";
}

// ---- probe: guest-physical memory up to 4 GiB ---------------------------

#define PROBE_CANARY 0xDEADBEEFu
#define PROBE_MARGIN 1024          // free pages left for the kernel while spilling

static int probe_full;

// Plants the canary in nearly every free page: takes them all with sbrk,
// writes the canary into each (every 16th dword), frees them again. The
// frames keep it (kfree does not clear them), and since they were all the
// free memory there was, the guest's RAM is made of them: only kalloc's
// zeroing stands between the canary and the guest.
static long plant_canary(void)
{
  long n = freepages() - PROBE_MARGIN;
  uint32 *p = n > 0 ? (uint32 *)hv_pages(n) : NULL;
  if (!p)
    return 0;
  for (long i = 0; i < n * (long)PGSIZE / 4; i += 16)
    p[i] = PROBE_CANARY;
  sbrk(-n * (long)PGSIZE);
  // kalloc is next-fit: the pages that never held the canary come next.
  // Take them (and a few more), so that the guest's RAM is canary frames.
  long clean = freepages() - n;
  if (clean > 0)
    hv_pages(clean + 16);
  return n;
}

// An NPF outside RAM: must be the guest's probe read, the next page in
// order; answered as open bus (EAX = ~0, RIP past the 2-byte mov).
static const char *probe_npf(struct hv *h, uint64 *npfs, uint64 *last)
{
  struct vm_regs r;
  uint64 gpa = h->e.u.npf.gpa;
  if (gpa < h->memsize || gpa <= *last || (gpa & 0xFFF))
    return "nested page fault inside RAM, out of order, or not at a page start";
  if (vcpu_getregs(h->vm, h->vcpu, &r) < 0 || r.rip + 2 > h->memsize || h->mem[r.rip] != 0x8B ||
      h->mem[r.rip + 1] != 0x06)
    return "nested page fault not at the probe instruction";
  *last = gpa;
  (*npfs)++;
  r.rax = 0xFFFFFFFF;
  r.rip += 2;
  return vcpu_setregs(h->vm, h->vcpu, &r) < 0 ? "vcpu_setregs failed" : NULL;
}

// Counts canary dwords in the guest's RAM, as the host sees it.
static uint64 canaries(struct hv *h)
{
  uint64 n = 0;
  for (uint64 i = 0; i < h->memsize / 4; i++)
    n += ((uint32 *)h->mem)[i] == PROBE_CANARY;
  return n;
}

static const char *probe(void)
{
  static char why[160];
  struct hv h;
  struct vm_regs r;
  uint64 npfs = 0, last = 0;
  long planted = plant_canary();
  if (hv_load(&h, "hostile_probe") < 0 || vcpu_getregs(h.vm, h.vcpu, &r) < 0)
    return "cannot load hostile_probe";
  r.rbx = probe_full ? 0xFFFFFFFF : 0;
  vcpu_setregs(h.vm, h.vcpu, &r);
  const char *bad = NULL;
  while (!bad) {
    if (hv_run(&h) < 0)
      bad = "vcpu_run failed";
    else if (h.e.reason == VM_EXIT_NPF)
      bad = probe_npf(&h, &npfs, &last);
    else if (h.e.reason == VM_EXIT_HLT)
      break;
    else
      bad = "unexpected exit";
  }
  vcpu_getregs(h.vm, h.vcpu, &r);
  printf("hostile: probe: canary planted in %ld freed pages; %lu pages probed above RAM "
         "(%lu nested page faults, last gpa 0x%lx), %lu not open bus, canary in guest RAM: %lu (guest) "
         "%lu (host view)\n", planted, r.rax, npfs, last, r.rdx, r.rdi, canaries(&h));
  hv_free(&h);
  if (bad)
    return bad;
  if (r.rax != npfs || r.rdx || r.rdi || canaries(&h) || !npfs || planted < 256) {
    snprintf(why, sizeof why, "expected one exit per probed page and no host data");
    return why;
  }
  return NULL;
}

// ---- badimages: vmm refuses corrupted images ------------------------------

// Runs /vmm with argv; its exit status.
static int run_vmm(char **argv)
{
  int pid = fork();
  if (pid == 0) {
    exec("/vmm", argv);
    exit(127);
  }
  int status = -1;
  if (pid < 0 || wait(&status) != pid)
    return -1;
  return status;
}

static const char *badimages(void)
{
  static const char *names[] = {"hostile_badmagic", "hostile_badver", "hostile_badmode", "hostile_bigmem",
                                "hostile_oddmem", "hostile_nomem", "hostile_badcr3", "hostile_empty",
                                "badentry", "badtrunc", "hostile_nosuch"};
  int accepted = 0;
  for (uint64 i = 0; i < ARRAY_SIZE(names); i++) {
    char *argv[] = {"vmm", (char *)names[i], NULL};
    int st = run_vmm(argv);
    if (st != 1) {
      printf("hostile: badimages: vmm %s exited with status %d, not 1\n", names[i], st);
      accepted++;
    }
  }
  return accepted ? "vmm did not refuse every broken image" : NULL;
}

// ---- progress: the host keeps scheduling next to a hostile guest --------

#define TICKER_TICKS 100

// Spins on CPU 0 for TICKER_TICKS timer ticks; exit status = how many of
// them it saw while running (a starved ticker sees few).
static void ticker(void)
{
  setcpu(0);
  long t0 = uptime(), last = -1, seen = 0;
  for (long t = t0; t - t0 < TICKER_TICKS; t = uptime())
    if (t != last)
      seen++, last = t;
  exit(seen);
}

// hostile progress CMD ARGS...: CMD (an initrd program) on CPU 0 next to the
// ticker; both must finish, the ticker having run in at least 1/5 of its
// ticks, and CMD must exit with 0.
static int progress(int argc, char **argv)
{
  int tpid = fork();
  if (tpid == 0)
    ticker();
  int cpid = fork();
  if (cpid == 0) {
    char path[64];
    setcpu(0);
    snprintf(path, sizeof path, "/%s", argv[0]);
    exec(path, argv);
    exit(127);
  }
  int cst = -1, tst = -1, st;
  for (int pid; (pid = wait(&st)) > 0;)
    *(pid == cpid ? &cst : pid == tpid ? &tst : &st) = st;
  printf("hostile: progress: %s exited with status %d; a ticker on cpu0 ran in %d of %d ticks\n", argv[0],
         cst, tst, TICKER_TICKS);
  result("progress", cst != 0 ? "the command failed" : tst < TICKER_TICKS / 5 ? "the ticker starved" : NULL);
  return failures ? 1 : 0;
}

// ---- cycles: create/map/run/destroy, no page leaked -----------------------

static int cycles_n = 1000;

// One VM lifetime: real-mode `out %al, 0x80; hlt` must report AL = i & 0xFF,
// then halt.
static const char *one_cycle(uint8 *mem, int i)
{
  static const uint8 code[] = {0xE6, 0x80, 0xF4};   // out %al, $0x80; hlt
  struct hv h;
  struct vm_regs r;
  if (hv_new_mem(&h, mem, 2 * PGSIZE, VM_MODE_REAL) < 0)
    return "cannot create a VM";
  memcpy(mem + 0x1000, code, sizeof code);
  const char *bad = NULL;
  if (vcpu_getregs(h.vm, h.vcpu, &r) < 0)
    bad = "vcpu_getregs";
  r.rip = 0x1000, r.rax = i;
  if (!bad && vcpu_setregs(h.vm, h.vcpu, &r) < 0)
    bad = "vcpu_setregs";
  if (!bad && (hv_run(&h) < 0 || h.e.reason != VM_EXIT_IO || h.e.u.io.data != (uint64)(i & 0xFF)))
    bad = "the guest's OUT did not carry its value";
  if (!bad && (hv_run(&h) < 0 || h.e.reason != VM_EXIT_HLT))
    bad = "no HLT exit after the OUT";
  hv_free(&h);
  return bad;
}

static const char *cycles(void)
{
  uint8 *mem = hv_pages(2);
  if (!mem || one_cycle(mem, 0))   // warm-up: lazily built kernel state
    return "the warm-up cycle failed";
  long before = freepages();
  for (int i = 0; i < cycles_n; i++) {
    const char *bad = one_cycle(mem, i);
    if (bad)
      return bad;
  }
  long after = freepages();
  printf("hostile: cycles: %d VM create/map/run/destroy cycles, free pages %ld -> %ld\n", cycles_n, before,
         after);
  return before == after ? NULL : "pages leaked";
}

// ---- kill: a process killed in vcpu_run frees everything ----------------

// A child with the most a process may hold (VM_MAX_PER_PROC VMs of
// VCPU_MAX_PER_VM vcpus), spinning in the first one until it is killed.
static void spinner(void)
{
  static const uint8 spin[] = {0xFA, 0xEB, 0xFE};   // cli; jmp .
  struct hv h[VM_MAX_PER_PROC];
  for (int i = 0; i < VM_MAX_PER_PROC; i++) {
    if (hv_new(&h[i], 4 * PGSIZE, VM_MODE_REAL) < 0)
      exit(2);
    for (int k = 1; k < VCPU_MAX_PER_VM; k++)
      vcpu_create(h[i].vm, VM_MODE_REAL);
    memcpy(h[i].mem + 0x1000, spin, sizeof spin);
    hv_setrip(&h[i], 0x1000, 0);
  }
  for (;;)
    vcpu_run(h[0].vm, h[0].vcpu, &h[0].e);
}

static const char *killcheck(void)
{
  long before = freepages();
  for (int round = 0; round < 6; round++) {
    int pid = fork();
    if (pid == 0) {
      setcpu(round % ncpu());
      spinner();
    }
    sleep(5 + 7 * round);
    kill(pid);
    int st = 0;
    if (wait(&st) != pid || st == 2)
      return "the spinner was not reaped, or could not set up";
  }
  long after = freepages();
  printf("hostile: kill: 6 processes with %d VMs x %d vcpus killed in vcpu_run, free pages %ld -> %ld\n",
         VM_MAX_PER_PROC, VCPU_MAX_PER_VM, before, after);
  return before == after ? NULL : "pages leaked";
}

// ---- smp: ncpu x 4 VMs at once, moving between CPUs ----------------------

#define SMP_STEPS 600

// One child's VM: hostile_lcg from `seed`, every value checked, the
// process moved to the next CPU every 50 exits. Exit status 0 if right.
static void smp_child(int k)
{
  struct hv h;
  struct vm_regs r;
  uint32 x = 0x1234 * (k + 1), n = 0;
  uint64 cpus = 0;
  setcpu(k % ncpu());
  if (hv_load(&h, "hostile_lcg") < 0 || vcpu_getregs(h.vm, h.vcpu, &r) < 0)
    exit(2);
  r.rbx = x, r.rcx = SMP_STEPS;
  vcpu_setregs(h.vm, h.vcpu, &r);
  for (;;) {
    if (hv_run(&h) < 0)
      exit(3);
    cpus |= 1UL << (h.e.ran_on_cpu & 63);
    if (h.e.reason == VM_EXIT_HLT)
      break;
    x = x * 1103515245u + 12345u;
    if (h.e.reason != VM_EXIT_IO || (uint32)h.e.u.io.data != x)
      exit(4);
    if (++n % 50 == 0)
      setcpu((getcpu() + 1) % ncpu());
  }
  int ncpus = 0;
  for (; cpus; cpus &= cpus - 1)
    ncpus++;
  exit(n != SMP_STEPS ? 5 : ncpu() > 1 && ncpus < 2 ? 6 : 0);
}

static const char *smp(void)
{
  int n = ncpu() * 4, bad = 0, st;
  long before = freepages();
  for (int k = 0; k < n; k++)
    if (fork() == 0)
      smp_child(k);
  for (int k = 0; k < n; k++)
    if (wait(&st) < 0 || st != 0)
      bad++, printf("hostile: smp: a VM ended with status %d\n", st);
  long after = freepages();
  printf("hostile: smp: %d VMs at once on %d cpus, %d values each, moved every 50 exits: %d right; "
         "free pages %ld -> %ld\n", n, ncpu(), SMP_STEPS, n - bad, before, after);
  return bad ? "a VM computed a wrong value or did not move" : before != after ? "pages leaked" : NULL;
}

// ---- sregs: inconsistent paging state is refused ------------------------

// Long-mode guest states no CPU can be in, which VMRUN's consistency checks
// (APM Vol. 2 §15.5.1) do not all catch: QEMU entered the first one (found
// by vmfuzz seed 1) and never came back, not even for host interrupts, so
// the CPU was lost to the host. vcpu_setregs must refuse each (-EINVAL, as
// KVM's KVM_SET_SREGS does); whatever it accepts must come back from
// vcpu_run.
static const char *sregs(void)
{
  static const uint8 spin[] = {0xEB, 0xFE};   // jmp .
  static const struct {
    const char *what;
    uint64 cr0_clear, cr4_clear, efer_clear, cr0_set;
  } bad[] = {
    {"EFER.LMA=1 with CR0.PG=0", CR0_PG_BIT, 0, 0, 0},
    {"EFER.LME=1, CR0.PG=1 without EFER.LMA", 0, 0, 1UL << 10, 0},
    {"EFER.LME=1, CR0.PG=1 without CR4.PAE", 0, 1UL << 5, 0, 0},
    {"CR0.PG=1 without CR0.PE", 1, 0, 0, 0},
    {"EFER.LME=1 with CR0.PG=0, LMA=0 (legal on a CPU, see kern/svm/cr0.c)", CR0_PG_BIT, 0, 1UL << 10, 0},
  };
  int refused = 0;
  for (uint64 i = 0; i < ARRAY_SIZE(bad); i++) {
    struct hv h;
    struct vm_regs r;
    if (hv_new(&h, 2 * PGSIZE, VM_MODE_LONG64) < 0 || vcpu_getregs(h.vm, h.vcpu, &r) < 0)
      return "cannot create a long-mode VM";
    memcpy(h.mem, spin, sizeof spin);
    r.rip = 0;
    r.cr0 = (r.cr0 & ~bad[i].cr0_clear) | bad[i].cr0_set;
    r.cr4 &= ~bad[i].cr4_clear;
    r.efer &= ~bad[i].efer_clear;
    int e = vcpu_setregs(h.vm, h.vcpu, &r);
    if (e == -EINVAL)
      refused++;
    else
      printf("hostile: sregs: %s accepted (%d); running it\n", bad[i].what, e);
    if (e == 0 && hv_run(&h) == 0)
      printf("hostile: sregs: ... came back with exit reason %u\n", h.e.reason);
    hv_free(&h);
  }
  return refused == ARRAY_SIZE(bad) ? NULL : "vcpu_setregs accepted an impossible paging state";
}

// ---- invalid: a refused VMRUN hands back the guest's state, not the host's --

// VMRUN refuses a VMCB with a reserved EFER bit (APM Vol. 2 §15.5.1). QEMU
// then writes its own current state, the host's, into the VMCB save area:
// vcpu_getregs must still return the state the VMM set, and no kernel
// address (RIP, RSP, GDTR, IDTR, CR3 of the host) may reach user space.
static const char *invalid(void)
{
  struct hv h;
  struct vm_regs r, back;
  if (hv_new(&h, 2 * PGSIZE, VM_MODE_PROT32) < 0 || vcpu_getregs(h.vm, h.vcpu, &r) < 0)
    return "cannot create a VM";
  r.rip = 0x1234, r.rsp = 0x5678, r.rax = 0xAAAA, r.efer |= 1UL << 20;
  if (vcpu_setregs(h.vm, h.vcpu, &r) < 0 || hv_run(&h) < 0)
    return "setregs or run failed";
  const char *bad = NULL;
  if (h.e.reason != VM_EXIT_INVALID)
    bad = "VMRUN did not refuse EFER bit 20";
  else if (vcpu_getregs(h.vm, h.vcpu, &back) < 0)
    bad = "vcpu_getregs failed";
  else if (back.rip >= 0xFFFF800000000000UL || back.rsp >= 0xFFFF800000000000UL ||
           back.gdtr.base >= 0xFFFF800000000000UL || back.idtr.base >= 0xFFFF800000000000UL)
    bad = "vcpu_getregs returned host kernel addresses";
  else if (back.rip != r.rip || back.rsp != r.rsp || back.rax != r.rax || back.cr3 != r.cr3)
    bad = "vcpu_getregs did not return the state the VMM set";
  if (bad)
    printf("hostile: invalid: after VMEXIT_INVALID: rip 0x%lx rsp 0x%lx rax 0x%lx gdtr 0x%lx cr3 0x%lx\n",
           back.rip, back.rsp, back.rax, back.gdtr.base, back.cr3);
  hv_free(&h);
  return bad;
}

// ---- oom: the VM calls when memory runs out ------------------------------

// Takes every free page sbrk can get; returns how many.
static long exhaust(void)
{
  long got = 0;
  for (long step = 64; step; step /= 4)
    while (sbrk(step * PGSIZE) >= 0)
      got += step;
  return got;
}

// One VM life with little memory: create, map, vcpus, run to HLT. Each step
// may fail with -ENOMEM only. Counts the steps that worked; -1 on another error.
static int oom_steps(uint8 *mem, int *steps)
{
  struct hv h;
  int r = hv_new_mem(&h, mem, 2 * PGSIZE, VM_MODE_REAL), bad = 0;
  if (r < 0)
    return r == -ENOMEM ? 0 : -1;
  (*steps)++;
  for (int k = 1; k < VCPU_MAX_PER_VM; k++)
    if ((r = vcpu_create(h.vm, VM_MODE_REAL)) >= 0)
      (*steps)++;
    else
      bad |= r != -ENOMEM;
  if (hv_setrip(&h, 0x1000, 0) == 0 && hv_run(&h) == 0 && h.e.reason == VM_EXIT_HLT)
    (*steps)++;
  hv_free(&h);
  return bad ? -1 : 0;
}

// Takes all free memory, then gives it back two pages at a time, trying a
// VM life at each level (0..24 pages free); then gives back the rest. The
// free-page count must end where it began.
static const char *oom(void)
{
  int steps = 0;
  uint8 *mem = hv_pages(2);
  if (!mem)
    return "no memory to start with";
  mem[0x1000] = 0xF4;   // hlt
  sbrk(-exhaust() * (long)PGSIZE);   // warm-up: page tables for the whole heap range
  long before = freepages(), got = exhaust();
  for (int k = 0; k <= 12; k++) {
    if (k)
      sbrk(-2 * (long)PGSIZE), got -= 2;
    if (oom_steps(mem, &steps) < 0)
      return "a VM call failed with something other than -ENOMEM";
  }
  sbrk(-got * (long)PGSIZE);
  long after = freepages();
  printf("hostile: oom: 13 rounds with 0..24 pages left: %d VM steps succeeded, free pages %ld -> %ld\n",
         steps, before, after);
  return before == after ? NULL : "pages leaked";
}

// ---- dr: the guest's hardware breakpoints aimed at the host -------------

// Kernel text addresses for the guest's breakpoints: "ksym:0x..." arguments
// (grade/lab_hostile.py reads them from build/kernel.elf's symbols).
static uint64 ksyms[2];
static int nksyms;

static uint64 parse_hex(const char *s)
{
  uint64 v = 0;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    s += 2;
  for (; *s; s++) {
    int d = *s >= '0' && *s <= '9' ? *s - '0' : (*s | 0x20) >= 'a' && (*s | 0x20) <= 'f' ? (*s | 0x20) - 'a' + 10 : -1;
    if (d < 0)
      break;
    v = v * 16 + d;
  }
  return v;
}

// The harness's own code and data the guest aims DR0 and DR3 at: both are
// run and written after every exit.
static volatile uint64 dr_watched;
static __attribute__((noinline)) void dr_target(void)
{
  dr_watched++;
  asm volatile("" ::: "memory");
}

// One exit of hostile_dr: 1 to run on, 0 when it ended (*code = exit code).
static int dr_exit(struct hv *h, char *line, int *len, int *code)
{
  struct vm_exit *e = &h->e;
  dr_target();
  if (e->reason == VM_EXIT_VMMCALL) {
    e->u.hypercall.ret = 0;
  } else if (e->reason == VM_EXIT_CPUID) {
    e->u.cpuid.eax = e->u.cpuid.ebx = e->u.cpuid.ecx = e->u.cpuid.edx = 0;
  } else if (e->reason == VM_EXIT_IO && !e->u.io.string && e->u.io.port == GUEST_EXIT_PORT) {
    *code = e->u.io.data & 0xFF;
    return 0;
  } else if (e->reason == VM_EXIT_IO && !e->u.io.string && e->u.io.port == GUEST_UART && !e->u.io.in) {
    char c = e->u.io.data;
    if (c == '\n' || *len == 159) {
      line[*len] = 0;
      printf("%s\n", line);
      *len = 0;
    } else {
      line[(*len)++] = c;
    }
  } else if (e->reason != VM_EXIT_IO) {
    *code = -(int)e->reason;
    return 0;
  }
  return 1;
}

static const char *dr(void)
{
  static char why[96];
  struct hv h;
  struct vm_regs r;
  char line[160];
  int len = 0, code = -1;
  if (nksyms < 2)
    return "needs two ksym:ADDR arguments (kernel text addresses)";
  if (hv_load(&h, "hostile_dr") < 0 || vcpu_getregs(h.vm, h.vcpu, &r) < 0)
    return "cannot load hostile_dr.guest";
  r.rbx = (uint64)dr_target, r.rcx = ksyms[0], r.rdx = ksyms[1], r.rsi = (uint64)&dr_watched;
  if (vcpu_setregs(h.vm, h.vcpu, &r) < 0)
    return "vcpu_setregs failed";
  int rc;
  while ((rc = hv_run(&h)) == 0 && dr_exit(&h, line, &len, &code))
    ;
  hv_free(&h);
  if (rc < 0 || code != 0) {
    snprintf(why, sizeof why, "the guest ended with vcpu_run %d, exit code %d", rc, code);
    return why;
  }
  return NULL;
}

// ---- dispatch -------------------------------------------------------------

static const struct {
  const char *name;
  const char *(*fn)(void);
} checks[] = {
  {"uaf", uaf},
  {"execvm", execvm},
  {"probe", probe},
  {"badimages", badimages},
  {"cycles", cycles},
  {"kill", killcheck},
  {"smp", smp},
  {"sregs", sregs},
  {"invalid", invalid},
  {"oom", oom},
  {"dr", dr},
};

int main(int argc, char **argv)
{
  if (argc >= 2 && strcmp(argv[1], "execvm-child") == 0) {
    const char *why = execvm_child();
    if (why)
      printf("hostile: execvm: %s\n", why);
    return why ? 1 : 0;
  }
  if (argc >= 3 && strcmp(argv[1], "progress") == 0)
    return progress(argc - 2, argv + 2);
  for (int a = 1; a < argc; a++) {
    if (strcmp(argv[a], "full") == 0) {   // options for the checks after them
      probe_full = 1;
      continue;
    }
    if (strncmp(argv[a], "ksym:", 5) == 0) {
      if (nksyms < (int)ARRAY_SIZE(ksyms))
        ksyms[nksyms++] = parse_hex(argv[a] + 5);
      continue;
    }
    if (argv[a][0] >= '1' && argv[a][0] <= '9') {
      cycles_n = atoi(argv[a]);
      continue;
    }
    int found = 0;
    for (uint64 i = 0; i < ARRAY_SIZE(checks); i++) {
      if (strcmp(argv[a], checks[i].name) == 0) {
        found = 1;
        result(checks[i].name, checks[i].fn());
      }
    }
    if (!found)
      result(argv[a], "no such check");
  }
  return failures ? 1 : 0;
}
