// nestl1.h: a hostile L1 for guestfuzz's mode n (user/fuzz/nestl1.c).
#pragma once
#include "user.h"
#include "vm.h"

#define NESTL1_RAM (64 * 1024)   // the L1's RAM: guestfuzz's guest RAM

// One L1's bookkeeping, kept by the harness across its VMMCALLs.
struct nestl1 {
  int step;            // dispatcher calls so far
  int op;              // the op chosen at the last dispatcher call
  int pending;         // a VMRUN's operand was handed out and L1 has not come back yet
  uint64 rax;          // the operand of the op chosen
  uint64 efer;         // L1's EFER at the start
  uint64 msr, msrval;  // the WRMSR op's register and value
  uint32 misc1;        // the misc1 intercepts of that VMRUN's vmcb12 (0 if not in RAM)
  uint64 iopm;         // its IOPM_BASE_PA
  uint64 vm0;          // the kernel's count of entered VMRUNs when it was handed out
  int tainted;         // L2 overwrote L1's code or page tables: its counts stop
  uint64 back, invalid, gp, lost, misrouted, faults, wild;   // see struct nestl1_totals
};

// Totals over every L1, for guestfuzz's summary line.
struct nestl1_totals {
  uint64 entered;      // VMRUNs that entered L2 (the kernel's nested.vmruns)
  uint64 back;         // L1 resumed after a VMRUN with an exit code other than VMEXIT_INVALID
  uint64 invalid;      // L1 resumed after a VMRUN refused with VMEXIT_INVALID
  uint64 gp;           // the VMRUN raised #GP in L1 (or an event came before it)
  uint64 faults;       // exceptions L1 took (a #GP from an SVM instruction or WRMSR, events)
  uint64 stuck;        // L1s that ended with L2 still running (no #VMEXIT before the end)
  uint64 lost;         // VMRUNs that entered L2 twice, or came back neither entered nor refused
  uint64 misrouted;    // exits of L2's that vmcb12 intercepts but reached L0's VMM: CPUID, HLT
                       // (or halted in the kernel), shutdown, I/O (and queued OUTs) of a port
                       // L1's IOPM has; and VMEXIT_INVALID (the CPU's refusal of vmcb02 is L1's)
  uint64 wild;         // VMMCALLs from outside L1's dispatcher (its code overwritten by L2)
  uint64 tainted;      // L1s whose code or page tables L2 overwrote (counted until then)
};

// Lays out the L1 in ram (on top of guestfuzz's random bytes and identity
// tables) and sets its registers (long mode, its GDT and IDT, RIP at the
// dispatcher).
void nestl1_setup(struct nestl1 *s, uint8 *ram, struct vm_regs *r, uint64 (*rnd)(void));

// A VMMCALL exit: 1 if it was L1's dispatcher asking for its next step
// (u.hypercall.ret is set), 0 if the VMMCALL came from elsewhere.
int nestl1_vmmcall(struct nestl1 *s, uint8 *ram, struct vm_exit *e);

// Every exit of the L1's (before nestl1_vmmcall): one of L2's that L1
// intercepts must not reach the VMM (APM Vol. 2 §15.9-15.12), counted.
void nestl1_exit(struct nestl1 *s, const uint8 *ram, const struct vm_exit *e);

// The L1 ended (e: its last exit): adds its counts to t.
void nestl1_end(struct nestl1 *s, const uint8 *ram, const struct vm_exit *e, struct nestl1_totals *t);
