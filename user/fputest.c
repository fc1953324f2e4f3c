// fputest: guests' x87/SSE state stays out of host processes (kern/svm/fpu.c).
// Runs `vmm -C 0 fpu fpu` (two guests on CPU 0, each checking its own
// registers) and meanwhile, on CPU 0 too, looks at the x87 state a host
// process sees (FNSAVE: control word, tag word, the eight registers) every
// time it gets the CPU: it must be the clean state, never a guest's. Host processes have no
// SSE (CR4.OSFXSR is on only while TS makes their first FPU instruction
// trap), so x87 is what they can see; now and then a child on CPU 0 runs an
// SSE instruction, which must end it with #UD. Prints "fputest: N checks, M
// saw guest state" and "fputest: SSE in a host process: T tries, U ran" and
// exits 0 iff M and U are 0 and the VMM's guests passed.
#include "user.h"

struct fnsave {
  uint16 fcw, r0, fsw, r1, ftw, r2;
  uint32 fip, fop_cs, fdp, fds;
  uint8 st[80];
};

// 1 if the x87 state on this CPU is FNINIT's (FCW 0x37F, every tag empty).
static int x87_clean(void)
{
  struct fnsave s;
  asm volatile("fnsave %0" : "=m"(s));
  asm volatile("frstor %0" ::"m"(s));
  return s.fcw == 0x037F && s.ftw == 0xFFFF;
}

// A child runs one SSE instruction: 1 if it ran (the child exits 0), 0 if
// the child was ended (#UD: its status is -1). If wait returns the VMM
// first, *vmm_status gets its status and *reaped is set.
static int sse_runs(int vmm, int *vmm_status, int *reaped)
{
  int pid = fork();
  if (pid == 0) {
    asm volatile("xorps %xmm0, %xmm0");   // #UD with CR4.OSFXSR=0
    exit(0);
  }
  int st = -1, w;
  while ((w = wait(&st)) >= 0 && w != pid)
    if (w == vmm)
      *vmm_status = st, *reaped = 1;
  return w == pid && st == 0;
}

int main(void)
{
  if (setcpu(0) < 0)
    return printf("fputest: cannot run on cpu 0\n"), 1;
  int pid = fork();
  if (pid == 0) {
    char *argv[] = {"vmm", "-C", "0", "fpu", "fpu", NULL};
    exec("/vmm", argv);
    printf("fputest: exec vmm failed\n");
    exit(127);
  }
  int checks = 0, dirty = 0, status = -1, waited = 0, sse_tries = 0, sse_ran = 0;
  long t0 = uptime();
  while (uptime() - t0 < 200) {   // 2 s next to the guests (they take about 1 s)
    checks++;
    if (!x87_clean())
      dirty++;
    asm volatile("fninit");       // our own next look starts clean too
    if (checks % 40 == 20 && sse_tries < 4) {
      sse_tries++;
      sse_ran += sse_runs(pid, &status, &waited);
    }
    yield();
  }
  if (!waited)
    wait(&status);
  printf("fputest: %d checks, %d saw guest state; vmm exited with status %d\n", checks, dirty, status);
  printf("fputest: SSE in a host process: %d tries, %d ran\n", sse_tries, sse_ran);
  return dirty == 0 && status == 0 && sse_tries > 0 && sse_ran == 0 ? 0 : 1;
}
