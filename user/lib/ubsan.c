// The user side of the UBSan runtime (handlers: lib/ubsan.c), linked into
// every program; only make SAN=1 compiles programs that call it. A report
// prints "ubsan: <kind> at <file>:<line>:<col>: <values>" (on fd 2: a fuzzer
// may have closed fd 1) and ends the
// process with status 99, so that a grader sees both.
#include "user.h"
#include "../../lib/ubsan.h"

#define UBSAN_EXIT 99

void ubsan_report(const char *file, uint32 line, uint32 col, const char *kind, const char *what)
{
  fprintf(2, "ubsan: %s at %s:%u:%u: %s\n", kind, file, line, col, what);
  exit(UBSAN_EXIT);
}

void ubsan_fatal(const char *why)
{
  fprintf(2, "ubsan: cannot run on: %s\n", why);
  exit(UBSAN_EXIT);
}
