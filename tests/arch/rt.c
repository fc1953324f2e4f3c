// The test kernels' runtime: IDT/TSS, trap dispatch with fixups, serial
// printf, exit, fw_cfg, a PIT-based delay. Kernels print facts, never
// addresses or timings that legitimately differ between two machines.
#include <stdarg.h>
#include "rt.h"

volatile int exc_vec = -1;
volatile u64 exc_err, exc_rip, exc_dr6;
handler_t handlers[256];
int (*trap_hook)(struct frame *f);
extern char trap_stubs[], user_back[];
extern u64 gdt[];
extern u32 mb_info;
extern char __fixup_start[], __fixup_end[];

struct gate { u16 off0, sel; u8 ist, type; u16 off1; u32 off2, zero; } __attribute__((packed));
static struct gate idt[256];
static struct { u16 limit; u64 base; } __attribute__((packed)) idtr = {sizeof idt - 1, (u64)idt};
static u32 tss[26] __attribute__((aligned(16)));
u64 tss_rsp0;
static u8 trap_stack[8192] __attribute__((aligned(16)));
extern char ist_stack_top[];

// ---- serial and formatting ----
static void putc_serial(char c)
{
  while (!(inb(0x3FD) & 0x20))
    ;
  outb(0x3F8, c);
}

void puts_raw(const char *s)
{
  for (; *s; s++)
    putc_serial(*s);
}

static int vfmt(char *buf, int n, const char *f, va_list ap)
{
  int k = 0;
#define PUT(c) do { if (k < n - 1) buf[k] = (c); k++; } while (0)
  for (; *f; f++) {
    if (*f != '%') { PUT(*f); continue; }
    f++;
    int zero = 0, width = 0, lng = 0;
    if (*f == '0') zero = 1, f++;
    while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
    while (*f == 'l') lng = 1, f++;
    char tmp[24];
    int t = 0;
    if (*f == 's') {
      const char *s = va_arg(ap, const char *);
      for (; *s; s++) PUT(*s);
      continue;
    }
    if (*f == 'c') { PUT((char)va_arg(ap, int)); continue; }
    u64 v;
    int neg = 0;
    if (*f == 'd') {
      long x = lng ? va_arg(ap, long) : va_arg(ap, int);
      if (x < 0) neg = 1, x = -x;
      v = x;
    } else
      v = lng ? va_arg(ap, u64) : va_arg(ap, u32);
    int base = (*f == 'x') ? 16 : 10;
    do tmp[t++] = "0123456789abcdef"[v % base]; while (v /= base);
    if (neg) tmp[t++] = '-';
    while (t < width) tmp[t++] = zero ? '0' : ' ';
    while (t) PUT(tmp[--t]);
  }
  if (n > 0) buf[k < n ? k : n - 1] = 0;
  return k;
#undef PUT
}

int snprintf(char *buf, int n, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int k = vfmt(buf, n, fmt, ap);
  va_end(ap);
  return k;
}

void out(const char *check, const char *fmt, ...)
{
  char line[200];
  va_list ap;
  va_start(ap, fmt);
  vfmt(line, sizeof line, fmt, ap);
  va_end(ap);
  puts_raw(kernel_name);
  puts_raw(".");
  puts_raw(check);
  puts_raw(": ");
  puts_raw(line);
  puts_raw("\n");
}

void exit(int code)
{
  outb(0xF4, code);
  for (;;)
    asm volatile("cli; hlt");
}

const char *vecname(int v)
{
  static const char *n[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "9", "#TS",
                            "#NP", "#SS", "#GP", "#PF", "15", "#MF", "#AC", "#MC", "#XM"};
  static char buf[8];
  if (v < 0) return "none";
  if (v < 20) return n[v];
  snprintf(buf, sizeof buf, "%d", v);
  return buf;
}

// ---- traps ----
struct fixup { u64 insn, resume; };

// A fault at a TRY block's first instruction, or a trap right after its
// last: record it and resume after the block.
static int fixup(struct frame *f)
{
  for (struct fixup *x = (struct fixup *)__fixup_start; x < (struct fixup *)__fixup_end; x++)
    if (f->rip == x->insn || f->rip == x->resume) {
      exc_vec = f->vec, exc_err = f->err, exc_rip = f->rip - x->insn;
      if (f->vec == 1)
        asm volatile("mov %%dr6, %0" : "=r"(exc_dr6));
      f->rip = x->resume;
      return 1;
    }
  return 0;
}

void trap(struct frame *f)
{
  if (f->vec == 0x80 && (f->cs & 3)) {        // run_user's way back to CPL 0
    f->rip = (u64)user_back, f->cs = KCODE, f->ss = KDATA, f->rflags = 2;
    return;
  }
  if (trap_hook && trap_hook(f))
    return;
  if (handlers[f->vec]) {
    handlers[f->vec](f);
    return;
  }
  if (f->vec < 32 && fixup(f))
    return;
  out("unexpected", "%s error %lx at cpl %lu", vecname(f->vec), f->err, f->cs & 3);
  exit(3);
}

void set_gate(int vec, int ist, int dpl, int trap_gate)
{
  u64 a = (u64)trap_stubs + 16 * vec;
  idt[vec] = (struct gate){(u16)a, KCODE, (u8)ist, (u8)(0x80 | dpl << 5 | (trap_gate ? 0xF : 0xE)),
                           (u16)(a >> 16), (u32)(a >> 32), 0};
}

static void tables_init(void)
{
  for (int v = 0; v < 256; v++)
    set_gate(v, 0, v == 3 || v == 0x80 ? 3 : 0, 0);
  asm volatile("lidt %0" :: "m"(idtr));
  tss_rsp0 = (u64)trap_stack + sizeof trap_stack;
  tss[1] = (u32)tss_rsp0, tss[2] = tss_rsp0 >> 32;
  tss[9] = (u32)(u64)ist_stack_top, tss[10] = (u64)ist_stack_top >> 32;   // IST1
  tss[25] = sizeof tss << 16;                                             // no I/O bitmap
  u64 b = (u64)tss;
  gdt[TSSSEL / 8] = (sizeof tss - 1) | (b & 0xFFFFFF) << 16 | 0x89UL << 40 | ((b >> 24) & 0xFF) << 56;
  gdt[TSSSEL / 8 + 1] = b >> 32;
  asm volatile("ltr %w0" :: "r"(TSSSEL));
}

// ---- MSRs, fw_cfg, delays ----
int rdmsr_safe(u32 msr, u64 *v)
{
  u32 lo = 0, hi = 0;
  int e = TRY("rdmsr", : "=a"(lo), "=d"(hi) : "c"(msr));
  *v = lo | (u64)hi << 32;
  return e;
}

int wrmsr_safe(u32 msr, u64 v)
{
  return TRY("wrmsr", :: "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

u64 rdmsr(u32 msr)
{
  u64 v;
  rdmsr_safe(msr, &v);
  return v;
}

void wrmsr(u32 msr, u64 v)
{
  wrmsr_safe(msr, v);
}

void fwcfg_read(u16 key, void *buf, int len)
{
  outw(0x510, key);
  for (int i = 0; i < len; i++)
    ((u8 *)buf)[i] = inb(0x511);
}

u64 ram_bytes(void)
{
  u64 v = 0;
  fwcfg_read(0x03, &v, 8);
  return v;
}

void lapic_enable(void)
{
  LAPIC_REG(0xF0) = 0x1FF;    // software enable, spurious vector 0xFF
}

// PIT channel 2, mode 0, gated by port 0x61 bit 0; bit 5 rises at terminal
// count. 1193182 Hz: at most 54 ms per round.
void delay_pit_ms(int ms)
{
  while (ms > 0) {
    int now = ms > 50 ? 50 : ms;
    u16 count = 1193 * now;
    outb(0x61, (inb(0x61) & ~0x02) & ~0x01);
    outb(0x43, 0xB0);
    outb(0x42, count & 0xFF);
    outb(0x42, count >> 8);
    outb(0x61, (inb(0x61) & ~0x02) | 0x01);
    while (!(inb(0x61) & 0x20))
      ;
    ms -= now;
  }
}

void rt_start(void)
{
  // The firmware may leave the 8259s unmasked with the PIT running and IRQ 0
  // on vector 8: masked here, so no kernel mistakes it for a #DF.
  outb(0x21, 0xFF);
  outb(0xA1, 0xFF);
  tables_init();
  out("start", "multiboot info %s", mb_info ? "present" : "missing");
  kmain();
  out("end", "ok");
  exit(0);
}
