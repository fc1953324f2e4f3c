// hostile_nested: an L1 hypervisor (vmm -N) that gives the kernel's nested
// SVM (kern/svm/nested.c) what no correct hypervisor would:
//  1. 3000 VMRUNs in a row of an L2 that does nothing but VMMCALL;
//  2. nested paging with nCR3 beyond L1's RAM, then with a table whose
//     entries point far beyond it: every L2 access is an NPF for L1;
//  3. an L2 whose nested table maps the table itself, which L2 then fills
//     with garbage (NPFs for L1 from then on, at the latest after its flush);
//  4. IOPM and MSRPM bases beyond L1's RAM (every access of L2 is L1's);
//  5. 500 vmcb12s of random bytes (EFER.SVME cleared: each must be refused
//     with VMEXIT_INVALID), EVENTINJ with an NMI vector as an exception, and
//     EFER.LME with paging off (legal, refused by svmlab: QEMU 7.2 would lose
//     the host at the #VMEXIT, docs/internals/vmm-nested.md);
//  6. VMLOAD, VMSAVE and VMRUN of pages beyond its RAM (#GP each).
// It must see each outcome the APM gives and end with "hostile_nested: ok";
// a failed check acks its number and exits with it. The kernel must survive,
// and so must the other guests the same vmm runs.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x400000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"

#define VMCB_MISC1 0x0C
#define VMCB_MISC2 0x10
#define VMCB_IOPM 0x40
#define VMCB_MSRPM 0x48
#define VMCB_ASID 0x58
#define VMCB_TLBCTL 0x5C
#define VMCB_EXITCODE 0x70
#define VMCB_NPCTL 0x90
#define VMCB_EVENTINJ 0xA8
#define VMCB_NCR3 0xB0
#define VMCB_CS 0x410
#define VMCB_EFER 0x4D0
#define VMCB_CR4 0x548
#define VMCB_CR3 0x550
#define VMCB_CR0 0x558
#define VMCB_DR7 0x560
#define VMCB_DR6 0x568
#define VMCB_RFLAGS 0x570
#define VMCB_RIP 0x578
#define VMCB_RSP 0x5D8
#define FAR 0x7FFF0000                  // beyond memsize: not L1's RAM

.macro CHECK n
  je 98f
  mov $\n, %ebx
  jmp fail
98:
.endm

// RUN: VMRUN vmcb12; %rax = the low 32 bits of the exit code.
.macro RUN
  lea vmcb12(%rip), %rax
  vmrun
  mov vmcb12 + VMCB_EXITCODE(%rip), %eax
.endm

  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(13, on_gp)
  call load_gdt_idt
  mov $0xC0000080, %ecx
  rdmsr
  or $0x1000, %eax
  wrmsr
  mov $0xC0010117, %ecx
  lea hsave(%rip), %rax
  xor %edx, %edx
  wrmsr
  call vmcb12_init

  // 1. a VMRUN loop
  lea l2_vmmcall(%rip), %rax
  mov %rax, vmcb12 + VMCB_RIP(%rip)
  mov $3000, %r12d
1:
  RUN
  cmp $0x81, %eax
  CHECK 1
  dec %r12d
  jnz 1b

  // 2. nested tables L1 does not have
  movq $1, vmcb12 + VMCB_NPCTL(%rip)
  movq $FAR, vmcb12 + VMCB_NCR3(%rip)
  movb $1, vmcb12 + VMCB_TLBCTL(%rip)
  RUN
  cmp $0x400, %eax
  CHECK 2
  movabs $0x000FFFFFFFFFF007, %rax
  mov %rax, bad_pml4(%rip)
  lea bad_pml4(%rip), %rax
  mov %rax, vmcb12 + VMCB_NCR3(%rip)
  movb $1, vmcb12 + VMCB_TLBCTL(%rip)
  RUN
  cmp $0x400, %eax
  CHECK 3

  // 3. L2 scribbles over its own nested table through an alias
  lea npt_pdpt(%rip), %rax
  or $7, %rax
  mov %rax, npt_pml4(%rip)
  lea npt_pd(%rip), %rax
  or $7, %rax
  mov %rax, npt_pdpt(%rip)
  movq $0x87, npt_pd(%rip)              // L2 0-2M -> L1 0-2M (the table too)
  lea npt_pml4(%rip), %rax
  mov %rax, vmcb12 + VMCB_NCR3(%rip)
  movb $1, vmcb12 + VMCB_TLBCTL(%rip)
  lea l2_scribble(%rip), %rax
  mov %rax, vmcb12 + VMCB_RIP(%rip)
  RUN
  cmp $0x81, %eax                       // it got to its VMMCALL, or its first write to a
  je 4f                                 // page not yet in the shadow made the walk see its own
  cmp $0x400, %eax                      // garbage (an NPF, as a CPU's walk after a TLB miss)
  CHECK 4
4:
  movb $1, vmcb12 + VMCB_TLBCTL(%rip)   // now the garbage counts
  RUN
  cmp $0x400, %eax
  CHECK 5
  movq $0, vmcb12 + VMCB_NPCTL(%rip)

  // 4. permission maps beyond L1's RAM: every port and MSR is L1's
  orl $(1 << 27) | (1 << 28), vmcb12 + VMCB_MISC1(%rip)
  movq $FAR, vmcb12 + VMCB_IOPM(%rip)
  movq $FAR, vmcb12 + VMCB_MSRPM(%rip)
  lea l2_io(%rip), %rax
  mov %rax, vmcb12 + VMCB_RIP(%rip)
  RUN
  cmp $0x7B, %eax
  CHECK 6
  addq $2, vmcb12 + VMCB_RIP(%rip)
  RUN
  cmp $0x7C, %eax
  CHECK 7

  // 5. random vmcb12s, refused
  mov $500, %r12d
  mov $12345, %r13d
2:
  lea vmcb12(%rip), %rdi
  mov $512, %ecx
3:
  imul $1103515245, %r13d, %r13d
  add $12345, %r13d
  mov %r13d, %eax
  shl $32, %rax
  or %r13, %rax
  mov %rax, (%rdi)
  add $8, %rdi
  dec %ecx
  jnz 3b
  andl $~0x1000, vmcb12 + VMCB_EFER(%rip)
  RUN
  cmp $0xFFFFFFFF, %eax
  CHECK 8
  dec %r12d
  jnz 2b
  lea vmcb12(%rip), %rdi                // a clean vmcb12 with EVENTINJ exception 2
  mov $512, %ecx
  xor %eax, %eax
  rep stosq
  call vmcb12_init
  movl $0x80000302, vmcb12 + VMCB_EVENTINJ(%rip)
  RUN
  cmp $0xFFFFFFFF, %eax
  CHECK 9
  movl $0, vmcb12 + VMCB_EVENTINJ(%rip) // EFER.LME with paging off (legal, but it would
  movq $0x1011, vmcb12 + VMCB_CR0(%rip) // cost QEMU 7.2 the host at the #VMEXIT): refused
  movq $0, vmcb12 + VMCB_CR4(%rip)
  movl $0x1100, vmcb12 + VMCB_EFER(%rip)
  movw $0x0C9B, vmcb12 + VMCB_CS + 2(%rip)
  RUN
  cmp $0xFFFFFFFF, %eax
  CHECK 11

  // 6. pages that are not L1's
  movq $0, gps(%rip)
  mov $FAR, %eax
  vmload
  vmsave
  vmrun
  cmpq $3, gps(%rip)
  CHECK 10
  lea okmsg(%rip), %rsi
  call puts
  xor %eax, %eax
  jmp guest_exit

fail:
  mov $HC_ACK, %eax
  HYPERCALL
  mov %bl, %al
  jmp guest_exit

on_gp:
  incq gps(%rip)
  addq $3, 8(%rsp)
  add $8, %rsp
  iretq

vmcb12_init:
  movl $(1 << 0) | (1 << 1), vmcb12 + VMCB_MISC2(%rip)   // VMRUN VMMCALL
  movl $1, vmcb12 + VMCB_ASID(%rip)
  movw $0x08, vmcb12 + VMCB_CS(%rip)
  movw $0x0A9B, vmcb12 + VMCB_CS + 2(%rip)
  movl $0xFFFFFFFF, vmcb12 + VMCB_CS + 4(%rip)
  mov $0xC0000080, %ecx
  rdmsr
  mov %eax, vmcb12 + VMCB_EFER(%rip)
  mov %cr0, %rax
  mov %rax, vmcb12 + VMCB_CR0(%rip)
  mov %cr3, %rax
  mov %rax, vmcb12 + VMCB_CR3(%rip)
  mov %cr4, %rax
  mov %rax, vmcb12 + VMCB_CR4(%rip)
  movq $0x400, vmcb12 + VMCB_DR7(%rip)
  movl $0xFFFF0FF0, vmcb12 + VMCB_DR6(%rip)
  movq $2, vmcb12 + VMCB_RFLAGS(%rip)
  lea l2_stack_top(%rip), %rax
  mov %rax, vmcb12 + VMCB_RSP(%rip)
  ret

// ---- L2 ----
l2_vmmcall:
  vmmcall
  jmp l2_vmmcall

l2_scribble:                            // garbage over every entry of the nested table
  lea npt_pml4(%rip), %rdi
  mov $3 * 512, %ecx
  movabs $0xDEADBEEFCAFEF00F, %rax
  rep stosq
  vmmcall
  jmp l2_scribble

l2_io:
  out %al, $0x80
  rdmsr
  hlt

okmsg:
  .asciz "hostile_nested: ok: VMRUN loops, foreign nested tables, foreign maps, random vmcb12s refused\n"

  .data
  .balign 8
gps: .quad 0

  .bss
  .balign 4096
vmcb12: .fill 4096, 1, 0
hsave: .fill 4096, 1, 0
bad_pml4: .fill 4096, 1, 0
npt_pml4: .fill 4096, 1, 0
npt_pdpt: .fill 4096, 1, 0
npt_pd: .fill 4096, 1, 0
l2_stack: .fill 4096, 1, 0
l2_stack_top:
