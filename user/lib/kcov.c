// The user-space half of kcov (user/lib/kcov.h): GCC calls
// __sanitizer_cov_trace_pc at each basic block of the files built with
// -fsanitize-coverage=trace-pc. As in the kernel (kern/kcov.c) the sites are
// found by scanning this program's text for `call __sanitizer_cov_trace_pc`,
// numbered by address; a process has one thread, so no locking.
//
// With -fsanitize-coverage=trace-cmp GCC also reports the operands of each
// comparison; the constants (`r < 0x40`, switch cases) go into a dictionary
// the fuzzers draw register values from (ucov_dict), as libFuzzer and
// syzkaller learn the magic values that no random number would hit.
#include "user.h"
#include "kcov.h"

void __sanitizer_cov_trace_pc(void);

static uint64 *sites;            // return addresses, ascending
static uint32 nsites, nlist;
static uint32 *list;             // sites reached since the last collect
static uint8 *seen;              // nsites bits
static int on;

static uint32 scan_text(uint64 *out)
{
  extern char __utext_end[];
  uint64 p = 0x400000, end = (uint64)__utext_end - 5;
  uint64 target = (uint64)__sanitizer_cov_trace_pc;
  uint32 n = 0;
  for (; p <= end; p++) {
    if (*(uint8 *)p != 0xE8 || p + 5 + *(int32 *)(p + 1) != target)
      continue;
    if (out)
      out[n] = p + 5;
    n++;
  }
  return n;
}

long ucov_enable(void)
{
  if (on)
    return nsites;
  uint32 n = scan_text(NULL);
  if (!n)
    return 0;
  sites = malloc(n * sizeof *sites);
  list = malloc(n * sizeof *list);
  seen = malloc(n / 8 + 1);
  if (!sites || !list || !seen)
    return -ENOMEM;
  memset(seen, 0, n / 8 + 1);
  scan_text(sites);
  nsites = n;
  on = 1;
  return n;
}

void __sanitizer_cov_trace_pc(void)
{
  if (!on)
    return;
  uint64 pc = (uint64)__builtin_return_address(0);
  uint32 lo = 0, hi = nsites;
  while (lo < hi) {
    uint32 mid = (lo + hi) / 2;
    if (sites[mid] < pc)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < nsites && sites[lo] == pc && !(seen[lo / 8] & (1 << (lo % 8)))) {
    seen[lo / 8] |= 1 << (lo % 8);
    list[nlist++] = lo;
  }
}

// ---- comparison constants ------------------------------------------------

#define DICT 512                 // open addressing; 0 is never stored
static uint64 dict[DICT];
static uint32 ndict;

static void dict_add(uint64 c)
{
  if (!on || c == 0 || ndict >= DICT / 2)
    return;
  uint32 h = (c * 0x9E3779B97F4A7C15UL) >> 55;   // 9 bits
  while (dict[h] && dict[h] != c)
    h = (h + 1) % DICT;
  if (!dict[h])
    dict[h] = c, ndict++;
}

void __sanitizer_cov_trace_const_cmp1(uint8 c, uint8 v) { (void)v, dict_add(c); }
void __sanitizer_cov_trace_const_cmp2(uint16 c, uint16 v) { (void)v, dict_add(c); }
void __sanitizer_cov_trace_const_cmp4(uint32 c, uint32 v) { (void)v, dict_add(c); }
void __sanitizer_cov_trace_const_cmp8(uint64 c, uint64 v) { (void)v, dict_add(c); }
void __sanitizer_cov_trace_cmp1(uint8 a, uint8 b) { (void)a, (void)b; }
void __sanitizer_cov_trace_cmp2(uint16 a, uint16 b) { (void)a, (void)b; }
void __sanitizer_cov_trace_cmp4(uint32 a, uint32 b) { (void)a, (void)b; }
void __sanitizer_cov_trace_cmp8(uint64 a, uint64 b) { (void)a, (void)b; }

// cases[0]: how many, cases[1]: operand bits, then the case values.
void __sanitizer_cov_trace_switch(uint64 val, uint64 *cases)
{
  (void)val;
  for (uint64 i = 0; i < cases[0] && i < 64; i++)
    dict_add(cases[2 + i]);
}

long ucov_dict(uint64 *out, long n)
{
  long k = 0;
  for (uint32 i = 0; i < DICT && k < n; i++)
    if (dict[i])
      out[k++] = dict[i];
  return k;
}

long ucov_collect(uint32 *buf, long n)
{
  uint32 got = nlist < (uint64)n ? nlist : n;
  memcpy(buf, list, got * sizeof *buf);
  for (uint32 i = 0; i < nlist; i++)
    seen[list[i] / 8] = 0;
  nlist = 0;
  return got;
}
