// emutest: differential test of the VMM's instruction emulator
// (user/vmm/decode.c, emulate.c, alu.c) against the CPU it runs on.
//
//   build/emutest [COUNT [SEED]]        (make emutest; make test runs a small count)
//
// Each instance is a random encoding of an instruction the emulator covers
// (prefixes, REX, every ModRM/SIB/RIP-relative form, displacements,
// immediates), with random registers and flags and a memory operand aimed at
// a scratch page. The instruction runs natively (followed by RET) on the page,
// and through x86_decode/x86_emulate on a copy of it; registers, arithmetic
// flags, memory, RIP and the width of every access must agree. Then random
// and truncated byte strings go through the decoder and emulator in all
// three modes, which must refuse them cleanly, and a table of 16/32-bit
// vectors checks the forms the host cannot run natively. The generator
// encodes from the manuals' tables, not from the decoder, so that the two
// cannot share a mistake.
#define _GNU_SOURCE
#include "x86emu.h"
#include "../../user/fuzz/x86gen.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <asm/prctl.h>

void run_native(struct x86gen_regs *r, void *code);

#define PAGE 4096
static uint8 *code;             // executable page below 2 GiB
static uint8 *data;             // the native memory operand's page
static uint8 shadow[PAGE];      // the emulator's copy of it
static uint64 gsbase;           // GS base set for the process (0: none)
static long failures;
static int host_intel;          // the CPU is Intel's: its REP quirk (x86emu.h)

void x86_missing(const char *what)
{
  printf("emutest: lab 7: %s not implemented\n", what);
  exit(1);
}

static uint64 rng = 88172645463325252UL;
static uint64 rnd(void)
{
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return rng;
}
static uint64 rndn(uint64 n) { return rnd() % n; }

// ---- the emulator's memory: the shadow page, with every access logged ----

struct access {
  uint64 la;
  int n, write;
};
static struct access log_[64];
static int nlog;

static int emu_rw(uint64 la, void *buf, int n, int write)
{
  if (nlog < 64)
    log_[nlog++] = (struct access){la, n, write};
  uint64 base = (uint64)data;
  if (la < base || la + n > base + PAGE)
    return -1;
  if (write)
    memcpy(shadow + (la - base), buf, n);
  else
    memcpy(buf, shadow + (la - base), n);
  return 0;
}
static int emu_read(void *ctx, uint64 la, void *buf, int n) { return emu_rw(la, buf, n, 0); }
static int emu_write(void *ctx, uint64 la, const void *buf, int n) { return emu_rw(la, (void *)buf, n, 1); }

static void hex(const uint8 *b, int n)
{
  for (int i = 0; i < n; i++)
    printf("%02x ", b[i]);
}

// Runs one instance both ways and compares. 1 on agreement.
static int compare(struct x86gen *g)
{
  x86gen_fill(g, data, rnd);
  memcpy(shadow, data, PAGE);
  memcpy(code, g->b, g->len);
  code[g->len] = 0xC3;   // RET
  struct x86gen_regs n = g->r;
  run_native(&n, code);
  struct x86_cpu cpu = {.rip = (uint64)code, .rflags = g->r.rflags, .mode = 64, .intel = host_intel};
  memcpy(cpu.gpr, g->r.gpr, sizeof cpu.gpr);
  cpu.seg_base[X86_GS] = gsbase;
  cpu.gpr[X86_RSP] = 0x5a5a5a5a00;   // never an operand of the instances: must not be added in
  struct x86_insn in;
  struct x86_mem mem = {emu_read, emu_write, 0};
  nlog = 0;
  int r = x86_decode(g->b, g->len, 64, &in);
  if (r == 0)
    r = x86_emulate(&cpu, &in, &mem);
  const char *what = NULL;
  if (r < 0)
    what = x86_error(r);
  else if (in.len != g->len)
    what = "length";
  else if (cpu.rip != (uint64)code + g->len)
    what = "rip";
  else if ((cpu.rflags & X86_FL_ARITH) != (n.rflags & X86_FL_ARITH))
    what = "flags";
  else if (memcmp(data, shadow, PAGE))
    what = "memory";
  for (int i = 0; !what && i < 16; i++)
    if (i != X86_RSP && cpu.gpr[i] != n.gpr[i])
      what = "register";
  for (int i = 0; !what && i < nlog; i++)
    if (log_[i].n != g->width)
      what = "access width";
  if (!what)
    return 1;
  if (failures++ < 20) {
    printf("emutest: MISMATCH (%s): ", what);
    hex(g->b, g->len);
    printf(" err=%d len %d/%d flags native %#lx emu %#lx\n", r, r ? 0 : in.len, g->len,
           (unsigned long)n.rflags, (unsigned long)cpu.rflags);
    for (int i = 0; i < 16; i++)
      if (i != X86_RSP && cpu.gpr[i] != n.gpr[i])
        printf("   r%d: in %#lx native %#lx emu %#lx\n", i, (unsigned long)g->r.gpr[i],
               (unsigned long)n.gpr[i], (unsigned long)cpu.gpr[i]);
  }
  return 0;
}

// Every proper prefix of a valid instance must be "truncated", never a
// shorter instruction.
static void truncations(const struct x86gen *g)
{
  struct x86_insn in;
  for (int k = 0; k < g->len; k++) {
    int r = x86_decode(g->b, k, 64, &in);
    if (r != X86_E_TRUNCATED && failures++ < 20) {
      printf("emutest: a %d-byte prefix of ", k);
      hex(g->b, g->len);
      printf("decoded as %d, not truncated\n", r);
    }
  }
}

static int any_rw(void *ctx, uint64 la, void *buf, int n)
{
  memset(buf, 0x5A, n);
  return la == 0x1234 ? -1 : 0;
}
static int any_w(void *ctx, uint64 la, const void *buf, int n) { return n == 1 || n == 2 || n == 4 || n == 8 ? 0 : -9; }

// Random bytes in each mode: the decoder and emulator refuse or finish, never
// read past n bytes, never claim more than 15.
static long random_bytes(long count)
{
  long decoded = 0;
  struct x86_mem mem = {any_rw, any_w, 0};
  for (long i = 0; i < count; i++) {
    uint8 b[16];
    int n = rndn(16);
    for (int j = 0; j < n; j++)
      b[j] = rndn(3) ? rnd() : (uint8[]){0x66, 0x67, 0xF0, 0xF3, 0x48, 0x0F, 0x89, 0x8B, 0xC7, 0x24}[rndn(10)];
    int mode = (int[]){16, 32, 64}[rndn(3)];
    struct x86_insn in;
    int r = x86_decode(b, n, mode, &in);
    if (r == 0 && (in.len > n || in.len > 15 || in.len == 0) && failures++ < 20)
      printf("emutest: random bytes decoded with length %d of %d\n", in.len, n);
    if (r != 0)
      continue;
    decoded++;
    struct x86_cpu cpu = {.rip = 0x1000, .mode = mode};
    for (int j = 0; j < 16; j++)
      cpu.gpr[j] = rnd();
    cpu.rflags = rnd() & (X86_FL_ARITH | X86_FL_DF);
    r = x86_emulate(&cpu, &in, &mem);
    if (r < 0 && r != X86_E_FAULT && failures++ < 20)
      printf("emutest: emulation of decoded bytes failed with %d\n", r);
  }
  return decoded;
}

// Forms the host cannot run natively (16- and 32-bit modes) and refusals.
struct vec {
  int mode;
  const char *bytes;
  int err, len, width;
  uint64 ea;   // expected linear address of the first access (regs below)
};
static void vectors(void)
{
  static const struct vec v[] = {
    {32, "8b 45 08", 0, 3, 4, 0x30000 + 0x2000 + 8},          // mov eax,[ebp+8]  (SS base 0x30000)
    {32, "89 04 8d 00 10 00 00", 0, 7, 4, 0x10000 + 0x1000 + 4 * 0x10},   // mov [ecx*4+0x1000],eax
    {32, "a1 78 56 34 12", 0, 5, 4, 0x10000 + 0x12345678},     // mov eax,[0x12345678]
    {32, "66 c7 05 00 00 fe fe 34 12", 0, 9, 2, 0x10000 + 0xfefe0000UL},
    {32, "0f b6 42 03", 0, 4, 1, 0x10000 + 0x3000 + 3},         // movzx eax,byte [edx+3]
    {32, "65 8b 03", 0, 3, 4, 0x50000 + 0x4000},                // mov eax,gs:[ebx]
    {32, "67 8b 47 02", 0, 4, 4, 0x10000 + 0x4000 + 2},         // mov eax,[bx+2] (16-bit addressing)
    {32, "8b 05 00 00 01 00", 0, 6, 4, 0x10000 + 0x10000},      // mov eax,[0x10000]: no RIP in 32-bit
    {16, "8b 47 02", 0, 3, 2, 0x10000 + 0x4000 + 2},            // mov ax,[bx+2]
    {16, "8b 03", 0, 2, 2, 0x30000 + ((0x2000 + 0x5000) & 0xFFFF)},   // mov ax,[bp+di]: SS
    {16, "8b 42 10", 0, 3, 2, 0x30000 + 0x2000 + 0x6000 + 0x10},      // mov ax,[bp+si+0x10]
    {16, "c6 06 34 12 ab", 0, 5, 1, 0x10000 + 0x1234},          // mov byte [0x1234],0xab
    {16, "8b 46 fe", 0, 3, 2, 0x30000 + 0x2000 - 2},            // mov ax,[bp-2]: SS
    {16, "66 89 00", 0, 3, 4, 0x10000 + ((0x4000 + 0x6000) & 0xFFFF)},   // mov [bx+si],eax
    {16, "67 8b 04 24", 0, 4, 2, 0x30000 + 0x7000},             // mov ax,[esp]
    {64, "48 63 07", 0, 3, 4, 0x5000},                          // movsxd rax,[rdi]
    {64, "65 48 8b 04 25 10 00 00 00", 0, 9, 8, 0x60000 + 0x10}, // mov rax,gs:[0x10]
    {32, "63 07", X86_E_MODE},
    {32, "82 07 01", 0, 3, 1, 0x10000 + 0x5000},
    {64, "82 07 01", X86_E_MODE},
    {64, "f0 89 07", X86_E_LOCK},
    {64, "f0 39 07", X86_E_LOCK},
    {64, "8b c0", X86_E_NOMEM},
    {64, "0f 0b", X86_E_UNSUPPORTED},
    {64, "f7 37", X86_E_UNSUPPORTED},                           // div dword [rdi]
    {64, "c6 f8 00", X86_E_NOMEM},                              // xabort
    {64, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 89 07", X86_E_TOOLONG},
    {64, "48", X86_E_TRUNCATED},
  };
  for (unsigned i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8 b[16];
    int n = 0;
    for (const char *s = v[i].bytes; *s; s += s[2] ? 3 : 2)   // "48": no space after the last byte
      b[n++] = strtoul(s, NULL, 16);
    struct x86_insn in;
    int r = x86_decode(b, n, v[i].mode, &in);
    struct x86_cpu cpu = {.rip = 0x100, .mode = v[i].mode, .gpr = {[X86_RCX] = 0x10, [X86_RBX] = 0x4000,
                          [X86_RBP] = 0x2000, [X86_RDX] = 0x3000, [X86_RDI] = 0x5000, [X86_RSI] = 0x6000,
                          [X86_RSP] = 0x7000}};
    cpu.seg_base[X86_DS] = cpu.seg_base[X86_ES] = 0x10000;
    cpu.seg_base[X86_SS] = 0x30000;
    cpu.seg_base[X86_GS] = v[i].mode == 64 ? 0x60000 : 0x50000;
    struct x86_mem mem = {any_rw, any_w, 0};
    int ok = r == v[i].err;
    if (ok && r == 0) {
      ok = in.len == v[i].len && x86_ea(&cpu, &in) == v[i].ea && x86_emulate(&cpu, &in, &mem) == 0 &&
           cpu.rip == 0x100UL + v[i].len && (in.kind == K_MOVX ? in.srcsize : in.opsize) == v[i].width;
    }
    if (!ok && failures++ < 40)
      printf("emutest: vector %u (%s, mode %d): err %d len %d ea %#lx\n", i, v[i].bytes, v[i].mode, r,
             r ? 0 : in.len, r ? 0UL : (unsigned long)x86_ea(&cpu, &in));
  }
}

// REP STOSW with a 16-bit address size: CX counts, DI wraps at 64 KiB, and
// the upper bits of RCX and RDI stay what they were.
static uint64 seen_la[8];
static int nseen;
static int log_w(void *ctx, uint64 la, const void *buf, int n)
{
  if (nseen < 8)
    seen_la[nseen++] = la;
  return 0;
}
static void string16(void)
{
  static const uint8 b[] = {0xf3, 0xab};
  struct x86_insn in;
  struct x86_cpu cpu = {.rip = 0x100, .mode = 16};
  cpu.gpr[X86_RCX] = 0xABCD0003, cpu.gpr[X86_RDI] = 0x12345FFFEUL;
  cpu.seg_base[X86_ES] = 0x20000;
  struct x86_mem mem = {any_rw, log_w, 0};
  nseen = 0;
  int ok = x86_decode(b, 2, 16, &in) == 0 && x86_emulate(&cpu, &in, &mem) == 0 && nseen == 3 &&
           seen_la[0] == 0x2FFFE && seen_la[1] == 0x20000 && seen_la[2] == 0x20002 &&
           cpu.gpr[X86_RCX] == 0xABCD0000 && cpu.gpr[X86_RDI] == 0x123450004UL && cpu.rip == 0x102;
  if (!ok && failures++ < 40)
    printf("emutest: 16-bit rep stosw: %d writes (first at %#lx), RCX %#lx, RDI %#lx\n", nseen,
           (unsigned long)seen_la[0], (unsigned long)cpu.gpr[X86_RCX], (unsigned long)cpu.gpr[X86_RDI]);
}

// Compare-and-scan forms the host cannot run natively or the random
// instances do not reach: 16-bit addressing that wraps at 64 KiB, REPNE/REPE
// stopping on the first element, and a count longer than one REP_CHUNK
// (the instruction is re-entered with RIP still on it). Memory reads all
// 0x5A; the expected values follow the SDM's REP pseudocode by hand.
static uint64 seen_r[8];
static int nread;
static int log_r(void *ctx, uint64 la, void *buf, int n)
{
  if (nread < 8)
    seen_r[nread] = la;
  nread++;
  memset(buf, 0x5A, n);
  return 0;
}

struct svec {
  int mode;
  const char *bytes;
  uint64 rax, rcx, rsi, rdi, df;
  int calls;                 // x86_emulate calls until RIP moves on
  uint64 rcx_end, rsi_end, rdi_end, zf;
  int reads;
  uint64 first, second, third;   // the first three read addresses
};

static void string_vectors(void)
{
  static const struct svec v[] = {
    // repne scasw, 16-bit: DI wraps from 0xFFFE to 0, CX counts 5 down, upper halves stay
    {16, "f2 af", 0x1111, 0xABCD0005, 0, 0x12340FFFE, 0, 1, 0xABCD0000, 0, 0x123400008, 0, 5,
     0x2FFFE, 0x20000, 0x20002},
    // the same with AX equal to memory: REPNE stops after one element
    {16, "f2 af", 0x5A5A, 0xABCD0005, 0, 0x12340FFFE, 0, 1, 0xABCD0004, 0, 0x123400000, 1, 1,
     0x2FFFE, 0, 0},
    // repe cmpsb, 32-bit code with 67: SI wraps, DS:SI then ES:DI, equal throughout
    {32, "67 f3 a6", 0, 3, 0x1234FFFF, 0x10, 0, 1, 0, 0x12340002, 0x13, 1, 6, 0x1FFFF, 0x20010, 0x10000},
    // rep lodsd with an ES override on the source, DF=1: ESI steps down by 4
    {32, "f3 26 ad", 0, 2, 0x100, 0, 1, 1, 0, 0xF8, 0, 0, 2, 0x20100, 0x200FC, 0},
    // repe cmpsb, 64-bit, 5000 equal bytes: 4096 now, RIP stays; the rest on the next call
    {64, "f3 a6", 0, 5000, 0x100000, 0x200000, 0, 2, 0, 0x100000 + 5000, 0x200000 + 5000, 1, 10000,
     0x100000, 0x200000, 0x100001},
    // repe scasb ending exactly at the chunk's end: done in one call
    {64, "f3 ae", 0x5A, 4096, 0, 0x200000, 0, 1, 0, 0, 0x200000 + 4096, 1, 4096, 0x200000, 0x200001, 0x200002},
    // repne scasb backwards, equal at once: one element, RDI - 1
    {64, "f2 ae", 0x5A, 10, 0, 0x200000, 1, 1, 9, 0, 0x1FFFFF, 1, 1, 0x200000, 0, 0},
  };
  for (unsigned i = 0; i < sizeof v / sizeof v[0]; i++) {
    uint8 b[16];
    int n = 0, calls = 0, r = 0;
    for (const char *s = v[i].bytes; *s; s += s[2] ? 3 : 2)
      b[n++] = strtoul(s, NULL, 16);
    struct x86_insn in;
    struct x86_cpu cpu = {.rip = 0x100, .mode = v[i].mode,
                          .gpr = {[X86_RAX] = v[i].rax, [X86_RCX] = v[i].rcx, [X86_RSI] = v[i].rsi,
                                  [X86_RDI] = v[i].rdi}};
    cpu.rflags = 2 | (v[i].df ? X86_FL_DF : 0);
    if (v[i].mode != 64) {
      cpu.seg_base[X86_DS] = 0x10000;
      cpu.seg_base[X86_ES] = 0x20000;
    }
    struct x86_mem mem = {log_r, any_w, 0};
    nread = 0;
    int ok = x86_decode(b, n, v[i].mode, &in) == 0;
    while (ok && cpu.rip == 0x100 && calls++ < 4)
      ok = (r = x86_emulate(&cpu, &in, &mem)) == 0;
    ok = ok && calls == v[i].calls && cpu.rip == 0x100UL + n && cpu.gpr[X86_RCX] == v[i].rcx_end &&
         cpu.gpr[X86_RDI] == v[i].rdi_end && (v[i].rsi_end == 0 || cpu.gpr[X86_RSI] == v[i].rsi_end) &&
         !!(cpu.rflags & X86_FL_ZF) == v[i].zf && nread == v[i].reads && seen_r[0] == v[i].first &&
         (nread < 2 || seen_r[1] == v[i].second) && (nread < 3 || seen_r[2] == v[i].third);
    if (!ok && failures++ < 40)
      printf("emutest: string vector %u (%s, mode %d): err %d, %d calls, rip %#lx, RCX %#lx RSI %#lx RDI %#lx, "
             "ZF %d, %d reads (%#lx %#lx %#lx)\n", i, v[i].bytes, v[i].mode, r, calls, (unsigned long)cpu.rip,
             (unsigned long)cpu.gpr[X86_RCX], (unsigned long)cpu.gpr[X86_RSI], (unsigned long)cpu.gpr[X86_RDI],
             !!(cpu.rflags & X86_FL_ZF), nread, (unsigned long)seen_r[0], (unsigned long)seen_r[1],
             (unsigned long)seen_r[2]);
  }
}

int main(int argc, char **argv)
{
  long count = argc > 1 ? atol(argv[1]) : 100000;
  rng ^= argc > 2 ? strtoul(argv[2], NULL, 0) * 0x9E3779B97F4A7C15UL : 0;
  code = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  data = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (code == MAP_FAILED || data == MAP_FAILED)
    return perror("emutest: mmap below 2 GiB"), 2;
  uint64 g = (uint64)data - 0x10000 - rndn(0x10000);
  if (syscall(SYS_arch_prctl, ARCH_SET_GS, g) == 0)
    gsbase = g;
  uint32 a, b, c, d;
  asm volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0));
  host_intel = b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e;   // "GenuineIntel"
  int nf = x86gen_nforms();
  struct x86gen_env env = {(uint64)code, (uint64)data, gsbase, rnd};
  long agree = 0, tried = 0;
  for (long i = 0; tried < count; i++) {
    struct x86gen gen;
    if (!x86gen_generate(&env, i % nf, &gen))
      continue;
    tried++;
    agree += compare(&gen);
    truncations(&gen);
  }
  long decoded = random_bytes(count);
  vectors();
  string16();
  string_vectors();
  printf("emutest: %ld instances of %d forms, %ld agree with the CPU; %ld random byte strings (%ld decoded); "
         "GS segment %s; %s REP quirks; %ld failures\n", tried, nf, agree, count, decoded,
         gsbase ? "tested" : "not tested", host_intel ? "Intel" : "AMD", failures);
  return failures ? 1 : 0;
}
