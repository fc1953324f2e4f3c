// hostile_msr: the guest writes the MSRs that hold the host's SVM and system
// call state: EFER with SVME clear, VM_HSAVE_PA, VM_CR (SVMDIS), LSTAR,
// KernelGsBase, APIC base. Policy (kern/vmabi.h, user/vmm/devices.c): the
// MSR permission map intercepts every MSR (APM Vol. 2 §15.11 "MSR
// Intercepts"), so no guest WRMSR reaches the CPU. EFER is the kernel's: it
// keeps SVME set in the VMCB (§15.5.1 requires it) and hides it from the
// guest, so a write with SVME clear is accepted, reads back without SVME,
// and the guest keeps running. LSTAR and KernelGsBase are among the MSRs
// VMLOAD/VMSAVE switch (§15.5.2): they are not intercepted
// (svm_msrpm_passthrough, kern/svm/inject.c), the guest writes and reads its
// own copy in its VMCB, and the host's comes back with the VMLOAD after each
// #VMEXIT (the VMM's next system call would crash the host otherwise).
// VM_HSAVE_PA, VM_CR and APIC base go to the VMM, which answers #GP(0) like a
// CPU without that MSR, for reads too (user/vmm/devices.c).
// Prints one line per MSR; exit code = number of results against the policy.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"
#include "msrgp.inc"

#define EFER 0xC0000080
#define EFER_LME 0x100
#define EFER_LMA 0x400
#define EFER_SVME 0x1000

// WRGP msr, lo, hi, name: WRMSR and RDMSR of msr must both raise #GP.
.macro WRGP msr, lo, hi, name
  lea 2f(%rip), %rsi
  call name_line
  mov $\msr, %ecx
  mov $\lo, %eax
  mov $\hi, %edx
  movq $0, gps(%rip)
  wrmsr
  rdmsr
  call gp_result
  jmp 3f
2:
  .asciz "\name"
3:
.endm

// WROWN msr, lo, hi, name: the guest's own copy: no #GP, reads back.
.macro WROWN msr, lo, hi, name
  lea 2f(%rip), %rsi
  call name_line
  mov $\msr, %ecx
  mov $\lo, %eax
  mov $\hi, %edx
  movq $0, gps(%rip)
  wrmsr
  xor %eax, %eax
  xor %edx, %edx
  rdmsr
  lea own_ok(%rip), %rsi
  cmpq $0, gps(%rip)
  jne 1f
  cmp $\lo, %eax
  jne 1f
  cmp $\hi, %edx
  je 4f
1:
  incq fails(%rip)
  lea own_bad(%rip), %rsi
4:
  call puts
  jmp 3f
2:
  .asciz "\name"
3:
.endm

  .globl start
start:
  MSRGP_START
  call efer_check
  WRGP 0xC0010117, 0x1000, 0, "VM_HSAVE_PA"
  WRGP 0xC0010114, 0x10, 0, "VM_CR (SVMDIS)"
  WROWN 0xC0000082, 0xdead0000, 0xffffffff, "LSTAR"
  WROWN 0xC0000102, 0xbeef0000, 0xffffffff, "KernelGsBase"
  WRGP 0x1B, 0xFED00900, 0, "APIC_BASE"
  mov fails(%rip), %al
  jmp guest_exit

// EFER: write it back with SVME clear (and once with SVME set); neither
// faults, the guest never sees SVME, LME/LMA stay, and the guest runs on
// (this very output proves VMRUN still accepts the VMCB).
efer_check:
  lea efer_name(%rip), %rsi
  call name_line
  movq $0, gps(%rip)
  mov $EFER, %ecx
  rdmsr
  and $~EFER_SVME, %eax
  wrmsr
  or $EFER_SVME, %eax
  wrmsr
  rdmsr
  mov %rax, %rbx
  lea efer_ok(%rip), %rsi
  cmpq $0, gps(%rip)
  jne 1f
  test $EFER_SVME, %ebx
  jnz 1f
  and $(EFER_LME | EFER_LMA), %ebx
  cmp $(EFER_LME | EFER_LMA), %ebx
  je 2f
1:
  incq fails(%rip)
  lea efer_bad(%rip), %rsi
2:
  call puts
  ret

// name_line: prints "hostile_msr: wrmsr NAME: " (rsi = NAME).
name_line:
  push %rsi
  lea pre(%rip), %rsi
  call puts
  pop %rsi
  call puts
  lea colon(%rip), %rsi
  jmp puts

// gp_result: two #GPs (write and read) is the policy.
gp_result:
  lea gp_ok(%rip), %rsi
  cmpq $2, gps(%rip)
  je 1f
  incq fails(%rip)
  lea gp_bad(%rip), %rsi
1:
  jmp puts

pre:
  .asciz "hostile_msr: wrmsr "
colon:
  .asciz ": "
efer_name:
  .asciz "EFER (SVME clear, then set)"
efer_ok:
  .asciz "accepted, reads back without SVME, LME|LMA kept, guest still runs\n"
efer_bad:
  .asciz "AGAINST POLICY (#GP, SVME visible or long mode lost)\n"
gp_ok:
  .asciz "#GP on write and read, host MSR untouched\n"
own_ok:
  .asciz "the guest's own copy (VMCB), reads back, host's restored by VMLOAD\n"
own_bad:
  .asciz "AGAINST POLICY (#GP or a different value read back)\n"
gp_bad:
  .asciz "AGAINST POLICY (no #GP)\n"
  .data
