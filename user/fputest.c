// fputest: guests' x87/SSE state stays out of host processes (kern/svm/fpu.c).
// Runs `vmm -C 0 fpu fpu` (two guests on CPU 0, each checking its own
// registers) and meanwhile, on CPU 0 too, looks at the x87 state a host
// process sees (FNSAVE: control word, tag word, the eight registers) every
// time it gets the CPU: it must be the clean state, never a guest's. Host processes have no
// SSE (CR4.OSFXSR is off outside the switch), so x87 is what they can see.
// Prints "fputest: N checks, M saw guest state" and exits 0 iff M is 0 and
// the VMM's guests passed.
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
  int checks = 0, dirty = 0, status = -1;
  long t0 = uptime();
  while (uptime() - t0 < 200) {   // 2 s next to the guests (they take about 1 s)
    checks++;
    if (!x87_clean())
      dirty++;
    asm volatile("fninit");       // our own next look starts clean too
    yield();
  }
  wait(&status);
  printf("fputest: %d checks, %d saw guest state; vmm exited with status %d\n", checks, dirty, status);
  return dirty == 0 && status == 0 ? 0 : 1;
}
