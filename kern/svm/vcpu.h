// A virtual CPU: the VMCB part (lab 2, vmcb.c) and the run-time part that
// labs 3-4 add (vcpu.c, run.c). Mirrors KVM's struct vcpu_svm.
#pragma once
#include "types.h"
#include "svm/svm.h"

// One VMCB page and where it was last used (KVM's struct kvm_vmcb_info).
struct vmcb_info {
  struct vmcb *ptr;          // kernel virtual address of the page
  uint64 pa;                 // its physical address: VMRUN/VMLOAD/VMSAVE operand
  int cpu;                   // CPU it last ran on, -1 if never (lab 3)
  uint64 asid_generation;    // svm_cpu_data.asid_generation it was given an ASID in (lab 3)
};

struct vm;

struct vcpu {
  struct vm *vm;             // owning VM (sysvm.c), may be NULL in ktests
  int id;
  // --- VMCB (lab 2: vmcb_create / svm_switch_vmcb) ---
  struct vmcb_info vmcb01;   // the vcpu's own VMCB (L1 guest)
  struct vmcb_info *current_vmcb; // the VMCB in use (always &vmcb01: no nested guests)
  struct vmcb *vmcb;         // == current_vmcb->ptr, the one every handler edits
  int guest_state_loaded;    // VMLOAD of guest state pending/done (lab 4)
  // --- labs 3-4 add their fields below (vcpu.c, run.c) ---
};

// vmcb.c (lab 2)
int vmcb_create(struct vcpu *v);          // allocate vmcb01 and switch to it; -ENOMEM
void vmcb_destroy(struct vcpu *v);        // free vmcb01
void svm_switch_vmcb(struct vcpu *v, struct vmcb_info *target);
