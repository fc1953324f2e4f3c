// The user-space half of kcov (user/lib/kcov.h): GCC calls
// __sanitizer_cov_trace_pc at each basic block of the files built with
// -fsanitize-coverage=trace-pc. As in the kernel (kern/kcov.c) the sites are
// found by scanning this program's text for `call __sanitizer_cov_trace_pc`,
// numbered by address; a process has one thread, so no locking.
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

long ucov_collect(uint32 *buf, long n)
{
  uint32 got = nlist < (uint64)n ? nlist : n;
  memcpy(buf, list, got * sizeof *buf);
  for (uint32 i = 0; i < nlist; i++)
    seen[list[i] / 8] = 0;
  nlist = 0;
  return got;
}
