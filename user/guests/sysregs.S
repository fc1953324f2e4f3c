// sysregs: changes the state that VMSAVE/VMLOAD (not VMRUN) switch: LSTAR,
// STAR, SFMASK, KernelGsBase, FS/GS base and TR (its own GDT with a TSS).
// If the kernel failed to restore the host's copies after #VMEXIT, its next
// SYSCALL or interrupt would go astray (APM Vol. 2 §15.5.2 "VMSAVE and VMLOAD").
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
  .globl start
start:
  mov $0x8000, %rsp
  mov $0xC0000082, %ecx                 // LSTAR
  mov $0x0badc0de, %eax
  mov $0xffffffff, %edx
  wrmsr
  mov $0xC0000081, %ecx                 // STAR
  mov $0x00100008, %edx
  xor %eax, %eax
  wrmsr
  mov $0xC0000084, %ecx                 // SFMASK
  mov $0x4700, %eax
  xor %edx, %edx
  wrmsr
  mov $0xC0000102, %ecx                 // KernelGsBase
  mov $0x12340000, %eax
  wrmsr
  mov $0xC0000100, %ecx                 // FS base
  mov $0x56780000, %eax
  wrmsr
  lea tssdesc(%rip), %rdi               // patch the TSS base into the descriptor
  lea tss(%rip), %rax
  mov %ax, 2(%rdi)
  shr $16, %rax
  mov %al, 4(%rdi)
  mov %ah, 7(%rdi)
  lgdt gdtr(%rip)
  mov $0x18, %ax
  ltr %ax
  PRINT_EXIT msg, 0

  .balign 16
gdt:
  .quad 0
  .quad 0x00209A0000000000              // 0x08: 64-bit code
  .quad 0x0000920000000000              // 0x10: data
tssdesc:
  .quad 0x0000890000000067              // 0x18: available 64-bit TSS, limit 0x67
  .quad 0
gdtend:
gdtr:
  .short gdtend - gdt - 1
  .quad gdt
  .balign 16
tss:
  .fill 0x68, 1, 0
msg:
  .asciz "sysregs: guest LSTAR, STAR, SFMASK, KernelGsBase, FS base and TR set\n"
