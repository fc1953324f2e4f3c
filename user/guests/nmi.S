// nmi: NMIs nest as on a CPU (APM Vol. 2 §8.2.3 "Non-Maskable-Interrupt
// Exception (Vector 2)"): after taking one, the CPU blocks further NMIs until
// the handler's IRET has completed; one NMI arriving meanwhile is held and
// taken right after that IRET, before the next instruction; more are lost.
// The guest asks the VMM for NMIs (HC_RAISE RAISE_NMI: the VMM's local APIC
// path, vcpu_inject VM_EVENT_NMI) and checks:
//   A. the first NMI interrupts the instruction after the request; its
//      handler asks for two more and makes exits: neither arrives inside the
//      handler; exactly one arrives, on the return point of the first (the
//      IRET's target), before that instruction runs;
//   B. an NMI whose delivery a nested page fault cuts short (its stack is on
//      a page the VMM maps only on first touch, GUEST_F_DEMAND) arrives once;
//   C. after B's IRET, NMIs are taken again;
// and the hypervisor's means of catching the IRET leave no trace (DR6.BS, TF).
// Prints "nmi: N nmis, nested M, failed checks F[, first check C]"; exits F.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, GUEST_F_DEMAND)
#include "long64.inc"
#include "idt64.inc"

#define FRESH_STACK 0x150000   // a page nobody touched yet: NPF during delivery

.macro ASK_NMI
  mov $HC_RAISE, %eax
  xor %ebx, %ebx
  mov $RAISE_NMI, %ecx
  vmmcall
.endm

// CHECK n, cond, a, b: compares a and b (cmp b, a), records check n failed
// unless cond (a jcc suffix) holds.
.macro CHECK n, cond, a, b
  mov \a, %rax
  cmp \b, %rax
  j\cond 1f
  mov $\n, %eax
  call failed
1:
.endm

  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(2, on_nmi)
  call load_gdt_idt

  // A
  ASK_NMI
a_ret:
  mov count(%rip), %rax                 // the held NMI must already have come
  mov %rax, count_a(%rip)
  xor %eax, %eax
  cpuid                                 // exits where a wrongly kept third NMI would go in
  cpuid
  lea a_ret(%rip), %rdx
  CHECK 1, e, count_a(%rip), $2         // one NMI held behind the first, taken at once
  CHECK 2, e, inside(%rip), $1          // none while the first handler ran
  CHECK 3, e, rips(%rip), %rdx          // the first interrupted the instruction after VMMCALL
  CHECK 4, e, rips + 8(%rip), %rdx      // the second came right after the first's IRET
  CHECK 5, e, count(%rip), $2           // and the third request was lost
  mov %dr6, %rax                        // the hypervisor's single-step past the IRET (if it
  and $0x4000, %eax                     // used one) leaves no DR6.BS and no TF behind
  mov %rax, dr6_bs(%rip)
  pushfq
  pop %rax
  and $0x100, %eax
  mov %rax, tf(%rip)
  CHECK 11, e, dr6_bs(%rip), $0
  CHECK 12, e, tf(%rip), $0

  // B
  mov $FRESH_STACK, %rsp
  ASK_NMI
b_ret:
  mov $0x8000, %rsp
  lea b_ret(%rip), %rdx
  CHECK 6, e, count(%rip), $3           // delivered once, after the NPF that cut it short
  CHECK 7, e, rips + 16(%rip), %rdx

  // C
  ASK_NMI
c_ret:
  lea c_ret(%rip), %rdx
  CHECK 8, e, count(%rip), $4           // NMIs unblocked again after B's IRET
  CHECK 9, e, rips + 24(%rip), %rdx
  CHECK 10, e, nested(%rip), $0

  lea msg1(%rip), %rsi
  call puts
  mov count(%rip), %rax
  call putdec
  lea msg2(%rip), %rsi
  call puts
  mov nested(%rip), %rax
  call putdec
  lea msg3(%rip), %rsi
  call puts
  mov nfail(%rip), %rax
  call putdec
  cmpq $0, nfail(%rip)
  je 1f
  lea msg4(%rip), %rsi
  call puts
  mov firstfail(%rip), %rax
  call putdec
1:
  lea nl(%rip), %rsi
  call puts
  mov nfail(%rip), %al
  jmp guest_exit

// The NMI handler: counts, notes the interrupted RIP and any nesting. The
// first one asks for two more NMIs and makes exits before its IRET.
// Frame after the four pushes: rdx rcx rbx rax, then rip.
on_nmi:
  push %rax
  push %rbx
  push %rcx
  push %rdx
  incq depth(%rip)
  cmpq $1, depth(%rip)
  jbe 1f
  incq nested(%rip)
1:
  mov count(%rip), %rax
  cmp $8, %rax
  jae 2f
  lea rips(%rip), %rbx
  mov 32(%rsp), %rcx
  mov %rcx, (%rbx, %rax, 8)
2:
  incq count(%rip)
  cmpq $1, count(%rip)
  jne 3f
  ASK_NMI
  ASK_NMI
  xor %eax, %eax
  cpuid
  mov $GUEST_UART + 7, %dx
  out %al, %dx
  xor %eax, %eax
  cpuid
  mov count(%rip), %rax
  mov %rax, inside(%rip)
3:
  decq depth(%rip)
  pop %rdx
  pop %rcx
  pop %rbx
  pop %rax
  iretq

// failed: check number eax failed.
failed:
  incq nfail(%rip)
  cmpq $0, firstfail(%rip)
  jne 1f
  mov %rax, firstfail(%rip)
1:
  ret

// putdec: prints rax in decimal. Clobbers rax, rcx, rdx, rsi.
putdec:
  lea decbuf + 23(%rip), %rsi
  movb $0, (%rsi)
  mov $10, %ecx
1:
  xor %edx, %edx
  div %rcx
  add $'0', %dl
  dec %rsi
  mov %dl, (%rsi)
  test %rax, %rax
  jnz 1b
  jmp puts

msg1: .asciz "nmi: "
msg2: .asciz " nmis, nested "
msg3: .asciz ", failed checks "
msg4: .asciz ", first check "
nl: .asciz "\n"

  .data
count: .quad 0
dr6_bs: .quad 0
tf: .quad 0
count_a: .quad 0
inside: .quad 0
depth: .quad 0
nested: .quad 0
nfail: .quad 0
firstfail: .quad 0
rips: .fill 8, 8, 0
decbuf: .fill 24, 1, 0
