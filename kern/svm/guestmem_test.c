// The kernel's own view of a guest (guestmem.c, dr.c's I/O breakpoints),
// used where QEMU has no decode assists: checked on a VM that never runs.
//
//   ktest=guestmem [seed=N] [cases=N]
//
// Each case builds the guest's page tables for one paging mode in guest
// memory (APM Vol. 2 §5.2 32-bit with 4 KiB or, with CR4.PSE, 4 MiB pages
// and PSE-36 address bits 39:32 in PDE bits 20:13; §5.3 long mode with 4 KiB,
// 2 MiB and 1 GiB pages; §5.4 PAE with 4 KiB and 2 MiB pages; paging off),
// with random indices, target frames and ignored flag bits; the oracle is the
// address the test wrote, not a second walk. Then one entry on the path is
// made not present, or points outside the VM's memory: the walk must fail.
// Also: an instruction fetch stopping where guest memory ends, a decode of
// bytes that are no 0F instruction, RSP through svm_set_gpr, and I/O
// breakpoints (DR7 R/W = 10b with CR4.DE, §13.1.1.5) matched byte by byte
// against the port range of an IN/OUT.
#include "defs.h"
#include "ktest.h"
#include "mmu.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"

#define GBASE 0x200000UL   // guest memory: NPAGES pages from here
#define NPAGES 6           // 0..3 tables, 4 code, 5 never mapped (the end of memory)
#define MAPPED 5

enum { M_NONE, M_32_4K, M_32_4M, M_PAE_4K, M_PAE_2M, M_L_4K, M_L_2M, M_L_1G, NMODES };
static const char *mode_name[NMODES] = {"no paging", "32-bit 4K", "32-bit 4M", "PAE 4K", "PAE 2M",
                                        "long 4K", "long 2M", "long 1G"};

struct gm {
  struct vcpu *v;
  uint8 *mem[MAPPED];
};

static uint64 gpa_of(int page) { return GBASE + page * PGSIZE; }

// Flag bits a walk must ignore: RW, US, PWT, PCD, A, (leaf) D, and in long
// mode the available bits 58:52 and NX.
static uint64 noise(int leaf, int longmode)
{
  uint64 f = ktest_rnd() & (leaf ? 0x7E : 0x3E);
  if (longmode)
    f |= ktest_rnd() & (0x07F0000000000000UL | (1UL << 63));
  return f;
}

static void put(struct gm *g, int page, int index, int size, uint64 val)
{
  if (size == 8)
    ((uint64 *)g->mem[page])[index] = val;
  else
    ((uint32 *)g->mem[page])[index] = (uint32)val;
}

// The path of one case: where each entry is, so that a failure case can break one.
struct path {
  int n;
  int page[4], index[4], size;
  uint64 val[4];
};

static void link(struct gm *g, struct path *p, int page, int index, uint64 val)
{
  p->page[p->n] = page;
  p->index[p->n] = index;
  p->val[p->n++] = val;
  put(g, page, index, p->size, val);
}

// Builds mode m's tables for a random address; returns the address and the
// guest-physical address it must translate to.
static uint64 build(struct gm *g, int m, struct path *p, uint64 *want)
{
  struct vmcb_save *s = &g->v->vmcb->save;
  for (int i = 0; i < 4; i++)
    for (uint64 j = 0; j < PGSIZE; j++)
      g->mem[i][j] = 0;
  p->n = 0;
  s->cr0 = CR0_PE | (m == M_NONE ? 0 : CR0_PG);
  s->cr4 = m == M_32_4M ? CR4_PSE : m >= M_PAE_4K ? CR4_PAE : 0;
  s->efer = m >= M_L_4K ? EFER_LME | EFER_LMA : 0;
  s->cr3 = gpa_of(0);
  uint64 va = ktest_rnd(), frame = ktest_rnd();
  if (m < M_L_4K)
    va = (uint32)va;
  else
    va = (va & 0x00007FFFFFFFFFFFUL) | ((va >> 47) & 1 ? 0xFFFF800000000000UL : 0);   // canonical
  int lm = m >= M_L_4K;
  p->size = m == M_32_4K || m == M_32_4M ? 4 : 8;
  switch (m) {
  case M_NONE:
    *want = (uint32)va;
    break;
  case M_32_4K:
    link(g, p, 0, va >> 22, gpa_of(1) | PTE_P | noise(0, 0));
    link(g, p, 1, (va >> 12) & 0x3FF, (frame & 0xFFFFF000UL) | PTE_P | noise(1, 0) | (ktest_rnd() & PTE_PS));
    *want = (frame & 0xFFFFF000UL) | (va & 0xFFF);
    break;
  case M_32_4M: {
    uint64 hi = frame >> 56;   // physical address bits 39:32
    link(g, p, 0, va >> 22, (frame & 0xFFC00000UL) | (hi << 13) | PTE_PS | PTE_P | noise(1, 0));
    *want = (frame & 0xFFC00000UL) | (hi << 32) | (va & 0x3FFFFF);
    break;
  }
  case M_PAE_4K:
  case M_PAE_2M:
    link(g, p, 0, (va >> 30) & 3, gpa_of(1) | PTE_P);   // PDPTEs have no RW/US/A (§5.4)
    if (m == M_PAE_2M) {
      link(g, p, 1, PX(1, va), (frame & 0xFFFFFE00000UL) | PTE_PS | PTE_P | noise(1, 0));
      *want = (frame & 0xFFFFFE00000UL) | (va & 0x1FFFFF);
    } else {
      link(g, p, 1, PX(1, va), gpa_of(2) | PTE_P | noise(0, 0));
      link(g, p, 2, PX(0, va), (frame & 0xFFFFFFFF000UL) | PTE_P | noise(1, 0) | (ktest_rnd() & PTE_PS));
      *want = (frame & 0xFFFFFFFF000UL) | (va & 0xFFF);
    }
    break;
  default:   // long mode
    link(g, p, 0, PX(3, va), gpa_of(1) | PTE_P | noise(0, lm));
    if (m == M_L_1G) {
      link(g, p, 1, PX(2, va), (frame & 0xFFFFC0000000UL) | PTE_PS | PTE_P | noise(1, lm));
      *want = (frame & 0xFFFFC0000000UL) | (va & 0x3FFFFFFF);
      break;
    }
    link(g, p, 1, PX(2, va), gpa_of(2) | PTE_P | noise(0, lm));
    if (m == M_L_2M) {
      link(g, p, 2, PX(1, va), (frame & 0xFFFFFFE00000UL) | PTE_PS | PTE_P | noise(1, lm));
      *want = (frame & 0xFFFFFFE00000UL) | (va & 0x1FFFFF);
      break;
    }
    link(g, p, 2, PX(1, va), gpa_of(3) | PTE_P | noise(0, lm));
    link(g, p, 3, PX(0, va), (frame & 0xFFFFFFFFF000UL) | PTE_P | noise(1, lm) | (ktest_rnd() & PTE_PS));
    *want = (frame & 0xFFFFFFFFF000UL) | (va & 0xFFF);
  }
  return va;
}

// One case: the walk agrees, then fails once an entry on the path is broken.
static int one_case(struct gm *g, int m, uint64 seed, uint64 n)
{
  struct path p;
  uint64 want, got = 0, broken = 0;
  uint64 va = build(g, m, &p, &want);
  int r = svm_gva_to_gpa(g->v, va, &got);
  if (r != 0 || got != want) {
    printf("mismatch: seed %lu case %lu (%s): va 0x%lx -> %d 0x%lx, the tables say 0x%lx\n", seed, n, mode_name[m],
           va, r, got, want);
    return 1;
  }
  if (!p.n)
    return 0;
  int k = ktest_below(p.n), outside = ktest_below(2) && k < p.n - 1;
  uint64 val = outside ? (p.val[k] & ~0xFFFFF000UL & ~0xFFFFFFFFFF000UL) | gpa_of(NPAGES + ktest_below(64))
                       : p.val[k] & ~PTE_P;
  put(g, p.page[k], p.index[k], p.size, val);
  r = svm_gva_to_gpa(g->v, va, &broken);
  if (r != -1) {
    printf("mismatch: seed %lu case %lu (%s): va 0x%lx translated (%d, 0x%lx) with level %d %s\n", seed, n,
           mode_name[m], va, r, broken, p.n - 1 - k, outside ? "pointing outside guest memory" : "not present");
    return 1;
  }
  return 0;
}

// The bytes 0F 20 end guest memory: a fetch of 15 gets 2, and nothing decodes.
static void fetch_checks(struct gm *g)
{
  struct vmcb_save *s = &g->v->vmcb->save;
  s->cr0 = CR0_PE;
  s->cr4 = s->efer = 0;
  s->cs.base = gpa_of(4);
  s->rip = PGSIZE - 2;
  g->mem[4][PGSIZE - 2] = 0x0F;
  g->mem[4][PGSIZE - 1] = 0x20;
  uint8 b[15] = {0};
  int n = svm_fetch_insn(g->v, b, sizeof b);
  KCHECK(n == 2 && b[0] == 0x0F && b[1] == 0x20, "a fetch at the last 2 bytes of guest memory gets them: %d", n);
  struct svm_insn d;
  KCHECK(svm_decode_0f(g->v, &d) == -1, "0F 20 without its ModRM (memory ends) does not decode");
  s->rip = 0;
  for (int i = 0; i < 15; i++)
    g->mem[4][i] = 0x90;
  KCHECK(svm_decode_0f(g->v, &d) == -1, "NOPs do not decode as a 0F instruction");
  uint64 x = ktest_rnd();
  svm_set_gpr(g->v, 4, x);
  KCHECK(s->rsp == x && svm_gpr(g->v, 4) == x, "register 4 is RSP, kept in the VMCB: 0x%lx", s->rsp);
}

// I/O breakpoints against a byte-by-byte reading of the rule (§13.1.1.5):
// breakpoint i fires when it is enabled (L or G), R/W is 10b, CR4.DE is set
// and one byte of the access is in its LEN-aligned range.
static int io_checks(struct gm *g, uint64 seed, uint64 cases)
{
  static const uint64 lens[3] = {1, 2, 4}, enc[3] = {0, 1, 3};
  struct vmcb *vmcb = g->v->vmcb;
  int bad = 0;
  for (uint64 n = 0; n < cases; n++) {
    uint64 port = ktest_below(0x10000), size = lens[ktest_below(3)], dr7 = ktest_rnd() & 0xFF, want = 0;
    vmcb->save.cr4 = ktest_below(4) ? CR4_DE : 0;
    vmcb->control.exitcode = ktest_below(8) ? SVM_EXIT_IOIO : SVM_EXIT_HLT;
    vmcb->control.exitinfo1 = port << 16 | (size == 1 ? 0x10 : size == 2 ? 0x20 : 0x40) | ktest_below(2);
    for (int i = 0; i < 4; i++) {
      int l = ktest_below(3), rw = ktest_below(4) ? 2 : ktest_below(4);
      dr7 |= (uint64)rw << (16 + 4 * i) | enc[l] << (18 + 4 * i);
      g->v->dr[i] = ktest_below(2) ? port + ktest_below(8) - 4 : ktest_rnd();
      uint64 lo = g->v->dr[i] & 0xFFFF & ~(lens[l] - 1);
      for (uint64 b = port; b < port + size; b++)
        if ((dr7 >> (2 * i) & 3) && rw == 2 && (vmcb->save.cr4 & CR4_DE) &&
            vmcb->control.exitcode == SVM_EXIT_IOIO && b >= lo && b < lo + lens[l])
          want |= 1UL << i;
    }
    vmcb->save.dr7 = dr7;
    uint64 got = svm_dr_io_hits(g->v);
    if (got != want) {
      printf("mismatch: seed %lu io case %lu: port 0x%lx size %lu DR7 0x%lx: hits 0x%lx, the rule says 0x%lx\n",
             seed, n, port, size, dr7, got, want);
      bad++;
    }
  }
  return bad;
}

KTEST(guestmem)
{
  uint64 seed = ktest_num("seed", 1), cases = ktest_num("cases", 2000), before = kfreecount();
  ktest_seed(seed);
  struct gm g = {.v = vcpu_alloc()};
  struct vm *vm = ktest_vm_alloc();
  int ok = g.v && vm;
  for (int i = 0; ok && i < MAPPED; i++) {
    g.mem[i] = kalloc();
    ok = g.mem[i] && npt_map(vm_npt(vm), gpa_of(i), V2P(g.mem[i]), PGSIZE, NPT_W) == 0;
  }
  KCHECK(ok, "a vcpu and a VM with %d pages of guest memory", MAPPED);
  if (ok) {
    g.v->vm = vm;
    uint64 bad = 0, per[NMODES] = {0};
    for (uint64 n = 0; n < cases; n++) {
      int m = ktest_below(NMODES);
      per[m]++;
      bad += one_case(&g, m, seed, n);
    }
    KCHECK(bad == 0, "%lu walks (%lu..%lu per mode) agree with the tables, and fail with an entry broken: "
           "%lu mismatches (seed %lu)", cases, per[0], per[NMODES - 1], bad, seed);
    fetch_checks(&g);
    uint64 iobad = io_checks(&g, seed, cases);
    KCHECK(iobad == 0, "%lu I/O breakpoint cases match the rule byte by byte: %lu mismatches (seed %lu)", cases,
           iobad, seed);
    g.v->vm = NULL;
  }
  if (g.v)
    vcpu_free(g.v);
  if (vm)
    ktest_vm_free(vm);
  for (int i = 0; i < MAPPED; i++)
    if (g.mem[i])
      kfree(g.mem[i]);
  KCHECK(kfreecount() == before, "free pages back to %lu (now %lu)", before, kfreecount());
}
