// Lab 9 (nested), given: the shadow of L1's nested page table.
//
// With nested paging in vmcb12, an L2 guest-physical address goes through
// L1's table (vmcb12 nCR3, in L1's memory) to an L1 guest-physical address,
// and through L0's table (the VM's) to a host page. The CPU walks one nested
// table only, so vmcb02's nCR3 is a table of L0's, the shadow, that maps L2
// addresses straight to host pages. It starts empty and is filled on demand:
// each NPF of vmcb02 walks L1's table (APM Vol. 2 §15.25.5 "Nested Table
// Walk": every level is a user access, U must be set; W and NX accumulate)
// and either maps the page with the permissions both tables grant, or
// reflects the NPF to L1 when L1's table refuses the access (§15.25.6).
//
// Coherence: L1 may rewrite its tables at any time, and the shadow would not
// see it. The APM allows a TLB to keep a translation until software flushes
// it (§15.16: TLB_CONTROL, INVLPGA, or an ASID not used before), so the
// shadow behaves as a TLB: it is dropped on each such flush of L1's
// (nested.c: TLB_CONTROL, an ASID or nCR3 change in vmcb12, INVLPGA) and
// when L0's own table loses pages (nested_tlb_flush_all). Dropping all of
// it is coarse but simple and always correct; KVM instead write-protects
// L1's table pages and updates single entries.
#include "defs.h"
#include "errno.h"
#include "svm/nested.h"

#define SHADOW_MAX_PAGES 256    // table pages before the shadow starts over
#define NPF_P     (1UL << 0)    // EXITINFO1 bits (§15.25.6): present
#define NPF_W     (1UL << 1)    //   write
#define NPF_U     (1UL << 2)    //   user (always, for nested walks)
#define NPF_RSVD  (1UL << 3)    //   reserved bit set
#define NPF_ID    (1UL << 4)    //   instruction fetch
#define NPF_FINAL (3UL << 32)   //   bit 32 final address, bit 33 guest table walk
#define NPT_ADDR  0x000FFFFFFFFFF000UL
#define NPT_ACCESSED (1UL << 5)  // L1's entries: accessed, dirty (leaf)
#define NPT_DIRTY    (1UL << 6)

void nested_npt_drop(struct vcpu *v)
{
  struct nested_svm *n = v->nested;
  if (!n || !n->shadow_ready)
    return;
  npt_free(&n->shadow);
  n->shadow_ready = 0;
}

// The shadow's root for vmcb02's nCR3 (an empty table after a drop).
int nested_npt_root(struct vcpu *v, uint64 *ncr3)
{
  struct nested_svm *n = v->nested;
  if (__atomic_exchange_n(&n->shadow_stale, 0, __ATOMIC_SEQ_CST))
    nested_npt_drop(v);
  if (!n->shadow_ready) {
    if (npt_init(&n->shadow) < 0)
      return -ENOMEM;
    n->shadow_ready = 1;
  }
  *ncr3 = n->shadow.pml4_pa;
  return 0;
}

// Walks L1's 4-level table for gpa2. 0 with *gpa1 and the accumulated
// permissions (*w, *nx), or the NPF error bits L1 must see (P if the
// missing right was on present entries, RSVD for a reserved bit). With
// access (an NPF's EXITINFO1; 0: a look-up with no side effects), the walk
// sets the accessed bit of each entry it used and, for a write, the dirty
// bit of the leaf, in L1's table, as the CPU's nested walk does (§15.25.5;
// a page whose leaf is not dirty is shadowed read-only, so that the first
// write faults here and sets D); *dirty says whether the leaf is dirty now.
static int walk_l1(struct vcpu *v, uint64 gpa2, uint64 access, uint64 *gpa1, int *w, int *nx, int *dirty,
                   uint64 *err)
{
  uint64 table = v->nested->vmcb12->control.ncr3 & NPT_ADDR;
  int nxe = (v->vmcb01.ptr->save.efer & EFER_NXE) != 0;
  *w = 1, *nx = 0, *err = 0, *dirty = 0;
  for (int level = 3; level >= 0; level--) {
    uint64 ent, at = table + PX(level, gpa2) * 8;
    if (nested_gpa_read(v, at, &ent, 8) < 0 || !(ent & PTE_P))
      return -1;   // not present: P clear
    if ((ent & PTE_NX) && !nxe) {
      *err = NPF_P | NPF_RSVD;
      return -1;
    }
    *w &= (ent & PTE_W) != 0;
    *nx |= (ent & PTE_NX) != 0;
    if (!(ent & PTE_U)) {
      *err = NPF_P;
      return -1;
    }
    int leaf = level == 0 || ((level == 1 || level == 2) && (ent & PTE_PS));
    int allowed = !leaf || !(((access & NPF_W) && !*w) || ((access & NPF_ID) && *nx));
    if (access && allowed) {
      uint64 want = ent | NPT_ACCESSED | (leaf && (access & NPF_W) ? NPT_DIRTY : 0);
      if (want != ent && nested_gpa_write(v, at, &want, 8) == 0)
        ent = want;   // a table L1 cannot write keeps its bits (L0 maps it read-only)
    }
    if (leaf) {
      uint64 span = 1UL << (12 + 9 * level);
      *gpa1 = ((ent & NPT_ADDR) & ~(span - 1)) | (gpa2 & (span - 1));
      *dirty = (ent & NPT_DIRTY) != 0;
      return 0;
    }
    table = ent & NPT_ADDR;
  }
  return -1;
}

// L2 address -> L1 address without permission checks (guestmem.c reads
// L2's memory for the kernel's own instruction emulation).
int nested_l2_to_l1(struct vcpu *v, uint64 gpa2, uint64 *gpa1)
{
  int w, nx, dirty;
  uint64 err;
  return walk_l1(v, gpa2, 0, gpa1, &w, &nx, &dirty, &err);
}

// An NPF of vmcb02 (v->vmcb) with L1's nested paging on. 1: the shadow now
// maps the page, or the NPF went to L1; -2: L1's table leads to an address
// that is not RAM of L1's, or to a page L0 maps read-only and L2 writes
// (L1's MMIO: EXITINFO2 now holds that L1 address, the NPF is L0's, as if
// L1 had made the access); -1: out of memory, or vmcb12 gone.
int nested_npt_fault(struct vcpu *v, struct vm_exit *e)
{
  struct nested_svm *n = v->nested;
  struct vmcb_control *c = &v->vmcb->control;
  uint64 gpa2 = c->exitinfo2, access = c->exitinfo1, gpa1, err, hpa, perm0;
  int w, nx, dirty;
  int r = walk_l1(v, gpa2, access | NPF_U, &gpa1, &w, &nx, &dirty, &err);
  if (r == 0 && (((access & NPF_W) && !w) || ((access & NPF_ID) && nx)))
    r = -1, err = NPF_P;   // present, but the right is missing
  if (r < 0) {
    c->exitinfo1 = (access & (NPF_W | NPF_ID | NPF_FINAL)) | NPF_U | err;
    c->eventinj = 0;
    e->kexits++;
    return nested_vmexit(v) < 0 ? -1 : 1;
  }
  if (npt_lookup(vm_npt(v->vm), gpa1, &hpa, &perm0) < 0 || ((access & NPF_W) && !(perm0 & NPT_W))) {
    c->exitinfo2 = gpa1;   // the VMM's device (or read-only page) at L1's address
    return -2;
  }
  if (n->shadow.npages >= SHADOW_MAX_PAGES) {
    nested_npt_drop(v);
    uint64 root;
    if (nested_npt_root(v, &root) < 0)
      return -1;
    c->ncr3 = root;
    vmcb_mark_all_dirty(v->vmcb);
  }
  uint64 perm = (w && dirty && (perm0 & NPT_W) ? NPT_W : 0) | (nx || (perm0 & NPT_NX) ? NPT_NX : 0);
  uint64 page2 = gpa2 & ~(uint64)(PGSIZE - 1);
  uint64 old, oldperm;
  int had = npt_lookup(&n->shadow, page2, &old, &oldperm) == 0;
  if (had)
    npt_unmap(&n->shadow, page2, PGSIZE);   // narrower rights than both tables give now
  if (npt_map(&n->shadow, page2, hpa & ~(uint64)(PGSIZE - 1), PGSIZE, perm) < 0)
    return -1;
  if (had)
    vcpu_flush_tlb(v);   // vmcb02's ASID may cache the old entry
  n->nshadow_faults++;
  e->kexits++;
  return 1;
}
