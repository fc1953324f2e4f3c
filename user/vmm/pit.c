// The 8254 programmable interval timer (Intel 8254 datasheet, "8254
// Programmable Interval Timer", 1993): three 16-bit down counters clocked at
// 1.193182 MHz, ports 0x40-0x42 (counters) and 0x43 (control word), plus the
// PC's port 0x61 (system control port B: counter 2's GATE in bit 0, speaker
// data in bit 1, refresh toggle in bit 4, counter 2's OUT in bit 5).
// Nothing ticks: a counter's state is computed from the time it started
// counting, in guest ns (= host clock_ns), so reads are exact at any moment.
// Counter 0's OUT drives IRQ0; its rising edges are counted into `pending`
// and the event loop hands them to the PIC one at a time (reinjection, as
// KVM's i8254.c does), so a guest that keeps IF=0 for a while loses none.
#include "user.h"
#include "chips.h"

// Whole PIT clocks in d ns (no overflow for any 64-bit d).
static uint64 ns_to_ticks(uint64 d)
{
  return d / NSEC * PIT_HZ + d % NSEC * PIT_HZ / NSEC;
}

// The first ns at which t clocks have passed.
static uint64 ticks_to_ns(uint64 t)
{
  return t / PIT_HZ * NSEC + (t % PIT_HZ * NSEC + PIT_HZ - 1) / PIT_HZ;
}

// Clocks counted since the counter was loaded or triggered. GATE low stops
// counting in modes 0, 2, 3 and 4 ("Gate Pin Operations Summary"); 2 and 3
// reload on its rising edge.
static uint64 elapsed(struct pitch *c, uint64 now)
{
  int gated = c->mode != 1 && c->mode != 5 && !c->gate;
  if (gated || now < c->t0)
    return c->paused_ticks;
  return c->paused_ticks + ns_to_ticks(now - c->t0);
}

// Rising edges of OUT in the first e clocks after loading (datasheet
// "Mode Definitions"): modes 0/1 rise once at terminal count; 2 and 3 once
// per period; 4/5 after the one-clock strobe at terminal count.
static uint64 edges(struct pitch *c, uint64 e)
{
  switch (c->mode) {
  case 0: case 1: return e >= c->count;
  case 2: case 3: return e / c->count;
  default: return e >= (uint64)c->count + 1;
  }
}

int pit_out(struct pit *t, int ch, uint64 now)
{
  struct pitch *c = &t->ch[ch];
  if (!c->armed)
    return c->mode != 0;   // mode 0 sets OUT low with the control word; others high
  if ((c->mode == 2 || c->mode == 3) && !c->gate)
    return 1;
  uint64 e = elapsed(c, now), p = e % c->count;
  switch (c->mode) {
  case 0: case 1: return e >= c->count;
  case 2: return p != c->count - 1;                // low for the clock at count 1
  case 3: return p < (c->count + 1) / 2;           // high for ceil(N/2), low for floor(N/2)
  default: return e != c->count;                   // 4, 5: one low clock at terminal count
  }
}

// The counting element now (before BCD encoding).
static uint32 count_now(struct pitch *c, uint64 now)
{
  uint32 mod = c->bcd ? 10000 : 65536;
  if (!c->armed)
    return c->count % mod;
  uint64 e = elapsed(c, now), p = e % c->count;
  if (c->mode == 2)
    return c->count - p;
  if (c->mode == 3) {   // counts down by two, through each half period
    uint64 half = (c->count + 1) / 2;
    return (c->count & ~1u) - 2 * (p < half ? p : p - half);
  }
  return (uint32)((c->count + mod - e % mod) % mod);   // 0, 1, 4, 5 wrap past 0
}

static uint32 to_bcd(uint32 v)
{
  return (v % 10) | (v / 10 % 10) << 4 | (v / 100 % 10) << 8 | (v / 1000 % 10) << 12;
}

static uint32 from_bcd(uint32 v)
{
  return (v & 15) + (v >> 4 & 15) * 10 + (v >> 8 & 15) * 100 + (v >> 12 & 15) * 1000;
}

uint32 pit_read_count(struct pit *t, int ch, uint64 now)
{
  struct pitch *c = &t->ch[ch];
  uint32 v = count_now(c, now) & 0xFFFF;
  return c->bcd ? to_bcd(v % 10000) : v;
}

// Starts counting from now with the loaded count.
static void arm(struct pitch *c, uint64 now)
{
  c->armed = 1;
  c->t0 = now;
  c->paused_ticks = 0;
  c->edges_seen = 0;
  c->null_count = 0;
}

// A whole initial count was written (datasheet "Write Operations"). 0 is
// the largest count; modes 2 and 3 need at least 2. Modes 1 and 5 wait for
// a GATE trigger; a new count in mode 2/3 restarts the period at once (the
// chip would finish the current one first).
static void load_count(struct pitch *c, uint32 v, uint64 now)
{
  if (c->bcd)
    v = from_bcd(v);
  if (v == 0)
    v = c->bcd ? 10000 : 65536;
  if (v < 2 && (c->mode == 2 || c->mode == 3))
    v = 2;
  c->count = v;
  c->null_count = 1;
  if (c->mode == 1 || c->mode == 5)
    c->armed = 0;
  else
    arm(c, now);
}

// The status byte of the read-back command: OUT, NULL COUNT, RW, mode, BCD.
static uint8 status_byte(struct pit *t, int ch, uint64 now)
{
  struct pitch *c = &t->ch[ch];
  return pit_out(t, ch, now) << 7 | c->null_count << 6 | c->rw << 4 | c->mode << 1 | c->bcd;
}

static void latch_count(struct pit *t, int ch, uint64 now)
{
  struct pitch *c = &t->ch[ch];
  if (c->latched)
    return;   // a second latch before the first is read is ignored
  c->latch = pit_read_count(t, ch, now);
  c->latched = c->rw == 3 ? 2 : 1;
  c->rstate = 0;
}

// Read-back (SC=11): bit 5 clear latches counts, bit 4 clear latches status,
// bits 3-1 select counters 2-0 (datasheet "Read-Back Command").
static void read_back(struct pit *t, uint8 v, uint64 now)
{
  for (int ch = 0; ch < 3; ch++) {
    if (!((v >> (ch + 1)) & 1))
      continue;
    if (!(v & 0x20))
      latch_count(t, ch, now);
    if (!(v & 0x10) && !t->ch[ch].status_latched) {
      t->ch[ch].status = status_byte(t, ch, now);
      t->ch[ch].status_latched = 1;
    }
  }
}

// Port 0x43: SC1 SC0 RW1 RW0 M2 M1 M0 BCD. RW=00 is the counter latch
// command; a new mode stops the counter until its count is written.
static void control_word(struct pit *t, uint8 v, uint64 now)
{
  int ch = v >> 6, rw = (v >> 4) & 3;
  if (ch == 3) {
    read_back(t, v, now);
    return;
  }
  if (rw == 0) {
    latch_count(t, ch, now);
    return;
  }
  struct pitch *c = &t->ch[ch];
  c->rw = rw;
  c->mode = (v >> 1) & 7;
  if (c->mode > 5)
    c->mode -= 4;   // 6 and 7 are modes 2 and 3
  c->bcd = v & 1;
  c->armed = 0;
  c->wstate = c->rstate = c->latched = c->status_latched = 0;
  c->null_count = 1;
  if (ch == 0)
    t->pending = 0;
}

static void counter_write(struct pit *t, int ch, uint8 v, uint64 now)
{
  struct pitch *c = &t->ch[ch];
  if (c->rw == 1)
    load_count(c, v, now);
  else if (c->rw == 2)
    load_count(c, (uint32)v << 8, now);
  else if (c->wstate == 0) {
    c->wlatch = v;
    c->wstate = 1;
    if (c->mode == 0)
      c->armed = 0;   // mode 0: writing the first byte stops the count
  } else {
    c->wstate = 0;
    load_count(c, c->wlatch | (uint32)v << 8, now);
  }
}

// Reads: a latched status first, then a latched count, else the live count
// (LSB/MSB per RW; RW=3 alternates, a latched count unlatches when read).
static uint8 counter_read(struct pit *t, int ch, uint64 now)
{
  struct pitch *c = &t->ch[ch];
  if (c->status_latched) {
    c->status_latched = 0;
    return c->status;
  }
  uint16 v = c->latched ? c->latch : pit_read_count(t, ch, now);
  int msb = c->rw == 2 || (c->rw == 3 && c->rstate);
  if (c->rw == 3)
    c->rstate ^= 1;
  if (c->latched)
    c->latched--;
  return msb ? v >> 8 : v & 0xFF;
}

// Counter 2's GATE from port 0x61 bit 0. A rising edge triggers modes 1
// and 5 and reloads 2 and 3; modes 0 and 4 pause and resume.
static void set_gate2(struct pit *t, int gate, uint64 now)
{
  struct pitch *c = &t->ch[2];
  if (gate == c->gate)
    return;
  if (!gate && (c->mode == 0 || c->mode == 4))
    c->paused_ticks = elapsed(c, now);
  c->gate = gate;
  if (!gate)
    return;
  if (c->mode == 0 || c->mode == 4)
    c->t0 = now;
  else if (c->count)
    arm(c, now);
}

void pit_io(struct pit *t, uint16 port, int in, uint8 *val, uint64 now)
{
  if (port == 0x61) {
    if (in)
      *val = t->ch[2].gate | t->speaker << 1 | ((now / 15085) & 1) << 4 | pit_out(t, 2, now) << 5;
    else {
      t->speaker = (*val >> 1) & 1;
      set_gate2(t, *val & 1, now);
    }
  } else if (port == 0x43) {
    if (!in)
      control_word(t, *val, now);
    else
      *val = 0xFF;   // the control register cannot be read
  } else if (in) {
    *val = counter_read(t, port - 0x40, now);
  } else {
    counter_write(t, port - 0x40, *val, now);
  }
}

void pit_init(struct pit *t)
{
  memset(t, 0, sizeof *t);
  for (int ch = 0; ch < 3; ch++) {
    t->ch[ch].count = 65536;
    t->ch[ch].gate = ch != 2;   // counters 0 and 1 are gated on; 2 by port 0x61
    t->ch[ch].mode = 3;
    t->ch[ch].rw = 3;
  }
}

uint64 pit_advance(struct pit *t, uint64 now)
{
  struct pitch *c = &t->ch[0];
  if (!c->armed)
    return 0;
  uint64 total = edges(c, elapsed(c, now));
  uint64 n = total - c->edges_seen;
  c->edges_seen = total;
  t->pending += n;
  return n;
}

// When counter 0's OUT next rises, in ns; 0 if it never will.
uint64 pit_next_edge(struct pit *t, uint64 now)
{
  struct pitch *c = &t->ch[0];
  if (!c->armed)
    return 0;
  uint64 e;
  if (c->mode == 2 || c->mode == 3)
    e = (c->edges_seen + 1) * c->count;
  else if (c->edges_seen == 0)
    e = c->count + (c->mode >= 4);
  else
    return 0;
  uint64 at = c->t0 + ticks_to_ns(e - c->paused_ticks);
  return at > now ? at : now;
}
