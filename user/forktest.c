// forktest: fork/exit/wait, checked. Prints "forktest: ok" only if
//  - N children exiting with distinct statuses are each reaped exactly
//    once, with their own pid and status (negative ones included);
//  - wait without children says -ECHILD;
//  - forking until the process table is full fails cleanly, and every
//    child made on the way is reaped;
//  - a child's writes do not show in the parent's memory.
#include "user.h"

#define N 40

static int failures;

static void check(int ok, const char *what, long v)
{
  if (!ok) {
    printf("forktest: FAIL: %s (%ld)\n", what, v);
    failures++;
  }
}

static void statuses(void)
{
  int pids[N], seen[N] = {0};
  for (int i = 0; i < N; i++) {
    pids[i] = fork();
    if (pids[i] == 0)
      exit(i % 2 ? -i : i * 3);
    check(pids[i] > 0, "fork", pids[i]);
  }
  for (int k = 0; k < N; k++) {
    int status, pid = wait(&status), i = 0;
    while (i < N && pids[i] != pid)
      i++;
    check(i < N, "wait returns one of my children", pid);
    if (i == N)
      continue;
    check(!seen[i], "each child is reaped once", pid);
    seen[i] = 1;
    check(status == (i % 2 ? -i : i * 3), "child's exit status", status);
  }
  check(wait(NULL) == -ECHILD, "wait without children is -ECHILD", 0);
}

static void fill_table(void)
{
  int n = 0, r;
  while ((r = fork()) > 0 && n < 1000)
    n++;
  if (r == 0)
    exit(7);
  check(r == -EAGAIN || r == -ENOMEM, "fork fails cleanly when full", r);
  check(n > 10 && n < 1000, "children created before the table filled", n);
  for (int i = 0; i < n; i++) {
    int status, pid = wait(&status);
    check(pid > 0 && status == 7, "reap a table-filling child", pid);
  }
  check(wait(NULL) == -ECHILD, "all of them reaped", 0);
  printf("forktest: %d forks until the table was full\n", n);
}

static void private_memory(void)
{
  static volatile int x = 1;
  int pid = fork();
  if (pid == 0) {
    x = 2;
    exit(x);
  }
  int status;
  check(wait(&status) == pid && status == 2, "child saw its own write", status);
  check(x == 1, "parent's copy unchanged", x);
}

int main(void)
{
  statuses();
  fill_table();
  private_memory();
  if (failures)
    return 1;
  printf("forktest: ok\n");
  return 0;
}
