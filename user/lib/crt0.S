# Entry of every user program. exec() starts us with rdi = argc,
# rsi = argv and a 16-byte aligned stack; main's return value is the
# exit status.
.section .text.start
.globl _start
_start:
  xorq %rbp, %rbp
  call main
  movl %eax, %edi
  call exit
1:
  jmp 1b
