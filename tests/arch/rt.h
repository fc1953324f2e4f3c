// The test kernels' runtime (entry.S, rt.c): serial output, exceptions with
// fixups, user mode, fw_cfg, exit through isa-debug-exit (port 0xf4).
#ifndef RT_H
#define RT_H

#define KCODE 0x08
#define KDATA 0x10
#define UDATA 0x18
#define UCODE 0x20
#define TSSSEL 0x28
#define NPSEL 0x38
#define CODE32 0x40

#ifndef __ASSEMBLER__
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;

// What trap_common pushes, lowest address first.
struct frame {
  u64 r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  u64 vec, err, rip, cs, rflags, rsp, ss;
};

// Each kernel defines these two.
extern const char kernel_name[];
void kmain(void);

// "NAME.check: value": one line per check, compared with plain QEMU's.
void out(const char *check, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int snprintf(char *buf, int n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void puts_raw(const char *s);
void exit(int code) __attribute__((noreturn));
const char *vecname(int v);

// TRY("insn", asm operands...): runs the instruction(s); if the first one
// faults, trap() resumes after the block. Evaluates to the vector taken
// (-1: none); exc_err holds the error code. A trap-like exception raised
// by the block's last instruction (INT3, a data breakpoint) is recorded too.
extern volatile int exc_vec;
extern volatile u64 exc_err, exc_rip, exc_dr6;
#define barrier() asm volatile("" ::: "memory")
#define TRY(code, ...) ({ exc_vec = -1; barrier();                                   \
      asm volatile("1: " code "\n2:\n.pushsection .fixup, \"a\"\n.quad 1b, 2b\n.popsection" __VA_ARGS__); \
      barrier(); exc_vec; })

// Interrupt handlers by vector (return: nothing); hooks run before fixups.
typedef void (*handler_t)(struct frame *f);
extern handler_t handlers[256];
extern int (*trap_hook)(struct frame *f);   // returns 1 if it handled f
void set_gate(int vec, int ist, int dpl, int trap_gate);
long run_user(void (*fn)(void), u64 rflags);
extern u64 pt0[512];
static inline u64 *pte_of(void *va) { return &pt0[(u64)va >> 12]; }
extern u64 tss_rsp0;

static inline void outb(u16 p, u8 v) { asm volatile("outb %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outw(u16 p, u16 v) { asm volatile("outw %0, %1" :: "a"(v), "Nd"(p)); }
static inline void outl(u16 p, u32 v) { asm volatile("outl %0, %1" :: "a"(v), "Nd"(p)); }
static inline u8 inb(u16 p) { u8 v; asm volatile("inb %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u16 inw(u16 p) { u16 v; asm volatile("inw %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline u32 inl(u16 p) { u32 v; asm volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }
static inline void cpuid(u32 leaf, u32 sub, u32 r[4])
{
  asm volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}
static inline u64 rdtsc(void) { u32 lo, hi; asm volatile("rdtsc" : "=a"(lo), "=d"(hi)); return lo | (u64)hi << 32; }
// RDMSR/WRMSR that report the vector they raised (-1: none).
int rdmsr_safe(u32 msr, u64 *v);
int wrmsr_safe(u32 msr, u64 v);
u64 rdmsr(u32 msr);
void wrmsr(u32 msr, u64 v);
#define READ_CR(n) ({ u64 _v; asm volatile("mov %%cr" #n ", %0" : "=r"(_v)); _v; })
#define WRITE_CR(n, v) asm volatile("mov %0, %%cr" #n :: "r"((u64)(v)) : "memory")

// fw_cfg (QEMU's firmware configuration ports 0x510/0x511)
void fwcfg_read(u16 key, void *buf, int len);
u64 ram_bytes(void);

#define LAPIC ((volatile u32 *)0xFEE00000UL)
#define LAPIC_REG(off) LAPIC[(off) / 4]
void lapic_enable(void);
void delay_pit_ms(int ms);   // busy-waits on PIT channel 2 (port 0x61)
#endif
#endif
