// Lab 1 (hsave): find out whether this CPU can run guests and turn SVM on.
//
// Following KVM (svm_hardware_setup, svm_hardware_enable):
//   1. CPUID 8000_0001h ECX bit 2 says SVM exists; VM_CR.SVMDIS says whether
//      firmware locked it off; leaf 8000_000Ah gives the revision, the number
//      of ASIDs and the optional features (APM Vol. 2 §15.4 "Enabling SVM").
//   2. Once, on the BSP: one zeroed 4 KiB host save area per CPU. VMRUN
//      stores the host's state there and #VMEXIT reloads it (§15.30.4
//      "VM_HSAVE_PA MSR"); software never reads it.
//   3. On every CPU: EFER.SVME=1 (else every SVM instruction is #UD) and
//      VM_HSAVE_PA = that CPU's save area (each CPU needs its own: two CPUs
//      running guests at once would overwrite each other's host state).
// Power-off clears EFER.SVME on every CPU (svm_hardware_disable).
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "errno.h"
#include "svm/vmm.h"

struct svm_features svm_features;
struct svm_cpu_data svm_data[NCPU];
static const char *unavailable;   // why guests cannot run, or NULL

struct svm_cpu_data *svm_cpu_self(void) { return &svm_data[cpuid_self()]; }

// The message every unfinished lab function prints (see HACKING.md).
int lab_missing(int lab, const char *what)
{
  printf("lab %d: %s not implemented\n", lab, what);
  return -ENOSYS;
}

// (The static helpers below are marked unused because in a handout only the
// student's code calls them.)
// Fills svm_features from CPUID and VM_CR. Returns NULL if SVM can be used
// (with nested paging, which the vmm requires), else what is missing.
static __attribute__((unused)) const char *svm_detect(void)
{
  // LAB 1 BEGIN
  struct svm_features *f = &svm_features;
  if (cpuid(0x80000000, 0).eax < CPUID_SVM_LEAF)
    return "no CPUID leaf 8000_000Ah";
  f->svm = (cpuid(CPUID_EXT_FEATURES, 0).ecx & CPUID_EXT_ECX_SVM) != 0;
  if (!f->svm)
    return "no SVM (CPUID 8000_0001h ECX bit 2 clear)";
  // VM_CR exists only when SVM does: read it after the CPUID check.
  f->svmdis = (rdmsr(MSR_VM_CR) & VM_CR_SVMDIS) != 0;
  struct cpuid_regs r = cpuid(CPUID_SVM_LEAF, 0);
  f->revision = r.eax & 0xFF;
  f->nasids = r.ebx;
  f->edx = r.edx;
  if (f->svmdis)
    return "SVM disabled by firmware (VM_CR.SVMDIS=1)";
  if (!svm_has(SVM_FEAT_NP))
    return "no nested paging (CPUID 8000_000Ah EDX bit 0 clear)";
  if (f->nasids < 2)
    return "fewer than 2 ASIDs";
  return NULL;
  // LAB 1 STUB
  // // LAB 1: fill svm_features from CPUID 8000_0001h/8000_000Ah and VM_CR (only if SVM
  // // exists); return NULL if guests can run here, else a reason naming what is missing.
  // lab_missing(1, "svm_detect");
  // return "lab 1 (hsave) not done: svm_detect";
  // LAB 1 END
}

// Prints the one-line feature summary graders compare with CPUID.
static __attribute__((unused)) void svm_print_features(void)
{
  struct svm_features *f = &svm_features;
  printf("svm: features: svm=%d svmdis=%d rev=%u asids=%u edx=0x%x npt=%d lbrv=%d nrips=%d"
         " tscrate=%d vmcbclean=%d flushbyasid=%d decodeassists=%d pausefilter=%d"
         " avic=%d vgif=%d vnmi=%d\n",
         f->svm, f->svmdis, f->revision, f->nasids, f->edx, svm_has(SVM_FEAT_NP),
         svm_has(SVM_FEAT_LBRV), svm_has(SVM_FEAT_NRIPS), svm_has(SVM_FEAT_TSCRATE),
         svm_has(SVM_FEAT_VMCBCLEAN), svm_has(SVM_FEAT_FLUSHASID), svm_has(SVM_FEAT_DECODE),
         svm_has(SVM_FEAT_PAUSEFILTER), svm_has(SVM_FEAT_AVIC), svm_has(SVM_FEAT_VGIF),
         svm_has(SVM_FEAT_VNMI));
}

// Allocates the save area of every possible CPU. Returns 0 or -ENOMEM
// (having freed what it allocated). Not static: ktest=hsave_nomem calls it.
int svm_alloc_save_areas(void)
{
  // LAB 1 BEGIN
  for (int i = 0; i < NCPU; i++) {
    struct svm_cpu_data *sd = &svm_data[i];
    sd->cpu = i;
    sd->save_area = kalloc();   // zeroed, 4 KiB aligned: what VM_HSAVE_PA needs
    if (!sd->save_area) {
      while (--i >= 0) {
        kfree(svm_data[i].save_area);
        svm_data[i].save_area = NULL;
        svm_data[i].save_area_pa = 0;
      }
      return -ENOMEM;
    }
    sd->save_area_pa = V2P(sd->save_area);
  }
  return 0;
  // LAB 1 STUB
  // // LAB 1: give each of the NCPU svm_data entries its own zeroed page (save_area and its
  // // physical address); on failure free everything allocated so far and return -ENOMEM.
  // return lab_missing(1, "svm_alloc_save_areas");
  // LAB 1 END
}

// Once, on the BSP, before any CPU calls svm_hardware_enable: detection, the
// summary line, then the save areas. Leaves `unavailable` set to the reason
// (printed as "svm: unavailable: <reason>") when guests cannot run.
void svm_hardware_setup(void)
{
  // LAB 1 BEGIN
  unavailable = svm_detect();
  svm_print_features();
  if (!unavailable && svm_alloc_save_areas() < 0)
    unavailable = "no memory for the host save areas";
  if (unavailable)
    printf("svm: unavailable: %s\n", unavailable);
  // LAB 1 STUB
  // // LAB 1: detect, print the summary (svm_print_features), allocate the save areas if SVM
  // // is usable; record and print the reason when it is not ("svm: unavailable: %s").
  // unavailable = "lab 1 (hsave) not done: svm_hardware_setup";
  // printf("svm: unavailable: %s\n", unavailable);
  // LAB 1 END
}

// Prints what this CPU's MSRs read back (HACKING.md's console format).
static void svm_print_enable(void)
{
  uint64 efer = rdmsr(MSR_EFER);
  uint64 hsave = (efer & EFER_SVME) ? rdmsr(MSR_VM_HSAVE_PA) : 0;
  printf("svm: cpu%d: EFER.SVME=%d VM_HSAVE_PA=0x%lx\n", cpuid_self(), (efer & EFER_SVME) != 0,
         hsave);
}

// LAB 1 BEGIN
// 1 iff this CPU offers what setup found on the BSP: the same SVM bit and
// SVM leaf, and firmware has not disabled SVM here (KVM checks each CPU the
// same way in svm_check_processor_compat). A CPU that differs must not run
// guests: a VMCB built for the BSP's features could be invalid on it.
static int svm_cpu_compatible(void)
{
  struct svm_features *f = &svm_features;
  if (!(cpuid(CPUID_EXT_FEATURES, 0).ecx & CPUID_EXT_ECX_SVM))
    return 0;
  if (rdmsr(MSR_VM_CR) & VM_CR_SVMDIS)
    return 0;
  struct cpuid_regs r = cpuid(CPUID_SVM_LEAF, 0);
  return (r.eax & 0xFF) == f->revision && r.ebx == f->nasids && r.edx == f->edx;
}
// LAB 1 STUB
// // LAB 1: (a helper for svm_hardware_enable) does this CPU offer SVM, not disabled by
// // firmware, with the same revision, ASIDs and features that setup recorded on the BSP?
// LAB 1 END

// On the calling CPU (IF=0 or pinned): EFER.SVME=1 and VM_HSAVE_PA = this
// CPU's save area. Does nothing when SVM is unavailable; refuses (prints
// "svm: cpu%d: SVM features differ from the boot CPU's", enables nothing) on a CPU whose SVM
// features differ from the BSP's. Sets svm_data[cpu].enabled = 1 only after
// reading both MSRs back and finding them as written; prints what they read.
void svm_hardware_enable(void)
{
  if (unavailable)
    return;
  // LAB 1 BEGIN
  struct svm_cpu_data *sd = svm_cpu_self();
  sd->enabled = 0;
  if (!svm_cpu_compatible()) {
    printf("svm: cpu%d: SVM features differ from the boot CPU's\n", cpuid_self());
    return;
  }
  if (!sd->save_area_pa) {
    printf("svm: cpu%d: no host save area\n", sd->cpu);
    return;
  }
  // EFER also holds LME/LMA/NXE/SCE: set SVME without touching them.
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
  wrmsr(MSR_VM_HSAVE_PA, sd->save_area_pa);
  uint64 hsave = rdmsr(MSR_VM_HSAVE_PA);
  sd->enabled = (rdmsr(MSR_EFER) & EFER_SVME) && hsave == sd->save_area_pa && hsave != 0;
  // LAB 1 STUB
  // // LAB 1: if this CPU's SVM features match the BSP's, make VMRUN usable here with this
  // // CPU's own save area (§15.4, §15.30.4); svm_data.enabled says whether the CPU really took it.
  // lab_missing(1, "svm_hardware_enable");
  // LAB 1 END
  svm_print_enable();
}

static __attribute__((unused)) void enable_here(void *unused) { svm_hardware_enable(); }

// Enables SVM again on every online CPU (after svm_hardware_disable_all).
// Returns 0 if every CPU ended up enabled, else -ENODEV.
int svm_hardware_enable_all(void)
{
  // LAB 1 BEGIN
  int bad = 0;
  for (int i = 0; i < ncpu; i++) {
    if (!cpu_online(i))
      continue;
    if (smp_call(i, enable_here, NULL) != 0 || !svm_data[i].enabled)
      bad = 1;
  }
  return bad ? -ENODEV : 0;
  // LAB 1 STUB
  // // LAB 1: run svm_hardware_enable on every online CPU (smp_call); 0 iff each of
  // // them is enabled afterwards, else -ENODEV.
  // return lab_missing(1, "svm_hardware_enable_all");
  // LAB 1 END
}

// On the calling CPU: EFER.SVME=0, so no SVM instruction can run any more
// (they #UD). As KVM does, VM_HSAVE_PA is zeroed first, while the MSR is
// certainly accessible, so nothing keeps pointing at the save area.
void svm_hardware_disable(void)
{
  if (!(rdmsr(MSR_EFER) & EFER_SVME))
    return;
  // LAB 1 BEGIN
  struct svm_cpu_data *sd = svm_cpu_self();
  wrmsr(MSR_VM_HSAVE_PA, 0);
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~EFER_SVME);
  sd->enabled = 0;
  // LAB 1 STUB
  // // LAB 1: undo on this CPU what svm_hardware_enable set up, leaving whatever else the
  // // registers hold as it was; the CPU is no longer enabled.
  // lab_missing(1, "svm_hardware_disable");
  // LAB 1 END
}

static __attribute__((unused)) void disable_here(void *unused) { svm_hardware_disable(); }

// The power-off path: EFER.SVME off on every CPU, so no CPU is left able to
// run guests. Other CPUs are reached with smp_call, except after a panic,
// when they may be stopped with interrupts off and would never answer.
void svm_hardware_disable_all(void)
{
  // LAB 1 BEGIN
  if (!panicked)
    for (int i = 0; i < ncpu; i++)
      if (i != cpuid_self() && cpu_online(i))
        smp_call(i, disable_here, NULL);
  svm_hardware_disable();
  // LAB 1 STUB
  // // LAB 1: every online CPU ends with SVM off; after a panic only this one (the others
  // // may never answer).
  // if (rdmsr(MSR_EFER) & EFER_SVME)
  //   lab_missing(1, "svm_hardware_disable_all");
  // LAB 1 END
}

// 1 iff guests can run: SVM with nested paging, and every online CPU has it
// enabled. Later stages refuse VM creation otherwise (svm_guard).
int svm_available(void)
{
  return svm_unavailable_reason() == NULL;
}

// Why guests cannot run now, or NULL if they can: the reason found at
// setup, else the first CPU on which SVM is not enabled (yet, or any more).
const char *svm_unavailable_reason(void)
{
  // LAB 1 BEGIN
  if (unavailable)
    return unavailable;
  for (int i = 0; i < ncpu; i++)
    if (!svm_data[i].enabled)
      return "SVM not enabled on every CPU (svm_hardware_enable)";
  return NULL;
  // LAB 1 STUB
  // // LAB 1: the setup reason if there is one, else a reason when some online CPU
  // // does not have SVM enabled, else NULL.
  // return "lab 1 (hsave) not done: svm_unavailable_reason";
  // LAB 1 END
}

// For VM creation: 0, or -ENODEV with the reason on the console.
int svm_guard(void)
{
  const char *why = svm_unavailable_reason();
  if (!why)
    return 0;
  printf("svm: cannot create a VM: %s\n", why);
  return -ENODEV;
}
