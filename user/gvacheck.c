// gvacheck: random guest page tables through the VMM's page walker
// (user/vmm/gva.c, gva_translate) against the paging rules of APM Vol. 2
// §5 computed here on their own: 4-level long mode with 4 KiB, 2 MiB and
// 1 GiB pages, PAE with its PDPT, 32-bit paging with 4 MiB pages (CR4.PSE)
// or without; P, R/W with and without CR0.WP, U/S at CPL 0 and 3, NX with
// and without EFER.NXE, reads, writes and fetches; accessed and dirty bits.
// Every table sits on a random page of a pool and every other entry of it
// is random, so a walk that indexes wrongly or follows the wrong entry
// lands on junk.
//
//   gvacheck COUNT           (seed=N on the kernel command line) prints each mismatch, then
//                            "gvacheck: N walks (...), M failed"
#include "user.h"
#include "cmdarg.h"
#include "../user/vmm/gva.h"
#include "../user/vmm/x86emu.h"

#define MEMSIZE (4UL << 20)
#define POOL 0x100000UL          // tables live in [POOL, MEMSIZE)
#define NPOOL ((MEMSIZE - POOL) / 4096)

static struct guest g;
static uint64 state;
static int failed, shown;
static int count_mode[3], count_leaf[4];   // long/pae/32; 4K, 2M, 1G, 4M

// A walk not written yet (a lab 7 handout): say so, as the VMM would.
void x86_missing(const char *what)
{
  printf("gvacheck: lab 7: %s not implemented\n", what);
  exit(1);
}

static uint64 rnd(void)
{
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1DUL;
}
static uint64 below(uint64 n) { return rnd() % n; }
static int chance(int in) { return below(in) == 0; }

// A fresh table page at a random pool page not used yet in this case, full
// of random entries.
static uint64 used[8];
static int nused;
static uint64 new_table(void)
{
  uint64 pa;
  for (;;) {
    pa = POOL + below(NPOOL) * 4096;
    int dup = 0;
    for (int i = 0; i < nused; i++)
      dup |= used[i] == pa;
    if (!dup)
      break;
  }
  used[nused++] = pa;
  uint64 *t = (uint64 *)(g.mem + pa);
  for (int i = 0; i < 512; i++)
    t[i] = rnd();
  return pa;
}

// Random permission bits for one entry: P (mostly), R/W, U/S, A, D, and NX
// (64-bit entries only).
static uint64 flags(int wide)
{
  uint64 f = (chance(12) ? 0 : 1) | (rnd() & 0x66);   // P; W, U, A (0x20), D (0x40)
  if (wide && chance(3))
    f |= 1UL << 63;
  return f;
}

struct path {
  uint64 pa[5];     // where each entry used lies, top first
  int width[5];     // its size, 4 or 8
  int pdpte;        // pa[0] is a PAE PDPT entry: loaded with CR3, no accessed bit
  int n;            // entries on the path
  uint64 gpa;       // the translation, if the walk succeeds
  int leaf;         // 0..3: 4 KiB, 2 MiB, 1 GiB, 4 MiB
  int notpresent;   // the walk stops at a not-present entry
  uint64 w, u, nx;  // all R/W, all U/S, any NX along the path
};

static uint64 get(uint64 pa, int width)
{
  return width == 8 ? *(uint64 *)(g.mem + pa) : *(uint32 *)(g.mem + pa);
}
static void set(uint64 pa, int width, uint64 v)
{
  if (width == 8)
    *(uint64 *)(g.mem + pa) = v;
  else
    *(uint32 *)(g.mem + pa) = v;
}

// Puts entry e at index idx of the table at t and records it on the path.
// Returns 0 when e is not present (the walk ends there).
static int link(struct path *p, uint64 t, int idx, int width, uint64 e, int counts)
{
  uint64 pa = t + idx * width;
  set(pa, width, e);
  p->pa[p->n] = pa;
  p->width[p->n++] = width;
  if (!(e & 1)) {
    p->notpresent = 1;
    return 0;
  }
  if (counts) {
    p->w &= e & 2;
    p->u &= e & 4;
    p->nx |= width == 8 ? e >> 63 : 0;
  }
  return 1;
}

// 4-level long mode or PAE (levels 2 below a PDPT entry). la's path.
static void build64(struct path *p, uint64 table, uint64 la, int levels)
{
  for (int lvl = levels; lvl >= 1; lvl--) {
    int shift = 12 + 9 * (lvl - 1), idx = (la >> shift) & 511;
    uint64 frame = below(1UL << 28) << 12;   // 40-bit physical addresses
    int big = (lvl == 2 || (lvl == 3 && levels == 4)) && chance(3);
    uint64 e = flags(1);
    if (big) {
      // PAT (bit 12) random; bits below the page size otherwise zero (reserved).
      e |= (frame & ~((1UL << shift) - 1)) | 0x80 | (rnd() & 0x1000);
      if (!link(p, table, idx, 8, e, 1))
        return;
      p->gpa = (e & 0x000FFFFFFFFFF000UL & ~((1UL << shift) - 1)) | (la & ((1UL << shift) - 1));
      p->leaf = lvl == 2 ? 1 : 2;
      return;
    }
    uint64 next = lvl > 1 ? new_table() : frame;
    e = (e & ~0x80UL) | next;
    if (!link(p, table, idx, 8, e, 1))
      return;
    if (lvl == 1) {
      p->gpa = next | (la & 0xFFF);
      p->leaf = 0;
    }
    table = next;
  }
}

// 32-bit paging: a 4 MiB page when PS and CR4.PSE, else a page table.
static void build32(struct path *p, uint64 cr3, uint64 la, int pse)
{
  int ps = chance(2);
  uint64 e = flags(0) | (ps ? 0x80 : 0);
  if (ps && pse) {
    e |= (below(1024) << 22) | (rnd() & 0x1000);
    if (!link(p, cr3, (la >> 22) & 1023, 4, e, 1))
      return;
    p->gpa = (e & 0xFFC00000UL) | (la & 0x3FFFFF);
    p->leaf = 3;
    return;
  }
  uint64 pt = new_table();
  if (!link(p, cr3, (la >> 22) & 1023, 4, e | pt, 1))   // PS without CR4.PSE: ignored
    return;
  uint64 frame = below(1UL << 20) << 12;
  if (link(p, pt, (la >> 12) & 1023, 4, flags(0) | frame, 1)) {
    p->gpa = frame | (la & 0xFFF);
    p->leaf = 0;
  }
}

static void mismatch(int i, const char *mode, uint64 la, int acc, int cpl3, const struct vm_regs *r,
                     const char *what, uint64 want, uint64 got)
{
  failed++;
  if (shown++ < 10)
    printf("gvacheck: MISMATCH case %d: %s la 0x%lx %s cpl%d cr0.wp=%d efer.nxe=%d cr4.pse=%d: %s: "
           "expected 0x%lx, got 0x%lx\n", i, mode, la, acc == GVA_WRITE ? "write" : acc ? "fetch" : "read",
           cpl3 ? 3 : 0, (int)(r->cr0 >> 16 & 1), (int)(r->efer >> 11 & 1), (int)(r->cr4 >> 4 & 1), what, want, got);
}

static void one(int i)
{
  static const char *names[3] = {"long mode", "PAE", "32-bit"};
  struct vm_regs r;
  struct path p;
  memset(&r, 0, sizeof r);
  memset(&p, 0, sizeof p);
  nused = 0;
  p.w = 2, p.u = 4;
  int mode = below(3), cpl3 = chance(2);
  int acc = (int[]){GVA_READ, GVA_WRITE, GVA_FETCH}[below(3)];
  r.cr0 = 0x80000011UL | (chance(2) ? 1UL << 16 : 0);
  r.efer = chance(2) ? 1UL << 11 : 0;
  r.cs.attr = cpl3 ? 0x60 | 0x9B : 0x9B;
  uint64 la;
  if (mode == 0) {
    r.efer |= 0x500;   // LME, LMA
    r.cr4 = 0x20;
    la = rnd() & 0xFFFFFFFFFFFFUL;
    if (la >> 47)
      la |= 0xFFFF000000000000UL;   // canonical
    r.cr3 = new_table();
    build64(&p, r.cr3, la, 4);
  } else if (mode == 1) {
    r.cr4 = 0x20;
    la = (uint32)rnd();
    uint64 pdpt = new_table() + 32 * below(128);   // 32-byte aligned anywhere in its page
    r.cr3 = pdpt;
    uint64 pd = new_table();
    int present = !chance(12);
    uint64 e = pd | present;                       // a PDPT entry has no R/W, U/S or NX
    set(pdpt + 8 * (la >> 30), 8, e);
    p.pa[p.n] = pdpt + 8 * (la >> 30), p.width[p.n++] = 8, p.pdpte = 1;
    if (present)
      build64(&p, pd, la, 2);
    else
      p.notpresent = 1;
  } else {
    int pse = chance(2);
    r.cr4 = pse ? 0x10 : 0;
    r.efer &= ~(1UL << 11);   // NXE needs PAE to mean anything; keep it off
    la = (uint32)rnd();
    r.cr3 = new_table();
    build32(&p, r.cr3, la, pse);
  }
  count_mode[mode]++;

  // The rules (APM Vol. 2 §5.6, §8.4.2): error code bits P, W/R, U/S, I/D
  // (I/D only with EFER.NXE under PAE or long mode).
  int id = (acc == GVA_FETCH && (r.efer >> 11 & 1) && mode != 2) ? 0x10 : 0;
  int code = (acc == GVA_WRITE ? 2 : 0) | (cpl3 ? 4 : 0) | id;
  int want;
  if (p.notpresent) {
    want = GVA_FAULT | code;
  } else {
    int wp = r.cr0 >> 16 & 1, nxe = r.efer >> 11 & 1;
    int denied = (acc == GVA_WRITE && !p.w && (cpl3 || wp)) || (cpl3 && !p.u) ||
                 (acc == GVA_FETCH && nxe && p.nx);
    want = denied ? GVA_FAULT | 1 | code : 0;
  }
  if (!want)
    count_leaf[p.leaf]++;
  uint64 before[5];
  for (int k = 0; k < p.n; k++)
    before[k] = get(p.pa[k], p.width[k]);
  uint64 gpa = 0;
  int got = gva_translate(&g, &r, la, acc, &gpa);
  if (got != want) {
    mismatch(i, names[mode], la, acc, cpl3, &r, "result", want, got);
    return;
  }
  if (!want && gpa != p.gpa)
    mismatch(i, names[mode], la, acc, cpl3, &r, "gpa", p.gpa, gpa);
  // Accessed bits on every entry used, dirty on the leaf of a write, nothing
  // else changed (§5.4.2). A faulting walk may set accessed bits or not.
  for (int k = 0; k < p.n; k++) {
    uint64 now = get(p.pa[k], p.width[k]), exp = before[k];
    if (!want) {
      if (!(k == 0 && p.pdpte))
        exp |= 0x20;
      if (k == p.n - 1 && acc == GVA_WRITE)
        exp |= 0x40;
    } else if ((now & ~0x20UL) == (exp & ~0x20UL)) {
      continue;
    }
    if (now != exp)
      mismatch(i, names[mode], la, acc, cpl3, &r, k == p.n - 1 ? "leaf entry after the walk" :
               "table entry after the walk", exp, now);
  }
}

int main(int argc, char **argv)
{
  if (argc < 2)
    return printf("usage: gvacheck COUNT (the seed: seed=N on the kernel command line)\n"), 1;
  long cur = sbrk(0), pad = (4096 - cur % 4096) % 4096;
  if (sbrk(pad + MEMSIZE) < 0)
    return printf("gvacheck: no memory\n"), 1;
  g.mem = (uint8 *)(cur + pad);
  g.hdr.memsize = MEMSIZE;
  state = 0x9E3779B97F4A7C15UL ^ cmdline_num("seed", 1) * 0x100000001B3UL;
  int n = atoi(argv[1]);
  for (int i = 0; i < n; i++)
    one(i);
  printf("gvacheck: %d walks (long mode %d, PAE %d, 32-bit %d; translated: 4K %d, 2M %d, 1G %d, 4M %d), "
         "%d failed\n", n, count_mode[0], count_mode[1], count_mode[2], count_leaf[0], count_leaf[1],
         count_leaf[2], count_leaf[3], failed);
  return failed != 0;
}
