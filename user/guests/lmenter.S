// lmenter: enters long mode itself, as a boot loader or Linux's 32-bit entry
// does (APM Vol. 2 §14.6.1 "Activating Long Mode"): starts in 32-bit
// protected mode with paging off, builds 4-level tables, sets CR4.PAE, CR3,
// then EFER.LME (which must read back as set, with LMA still clear), then
// CR0.PG (LMA must now read as set), and jumps to a 64-bit code segment where
// it runs 64-bit arithmetic. Prints one line and exits with code 0, or names
// the step that failed (codes 2-4).
#include "guest.h"
#define PML4 0x10000
#define PDPT 0x11000
#define PD 0x12000
GUEST_HEADER(GUEST_MODE_PROT32, start, 0x200000, 0, 0x9000, 0)
  .code32
  .globl start
start:
  mov $0x9000, %esp
  lgdt gdtr
  movl $PDPT | 3, PML4
  movl $PD | 3, PDPT
  movl $0x83, PD                        // 0..2 MiB identity, a 2 MiB page
  mov %cr4, %eax
  or $0x20, %eax                        // PAE
  mov %eax, %cr4
  mov $PML4, %eax
  mov %eax, %cr3
  mov $0xC0000080, %ecx
  rdmsr
  or $0x100, %eax                       // LME
  wrmsr
  rdmsr
  test $0x100, %eax
  jz no_lme
  test $0x400, %eax                     // LMA: not before paging is on
  jnz early_lma
  mov %cr0, %eax
  or $0x80000000, %eax                  // PG: long mode becomes active
  mov %eax, %cr0
  mov $0xC0000080, %ecx
  rdmsr
  test $0x400, %eax
  jz no_lma
  ljmp $0x18, $long64

  .code64
long64:
  mov $0x100000001, %rax
  mov $0x300000000, %rbx
  add %rbx, %rax
  shr $32, %rax
  cmp $4, %rax
  jne no_lma
  lea ok(%rip), %esi
  xor %bl, %bl
  jmp say64
say64:
  mov $GUEST_UART, %dx
1:
  lodsb
  test %al, %al
  jz 2f
  out %al, %dx
  jmp 1b
2:
  mov %bl, %al
  out %al, $GUEST_EXIT_PORT
  hlt

  .code32
no_lme:
  mov $nolme, %esi
  mov $2, %bl
  jmp say32
early_lma:
  mov $earlylma, %esi
  mov $3, %bl
  jmp say32
no_lma:
  mov $nolma, %esi
  mov $4, %bl
say32:
  mov $GUEST_UART, %dx
1:
  lodsb
  test %al, %al
  jz 2f
  out %al, %dx
  jmp 1b
2:
  mov %bl, %al
  out %al, $GUEST_EXIT_PORT
  hlt

  .balign 8
gdt:
  .quad 0
  .quad 0x00cf9a000000ffff              // 0x08: 32-bit code
  .quad 0x00cf92000000ffff              // 0x10: data
  .quad 0x00209a0000000000              // 0x18: 64-bit code
gdtend:
gdtr:
  .short gdtend - gdt - 1
  .long gdt
ok: .asciz "lmenter: long mode entered from 32-bit protected mode\n"
nolme: .asciz "lmenter: EFER.LME does not read back as set\n"
earlylma: .asciz "lmenter: EFER.LMA set before paging was on\n"
nolma: .asciz "lmenter: not in long mode after CR0.PG (EFER.LMA clear or 32-bit arithmetic)\n"
