// hostile_dr: the guest aims its hardware breakpoints at the host (APM Vol. 2
// §13.1 "Software-Debug Resources"). Run by `hostile dr` (user/hostile.c),
// which enters it with RBX = an address in its own code that it executes
// after every exit, RCX and RDX = kernel text addresses the host runs on
// every exit (from the kernel's symbol table), RSI = the harness's data it
// writes after every exit. DR0-2 become instruction breakpoints, DR3 a
// read/write watchpoint, all enabled; then the guest exits a few hundred
// times (VMMCALL, CPUID, port I/O, host timer ticks). No #DB may reach the
// host. Then the architectural rules of MOV DRn are checked:
//   - DR0-3 and DR7 read back what was written (DR7 bit 10 reads as 1);
//   - DR6 written with 0 reads 0xFFFF0FF0; bits 63:32 of DR6/DR7 are #GP;
//   - DR4/DR5 are DR6/DR7 with CR4.DE=0 and #UD with CR4.DE=1;
//   - DR7.GD: the next MOV DR is #DB with DR6.BD, GD cleared in the handler.
// And of MOV to CR4 (APM Vol. 2 §3.1.3): OSXSAVE (XSAVE hidden by CPUID), a
// reserved bit and clearing PAE in long mode are #GP; PGE is accepted and
// reads back. One line per check; exit code = failed checks.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"

#define DR7_ARMED 0xB00000FF   // L0-G3 on; DR0-2 execute, DR3 read/write 8 bytes
#define ROUNDS 200

// EXPECT_FAULT vec, insn: runs insn expecting exception vec; counts a failure otherwise.
.macro EXPECT_FAULT vec, insn:vararg
  lea 9f(%rip), %r15
  movq $-1, vec(%rip)
  \insn
9:
  cmpq $\vec, vec(%rip)
  je 8f
  incq fails(%rip)
8:
.endm

  .globl start
start:
  mov $0x8000, %rsp
  mov %rbx, t0(%rip)
  mov %rcx, t1(%rip)
  mov %rdx, t2(%rip)
  mov %rsi, t3(%rip)
  SETGATE(1, on_db)
  SETGATE(6, on_ud)
  SETGATE(13, on_gp)
  call load_gdt_idt

  // Arm the breakpoints at the host's addresses.
  mov t0(%rip), %rax
  mov %rax, %dr0
  mov t1(%rip), %rax
  mov %rax, %dr1
  mov t2(%rip), %rax
  mov %rax, %dr2
  mov t3(%rip), %rax
  mov %rax, %dr3
  mov $DR7_ARMED, %eax
  mov %rax, %dr7

  // Exits: the host runs its code and touches its data each time.
  mov $ROUNDS, %r12d
1:
  mov $0x1234, %eax
  vmmcall
  xor %eax, %eax
  cpuid
  mov $0x80, %dx
  out %al, %dx
  mov $20000, %ecx
2:
  dec %ecx
  jnz 2b
  dec %r12d
  jnz 1b
  lea survived_msg(%rip), %rsi
  call puts

  // DR0-3 and DR7 read back.
  mov %dr0, %rax
  cmp t0(%rip), %rax
  jne 3f
  mov %dr1, %rax
  cmp t1(%rip), %rax
  jne 3f
  mov %dr2, %rax
  cmp t2(%rip), %rax
  jne 3f
  mov %dr3, %rax
  cmp t3(%rip), %rax
  jne 3f
  mov %dr7, %rax
  mov $(DR7_ARMED | 0x400), %ecx
  cmp %rcx, %rax
  jne 3f
  lea readback_msg(%rip), %rsi
  call puts
  jmp 4f
3:
  incq fails(%rip)
4:
  xor %eax, %eax
  mov %rax, %dr7                       // disarm

  // DR6: fixed bits; bits 63:32 of DR6/DR7 are #GP.
  xor %eax, %eax
  mov %rax, %dr6
  mov %dr6, %rax
  mov $0xFFFF0FF0, %ecx
  cmp %rcx, %rax
  je 5f
  incq fails(%rip)
5:
  mov $1, %rax
  shl $32, %rax
  EXPECT_FAULT 13, mov %rax, %dr6
  mov $1, %rax
  shl $32, %rax
  EXPECT_FAULT 13, mov %rax, %dr7
  // DR4/DR5 alias DR6/DR7 while CR4.DE=0 ...
  mov %dr4, %rax
  mov $0xFFFF0FF0, %ecx
  cmp %rcx, %rax
  je 6f
  incq fails(%rip)
6:
  // ... and are #UD with CR4.DE=1.
  mov %cr4, %rax
  or $0x8, %rax
  mov %rax, %cr4
  EXPECT_FAULT 6, mov %dr5, %rax
  mov %cr4, %rax
  and $~0x8, %rax
  mov %rax, %cr4
  lea drrules_msg(%rip), %rsi
  call puts

  // DR7.GD: the next MOV DR faults with #DB, DR6.BD set; the handler sees GD clear.
  mov $0x2000, %eax
  mov %rax, %dr7
  EXPECT_FAULT 1, mov %dr0, %rax
  mov db_dr6(%rip), %rax
  test $0x2000, %rax
  jz 7f
  mov db_dr7(%rip), %rax
  test $0x2000, %rax
  jnz 7f
  lea gd_msg(%rip), %rsi
  call puts
  jmp 10f
7:
  incq fails(%rip)
10:
  // CR4: hidden and reserved bits are #GP, PAE stays in long mode, PGE works.
  mov %cr4, %rbx
  mov %rbx, %rax
  or $(1 << 18), %rax                  // OSXSAVE
  EXPECT_FAULT 13, mov %rax, %cr4
  mov %rbx, %rax
  or $(1 << 25), %rax                  // reserved
  EXPECT_FAULT 13, mov %rax, %cr4
  mov %rbx, %rax
  and $~0x20, %rax                     // PAE off in long mode
  EXPECT_FAULT 13, mov %rax, %cr4
  mov %rbx, %rax
  or $0x80, %rax                       // PGE
  mov %rax, %cr4
  mov %cr4, %rcx
  cmp %rax, %rcx
  je 11f
  incq fails(%rip)
11:
  mov %rbx, %cr4
  lea cr4_msg(%rip), %rsi
  call puts
  mov fails(%rip), %al
  jmp guest_exit

// Handlers: note the vector (and DR6/DR7 for #DB), resume at %r15.
on_db:
  movq $1, vec(%rip)
  push %rax
  mov %dr6, %rax
  mov %rax, db_dr6(%rip)
  mov %dr7, %rax
  mov %rax, db_dr7(%rip)
  pop %rax
  jmp resume
on_ud:
  movq $6, vec(%rip)
  jmp resume
on_gp:
  movq $13, vec(%rip)
  add $8, %rsp                         // error code
resume:
  mov %r15, (%rsp)
  iretq

survived_msg:
  .asciz "hostile_dr: breakpoints on host code and data: the host ran on through every exit\n"
readback_msg:
  .asciz "hostile_dr: DR0-3 and DR7 read back as written\n"
drrules_msg:
  .asciz "hostile_dr: DR6 fixed bits, #GP for bits 63:32, DR4/DR5 alias and #UD\n"
gd_msg:
  .asciz "hostile_dr: DR7.GD: #DB with DR6.BD, GD clear in the handler\n"
cr4_msg:
  .asciz "hostile_dr: CR4: OSXSAVE, reserved bit and PAE clear are #GP; PGE reads back\n"
  .data
t0: .quad 0
t1: .quad 0
t2: .quad 0
t3: .quad 0
vec: .quad 0
fails: .quad 0
db_dr6: .quad 0
db_dr7: .quad 0
