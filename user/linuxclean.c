// linuxclean: booting and killing Linux guests gives every page back.
//   linuxclean N VMM-ARGS...
// Runs `vmm VMM-ARGS` N times to its end, then once more and kills it after
// 3 s (mid-boot), and compares the free page count with the one before:
//   linuxclean: N boots and a kill: free pages B -> A
// Each boot's VMM status is printed (the grader judges it); exit status 0
// iff A == B.
#include "user.h"

#define MAXARGS 16

static int spawn(char **argv)
{
  int pid = fork();
  if (pid == 0) {
    exec("/vmm", argv);
    printf("linuxclean: exec vmm failed\n");
    exit(127);
  }
  return pid;
}

int main(int argc, char **argv)
{
  if (argc < 3 || argc - 1 > MAXARGS)
    return printf("usage: linuxclean N VMM-ARGS...\n"), 2;
  char *vargv[MAXARGS + 1];
  vargv[0] = "vmm";
  for (int i = 2; i < argc; i++)
    vargv[i - 1] = argv[i];
  vargv[argc - 1] = NULL;
  int n = atoi(argv[1]), status;
  long before = freepages();
  for (int i = 0; i < n; i++) {
    int pid = spawn(vargv);
    if (pid < 0 || wait(&status) != pid)
      return printf("linuxclean: boot %d: fork or wait failed\n", i + 1), 1;
    printf("linuxclean: boot %d: vmm exited with status %d\n", i + 1, status);
  }
  int pid = spawn(vargv);
  sleep(300);   // 3 s: the kernel is decompressing or booting
  int k = kill(pid);
  wait(&status);
  long after = freepages();
  printf("linuxclean: killed vmm mid-boot (kill %d, status %d)\n", k, status);
  printf("linuxclean: %d boots and a kill: free pages %ld -> %ld\n", n, before, after);
  return after == before ? 0 : 1;
}
