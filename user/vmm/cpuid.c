// The guest's CPUID, as KVM's supported-CPUID policy does it: the host's
// values filtered down to what this VMM and kernel really give a guest.
// Hidden until they exist: the local APIC, x2APIC, TSC-deadline, MONITOR/
// MWAIT, SVM/VMX, performance counters, machine check, XSAVE and everything
// that needs it (AVX...; guests get x87/SSE state through FXSAVE, saved per
// vcpu by kern/svm/fpu.c), the speculation-control MSRs. RDTSCP and RDPID
// are shown when the host has them: the kernel switches TSC_AUX around
// VMRUN (kern/svm/tsc_aux.c). The hypervisor bit is set, leaf 0 and leaf
// 0x40000000 carry vendor strings of our own. Leaves are described in AMD's
// CPUID Specification (#25481) and APM Vol. 3 Appendix E "Obtaining
// Processor Information Via the CPUID Instruction". Why the vendor is ours
// and not the host's: docs/cpu-model.md.
#include "vmm.h"
#include "kvmpv.h"

#define MAX_BASIC 0x7
#define MAX_EXT 0x80000008

// Leaf 1 EDX: FPU VME DE PSE TSC MSR PAE CX8 SEP MTRR PGE CMOV PAT PSE36
// CLFSH MMX FXSR SSE SSE2 (no APIC 9, MCE 7, MCA 14, ACPI, DS, HTT...).
#define L1_EDX 0x078BB97F
// Leaf 1 ECX: SSE3 PCLMUL SSSE3 CX16 SSE4.1 SSE4.2 MOVBE POPCNT AES RDRAND
// (no MONITOR 3, VMX 5, PDCM 15, x2APIC 21, TSC-deadline 24, XSAVE 26,
// OSXSAVE 27, AVX 28, F16C 29).
#define L1_ECX 0x42D82203
// Leaf 7.0 EBX: FSGSBASE BMI1 SMEP BMI2 ERMS ADX SMAP CLFLUSHOPT SHA.
#define L7_EBX 0x20980389
// Leaf 7.0 ECX: RDPID.
#define L7_ECX 0x00400000
// 8000_0001 ECX: LAHF ABM SSE4A MisAlignSSE 3DNowPrefetch TBM
// (no SVM 2, ExtApicSpace 3, OSVW 9, IBS 10, XOP 11, SKINIT 12, WDT 13,
// FMA4 16, TopoExt 22, PerfCtrExtCore 23...).
#define E1_ECX 0x002001E1
// 8000_0001 EDX: the leaf 1 EDX bits it mirrors, SYSCALL, NX, MMXExt,
// Page1GB, RDTSCP, LM, 3DNowExt, 3DNow (no FFXSR 25).
#define E1_EDX (0xEC500800 | (L1_EDX & 0x0003FFFF))

static void str3(const char *s, uint32 *a, uint32 *b, uint32 *c)
{
  memmove(a, s, 4);
  memmove(b, s + 4, 4);
  memmove(c, s + 8, 4);
}

static void host_cpuid(uint32 leaf, uint32 sub, uint32 *r)
{
  asm volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

// The vcpus of this guest (vmm -V), for the topology fields.
static int nvcpus(struct guest *g) { return g->o->nvcpus > 1 ? g->o->nvcpus : 1; }

// Bits an APIC ID needs to number n CPUs (8000_0008h ECX ApicIdSize).
static uint32 id_bits(int n)
{
  uint32 b = 0;
  while ((1 << b) < n)
    b++;
  return b;
}

// Basic leaves 0..MAX_BASIC; r starts zeroed.
static void basic_leaf(struct guest *g, uint32 leaf, uint32 sub, uint32 *r)
{
  if (leaf == 0) {
    r[0] = MAX_BASIC;
    str3("SVMLAB vCPU ", &r[1], &r[3], &r[2]);   // EBX, EDX, ECX
  } else if (leaf == 1) {
    host_cpuid(1, 0, r);
    r[1] &= 0x0000FF00;                           // CLFLUSH size
    r[1] |= (uint32)g->index << 24;               // initial APIC ID: the vcpu's (the MADT's too)
    r[2] = (r[2] & L1_ECX) | (1u << 31);          // hypervisor present
    r[3] &= L1_EDX;
    if (nvcpus(g) > 1)                            // HTT: EBX[23:16] counts the package's logical CPUs
      r[1] |= (uint32)nvcpus(g) << 16, r[3] |= 1u << 28;   // (AMD CPUID spec #25481, Fn0000_0001)
  } else if (leaf == 7 && sub == 0) {
    host_cpuid(7, 0, r);
    r[0] = 0;                                     // no subleaves
    r[1] &= L7_EBX;
    r[2] &= L7_ECX;
    r[3] = 0;
  }
}

// Extended leaves 8000_0000..MAX_EXT.
static void ext_leaf(struct guest *g, uint32 leaf, uint32 *r)
{
  if (leaf == 0x80000000) {
    r[0] = MAX_EXT;
    str3("SVMLAB vCPU ", &r[1], &r[3], &r[2]);
  } else if (leaf == 0x80000001) {
    host_cpuid(leaf, 0, r);
    r[1] = 0;
    r[2] &= E1_ECX;
    r[3] &= E1_EDX;
  } else if (leaf >= 0x80000002 && leaf <= 0x80000006) {
    host_cpuid(leaf, 0, r);                       // brand string, cache and TLB descriptions
  } else if (leaf == 0x80000007) {
    host_cpuid(leaf, 0, r);
    r[0] = r[1] = r[2] = 0;
    r[3] &= 1u << 8;                              // invariant TSC only
  } else if (leaf == 0x80000008) {
    host_cpuid(leaf, 0, r);
    r[0] &= 0xFFFF;                               // address sizes
    r[1] = r[2] = r[3] = 0;                       // no IBPB/IBRS/SSBD
    r[2] = id_bits(nvcpus(g)) << 12 | (nvcpus(g) - 1);   // ApicIdSize, NC: one core per vcpu
  }
}

// -N (kern/svm/nested.c): SVM for the guest. 8000_0001h ECX.SVM, and leaf
// 8000_000Ah with what the kernel emulates and nothing else (AMD's CPUID
// Specification #25481, APM Vol. 2 §15.4): revision 1, 16 ASIDs (any value
// L1 picks is folded into one of the host's), nested paging (EDX bit 0). No
// NRIPS, decode assists, clean bits, flush-by-ASID, VGIF, AVIC, LBR
// virtualisation or pause filter: L1 must not rely on them.
#define SVM_ASIDS 16
static void nested_leaf(uint32 leaf, uint32 *r)
{
  if (leaf == 0x80000000)
    r[0] = 0x8000000A;
  else if (leaf == 0x80000001)
    r[2] |= 1u << 2;
  else if (leaf == 0x8000000A) {
    r[0] = 1;
    r[1] = SVM_ASIDS;
    r[2] = 0;
    r[3] = 1u << 0;
  }
}

// The policy's answer for leaf/sub into r[4].
static void answer(struct guest *g, uint32 leaf, uint32 sub, uint32 *r)
{
  r[0] = r[1] = r[2] = r[3] = 0;
  if (leaf <= MAX_BASIC)
    basic_leaf(g, leaf, sub, r);
  else if (leaf == 0x40000000) {
    r[0] = 0x40000000;
    str3("SvmLabVMM v1", &r[1], &r[2], &r[3]);
  } else if (leaf >= 0x80000000 && leaf <= MAX_EXT)
    ext_leaf(g, leaf, r);
  if (g->o->nested && leaf >= 0x80000000 && leaf <= 0x8000000A)
    nested_leaf(leaf, r);
  apic_cpuid(g, leaf, r);
  kvmpv_cpuid(g, leaf, r);
}

// Answers a CPUID exit from the policy above.
int dev_cpuid(struct guest *g)
{
  struct vm_exit *e = &g->e;
  uint32 r[4];
  answer(g, e->u.cpuid.leaf, e->u.cpuid.subleaf, r);
  e->u.cpuid.eax = r[0], e->u.cpuid.ebx = r[1], e->u.cpuid.ecx = r[2], e->u.cpuid.edx = r[3];
  return 1;
}

// One table entry: the answer for leaf (subleaf sub when flags say so).
static void put(struct guest *g, struct vm_cpuid_entry *t, int *n, uint32 leaf, uint32 sub, uint32 flags)
{
  uint32 r[4];
  answer(g, leaf, sub, r);
  t[*n] = (struct vm_cpuid_entry){leaf, sub, flags, 0, r[0], r[1], r[2], r[3]};
  (*n)++;
}

// Before this vcpu first runs: the answers that cannot change while the
// guest runs go to the kernel (vcpu_cpuid; kern/svm/cpuid_table.c), which
// then gives them without an exit. Leaf 1 stays out on the APIC board (its
// APIC bit follows APIC_BASE.EN). Every leaf the policy does not name reads
// as zeros, so ranges of zeros close the gaps (Linux looks for hypervisor
// signatures at every 0x100 from 0x40000000: 255 CPUIDs per name).
// Only for -k guests (Linux's boot asks some 450 times), whose exit counts
// are not compared exactly; -P keeps every CPUID in the VMM. 0, or -1 after
// failing the guest.
int cpuid_table_setup(struct guest *g)
{
  static struct vm_cpuid_entry t[VM_CPUID_MAX];
  int n = 0;
  g->cpuid_set = 1;
  if (!g->o->kernel || g->o->pio_exits)
    return 0;
  for (uint32 leaf = 0; leaf <= MAX_BASIC; leaf++)
    if (leaf != 1 || !g->board->apics)
      put(g, t, &n, leaf, 0, leaf == 7 ? VM_CPUID_F_SUBLEAF : 0);
  put(g, t, &n, 7, 1, 0);   // leaf 7's other subleaves (all zero): after subleaf 0's own entry
  for (uint32 leaf = 0x40000000; leaf <= 0x40000010; leaf++)
    put(g, t, &n, leaf, 0, 0);
  for (uint32 leaf = 0x80000000; leaf <= 0x8000000A; leaf++)
    put(g, t, &n, leaf, 0, 0);
  put(g, t, &n, MAX_BASIC + 1, 0x3FFFFFFF, VM_CPUID_F_RANGE);   // zeros, as answer() gives them
  put(g, t, &n, 0x40000011, 0x7FFFFFFF, VM_CPUID_F_RANGE);
  put(g, t, &n, 0x8000000B, 0xFFFFFFFF, VM_CPUID_F_RANGE);
  int r = vcpu_cpuid(g->vm, g->vcpu, t, n);
  if (r < 0)
    guest_fail(g, "vcpu_cpuid: %s", errstr(r));
  return r < 0 ? -1 : 0;
}
