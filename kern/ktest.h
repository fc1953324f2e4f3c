// In-kernel tests, selected with "ktest=NAME" on the kernel command line.
//
//   KTEST(kalloc_basic) { KCHECK(kalloc() != NULL, "kalloc returns a page"); }
//
// Each KCHECK prints "ok: <what>" or "FAIL: <what> (file:line)"; after the
// test the kernel prints "ktest NAME: N checks, M failed" and powers off with
// code 0 when nothing failed. Graders match the individual "ok:" lines, so
// put the measured values into the message.
#pragma once
#include "types.h"

struct ktest {
  const char *name;
  void (*fn)(void);
};

#define KTEST(tname)                                                              \
  static void ktest_##tname(void);                                                \
  static const struct ktest ktest_entry_##tname                                   \
      __attribute__((used, section(".ktests"), aligned(8))) = {#tname, ktest_##tname}; \
  static void ktest_##tname(void)

#define KCHECK(cond, ...) kcheck((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)
void kcheck(int ok, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int ktest_failures(void);
// Out-of-memory tests: ktest_hog takes free pages until only `leave` are left
// and returns them as a list (threaded through each page's first word);
// ktest_unhog gives such a list back.
void *ktest_hog(uint64 leave);
void ktest_unhog(void *list);
// Seeded random tests: ktest_num reads KEY=N (decimal) from the command line,
// else dflt; ktest_seed starts the shared xorshift generator, so one seed
// replays the same draws; ktest_rnd draws 64 bits, ktest_below(n) 0..n-1.
uint64 ktest_num(const char *key, uint64 dflt);
void ktest_seed(uint64 seed);
uint64 ktest_rnd(void);
uint64 ktest_below(uint64 n);
