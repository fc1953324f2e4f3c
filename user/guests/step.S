// step: single-steps (RFLAGS.TF) over instructions the kernel or the VMM
// finishes for the guest, at CPL 0 and CPL 3, and over ones the CPU runs
// itself (the oracle: the same check must hold for NOP and a plain MOV).
// After each stepped instruction exactly one #DB must arrive, as a trap:
// the pushed RIP is the next instruction, DR6.BS is set, the pushed CS has
// the CPL the instruction ran at (APM Vol. 2 §8.2.2 "Debug Exception").
// POPF sets TF right before each instruction, so the trap must come after
// the instruction, not after POPF. Finished by the VMM: CPUID, IN, OUT,
// RDMSR/WRMSR of its scratch MSR, VMMCALL, MMIO reads and writes (the test
// device, emulated); by the kernel: RDMSR of EFER, MOV to CR0 (long mode),
// CPUID in a MOV SS shadow, HLT with IF=1 (last: without its #DB it would
// sleep until the time budget ends). A VMMCALL that makes the VMM inject an
// interrupt gets its #DB first, the interrupt on the #DB handler's first
// instruction (APM Vol. 2 §8.5: the trap outranks it). Prints one line per failure and
// "step: N steps, F failed"; exits with F.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x100000, GUEST_F_TESTDEV)
#include "long64.inc"
#include "idt64.inc"

#define KSTACK 0x100000
#define USTACK 0xF0000
#define MSR_SCRATCH 0x40000100
#define MSR_EFER 0xC0000080
#define TF 0x100

// STEP_BEGIN flags: the next `9:` is where the trap must point; POPF sets
// flags (TF at least) right before the stepped instruction.
.macro STEP_BEGIN flags=TF
  push %rax
  lea 9f(%rip), %rax
  mov %rax, expect(%rip)
  mov ndb(%rip), %rax
  mov %rax, before(%rip)
  pop %rax
  pushfq
  orq $\flags, (%rsp)
  popfq
.endm

// STEP_END name: the trap's point; checks the #DB that came.
.macro STEP_END name
9:
  lea 8f(%rip), %rsi
  call check_step
  jmp 7f
8:
  .asciz "\name"
7:
.endm

// STEP name, insn: single-step insn (operands set up by the caller).
.macro STEP name, insn:vararg
  STEP_BEGIN
  \insn
  STEP_END "\name"
.endm

  .globl start
start:
  mov $KSTACK, %rsp
  call load_gdt_idt
  call setup_ring3
  SETGATE(1, on_db)
  SETGATE(0x80, back_to_ring0)
  SETGATE(0x30, on_irq)
  movb $0xEE, idt + 0x80 * 16 + 5(%rip)   // int $0x80 from ring 3: DPL 3
  movq $0, expect_cpl(%rip)

  STEP "nop (the CPU's own)", nop
  STEP "mov (the CPU's own)", mov %rax, %rbx
  xor %eax, %eax
  STEP "cpuid (vmm)", cpuid
  mov $GUEST_UART + 5, %dx
  STEP "in (vmm)", in %dx, %al
  mov $GUEST_UART + 7, %dx
  STEP "out (vmm)", out %al, %dx
  mov $MSR_SCRATCH, %ecx
  mov $0x12345678, %eax
  xor %edx, %edx
  STEP "wrmsr (vmm)", wrmsr
  STEP "rdmsr (vmm)", rdmsr
  mov $MSR_EFER, %ecx
  STEP "rdmsr efer (kernel)", rdmsr
  mov $HC_YIELD, %eax
  STEP "vmmcall (vmm)", vmmcall
  mov $HC_RAISE, %eax                   // the VMM injects vector 0x30 after the VMMCALL:
  mov $0x30, %ebx                       // the #DB trap outranks it, so the interrupt comes
  mov $RAISE_INTR, %ecx                 // on the #DB handler's first instruction
  STEP "vmmcall raising an interrupt (vmm)", vmmcall
  lea on_db(%rip), %rax
  cmp irq_rip(%rip), %rax
  jne 1f
  cmpq $1, nirq(%rip)
  je 2f
1:
  incq nfail(%rip)
  lea irqmsg(%rip), %rsi
  call puts
2:
  mov $GUEST_TESTDEV_GPA, %rbx
  STEP "mmio read (vmm emulation)", movl 8(%rbx), %eax
  STEP "mmio write (vmm emulation)", movl %eax, 12(%rbx)
  mov %cr0, %rax
  STEP "mov to cr0 (kernel)", mov %rax, %cr0
  mov $0x10, %eax
  mov %eax, %ss
  xor %eax, %eax
  STEP_BEGIN                            // MOV SS holds its trap back: one #DB, after CPUID
  mov %ax, %ss
  cpuid
  STEP_END "cpuid in a mov ss shadow (vmm)"
  mov $0x10, %eax
  mov %eax, %ss

  movq $3, expect_cpl(%rip)
  pushq $0x1B                           // SS: user data
  pushq $USTACK
  pushq $0x3002                         // IOPL 3: IN/OUT allowed at CPL 3
  pushq $0x23                           // CS: user code
  lea ring3(%rip), %rax
  push %rax
  iretq
ring3:
  STEP "nop at cpl 3", nop
  xor %eax, %eax
  STEP "cpuid at cpl 3 (vmm)", cpuid
  mov $GUEST_UART + 5, %dx
  STEP "in at cpl 3 (vmm)", in %dx, %al
  mov $GUEST_UART + 7, %dx
  STEP "out at cpl 3 (vmm)", out %al, %dx
  mov $GUEST_TESTDEV_GPA, %rbx
  STEP "mmio read at cpl 3 (vmm emulation)", movl 8(%rbx), %eax
  STEP "mmio write at cpl 3 (vmm emulation)", movl %eax, 12(%rbx)
  int $0x80                             // back to ring 0, at back_to_ring0

back_to_ring0:
  mov $KSTACK, %rsp
  movq $0, expect_cpl(%rip)
  // POPF sets IF and TF together (no STI shadow): the HLT is stepped.
  STEP_BEGIN (TF | 0x200)
  hlt
  STEP_END "hlt with if=1 (kernel)"
  cli

  lea msg1(%rip), %rsi
  call puts
  mov nsteps(%rip), %rax
  call putdec
  lea msg2(%rip), %rsi
  call puts
  mov nfail(%rip), %rax
  call putdec
  lea msg3(%rip), %rsi
  call puts
  mov nfail(%rip), %al
  jmp guest_exit

// #DB: the frame must point at `expect`, from CPL expect_cpl, with DR6.BS.
// TF is cleared in the saved RFLAGS (one step only); DR6 is cleared, as a
// debugger does. Frame after the push: rax, rip, cs, rflags, rsp, ss.
on_db:
  push %rax
  mov 8(%rsp), %rax
  cmp expect(%rip), %rax
  je 1f
  mov %rax, bad_rip(%rip)
  orq $1, bad(%rip)
1:
  mov 16(%rsp), %rax
  and $3, %rax
  cmp expect_cpl(%rip), %rax
  je 2f
  orq $2, bad(%rip)
2:
  mov %dr6, %rax
  bt $14, %rax
  jc 3f
  orq $4, bad(%rip)
3:
  xor %eax, %eax
  mov %rax, %dr6
  andq $~TF, 24(%rsp)
  incq ndb(%rip)
  pop %rax
  iretq

// Vector 0x30 (HC_RAISE): notes where it came.
on_irq:
  push %rax
  mov 8(%rsp), %rax
  mov %rax, irq_rip(%rip)
  incq nirq(%rip)
  pop %rax
  iretq

// check_step: rsi = the step's name. One #DB since `before`, and a good one.
check_step:
  incq nsteps(%rip)
  mov ndb(%rip), %rax
  sub before(%rip), %rax
  mov %rax, got(%rip)
  cmp $1, %rax
  jne 1f
  cmpq $0, bad(%rip)
  jne 1f
  ret
1:
  incq nfail(%rip)
  push %rsi
  lea failmsg(%rip), %rsi
  call puts
  pop %rsi
  call puts
  lea gotmsg(%rip), %rsi
  call puts
  mov got(%rip), %rax
  call putdec
  lea whymsg(%rip), %rsi
  call puts
  mov bad(%rip), %rax
  call putdec
  lea ripmsg(%rip), %rsi
  call puts
  mov bad_rip(%rip), %rax
  sub expect(%rip), %rax
  call putdec
  lea nl(%rip), %rsi
  call puts
  movq $0, bad(%rip)
  movq $0, bad_rip(%rip)
  ret

// putdec: prints rax (signed) in decimal. Clobbers rax, rcx, rdx, rsi.
putdec:
  lea decbuf + 23(%rip), %rsi
  movb $0, (%rsi)
  mov %rax, %r8
  test %rax, %rax
  jns 1f
  neg %rax
1:
  mov $10, %ecx
2:
  xor %edx, %edx
  div %rcx
  add $'0', %dl
  dec %rsi
  mov %dl, (%rsi)
  test %rax, %rax
  jnz 2b
  test %r8, %r8
  jns 3f
  dec %rsi
  movb $'-', (%rsi)
3:
  jmp puts

// setup_ring3: a GDT with user segments and a 64-bit TSS (RSP0 = KSTACK), so
// that a #DB at CPL 3 lands on the kernel stack.
setup_ring3:
  lea tss(%rip), %rax
  movq $KSTACK, 4(%rax)
  movw $104, 102(%rax)                  // no I/O bitmap: IOPL decides
  lea gdt3 + 0x28(%rip), %rdi
  movw $103, (%rdi)                     // limit
  mov %ax, 2(%rdi)                      // base 15:0
  shr $16, %rax
  mov %al, 4(%rdi)                      // base 23:16
  movb $0x89, 5(%rdi)                   // P, 64-bit TSS (available)
  mov %ah, 7(%rdi)                      // base 31:24
  shr $16, %rax
  mov %eax, 8(%rdi)                     // base 63:32
  lgdt gdt3r(%rip)
  mov $0x28, %ax
  ltr %ax
  ret

failmsg: .asciz "step: FAIL: "
gotmsg: .asciz ": #DB count "
whymsg: .asciz ", bad (1 rip, 2 cpl, 4 dr6.bs) "
ripmsg: .asciz ", rip off by "
msg1: .asciz "step: "
msg2: .asciz " steps, "
msg3: .asciz " failed\n"
nl: .asciz "\n"
irqmsg: .asciz "step: FAIL: the interrupt raised by the stepped VMMCALL did not come once, on the #DB handler\n"

  .data
  .balign 16
gdt3:
  .quad 0
  .quad 0x00209A0000000000              // 0x08: 64-bit code, DPL 0
  .quad 0x0000920000000000              // 0x10: data, DPL 0
  .quad 0x0000F20000000000              // 0x18: data, DPL 3
  .quad 0x0020FA0000000000              // 0x20: 64-bit code, DPL 3
  .quad 0, 0                            // 0x28: TSS (setup_ring3)
gdt3end:
gdt3r:
  .short gdt3end - gdt3 - 1
  .quad gdt3
  .balign 16
tss: .fill 104, 1, 0
expect: .quad 0
expect_cpl: .quad 0
before: .quad 0
ndb: .quad 0
got: .quad 0
bad: .quad 0
bad_rip: .quad 0
nsteps: .quad 0
nfail: .quad 0
irq_rip: .quad 0
nirq: .quad 0
decbuf: .fill 24, 1, 0
