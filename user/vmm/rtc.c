// The MC146818 real-time clock and CMOS RAM at 0x70 (index; bit 7 masks
// NMI on a PC) and 0x71 (data), IRQ8 (Motorola MC146818A datasheet,
// "Real-Time Clock Plus RAM"). Time source: the host's monotonic clock_ns
// plus a fixed base (svmlab's kernel has no calendar clock; loop.c passes
// RTC_BASE, 2026-01-01 00:00:00 UTC), plus whatever offset the guest sets by
// writing the time. Registers A-D: UIP, the rate select, periodic/alarm/
// update-ended flags and interrupts, BCD or binary, 12 or 24 hours.
#include "user.h"
#include "chips.h"

enum { REG_A = 0x0A, REG_B = 0x0B, REG_C = 0x0C, REG_D = 0x0D, CENTURY = 0x32 };
enum { B_SET = 0x80, B_PIE = 0x40, B_AIE = 0x20, B_UIE = 0x10, B_DM = 0x04, B_24H = 0x02 };
enum { C_IRQF = 0x80, C_PF = 0x40, C_AF = 0x20, C_UF = 0x10 };

// Time fields in binary, by register: 0 sec, 2 min, 4 hour, 6 day of week
// (1 = Sunday), 7 day of month, 8 month, 9 year in century; 10 century.
struct clock { int f[11]; };

// Days since 1970-01-01 of a proleptic Gregorian date (the civil-calendar
// arithmetic: years counted from March so that Feb 29 falls last).
static int64 days_from_date(int64 y, int m, int d)
{
  y -= m <= 2;
  int64 era = (y >= 0 ? y : y - 399) / 400;
  int64 yoe = y - era * 400;
  int64 doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void date_from_days(int64 z, int64 *y, int *m, int *d)
{
  z += 719468;
  int64 era = (z >= 0 ? z : z - 146096) / 146097;
  int64 doe = z - era * 146097;
  int64 yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64 doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64 mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yoe + era * 400 + (*m <= 2);
}

// Floor division: a time before 1970 (a guest may set one) has a negative
// s, and C's truncating / and % gave negative seconds, minutes and hours
// (UBSan: a shift of a negative value in encode, found by devtest board).
static void clock_from_secs(struct clock *c, int64 s)
{
  int64 days = s / 86400, y;
  int64 rem = s % 86400;
  int m, d;
  if (rem < 0)
    rem += 86400, days--;
  date_from_days(days, &y, &m, &d);
  c->f[0] = rem % 60;
  c->f[2] = rem / 60 % 60;
  c->f[4] = rem / 3600;
  c->f[6] = ((days + 4) % 7 + 7) % 7 + 1;   // 1970-01-01 was a Thursday
  c->f[7] = d;
  c->f[8] = m;
  c->f[9] = y % 100;
  c->f[10] = y / 100;
}

static int64 secs_from_clock(struct clock *c)
{
  int64 days = days_from_date(c->f[10] * 100 + c->f[9], c->f[8], c->f[7]);
  return days * 86400 + c->f[4] * 3600 + c->f[2] * 60 + c->f[0];
}

static int64 now_secs(struct rtc *r, uint64 now)
{
  return (int64)(r->base_s + now / NSEC) + r->offset_s;
}

// The guest's view of a binary field: BCD unless B.DM; hours in 12-hour
// form with bit 7 = PM unless B.24H (datasheet Table 3 "Time, Calendar and
// Alarm Data Modes").
static uint8 encode(struct rtc *r, int reg, int v)
{
  int pm = 0;
  if (reg == 4 && !(r->ram[REG_B] & B_24H)) {
    pm = v >= 12;
    v = v % 12 ? v % 12 : 12;
  }
  if (!(r->ram[REG_B] & B_DM))
    v = (v / 10) << 4 | v % 10;
  return v | (pm ? 0x80 : 0);
}

static int decode(struct rtc *r, int reg, uint8 v)
{
  int pm = reg == 4 && !(r->ram[REG_B] & B_24H) && (v & 0x80);
  if (reg == 4 && !(r->ram[REG_B] & B_24H))
    v &= 0x7F;
  int x = r->ram[REG_B] & B_DM ? v : (v >> 4) * 10 + (v & 15);
  if (reg == 4 && !(r->ram[REG_B] & B_24H))
    x = x % 12 + (pm ? 12 : 0);
  return x;
}

// The time the registers show: frozen in `shadow` while SET is 1.
static void current(struct rtc *r, uint64 now, struct clock *c)
{
  clock_from_secs(c, now_secs(r, now));
  if (r->ram[REG_B] & B_SET)
    for (int i = 0; i < 11; i++)
      if (i == 0 || i == 2 || i >= 4)
        c->f[i] = r->shadow[i];
}

// The clock field a register index holds (0x32: century), or -1.
static int field_of(int reg)
{
  if (reg == CENTURY)
    return 10;
  return reg <= 9 && reg != 1 && reg != 3 && reg != 5 ? reg : -1;
}

// Periodic interrupt period from register A's RS3-0 (datasheet Table 5
// "Periodic Interrupt Rate"): 32.768 kHz >> (RS-1); RS 1 and 2 repeat the
// rates of 8 and 9; 0 is off.
static uint64 period_ns(struct rtc *r)
{
  int rs = r->ram[REG_A] & 15;
  if (rs == 0)
    return 0;
  if (rs < 3)
    rs += 7;
  return NSEC * (1ULL << (rs - 1)) / 32768;
}

// IRQF and the IRQ8 line: a flag with its enable (PF/PIE, AF/AIE, UF/UIE
// share bit positions in registers C and B).
static void irq_update(struct rtc *r)
{
  uint8 on = r->ram[REG_C] & r->ram[REG_B] & (C_PF | C_AF | C_UF);
  r->ram[REG_C] = (r->ram[REG_C] & 0x70) | (on ? C_IRQF : 0);
  if (r->pic)
    pic_set_irq(r->pic, 8, on != 0);
}

// The alarm fires when seconds, minutes and hours match their alarm
// registers; an alarm byte of 0xC0-0xFF matches anything.
static int alarm_match(struct rtc *r, uint64 now)
{
  struct clock c;
  current(r, now, &c);
  for (int reg = 0; reg <= 4; reg += 2) {
    uint8 a = r->ram[reg + 1];
    if ((a & 0xC0) != 0xC0 && a != encode(r, reg, c.f[reg]))
      return 0;
  }
  return 1;
}

void rtc_advance(struct rtc *r, uint64 now)
{
  uint64 last = r->last_now, p = period_ns(r);
  if (now <= last)
    return;
  r->last_now = now;
  uint8 flags = 0;
  if (p && now / p != last / p)
    flags |= C_PF;
  if (!(r->ram[REG_B] & B_SET) && now / NSEC != last / NSEC)
    flags |= C_UF | (alarm_match(r, now) ? C_AF : 0);
  r->ram[REG_C] |= flags;
  irq_update(r);
}

uint64 rtc_next_event(struct rtc *r, uint64 now)
{
  uint64 p = period_ns(r), at = 0;
  uint8 b = r->ram[REG_B];
  if (r->ram[REG_C] & C_IRQF)
    return 0;   // IRQ8 is already asserted until the guest reads C
  if ((b & B_PIE) && p)
    at = (now / p + 1) * p;
  if ((b & (B_UIE | B_AIE)) && !(b & B_SET)) {
    uint64 s = (now / NSEC + 1) * NSEC;
    at = at && at < s ? at : s;
  }
  return at;
}

// UIP: from 244 us before each update until the 1984 us update cycle ends
// (datasheet "Update Cycle"); never while SET holds the clock.
static int uip(struct rtc *r, uint64 now)
{
  uint64 frac = now % NSEC;
  return !(r->ram[REG_B] & B_SET) && (frac >= NSEC - 244000 || frac < 1984000);
}

// Sets the guest-visible clock to c from now on.
static void set_clock(struct rtc *r, struct clock *c, uint64 now)
{
  if (c->f[8] < 1 || c->f[8] > 12)
    c->f[8] = 1;
  if (c->f[7] < 1 || c->f[7] > 31)
    c->f[7] = 1;
  r->offset_s = secs_from_clock(c) - (int64)(r->base_s + now / NSEC);
}

static void reg_b_write(struct rtc *r, uint8 v, uint64 now)
{
  uint8 old = r->ram[REG_B];
  if ((v & B_SET) && !(old & B_SET)) {
    struct clock c;
    current(r, now, &c);
    for (int i = 0; i < 11; i++)
      r->shadow[i] = c.f[i];
  }
  if (v & B_SET)
    v &= ~B_UIE;   // SET clears UIE
  if (!(v & B_SET) && (old & B_SET)) {
    struct clock c;
    for (int i = 0; i < 11; i++)
      c.f[i] = r->shadow[i];
    set_clock(r, &c, now);
  }
  r->ram[REG_B] = v;
  irq_update(r);
}

static void rtc_write(struct rtc *r, int reg, uint8 v, uint64 now)
{
  int f = field_of(reg);
  if (reg == REG_A)
    r->ram[REG_A] = v & 0x7F;
  else if (reg == REG_B)
    reg_b_write(r, v, now);
  else if (reg == REG_C || reg == REG_D)
    return;   // read-only
  else if (f >= 0 && (r->ram[REG_B] & B_SET))
    r->shadow[f] = decode(r, reg, v);
  else if (f >= 0) {
    struct clock c;
    current(r, now, &c);
    c.f[f] = decode(r, reg, v);
    set_clock(r, &c, now);
  } else
    r->ram[reg] = v;
}

static uint8 rtc_read(struct rtc *r, int reg, uint64 now)
{
  int f = field_of(reg);
  if (f >= 0) {
    struct clock c;
    current(r, now, &c);
    return encode(r, reg, c.f[f]);
  }
  if (reg == REG_A)
    return r->ram[REG_A] | (uip(r, now) ? 0x80 : 0);
  if (reg == REG_C) {
    uint8 v = r->ram[REG_C];
    r->ram[REG_C] = 0;   // reading C clears every flag and IRQ8
    irq_update(r);
    return v;
  }
  return reg == REG_D ? 0x80 : r->ram[reg];   // D: VRT, the battery is fine
}

void rtc_io(struct rtc *r, uint16 port, int in, uint8 *val, uint64 now)
{
  rtc_advance(r, now);
  if (port == 0x70) {
    if (in)
      *val = 0xFF;   // the index register is write-only
    else
      r->index = *val & 0x7F, r->nmi_off = *val >> 7;
    return;
  }
  if (in)
    *val = rtc_read(r, r->index, now);
  else
    rtc_write(r, r->index, *val, now);
}

void rtc_init(struct rtc *r, struct pic *p, uint64 base_s)
{
  memset(r, 0, sizeof *r);
  r->pic = p;
  r->base_s = base_s;
  r->ram[REG_A] = 0x26;   // 32.768 kHz time base, 1024 Hz periodic rate
  r->ram[REG_B] = B_24H;  // BCD, 24-hour, no interrupts
}
