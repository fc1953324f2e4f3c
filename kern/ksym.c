// Kernel symbol lookup for backtraces. The build links the kernel twice: the
// second link includes a table of the first link's text symbols (tools/mksyms.sh).
// Text addresses are the same in both links because the table lives in .rodata.
#include "defs.h"

struct ksym {
  uint64 addr;
  const char *name;
};
extern const struct ksym ksyms[];
extern const uint64 nksyms;

// Returns the name of the function containing addr, and the offset into it.
const char *ksym_lookup(uint64 addr, uint64 *off)
{
  const struct ksym *best = NULL;
  for (uint64 i = 0; i < nksyms; i++)
    if (ksyms[i].addr <= addr && (!best || ksyms[i].addr > best->addr))
      best = &ksyms[i];
  if (!best)
    return NULL;
  *off = addr - best->addr;
  return best->name;
}
