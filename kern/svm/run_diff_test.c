// Randomized differential ktests for lab 4 (run): the exit record and the
// completion of every instruction the VMM emulates, in real mode, 16- and
// 32-bit protected mode with non-zero segment bases, 64-bit mode and
// compatibility mode (32-bit code under long mode, bases as in legacy). The
// oracle is the CPU itself, running a twin instruction natively in the same
// guest from the same registers, so that this file states no rule lab 4
// asks for:
//   - the completed IN, CPUID, RDMSR: MOVs of the answer into the same
//     registers with the same widths (the CPU widens or merges them);
//   - string I/O's rSI/rDI and rCX: LEA and MOV with the instruction's
//     address size as their operand and address size (the CPU wraps and
//     writes them), by the element count times the size, down with DF;
//   - the string's linear address (gva): LODSB or SCASB with INS/OUTS's own
//     segment override and address size reads seg:rSI or ES:rDI natively in
//     a guest where nothing is mapped there: the nested page fault (or, in
//     64-bit mode, the intercepted #PF) says where. Where it lands on memory
//     or is not canonical the case has no gva oracle and is counted.
// The VMMCALL return value and the exit record's other fields are the VMM
// ABI's (kern/vmabi.h).
//
//   ktest=run_diff seed=N [cases=N]   IN/OUT/INS/OUTS, CPUID, RDMSR/WRMSR,
//                                     VMMCALL, HLT
//   ktest=run_events seed=N           every event type re-injected after an
//                                     NPF cut its delivery short
//
// Each case writes one instruction (random prefixes, operand and address
// sizes, segment overrides, DF) followed by HLT at the guest's RIP, loads
// random registers (upper halves set in 64-bit mode, bit 31 often set),
// runs to the exit, checks the record, fills in random results (and
// scribbles on the parts of the record user space must not change), runs
// to the HLT and compares every register with the rule. A mismatch prints
// the seed, the case, the bytes and both values; grade/lab_run.py says how
// to replay it.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "mmu.h"
#include "errno.h"
#include "ktest.h"
#include "vmabi.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "../lib/string.h"
#include "../lib/fmt.h"

#define NPAGES 8          // guest-physical 0x0000-0x7FFF
#define CODE 0x1000       // linear address of the instruction under test
#define PML4 0x2000       // 64-bit mode: PML4, PDPT, PD (one 2 MiB identity page)
#define STACK_PAGE 0x6000 // run_events: the page the delivery faults on
#define MAX_REPORTS 3     // mismatches printed in full per test
#define NO_HOLE 1         // dguest_new: every page mapped

// M_C32: compatibility mode (EFER.LMA=1, CS.L=0, CS.D=1): 32-bit code
// whose segments have bases and wrap at 4 GiB as in legacy mode (APM Vol. 2
// §4.12 "Segmentation in Long Mode" applies 64-bit rules only with CS.L=1).
enum { M_REAL, M_P16, M_P32, M_L64, M_C32, NMODES };
static const char *const mode_name[NMODES] = {"real", "prot16", "prot32", "long64", "compat32"};

struct dguest {
  struct npt npt;
  struct vmcb_perm perm;
  struct vcpu *v;
  uint8 *mem[NPAGES];
  int mode;
};

// ---- randomness (ktest_rnd, kern/ktest.c) -------------------------------------

// A value that makes wrong code visible: all bits random, bit 31 set, or
// small; 32 bits wide outside 64-bit mode (the upper half of a register is
// not defined there, APM Vol. 1 §3.1.2.3).
static uint64 value(int mode)
{
  uint64 x = ktest_rnd();
  switch (ktest_below(4)) {
  case 0: x |= 0x80000000UL; break;
  case 1: x &= 0xFFFF; break;
  }
  return mode == M_L64 ? x : (uint32)x;
}

// ---- the guest --------------------------------------------------------------

static void dguest_free(struct dguest *g)
{
  if (g->v)
    vcpu_free(g->v);
  for (int i = 0; i < NPAGES; i++)
    if (g->mem[i])
      kfree(g->mem[i]);
  npt_free(&g->npt);
  vmcb_perm_free(&g->perm);
}

// A guest in mode with NPAGES pages of memory (all but `hole`, if non-zero,
// mapped). 0 or -ENOMEM.
static int dguest_new(struct dguest *g, int mode, uint64 hole)
{
  memset(g, 0, sizeof *g);
  g->mode = mode;
  if (npt_init(&g->npt) < 0 || vmcb_perm_alloc(&g->perm) < 0 || !(g->v = vcpu_alloc()))
    return -ENOMEM;
  for (int i = 0; i < NPAGES; i++) {
    if (!(g->mem[i] = kalloc()))
      return -ENOMEM;
    memset(g->mem[i], 0xF4, PGSIZE);   // HLT everywhere
    if ((uint64)i * PGSIZE != hole && npt_map(&g->npt, i * PGSIZE, V2P(g->mem[i]), PGSIZE, NPT_W) < 0)
      return -ENOMEM;
  }
  enum guest_mode gm = mode == M_REAL ? GUEST_REAL : mode >= M_L64 ? GUEST_LONG64 : GUEST_PROT32;
  struct vmcb_setup s = {.mode = gm, .rip = CODE, .rsp = 0x7F00, .cr3 = PML4, .asid = 1, .ncr3 = g->npt.pml4_pa};
  uint64 *pt = (uint64 *)g->mem[PML4 / PGSIZE];
  pt[0] = (PML4 + 0x1000) | PTE_P | PTE_W | PTE_U;
  pt = (uint64 *)g->mem[PML4 / PGSIZE + 1];
  pt[0] = (PML4 + 0x2000) | PTE_P | PTE_W | PTE_U;
  pt = (uint64 *)g->mem[PML4 / PGSIZE + 2];
  pt[0] = PTE_P | PTE_W | PTE_U | PTE_PS;
  vmcb_init_control(g->v->vmcb, &s, &g->perm);
  vmcb_init_save(g->v->vmcb, &s);
  svm_force_intercepts(g->v->vmcb);
  return 0;
}

// vcpu_run with interrupts on, past exits for host timer ticks.
static int drun(struct dguest *g, struct vm_exit *e)
{
  uint64 f = rflags();
  int r;
  sti();
  do
    r = vcpu_run(g->v, e);
  while (r == 0 && e->reason == VM_EXIT_INTR);
  if (!(f & FL_IF))
    cli();
  return r;
}

// ---- one case: the instruction and the rule --------------------------------

enum kind { K_IO, K_STR, K_CPUID, K_RDMSR, K_WRMSR, K_VMMCALL, K_HLT, NKINDS };

struct insn {
  enum kind kind;
  uint8 b[16];
  int len;
  int in, size, rep, asize, seg;   // I/O: direction, operand and address size, segment (EXITINFO1 numbering)
  uint16 port;
};

struct regs {
  uint64 rax, g[14];   // g: struct svm_gprs order (rbx, rcx, rdx, rsi, rdi, rbp, r8..r15)
};
#define RBX 0
#define RCX 1
#define RDX 2
#define RSI 3
#define RDI 4

static const int seg_prefix[6] = {0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65};

static uint64 mask_of(int bytes) { return bytes >= 8 ? ~0UL : (1UL << (8 * bytes)) - 1; }

static int default_size(int mode) { return mode == M_REAL || mode == M_P16 ? 2 : 4; }
static int default_asize(int mode) { return mode == M_L64 ? 8 : default_size(mode); }

// A random instruction of kind k for mode; its bytes go to CODE.
static void gen(struct insn *x, int k, int mode, struct regs *r)
{
  memset(x, 0, sizeof *x);
  x->kind = k;
  int n = 0, opsize = 1 + (int)ktest_below(2), wide = default_size(mode);
  x->asize = default_asize(mode);
  x->seg = 3;   // DS
  if (k == K_STR) {
    if (ktest_below(2)) {   // a segment override: OUTS uses it, INS ignores it
      x->seg = ktest_below(6);
      x->b[n++] = seg_prefix[x->seg];
    }
    if (ktest_below(2)) {
      x->b[n++] = 0x67;
      x->asize = x->asize == 4 ? 2 : 4;
    }
  } else if (k == K_IO && ktest_below(4) == 0)
    x->b[n++] = 0x67;   // no effect on IN/OUT
  if (k == K_IO || k == K_STR) {
    x->size = opsize == 1 ? 1 : wide;
    if (opsize == 2 && ktest_below(2)) {
      x->b[n++] = 0x66;
      x->size = wide == 2 ? 4 : 2;
    }
    if (k == K_STR && ktest_below(3)) {
      x->b[n++] = 0xF3;
      x->rep = 1;
    }
    x->in = ktest_below(2);
  }
  switch (k) {
  case K_IO:
    if (ktest_below(2)) {
      x->port = ktest_below(256);
      x->b[n++] = (x->in ? 0xE4 : 0xE6) | (opsize - 1);
      x->b[n++] = x->port;
    } else {
      x->port = r->g[RDX];
      x->b[n++] = (x->in ? 0xEC : 0xEE) | (opsize - 1);
    }
    break;
  case K_STR:
    x->port = r->g[RDX];
    x->b[n++] = (x->in ? 0x6C : 0x6E) | (opsize - 1);
    if (x->in)
      x->seg = 0;   // ES, whatever the prefix
    if (x->asize == 8 && x->rep)
      r->g[RCX] = (uint32)r->g[RCX];   // the exit record counts in 32 bits
    if (ktest_below(3) == 0) {   // rSI/rDI just below the end of the address size: the count runs past it
      uint64 am = mask_of(x->asize), *p = &r->g[x->in ? RDI : RSI];
      *p = (*p & ~am) | ((0 - (1 + ktest_below(8)) * x->size) & am);
    }
    break;
  case K_CPUID: x->b[n++] = 0x0F; x->b[n++] = 0xA2; break;
  case K_RDMSR: x->b[n++] = 0x0F; x->b[n++] = 0x32; break;
  case K_WRMSR: x->b[n++] = 0x0F; x->b[n++] = 0x30; break;
  case K_VMMCALL: x->b[n++] = 0x0F; x->b[n++] = 0x01; x->b[n++] = 0xD9; break;
  case K_HLT: x->b[n++] = 0xF4; break;
  }
  if ((k == K_RDMSR || k == K_WRMSR) && (uint32)r->g[RCX] == MSR_EFER)
    r->g[RCX] ^= 1;   // the kernel keeps EFER to itself
  x->len = n;
}

// ---- the CPU as the oracle: twin instructions run natively ----------------

static void get_regs(struct vcpu *v, struct regs *r)
{
  r->rax = v->vmcb->save.rax;
  memmove(r->g, &v->gprs, sizeof r->g);
}

static void set_regs(struct vcpu *v, const struct regs *r)
{
  v->vmcb->save.rax = r->rax;
  memmove(&v->gprs, r->g, sizeof r->g);
}


static int put(uint8 *b, int n, uint64 v, int bytes)
{
  for (int i = 0; i < bytes; i++)
    b[n++] = v >> (8 * i);
  return n;
}

// The operand-size prefix that makes an instruction's operand `bytes` wide in
// mode (none for the mode's default), and REX.W for 8.
static int opsize_prefix(uint8 *b, int n, int mode, int bytes)
{
  if (bytes == 8)
    b[n++] = 0x48;
  else if (bytes != 1 && bytes != 4 && default_size(mode) == 4)
    b[n++] = 0x66;
  else if (bytes == 4 && default_size(mode) == 2)
    b[n++] = 0x66;
  return n;
}

// MOV of val into register r (encoding number: 0 rAX, 1 rCX, 2 rDX, 3 rBX)
// with an operand of `bytes` (1 only for AL).
static int mov_imm(uint8 *b, int n, int mode, int r, int bytes, uint64 val)
{
  if (bytes == 1) {
    b[n++] = 0xB0 + r;
    return put(b, n, val, 1);
  }
  n = opsize_prefix(b, n, mode, bytes);
  b[n++] = 0xB8 + r;
  return put(b, n, val, bytes);
}

// LEA p, [p + step] with operand and address size asize: the register a
// string instruction steps, stepped as the CPU steps an address. p: 6 rSI
// or 7 rDI. 64-bit steps go through R15 (set by the caller).
static int lea_step(uint8 *b, int n, int mode, int p, int asize, uint64 step)
{
  if (asize == 8) {   // REX.W REX.X: lea p, [p + r15]
    b[n++] = 0x4A, b[n++] = 0x8D, b[n++] = (p << 3) | 4, b[n++] = (7 << 3) | p;
    return n;
  }
  n = opsize_prefix(b, n, mode, asize);
  if (asize != default_asize(mode))
    b[n++] = 0x67;
  b[n++] = 0x8D;
  if (asize == 2) {   // [si + disp16] is r/m 100, [di + disp16] 101
    b[n++] = 0x80 | (p << 3) | (p == 6 ? 4 : 5);
    return put(b, n, step, 2);
  }
  b[n++] = 0x80 | (p << 3) | p;   // [esi/edi + disp32]
  return put(b, n, step, 4);
}

// Runs code (then HLT) at CODE from registers r, RFLAGS fl, the guest's
// segments; the exit into *e. 0, or -1 if vcpu_run failed.
static int run_twin(struct dguest *g, const uint8 *code, int len, const struct regs *r, uint64 fl, uint64 rip,
                    struct vm_exit *e)
{
  struct vcpu *v = g->v;
  memmove(g->mem[CODE / PGSIZE], code, len);
  g->mem[CODE / PGSIZE][len] = 0xF4;
  vcpu_cancel_completion(v);
  set_regs(v, r);
  v->vmcb->save.rip = rip;
  v->vmcb->save.rflags = fl;
  vmcb_mark_all_dirty(v->vmcb);
  memset(e, 0, sizeof *e);
  return drun(g, e);
}

// The registers after the instruction completed with the VMM's answer *u,
// as the CPU computes them in the twin; 0, or what went wrong in buf.
static const char *twin_after(struct dguest *g, const struct insn *x, const struct regs *before,
                              const struct vm_exit *u, uint64 rflags, uint64 rip, struct regs *after, char *buf,
                              int bn)
{
  int mode = g->mode, n = 0, p = x->in ? 7 : 6;
  uint8 b[48];
  struct regs in = *before;
  *after = *before;
  switch (x->kind) {
  case K_IO:
    if (!x->in)
      return 0;
    n = mov_imm(b, n, mode, 0, x->size, u->u.io.data);
    break;
  case K_STR: {
    uint64 am = mask_of(x->asize), count = x->rep ? before->g[RCX] & am : 1;
    uint64 step = count * x->size;
    if (rflags & FL_DF)
      step = -step;
    in.g[13] = step;   // R15, for a 64-bit step
    n = lea_step(b, n, mode, p, x->asize, step);
    if (x->rep)
      n = mov_imm(b, n, mode, 1, x->asize, 0);
    break;
  }
  case K_CPUID:
    n = mov_imm(b, n, mode, 0, 4, u->u.cpuid.eax);
    n = mov_imm(b, n, mode, 3, 4, u->u.cpuid.ebx);
    n = mov_imm(b, n, mode, 1, 4, u->u.cpuid.ecx);
    n = mov_imm(b, n, mode, 2, 4, u->u.cpuid.edx);
    break;
  case K_RDMSR:
    n = mov_imm(b, n, mode, 0, 4, (uint32)u->u.msr.value);
    n = mov_imm(b, n, mode, 2, 4, u->u.msr.value >> 32);
    break;
  case K_VMMCALL:
    after->rax = u->u.hypercall.ret;   // the ABI: all of RAX (kern/vmabi.h)
    return 0;
  default:
    return 0;
  }
  struct vm_exit e;
  struct regs out;
  if (run_twin(g, b, n, &in, rflags, rip, &e) < 0 || e.reason != VM_EXIT_HLT || e.rip != rip + n) {
    snprintf(buf, bn, "the native twin did not reach its HLT (exit %u at rip 0x%lx)", e.reason, e.rip);
    return buf;
  }
  get_regs(g->v, &out);
  if (x->kind == K_STR) {
    after->g[p == 7 ? RDI : RSI] = out.g[p == 7 ? RDI : RSI];
    after->g[RCX] = out.g[RCX];
  } else {
    after->rax = out.rax;
    after->g[RBX] = out.g[RBX], after->g[RCX] = out.g[RCX], after->g[RDX] = out.g[RDX];
  }
  return 0;
}

// The linear address string I/O x starts at, as the CPU forms it: LODSB
// (OUTS: seg:rSI, the override counts) or SCASB (INS: ES:rDI, it does not)
// with x's own prefixes but REP and 66, in a guest whose memory ends at
// NPAGES pages: the nested page fault's address (paging is off outside
// 64-bit mode, identity below 2 MiB in it) or the intercepted #PF's. In
// 64-bit mode the ES, CS, SS and DS bases, which the CPU ignores there, are
// 0 for the probe (QEMU adds them when an override names the segment). 1 with
// *gva set; 0 when the CPU reached memory or raised #GP (not canonical).
static int probe_gva(struct dguest *g, const struct insn *x, const struct regs *r, uint64 fl, uint64 rip,
                     uint64 *gva)
{
  struct vmcb_save *s = &g->v->vmcb->save;
  struct vmcb_seg *ign[4] = {&s->es, &s->cs, &s->ss, &s->ds};
  uint64 saved[4];
  uint8 b[16];
  int n = 0;
  for (int i = 0; i < x->len - 1; i++)
    if (x->b[i] != 0xF3 && x->b[i] != 0x66)
      b[n++] = x->b[i];
  b[n++] = x->in ? 0xAE : 0xAC;
  for (int i = 0; i < 4; i++) {
    saved[i] = ign[i]->base;
    if (g->mode == M_L64)
      ign[i]->base = 0;
  }
  struct vmcb_control *c = &g->v->vmcb->control;
  uint32 exc0 = c->intercepts[INTERCEPT_WORD_EXC];
  c->intercepts[INTERCEPT_WORD_EXC] = exc0 | (1u << 13) | (1u << 14);   // #GP, #PF
  struct vm_exit e;
  int r0 = run_twin(g, b, n, r, fl, rip, &e);
  c->intercepts[INTERCEPT_WORD_EXC] = exc0;
  for (int i = 0; i < 4; i++)
    ign[i]->base = saved[i];
  vmcb_mark_all_dirty(g->v->vmcb);
  if (r0 < 0)
    return 0;
  if (e.reason == VM_EXIT_NPF)
    return *gva = e.u.npf.gpa, 1;
  if (e.reason == VM_EXIT_EXCEPTION && e.u.exception.vector == 14)
    return *gva = e.exitinfo2, 1;
  return 0;
}

// The exit record the instruction must produce; "" if *e matches, else
// what differs, in buf.
static const char *record_problem(const struct insn *x, const struct regs *r, int have_gva, uint64 gva,
                                  uint64 rip, const struct vm_exit *e, char *buf, int n)
{
  static const uint32 reason[NKINDS] = {VM_EXIT_IO, VM_EXIT_IO, VM_EXIT_CPUID, VM_EXIT_MSR, VM_EXIT_MSR,
                                        VM_EXIT_VMMCALL, VM_EXIT_HLT};
  if (e->reason != reason[x->kind] || e->rip != rip) {
    snprintf(buf, n, "exit reason %u at rip 0x%lx (expected %u at 0x%lx; code 0x%lx)", e->reason, e->rip,
             reason[x->kind], rip, e->code);
    return buf;
  }
  const uint64 *g = r->g;
  if (x->kind == K_IO || x->kind == K_STR) {
    uint64 am = mask_of(x->asize);
    uint32 count = x->kind == K_STR && x->rep ? g[RCX] & am : 1;
    if (x->kind != K_STR || !have_gva)
      gva = e->u.io.gva;   // nothing to compare
    uint64 data = x->kind == K_IO && !x->in ? r->rax & mask_of(x->size) : 0;
    if (e->u.io.port != x->port || e->u.io.in != x->in || e->u.io.size != x->size ||
        e->u.io.string != (x->kind == K_STR) || e->u.io.rep != x->rep || e->u.io.count != count ||
        (x->kind == K_STR && e->u.io.gva != gva) || (x->kind == K_IO && !x->in && e->u.io.data != data)) {
      snprintf(buf, n,
               "I/O record port 0x%x in %u size %u string %u rep %u count %u gva 0x%lx data 0x%lx (expected port "
               "0x%x in %u size %u string %u rep %u count %u gva 0x%lx data 0x%lx; address size %d, segment %d)",
               e->u.io.port, e->u.io.in, e->u.io.size, e->u.io.string, e->u.io.rep, e->u.io.count,
               x->kind == K_STR ? e->u.io.gva : 0, x->kind == K_IO && !x->in ? e->u.io.data : 0, x->port, x->in,
               x->size, x->kind == K_STR, x->rep, count, gva, data, x->asize * 8, x->seg);
      return buf;
    }
  } else if (x->kind == K_CPUID) {
    if (e->u.cpuid.leaf != (uint32)r->rax || e->u.cpuid.subleaf != (uint32)g[RCX]) {
      snprintf(buf, n, "CPUID leaf 0x%x subleaf 0x%x (expected 0x%x, 0x%x)", e->u.cpuid.leaf, e->u.cpuid.subleaf,
               (uint32)r->rax, (uint32)g[RCX]);
      return buf;
    }
  } else if (x->kind == K_RDMSR || x->kind == K_WRMSR) {
    uint64 val = ((uint64)(uint32)g[RDX] << 32) | (uint32)r->rax;
    uint32 w = x->kind == K_WRMSR;
    if (e->u.msr.msr != (uint32)g[RCX] || e->u.msr.write != w || (w && e->u.msr.value != val)) {
      snprintf(buf, n, "MSR 0x%x write %u value 0x%lx (expected 0x%x write %d value 0x%lx)", e->u.msr.msr,
               e->u.msr.write, w ? e->u.msr.value : 0, (uint32)g[RCX], w, w ? val : 0);
      return buf;
    }
  } else if (x->kind == K_VMMCALL) {
    if (e->u.hypercall.rax != r->rax || e->u.hypercall.rbx != g[RBX] || e->u.hypercall.rcx != g[RCX] ||
        e->u.hypercall.rdx != g[RDX]) {
      snprintf(buf, n, "VMMCALL rax..rdx 0x%lx 0x%lx 0x%lx 0x%lx (expected 0x%lx 0x%lx 0x%lx 0x%lx)",
               e->u.hypercall.rax, e->u.hypercall.rbx, e->u.hypercall.rcx, e->u.hypercall.rdx, r->rax, g[RBX],
               g[RCX], g[RDX]);
      return buf;
    }
  }
  return 0;
}

// Random answers from "user space", and junk in every field it must leave alone.
static void answer(const struct insn *x, struct vm_exit *e, int mode)
{
  switch (x->kind) {
  case K_IO:
  case K_STR:
    e->u.io.data = ktest_rnd();
    e->u.io.port = ktest_rnd();   // the kernel completes from its own copy of the exit
    e->u.io.size = 1 << ktest_below(3);
    e->u.io.in ^= ktest_below(2);
    e->u.io.string ^= ktest_below(2);
    e->u.io.rep ^= ktest_below(2);
    e->u.io.asize = 1 << ktest_below(4);
    e->u.io.count = ktest_rnd();
    e->u.io.gva = ktest_rnd();
    break;
  case K_CPUID:
    e->u.cpuid.eax = value(mode) | (ktest_below(2) << 31);
    e->u.cpuid.ebx = value(mode);
    e->u.cpuid.ecx = value(mode);
    e->u.cpuid.edx = value(mode) | (ktest_below(2) << 31);
    break;
  case K_RDMSR:
  case K_WRMSR:
    e->u.msr.value = ktest_rnd();   // after a WRMSR: nothing to complete
    break;
  case K_VMMCALL:
    e->u.hypercall.ret = ktest_rnd();
    break;
  default:
    break;
  }
}

// Random segment bases (non-zero, code still at linear CODE) and RIP.
static uint64 place(struct vmcb_save *s, int mode)
{
  struct vmcb_seg *data[5] = {&s->es, &s->ss, &s->ds, &s->fs, &s->gs};
  if (mode == M_REAL) {
    uint64 cs = 1 + ktest_below(0xFF);
    s->cs.selector = cs;
    s->cs.base = cs << 4;
    // A real-mode access adds the segment's hidden base, which is selector * 16
    // only since the last load: after a return from protected mode without a
    // reload it is whatever was loaded there. One segment in four has such a base.
    for (int i = 0; i < 5; i++) {
      data[i]->selector = ktest_rnd();
      data[i]->base = ktest_below(4) ? (uint64)data[i]->selector << 4 : (uint32)ktest_rnd();
    }
  } else {
    s->cs.base = 1 + ktest_below(CODE - 1);
    if (mode == M_P16)
      s->cs.attrib &= ~SEG_ATTR_DB;
    if (mode == M_C32)
      s->cs.attrib = (s->cs.attrib & ~SEG_ATTR_L) | SEG_ATTR_DB;
    if (mode == M_L64)
      s->cs.base = 0;
    for (int i = 0; i < 5; i++)
      data[i]->base = mode == M_L64 ? (ktest_rnd() & 0x7FFFFFFFFFFFUL) | 1 : (uint32)ktest_rnd() | 1;
  }
  return CODE - s->cs.base;
}

struct tally {
  uint64 cases, bad, reported, strings, gvas;
  uint64 seed;
};

static void report(struct tally *t, uint64 n, int mode, const struct insn *x, const char *what)
{
  t->bad++;
  if (t->reported++ >= MAX_REPORTS)
    return;
  char bytes[64] = "";
  int k = 0;
  for (int i = 0; i < x->len && k < 40; i++)
    k += snprintf(bytes + k, sizeof bytes - k, "%s%02x", i ? " " : ", bytes ", x->b[i]);
  printf("mismatch: seed %lu case %lu (%s%s): %s\n", t->seed, n, mode_name[mode], bytes, what);
  KCHECK(0, "seed %lu case %lu agrees with the architecture (the mismatch line above says how not)", t->seed, n);
}

// Compares the registers after completion with the rule; the message in buf.
static const char *regs_problem(const struct regs *got, const struct regs *want, const struct regs *before,
                                char *buf, int n)
{
  static const char *const names[15] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
                                        "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
  const uint64 *a = &got->rax, *b = &want->rax, *c = &before->rax;
  for (int i = 0; i < 15; i++)
    if (a[i] != b[i]) {
      snprintf(buf, n, "after completion %s = 0x%lx (expected 0x%lx; it was 0x%lx before)", names[i], a[i], b[i],
               c[i]);
      return buf;
    }
  return 0;
}

// One case in g (already in its mode). Returns 0, or -1 if the guest is
// unusable (the test then stops).
static int one_case(struct dguest *g, struct tally *t, uint64 n)
{
  struct vcpu *v = g->v;
  struct vmcb_save *s = &v->vmcb->save;
  struct vm_exit e;
  struct insn x;
  struct regs before, want, got;
  char buf[320];
  const char *p;
  int mode = g->mode;
  vcpu_cancel_completion(v);
  uint64 rip = place(s, mode);
  before.rax = value(mode);
  for (int i = 0; i < 14; i++)
    before.g[i] = value(mode);
  gen(&x, ktest_below(NKINDS), mode, &before);
  uint64 fl = FL_RSVD1 | (ktest_below(2) ? FL_DF : 0), gva = 0;
  int have_gva = x.kind == K_STR && probe_gva(g, &x, &before, fl, rip, &gva);
  t->strings += x.kind == K_STR;
  t->gvas += have_gva;
  memmove(g->mem[CODE / PGSIZE], x.b, x.len);
  g->mem[CODE / PGSIZE][x.len] = 0xF4;
  vcpu_cancel_completion(v);
  set_regs(v, &before);
  s->rip = rip;
  s->rflags = fl;
  v->vmcb->control.int_state = 0;
  vmcb_mark_all_dirty(v->vmcb);
  memset(&e, 0, sizeof e);
  t->cases++;
  if (drun(g, &e) < 0) {
    report(t, n, mode, &x, "vcpu_run failed");
    return -1;
  }
  if ((p = record_problem(&x, &before, have_gva, gva, rip, &e, buf, sizeof buf))) {
    report(t, n, mode, &x, p);
    return e.reason == VM_EXIT_SHUTDOWN || e.reason == VM_EXIT_INVALID ? -1 : 0;
  }
  uint64 rflags0 = s->rflags;
  answer(&x, &e, mode);
  struct vm_exit u = e;
  if (drun(g, &e) < 0 || e.reason != VM_EXIT_HLT || e.rip != rip + (x.kind == K_HLT ? 1 : x.len)) {
    snprintf(buf, sizeof buf, "the next exit is %u at rip 0x%lx (expected HLT, %u, at 0x%lx: the instruction is "
             "%d bytes)", e.reason, e.rip, VM_EXIT_HLT, rip + x.len, x.len);
    report(t, n, mode, &x, buf);
    return e.reason == VM_EXIT_SHUTDOWN || e.reason == VM_EXIT_INVALID ? -1 : 0;
  }
  get_regs(v, &got);
  if ((p = twin_after(g, &x, &before, &u, rflags0, rip, &want, buf, sizeof buf))) {
    report(t, n, mode, &x, p);
    return -1;
  }
  // (The interrupt shadow is checked by run_inside: QEMU 7.2 neither takes
  // it from int_state at VMRUN nor reports it at exits.)
  if ((p = regs_problem(&got, &want, &before, buf, sizeof buf)))
    report(t, n, mode, &x, p);
  return 0;
}

KTEST(run_diff)
{
  struct tally t = {.seed = ktest_num("seed", 1)};
  uint64 per_mode = ktest_num("cases", 1000);
  ktest_seed(t.seed);
  printf("run_diff: seed %lu, %lu cases per mode\n", t.seed, per_mode);
  for (int mode = 0; mode < NMODES; mode++) {
    struct dguest g;
    uint64 bad0 = t.bad, c0 = t.cases, s0 = t.strings, v0 = t.gvas;
    if (dguest_new(&g, mode, NO_HOLE) < 0) {
      KCHECK(0, "%s guest set up (out of memory)", mode_name[mode]);
      dguest_free(&g);
      continue;
    }
    for (uint64 n = 0; n < per_mode; n++)
      if (one_case(&g, &t, c0 + n) < 0)
        break;
    KCHECK(t.bad == bad0 && t.cases - c0 == per_mode, "%s mode: %lu cases, %lu mismatches (seed %lu)",
           mode_name[mode], t.cases - c0, t.bad - bad0, t.seed);
    printf("run_diff: %s mode: %lu of %lu string cases had a gva from the CPU\n", mode_name[mode], t.gvas - v0,
           t.strings - s0);
    dguest_free(&g);
  }
}

// ---- run_events: EXITINTINFO re-injection of every event type --------------

#define EV_IDT 0x5000      // IDT (256 interrupt gates) on a page of its own; GDT at 0
#define EV_MAIN 0x1800     // where the guest sits when the event comes
#define EV_HANDLER(v) ((uint64)CODE + 2 * (v))   // each handler: hlt; hlt (memory is all HLT)

enum evkind { EV_INTR, EV_NMI, EV_EXC_ERR, EV_EXC, EV_INTN, EV_INT3, EV_INTO, NEVKINDS };
static const char *const evname[NEVKINDS] = {"external interrupt", "NMI", "exception with error code",
                                             "exception", "INT n", "INT3", "INTO"};

// A flat 32-bit guest with a GDT and an IDT whose gate v leads to EV_HANDLER(v),
// its stack on STACK_PAGE (not mapped yet).
static void events_guest(struct dguest *g)
{
  struct vmcb_save *s = &g->v->vmcb->save;
  uint64 *gdt = (uint64 *)g->mem[0];
  gdt[0] = 0;
  gdt[1] = 0x00CF9A000000FFFFUL;   // 0x08: flat 32-bit code
  gdt[2] = 0x00CF92000000FFFFUL;   // 0x10: flat data
  uint32 *idt = (uint32 *)g->mem[EV_IDT / PGSIZE];
  for (int v = 0; v < 256; v++) {   // 32-bit interrupt gates (APM Vol. 2 §4.8.4)
    idt[2 * v] = (EV_HANDLER(v) & 0xFFFF) | (0x08 << 16);
    idt[2 * v + 1] = (EV_HANDLER(v) & 0xFFFF0000) | 0x8E00;
  }
  s->gdtr.base = 0;
  s->gdtr.limit = 0x17;
  s->idtr.base = EV_IDT;
  s->idtr.limit = 256 * 8 - 1;
  s->rsp = STACK_PAGE + 0x800;
  s->rip = EV_MAIN;
}

static const uint8 exc_err[] = {8, 10, 11, 12, 13, 14, 17};
static const uint8 exc_noerr[] = {0, 1, 3, 4, 5, 6, 7, 16, 18, 19};

// Sets up event k: injected (EVENTINJ) or raised by the instruction at
// EV_MAIN. *vec, *err (has_err) and *ret (the return EIP it must push).
static void events_arm(struct dguest *g, int k, int *vec, int *has_err, uint32 *err, uint64 *ret)
{
  struct vmcb_control *c = &g->v->vmcb->control;
  uint8 *code = g->mem[EV_MAIN / PGSIZE] + EV_MAIN % PGSIZE;
  *has_err = 0;
  *err = 0;
  *ret = EV_MAIN;
  switch (k) {
  case EV_INTR:
    *vec = 32 + ktest_below(224);
    c->eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_INTR | *vec;
    break;
  case EV_NMI:
    *vec = 2;
    c->eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_NMI | 2;
    break;
  case EV_EXC_ERR:
    *vec = exc_err[ktest_below(sizeof exc_err)];
    *has_err = 1;
    *err = ktest_rnd() | 0x80000000u;
    c->eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_VALID_ERR | SVM_EVTINJ_TYPE_EXEPT | *vec |
                  ((uint64)*err << SVM_EVTINJ_ERR_SHIFT);
    break;
  case EV_EXC:
    *vec = exc_noerr[ktest_below(sizeof exc_noerr)];
    c->eventinj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_EXEPT | *vec;
    break;
  case EV_INTN:   // the guest's own INT n, INT3, INTO: the return address is past the instruction
    *vec = 32 + ktest_below(224);
    code[0] = 0xCD;
    code[1] = *vec;
    *ret = EV_MAIN + 2;
    break;
  case EV_INT3:
    *vec = 3;
    code[0] = 0xCC;
    *ret = EV_MAIN + 1;
    break;
  case EV_INTO:
    *vec = 4;
    code[0] = 0xCE;
    g->v->vmcb->save.rflags |= 0x800;   // OF
    *ret = EV_MAIN + 1;
    break;
  }
}

// One event: its delivery takes an NPF on the stack page or the IDT's page;
// after the page is mapped it must arrive exactly once, with its error code
// and return address.
static void one_event(struct tally *t, uint64 n, int k)
{
  struct dguest g;
  struct vm_exit e;
  struct insn x = {.len = 0};
  char buf[240];
  int vec = 0, has_err = 0;
  uint32 err = 0;
  uint64 ret = 0;
  memset(&e, 0, sizeof e);
  t->cases++;
  uint64 hole = ktest_below(2) ? STACK_PAGE : EV_IDT;
  if (dguest_new(&g, M_P32, hole) < 0) {
    report(t, n, M_P32, &x, "guest set up (out of memory)");
    goto out;
  }
  events_guest(&g);
  events_arm(&g, k, &vec, &has_err, &err, &ret);
  int r = drun(&g, &e);
  if (r < 0 || e.reason != VM_EXIT_NPF || (e.u.npf.gpa & ~0xFFFUL) != hole ||
      (e.exitintinfo & 0xFF) != (uint64)vec || !(e.exitintinfo & SVM_EVTINJ_VALID)) {
    snprintf(buf, sizeof buf, "%s %d: first exit %u gpa 0x%lx EXITINTINFO 0x%lx (expected an NPF on the %s page "
             "0x%lx during the delivery of vector %d)", evname[k], vec, e.reason, e.u.npf.gpa, e.exitintinfo,
             hole == STACK_PAGE ? "stack" : "IDT", hole, vec);
    report(t, n, M_P32, &x, buf);
    goto out;
  }
  if (npt_map(&g.npt, hole, V2P(g.mem[hole / PGSIZE]), PGSIZE, NPT_W) < 0) {
    report(t, n, M_P32, &x, "page mapped (out of memory)");
    goto out;
  }
  uint32 *top = (uint32 *)(g.mem[STACK_PAGE / PGSIZE] + 0x800);
  uint64 esp = STACK_PAGE + 0x800 - 12 - (has_err ? 4 : 0);
  r = drun(&g, &e);
  uint32 *sp = top - 3 - has_err;
  if (r < 0 || e.reason != VM_EXIT_HLT || e.rip != EV_HANDLER(vec) || g.v->vmcb->save.rsp != esp ||
      (has_err && sp[0] != err) || sp[has_err] != ret) {
    snprintf(buf, sizeof buf, "%s %d: after the page was mapped: exit %u at rip 0x%lx, ESP 0x%lx, stack 0x%x "
             "0x%x (expected HLT in the handler at 0x%lx, ESP 0x%lx, %s%x and return EIP 0x%lx)", evname[k], vec,
             e.reason, e.rip, g.v->vmcb->save.rsp, sp[0], sp[1], EV_HANDLER(vec), esp,
             has_err ? "error code 0x" : "no error code", has_err ? err : 0, ret);
    report(t, n, M_P32, &x, buf);
    goto out;
  }
  r = drun(&g, &e);
  if (r < 0 || e.reason != VM_EXIT_HLT || e.rip != EV_HANDLER(vec) + 1 || g.v->vmcb->save.rsp != esp) {
    snprintf(buf, sizeof buf, "%s %d: delivered more than once: after the handler's HLT, exit %u at rip 0x%lx ESP "
             "0x%lx (expected HLT at 0x%lx, ESP 0x%lx)", evname[k], vec, e.reason, e.rip, g.v->vmcb->save.rsp,
             EV_HANDLER(vec) + 1, esp);
    report(t, n, M_P32, &x, buf);
  }
out:
  dguest_free(&g);
}

KTEST(run_events)
{
  struct tally t = {.seed = ktest_num("seed", 1)};
  uint64 per_kind = ktest_num("cases", 8);
  ktest_seed(t.seed);
  printf("run_events: seed %lu, %lu cases per event type\n", t.seed, per_kind);
  for (int k = 0; k < NEVKINDS; k++) {
    uint64 bad0 = t.bad;
    for (uint64 i = 0; i < per_kind; i++)
      one_event(&t, k * per_kind + i, k);
    KCHECK(t.bad == bad0, "%s: %lu cases re-injected once, %lu wrong (seed %lu)", evname[k], per_kind, t.bad - bad0,
           t.seed);
  }
}

// ---- run_exits: every exit the kernel intercepts reaches its handler --------

// Runs code (len bytes) at EV_MAIN of a flat 32-bit guest with an IDT (or
// at CODE of a 64-bit one) and returns the first exit the VMM sees.
static int exit_of(int mode, const uint8 *code, int len, uint64 rax, uint64 cr4, uint32 exc, struct vm_exit *e,
                   struct dguest *g)
{
  memset(e, 0, sizeof *e);
  if (dguest_new(g, mode, NO_HOLE) < 0)
    return -ENOMEM;
  if (mode == M_P32)
    events_guest(g);
  struct vmcb_save *s = &g->v->vmcb->save;
  uint64 at = mode == M_P32 ? EV_MAIN : CODE;
  memmove(g->mem[at / PGSIZE] + at % PGSIZE, code, len);
  s->rip = at;
  s->rax = rax;
  s->cr4 |= cr4;
  g->v->vmcb->control.intercepts[INTERCEPT_WORD_EXC] |= exc;
  return drun(g, e);
}

struct exit_case {
  const char *what;
  int mode;
  uint8 code[8];
  int len;
  uint64 rax, cr4;
  uint32 exc;         // exception intercepts
  uint32 reason;      // the exit the VMM must see
  uint64 rip;         // at this RIP
  int vector;         // VM_EXIT_EXCEPTION: this vector
  uint64 fake;        // reported instead of the first exit's code (exits QEMU 7.2 never makes)
};

#define UD_AT EV_HANDLER(6)   // the guest's #UD handler: HLT there means the kernel injected #UD
static const struct exit_case exit_cases[] = {
  {"ud2 with #UD intercepted", M_REAL, {0x0F, 0x0B}, 2, 0, 0, 1u << 6, VM_EXIT_EXCEPTION, CODE, 6},
  {"div by zero with #DE intercepted", M_REAL, {0x31, 0xC9, 0xF7, 0xF1}, 4, 0, 0, 1u << 0, VM_EXIT_EXCEPTION, CODE + 2, 0},
  // CR0/CR8 writes need a VM (cr0.c reads the instruction through it): the
  // hostile_lmexit and hostile_cr8 guests of lab_run.py cover them.
  // QEMU 7.2 runs XSETBV without the intercept and never makes an NMI exit
  // of its own here: both faked over a CPUID exit.
  {"XSETBV exit (#UD from the kernel)", M_P32, {0x0F, 0xA2}, 2, 0, 0, 0, VM_EXIT_HLT, UD_AT, 0, SVM_EXIT_XSETBV},
  {"NMI exit (re-entered: the CPUID runs)", M_REAL, {0x0F, 0xA2}, 2, 0, 0, 0, VM_EXIT_CPUID, CODE, 0, SVM_EXIT_NMI},
  {"vmrun (#UD from the kernel)", M_P32, {0x0F, 0x01, 0xD8}, 3, 0, 0, 0, VM_EXIT_HLT, UD_AT, 0},
  {"vmload (#UD from the kernel)", M_P32, {0x0F, 0x01, 0xDA}, 3, 0, 0, 0, VM_EXIT_HLT, UD_AT, 0},
  {"vmsave (#UD from the kernel)", M_P32, {0x0F, 0x01, 0xDB}, 3, 0, 0, 0, VM_EXIT_HLT, UD_AT, 0},
  {"stgi (#UD from the kernel)", M_P32, {0x0F, 0x01, 0xDC}, 3, 0, 0, 0, VM_EXIT_HLT, UD_AT, 0},
  {"clgi (#UD from the kernel)", M_P32, {0x0F, 0x01, 0xDD}, 3, 0, 0, 0, VM_EXIT_HLT, UD_AT, 0},
  {"skinit (#UD from the kernel)", M_P32, {0x0F, 0x01, 0xDE}, 3, 0, 0, 0, VM_EXIT_HLT, UD_AT, 0},
  {"invlpga (#UD from the kernel)", M_P32, {0x0F, 0x01, 0xDF}, 3, 0, 0, 0, VM_EXIT_HLT, UD_AT, 0},
};

// Exit codes past every table: no CPU we run on produces them, so they are
// faked (ktest_fake_exitcode) on top of a CPUID exit.
static const uint64 fake_codes[] = {0x401, 0x402, 0x403, 0x404, 0x4FF, 0x500, 0x1000, 0x7FFFFFFF, 0xF0000000};

KTEST(run_exits)
{
  for (uint32 i = 0; i < ARRAY_SIZE(exit_cases); i++) {
    const struct exit_case *c = &exit_cases[i];
    struct dguest g;
    struct vm_exit e;
    ktest_fake_exitcode = c->fake;
    int r = exit_of(c->mode, c->code, c->len, c->rax, c->cr4, c->exc, &e, &g);
    ktest_fake_exitcode = 0;
    int ok = r == 0 && e.reason == c->reason && e.rip == c->rip &&
             (c->reason != VM_EXIT_EXCEPTION || e.u.exception.vector == (uint32)c->vector);
    KCHECK(ok, "%s: exit %u at rip 0x%lx, vector %u, code 0x%lx (expected exit %u at 0x%lx%s)", c->what, e.reason,
           e.rip, e.u.exception.vector, e.code, c->reason, c->rip, c->reason == VM_EXIT_EXCEPTION ? ", its vector" : "");
    dguest_free(&g);
  }
  static const uint8 cpuid[] = {0x0F, 0xA2, 0xF4};
  for (uint32 i = 0; i < ARRAY_SIZE(fake_codes); i++) {
    struct dguest g;
    struct vm_exit e;
    ktest_fake_exitcode = fake_codes[i];
    int r = exit_of(M_REAL, cpuid, sizeof cpuid, 0, 0, 0, &e, &g);
    ktest_fake_exitcode = 0;
    KCHECK(r == 0 && e.reason == VM_EXIT_UNKNOWN && e.code == fake_codes[i],
           "exit code 0x%lx (beyond the exit table): reason %u code 0x%lx (expected VM_EXIT_UNKNOWN, %u)", fake_codes[i],
           e.reason, e.code, VM_EXIT_UNKNOWN);
    dguest_free(&g);
  }
}

// ---- run_hsave: the host's VMSAVE state is software's, VM_HSAVE_PA the CPU's ----

// APM Vol. 2 §15.30.4: software must not touch the host save area except to
// set it up. Its VMSAVE/VMLOAD fields (FS, GS, TR, LDTR, KernelGsBase, the
// SYSCALL and SYSENTER MSRs) are never written by VMRUN, so after guests ran
// they are still as the kernel zeroed them.
KTEST(run_hsave)
{
  static const uint8 cpuid[] = {0x0F, 0xA2, 0xF4};
  struct dguest g;
  struct vm_exit e;
  int r = exit_of(M_REAL, cpuid, sizeof cpuid, 0, 0, 0, &e, &g);
  KCHECK(r == 0 && e.reason == VM_EXIT_CPUID, "a guest ran to its CPUID exit: r=%d reason %u", r, e.reason);
  dguest_free(&g);
  struct vmcb_save *h = &((struct vmcb *)svm_data[cpuid_self()].save_area)->save;
  uint64 any = h->fs.base | h->fs.selector | h->gs.base | h->gs.selector | h->tr.base | h->tr.selector | h->ldtr.base |
               h->kernel_gs_base | h->star | h->lstar | h->cstar | h->sfmask | h->sysenter_cs | h->sysenter_esp |
               h->sysenter_eip;
  KCHECK(any == 0, "the VM_HSAVE_PA page's VMSAVE fields after a run: GS base 0x%lx, TR 0x%x, LSTAR 0x%lx (expected "
         "all zero: the host's VMSAVE state belongs in a page of its own)", h->gs.base, h->tr.selector, h->lstar);
}

// ---- run_inside: what the host's state is while the guest runs ---------------

#define WIN_VCPU 0x10000    // guest-physical windows onto host pages (ktest only)
#define WIN_HSAVE 0x11000
#define WIN_STACK 0x12000   // four pages: the stack below and around this frame
#define WIN_VMCB 0x16000

// A 64-bit guest looks at host memory through extra nested mappings while it
// runs: v->guest_state_loaded (set while the guest's VMLOAD state is in the
// CPU), and the word at the host RSP that VMRUN saved in the host save area
// (vmenter.S's header: the gprs pointer at (%rsp) at the VMRUN; GDB's helpers
// rely on it).
//   mov eax,[rbx]; mov rsi,[rcx]; mov rsi,[rsi+rdx]; vmmcall; hlt
static const uint8 g_inside[] = {0x8B, 0x03, 0x48, 0x8B, 0x31, 0x48, 0x8B, 0x34, 0x16, 0x0F, 0x01, 0xD9, 0xF4};

KTEST(run_inside)
{
  struct dguest g;
  struct vm_exit e = {0};   // no run flags, no deadline
  uint64 sp, ok = 1;
  asm volatile("mov %%rsp, %0" : "=r"(sp));
  uint64 stack_lo = PGROUNDDOWN(sp) - 3 * PGSIZE;
  if (dguest_new(&g, M_L64, NO_HOLE) < 0) {
    KCHECK(0, "guest set up (out of memory)");
    goto out;
  }
  struct vcpu *v = g.v;
  void *hsave = svm_data[cpuid_self()].save_area;
  ok = npt_map(&g.npt, WIN_VCPU, V2P(v), PGSIZE, 0) == 0 && npt_map(&g.npt, WIN_HSAVE, V2P(hsave), PGSIZE, 0) == 0;
  for (int i = 0; i < 4 && ok; i++)
    ok = npt_map(&g.npt, WIN_STACK + i * PGSIZE, V2P((void *)(stack_lo + i * PGSIZE)), PGSIZE, 0) == 0;
  KCHECK(ok, "windows onto the vcpu, the host save area and this stack mapped into the guest");
  memmove(g.mem[CODE / PGSIZE], g_inside, sizeof g_inside);
  v->gprs.rbx = WIN_VCPU + offsetof(struct vcpu, guest_state_loaded);
  v->gprs.rcx = WIN_HSAVE + offsetof(struct vmcb, save.rsp);
  v->gprs.rdx = WIN_STACK - stack_lo;
  int r = drun(&g, &e);
  KCHECK(r == 0 && e.reason == VM_EXIT_VMMCALL && e.u.hypercall.rax == 1,
         "while the guest ran, v->guest_state_loaded was %lu (expected 1: the guest's VMLOAD state was in the CPU; "
         "exit %u)", e.u.hypercall.rax, e.reason);
  KCHECK(r == 0 && v->gprs.rsi == (uint64)&v->gprs,
         "while the guest ran, the word at the host's RSP of its VMRUN was 0x%lx (expected &v->gprs = %p, as "
         "vmenter.S's stack drawing says)", v->gprs.rsi, &v->gprs);
  vcpu_cancel_completion(v);
  // The CPUID sat in an interrupt shadow (the exit reports it in int_state,
  // as hardware does; QEMU 7.2 does not): completing it must end the shadow
  // before the next VMRUN. The guest reads the VMCB's int_state as VMRUN saw it.
  //   cpuid; mov eax,[rsi]; vmmcall; hlt
  static const uint8 g_shadow[] = {0x0F, 0xA2, 0x8B, 0x06, 0x0F, 0x01, 0xD9, 0xF4};
  memmove(g.mem[CODE / PGSIZE], g_shadow, sizeof g_shadow);
  v->vmcb->save.rip = CODE;
  ok = npt_map(&g.npt, WIN_VMCB, V2P(v->vmcb), PGSIZE, 0) == 0;
  r = ok ? drun(&g, &e) : -1;
  if (r == 0 && e.reason == VM_EXIT_CPUID) {
    v->vmcb->control.int_state |= SVM_INTERRUPT_SHADOW;
    v->gprs.rsi = WIN_VMCB + offsetof(struct vmcb, control.int_state);
    r = drun(&g, &e);
  }
  KCHECK(r == 0 && e.reason == VM_EXIT_VMMCALL && !(e.u.hypercall.rax & SVM_INTERRUPT_SHADOW),
         "after completing a CPUID that sat in an interrupt shadow, the VMCB's int_state at the next VMRUN was 0x%lx "
         "(expected the shadow bit clear: it covers one instruction; exit %u)", e.u.hypercall.rax, e.reason);
out:
  dguest_free(&g);
}
