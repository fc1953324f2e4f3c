// Small helpers for user programs: line input, words, numbers.
#include "user.h"

int getline(int fd, char *buf, int n)
{
  int len = 0;
  for (;;) {
    char c;
    if (read(fd, &c, 1) != 1) {
      if (len == 0)
        return -1;
      break;
    }
    if (c == '\n')
      break;
    if (len < n - 1)
      buf[len++] = c;
  }
  buf[len] = 0;
  return len;
}

int atoi(const char *s) { return (int)strtol(s, NULL, 10); }

char *strtok_ws(char **s)
{
  char *p = *s;
  while (*p == ' ' || *p == '\t')
    p++;
  if (!*p)
    return NULL;
  char *w = p;
  while (*p && *p != ' ' && *p != '\t')
    p++;
  if (*p)
    *p++ = 0;
  *s = p;
  return w;
}
