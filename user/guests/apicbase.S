// apicbase: the local APIC's enable bit and its page as outside kernels use
// them, against the Intel SDM Vol. 3A §10.4 and KVM's lapic.c (header flag
// GUEST_F_APIC gives this guest the board's APICs):
// - APIC_BASE (MSR 1Bh) reads 0xFEE00900 (base, EN, BSP); clearing EN is
//   taken and reads back clear; CPUID.1 EDX.APIC follows EN (§10.4.3);
//   while EN is clear the page is not decoded (reads all ones, writes go
//   nowhere: KVM's MMIO hole); after EN is set again the APIC is in its
//   power-up state (§10.4.7.1: SVR 0xFF, LVTs masked, TPR 0). Reserved bits
//   (9, 10: no x2APIC) are #GP. A new base moves the page with the
//   registers (§10.4.5, as KVM does); onto the I/O APIC's page it is #GP.
//   BSP is kept as written (KVM).
// - the I/O APIC's IOREGSEL and IOWIN take 1-, 2- and 8-byte accesses as
//   KVM's ioapic_mmio_read/write do.
// - accesses that are not 32 bits at a 16-byte boundary (§10.4.1 leaves
//   them undefined) never end the guest: reads of 1 or 2 bytes inside a
//   register's low dword return its bytes, writes are dropped (KVM's
//   apic_mmio_read/apic_mmio_write), so a compiler's memset of the page
//   (REP STOSB) leaves every register as it was.
// Prints one line per mismatch and "apicbase: N checks, M failed"; exit code M.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, GUEST_F_APIC)
#include "long64.inc"
#include "idt64.inc"
#include "msrgp.inc"
#include "pc.inc"

#define APIC 0xFEE00000
#define APIC_BASE_MSR 0x1B

// EXPECT want, name: %rax must equal want (64-bit).
.macro EXPECT want, name
  movabs $\want, %rdx
  lea 9f(%rip), %rsi
  call expect
  jmp 8f
9:
  .asciz "\name"
8:
.endm

// GPS want, name: the #GPs taken since the last GPS must number want.
.macro GPS want, name
  mov gps(%rip), %rax
  movq $0, gps(%rip)
  EXPECT \want, "\name"
.endm

.macro RDMSR_ msr
  mov $\msr, %ecx
  rdmsr
  shl $32, %rdx
  mov %eax, %eax
  or %rdx, %rax
.endm

.macro WRMSR_ msr, value
  mov $\msr, %ecx
  movabs $\value, %rax
  mov %rax, %rdx
  shr $32, %rdx
  wrmsr
.endm

// CPUID.1 EDX bit 9 (APIC) into %rax.
.macro CPUID_APIC
  push %rbx
  mov $1, %eax
  xor %ecx, %ecx
  cpuid
  pop %rbx
  mov %edx, %eax
  shr $9, %eax
  and $1, %eax
.endm

  .globl start
start:
  MSRGP_START
  call map_apic
  mov $APIC, %rbx

  // Reset state.
  RDMSR_ APIC_BASE_MSR
  EXPECT 0xFEE00900, "APIC_BASE at reset: base, EN, BSP"
  CPUID_APIC
  EXPECT 1, "CPUID.1 EDX.APIC with EN set"
  movl $0x1FF, 0xF0(%rbx)            // software-enable, spurious vector 0xFF
  movl $0x20, 0x80(%rbx)             // TPR
  mov 0xF0(%rbx), %eax
  EXPECT 0x1FF, "SVR after a 32-bit write"

  // Narrow and unaligned accesses.
  movzbl 0xF1(%rbx), %eax
  EXPECT 0x01, "byte read of SVR byte 1"
  movzwl 0xF0(%rbx), %eax
  EXPECT 0x1FF, "16-bit read of SVR"
  movzbl 0x32(%rbx), %eax
  EXPECT 0x05, "byte read of version byte 2 (max LVT entry 5)"
  movb $0, 0xF0(%rbx)
  movw $0x50, 0x80(%rbx)
  movl $0x70, 0x84(%rbx)
  mov 0xF0(%rbx), %eax
  EXPECT 0x1FF, "SVR after a byte write (dropped)"
  mov 0x80(%rbx), %eax
  EXPECT 0x20, "TPR after 16-bit and unaligned 32-bit writes (dropped)"
  mov %rbx, %rdi                     // memset(apic, 0, 4096)
  xor %eax, %eax
  mov $4096, %ecx
  cld
  rep stosb
  mov 0xF0(%rbx), %eax
  EXPECT 0x1FF, "SVR after REP STOSB over the page"
  mov 0x80(%rbx), %eax
  EXPECT 0x20, "TPR after REP STOSB over the page"

  // The I/O APIC's window at every width (KVM's ioapic_mmio_*): a byte
  // write to IOREGSEL selects the version register (1).
  mov $0xFEC00000, %rdi
  movb $1, (%rdi)
  mov 0x10(%rdi), %eax
  EXPECT 0x00170011, "IOAPIC version after a byte write to IOREGSEL (24 pins, version 0x11)"
  movzbl 0x10(%rdi), %eax
  EXPECT 0x11, "IOAPIC byte read of IOWIN"
  movzwl 0x12(%rdi), %eax
  EXPECT 0, "IOAPIC 16-bit read inside IOWIN's dword but off its start (KVM: 0)"
  mov $0xFEC00020, %rdi                 // memset of the unused rest of the page
  xor %eax, %eax
  mov $0x100, %ecx
  rep stosb
  mov $0xFEC00000, %rdi
  movl $1, (%rdi)
  mov 0x10(%rdi), %eax
  EXPECT 0x00170011, "IOAPIC version after a memset past IOWIN"

  // Global disable.
  WRMSR_ APIC_BASE_MSR, 0xFEE00100
  GPS 0, "clearing EN: no #GP"
  RDMSR_ APIC_BASE_MSR
  EXPECT 0xFEE00100, "APIC_BASE with EN cleared"
  CPUID_APIC
  EXPECT 0, "CPUID.1 EDX.APIC with EN clear"
  mov 0xF0(%rbx), %eax
  EXPECT 0xFFFFFFFF, "SVR read while EN is clear (page not decoded)"
  movl $0x30, 0x80(%rbx)

  // Re-enable: the power-up state.
  WRMSR_ APIC_BASE_MSR, 0xFEE00900
  GPS 0, "setting EN: no #GP"
  CPUID_APIC
  EXPECT 1, "CPUID.1 EDX.APIC with EN set again"
  mov 0xF0(%rbx), %eax
  EXPECT 0xFF, "SVR after re-enable (power-up state)"
  mov 0x80(%rbx), %eax
  EXPECT 0, "TPR after re-enable (power-up; the write while disabled went nowhere)"
  mov 0x320(%rbx), %eax
  EXPECT 0x10000, "timer LVT after re-enable: masked"

  // Refused values.
  WRMSR_ APIC_BASE_MSR, 0xFEE00B00
  GPS 1, "reserved bit 9: #GP"
  WRMSR_ APIC_BASE_MSR, 0xFEE00D00
  GPS 1, "bit 10 (x2APIC, not offered): #GP"
  WRMSR_ APIC_BASE_MSR, 0xFEC00900
  GPS 1, "moving the page onto the I/O APIC's: #GP"

  // Relocation (§10.4.5): the registers follow the page.
  movl $0x50, 0x80(%rbx)
  WRMSR_ APIC_BASE_MSR, 0xFED00900
  GPS 0, "moving the page to 0xFED00000: no #GP"
  RDMSR_ APIC_BASE_MSR
  EXPECT 0xFED00900, "APIC_BASE after the move"
  mov $0xFED00000, %rdi
  mov 0x80(%rdi), %eax
  EXPECT 0x50, "TPR read at the new base"
  mov 0x30(%rdi), %eax
  EXPECT 0x00050014, "version read at the new base"
  movl $0x60, 0x80(%rdi)
  WRMSR_ APIC_BASE_MSR, 0xFEE00900
  GPS 0, "moving the page back: no #GP"
  mov 0x80(%rbx), %eax
  EXPECT 0x60, "TPR written at the new base, read at the old one after moving back"
  WRMSR_ APIC_BASE_MSR, 0xFEE00800
  GPS 0, "clearing BSP: no #GP"
  RDMSR_ APIC_BASE_MSR
  EXPECT 0xFEE00800, "APIC_BASE with BSP cleared"

  CHECKS_DONE checks(%rip)

// map_apic: identity-maps 3-4 GiB with 2 MiB pages (PDPT[3] -> pd_high),
// which holds the APIC page.
map_apic:
  lea pd_high(%rip), %rax
  or $0x7, %rax
  mov %rax, pdpt + 3 * 8(%rip)
  lea pd_high(%rip), %rdi
  mov $0xC0000000 | 0x9F, %eax       // P RW US PWT PCD PS
  mov $512, %ecx
1:
  mov %rax, (%rdi)
  add $0x200000, %rax
  add $8, %rdi
  loop 1b
  mov %cr3, %rax
  mov %rax, %cr3
  ret

// expect: %rax got, %rdx want, %rsi name.
expect:
  incq checks(%rip)
  cmp %rdx, %rax
  jne 1f
  ret
1:
  incq fails(%rip)
  push %rax
  push %rdx
  push %rsi
  lea mm_pre(%rip), %rsi
  call puts
  pop %rsi
  call puts
  lea mm_got(%rip), %rsi
  call puts
  mov 8(%rsp), %rax
  call puthex
  lea mm_want(%rip), %rsi
  call puts
  pop %rax
  call puthex
  pop %rax
  lea newline(%rip), %rsi
  jmp puts

mm_pre:
  .asciz "apicbase: MISMATCH "
mm_got:
  .asciz ": got "
mm_want:
  .asciz ", want "
newline:
  .asciz "\n"
done_pre:
  .asciz "apicbase: "
done_mid:
  .asciz " checks, "
done_post:
  .asciz " failed\n"
  .data
checks: .quad 0
  .section .pagetables, "aw"
  .balign 4096
pd_high:
  .fill 512, 8, 0
  .text
