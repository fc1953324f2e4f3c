// prot32: starts in 32-bit protected mode with paging off, builds its own page
// directory (4 MiB PSE pages), turns paging on and checks an alias: linear
// 4 MiB + X maps guest-physical X. Writes through the alias, reads the
// identity address, prints the result and exits with code 0 (1 on mismatch).
#include "guest.h"
#define PD 0x10000                       // page directory (guest-physical)
#define PROBE 0x20000                    // probe word, guest-physical
GUEST_HEADER(GUEST_MODE_PROT32, start, 0x100000, 0, 0x9000, 0)
  .code32
  .globl start
start:
  mov $0x9000, %esp
  mov $PD, %edi                          // clear the page directory
  xor %eax, %eax
  mov $1024, %ecx
  rep stosl
  movl $0x00000083, PD                   // PDE 0: 0..4 MiB identity, PS|W|P
  movl $0x00000083, PD + 4               // PDE 1: 4..8 MiB -> 0..4 MiB (alias)
  mov $PD, %eax
  mov %eax, %cr3
  mov %cr4, %eax
  or $0x10, %eax                         // CR4.PSE
  mov %eax, %cr4
  mov %cr0, %eax
  or $0x80000000, %eax                   // CR0.PG
  mov %eax, %cr0
  jmp 1f
1:
  movl $0xC0FFEE32, 0x400000 + PROBE     // write through the alias
  cmpl $0xC0FFEE32, PROBE                // read the identity address
  jne bad
  mov $ok, %esi
  call puts
  mov $0, %al
  jmp exit
bad:
  mov $fail, %esi
  call puts
  mov $1, %al
exit:
  out %al, $GUEST_EXIT_PORT
  hlt
  jmp exit

puts:
  mov $GUEST_UART, %dx
2:
  lodsb
  test %al, %al
  jz 3f
  out %al, %dx
  jmp 2b
3:
  ret
ok:
  .asciz "prot32: paging on, alias 0x420000 -> 0x20000 ok\n"
fail:
  .asciz "prot32: alias mismatch\n"
