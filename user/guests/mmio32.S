// mmio32: MMIO emulation outside long mode. A 32-bit protected-mode guest
// reaches the VMM's test device (GUEST_F_TESTDEV, a RAM-like page at
// GUEST_TESTDEV_GPA) with paging off; through a segment whose base is the
// device, with 16-bit addressing (the 67 prefix); with 32-bit paging through
// a 4 MiB page and a 4 KiB page; a MOVS from the device to a read-only page
// with CR0.WP, whose emulated write must raise #PF with error code 3 at the
// right CR2 and EIP; and with PAE
// paging through a 2 MiB and a 4 KiB page. Each step writes through one path
// and reads back through another. Prints "mmio32: 9 checks passed" and exits
// 0, or names the failed check and exits with its number.
#include "guest.h"
#define WIN GUEST_TESTDEV_GPA
#define PD 0x10000          // 32-bit page directory
#define PT 0x11000          // its page table for 8 MiB..12 MiB
#define PDPT 0x12020        // PAE: 4 entries, 32-byte aligned (not page-aligned on purpose)
#define PAE_PD0 0x13000     // PAE: directory for 0..1 GiB
#define PAE_PT 0x14000      // PAE: table for 6 MiB..8 MiB
#define RO_PAGE 0x15000     // RAM mapped read-only at VA 8 MiB + 8 KiB
GUEST_HEADER(GUEST_MODE_PROT32, start, 0x200000, 0, 0x9000, GUEST_F_TESTDEV)
  .code32
  .globl start
start:
  mov $0x9000, %esp
  lgdt gdtr
  lidt idtr
  mov $0x10, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  ljmp $0x08, $1f
1:
  // 1: paging off: the device at its physical address.
  movl $0x11223344, WIN + 0x10
  movw $0x5566, WIN + 0x14
  cmpl $0x11223344, WIN + 0x10
  jne fail
  cmpw $0x5566, WIN + 0x14
  jne fail
  incl checks
  // 2: FS based at the device, 16-bit addressing: FS:[BX+SI+4] = WIN + 0x24.
  mov $0x18, %ax
  mov %ax, %fs
  mov $0x10, %ebx
  mov $0x10, %esi
  mov $0xcafe0001, %eax
  addr16 mov %eax, %fs:4(%bx,%si)
  cmpl $0xcafe0001, WIN + 0x24
  jne fail
  incl checks
  // 3: 32-bit paging: VA 4 MiB (a 4 MiB page) and VA 8 MiB (a 4 KiB page) are the device.
  call paging32
  movl $0x0badf00d, 0x400000 + 0x30
  cmpl $0x0badf00d, 0x800000 + 0x30
  jne fail
  mov $0x400000 + 0x30, %esi             // MOVSB device -> RAM deep inside the identity 4 MiB page
  mov $0x150000, %edi
  movsb
  cmpb $0x0d, 0x150000
  jne fail
  incl checks
  movl $0, PD + 4 * 1                    // unmap the 4 MiB page: reads through the PT must still work
  mov %cr3, %eax
  mov %eax, %cr3
  cmpl $0x0badf00d, 0x800000 + 0x30
  jne fail
  incl checks
  // 4: MOVSB from the device to a read-only RAM page (VA 8 MiB + 8 KiB) with
  // CR0.WP: the CPU exits on the device read; the emulator's write must raise
  // #PF with error code 3 (present, write), CR2 the destination, EIP the MOVSB.
  movl $step4_rip, expect_rip
  movl $0x802000 + 0x40, expect_cr2
  movl $3, expect_err
  mov $0x800000 + 0x30, %esi
  mov $0x802000 + 0x40, %edi
step4_rip:
  movsb
  jmp fail                               // the #PF handler resumes at after_pf
after_pf:
  incl checks
  cmpl $0x0badf00d, 0x801000 + 0x30       // a read through the read-only device page
  jne fail
  incl checks
  // 5: PAE paging: VA 2 MiB..4 MiB a 2 MiB page, VA 6 MiB a 4 KiB page, both the device.
  call paging_pae
  movl $0x600d0ae0, 0x200000 + 0x50
  cmpl $0x600d0ae0, 0x600000 + 0x50
  jne fail
  incl checks
  movw $0x7777, 0x600000 + 0x52
  cmpl $0x77770ae0, 0x200000 + 0x50
  jne fail
  incl checks
  movb $0x99, %al                        // 8-bit MOVS from the device to RAM through PAE
  mov $0x200000 + 0x50, %esi
  mov $copy, %edi
  movsb
  cmpb $0xe0, copy
  jne fail
  incl checks
  mov checks, %eax
  add $'0', %al
  mov %al, okmsg + 8
  mov $okmsg, %esi
  call puts
  xor %al, %al
  jmp guest_exit

// 32-bit paging with CR4.PSE and CR0.WP: identity 0..4 MiB (4 MiB page), the
// device at 4 MiB (4 MiB page) and at 8 MiB (PT[0], writable) and 8 MiB + 4 KiB
// (PT[1], read-only), and a RAM page read-only at 8 MiB + 8 KiB (PT[2]).
paging32:
  movl $0x00000083, PD                   // 0..4 MiB identity, PS|W|P
  movl $WIN | 0x83, PD + 4 * 1
  movl $PT | 0x03, PD + 4 * 2
  movl $WIN | 0x03, PT
  movl $WIN | 0x01, PT + 4
  movl $RO_PAGE | 0x01, PT + 8           // RAM, read-only
  mov $PD, %eax
  mov %eax, %cr3
  mov %cr4, %eax
  or $0x10, %eax                         // PSE
  mov %eax, %cr4
  mov %cr0, %eax
  or $0x80010000, %eax                   // PG, WP
  mov %eax, %cr0
  ret

// PAE (paging off, CR4.PAE, CR3 = PDPT, paging on): PDPT[0] -> PAE_PD0;
// PD0[0] identity 2 MiB, PD0[1] (VA 2 MiB) -> the device (2 MiB page),
// PD0[3] -> PAE_PT whose entry 0 (VA 6 MiB) -> the device.
paging_pae:
  mov %cr0, %eax
  and $0x7fffffff, %eax
  mov %eax, %cr0
  movl $PAE_PD0 | 0x01, PDPT             // PDPT entries: P only (no R/W there in PAE)
  movl $0x00000083, PAE_PD0
  movl $WIN | 0x83, PAE_PD0 + 8
  movl $PAE_PT | 0x03, PAE_PD0 + 24
  movl $WIN | 0x03, PAE_PT
  mov $PDPT, %eax
  mov %eax, %cr3
  mov %cr4, %eax
  or $0x20, %eax                         // PAE
  mov %eax, %cr4
  mov %cr0, %eax
  or $0x80000000, %eax
  mov %eax, %cr0
  ret

pf_handler:
  pop %eax                               // error code
  cmp expect_err, %eax
  jne fail_pf
  mov (%esp), %eax                       // EIP of the faulting instruction
  cmp expect_rip, %eax
  jne fail_pf
  mov %cr2, %eax
  cmp expect_cr2, %eax
  jne fail_pf
  movl $after_pf, (%esp)
  iret
fail_pf:
  mov $pfmsg, %esi
  call puts
  mov $99, %al
  jmp guest_exit

fail:
  mov checks, %eax
  add $'1', %al
  mov %al, failmsg + 14
  mov $failmsg, %esi
  call puts
  mov checks, %al
  inc %al
  jmp guest_exit

puts:
  mov $GUEST_UART, %dx
2:
  lodsb
  test %al, %al
  jz 3f
  out %al, %dx
  jmp 2b
3:
  ret

guest_exit:
  out %al, $GUEST_EXIT_PORT
  hlt
  jmp guest_exit

  .balign 8
gdt:
  .quad 0
  .quad 0x00cf9a000000ffff               // 0x08: code, 32-bit, flat
  .quad 0x00cf92000000ffff               // 0x10: data, flat
  .quad 0x20cf92000000ffff               // 0x18: data, base 0x20000000 (the device)
gdtend:
gdtr:
  .short gdtend - gdt - 1
  .long gdt
  .balign 8
idt:
  .fill 14, 8, 0
  .short pf_handler                      // gate 14: offset 15:0
  .short 0x08
  .short 0x8e00                          // 32-bit interrupt gate, present
  .short 0                               // offset 31:16 (the guest is below 64 KiB)
  .fill 256 - 15, 8, 0
idtr:
  .short 256 * 8 - 1
  .long idt
checks: .long 0
expect_rip: .long 0
expect_cr2: .long 0
expect_err: .long 0
copy: .byte 0
okmsg: .asciz "mmio32: 0 checks passed\n"
failmsg: .asciz "mmio32: check 0 failed\n"
pfmsg: .asciz "mmio32: the #PF from the read-only page has the wrong error code, EIP or CR2\n"
