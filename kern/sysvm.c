// The vmm system calls (numbers 32..44, kern/syscall.h; ABI in kern/vmabi.h).
// Mechanism only: a VM is a nested page table over the process's own memory
// plus vcpus; policy (devices, CPUID, hypercalls) is the user-space VMM's.
//
// Every argument comes from user space: handles are checked against the
// caller's pid, addresses against the caller's page table, sizes for
// overflow; errors are -E* codes, never panics.
//
// A VM belongs to a process, and any of its threads may use it at once
// (a VMM runs one thread per vcpu). vmlock guards the slot table and two
// claims: a vcpu is claimed by the one thread that runs it or reads or
// writes its registers (a second one gets -EBUSY), and the VM's layout
// (vm_map, vm_unmap, vcpu_create, vm_destroy, sbrk's frame drop) changes
// under a sleeping lock, one thread at a time. vm_destroy refuses (-EBUSY)
// while a vcpu is claimed. vm_proc_exit runs when no thread is left.
#include "defs.h"
#include "cpu.h"
#include "proc.h"
#include "errno.h"
#include "spinlock.h"
#include "vmabi.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "svm/nested.h"
#include "../lib/string.h"

#define NVM 32

struct vm {
  int used;
  int pid;                              // owner
  struct npt npt;                       // guest-physical -> host-physical
  struct vmcb_perm perm;                // I/O and MSR permission maps (all intercepted)
  struct vcpu *vcpu[VCPU_MAX_PER_VM];
  int nvcpu;
  int busy[VCPU_MAX_PER_VM];            // claimed by a thread (vcpu_claim), under vmlock
  int layout;                           // a thread changes the layout (vm_hold), under vmlock
  int dying;                            // vm_destroy under way: no more claims
};

static struct vm vms[NVM];
static struct spinlock vmlock = {0, "vm", 0};


// The caller's VM h with its layout lock held (vm_unhold), or NULL. Waits
// while another thread of the process holds it.
static struct vm *vm_hold(int h)
{
  if (h < 0 || h >= NVM)
    return NULL;
  struct vm *vm = &vms[h];
  acquire(&vmlock);
  while (vm->used && vm->pid == myproc()->pid && vm->layout)
    sleep(&vm->layout, &vmlock);
  if (!vm->used || vm->pid != myproc()->pid || vm->dying) {
    release(&vmlock);
    return NULL;
  }
  vm->layout = 1;
  release(&vmlock);
  return vm;
}

static void vm_unhold(struct vm *vm)
{
  acquire(&vmlock);
  vm->layout = 0;
  wakeup(&vm->layout);
  release(&vmlock);
}

// Claims vcpu i of the caller's VM h for this thread (vcpu_release):
// *err is -ESRCH without such a vcpu, -EBUSY while another thread has it.
static struct vcpu *vcpu_claim(int h, int i, int *err)
{
  struct vcpu *v = NULL;
  *err = -ESRCH;
  acquire(&vmlock);
  struct vm *vm = h >= 0 && h < NVM ? &vms[h] : NULL;
  if (vm && vm->used && !vm->dying && vm->pid == myproc()->pid && i >= 0 && i < vm->nvcpu) {
    *err = -EBUSY;
    if (!vm->busy[i]) {
      vm->busy[i] = 1;
      v = vm->vcpu[i];
    }
  }
  release(&vmlock);
  return v;
}

static void vcpu_release(struct vcpu *v)
{
  acquire(&vmlock);
  ((struct vm *)v->vm)->busy[v->id] = 0;
  release(&vmlock);
}

// The VM's nested page table, for the kernel's own reads of guest memory.
struct npt *vm_npt(struct vm *vm) { return &vm->npt; }

// Frees everything of vm; the slot becomes free last. The vcpus leave the
// table under vmlock first: vcpu_irq and vcpu_kick of a child look them up
// under it (vcpu_get_shared).
static void vm_free(struct vm *vm)
{
  acquire(&vmlock);
  int n = vm->nvcpu;
  vm->nvcpu = 0;
  release(&vmlock);
  for (int i = 0; i < n; i++)
    vcpu_free(vm->vcpu[i]);
  npt_free(&vm->npt);
  vmcb_perm_free(&vm->perm);
  acquire(&vmlock);
  vm->used = 0;
  release(&vmlock);
}

// Claims a free slot for pid: the index, -EAGAIN when pid has its maximum,
// -ENOSPC when the table is full.
static int vm_slot(int pid)
{
  int h = -ENOSPC, mine = 0;
  acquire(&vmlock);
  for (int i = 0; i < NVM; i++) {
    if (vms[i].used && vms[i].pid == pid)
      mine++;
    else if (!vms[i].used && h < 0)
      h = i;
  }
  if (mine >= VM_MAX_PER_PROC)
    h = -EAGAIN;
  if (h >= 0) {
    memset(&vms[h], 0, sizeof vms[h]);
    vms[h].used = 1;
    vms[h].pid = pid;
  }
  release(&vmlock);
  return h;
}

// ktests only (guestmem_test.c): a VM of no process with its nested page
// table, for the kernel's own reads of guest memory; ktest_vm_free frees it.
struct vm *ktest_vm_alloc(void)
{
  int h = vm_slot(0);
  if (h < 0)
    return NULL;
  if (npt_init(&vms[h].npt) < 0) {
    vm_free(&vms[h]);
    return NULL;
  }
  return &vms[h];
}

void ktest_vm_free(struct vm *vm) { vm_free(vm); }

// int vm_create(void)
uint64 sys_vm_create(void)
{
  int r = svm_guard();
  if (r < 0)
    return r;
  int h = vm_slot(myproc()->pid);
  if (h < 0)
    return h;
  struct vm *vm = &vms[h];
  if (npt_init(&vm->npt) < 0 || vmcb_perm_alloc(&vm->perm) < 0) {
    vm_free(vm);
    return -ENOMEM;
  }
  svm_msrpm_passthrough(vm->perm.msrpm);
  return h;
}

// int vm_destroy(int vm)
uint64 sys_vm_destroy(void)
{
  struct vm *vm = vm_hold(argint(0));
  if (!vm)
    return -ESRCH;
  int busy = 0;
  acquire(&vmlock);
  for (int i = 0; i < vm->nvcpu; i++)
    busy |= vm->busy[i];
  vm->dying = !busy;
  release(&vmlock);
  if (busy) {
    vm_unhold(vm);
    return -EBUSY;   // another thread runs one of its vcpus
  }
  vm_free(vm);   // frees the slot: layout and dying go with it
  acquire(&vmlock);
  wakeup(&vm->layout);
  release(&vmlock);
  return 0;
}

// Checks a guest-physical range: page-aligned, non-empty, below VM_MAX_GPA.
static int gpa_range_ok(uint64 gpa, uint64 len)
{
  return len && gpa % PGSIZE == 0 && len % PGSIZE == 0 && gpa < VM_MAX_GPA && len <= VM_MAX_GPA - gpa;
}

// After the nested page table lost entries, each vcpu's next VMRUN flushes
// the TLB: cached guest-physical translations may point at the old pages.
static void vm_flush_tlbs(struct vm *vm)
{
  for (int i = 0; i < vm->nvcpu; i++) {
    vcpu_flush_tlb(vm->vcpu[i]);         // lab 3
    nested_tlb_flush_all(vm->vcpu[i]);   // lab 9: vmcb01, vmcb02 and the shadow NPT
  }
}

// int vm_map(int vm, uint64 gpa, void *uva, uint64 len, int flags)
static uint64 vm_map_held(struct vm *vm);

// The user page table stays as it is throughout (uvm_hold, taken before
// the VM as growproc takes them): the frames looked up must not be freed
// by a sibling's sbrk before the nested table has them, where sbrk's
// vm_uvm_drop finds them.
uint64 sys_vm_map(void)
{
  uvm_hold();
  struct vm *vm = vm_hold(argint(0));
  uint64 r = -ESRCH;
  if (vm) {
    r = vm_map_held(vm);
    vm_unhold(vm);
  }
  uvm_unhold();
  return r;
}

static uint64 vm_map_held(struct vm *vm)
{
  uint64 gpa = argraw(1), uva = argraw(2), len = argraw(3);
  int flags = argint(4);
  if (!gpa_range_ok(gpa, len) || uva % PGSIZE || (flags & ~VM_MAP_RWX) || !(flags & VM_MAP_R))
    return -EINVAL;
  pte_t *pml4 = myproc()->pml4;
  if (uvm_check(pml4, uva, len, (flags & VM_MAP_W) ? PTE_W : 0) < 0)
    return -EFAULT;
  uint64 perm = ((flags & VM_MAP_W) ? NPT_W : 0) | ((flags & VM_MAP_X) ? NPT_X : NPT_NX);
  for (uint64 off = 0; off < len; off += PGSIZE) {
    uint64 hpa = PTE_ADDR(*uvm_lookup(pml4, uva + off));
    int r = npt_map(&vm->npt, gpa + off, hpa, PGSIZE, perm);
    if (r < 0) {
      if (off)
        npt_unmap(&vm->npt, gpa, off);
      vm_flush_tlbs(vm);
      return r;
    }
  }
  vm_flush_tlbs(vm);   // a page may have replaced another one
  return 0;
}

// int vm_unmap(int vm, uint64 gpa, uint64 len)
uint64 sys_vm_unmap(void)
{
  struct vm *vm = vm_hold(argint(0));
  uint64 gpa = argraw(1), len = argraw(2);
  if (!vm)
    return -ESRCH;
  int r = -EINVAL;
  if (gpa_range_ok(gpa, len)) {
    r = npt_unmap(&vm->npt, gpa, len);
    vm_flush_tlbs(vm);
  }
  vm_unhold(vm);
  return r;
}

// int vcpu_create(int vm, int mode): the new vcpu's index. The VMCB starts
// in `mode` at RIP 0 (set the registers before running).
static uint64 vcpu_create_held(struct vm *vm, int mode);

uint64 sys_vcpu_create(void)
{
  struct vm *vm = vm_hold(argint(0));
  if (!vm)
    return -ESRCH;
  uint64 r = vcpu_create_held(vm, argint(1));
  vm_unhold(vm);
  return r;
}

static uint64 vcpu_create_held(struct vm *vm, int mode)
{
  if (mode < 0 || mode > VM_MODE_MAX)
    return -EINVAL;
  if (vm->nvcpu >= VCPU_MAX_PER_VM)
    return -ENOSPC;
  struct vcpu *v = vcpu_alloc();
  if (!v)
    return -ENOMEM;
  struct vmcb_setup s = {.mode = (enum guest_mode)mode, .asid = 1, .ncr3 = vm->npt.pml4_pa};
  vmcb_init_control(v->vmcb, &s, &vm->perm);
  vmcb_init_save(v->vmcb, &s);
  svm_force_intercepts(v->vmcb);
  v->vm = (struct vm *)vm;
  v->id = vm->nvcpu;
  acquire(&vmlock);
  vm->vcpu[vm->nvcpu] = v;
  vm->busy[vm->nvcpu] = 0;
  int id = vm->nvcpu++;
  release(&vmlock);
  return id;
}

static void seg_out(struct vm_seg *d, const struct vmcb_seg *s)
{
  d->sel = s->selector;
  d->attr = s->attrib;
  d->limit = s->limit;
  d->base = s->base;
}

static void seg_in(struct vmcb_seg *d, const struct vm_seg *s)
{
  d->selector = s->sel;
  d->attrib = s->attr & 0xFFF;
  d->limit = s->limit;
  d->base = s->base;
}

// VMCB save area + software-switched registers -> struct vm_regs.
static void regs_out(struct vcpu *v, struct vm_regs *r)
{
  struct vmcb_save *s = &v->vmcb->save;
  struct svm_gprs *g = &v->gprs;
  memset(r, 0, sizeof *r);
  r->rax = s->rax, r->rbx = g->rbx, r->rcx = g->rcx, r->rdx = g->rdx;
  r->rsi = g->rsi, r->rdi = g->rdi, r->rbp = g->rbp, r->rsp = s->rsp;
  r->r8 = g->r8, r->r9 = g->r9, r->r10 = g->r10, r->r11 = g->r11;
  r->r12 = g->r12, r->r13 = g->r13, r->r14 = g->r14, r->r15 = g->r15;
  r->rip = s->rip, r->rflags = s->rflags;
  r->cr0 = s->cr0, r->cr2 = s->cr2, r->cr3 = s->cr3, r->cr4 = s->cr4;
  r->efer = (s->efer & ~EFER_SVME) | (v->lme_pending ? EFER_LME : 0);   // no SVM; LME as the guest set it
  seg_out(&r->cs, &s->cs), seg_out(&r->ds, &s->ds), seg_out(&r->es, &s->es);
  seg_out(&r->fs, &s->fs), seg_out(&r->gs, &s->gs), seg_out(&r->ss, &s->ss);
  seg_out(&r->tr, &s->tr), seg_out(&r->ldtr, &s->ldtr);
  seg_out(&r->gdtr, &s->gdtr), seg_out(&r->idtr, &s->idtr);
}

// struct vm_regs -> VMCB. EFER.SVME stays set and RFLAGS bit 1 too; any
// other illegal combination is VMRUN's to refuse (VMEXIT_INVALID, §15.5.1).
static void regs_in(struct vcpu *v, const struct vm_regs *r)
{
  struct vmcb_save *s = &v->vmcb->save;
  struct svm_gprs *g = &v->gprs;
  struct vm_regs old;
  regs_out(v, &old);
  s->rax = r->rax, g->rbx = r->rbx, g->rcx = r->rcx, g->rdx = r->rdx;
  g->rsi = r->rsi, g->rdi = r->rdi, g->rbp = r->rbp, s->rsp = r->rsp;
  g->r8 = r->r8, g->r9 = r->r9, g->r10 = r->r10, g->r11 = r->r11;
  g->r12 = r->r12, g->r13 = r->r13, g->r14 = r->r14, g->r15 = r->r15;
  s->rip = r->rip, s->rflags = r->rflags | FL_RSVD1;
  s->cr0 = r->cr0, s->cr2 = r->cr2, s->cr3 = r->cr3, s->cr4 = r->cr4;
  s->efer = r->efer | EFER_SVME;
  v->lme_pending = 0;               // LME without PG was refused above: r->efer is all of it
  seg_in(&s->cs, &r->cs), seg_in(&s->ds, &r->ds), seg_in(&s->es, &r->es);
  seg_in(&s->fs, &r->fs), seg_in(&s->gs, &r->gs), seg_in(&s->ss, &r->ss);
  seg_in(&s->tr, &r->tr), seg_in(&s->ldtr, &r->ldtr);
  seg_in(&s->gdtr, &r->gdtr), seg_in(&s->idtr, &r->idtr);
  s->cpl = (r->cs.attr >> 5) & 3;   // CPL follows CS.DPL (§15.5.1)
  vcpu_regs_dirty(v, &old, r);      // lab 3: the clean bits of what changed
}

// int vcpu_getregs(int vm, int vcpu, struct vm_regs *r)
uint64 sys_vcpu_getregs(void)
{
  int err;
  struct vcpu *v = vcpu_claim(argint(0), argint(1), &err);
  if (!v)
    return err;
  struct vm_regs r;
  regs_out(v, &r);
  vcpu_release(v);
  return copyout(myproc()->pml4, argraw(2), &r, sizeof r) < 0 ? -EFAULT : 0;
}

// 1 if r's paging state is one a CPU can be in (as KVM's kvm_is_valid_sregs
// checks): CR0.PG needs CR0.PE; EFER.LMA = EFER.LME && CR0.PG; long mode
// needs CR4.PAE. And, stricter than a CPU, EFER.LME needs CR0.PG (cr0.c). VMRUN's consistency checks (APM Vol. 2 §15.5.1) do not
// cover all of it, and QEMU runs a guest with EFER.LMA=1 and CR0.PG=0
// without ever leaving it again, not even for host interrupts.
static int regs_paging_ok(const struct vm_regs *r)
{
  int pg = (r->cr0 & CR0_PG) != 0, lme = (r->efer & EFER_LME) != 0, lma = (r->efer & EFER_LMA) != 0;
  if ((pg && !(r->cr0 & CR0_PE)) || (lme && !pg))
    return 0;   // LME without PG: see kern/svm/cr0.c
  if (lme && pg)
    return lma && (r->cr4 & CR4_PAE);
  return !lma;
}

// int vcpu_setregs(int vm, int vcpu, const struct vm_regs *r): -EINVAL for
// a paging state no CPU can be in.
uint64 sys_vcpu_setregs(void)
{
  int err;
  struct vcpu *v = vcpu_claim(argint(0), argint(1), &err);
  if (!v)
    return err;
  struct vm_regs r;
  if (copyin(myproc()->pml4, &r, argraw(2), sizeof r) < 0)
    err = -EFAULT;
  else if (!regs_paging_ok(&r))
    err = -EINVAL;
  else
    regs_in(v, &r), err = 0;
  vcpu_release(v);
  return err;
}

// int vcpu_run(int vm, int vcpu, struct vm_exit *e): runs until an exit for
// user space; the record goes to *e. -EINTR if the process was killed,
// -EBUSY while another thread runs the vcpu.
static uint64 vcpu_run_claimed(struct vcpu *v);

uint64 sys_vcpu_run(void)
{
  int err;
  struct vcpu *v = vcpu_claim(argint(0), argint(1), &err);
  if (!v)
    return err;
  uint64 r = vcpu_run_claimed(v);
  vcpu_release(v);
  return r;
}

static uint64 vcpu_run_claimed(struct vcpu *v)
{
  uint64 ue = argraw(2);
  struct vm_exit e;
  if (copyin(myproc()->pml4, &e, ue, sizeof e) < 0 || uvm_check(myproc()->pml4, ue, sizeof e, PTE_W) < 0)
    return -EFAULT;
  if ((e.run_flags & ~VM_RUN_FLAGS) || ((e.run_flags & VM_RUN_SET_CR8) && e.cr8 > 15))
    return -EINVAL;
  int r = vcpu_run(v, &e);
  if (r < 0)
    return r;
  if (copyout(myproc()->pml4, ue, &e, sizeof e) < 0)
    return -EFAULT;
  return myproc()->killed ? -EINTR : 0;
}

// int vcpu_inject(int vm, int vcpu, const struct vm_event *ev)
uint64 sys_vcpu_inject(void)
{
  int err;
  struct vcpu *v = vcpu_claim(argint(0), argint(1), &err);
  if (!v)
    return err;
  struct vm_event ev;
  if (copyin(myproc()->pml4, &ev, argraw(2), sizeof ev) < 0)
    err = -EFAULT;
  else
    err = vcpu_inject_event(v, &ev);
  vcpu_release(v);
  return err;
}

// ---- lab 5: the interrupt line, kicks, time, console input ---------------

// Runs fn on vcpu i of VM h for the VM's owner or a child of the owner (a
// helper process may assert the line or kick while the owner sits in
// vcpu_run). vmlock is held throughout, so the vcpu cannot be freed under
// it. -ESRCH if there is no such vcpu for the caller.
static int vcpu_get_shared(int h, int i, void (*fn)(struct vcpu *, int), int arg)
{
  struct proc *p = myproc();
  int ppid = p->leader->parent ? p->leader->parent->pid : -1;   // parent is the leader's
  int r = -ESRCH;
  acquire(&vmlock);
  if (h >= 0 && h < NVM && vms[h].used && (vms[h].pid == p->pid || vms[h].pid == ppid) && i >= 0 &&
      i < vms[h].nvcpu) {
    fn(vms[h].vcpu[i], arg);
    r = 0;
  }
  release(&vmlock);
  return r;
}

static void do_irq(struct vcpu *v, int vector) { vcpu_set_irq_line(v, vector < 0 ? 0 : vector); }
static void do_kick(struct vcpu *v, int unused) { vcpu_kick(v); }

// int vcpu_irq(int vm, int vcpu, int vector): vector 32..255 asserts the
// line, -1 lowers it.
uint64 sys_vcpu_irq(void)
{
  int vector = argint(2);
  if (vector != VM_IRQ_NONE && (vector < VM_IRQ_VECTOR_MIN || vector > 255))
    return -EINVAL;
  return vcpu_get_shared(argint(0), argint(1), do_irq, vector);
}

// int vcpu_cpuid(int vm, int vcpu, const struct vm_cpuid_entry *t, int n):
// the vcpu's CPUID table (kern/vmabi.h, kern/svm/cpuid_table.c).
uint64 sys_vcpu_cpuid(void)
{
  int err, n = argint(3);
  if (n < 0 || n > VM_CPUID_MAX)
    return -EINVAL;
  struct vm_cpuid_entry *t = n ? kalloc() : NULL;
  if (n && !t)
    return -ENOMEM;
  struct vcpu *v = vcpu_claim(argint(0), argint(1), &err);
  if (v) {
    err = n && copyin(myproc()->pml4, t, argraw(2), n * sizeof *t) < 0 ? -EFAULT : svm_cpuid_set(v, t, n);
    vcpu_release(v);
  }
  if (t)
    kfree(t);
  return err;
}

// int vcpu_kick(int vm, int vcpu)
uint64 sys_vcpu_kick(void) { return vcpu_get_shared(argint(0), argint(1), do_kick, 0); }

// long clock_ns(void)
uint64 sys_clock_ns(void) { return clock_ns(); }

// long cons_read(char *buf, long n): raw console bytes, 0 if none wait.
uint64 sys_cons_read(void)
{
  uint64 ubuf = argraw(0);
  int64 n = arglong(1);
  if (n < 0)
    return -EINVAL;
  if (n == 0)
    return 0;
  if (uvm_check(myproc()->pml4, ubuf, n, PTE_W) < 0)
    return -EFAULT;
  char buf[64];
  int64 got = 0;
  int c = 0;
  while (got < n && c >= 0) {
    int k = 0;
    while (k < (int)sizeof buf && got + k < n && (c = console_getc_nonblock()) >= 0)
      buf[k++] = c;
    if (k && copyout(myproc()->pml4, ubuf + got, buf, k) < 0)
      return -EFAULT;
    got += k;
  }
  return got;
}

// Clears every leaf of the nested table below `table` (level 3 = PML4) that
// maps one of the n frames in hpa[].
static void npt_drop_level(pte_t *table, int level, const uint64 *hpa, int n)
{
  for (int i = 0; i < 512; i++) {
    if (!(table[i] & PTE_P))
      continue;
    if (level > 0) {
      npt_drop_level(P2V(PTE_ADDR(table[i])), level - 1, hpa, n);
      continue;
    }
    for (int k = 0; k < n; k++)
      if (PTE_ADDR(table[i]) == hpa[k])
        table[i] = 0;
  }
}

// Removes the frames hpa[0..n) from every VM of the caller's process pid.
static void vm_drop_frames(int pid, const uint64 *hpa, int n)
{
  for (int i = 0; i < NVM; i++) {
    struct vm *vm = vm_hold(i);   // NULL unless pid's
    if (!vm)
      continue;
    if (vm->npt.pml4) {
      npt_drop_level(vm->npt.pml4, 3, hpa, n);
      vm_flush_tlbs(vm);
    }
    vm_unhold(vm);
  }
}

// The calling process is about to free its user pages [start, end) (sbrk
// with a negative size): its VMs must stop mapping those frames, or a guest
// would read and write pages the kernel hands out again. Pages are looked
// up in batches of one page of frame numbers.
void vm_uvm_drop(pte_t *pml4, uint64 start, uint64 end)
{
  int pid = myproc()->pid, n = 0;
  uint64 *hpa = kalloc();
  for (uint64 a = PGROUNDUP(start); a < end; a += PGSIZE) {
    pte_t *pte = uvm_lookup(pml4, a);
    if (!pte || !(*pte & PTE_P))
      continue;
    if (!hpa) {   // out of memory: one frame at a time
      uint64 one = PTE_ADDR(*pte);
      vm_drop_frames(pid, &one, 1);
      continue;
    }
    hpa[n++] = PTE_ADDR(*pte);
    if (n == PGSIZE / 8)
      vm_drop_frames(pid, hpa, n), n = 0;
  }
  if (hpa) {
    vm_drop_frames(pid, hpa, n);
    kfree(hpa);
  }
}

// Frees every VM pid still owns (exit() calls this before dropping the
// address space, so no guest can touch the pages once they are freed).
void vm_proc_exit(int pid)
{
  for (int i = 0; i < NVM; i++) {
    acquire(&vmlock);
    int mine = vms[i].used && vms[i].pid == pid;
    release(&vmlock);
    if (mine)
      vm_free(&vms[i]);
  }
}
