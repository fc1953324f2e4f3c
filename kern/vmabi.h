// The vmm system-call ABI, shared by the kernel (kern/sysvm.c) and user space
// (user/lib/vm.h, the VMM). Handles are small integers: a VM handle from
// vm_create is private to the creating process; a vcpu is named by (vm, index).
//
//   int vm_create(void);                                     -> vm handle
//   int vm_destroy(int vm);
//   int vm_map(int vm, uint64 gpa, void *uva, uint64 len, int flags);
//   int vm_unmap(int vm, uint64 gpa, uint64 len);
//   int vcpu_create(int vm, int mode);                       -> vcpu index
//   int vcpu_getregs(int vm, int vcpu, struct vm_regs *r);
//   int vcpu_setregs(int vm, int vcpu, const struct vm_regs *r);
//   int vcpu_run(int vm, int vcpu, struct vm_exit *e);
//   int vcpu_inject(int vm, int vcpu, const struct vm_event *ev);
//   int vcpu_irq(int vm, int vcpu, int vector);              (lab 5, syscall 41)
//   long clock_ns(void);                                     (syscall 42)
//   int vcpu_kick(int vm, int vcpu);                         (syscall 43)
//   long cons_read(char *buf, long n);                       (syscall 44)
//   int vcpu_cpuid(int vm, int vcpu, const struct vm_cpuid_entry *t, int n);   (syscall 45)
//
// vm_map maps page-aligned user memory [uva, uva+len) at guest-physical gpa
// through the VM's nested page table; the pages stay the process's memory, so
// the VMM sees what the guest writes. len and gpa must be page multiples.
// Pages the process gives back (sbrk with a negative size) leave its VMs'
// nested page tables too (vm_uvm_drop); exec and exit destroy its VMs.
// Memory the process gives up leaves its VMs too: sbrk(-n) removes the freed
// pages from every nested page table (the guest faults on them), and exec
// destroys the caller's VMs (the old image's memory is gone).
//
// vcpu_run enters the guest and returns 0 when an exit needs user space; *e
// says which. Exits the VMM answers (I/O, CPUID, MSR, VMMCALL, HLT) are
// completed on the *next* vcpu_run, from the same struct vm_exit (as KVM's
// kvm_run): for IN the kernel puts e->io.data into AL/AX/EAX, for CPUID it
// loads e->cpuid.eax..edx, for RDMSR e->msr.value into EDX:EAX, for VMMCALL
// e->hypercall.ret into RAX; string I/O advances RSI/RDI and clears RCX (rep);
// and RIP moves past the instruction. Pass the same record back unchanged
// except for those fields. vcpu_inject of an exception cancels the pending
// completion (the instruction faulted instead). vcpu_setregs does not.
// vcpu_setregs refuses (-EINVAL) a paging state no CPU can be in: CR0.PG
// without CR0.PE, EFER.LMA != (EFER.LME && CR0.PG), long mode without CR4.PAE;
// and EFER.LME without CR0.PG (legal on a CPU; see kern/svm/cr0.c).
//
// Interrupts, halting and time (lab 5, kern/svm/irq.c and halt.c):
// - vcpu_irq(vm, vcpu, vector) sets the vcpu's external interrupt line (the
//   PIC's INTR output) to `vector` (32..255), or lowers it with -1. It may be
//   called at any time by the VM's owner or a child of the owner, also while
//   the vcpu runs (its CPU is sent an IPI) or is blocked in HLT (woken). The
//   kernel injects the vector as soon as the guest can take it (IF=1, no
//   interrupt shadow, no event being injected), else opens an interrupt window
//   (V_IRQ + VINTR intercept). Injecting is the PIC's INTA cycle: the line is
//   lowered and the vector is reported in vm_exit.irq_acked when vcpu_run
//   next returns; the VMM moves it from IRR to ISR and asserts the next one.
//   At most one line vector is outstanding. -EINVAL for a bad vector.
// - clock_ns(): host monotonic time in ns (TSC), the clock of deadline_ns.
// - vcpu_kick(vm, vcpu): the vcpu's current or next vcpu_run returns
//   VM_EXIT_KICK as soon as possible. Same callers as vcpu_irq.
// - cons_read(buf, n): up to n raw console input bytes (no echo, no line
//   editing), 0 when none are waiting; never blocks.
// - Before vcpu_run, user space sets vm_exit.deadline_ns (return
//   VM_EXIT_DEADLINE once clock_ns() >= deadline_ns; 0 = none; late by <= 1 ms
//   on an idle host, never early)
//   and run_flags (VM_RUN_WAKE_CONSOLE: return VM_EXIT_CONSOLE while console
//   input is waiting). The kernel keeps both in the record it returns.
// - HLT with IF=1 blocks the vcpu in the kernel (no host CPU used) until the
//   line is asserted or an event is pending, the deadline passes, a kick or
//   (with the flag) console input arrives, or the process is killed (-EINTR).
//   vm_exit.halted says it is still halted; the next vcpu_run goes on
//   waiting. HLT with IF=0 returns VM_EXIT_HLT: the guest stopped for good.
//   A halted vcpu whose line is asserted again after this run's INTA returns
//   VM_EXIT_INTR (halted still 1, irq_acked the first vector): the VMM moves
//   the first to ISR, and the next run takes the second. No #VMEXIT ends that
//   run (vm_exit.code 0), unlike a VM_EXIT_INTR after a host tick (the code of
//   the exit it followed).
#pragma once
#include "types.h"

// guest modes for vcpu_create (same values as guest images: user/guests/guest.h)
#define VM_MODE_REAL 0      // CS:IP = 0:0, 16-bit, paging off
#define VM_MODE_PROT32 1    // flat 32-bit segments, CR0.PE, paging off
#define VM_MODE_LONG64 2    // 64-bit code segment, CR0.PG|PE, CR4.PAE, EFER.LME|LMA; set CR3
#define VM_MODE_MAX 2

// vm_map flags: the guest's access rights (nested page table bits)
#define VM_MAP_R 0x1
#define VM_MAP_W 0x2
#define VM_MAP_X 0x4
#define VM_MAP_RWX 0x7

// Limits.
#define VM_MAX_PER_PROC 4
#define VCPU_MAX_PER_VM 8
#define VM_MAX_GPA (1UL << 32)  // guest-physical memory lies below 4 GiB

// A segment register in the VMCB's format (APM Vol. 2 §15.5.1, Table B-2):
// attr is the descriptor's attribute bits packed into 12 bits (type, S, DPL,
// P in 0..7; AVL, L, D/B, G in 8..11). For GDTR/IDTR only base and limit count.
struct vm_seg {
  uint16 sel;
  uint16 attr;
  uint32 limit;
  uint64 base;
};

struct vm_regs {
  uint64 rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
  uint64 r8, r9, r10, r11, r12, r13, r14, r15;
  uint64 rip, rflags;
  uint64 cr0, cr2, cr3, cr4, efer;
  struct vm_seg cs, ds, es, fs, gs, ss, tr, ldtr, gdtr, idtr;
};

// CR4 bits a guest may set (kern/svm/cr4.c), where the host CPU has them:
// VME PVI TSD DE PSE PAE MCE PGE PCE OSFXSR OSXMMEXCPT, FSGSBASE, SMEP,
// SMAP. A MOV to CR4 with any other bit is #GP(0), as on a CPU whose CPUID
// does not report the feature; the VMM's CPUID must report none outside
// these (no XSAVE, PCID, UMIP, PKU, LA57, CET).
#define VM_CR4_GUEST_BITS 0x3107FFUL

// Exit reasons as the ABI states them (raw SVM exit code in vm_exit.code).
#define VM_EXIT_NONE 0
#define VM_EXIT_IO 1        // u.io
#define VM_EXIT_CPUID 2     // u.cpuid: fill eax..edx
#define VM_EXIT_MSR 3       // u.msr: for a read, fill value
#define VM_EXIT_HLT 4       // guest executed HLT (RIP already past it on re-entry)
#define VM_EXIT_VMMCALL 5   // u.hypercall: rax, rbx, rcx, rdx at the call; fill ret
#define VM_EXIT_NPF 6       // u.npf: nested page fault user space may fix (vm_map) and re-run
#define VM_EXIT_EXCEPTION 7 // u.exception: an intercepted guest exception
#define VM_EXIT_SHUTDOWN 8  // triple fault: the guest cannot continue
#define VM_EXIT_INVALID 9   // VMRUN refused the VMCB (consistency check); never re-entered
#define VM_EXIT_INTR 10     // host interrupts were taken; nothing for the VMM to do but re-run
#define VM_EXIT_UNKNOWN 11  // an exit code the kernel has no handler for; vm_exit.code says which
#define VM_EXIT_DEADLINE 12 // clock_ns() reached deadline_ns
#define VM_EXIT_KICK 13     // vcpu_kick
#define VM_EXIT_CONSOLE 14  // console input is waiting (run_flags has VM_RUN_WAKE_CONSOLE)
#define VM_EXIT_TPR 15      // the guest lowered its CR8 (vm_exit.cr8): interrupts its LAPIC held back may go in
#define VM_EXIT_PIO 16      // the vcpu halted with OUTs queued in pio_out[]: take them, then re-run
#define VM_EXIT_NREASONS 17

// vm_exit.run_flags
#define VM_RUN_WAKE_CONSOLE 0x1
#define VM_RUN_SET_CR8 0x2  // load vm_exit.cr8 (0-15, else -EINVAL) into the guest's CR8 first
#define VM_RUN_PIO_OUT 0x4  // queue 1-byte OUTs to pio.out_port in pio_out[] without an exit (below)
#define VM_RUN_PIO_IN 0x8   // answer 1-byte INs from pio.in_port with pio.in_value without an exit
#define VM_RUN_INSN_DONE 0x10 // user space emulated the last exit's instruction (below)
#define VM_RUN_INIT 0x20    // the vcpu took INIT (and a SIPI) since: not halted, nothing pending (one-shot)
#define VM_RUN_NESTED 0x40  // the guest has SVM: EFER.SVME, VM_CR, VM_HSAVE_PA, its SVM instructions (lab 9)
#define VM_RUN_TSC_DEADLINE 0x80 // finish WRMSR IA32_TSC_DEADLINE in the kernel (vm_exit.tsc_deadline)
#define VM_RUN_FLAGS 0xFF   // every flag the kernel knows; others: -EINVAL

// VM_RUN_INSN_DONE: user space emulated the instruction of the exit vcpu_run
// just returned (an MMIO access after VM_EXIT_NPF) and moved RIP past it with
// vcpu_setregs. The kernel finishes it as the CPU would (kern/svm/step.c):
// the STI/MOV SS interrupt shadow ends, and if RFLAGS.TF was set at the
// exit the guest takes its single-step #DB (DR6.BS) after it. Exits the
// kernel completes itself (I/O, CPUID, MSR, VMMCALL, HLT) need no flag and
// ignore it. One-shot: the returned record has it cleared.

// CPUID the kernel answers itself (kern/svm/cpuid_table.c; KVM_SET_CPUID2):
// vcpu_cpuid(vm, vcpu, t, n) gives the vcpu a table of n answers (n = 0
// removes it). A CPUID whose EAX is an entry's leaf (and ECX its subleaf,
// for entries with VM_CPUID_F_SUBLEAF) gets the first such entry's
// registers without an exit; an entry with VM_CPUID_F_RANGE answers every
// leaf from `leaf` to `subleaf` (any ECX). Any other CPUID exits as
// VM_EXIT_CPUID. The VMM keeps out leaves whose answer may change while the
// guest runs, or sets the table again when it changes. -EINVAL for n
// outside 0..VM_CPUID_MAX, an unknown flag or both; -EBUSY while the vcpu
// runs.
#define VM_CPUID_MAX 128
#define VM_CPUID_F_SUBLEAF 0x1
#define VM_CPUID_F_RANGE 0x2
struct vm_cpuid_entry {
  uint32 leaf, subleaf, flags, pad;
  uint32 eax, ebx, ecx, edx;
};

// Vectors vcpu_irq accepts on the line (below 32 are exceptions).
#define VM_IRQ_VECTOR_MIN 32
#define VM_IRQ_NONE (-1)

// NPF access bits (from EXITINFO1, APM Vol. 2 §15.25.6 "Nested versus Guest Page Faults")
#define VM_NPF_PRESENT 0x1  // the nested entry was present (protection fault)
#define VM_NPF_WRITE 0x2
#define VM_NPF_USER 0x4
#define VM_NPF_FETCH 0x10

// Port I/O the kernel finishes itself (kern/svm/pio.c; KVM's coalesced
// PIO, KVM_REGISTER_COALESCED_MMIO with KVM_COALESCED_MMIO_PIO). A device
// whose register writes need no answer at once (a UART's transmit holding
// register while no interrupt depends on it) can have them queued: the
// kernel completes the OUT, appends {port, value} to vm_exit.pio_out[] and
// runs the guest on. The VMM applies them, in order, before it handles the
// exit in `reason`; every one happened before it. When pio_out[] is full the
// next OUT exits as usual, and a vcpu about to sleep in HLT returns
// VM_EXIT_PIO first, so queued writes wait at most until the next exit. A
// register whose reads have no side effect and whose value the VMM knows
// (that UART's line status while nothing is received) can be answered the
// same way: VM_RUN_PIO_IN. The VMM sets both before each run from its
// device's state; any other access to the device still exits, so it can
// change them in time. Only 1-byte IN/OUT (not INS/OUTS) qualify.
#define VM_PIO_MAX 128
struct vm_pio_cfg {
  uint16 out_port;     // VM_RUN_PIO_OUT: the port whose writes are queued
  uint16 in_port;      // VM_RUN_PIO_IN: the port whose reads return in_value
  uint8 in_value;
  uint8 pad[3];
};
struct vm_pio_out {
  uint16 port;
  uint8 value;
  uint8 pad;
};

// vm_exit.nested.l2_np
#define VM_NESTED_L2_NP 0x1    // L2 runs on L1's nested page table (nested.l2_ncr3)
#define VM_NESTED_L1_NXE 0x2   // L1's EFER.NXE: NX in L1's table is a right, not a reserved bit

// Classes of vm_exit.switches[]: the SVM exit code (APM Vol. 2 Appendix C),
// IOIO split by direction.
#define VM_SW_INTR 0       // physical interrupt (INTR, SMI, INIT)
#define VM_SW_NMI 1
#define VM_SW_VINTR 2      // the interrupt window opened
#define VM_SW_IO_IN 3
#define VM_SW_IO_OUT 4
#define VM_SW_CPUID 5
#define VM_SW_MSR 6
#define VM_SW_HLT 7
#define VM_SW_VMMCALL 8
#define VM_SW_NPF 9
#define VM_SW_CR 10        // CR reads and writes
#define VM_SW_EXCP 11      // intercepted exceptions
#define VM_SW_OTHER 12     // SVM instructions, XSETBV, DRs, shutdown, invalid...
#define VM_SW_N 13

struct vm_exit {
  // set by user space before vcpu_run (the kernel keeps them):
  uint64 deadline_ns;  // return VM_EXIT_DEADLINE once clock_ns() >= this; 0 = no deadline
  uint32 run_flags;    // VM_RUN_*
  struct vm_pio_cfg pio; // VM_RUN_PIO_OUT/_IN: which ports
  // filled by the kernel on every return:
  int32 npio_out;      // VM_RUN_PIO_OUT: OUTs queued in pio_out[] during this run, oldest first
  int32 irq_acked;     // vector injected from the line during this run, -1 if none
  uint32 halted;       // 1: the vcpu is blocked in HLT (IF=1), waiting for an interrupt
  uint32 cr8;          // the guest's CR8 (V_TPR, the APIC TPR's bits 7:4) at the exit; with
                       // VM_RUN_SET_CR8 user space sets it for the next run (its LAPIC's TPR)
  uint32 reason;       // VM_EXIT_*
  uint32 ran_on_cpu;   // CPU that ran the guest just before this exit
  uint64 code;         // raw SVM exit code (low 32 bits meaningful: QEMU writes VMEXIT_INVALID as 0xFFFFFFFF)
  uint64 exitinfo1, exitinfo2, exitintinfo;
  uint64 rip;          // guest RIP of the exiting instruction
  uint64 kexits;       // exits the kernel handled itself during this vcpu_run (INTR, NMI, #UD injections)
  union {
    struct {
      uint16 port;
      uint8 size;      // 1, 2 or 4 bytes per element
      uint8 in;        // 1 = IN/INS, 0 = OUT/OUTS
      uint8 string;    // INS/OUTS
      uint8 rep;       // REP prefix
      uint8 asize;     // string I/O: address size in bytes (2, 4, 8): which part of rCX/rSI/rDI counts
      uint8 down;      // string I/O with RFLAGS.DF=1: element i is at gva - i * size
      uint32 count;    // elements: RCX for rep string I/O, else 1
      uint32 pad2;
      uint64 gva;      // string I/O: linear address of the first element (segment base + RSI/RDI)
      uint64 data;     // OUT: the value written; IN: fill in the value read
    } io;
    struct {
      uint64 gpa;
      uint64 access;   // VM_NPF_* (raw error code in exitinfo1)
    } npf;
    struct {
      uint32 leaf, subleaf;
      uint32 eax, ebx, ecx, edx;   // filled by user space
    } cpuid;
    struct {
      uint32 msr;
      uint32 write;    // 1 = WRMSR (value is what the guest wrote), 0 = RDMSR (fill value)
      uint64 value;
    } msr;
    struct {
      uint64 rax, rbx, rcx, rdx;
      uint64 ret;      // filled by user space: the guest's RAX after the call
    } hypercall;
    struct {
      uint32 vector;
      uint32 has_error;
      uint64 error;
    } exception;
  } u;
  struct vm_pio_out pio_out[VM_PIO_MAX];   // VM_RUN_PIO_OUT: npio_out entries
  struct {             // VM_RUN_NESTED (lab 9): totals since the vcpu was created
    uint64 vmruns;     // the guest's VMRUNs that entered its own guest (L2)
    uint64 reflected;  // L2 exits given to the guest (L1)
    uint64 handled;    // L2 exits the kernel handled itself, L2 resumed
    uint64 shadow_fills;   // shadow nested page table entries made
    // The vcpu is in L2 at this exit and L2 runs with L1's nested paging:
    // l2_np has VM_NESTED_L2_NP and l2_ncr3 is vmcb12's nCR3, the root of
    // L1's table (in L1's memory) that takes L2-physical addresses to
    // L1-physical ones; vcpu_getregs gives L2's registers, so the VMM's
    // page walks for L2 (an MMIO exit's instruction and operands) go
    // through that table (user/vmm/gva.c). 0 otherwise.
    uint64 l2_ncr3;
    uint32 l2_np;      // VM_NESTED_*
    uint32 pad_np;
  } nested;
  // Every #VMEXIT of this vcpu_run by its SVM exit code's class (VM_SW_*):
  // those the kernel finished and re-entered (fast paths, interrupts, HLT
  // sleeps, CR and EFER writes...) and the one whose exit returns, if any.
  // Each is a world switch (VMRUN + #VMEXIT), the cost that matters under
  // QEMU whether or not user space sees it.
  uint32 switches[VM_SW_N];
  // VM_RUN_TSC_DEADLINE (kern/svm/tsc_deadline.c): the VMM sets tsc_deadline
  // to its LAPIC's IA32_TSC_DEADLINE (host TSC, 0 = disarmed) and the kernel
  // keeps it; a guest's WRMSR of the MSR is then finished without an exit:
  // its value (as a host TSC) replaces tsc_deadline, tsc_deadline_ns is
  // that TSC's time in clock_ns() (0 with it), tsc_deadline_writes counts
  // the writes, and the run returns VM_EXIT_DEADLINE by then at the latest
  // (and by deadline_ns). The VMM applies the value before it handles the
  // exit, due at tsc_deadline_ns. RDMSR and writes without the flag exit.
  uint64 tsc_deadline;
  uint64 tsc_deadline_ns;
  uint32 tsc_deadline_writes;
  uint32 pad_tscd;
};

// Events for vcpu_inject, delivered at the next VMRUN (APM Vol. 2 §15.20
// "Event Injection", §15.21.4 "Injecting Virtual (INTR) Interrupts").
#define VM_EVENT_INTR 0       // external interrupt through EVENTINJ (taken regardless of IF)
#define VM_EVENT_EXCEPTION 1  // exception through EVENTINJ; error code if has_error
#define VM_EVENT_VIRQ 2       // V_IRQ: taken when the guest's IF=1
#define VM_EVENT_NMI 3        // held back while the guest is in its NMI handler (until its
                              // IRET completed), one kept pending, more lost, as on a CPU

struct vm_event {
  uint32 type;       // VM_EVENT_*
  uint32 vector;     // INTR/VIRQ 16..255, exception 0..31 (not 2); NMI: ignored
  uint32 error;      // error code pushed when flags has VM_EVENT_F_ERROR
  uint32 flags;      // VM_EVENT_F_*
};
#define VM_EVENT_F_ERROR 0x1  // push `error` (exceptions only)
#define VM_EVENT_F_FAULT 0x2  // the last exit's instruction faults: cancel its completion
                              // (RIP stays on it); without it the event follows the instruction
