// Interrupts and exceptions in real mode, through the interrupt vector
// table at 0: the frame is FLAGS, CS, IP (6 bytes), IF is cleared, a fault
// (#DE, #UD) pushes the IP of the faulting instruction (APM Vol. 2 §8.7.1
// "Real-Mode Interrupt Control Transfers"). Run from the 32-bit entry
// (pm32_hook): protected mode -> 16-bit protected mode -> real mode with
// CS=0xFFFF (the code sits just above 1 MiB: A20 is on) and back.
// Records go to low memory at 0x600 (free conventional memory on a PC).
#include "rt.h"

const char kernel_name[] = "realmode";

extern char rm_base[];
#define RM(x) "(" #x " - 0xFFFF0)"

asm(".data\nrm_esp32: .long 0\n"
    ".text\n.code32\n.globl pm32_hook\npm32_hook:\n"
    "  pushal\n  mov %esp, rm_esp32\n"
    "  mov $0xFF, %al\n  out %al, $0x21\n  out %al, $0xA1\n"
    "  ljmp $0x48, $(rm_p16 - 0x100000)\n"
    ".code16\n.globl rm_base\nrm_base:\n"
    "rm_p16:\n  mov $0x50, %ax\n  mov %ax, %ds\n  mov %ax, %es\n  mov %ax, %ss\n"
    "  mov %cr0, %eax\n  and $~1, %eax\n  mov %eax, %cr0\n"
    "  ljmp $0xFFFF, $" RM(rm_real) "\n"
    "rm_real:\n  xor %ax, %ax\n  mov %ax, %ds\n  mov %ax, %es\n  mov %ax, %ss\n  mov $0x7000, %sp\n"
    "  lidt %cs:" RM(rm_ivtr) "\n"
    "  movw $0, 0x6FE\n"
    "  movw $" RM(rm_h0) ", 0x0\n  movw $0xFFFF, 0x2\n"
    "  movw $" RM(rm_h6) ", 0x18\n  movw $0xFFFF, 0x1A\n"
    "  movw $" RM(rm_h41) ", 0x104\n  movw $0xFFFF, 0x106\n"
    "  sti\n  mov %sp, 0x6F0\n  int $0x41\n  cli\n"
    "  mov %sp, 0x6F0\n  ud2\n"
    "  xor %dx, %dx\n  mov $1, %ax\n  xor %cx, %cx\n  mov %sp, 0x6F0\n  div %cx\n"
    "  mov %cr0, %eax\n  or $1, %eax\n  mov %eax, %cr0\n"
    "  ljmpl $0x40, $rm_back32\n"
    "rm_h0: pushw $0\n  jmp rm_common\n"
    "rm_h6: pushw $6\n  jmp rm_common\n"
    "rm_h41: pushw $0x41\n  jmp rm_common\n"
    // stack: bp | vec ip cs flags
    "rm_common:\n  push %bp\n  mov %sp, %bp\n  push %ax\n  push %bx\n"
    "  mov 0x6FE, %bx\n  shl $4, %bx\n  add $0x600, %bx\n"
    "  mov 2(%bp), %ax\n  mov %ax, 0(%bx)\n"
    "  mov 4(%bp), %ax\n  mov %ax, 2(%bx)\n"
    "  mov 6(%bp), %ax\n  mov %ax, 4(%bx)\n"
    "  mov 8(%bp), %ax\n  mov %ax, 6(%bx)\n"
    "  pushf\n  pop %ax\n  mov %ax, 8(%bx)\n"
    "  mov 0x6F0, %ax\n  sub %bp, %ax\n  sub $4, %ax\n  mov %ax, 10(%bx)\n"
    "  incw 0x6FE\n"
    "  cmpw $0x41, 2(%bp)\n  je 1f\n  addw $2, 4(%bp)\n"
    "1: pop %bx\n  pop %ax\n  pop %bp\n  add $2, %sp\n  iret\n"
    "rm_ivtr: .word 0x3FF\n  .long 0\n"
    ".code32\nrm_back32:\n  mov $0x10, %ax\n  mov %ax, %ds\n  mov %ax, %es\n  mov %ax, %ss\n"
    "  mov rm_esp32, %esp\n  popal\n  ret\n"
    ".code64\n");

struct rec { u16 vec, ip, cs, flags_saved, flags_now, frame, pad[2]; };

// A low-memory address the compiler cannot see as a constant (a constant
// one draws -Warray-bounds).
static void *low(u64 a)
{
  asm("" : "+r"(a));
  return (void *)a;
}

void kmain(void)
{
  static const char *names[] = {"int_0x41", "ud_fault", "de_fault"};
  const struct rec *r = low(0x600);
  u16 n = *(volatile u16 *)low(0x6FE);
  u16 base = (u16)((u64)rm_base - 0xFFFF0);
  for (u16 i = 0; i < 3; i++) {
    if (i >= n) {
      out(names[i], "not delivered");
      continue;
    }
    out(names[i], "vector %x ip +%u cs %x saved-if %u if %u frame %u bytes", r[i].vec,
        (u16)(r[i].ip - base), r[i].cs, r[i].flags_saved >> 9 & 1, r[i].flags_now >> 9 & 1, r[i].frame);
  }
}
