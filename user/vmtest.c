// vmtest: the vmm system calls under bad arguments, another process's
// handles, and process exit with VMs still alive (the free-page count must
// come back). Prints "vmtest: ok: ..." or "vmtest: FAIL: ..." per check;
// exit status 0 iff every check passed.
#include "user.h"
#include "vm.h"

static int failed;
// CHK(call, test, what): runs call once, checks "result test".
#define CHK(expr, test, what)     \
  do {                            \
    long r_ = (expr);             \
    check(r_ test, what, r_);     \
  } while (0)

static void check(int ok, const char *what, long got)
{
  printf("vmtest: %s: %s (got %ld)\n", ok ? "ok" : "FAIL", what, got);
  failed += !ok;
}

// Page-aligned zeroed memory from the heap.
static uint8 *pages(long n)
{
  long cur = sbrk(0), pad = (4096 - cur % 4096) % 4096;
  return sbrk(pad + n * 4096) < 0 ? NULL : (uint8 *)(cur + pad);
}

static void bad_arguments(int vm, uint8 *mem)
{
  struct vm_regs regs;
  struct vm_exit e;
  struct vm_event ev = {VM_EVENT_INTR, 300, 0, 0};
  CHK(vm_map(vm, 0x123, mem, 4096, VM_MAP_RWX), == -EINVAL, "vm_map of an unaligned gpa: -EINVAL");
  CHK(vm_map(vm, 0, mem + 1, 4096, VM_MAP_RWX), == -EINVAL, "vm_map of an unaligned uva: -EINVAL");
  CHK(vm_map(vm, 0, mem, 0, VM_MAP_RWX), == -EINVAL, "vm_map of 0 bytes: -EINVAL");
  CHK(vm_map(vm, 0xFFFFF000, mem, 0x2000, VM_MAP_RWX), == -EINVAL, "vm_map past 4 GiB: -EINVAL");
  CHK(vm_map(vm, 0, mem, -4096UL, VM_MAP_RWX), == -EINVAL, "vm_map with a wrapping length: -EINVAL");
  CHK(vm_map(vm, 0, mem, 4096, 0x80), == -EINVAL, "vm_map with unknown flags: -EINVAL");
  CHK(vm_map(vm, 0, (void *)0xFFFFFFFF80100000UL, 4096, VM_MAP_R), == -EFAULT, "vm_map of kernel memory: -EFAULT");
  CHK(vm_map(vm, 0, (void *)0x10000000UL, 4096, VM_MAP_R), == -EFAULT, "vm_map of unmapped memory: -EFAULT");
  CHK(vm_map(vm, 0, mem, 4096, VM_MAP_RWX), == 0, "vm_map of one good page");
  CHK(vm_map(vm, 0, mem, 4096, VM_MAP_RWX), < 0, "mapping the same gpa twice fails");
  CHK(vm_unmap(vm, 0, 4096), == 0, "vm_unmap of it");
  CHK(vcpu_create(vm, 7), == -EINVAL, "vcpu_create with mode 7: -EINVAL");
  int vc = vcpu_create(vm, VM_MODE_REAL);
  check(vc >= 0, "vcpu_create in real mode", vc);
  CHK(vcpu_getregs(vm, vc, (void *)8), == -EFAULT, "vcpu_getregs to a bad pointer: -EFAULT");
  CHK(vcpu_setregs(vm, vc, (void *)0xFFFF800000000000UL), == -EFAULT, "vcpu_setregs from kernel memory: -EFAULT");
  CHK(vcpu_run(vm, vc, NULL), == -EFAULT, "vcpu_run with a NULL record: -EFAULT");
  CHK(vcpu_getregs(vm, vc + 5, &regs), == -ESRCH, "vcpu_getregs of a vcpu that does not exist: -ESRCH");
  CHK(vcpu_inject(vm, vc, &ev), == -EINVAL, "vcpu_inject of vector 300: -EINVAL");
  ev.type = 9, ev.vector = 32;
  CHK(vcpu_inject(vm, vc, &ev), == -EINVAL, "vcpu_inject of an unknown type: -EINVAL");
  CHK(vcpu_run(-1, 0, &e), == -ESRCH, "vcpu_run on handle -1: -ESRCH");
  CHK(vcpu_run(1000, 0, &e), == -ESRCH, "vcpu_run on handle 1000: -ESRCH");
  CHK(vm_destroy(12345), == -ESRCH, "vm_destroy of a bad handle: -ESRCH");
}

// A child may not use its parent's VM, even with the right number.
static void foreign(int vm)
{
  int pid = fork();
  if (pid == 0) {
    struct vm_exit e;
    int bad = 0;
    bad += vm_destroy(vm) != -ESRCH;
    bad += vcpu_run(vm, 0, &e) != -ESRCH;
    bad += vm_map(vm, 0x10000, pages(1), 4096, VM_MAP_RWX) != -ESRCH;
    exit(bad);
  }
  int st = -1;
  wait(&st);
  check(st == 0, "another process's VM handle is refused (-ESRCH) by vm_destroy, vcpu_run, vm_map", st);
}

// A child builds a VM with 64 mapped pages and a vcpu that ran, then exits
// without vm_destroy: its exit frees all of it.
static void leak(void)
{
  long before = freepages();
  int pid = fork();
  if (pid == 0) {
    uint8 *mem = pages(64);
    int vm = vm_create(), vc;
    struct vm_regs regs;
    struct vm_exit e;
    memset(&e, 0, sizeof e);
    mem[0x1000] = 0xF4;   // hlt at 0x1000
    if (vm < 0 || vm_map(vm, 0, mem, 64 * 4096, VM_MAP_RWX) < 0 || (vc = vcpu_create(vm, VM_MODE_REAL)) < 0)
      exit(1);
    vcpu_getregs(vm, vc, &regs);
    regs.rip = 0x1000;
    vcpu_setregs(vm, vc, &regs);
    int r = vcpu_run_guest(vm, vc, &e);
    exit(r == 0 && e.reason == VM_EXIT_HLT ? 0 : 2);
  }
  int st = -1;
  wait(&st);
  check(st == 0, "child ran a guest to HLT", st);
  long after = freepages();
  check(after == before, "free pages back to the baseline after the child exited with its VM alive", after - before);
}

// A child whose guest spins with IF=0 forever is killed: vcpu_run must come
// back (host timer -> INTR exit), the child dies, its VM is freed.
static void kill_spinner(void)
{
  long before = freepages();
  int pid = fork();
  if (pid == 0) {
    uint8 *mem = pages(2);
    int vm = vm_create(), vc;
    struct vm_regs regs;
    struct vm_exit e;
    memset(&e, 0, sizeof e);
    mem[0x1000] = 0xFA, mem[0x1001] = 0xEB, mem[0x1002] = 0xFE;   // cli; jmp $
    if (vm < 0 || vm_map(vm, 0, mem, 2 * 4096, VM_MAP_RWX) < 0 || (vc = vcpu_create(vm, VM_MODE_REAL)) < 0)
      exit(1);
    vcpu_getregs(vm, vc, &regs);
    regs.rip = 0x1000;
    vcpu_setregs(vm, vc, &regs);
    while (vcpu_run(vm, vc, &e) == 0)
      ;
    exit(2);
  }
  sleep(20);
  check(kill(pid) == 0, "kill the VMM whose guest spins with IF=0", 0);
  int st = 0;
  int w = wait(&st);
  check(w == pid && st == -1, "it died (status -1)", st);
  long after = freepages();
  check(after == before, "free pages back to the baseline after the kill", after - before);
}

int main(void)
{
  uint8 *mem = pages(4);
  long base = freepages();
  int vm = vm_create();
  check(vm >= 0, "vm_create", vm);
  if (vm < 0)
    exit(1);
  bad_arguments(vm, mem);
  foreign(vm);
  long r = vm_destroy(vm);
  check(r == 0 && freepages() == base, "vm_destroy returns every page", freepages() - base);
  check(vm_destroy(vm) == -ESRCH, "a destroyed VM's handle is gone", 0);
  int n = 0, h;
  while ((h = vm_create()) >= 0 && n < 10)
    n++;
  check(n == VM_MAX_PER_PROC && h < 0, "a process gets at most VM_MAX_PER_PROC VMs", n);
  for (int i = 0; i < 32; i++)
    vm_destroy(i);
  leak();
  kill_spinner();
  printf("vmtest: %d failed\n", failed);
  exit(failed ? 1 : 0);
}
