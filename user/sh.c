// sh: reads a command line, runs /NAME with the words as arguments and
// waits for it. Built in: exit [status]. Programs: echo, ls, cat, and
// anything else in the initrd.
#include "user.h"

#define MAXARGS 16

static int parse(char *line, char **argv)
{
  int argc = 0;
  for (char *w = strtok_ws(&line); w && argc < MAXARGS - 1; w = strtok_ws(&line))
    argv[argc++] = w;
  argv[argc] = NULL;
  return argc;
}

static void run(char **argv)
{
  char path[80];
  snprintf(path, sizeof path, "/%s", argv[0]);
  int pid = fork();
  if (pid < 0) {
    printf("sh: fork: %s\n", errstr(pid));
    return;
  }
  if (pid == 0) {
    int r = exec(path, argv);
    printf("sh: %s: %s\n", argv[0], r == -ENOENT ? "not found" : errstr(r));
    exit(127);
  }
  int status;
  while (wait(&status) != pid)
    ;
  if (status != 0)
    printf("sh: %s: exit status %d\n", argv[0], status);
}

int main(void)
{
  static char line[256];
  char *argv[MAXARGS];
  for (;;) {
    printf("$ ");
    if (getline(0, line, sizeof line) < 0)
      return 0;
    if (parse(line, argv) == 0)
      continue;
    if (strcmp(argv[0], "exit") == 0)
      return argv[1] ? atoi(argv[1]) : 0;
    run(argv);
  }
}
