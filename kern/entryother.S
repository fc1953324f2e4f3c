# Where application processors start. smp_boot copies this code to physical
# APENTRY_PA (below 1 MiB, page aligned), fills in the arguments at its end and
# sends a STARTUP IPI; the AP begins in real mode at CS:IP = APENTRY_PA>>4:0.
# It switches straight to long mode (APM Vol. 2 §14.6 "Enabling and
# Activating Long Mode": PAE, CR3, EFER.LME, then CR0.PE|PG together), on the
# boot page tables (boot.S), which map this page 1:1 as well as the kernel,
# then calls entry(cpu) on its own stack. entry (mpenter) switches to the
# kernel page tables.
#
# The code is assembled into .rodata and only ever runs from the copy, so
# every address in it is computed for APENTRY_PA with REL().
#include "memlayout.h"
#include "mmu.h"

#define REL(x) (APENTRY_PA + (x) - entryother_start)

.section .rodata
.balign 16
.globl entryother_start
entryother_start:
.code16
  cli
  cld
  xorw %ax, %ax
  movw %ax, %ds
  lgdtl REL(ap_gdtdesc)
  movl REL(ap_cr4), %eax
  movl %eax, %cr4
  movl REL(ap_cr3), %eax
  movl %eax, %cr3
  movl $MSR_EFER, %ecx
  rdmsr
  orl $(EFER_LME | EFER_NXE), %eax
  wrmsr
  movl %cr0, %eax
  andl $~(CR0_CD | CR0_NW), %eax    # caches on (INIT leaves them off)
  orl $(CR0_PE | CR0_PG | CR0_WP), %eax
  movl %eax, %cr0
  ljmpl $KCODE_SEL, $REL(ap_start64)

.code64
ap_start64:
  movw $KDATA_SEL, %ax
  movw %ax, %ds
  movw %ax, %es
  movw %ax, %ss
  xorw %ax, %ax
  movw %ax, %fs
  movw %ax, %gs
  movq REL(ap_stack), %rsp
  movq REL(ap_cpu), %rdi
  xorl %ebp, %ebp                   # ends backtraces
  movq REL(ap_entry), %rax
  call *%rax
1:
  hlt
  jmp 1b

.balign 8
ap_gdt:
  .quad 0
  .quad 0x00AF9A000000FFFF          # KCODE: 64-bit, DPL 0
  .quad 0x00CF92000000FFFF          # KDATA
ap_gdtdesc:
  .word ap_gdtdesc - ap_gdt - 1
  .long REL(ap_gdt)

# Arguments, filled in by smp_boot (struct apargs in smp.c, same order).
.balign 8
.globl entryother_args
entryother_args:
ap_cr3:   .quad 0                   # boot page table (below 4 GiB)
ap_cr4:   .quad 0                   # the BSP's CR4
ap_stack: .quad 0                   # top of this AP's stack
ap_cpu:   .quad 0                   # its struct cpu
ap_entry: .quad 0                   # void entry(struct cpu *)
.globl entryother_end
entryother_end:
