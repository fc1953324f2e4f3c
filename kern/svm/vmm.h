// The vmm subsystem's shared state and functions (kern/svm/*): what SVM this
// CPU offers, per-CPU SVM data, nested page tables, VMCB helpers.
#pragma once
#include "types.h"
#include "param.h"
#include "mmu.h"
#include "svm/svm.h"

// What CPUID says about SVM (filled once by svm_hardware_setup, hsave.c).
struct svm_features {
  int svm;            // CPUID 8000_0001h ECX bit 2
  int svmdis;         // VM_CR.SVMDIS: firmware disabled SVM
  uint32 revision;    // 8000_000Ah EAX[7:0]
  uint32 nasids;      // 8000_000Ah EBX: number of ASIDs (ASID 0 is the host's)
  uint32 edx;         // 8000_000Ah EDX: SVM_FEAT_* bits
};
extern struct svm_features svm_features;
static inline int svm_has(uint32 feat) { return (svm_features.edx & feat) != 0; }

// Per-CPU SVM data (KVM's struct svm_cpu_data), svm_data[cpu id].
struct svm_cpu_data {
  int cpu;                    // index in cpus[]
  void *save_area;            // host save area page (VM_HSAVE_PA), zeroed
  uint64 save_area_pa;
  int enabled;                // EFER.SVME set and VM_HSAVE_PA written on this CPU
  struct vmcb *current_vmcb;  // VMCB last loaded on this CPU (lab 3: vcpu_load)
  // ASIDs (lab 3): ASIDs min_asid..max_asid are handed out in order; when
  // they run out the generation goes up, the TLB is flushed and every vcpu
  // whose vmcb_info.asid_generation differs gets a new one.
  uint64 asid_generation;
  uint32 max_asid;
  uint32 next_asid;
  uint32 min_asid;
};
extern struct svm_cpu_data svm_data[NCPU];
struct svm_cpu_data *svm_cpu_self(void);   // this CPU's entry (caller keeps IF=0 or is pinned)

// hsave.c (lab 1)
void svm_hardware_setup(void);       // BSP, once: detect, allocate save areas
int svm_alloc_save_areas(void);      // every CPU's save area (setup; ktest=hsave_nomem)
void svm_hardware_enable(void);      // this CPU: EFER.SVME, VM_HSAVE_PA
void svm_hardware_disable(void);     // this CPU: clear EFER.SVME (power-off)
void svm_hardware_disable_all(void); // every CPU (poweroff() in power.c)
int svm_hardware_enable_all(void);   // every online CPU again: 0, or -ENODEV
int svm_available(void);             // 1 iff SVM with NPT is usable on every CPU
const char *svm_unavailable_reason(void); // why not, or NULL
int svm_guard(void);                 // 0 if available, else -ENODEV (for VM creation)
int lab_missing(int lab, const char *what); // prints "lab N: WHAT not implemented", returns -ENOSYS

// Nested page tables (npt.c, lab 2). A 4-level table in host long-mode
// format mapping guest-physical to host-physical 4 KiB pages.
struct npt {
  pte_t *pml4;        // kernel virtual address of the root
  uint64 pml4_pa;     // what goes into N_CR3
  uint64 npages;      // table pages held, root included
};
#define NPT_R  0               // readable (present): always
#define NPT_W  PTE_W
#define NPT_X  0               // executable unless NPT_NX
#define NPT_NX PTE_NX
int npt_init(struct npt *npt);
int npt_map(struct npt *npt, uint64 gpa, uint64 hpa, uint64 size, uint64 perm);
int npt_unmap(struct npt *npt, uint64 gpa, uint64 size);
int npt_lookup(struct npt *npt, uint64 gpa, uint64 *hpa, uint64 *perm);
void npt_free(struct npt *npt);

// vmcb.c (lab 2)
enum guest_mode { GUEST_REAL, GUEST_PROT32, GUEST_LONG64 };
struct vmcb_setup {
  enum guest_mode mode;
  uint64 rip;         // entry point (real mode: linear address, CS base = rip & ~0xFFFF)
  uint64 rsp;
  uint64 cr3;         // long mode: guest-physical PML4 of the guest's own page tables
  uint32 asid;        // must not be 0
  uint64 ncr3;        // N_CR3 (npt->pml4_pa)
};
struct vmcb_perm {    // permission maps, shared by a VM's vcpus
  uint8 *iopm;        // IOPM_SIZE bytes, all ones: every port exits
  uint8 *msrpm;       // MSRPM_SIZE bytes, all ones: every MSR exits
};
int vmcb_perm_alloc(struct vmcb_perm *p);
void vmcb_perm_free(struct vmcb_perm *p);
void vmcb_required_intercepts(struct vmcb_control *c);  // ORs in what the kernel always intercepts
void vmcb_init_control(struct vmcb *vmcb, const struct vmcb_setup *s, const struct vmcb_perm *p);
void vmcb_init_save(struct vmcb *vmcb, const struct vmcb_setup *s);
void vmcb_mark_all_dirty(struct vmcb *vmcb);
void vmcb_mark_dirty(struct vmcb *vmcb, int bit);
void vmcb_mark_clean(struct vmcb *vmcb, int bit);
int vmcb_is_dirty(struct vmcb *vmcb, int bit);

// vmcb_check.c (lab 2): APM Vol. 2 §15.5.1 consistency checks. Returns
// VMCB_OK or the first rule the VMCB breaks.
enum vmcb_rule {
  VMCB_OK = 0,
  VMCB_BAD_ASID,        // ASID is 0
  VMCB_BAD_VMRUN_INTERCEPT, // VMRUN intercept clear
  VMCB_BAD_EFER_SVME,   // EFER.SVME clear
  VMCB_BAD_EFER_MBZ,    // EFER reserved bit set
  VMCB_BAD_CR0_CD_NW,   // CR0.CD=0 with CR0.NW=1
  VMCB_BAD_CR0_HIGH,    // CR0[63:32] not zero
  VMCB_BAD_CR3_MBZ,     // CR3 reserved bit set
  VMCB_BAD_CR4_MBZ,     // CR4 reserved bit set
  VMCB_BAD_DR6_HIGH,    // DR6[63:32] not zero
  VMCB_BAD_DR7_HIGH,    // DR7[63:32] not zero
  VMCB_BAD_LM_NO_PAE,   // EFER.LME=1, CR0.PG=1, CR4.PAE=0
  VMCB_BAD_LM_NO_PE,    // EFER.LME=1, CR0.PG=1, CR0.PE=0
  VMCB_BAD_LM_CS_LD,    // long mode with CS.L=1 and CS.D=1
  VMCB_BAD_PERM_MAP,    // IOPM/MSRPM reach past the physical address width
  VMCB_BAD_EVENTINJ,    // illegal event injection (§15.20)
  VMCB_NRULES
};
enum vmcb_rule vmcb_check(const struct vmcb *vmcb);
const char *vmcb_rule_name(enum vmcb_rule r);

// vmcb_dump.c
void vmcb_dump(const struct vmcb *vmcb);
