// Lab 2 (vmcb): the I/O and MSR permission maps (APM Vol. 2 §15.10.1 "I/O
// Permissions Map", §15.11 "MSR Intercepts"), as KVM's svm_vcpu_alloc_msrpm,
// svm_vcpu_init_msrpm and set_msr_interception do it. With IOIO_PROT and
// MSR_PROT intercepted, the CPU reads these maps on every IN/OUT/INS/OUTS
// and RDMSR/WRMSR of the guest: a set bit means "exit to the host", a clear
// bit "let the guest do it on the real hardware". One pair per VM, shared by
// its vcpus.
#include "defs.h"
#include "errno.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "../lib/string.h"

// Allocates the I/O permission map (12 KiB) and MSR permission map (8 KiB),
// each physically contiguous and page-aligned, filled with ones: every port
// and every MSR access exits to us. QEMU really reads them, so a missing or
// short map means "whatever happens to be in that memory".
// Returns 0 or -ENOMEM (nothing allocated then).
int vmcb_perm_alloc(struct vmcb_perm *p)
{
  // LAB 2 BEGIN
  p->iopm = kalloc_pages(IOPM_SIZE / PGSIZE, 1);
  p->msrpm = kalloc_pages(MSRPM_SIZE / PGSIZE, 1);
  if (!p->iopm || !p->msrpm) {
    vmcb_perm_free(p);
    return -ENOMEM;
  }
  memset(p->iopm, 0xFF, IOPM_SIZE);
  memset(p->msrpm, 0xFF, MSRPM_SIZE);
  return 0;
  // LAB 2 STUB
  // // LAB 2: allocate both maps (sizes and alignment from §15.10.1 and §15.11) so that every
  // // port and every MSR access exits; on failure free what you took and return -ENOMEM.
  // p->iopm = p->msrpm = NULL;
  // return lab_missing(2, "vmcb_perm_alloc");
  // LAB 2 END
}

void vmcb_perm_free(struct vmcb_perm *p)
{
  if (p->iopm)
    kfree_pages(p->iopm, IOPM_SIZE / PGSIZE);
  if (p->msrpm)
    kfree_pages(p->msrpm, MSRPM_SIZE / PGSIZE);
  p->iopm = p->msrpm = NULL;
}

// LAB 2 BEGIN
// Lets the guest read and write msr without an exit. The MSRPM holds 2 bits
// per MSR (read, then write) for three ranges of 8 Ki MSRs: 0000_0000h at
// byte 0, C000_0000h at 0x800, C001_0000h at 0x1000 (§15.11). MSRs outside
// them always exit; asking for one is a bug in the caller.
static void msrpm_allow(uint8 *msrpm, uint32 msr)
{
  uint32 base;
  if (msr < 0x2000)
    base = 0;
  else if (msr - 0xC0000000u < 0x2000)
    base = 0x800;
  else if (msr - 0xC0010000u < 0x2000)
    base = 0x1000;
  else
    panic("msrpm_allow: MSR 0x%x is in no MSRPM range", msr);
  uint32 bit = 2 * (msr & 0x1FFF);
  msrpm[base + bit / 8] &= ~(3u << (bit % 8));
}
// LAB 2 STUB
// // LAB 2: (a helper for svm_msrpm_passthrough) clear msr's read and write intercept bits.
// LAB 2 END

// The MSRs that VMLOAD/VMSAVE switch need no intercept: the guest has its
// own copies in its VMCB and the host gets its own back (§15.5.2
// "VMSAVE and VMLOAD Instructions"). Everything else keeps exiting.
void svm_msrpm_passthrough(uint8 *msrpm)
{
  // LAB 2 BEGIN
  static const uint32 msrs[] = {MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SFMASK, MSR_FS_BASE, MSR_GS_BASE,
                                MSR_KERNEL_GS_BASE, 0x174, 0x175, 0x176};   // + SYSENTER_CS/ESP/EIP
  for (uint32 i = 0; i < ARRAY_SIZE(msrs); i++)
    msrpm_allow(msrpm, msrs[i]);
  // LAB 2 STUB
  // // LAB 2: let the guest read and write, without an exit, exactly the MSRs that VMLOAD and
  // // VMSAVE switch (§15.5.2); every other MSR keeps both intercept bits.
  // lab_missing(2, "svm_msrpm_passthrough");
  // LAB 2 END
}
