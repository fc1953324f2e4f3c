// vmm [-t ms] [-n exits] [-c cpu] [-m] [-e end] GUEST [GUEST...]
//
// Runs each GUEST (initrd file GUEST.guest) in its own VM and prints one
// line per guest saying how it ended, with its exits by reason:
//   vmm: guest hello exited with code 0 after 81 exits (io=81, cpuid=0, ...; intr=0)
// "after N exits" counts what the guest caused; intr (host interrupts that
// brought the vcpu back to the VMM) depends on timing and is listed apart.
// A guest that took interrupts or slept gets a second line: the interrupts
// it took and the deadline/kick/console exits (loop.c, docs/devices.md).
// Options: -s print the wall time of the run; -t stop after ms milliseconds; -n stop after that many exits;
// -c pin to CPU first (with several guests, guest i goes to CPU (cpu+i) mod
// ncpu, or "-c same" puts them all on the -c CPU... see usage); -m move the
// vcpu to the next CPU at each HC_YIELD hypercall; -e the expected end:
// "0" (default; exit code 0), a number, "shutdown", "halt", "budget",
// "reset" (i8042, port 0x92 or port 0xCF9 reset, ports.c) or "poweroff"
// (ACPI S5 through PM1a_CNT, acpipm.c).
// Exit status: 0 iff every guest ended as expected. Several guests run at
// once, one process each (fork), their output lines prefixed "NAME.i| ".
#include "vmm.h"
#include "kvmpv.h"
#include "virtio_console.h"

#define MAXGUESTS 4

static const char *end_names[] = {"running", "exited", "shut down (triple fault)", "halted",
                                  "stopped: budget used up", "failed", "reset", "powered off (ACPI S5)"};

static void usage(void)
{
  printf("usage: vmm [-s] [-N] [-t ms] [-n exits] [-c cpu|-C cpu] [-m] [-V vcpus] [-e 0|N|shutdown|halt|budget|reset|poweroff] GUEST...\n"
         "       vmm [options] -k BZIMAGE [-r INITRD] [-a CMDLINE-FILE] [-M MiB] [-3] [-A] [-P] [-v] [-p on|off] [NAME...]\n"
         "  -c cpu: guest i on CPU cpu+i;  -C cpu: every guest on that CPU\n"
         "  -N: the guest gets SVM with nested paging (it may run guests of its own)\n"
         "  -k: boot a Linux bzImage (64-bit boot protocol; -3: its 32-bit entry), -M MiB of RAM (256)\n"
         "      -A: with a local APIC, an I/O APIC and ACPI tables (else the 8259s only)\n"
         "      -P: no kernel fast paths: every port access, CPUID and TSC-deadline write exits (else the\n"
         "          kernel queues the UART's THR writes, loop.c; answers CPUID from the VMM's table, cpuid.c;\n"
         "          takes TSC-deadline writes, kvmpv.c)\n"
         "      -v: a virtio console (virtio-mmio, named by the ACPI DSDT; Linux's hvc0; implies -A; also\n"
         "          for a multiboot kernel)\n"
         "      -p on|off: KVM's paravirtual interface: kvmclock, PV EOI, x2APIC, TSC-deadline (on\n"
         "          implies -A; default: on for a bzImage with -A, else off)\n"
         "  -V vcpus: 1..8 vcpus, one thread each (guests with APICs; smp.c); -W us: widen the gap\n"
         "      between a vcpu thread's lock release and its vcpu_run (tests)\n");
  exit(2);
}

// Parses -e's argument into o.
static void parse_expect(struct opts *o, const char *s)
{
  if (strcmp(s, "shutdown") == 0)
    o->expect = END_SHUTDOWN;
  else if (strcmp(s, "halt") == 0)
    o->expect = END_HALT;
  else if (strcmp(s, "budget") == 0)
    o->expect = END_BUDGET;
  else if (strcmp(s, "reset") == 0)
    o->expect = END_RESET;
  else if (strcmp(s, "poweroff") == 0)
    o->expect = END_POWEROFF;
  else if (*s >= '0' && *s <= '9')
    o->expect = END_EXIT, o->expect_code = atoi(s);
  else
    usage();
}

// The one summary line; returns 1 if the guest ended as expected.
static int report(struct guest *g)
{
  char how[160];
  if (g->end == END_EXIT)
    snprintf(how, sizeof how, "exited with code %d", g->code);
  else if (g->end == END_FAIL)
    snprintf(how, sizeof how, "failed: %s", g->why);
  else if (g->end == END_RESET)
    snprintf(how, sizeof how, "reset: %s", g->why);
  else if (g->end == END_BUDGET && g->o->budget_ms)
    snprintf(how, sizeof how, "stopped: time budget of %ld ms used up", g->o->budget_ms);
  else
    snprintf(how, sizeof how, "%s", end_names[g->end]);
  uint64 *c = g->count, n = 0;
  for (int i = 0; i < C_INTR; i++)
    n += c[i];
  if (g->o->migrate || *g->prefix) {
    char list[64];
    int ncpus = 0, len = 0;
    for (int i = 0; i < 64 && len < 56; i++)
      if ((g->cpus_seen >> i) & 1)
        len += snprintf(list + len, sizeof list - len, "%s%d", ncpus++ ? "," : "", i);
    list[len] = 0;
    printf("%svmm: vcpu moved %d times, ran on %d cpus (%s)\n", g->prefix, g->moves, ncpus, list);
  }
  printf("%svmm: guest %s %s after %lu exits (io=%lu, cpuid=%lu, msr=%lu, hlt=%lu, vmmcall=%lu, npf=%lu, "
         "exc=%lu, other=%lu; intr=%lu)\n",
         g->prefix, g->name, how, n, c[C_IO], c[C_CPUID], c[C_MSR], c[C_HLT], c[C_VMMCALL], c[C_NPF],
         c[C_EXC], c[C_OTHER], c[C_INTR]);
  if (c[C_IRQ] || c[C_DEADLINE] || c[C_KICK] || c[C_CONSOLE])
    printf("%svmm: interrupts taken %lu; clock and input exits: deadline=%lu, kick=%lu, console=%lu "
           "(%lu bytes)\n",
           g->prefix, c[C_IRQ], c[C_DEADLINE], c[C_KICK], c[C_CONSOLE], c[C_RXBYTES]);
  if (c[C_PIOQ])
    printf("%svmm: %lu UART writes queued by the kernel without an exit (vmm -P turns that off)\n", g->prefix,
           c[C_PIOQ]);
  if (g->o->stats && n)
    printf("%svmm: %lu exits in %ld ms, %lu us per exit\n", g->prefix, n + c[C_INTR], g->ticks * 10,
           g->ticks * 10000 / (n + c[C_INTR]));
  kvmpv_report(g);
  virtio_console_report(g);
  if (g->o->stats)
    stats_print(g);
  return g->end == g->o->expect && (g->end != END_EXIT || g->code == g->o->expect_code);
}

// Runs one guest in this process; the exit status for it.
static int one_guest(const char *name, const char *prefix, const struct opts *o, int cpu)
{
  static struct guest g;
  g.name = name;
  g.prefix = prefix;
  g.o = o;
  if (cpu >= 0 && setcpu(cpu) < 0) {
    printf("vmm: cannot run on cpu %d\n", cpu);
    return 1;
  }
  if ((o->kernel ? linux_load(&g) : image_load(&g, name)) < 0 || guest_setup(&g) < 0)
    return 1;
  guest_run(&g);
  return report(&g) ? 0 : 1;
}

int main(int argc, char **argv)
{
  struct opts o = {0, 0, -1, 0, END_EXIT, 0, 0, NULL, NULL, NULL, 256, 0};
  o.nvcpus = 1;
  int i = 1, same = 0;
  for (; i < argc && argv[i][0] == '-'; i++) {
    char f = argv[i][1];
    if ((f == 'm' || f == 's' || f == '3' || f == 'A' || f == 'P' || f == 'N' || f == 'v') && !argv[i][2]) {
      *(f == 'm' ? &o.migrate : f == 's' ? &o.stats : f == '3' ? &o.entry32 : f == 'A' ? &o.apic :
        f == 'N' ? &o.nested : f == 'v' ? &o.virtio_console : &o.pio_exits) = 1;
      continue;
    }
    if (i + 1 >= argc || argv[i][2])
      usage();
    const char *a = argv[++i];
    if (f == 't') o.budget_ms = atoi(a);
    else if (f == 'n') o.max_exits = atoi(a);
    else if (f == 'c' || f == 'C') o.cpu = atoi(a), same = f == 'C';
    else if (f == 'e') parse_expect(&o, a);
    else if (f == 'k') o.kernel = a;
    else if (f == 'r') o.initrd = a;
    else if (f == 'a') o.cmdline = a;
    else if (f == 'M') o.mem_mb = atoi(a);
    else if (f == 'p' && (!strcmp(a, "on") || !strcmp(a, "off")))
      o.kvmpv = a[1] == 'n' ? 1 : -1;
    else if (f == 'V' && atoi(a) >= 1 && atoi(a) <= GUEST_MAXVCPUS) o.nvcpus = atoi(a);
    else if (f == 'W') o.widen_us = atoi(a);
    else usage();
  }
  o.apic |= o.kvmpv > 0 || o.virtio_console;   // x2APIC, TSC-deadline and PV EOI are the local APIC's;
                                                // the virtio console's line is an I/O APIC pin
  int n = argc - i;
  static char *one_linux[] = {"linux", NULL};
  if (n == 0 && o.kernel)
    argv = one_linux, i = 0, n = 1;
  if (n < 1 || n > MAXGUESTS)
    usage();
  if (n == 1)
    return one_guest(argv[i], "", &o, o.cpu);
  static char prefixes[MAXGUESTS][40];
  for (int k = 0; k < n; k++) {
    snprintf(prefixes[k], sizeof prefixes[k], "%s.%d| ", argv[i + k], k);
    int cpu = o.cpu < 0 ? -1 : same ? o.cpu : (o.cpu + k) % ncpu();
    int pid = fork();
    if (pid == 0)
      exit(one_guest(argv[i + k], prefixes[k], &o, cpu));
    if (pid < 0)
      printf("vmm: fork: %s\n", errstr(pid));
  }
  int bad = 0, st;
  for (int k = 0; k < n; k++)
    if (wait(&st) < 0 || st != 0)
      bad++;
  printf("vmm: %d guests, %d ended as expected\n", n, n - bad);
  return bad ? 1 : 0;
}
