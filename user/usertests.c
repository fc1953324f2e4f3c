// usertests: smoke tests of the process system calls. "usertests" runs
// all; "usertests NAME..." runs some. Prints "usertests: NAME: ok" per test
// and "usertests: ok" when all passed.
#include "user.h"

static int failures;

#define CHECK(cond, ...)                         \
  do {                                           \
    if (!(cond)) {                               \
      printf("usertests: FAIL: " __VA_ARGS__);   \
      printf("\n");                              \
      failures++;                                \
    }                                            \
  } while (0)

// Runs fn in a child; returns its exit status.
static int in_child(void (*fn)(void))
{
  int pid = fork(), status = -1000;
  if (pid == 0) {
    fn();
    exit(0);
  }
  if (pid < 0 || wait(&status) != pid)
    return -1000;
  return status;
}

static char *heap_end;
static void touch_freed(void) { *(volatile char *)(heap_end - 1) = 1; }

static void t_sbrk(void)
{
  char *a = (char *)sbrk(0);
  char *p = (char *)sbrk(5 * 4096);
  CHECK(p == a, "sbrk returns the old break %p %p", (void *)p, (void *)a);
  int nonzero = 0;
  for (int i = 0; i < 5 * 4096; i++)
    nonzero += p[i] != 0;
  CHECK(nonzero == 0, "new heap is zeroed (%d bytes are not)", nonzero);
  memset(p, 0x5a, 5 * 4096);
  CHECK((char *)sbrk(0) == a + 5 * 4096, "break moved");
  CHECK(sbrk(-5 * 4096) == (long)(a + 5 * 4096), "shrink returns the old break");
  heap_end = a + 5 * 4096;
  CHECK(in_child(touch_freed) == -1, "touching freed heap kills");
  p = (char *)sbrk(4096);
  CHECK(p == a && p[100] == 0, "regrown heap is zeroed again");
  sbrk(-4096);
  char *m = malloc(100000);
  CHECK(m != NULL, "malloc 100000");
  memset(m, 1, 100000);
  free(m);
  CHECK(malloc(1L << 45) == NULL, "huge malloc fails");
}

static void t_exec(void)
{
  int pid = fork(), status = -1;
  if (pid == 0) {
    char *argv[] = {"usertests", "argcheck", "hello", "world with spaces", NULL};
    exec("/usertests", argv);
    exit(99);
  }
  CHECK(wait(&status) == pid && status == 0, "exec with arguments: status %d", status);
  char *argv[] = {"x", NULL};
  CHECK(exec("/nonexistent", argv) == -ENOENT, "exec of a missing file");
  CHECK(exec("/README", argv) == -ENOEXEC, "exec of a text file");
  char *many[20];
  for (int i = 0; i < 19; i++)
    many[i] = "arg";
  many[19] = NULL;
  CHECK(exec("/echo", many) == -E2BIG, "exec with 19 arguments: -E2BIG");
  static char big[5000];
  memset(big, 'x', sizeof big - 1);
  char *huge[] = {"echo", big, NULL};
  CHECK(exec("/echo", huge) == -E2BIG, "exec with a 5000-byte argument: -E2BIG");
}

// usertests argcheck hello "world with spaces"
static int argcheck(int argc, char **argv)
{
  int ok = argc == 4 && strcmp(argv[0], "usertests") == 0 && strcmp(argv[2], "hello") == 0 &&
           strcmp(argv[3], "world with spaces") == 0 && argv[4] == NULL && ((uint64)argv & 7) == 0;
  return ok ? 0 : 1;
}

static void t_sleep(void)
{
  long t0 = uptime();
  CHECK(sleep(10) == 0, "sleep(10)");
  long t1 = uptime();
  CHECK(t1 - t0 >= 10 && t1 - t0 < 1000, "slept %ld ticks for 10", t1 - t0);
  CHECK(sleep(0) == 0, "sleep(0)");
}

static void t_setcpu(void)
{
  int n = ncpu();
  CHECK(n >= 1, "ncpu %d", n);
  for (int round = 0; round < 2; round++) {
    for (int c = 0; c < n; c++) {
      CHECK(setcpu(c) == 0, "setcpu(%d)", c);
      for (int k = 0; k < 20; k++) {
        int now = getcpu();
        CHECK(now == c, "pinned to cpu%d but running on cpu%d", c, now);
        if (k % 5 == 0)
          yield();
        if (now != c)
          break;
      }
    }
  }
  CHECK(setcpu(n) == -EINVAL, "setcpu(ncpu) fails");
  CHECK(setcpu(-1) == 0, "setcpu(-1)");
  printf("usertests: setcpu visited %d cpus\n", n);
}

static void spin(void)
{
  for (;;)
    ;
}

static void t_kill(void)
{
  int pid = fork(), status = 0;
  if (pid == 0)
    spin();
  sleep(5);
  CHECK(kill(pid) == 0, "kill a spinning child");
  CHECK(wait(&status) == pid && status == -1, "killed child's status %d", status);
  CHECK(kill(pid) == -ESRCH, "kill a reaped pid");
  pid = fork();
  if (pid == 0) {
    sleep(100000);
    exit(5);
  }
  sleep(2);
  CHECK(kill(pid) == 0 && wait(&status) == pid && status == -1, "kill a sleeping child: %d", status);
}

static void t_files(void)
{
  int fd = open("/README");
  CHECK(fd >= 3, "open README: %d", fd);
  long size = fsize(fd);
  char buf[512];
  long n = read(fd, buf, sizeof buf);
  CHECK(n == size && n > 0, "read the whole file: %ld of %ld", n, size);
  CHECK(read(fd, buf, sizeof buf) == 0, "read at the end returns 0");
  CHECK(close(fd) == 0 && read(fd, buf, 1) == -EBADF, "read after close");
  CHECK(open("/nonexistent") == -ENOENT, "open a missing file");
  char name[64];
  int found = 0;
  for (int i = 0; readdir(i, name, sizeof name) >= 0; i++)
    found += strcmp(name, "usertests") == 0;
  CHECK(found == 1, "readdir lists usertests once");
  int fds[20], k = 0;
  while (k < 20 && (fds[k] = open("README")) >= 0)
    k++;
  CHECK(k < 20 && fds[k] == -EMFILE, "running out of fds: -EMFILE");
  while (k-- > 0)
    close(fds[k]);
}

static void t_getpid(void)
{
  int me = getpid(), pid = fork(), status = -1;
  if (pid == 0)
    exit(getpid() == me ? 1 : 0);
  CHECK(pid > 0 && pid != me, "child pid %d differs from %d", pid, me);
  CHECK(wait(&status) == pid && status == 0, "child sees its own pid");
}

static const struct {
  const char *name;
  void (*fn)(void);
} tests[] = {
  {"sbrk", t_sbrk}, {"exec", t_exec},     {"sleep", t_sleep}, {"setcpu", t_setcpu},
  {"kill", t_kill}, {"files", t_files}, {"getpid", t_getpid},
};

int main(int argc, char **argv)
{
  if (argc > 1 && strcmp(argv[1], "argcheck") == 0)
    return argcheck(argc, argv);
  for (unsigned i = 0; i < ARRAY_SIZE(tests); i++) {
    int selected = argc == 1;
    for (int k = 1; k < argc; k++)
      selected |= strcmp(argv[k], tests[i].name) == 0;
    if (!selected)
      continue;
    int before = failures;
    tests[i].fn();
    printf("usertests: %s: %s\n", tests[i].name, failures == before ? "ok" : "FAILED");
  }
  if (failures)
    return 1;
  printf("usertests: ok\n");
  return 0;
}
