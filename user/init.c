// init: the first process. With "test=NAME [args]" on the kernel command
// line it runs /NAME once and powers off with code 0 iff it exited with
// status 0. Otherwise it runs "vmm hello" when /vmm is in the initrd (the
// `make qemu` demo) and then the shell, restarting it whenever it exits.
// It also reaps orphans, which the kernel hands to it.
#include "user.h"

#define MAXARGS 16

// Starts path with argv; returns the child's pid or a negative error.
static int spawn(const char *path, char **argv)
{
  int pid = fork();
  if (pid == 0) {
    int r = exec(path, argv);
    printf("init: exec %s: %s\n", path, errstr(r));
    exit(127);
  }
  return pid;
}

// Waits until pid exits, reaping any orphan on the way; returns its status.
static int waitfor(int pid)
{
  for (;;) {
    int status, r = wait(&status);
    if (r == pid)
      return status;
    if (r < 0)
      return -1000 + r;   // cannot happen while pid lives
  }
}

// Splits the command line's "test=NAME arg ..." into argv (words after
// NAME without '=' are its arguments). Returns argc, 0 without test=.
static int test_args(char *line, char **argv)
{
  int argc = 0, in_test = 0;
  for (char *w = strtok_ws(&line); w; w = strtok_ws(&line)) {
    if (strncmp(w, "test=", 5) == 0) {
      argv[0] = w + 5;
      argc = 1;
      in_test = 1;
    } else if (in_test && !strchr(w, '=') && argc < MAXARGS - 1) {
      argv[argc++] = w;
    } else if (in_test && !strchr(w, '=')) {
      printf("init: test %s: more than %d words, \"%s\" dropped\n", argv[0], MAXARGS - 1, w);
    } else {
      in_test = 0;
    }
  }
  argv[argc] = NULL;
  return argc;
}

static void run_test(char **argv)
{
  char path[80];
  snprintf(path, sizeof path, "/%s", argv[0]);
  printf("init: running test %s\n", argv[0]);
  int pid = spawn(path, argv), status = pid < 0 ? pid : waitfor(pid);
  printf("init: test %s exited with status %d\n", argv[0], status);
  halt(status == 0 ? 0 : 1);
}

static void demo(void)
{
  int fd = open("/vmm");
  if (fd < 0)
    return;
  close(fd);
  char *argv[] = {"vmm", "hello", NULL};
  int pid = spawn("/vmm", argv);
  if (pid > 0)
    waitfor(pid);
}

int main(void)
{
  static char line[512];
  char *argv[MAXARGS];
  cmdline(line, sizeof line);
  if (test_args(line, argv) > 0)
    run_test(argv);
  demo();
  for (;;) {
    printf("init: starting sh\n");
    char *shargv[] = {"sh", NULL};
    int pid = spawn("/sh", shargv);
    if (pid < 0) {
      printf("init: fork: %s\n", errstr(pid));
      sleep(100);
      continue;
    }
    waitfor(pid);
  }
}
