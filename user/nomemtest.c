// nomemtest: every page allocation of the VM system calls fails in turn.
// Fault injection (kcov op KCOV_FAIL_NTH, kern/kalloc.c) makes the n'th
// allocation of the next call fail; n walks 1, 2, ... until the call
// succeeds, so each allocation the call makes is the one that fails once.
// Each failure must be -ENOMEM and leave nothing behind:
//   vm_create, vcpu_create: the free-page count is what it was before;
//   vm_map: the same range maps when tried again (a page the failed call
//     mapped and did not take back would be -EEXIST), and once the VM is
//     destroyed the count is what it was before the VM (the table pages made
//     for the pages before the failure belong to the VM until then);
//   sbrk shrinking pages a VM maps: the kernel's batch page for the VM's
//     unmapping cannot be had; it must still unmap them, one at a time.
// Prints "nomemtest: CALL: N failures, each -ENOMEM, nothing left" per call
// or "nomemtest: FAIL: ..." lines; "nomemtest: ok" when all held.
#include "user.h"
#include "vm.h"
#include "kcov.h"

#define MAXN 64          // more allocations than any of these calls makes

static int failed;
static int vm;           // the VM a call works on
static uint8 *mem;       // 3 pages of guest memory

static void fail(const char *call, int n, const char *what, long got)
{
  printf("nomemtest: FAIL: %s with allocation %d failing: %s (got %ld)\n", call, n, what, got);
  failed++;
}

static void inject(long n) { kcov(KCOV_FAIL_NTH, 0, n); }

// A range across the 1 GiB boundary: one page under it, two above, so the
// call needs the PDPT, PD and PT of the first and a new PD and PT for the
// others, and a failure after the first page must unmap it again.
#define MAP_GPA (0x40000000UL - 4096)
#define MAP_LEN (3 * 4096UL)

static long do_vm_create(void) { return vm_create(); }
static long do_vcpu_create(void) { return vcpu_create(vm, VM_MODE_PROT32); }
static long do_vm_map(void) { return vm_map(vm, MAP_GPA, mem, MAP_LEN, VM_MAP_RWX); }

// walk: calls `call` with allocation n = 1, 2, ... failing until it succeeds.
// fresh (may be NULL) makes the state each try starts from; settle checks
// what a failure left. Returns the call's successful result.
static long walk(const char *name, long (*call)(void), void (*fresh)(void),
                 void (*settle)(const char *, int, long))
{
  int failed0 = failed;
  for (int n = 1; n <= MAXN; n++) {
    if (fresh)
      fresh();
    long before = freepages();
    inject(n);
    long r = call();
    inject(0);
    if (r >= 0) {
      if (n == 1)
        fail(name, n, "the call allocated nothing: the injection never hit", r);
      else if (failed == failed0)
        printf("nomemtest: %s: %d failures, each -ENOMEM, nothing left\n", name, n - 1);
      return r;
    }
    if (r != -ENOMEM)
      fail(name, n, "not -ENOMEM", r);
    if (settle)
      settle(name, n, before);
    else if (freepages() != before)
      fail(name, n, "free pages changed by", freepages() - before);
  }
  fail(name, MAXN, "the call never succeeded", 0);
  return -1;
}

static long vm_base;   // free pages before the VM of a vm_map try

static void fresh_vm(void)
{
  vm_base = freepages();
  vm = vm_create();
  if (vm < 0)
    fail("vm_map", 0, "vm_create", vm);
}

static void map_settle(const char *name, int n, long before)
{
  long r = do_vm_map();
  if (r != 0)
    fail(name, n, "the range does not map again: a page was left mapped", r);
  vm_destroy(vm);
  if (freepages() != vm_base)
    fail(name, n, "free pages after vm_destroy changed by", freepages() - vm_base);
}

int main(void)
{
  long cur = sbrk(0), pad = (4096 - cur % 4096) % 4096;
  if (sbrk(pad + MAP_LEN + 4096) < 0)
    return printf("nomemtest: FAIL: no memory\n"), 1;
  mem = (uint8 *)(cur + pad);
  memset(mem, 0x5a, MAP_LEN + 4096);   // fault every page in now, outside the walks
  long start = freepages();

  vm = walk("vm_create", do_vm_create, NULL, NULL);
  if (vm >= 0) {
    walk("vcpu_create", do_vcpu_create, NULL, NULL);
    vm_destroy(vm);
  }
  if (walk("vm_map", do_vm_map, fresh_vm, map_settle) >= 0)
    vm_destroy(vm);

  // sbrk shrinking the last page while a VM maps it: its one allocation fails.
  vm = vm_create();
  long r = vm_map(vm, 0x1000, mem + MAP_LEN, 4096, VM_MAP_R);
  inject(1);
  long s = sbrk(-4096L);
  inject(0);
  if (vm < 0 || r != 0 || s < 0)
    fail("sbrk", 1, "vm_create/vm_map/sbrk", vm < 0 ? vm : r != 0 ? r : s);
  else if (vm_map(vm, 0x1000, mem, 4096, VM_MAP_R) != 0)
    fail("sbrk", 1, "the shrunk page is still mapped at gpa 0x1000", -EEXIST);
  else
    printf("nomemtest: sbrk: the VM's unmapping without its batch page, done one page at a time\n");
  vm_destroy(vm);

  if (freepages() != start + 1)   // the heap page sbrk gave back is free again
    fail("all", 0, "free pages at the end, against the start plus the page sbrk gave back", freepages() - start);
  printf(failed ? "nomemtest: %d failed\n" : "nomemtest: ok\n", failed);
  return failed != 0;
}
