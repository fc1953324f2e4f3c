// The kernel's side of the UBSan runtime (handlers: lib/ubsan.c), for make
// SAN=1 and for kern/ubsan_test.c in every build. Each report is one line
//   ubsan: <kind> at <file>:<line>:<col>: <values>
// and then a panic (with its backtrace), unless "ubsan=report" is on the
// command line or a ktest chose UBSAN_REPORT: then the kernel counts the
// report and runs on.
#include "defs.h"
#include "ubsan.h"
#include "../lib/ubsan.h"
#include "../lib/string.h"

int ubsan_mode = UBSAN_PANIC;
static int reports;
static struct {
  const char *kind;
  uint32 line;
} recent[8];                       // the last reports, for ubsan_reported
static int mode_read;

int ubsan_count(void) { return reports; }

int ubsan_reported(int from, const char *kind, uint32 line)
{
  for (int i = from < reports - 8 ? reports - 8 : from; i < reports; i++)
    if (strcmp(recent[i % 8].kind, kind) == 0 && recent[i % 8].line == line)
      return 1;
  return 0;
}

// Prints the report line; panics unless reports are only counted.
void ubsan_report(const char *file, uint32 line, uint32 col, const char *kind, const char *what)
{
  if (!mode_read) {
    char m[16];
    mode_read = 1;
    if (cmdline_get("ubsan", m, sizeof m) && strcmp(m, "report") == 0)
      ubsan_mode = UBSAN_REPORT;
  }
  recent[reports % 8].kind = kind;
  recent[reports % 8].line = line;
  reports++;
  printf("ubsan: %s at %s:%u:%u: %s\n", kind, file, line, col, what);
  if (ubsan_mode == UBSAN_PANIC)
    panic("ubsan: undefined behaviour (boot with ubsan=report to run on)");
}

void ubsan_fatal(const char *why)
{
  panic("ubsan: cannot run on: %s", why);
}
