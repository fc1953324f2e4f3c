// Debug registers and single-step (APM Vol. 2 §13.1): DR6/DR7 defaults,
// execute/write/read-write/I-O breakpoints with the DR6 bit each sets,
// fault vs trap RIP, DR7.GD, DR4/DR5 aliasing under CR4.DE, and RFLAGS.TF
// stepping through instructions a hypervisor intercepts (CPUID, IN, OUT,
// RDMSR, MMIO), at CPL 0 and CPL 3: one #DB with DR6.BS per instruction.
#include "rt.h"

const char kernel_name[] = "dbg";

#define DR(n) ({ u64 _v; asm volatile("mov %%dr" #n ", %0" : "=r"(_v)); _v; })
#define SETDR(n, v) asm volatile("mov %0, %%dr" #n :: "r"((u64)(v)))

static volatile u32 watched;
static volatile int hits;
static volatile u64 hit_dr6, hit_rip;

// #DB from a breakpoint: record DR6 and RIP, disarm, resume with RF set
// (an instruction breakpoint would fire again otherwise).
static int db_hook(struct frame *f)
{
  if (f->vec != 1)
    return 0;
  hits++;
  hit_dr6 = DR(6);
  hit_rip = f->rip;
  SETDR(7, 0x400);
  SETDR(6, 0xFFFF0FF0);
  f->rflags |= 1 << 16;
  return 1;
}

static __attribute__((noinline)) void target(void)
{
  asm volatile("nop");
}

static void show(const char *check, u64 want_rip)
{
  out(check, "hits %d dr6 %lx rip %s", hits, hit_dr6 & 0xE00F, hit_rip == want_rip ? "expected" : "other");
  hits = 0, hit_dr6 = 0, hit_rip = 0;
}

// The guest's debug registers are its own across instructions a hypervisor
// intercepts (CPUID, OUT): values kept, and a breakpoint armed before the
// exit still fires after it.
static void across_exits(void)
{
  u64 v[4] = {0x1000, 0x2008, 0x3010, 0x4018}, dr7 = 0x400 | 0xAA | 0x5UL << 16 | 0xDUL << 20;
  SETDR(0, v[0]);
  SETDR(1, v[1]);
  SETDR(2, v[2]);
  SETDR(3, v[3]);
  SETDR(7, dr7);   // G0-G3 (no local enables), DR0 write 2 bytes, DR1 write 4 bytes
  u32 r[4];
  cpuid(0, 0, r);
  outb(0x80, 0);
  int same = DR(0) == v[0] && DR(1) == v[1] && DR(2) == v[2] && DR(3) == v[3] && DR(7) == dr7;
  out("drs_across_exits", "%s", same ? "kept" : "changed");
  SETDR(7, 0x400);
  SETDR(0, target);
  SETDR(7, 0x400 | 2);
  cpuid(0, 0, r);
  outb(0x80, 0);
  target();
  show("exec_bp_across_exits", (u64)target);
  SETDR(7, 0x400);
}

// Write watchpoints on addresses this kernel never touches, 32 bytes at a
// time, each set live across exits (CPUID, OUT): nothing may happen here,
// nor in the host. The ranges are where a user-space VMM on svmlab keeps its
// data (linked at 0x400000, user/user.ld) and its stack (below
// 0x7FFFFFFF0000): DR0-3/DR7 are the guest's only while it runs (APM Vol. 2
// §15.11 "Debug Registers", §13.1.1).
static void watch_range(u64 from, u64 to)
{
  u64 dr7 = 0x400 | 0xAA;
  for (int i = 0; i < 4; i++)
    dr7 |= (0x1UL | 0x2UL << 2) << (16 + 4 * i);   // write, 8 bytes
  u32 r[4];
  for (u64 a = from; a < to; a += 32) {
    SETDR(0, a);
    SETDR(1, a + 8);
    SETDR(2, a + 16);
    SETDR(3, a + 24);
    SETDR(7, dr7);
    cpuid(0, 0, r);
    outb(0x80, 0);
    SETDR(7, 0x400);
  }
}

static void watch_untouched(void)
{
  watch_range(0x00007FFFFFFF0000UL - 4096, 0x00007FFFFFFF0000UL);
  watch_range(0x408000, 0x420000);
  out("watch_untouched_addresses", "hits %d, survived", hits);
  hits = 0;
}

static void breakpoints(void)
{
  out("dr6_dr7_reset", "%lx %lx", DR(6), DR(7));
  SETDR(7, 0x400 | 0xFF);
  out("dr7_readback", "%lx", DR(7));
  SETDR(7, 0x400);
  trap_hook = db_hook;
  SETDR(0, target);
  SETDR(7, 0x400 | 2);   // G0, execute, length 1
  target();
  show("exec_bp_dr0", (u64)target);
  SETDR(1, &watched);
  SETDR(7, 0x400 | 8 | 0xD << 20);   // G1, write, 4 bytes
  u64 after;
  asm volatile("movl $5, %0\n1: lea 1b(%%rip), %1" : "=m"(watched), "=r"(after));
  show("write_bp_dr1", after);
  SETDR(2, &watched);
  SETDR(7, 0x400 | 0x20 | 0xF << 24);   // G2, read/write, 4 bytes
  u32 v = watched;
  (void)v;
  out("rw_bp_dr2_on_read", "hits %d dr6 %lx", hits, hit_dr6 & 0xE00F);
  hits = 0;
  u64 cr4 = READ_CR(4);
  WRITE_CR(4, cr4 | 1 << 3);   // CR4.DE: I/O breakpoints
  SETDR(3, 0x3FF);
  SETDR(7, 0x400 | 0x80 | 0x2UL << 28);   // G3, I/O, 1 byte
  outb(0x3FF, 1);
  out("io_bp_dr3", "hits %d dr6 %lx", hits, hit_dr6 & 0xE00F);
  hits = 0;
  SETDR(7, 0x400);
  out("dr4_with_de", "%s", vecname(TRY("mov %%dr4, %%rax", ::: "rax")));
  WRITE_CR(4, cr4 & ~(1UL << 3));
  SETDR(7, 0x401);
  out("dr5_aliases_dr7_without_de", "%s", DR(5) == DR(7) ? "yes" : "no");
  SETDR(7, 0x400 | 1 << 13);   // GD: the next MOV DR faults
  u64 x = 0;
  int gd = TRY("mov %%dr0, %%rax", : "=a"(x));
  out("general_detect", "%s dr6 %lx rip %s", vecname(gd), exc_dr6 & 0xE00F, hits ? "hook" : "fixup");
  hits = 0, hit_dr6 = 0, hit_rip = 0;
  SETDR(7, 0x400);
  across_exits();
  watch_untouched();
  trap_hook = 0;
}

// ---- single-step ----
static volatile int steps, step_bs;
static volatile u64 step_rips[32];
extern char step_begin[], step_end[], ustep_begin[], ustep_end[];
static u64 region_end;

static int step_hook(struct frame *f)
{
  if (f->vec != 1)
    return 0;
  u64 dr6 = DR(6);
  SETDR(6, 0xFFFF0FF0);
  if (steps < 32)
    step_rips[steps] = f->rip;
  steps++;
  step_bs += dr6 >> 14 & 1;
  if (f->rip >= region_end)
    f->rflags &= ~(1UL << 8);
  return 1;
}

static void show_steps(const char *check, u64 base)
{
  char line[160];
  int k = snprintf(line, sizeof line, "%d steps, %d with BS, at", steps, step_bs);
  for (int i = 0; i < steps && i < 16 && k < 150; i++)
    k += snprintf(line + k, sizeof line - k, " +%lu", step_rips[i] - base);
  out(check, "%s", line);
  steps = 0, step_bs = 0;
}

// The stepped block: TF goes on with POPF; each following instruction traps.
asm(".text\nstepped:\n"
    "  pushf; orq $0x100, (%rsp); popf\n"
    "step_begin:\n"
    "  nop\n"
    "  cpuid\n"
    "  inb $0x61, %al\n"
    "  outb %al, $0x80\n"
    "  mov %r8, %rcx\n"
    "  rdmsr\n"
    "  movl (%r9), %eax\n"          // MMIO: the APIC's TPR
    "  movl %eax, (%r9)\n"
    "  nop\n"
    "step_end:\n"
    "  nop\n"
    "  ret\n"
    "ustepped:\n"
    "  pushf; orq $0x100, (%rsp); popf\n"
    "ustep_begin:\n"
    "  nop\n"
    "  cpuid\n"
    "  inb $0x61, %al\n"
    "  movl (%r9), %eax\n"
    "  nop\n"
    "ustep_end:\n"
    "  nop\n"
    "  ret\n");

static void run_stepped(void)
{
  asm volatile("mov $0x1B, %%r8d; mov $0xFEE00080, %%r9d; xor %%eax, %%eax; call stepped"
               ::: "rax", "rbx", "rcx", "rdx", "r8", "r9", "memory");
}

static void u_stepped(void)
{
  asm volatile("mov $0xFEE00080, %%r9d; xor %%eax, %%eax; call ustepped" ::: "rax", "rbx", "rcx", "rdx", "r9", "memory");
}

static void single_step(void)
{
  trap_hook = step_hook;
  region_end = (u64)step_end;
  run_stepped();
  show_steps("step_cpl0", (u64)step_begin);
  region_end = (u64)ustep_end;
  run_user(u_stepped, 2 | 3 << 12);
  show_steps("step_cpl3", (u64)ustep_begin);
  trap_hook = 0;
}

void kmain(void)
{
  breakpoints();
  single_step();
}
