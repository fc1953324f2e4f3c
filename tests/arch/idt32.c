// IDT delivery in 32-bit protected mode (before the runtime enters long
// mode; entry.S calls pm32_hook): an interrupt gate clears IF, a trap gate
// keeps it, faults push the faulting EIP, #GP its error code, and a
// same-privilege frame is EFLAGS, CS, EIP only (no SS:ESP), 12 bytes
// (APM Vol. 2 §8.7 "Legacy Protected-Mode Interrupt Control Transfers").
#include "rt.h"

const char kernel_name[] = "idt32";

// One record per delivery, written by the 32-bit handler below.
struct rec { u32 vec, err, eip, cs, eflags_saved, eflags_now, frame, pad; };
extern struct rec pm32_res[8];
extern u32 pm32_n;
extern char pm32_hook[];

// The gates: 6 (#UD), 13 (#GP), 0x41 interrupt gate, 0x42 trap gate.
asm(".code32\n"
    ".bss\n.balign 8\npm32_idt: .space 0x43 * 8\n"
    ".globl pm32_res, pm32_n\n.balign 32\npm32_res: .space 8 * 32\npm32_n: .long 0\npm32_esp: .long 0\n"
    ".data\npm32_idtr: .word 0x43 * 8 - 1\n .long pm32_idt\n"
    ".text\n"
    // gate(vec, handler, type): type 0x8E interrupt gate, 0x8F trap gate
    ".macro gate32 v, h, t\n"
    "  mov $\\h, %eax\n  mov %ax, pm32_idt + \\v * 8\n  movw $0x40, pm32_idt + \\v * 8 + 2\n"
    "  movw $(\\t << 8), pm32_idt + \\v * 8 + 4\n  shr $16, %eax\n  mov %ax, pm32_idt + \\v * 8 + 6\n"
    ".endm\n"
    ".globl pm32_hook\npm32_hook:\n"
    "  push %ebx\n"
    "  mov $0xFF, %al\n  out %al, $0x21\n  out %al, $0xA1\n"
    "  gate32 6, pm32_h6, 0x8E\n  gate32 13, pm32_h13, 0x8E\n"
    "  gate32 0x41, pm32_h41, 0x8E\n  gate32 0x42, pm32_h42, 0x8F\n"
    "  lidt pm32_idtr\n"
    "  sti\n  mov %esp, pm32_esp\n  int $0x41\n"
    "  mov %esp, pm32_esp\n  int $0x42\n  cli\n"
    "  mov %esp, pm32_esp\n  ud2\n"
    "  mov %esp, pm32_esp\n  mov $0x1000, %ax\n  mov %ax, %ds\n"
    "  pop %ebx\n  ret\n"
    "pm32_h6: push $0\n push $6\n jmp pm32_common\n"
    "pm32_h13: push $13\n jmp pm32_common\n"
    "pm32_h41: push $0\n push $0x41\n jmp pm32_common\n"
    "pm32_h42: push $0\n push $0x42\n jmp pm32_common\n"
    // stack: eax ebx | vec err eip cs eflags
    "pm32_common:\n  push %eax\n  push %ebx\n"
    "  mov pm32_n, %ebx\n  shl $5, %ebx\n  add $pm32_res, %ebx\n"
    "  mov 8(%esp), %eax\n  mov %eax, 0(%ebx)\n"
    "  mov 12(%esp), %eax\n  mov %eax, 4(%ebx)\n"
    "  mov 16(%esp), %eax\n  sub $pm32_hook, %eax\n  mov %eax, 8(%ebx)\n"
    "  mov 20(%esp), %eax\n  mov %eax, 12(%ebx)\n"
    "  mov 24(%esp), %eax\n  mov %eax, 16(%ebx)\n"
    "  pushf\n  pop %eax\n  mov %eax, 20(%ebx)\n"
    "  mov pm32_esp, %eax\n  lea 16(%esp), %ebx\n  sub %ebx, %eax\n"
    "  mov pm32_n, %ebx\n  shl $5, %ebx\n  mov %eax, pm32_res + 24(%ebx)\n"
    "  incl pm32_n\n"
    "  mov 8(%esp), %eax\n  cmp $0x40, %eax\n  jae 1f\n  addl $2, 16(%esp)\n"   // faults: skip ud2 / mov ds
    "1: mov $0x10, %eax\n  mov %ax, %ds\n"
    "  pop %ebx\n  pop %eax\n  add $8, %esp\n  iret\n"
    ".code64\n");

void kmain(void)
{
  static const char *names[] = {"int_gate", "trap_gate", "ud_fault", "gp_selector_fault"};
  for (u32 i = 0; i < 4; i++) {
    const struct rec *r = &pm32_res[i];
    if (i >= pm32_n) {
      out(names[i], "not delivered");
      continue;
    }
    out(names[i], "vector %x error %x eip +%u cs %x saved-if %u if %u frame %u bytes", r->vec, r->err,
        r->eip, r->cs, r->eflags_saved >> 9 & 1, r->eflags_now >> 9 & 1, r->frame);
  }
}
