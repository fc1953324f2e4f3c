// window: interrupts must never arrive while IF=0 or inside an interrupt
// shadow (APM Vol. 2 §15.21.5 "Interrupt Shadows"; the STI and MOV SS
// shadows). PIT IRQ0 at 1 kHz; for two RTC seconds the guest loops:
//   cli; 3 ms with IF=0, timed by PIT counter 2 through port 0x61 (ticks
//     pile up: the line stays asserted across the port-0x61 and deadline
//     exits of the stretch);
//   sti; a load from a fresh page (GUEST_F_DEMAND: a nested page fault
//     *in the STI shadow*, re-entered with an interrupt pending);
//   mov to SS; another fresh page (a nested page fault in the MOV SS shadow).
// The tick handler checks the interrupted context: RFLAGS.IF must be 1, and
// the instruction before the return RIP must not be STI or MOV SS (that
// would make the return RIP the shadowed instruction). Prints the ticks
// counted in the two seconds (2000: late, not lost; repeated up to three
// times when outside 1 %, as timer.S does) and the violations; exits 0 iff
// there were none.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x800000, pml4, 0x8000, GUEST_F_DEMAND)
#include "long64.inc"
#include "idt64.inc"
#include "pc.inc"
#define FIRST_PAGE 0x20000
#define LAST_PAGE 0x7FF000
  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(0x20, on_tick)
  SETGATE(0x27, on_spurious)
  call load_gdt_idt
  mov $0xFE, %al
  call pic_init
  call gate2_on
  mov $0x34, %al
  mov $1193, %cx
  call pit_start
  mov $FIRST_PAGE, %rdi
  mov $3, %rbp                          // tries (see timer.S)
try:
  sti
  call next_second
  mov ticks(%rip), %r12
  movq $0, seconds(%rip)
1:
  cli
  mov $3580, %cx                        // 3 ms
  call pit2_wait
  sti
  movb (%rdi), %al                      // in the STI shadow; faults the first time
  call next_page
  mov %ss, %ecx
  mov %ecx, %ss
  movb (%rdi), %al                      // in the MOV SS shadow; faults the first time
  call next_page
  call rtc_seconds
  cmp %al, last_sec(%rip)
  je 1b
  mov %al, last_sec(%rip)
  incq seconds(%rip)
  cmpq $2, seconds(%rip)
  jb 1b
  mov ticks(%rip), %r13
  sub %r12, %r13
  cli
  SAY msg_ticks
  SAYNUM %r13
  SAY msg_ticks2
  cmp $1980, %r13                       // within 1 %: done
  jb 5f
  cmp $2020, %r13
  jbe 6f
5:
  dec %rbp
  jnz try
6:
  SAY msg_if
  SAYNUM if_bad(%rip)
  SAY msg_shadow
  SAYNUM shadow_bad(%rip)
  SAY msg_pages
  mov %rdi, %rax
  sub $FIRST_PAGE, %rax
  shr $12, %rax
  call putdec
  SAY msg_total
  SAYNUM ticks(%rip)
  SAY msg_nl
  cmpq $0, first_bad(%rip)
  je 4f
  SAY msg_first
  mov first_bad(%rip), %rax
  call puthex
  SAY msg_nl
4:
  mov if_bad(%rip), %rax
  or shadow_bad(%rip), %rax
  setnz %al
  jmp guest_exit

// next_page: %rdi to the next page not yet touched (stays on the last).
next_page:
  cmp $LAST_PAGE, %rdi
  jae 1f
  add $0x1000, %rdi
1:
  ret

// next_second: sti; hlt until the RTC's seconds change; remembers them.
next_second:
  call rtc_seconds
  mov %al, last_sec(%rip)
1:
  sti
  hlt
  call rtc_seconds
  cmp %al, last_sec(%rip)
  je 1b
  mov %al, last_sec(%rip)
  ret

on_tick:
  push %rax
  mov 8(%rsp), %rax                     // the interrupted RIP
  testq $0x200, 24(%rsp)                // and RFLAGS
  jnz 1f
  incq if_bad(%rip)
1:
  cmpb $0xFB, -1(%rax)                  // STI right before it
  je 2f
  cmpw $0xD18E, -2(%rax)                // mov %ecx, %ss right before it
  jne 3f
2:
  incq shadow_bad(%rip)
  cmpq $0, first_bad(%rip)
  jne 3f
  mov %rax, first_bad(%rip)
3:
  incq ticks(%rip)
  EOI
  pop %rax
  iretq
on_spurious:
  iretq

msg_ticks: .asciz "window: 2 rtc seconds: "
msg_ticks2: .asciz " ticks\n"
msg_if: .asciz "window: taken with IF=0: "
msg_shadow: .asciz "; in a shadow: "
msg_pages: .asciz "; shadowed faults: "
msg_total: .asciz "; interrupts: "
msg_nl: .asciz "\n"
msg_first: .asciz "window: first interrupt inside a shadow returned to rip "
  .data
ticks: .quad 0
if_bad: .quad 0
shadow_bad: .quad 0
first_bad: .quad 0
seconds: .quad 0
last_sec: .byte 0
