// badptr: hands the kernel bad pointers and lengths through every system
// call that takes one. Each call prints "badptr: <call>: <result>"; the
// program prints "badptr: ok" only if every one of them returned an error
// (and, of course, if the kernel survived them all).
#include "user.h"

static int failures, calls;

static void expect_err(const char *what, long r)
{
  calls++;
  printf("badptr: %s: %s\n", what, r < 0 ? errstr(r) : "succeeded (WRONG)");
  if (r >= 0)
    failures++;
}

static long raw_syscall(long num, long a0)
{
  long r;
  asm volatile("syscall" : "=a"(r) : "a"(num), "D"(a0) : "rcx", "r11", "memory");
  return r;
}

// A page of heap whose last byte is followed by an unmapped page, so a
// string there without its NUL runs off the end of user memory.
static char *edge_string(void)
{
  long brk = sbrk(0);
  long pad = (4096 - brk % 4096) % 4096;
  char *p = (char *)sbrk(pad + 4096);
  if ((long)p < 0)
    return NULL;
  char *end = p + pad + 4096;
  memset(end - 16, 'a', 16);
  return end - 16;
}

static const struct {
  const char *name;
  uint64 addr;
} bad[] = {
  {"NULL", 0},
  {"unmapped", 0x10000000UL},
  {"kernel image", 0xFFFFFFFF80100000UL},
  {"physical map", 0xFFFF800000000000UL},
  {"non-canonical", 0x0000800000000000UL},
  {"non-canonical high", 0x8000000000000000UL},
  {"last byte", 0xFFFFFFFFFFFFFFFFUL},
};

static void per_pointer(const char *name, char *p)
{
  char what[96];
  char *argv_bad[] = {"echo", p, NULL};
  int fd = open("README");
#define TRY(call, expr)                                   \
  do {                                                    \
    snprintf(what, sizeof what, "%s(%s)", call, name);    \
    expect_err(what, expr);                               \
  } while (0)
  TRY("read console", read(0, p, 100));
  TRY("read file", read(fd, p, 100));
  TRY("write", write(1, p, 100));
  TRY("open", open(p));
  TRY("exec path", exec(p, NULL));
  TRY("exec argv", exec("/echo", (char **)p));
  if (p)   // {"echo", NULL} would be a valid argv
    TRY("exec argv[1]", exec("/echo", argv_bad));
  TRY("cmdline", cmdline(p, 100));
  TRY("readdir", readdir(0, p, 100));
  close(fd);
}

static void wait_bad(void)
{
  char what[64];
  for (unsigned i = 1; i < ARRAY_SIZE(bad); i++) {
    int pid = fork();
    if (pid == 0)
      exit(0);
    snprintf(what, sizeof what, "wait(%s)", bad[i].name);
    expect_err(what, wait((int *)bad[i].addr));
    wait(NULL);   // the child is still there to reap
  }
}

static void lengths(void)
{
  static char buf[64];
  int fd = open("README");
  expect_err("write(len 1<<62)", write(1, buf, 1L << 62));
  expect_err("write(len -1)", write(1, buf, -1));
  expect_err("read(len 1<<62)", read(fd, buf, 1L << 62));
  expect_err("read(len past the page)", read(fd, buf, 1 << 30));
  expect_err("read(text page)", read(fd, (char *)(uint64)lengths, 10));
  expect_err("write(bad fd 99)", write(99, buf, 1));
  expect_err("write(fd -1)", write(-1, buf, 1));
  expect_err("write(initrd file)", write(fd, buf, 1));
  expect_err("cmdline(n 0)", cmdline(buf, 0));
  expect_err("sbrk(1<<60)", sbrk(1L << 60));
  expect_err("sbrk(-(1<<40))", sbrk(-(1L << 40)));
  expect_err("setcpu(1000)", setcpu(1000));
  expect_err("setcpu(-2)", setcpu(-2));
  expect_err("kill(-5)", kill(-5));
  expect_err("kill(1)", kill(1));
  expect_err("halt(0) from non-init", halt(0));
  expect_err("sleep(-1)", sleep(-1));
  expect_err("syscall 999", raw_syscall(999, 0));
  expect_err("syscall -1", raw_syscall(-1, 0));
  close(fd);
}

int main(void)
{
  for (unsigned i = 0; i < ARRAY_SIZE(bad); i++)
    per_pointer(bad[i].name, (char *)bad[i].addr);
  char *edge = edge_string();
  per_pointer("unterminated at the end of memory", edge);
  wait_bad();
  lengths();
  printf("badptr: %d calls, %d did not fail\n", calls, failures);
  if (failures)
    return 1;
  printf("badptr: ok\n");
  return 0;
}
