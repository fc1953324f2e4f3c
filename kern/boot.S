# Multiboot entry: the loader starts us in 32-bit protected mode, paging off,
# with the multiboot magic in %eax and the physical address of the info
# structure in %ebx. We build nothing at run time: the boot page tables below
# are static data. Then: PAE on, CR3, EFER.LME/NXE, CR0.PG -> long mode
# (APM Vol. 2 §14.6 "Enabling and Activating Long Mode"), a far jump into
# 64-bit code, and a jump to the higher-half kernel.
#
# Boot mappings (2 MiB pages):
#   VA 0 .. 1 GiB              -> PA 0 .. 1 GiB   (identity, only while we switch)
#   PHYSBASE .. +4 GiB         -> PA 0 .. 4 GiB   (all RAM and MMIO)
#   KERNBASE .. +1 GiB         -> PA 0 .. 1 GiB   (the kernel image)
#include "memlayout.h"
#include "mmu.h"
#include "param.h"

#define PHYS(x) ((x) - KERNBASE)
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS ((1 << 1) | (1 << 16))   /* memory map, a.out kludge addresses */

.section .multiboot, "ax"
.code32
.align 4
mb_header:
  .long MB_MAGIC
  .long MB_FLAGS
  .long -(MB_MAGIC + MB_FLAGS)
  .long PHYS(mb_header)       # header_addr
  .long PHYS(__kernel_start)  # load_addr
  .long PHYS(__data_end)      # load_end_addr
  .long PHYS(__bss_end)       # bss_end_addr
  .long PHYS(_start)          # entry_addr

.globl _start
_start:
  cli
  mov %ebx, %edi                     # multiboot info (physical), first C argument later
  mov %eax, %esi                     # multiboot magic, second C argument
  mov $PHYS(boot_stack_top), %esp

  mov %cr4, %eax
  or $(CR4_PAE | CR4_PGE), %eax
  mov %eax, %cr4
  mov $PHYS(boot_pml4), %eax
  mov %eax, %cr3
  mov $MSR_EFER, %ecx
  rdmsr
  or $(EFER_LME | EFER_NXE), %eax
  wrmsr
  mov %cr0, %eax
  or $(CR0_PG | CR0_PE | CR0_WP), %eax
  mov %eax, %cr0

  lgdt PHYS(boot_gdtdesc)
  ljmp $KCODE_SEL, $PHYS(start64)

.code64
start64:
  movabs $high64, %rax
  jmp *%rax
high64:
  mov $KDATA_SEL, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  xor %ax, %ax
  mov %ax, %fs
  mov %ax, %gs
  movabs $boot_stack_top, %rsp
  mov %edi, %edi                     # zero-extend: upper halves are undefined after the switch
  mov %esi, %esi
  xor %ebp, %ebp                     # ends backtraces
  call main
1: hlt
  jmp 1b

# A 64-bit GDT good enough to reach main; each CPU loads its own later.
.section .rodata
.align 16
boot_gdt:
  .quad 0
  .quad 0x00AF9A000000FFFF           # KCODE: 64-bit, present, DPL 0
  .quad 0x00CF92000000FFFF           # KDATA
boot_gdtdesc:
  .word boot_gdtdesc - boot_gdt - 1
  .long PHYS(boot_gdt)
  .long 0

.section .data
.align 4096
.globl boot_pml4
boot_pml4:
  .quad PHYS(boot_pdpt_low) + (PTE_P | PTE_W)
  .fill 255, 8, 0
  .quad PHYS(boot_pdpt_phys) + (PTE_P | PTE_W)    # PHYSBASE: slot 256
  .fill 254, 8, 0
  .quad PHYS(boot_pdpt_high) + (PTE_P | PTE_W)    # KERNBASE: slot 511
boot_pdpt_low:
  .quad PHYS(boot_pd) + (PTE_P | PTE_W)
  .fill 511, 8, 0
boot_pdpt_phys:
  .quad PHYS(boot_pd) + (PTE_P | PTE_W)
  .quad PHYS(boot_pd) + 0x1000 + (PTE_P | PTE_W)
  .quad PHYS(boot_pd) + 0x2000 + (PTE_P | PTE_W)
  .quad PHYS(boot_pd) + 0x3000 + (PTE_P | PTE_W)
  .fill 508, 8, 0
boot_pdpt_high:
  .fill 510, 8, 0
  .quad PHYS(boot_pd) + (PTE_P | PTE_W)           # KERNBASE: slot 510
  .quad 0
# Four page directories: 2048 x 2 MiB = 4 GiB.
boot_pd:
  .set i, 0
  .rept 2048
  .quad (i << 21) + (PTE_P | PTE_W | PTE_PS)
  .set i, i + 1
  .endr

.section .bss
.align 4096
boot_stack:
  .space KSTACKSIZE
.globl boot_stack_top
boot_stack_top:
