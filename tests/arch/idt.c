// IDT delivery in 64-bit mode, from 64-bit code at CPL 0 and 3 and from
// compatibility-mode code: the frame the CPU pushes (SS:RSP always, RSP
// aligned to 16), which stack (RSP0 from the TSS, or an IST stack), what
// becomes of RFLAGS.IF/TF for interrupt and trap gates, and SS after a
// privilege change (APM Vol. 2 §8.9 "Long-Mode Interrupt Control Transfers").
#include "rt.h"

const char kernel_name[] = "idt";

static volatile struct {
  int hit;
  u64 cs, ss, rflags_saved, rflags_now, frame_align, cur_ss;
  u64 frame;
} seen;
extern char ist_stack_top[];

static void record(struct frame *f)
{
  u64 fl, ss;
  asm volatile("pushf; pop %0; mov %%ss, %1" : "=r"(fl), "=r"(ss));
  seen.hit++;
  seen.cs = f->cs, seen.ss = f->ss, seen.rflags_saved = f->rflags, seen.rflags_now = fl, seen.cur_ss = ss;
  seen.frame_align = (u64)(&f->ss + 1) & 15;
  seen.frame = (u64)f;
}

static const char *where(u64 a)
{
  if (a < (u64)ist_stack_top && a >= (u64)ist_stack_top - 8192)
    return "ist1";
  if (a < tss_rsp0 && a >= tss_rsp0 - 8192)
    return "rsp0";
  return "current";
}

static void show(const char *check)
{
  if (!seen.hit) {
    out(check, "not delivered");
    return;
  }
  out(check, "cs %lx ss %lx saved-if %lu if %lu tf %lu frame-top-align %lu stack %s ss-now %lx",
      seen.cs, seen.ss, seen.rflags_saved >> 9 & 1, seen.rflags_now >> 9 & 1, seen.rflags_now >> 8 & 1,
      seen.frame_align, where(seen.frame), seen.cur_ss);
  seen.hit = 0;
}

static void kernel_mode(void)
{
  asm volatile("sti; int $0x41; cli");
  show("int_gate_cpl0");
  set_gate(0x42, 0, 0, 1);
  asm volatile("sti; int $0x42; cli");
  show("trap_gate_cpl0_if1");
  asm volatile("int $0x42");
  show("trap_gate_cpl0_if0");
  // Misaligned RSP: the CPU aligns before pushing (8 bytes off here).
  asm volatile("sub $8, %%rsp; int $0x41; add $8, %%rsp" ::: "memory");
  show("int_gate_rsp_misaligned");
  set_gate(0x43, 1, 0, 0);
  asm volatile("int $0x43");
  show("ist1");
  // TF set: the handler runs with TF clear; single-step after the INT.
  trap_hook = 0;
}

static void u_int(void) { asm volatile("int $0x44"); }
static void u_int_misaligned(void) { asm volatile("sub $8, %%rsp; int $0x44; add $8, %%rsp" ::: "memory"); }
static void u_int_ist(void) { asm volatile("int $0x45"); }

static void user_mode(void)
{
  set_gate(0x44, 0, 3, 0);
  set_gate(0x45, 1, 3, 1);
  run_user(u_int, 2 | 1 << 9);
  show("int_gate_cpl3");
  run_user(u_int_misaligned, 2);
  show("int_gate_cpl3_rsp_misaligned");
  run_user(u_int_ist, 2 | 1 << 9);
  show("trap_gate_ist_cpl3");
}

// Compatibility mode (a 32-bit code segment in long mode): far-return into
// it, INT 0x46, far-jump back to 64-bit code.
void compat_int(void);
asm(".text\n.globl compat_int\ncompat_int:\n"
    "  push %rbx; push %rbp\n"
    "  mov %rsp, %rbp\n"
    "  pushq $" "0x40" "\n  pushq $compat32\n  lretq\n"
    ".code32\ncompat32:\n  int $0x46\n  ljmpl $0x08, $back64\n"
    ".code64\nback64:\n  mov %rbp, %rsp\n  pop %rbp; pop %rbx\n  ret\n");

static void nested(struct frame *f)
{
  record(f);
  asm volatile("int $0x48");   // nested delivery at CPL 0: no stack switch
}

void kmain(void)
{
  for (int v = 0x41; v <= 0x48; v++)
    handlers[v] = record;
  kernel_mode();
  user_mode();
  compat_int();
  show("int_gate_compat_mode");
  handlers[0x47] = nested;
  asm volatile("int $0x47");
  show("nested_int_from_handler");
}
