// Nested SVM, differential: this kernel is an L1 hypervisor. It enables
// EFER.SVME, sets VM_HSAVE_PA, and runs many seeded random cases of a tiny
// L2: a vmcb12 that is valid or broken by one rule of APM Vol. 2 §15.5.1
// (VMRUN's consistency checks), random intercepts (§15.9-15.13: CPUID, HLT,
// MSRs through a random MSRPM, IN/OUT of all sizes through a random IOPM,
// exceptions, VMMCALL, INVLPGA, CR/DR accesses, ...) and a random L2
// instruction sequence. After each #VMEXIT it records the exit code,
// EXITINFO1/2, EXITINTINFO, the L2 state #VMEXIT saved (§15.6) and L2's
// general registers, then steps over the instruction and re-enters; at the
// end of a case, the state #VMEXIT left to L1 (CR2, the VMLOAD MSRs L2 may
// have written). One line per case: the exit codes and a hash of the rest.
//
// On plain QEMU, QEMU's SVM is L0 and the reference; in svmlab (`vmm -N`),
// svmlab's kernel emulates SVM for this L1 (kern/svm/nested.c). Left out,
// each for the reason given where it would be generated: states QEMU 7.2
// checks differently from the APM, L2 instructions whose result comes from
// the machine itself (RDTSC, CPUID and IN are masked afterwards), HLT and
// interrupts (but see the interrupt cases at the end).
//
// INVLPGA that L1 does not intercept runs in L2 (nothing to see). So do
// VMLOAD and VMSAVE (§15.5.2; rAX is a physical address of L1's unless L1
// turns on virtual VMLOAD/VMSAVE, §15.33.1, which it does not): L2 loads a
// random VMLOAD state from vlpage or saves its own to vspage, and L1 hashes
// what it finds after the case (the MSRs, vspage). Only in the nested-paging
// cases: without nested paging QEMU 7.2 exits on a guest's VMLOAD/VMSAVE
// whatever the intercept bits say (its virtual_vm_load_save_enabled).
//
// The interrupt cases (irq_cases): L1's local APIC timer fires while L2 runs,
// for each combination of V_INTR_MASKING, L1's INTR intercept, L1's IF at
// VMRUN, L2's IF, and L2 waiting with HLT (only where the interrupt can end
// it) or a bounded loop. Who takes it is the APM's rule (§15.21.1): L1 by an
// INTR exit, L2 through its own IDT, or L1 after the #VMEXIT of the loop's end.
#include "rt.h"
#include "ioapic.h"

const char kernel_name[] = "nsvm";

#define NCASES 400
#define NPCASES 60   // then with nested paging in vmcb12
#define MAXEXITS 24

// ---- the VMCB, by offset (APM Vol. 2 Appendix B, tables B-1 and B-2) ----
#define C_CR_RW     0x000   // u16 CR reads, u16 CR writes
#define C_DR_RW     0x004
#define C_EXC       0x008
#define C_MISC1     0x00C
#define C_MISC2     0x010
#define C_IOPM      0x040
#define C_MSRPM     0x048
#define C_TSCOFF    0x050
#define C_ASID      0x058
#define C_TLBCTL    0x05C
#define C_INTCTL    0x060
#define C_INTSTATE  0x068
#define C_EXITCODE  0x070
#define C_INFO1     0x078
#define C_INFO2     0x080
#define C_EXITINT   0x088
#define C_NPCTL     0x090
#define C_EVENTINJ  0x0A8
#define C_NCR3      0x0B0
#define C_NRIP      0x0C8
#define S_ES        0x400   // segments: u16 selector, u16 attrib, u32 limit, u64 base
#define S_CS        0x410
#define S_SS        0x420
#define S_DS        0x430
#define S_GDTR      0x460
#define S_IDTR      0x480
#define S_CPL       0x4CB
#define S_EFER      0x4D0
#define S_CR4       0x548
#define S_CR3       0x550
#define S_CR0       0x558
#define S_DR7       0x560
#define S_DR6       0x568
#define S_RFLAGS    0x570
#define S_RIP       0x578
#define S_RSP       0x5D8
#define S_RAX       0x5F8
#define S_CR2       0x640
#define S_GPAT      0x668

// Intercept bits: vector 3 (misc1) and vector 4 (misc2), §15.9-15.13.
#define M1_CR0SEL  (1u << 5)
#define M1_RDTSC   (1u << 14)
#define M1_PUSHF   (1u << 16)
#define M1_POPF    (1u << 17)
#define M1_CPUID   (1u << 18)
#define M1_INTN    (1u << 21)
#define M1_INVD    (1u << 22)
#define M1_PAUSE   (1u << 23)
#define M1_HLT     (1u << 24)
#define M1_INVLPG  (1u << 25)
#define M1_INVLPGA (1u << 26)
#define M1_IOIO    (1u << 27)
#define M1_MSR     (1u << 28)
#define M2_VMRUN   (1u << 0)
#define M2_VMMCALL (1u << 1)
#define M2_VMLOAD  (1u << 2)
#define M2_VMSAVE  (1u << 3)
#define M2_ICEBP   (1u << 8)
#define M2_WBINVD  (1u << 9)

#define EXIT_INVALID 0xFFFFFFFFu   // -1; QEMU 7.2 stores it as 32 bits (platform: compare the low half)
#define EXIT_VMRUN   0x80
#define EFER_MSR     0xC0000080
#define HSAVE_MSR    0xC0010117

static u8 vmcb[4096] __attribute__((aligned(4096)));
static u8 hsave[4096] __attribute__((aligned(4096)));
static u8 iopm[12288] __attribute__((aligned(4096)));
static u8 msrpm[8192] __attribute__((aligned(4096)));
static u8 l2code[4096] __attribute__((aligned(4096)));
static u8 l2stubs[256 * 8] __attribute__((aligned(4096)));
static u64 l2idt[512] __attribute__((aligned(4096)));
static u8 l2stack[4096] __attribute__((aligned(4096)));
static u8 l2data[64 * 4096] __attribute__((aligned(4096)));
// VMLOAD/VMSAVE run by L2: the state it loads, where it saves, and L1's own
// state to restore after a case (#VMEXIT leaves L2's to L1, §15.6).
static u8 vlpage[4096] __attribute__((aligned(4096)));
static u8 vspage[4096] __attribute__((aligned(4096)));
static u8 l1state[4096] __attribute__((aligned(4096)));
// L1's nested page table for the NP cases: identity for 0-4 GiB, 4 KiB
// pages for the first 4 MiB (all of this kernel), 2 MiB pages above.
static u64 npml4[512] __attribute__((aligned(4096)));
static u64 npdpt[512] __attribute__((aligned(4096)));
static u64 npd[4][512] __attribute__((aligned(4096)));
static u64 npt[2][512] __attribute__((aligned(4096)));
#define NP_A (1UL << 5)
#define NP_D (1UL << 6)

#define F8(o)  (*(u8 *)(vmcb + (o)))
#define F16(o) (*(u16 *)(vmcb + (o)))
#define F32(o) (*(u32 *)(vmcb + (o)))
#define F64(o) (*(u64 *)(vmcb + (o)))

// L2's general registers other than RAX and RSP, which VMRUN and #VMEXIT
// leave alone (§15.5.1): the wrapper below loads and saves them.
struct gprs { u64 unused, rbx, rcx, rdx, rsi, rdi, rbp, r8, r9, r10, r11, r12, r13, r14, r15; };
static struct gprs g2;
void nsvm_vmrun(u64 vmcb_pa, struct gprs *g);
asm(".text\n.globl nsvm_vmrun\nnsvm_vmrun:\n"
    "  push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
    "  push %rsi\n  push %rdi\n  mov %rsi, %rax\n"
    "  mov 8(%rax), %rbx; mov 16(%rax), %rcx; mov 24(%rax), %rdx; mov 32(%rax), %rsi\n"
    "  mov 40(%rax), %rdi; mov 48(%rax), %rbp; mov 56(%rax), %r8; mov 64(%rax), %r9\n"
    "  mov 72(%rax), %r10; mov 80(%rax), %r11; mov 88(%rax), %r12; mov 96(%rax), %r13\n"
    "  mov 104(%rax), %r14; mov 112(%rax), %r15\n"
    "  pop %rax\n  vmrun\n"   // host RAX, RSP come back at #VMEXIT; the rest are L2's
    "  mov (%rsp), %rax\n"
    "  mov %rbx, 8(%rax); mov %rcx, 16(%rax); mov %rdx, 24(%rax); mov %rsi, 32(%rax)\n"
    "  mov %rdi, 40(%rax); mov %rbp, 48(%rax); mov %r8, 56(%rax); mov %r9, 64(%rax)\n"
    "  mov %r10, 72(%rax); mov %r11, 80(%rax); mov %r12, 88(%rax); mov %r13, 96(%rax)\n"
    "  mov %r14, 104(%rax); mov %r15, 112(%rax)\n"
    "  pop %rsi\n  pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n  ret\n");

// ---- seeded randomness, hashing ----
static u64 rng;
static u32 rnd(void)
{
  rng = rng * 6364136223846793005UL + 1442695040888963407UL;
  return rng >> 33;
}
static int chance(int n) { return rnd() % n == 0; }

static u64 hash;
static void mix(u64 v)
{
  for (int i = 0; i < 8; i++, v >>= 8)
    hash = (hash ^ (v & 0xFF)) * 0x100000001B3UL;
}

// ---- L2's code: instructions recorded so L1 can step over them ----
static int pos, ninsn;
static u16 insn_at[400];
static u8 insn_len[400];

static void emit(const u8 *b, int n)
{
  insn_at[ninsn] = pos, insn_len[ninsn++] = n;
  for (int i = 0; i < n; i++)
    l2code[pos++] = b[i];
}
#define EMIT(...) do { static const u8 _b[] = {__VA_ARGS__}; emit(_b, sizeof _b); } while (0)

static void emit_imm32(u8 op, u32 imm)   // B8+r: mov r32, imm32
{
  u8 b[5] = {op, imm, imm >> 8, imm >> 16, imm >> 24};
  emit(b, 5);
}

static void emit_movabs(int reg, u64 imm)   // REX.W (+B) B8+r imm64
{
  u8 b[10] = {0x48 | (reg >= 8), 0xB8 | (reg & 7)};
  for (int i = 0; i < 8; i++)
    b[2 + i] = imm >> (8 * i);
  emit(b, 10);
}

static void emit_zero_abcd(void)   // results that come from the machine, not from SVM
{
  EMIT(0x31, 0xC0);
  EMIT(0x31, 0xDB);
  EMIT(0x31, 0xC9);
  EMIT(0x31, 0xD2);
}

// MSRs L2 may read and write without L1's intercept: part of the VMLOAD
// state or the SYSENTER MSRs, the same on both L0s, and any 32-bit value is
// valid (canonical with EDX = 0).
static const u32 plain_msrs[] = {0xC0000081, 0xC0000084, 0xC0000102, 0x174, 0x175, 0x176};
// MSRs outside the MSRPM's three ranges always exit with MSR_PROT (§15.11);
// without it they reach L0, whose answer differs (TCG reads unknown MSRs as 0).
static const u32 far_msrs[] = {0x2000, 0x40000000, 0xC0002000, 0xC0012000, 0xC0010000 - 1};
// Ports no device uses on either L0 (reads all ones, writes dropped): IOPM
// bits that straddle a byte of the map, and the map's last port plus the
// bit after it (the IOPM is 12 KiB for that, §15.10.1).
static const u16 ports[] = {0x2E5, 0x2E6, 0x2E7, 0x2E8, 0x2EC, 0xFFFC, 0xFFFE, 0xFFFF};

static u32 misc1, misc2, excmask;
static int np_case;   // the case runs with nested paging in vmcb12

static void gen_msr(void)
{
  u32 msr = (misc1 & M1_MSR) && chance(3) ? far_msrs[rnd() % 5] : plain_msrs[rnd() % 6];
  int hsave_pa = chance(6);   // in the MSRPM's third range; read only (a write would move L1's)
  emit_imm32(0xB9, hsave_pa ? HSAVE_MSR : msr);
  if (hsave_pa || chance(2)) {
    EMIT(0x0F, 0x32);   // rdmsr
    return;
  }
  emit_imm32(0xB8, rnd());
  emit_imm32(0xBA, 0);
  EMIT(0x0F, 0x30);     // wrmsr
}

static void gen_io(void)
{
  u16 port = ports[rnd() % 8];
  int size = 1 << (rnd() % 3), in = chance(2);
  u8 p16[4] = {0x66, 0xBA, port, port >> 8};   // mov dx, port
  emit(p16, 4);
  static const u8 op[2][3] = {{0xEE, 0xEF, 0xEF}, {0xEC, 0xED, 0xED}};   // out/in (dx), al/ax/eax
  u8 b[2] = {0x66, op[in][size >> 1]};
  size == 2 ? emit(b, 2) : emit(b + 1, 1);
  if (in)
    EMIT(0x31, 0xC0);   // the value read is the L0's device model's, not SVM's
}

static void gen_one(void)
{
  switch (rnd() % 22) {
  case 0:
    emit_imm32(0xB8, chance(2) ? 0 : 0x80000001);
    EMIT(0x0F, 0xA2);   // cpuid: L0's answer is the VMM's own table, zeroed after
    emit_zero_abcd();
    break;
  case 1:
    // HLT that L1 does not intercept halts L2 until an interrupt: none comes here.
    if (misc1 & M1_HLT)
      EMIT(0xF4);
    break;
  case 2: case 3:
    gen_msr();
    break;
  case 4: case 5:
    gen_io();
    break;
  case 6:
    EMIT(0x0F, 0x01, 0xD9);   // vmmcall: #UD when not intercepted (§15.7)
    break;
  case 7:
    // INVLPGA (intercepted or run by L2: nothing to see then), or VMLOAD /
    // VMSAVE with rAX = vlpage / vspage (see the top for when).
    switch (rnd() % 3) {
    case 0: EMIT(0x0F, 0x01, 0xDF); break;
    case 1: if ((misc2 & M2_VMLOAD) || np_case) { emit_movabs(0, (u64)vlpage); EMIT(0x0F, 0x01, 0xDA); } break;
    case 2: if ((misc2 & M2_VMSAVE) || np_case) { emit_movabs(0, (u64)vspage); EMIT(0x0F, 0x01, 0xDB); } break;
    }
    break;
  case 8:
    EMIT(0x0F, 0x0B);   // ud2
    break;
  case 9:
    EMIT(0xCC);         // int3
    break;
  case 10:
    EMIT(0x31, 0xC9);   // xor ecx, ecx; div ecx: #DE
    EMIT(0xF7, 0xF1);
    break;
  case 11: {            // movabs rax, [above 4 GiB]: not mapped, #PF
    u64 a = 0x100000000UL + (rnd() & 0xFFFF8);
    u8 b[10] = {0x48, 0xA1};
    for (int i = 0; i < 8; i++)
      b[2 + i] = a >> (8 * i);
    emit(b, 10);
    break;
  }
  case 12: case 20: {   // mov rax, crN; maybe write it back
    static const u8 crs[] = {0, 3, 4};
    u8 n = crs[rnd() % 3];
    u8 r[3] = {0x0F, 0x20, 0xC0 | n << 3}, w[3] = {0x0F, 0x22, 0xC0 | n << 3};
    emit(r, 3);
    if (n == 0 && chance(3)) {   // xor rax, TS or CD: a CR0 write that changes a bit
      u32 bit = chance(2) ? 1u << 3 : 1u << 30;
      u8 x[6] = {0x48, 0x35, bit, bit >> 8, bit >> 16, bit >> 24};
      emit(x, 6);
      emit(w, 3);
    } else if (chance(2))
      emit(w, 3);
    break;
  }
  case 13:
    if (chance(2)) {
      EMIT(0x0F, 0x21, 0xF0);   // mov rax, dr6
      break;
    }
    // mov rax, dr7; mov dr7, rax: the same value back (a breakpoint enabled
    // here would use DR0-DR3, which hold whatever the L0 left there).
    EMIT(0x0F, 0x21, 0xF8);
    if (chance(2))
      EMIT(0x0F, 0x23, 0xF8);
    break;
  case 14:
    switch (rnd() % 3) {
    case 0: EMIT(0xF3, 0x90); break;   // pause
    case 1: EMIT(0x0F, 0x09); break;   // wbinvd
    case 2: EMIT(0x0F, 0x08); break;   // invd
    }
    break;
  case 15:
    EMIT(0x9C);   // pushfq; popfq
    EMIT(0x9D);
    break;
  case 16:
    EMIT(0xF1);   // icebp: #DB when not intercepted
    break;
  case 17:
    emit_imm32(0xB8, 0x200000 + (rnd() & 0xFF000));
    EMIT(0x0F, 0x01, 0x38);   // invlpg [rax]
    break;
  case 18: {
    u8 b[2] = {0xCD, 0x20 + rnd() % 16};   // int n
    emit(b, 2);
    break;
  }
  case 21: {           // movabs [l2data + page], rax (write) or rax, [..] (read)
    u64 a = (u64)l2data + (rnd() % 64) * 4096 + (rnd() & 0xFF8);
    u8 b[10] = {0x48, chance(2) ? 0xA3 : 0xA1};
    for (int i = 0; i < 8; i++)
      b[2 + i] = a >> (8 * i);
    emit(b, 10);
    break;
  }
  case 19:
    // RDTSC that L1 does not intercept reads the L0's clock.
    // RDTSCP is left out: QEMU 7.2 checks the RDTSC intercept for it, not
    // RDTSCP's (§15.9 has a bit of its own).
    if (misc1 & M1_RDTSC)
      EMIT(0x0F, 0x31);
    else {
      static const int regs[] = {1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
      emit_movabs(regs[rnd() % 14], (u64)rnd() << 32 | rnd());
    }
    break;
  }
}

static void gen_code(void)
{
  pos = ninsn = 0;
  int n = 1 + rnd() % 10;
  for (int i = 0; i < n && pos < 3900; i++)
    gen_one();
  // The end: vmrun, which L1 always intercepts, with an aligned rAX (QEMU
  // 7.2 checks rAX for #GP before the intercept, as AMD's CPUs do).
  EMIT(0x31, 0xC0);
  EMIT(0x0F, 0x01, 0xD8);
}

// ---- vmcb12 ----
extern u64 gdt[];
static u16 attrib(int sel)   // the VMCB's packed segment attributes (§15.5.1, Appendix B)
{
  u64 d = gdt[sel >> 3];
  return ((d >> 40) & 0xFF) | ((d >> 44) & 0xF00);
}

static void seg(int off, int sel)
{
  F16(off) = sel;
  F16(off + 2) = attrib(sel);
  F32(off + 4) = 0xFFFFFFFF;
  F64(off + 8) = 0;
}

static void fill_map(u8 *m, int n)
{
  int kind = rnd() % 4;   // all clear, all set, random bits (twice as likely)
  for (int i = 0; i < n; i++)
    m[i] = kind == 0 ? 0 : kind == 1 ? 0xFF : rnd();
}

static void random_intercepts(void)
{
  static const u32 m1[] = {M1_CR0SEL, M1_RDTSC, M1_PUSHF, M1_POPF, M1_CPUID, M1_INTN, M1_INVD, M1_PAUSE, M1_HLT,
                           M1_INVLPG, M1_INVLPGA, M1_IOIO, M1_MSR};
  static const u32 m2[] = {M2_VMMCALL, M2_ICEBP, M2_WBINVD, M2_VMLOAD, M2_VMSAVE};
  static const u8 exc[] = {0, 1, 3, 6, 13, 14};
  misc1 = misc2 = excmask = 0;
  for (int i = 0; i < 13; i++)
    misc1 |= chance(2) ? m1[i] : 0;
  for (int i = 0; i < 5; i++)
    misc2 |= chance(2) ? m2[i] : 0;
  for (int i = 0; i < 6; i++)
    excmask |= chance(2) ? 1u << exc[i] : 0;
  F32(C_MISC1) = misc1;
  F32(C_MISC2) = misc2 | M2_VMRUN;
  F32(C_EXC) = excmask;
  // CR0/3/4 reads and writes (and the selective CR0 write intercept above:
  // QEMU 7.2 emulates it for MOV, not for LMSW, which L2 does not run),
  // DR6/DR7 reads, DR7 writes.
  F32(C_CR_RW) = rnd() & (0x19 | 0x19 << 16);
  F32(C_DR_RW) = rnd() & (0xC0 | 0x80 << 16);
  fill_map(iopm, sizeof iopm);
  fill_map(msrpm, sizeof msrpm);
}

static void random_event(void)
{
  static const u8 vec[] = {0, 3, 6, 13, 14};
  if (!chance(8))
    return;
  if (chance(3)) {   // type 4: software interrupt
    F32(C_EVENTINJ) = 1u << 31 | 4 << 8 | (0x20 + rnd() % 16);
    return;
  }
  u8 v = vec[rnd() % 5];
  int err = v == 13 || v == 14;   // #GP, #PF push an error code (EV, §15.20)
  F64(C_EVENTINJ) = 1u << 31 | err << 11 | 3 << 8 | v | (u64)(err ? rnd() & 0xFFFF : 0) << 32;
}

// A valid 64-bit L2 state: L1's own paging and segments, random bits that
// are legal in every case.
static void valid_state(u64 cr3)
{
  // Fixed bases, not L1's own CR0/CR4/EFER: those differ between the two
  // L0s (svmlab's VMM starts its guests with CR0.NE set, firmware does not).
  u64 cr0 = 0x80010031, cr4 = 0x20, efer = 0x500;   // PG WP NE ET PE; PAE; LMA LME
  struct { u16 limit; u64 base; } __attribute__((packed)) gd;
  asm volatile("sgdt %0" : "=m"(gd));
  seg(S_CS, KCODE);
  seg(S_SS, KDATA);
  seg(S_DS, KDATA);
  seg(S_ES, KDATA);
  F32(S_GDTR + 4) = gd.limit, F64(S_GDTR + 8) = gd.base;
  F32(S_IDTR + 4) = sizeof l2idt - 1, F64(S_IDTR + 8) = (u64)l2idt;
  F64(S_CR0) = cr0 | (rnd() & (1 << 1 | 1 << 3 | 1 << 18));   // MP, TS, AM
  F64(S_CR3) = cr3;
  F64(S_CR4) = cr4 | (rnd() & (1 << 2 | 1 << 3 | 1 << 7 | 1 << 8 | 1 << 9 | 1 << 10));
  F64(S_EFER) = efer | 1 << 12 | (rnd() & (1 << 0 | 1 << 11));   // SVME; SCE, NXE
  // DR6: BD, BS, BT at random; B0-B3 clear: QEMU's single-step #DB clears
  // stale B0-B3 bits (as the SDM allows), svmlab's emulated step (step.c)
  // leaves them, and the APM does not settle it for this case.
  F64(S_DR6) = 0xFFFF0FF0 | (rnd() & 0xE000);
  F64(S_DR7) = 0x400 | (rnd() & 0x300);
  F64(S_CR2) = (u64)rnd() << 12;
  F64(S_RFLAGS) = 2 | (rnd() & 0xCD5);   // CF PF AF ZF SF DF OF; IF and TF clear: no interrupts here
  F64(S_RIP) = (u64)l2code;
  F64(S_RSP) = (u64)l2stack + sizeof l2stack - 8 * (rnd() % 8);
  F64(S_RAX) = (u64)rnd() << 32 | rnd();
  F64(S_GPAT) = 0x0007040600070406UL;
  F64(C_IOPM) = (u64)iopm;
  F64(C_MSRPM) = (u64)msrpm;
  F64(C_TSCOFF) = (u64)rnd() << 20;
  F32(C_ASID) = 1 + rnd() % 15;
  F8(C_TLBCTL) = rnd() % 2;
  F64(C_INTCTL) = (rnd() & 0xF) | (chance(2) ? 1u << 24 : 0);   // V_TPR, V_INTR_MASKING
  F64(C_INTSTATE) = rnd() & 1;
}

// One rule of §15.5.1 broken, or -1. Left out: an illegal EVENTINJ (QEMU
// 7.2 does not check it), EFER.LME with CR0.PG clear (legal, but QEMU 7.2
// cannot return to a long-mode host from it; svmlab refuses it, see
// docs/internals/vmm-nested.md), reserved bits of EFER and CR4 that depend on
// what the CPU model offers (only bits reserved on every model are set).
static int break_rule(void)
{
  if (!chance(4))
    return -1;
  int r = rnd() % 12;
  switch (r) {
  case 0: F32(C_MISC2) &= ~M2_VMRUN; break;
  case 1: F32(C_ASID) = 0; break;
  case 2: F64(S_EFER) &= ~(1UL << 12); break;                 // SVME
  case 3: F64(S_CR0) = (F64(S_CR0) & ~(1UL << 30)) | 1UL << 29; break;   // NW without CD
  case 4: F64(S_CR0) |= 1UL << (32 + rnd() % 32); break;
  case 5: F64(S_CR3) |= 1UL << (52 + rnd() % 12); break;       // beyond any MAXPHYADDR
  case 6: F64(S_CR4) |= 1UL << (chance(2) ? 63 : 32 + rnd() % 16); break;
  case 7: chance(2) ? (F64(S_DR6) |= 1UL << (32 + rnd() % 32)) : (F64(S_DR7) |= 1UL << (32 + rnd() % 32)); break;
  case 8: F64(S_EFER) |= 1UL << (32 + rnd() % 32); break;
  case 9: F64(S_CR4) &= ~(1UL << 5); break;                    // LME, PG without PAE
  case 10: F64(S_CR0) &= ~1UL; break;                          // LME, PG without PE
  case 11: F16(S_CS + 2) |= 1 << 10; break;                    // CS.L and CS.D
  }
  return r;
}

// ---- nested paging cases: accessed and dirty bits (§15.25.5) ----
static void np_build(void)
{
  npml4[0] = (u64)npdpt | 7;                       // P, W, U: nested walks are user accesses
  for (int i = 0; i < 4; i++) {
    npdpt[i] = (u64)npd[i] | 7;
    for (int j = 0; j < 512; j++)
      npd[i][j] = ((u64)i << 30 | (u64)j << 21) | 0x87;   // 2 MiB pages
  }
  for (int t = 0; t < 2; t++) {
    npd[0][t] = (u64)npt[t] | 7;
    for (int j = 0; j < 512; j++)
      npt[t][j] = ((u64)t << 21 | (u64)j << 12) | 7;
  }
}

static void np_clear_ad(void)
{
  npml4[0] &= ~(NP_A | NP_D);
  for (int i = 0; i < 4; i++) {
    npdpt[i] &= ~(NP_A | NP_D);
    for (int j = 0; j < 512; j++)
      npd[i][j] &= ~(NP_A | NP_D);
  }
  for (int t = 0; t < 2; t++)
    for (int j = 0; j < 512; j++)
      npt[t][j] &= ~(NP_A | NP_D);
}

// The dirty bits the case's nested walks left in L1's table for the pages
// of l2data, which only L2's MOVs write: into the hash page by page, and
// counted on the case's line; and whether every dirty entry is also
// accessed, and the root entry is (the walk sets A on each level it uses, D
// on the leaf it writes through, §15.25.5). The other pages are not
// compared: QEMU 7.2 sets A and D when it fills its software TLB, runs a
// translated block it still has for L2's code without a walk (a code page
// may stay unaccessed), and was seen with the stack page dirty in a case
// whose L2 wrote no stack.
static void np_mix_ad(char *buf, int n)
{
  int nd = 0, d_without_a = 0;
  u64 *all[] = {npml4, npdpt, npd[0], npd[1], npd[2], npd[3], npt[0], npt[1]};
  u64 first = (u64)l2data >> 12, last = first + 63;
  for (int t = 0; t < 8; t++)
    for (int j = 0; j < (t < 2 ? 4 : 512); j++) {
      u64 e = all[t][j], page = (u64)(t - 6) << 9 | j;
      if ((e & NP_D) && t >= 6 && page >= first && page <= last)
        mix(page), nd++;
      d_without_a += (e & NP_D) && !(e & NP_A);
    }
  snprintf(buf, n, " np D %d%s%s", nd, d_without_a ? " D-without-A" : "", npml4[0] & NP_A ? "" : " root-not-A");
}

// ---- running a case ----
static u32 seen[0x100], seen_invalid;
static u64 dr7_or, dr7_and = ~0UL;

// The MSRs of the VMLOAD state and SYSENTER: L2 may write them without an
// intercept; #VMEXIT leaves them to L1 as L2 left them (§15.6, §15.5.2).
static void reset_msrs(void)
{
  for (int i = 0; i < 6; i++)
    wrmsr(plain_msrs[i], 0x1000 * (i + 1));
}

// The VMLOAD state's MSRs and FS/GS bases in a VMCB-format page (§15.5.2,
// Appendix B: FS.base 0x448, GS.base 0x458, STAR..SYSENTER_EIP 0x600-0x638),
// in the order of vl_msrs.
static u64 *vl_field(u8 *page, int i)
{
  static const u16 off[] = {0x448, 0x458, 0x620, 0x600, 0x608, 0x610, 0x618, 0x628, 0x630, 0x638};
  return (u64 *)(page + off[i]);
}
#define VL_FIELDS 10
static const u32 vl_msrs[] = {0xC0000100, 0xC0000101, 0xC0000102, 0xC0000081, 0xC0000082, 0xC0000083,
                              0xC0000084, 0x174, 0x175, 0x176};

// Before a case: vlpage holds L1's own VMLOAD state (its segments stay
// valid) with random MSR values; vspage is zero.
static void vl_prepare(void)
{
  asm volatile("vmsave" :: "a"((u64)vlpage) : "memory");
  for (int i = 0; i < VL_FIELDS; i++)
    *vl_field(vlpage, i) = rnd();
  for (int i = 0; i < 4096; i++)
    vspage[i] = 0;
}

// After a case: what L2's VMLOAD/VMSAVE left (vspage, the MSRs), hashed; then
// L1's own VMLOAD state back.
static void vl_mix(void)
{
  for (int i = 0; i < VL_FIELDS; i++)
    mix(*vl_field(vspage, i)), mix(rdmsr(vl_msrs[i]));
  asm volatile("vmload" :: "a"((u64)l1state) : "memory");
}

static void record_exit(void)
{
  // EXITINTINFO: only with its V bit (§15.7.2: the rest means nothing
  // without it; QEMU 7.2 leaves there the last event it delivered in that
  // VMCB, which depends on when L0's own exits came).
  // EVENTINJ: the low half only; #VMEXIT clears its V bit (§15.20), and
  // QEMU 7.2 zeroes the low 32 bits and keeps the error code, svmlab zeroes
  // all: the error code of a consumed event is nobody's business.
  static const u16 f[] = {C_EXITCODE, C_INFO1, C_INFO2, C_EXITINT, C_INTCTL, C_INTSTATE, C_EVENTINJ, C_NRIP,
                          S_CPL, S_EFER, S_CR4, S_CR3, S_CR0, S_DR7, S_DR6, S_RFLAGS, S_RIP, S_RSP, S_RAX, S_CR2,
                          S_ES, S_ES + 8, S_CS, S_CS + 8, S_SS, S_SS + 8, S_DS, S_DS + 8, S_GDTR, S_GDTR + 8,
                          S_IDTR, S_IDTR + 8};
  for (unsigned i = 0; i < sizeof f / sizeof f[0]; i++)
    mix(f[i] == S_CPL ? F8(f[i]) : f[i] == C_INTCTL ? F64(f[i]) & 0x1FF : f[i] == C_EVENTINJ ? F32(f[i]) :
        f[i] == C_EXITINT && !(F32(f[i]) >> 31) ? 0 : F64(f[i]));
  for (u64 *r = &g2.rbx; r <= &g2.r15; r++)
    mix(*r);
}

// An intercepted MOV from CR0/3/4 or DR6/7 (always into RAX here): L1 does
// what the instruction would have, as a hypervisor must; L2 may write the
// value back next (a stale RAX there would be L2's own bug).
static void emulate_read(u32 code)
{
  if (code == 0 || code == 3 || code == 4)
    F64(S_RAX) = F64(code == 0 ? S_CR0 : code == 3 ? S_CR3 : S_CR4);
  else if (code == 0x26 || code == 0x27)
    F64(S_RAX) = F64(code == 0x26 ? S_DR6 : S_DR7);
}

// Where L2 resumes after L1 handled an exit at rip: past the instruction
// there; -1 when the case is over (L2's own exception handler ran, the final
// VMRUN, or an address that is no instruction of L2's).
// l2code_at: where L2 sees l2code (an alias of it in l2_mmio_remap).
static u64 l2code_at;
static long next_rip(u64 rip)
{
  if (rip >= (u64)l2stubs && rip < (u64)l2stubs + sizeof l2stubs)
    return -1;
  u64 base = l2code_at ? l2code_at : (u64)l2code;
  for (int i = 0; i < ninsn - 2; i++)
    if (rip == base + insn_at[i])
      return rip + insn_len[i];
  return -1;
}

static void run_case(int no, u64 cr3, int np)
{
  rng = 0x5EED0000UL + no * 0x9E3779B97F4A7C15UL;
  np_case = np;
  for (int i = 0; i < 4096; i++)
    vmcb[i] = 0;
  random_intercepts();
  valid_state(cr3);
  random_event();
  gen_code();
  int broken = break_rule();
  if (np) {
    F64(C_NPCTL) = 1;   // NP_ENABLE; the TLB flush drops what the last case's walks cached
    F64(C_NCR3) = (u64)npml4;
    F8(C_TLBCTL) = 1;
    np_clear_ad();
  }
  u64 *gr = &g2.rbx;
  for (int i = 0; i < 14; i++)
    gr[i] = (u64)rnd() << 32 | rnd();
  reset_msrs();
  vl_prepare();
  asm volatile("mov %0, %%dr7" :: "r"(0x700UL));   // GE, LE: #VMEXIT resets DR7 to 0x400 (§15.6)
  hash = 0xCBF29CE484222325UL;
  char codes[120];
  int k = 0, n;
  codes[0] = 0;
#define CODE(...) (k < (int)sizeof codes - 12 ? k += snprintf(codes + k, sizeof codes - k, __VA_ARGS__) : 0)
  for (n = 0; n < MAXEXITS; n++) {
    asm volatile("clgi");
    nsvm_vmrun((u64)vmcb, &g2);
    asm volatile("stgi");
    u32 code = F32(C_EXITCODE);
    if (code == EXIT_INVALID) {
      // Only the code: what else the VMCB holds after a refused VMRUN is
      // not architectural (QEMU 7.2 writes its partly loaded state there).
      seen_invalid++;
      CODE("%sinvalid", n ? "," : "");
      mix(code);
      break;
    }
    seen[code & 0xFF]++;
    CODE("%s%x", n ? "," : "", code);
    record_exit();
    long rip = next_rip(F64(S_RIP));
    if (rip < 0)
      break;
    emulate_read(code);
    F64(S_RIP) = rip;
    F64(C_EVENTINJ) = 0;
  }
  // What #VMEXIT leaves to L1: CR2, the MSRs L2 could write (§15.6).
  // Not after a refused VMRUN: QEMU 7.2 has loaded part of L2's state (CR2
  // among it) before it finds the broken rule.
  if (broken < 0)
    mix(READ_CR(2));
  for (int i = 0; i < 6; i++)
    mix(rdmsr(plain_msrs[i]));
  vl_mix();
  // DR7 goes to its own line (QEMU 7.2 leaves the host's DR7 at #VMEXIT):
  // the values L1 saw after the exits of valid cases, ORed and ANDed.
  u64 dr7;
  asm volatile("mov %%dr7, %0" : "=r"(dr7));
  if (broken < 0)
    dr7_or |= dr7, dr7_and &= dr7;
  char name[16], ad[40] = "";
  if (np)
    np_mix_ad(ad, sizeof ad);
  snprintf(name, sizeof name, "case%03d", no);
  out(name, "%s%s%s hash %016lx", broken >= 0 ? "broken " : "", codes, ad, hash);
}

// ---- interrupt cases: L1's timer while L2 runs (§15.21.1) ----
#define IVEC 0x50
#define M1_INTR (1u << 0)
static volatile int l1_ticks;
static void l1_tick(struct frame *f)
{
  l1_ticks++;
  LAPIC_REG(0xB0) = 0;   // EOI
}

// L2's code: HLT (only where the interrupt can end it: the IF that masks it,
// L1's with V_INTR_MASKING else L2's, is set), or a loop long enough for the
// timer to fire first; then the final VMRUN.
static void irq_code(int hlt)
{
  pos = ninsn = 0;
  if (hlt)
    EMIT(0xF4);
  else {
    emit_imm32(0xB9, 2000000);    // mov ecx, N
    EMIT(0xFF, 0xC9);             // 1: dec ecx
    EMIT(0x75, 0xFC);             // jnz 1b
  }
  EMIT(0x31, 0xC0);
  EMIT(0x0F, 0x01, 0xD8);
}

static void irq_case(int no)
{
  int vim = no & 1, intr = no >> 1 & 1, l1if = no >> 2 & 1, l2if = no >> 3 & 1, hlt = no >> 4 & 1;
  if (hlt && !(vim ? l1if : l2if))
    return;   // nothing would end that HLT: the loop case (no - 16) covers it
  rng = 0x1A7E0000UL + no * 0x9E3779B97F4A7C15UL;
  for (int i = 0; i < 4096; i++)
    vmcb[i] = 0;
  valid_state(READ_CR(3));
  F32(C_MISC1) = intr ? M1_INTR : 0;
  F32(C_MISC2) = M2_VMRUN;
  F64(C_INTCTL) = vim ? 1u << 24 : 0;   // V_TPR 0, no V_IRQ
  F64(C_INTSTATE) = 0;
  F64(S_RFLAGS) = 2 | (l2if ? 0x200 : 0);
  irq_code(hlt);
  l1_ticks = 0;
  asm volatile("cli; clgi");
  if (l1if)
    asm volatile("sti");   // GIF=0 holds the interrupt until VMRUN
  LAPIC_REG(0x3E0) = 0xB;   // divide by 1
  LAPIC_REG(0x320) = IVEC;  // one-shot
  LAPIC_REG(0x380) = 1000;
  nsvm_vmrun((u64)vmcb, &g2);
  asm volatile("cli; stgi");
  u32 code = F32(C_EXITCODE);
  u64 rip = F64(S_RIP);
  int l2took = rip >= (u64)l2stubs && rip < (u64)l2stubs + sizeof l2stubs ? (int)((rip - (u64)l2stubs) / 8) : -1;
  for (int i = 0; i < 200 && !l1_ticks && l2took < 0; i++) {   // not L2's: L1's now, IF=1
    asm volatile("sti");
    delay_pit_ms(1);
    asm volatile("cli");
  }
  int isr = LAPIC_REG(0x100 + 0x10 * (IVEC / 32)) >> (IVEC % 32) & 1;
  if (isr)
    LAPIC_REG(0xB0) = 0;   // L2's IDT stub does not EOI
  LAPIC_REG(0x380) = 0;
  char name[16];
  snprintf(name, sizeof name, "irq%02d", no);
  out(name, "v_intr_masking %d intr_intercept %d l1_if %d l2_if %d %s: exit %x, L2 took vector %d, L1 took %d, "
      "in service after %d", vim, intr, l1if, l2if, hlt ? "hlt" : "loop", code, l2took, l1_ticks, isr);
}

// A fresh vmcb12 for a one-off case: seeded code generator, a valid L2
// state on L1's own page tables, VMRUN intercepted (§15.5.1).
static void case_start(u64 seed)
{
  rng = seed;
  for (int i = 0; i < 4096; i++)
    vmcb[i] = 0;
  valid_state(READ_CR(3));
  F32(C_MISC2) = M2_VMRUN;
}

// L1's interrupt pending at VMRUN with V_INTR_MASKING, not intercepted, L2's
// IF clear (it masks virtual interrupts only, §15.21.1): L2 takes it at its
// first instruction boundary where nothing else holds it. Held by the event
// vmcb12's EVENTINJ delivers (a #UD: L2's stub for vector 6 is interrupted
// at its first instruction, §15.20), or by vmcb12's interrupt shadow (L2's
// first instruction runs first; but QEMU 7.2's VMRUN ignores the VMCB's
// shadow, so whether it ran is not compared). An L0 that waits for L2's IF
// instead lets L2 reach its final VMRUN, and L1 takes the interrupt after
// the #VMEXIT.
static void irq_held(int shadow)
{
  case_start(0x4E1D0000UL + shadow);
  F64(C_INTCTL) = 1u << 24;
  F64(C_INTSTATE) = shadow;
  F64(C_EVENTINJ) = shadow ? 0 : 1u << 31 | 3 << 8 | 6;
  F64(S_RFLAGS) = 2;
  pos = ninsn = 0;
  emit_imm32(0xB9, 1);   // mov ecx, 1
  EMIT(0x31, 0xC0);
  EMIT(0x0F, 0x01, 0xD8);
  l1_ticks = 0;
  asm volatile("cli; clgi; sti");   // GIF=0 holds the interrupt until VMRUN
  LAPIC_REG(0x3E0) = 0xB;
  LAPIC_REG(0x320) = IVEC;
  LAPIC_REG(0x380) = 1000;
  // Up to 1 s for the 1 us timer to set IRR: QEMU's timers run in its main
  // thread, which a loaded host may not schedule for a while (a poll bounded
  // by a count once gave up first on plain QEMU, and the line differed).
  int pending = 0;
  for (int i = 0; i <= 1000 && !pending; i++) {
    pending = LAPIC_REG(0x200 + 0x10 * (IVEC / 32)) >> (IVEC % 32) & 1;
    if (!pending)
      delay_pit_ms(1);
  }
  nsvm_vmrun((u64)vmcb, &g2);
  asm volatile("cli; stgi");
  u32 code = F32(C_EXITCODE);
  u64 rip = F64(S_RIP);
  int l2took = rip >= (u64)l2stubs && rip < (u64)l2stubs + sizeof l2stubs ? (int)((rip - (u64)l2stubs) / 8) : -1;
  for (int i = 0; i < 200 && !l1_ticks && l2took != IVEC; i++) {
    asm volatile("sti");
    delay_pit_ms(1);
    asm volatile("cli");
  }
  if (LAPIC_REG(0x100 + 0x10 * (IVEC / 32)) >> (IVEC % 32) & 1)
    LAPIC_REG(0xB0) = 0;
  LAPIC_REG(0x380) = 0;
  out(shadow ? "irq_held_shadow" : "irq_held_eventinj", "pending at VMRUN %d: exit %x, L2 took vector %d, L1 took %d",
      pending, code, l2took, l1_ticks);
}

static void irq_cases(void)
{
  handlers[IVEC] = l1_tick;
  outb(0x21, 0xFF), outb(0xA1, 0xFF);   // the PICs stay quiet
  lapic_enable();
  for (int i = 0; i < 32; i++)
    irq_case(i);
  irq_held(0);
  irq_held(1);
}

// L2 runs VMLOAD (vlpage) then VMSAVE (vspage), neither intercepted, with
// nested paging: no exit but the final VMRUN's, vspage holds what vlpage
// gave, and L1 finds those MSRs after the #VMEXIT (§15.6 restores none).
static void l2_vmload_vmsave(void)
{
  case_start(0x10AD5A7EUL);
  F64(C_INTSTATE) = 0;
  F64(C_NPCTL) = 1;
  F64(C_NCR3) = (u64)npml4;
  pos = ninsn = 0;
  emit_movabs(0, (u64)vlpage);
  EMIT(0x0F, 0x01, 0xDA);
  emit_movabs(0, (u64)vspage);
  EMIT(0x0F, 0x01, 0xDB);
  EMIT(0x31, 0xC0);
  EMIT(0x0F, 0x01, 0xD8);
  vl_prepare();
  char codes[64];
  int k = 0, saved = 1, msrs = 0;
  codes[0] = 0;
  for (int n = 0; n < 4; n++) {
    asm volatile("clgi");
    nsvm_vmrun((u64)vmcb, &g2);
    asm volatile("stgi");
    u32 code = F32(C_EXITCODE);
    k += snprintf(codes + k, sizeof codes - k, "%s%x", n ? "," : "", code);
    long rip = next_rip(F64(S_RIP));
    if (rip < 0 || k > 40)
      break;
    F64(S_RIP) = rip;   // an exit on VMLOAD/VMSAVE (QEMU's): step over, as a hypervisor emulating it would not
  }
  for (int i = 0; i < VL_FIELDS; i++) {
    saved &= *vl_field(vspage, i) == *vl_field(vlpage, i);
    msrs |= rdmsr(vl_msrs[i]) == *vl_field(vlpage, i) ? 0 : 1 << i;
  }
  asm volatile("vmload" :: "a"((u64)l1state) : "memory");
  out("l2_vmload_vmsave", "exits %s, VMSAVE stored what VMLOAD loaded: %s, L1 finds L2's MSRs: %s", codes,
      saved ? "yes" : "no", msrs == 0 ? "yes" : "no");
}

static void emit_moffs(u8 op, u64 a)   // A1/A3: mov eax, [moffs64] / mov [moffs64], eax
{
  u8 b[9] = {op};
  for (int i = 0; i < 8; i++)
    b[1 + i] = a >> (8 * i);
  emit(b, 9);
}

// L2 reaches L1's local APIC through L1's nested table (identity, with
// nested paging; kvm-unit-tests' L2s program L1's timer so): writes the TPR,
// reads it back and the APIC ID, with V_INTR_MASKING and a V_TPR of L2's own
// (L2's CR8, not L1's TPR: §15.21.3), then L1 reads its TPR itself.
static void l2_mmio(void)
{
  case_start(0xA91C0000UL);
  F64(C_INTSTATE) = 0;
  F64(C_NPCTL) = 1;
  F64(C_NCR3) = (u64)npml4;
  F64(C_INTCTL) = 1u << 24 | 0x7;   // V_INTR_MASKING, V_TPR 7
  pos = ninsn = 0;
  emit_imm32(0xB8, 0x20);
  emit_moffs(0xA3, 0xFEE00080);
  emit_moffs(0xA1, 0xFEE00080);
  EMIT(0x89, 0xC3);   // mov ebx, eax
  emit_moffs(0xA1, 0xFEE00020);
  EMIT(0x89, 0xC1);   // mov ecx, eax
  EMIT(0x31, 0xC0);
  EMIT(0x0F, 0x01, 0xD8);
  asm volatile("clgi");
  nsvm_vmrun((u64)vmcb, &g2);
  asm volatile("stgi");
  u32 tpr = LAPIC_REG(0x80);
  LAPIC_REG(0x80) = 0;
  out("l2_mmio", "exit %x, L2 read TPR %lx, APIC ID %lx; L1's TPR %x", F32(C_EXITCODE), g2.rbx, g2.rcx, tpr);
}

// ---- L2's MMIO through a nested table of L1's that is not the identity ----
// L1's table sends some L2-physical pages elsewhere: the nested walk's result
// is an L1-physical address, and the access happens there (§15.25.5), with
// the instruction's width and data; an access L1's table refuses is L1's NPF
// with L2's address in EXITINFO2 (§15.25.6). The L2 pages are pages of L1's
// RAM holding a pattern (what an access at L2's address instead of L1's would
// find or change).
#define R_LAPIC 0     // -> L1's local APIC; bits 20:12 of the two addresses differ
#define R_BUS 1       // -> NOBUS: neither RAM nor a device on either L0
#define R_NP 2        // not present in L1's table
#define R_RO 3        // -> the local APIC, read-only
#define R_CODE 4      // -> l2code: L2 runs its code here (l2_mmio_alias)
#define R_CR3 5       // -> L1's PML4: L2's CR3 (l2_mmio_alias)
#define NREMAP 6
static u8 remap[NREMAP][4096] __attribute__((aligned(4096)));
#define NOBUS 0xE0000000UL
#define IO_2M 0x06000000UL    // a 2 MiB page of L1's RAM -> the I/O APIC's 2 MiB page at 0xFEC00000
#define PIN23 0x3E            // I/O APIC register: pin 23's redirection entry, low half

static u64 *npt_entry(void *page) { return &npt[(u64)page >> 21][((u64)page >> 12) & 511]; }

// Fills each remapped page with its pattern; 1 if they all still hold it.
static int remap_pattern(int check)
{
  int ok = 1;
  for (int p = 0; p < NREMAP; p++)
    for (int i = 0; i < 4096; i += 4) {
      u32 *w = (u32 *)(remap[p] + i), want = 0x5A000000 | p << 16 | i;
      if (!check)
        *w = want;
      ok &= *w == want;
    }
  volatile u32 *big = (volatile u32 *)IO_2M;
  for (int i = 0; i < 16; i++) {
    if (!check)
      big[i] = 0x10C00000 + i;
    ok &= big[i] == 0x10C00000u + i;
  }
  return ok;
}

// Runs L2 until its final VMRUN (or 8 exits), stepping over the exits
// L1's table makes (NPFs); their codes and EXITINFO1/2 into buf.
static void remap_run(char *buf, int n)
{
  int k = 0;
  buf[0] = 0;
  for (int i = 0; i < 8; i++) {
    asm volatile("clgi");
    nsvm_vmrun((u64)vmcb, &g2);
    asm volatile("stgi");
    u32 code = F32(C_EXITCODE);
    if (k < n - 40)
      k += snprintf(buf + k, n - k, "%s%x", i ? "," : "", code);
    if (code == 0x400 && k < n - 40)
      k += snprintf(buf + k, n - k, "(%lx %lx)", F64(C_INFO1), F64(C_INFO2));
    long rip = next_rip(F64(S_RIP));
    if (code != 0x400 || rip < 0)
      break;
    F64(S_RIP) = rip;
  }
}

static void remap_vmcb(void)
{
  for (int i = 0; i < 4096; i++)
    vmcb[i] = 0;
  valid_state(READ_CR(3));
  F32(C_MISC2) = M2_VMRUN;
  F64(C_INTSTATE) = 0;
  F64(C_NPCTL) = 1;
  F64(C_NCR3) = (u64)npml4;
  F8(C_TLBCTL) = 1;               // this table differs from the one the last case used
  F64(C_INTCTL) = 1u << 24;       // V_INTR_MASKING: MMIO to the TPR is L1's APIC either way
  F64(S_RFLAGS) = 2;
  for (u64 *r = &g2.rbx; r <= &g2.r15; r++)
    *r = 0;
}

// L2's data accesses through remapped pages: L1's local APIC (4 KiB page,
// the TPR written and read, the APIC ID read), the I/O APIC (a 2 MiB page
// of L1's table: IOREGSEL and IOWIN, pin 23's entry masked), an address with
// nothing behind it (written, read back), a page L1's table does not map
// (read: L1's NPF) and the APIC read-only (written: L1's NPF, then read).
static void l2_mmio_remap(void)
{
  rng = 0x4E3A0000UL;
  u64 la = (u64)remap[R_LAPIC], bus = (u64)remap[R_BUS], np = (u64)remap[R_NP], ro = (u64)remap[R_RO];
  if ((u64)remap[NREMAP - 1] >= 4UL << 20) {
    out("l2_mmio_remap", "the remapped pages lie above 4 MiB (not in L1's 4 KiB tables)");
    return;
  }
  remap_pattern(0);
  *npt_entry(remap[R_LAPIC]) = 0xFEE00000UL | 7;
  *npt_entry(remap[R_BUS]) = NOBUS | 7;
  *npt_entry(remap[R_NP]) = 0;
  *npt_entry(remap[R_RO]) = 0xFEE00000UL | 5;   // P, U: no W
  npd[IO_2M >> 30][(IO_2M >> 21) & 511] = 0xFEC00000UL | 0x87;
  remap_vmcb();
  l2code_at = 0;
  pos = ninsn = 0;
  emit_imm32(0xB8, 0x30);
  emit_moffs(0xA3, la + 0x80);            // TPR = 0x30
  emit_moffs(0xA1, la + 0x80);
  EMIT(0x89, 0xC3);                       // ebx = TPR
  emit_moffs(0xA1, la + 0x20);
  EMIT(0x89, 0xC1);                       // ecx = APIC ID
  emit_imm32(0xB8, PIN23);
  emit_moffs(0xA3, IO_2M);                // IOREGSEL = pin 23
  emit_imm32(0xB8, 0x12047);
  emit_moffs(0xA3, IO_2M + 0x10);         // masked, active low, vector 0x47
  emit_moffs(0xA1, IO_2M + 0x10);
  EMIT(0x89, 0xC2);                       // edx = the entry
  emit_moffs(0xA1, IO_2M);
  EMIT(0x89, 0xC6);                       // esi = IOREGSEL
  emit_imm32(0xB8, 0x12345678);
  emit_moffs(0xA3, bus + 0x40);
  emit_moffs(0xA1, bus + 0x40);
  EMIT(0x89, 0xC7);                       // edi = what nothing answers
  emit_moffs(0xA1, np + 0x80);            // L1's NPF: not present
  emit_imm32(0xB8, 0x50);
  emit_moffs(0xA3, ro + 0x80);            // L1's NPF: write to a read-only page
  emit_moffs(0xA1, ro + 0x80);
  EMIT(0x41, 0x89, 0xC0);                 // r8d = TPR through the read-only page
  EMIT(0x31, 0xC0);
  EMIT(0x0F, 0x01, 0xD8);
  char exits[160];
  remap_run(exits, sizeof exits);
  u32 tpr = LAPIC_REG(0x80), pin = ioapic_read(PIN23), nobus = *(volatile u32 *)(NOBUS + 0x40);
  LAPIC_REG(0x80) = 0;
  ioapic_write(PIN23, 0x10000);
  int kept = remap_pattern(1);
  np_build();
  out("l2_mmio_remap", "exits %s", exits);
  out("l2_mmio_remap_values", "L2 read TPR %lx, APIC ID %lx, pin 23 %lx, IOREGSEL %lx, what nothing answers %s "
      "L1's read there, TPR read-only %lx; L1's TPR %x, pin 23 %x; L2's pages %s", g2.rbx, g2.rcx, g2.rdx, g2.rsi,
      (u32)g2.rdi == nobus ? "equals" : "differs from", g2.r8, tpr, pin, kept ? "untouched" : "changed");
}

// L2's code and page tables at remapped addresses: CR3 is an L2 page that
// L1's table sends to L1's PML4 (L2's page holds zeros), RIP in an L2 page
// sent to l2code (L2's page holds the same code with another TPR value).
// The MMIO access behind an L0 NPF must be fetched and translated that way.
static void l2_mmio_alias(void)
{
  rng = 0xA11A0000UL;
  remap_pattern(0);
  for (int i = 0; i < 4096; i++)
    remap[R_CR3][i] = 0;
  *npt_entry(remap[R_CODE]) = (u64)l2code | 7;
  *npt_entry(remap[R_CR3]) = (READ_CR(3) & ~0xFFFUL) | 7;
  remap_vmcb();
  F64(S_CR3) = (u64)remap[R_CR3];
  F64(S_RIP) = l2code_at = (u64)remap[R_CODE];
  for (int copy = 0; copy < 2; copy++) {   // the decoy first, then the code L2 really runs
    pos = ninsn = 0;
    emit_imm32(0xB8, copy ? 0x60 : 0x70);
    emit_moffs(0xA3, 0xFEE00080);
    emit_moffs(0xA1, 0xFEE00080);
    EMIT(0x89, 0xC3);
    EMIT(0x31, 0xC0);
    EMIT(0x0F, 0x01, 0xD8);
    for (int i = 0; !copy && i < pos; i++)
      remap[R_CODE][i] = l2code[i];
  }
  char exits[160];
  remap_run(exits, sizeof exits);
  u32 tpr = LAPIC_REG(0x80);
  LAPIC_REG(0x80) = 0;
  l2code_at = 0;
  np_build();
  u64 rip = F64(S_RIP);
  int l2took = rip >= (u64)l2stubs && rip < (u64)l2stubs + sizeof l2stubs ? (int)((rip - (u64)l2stubs) / 8) : -1;
  out("l2_mmio_alias", "exits %s, L2 took vector %d, read TPR %lx; L1's TPR %x", exits, l2took, g2.rbx, tpr);
}

// L2's CR8 and L1's TPR (§15.21.1, §15.21.3): L1's TPR 2 (written through
// its local APIC), vmcb12's V_TPR 3. Without V_INTR_MASKING L2's CR8 is the
// real TPR, L1's: L2 reads 2, its writes change L1's TPR (L2 reads it back
// through L1's APIC too). With it L2's CR8 is V_TPR, and L1's TPR stays.
// L2 raises the TPR to 5, then lowers it to 1; then L1 reads its TPR, its
// CR8 and the V_TPR #VMEXIT wrote into vmcb12.
static void l2_cr8(int vim)
{
  case_start(0xC8000000UL + vim);
  F64(C_INTSTATE) = 0;
  F64(C_INTCTL) = (vim ? 1u << 24 : 0) | 3;
  F64(S_RFLAGS) = 2;
  for (u64 *r = &g2.rbx; r <= &g2.r15; r++)
    *r = 0;
  pos = ninsn = 0;
  EMIT(0x44, 0x0F, 0x20, 0xC0);   // mov rax, cr8
  EMIT(0x48, 0x89, 0xC3);         // mov rbx, rax
  emit_imm32(0xB8, 5);
  EMIT(0x44, 0x0F, 0x22, 0xC0);   // mov cr8, rax
  EMIT(0x44, 0x0F, 0x20, 0xC0);
  EMIT(0x48, 0x89, 0xC1);         // rcx = CR8
  emit_moffs(0xA1, 0xFEE00080);
  EMIT(0x89, 0xC2);               // edx = L1's TPR
  emit_imm32(0xB8, 1);
  EMIT(0x44, 0x0F, 0x22, 0xC0);   // lowered: the VMM's APIC may have to look again
  EMIT(0x44, 0x0F, 0x20, 0xC0);
  EMIT(0x48, 0x89, 0xC6);         // rsi = CR8
  emit_moffs(0xA1, 0xFEE00080);
  EMIT(0x89, 0xC7);               // edi = L1's TPR
  EMIT(0x31, 0xC0);
  EMIT(0x0F, 0x01, 0xD8);
  LAPIC_REG(0x80) = 0x20;
  asm volatile("clgi");
  nsvm_vmrun((u64)vmcb, &g2);
  asm volatile("stgi");
  u32 tpr = LAPIC_REG(0x80);
  u64 cr8 = READ_CR(8);
  LAPIC_REG(0x80) = 0;
  char name[16];
  snprintf(name, sizeof name, "l2_cr8_vim%d", vim);
  out(name, "exit %x; L2's CR8 %lx; after 5: CR8 %lx, L1's TPR %lx; after 1: %lx, %lx; then L1's TPR %x, CR8 %lx, "
      "vmcb12 V_TPR %lx", F32(C_EXITCODE), g2.rbx, g2.rcx, g2.rdx, g2.rsi, g2.rdi, tpr, cr8, F64(C_INTCTL) & 0xFF);
}

static void l2_idt(void)
{
  // Every vector L2 takes itself lands on "xor eax, eax; vmrun; jmp ."
  // (VMRUN is always intercepted): the exit's RIP says which vector it was,
  // the case ends.
  for (int v = 0; v < 256; v++) {
    static const u8 stub[] = {0x31, 0xC0, 0x0F, 0x01, 0xD8, 0xEB, 0xFE};
    u8 *s = l2stubs + 8 * v;
    for (unsigned i = 0; i < sizeof stub; i++)
      s[i] = stub[i];
    u64 a = (u64)s;
    l2idt[2 * v] = (a & 0xFFFF) | (u64)KCODE << 16 | 0x8E00UL << 32 | (a >> 16 & 0xFFFF) << 48;
    l2idt[2 * v + 1] = a >> 32;
  }
}

void kmain(void)
{
  u32 r[4];
  cpuid(0x80000001, 0, r);
  out("svm", "%s", r[2] & 4 ? "offered" : "not offered");
  if (!(r[2] & 4))
    return;
  cpuid(0x8000000A, 0, r);
  out("asids", "%s", r[1] >= 16 ? "16 or more" : "fewer than 16");
  wrmsr(EFER_MSR, rdmsr(EFER_MSR) | 1 << 12);
  wrmsr(HSAVE_MSR, (u64)hsave);
  asm volatile("vmsave" :: "a"((u64)l1state) : "memory");
  l2_idt();
  for (int i = 0; i < NCASES; i++)
    run_case(i, READ_CR(3), 0);
  np_build();
  for (int i = NCASES; i < NCASES + NPCASES; i++)
    run_case(i, READ_CR(3), 1);
  l2_vmload_vmsave();
  l2_mmio();
  l2_mmio_remap();
  l2_mmio_alias();
  l2_cr8(0);
  l2_cr8(1);
  irq_cases();
  char line[200];
  int k = 0;
  for (int c = 0; c < 0x100; c++)
    if (seen[c])
      k += snprintf(line + k, sizeof line - k, "%x:%d ", c, seen[c]);
  out("exits_seen", "%sinvalid:%d", line, seen_invalid);
  out("l1_dr7_after_vmexit", "or %lx and %lx", dr7_or, dr7_and);
}
