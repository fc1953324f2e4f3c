// guestfuzz SEED COUNT [EXITS [MODE]]: COUNT random guests, cycling through the
// three start modes (real, prot32, long64). Each gets 64 KiB of RAM filled
// with random bytes, salted with instructions that exit or touch system
// state (I/O, CPUID, MSRs, VMMCALL, HLT, SVM instructions, CR/IDT loads,
// INT n, UD2...), long64 guests also get identity page tables; registers
// are random (RIP and RSP mostly inside RAM; now and then flipped bits in
// RFLAGS, CR0, CR4, EFER, CS). The harness answers every exit with random
// data, maps up to 8 fresh pages on nested page faults below 4 GiB, injects
// a random event now and then, raises and lowers the interrupt line, kicks
// the vcpu and sets the run flags (a CR8 load, ports the kernel finishes
// itself), and stops the guest after EXITS exits
// (default 64) or 20 timer ticks. Every third guest is instead a program of
// mode-changing instructions (fuzz/sysprog.c) that starts at its first
// byte. Each guest ends in one class:
//   hlt shutdown invalid npf exception unknown budget error
// One summary line at the end:
//   guestfuzz: seed S guests N (real N prot32 N long64 N) exits N outcomes [...] pages B->A leaked N
// Exit status 0 iff no vcpu_run error (a -E* other than the expected ones)
// and no page leaked; a host panic or hang is the grader's to see.
//
// MODE (coverage-guided, user/lib/guided.h: kcov of the kernel, ucov of the
// VMM code linked in, make SAN=1; without them plain random; the initrd file
// guestfuzz-MODE.corpus, if any, runs first; a "c" after the mode prints the
// corpus at the end, "guestfuzz: corpus ..." lines):
//   g  the random guests above; RAM from one input word, the rest word by word
//   d  device guests through the VMM's device models (user/fuzz/vmmfuzz.c)
//   l  corrupted guest images and multiboot kernels through the VMM's loaders
//   n  hostile L1s (user/fuzz/nestl1.c): long-mode guests run with
//      VM_RUN_NESTED whose SVM instructions, rAX values and vmcb12s are
//      random (the harness picks each step), L2 on the random bytes; ends
//      with (entered: VMRUNs that entered L2; back: L1 resumed after one;
//      invalid: vmcb12 refused; gp: the VMRUN raised #GP; stuck: the
//      guest ended inside L2; misrouted: exits of L2's that L1 intercepts
//      but reached the VMM (CPUID, HLT, shutdown, I/O by L1's IOPM); lost:
//      VMRUNs that entered L2 twice or came back unexplained; faults: L1's
//      exceptions; tainted: L1s whose code or tables L2 overwrote, not
//      counted from then on; exit status 1 also for misrouted or lost)
//   guestfuzz: seed S guests N mode nested exits N outcomes [...] vmrun [entered=N back=N invalid=N gp=N stuck=N misrouted=N lost=N] faults N tainted N pages B->A leaked N
// d and l close fd 1 (the guests' UART output) and end with, on fd 2,
//   guestfuzz: seed S guests N mode dev ends [exited=N ... nostart=N] pages B->A leaked N
//   guestfuzz: seed S images N mode loader outcomes [refused=N loaded=N ran=N violation=N] pages B->A leaked N
// and every guided mode with the "guestfuzz: coverage: ..." line.
#include "hv.h"
#include "guided.h"
#include "fuzz/vmmfuzz.h"
#include "fuzz/sysprog.h"
#include "fuzz/nestl1.h"

#define RAM (64 * 1024)
#define DEMAND 8                // pages mapped on nested page faults, per guest
#define TICKS 20

enum { O_HLT, O_SHUTDOWN, O_INVALID, O_NPF, O_EXCEPTION, O_UNKNOWN, O_BUDGET, O_REFUSED, O_ERROR, NOUT };
static const char *outnames[NOUT] = {"hlt", "shutdown", "invalid", "npf", "exception", "unknown", "budget",
                                     "refused", "error"};
static uint64 outcomes[NOUT], modes[3], nexits;
static uint64 seed_state;
static uint8 *ram, *pool;       // guest RAM and the demand pages, reused by every guest

static struct guided G;
static int guided_on;
static struct nestl1 *l1;       // mode n: the L1 running now
static struct nestl1_totals l1t;

static uint64 xorshift(uint64 *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DUL;
}

static uint64 rnd(void) { return guided_on ? guided_word(&G) : xorshift(&seed_state); }

static uint64 pick(uint64 n) { return rnd() % n; }

// Instructions worth meeting often: each exits, faults or changes system state.
static const struct {
  uint8 n, b[7];
} salt[] = {
  {2, {0xE6, 0x80}},              // out %al, $0x80
  {1, {0xEE}},                    // out %al, (%dx)
  {1, {0xEC}},                    // in (%dx), %al
  {2, {0xF3, 0x6E}},              // rep outsb
  {2, {0xF3, 0x6C}},              // rep insb
  {2, {0x0F, 0xA2}},              // cpuid
  {2, {0x0F, 0x30}},              // wrmsr
  {2, {0x0F, 0x32}},              // rdmsr
  {3, {0x0F, 0x01, 0xD9}},        // vmmcall
  {1, {0xF4}},                    // hlt
  {3, {0x0F, 0x01, 0xD8}},        // vmrun
  {3, {0x0F, 0x01, 0xDA}},        // vmload
  {3, {0x0F, 0x01, 0xDB}},        // vmsave
  {3, {0x0F, 0x01, 0xDC}},        // stgi
  {3, {0x0F, 0x01, 0xDD}},        // clgi
  {3, {0x0F, 0x01, 0xDE}},        // skinit
  {3, {0x0F, 0x01, 0xDF}},        // invlpga
  {3, {0x0F, 0x22, 0xC0}},        // mov %eax, %cr0
  {3, {0x0F, 0x22, 0xE0}},        // mov %eax, %cr4
  {3, {0x0F, 0x22, 0xD8}},        // mov %eax, %cr3
  {3, {0x0F, 0x01, 0x18}},        // lidt (%eax)
  {3, {0x0F, 0x01, 0x10}},        // lgdt (%eax)
  {2, {0xCD, 0x08}},              // int $8
  {2, {0x0F, 0x0B}},              // ud2
  {1, {0xFB}},                    // sti
  {1, {0xFA}},                    // cli
  {1, {0xCF}},                    // iret
  {2, {0xEB, 0xFE}},              // jmp . (spins until the budget)
  {2, {0x0F, 0x09}},              // wbinvd
  {3, {0x0F, 0x01, 0xF8}},        // swapgs
  {2, {0x0F, 0x05}},              // syscall
  {2, {0x8E, 0xD0}},              // mov %eax, %ss
};

#define SYSCODE 0x8000          // a system-state program's code, its data below
#define SYSDATA 0x7000

// Random bytes with salt; long64 guests (and every system-state program,
// which may turn long mode on) get page tables at 0x1000 mapping the first
// 1 GiB (2 MiB pages), the pattern of user/guests/long64.inc.
static void fill_ram(int mode, int sys)
{
  uint64 st = rnd() | 1;   // the RAM's own generator: one input word, not 8192
  for (uint64 i = 0; i < RAM; i += 8)
    *(uint64 *)(ram + i) = xorshift(&st);
  for (int k = 0; k < 600; k++) {
    int s = xorshift(&st) % ARRAY_SIZE(salt);
    memcpy(ram + xorshift(&st) % (RAM - 8), salt[s].b, salt[s].n);
  }
  if (mode == VM_MODE_LONG64 || sys) {
    uint64 *pml4 = (uint64 *)(ram + 0x1000), *pdpt = pml4 + 512, *pd = pdpt + 512;
    memset(pml4, 0, 3 * PGSIZE);
    pml4[0] = 0x2000 | 7;
    pdpt[0] = 0x3000 | 7;
    for (uint64 i = 0; i < 512; i++)
      pd[i] = (i << 21) | 0x87;
  }
}

// Random registers on top of the mode's initial state.
static void random_regs(struct vm_regs *r, int mode)
{
  uint64 *g = &r->rax;
  for (int i = 0; i < 16; i++)
    g[i] = pick(2) ? rnd() : pick(RAM);
  r->rip = pick(16) ? pick(mode == VM_MODE_REAL ? 0x10000 : RAM) : rnd();
  r->rsp = pick(8) ? pick(RAM) : rnd();
  r->rflags = pick(4) ? 0x2 | (rnd() & 0x200) : rnd() & 0x3F7FD7;
  if (mode == VM_MODE_LONG64)
    r->cr3 = 0x1000;
  if (pick(20) == 0)
    r->cr0 ^= 1UL << pick(32);
  if (pick(20) == 0)
    r->cr4 ^= 1UL << pick(24);
  if (pick(40) == 0)
    r->efer ^= 1UL << pick(16);
  if (pick(40) == 0)
    r->cs.attr ^= 1 << pick(12);
}

// A nested page fault: map the next demand page there, if it is one the
// VMM may give (below 4 GiB, not mapped, pages left). 1 to run on.
static int demand(struct hv *h, int *used)
{
  uint64 gpa = h->e.u.npf.gpa & ~(PGSIZE - 1);
  if (*used >= DEMAND || gpa >= VM_MAX_GPA || (h->e.u.npf.access & VM_NPF_PRESENT))
    return 0;
  uint8 *page = pool + (*used)++ * PGSIZE;
  memset(page, 0, PGSIZE);
  return vm_map(h->vm, gpa, page, PGSIZE, VM_MAP_RWX) == 0;
}

// Random answers for whatever the guest asked; sometimes an event.
static void answer(struct hv *h)
{
  struct vm_exit *e = &h->e;
  if (e->reason == VM_EXIT_IO)
    e->u.io.data = rnd();
  else if (e->reason == VM_EXIT_CPUID)
    e->u.cpuid.eax = rnd(), e->u.cpuid.ebx = rnd(), e->u.cpuid.ecx = rnd(), e->u.cpuid.edx = rnd();
  else if (e->reason == VM_EXIT_MSR)
    e->u.msr.value = rnd();
  else if (e->reason == VM_EXIT_VMMCALL)
    e->u.hypercall.ret = rnd();
  if (pick(8) == 0) {
    struct vm_event ev = {pick(4), pick(2) ? pick(32) : 16 + pick(240), rnd(), pick(4)};
    vcpu_inject(h->vm, h->vcpu, &ev);   // often refused (-EINVAL, -EBUSY): fine
  }
  if (e->reason == VM_EXIT_MSR && pick(2)) {
    struct vm_event gp = {VM_EVENT_EXCEPTION, 13, 0, VM_EVENT_F_ERROR | VM_EVENT_F_FAULT};
    vcpu_inject(h->vm, h->vcpu, &gp);
  }
  // The interrupt line, kicks and the run flags, as a VMM with a PIC uses
  // them (stage 5): the window, HLT wake-ups, CR8 loads.
  switch (pick(16)) {
  case 0: case 1: vcpu_irq(h->vm, h->vcpu, pick(8) ? 32 + (int)pick(224) : (int)rnd()); break;   // bad ones refused
  case 2: vcpu_irq(h->vm, h->vcpu, -1); break;
  case 3: vcpu_kick(h->vm, h->vcpu); break;
  }
  e->run_flags = pick(4) ? 0 : rnd() & VM_RUN_FLAGS;
  e->cr8 = pick(16);
  e->pio.out_port = pick(2) ? 0x80 : rnd();   // 0x80: the salt's `out %al, $0x80`
  e->pio.in_port = pick(2) ? 0x80 : rnd();
  e->pio.in_value = rnd();
}

// Runs one guest to its end; its outcome class.
static int run_guest(struct hv *h, uint64 budget)
{
  long t0 = uptime();
  int used = 0;
  h->e.run_flags = pick(2) ? VM_RUN_PIO_OUT | VM_RUN_PIO_IN : 0;   // port 0x80 finished in the kernel
  h->e.pio.out_port = h->e.pio.in_port = 0x80;
  h->e.pio.in_value = rnd();
  for (uint64 n = 0; n < budget && uptime() - t0 < TICKS; n++) {
    h->e.deadline_ns = clock_ns() + 20 * 1000000UL;   // HLT with IF=1 waits in the kernel
    if (l1)
      h->e.run_flags |= VM_RUN_NESTED;   // on every run, as `vmm -N` does
    int r = vcpu_run(h->vm, h->vcpu, &h->e);
    if (r < 0 || h->e.npio_out < 0 || h->e.npio_out > VM_PIO_MAX)
      return O_ERROR;
    nexits++;
    if (l1)
      nestl1_exit(l1, ram, &h->e);
    if (h->e.reason == VM_EXIT_DEADLINE && h->e.halted)
      return O_HLT;   // halted with IF=1, and nothing will ever interrupt it
    switch (h->e.reason) {
    case VM_EXIT_HLT: return O_HLT;
    case VM_EXIT_SHUTDOWN: return O_SHUTDOWN;
    case VM_EXIT_INVALID: return O_INVALID;
    case VM_EXIT_EXCEPTION: return O_EXCEPTION;
    case VM_EXIT_UNKNOWN: return O_UNKNOWN;
    case VM_EXIT_NPF:
      if (!demand(h, &used))
        return O_NPF;
      break;
    default:
      answer(h);
      if (l1 && h->e.reason == VM_EXIT_VMMCALL)
        nestl1_vmmcall(l1, ram, &h->e);
    }
  }
  return O_BUDGET;
}

// A system-state program (fuzz/sysprog.c) at SYSCODE, in the start mode's
// code size, with plain registers.
static void sys_guest(struct vm_regs *r, int mode)
{
  int bits = mode == VM_MODE_REAL ? 16 : mode == VM_MODE_PROT32 ? 32 : 64;
  sysprog_emit(ram + SYSCODE, ram + RAM - 0x1000, bits, SYSDATA, rnd);
  r->rip = SYSCODE;
  r->rsp = RAM - 0x100;
  r->rflags = 0x2;
  if (mode == VM_MODE_LONG64)
    r->cr3 = 0x1000;
}

// One random guest, every third one a system-state program; its outcome class.
static int one_guest(int mode, uint64 budget)
{
  struct hv h;
  struct vm_regs r;
  int sys = pick(3) == 0;
  fill_ram(mode, sys);
  if (hv_new_mem(&h, ram, RAM, mode) < 0)
    return O_ERROR;
  int o = O_ERROR;
  if (vcpu_getregs(h.vm, h.vcpu, &r) == 0) {
    if (sys)
      sys_guest(&r, mode);
    else
      random_regs(&r, mode);
    int e = vcpu_setregs(h.vm, h.vcpu, &r);
    o = e == 0 ? run_guest(&h, budget) : e == -EINVAL ? O_REFUSED : O_ERROR;
  }
  if (vm_destroy(h.vm) < 0)
    o = O_ERROR;
  return o;
}

// Mode n: one hostile L1 (user/fuzz/nestl1.c); its outcome class.
static int one_nested(uint64 budget)
{
  struct hv h;
  struct vm_regs r;
  struct nestl1 s;
  fill_ram(VM_MODE_LONG64, 0);
  if (hv_new_mem(&h, ram, RAM, VM_MODE_LONG64) < 0)
    return O_ERROR;
  int o = O_ERROR;
  if (vcpu_getregs(h.vm, h.vcpu, &r) == 0) {
    nestl1_setup(&s, ram, &r, rnd);
    int e = vcpu_setregs(h.vm, h.vcpu, &r);
    l1 = &s;
    o = e == 0 ? run_guest(&h, budget) : O_ERROR;
    l1 = NULL;
    nestl1_end(&s, ram, &h.e, &l1t);
  }
  if (vm_destroy(h.vm) < 0)
    o = O_ERROR;
  return o;
}

static const char *const loadnames[NLOAD] = {"refused", "loaded", "ran", "violation"};

static uint64 ends[DEV_NENDS], loads[NLOAD], raw_budget, nraw;
static int nested_mode;
static void raw_input(void)
{
  if (nested_mode) {
    outcomes[one_nested(raw_budget)]++;
    return;
  }
  int mode = nraw++ % 3;
  modes[mode]++;
  outcomes[one_guest(mode, raw_budget)]++;
}
static void dev_input(void) { ends[vmmfuzz_dev()]++; }
static void loader_input(void) { loads[vmmfuzz_loader()]++; }

// Modes d and l: COUNT inputs through the VMM's code. Exit status as main's.
static int vmm_modes(uint64 seed, uint64 count, int dev)
{
  if (vmmfuzz_init(rnd) < 0) {
    printf("guestfuzz: no guest images to start from, or out of memory\n");
    return 1;
  }
  close(1);
  long before = freepages();
  guided_load(&G, dev ? "guestfuzz-d.corpus" : "guestfuzz-l.corpus", dev ? dev_input : loader_input);
  for (uint64 i = 0; i < count; i++) {
    guided_next(&G);
    (dev ? dev_input : loader_input)();
    guided_done(&G);
  }
  long after = freepages();
  char line[256];
  int n = snprintf(line, sizeof line, "guestfuzz: seed %lu %s %lu mode %s %s [", seed, dev ? "guests" : "images",
                   count, dev ? "dev" : "loader", dev ? "ends" : "outcomes");
  for (int i = 0; dev && i < DEV_NENDS; i++)
    n += snprintf(line + n, sizeof line - n, "%s%s=%lu", i ? " " : "", dev_end_names[i], ends[i]);
  for (int i = 0; !dev && i < NLOAD; i++)
    n += snprintf(line + n, sizeof line - n, "%s%s=%lu", i ? " " : "", loadnames[i], loads[i]);
  fprintf(2, "%s] pages %ld->%ld leaked %ld\n", line, before, after, before - after);
  guided_report(&G);
  return ends[DEV_NOSTART] || loads[LOAD_VIOLATION] || before != after ? 1 : 0;
}

int main(int argc, char **argv)
{
  uint64 seed = argc > 1 ? strtoul(argv[1], NULL, 0) : 1;
  uint64 count = argc > 2 ? strtoul(argv[2], NULL, 0) : 100;
  uint64 budget = argc > 3 ? strtoul(argv[3], NULL, 0) : 64;
  const char *mode = argc > 4 ? argv[4] : "";
  seed_state = seed * 0x9E3779B97F4A7C15UL + 7;
  if (*mode && guided_init(&G, "guestfuzz", seed) < 0) {
    printf("guestfuzz: out of memory\n");
    return 1;
  }
  guided_on = *mode != 0;
  if (*mode == 'd' || *mode == 'l') {
    int r = vmm_modes(seed, count, *mode == 'd');
    if (strchr(mode, 'c'))
      guided_save(&G);
    return r;
  }
  ram = hv_pages(RAM / PGSIZE);
  pool = hv_pages(DEMAND);
  if (!ram || !pool) {
    printf("guestfuzz: out of memory\n");
    return 1;
  }
  one_guest(VM_MODE_REAL, 4);   // warm-up: kernel state built on first use
  long before = freepages();
  raw_budget = budget;
  nested_mode = *mode == 'n';
  if (guided_on)
    guided_load(&G, nested_mode ? "guestfuzz-n.corpus" : "guestfuzz-g.corpus", raw_input);
  for (uint64 i = 0; i < count; i++) {
    if (guided_on)
      guided_next(&G);
    raw_input();
    if (guided_on)
      guided_done(&G);
  }
  long after = freepages();
  char line[384];
  int n = nested_mode ? snprintf(line, sizeof line, "guestfuzz: seed %lu guests %lu mode nested exits %lu outcomes [",
                                 seed, count, nexits)
                      : snprintf(line, sizeof line,
                                 "guestfuzz: seed %lu guests %lu (real %lu prot32 %lu long64 %lu) exits %lu outcomes [",
                                 seed, count, modes[0], modes[1], modes[2], nexits);
  for (int i = 0; i < NOUT; i++)
    n += snprintf(line + n, sizeof line - n, "%s%s=%lu", i ? " " : "", outnames[i], outcomes[i]);
  if (nested_mode)
    n += snprintf(line + n, sizeof line - n, "] vmrun [entered=%lu back=%lu invalid=%lu gp=%lu stuck=%lu misrouted=%lu lost=%lu] faults %lu tainted %lu",
                  l1t.entered, l1t.back, l1t.invalid, l1t.gp, l1t.stuck, l1t.misrouted, l1t.lost, l1t.faults, l1t.tainted);
  else
    n += snprintf(line + n, sizeof line - n, "]");
  printf("%s pages %ld->%ld leaked %ld\n", line, before, after, before - after);
  if (guided_on)
    guided_report(&G);
  if (strchr(mode, 'c'))
    guided_save(&G);
  return outcomes[O_ERROR] || l1t.lost || l1t.misrouted || before != after ? 1 : 0;
}
