// cat: copies initrd files (or the console, without arguments) to stdout.
#include "user.h"

static int copy(int fd)
{
  char buf[512];
  long n;
  while ((n = read(fd, buf, sizeof buf)) > 0)
    if (write(1, buf, n) != n)
      return -1;
  return n < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
  if (argc < 2)
    return copy(0) < 0;
  for (int i = 1; i < argc; i++) {
    int fd = open(argv[i]);
    if (fd < 0) {
      printf("cat: %s: %s\n", argv[i], errstr(fd));
      return 1;
    }
    if (copy(fd) < 0) {
      printf("cat: %s: read error\n", argv[i]);
      return 1;
    }
    close(fd);
  }
  return 0;
}
