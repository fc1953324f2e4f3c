// Port I/O: each width on ports with known contents (the UART's scratch
// register, the PICs' masks, CMOS RAM, fw_cfg), reads of an unused port
// (all ones), port 0x92 (A20), and the string forms INS/OUTS with REP,
// DF=1, a 32-bit address size with RCX's upper half set, and RCX=0
// (APM Vol. 3 "INS", "OUTS"; Vol. 2 §13.1 for I/O at CPL 3).
#include "rt.h"

const char kernel_name[] = "pio";

static u8 buf[64];

static void widths(void)
{
  outb(0x3FF, 0x5A);
  out("uart_scratch", "%x", inb(0x3FF));
  outb(0x21, 0xA5);
  outb(0xA1, 0x3C);
  out("pic_masks", "%x %x", inb(0x21), inb(0xA1));
  outb(0x21, 0xFF), outb(0xA1, 0xFF);
  outb(0x70, 0x3E), outb(0x71, 0xC3);
  outb(0x70, 0x3E);
  out("cmos_ram", "%x", inb(0x71));
  out("unused_port", "b %x w %x l %x", inb(0x2E8), inw(0x2E8), inl(0x2E8));
  out("port92", "%x", inb(0x92) & 0x03);
  outw(0x510, 0);
  char sig[5] = {0};
  for (int i = 0; i < 4; i++)
    sig[i] = inb(0x511);
  out("fwcfg_word_select", "%s", sig);
  outb(0x80, 0x12);
  out("post_port_write", "survived");
}

static u64 ins(u16 port, void *dst, u64 count, int df, int a32)
{
  if (df) asm volatile("std");
  if (a32)
    asm volatile("addr32 rep insb" : "+D"(dst), "+c"(count) : "d"(port) : "memory");
  else
    asm volatile("rep insb" : "+D"(dst), "+c"(count) : "d"(port) : "memory");
  asm volatile("cld");
  return count;
}

static void strings(void)
{
  outw(0x510, 0);
  u64 c = ins(0x511, buf, 4, 0, 0);
  out("rep_insb", "%c%c%c%c rcx %lx", buf[0], buf[1], buf[2], buf[3], c);
  outw(0x510, 0);
  c = ins(0x511, buf + 3, 4, 1, 0);
  out("rep_insb_df1", "%c%c%c%c rcx %lx", buf[0], buf[1], buf[2], buf[3], c);
  outw(0x510, 0);
  c = ins(0x511, buf, 0xFFFFFFFF00000004UL, 0, 1);
  out("rep_insb_a32", "%c%c%c%c rcx %lx", buf[0], buf[1], buf[2], buf[3], c);
  buf[0] = 0x77;
  c = ins(0x511, buf, 0, 0, 0);
  out("rep_insb_rcx0", "%x rcx %lx", buf[0], c);
  // OUTS to the UART's data register prints; to the scratch register it stores the last byte.
  static const char msg[] = "pio.outsb: printed\n";
  const char *p = msg;
  u64 n = sizeof msg - 1;
  asm volatile("rep outsb" : "+S"(p), "+c"(n) : "d"(0x3F8) : "memory");
  static const u8 three[] = {0x11, 0x22, 0x33};
  p = (const char *)three, n = 3;
  asm volatile("rep outsb" : "+S"(p), "+c"(n) : "d"(0x3FF) : "memory");
  out("rep_outsb_scratch", "%x rsi +%lu", inb(0x3FF), (u64)(p - (const char *)three));
  static const u16 key = 1;   // fw_cfg ID (a 4-byte little-endian value)
  const u16 *k = &key;
  asm volatile("outsw" : "+S"(k) : "d"(0x510) : "memory");
  u32 id = 0;
  fwcfg_read(0xFFFF, &id, 0);
  outw(0x510, 1);
  for (int i = 0; i < 4; i++)
    id |= (u32)inb(0x511) << 8 * i;
  out("outsw_select_id_bit0", "%u", id & 1);
}

static volatile int uv;
static void u_in(void) { uv = TRY("inb $0x80, %%al", ::: "rax"); }
static void u_ins(void) { u64 c = 1; void *d = buf; uv = TRY("rep insb", : "+D"(d), "+c"(c) : "d"(0x3FF) : "memory"); }

// Last: OUTS with DF=1 to the UART (a VMM that walks the wrong way prints garbage).
static void outs_df1(void)
{
  const char *p;
  u64 n;
  static const char fwd[] = "pio.outsb_df1: printed\n";
  n = sizeof fwd - 1;
  for (u64 i = 0; i < n; i++)
    buf[i] = fwd[n - 1 - i];
  p = (const char *)buf + n - 1;
  asm volatile("std; rep outsb; cld" : "+S"(p), "+c"(n) : "d"(0x3F8) : "memory");
}

void kmain(void)
{
  widths();
  strings();
  run_user(u_in, 2 | 3 << 12);
  out("cpl3_in_iopl3", "%s", vecname(uv));
  run_user(u_ins, 2 | 3 << 12);
  out("cpl3_insb_iopl3", "%s", vecname(uv));
  outs_df1();
}
