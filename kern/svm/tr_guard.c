// TR as QEMU 7.2 wants it before each VMRUN. A CPU keeps the TSS it loaded
// with LTR as "busy" (type 3 or 11, APM Vol. 2 §12.2.5), and that is how the
// VMCB describes a vcpu's TR at reset. QEMU's own convention is to cache the
// available type (1 or 9) and to check for it when an interrupt or exception
// in 32-bit protected mode switches to a more privileged stack (from ring 3
// or virtual-8086 mode): with a busy type, or with TR not present at all, it
// aborts the whole emulator ("invalid tss type", "invalid tss"), so a guest
// could kill the host with `int` from ring 3 (user/guests/hostile_tss.S).
// The guest cannot put such a TR there itself (LTR and task switches check
// the descriptor); it comes from the VMCB. So the kernel gives QEMU the
// available form of a busy TSS, and a present 32-bit TSS in place of
// anything that is not a TSS. On a real CPU the busy bit in the cached TR is
// never checked on that path, so this changes nothing there; the VMM sees
// the available type in the registers after such a run.
#include "defs.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

#define TSS_BUSY 0x2          // type bit 1: busy (3 = 16-bit, 11 = 32-bit TSS)
#define TSS32_AVAIL 0x9

// Types 1, 3, 9 and 11 are the TSS types ((type & 5) == 1).
void svm_tr_guard(struct vcpu *v)
{
  struct vmcb_seg *tr = &v->vmcb->save.tr;   // loaded by VMLOAD: no clean bit covers it
  uint16 a = tr->attrib;
  if ((a & SEG_ATTR_P) && !(a & SEG_ATTR_S) && (a & 5) == 1)
    tr->attrib = a & ~TSS_BUSY;
  else
    tr->attrib = (a & ~(0xF | SEG_ATTR_S)) | SEG_ATTR_P | TSS32_AVAIL;
}
