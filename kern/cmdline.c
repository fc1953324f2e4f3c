// The multiboot command line, e.g. "test=forktest cpus=2". The grader picks
// what a boot does through it.
#include "defs.h"
#include "../lib/string.h"

static char cmdline[CMDLINE_MAX];

void cmdline_init(const char *s) { strlcpy(cmdline, s ? s : "", sizeof cmdline); }

const char *cmdline_all(void) { return cmdline; }

// Copies the value of key=value into buf; returns 1 if the key is present.
int cmdline_get(const char *key, char *buf, int n)
{
  size_t klen = strlen(key);
  for (const char *p = cmdline; *p;) {
    while (*p == ' ')
      p++;
    const char *end = strchr(p, ' ');
    if (!end)
      end = p + strlen(p);
    if (strncmp(p, key, klen) == 0 && (p[klen] == '=' || p + klen == end)) {
      const char *v = p[klen] == '=' ? p + klen + 1 : end;
      int len = end - v < n - 1 ? end - v : n - 1;
      memcpy(buf, v, len);
      buf[len] = 0;
      return 1;
    }
    p = end;
  }
  return 0;
}
