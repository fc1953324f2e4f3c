// mmiodiff: the VMM's MMIO path against the CPU (issue 13, lab 7).
//
//   mmiodiff [COUNT [SEED]]
//
// Each instance is a random encoding of an instruction the emulator covers
// (user/fuzz/x86gen.c: prefixes, REX, every ModRM/SIB/RIP-relative form),
// with random registers and arithmetic flags. A 64-bit guest runs it twice
// from the same registers, with the same bytes in its operand page:
//   A  the page is guest RAM: the CPU (here QEMU's) runs the instruction;
//   B  the same guest-virtual page is mapped (by the guest's own page tables)
//      to the VMM's test device, a RAM-like MMIO page: the access is a nested
//      page fault, and the VMM fetches the instruction through the guest's
//      page tables, decodes and emulates it (user/vmm/mmio.c, the real path
//      every MMIO exit takes).
// Registers, arithmetic flags, RIP and the page must agree, except where
// QEMU 7.2 itself departs from the manuals (docs/svm-primer.md §11), which
// is counted, not hidden:
//   - a REX before a legacy prefix must be ignored; QEMU applies it, so run
//     A is not what a CPU does: such instances are not run (tools/emutest
//     checks them against the build machine's CPU);
//   - with LOCK (and XCHG, locked by itself) QEMU's nested page fault exit
//     reports RFLAGS with the arithmetic flags cleared, so the MMIO path
//     starts from other flags than the guest had: run A is then repeated
//     from the flags the exit reported, and B is compared with that.
// Every other instance starts near the end of a page and continues on a
// page whose frame is not the next one; every instance has a GS base, which
// one in six uses through a GS override. Each run ends at
// a store to END_GPA, which is neither RAM nor a device: a nested page fault
// that user space sees with RIP on the store and nothing left to complete
// (a HLT would leave its completion pending, which vcpu_setregs keeps:
// kern/vmabi.h). Prints one summary line:
//   mmiodiff: N instances of F forms, N agree (A on RAM, B through MMIO); E emulated; F failures
#include "vmm/vmm.h"
#include "vmm/mmio.h"
#include "fuzz/x86gen.h"

#define RAM (2UL << 20)
#define LOAD 0x1000UL
#define PT_A 0x2000UL      // PML4, PDPT, PD, PT of run A (the page in RAM)
#define PT_B 0x6000UL      // the same for run B (the page on the test device)
#define CODE 0x10000UL
#define CODE2_GPA 0x150000UL  // the frame behind the page after CODE's: not CODE + 0x1000
#define DATA 0x100000UL    // the operand page's guest-virtual (and run A's physical) address
#define STACK 0x1F0000UL
#define END_GPA 0x30000000UL  // the end marker's address (2 MiB page in both page tables)
#define PTE_PW 0x3UL       // present, writable
#define MAXFAIL 20

static uint8 *ram;
static struct guest g;
static struct opts opts = {0, 0, -1, 0, END_HALT, 0, 0};
static struct vm_regs base;
static long failures, emulated, skipped_rex, lost_flags, crossing, gs_used;
static int flags_lost;       // this instance's NPF exit reported other flags than it started with
static uint64 npf_flags;     // ... namely these

static uint64 rng = 0x2545F4914F6CDD1DUL;
static uint64 rnd(void)
{
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}

static void put64(uint64 gpa, uint64 v) { memcpy(ram + gpa, &v, 8); }

// Identity paging of the first 2 MiB in 4 KiB pages, except that DATA maps
// to data_gpa and the page after CODE's to CODE2_GPA (so that an instruction
// across the page boundary continues in a frame that is not the next one):
// PML4, PDPT, PD, PT at root .. root + 0x3000.
static void page_tables(uint64 root, uint64 data_gpa)
{
  put64(root, (root + 0x1000) | PTE_PW);
  put64(root + 0x1000, (root + 0x2000) | PTE_PW);
  put64(root + 0x2000, (root + 0x3000) | PTE_PW);
  put64(root + 0x2000 + 8 * (END_GPA >> 21), END_GPA | PTE_PW | 0x80);   // PS: a 2 MiB page
  for (uint64 i = 0; i < 512; i++)
    put64(root + 0x3000 + 8 * i, (i * 4096) | PTE_PW);
  put64(root + 0x3000 + 8 * (DATA >> 12), data_gpa | PTE_PW);
  put64(root + 0x3000 + 8 * ((CODE >> 12) + 1), CODE2_GPA | PTE_PW);
}

// Where each instance starts: every other one ends its first page with 1 to
// len - 1 of its bytes, the rest on the next page (CODE2_GPA).
static uint64 code_at;
static uint64 gs_at;   // this instance's GS base (a GS override lands on DATA through it)

// Writes n bytes at guest-virtual va in CODE's two pages, through the mapping.
static void put_code(uint64 va, const uint8 *b, int n)
{
  for (int i = 0; i < n; i++, va++)
    ram[va < CODE + 4096 ? va : CODE2_GPA + (va - CODE - 4096)] = b[i];
}

static int setup(void)
{
  if (!ram) {
    ram = malloc(RAM + 4096);
    if (!ram)
      return -1;
    ram = (uint8 *)(((uint64)ram + 4095) & ~4095UL);
  }
  memset(ram, 0, RAM);
  page_tables(PT_A, DATA);
  page_tables(PT_B, GUEST_TESTDEV_GPA);
  struct guest_header *h = &g.hdr;
  h->magic = GUEST_MAGIC;
  h->version = GUEST_VERSION;
  h->mode = GUEST_MODE_LONG64;
  h->load = LOAD;
  h->entry = CODE;
  h->memsize = RAM;
  h->cr3 = PT_A;
  h->stack = STACK;
  h->flags = GUEST_F_TESTDEV;
  memcpy(ram + LOAD, h, sizeof *h);
  g.name = "mmiodiff";
  g.prefix = "";
  g.o = &opts;
  g.mem = ram;
  g.imagesize = RAM - LOAD;
  mmio_reset();
  if (guest_setup(&g) < 0)
    return -1;
  return vcpu_getregs(g.vm, g.vcpu, &base) < 0 ? -1 : 0;
}

// A fresh VM after a run that failed. 0 or -1.
static int reset(void)
{
  vm_destroy(g.vm);
  memset(&g, 0, sizeof g);
  return setup();
}

// One run from the instance's registers with page tables at root; the
// registers at the end marker into *out. NULL, or what went wrong.
static const char *run(const struct x86gen *x, uint64 root, struct vm_regs *out)
{
  struct vm_regs r = base;
  for (int i = 0; i < 16; i++)
    *mmio_gpr(&r, i) = x->r.gpr[i];
  r.rsp = STACK;
  r.rflags = x->r.rflags;
  r.rip = code_at;
  r.gs.base = gs_at;
  r.cr3 = root;
  if (vcpu_setregs(g.vm, g.vcpu, &r) < 0)
    return "vcpu_setregs";
  g.end = END_NONE;
  int npfs = 0;   // the first NPF exit's flags are compared (an INTR exit may come first)
  for (int exits = 0; exits < 16; exits++) {
    memset(&g.e, 0, sizeof g.e);
    if (vcpu_run(g.vm, g.vcpu, &g.e) < 0)
      return "vcpu_run";
    if (g.e.reason == VM_EXIT_NPF && g.e.u.npf.gpa == END_GPA)
      return vcpu_getregs(g.vm, g.vcpu, out) < 0 ? "vcpu_getregs" : NULL;
    if (g.e.reason == VM_EXIT_NPF && mmio_find(g.e.u.npf.gpa)) {
      struct vm_regs t;
      if (npfs++ == 0 && vcpu_getregs(g.vm, g.vcpu, &t) == 0 &&
          (t.rflags & X86_FL_ARITH) != (x->r.rflags & X86_FL_ARITH))
        flags_lost = 1, npf_flags = t.rflags;
      if (!mmio_exit(&g))
        return g.why[0] ? g.why : "the MMIO path ended the guest";
      emulated++;
      continue;
    }
    if (g.e.reason != VM_EXIT_INTR && g.e.reason != VM_EXIT_DEADLINE) {
      snprintf(g.why, sizeof g.why, "exit reason %u (code 0x%lx) at rip 0x%lx", g.e.reason, g.e.code, g.e.rip);
      return g.why;
    }
  }
  return "no end marker after 16 exits";
}

static void report(const struct x86gen *x, const char *what, struct vm_regs *a, struct vm_regs *b)
{
  if (failures++ >= MAXFAIL)
    return;
  printf("mmiodiff: MISMATCH (%s):", what);
  for (int i = 0; i < x->len; i++)
    printf(" %02x", x->b[i]);
  printf("\n");
  for (int i = 0; a && b && i < 16; i++)
    if (*mmio_gpr(a, i) != *mmio_gpr(b, i))
      printf("   r%d: in 0x%lx RAM 0x%lx MMIO 0x%lx\n", i, x->r.gpr[i], *mmio_gpr(a, i),
             *mmio_gpr(b, i));
  if (a && b)
    printf("   rflags in 0x%lx RAM 0x%lx MMIO 0x%lx, rip RAM 0x%lx MMIO 0x%lx\n", x->r.rflags, a->rflags, b->rflags,
           a->rip, b->rip);
}

// Runs one instance both ways. 1 when they agree.
static int compare(const struct x86gen *x)
{
  static uint8 orig[4096];
  uint8 *dev = testdev_page();
  x86gen_fill(x, orig, rnd);
  memcpy(ram + DATA, orig, 4096);
  memcpy(dev, orig, 4096);
  uint8 end[9] = {0xA2};   // movabs %al, END_GPA
  uint64 endgpa = END_GPA;
  memcpy(end + 1, &endgpa, 8);
  put_code(code_at, x->b, x->len);
  put_code(code_at + x->len, end, sizeof end);
  struct vm_regs a, b;
  flags_lost = 0;
  const char *e = run(x, PT_A, &a);
  if (!e)
    e = run(x, PT_B, &b);
  if (!e && flags_lost) {   // A again, from the flags B's exit reported
    struct x86gen again = *x;
    again.r.rflags = npf_flags;
    memcpy(ram + DATA, orig, 4096);
    e = run(&again, PT_A, &a);
  }
  if (e) {
    report(x, e, NULL, NULL);
    return reset() < 0 ? -1 : 0;   // the vcpu may be dead (a triple fault): start over
  }
  lost_flags += flags_lost;
  const char *what = NULL;
  if (a.rip != code_at + (uint64)x->len || b.rip != a.rip)
    what = "rip";
  else if ((a.rflags & X86_FL_ARITH) != (b.rflags & X86_FL_ARITH))
    what = "flags";
  else if (memcmp(ram + DATA, dev, 4096))
    what = "memory";
  for (int i = 0; !what && i < 16; i++)
    if (*mmio_gpr(&a, i) != *mmio_gpr(&b, i))
      what = "register";
  if (what)
    report(x, what, &a, &b);
  return !what;
}

int main(int argc, char **argv)
{
  long count = argc > 1 ? atoi(argv[1]) : 100000;
  rng ^= argc > 2 ? (uint64)atoi(argv[2]) * 0x9E3779B97F4A7C15UL : 0;
  if (setup() < 0) {
    printf("mmiodiff: cannot set up the guest (%s)\n", g.why[0] ? g.why : "see above");
    return 2;
  }
  int nf = x86gen_nforms();
  long tried = 0, agree = 0;
  for (long i = 0; tried < count; i++) {
    struct x86gen x;
    // The length is known only after generating: generate at CODE, then, for
    // a crossing instance, again at its place (RIP-relative forms depend on it).
    gs_at = DATA - 0x10000 - rnd() % 0x10000;   // a non-zero base: 64-bit mode still adds it
    struct x86gen_env env = {CODE, DATA, gs_at, rnd};
    code_at = CODE;
    if (!x86gen_generate(&env, i % nf, &x))
      continue;
    if ((i / nf) % 2 && x.len > 1) {
      env.code = code_at = CODE + 4096 - 1 - rnd() % (x.len - 1);
      if (!x86gen_generate(&env, i % nf, &x) || code_at + x.len <= CODE + 4096) {
        code_at = CODE;   // the new encoding is shorter: run it unsplit
        env.code = CODE;
        if (!x86gen_generate(&env, i % nf, &x))
          continue;
      }
      crossing += code_at != CODE;
    }
    gs_used += x.gs;
    if (x.stray_rex) {
      skipped_rex++;
      continue;
    }
    tried++;
    int r = compare(&x);
    if (r < 0) {
      printf("mmiodiff: cannot set the guest up again\n");
      return 2;
    }
    agree += r;
  }
  printf("mmiodiff: %ld instances of %d forms, %ld agree (A on RAM, B through MMIO); %ld emulated; "
         "QEMU: %ld with a stray REX not run, %ld NPF exits with lost flags; %ld failures\n",
         tried, nf, agree, emulated, skipped_rex, lost_flags, failures);
  printf("mmiodiff: %ld instances crossed into a non-contiguous code page, %ld used GS with a non-zero base\n",
         crossing, gs_used);
  return failures ? 1 : 0;
}
