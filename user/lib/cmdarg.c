// Numbers from the kernel command line (see cmdarg.h).
#include "user.h"
#include "cmdarg.h"

long cmdline_num(const char *key, long dflt)
{
  static char line[512];
  long n = cmdline(line, sizeof line - 1), klen = strlen(key);
  line[n > 0 ? n : 0] = 0;
  for (char *p = line; *p; p++)
    if ((p == line || p[-1] == ' ') && strncmp(p, key, klen) == 0 && p[klen] == '=')
      return atoi(p + klen + 1);
  return dflt;
}
