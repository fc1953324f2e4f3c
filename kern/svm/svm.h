// AMD SVM hardware definitions: the VMCB layout, exit codes, intercept bits,
// event injection, interrupt control, MSRs and CPUID feature bits.
// Source: AMD64 Architecture Programmer's Manual Vol. 2, chapter 15 "Secure
// Virtual Machine" and Appendix B "Layout of VMCB" (tables B-1 and B-2).
// Offsets in comments are from the start of the area the struct describes.
#pragma once
#include "types.h"
#include "const.h"

// ---- MSRs (APM Vol. 2 §15.30 "SVM-Related MSRs") -------------------------
#define MSR_VM_CR       0xC0010114   // SVM control
#define MSR_VM_HSAVE_PA 0xC0010117   // physical address of the host save area
#define VM_CR_DPD       (1u << 0)    // debug port disable
#define VM_CR_R_INIT    (1u << 1)    // INIT redirected to #SX
#define VM_CR_DIS_A20M  (1u << 2)
#define VM_CR_LOCK      (1u << 3)    // SVMDIS and LOCK are read-only
#define VM_CR_SVMDIS    (1u << 4)    // EFER.SVME cannot be set (§15.4 "Enabling SVM")
// EFER itself is MSR_EFER in mmu.h; EFER_SVME is bit 12.

// ---- CPUID (APM Vol. 3 Appendix E, §15.4) --------------------------------
#define CPUID_EXT_FEATURES 0x80000001u   // ECX bit 2: SVM
#define CPUID_EXT_ECX_SVM  (1u << 2)
#define CPUID_SVM_LEAF     0x8000000Au   // EAX[7:0] revision, EBX #ASIDs, EDX features
// Leaf 8000_000Ah EDX:
#define SVM_FEAT_NP          (1u << 0)    // nested paging
#define SVM_FEAT_LBRV        (1u << 1)    // LBR virtualisation
#define SVM_FEAT_SVML        (1u << 2)    // SVM lock
#define SVM_FEAT_NRIPS       (1u << 3)    // next RIP saved on #VMEXIT
#define SVM_FEAT_TSCRATE     (1u << 4)    // TSC ratio MSR
#define SVM_FEAT_VMCBCLEAN   (1u << 5)    // VMCB clean bits
#define SVM_FEAT_FLUSHASID   (1u << 6)    // TLB_CONTROL flush by ASID
#define SVM_FEAT_DECODE      (1u << 7)    // decode assists
#define SVM_FEAT_PAUSEFILTER (1u << 10)
#define SVM_FEAT_PFTHRESHOLD (1u << 12)
#define SVM_FEAT_AVIC        (1u << 13)
#define SVM_FEAT_VMSAVEVIRT  (1u << 15)   // virtualised VMSAVE/VMLOAD
#define SVM_FEAT_VGIF        (1u << 16)
#define SVM_FEAT_GMET        (1u << 17)
#define SVM_FEAT_X2AVIC      (1u << 18)
#define SVM_FEAT_SSSCHECK    (1u << 19)
#define SVM_FEAT_SPECCTRL    (1u << 20)
#define SVM_FEAT_VNMI        (1u << 25)

// ---- Intercept vectors (Appendix B, table B-1, offsets 0x000-0x014) ------
// Word 0 (0x000): CR reads in bits 15:0, CR writes in bits 31:16.
#define INTERCEPT_CR_READ(n)  (1u << (n))
#define INTERCEPT_CR_WRITE(n) (1u << (16 + (n)))
// Word 1 (0x004): DR reads in bits 15:0, DR writes in bits 31:16.
#define INTERCEPT_DR_READ(n)  (1u << (n))
#define INTERCEPT_DR_WRITE(n) (1u << (16 + (n)))
// Word 2 (0x008): one bit per exception vector.
#define INTERCEPT_EXC(v)      (1u << (v))
// Word 3 (0x00C): misc1.
#define INTERCEPT_INTR        (1u << 0)
#define INTERCEPT_NMI         (1u << 1)
#define INTERCEPT_SMI         (1u << 2)
#define INTERCEPT_INIT        (1u << 3)
#define INTERCEPT_VINTR       (1u << 4)
#define INTERCEPT_CR0_SEL     (1u << 5)   // CR0 writes other than TS/MP
#define INTERCEPT_IDTR_READ   (1u << 6)
#define INTERCEPT_GDTR_READ   (1u << 7)
#define INTERCEPT_LDTR_READ   (1u << 8)
#define INTERCEPT_TR_READ     (1u << 9)
#define INTERCEPT_IDTR_WRITE  (1u << 10)
#define INTERCEPT_GDTR_WRITE  (1u << 11)
#define INTERCEPT_LDTR_WRITE  (1u << 12)
#define INTERCEPT_TR_WRITE    (1u << 13)
#define INTERCEPT_RDTSC       (1u << 14)
#define INTERCEPT_RDPMC       (1u << 15)
#define INTERCEPT_PUSHF       (1u << 16)
#define INTERCEPT_POPF        (1u << 17)
#define INTERCEPT_CPUID       (1u << 18)
#define INTERCEPT_RSM         (1u << 19)
#define INTERCEPT_IRET        (1u << 20)
#define INTERCEPT_INTN        (1u << 21)
#define INTERCEPT_INVD        (1u << 22)
#define INTERCEPT_PAUSE       (1u << 23)
#define INTERCEPT_HLT         (1u << 24)
#define INTERCEPT_INVLPG      (1u << 25)
#define INTERCEPT_INVLPGA     (1u << 26)
#define INTERCEPT_IOIO_PROT   (1u << 27)   // consult the I/O permission map
#define INTERCEPT_MSR_PROT    (1u << 28)   // consult the MSR permission map
#define INTERCEPT_TASK_SWITCH (1u << 29)
#define INTERCEPT_FERR_FREEZE (1u << 30)
#define INTERCEPT_SHUTDOWN    (1u << 31)
// Word 4 (0x010): misc2.
#define INTERCEPT_VMRUN       (1u << 0)    // must be set, or VMRUN fails (§15.5.1)
#define INTERCEPT_VMMCALL     (1u << 1)
#define INTERCEPT_VMLOAD      (1u << 2)
#define INTERCEPT_VMSAVE      (1u << 3)
#define INTERCEPT_STGI        (1u << 4)
#define INTERCEPT_CLGI        (1u << 5)
#define INTERCEPT_SKINIT      (1u << 6)
#define INTERCEPT_RDTSCP      (1u << 7)
#define INTERCEPT_ICEBP       (1u << 8)
#define INTERCEPT_WBINVD      (1u << 9)
#define INTERCEPT_MONITOR     (1u << 10)
#define INTERCEPT_MWAIT       (1u << 11)
#define INTERCEPT_MWAIT_COND  (1u << 12)
#define INTERCEPT_XSETBV      (1u << 13)
#define INTERCEPT_RDPRU       (1u << 14)
#define INTERCEPT_EFER_WRITE_TRAP (1u << 15)
#define INTERCEPT_CR_WRITE_TRAP(n) (1u << (16 + (n)))
// Word 5 (0x014): misc3.
#define INTERCEPT_INVLPGB     (1u << 0)
#define INTERCEPT_INVLPGB_ILL (1u << 1)
#define INTERCEPT_INVPCID     (1u << 2)
#define INTERCEPT_MCOMMIT     (1u << 3)
#define INTERCEPT_TLBSYNC     (1u << 4)

// Index of each 32-bit intercept word in vmcb_control.intercepts[].
enum { INTERCEPT_WORD_CR, INTERCEPT_WORD_DR, INTERCEPT_WORD_EXC, INTERCEPT_WORD_MISC1,
       INTERCEPT_WORD_MISC2, INTERCEPT_WORD_MISC3, INTERCEPT_WORDS };

// ---- TLB_CONTROL (offset 0x05C; §15.16.1 "TLB Flush") --------------------
#define TLB_CONTROL_DO_NOTHING     0
#define TLB_CONTROL_FLUSH_ALL      1   // every ASID: the only value QEMU needs
#define TLB_CONTROL_FLUSH_ASID     3   // this guest's ASID (needs FlushByAsid)
#define TLB_CONTROL_FLUSH_ASID_NG  7   // this guest's non-global entries

// ---- int_ctl (offset 0x060; §15.21 "Interrupt and LDT Virtualisation") ---
#define V_TPR_MASK            _UL(0xFF)           // bits 7:0 virtual TPR
#define V_IRQ                 (_UL(1) << 8)       // a virtual interrupt is pending
#define V_GIF                 (_UL(1) << 9)
#define V_INTR_PRIO_SHIFT     16                  // bits 19:16 priority of V_IRQ
#define V_INTR_PRIO_MASK      (_UL(0xF) << V_INTR_PRIO_SHIFT)
#define V_IGN_TPR             (_UL(1) << 20)      // V_IRQ ignores V_TPR
#define V_INTR_MASKING        (_UL(1) << 24)      // guest IF masks only virtual interrupts
#define V_GIF_ENABLE          (_UL(1) << 25)
#define AVIC_ENABLE           (_UL(1) << 31)
#define V_INTR_VECTOR_SHIFT   32                  // bits 39:32 vector of V_IRQ
#define V_INTR_VECTOR_MASK    (_UL(0xFF) << V_INTR_VECTOR_SHIFT)

// int_state (offset 0x068).
#define SVM_INTERRUPT_SHADOW  (_UL(1) << 0)
#define SVM_GUEST_INT_MASK    (_UL(1) << 1)

// nested_ctl (offset 0x090).
#define SVM_NESTED_CTL_NP_ENABLE (_UL(1) << 0)
#define SVM_NESTED_CTL_SEV       (_UL(1) << 1)
#define SVM_NESTED_CTL_SEV_ES    (_UL(1) << 2)

// virt_ext (offset 0x0B8).
#define SVM_LBR_VIRT_ENABLE   (_UL(1) << 0)
#define SVM_VMSAVE_VIRT_ENABLE (_UL(1) << 1)

// ---- EVENTINJ and EXITINTINFO (offsets 0x0A8, 0x088; §15.20) -------------
//   63            32 31 30      12 11  10   8 7      0
//  +----------------+--+----------+--+------+--------+
//  |   error code   |V |    0     |EV| TYPE | VECTOR |
//  +----------------+--+----------+--+------+--------+
#define SVM_EVTINJ_VEC_MASK   _UL(0xFF)
#define SVM_EVTINJ_TYPE_SHIFT 8
#define SVM_EVTINJ_TYPE_MASK  (_UL(7) << SVM_EVTINJ_TYPE_SHIFT)
#define SVM_EVTINJ_TYPE_INTR  (_UL(0) << SVM_EVTINJ_TYPE_SHIFT)   // external interrupt
#define SVM_EVTINJ_TYPE_NMI   (_UL(2) << SVM_EVTINJ_TYPE_SHIFT)
#define SVM_EVTINJ_TYPE_EXEPT (_UL(3) << SVM_EVTINJ_TYPE_SHIFT)   // exception (fault/trap)
#define SVM_EVTINJ_TYPE_SOFT  (_UL(4) << SVM_EVTINJ_TYPE_SHIFT)   // software interrupt INTn
#define SVM_EVTINJ_VALID_ERR  (_UL(1) << 11)                      // push the error code
#define SVM_EVTINJ_VALID      (_UL(1) << 31)
#define SVM_EVTINJ_ERR_SHIFT  32

// ---- VMCB clean bits (offset 0x0C0; §15.15.3 "VMCB Clean Field") ---------
enum {
  VMCB_CLEAN_INTERCEPTS, // 0: intercept vectors, TSC offset, pause filter
  VMCB_CLEAN_PERM_MAP,   // 1: IOPM_BASE_PA, MSRPM_BASE_PA
  VMCB_CLEAN_ASID,       // 2: ASID
  VMCB_CLEAN_INTR,       // 3: V_TPR, V_IRQ, V_INTR_PRIO, V_IGN_TPR, V_INTR_MASKING, V_INTR_VECTOR
  VMCB_CLEAN_NPT,        // 4: NP_ENABLE, N_CR3, G_PAT
  VMCB_CLEAN_CR,         // 5: CR0, CR3, CR4, EFER
  VMCB_CLEAN_DR,         // 6: DR6, DR7
  VMCB_CLEAN_DT,         // 7: GDTR, IDTR
  VMCB_CLEAN_SEG,        // 8: CS, DS, SS, ES, CPL
  VMCB_CLEAN_CR2,        // 9: CR2
  VMCB_CLEAN_LBR,        // 10: DBGCTL, BR_FROM, BR_TO, LASTEXCP_FROM/TO
  VMCB_CLEAN_AVIC,       // 11: AVIC pointers
  VMCB_CLEAN_CET,        // 12: S_CET, SSP, ISST_ADDR
  VMCB_CLEAN_MAX
};
#define VMCB_CLEAN_ALL ((1u << VMCB_CLEAN_MAX) - 1)

// ---- The VMCB (Appendix B) -----------------------------------------------
// Control area: VMCB offsets 0x000-0x3FF (table B-1).
struct vmcb_control {
  uint32 intercepts[INTERCEPT_WORDS]; // 0x000 CR, 0x004 DR, 0x008 exceptions, 0x00C misc1, 0x010 misc2, 0x014 misc3
  uint8  rsvd_018[0x03C - 0x018];     // 0x018-0x03B reserved
  uint16 pause_filter_thresh;         // 0x03C PAUSE filter threshold
  uint16 pause_filter_count;          // 0x03E PAUSE filter count
  uint64 iopm_base_pa;                // 0x040 I/O permission map (12 KiB, 4 KiB aligned)
  uint64 msrpm_base_pa;               // 0x048 MSR permission map (8 KiB, 4 KiB aligned)
  uint64 tsc_offset;                  // 0x050 added to the guest's TSC
  uint32 asid;                        // 0x058 guest ASID (0 is the host's: illegal)
  uint8  tlb_control;                 // 0x05C TLB_CONTROL_*
  uint8  rsvd_05d[3];                 // 0x05D-0x05F reserved
  uint64 int_ctl;                     // 0x060 V_TPR, V_IRQ, V_INTR_PRIO, V_IGN_TPR, V_INTR_MASKING, V_INTR_VECTOR
  uint64 int_state;                   // 0x068 interrupt shadow, guest interrupt mask
  uint64 exitcode;                    // 0x070 EXITCODE (SVM_EXIT_*)
  uint64 exitinfo1;                   // 0x078 EXITINFO1
  uint64 exitinfo2;                   // 0x080 EXITINFO2
  uint64 exitintinfo;                 // 0x088 event being delivered at #VMEXIT (EVENTINJ format)
  uint64 nested_ctl;                  // 0x090 NP_ENABLE, SEV, SEV-ES
  uint64 avic_apic_bar;               // 0x098 AVIC APIC_BAR
  uint64 ghcb_gpa;                    // 0x0A0 guest PA of the GHCB (SEV-ES)
  uint64 eventinj;                    // 0x0A8 EVENTINJ: event injected at VMRUN
  uint64 ncr3;                        // 0x0B0 N_CR3: nested page table root
  uint64 virt_ext;                    // 0x0B8 LBR virtualisation, virtual VMSAVE/VMLOAD
  uint32 clean;                       // 0x0C0 VMCB clean bits
  uint32 rsvd_0c4;                    // 0x0C4 reserved
  uint64 next_rip;                    // 0x0C8 nRIP (NRIPS)
  uint8  insn_len;                    // 0x0D0 number of bytes fetched (decode assists)
  uint8  insn_bytes[15];              // 0x0D1 guest instruction bytes
  uint64 avic_backing_page;           // 0x0E0 AVIC APIC backing page
  uint8  rsvd_0e8[8];                 // 0x0E8 reserved
  uint64 avic_logical_id;             // 0x0F0 AVIC logical APIC ID table
  uint64 avic_physical_id;            // 0x0F8 AVIC physical APIC ID table
  uint8  rsvd_100[8];                 // 0x100 reserved
  uint64 vmsa_pa;                     // 0x108 VMSA pointer (SEV-ES)
  uint8  rsvd_110[0x3E0 - 0x110];     // 0x110-0x3DF reserved
  uint8  rsvd_host[0x20];             // 0x3E0-0x3FF reserved for the host's use
} __attribute__((packed));

// A segment register in the save area: selector, attributes, limit, base.
// attrib packs descriptor bits 47:40 (type, S, DPL, P) into bits 7:0 and
// descriptor bits 55:52 (AVL, L, D/B, G) into bits 11:8.
struct vmcb_seg {
  uint16 selector;                    // +0x0
  uint16 attrib;                      // +0x2
  uint32 limit;                       // +0x4
  uint64 base;                        // +0x8
} __attribute__((packed));
#define SEG_ATTR_TYPE(t)  ((t) & 0xF)        // code/data type
#define SEG_ATTR_S        (1u << 4)          // code or data (not system)
#define SEG_ATTR_DPL(d)   (((d) & 3) << 5)
#define SEG_ATTR_P        (1u << 7)
#define SEG_ATTR_AVL      (1u << 8)
#define SEG_ATTR_L        (1u << 9)          // 64-bit code
#define SEG_ATTR_DB       (1u << 10)         // 32-bit default size
#define SEG_ATTR_G        (1u << 11)         // 4 KiB granularity

// State save area: VMCB offsets 0x400-0xFFF (table B-2); the offsets below
// are relative to 0x400.
struct vmcb_save {
  struct vmcb_seg es;                 // 0x000
  struct vmcb_seg cs;                 // 0x010
  struct vmcb_seg ss;                 // 0x020
  struct vmcb_seg ds;                 // 0x030
  struct vmcb_seg fs;                 // 0x040
  struct vmcb_seg gs;                 // 0x050
  struct vmcb_seg gdtr;               // 0x060 (only limit and base used)
  struct vmcb_seg ldtr;               // 0x070
  struct vmcb_seg idtr;               // 0x080 (only limit and base used)
  struct vmcb_seg tr;                 // 0x090
  uint8  rsvd_0a0[0x0CA - 0x0A0];     // 0x0A0-0x0C9 reserved
  uint8  vmpl;                        // 0x0CA VMPL (SEV-SNP)
  uint8  cpl;                         // 0x0CB CPL
  uint32 rsvd_0cc;                    // 0x0CC reserved
  uint64 efer;                        // 0x0D0 EFER
  uint8  rsvd_0d8[0x140 - 0x0D8];     // 0x0D8-0x13F reserved
  uint64 xss;                         // 0x140 XSS (SEV-ES)
  uint64 cr4;                         // 0x148 CR4
  uint64 cr3;                         // 0x150 CR3
  uint64 cr0;                         // 0x158 CR0
  uint64 dr7;                         // 0x160 DR7
  uint64 dr6;                         // 0x168 DR6
  uint64 rflags;                      // 0x170 RFLAGS
  uint64 rip;                         // 0x178 RIP
  uint8  rsvd_180[0x1D8 - 0x180];     // 0x180-0x1D7 reserved
  uint64 rsp;                         // 0x1D8 RSP
  uint64 s_cet;                       // 0x1E0 S_CET
  uint64 ssp;                         // 0x1E8 SSP
  uint64 isst_addr;                   // 0x1F0 ISST_ADDR
  uint64 rax;                         // 0x1F8 RAX
  uint64 star;                        // 0x200 STAR
  uint64 lstar;                       // 0x208 LSTAR
  uint64 cstar;                       // 0x210 CSTAR
  uint64 sfmask;                      // 0x218 SFMASK
  uint64 kernel_gs_base;              // 0x220 KernelGSBase
  uint64 sysenter_cs;                 // 0x228 SYSENTER_CS
  uint64 sysenter_esp;                // 0x230 SYSENTER_ESP
  uint64 sysenter_eip;                // 0x238 SYSENTER_EIP
  uint64 cr2;                         // 0x240 CR2
  uint8  rsvd_248[0x268 - 0x248];     // 0x248-0x267 reserved
  uint64 g_pat;                       // 0x268 guest PAT (used with nested paging)
  uint64 dbgctl;                      // 0x270 DBGCTL
  uint64 br_from;                     // 0x278 BR_FROM
  uint64 br_to;                       // 0x280 BR_TO
  uint64 lastexcpfrom;                // 0x288 LASTEXCPFROM
  uint64 lastexcpto;                  // 0x290 LASTEXCPTO
  uint8  rsvd_298[0x2E0 - 0x298];     // 0x298-0x2DF reserved
  uint64 spec_ctrl;                   // 0x2E0 SPEC_CTRL
  uint8  rsvd_2e8[0xC00 - 0x2E8];     // 0x2E8-0xBFF reserved (to the end of the page)
} __attribute__((packed));

struct vmcb {
  struct vmcb_control control;        // 0x000
  struct vmcb_save save;              // 0x400
} __attribute__((packed, aligned(4096)));

#define VMCB_CHECK(t, f, off) _Static_assert(offsetof(struct t, f) == (off), #t "." #f " at " #off)
VMCB_CHECK(vmcb_control, intercepts, 0x000);
VMCB_CHECK(vmcb_control, pause_filter_thresh, 0x03C);
VMCB_CHECK(vmcb_control, iopm_base_pa, 0x040);
VMCB_CHECK(vmcb_control, msrpm_base_pa, 0x048);
VMCB_CHECK(vmcb_control, tsc_offset, 0x050);
VMCB_CHECK(vmcb_control, asid, 0x058);
VMCB_CHECK(vmcb_control, tlb_control, 0x05C);
VMCB_CHECK(vmcb_control, int_ctl, 0x060);
VMCB_CHECK(vmcb_control, int_state, 0x068);
VMCB_CHECK(vmcb_control, exitcode, 0x070);
VMCB_CHECK(vmcb_control, exitinfo1, 0x078);
VMCB_CHECK(vmcb_control, exitinfo2, 0x080);
VMCB_CHECK(vmcb_control, exitintinfo, 0x088);
VMCB_CHECK(vmcb_control, nested_ctl, 0x090);
VMCB_CHECK(vmcb_control, eventinj, 0x0A8);
VMCB_CHECK(vmcb_control, ncr3, 0x0B0);
VMCB_CHECK(vmcb_control, clean, 0x0C0);
VMCB_CHECK(vmcb_control, next_rip, 0x0C8);
VMCB_CHECK(vmcb_control, insn_len, 0x0D0);
VMCB_CHECK(vmcb_control, avic_backing_page, 0x0E0);
VMCB_CHECK(vmcb_control, vmsa_pa, 0x108);
VMCB_CHECK(vmcb_control, rsvd_host, 0x3E0);
VMCB_CHECK(vmcb_save, tr, 0x090);
VMCB_CHECK(vmcb_save, cpl, 0x0CB);
VMCB_CHECK(vmcb_save, efer, 0x0D0);
VMCB_CHECK(vmcb_save, cr4, 0x148);
VMCB_CHECK(vmcb_save, cr0, 0x158);
VMCB_CHECK(vmcb_save, rflags, 0x170);
VMCB_CHECK(vmcb_save, rip, 0x178);
VMCB_CHECK(vmcb_save, rsp, 0x1D8);
VMCB_CHECK(vmcb_save, rax, 0x1F8);
VMCB_CHECK(vmcb_save, kernel_gs_base, 0x220);
VMCB_CHECK(vmcb_save, cr2, 0x240);
VMCB_CHECK(vmcb_save, g_pat, 0x268);
VMCB_CHECK(vmcb_save, lastexcpto, 0x290);
VMCB_CHECK(vmcb_save, spec_ctrl, 0x2E0);
VMCB_CHECK(vmcb, save, 0x400);
_Static_assert(sizeof(struct vmcb_seg) == 16, "vmcb_seg is 16 bytes");
_Static_assert(sizeof(struct vmcb_control) == 0x400, "control area is 0x400 bytes");
_Static_assert(sizeof(struct vmcb_save) == 0xC00, "save area fills the rest of the page");
_Static_assert(sizeof(struct vmcb) == 4096, "a VMCB is one 4 KiB page");

// I/O and MSR permission maps (§15.10.1 "I/O Permissions Map", §15.11 "MSR
// Intercepts"): one bit per port (64 Ki ports + 3 bytes for accesses that
// straddle 0xFFFF, rounded up to 12 KiB) and two bits (read, write) per MSR in
// three 2 KiB ranges; 8 KiB in all.
#define IOPM_SIZE  (3 * 4096)
#define MSRPM_SIZE (2 * 4096)

// ---- Exit codes (Appendix C "SVM Intercept Exit Codes") ------------------
#define SVM_EXIT_READ_CR0     0x000   // 0x000-0x00F: CRn read
#define SVM_EXIT_WRITE_CR0    0x010   // 0x010-0x01F: CRn write
#define SVM_EXIT_WRITE_CR8    0x018
#define SVM_EXIT_READ_DR0     0x020   // 0x020-0x02F: DRn read
#define SVM_EXIT_WRITE_DR0    0x030   // 0x030-0x03F: DRn write
#define SVM_EXIT_EXCP_BASE    0x040   // 0x040-0x05F: exception vector n
#define SVM_EXIT_INTR         0x060
#define SVM_EXIT_NMI          0x061
#define SVM_EXIT_SMI          0x062
#define SVM_EXIT_INIT         0x063
#define SVM_EXIT_VINTR        0x064
#define SVM_EXIT_CR0_SEL_WRITE 0x065
#define SVM_EXIT_IDTR_READ    0x066
#define SVM_EXIT_GDTR_READ    0x067
#define SVM_EXIT_LDTR_READ    0x068
#define SVM_EXIT_TR_READ      0x069
#define SVM_EXIT_IDTR_WRITE   0x06A
#define SVM_EXIT_GDTR_WRITE   0x06B
#define SVM_EXIT_LDTR_WRITE   0x06C
#define SVM_EXIT_TR_WRITE     0x06D
#define SVM_EXIT_RDTSC        0x06E
#define SVM_EXIT_RDPMC        0x06F
#define SVM_EXIT_PUSHF        0x070
#define SVM_EXIT_POPF         0x071
#define SVM_EXIT_CPUID        0x072
#define SVM_EXIT_RSM          0x073
#define SVM_EXIT_IRET         0x074
#define SVM_EXIT_SWINT        0x075
#define SVM_EXIT_INVD         0x076
#define SVM_EXIT_PAUSE        0x077
#define SVM_EXIT_HLT          0x078
#define SVM_EXIT_INVLPG       0x079
#define SVM_EXIT_INVLPGA      0x07A
#define SVM_EXIT_IOIO         0x07B
#define SVM_EXIT_MSR          0x07C
#define SVM_EXIT_TASK_SWITCH  0x07D
#define SVM_EXIT_FERR_FREEZE  0x07E
#define SVM_EXIT_SHUTDOWN     0x07F
#define SVM_EXIT_VMRUN        0x080
#define SVM_EXIT_VMMCALL      0x081
#define SVM_EXIT_VMLOAD       0x082
#define SVM_EXIT_VMSAVE       0x083
#define SVM_EXIT_STGI         0x084
#define SVM_EXIT_CLGI         0x085
#define SVM_EXIT_SKINIT       0x086
#define SVM_EXIT_RDTSCP       0x087
#define SVM_EXIT_ICEBP        0x088
#define SVM_EXIT_WBINVD       0x089
#define SVM_EXIT_MONITOR      0x08A
#define SVM_EXIT_MWAIT        0x08B
#define SVM_EXIT_MWAIT_COND   0x08C
#define SVM_EXIT_XSETBV       0x08D
#define SVM_EXIT_RDPRU        0x08E
#define SVM_EXIT_EFER_WRITE_TRAP 0x08F
#define SVM_EXIT_CR0_WRITE_TRAP 0x090  // 0x090-0x09F: CRn write trap
#define SVM_EXIT_INVLPGB      0x0A0
#define SVM_EXIT_INVLPGB_ILLEGAL 0x0A1
#define SVM_EXIT_INVPCID      0x0A2
#define SVM_EXIT_MCOMMIT      0x0A3
#define SVM_EXIT_TLBSYNC      0x0A4
#define SVM_EXIT_NPF          0x400   // nested page fault
#define SVM_EXIT_AVIC_INCOMPLETE_IPI 0x401
#define SVM_EXIT_AVIC_NOACCEL 0x402
#define SVM_EXIT_VMGEXIT      0x403
#define SVM_EXIT_INVALID      ((uint64)-1)   // VMRUN found illegal guest state (§15.5.1)
#define SVM_EXIT_BUSY         ((uint64)-2)   // VMSA busy (SEV-ES)

// Exit codes are 64 bits wide, but every defined code fits in 32 bits and
// QEMU 7.2 stores VMEXIT_INVALID as 0x00000000FFFFFFFF (a 32-bit -1 written
// into the 64-bit field) where hardware writes all ones: compare this.
#define SVM_EXIT_LOW32(code) ((uint32)(code))
#define SVM_EXIT_IS_INVALID(code) (SVM_EXIT_LOW32(code) == 0xFFFFFFFFu)

// "SVM_EXIT_HLT" for 0x78, "SVM_EXIT_EXCP_BASE+14" style names for ranges,
// "unknown" otherwise. Defined in vmcb_dump.c.
const char *svm_exit_name(uint64 code);
