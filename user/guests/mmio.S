// mmio: every instruction form the VMM's emulator covers, run twice with the
// same registers, flags and memory contents: once on a RAM buffer, once on
// the VMM's MMIO test device (GUEST_F_TESTDEV: a RAM-like page at
// GUEST_TESTDEV_GPA, reached only through nested page faults and emulation).
// Registers, arithmetic flags and the 64 bytes of the window must come out the
// same. Then RIP-relative and GS-relative accesses, a 32-bit address size,
// and a #PF that emulation must raise (MOVS from the device to an unmapped
// page). Prints "mmio: N instructions agree" and exits 0; on a difference it
// names the test and exits with its number.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, GUEST_F_TESTDEV)
#include "long64.inc"
#include "idt64.inc"

#define WIN GUEST_TESTDEV_GPA
#define FL_A 0x002          // no arithmetic flag set
#define FL_B 0x8D7          // CF PF AF ZF SF OF set

// T flags, insn: run insn on RAM, then on the device, and compare.
.macro T fl, insn:vararg
  lea ram(%rip), %rbx
  call prepare
  push $\fl
  popfq
  \insn
  pushfq
  lea saved_a(%rip), %rbp
  call save
  mov $WIN, %rbx
  call prepare
  push $\fl
  popfq
  \insn
  pushfq
  lea saved_b(%rip), %rbp
  call save
  call compare
.endm

// TS: the same for string instructions: RDI/RSI point into the window,
// RCX counts, and they are compared relative to it.
.macro TS fl, insn:vararg
  movl $1, strmode(%rip)
  T \fl, \insn
  cld
  movl $0, strmode(%rip)
.endm

  .globl start
start:
  mov $0x8000, %rsp
  call load_gdt_idt
  SETGATE(14, pf_handler)
  T FL_A, movb %al, 3(%rbx)
  T FL_B, movw %ax, 6(%rbx)
  T FL_A, movl %eax, 12(%rbx)
  T FL_B, movq %rax, 16(%rbx)
  T FL_A, movb 5(%rbx), %dl
  T FL_A, movw 6(%rbx), %dx
  T FL_B, movl 8(%rbx), %edx
  T FL_A, movq 8(%rbx), %rdx
  T FL_A, movb $0x5a, 1(%rbx)
  T FL_A, movw $0x1234, 2(%rbx)
  T FL_A, movl $0x89abcdef, 4(%rbx)
  T FL_A, movq $-2, 8(%rbx)
  T FL_A, movb %ah, 7(%rbx)
  T FL_A, movb 9(%rbx), %dh
  T FL_A, movb 9(%rbx), %sil
  T FL_A, movl %r9d, (%rbx,%rcx,4)
  T FL_A, movq (%rbx,%rcx,8), %r10
  T FL_A, movq %r11, -8(%rbx,%rcx,8)
  T FL_A, movl %eax, (%ebx)
  T FL_A, movl %eax, 2(%ebx,%ecx,2)
  T FL_A, movzbl 3(%rbx), %eax
  T FL_A, movzwq 6(%rbx), %r8
  T FL_A, movsbq 3(%rbx), %rax
  T FL_A, movswl 6(%rbx), %edx
  T FL_A, movslq 4(%rbx), %r11
  T FL_A, addl %eax, 8(%rbx)
  T FL_B, addq $5, (%rbx)
  T FL_A, subb $1, 2(%rbx)
  T FL_A, subl 20(%rbx), %edx
  T FL_B, cmpl 4(%rbx), %edx
  T FL_A, cmpq $0x7f, 8(%rbx)
  T FL_A, andw %dx, 6(%rbx)
  T FL_A, orq 8(%rbx), %r8
  T FL_A, xorl $0xffff0000, 12(%rbx)
  T FL_B, adcb %al, 1(%rbx)
  T FL_B, sbbl 16(%rbx), %esi
  T FL_A, testl $0x80000000, 12(%rbx)
  T FL_A, testb %al, 2(%rbx)
  T FL_B, incl 4(%rbx)
  T FL_A, decq 8(%rbx)
  T FL_A, notw 2(%rbx)
  T FL_A, negl 12(%rbx)
  T FL_A, lock addl %eax, 20(%rbx)
  T FL_B, lock incq 24(%rbx)
  T FL_A, xchgl %edx, 8(%rbx)
  T FL_A, xchgb %al, 3(%rbx)
  T FL_A, lock orb $0x81, 30(%rbx)
  TS FL_A, stosb
  TS FL_A, stosq
  TS FL_A, rep stosl
  TS FL_A, movsb
  TS FL_A, rep movsq
  TS 0x402, rep movsw                // DF=1: backwards
  TS FL_A, rep stosw
  call riprel
  call gsrel
  call pagefault
  mov ntests(%rip), %eax
  lea okmsg_n(%rip), %rdi
  call put_dec
  PRINT_EXIT okmsg, 0

// prepare: fills the 64-byte window at %rbx with a pattern that depends on
// the test number, and sets the registers the instructions use.
prepare:
  mov ntests(%rip), %eax
  imul $0x01010101, %eax
  mov $0x0706050403020100, %rdx
  add %rax, %rdx
  mov $0x1122334455667788, %rcx
  xor %edi, %edi
1:
  mov %rdx, (%rbx,%rdi,8)           // through the emulator for the device
  add %rcx, %rdx
  rol $7, %rdx
  inc %edi
  cmp $8, %edi
  jb 1b
  mov $0x8000000180000081, %rax
  add ntests(%rip), %rax
  mov $3, %ecx
  mov $0x00ff00ff7fffffff, %rdx
  mov $0xfffffffffffffff0, %rsi
  mov $0x0123456789abcdef, %rdi
  mov $0x7fff7fff80008000, %r8
  mov $0xdeadbeefcafef00d, %r9
  mov $0x5555555555555555, %r10
  mov $0xaaaaaaaaaaaaaaaa, %r11
  cmpl $0, strmode(%rip)
  je 2f
  lea 8(%rbx), %rdi
  lea 32(%rbx), %rsi
2:
  ret

// save: %rbp = area; 8(%rsp) = the flags pushed right after the instruction.
// Stores the ten registers (RSI/RDI relative to the window in string tests),
// the flags and the window's 64 bytes.
save:
  mov %rax, 0(%rbp)
  mov %rcx, 8(%rbp)
  mov %rdx, 16(%rbp)
  mov %r8, 24(%rbp)
  mov %r9, 32(%rbp)
  mov %r10, 40(%rbp)
  mov %r11, 48(%rbp)
  mov %rsi, 56(%rbp)
  mov %rdi, 64(%rbp)
  cmpl $0, strmode(%rip)
  je 1f
  sub %rbx, 56(%rbp)
  sub %rbx, 64(%rbp)
1:
  mov 8(%rsp), %rax
  and $0x8d5, %rax
  mov %rax, 72(%rbp)
  xor %ecx, %ecx
2:
  mov (%rbx,%rcx,8), %rax           // through the emulator for the device
  mov %rax, 80(%rbp,%rcx,8)
  inc %ecx
  cmp $8, %ecx
  jb 2b
  ret $8                            // drop the flags

// compare: the two areas must be equal (18 quadwords); counts the test.
compare:
  incl ntests(%rip)
  lea saved_a(%rip), %rsi
  lea saved_b(%rip), %rdi
  xor %ecx, %ecx
1:
  mov (%rsi,%rcx,8), %rax
  cmp (%rdi,%rcx,8), %rax
  jne 2f
  inc %ecx
  cmp $18, %ecx
  jb 1b
  ret
2:
  mov %ecx, %ebx
  mov ntests(%rip), %eax
  lea failmsg_n(%rip), %rdi
  call put_dec
  mov %ebx, %eax
  lea failmsg_q(%rip), %rdi
  call put_dec
  lea failmsg(%rip), %rsi
  call puts
  mov ntests(%rip), %al
  jmp guest_exit

// riprel: a RIP-relative store into the device, read back through %rbx.
  .globl win40
  .set win40, WIN + 0x40
riprel:
  // movl $0x600df00d, win40(%rip), spelled out: the assembler would take an
  // absolute symbol in sym(%rip) as a plain displacement, not as the target.
  .byte 0xc7, 0x05
  .long win40 - 1f
  .long 0x600df00d
1:
  mov $WIN, %rbx
  cmpl $0x600df00d, 0x40(%rbx)
  jne fail_riprel
  incl ntests(%rip)
  ret
fail_riprel:
  PRINT_EXIT riprelmsg, 90

// gsrel: a GS-relative load from the device (GS.base = the window).
gsrel:
  mov $0xc0000101, %ecx             // GS_BASE
  mov $WIN, %eax
  xor %edx, %edx
  wrmsr
  mov $WIN, %rbx
  mov $0x0badcafe12345678, %rdx
  mov %rdx, 0x48(%rbx)
  mov %gs:0x48, %rax
  cmp %rdx, %rax
  jne fail_gs
  incl ntests(%rip)
  ret
fail_gs:
  PRINT_EXIT gsmsg, 91

// pagefault: MOVSB from the device to the unmapped 1 GiB line: the source
// read is emulated, the destination write must raise #PF (W=1) with CR2 at
// the destination, and RIP on the MOVSB.
pagefault:
  mov $WIN, %rsi
  mov $0x40000000, %rdi
  lea pf_expect_rip(%rip), %rax
  mov %rax, pf_rip(%rip)
pf_expect_rip:
  movsb
  PRINT_EXIT nopfmsg, 92
pf_handler:
  mov (%rsp), %rax                  // error code
  mov 8(%rsp), %rdx                 // RIP
  mov %cr2, %rcx
  cmp $2, %rax
  jne bad_pf
  cmp pf_rip(%rip), %rdx
  jne bad_pf
  cmp $0x40000000, %rcx
  jne bad_pf
  incl ntests(%rip)
  add $8, %rsp                      // error code
  lea pf_done(%rip), %rax
  mov %rax, (%rsp)                  // resume after the MOVSB's check
  iretq
pf_done:
  ret
bad_pf:
  PRINT_EXIT badpfmsg, 93

// put_dec: writes %eax in decimal into the 10-byte field at %rdi (right-aligned, spaces).
put_dec:
  add $9, %rdi
  mov $10, %ecx
1:
  xor %edx, %edx
  div %ecx
  add $'0', %dl
  mov %dl, (%rdi)
  dec %rdi
  test %eax, %eax
  jnz 1b
  ret

  .data
  .balign 8
ntests: .long 0
strmode: .long 0
pf_rip: .quad 0
saved_a: .fill 18, 8, 0
saved_b: .fill 18, 8, 0
  .balign 64
ram: .fill 64, 1, 0
  .fill 64, 1, 0                    // room for the string tests past the window
okmsg:
  .ascii "mmio: "
okmsg_n:
  .asciz "           instructions agree on RAM and MMIO\n"
failmsg:
  .ascii "mmio: test "
failmsg_n:
  .ascii "          : quadword "
failmsg_q:
  .asciz "           of registers/flags/window differs between RAM and MMIO\n"
riprelmsg: .asciz "mmio: RIP-relative store to the device not seen\n"
gsmsg: .asciz "mmio: GS-relative load from the device wrong\n"
nopfmsg: .asciz "mmio: MOVSB to an unmapped page did not fault\n"
badpfmsg: .asciz "mmio: #PF from the emulated MOVSB has the wrong error code, RIP or CR2\n"
