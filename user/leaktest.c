// leaktest: 100 fork/exit/wait cycles (children grow their heap and exec)
// must give back every page: freepages() before and after must match.
// Prints both counts and "leaktest: ok" only when they are equal.
#include "user.h"

#define ROUNDS 100

static void child(int i)
{
  char *p = (char *)sbrk(3 * 4096 + i);
  if ((long)p < 0)
    exit(2);
  memset(p, i, 3 * 4096 + i);
  if (i % 10 == 0) {
    char *argv[] = {"echo", "leaktest: exec in child", NULL};
    exec("/echo", argv);
    exit(3);
  }
  exit(0);
}

static int round_trip(int i)
{
  int pid = fork();
  if (pid == 0)
    child(i);
  int status = 0;
  if (pid < 0 || wait(&status) != pid || status != 0) {
    printf("leaktest: round %d failed (pid %d, status %d)\n", i, pid, status);
    return -1;
  }
  return 0;
}

int main(void)
{
  if (round_trip(1) < 0)   // warm up
    return 1;
  long before = freepages();
  for (int i = 0; i < ROUNDS; i++)
    if (round_trip(i) < 0)
      return 1;
  long after = freepages();
  printf("leaktest: free pages before %ld after %ld\n", before, after);
  if (before != after)
    return 1;
  printf("leaktest: ok\n");
  return 0;
}
