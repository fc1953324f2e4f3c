// vmm -s: exit statistics in the manner of `perf kvm stat`: for each exit
// reason, how many, their share of all exits, their share of the time spent
// handling exits in the VMM (from vcpu_run's return to the next vcpu_run),
// and the mean of that time. Timed with the TSC (cheap in user space),
// converted with the TSC's rate measured against clock_ns over the run.
#include "vmm.h"

static const char *names[VM_EXIT_NREASONS] = {
  "none", "io", "cpuid", "msr", "hlt", "vmmcall", "npf", "exception", "shutdown", "invalid",
  "intr", "unknown", "deadline", "kick", "console", "tpr", "pio"};

static uint64 rdtsc(void)
{
  uint32 lo, hi;
  asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return (uint64)hi << 32 | lo;
}

static const char *sw_names[VM_SW_N] = {
  "intr", "nmi", "vintr", "io-in", "io-out", "cpuid", "msr", "hlt", "vmmcall", "npf", "cr", "excp", "other"};

// The world-switch class of an exit vcpu_run returned for, or -1 when the
// return does not stand for one #VMEXIT (deadline, kick, a tick, PIO...).
static int returned_class(const struct vm_exit *e)
{
  switch (e->reason) {
  case VM_EXIT_IO: return e->u.io.in ? VM_SW_IO_IN : VM_SW_IO_OUT;
  case VM_EXIT_CPUID: return VM_SW_CPUID;
  case VM_EXIT_MSR: return VM_SW_MSR;
  case VM_EXIT_HLT: return VM_SW_HLT;
  case VM_EXIT_VMMCALL: return VM_SW_VMMCALL;
  case VM_EXIT_NPF: return VM_SW_NPF;
  case VM_EXIT_EXCEPTION: return VM_SW_EXCP;
  }
  return -1;
}

void stats_start(struct guest *g)
{
  if (g->o->stats)   // a mark for tools/linux/bench.py's wall clock: svmlab's boot ends here
    printf("%svmm: entering the guest\n", g->prefix);
  g->st.ns0 = clock_ns();
  g->st.tsc0 = g->st.last = rdtsc();
  g->st.in_run = 0;
}

// Right before vcpu_run: the VMM's handling of the last exit ends here.
void stats_entry(struct guest *g)
{
  uint64 now = rdtsc();
  uint32 r = g->st.reason;
  if (g->st.started && r < VM_EXIT_NREASONS)
    g->st.cycles[r] += now - g->st.last;
  g->st.last = now;
}

#define NKEYS 64
struct keycount { uint32 key, n; };

// key (+ 1, so that 0 is free) into a table of 64 (open addressing; a full
// table drops it).
static void count_key(struct keycount *t, uint32 key)
{
  key++;
  for (uint32 i = 0, h = key * 2654435761u % NKEYS; i < NKEYS; i++, h = (h + 1) % NKEYS) {
    if (t[h].key == 0)
      t[h].key = key;
    if (t[h].key == key) {
      t[h].n++;
      return;
    }
  }
}

// The keys with the most exits, most first: "what key-name n (share%)".
// The line is built first and printed with one call: the VMMs of other
// guests print at the same time, and pieces of a line would interleave.
static void print_keys(struct guest *g, const char *what, struct keycount *t, uint64 total, int top,
                       int (*name)(char *buf, int size, uint32 key))
{
  int shown[NKEYS] = {0};
  char line[320];
  int k = 0;
  for (int j = 0; j < top && k < (int)sizeof line - 40; j++) {
    int best = -1;
    for (int i = 0; i < NKEYS; i++)
      if (t[i].key && !shown[i] && (best < 0 || t[i].n > t[best].n))
        best = i;
    if (best < 0)
      break;
    shown[best] = 1;
    k += snprintf(line + k, sizeof line - k, "%s", j ? ", " : "");
    k += name(line + k, sizeof line - k, t[best].key - 1);
    k += snprintf(line + k, sizeof line - k, " %u (%lu%%)", t[best].n, total ? t[best].n * 100 / total : 0);
  }
  printf("%svmm: %s: %s\n", g->prefix, what, line);
}

static int port_name(char *b, int n, uint32 key) { return snprintf(b, n, "0x%x %s", key >> 1, key & 1 ? "in" : "out"); }
static int msr_name(char *b, int n, uint32 key) { return snprintf(b, n, "0x%x %s", key >> 1, key & 1 ? "wr" : "rd"); }
static int hex_name(char *b, int n, uint32 key) { return snprintf(b, n, "0x%x", key); }
static int page_name(char *b, int n, uint32 key) { return snprintf(b, n, "0x%x000", key); }

// Every world switch by class: how many the kernel finished without
// returning, how many came back to the VMM; and when the first VMRUN came
// (clock_ns counts from the TSC's reset, i.e. from QEMU's start: svmlab's own
// boot and the loading before the guest runs).
static void print_switches(struct guest *g)
{
  uint64 all = 0, user = 0;
  for (int i = 0; i < VM_SW_N; i++)
    all += g->st.sw[i], user += g->st.sw_user[i];
  printf("%svmm: world switches: %lu, %lu finished in the kernel, %lu returned to the VMM; first VMRUN at "
         "%lu ms of the host's clock\n", g->prefix, all, all - user, user, g->st.first_run_ns / 1000000);
  printf("%svmm: switches by exit code (in the kernel/to the VMM):", g->prefix);
  for (int i = 0; i < VM_SW_N; i++)
    if (g->st.sw[i])
      printf(" %s %lu/%lu", sw_names[i], g->st.sw[i] - g->st.sw_user[i], g->st.sw_user[i]);
  printf("\n");
}

// Right after vcpu_run returned with the exit in g->e.
void stats_exit(struct guest *g)
{
  uint64 now = rdtsc();
  g->st.in_run += now - g->st.last;
  g->st.last = now;
  g->st.reason = g->e.reason;
  if (!g->st.started)
    g->st.first_run_ns = g->st.ns0;
  g->st.started = 1;
  for (int i = 0; i < VM_SW_N; i++)
    g->st.sw[i] += g->e.switches[i];
  int c = returned_class(&g->e);
  if (c >= 0 && g->e.switches[c])
    g->st.sw_user[c]++;
  if (g->e.reason < VM_EXIT_NREASONS)
    g->st.count[g->e.reason]++;
  if (g->e.reason == VM_EXIT_IO)
    count_key((struct keycount *)g->st.ports, (uint32)g->e.u.io.port << 1 | g->e.u.io.in);
  else if (g->e.reason == VM_EXIT_CPUID)
    count_key((struct keycount *)g->st.leaves, g->e.u.cpuid.leaf);
  else if (g->e.reason == VM_EXIT_MSR)
    count_key((struct keycount *)g->st.msrs, g->e.u.msr.msr << 1 | g->e.u.msr.write);
  else if (g->e.reason == VM_EXIT_NPF)
    count_key((struct keycount *)g->st.pages, (uint32)(g->e.u.npf.gpa >> 12));
}

void stats_print(struct guest *g)
{
  uint64 ns = clock_ns() - g->st.ns0, cyc = rdtsc() - g->st.tsc0, n = 0, handled = 0;
  if (!cyc || !ns)
    return;
  for (int i = 0; i < VM_EXIT_NREASONS; i++)
    n += g->st.count[i], handled += g->st.cycles[i];
  // cycles -> ns as the run measured them: ns/cyc
  printf("%svmm: exits: %lu in %lu ms; %lu ms in vcpu_run (guest and kernel), %lu ms in the VMM\n",
         g->prefix, n, ns / 1000000, g->st.in_run * (ns / 1000) / cyc / 1000, handled * (ns / 1000) / cyc / 1000);
  printf("%svmm: %-10s %10s %8s %8s %10s\n", g->prefix, "reason", "count", "count%", "time%", "mean us");
  for (int i = 0; i < VM_EXIT_NREASONS; i++) {
    uint64 c = g->st.count[i];
    if (!c)
      continue;
    uint64 cn = g->st.cycles[i] * (ns / 1000) / cyc;   // us
    printf("%svmm: %-10s %10lu %7lu.%lu %7lu.%lu %10lu.%lu\n", g->prefix, names[i], c, c * 100 / n,
           c * 1000 / n % 10, handled ? g->st.cycles[i] * 100 / handled : 0,
           handled ? g->st.cycles[i] * 1000 / handled % 10 : 0, cn / c, cn * 10 / c % 10);
  }
  if (g->st.count[VM_EXIT_IO])
    print_keys(g, "I/O exits by port", (struct keycount *)g->st.ports, g->st.count[VM_EXIT_IO], 8, port_name);
  if (g->st.count[VM_EXIT_CPUID])
    print_keys(g, "CPUID exits by leaf", (struct keycount *)g->st.leaves, g->st.count[VM_EXIT_CPUID], 8, hex_name);
  if (g->st.count[VM_EXIT_MSR])
    print_keys(g, "MSR exits by MSR", (struct keycount *)g->st.msrs, g->st.count[VM_EXIT_MSR], 8, msr_name);
  if (g->st.count[VM_EXIT_NPF])
    print_keys(g, "NPF exits by page", (struct keycount *)g->st.pages, g->st.count[VM_EXIT_NPF], 6, page_name);
  print_switches(g);
  msr_print_unknown(g);
  if (g->open_bus_accesses)
    printf("%svmm: open bus (no RAM, no device): %lu accesses\n", g->prefix, g->open_bus_accesses);
  if (g->o->nested)   // -N: the exits of the guest's own guest (kern/svm/nested.c)
    printf("%svmm: nested: %lu VMRUNs of L1 entered L2; L2 exits: %lu reflected to L1, %lu handled "
           "by L0 (kernel or VMM); %lu shadow NPT entries\n", g->prefix, g->e.nested.vmruns, g->e.nested.reflected,
           g->e.nested.handled, g->e.nested.shadow_fills);
}
