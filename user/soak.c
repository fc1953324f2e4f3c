// soak: everything at once, to shake out races between CPUs. Starts, all
// concurrently:
//   - NWORK workers that compute, migrate (setcpu/yield), grow and shrink
//     their heap and fork, checking that their registers and memory survive
//     (the same idea as stresstest, without its global page count);
//   - VMMs (exec /vmm): two VMs on different CPUs, a vcpu moved between
//     CPUs mid-run, an IF=0 spinner stopped by its time budget, a triple
//     fault; each must end as expected (vmm's exit status);
//   - usertests.
// Repeats that `rounds` times (argument, default 2), then checks that every
// child exited 0 and that no page leaked. Prints "soak: ok" last.
#include "user.h"

#define NWORK 4
#define WORK_ROUNDS 120

static uint64 lcg_run(uint64 x, int n)
{
  for (int i = 0; i < n; i++)
    x = x * 6364136223846793005UL + 1442695040888963407UL;
  return x;
}

// One round of a worker: 0, or which check failed.
static int work_round(int id, int r)
{
  uint64 a = lcg_run(id * 7919 + r, 1500);
  if (r % 5 == 0)
    setcpu((id + r) % ncpu());
  if (r % 9 == 0)
    setcpu(-1);
  if (r % 3 == 0)
    yield();
  char *p = (char *)sbrk(3 * 4096);
  if ((long)p < 0)
    return 1;
  memset(p, id * 16 + r, 3 * 4096);
  if (r % 10 == 0) {
    int st = -1, pid = fork();
    if (pid == 0)
      exit(r);
    if (pid < 0 || wait(&st) != pid || st != r)
      return 2;
  }
  for (int i = 0; i < 3 * 4096; i += 256)
    if (p[i] != (char)(id * 16 + r))
      return 3;
  sbrk(-3 * 4096);
  return lcg_run(id * 7919 + r, 1500) == a ? 0 : 4;
}

static void worker(int id)
{
  for (int r = 0; r < WORK_ROUNDS; r++) {
    int e = work_round(id, r);
    if (e) {
      printf("soak: worker %d round %d: error %d on cpu%d\n", id, r, e, getcpu());
      exit(e);
    }
  }
  exit(0);
}

static char *vmm_runs[][8] = {
  {"vmm", "-n", "5000", "-c", "0", "count", "count", NULL},
  {"vmm", "-n", "5000", "-m", "migrate", NULL},
  {"vmm", "-t", "200", "-e", "budget", "spin", NULL},
  {"vmm", "-n", "5000", "-e", "shutdown", "triple", NULL},
};
#define NVMM (int)(sizeof vmm_runs / sizeof vmm_runs[0])

// The guest a VMM run is about: its last argument.
static const char *vmm_guest(int i)
{
  int k = 0;
  while (vmm_runs[i][k + 1])
    k++;
  return vmm_runs[i][k];
}

// Starts argv[0] (an initrd program) in a child; its pid.
static int spawn(char **argv)
{
  int pid = fork();
  if (pid == 0) {
    char path[32];
    snprintf(path, sizeof path, "/%s", argv[0]);
    exec(path, argv);
    printf("soak: cannot exec %s\n", path);
    exit(99);
  }
  return pid;
}

// One round: everything started at once, then reaped. Failed children.
static int soak_round(int round)
{
  int pids[NWORK + NVMM + 1], n = 0, bad = 0;
  for (int i = 0; i < NWORK; i++) {
    int pid = fork();
    if (pid == 0)
      worker(i);
    pids[n++] = pid;
  }
  for (int i = 0; i < NVMM; i++)
    pids[n++] = spawn(vmm_runs[i]);
  char *ut[] = {"usertests", NULL};
  pids[n++] = spawn(ut);
  for (int i = 0; i < n; i++) {
    if (pids[i] < 0) {
      printf("soak: round %d: fork failed: %s\n", round, errstr(pids[i]));
      bad++;
    }
  }
  for (int k = 0; k < n; k++) {
    int st = -1, pid = wait(&st);
    if (pid < 0)
      break;
    if (st != 0) {
      int i = 0;
      while (i < n && pids[i] != pid)
        i++;
      const char *what = i < NWORK ? "worker" : i < NWORK + NVMM ? vmm_guest(i - NWORK) : "usertests";
      printf("soak: round %d: child %d (%s) exited with status %d\n", round, pid, what, st);
      bad++;
    }
  }
  return bad;
}

int main(int argc, char **argv)
{
  int rounds = argc > 1 ? atoi(argv[1]) : 2, bad = 0;
  long before = freepages();
  for (int r = 0; r < rounds; r++)
    bad += soak_round(r);
  long after = freepages();
  printf("soak: %d rounds on %d cpus, %d children failed; free pages %ld -> %ld\n", rounds, ncpu(), bad,
         before, after);
  if (bad || before != after)
    return 1;
  printf("soak: ok\n");
  return 0;
}
