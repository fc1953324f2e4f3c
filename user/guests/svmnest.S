// svmnest: a small hypervisor (L1) with one guest (L2), for `vmm -N` (lab 9:
// the kernel emulates L1's SVM, kern/svm/nested.c).
//  1. SVM is there: CPUID 8000_0001h ECX.SVM and 8000_000Ah EDX.NP, VM_CR.SVMDIS
//     clear, EFER.SVME sticks, VM_HSAVE_PA takes a page.
//  2. Without nested paging (L2 uses L1's addresses): L2 starts with the RAX
//     and RSP of vmcb12 and FS.base as L1 loaded it, takes the interrupt L1
//     injects (EVENTINJ, once), does CPUID with a value pushed on its stack,
//     OUT to port 0x80 and a 2-byte OUT to 0x7F (both in L1's IOPM), prints
//     through the UART (not in L1's IOPM: the VMM's own UART answers),
//     RDMSR TSC_AUX (in L1's MSRPM), RDMSR EFER and WRMSR FS.base (not in it), MOV from
//     CR3 (intercepted), UD2 (#UD intercepted), a write and a read of the
//     VMM's MMIO test device (L0's NPFs: L1 has no nested paging here),
//     VMMCALL, and HLT after a
//     spin long enough for host timer ticks (not L1's, although L1 sets the
//     INTR intercept), and the V_IRQ L1 raised when it sets IF. L1 emulates what it
//     intercepts; L2 checks the results L1 gave it, L1 the FS.base L2 left.
//  3. With nested paging in vmcb12: L1's table maps L2's 2 MiB page 1 onto
//     L1's page 0 (L2 must read L1's magic word through it), leaves 6 MiB
//     unmapped (an NPF for L1, which maps it and asks for a TLB flush) and
//     4 MiB read-only (a write NPF with P and W set, L1 skips it).
//  4. VMSAVE/VMLOAD move FS.base, CLGI/STGI run, and raise #UD once EFER.SVME
//     is cleared (L0 must keep them intercepted then: its own VMCB for L1
//     always has SVME, so a virtual GIF would let them run), a vmcb12 with
//     ASID 0 gives VMEXIT_INVALID, a misaligned or absent vmcb12 raises #GP.
// A failed check: HC_ACK with its number (the VMM prints "vmm: guest ack
// 0xN"), exit code N. All passed: "svmnest: ok", exit code 0.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x800000, pml4, 0x8000, GUEST_F_TESTDEV)
#include "long64.inc"
#include "idt64.inc"

#define VMCB_INTERCEPT_EXC 0x08
#define VMCB_MISC1 0x0C
#define VMCB_MISC2 0x10
#define VMCB_IOPM 0x40
#define VMCB_MSRPM 0x48
#define VMCB_INTERCEPT_CR 0x00
#define VMCB_EVENTINJ 0xA8
#define VMCB_INT_CTL 0x60
#define VMCB_ASID 0x58
#define VMCB_TLBCTL 0x5C
#define VMCB_EXITCODE 0x70
#define VMCB_EXITINFO1 0x78
#define VMCB_EXITINFO2 0x80
#define VMCB_NPCTL 0x90
#define VMCB_NCR3 0xB0
#define VMCB_CS 0x410
#define VMCB_FS_BASE 0x448
#define VMCB_GDTR 0x460
#define VMCB_IDTR 0x480
#define VMCB_EFER 0x4D0
#define VMCB_CR4 0x548
#define VMCB_CR3 0x550
#define VMCB_CR0 0x558
#define VMCB_DR7 0x560
#define VMCB_DR6 0x568
#define VMCB_RFLAGS 0x570
#define VMCB_RIP 0x578
#define VMCB_RSP 0x5D8
#define VMCB_RAX 0x5F8
#define VMCB_GPAT 0x668

// CHECK n: jump to fail with check number n unless ZF says equal.
.macro CHECK n
  je 98f
  mov $\n, %ebx
  jmp fail
98:
.endm

// RUN_L2: VMRUN vmcb12 with L2's RBX/RCX/RDX from memory, then saves them
// (VMRUN switches RAX and RSP only); %rax = the exit code.
.macro RUN_L2
  mov l2_rbx(%rip), %rbx
  mov l2_rcx(%rip), %rcx
  mov l2_rdx(%rip), %rdx
  lea vmcb12(%rip), %rax
  vmrun
  mov %rbx, l2_rbx(%rip)
  mov %rcx, l2_rcx(%rip)
  mov %rdx, l2_rdx(%rip)
  mov vmcb12 + VMCB_EXITCODE(%rip), %rax
.endm

  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(13, on_gp)
  SETGATE(6, on_ud)
  call load_gdt_idt
  // 1. SVM in CPUID, VM_CR, EFER.SVME, VM_HSAVE_PA
  mov $0x80000001, %eax
  cpuid
  bt $2, %ecx
  jc 1f
  PRINT_EXIT nosvm, 1
1:
  mov $0x8000000A, %eax
  cpuid
  test $1, %edx
  setnz %al
  cmp $1, %al
  CHECK 2
  mov $0xC0010114, %ecx                 // VM_CR
  rdmsr
  test $0x10, %eax                      // SVMDIS
  setz %al
  cmp $1, %al
  CHECK 3
  mov $0xC0000080, %ecx                 // EFER.SVME
  rdmsr
  or $0x1000, %eax
  wrmsr
  rdmsr
  test $0x1000, %eax
  setnz %al
  cmp $1, %al
  CHECK 4
  mov $0xC0010117, %ecx                 // VM_HSAVE_PA
  lea hsave(%rip), %rax
  xor %edx, %edx
  wrmsr
  rdmsr
  lea hsave(%rip), %rbx
  cmp %rbx, %rax
  CHECK 5
  call vmcb12_init

  // 2. L2 without nested paging
  SETGATE(0x30, l2_on_irq)
  SETGATE(0x31, l2_on_virq)
  movl $0x001F0100, vmcb12 + VMCB_INT_CTL(%rip)     // V_IRQ, priority 15, V_IGN_TPR
  movl $0x31, vmcb12 + VMCB_INT_CTL + 4(%rip)       // its vector
  lea l2_a(%rip), %rax
  mov %rax, vmcb12 + VMCB_RIP(%rip)
  movq $0xA5A5, vmcb12 + VMCB_RAX(%rip)
  movl $0x80000030, vmcb12 + VMCB_EVENTINJ(%rip)   // valid, external interrupt, vector 0x30
  mov $0xC0000100, %ecx                 // FS.base for L2 (VMLOAD state is not VMRUN's)
  mov $0x777000, %eax
  xor %edx, %edx
  wrmsr
  movq $0, nexits(%rip)
p2:
  RUN_L2
  incq nexits(%rip)
  cmp $0x72, %rax
  je p2_cpuid
  cmp $0x7B, %rax
  je p2_io
  cmp $0x81, %rax
  je p2_vmmcall
  cmp $0x7C, %rax
  je p2_msr
  cmp $0x03, %rax
  je p2_cr3
  cmp $0x46, %rax
  je p2_ud
  cmp $0x78, %rax
  je p2_done
  mov %rax, %rbx                        // the unexpected exit code, for the ack
  shl $8, %rbx
  or $10, %ebx
  jmp fail
p2_msr:
  cmpq $0, vmcb12 + VMCB_EXITINFO1(%rip)    // RDMSR
  CHECK 16
  mov $0xC0000103, %eax
  cmp %rax, l2_rcx(%rip)
  CHECK 17
  movq $0x5150, vmcb12 + VMCB_RAX(%rip)
  movq $0, l2_rdx(%rip)
  addq $2, vmcb12 + VMCB_RIP(%rip)
  jmp p2
p2_cr3:
  movq $0xC3C3, vmcb12 + VMCB_RAX(%rip)    // L2's MOV RAX, CR3 (0F 20 D8)
  addq $3, vmcb12 + VMCB_RIP(%rip)
  jmp p2
p2_ud:
  addq $2, vmcb12 + VMCB_RIP(%rip)      // UD2
  jmp p2
p2_cpuid:
  cmpq $0x40001234, vmcb12 + VMCB_RAX(%rip)
  CHECK 11
  movl $0xC0FFEE01, vmcb12 + VMCB_RAX(%rip)
  movl $0, vmcb12 + VMCB_RAX + 4(%rip)
  movq $0xB0B, l2_rbx(%rip)
  addq $2, vmcb12 + VMCB_RIP(%rip)
  jmp p2
p2_io:
  mov vmcb12 + VMCB_EXITINFO1(%rip), %rax
  and $0xFFFF0031, %eax                 // port, SZ8, SZ16, IN
  cmp $0x007F0020, %eax                 // OUT of two bytes to port 0x7F: covers 0x80
  je 1f
  cmp $0x00800010, %eax                 // OUT of one byte to port 0x80
  CHECK 12
  cmpb $0x5A, vmcb12 + VMCB_RAX(%rip)
  CHECK 13
1:
  mov vmcb12 + VMCB_EXITINFO2(%rip), %rax   // the next RIP
  mov %rax, vmcb12 + VMCB_RIP(%rip)
  jmp p2
p2_vmmcall:
  incq vmcb12 + VMCB_RAX(%rip)
  addq $3, vmcb12 + VMCB_RIP(%rip)
  jmp p2
p2_done:
  cmpq $1, l2_ok(%rip)
  CHECK 14
  cmpq $8, nexits(%rip)                 // CPUID, 2 OUTs, RDMSR, CR3, #UD, VMMCALL, HLT: not the UART's
  CHECK 15
  cmpq $1, l2_irqs(%rip)                // EVENTINJ delivered once
  CHECK 18
  cmpq $1, l2_virqs(%rip)               // V_IRQ taken once, when L2 set IF
  CHECK 26
  testl $0x100, vmcb12 + VMCB_INT_CTL(%rip)   // and no longer pending in vmcb12
  setz %al
  cmp $1, %al
  CHECK 27
  mov $0xC0000100, %ecx                 // L2's FS.base is the CPU's now
  rdmsr
  cmp $0x888000, %eax
  CHECK 19
  stgi                                  // the #VMEXITs left GIF 0

  // 3. L2 with nested paging: L1's table
  lea npt_pdpt(%rip), %rax
  or $7, %rax
  mov %rax, npt_pml4(%rip)
  lea npt_pd(%rip), %rax
  or $7, %rax
  mov %rax, npt_pdpt(%rip)
  movq $0x87, npt_pd(%rip)              // L2 0-2M -> L1 0-2M
  movq $0x87, npt_pd + 8(%rip)          // L2 2-4M -> L1 0-2M
  movq $0x85, npt_pd + 16(%rip)         // L2 4-6M -> L1 0-2M, read-only
  movq $0, npt_pd + 24(%rip)            // L2 6-8M: not present
  lea npt_pml4(%rip), %rax
  mov %rax, vmcb12 + VMCB_NCR3(%rip)
  movq $1, vmcb12 + VMCB_NPCTL(%rip)
  movl $2, vmcb12 + VMCB_ASID(%rip)
  movb $1, vmcb12 + VMCB_TLBCTL(%rip)
  lea l2_b(%rip), %rax
  mov %rax, vmcb12 + VMCB_RIP(%rip)
  lea l2_stack_top(%rip), %rax
  mov %rax, vmcb12 + VMCB_RSP(%rip)
  movq $0, l2_ok(%rip)
  movq $0, nexits(%rip)
p3:
  RUN_L2
  movb $0, vmcb12 + VMCB_TLBCTL(%rip)
  incq nexits(%rip)
  cmp $0x400, %rax
  je p3_npf
  cmp $0x78, %rax
  je p3_done
  mov $20, %ebx
  jmp fail
p3_npf:
  lea magic(%rip), %rax
  add $0x600000, %rax
  cmp vmcb12 + VMCB_EXITINFO2(%rip), %rax
  jne 1f
  testb $1, vmcb12 + VMCB_EXITINFO1(%rip)   // not present
  setz %al
  cmp $1, %al
  CHECK 21
  movq $0x87, npt_pd + 24(%rip)         // map it, and flush L2's translations
  movb $1, vmcb12 + VMCB_TLBCTL(%rip)
  jmp p3
1:
  lea magic(%rip), %rax
  add $0x400000, %rax
  cmp vmcb12 + VMCB_EXITINFO2(%rip), %rax
  CHECK 22
  mov vmcb12 + VMCB_EXITINFO1(%rip), %rax
  and $3, %eax                          // present, write
  cmp $3, %eax
  CHECK 23
  addq $2, vmcb12 + VMCB_RIP(%rip)      // skip L2's write (89 03)
  jmp p3
p3_done:
  cmpq $1, l2_ok(%rip)
  CHECK 24
  cmpq $3, nexits(%rip)                 // two NPFs and the HLT
  CHECK 25
  stgi

  // 4. VMSAVE/VMLOAD, CLGI/STGI, bad vmcb12s
  mov $0xC0000100, %ecx                 // FS.base
  mov $0x123000, %eax
  xor %edx, %edx
  wrmsr
  lea scratch(%rip), %rax
  vmsave
  cmpq $0x123000, scratch + VMCB_FS_BASE(%rip)
  CHECK 30
  movq $0x456000, scratch + VMCB_FS_BASE(%rip)
  lea scratch(%rip), %rax
  vmload
  mov $0xC0000100, %ecx
  rdmsr
  cmp $0x456000, %eax
  CHECK 31
  clgi
  stgi
  mov $0xC0000080, %ecx                 // EFER.SVME off: CLGI and STGI are #UD
  rdmsr
  and $~0x1000, %eax
  wrmsr
  clgi
  stgi
  mov $0xC0000080, %ecx
  rdmsr
  or $0x1000, %eax
  wrmsr
  cmpq $2, uds(%rip)
  CHECK 34
  movl $0, vmcb12 + VMCB_ASID(%rip)     // illegal: VMEXIT_INVALID
  movq $0, vmcb12 + VMCB_EXITCODE(%rip)
  lea vmcb12(%rip), %rax
  vmrun
  mov vmcb12 + VMCB_EXITCODE(%rip), %eax   // low 32 bits: QEMU writes 0x00000000FFFFFFFF
  cmp $0xFFFFFFFF, %eax
  CHECK 32
  movq $0, gps(%rip)
  lea vmcb12 + 8(%rip), %rax            // misaligned
  vmrun
  mov $0x40000000, %eax                 // not L1's memory
  vmrun
  cmpq $2, gps(%rip)
  CHECK 33
  PRINT_EXIT okmsg, 0

fail:
  mov $HC_ACK, %eax
  HYPERCALL
  lea failmsg(%rip), %rsi
  call puts
  mov %bl, %al
  jmp guest_exit

// #GP from a refused SVM instruction: count it, skip the 3 bytes.
on_gp:
  incq gps(%rip)
  addq $3, 8(%rsp)                      // past the error code: RIP
  add $8, %rsp
  iretq

// #UD from an SVM instruction without EFER.SVME: count it, skip the 3 bytes.
on_ud:
  incq uds(%rip)
  addq $3, (%rsp)                       // no error code: RIP
  iretq

// vmcb12 for L2: a copy of L1's mode, RIP and RSP set by the phases.
vmcb12_init:
  movl $(1 << 0) | (1 << 18) | (1 << 24) | (1 << 27) | (1 << 28), vmcb12 + VMCB_MISC1(%rip)   // INTR CPUID HLT IOIO MSR
  movl $(1 << 3), vmcb12 + VMCB_INTERCEPT_CR(%rip)   // CR3 reads
  movl $(1 << 6), vmcb12 + VMCB_INTERCEPT_EXC(%rip)  // #UD
  lea msrpm(%rip), %rax
  mov %rax, vmcb12 + VMCB_MSRPM(%rip)
  orb $0x40, msrpm + 0x840(%rip)        // RDMSR C000_0103h: bit 2 * 0x103 of the 2nd 2 KiB
  movl $(1 << 0) | (1 << 1), vmcb12 + VMCB_MISC2(%rip)                 // VMRUN VMMCALL
  lea iopm(%rip), %rax
  mov %rax, vmcb12 + VMCB_IOPM(%rip)
  movb $0x01, iopm + 0x10(%rip)         // port 0x80
  movl $1, vmcb12 + VMCB_ASID(%rip)
  movw $0x08, vmcb12 + VMCB_CS(%rip)
  movw $0x0A9B, vmcb12 + VMCB_CS + 2(%rip)   // present, S, code, L, G
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
  sgdt dtr(%rip)                        // 2-byte limit, 8-byte base; the VMCB: limit +4, base +8
  movzwl dtr(%rip), %eax
  mov %eax, vmcb12 + VMCB_GDTR + 4(%rip)
  mov dtr + 2(%rip), %rax
  mov %rax, vmcb12 + VMCB_GDTR + 8(%rip)
  sidt dtr(%rip)
  movzwl dtr(%rip), %eax
  mov %eax, vmcb12 + VMCB_IDTR + 4(%rip)
  mov dtr + 2(%rip), %rax
  mov %rax, vmcb12 + VMCB_IDTR + 8(%rip)
  movq $0x400, vmcb12 + VMCB_DR7(%rip)
  movl $0xFFFF0FF0, vmcb12 + VMCB_DR6(%rip)
  movq $2, vmcb12 + VMCB_RFLAGS(%rip)
  lea l2_stack_top(%rip), %rax
  mov %rax, vmcb12 + VMCB_RSP(%rip)
  movabs $0x0007040600070406, %rax
  mov %rax, vmcb12 + VMCB_GPAT(%rip)
  ret

// ---- L2 ----
l2_a:
  cmp $0xA5A5, %rax                     // vmcb12's RAX and RSP
  jne l2_bad
  lea l2_stack_top(%rip), %rbx
  cmp %rbx, %rsp
  jne l2_bad
  mov $0xC0000100, %ecx                 // the FS.base L1 loaded
  rdmsr
  cmp $0x777000, %eax
  jne l2_bad
  push $0x1357                          // on L2's stack across reflected exits
  mov $0x40001234, %eax
  cpuid
  cmp $0xC0FFEE01, %eax
  jne l2_bad
  cmp $0xB0B, %ebx
  jne l2_bad
  mov $0x5A, %al
  out %al, $0x80
  mov $0x7F, %dx
  out %ax, %dx
  lea l2_hello(%rip), %rsi
  call puts
  mov $0xC0000103, %ecx                 // L1's MSRPM: RDMSR of TSC_AUX
  rdmsr
  cmp $0x5150, %eax
  jne l2_bad
  mov $0xC0000080, %ecx                 // not in it, but L0's: RDMSR EFER (LMA)
  rdmsr
  test $0x400, %eax
  jz l2_bad
  mov $0xC0000100, %ecx                 // not in it, not L0's: WRMSR FS.base
  mov $0x888000, %eax
  xor %edx, %edx
  wrmsr
  mov %cr3, %rax
  cmp $0xC3C3, %rax
  jne l2_bad
  ud2
  mov $GUEST_TESTDEV_GPA, %rbx          // the VMM's MMIO test device: L1 has no nested
  movl $0x1234ABCD, 8(%rbx)             // paging, so this NPF is L0's and the VMM emulates
  mov 8(%rbx), %eax                     // L2's instructions
  cmp $0x1234ABCD, %eax
  jne l2_bad
  mov $20000000, %ecx                   // some 50 ms: host timer ticks (INTR exits, not L1's)
1:
  dec %ecx
  jnz 1b
  mov $0x77, %eax
  vmmcall
  cmp $0x78, %eax
  jne l2_bad
  cmpq $0, l2_virqs(%rip)               // V_IRQ waits for IF
  jne l2_bad
  sti
  nop
  cli
  pop %rcx
  cmp $0x1357, %rcx
  jne l2_bad
  movq $1, l2_ok(%rip)
  hlt

l2_on_irq:                              // the interrupt L1 injects
  incq l2_irqs(%rip)
  iretq
l2_on_virq:                             // the virtual interrupt L1 raises
  incq l2_virqs(%rip)
  iretq
l2_bad:
  movq $2, l2_ok(%rip)
  hlt

l2_b:
  lea magic(%rip), %rbx
  add $0x200000, %rbx                   // L2 2M+x is L1's x
  mov (%rbx), %eax
  cmp $0xFEEDF00D, %eax
  jne l2_bad
  lea magic(%rip), %rbx
  add $0x600000, %rbx                   // not mapped yet: L1 maps it
  mov (%rbx), %eax
  cmp $0xFEEDF00D, %eax
  jne l2_bad
  lea magic(%rip), %rbx
  add $0x400000, %rbx                   // read-only: L1 skips the write
  .byte 0x89, 0x03                      // mov %eax, (%rbx)
  cmpl $0xFEEDF00D, magic(%rip)
  jne l2_bad
  movq $1, l2_ok(%rip)
  hlt

nosvm:
  .asciz "svmnest: no SVM in CPUID (run with vmm -N)\n"
l2_hello:
  .asciz "svmnest: L2 prints through the VMM's UART\n"
okmsg:
  .asciz "svmnest: ok: L2 ran without and with nested paging; CPUID, I/O, VMMCALL, HLT and NPF exits reflected\n"
failmsg:
  .asciz "svmnest: a check failed (its number is the exit code)\n"

  .data
magic: .long 0xFEEDF00D
  .balign 8
l2_ok: .quad 0
nexits: .quad 0
gps: .quad 0
uds: .quad 0
l2_irqs: .quad 0
l2_virqs: .quad 0
l2_rbx: .quad 0
l2_rcx: .quad 0
l2_rdx: .quad 0
dtr: .fill 16, 1, 0

  .bss
  .balign 4096
vmcb12: .fill 4096, 1, 0
hsave: .fill 4096, 1, 0
scratch: .fill 4096, 1, 0
npt_pml4: .fill 4096, 1, 0
npt_pdpt: .fill 4096, 1, 0
npt_pd: .fill 4096, 1, 0
iopm: .fill 3 * 4096, 1, 0
msrpm: .fill 2 * 4096, 1, 0
l2_stack: .fill 4096, 1, 0
l2_stack_top:
