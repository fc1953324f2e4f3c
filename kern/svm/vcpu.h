// A virtual CPU: the VMCB part (lab 2, vmcb.c) and the run-time part that
// labs 3-4 add (vcpu.c, run.c). Mirrors KVM's struct vcpu_svm.
#pragma once
#include "types.h"
#include "svm/svm.h"
#include "vmabi.h"

// One VMCB page and where it was last used (KVM's struct kvm_vmcb_info).
struct vmcb_info {
  struct vmcb *ptr;          // kernel virtual address of the page
  uint64 pa;                 // its physical address: VMRUN/VMLOAD/VMSAVE operand
  int cpu;                   // CPU it last ran on, -1 if never (lab 3)
  uint64 asid_generation;    // svm_cpu_data.asid_generation it was given an ASID in (lab 3)
};

struct vm;
struct svm_cpu_data;

// Guest general registers the hardware leaves to software (RAX and RSP are in
// the VMCB save area). Offsets are used by vmenter.S: keep GPR_* in step.
struct svm_gprs {
  uint64 rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15;
};

struct vcpu {
  struct vm *vm;             // owning VM (sysvm.c), may be NULL in ktests
  int id;
  // --- VMCB (lab 2: vmcb_create / svm_switch_vmcb) ---
  struct vmcb_info vmcb01;   // the vcpu's own VMCB (L1 guest)
  struct vmcb_info *current_vmcb; // the VMCB in use: &vmcb01, or vmcb02 while L2 runs (nested.c)
  struct vmcb *vmcb;         // == current_vmcb->ptr, the one every handler edits
  int guest_state_loaded;    // VMLOAD of guest state pending/done (lab 4)
  // --- labs 3-4 add their fields below (vcpu.c, run.c) ---
  // lab 3 (vcpu.c): where the vcpu is loaded
  int cpu;                   // CPU it is loaded on (vcpu_load), -1 after vcpu_put
  uint32 asid;               // == vmcb->control.asid while loaded
  uint64 moves;              // vcpu_load found it last ran on another CPU
  // lab 4 (run.c): state kept across #VMEXIT
  struct svm_gprs gprs;      // registers VMRUN does not switch (vmenter.S)
  int last_cpu;              // CPU of the latest VMRUN (vm_exit.ran_on_cpu)
  uint32 pending;            // exit user space must complete at the next run (VM_EXIT_*), 0 none
  uint64 next_rip;           // RIP after the intercepted instruction, for the completion
  uint64 nexits;             // exits since creation, every kind
  int dead;                  // VM_EXIT_SHUTDOWN/_INVALID seen: never entered again
  int lme_pending;           // the guest set EFER.LME with paging off: the VMCB gets LME (with
                             // LMA) only when the guest turns paging on (cr0.c, run.c efer_msr)
  struct vm_exit last;       // the latest exit as reported (decode kept for the completion)
  uint64 dr[4];              // dr.c: the guest's DR0-3 (DR6/DR7 live in the VMCB)
  // fpu.c: the guest's x87/SSE state (FXSAVE image) while it is not on the CPU
  uint8 fpu[512] __attribute__((aligned(16)));
  int fpu_ready;             // fpu[] holds a state (else it starts from reset)
  uint32 tsc_aux;            // tsc_aux.c: the guest's TSC_AUX (RDTSCP's ECX)
  // lab 5 (irq.c, halt.c): interrupts and halting. Zero is "none" for the
  // vectors: the line never carries a vector below 32.
  int irq_line;              // vector on the external interrupt line (vcpu_irq), 0 = lowered
  int irq_acked;             // vector injected from the line during this vcpu_run, 0 = none
  int irq_window;            // 1: we set V_IRQ + the VINTR intercept (an interrupt window)
  int halted;                // HLT with IF=1 done, waiting for an event (KVM's mp_state HALTED)
  int blocked;               // asleep in vcpu_block right now (GDB, tests)
  int kick;                  // vcpu_kick: return VM_EXIT_KICK at the next check
  int guest_cpu;             // CPU + 1 while in guest mode (kick IPIs go there), 0 outside
  uint64 run_deadline;       // this vcpu_run's deadline_ns (0 = none)
  uint32 run_flags;          // this vcpu_run's VM_RUN_* flags
  struct vm_pio_cfg pio;     // this vcpu_run's ports for VM_RUN_PIO_OUT/_IN (pio.c)
  uint64 nirqs;              // interrupts injected from the line since creation
  uint64 nwindows;           // interrupt windows opened
  uint64 nblocks;            // times the vcpu went to sleep in HLT
  // nmi.c, step.c: NMI blocking, and instructions finished for the guest
  int nmi_pending;           // NMIs waiting to be injected (one may wait behind one in progress)
  int nmi_masked;            // an NMI was injected and its handler's IRET has not completed
  int nmi_awaiting_iret;     // that IRET exited (IRET intercept); done once RIP left nmi_iret_rip
  uint64 nmi_iret_rip;
  int nmi_step;              // we set TF for one instruction (an NMI window); undone at the exit
  int nmi_step_db_ours;      // we turned on the #DB intercept for it
  uint64 nmi_step_rflags, nmi_step_rip, nmi_step_dr6;   // the guest's, before the step
  int nmi_shadow;            // entered in an interrupt shadow at nmi_shadow_rip, no instruction done since
  uint64 nmi_shadow_rip;
  uint64 held_event;         // an EVENTINJ value waiting behind a single-step #DB trap
  uint64 exit_rflags;        // the guest's RFLAGS at the latest exit (TF when the instruction began)
  uint64 nnmis;              // NMIs injected since creation
  uint64 nsteps;             // single-step #DB traps after finished instructions
  struct nested_svm *nested; // nested.c (lab 9): the guest's own SVM, NULL until VM_RUN_NESTED
  struct vm_cpuid_entry *cpuid;   // cpuid_table.c: answers for CPUID without an exit (a page), or NULL
  int ncpuid;
};

// irq.c (lab 5): interrupt injection (KVM inject_pending_event & co.)
int svm_interrupt_allowed(struct vcpu *v);
int svm_prepare_entry(struct vcpu *v, int cpu);    // IF=0, before VMRUN: 0 = do not enter now
void svm_complete_interrupts(struct vcpu *v);      // IF=0, after #VMEXIT
void svm_exit_after_intr(struct vcpu *v, int cpu);   // IF=0, before VMRUN: QEMU 7.2 double delivery
int svm_vintr_interception(struct vcpu *v, struct vm_exit *e);

// halt.c (lab 5): HLT, blocking, kicks and the run requests
void vcpu_run_start(struct vcpu *v, struct vm_exit *e, uint64 deadline_ns, uint32 run_flags);
void vcpu_run_end(struct vcpu *v, struct vm_exit *e);
int vcpu_check_requests(struct vcpu *v, struct vm_exit *e);   // 1 = enter, 0 = *e filled, -EINTR
int vcpu_halt_blocks(struct vcpu *v);              // HLT exit: 1 = the kernel waits (IF=1)
int vcpu_has_events(struct vcpu *v);               // something to deliver: a halted vcpu wakes
void vcpu_set_irq_line(struct vcpu *v, int vector);   // vcpu_irq; 0 lowers
void vcpu_kick(struct vcpu *v);
extern void (*kick_cpu_hook)(int guest_cpu);      // tests: sees each kick IPI's target first

// vcpu.c (lab 3)
struct vcpu *vcpu_alloc(void);                     // zeroed vcpu with a VMCB; NULL if out of memory
void vcpu_free(struct vcpu *v);                    // frees the vcpu and its VMCB; must not be loaded
int vcpu_load(struct vcpu *v, int cpu);            // IF=0, cpu == this CPU; 0, -EINVAL, -EBUSY
int vcpu_put(struct vcpu *v);                      // IF=0, on v's CPU; 0 or -EINVAL
void svm_asid_init(struct svm_cpu_data *sd);      // a CPU's ASID range, on its first use
void vcpu_new_asid(struct vcpu *v, struct svm_cpu_data *sd);
void vcpu_flush_tlb(struct vcpu *v);               // v's TLB entries gone before its next run
// the registers changed from old to now: clear the clean bits of those groups
void vcpu_regs_dirty(struct vcpu *v, const struct vm_regs *old, const struct vm_regs *now);

// nmi.c: NMIs, blocked from injection until the handler's IRET completed
void vcpu_queue_nmi(struct vcpu *v);                    // vcpu_inject(VM_EVENT_NMI)
void svm_inject_nmi(struct vcpu *v);                    // IF=0, before VMRUN, before the line
void svm_nmi_window(struct vcpu *v, int cpu);           // IF=0, right before VMRUN
int svm_nmi_after_exit(struct vcpu *v, struct vm_exit *e);   // after each exit: 1 = ours, run on
int svm_events_waiting(struct vcpu *v);                 // a held event or a deliverable NMI

// step.c: an instruction finished for the guest (RIP moved, shadow over, TF's #DB)
void svm_insn_done(struct vcpu *v, uint64 next_rip, uint64 rflags);
void svm_release_held_event(struct vcpu *v);            // IF=0, before VMRUN

// tr_guard.c: TR in the form QEMU 7.2 accepts, before each VMRUN
void svm_tr_guard(struct vcpu *v);

// ioio_assist.c: IOIO EXITINFO1 with the address size and segment QEMU 7.2 leaves out
uint64 svm_ioio_exitinfo1(struct vcpu *v);

// pio.c: port I/O finished in the kernel (VM_RUN_PIO_OUT/_IN)
int svm_pio_fast(struct vcpu *v, struct vm_exit *e);    // IOIO exit: 1 if done here
int svm_pio_before_halt(struct vcpu *v, struct vm_exit *e);   // 1 with *e filled: VM_EXIT_PIO

// cpuid_table.c: CPUID answered from the VMM's table (vcpu_cpuid, syscall 45)
int svm_cpuid_lookup(struct vcpu *v, uint32 leaf, uint32 subleaf, uint32 *out);   // 1 if answered
int svm_cpuid_set(struct vcpu *v, const struct vm_cpuid_entry *t, int n);         // 0 or -E*
void svm_cpuid_free(struct vcpu *v);

// tsc_deadline.c: WRMSR IA32_TSC_DEADLINE finished in the kernel (VM_RUN_TSC_DEADLINE)
void svm_tsc_deadline_start(struct vcpu *v, struct vm_exit *e);
int svm_tsc_deadline_write(struct vcpu *v, uint32 msr, int write, struct vm_exit *e);   // 1 if done

// init.c: VM_RUN_INIT, what INIT clears of the kernel's state
void vcpu_init_signal(struct vcpu *v);

// run.c, vmenter.S (lab 4)
int vcpu_run(struct vcpu *v, struct vm_exit *e);   // 0 with *e filled, or -E*
void vcpu_cancel_completion(struct vcpu *v);       // the last exit's instruction faults instead
int svm_ioio_decode(struct vcpu *v, struct vm_exit *e);   // IOIO exit -> e->u.io, v->next_rip
void svm_pio_complete(struct vcpu *v, const struct vm_exit *d, uint64 value);   // pio.c: finish it here
extern uint64 ktest_fake_exitcode;                 // ktests: the next exit reports this code instead
void svm_vmrun_regs(uint64 vmcb_pa, struct svm_gprs *gprs);

// fpu.c: the guest's own x87/SSE state around each VMRUN (IF=0)
void svm_guest_fpu_load(struct vcpu *v);
void svm_guest_fpu_forget(struct vcpu *v);
int xsetbv_interception(struct vcpu *v, struct vm_exit *e);   // #UD: guests have no XSAVE

// tsc_aux.c: the guest's TSC_AUX in the MSR while it runs
int svm_tsc_aux_msr(struct vcpu *v, int write);     // RDMSR/WRMSR C000_0103h: 1 if answered
uint64 svm_tsc_aux_enter(struct vcpu *v);           // before VMRUN: the host's value
void svm_tsc_aux_exit(struct vcpu *v, uint64 host); // after #VMEXIT

// cr0.c: CR0 writes of long-mode guests (EFER.LME=1 => CR0.PG=1)
int cr0_write_interception(struct vcpu *v, struct vm_exit *e);  // SVM_EXIT_WRITE_CR0 handler
int cr8_write_interception(struct vcpu *v, struct vm_exit *e);  // SVM_EXIT_WRITE_CR8 handler
void svm_exit_record(struct vcpu *v, struct vm_exit *e, uint32 reason);
void svm_cr0_guard(struct vcpu *v);                              // before VMRUN: intercept iff LME
struct npt *vm_npt(struct vm *vm);                               // sysvm.c: the VM's nested table
struct vm *ktest_vm_alloc(void);                                 // sysvm.c, ktests only: a VM of no process
void ktest_vm_free(struct vm *vm);

// guestmem.c: the guest's memory, instructions and registers for the
// kernel's own emulation (QEMU has no decode assists)
struct svm_insn {            // 0F op ModRM, as svm_decode_0f found it
  uint8 op;                  // the byte after 0F
  uint8 rex;                 // REX prefix (64-bit mode), 0 if none
  uint8 mod, reg, rm;        // ModRM fields; reg and rm extended by REX.R / REX.B
  uint32 len;                // instruction length
};
int svm_gpa_read(struct vcpu *v, uint64 gpa, void *dst, uint64 n);
int svm_gva_to_gpa(struct vcpu *v, uint64 gva, uint64 *gpa);   // any paging mode; 0 or -1
int svm_guest_64bit(struct vcpu *v);
int svm_fetch_insn(struct vcpu *v, uint8 *b, int n);
int svm_decode_0f(struct vcpu *v, struct svm_insn *d);
uint64 svm_gpr(struct vcpu *v, int n);
void svm_set_gpr(struct vcpu *v, int n, uint64 val);
int svm_inject_fault(struct vcpu *v, struct vm_exit *e, int vec, int has_err);   // returns 1
void svm_skip_insn(struct vcpu *v, uint32 len);
int svm_emulated(struct vcpu *v, struct vm_exit *e, uint32 len);   // skip; returns 1

// cr4.c, dr.c: CR4 writes and debug registers, intercepted and emulated
int cr4_write_interception(struct vcpu *v, struct vm_exit *e);
int dr_interception(struct vcpu *v, struct vm_exit *e);
int svm_dr_arm(struct vcpu *v);                    // IF=0, right before the world switch
uint64 svm_dr7_for_switch(struct vcpu *v);        // the DR7 svm_dr_arm loads (dr.c)
void svm_dr_disarm(int armed);                     // right after it
uint64 svm_dr_io_hits(struct vcpu *v);             // DR6 Bn bits of the IN/OUT just finished

// inject.c
void svm_force_intercepts(struct vmcb *vmcb);      // what the kernel always intercepts
void svm_msrpm_passthrough(uint8 *msrpm);          // VMLOAD/VMSAVE-switched MSRs not intercepted
int vcpu_inject_event(struct vcpu *v, const struct vm_event *ev);

// vmcb.c (lab 2)
int vmcb_create(struct vcpu *v);          // allocate vmcb01 and switch to it; -ENOMEM
void vmcb_destroy(struct vcpu *v);        // free vmcb01
void svm_switch_vmcb(struct vcpu *v, struct vmcb_info *target);
