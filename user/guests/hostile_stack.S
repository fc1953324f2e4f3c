// hostile_stack: a non-canonical RSP, then a push. The push raises #SS
// (APM Vol. 2 §8.4 "Stack exception"), whose delivery pushes onto the same
// stack and fails again: #DF, which fails too, so the CPU shuts down (triple
// fault) although the guest has handlers for all three. The kernel
// intercepts SHUTDOWN and the VMM reports it; the host is untouched.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"

  .globl start
start:
  mov $0x8000, %rsp
  SETGATE(8, on_fault)
  SETGATE(12, on_fault)
  SETGATE(13, on_fault)
  call load_gdt_idt
  lea msg(%rip), %rsi
  call puts
  mov $0x8000000000001000, %rsp
  push %rax
  mov $1, %al                           // never reached
  jmp guest_exit

on_fault:                               // cannot run: there is no stack for it
  mov $0x8000, %rsp
  lea bad(%rip), %rsi
  call puts
  mov $2, %al
  jmp guest_exit

msg:
  .asciz "hostile_stack: rsp = 0x8000000000001000, pushing\n"
bad:
  .asciz "hostile_stack: a handler ran on a non-canonical stack\n"
