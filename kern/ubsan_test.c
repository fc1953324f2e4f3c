// ktests of the UBSan runtime (kern/ubsan.c). This file is always compiled
// with -fsanitize=undefined (Makefile), so they run in every build:
//   ktest=ubsan        each kind of undefined behaviour is reported once, at
//                      the line that did it, and the kernel runs on
//   ktest=ubsan_panic  the default mode: the first report panics
#include "defs.h"
#include "ktest.h"
#include "ubsan.h"
#include "../lib/string.h"

// volatile: the compiler must not see the values and fold the checks away.
static volatile int v_shift = 40, v_big = 0x7FFFFFFF, v_index = 4, v_one = 1;
static volatile uint8 v_bool_byte = 7;
static int arr[4];
static uint64 aligned_words[2];

// 1 if a report of `kind` came from `line` since report number `before`.
static int reported(int before, const char *kind, int line)
{
  return ubsan_count() > before && ubsan_reported(before, kind, line);
}

static void check_arith(void)
{
  int n = ubsan_count(), line = __LINE__ + 1;
  volatile int r = v_one << v_shift;
  KCHECK(reported(n, "shift out of bounds", line), "1 << 40 on an int: shift report at line %d", line);
  n = ubsan_count(), line = __LINE__ + 1;
  r = v_big + v_one;
  KCHECK(reported(n, "signed integer overflow", line), "INT_MAX + 1: overflow report at line %d", line);
  n = ubsan_count(), line = __LINE__ + 1;
  r = -(v_big + 0) - v_one - v_one;
  KCHECK(reported(n, "signed integer overflow", line), "INT_MIN - 1: overflow report at line %d", line);
  (void)r;
}

static void check_memory(void)
{
  int n = ubsan_count(), line = __LINE__ + 1;
  volatile int x = arr[v_index];
  KCHECK(reported(n, "index out of bounds", line), "arr[4] of int[4]: bounds report at line %d", line);
  n = ubsan_count(), line = __LINE__ + 1;
  x = *(volatile uint32 *)((char *)aligned_words + v_one);
  KCHECK(reported(n, "misaligned access", line), "uint32 load at an odd address: alignment report at line %d",
         line);
  n = ubsan_count(), line = __LINE__ + 1;
  x = *(volatile _Bool *)&v_bool_byte;
  KCHECK(reported(n, "invalid value", line), "_Bool holding 7: invalid-value report at line %d", line);
  (void)x;
}

KTEST(ubsan)
{
  ubsan_mode = UBSAN_REPORT;
  int before = ubsan_count();
  volatile int fine = v_one << 3;
  KCHECK(ubsan_count() == before && fine == 8, "defined operations give no report");
  check_arith();
  check_memory();
  ubsan_mode = UBSAN_PANIC;
}

KTEST(ubsan_panic)
{
  volatile int r = v_one << v_shift;
  KCHECK(0, "1 << 40 should have panicked (got %d)", r);
}
