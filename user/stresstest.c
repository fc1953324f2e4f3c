// stresstest: NCHILD processes at once, preempted and moved between CPUs,
// each checking that its registers and memory survive: a pseudo-random
// sequence computed twice must agree, heap contents must stay as written,
// grandchildren must report their own statuses. Prints "stresstest: ok".
#include "user.h"

#define NCHILD 8
#define ROUNDS 300

// A little work that keeps values in registers across preemption.
static uint64 lcg_run(uint64 x, int n)
{
  for (int i = 0; i < n; i++)
    x = x * 6364136223846793005UL + 1442695040888963407UL;
  return x;
}

static int one_round(int id, int r)
{
  uint64 a = lcg_run(id * 1000 + r, 2000);
  if (r % 7 == 0)
    setcpu((id + r) % ncpu());
  if (r % 11 == 0)
    setcpu(-1);
  if (r % 5 == 0)
    yield();
  char *p = (char *)sbrk(8192);
  if ((long)p < 0)
    return 1;
  memset(p, id + r, 8192);
  if (r % 13 == 0) {
    int pid = fork(), st = -1;
    if (pid == 0)
      exit(id + r);
    if (pid < 0 || wait(&st) != pid || st != id + r)
      return 2;
  }
  for (int i = 0; i < 8192; i += 512)
    if (p[i] != (char)(id + r))
      return 3;
  sbrk(-8192);
  return lcg_run(id * 1000 + r, 2000) == a ? 0 : 4;
}

static void child(int id)
{
  for (int r = 0; r < ROUNDS; r++) {
    int e = one_round(id, r);
    if (e) {
      printf("stresstest: child %d round %d: error %d on cpu%d\n", id, r, e, getcpu());
      exit(e);
    }
  }
  exit(0);
}

int main(void)
{
  long before = freepages();
  for (int i = 0; i < NCHILD; i++)
    if (fork() == 0)
      child(i);
  int bad = 0;
  for (int i = 0; i < NCHILD; i++) {
    int st = -1;
    if (wait(&st) < 0 || st != 0)
      bad++;
  }
  long after = freepages();
  printf("stresstest: %d of %d children failed; free pages %ld -> %ld\n", bad, NCHILD, before, after);
  if (bad || before != after)
    return 1;
  printf("stresstest: ok\n");
  return 0;
}
