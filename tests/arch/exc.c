// Exceptions and their error codes in 64-bit mode, at CPL 0 and CPL 3:
// which vector, which error code, where RIP points (fault: at the
// instruction; trap: after it), CR2 for page faults (APM Vol. 2 §8.2, §8.4).
#include "rt.h"

const char kernel_name[] = "exc";

static u8 page[4096] __attribute__((aligned(4096)));

static void report(const char *check, int v, u64 err, u64 rip)
{
  if (v < 0)
    out(check, "none");
  else
    out(check, "%s error %lx rip +%lu", vecname(v), err, rip);
}
#define REPORT(check, v) do { int _v = (v); report(check, _v, exc_err, exc_rip); } while (0)

static void set_pte(void *va, u64 set, u64 clear)
{
  u64 *p = pte_of(va);
  *p = (*p | set) & ~clear;
  asm volatile("invlpg (%0)" :: "r"(va) : "memory");
}

static void record(struct frame *f)
{
  exc_vec = f->vec, exc_err = 0, exc_rip = 2;
}

static void segments(void)
{
  handlers[0x2f] = record;
  REPORT("de", TRY("divl %%ecx", :: "a"(1), "d"(0), "c"(0)));
  REPORT("ud", TRY("ud2"));
  REPORT("bp", TRY("int3"));
  REPORT("gp_selector_past_limit", TRY("mov %%ax, %%ds", :: "a"(0x1000)));
  REPORT("np_ds", TRY("mov %%ax, %%ds", :: "a"(NPSEL)));
  REPORT("ss_not_present", TRY("mov %%ax, %%ss", :: "a"(NPSEL)));
  REPORT("gp_ss_code_segment", TRY("mov %%ax, %%ss", :: "a"(CODE32)));
  REPORT("ds_null", TRY("mov %%ax, %%ds", :: "a"(0)));
  asm volatile("mov %0, %%ds; mov %0, %%es; mov %0, %%ss" :: "r"(KDATA));
  REPORT("gp_noncanonical", TRY("movq (%%rax), %%rbx", :: "a"(0x8000000000000000UL) : "rbx"));
  // A stack reference (base RBP) to a non-canonical address is #SS, not #GP.
  exc_vec = -1;
  barrier();
  asm volatile("push %%rbp; movabs $0x8000000000000000, %%rbp\n1: movq (%%rbp), %%rbx\n2: pop %%rbp\n"
               ".pushsection .fixup, \"a\"\n.quad 1b, 2b\n.popsection" ::: "rbx", "memory");
  REPORT("ss_noncanonical", exc_vec);
  REPORT("int_to_dpl0_gate_cpl0", TRY("int $0x2f"));
  struct { u16 limit; u64 base; } __attribute__((packed)) idtr, small;
  asm volatile("sidt %0" : "=m"(idtr));
  small = idtr;
  small.limit = 32 * 16 - 1;
  asm volatile("lidt %0" :: "m"(small));
  REPORT("int_past_idt_limit", TRY("int $0x40"));
  asm volatile("lidt %0" :: "m"(idtr));
}

// A fetch fault at `page`, reached by a call: record it, return to the caller.
static int fetch_fault(struct frame *f)
{
  if (f->vec != 14 || f->rip != (u64)page)
    return 0;
  exc_vec = 14, exc_err = f->err, exc_rip = 0;
  f->rip = *(u64 *)f->rsp;
  f->rsp += 8;
  return 1;
}

static void paging(void)
{
  set_pte(page, 0, 1);
  int v = TRY("movb (%%rax), %%bl", :: "a"(page + 8) : "rbx");
  report("pf_not_present_read", v, exc_err, exc_rip);
  out("pf_not_present_cr2", "%s", READ_CR(2) == (u64)page + 8 ? "the address" : "other");
  REPORT("pf_not_present_write", TRY("movb %%bl, (%%rax)", :: "a"(page), "b"(0)));
  set_pte(page, 1 | 1UL << 51, 0);
  REPORT("pf_reserved_bit", TRY("movb (%%rax), %%bl", :: "a"(page) : "rbx"));
  set_pte(page, 0, 1UL << 51 | 2);
  REPORT("pf_write_readonly", TRY("movb %%bl, (%%rax)", :: "a"(page), "b"(0)));
  u64 cr0 = READ_CR(0);
  WRITE_CR(0, cr0 & ~(1UL << 16));
  REPORT("pf_write_readonly_wp0", TRY("movb %%bl, (%%rax)", :: "a"(page), "b"(0)));
  WRITE_CR(0, cr0);
  set_pte(page, 2, 0);
  page[0] = 0xC3;   // ret
  wrmsr(0xC0000080, rdmsr(0xC0000080) | 1 << 11);   // EFER.NXE
  set_pte(page, 1UL << 63, 0);
  trap_hook = fetch_fault;
  exc_vec = -1;
  ((void (*)(void))page)();
  trap_hook = 0;
  REPORT("pf_fetch_nx", exc_vec);
  out("pf_fetch_nx_cr2", "%s", READ_CR(2) == (u64)page ? "the address" : "other");
  set_pte(page, 0, 1UL << 63);
}

// ---- CPL 3: one user function per check (run_user) ----
static volatile int uv;
static volatile u64 ue, ur;
#define USER(fn, code, ...) static void fn(void) { uv = TRY(code, __VA_ARGS__); ue = exc_err; ur = exc_rip; }
USER(u_hlt, "hlt")
USER(u_cli, "cli")
USER(u_in, "inb $0x80, %%al", ::: "rax")
USER(u_int_dpl0, "int $0x2f")
USER(u_int3, "int3")
USER(u_write_ro, "movb %%bl, (%%rax)", :: "a"(page), "b"(0))
USER(u_read_super, "movb (%%rax), %%bl", :: "a"(page) : "rbx")
USER(u_misaligned, "movl (%%rax), %%ebx", :: "a"(page + 1) : "rbx")
USER(u_mov_cr, "mov %%cr0, %%rax", ::: "rax")
USER(u_rdmsr, "rdmsr", :: "c"(0x10) : "rax", "rdx")

static void user(const char *check, void (*fn)(void), u64 rflags)
{
  uv = -2;
  run_user(fn, rflags);
  report(check, uv, ue, ur);
}

static void user_mode(void)
{
  set_pte(page, 0, 2);   // user, read-only
  user("cpl3_hlt", u_hlt, 2);
  user("cpl3_cli_iopl0", u_cli, 2);
  user("cpl3_cli_iopl3", u_cli, 2 | 3 << 12);
  user("cpl3_in_iopl0", u_in, 2);
  user("cpl3_int_to_dpl0_gate", u_int_dpl0, 2);
  user("cpl3_int3", u_int3, 2);
  user("cpl3_write_readonly", u_write_ro, 2);
  user("cpl3_mov_cr0", u_mov_cr, 2);
  user("cpl3_rdmsr", u_rdmsr, 2);
  user("cpl3_misaligned_ac0", u_misaligned, 2);
  u64 cr0 = READ_CR(0);
  WRITE_CR(0, cr0 | 1 << 18);   // CR0.AM
  user("cpl3_misaligned_ac1", u_misaligned, 2 | 1 << 18);
  WRITE_CR(0, cr0);
  set_pte(page, 0, 4);   // supervisor
  user("cpl3_read_supervisor", u_read_super, 2);
  set_pte(page, 6, 0);
}

void kmain(void)
{
  segments();
  paging();
  user_mode();
}
