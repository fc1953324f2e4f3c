// MMIO exits: a guest access to a guest-physical range that a device model
// owns arrives as a nested page fault (the range is never mapped). The VMM
// fetches the instruction at the guest's RIP through the guest's paging,
// decodes and emulates it (decode.c, emulate.c), sends the access to the
// device, and writes the registers back with RIP past the instruction
// (KVM: x86_emulate_instruction -> emulator_read_emulated/write_emulated).
// A fault on the way (instruction fetch or operand) becomes a #PF for the
// guest, as on a CPU; an instruction the decoder does not cover ends the guest
// with a report naming its bytes.
#include "vmm.h"
#include "gva.h"
#include "mmio.h"
#include "x86emu.h"

#define MAX_DEVS 16
static struct mmio_dev devs[MAX_DEVS];
static int ndevs;
uint64 mmio_emulated;   // instructions emulated (this VMM process runs one guest)

// Registers a device; -1 if it overlaps another or the table is full.
// A part of lab 7 not written yet: say which, and stop this VMM.
void x86_missing(const char *what)
{
  printf("vmm: lab 7: %s not implemented\n", what);
  exit(1);
}

int mmio_add(const struct mmio_dev *d)
{
  if (ndevs == MAX_DEVS || d->len == 0 || d->base + d->len < d->base)
    return -1;
  for (int i = 0; i < ndevs; i++)
    if (d->base < devs[i].base + devs[i].len && devs[i].base < d->base + d->len)
      return -1;
  devs[ndevs++] = *d;
  return 0;
}

// Moves the window of the device whose context is dev to base (the local
// APIC when the guest writes APIC_BASE). -1 if no such device or the new
// window would overlap another device's.
int mmio_move(void *dev, uint64 base)
{
  int k = -1;
  for (int i = 0; i < ndevs; i++)
    if (devs[i].dev == dev)
      k = i;
  if (k < 0 || base + devs[k].len < base)
    return -1;
  for (int i = 0; i < ndevs; i++)
    if (i != k && base < devs[i].base + devs[i].len && devs[i].base < base + devs[k].len)
      return -1;
  devs[k].base = base;
  return 0;
}

// For the device fuzzer (guestfuzz d), which runs many guests in one
// process: forget every device; and the i'th device, or NULL.
void mmio_reset(void) { ndevs = 0; }
const struct mmio_dev *mmio_dev_at(int i) { return i >= 0 && i < ndevs ? &devs[i] : NULL; }

const struct mmio_dev *mmio_find(uint64 gpa)
{
  for (int i = 0; i < ndevs; i++)
    if (gpa - devs[i].base < devs[i].len)
      return &devs[i];
  return NULL;
}

// What one emulation needs in its memory callbacks.
struct emu {
  struct guest *g;
  struct vm_regs *r;
  int pf;            // GVA_FAULT | error code of a faulting access, else 0
  uint64 pf_la;
  const char *why;   // a reason the VMM gives up (no #PF to inject)
};

// One data access at linear address la: RAM or a device, never across a page.
static int access_la(struct emu *x, uint64 la, void *buf, int n, int write)
{
  uint64 gpa;
  if ((la & 0xFFF) + n > 0x1000)
    return x->why = "an MMIO access crosses a page boundary", -1;
  int t = gva_translate(x->g, x->r, la, write ? GVA_WRITE : GVA_READ, &gpa);
  if (t == GVA_BADTABLE)
    return x->why = x->g->e.nested.l2_np ? "L2's page tables lie outside RAM or L1's nested table refuses the access"
                                         : "a guest page table lies outside guest RAM", -1;
  if (t) {
    x->pf = t, x->pf_la = la;
    return -1;
  }
  const struct mmio_dev *d = mmio_find(gpa);
  if (d)
    return write ? d->write(d->dev, gpa - d->base, buf, n) : d->read(d->dev, gpa - d->base, buf, n);
  if (gpa + n > x->g->hdr.memsize && x->g->open_bus && gpa >= x->g->hdr.memsize) {
    x->g->open_bus_accesses++;   // nothing answers: all ones, writes lost (a PC's open bus)
    if (!write)
      memset(buf, 0xFF, n);
    return 0;
  }
  if (gpa + n > x->g->hdr.memsize)
    return x->why = "an operand lies in unbacked guest-physical memory", -1;
  if (write)
    memcpy(x->g->mem + gpa, buf, n);
  else
    memcpy(buf, x->g->mem + gpa, n);
  return 0;
}
static int emu_read(void *ctx, uint64 la, void *buf, int n) { return access_la(ctx, la, buf, n, 0); }
static int emu_write(void *ctx, uint64 la, const void *buf, int n) { return access_la(ctx, la, (void *)buf, n, 1); }

// The code segment's size: 64 in long mode with CS.L, else CS.D (bits 9 and
// 10 of the VMCB attribute format), 16 in real mode.
static int cpu_mode(const struct vm_regs *r)
{
  if (!(r->cr0 & 1))
    return 16;
  if ((r->efer & (1UL << 10)) && (r->cs.attr & (1 << 9)))
    return 64;
  return (r->cs.attr & (1 << 10)) ? 32 : 16;
}

// LAB 7 BEGIN
// Copies up to 15 instruction bytes at CS:RIP, page by page. Returns how many
// it got; a fault on the first byte's page is recorded in x.
static int fetch_insn(struct emu *x, int mode, uint8 *buf)
{
  uint64 la = x->r->cs.base + x->r->rip;
  if (mode != 64)
    la = (uint32)la;
  int got = 0;
  while (got < 15) {
    uint64 gpa;
    int t = gva_translate(x->g, x->r, la + got, GVA_FETCH, &gpa);
    if (t || gpa >= x->g->hdr.memsize) {
      if (t && t != GVA_BADTABLE)
        x->pf = t, x->pf_la = la + got;
      else
        x->why = "the instruction is not in guest RAM";
      break;
    }
    int n = 0x1000 - ((la + got) & 0xFFF);
    if (n > 15 - got)
      n = 15 - got;
    if (gpa + n > x->g->hdr.memsize)
      n = x->g->hdr.memsize - gpa;
    memcpy(buf + got, x->g->mem + gpa, n);
    got += n;
  }
  return got;
}
// LAB 7 STUB
// // LAB 7: fetch_insn() copies the bytes of the instruction at CS:RIP (up to 15) from guest RAM
// // into buf, through the guest's page tables (GVA_FETCH), and returns how many it got. A fault on
// // the way is recorded in x (pf, pf_la) for the caller to raise if the decoder needed those
// // bytes; code outside guest RAM sets x->why instead.
// static int fetch_insn(struct emu *x, int mode, uint8 *buf)
// {
//   x86_missing("fetch_insn (user/vmm/mmio.c)");
// }
// LAB 7 END

static const int8 gpr_of[16] = {0, 2, 3, 1, 7, 6, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15};
// vm_regs order: rax rbx rcx rdx rsi rdi rbp rsp r8.. -> x86 encoding order.

// General register i (x86 encoding order, X86_RAX ..) of r.
uint64 *mmio_gpr(struct vm_regs *r, int i) { return &r->rax + gpr_of[i & 15]; }

static void regs_to_cpu(const struct vm_regs *r, struct x86_cpu *c, int mode)
{
  const uint64 *v = &r->rax;
  for (int i = 0; i < 16; i++)
    c->gpr[i] = v[gpr_of[i]];
  c->rip = r->rip, c->rflags = r->rflags, c->mode = mode;
  c->intel = 0;   // AMD's REP-string behaviour (x86emu.h)
  const struct vm_seg *s[X86_NSEG] = {&r->es, &r->cs, &r->ss, &r->ds, &r->fs, &r->gs};
  for (int i = 0; i < X86_NSEG; i++)
    c->seg_base[i] = s[i]->base;
}

static void cpu_to_regs(const struct x86_cpu *c, struct vm_regs *r)
{
  uint64 *v = &r->rax;
  for (int i = 0; i < 16; i++)
    v[gpr_of[i]] = c->gpr[i];
  r->rip = c->rip, r->rflags = c->rflags;
}

// Raises the page fault an access met: CR2 = the address, error code pushed.
static int inject_pf(struct guest *g, struct vm_regs *r, const struct emu *x)
{
  r->cr2 = x->pf_la;
  struct vm_event ev = {VM_EVENT_EXCEPTION, 14, x->pf & 0xFFFF, VM_EVENT_F_ERROR | VM_EVENT_F_FAULT};
  int e = vcpu_setregs(g->vm, g->vcpu, r);
  if (e >= 0)
    e = vcpu_inject(g->vm, g->vcpu, &ev);
  if (e < 0)
    guest_fail(g, "injecting #PF at 0x%lx: %s", x->pf_la, errstr(e));
  return e >= 0;
}

// Ends the guest with the instruction's bytes (the first six and "..." when
// its length is unknown: the console line has room for a summary only).
static int refuse(struct guest *g, const struct vm_regs *r, const uint8 *b, int n, int known, const char *why)
{
  char hex[64];
  int k = 0, show = known ? n : (n < 6 ? n : 6);
  for (int i = 0; i < show; i++)
    k += snprintf(hex + k, sizeof hex - k, "%s%02x", i ? " " : "", b[i]);
  snprintf(hex + k, sizeof hex - k, "%s", show < n ? "..." : "");
  guest_fail(g, "MMIO gpa 0x%lx rip 0x%lx: %s (%s)", g->e.u.npf.gpa, r->rip, why, n ? hex : "no bytes");
  return 0;
}

// An NPF exit in a device's range. 1 to run on, 0 when the guest has ended.
int mmio_exit(struct guest *g)
{
  struct vm_regs r;
  int e = vcpu_getregs(g->vm, g->vcpu, &r);
  if (e < 0)
    return guest_fail(g, "vcpu_getregs: %s", errstr(e)), 0;
  struct emu x = {g, &r, 0, 0, NULL};
  uint8 bytes[15];
  int mode = cpu_mode(&r), n = fetch_insn(&x, mode, bytes);
  struct x86_insn in;
  int d = x86_decode(bytes, n, mode, &in);
  if (d == X86_E_TRUNCATED && x.pf)
    return inject_pf(g, &r, &x);
  if (d < 0)
    return refuse(g, &r, bytes, n, 0, x86_error(d));
  x.pf = 0;   // a fault past the instruction's last byte does not matter
  x.why = NULL;
  struct x86_cpu cpu;
  regs_to_cpu(&r, &cpu, mode);
  struct x86_mem mem = {emu_read, emu_write, &x};
  d = x86_emulate(&cpu, &in, &mem);
  cpu_to_regs(&cpu, &r);
  if (d < 0 && x.pf)
    return inject_pf(g, &r, &x);
  if (d < 0)
    return refuse(g, &r, bytes, in.len, 1, x.why ? x.why : "the device refused the access");
  if ((e = vcpu_setregs(g->vm, g->vcpu, &r)) < 0)
    return guest_fail(g, "vcpu_setregs: %s", errstr(e)), 0;
  g->insn_done = 1;   // the kernel ends a shadow and raises TF's #DB (VM_RUN_INSN_DONE)
  mmio_emulated++;
  return 1;
}
