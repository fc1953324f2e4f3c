// faulttest: every way a user program can fault ends that program alone,
// with status -1, and the parent goes on. Runs nullderef and kernderef and
// faults in forked children; prints "faulttest: ok" if each ended with -1.
#include "user.h"

static int failures;

// Runs fn in a child (or exec's argv when fn is NULL); expects status -1.
static void expect_killed(const char *what, void (*fn)(void), char **argv)
{
  int pid = fork();
  if (pid == 0) {
    if (fn)
      fn();
    else
      exec(argv[0], argv);
    exit(0);   // no fault: the test fails
  }
  int status = 0, r = wait(&status);
  int ok = r == pid && status == -1;
  printf("faulttest: %s: status %d%s\n", what, status, ok ? "" : " FAIL");
  failures += !ok;
}

static void write_text(void) { *(volatile char *)(uint64)write_text = 0; }
static void exec_data(void)
{
  static uint8 ret = 0xC3;   // "ret" in a no-execute data page
  ((void (*)(void))&ret)();
}
static void noncanonical(void) { *(volatile int *)0x8000000000000000UL = 1; }
static void privileged(void) { asm volatile("hlt"); }
static void undefined(void) { asm volatile("ud2"); }
static void divide(void)
{
  uint32 a = 1, d = 0, zero = 0;
  asm volatile("divl %2" : "+a"(a), "+d"(d) : "r"(zero));   // C would let gcc avoid the div
}
static int recurse(int n)
{
  volatile char big[1024];
  big[0] = n;
  if (n < 1000000)
    recurse(n + 1);
  return big[0];
}
static void stack_overflow(void) { recurse(0); }

int main(void)
{
  char *nd[] = {"/nullderef", NULL}, *kd[] = {"/kernderef", NULL}, *kp[] = {"/kernderef", "phys", NULL};
  expect_killed("nullderef", NULL, nd);
  expect_killed("kernderef", NULL, kd);
  expect_killed("kernderef phys", NULL, kp);
  expect_killed("write to text", write_text, NULL);
  expect_killed("execute data", exec_data, NULL);
  expect_killed("non-canonical address", noncanonical, NULL);
  expect_killed("hlt in ring 3", privileged, NULL);
  expect_killed("ud2", undefined, NULL);
  expect_killed("divide by zero", divide, NULL);
  expect_killed("stack overflow", stack_overflow, NULL);
  if (failures)
    return 1;
  printf("faulttest: ok\n");
  return 0;
}
