// Lab 2 (vmcb): the consistency checker against two oracles that are not the
// checker, on random VMCBs.
//
//   ktest=vmcb_random seed=N [cases=N]
//
// Each case builds a valid VMCB for a random guest mode (vmcb_init_control,
// vmcb_init_save), applies one or two random mutations (CR0/CR3/CR4/EFER/
// DR6/DR7 bits, segment attributes, the long-mode combinations, EVENTINJ,
// ASID, the VMRUN intercept, the permission map bases) and compares:
//   (a) vmcb_check's verdict with the rules of APM Vol. 2 §15.5.1 computed
//       here, independently (table-driven, from CPUID): the checker must
//       accept the states no rule forbids, reject the others, and name a
//       rule the state really breaks (which one, when several, is free; a
//       permission map ending exactly at the last physical byte may go
//       either way, see map_too_high);
//   (b) the CPU's own verdict: VMRUN of the same VMCB. A state the CPU
//       refuses (VMEXIT_INVALID) but the checker accepts fails. QEMU 7.2 checks
//       fewer rules than the APM: a forbidden state it runs anyway is a
//       deviation, counted and printed, never a failure (the APM is the oracle).
// Never entered: EFER.LME=1 with CR0.PG=0 (QEMU then loses the host's paging
// at #VMEXIT, see cr0.c; the mutations never produce it), or with LMA=0
// (checked against the rules only).
// A mismatch prints the seed, the case, the mode, the mutations with their
// values and the verdicts; the same seed replays the same cases. The first
// few deviations are printed too ("deviation: ..."); seen on QEMU 7.2 -cpu
// max: CR4.PCIDE without CPUID PCID, CR4 bit 24, EFER.FFXSR without CPUID
// FFXSR, an IOPM past the physical address width.
#include "defs.h"
#include "x86.h"
#include "errno.h"
#include "ktest.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "svm/svm_ops.h"
#include "../lib/string.h"
#include "../lib/fmt.h"

#define GPA_CODE 0x10000
#define NPAGES 4
static const uint64 page_gpa[NPAGES] = {0x1000, 0x2000, 0x3000, GPA_CODE};

struct rvm {
  struct npt npt;
  struct vmcb_perm perm;
  void *mem[NPAGES];
  struct vcpu vcpu;
  void *host_save;
};

static void rvm_free(struct rvm *t)
{
  npt_free(&t->npt);
  vmcb_perm_free(&t->perm);
  vmcb_destroy(&t->vcpu);
  for (int i = 0; i < NPAGES; i++)
    if (t->mem[i])
      kfree(t->mem[i]);
  if (t->host_save)
    kfree(t->host_save);
}

static int rvm_alloc(struct rvm *t)
{
  memset(t, 0, sizeof *t);
  int err = npt_init(&t->npt);
  for (int i = 0; !err && i < NPAGES; i++) {
    t->mem[i] = kalloc();
    err = !t->mem[i] ? -ENOMEM : npt_map(&t->npt, page_gpa[i], V2P(t->mem[i]), PGSIZE, NPT_W);
  }
  if (!err)
    err = vmcb_perm_alloc(&t->perm);
  if (!err)
    err = vmcb_create(&t->vcpu);
  if (!err && !(t->host_save = kalloc()))
    err = -ENOMEM;
  if (!err) {
    // Long mode's page tables: identity-map the first 2 MiB; the code is HLT.
    uint64 *pml4 = t->mem[0], *pdpt = t->mem[1], *pd = t->mem[2];
    pml4[0] = 0x2000 | PTE_P | PTE_W;
    pdpt[0] = 0x3000 | PTE_P | PTE_W;
    pd[0] = PTE_P | PTE_W | PTE_PS;
    *(uint8 *)t->mem[3] = 0xF4;
  }
  return err;
}

// The minimal world switch of vmcb_test.c: IF=0 and GIF=0 around it,
// VMSAVE/VMLOAD for the state VMRUN does not switch (§15.5.2).
static uint64 rvm_run(struct rvm *t)
{
  uint64 vmcb = t->vcpu.vmcb01.pa, host = V2P(t->host_save);
  uint64 flags = rflags();
  t->vcpu.vmcb->control.exitcode = 0xDEAD;
  cli();
  clgi();
  vmsave(host);
  vmload(vmcb);
  vmrun(vmcb);
  vmsave(vmcb);
  vmload(host);
  stgi();
  if (flags & FL_IF)
    sti();
  return t->vcpu.vmcb->control.exitcode;
}

// ---- randomness (ktest_rnd, kern/ktest.c) -------------------------------------
static uint64 bit(int n) { return _UL(1) << n; }

// ---- the oracle: §15.5.1 computed here ----------------------------------------
static int phys_bits(void) { return cpuid(0x80000008, 0).eax & 0xFF; }

// Optional CR4 bits and the CPUID bit that makes each legal (APM Vol. 2
// §3.1.3; CPUID leaf 1 ECX, leaf 7 EBX/ECX). Bits 10:0 always exist.
static const struct { uint8 cr4, leaf, reg, cpuid; } cr4_optional[] = {
    {11, 7, 'c', 2},  {12, 7, 'c', 16}, {16, 7, 'b', 0}, {17, 1, 'c', 17}, {18, 1, 'c', 26},
    {20, 7, 'b', 7},  {21, 7, 'b', 20}, {22, 7, 'c', 3}, {23, 7, 'c', 7},
};

static uint64 cr4_legal(void)
{
  uint64 legal = 0x7FF;
  for (uint64 i = 0; i < ARRAY_SIZE(cr4_optional); i++) {
    struct cpuid_regs r = cpuid(cr4_optional[i].leaf, 0);
    uint32 word = cr4_optional[i].reg == 'b' ? r.ebx : r.ecx;
    if (word & (1u << cr4_optional[i].cpuid))
      legal |= bit(cr4_optional[i].cr4);
  }
  return legal;
}

// EFER bits (§3.1.7): SCE LME LMA NXE SVME always; each optional one with
// the CPUID bit that makes it legal (LMSLE's is "unsupported": inverted).
static const struct { uint8 efer; uint32 leaf; uint8 reg, cpuid, inverted; } efer_optional[] = {
    {13, 0x80000008, 'b', 20, 1}, {14, 0x80000001, 'd', 25, 0}, {15, 0x80000001, 'c', 17, 0},
    {17, 0x80000008, 'b', 8, 0},  {18, 0x80000008, 'b', 4, 0},  {20, 0x80000021, 'a', 7, 0},
    {21, 0x80000021, 'a', 8, 0},
};

static uint64 efer_legal(void)
{
  uint64 legal = bit(0) | bit(8) | bit(10) | bit(11) | bit(12);
  uint32 max_ext = cpuid(0x80000000, 0).eax;
  for (uint64 i = 0; i < ARRAY_SIZE(efer_optional); i++) {
    if (efer_optional[i].leaf > max_ext)
      continue;
    struct cpuid_regs r = cpuid(efer_optional[i].leaf, 0);
    uint32 word = efer_optional[i].reg == 'a' ? r.eax : efer_optional[i].reg == 'b' ? r.ebx
                : efer_optional[i].reg == 'c' ? r.ecx : r.edx;
    if (!!(word & (1u << efer_optional[i].cpuid)) != efer_optional[i].inverted)
      legal |= bit(efer_optional[i].efer);
  }
  return legal;
}

// A permission map of size bytes at base (low 12 bits ignored) must not
// reach "the maximum supported physical address" (§15.5.1). Whether that is
// 2^MAXPHYADDR - 1 (the last byte) or 2^MAXPHYADDR is not spelled out, and
// KVM takes the lenient reading. The rules computed here let such a map go
// either way (edge 1 counts it, edge 0 does not); the CPU's verdict then
// decides: QEMU 7.2 refuses an MSRPM whose last byte is the last physical one.
static int map_too_high(uint64 base, uint64 size, int edge)
{
  uint64 last = (base & ~_UL(0xFFF)) + size - 1;
  return last >= bit(phys_bits()) - edge;
}

// §15.20: legal types are INTR 0, NMI 2, exception 3, software interrupt 4;
// an exception is a vector 0..31 other than 2.
static int event_illegal(uint64 ev)
{
  if (!(ev & SVM_EVTINJ_VALID))
    return 0;
  uint64 type = (ev >> 8) & 7, vec = ev & 0xFF;
  if (type == 1 || type >= 5)
    return 1;
  return type == 3 && (vec == 2 || vec > 31);
}

// Every rule v breaks, as a mask of (1 << enum vmcb_rule); edge says how
// to read the map rule (map_too_high).
static uint32 apm_rules(const struct vmcb *v, int edge)
{
  const struct vmcb_control *c = &v->control;
  const struct vmcb_save *s = &v->save;
  uint32 m = 0;
#define RULE(cond, r) (m |= (cond) ? (1u << (r)) : 0)
  RULE(c->asid == 0, VMCB_BAD_ASID);
  RULE(!(c->intercepts[INTERCEPT_WORD_MISC2] & INTERCEPT_VMRUN), VMCB_BAD_VMRUN_INTERCEPT);
  RULE(map_too_high(c->iopm_base_pa, IOPM_SIZE, edge) || map_too_high(c->msrpm_base_pa, MSRPM_SIZE, edge),
       VMCB_BAD_PERM_MAP);
  RULE(event_illegal(c->eventinj), VMCB_BAD_EVENTINJ);
  RULE(!(s->efer & EFER_SVME), VMCB_BAD_EFER_SVME);
  RULE((s->efer & ~efer_legal()) != 0, VMCB_BAD_EFER_MBZ);
  RULE((s->cr0 & (CR0_CD | CR0_NW)) == CR0_NW, VMCB_BAD_CR0_CD_NW);
  RULE(s->cr0 > 0xFFFFFFFFul, VMCB_BAD_CR0_HIGH);
  RULE(s->cr3 >= bit(phys_bits()), VMCB_BAD_CR3_MBZ);
  RULE((s->cr4 & ~cr4_legal()) != 0, VMCB_BAD_CR4_MBZ);
  RULE(s->dr6 > 0xFFFFFFFFul, VMCB_BAD_DR6_HIGH);
  RULE(s->dr7 > 0xFFFFFFFFul, VMCB_BAD_DR7_HIGH);
  int lm = (s->efer & EFER_LME) && (s->cr0 & CR0_PG);
  RULE(lm && !(s->cr4 & CR4_PAE), VMCB_BAD_LM_NO_PAE);
  RULE(lm && !(s->cr0 & CR0_PE), VMCB_BAD_LM_NO_PE);
  RULE(lm && (s->cs.attrib & SEG_ATTR_L) && (s->cs.attrib & SEG_ATTR_DB), VMCB_BAD_LM_CS_LD);
#undef RULE
  return m;
}

// States the APM allows that QEMU 7.2 refuses (platform notes): an injected
// exception with vector 31 (QEMU tests vector >= 31, the APM and KVM > 31),
// and EFER.LMSLE although CPUID does not call it unsupported (QEMU does not
// implement it). Counted, not failed: the APM is the oracle.
static int qemu_refuses_legal(const struct vmcb *v)
{
  uint64 ev = v->control.eventinj;
  int exc31 = (ev & SVM_EVTINJ_VALID) && ((ev >> 8) & 7) == 3 && (ev & 0xFF) == 31;
  return exc31 || (v->save.efer & bit(13));
}

// ---- mutations ------------------------------------------------------------------
// Each returns a short description with the value it wrote.
struct mut {
  char what[80];
};

// Defined CR0 bits that do not change the mode (PE and PG are the long-mode
// mutations' business): MP EM TS ET NE WP AM NW CD.
static const uint8 cr0_bits[] = {1, 2, 3, 4, 5, 16, 18, 29, 30};

// A bit index for a 64-bit register: mostly the interesting ones, the
// edges between a register's halves often (so that every rule of the kind
// "bits 63:32 are reserved" is met in every run, not in most).
static int some_bit(void)
{
  static const uint8 edges[] = {31, 32, 63};
  switch (ktest_below(4)) {
  case 0: return 32 + ktest_below(32);
  case 1: return edges[ktest_below(sizeof edges)];
  default: return ktest_below(32);
  }
}

static void mutate(struct vmcb *v, int mode, struct mut *out)
{
  struct vmcb_save *s = &v->save;
  struct vmcb_control *c = &v->control;
  int m = ktest_below(13), b;
  switch (m) {
  case 0:
    b = ktest_below(2) ? cr0_bits[ktest_below(sizeof cr0_bits)] : 32 + ktest_below(32);
    s->cr0 ^= bit(b);
    snprintf(out->what, sizeof out->what, "cr0 ^= bit %d -> 0x%lx", b, s->cr0);
    break;
  case 1:
    // The two bits at the address width's edge often: the last legal one, the first reserved.
    b = ktest_below(3) == 0 ? phys_bits() - 1 + ktest_below(2)
      : ktest_below(2) ? phys_bits() + ktest_below(64 - phys_bits()) : ktest_below(phys_bits());
    s->cr3 ^= bit(b);
    snprintf(out->what, sizeof out->what, "cr3 ^= bit %d -> 0x%lx", b, s->cr3);
    break;
  case 2:
    b = some_bit();
    if (b == 5 && mode == GUEST_LONG64)
      b = 7;   // PAE: the long-mode case below
    s->cr4 ^= bit(b);
    snprintf(out->what, sizeof out->what, "cr4 ^= bit %d -> 0x%lx", b, s->cr4);
    break;
  case 3:
    b = some_bit();
    if (b == 8 || b == 10)   // LME/LMA: never LME=1 with PG=0
      b = 12;
    s->efer ^= bit(b);
    snprintf(out->what, sizeof out->what, "efer ^= bit %d -> 0x%lx", b, s->efer);
    break;
  case 4:
    b = some_bit();
    s->dr6 ^= bit(b);
    snprintf(out->what, sizeof out->what, "dr6 ^= bit %d -> 0x%lx", b, s->dr6);
    break;
  case 5:
    b = some_bit();
    s->dr7 ^= bit(b);
    snprintf(out->what, sizeof out->what, "dr7 ^= bit %d -> 0x%lx", b, s->dr7);
    break;
  case 6: {
    struct vmcb_seg *seg = ktest_below(2) ? &s->cs : ktest_below(2) ? &s->ss : &s->ds;
    b = ktest_below(2) ? 9 + ktest_below(2) : ktest_below(12);   // L and D/B half the time: the mode rules
    seg->attrib ^= 1u << b;
    snprintf(out->what, sizeof out->what, "%s.attrib ^= bit %d -> 0x%x",
             seg == &s->cs ? "cs" : seg == &s->ss ? "ss" : "ds", b, seg->attrib);
    break;
  }
  case 7:   // the long-mode combinations; only in long mode (LME=1, PG=1)
    if (mode != GUEST_LONG64) {
      s->efer ^= EFER_SVME;
      snprintf(out->what, sizeof out->what, "efer ^= SVME -> 0x%lx", s->efer);
      break;
    }
    switch (ktest_below(3)) {
    case 0: s->cr4 ^= CR4_PAE; break;
    case 1: s->cr0 ^= CR0_PE; break;
    default: s->cs.attrib ^= SEG_ATTR_DB; break;
    }
    // The rules name EFER.LME with CR0.PG, not LMA (§15.5.1): half the time
    // LMA is clear, which a checker reading LMA gets wrong (never run).
    if (ktest_below(2))
      s->efer &= ~EFER_LMA;
    snprintf(out->what, sizeof out->what, "long mode: cr0 0x%lx cr4 0x%lx cs.attrib 0x%x efer 0x%lx", s->cr0,
             s->cr4, s->cs.attrib, s->efer);
    break;
  case 8: {
    // Exceptions (type 3) often, and the vectors at the rule's edges often.
    static const uint8 edge[] = {0, 2, 31, 32, 255};
    uint64 type = ktest_below(2) ? 3 : ktest_below(8);
    uint64 vec = ktest_below(3) == 0 ? edge[ktest_below(sizeof edge)] : ktest_below(2) ? ktest_below(34)
               : ktest_below(256);
    c->eventinj = SVM_EVTINJ_VALID | (type << 8) | vec | (ktest_below(2) ? SVM_EVTINJ_VALID_ERR : 0);
    if (ktest_below(8) == 0)
      c->eventinj &= ~SVM_EVTINJ_VALID;
    snprintf(out->what, sizeof out->what, "eventinj 0x%lx", c->eventinj);
    break;
  }
  case 9:
    c->asid = ktest_below(4) ? 0 : 1 + ktest_below(svm_features.nasids - 1);
    snprintf(out->what, sizeof out->what, "asid %u", c->asid);
    break;
  case 10:
    c->intercepts[INTERCEPT_WORD_MISC2] ^= INTERCEPT_VMRUN;
    snprintf(out->what, sizeof out->what, "VMRUN intercept toggled (misc2 0x%x)",
             c->intercepts[INTERCEPT_WORD_MISC2]);
    break;
  default: {   // a permission map near the top of the physical address space
    uint64 size = ktest_below(2) ? IOPM_SIZE : MSRPM_SIZE;
    uint64 base = bit(phys_bits()) - size - PGSIZE * ktest_below(3) + ktest_below(PGSIZE) + PGSIZE * (ktest_below(4) == 0);
    if (ktest_below(8) == 0)
      base |= bit(phys_bits() + ktest_below(64 - phys_bits()));
    if (size == IOPM_SIZE)
      c->iopm_base_pa = base;
    else
      c->msrpm_base_pa = base;
    snprintf(out->what, sizeof out->what, "%s base 0x%lx", size == IOPM_SIZE ? "iopm" : "msrpm", base);
    break;
  }
  }
}

// ---- the test -------------------------------------------------------------------------
static const char *mode_names[] = {"real", "prot32", "long64"};

struct tally {
  uint64 seed, cases, bad, ran, refused, deviations, stricter;
  uint32 dev_rules;   // rules QEMU let through
};

static void rules_text(uint32 mask, char *buf, int n)
{
  int len = 0;
  buf[0] = 0;
  for (int r = 1; r < VMCB_NRULES && len < n - 1; r++)
    if (mask & (1u << r))
      len += snprintf(buf + len, n - len, "%s\"%s\"", len ? ", " : "", vmcb_rule_name(r));
  if (!len)
    snprintf(buf, n, "none");
}

static void mismatch(struct tally *t, uint64 n, int mode, struct mut *mu, int nmut, const char *what)
{
  t->bad++;
  if (t->bad > 8)
    return;
  printf("mismatch: seed %lu case %lu (%s; %s%s%s): %s\n", t->seed, n, mode_names[mode], mu[0].what,
         nmut > 1 ? "; " : "", nmut > 1 ? mu[1].what : "", what);
}

static void one_case(struct rvm *vm, struct tally *t, uint64 n)
{
  int mode = ktest_below(3);
  struct vmcb_setup setup = {.mode = mode, .rip = GPA_CODE, .rsp = 0x8000, .cr3 = 0x1000,
                             .asid = 1 + ktest_below(svm_features.nasids - 1), .ncr3 = vm->npt.pml4_pa};
  struct vmcb *v = vm->vcpu.vmcb;
  vmcb_init_control(v, &setup, &vm->perm);
  vmcb_init_save(v, &setup);
  struct mut mu[2];
  int nmut = 1 + (ktest_below(3) == 0);
  for (int i = 0; i < nmut; i++)
    mutate(v, mode, &mu[i]);

  // The checker must reject what every reading forbids (must), may reject
  // only for a rule some reading breaks (broken), and must name such a rule.
  uint32 broken = apm_rules(v, 1), must = apm_rules(v, 0);
  enum vmcb_rule r = vmcb_check(v);
  char buf[160], rules[120];
  rules_text(broken, rules, sizeof rules);
  t->cases++;
  if ((r == VMCB_OK && must) || (r != VMCB_OK && !(broken & (1u << r)))) {
    snprintf(buf, sizeof buf, "checker says \"%s\"; the state breaks: %s", vmcb_rule_name(r), rules);
    mismatch(t, n, mode, mu, nmut, buf);
    return;
  }
  // Never enter LME=1 with PG=0 (cr0.c); the mutations cannot make it, but
  // the guard stays in case they change. Nor LME=1 with LMA=0: what QEMU
  // does with paging on but long mode inactive is not what is tested here.
  if ((v->save.efer & EFER_LME) && (!(v->save.cr0 & CR0_PG) || !(v->save.efer & EFER_LMA)))
    return;
  int stricter = qemu_refuses_legal(v);   // before VMRUN rewrites the VMCB
  uint64 code = rvm_run(vm);
  t->ran++;
  int refused = SVM_EXIT_IS_INVALID(code);
  t->refused += refused;
  if (refused && r == VMCB_OK && stricter) {
    t->stricter++;
  } else if (refused && r == VMCB_OK) {
    snprintf(buf, sizeof buf, "VMRUN refuses the state (exitcode 0x%lx); the checker accepts it", code);
    mismatch(t, n, mode, mu, nmut, buf);
  } else if (!refused && must) {
    if (t->deviations++ < 4)
      printf("deviation: seed %lu case %lu (%s; %s%s%s): VMRUN runs a state the APM forbids (%s)\n", t->seed, n,
             mode_names[mode], mu[0].what, nmut > 1 ? "; " : "", nmut > 1 ? mu[1].what : "", rules);
    t->dev_rules |= must;
  }
}

KTEST(vmcb_random)
{
  struct tally t = {.seed = ktest_num("seed", 1)};
  uint64 cases = ktest_num("cases", 2000);
  ktest_seed(t.seed);
  printf("vmcb_random: seed %lu, %lu cases\n", t.seed, cases);
  if (!svm_available()) {
    KCHECK(0, "SVM usable (%s)", svm_unavailable_reason());
    return;
  }
  struct rvm vm;
  int err = rvm_alloc(&vm);
  KCHECK(err == 0, "allocate a test VM: %d (want 0)", err);
  if (err) {
    rvm_free(&vm);
    return;
  }
  for (uint64 n = 0; n < cases; n++)
    one_case(&vm, &t, n);
  char rules[200];
  rules_text(t.dev_rules, rules, sizeof rules);
  printf("vmcb_random: %lu cases, %lu run by VMRUN, %lu refused; QEMU ran %lu states the APM forbids "
         "(rules: %s) and refused %lu it allows (exception vector 31, EFER.LMSLE): expected, the APM is the oracle\n",
         t.cases, t.ran, t.refused, t.deviations, rules, t.stricter);
  KCHECK(t.bad == 0, "random VMCBs: %lu cases, %lu where the checker disagrees with the APM rules or with VMRUN "
         "(seed %lu)", t.cases, t.bad, t.seed);
  // After all that, the CPU still runs a good VMCB: no damage.
  struct vmcb_setup setup = {.mode = GUEST_LONG64, .rip = GPA_CODE, .rsp = 0x8000, .cr3 = 0x1000, .asid = 1,
                             .ncr3 = vm.npt.pml4_pa};
  vmcb_init_control(vm.vcpu.vmcb, &setup, &vm.perm);
  vmcb_init_save(vm.vcpu.vmcb, &setup);
  uint64 code = rvm_run(&vm);
  KCHECK(code == SVM_EXIT_HLT, "a valid VMCB still runs afterwards: exitcode 0x%lx", code);
  rvm_free(&vm);
}
