# Test-kernel entry: multiboot (a.out-kludge addresses, so QEMU's -kernel and
# svmlab's `vmm -k` load the same flat binary), 32-bit protected mode ->
# long mode (APM Vol. 2 §14.6 "Enabling and Activating Long Mode"), then C.
#
# Page tables are built at run time (they live in .bss, so the image stays
# small): VA = PA for 0 .. 4 GiB, every level user-accessible (tests run code
# at CPL 3); the first 2 MiB by 4 KiB pages so a test can change one page's
# PTE (pte_of() in rt.c), the rest by 2 MiB pages.
#include "rt.h"

#define MB_MAGIC 0x1BADB002
#define MB_FLAGS ((1 << 1) | (1 << 16))   /* memory map, a.out kludge addresses */
#define PTE_PWU 7

.weak pm32_hook
.section .multiboot, "ax"
.code32
.align 4
mb_header:
  .long MB_MAGIC
  .long MB_FLAGS
  .long -(MB_MAGIC + MB_FLAGS)
  .long mb_header, __image_start, __data_end, __bss_end, _start

.globl _start
_start:
  cli
  mov %ebx, mb_info
  lgdt gdt_desc                      # our flat segments, still in 32-bit code
  ljmp $CODE32, $1f
1:  mov $KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov $boot_stack_top, %esp
  # A kernel may run checks in 32-bit protected mode first (idt32.c).
  mov $pm32_hook, %eax
  test %eax, %eax
  jz 1f
  call *%eax
1:
  # PML4[0] -> PDPT; PDPT[0..3] -> pd[0..3]; pd[0][0] -> pt0; the rest 2 MiB pages.
  movl $(pdpt + PTE_PWU), pml4
  xor %ecx, %ecx
1:  mov %ecx, %eax
  shl $12, %eax
  add $(pd + PTE_PWU), %eax
  mov %eax, pdpt(,%ecx,8)
  inc %ecx
  cmp $4, %ecx
  jne 1b
  # 2048 PD entries of 2 MiB each (PS), high dword = 0 for < 4 GiB.
  xor %ecx, %ecx
2:  mov %ecx, %eax
  shl $21, %eax
  or $(0x80 + PTE_PWU), %eax
  mov %eax, pd(,%ecx,8)
  inc %ecx
  cmp $2048, %ecx
  jne 2b
  movl $(pt0 + PTE_PWU), pd
  xor %ecx, %ecx
3:  mov %ecx, %eax
  shl $12, %eax
  or $PTE_PWU, %eax
  mov %eax, pt0(,%ecx,8)
  inc %ecx
  cmp $512, %ecx
  jne 3b

  mov %cr4, %eax
  or $0x20, %eax                     # PAE
  mov %eax, %cr4
  mov $pml4, %eax
  mov %eax, %cr3
  mov $0xC0000080, %ecx              # EFER.LME
  rdmsr
  or $0x100, %eax
  wrmsr
  mov %cr0, %eax
  or $0x80010001, %eax               # PG, WP, PE
  mov %eax, %cr0
  ljmp $KCODE, $start64

.code64
start64:
  mov $KDATA, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  xor %ax, %ax
  mov %ax, %fs
  mov %ax, %gs
  mov $boot_stack_top, %rsp
  call rt_start
4:  hlt
  jmp 4b

# One stub per vector: push a dummy error code where the CPU pushes none,
# push the vector, join the common path (which saves all GPRs: struct frame).
.altmacro
.macro stub v
  .align 16
  .if (\v == 8 || (\v >= 10 && \v <= 14) || \v == 17 || \v == 21 || \v == 29 || \v == 30)
  .else
  push $0
  .endif
  push $\v
  jmp trap_common
.endm
.align 16
.globl trap_stubs
trap_stubs:
.set v, 0
.rept 256
  stub %v
  .set v, v + 1
.endr

trap_common:
  push %rax; push %rbx; push %rcx; push %rdx; push %rsi; push %rdi; push %rbp
  push %r8; push %r9; push %r10; push %r11; push %r12; push %r13; push %r14; push %r15
  mov %rsp, %rdi
  call trap
  pop %r15; pop %r14; pop %r13; pop %r12; pop %r11; pop %r10; pop %r9; pop %r8
  pop %rbp; pop %rdi; pop %rsi; pop %rdx; pop %rcx; pop %rbx; pop %rax
  add $16, %rsp                      # vector, error code
  iretq

# long run_user(void (*fn)(void), uint64 rflags): runs fn at CPL 3 on the user
# stack with those RFLAGS; fn's return does INT 0x80 (DPL 3), and trap()
# resumes here (user_back) on the saved kernel stack. Returns 0.
.globl run_user
run_user:
  push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15
  mov %rsp, kernel_saved_rsp
  push $(UDATA | 3)
  push $user_stack_top
  push %rsi
  push $(UCODE | 3)
  push $user_tramp
  iretq
user_tramp:
  call *%rdi
  int $0x80
.globl user_back
user_back:
  mov kernel_saved_rsp, %rsp
  pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx
  xor %eax, %eax
  ret

.data
.align 16
.globl gdt
gdt:
  .quad 0
  .quad 0x00af9a000000ffff           # 0x08 kernel code, 64-bit
  .quad 0x00cf92000000ffff           # 0x10 kernel data
  .quad 0x00cff2000000ffff           # 0x18 user data (DPL 3)
  .quad 0x00affa000000ffff           # 0x20 user code, 64-bit (DPL 3)
  .quad 0, 0                         # 0x28 TSS (rt.c fills it)
  .quad 0x00cf12000000ffff           # 0x38 data, not present
  .quad 0x00cf9a000000ffff           # 0x40 32-bit code (not for data loads)
  .quad 0x00009a100000ffff           # 0x48 16-bit code, base 1 MiB (realmode.c)
  .quad 0x000092000000ffff           # 0x50 16-bit data, base 0, 64 KiB
gdt_end:
gdt_desc:
  .word gdt_end - gdt - 1
  .quad gdt
.globl mb_info
mb_info: .long 0
.globl kernel_saved_rsp
kernel_saved_rsp: .quad 0

.bss
.align 4096
pml4: .space 4096
pdpt: .space 4096
pd: .space 4 * 4096
.globl pt0
pt0: .space 4096
.space 16384
.globl boot_stack_top
boot_stack_top:
.space 8192
user_stack_top:
.globl ist_stack_top
.space 8192
ist_stack_top:
