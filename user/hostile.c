// hostile: runs hostile guests and checks that the host survives them
// (issue 7). Its own small VMM, so that each check controls the policy it
// tests; the real VMM is user/vmm. Subcommands (one line "hostile: NAME: ok"
// or "hostile: NAME: FAIL: why" each; exit status 0 iff all passed):
//
//   hostile uaf           guest memory freed by sbrk(-n) leaves the guest
//   hostile execvm        exec drops the caller's VMs with its memory
//   hostile guest NAME    runs NAME.guest, prints how it ended (policy below)
//   hostile probe [full]  guest probes guest-physical memory to 64 MiB (full: 4 GiB)
//   hostile cycles N      N create/map/run/destroy cycles: no page leaked
//   hostile kill          killing a process in vcpu_run frees its VMs
//   hostile smp           ncpu*4 VMs at once, moving between CPUs
//
// Policy of this VMM (and the documented one for sensitive MSRs, shared with
// user/vmm): every MSR the guest touches exits to user space (the MSRPM
// intercepts all of them, kern/svm/vmcb.c), except EFER, which the kernel
// emulates with SVME forced on and hidden (kern/svm/run.c). The VMM emulates
// no MSR, so it answers every RDMSR and WRMSR with #GP(0), as a CPU does for
// an MSR it does not have: the guest cannot change the host's MSRs at all.
// Reads of guest-physical memory the guest does not have (NPF outside RAM)
// ends the guest, except in `probe`, which emulates them as open bus.
#include "user.h"
#include "vm.h"
#include "guests/guest.h"
#include "hv.h"

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
  int r = vcpu_run(h.vm, h.vcpu, &h.e);
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

// ---- dispatch -------------------------------------------------------------

static const struct {
  const char *name;
  const char *(*fn)(void);
} checks[] = {
  {"uaf", uaf},
  {"execvm", execvm},
};

int main(int argc, char **argv)
{
  if (argc >= 2 && strcmp(argv[1], "execvm-child") == 0) {
    const char *why = execvm_child();
    if (why)
      printf("hostile: execvm: %s\n", why);
    return why ? 1 : 0;
  }
  for (int a = 1; a < argc; a++) {
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
