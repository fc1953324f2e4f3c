// Lab 2 (vmcb): the VMRUN consistency checks of APM Vol. 2 §15.5.1 "Basic
// Operation". VMRUN refuses a VMCB that describes an illegal guest state by
// exiting at once with VMEXIT_INVALID and no hint of why; this checker says
// which rule failed, so the vmm can report it (and tests can show that the
// checker and the CPU agree).
//
// The rules vmcb_check tests, in the order it tests them (the first broken
// one is reported; each has its enum vmcb_rule value, svm/vmm.h):
//   control area: VMRUN intercept clear (VMCB_BAD_VMRUN_INTERCEPT),
//     IOPM or MSRPM reaching past MAXPHYADDR (VMCB_BAD_PERM_MAP),
//     illegal event injection, §15.20 (VMCB_BAD_EVENTINJ), ASID 0 (VMCB_BAD_ASID)
//   registers: EFER.SVME clear, CR0.CD clear with CR0.NW set, CR0[63:32] set,
//     a CR3 or CR4 MBZ bit set, DR6[63:32] or DR7[63:32] set, an EFER MBZ bit set
//   long mode: EFER.LME and CR0.PG with CR4.PAE clear, or with CR0.PE clear;
//     EFER.LME, CR0.PG, CS.L and CS.D all set
// (The APM also forbids EFER.LME/LMA on a CPU without long mode; svmlab's
// host runs in long mode, so that rule cannot fail here and has no value.)
#include "defs.h"
#include "x86.h"
#include "svm/vmm.h"

// CR4 bits (APM Vol. 2 §3.1.3 "CR4 Register") and the CPUID bits that make
// the optional ones legal.
#define CR4_UMIP     (_UL(1) << 11)
#define CR4_LA57     (_UL(1) << 12)
#define CR4_FSGSBASE (_UL(1) << 16)
#define CR4_PCIDE    (_UL(1) << 17)
#define CR4_OSXSAVE  (_UL(1) << 18)
#define CR4_SMEP     (_UL(1) << 20)
#define CR4_SMAP     (_UL(1) << 21)
#define CR4_PKE      (_UL(1) << 22)
#define CR4_CET      (_UL(1) << 23)

static const char *rule_names[VMCB_NRULES] = {
  [VMCB_OK] = "ok",
  [VMCB_BAD_ASID] = "ASID is 0",
  [VMCB_BAD_VMRUN_INTERCEPT] = "VMRUN intercept clear",
  [VMCB_BAD_EFER_SVME] = "EFER.SVME clear",
  [VMCB_BAD_EFER_MBZ] = "EFER reserved bit set",
  [VMCB_BAD_CR0_CD_NW] = "CR0.NW set with CR0.CD clear",
  [VMCB_BAD_CR0_HIGH] = "CR0[63:32] not zero",
  [VMCB_BAD_CR3_MBZ] = "CR3 reserved bit set",
  [VMCB_BAD_CR4_MBZ] = "CR4 reserved bit set",
  [VMCB_BAD_DR6_HIGH] = "DR6[63:32] not zero",
  [VMCB_BAD_DR7_HIGH] = "DR7[63:32] not zero",
  [VMCB_BAD_LM_NO_PAE] = "EFER.LME and CR0.PG with CR4.PAE clear",
  [VMCB_BAD_LM_NO_PE] = "EFER.LME and CR0.PG with CR0.PE clear",
  [VMCB_BAD_LM_CS_LD] = "long mode with CS.L and CS.D both set",
  [VMCB_BAD_PERM_MAP] = "IOPM or MSRPM beyond the physical address width",
  [VMCB_BAD_EVENTINJ] = "illegal event injection",
};

const char *vmcb_rule_name(enum vmcb_rule r)
{
  return (unsigned)r < VMCB_NRULES ? rule_names[r] : "unknown rule";
}

// LAB 2 BEGIN
// Bits 10:0 are legal on every long-mode CPU; 15, 14 (SMXE), 13 (VMXE: Intel
// only), 19 and 63:24 except CET are reserved on AMD.
#define CR4_ALWAYS_OK _UL(0x7FF)

// EFER bits (APM Vol. 2 §3.1.7 "Extended Feature Enable Register"): SCE,
// LME, LMA, NXE and SVME exist on every CPU that runs this kernel; the
// others belong to optional features and are reserved (MBZ) on a CPU whose
// CPUID does not report them. Everything else is reserved.
#define EFER_ALWAYS_OK (EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE | EFER_SVME)

// The physical address width, CPUID 8000_0008h EAX[7:0].
static int maxphyaddr(void) { return cpuid(0x80000008, 0).eax & 0xFF; }

// CR4 bits that must be zero on this CPU: the reserved ones and those of
// features CPUID does not report.
static uint64 cr4_mbz(void)
{
  struct cpuid_regs l1 = cpuid(1, 0), l7 = cpuid(7, 0);
  uint64 ok = CR4_ALWAYS_OK;
  ok |= (l7.ecx & (1u << 2)) ? CR4_UMIP : 0;
  ok |= (l7.ecx & (1u << 16)) ? CR4_LA57 : 0;
  ok |= (l7.ebx & (1u << 0)) ? CR4_FSGSBASE : 0;
  ok |= (l1.ecx & (1u << 17)) ? CR4_PCIDE : 0;
  ok |= (l1.ecx & (1u << 26)) ? CR4_OSXSAVE : 0;
  ok |= (l7.ebx & (1u << 7)) ? CR4_SMEP : 0;
  ok |= (l7.ebx & (1u << 20)) ? CR4_SMAP : 0;
  ok |= (l7.ecx & (1u << 3)) ? CR4_PKE : 0;
  ok |= (l7.ecx & (1u << 7)) ? CR4_CET : 0;
  return ~ok;
}

// EFER bits that must be zero on this CPU.
static uint64 efer_mbz(void)
{
  struct cpuid_regs e1 = cpuid(0x80000001, 0), e8 = cpuid(0x80000008, 0);
  uint64 ok = EFER_ALWAYS_OK;
  ok |= (e8.ebx & (1u << 20)) ? 0 : _UL(1) << 13;        // LMSLE, unless "LMSLE unsupported"
  ok |= (e1.edx & (1u << 25)) ? _UL(1) << 14 : 0;        // FFXSR
  ok |= (e1.ecx & (1u << 17)) ? _UL(1) << 15 : 0;        // TCE
  ok |= (e8.ebx & (1u << 8)) ? _UL(1) << 17 : 0;         // MCOMMIT
  ok |= (e8.ebx & (1u << 4)) ? _UL(1) << 18 : 0;         // INTWB
  if (cpuid(0x80000000, 0).eax >= 0x80000021) {
    struct cpuid_regs e21 = cpuid(0x80000021, 0);
    ok |= (e21.eax & (1u << 7)) ? _UL(1) << 20 : 0;      // UAIE
    ok |= (e21.eax & (1u << 8)) ? _UL(1) << 21 : 0;      // AIBRSE
  }
  return ~ok;
}

// Control registers, debug registers, EFER (the first part of the list).
static enum vmcb_rule check_regs(const struct vmcb_save *s)
{
  if (!(s->efer & EFER_SVME))
    return VMCB_BAD_EFER_SVME;
  if (!(s->cr0 & CR0_CD) && (s->cr0 & CR0_NW))
    return VMCB_BAD_CR0_CD_NW;
  if (s->cr0 >> 32)
    return VMCB_BAD_CR0_HIGH;
  // CR3 bits 63:MAXPHYADDR are MBZ (bits 63:52 in long mode, and no address
  // the CPU could use beyond its width).
  if (s->cr3 & ~((_UL(1) << maxphyaddr()) - 1))
    return VMCB_BAD_CR3_MBZ;
  if (s->cr4 & cr4_mbz())
    return VMCB_BAD_CR4_MBZ;
  if (s->dr6 >> 32)
    return VMCB_BAD_DR6_HIGH;
  if (s->dr7 >> 32)
    return VMCB_BAD_DR7_HIGH;
  if (s->efer & efer_mbz())
    return VMCB_BAD_EFER_MBZ;
  return VMCB_OK;
}

// The long-mode combinations (§14.6: long mode needs PAE and protection,
// and a code segment cannot be both 64-bit and 32-bit).
static enum vmcb_rule check_long_mode(const struct vmcb_save *s)
{
  int lm_paging = (s->efer & EFER_LME) && (s->cr0 & CR0_PG);
  if (lm_paging && !(s->cr4 & CR4_PAE))
    return VMCB_BAD_LM_NO_PAE;
  if (lm_paging && !(s->cr0 & CR0_PE))
    return VMCB_BAD_LM_NO_PE;
  if (lm_paging && (s->cs.attrib & SEG_ATTR_L) && (s->cs.attrib & SEG_ATTR_DB))
    return VMCB_BAD_LM_CS_LD;
  return VMCB_OK;
}

// A map of `size` bytes at base must end below 2^MAXPHYADDR - 1 (the CPU
// ignores the low 12 bits of the base).
static int map_fits(uint64 base, uint64 size)
{
  uint64 limit = _UL(1) << maxphyaddr();
  return (base & ~_UL(0xFFF)) < limit - size;
}

// EVENTINJ (§15.20 "Event Injection"): TYPE 1, 5, 6, 7 are reserved, and an
// exception (TYPE 3) must be an exception vector other than 2 (NMI has its
// own type).
static int eventinj_ok(uint64 ev)
{
  if (!(ev & SVM_EVTINJ_VALID))
    return 1;
  uint64 type = ev & SVM_EVTINJ_TYPE_MASK, vec = ev & SVM_EVTINJ_VEC_MASK;
  if (type != SVM_EVTINJ_TYPE_INTR && type != SVM_EVTINJ_TYPE_NMI &&
      type != SVM_EVTINJ_TYPE_EXEPT && type != SVM_EVTINJ_TYPE_SOFT)
    return 0;
  return type != SVM_EVTINJ_TYPE_EXEPT || (vec != 2 && vec < 32);
}

// The control-area rules.
static enum vmcb_rule check_control(const struct vmcb_control *c)
{
  if (!(c->intercepts[INTERCEPT_WORD_MISC2] & INTERCEPT_VMRUN))
    return VMCB_BAD_VMRUN_INTERCEPT;
  if (!map_fits(c->iopm_base_pa, IOPM_SIZE) || !map_fits(c->msrpm_base_pa, MSRPM_SIZE))
    return VMCB_BAD_PERM_MAP;
  if (!eventinj_ok(c->eventinj))
    return VMCB_BAD_EVENTINJ;
  if (c->asid == 0)
    return VMCB_BAD_ASID;
  return VMCB_OK;
}
// LAB 2 STUB
// // LAB 2: helpers for vmcb_check, one rule each (§15.5.1): control area, control/debug
// // registers and EFER, the long-mode combinations. Values the CPU may vary come from CPUID.
// LAB 2 END

// Returns VMCB_OK if VMRUN would accept vmcb's guest state as far as §15.5.1
// says, else the first rule broken (control area first, then registers).
enum vmcb_rule vmcb_check(const struct vmcb *vmcb)
{
  // LAB 2 BEGIN
  enum vmcb_rule r = check_control(&vmcb->control);
  if (r == VMCB_OK)
    r = check_regs(&vmcb->save);
  if (r == VMCB_OK)
    r = check_long_mode(&vmcb->save);
  return r;
  // LAB 2 STUB
  // // LAB 2: VMCB_OK if VMRUN would accept the VMCB, else a rule it breaks (with several,
  // // the first of the list at the top of this file).
  // lab_missing(2, "vmcb_check");
  // return VMCB_OK;
  // LAB 2 END
}
