// A hostile L1 for guestfuzz's mode n: a long-mode guest with VM_RUN_NESTED
// whose SVM instructions, their rAX and the vmcb12 they name are chosen by
// the harness, one step at a time, so the nested code (kern/svm/nested*.c)
// meets random L1 behaviour without an L1 program per case.
//
// L1's RAM (64 KiB, guestfuzz's random bytes with salt and identity tables
// at 0x1000) gets, on top:
//   0x4000, 0x5000  two vmcb12 pages          0x6000  the page for VM_HSAVE_PA
//   0x7000-0x9FFF   L1's nested table (PML4, PDPT, PD), random entries
//   0xA000-0xCFFF   L2's code and data (the random bytes as they are)
//   0xD000 GDT, 0xD100 IDT (32 gates to the fault stub)
//   0xE000 the dispatcher, 0xE080 the fault stub, 0xE100.. one stub per op
//   0xF000-0xFFFF   L1's stack
// The dispatcher is `vmmcall; jmp *%rax`: the harness answers with the stub
// of the next op. A stub is `vmmcall` (the harness answers with the op's
// rAX), the instruction, and a jump back to the dispatcher; every exception
// of L1's goes through its IDT to the fault stub, which reports itself with
// a VMMCALL and goes back to the dispatcher. A VMMCALL exit therefore says
// by its RIP where L1 is: after a VMRUN, the next dispatcher call is L1
// getting control back (vmcb12's exit code tells a refusal from a #VMEXIT).
// L2 never makes a VMMCALL exit of L0's (not intercepted it is #UD in L2).
//
// Before each VMRUN the harness writes vmcb12 (in L1's RAM, which is its
// own memory): a plausible base, what a correct L1 would write for a long
// mode, protected mode or real mode L2, or now and then the page as the last
// #VMEXIT left it, then 1-3 random fields or bits changed (APM Vol. 2
// Appendix B, table B-1 and B-2 offsets), and now and then one VMRUN
// consistency rule broken on purpose (§15.5.1). The harness also checks,
// from vmcb12 and L1's IOPM, that no exit of L2's that L1 intercepts
// reaches it (nestl1_exit).
#include "nestl1.h"

#define VMCB_A 0x4000
#define VMCB_B 0x5000
#define HSAVE 0x6000
#define NPT 0x7000           // PML4; PDPT at 0x8000, PD at 0x9000
#define L2_LO 0xA000
#define L2_HI 0xD000
#define GDT 0xD000
#define IDT 0xD100
#define DISP 0xE000
#define FAULT 0xE080
#define STUBS 0xE100         // 16 bytes per SVM op
#define WRMSR_STUB 0xE200
#define WRMSR_VALUE (WRMSR_STUB + 5)   // its second VMMCALL (the value)
#define STI_STUB 0xE240
#define CLI_STUB 0xE250
#define STACK 0xFFF0

#define EFER_MSR 0xC0000080UL
#define VM_CR_MSR 0xC0010114UL
#define HSAVE_MSR 0xC0010117UL
#define EFER_SVME (1UL << 12)

enum { OP_VMRUN, OP_VMLOAD, OP_VMSAVE, OP_STGI, OP_CLGI, OP_INVLPGA, OP_WRMSR, OP_STI, OP_CLI, NOPS };
static const uint8 svm_modrm[] = {0xD8, 0xDA, 0xDB, 0xDC, 0xDD, 0xDF};   // 0F 01 xx
static const uint8 op_weight[NOPS] = {10, 2, 2, 1, 1, 1, 1, 1, 1};

#define CODE_END 0xE300        // GDT, IDT and the stubs: 0xD000 to here

static uint64 (*rnd)(void);
static uint8 tables[0x3000], code[CODE_END - GDT];   // L1's own, as set up
static uint64 pick(uint64 n) { return rnd() % n; }

static void put(uint8 *ram, uint64 at, const void *b, uint64 n) { memcpy(ram + at, b, n); }
static void put64(uint8 *ram, uint64 at, uint64 v) { memcpy(ram + at, &v, 8); }
static uint64 get64(const uint8 *ram, uint64 at)
{
  uint64 v;
  memcpy(&v, ram + at, 8);
  return v;
}

static void put32(uint8 *v, uint64 off, uint32 x) { memcpy(v + off, &x, 4); }

static uint64 stub_of(int op)
{
  return op <= OP_INVLPGA ? STUBS + 16 * op : op == OP_WRMSR ? WRMSR_STUB : op == OP_STI ? STI_STUB : CLI_STUB;
}

// The dispatcher, the fault stub, one stub per op; then GDT and IDT.
static void put_code(uint8 *ram)
{
  static const uint8 disp[] = {0x0F, 0x01, 0xD9, 0xFF, 0xE0};   // vmmcall; jmp *%rax
  static const uint8 back[] = {0xB9, 0x00, 0xE0, 0x00, 0x00, 0xFF, 0xE1};   // mov $DISP,%ecx; jmp *%rcx
  static const uint8 fault[] = {0x0F, 0x01, 0xD9, 0xBC, 0xF0, 0xFF, 0x00, 0x00};   // vmmcall; mov $STACK,%esp
  static const uint8 wrmsr[] = {0x0F, 0x01, 0xD9, 0x89, 0xC1,                 // vmmcall; mov %eax,%ecx
                                0x0F, 0x01, 0xD9, 0x48, 0x89, 0xC2,           // vmmcall; mov %rax,%rdx
                                0x48, 0xC1, 0xEA, 0x20, 0x0F, 0x30};          // shr $32,%rdx; wrmsr
  put(ram, DISP, disp, sizeof disp);
  put(ram, FAULT, fault, sizeof fault);
  put(ram, FAULT + sizeof fault, back, sizeof back);
  for (int op = 0; op <= OP_INVLPGA; op++) {
    uint8 insn[6] = {0x0F, 0x01, 0xD9, 0x0F, 0x01, svm_modrm[op]};   // vmmcall; the instruction
    put(ram, stub_of(op), insn, sizeof insn);
    put(ram, stub_of(op) + sizeof insn, back, sizeof back);
  }
  put(ram, WRMSR_STUB, wrmsr, sizeof wrmsr);
  put(ram, WRMSR_STUB + sizeof wrmsr, back, sizeof back);
  put(ram, STI_STUB, "\xFB", 1);
  put(ram, STI_STUB + 1, back, sizeof back);
  put(ram, CLI_STUB, "\xFA", 1);
  put(ram, CLI_STUB + 1, back, sizeof back);
  put64(ram, GDT, 0);
  put64(ram, GDT + 8, 0x00AF9B000000FFFFUL);    // 64-bit code, selector 8
  put64(ram, GDT + 16, 0x00CF93000000FFFFUL);   // data, selector 0x10
  for (int v = 0; v < 32; v++) {   // 64-bit interrupt gates, selector 8, to FAULT
    put64(ram, IDT + 16 * v, (FAULT & 0xFFFF) | (8UL << 16) | (0x8EUL << 40) | ((uint64)(FAULT >> 16) << 48));
    put64(ram, IDT + 16 * v + 8, 0);
  }
}

// L1's nested table: L2-physical 0-2 MiB onto L1's 0-2 MiB (a 2 MiB leaf;
// only 64 KiB of it is RAM), 2-4 MiB likewise; then now and then a few
// random entries: itself, beyond RAM, beyond MAXPHYADDR, leaves, garbage.
static void put_npt(uint8 *ram)
{
  memset(ram + NPT, 0, 3 * 4096);
  put64(ram, NPT, (NPT + 0x1000) | 7);
  put64(ram, NPT + 0x1000, (NPT + 0x2000) | 7);
  put64(ram, NPT + 0x2000, 0x87);
  put64(ram, NPT + 0x2008, 0x200000 | 0x87);
  int n = pick(4) ? (int)pick(5) : 0;
  for (int i = 0; i < n; i++) {
    uint64 at = NPT + pick(3) * 0x1000 + 8 * (pick(4) ? pick(4) : pick(512));
    static const uint64 vals[] = {NPT | 7, (NPT + 0x1000) | 7, (NPT + 0x2000) | 7, 0x100000 | 7,
                                  0xFFFFF000 | 7, (1UL << 51) | 7, 0x87, 0x4087, 0x40000087};
    switch (pick(4)) {
    case 0: put64(ram, at, vals[pick(ARRAY_SIZE(vals))]); break;
    case 1: put64(ram, at, get64(ram, at) ^ (1UL << pick(64))); break;
    case 2: put64(ram, at, rnd()); break;
    default: put64(ram, at, (pick(16) << 12) | (rnd() & 0x8000000000000FFFUL)); break;
    }
  }
}

// An address for rAX or a base field: L1's own pages, pages near and beyond
// its RAM, unaligned, 0, huge.
static uint64 address(void)
{
  switch (pick(16)) {
  case 0: case 1: case 2: case 3: case 4: case 5: return VMCB_A;
  case 6: case 7: case 8: return VMCB_B;
  case 9: return HSAVE;
  case 10: return pick(16) << 12;
  case 11: return NESTL1_RAM + (pick(8) << 12);          // guestfuzz maps these on demand
  case 12: return VMCB_A + 1 + pick(0xFFF);
  case 13: return pick(2) ? 0 : 0xFFFFF000UL;
  case 14: return rnd();
  default: return (1UL << (32 + pick(32))) | VMCB_A;
  }
}

static uint64 hsave_value(void)
{
  switch (pick(8)) {
  case 0: return 0;
  case 1: return HSAVE + 8;
  case 2: return address();
  default: return HSAVE;
  }
}

static void seg(uint8 *v, uint64 off, uint16 sel, uint16 attr, uint32 limit, uint64 base)
{
  memcpy(v + off, &sel, 2);
  memcpy(v + off + 2, &attr, 2);
  memcpy(v + off + 4, &limit, 4);
  memcpy(v + off + 8, &base, 8);
}


// What a correct L1 writes: segments for L2's mode, EFER with SVME, sane
// CR0/CR4, VMRUN intercepted, an ASID, usually V_INTR_MASKING and the
// intercepts that give L1 control back (INTR, NMI, HLT, SHUTDOWN, VMMCALL).
static void vmcb_base(uint8 *v)
{
  memset(v, 0, 4096);
  put32(v, 0x00, pick(4) ? 0 : rnd());                              // CR reads/writes
  put32(v, 0x04, pick(4) ? 0 : rnd());                              // DR reads/writes
  put32(v, 0x08, pick(2) ? 0 : rnd() & rnd());                      // exceptions
  uint32 misc1 = rnd() & rnd() & rnd();
  misc1 |= (pick(4) ? 1u : 0) | (pick(4) ? 2u : 0) | (pick(4) ? 1u << 24 : 0) | (pick(4) ? 1u << 31 : 0);
  misc1 |= (pick(2) ? 1u << 18 : 0) | (pick(2) ? 1u << 27 : 0);   // CPUID, IOIO

  put32(v, 0x0C, misc1);
  put32(v, 0x10, 1u | (pick(4) ? 2u : 0) | (rnd() & rnd() & 0x7C));    // VMRUN, VMMCALL, others
  put64(v, 0x40, pick(2) ? 0 : address() & ~0xFFFUL);               // IOPM
  put64(v, 0x48, pick(2) ? 0x1000 * pick(16) : address() & ~0xFFFUL);   // MSRPM
  put32(v, 0x58, 1 + pick(15));                                     // ASID
  v[0x5C] = pick(2);                                                // TLB_CONTROL
  uint64 intctl = (pick(4) ? 1UL << 24 : 0) | pick(16);             // V_INTR_MASKING, V_TPR
  if (pick(4) == 0)
    intctl |= (1UL << 8) | (pick(16) << 16) | ((32 + pick(224)) << 32);   // V_IRQ, prio, vector
  put64(v, 0x60, intctl);
  if (pick(2)) {
    put64(v, 0x90, 1);                                              // NP_ENABLE
    put64(v, 0xB0, NPT);
  }
  if (pick(4) == 0)
    put64(v, 0xA8, (1UL << 31) | (pick(8) << 8) | pick(256) | (pick(2) << 11) | (rnd() << 32));
  uint8 *s = v + 0x400;
  int mode = pick(4);   // 0, 1: long mode on L1's tables; 2: protected; 3: real
  uint16 code = mode < 2 ? 0x29B : mode == 2 ? 0xC9B : 0x9B, data = mode == 3 ? 0x93 : 0xC93;
  uint32 limit = mode == 3 ? 0xFFFF : 0xFFFFFFFF;
  seg(s, 0x10, mode == 3 ? 0 : 8, code, limit, 0);
  for (int i = 0; i < 6; i++)
    if (i != 1)
      seg(s, 0x10 * i, mode == 3 ? 0 : 0x10, data, limit, 0);
  seg(s, 0x60, 0, 0, 23, GDT);
  seg(s, 0x80, 0, 0, pick(2) ? 0 : 511, IDT);                       // no IDT: a fault is a shutdown
  seg(s, 0x70, 0, 0x82, 0, 0);
  seg(s, 0x90, 0, 0x8B, 0xFFFF, 0);
  uint64 efer = EFER_SVME | (mode < 2 ? 0x500 : 0) | (pick(2) ? 0x800 : 0);
  uint64 cr0 = mode < 2 ? 0x80000031 : mode == 2 ? 0x31 : 0x30;
  memcpy(s + 0xD0, &efer, 8);
  put64(v, 0x548, mode < 2 ? 0x20 | (pick(2) ? 0x80 : 0) : 0);    // CR4: PAE, PGE
  put64(v, 0x550, mode < 2 ? 0x1000 : 0);                           // CR3
  put64(v, 0x558, cr0);
  put64(v, 0x560, 0x400);                                           // DR7
  put64(v, 0x568, 0xFFFF0FF0);                                      // DR6
  put64(v, 0x570, 0x2 | (pick(2) ? 0x200 : 0));                     // RFLAGS
  put64(v, 0x578, L2_LO + pick(L2_HI - L2_LO));                     // RIP
  put64(v, 0x5D8, L2_LO + pick(L2_HI - L2_LO));                     // RSP
  put64(v, 0x5F8, rnd());                                           // RAX
  put64(v, 0x640, rnd());                                           // CR2
  put64(v, 0x668, 0x0007040600070406UL);                            // G_PAT
}

// Fields worth changing: (offset, bytes), APM Vol. 2 tables B-1 and B-2.
static const struct {
  uint16 off, n;
} field[] = {
  {0x00, 4}, {0x04, 4}, {0x08, 4}, {0x0C, 4}, {0x10, 4}, {0x14, 4},      // intercepts
  {0x40, 8}, {0x48, 8}, {0x50, 8}, {0x58, 4}, {0x5C, 1}, {0x60, 8},      // IOPM, MSRPM, TSC, ASID, TLB, int_ctl
  {0x68, 8}, {0x90, 8}, {0xA8, 8}, {0xA8, 8}, {0xB0, 8}, {0xB8, 8},      // int_state, NP, EVENTINJ, nCR3, virt_ext
  {0xC0, 4}, {0x4CB, 1}, {0x4D0, 8}, {0x548, 8}, {0x550, 8}, {0x558, 8}, // clean, CPL, EFER, CR4, CR3, CR0
  {0x560, 8}, {0x568, 8}, {0x570, 8}, {0x578, 8}, {0x5D8, 8}, {0x5F8, 8},   // DR7, DR6, RFLAGS, RIP, RSP, RAX
  {0x640, 8}, {0x668, 8},                                                // CR2, G_PAT
};

// One random change: a field of the table or of a segment, or an event.
static void mutate(uint8 *v)
{
  uint64 off, n;
  if (pick(4) == 0) {
    static const uint8 part[][2] = {{0, 2}, {2, 2}, {4, 4}, {8, 8}};   // selector, attrib, limit, base
    int p = pick(4);
    off = 0x400 + 0x10 * pick(10) + part[p][0];
    n = part[p][1];
  } else {
    int f = pick(ARRAY_SIZE(field));
    off = field[f].off;
    n = field[f].n;
  }
  uint64 x = 0;
  memcpy(&x, v + off, n);
  switch (pick(7)) {
  case 0: x ^= 1UL << pick(8 * n); break;
  case 1: x ^= (1UL << pick(8 * n)) | (1UL << pick(8 * n)) | (1UL << pick(8 * n)); break;
  case 2: x = rnd(); break;
  case 3: x = 0; break;
  case 4: x = ~0UL; break;
  case 5: x = address(); break;
  default:   // an event of every type and vector (EVENTINJ's format, §15.20)
    x = (1UL << 31) | (pick(8) << 8) | pick(256) | (pick(2) << 11) | (rnd() << 32);
    off = pick(2) ? 0xA8 : off;
    n = off == 0xA8 ? 8 : n;
  }
  memcpy(v + off, &x, n);
}

// One VMRUN consistency rule broken on purpose (APM Vol. 2 §15.5.1, the
// rules a random bit rarely hits): each one must be refused or survived.
static void break_rule(uint8 *v)
{
  switch (pick(13)) {
  case 0: put64(v, 0x558, get64(v, 0x558) & ~(1UL << 31)); break;        // CR0.PG clear, EFER.LME kept
  case 12:   // EFER.LME, LMA clear, paging off: long mode pending, as before the CR0 write that enters it
    put64(v, 0x4D0, (get64(v, 0x4D0) | 0x100) & ~0x400UL);
    put64(v, 0x558, get64(v, 0x558) & ~(1UL << 31));
    break;
  case 1: put64(v, 0x558, (get64(v, 0x558) | (1UL << 29)) & ~(1UL << 30)); break;   // NW without CD
  case 2: put64(v, 0x558, get64(v, 0x558) | (1UL << (32 + pick(32)))); break;   // CR0[63:32]
  case 3: put64(v, 0x548, get64(v, 0x548) & ~0x20UL); break;             // CR4.PAE clear
  case 4: put64(v, 0x4D0, get64(v, 0x4D0) & ~EFER_SVME); break;          // EFER.SVME clear
  case 5: v[0x413] |= 0x06; break;                                        // CS.L and CS.D
  case 6: v[0x10] &= ~1; break;                                           // VMRUN intercept clear
  case 7: put32(v, 0x58, 0); break;                                       // ASID 0
  case 8: put64(v, 0x4D0, get64(v, 0x4D0) | (1UL << (16 + pick(48)))); break;   // EFER MBZ
  case 9: put64(v, 0x560 + 8 * pick(2), get64(v, 0x560) | (1UL << (32 + pick(32)))); break;   // DR7/DR6[63:32]
  case 10: put64(v, 0x550, get64(v, 0x550) | (1UL << (52 + pick(12)))); break;   // CR3 MBZ
  default: put64(v, 0x4D0, (get64(v, 0x4D0) & ~0x100UL) | 0x400); break;   // EFER.LMA without LME
  }
}

// vmcb12 for the VMRUN about to run at rax, when rax names one of L1's
// vmcb12 pages.
static void prepare_vmcb12(uint8 *ram, uint64 rax)
{
  if (rax != VMCB_A && rax != VMCB_B)
    return;
  uint8 *v = ram + rax;
  if (pick(4))
    vmcb_base(v);
  int n = pick(8) ? 1 + pick(3) : 0;
  for (int i = 0; i < n; i++)
    mutate(v);
  if (pick(4) == 0)
    break_rule(v);
  if (pick(8) == 0)
    put_npt(ram);
}

void nestl1_setup(struct nestl1 *s, uint8 *ram, struct vm_regs *r, uint64 (*word)(void))
{
  rnd = word;
  memset(s, 0, sizeof *s);
  put_code(ram);
  memcpy(tables, ram + 0x1000, sizeof tables);
  memcpy(code, ram + GDT, sizeof code);
  put_npt(ram);
  vmcb_base(ram + VMCB_A);
  vmcb_base(ram + VMCB_B);
  r->rip = DISP;
  r->rsp = STACK;
  r->rflags = 0x2;
  r->cr3 = 0x1000;
  r->cs.sel = 8;
  r->gdtr.base = GDT;
  r->gdtr.limit = 23;
  r->idtr.base = IDT;
  r->idtr.limit = 32 * 16 - 1;
  s->efer = r->efer;
}

// The next op and its operands: first EFER.SVME and VM_HSAVE_PA (now and
// then left out or bad), then ops by weight.
static void next_op(struct nestl1 *s, uint8 *ram)
{
  int op = 0;
  if (s->step == 0 && pick(32)) {
    op = OP_WRMSR, s->msr = EFER_MSR, s->msrval = s->efer | EFER_SVME;
  } else if (s->step == 1 && pick(16)) {
    op = OP_WRMSR, s->msr = HSAVE_MSR, s->msrval = pick(8) ? HSAVE : hsave_value();
  } else {
    int w = pick(20);
    while (w >= op_weight[op])
      w -= op_weight[op++];
    if (op == OP_WRMSR) {
      static const uint64 msrs[] = {EFER_MSR, HSAVE_MSR, VM_CR_MSR};
      s->msr = msrs[pick(3)];
      s->msrval = s->msr == EFER_MSR ? s->efer | (pick(4) ? EFER_SVME : 0)
                  : s->msr == HSAVE_MSR ? hsave_value() : pick(32);
    }
  }
  s->op = op;
  s->rax = address();
  if (op == OP_VMRUN)
    prepare_vmcb12(ram, s->rax);
}

// L1's page tables (but the accessed and dirty bits the CPU sets), GDT,
// IDT and code as nestl1_setup left them.
static int l1_intact(const uint8 *ram)
{
  for (uint64 i = 0; i < sizeof tables; i += 8)
    if ((get64(ram, 0x1000 + i) ^ get64(tables, i)) & ~0x60UL)
      return 0;
  return memcmp(ram + GDT, code, sizeof code) == 0;
}

// L1 is back in its own code (the dispatcher, or the fault stub) after the
// VMRUN whose operand it fetched: the kernel's count of VMRUNs that entered
// L2 (every exit record has it) says whether this one did. Entered once: a
// #VMEXIT came back (or the CPU refused vmcb02, reported as VMEXIT_INVALID,
// nested.c). Not entered: vmcb12 was refused (VMEXIT_INVALID in vmcb12, L1
// at the dispatcher), or the VMRUN raised #GP or an event came first (the
// fault stub). Anything else is a VMRUN that entered twice, or returned to
// L1 without entering L2 or saying why.
static void vmrun_done(struct nestl1 *s, uint8 *ram, const struct vm_exit *e, int at_fault)
{
  uint64 d = e->nested.vmruns - s->vm0, page = s->rax & ~0xFFFUL;
  s->pending = 0;
  if (!s->tainted)   // L2 (without L1's nested paging it writes L1's RAM) changed L1's code or tables
    s->tainted = !l1_intact(ram);
  if (s->tainted)   // L1 may have run its own VMRUNs since: nothing to hold it to
    return;
  if (d == 1)
    s->back++;
  else if (d > 1)
    s->lost++;
  else if (at_fault)
    s->gp++;
  else if (page < NESTL1_RAM && (uint32)get64(ram, page + 0x70) != 0xFFFFFFFF)
    s->lost++;
  else
    s->invalid++;
}

int nestl1_vmmcall(struct nestl1 *s, uint8 *ram, struct vm_exit *e)
{
  uint64 rip = e->rip;
  if (rip == DISP) {
    if (s->pending)
      vmrun_done(s, ram, e, 0);
    next_op(s, ram);
    s->step++;
    e->u.hypercall.ret = stub_of(s->op);
  } else if (rip == stub_of(s->op)) {
    e->u.hypercall.ret = s->op == OP_WRMSR ? s->msr : s->rax;
    s->pending = s->op == OP_VMRUN;
    s->vm0 = e->nested.vmruns;
    // What the kernel will read: L2's later writes to the page do not count
    // (VMRUN copies vmcb12).
    int in_ram = s->rax < NESTL1_RAM && !(s->rax & 0xFFF);
    s->misc1 = in_ram ? (uint32)get64(ram, s->rax + 0x0C) : 0;
    s->iopm = in_ram ? get64(ram, s->rax + 0x40) : ~0UL;
  } else if (rip == WRMSR_VALUE && s->op == OP_WRMSR) {
    e->u.hypercall.ret = s->msrval;
  } else if (rip == FAULT) {
    s->faults++;
    if (s->pending)
      vmrun_done(s, ram, e, 1);
  } else {
    s->wild++;
    s->tainted = 1;
    return 0;
  }
  return 1;
}

// 1 if L1's IOPM at base (vmcb12's IOPM_BASE_PA) has the bit of a port
// of [port, port + size) (§15.10.1); -1 if the map is not all in L1's RAM
// (pages beyond it may be demand pages, or none: not judged).
static int iopm_wants(const uint8 *ram, uint64 base, uint32 port, uint32 size)
{
  base &= ~0xFFFUL;
  if (base >= NESTL1_RAM || base + 0x3000 > NESTL1_RAM)
    return -1;
  for (uint32 p = port; p < port + size; p++)
    if ((ram[base + p / 8] >> (p % 8)) & 1)
      return 1;
  return 0;
}

void nestl1_exit(struct nestl1 *s, const uint8 *ram, const struct vm_exit *e)
{
  if (!s->pending || e->nested.vmruns == s->vm0 || s->tainted)
    return;   // not in L2 (L1's own code makes none of the exits below)
  uint32 m = s->misc1;
  int io = (m >> 27) & 1, hit = 0;
  if (e->reason == VM_EXIT_CPUID)
    hit = (m >> 18) & 1;
  else if (e->reason == VM_EXIT_HLT || (e->reason == VM_EXIT_DEADLINE && e->halted))
    hit = (m >> 24) & 1;
  else if (e->reason == VM_EXIT_SHUTDOWN)
    hit = (m >> 31) & 1;
  else if (e->reason == VM_EXIT_INVALID)
    hit = 1;   // the CPU's refusal of vmcb02 is reported to L1 (nested.c)
  else if (e->reason == VM_EXIT_IO)
    hit = io && iopm_wants(ram, s->iopm, e->u.io.port, e->u.io.size) == 1;
  for (int i = 0; i < e->npio_out && i < VM_PIO_MAX && !hit; i++)   // OUTs the kernel queued for the VMM
    hit = io && iopm_wants(ram, s->iopm, e->pio_out[i].port, 1) == 1;
  if (!hit)
    return;
  if (l1_intact(ram))
    s->misrouted++;
  else
    s->tainted = 1;
}

void nestl1_end(struct nestl1 *s, const uint8 *ram, const struct vm_exit *e, struct nestl1_totals *t)
{
  if (!s->tainted)
    s->tainted = !l1_intact(ram);
  t->entered += e->nested.vmruns;
  t->back += s->back;
  t->invalid += s->invalid;
  t->gp += s->gp;
  t->faults += s->faults;
  t->wild += s->wild;
  t->tainted += s->tainted;
  // ended inside L2: it spun, or exits L0 handles used up the budget
  t->stuck += s->pending && e->nested.vmruns != s->vm0 && !s->tainted;
  t->misrouted += s->misrouted;
  t->lost += s->lost;
}
