// svmlab guest image format, shared by the guests (assembly) and the user-space VMM (C).
//
// A guest image is a flat binary: the file's bytes are copied to guest-physical
// address `load`, and the first 64 bytes of the file are this header:
//
//   offset  size  field    meaning
//   0x00    4     magic    GUEST_MAGIC, the bytes "SVMG"
//   0x04    2     version  GUEST_VERSION
//   0x06    2     mode     GUEST_MODE_REAL / _PROT32 / _LONG64: how the vcpu starts
//   0x08    8     load     guest-physical address of the header (= file offset 0)
//   0x10    8     entry    initial RIP (real mode: CS=0, so entry < 64 KiB)
//   0x18    8     memsize  bytes of guest RAM, guest-physical 0 .. memsize
//   0x20    8     cr3      long64: guest-physical address of the PML4 inside the image
//   0x28    8     stack    initial RSP (0: leave 0)
//   0x30    4     flags    GUEST_F_*
//   0x34    12    reserved zero
//
// Real mode starts with CS=DS=ES=SS=0 (base 0) and IP=entry. Prot32 starts with
// flat 4 GiB code/data segments, CR0.PE=1, paging off. Long64 starts with CR0.PG,
// CR4.PAE, EFER.LME|LMA, CR3=cr3, a 64-bit code segment and flat data segments.
// The VMM checks: magic, version, mode, load + file size <= memsize,
// load <= entry < load + file size, memsize a multiple of 4 KiB and <= 16 MiB.
#pragma once

#define GUEST_MAGIC 0x474D5653   // "SVMG" read as a little-endian 32-bit word
#define GUEST_VERSION 1
#define GUEST_MODE_REAL 0
#define GUEST_MODE_PROT32 1
#define GUEST_MODE_LONG64 2
#define GUEST_HDRSIZE 64
#define GUEST_MAXMEM (16 << 20)

// flags
#define GUEST_F_DEMAND 0x1   // map only the image; the VMM maps other pages on their first NPF
#define GUEST_F_TESTDEV 0x2  // the VMM's MMIO test device (RAM-like page) at GUEST_TESTDEV_GPA
#define GUEST_F_APIC 0x4     // the board's APICs (LAPIC 0xFEE00000, IOAPIC, ACPI tables), as `vmm -k` kernels get
#define GUEST_TESTDEV_GPA 0x20000000

// Every guest links at this address (guest.ld); its header sits there.
#define GUEST_LOAD 0x1000

// Devices and hypercalls the svmlab VMM provides to guests.
#define GUEST_UART 0x3F8        // 16550A: THR at +0, LSR at +5 (always ready); docs/devices.md
#define GUEST_EXIT_PORT 0xF4    // out 0xF4, al: the guest ends with exit code al
#define HC_PRINT 1              // vmmcall: rax=1, rbx=gpa of bytes, rcx=length; returns bytes printed
#define HC_EXIT 2               // vmmcall: rax=2, rbx=exit code; does not return
#define HC_ACK 3                // vmmcall: rax=3, rbx=value; the VMM prints "vmm: guest ack <value>"
#define HC_RAISE 4              // vmmcall: rax=4, rbx=vector, rcx=RAISE_*: the VMM injects that event
#define RAISE_INTR 0            //   external interrupt through EVENTINJ
#define RAISE_EXCEPTION 1       //   exception through EVENTINJ
#define RAISE_VIRQ 2            //   virtual interrupt through V_IRQ
#define RAISE_NMI 3             //   NMI (vector ignored), as the VMM's local APIC raises one
#define HC_YIELD 5              // vmmcall: rax=5, rbx=step; the VMM may move the vcpu to another CPU

#ifdef __ASSEMBLER__
// GUEST_HEADER(mode, entry, memsize, cr3, stack, flags): put first in every guest.
#define GUEST_HEADER(mode, entry, memsize, cr3, stack, flags) \
  .section .header, "a";                                      \
  .long GUEST_MAGIC;                                          \
  .short GUEST_VERSION, mode;                                 \
  .quad GUEST_LOAD, entry, memsize, cr3, stack;               \
  .long flags, 0;                                             \
  .quad 0;                                                    \
  .text
#else
struct guest_header {
  unsigned int magic;
  unsigned short version;
  unsigned short mode;
  unsigned long load;
  unsigned long entry;
  unsigned long memsize;
  unsigned long cr3;
  unsigned long stack;
  unsigned int flags;
  unsigned int reserved[3];
};
_Static_assert(sizeof(struct guest_header) == GUEST_HDRSIZE, "guest header is 64 bytes");
#endif
