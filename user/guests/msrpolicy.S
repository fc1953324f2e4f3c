// msrpolicy: the VMM's MSR policy (user/vmm/msr.c) against what KVM answers
// an AMD guest without a PMU (arch/x86/kvm/x86.c kvm_get_msr_common/
// kvm_set_msr_common, svm/svm.c svm_get_msr/svm_set_msr) and what the
// manuals say a read-only or reserved bit does. Each row of `checks` is one
// RDMSR or WRMSR and the answer expected: #GP(0), no #GP, or a value read.
// The first rows are what outside test kernels do at their start: write 0
// to the legacy AMD performance counter MSRs C001_0000h-C001_0007h (APM
// Vol. 2 §13.2.1), which KVM takes and reads back as 0. The last rows touch
// MSRs nobody implements; `vmm -s` must list them. Prints one line per
// mismatch and "msrpolicy: N checks, M failed"; exit code M.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, 0)
#include "long64.inc"
#include "idt64.inc"
#include "msrgp.inc"
#include "pc.inc"

#define WR_OK 0      // WRMSR value: no #GP
#define WR_GP 1      // WRMSR value: #GP(0)
#define RD_IS 2      // RDMSR: no #GP, EDX:EAX = value
#define RD_GP 3      // RDMSR: #GP(0)

.macro CHECK msr, op, value
  .long \msr, \op
  .quad \value
.endm

  .globl start
start:
  MSRGP_START
  lea checks(%rip), %rbx
1:
  lea checks_end(%rip), %rax
  cmp %rax, %rbx
  jae 2f
  call one
  add $16, %rbx
  jmp 1b
2:
  CHECKS_DONE "$((checks_end - checks) / 16)"

// one: runs the check at %rbx; a mismatch is printed and counted.
one:
  movq $0, gps(%rip)
  mov (%rbx), %ecx
  mov 8(%rbx), %rax
  mov %rax, %rdx
  shr $32, %rdx
  testl $2, 4(%rbx)
  jnz 3f
  wrmsr
  xor %eax, %eax          // a write's "value read" is 0
  xor %edx, %edx
  jmp 4f
3:
  mov $0xdeadbeef, %eax   // a #GP must leave these, a read must replace them
  mov %eax, %edx
  rdmsr
4:
  shl $32, %rdx
  mov %eax, %eax
  or %rdx, %rax
  mov %rax, %r12          // the value read
  mov 4(%rbx), %r13d      // the op
  mov gps(%rip), %r14     // #GPs taken
  cmp $WR_OK, %r13d
  je expect_no_gp
  cmp $RD_IS, %r13d
  je expect_value
  cmp $1, %r14
  jne mismatch
  ret
expect_value:
  cmp 8(%rbx), %r12
  jne mismatch
expect_no_gp:
  test %r14, %r14
  jnz mismatch
  ret

// mismatch: "msrpolicy: MISMATCH msr 0x.. op N: got #GP G, value 0x.."
mismatch:
  incq fails(%rip)
  lea mm_msr(%rip), %rsi
  call puts
  mov (%rbx), %eax
  call puthex
  lea mm_op(%rip), %rsi
  call puts
  mov %r13, %rax
  call putdec
  lea mm_gp(%rip), %rsi
  call puts
  mov %r14, %rax
  call putdec
  lea mm_val(%rip), %rsi
  call puts
  mov %r12, %rax
  call puthex
  lea mm_want(%rip), %rsi
  call puts
  mov 8(%rbx), %rax
  call puthex
  lea newline(%rip), %rsi
  jmp puts

  .balign 16
checks:
  // Legacy AMD performance counters: every write taken, reads 0 (no PMU).
  CHECK 0xC0010000, WR_OK, 0
  CHECK 0xC0010001, WR_OK, 0x0000000000530076
  CHECK 0xC0010003, WR_OK, 0
  CHECK 0xC0010004, WR_OK, 0x0000ffffffffabcd
  CHECK 0xC0010004, RD_IS, 0
  CHECK 0xC0010007, WR_OK, 0
  CHECK 0xC0010002, RD_IS, 0
  // The P6 ones, answered the same way by KVM whatever the vendor.
  CHECK 0xC1, WR_OK, 0x1234
  CHECK 0xC1, RD_IS, 0
  CHECK 0x186, WR_OK, 0x430076
  CHECK 0x187, RD_IS, 0
  // HWCR: TscFreqSel at reset; bit 3 (TLB cache disable) dropped; SmmLock #GP.
  CHECK 0xC0010015, RD_IS, 0x01000000
  CHECK 0xC0010015, WR_OK, 0x01000008
  CHECK 0xC0010015, RD_IS, 0x01000000
  CHECK 0xC0010015, WR_GP, 0x01000001
  CHECK 0xC0010015, WR_OK, 0x00040000
  CHECK 0xC0010015, RD_IS, 0x00040000
  // MTRRcap is read-only: even writing its own value faults.
  CHECK 0xFE, RD_IS, 0x400
  CHECK 0xFE, WR_GP, 0x400
  // MISC_ENABLE: bits 11 and 12 (BTS/PEBS unavailable) read-only, #GP if changed.
  CHECK 0x1A0, RD_IS, 0x1800
  CHECK 0x1A0, WR_GP, 0
  CHECK 0x1A0, WR_OK, 0x1801
  CHECK 0x1A0, RD_IS, 0x1801
  // PAT: memory type 2 is reserved.
  CHECK 0x277, WR_GP, 0x0007040600070402
  CHECK 0x277, WR_OK, 0x0000000000000106
  CHECK 0x277, RD_IS, 0x0000000000000106
  // MTRRdefType: bit 12 reserved, type 2 reserved.
  CHECK 0x2FF, WR_GP, 0x1806
  CHECK 0x2FF, WR_GP, 0x802
  CHECK 0x2FF, WR_OK, 0xC06
  CHECK 0x2FF, RD_IS, 0xC06
  // DEBUGCTL without LBR virtualization: LBR taken and ignored, bit 6+ #GP.
  CHECK 0x1D9, WR_OK, 1
  CHECK 0x1D9, RD_IS, 0
  CHECK 0x1D9, WR_GP, 0x40
  // Read-only zeros and write sinks.
  CHECK 0xC0010010, RD_IS, 0
  CHECK 0xC0010010, WR_GP, 0
  CHECK 0xC001001F, WR_OK, 0x0000400000000000
  CHECK 0xC001001F, RD_IS, 0
  CHECK 0x8B, WR_OK, 0
  CHECK 0x8B, RD_IS, 0x100000000
  // Not implemented anywhere here: #GP both ways.
  CHECK 0xC0010140, RD_GP, 0          // OSVW_ID_LENGTH: OSVW hidden
  CHECK 0xC0010200, WR_GP, 0          // PerfCtrExtCore counters: hidden
  CHECK 0x12345678, RD_GP, 0
  CHECK 0x12345678, WR_GP, 0
checks_end:

mm_msr:
  .asciz "msrpolicy: MISMATCH msr "
mm_op:
  .asciz " op "
mm_gp:
  .asciz ": #GP "
mm_val:
  .asciz ", read "
mm_want:
  .asciz ", row value "
newline:
  .asciz "\n"
done_pre:
  .asciz "msrpolicy: "
done_mid:
  .asciz " checks, "
done_post:
  .asciz " failed\n"
  .data
