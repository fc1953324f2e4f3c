// hostile_tss: a 32-bit protected-mode guest that drops to ring 3 and takes
// an interrupt back to ring 0, which loads the ring 0 stack from the TSS that
// TR names. The guest never loads TR itself: it keeps the TR the vcpu
// started with, a present busy 32-bit TSS at base 0, as a CPU holds it after
// LTR (APM Vol. 2 §12.2.5). QEMU 7.2 aborts the whole machine ("invalid tss
// type") when it finds a busy type in TR on that path, so the kernel hands
// TR to VMRUN in the form QEMU accepts (kern/svm/tr_guard.c).
#include "guest.h"
GUEST_HEADER(GUEST_MODE_PROT32, start, 0x100000, 0, 0x9000, 0)
  .code32
  .globl start
start:
  mov $0x9000, %esp
  lgdt gdtr
  ljmp $0x08, $1f
1:
  mov $0x10, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov $on_int, %eax                      // IDT entry 0x80: 32-bit interrupt gate, DPL 3
  mov %ax, idt + 0x80 * 8
  movw $0x08, idt + 0x80 * 8 + 2
  movw $0xEE00, idt + 0x80 * 8 + 4
  shr $16, %eax
  mov %ax, idt + 0x80 * 8 + 6
  lidt idtr
  movl $0x9000, 4                        // the TSS at TR's base 0: ESP0, SS0
  movl $0x10, 8
  mov $started, %esi
  call puts
  push $0x23                             // iret to ring 3: SS, ESP, EFLAGS, CS, EIP
  push $0x7000
  pushf
  push $0x1B
  push $ring3
  iret
ring3:
  int $0x80                              // back to ring 0 through the TSS
  jmp ring3

on_int:
  mov $0x10, %ax                         // ring 0 again, on the TSS's stack
  mov %ax, %ds
  mov $ok, %esi
  mov %cs, %eax
  cmp $0x08, %eax
  je 2f
  mov $fail, %esi
2:
  call puts
  mov $0, %al
  out %al, $GUEST_EXIT_PORT
  hlt

puts:
  mov $GUEST_UART, %dx
3:
  lodsb
  test %al, %al
  jz 4f
  out %al, %dx
  jmp 3b
4:
  ret

  .p2align 3
gdt:
  .quad 0
  .quad 0x00CF9A000000FFFF                // 0x08: ring 0 code
  .quad 0x00CF92000000FFFF                // 0x10: ring 0 data
  .quad 0x00CFFA000000FFFF                // 0x18: ring 3 code
  .quad 0x00CFF2000000FFFF                // 0x20: ring 3 data
gdt_end:
gdtr:
  .short gdt_end - gdt - 1
  .long gdt
idtr:
  .short 256 * 8 - 1
  .long idt
started:
  .asciz "hostile_tss: in ring 3, int $0x80 to ring 0 through the TSS\n"
ok:
  .asciz "hostile_tss: back in ring 0 on the TSS's stack\n"
fail:
  .asciz "hostile_tss: the interrupt arrived with the wrong CS\n"
  .data
  .p2align 3
idt:
  .skip 256 * 8
