// devtest [group...]: the VMM's chips (user/vmm/pic.c, pit.c, uart.c, rtc.c,
// ports.c) driven port by port on a fake clock, without a guest: 8259A
// init/EOI/cascade/poll/rotation, 8254 modes/latch/read-back/port 0x61,
// 16550A IIR priorities/FIFO/loopback, MC146818 formats/flags, the board's
// small ports and tick reinjection. Groups: pic pit uart rtc board (default
// all). Prints "devtest: FAIL: what (devtest.c:line)" for each failed check,
// "devtest: TEST: ok|FAIL" per test, then "devtest: N checks, F failed";
// exit status 0 iff none failed.
#include "user.h"
#include "vmm/chips.h"

static struct board b;
static uint64 now;          // the fake clock, ns
static int nchecks, nfailed, group_failed;
static char txbuf[64];
static int txlen;

#define CHECK(cond, ...) check((cond), __LINE__, __VA_ARGS__)

static void check(int ok, int line, const char *fmt, ...)
{
  nchecks++;
  if (ok)
    return;
  va_list ap;
  va_start(ap, fmt);
  char msg[160];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  printf("devtest: FAIL: %s (devtest.c:%d)\n", msg, line);
  nfailed++;
  group_failed++;
}

static void tx(void *ctx, int c)
{
  if (txlen < (int)sizeof txbuf)
    txbuf[txlen++] = c;
}

static void reset_board(void)
{
  board_init(&b, tx, 0, 1767225600);   // 2026-01-01 00:00:00 UTC
  now = 0;
  txlen = 0;
}

static void outb(uint16 port, uint8 v)
{
  uint32 d = v;
  board_io(&b, port, 1, 0, &d, now);
}

static uint8 inb(uint16 port)
{
  uint32 d = 0;
  board_io(&b, port, 1, 1, &d, now);
  return d;
}

// The PC BIOS/Linux initialisation: vectors 0x20/0x28, cascade on IR2,
// 8086 mode; then the given masks.
static void pic_setup(uint8 icw4, uint8 mmask, uint8 smask)
{
  outb(0x20, 0x11), outb(0x21, 0x20), outb(0x21, 0x04), outb(0x21, icw4);
  outb(0xA0, 0x11), outb(0xA1, 0x28), outb(0xA1, 0x02), outb(0xA1, icw4);
  outb(0x21, mmask), outb(0xA1, smask);
}

static uint8 read_isr(uint16 port)
{
  outb(port, 0x0B);
  uint8 v = inb(port);
  outb(port, 0x0A);
  return v;
}

static void edge(int irq)
{
  pic_set_irq(&b.pic, irq, 1);
  pic_set_irq(&b.pic, irq, 0);
}

// ICW sequence, IRR/ISR/IMR reads, priority, EOI kinds, edge vs level.
static void pic_basic(void)
{
  reset_board();
  pic_setup(0x01, 0x00, 0x00);
  CHECK(inb(0x21) == 0 && inb(0xA1) == 0, "IMR after ICW1-4 and OCW1 0: %x %x", inb(0x21), inb(0xA1));
  CHECK(pic_output(&b.pic) == -1, "INTR low with no request: %d", pic_output(&b.pic));
  edge(3), edge(1);
  CHECK(inb(0x20) == 0x0A, "IRR after IRQ1 and IRQ3 edges: 0x%x", inb(0x20));
  CHECK(pic_output(&b.pic) == 0x21, "IRQ1 wins over IRQ3: vector 0x%x", pic_output(&b.pic));
  CHECK(pic_intack(&b.pic) == 0x21, "INTA gives IRQ1's vector");
  CHECK(read_isr(0x20) == 0x02 && inb(0x20) == 0x08, "INTA moves IRQ1 IRR->ISR: isr 0x%x irr 0x%x",
        read_isr(0x20), inb(0x20));
  CHECK(pic_output(&b.pic) == -1, "IRQ3 waits while IRQ1 is in service: 0x%x", pic_output(&b.pic));
  edge(0);
  CHECK(pic_output(&b.pic) == 0x20, "IRQ0 nests over IRQ1: 0x%x", pic_output(&b.pic));
  pic_intack(&b.pic);
  outb(0x20, 0x20);   // non-specific EOI: the highest in service, IRQ0
  CHECK(read_isr(0x20) == 0x02, "non-specific EOI clears IRQ0 first: isr 0x%x", read_isr(0x20));
  outb(0x20, 0x61);   // specific EOI for IRQ1
  CHECK(read_isr(0x20) == 0, "specific EOI 1 clears IRQ1: isr 0x%x", read_isr(0x20));
  CHECK(pic_output(&b.pic) == 0x23, "IRQ3 after the EOIs: 0x%x", pic_output(&b.pic));
  outb(0x21, 0x08);
  CHECK(pic_output(&b.pic) == -1 && (inb(0x20) & 8), "masked IRQ3 stays in IRR but INTR is low");
  outb(0x21, 0x00);
  pic_intack(&b.pic);
  outb(0x20, 0x20);
  pic_set_irq(&b.pic, 5, 1);
  pic_intack(&b.pic);
  outb(0x20, 0x20);
  pic_set_irq(&b.pic, 5, 1);
  CHECK(pic_output(&b.pic) == -1, "an edge line held high requests once: 0x%x", pic_output(&b.pic));
  pic_set_irq(&b.pic, 5, 0);
  pic_set_irq(&b.pic, 5, 1);
  CHECK(pic_output(&b.pic) == 0x25, "a new rising edge requests again: 0x%x", pic_output(&b.pic));
}

// ELCR (0x4D0/0x4D1): level requests follow the line; reserved bits read 0.
static void pic_level(void)
{
  reset_board();
  pic_setup(0x01, 0x00, 0x00);
  outb(0x4D0, 0xFF), outb(0x4D1, 0xFF);
  CHECK(inb(0x4D0) == 0xF8 && inb(0x4D1) == 0xDE, "ELCR keeps IRQ0-2, 8, 13 edge: %x %x", inb(0x4D0),
        inb(0x4D1));
  pic_set_irq(&b.pic, 3, 1);
  CHECK(pic_output(&b.pic) == 0x23, "level IRQ3 requests: 0x%x", pic_output(&b.pic));
  pic_set_irq(&b.pic, 3, 0);
  CHECK(pic_output(&b.pic) == -1 && !(inb(0x20) & 8), "level IRQ3 gone when the line drops");
  pic_set_irq(&b.pic, 3, 1);
  pic_intack(&b.pic);
  outb(0x20, 0x20);
  CHECK(pic_output(&b.pic) == 0x23, "level IRQ3 still high after EOI requests again: 0x%x",
        pic_output(&b.pic));
}

// Cascade: slave IRQs through master IR2; spurious IRQ7 and IRQ15.
static void pic_cascade(void)
{
  reset_board();
  pic_setup(0x01, 0x00, 0x00);
  edge(10);
  CHECK(pic_output(&b.pic) == 0x2A, "IRQ10 through the slave: 0x%x", pic_output(&b.pic));
  CHECK(pic_intack(&b.pic) == 0x2A, "INTA gives the slave's vector");
  CHECK(read_isr(0x20) == 0x04 && read_isr(0xA0) == 0x04, "ISR: master IR2 0x%x, slave IR2 0x%x",
        read_isr(0x20), read_isr(0xA0));
  edge(9);
  CHECK(pic_output(&b.pic) == -1, "IRQ9 blocked by master IR2 in service (fully nested): 0x%x",
        pic_output(&b.pic));
  outb(0xA0, 0x20), outb(0x20, 0x20);
  CHECK(pic_output(&b.pic) == 0x29, "IRQ9 after both EOIs: 0x%x", pic_output(&b.pic));
  pic_intack(&b.pic);
  outb(0xA0, 0x20), outb(0x20, 0x20);
  CHECK(pic_intack(&b.pic) == 0x27, "INTA with no request: spurious IRQ7 (0x27)");
  CHECK(read_isr(0x20) == 0, "spurious IRQ7 sets no ISR bit: 0x%x", read_isr(0x20));
  outb(0x4D1, 0x02);   // IRQ9 level
  pic_set_irq(&b.pic, 9, 1);
  CHECK(pic_output(&b.pic) == 0x29, "level IRQ9: 0x%x", pic_output(&b.pic));
  pic_set_irq(&b.pic, 9, 0);
  CHECK(pic_intack(&b.pic) == 0x2F, "slave request gone before INTA: spurious IRQ15 (0x2F)");
  CHECK(read_isr(0xA0) == 0 && read_isr(0x20) == 0x04, "IRQ15: slave ISR 0x%x, master ISR 0x%x",
        read_isr(0xA0), read_isr(0x20));
  outb(0x20, 0x20);
  outb(0x21, 0x04);
  edge(12);
  CHECK(pic_output(&b.pic) == -1, "IRQ12 with master IR2 masked: 0x%x", pic_output(&b.pic));
}

// Auto-EOI, poll, rotation, set priority, special mask mode.
static void pic_modes(void)
{
  reset_board();
  pic_setup(0x03, 0x00, 0x00);   // ICW4: 8086 mode, auto-EOI
  edge(4);
  CHECK(pic_intack(&b.pic) == 0x24 && read_isr(0x20) == 0, "auto-EOI leaves no ISR bit: 0x%x",
        read_isr(0x20));
  pic_setup(0x01, 0x00, 0x00);
  outb(0x20, 0x0C);
  CHECK(inb(0x20) == 0x00, "poll with no request reads 0");
  edge(6), edge(5);
  outb(0x20, 0x0C);
  CHECK(inb(0x20) == 0x85, "poll reads 0x80|5");
  CHECK(read_isr(0x20) == 0x20 && inb(0x20) == 0x40, "the poll read was the INTA: isr 0x%x irr 0x%x",
        read_isr(0x20), inb(0x20));
  outb(0x20, 0xA0);   // rotate on non-specific EOI: IRQ5 becomes lowest
  edge(1);
  CHECK(pic_output(&b.pic) == 0x26, "after rotation IRQ6 outranks IRQ1: 0x%x", pic_output(&b.pic));
  outb(0x20, 0xC7);   // set priority: IRQ7 lowest again
  CHECK(pic_output(&b.pic) == 0x21, "set priority restores IRQ1 first: 0x%x", pic_output(&b.pic));
  pic_intack(&b.pic);                  // IRQ1 in service
  outb(0x21, 0x02);                    // mask it
  CHECK(pic_output(&b.pic) == -1, "IRQ6 blocked by IRQ1 in service: 0x%x", pic_output(&b.pic));
  outb(0x20, 0x68);                    // OCW3: set special mask mode
  CHECK(pic_output(&b.pic) == 0x26, "special mask mode lets IRQ6 in: 0x%x", pic_output(&b.pic));
  outb(0x20, 0x48);                    // reset special mask mode
  CHECK(pic_output(&b.pic) == -1, "special mask mode off blocks it again: 0x%x", pic_output(&b.pic));
}

static void pit_program(int ch, uint8 cw, uint32 count)
{
  outb(0x43, ch << 6 | cw);
  outb(0x40 + ch, count & 0xFF);
  if ((cw & 0x30) == 0x30)
    outb(0x40 + ch, count >> 8);
}

static uint32 pit_latched(int ch)
{
  outb(0x43, ch << 6);   // counter latch command
  uint32 lo = inb(0x40 + ch);
  return lo | inb(0x40 + ch) << 8;
}

// Mode 2 at 1 kHz on counter 0: edge count, edge time, latch, read-back.
static void pit_rate(void)
{
  reset_board();
  now = 5000;
  pit_program(0, 0x34, 1193);   // counter 0, lobyte/hibyte, mode 2
  uint64 first = pit_next_edge(&b.pit, now);
  CHECK(first == 5000 + (1193 * NSEC + PIT_HZ - 1) / PIT_HZ, "first edge at %lu ns", first);
  now += NSEC;
  uint64 n = pit_advance(&b.pit, now);
  CHECK(n == 1000, "edges in 1 s at count 1193: %lu (1193182/1193 = 1000.15)", n);
  n = pit_advance(&b.pit, now);
  CHECK(n == 0, "no edge counted twice: %lu", n);
  now += 500000;   // +0.5 ms = 596.6 clocks into the period
  uint32 c = pit_latched(0);
  uint64 into = (now - 5000) / 1000 * PIT_HZ / 1000000 % 1193;   // clocks into this period
  CHECK(c + 1 >= 1193 - into && c <= 1193 - into + 1, "count %lu clocks into a period: %u", into, c);
  outb(0x43, 0x00);
  now += 200000;
  uint32 lo = inb(0x40);
  now += 200000;
  uint32 v = lo | inb(0x40) << 8;
  CHECK(v == c, "a latched count does not move: %u then %u", c, v);
  outb(0x43, 0xE2);   // read-back: status of counter 0 only
  uint8 st = inb(0x40);
  CHECK((st & 0x7F) == 0x34, "status byte of mode 2, lobyte/hibyte: 0x%x", st);
  CHECK((st & 0x40) == 0, "NULL COUNT clear once counting: 0x%x", st);
  uint32 want = pit_read_count(&b.pit, 0, now);
  outb(0x43, 0xD2);   // read-back: count of counter 0 only
  now += 300000;
  v = inb(0x40) | inb(0x40) << 8;
  CHECK(v == want && v != pit_read_count(&b.pit, 0, now), "read-back latched the count: %u, want %u",
        v, want);
  outb(0x43, 0xC2);   // status and count: status comes first
  st = inb(0x40);
  CHECK((st & 0x3F) == 0x34, "read-back with both: status first (0x%x)", st);
}

// Other rates (Linux's HZ=250 and 100, the BIOS's 18.2 Hz with count 0)
// over 10 s, and mode 4, Linux's one-shot clock event (0x38): a single edge
// N+1 clocks after the count is written.
static void pit_rates(void)
{
  static const uint32 counts[] = {4773, 11932, 0};
  for (int i = 0; i < 3; i++) {
    reset_board();
    pit_program(0, 0x34, counts[i]);
    now += 10 * NSEC;
    uint64 n = pit_advance(&b.pit, now), c = counts[i] ? counts[i] : 65536;
    CHECK(n == 10 * PIT_HZ / c, "count %lu: %lu edges in 10 s, want %lu", c, n, 10 * PIT_HZ / c);
  }
  reset_board();
  pit_program(0, 0x38, 1000);
  uint64 at = pit_next_edge(&b.pit, now);
  CHECK(at == (1001 * NSEC + PIT_HZ - 1) / PIT_HZ, "mode 4: the edge after 1001 clocks, at %lu ns", at);
  now = at - 1;
  CHECK(pit_advance(&b.pit, now) == 0, "mode 4: no edge 1 ns early");
  now = at;
  CHECK(pit_advance(&b.pit, now) == 1, "mode 4: the edge on time");
  now += NSEC;
  CHECK(pit_advance(&b.pit, now) == 0 && pit_next_edge(&b.pit, now) == 0, "mode 4 fires once");
}

// Access modes, BCD, mode 3's OUT, mode 0 one-shot.
static void pit_modes(void)
{
  reset_board();
  pit_program(1, 0x16, 0x40);   // counter 1, LSB only, mode 3
  CHECK(pit_read_count(&b.pit, 1, now) == 0x40, "LSB-only count: %u", pit_read_count(&b.pit, 1, now));
  CHECK(pit_out(&b.pit, 1, now + 10 * NSEC / PIT_HZ) == 1, "mode 3 OUT high in the first half");
  CHECK(pit_out(&b.pit, 1, now + 40 * NSEC / PIT_HZ) == 0, "mode 3 OUT low in the second half");
  CHECK(inb(0x41) == 0x40, "LSB-only read at t=0");
  outb(0x43, 0x61);   // counter 1, MSB only, mode 0, BCD
  outb(0x41, 0x10);   // 1000 in BCD
  now += 100 * NSEC / PIT_HZ + 1;
  uint8 msb = inb(0x41);
  CHECK(msb == 0x09, "BCD count 1000 after 100 clocks reads 0x09xx: 0x%x", msb);
  pit_program(0, 0x30, 100);    // mode 0 on counter 0
  CHECK(pit_out(&b.pit, 0, now) == 0, "mode 0 OUT low after the count is written");
  now += 101 * NSEC / PIT_HZ;
  CHECK(pit_advance(&b.pit, now) == 1 && pit_out(&b.pit, 0, now) == 1, "mode 0: one edge at terminal count");
  now += NSEC;
  CHECK(pit_advance(&b.pit, now) == 0 && pit_next_edge(&b.pit, now) == 0, "mode 0 fires once");
  CHECK(pit_read_count(&b.pit, 0, now) != 100, "mode 0 keeps counting (wraps) after terminal count");
}

// Port 0x61 and counter 2 as Linux's pit_calibrate_tsc and
// quick_pit_calibrate use them.
static void pit_port61(void)
{
  reset_board();
  CHECK((inb(0x61) & 1) == 0, "counter 2 gate starts low: 0x%x", inb(0x61));
  outb(0x61, (inb(0x61) & ~0x02) | 0x01);
  outb(0x43, 0xB0);             // counter 2, lobyte/hibyte, mode 0
  outb(0x42, 11932 & 0xFF), outb(0x42, 11932 >> 8);   // 10 ms
  CHECK((inb(0x61) & 0x20) == 0, "OUT2 low right after the count");
  now += 9900000;
  CHECK((inb(0x61) & 0x21) == 0x01, "OUT2 still low at 9.9 ms: 0x%x", inb(0x61));
  now += 200000;
  CHECK((inb(0x61) & 0x20) == 0x20, "OUT2 high at 10.1 ms: 0x%x", inb(0x61));
  outb(0x43, 0xB0);
  outb(0x42, 0xFF), outb(0x42, 0xFF);
  uint8 last = 0xFF;
  int steps = 0, bad = 0;
  for (int i = 0; i < 40; i++) {
    now += 214000;   // ~255 clocks: the MSB moves by about one each time
    inb(0x42);
    uint8 m = inb(0x42);
    steps += m != last;
    bad += m > last;
    last = m;
  }
  CHECK(steps >= 38 && !bad, "MSB of a free-running count falls steadily: %d steps, %d rises", steps, bad);
  outb(0x61, 0x00);             // gate low pauses mode 0
  uint32 c0 = pit_read_count(&b.pit, 2, now);
  now += 5000000;
  CHECK(pit_read_count(&b.pit, 2, now) == c0, "gate low holds the count in mode 0");
  outb(0x61, 0x02);
  CHECK((inb(0x61) & 0x03) == 0x02, "speaker data bit reads back: 0x%x", inb(0x61));
  uint8 r1 = inb(0x61) & 0x10;
  now += 15085;
  CHECK((inb(0x61) & 0x10) != r1, "refresh bit toggles every 15 us");
}

#define COM1 0x3F8

// IIR priorities, THRE re-arming, FIFO trigger and timeout, OUT2 gating.
static void uart_intr(void)
{
  reset_board();
  pic_setup(0x01, 0x00, 0x00);
  CHECK(inb(COM1 + 2) == 0x01 && inb(COM1 + 5) == 0x60, "reset: IIR 0x%x LSR 0x%x", inb(COM1 + 2),
        inb(COM1 + 5));
  outb(COM1, 'h'), outb(COM1, 'i');
  CHECK(txlen == 2 && txbuf[0] == 'h' && txbuf[1] == 'i', "THR bytes go out: %d bytes", txlen);
  outb(COM1 + 1, 0x02);   // ETBEI
  CHECK(inb(COM1 + 2) == 0x02, "THRE interrupt as soon as ETBEI is set");
  CHECK(inb(COM1 + 2) == 0x01, "reading IIR cleared THRE");
  outb(COM1 + 1, 0x00), outb(COM1 + 1, 0x02);
  CHECK(inb(COM1 + 2) == 0x02, "THRE again when ETBEI is set again (Linux's UART_BUG_THRE test)");
  outb(COM1, 'x');
  CHECK(inb(COM1 + 2) == 0x02, "THRE re-armed after a THR write");
  outb(COM1, 'y');
  CHECK(!pic_irr_set(&b.pic, 4), "no IRQ4 with MCR OUT2 clear");
  outb(COM1 + 4, 0x0B);   // DTR RTS OUT2
  CHECK(pic_output(&b.pic) == 0x24, "IRQ4 once OUT2 is set: 0x%x", pic_output(&b.pic));
  outb(COM1 + 2, 0xC7);   // FIFO on, clear, trigger 14
  CHECK((inb(COM1 + 2) & 0xC0) == 0xC0, "IIR bits 7-6 with FIFOs on");
  outb(COM1 + 1, 0x05);   // RX data + line status
  uart_receive(&b.uart, (const uint8 *)"abc", 3, now);
  CHECK((inb(COM1 + 2) & 0x0F) == 0x01, "3 bytes below trigger 14: no interrupt yet");
  CHECK(uart_next_event(&b.uart, now) > now, "character timeout scheduled");
  now = uart_next_event(&b.uart, now);
  CHECK((inb(COM1 + 2) & 0x0F) == 0x0C, "character timeout after 4 characters' time");
  CHECK(inb(COM1) == 'a' && (inb(COM1 + 5) & 1), "RBR reads 'a', more data waits");
  outb(COM1 + 2, 0x01);   // trigger 1, FIFO kept
  CHECK((inb(COM1 + 2) & 0x0F) == 0x04, "received data interrupt at trigger 1");
  uint8 more[16] = "0123456789abcdef";
  uart_receive(&b.uart, more, 16, now);
  CHECK((inb(COM1 + 2) & 0x0F) == 0x06, "overrun: line status outranks data");
  uint8 lsr1 = inb(COM1 + 5), lsr2 = inb(COM1 + 5);
  CHECK((lsr1 & 0x03) == 0x03 && (lsr2 & 0x03) == 0x01, "LSR OE once, cleared by reading: %x %x", lsr1, lsr2);
  int n = 0;
  while ((inb(COM1 + 5) & 1) && n < 40)
    inb(COM1), n++;
  CHECK(n == 16, "FIFO held 16 bytes: %d", n);
  CHECK((inb(COM1 + 2) & 0x0F) == 0x01, "no interrupt after draining (THRE read earlier)");
}

// Loopback (Linux's autoconfig probe), DLAB, scratch, modem status deltas.
static void uart_regs(void)
{
  reset_board();
  outb(COM1 + 4, 0x1A);   // LOOP OUT2 RTS
  CHECK((inb(COM1 + 6) & 0xF0) == 0x90, "loopback MSR: DCD|CTS (0x%x)", inb(COM1 + 6));
  outb(COM1, 'L');
  CHECK(txlen == 0 && inb(COM1) == 'L', "loopback: THR comes back in RBR, nothing sent");
  outb(COM1 + 4, 0x1B);   // + DTR
  CHECK((inb(COM1 + 6) & 0x22) == 0x22, "DTR->DSR with the DDSR delta");
  CHECK((inb(COM1 + 6) & 0x0F) == 0, "MSR read cleared the deltas");
  outb(COM1 + 4, 0x00);
  CHECK(inb(COM1 + 6) == 0xB0 || (inb(COM1 + 6) & 0xF0) == 0xB0, "no loopback: a terminal is attached");
  outb(COM1 + 3, 0x83);
  outb(COM1, 0x01), outb(COM1 + 1, 0x00);
  CHECK(inb(COM1) == 0x01 && inb(COM1 + 1) == 0x00, "divisor latch reads back");
  outb(COM1 + 3, 0x03);
  outb(COM1 + 1, 0x00);
  CHECK(inb(COM1 + 1) == 0x00 && inb(COM1 + 3) == 0x03, "DLAB off: IER and LCR");
  outb(COM1 + 7, 0x5A);
  CHECK(inb(COM1 + 7) == 0x5A, "scratch register");
  outb(COM1 + 1, 0x0F);
  CHECK(inb(COM1 + 1) == 0x0F, "IER keeps its 4 bits: 0x%x", inb(COM1 + 1));
}

static uint8 cmos(uint8 reg)
{
  outb(0x70, reg);
  return inb(0x71);
}

static void cmos_set(uint8 reg, uint8 v)
{
  outb(0x70, reg);
  outb(0x71, v);
}

// Time and date in BCD, binary and 12-hour form; UIP; setting the clock.
static void rtc_time(void)
{
  reset_board();
  now = 3723 * NSEC + NSEC / 2;   // 2026-01-01 01:02:03.5, a Thursday
  CHECK(cmos(0) == 0x03 && cmos(2) == 0x02 && cmos(4) == 0x01, "BCD time %x:%x:%x", cmos(4), cmos(2),
        cmos(0));
  CHECK(cmos(7) == 0x01 && cmos(8) == 0x01 && cmos(9) == 0x26 && cmos(0x32) == 0x20,
        "BCD date %x-%x-%x century %x", cmos(9), cmos(8), cmos(7), cmos(0x32));
  CHECK(cmos(6) == 5, "day of week of a Thursday: %d", cmos(6));
  CHECK(cmos(0x0D) == 0x80 && (cmos(0x0A) & 0x80) == 0, "D has VRT; no UIP mid-second");
  now = 3724 * NSEC - 100000;
  CHECK(cmos(0x0A) & 0x80, "UIP 100 us before the update");
  now = 13 * 3600 * NSEC;
  cmos_set(0x0B, 0x06);   // binary, 24 h
  CHECK(cmos(4) == 13 && cmos(0) == 0, "binary hour 13: %d", cmos(4));
  cmos_set(0x0B, 0x00);   // BCD, 12 h
  CHECK(cmos(4) == 0x81, "12-hour 1 PM: 0x%x", cmos(4));
  now = 0;
  CHECK(cmos(4) == 0x12, "12-hour midnight: 0x%x", cmos(4));
  cmos_set(0x0B, 0x82);   // SET, BCD, 24 h
  cmos_set(9, 0x99), cmos_set(8, 0x12), cmos_set(7, 0x31);
  cmos_set(4, 0x23), cmos_set(2, 0x59), cmos_set(0, 0x59);
  now += 3 * NSEC;
  CHECK(cmos(0) == 0x59, "the clock holds while SET: %x", cmos(0));
  cmos_set(0x0B, 0x02);
  now += NSEC;
  CHECK(cmos(0x32) == 0x21 && cmos(9) == 0x00 && cmos(8) == 0x01 && cmos(7) == 0x01 && cmos(4) == 0,
        "one second after 2099-12-31 23:59:59: %x%x-%x-%x %x", cmos(0x32), cmos(9), cmos(8), cmos(7),
        cmos(4));
  cmos_set(0x0B, 0x82);
  cmos_set(0x32, 0x20), cmos_set(9, 0x24), cmos_set(8, 0x02), cmos_set(7, 0x29);
  cmos_set(0x0B, 0x02);
  now += 86400 * NSEC;
  CHECK(cmos(8) == 0x03 && cmos(7) == 0x01, "2024-02-29 + 1 day: %x-%x", cmos(8), cmos(7));
  cmos_set(0x40, 0xA5);
  CHECK(cmos(0x40) == 0xA5, "CMOS RAM byte");
  outb(0x70, 0x8B);
  CHECK(inb(0x71) == 0x02 && b.rtc.nmi_off, "index with the NMI-mask bit still selects B");
}

// Flags in C, IRQF and IRQ8, C read clears.
static void rtc_intr(void)
{
  reset_board();
  pic_setup(0x01, 0x00, 0x00);
  now = NSEC / 2;
  cmos(0x0C);
  cmos_set(0x0B, 0x42);   // PIE, 1024 Hz (A = 0x26)
  CHECK(rtc_next_event(&b.rtc, now) == (now / 976562 + 1) * 976562,
        "periodic deadline at the next 1/1024 s: %lu", rtc_next_event(&b.rtc, now));
  now += 1000000;
  board_advance(&b, now);
  CHECK(pic_output(&b.pic) == 0x28, "IRQ8 from the periodic flag: 0x%x", pic_output(&b.pic));
  CHECK(cmos(0x0C) == 0xC0, "C = IRQF|PF");
  CHECK(cmos(0x0C) == 0x00, "reading C cleared it");
  cmos_set(0x0A, 0x2F);   // 2 Hz
  now += 400000000;
  board_advance(&b, now);
  CHECK((cmos(0x0C) & 0x40) == 0, "no PF within 0.4 s at 2 Hz");
  now += 200000000;
  uint8 c = cmos(0x0C);
  CHECK((c & 0xC0) == 0xC0, "PF at 2 Hz: C=0x%x", c);
  cmos_set(0x0B, 0x12);   // UIE only
  now = 5 * NSEC + 10;
  c = cmos(0x0C);
  CHECK((c & 0xB0) == 0x90, "update-ended flag and IRQF after a second: C=0x%x", c);
  cmos_set(0x0A, 0x20);   // periodic off
  cmos_set(1, 0x07), cmos_set(3, 0xC0), cmos_set(5, 0xC0);   // alarm at second 7 of any minute
  cmos_set(0x0B, 0x22);   // AIE
  cmos(0x0C);
  now = 6 * NSEC + 10;
  c = cmos(0x0C);
  CHECK((c & 0x30) == 0x10, "UF but no alarm at second 6: C=0x%x", c);
  now = 7 * NSEC + 10;
  c = cmos(0x0C);
  CHECK(c == 0xB0, "alarm (with UF) at second 7: C=0x%x", c);
}

// Small ports, wide accesses, resets, the exit port.
static void board_ports(void)
{
  reset_board();
  uint32 d = 0;
  board_io(&b, 0x1234, 4, 1, &d, now);
  CHECK(d == 0xFFFFFFFF, "unhandled port reads all ones: 0x%x", d);
  board_io(&b, 0x80, 2, 1, &d, now);
  CHECK(d == 0xFFFF, "port 0x80 reads all ones: 0x%x", d);
  outb(0x80, 1), outb(0xED, 1), outb(0x64, 0xAA), outb(0xCF9, 0x02);
  CHECK(b.end == BOARD_RUN, "delay ports, other i8042 commands, CF9 without RST: still running");
  outb(0x64, 0xFE);
  CHECK(b.end == BOARD_RESET, "0xFE to port 0x64 resets");
  reset_board();
  outb(0xCF9, 0x06);
  CHECK(b.end == BOARD_RESET, "0x06 to port 0xCF9 resets");
  reset_board();
  CHECK(inb(0x92) == 2, "port 0x92: A20 on (bit 1) from reset: 0x%x", inb(0x92));
  outb(0x92, 0);
  CHECK(inb(0x92) == 0 && b.end == BOARD_RUN, "port 0x92: bit 1 reads back 0, no reset");
  outb(0x92, 2);
  CHECK(inb(0x92) == 2 && b.end == BOARD_RUN, "port 0x92: bit 1 reads back 1");
  outb(0x92, 3);
  CHECK(b.end == BOARD_RESET, "port 0x92: bit 0 set is a fast reset");
  reset_board();
  d = 0x1234507;
  board_io(&b, 0xF4, 4, 0, &d, now);
  CHECK(b.end == BOARD_EXIT && b.exit_code == 7, "exit port: code %d", b.exit_code);
}

// PIT ticks that pile up while the guest takes none are reinjected one per
// INTA; masking IRQ0 drops them and stops the deadlines.
static void board_ticks(void)
{
  reset_board();
  pic_setup(0x01, 0x00, 0x00);
  pit_program(0, 0x34, 1193);
  CHECK(board_deadline(&b, now) == pit_next_edge(&b.pit, now), "deadline is the PIT's next edge");
  now += 5 * NSEC / 1000 + 1000;   // 5 ticks while the guest takes none (IF=0)
  board_advance(&b, now);
  int taken = 0;
  while (pic_output(&b.pic) == 0x20 && taken < 10) {
    pic_intack(&b.pic);
    outb(0x20, 0x20);
    board_advance(&b, now);
    taken++;
  }
  CHECK(taken == 5, "5 ticks taken late, none lost, none extra: %d", taken);
  now += 3 * NSEC / 1000 + 1000;
  board_advance(&b, now);
  outb(0x21, 0x01);
  outb(0x21, 0x00);
  pic_intack(&b.pic), outb(0x20, 0x20), board_advance(&b, now);
  CHECK(pic_output(&b.pic) == -1, "masking IRQ0 dropped the backlog: 0x%x", pic_output(&b.pic));
  outb(0x21, 0x01);
  now += 2 * NSEC / 1000;
  board_advance(&b, now);
  CHECK(pic_irr_set(&b.pic, 0) && board_deadline(&b, now) == 0,
        "IRQ0 masked with its request latched: no deadline (%lu)", board_deadline(&b, now));
  outb(0x21, 0x00);
  CHECK(board_deadline(&b, now) == pit_next_edge(&b.pit, now), "unmasked: the PIT's deadline again");
}

// A stand-in for the I/O APIC on the PIC's request lines (apic.c): counts
// IRQ0's rising edges; pin 2 is open or masked as the test says.
static int edges0, pin2_open;
static void count_edges(void *ctx, int irq, int level) { edges0 += irq == 0 && level; (void)ctx; }
static int line_open(void *ctx, int irq) { return irq == 0 && pin2_open; (void)ctx; }

// A kernel in APIC mode masks IRQ0 at the 8259 and takes the PIT on I/O APIC
// pin 2: every tick must still make an edge there, and the PIT keep its
// deadlines; with pin 2 masked too, the ticks stop as before.
static void board_ticks_ioapic(void)
{
  reset_board();
  b.pic.line_hook = count_edges, b.pic.line_open = line_open;
  edges0 = 0, pin2_open = 1;
  pic_setup(0x01, 0x01, 0x00);   // IRQ0 masked at the 8259
  pit_program(0, 0x34, 1193);    // 1 kHz
  for (int i = 0; i < 5; i++) {
    now += NSEC / 1000 + 1000;
    board_advance(&b, now);
  }
  CHECK(edges0 == 5, "IRQ0 masked at the 8259, pin 2 open: 5 ticks made %d edges", edges0);
  CHECK(board_deadline(&b, now) == pit_next_edge(&b.pit, now), "and the PIT keeps its deadline: %lu",
        board_deadline(&b, now));
  pin2_open = 0;
  now += NSEC / 1000 + 1000;
  board_advance(&b, now);
  now += NSEC / 1000 + 1000;
  board_advance(&b, now);
  CHECK(edges0 == 5 && board_deadline(&b, now) == 0, "pin 2 masked too: ticks stop (%d edges), no deadline",
        edges0);
}

static uint64 rng = 88172645463325252ULL;

static uint64 rnd(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

// A hostile guest: 200,000 random byte, word and dword accesses to every
// chip port (and the INTAs and ELCR writes a guest can cause), with random
// clock steps. The chips must stay within their invariants and never stop
// the VMM: a vector on the line is a real one of the pair, deadlines are in
// the future or none, the backlog and the FIFO stay bounded.
static void board_fuzz(void)
{
  static const uint16 ports[] = {0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1, 0x40, 0x41, 0x42, 0x43, 0x61,
                                 0x70, 0x71, 0x3F8, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF};
  int bad = 0, acks = 0;
  for (int round = 0; round < 20 && !bad; round++) {
    reset_board();
    now = rnd() % (1ULL << 40);
    for (int i = 0; i < 10000 && !bad; i++) {
      uint64 r = rnd();
      uint32 d = rnd();
      int size = 1 << (r % 3);
      board_io(&b, ports[(r >> 8) % (sizeof ports / sizeof ports[0])], size, (r >> 16) & 1, &d, now);
      if ((r >> 20) % 8 == 0)
        uart_receive(&b.uart, (const uint8 *)"x", 1, now);
      now += (r >> 24) % 4 == 0 ? (r >> 32) % 3000000 : 0;
      board_advance(&b, now);
      int v = pic_output(&b.pic);
      uint64 dl = board_deadline(&b, now);
      if (v >= 0 && (r >> 40) % 2 && (acks++, pic_intack(&b.pic) != v))
        bad = 1, CHECK(0, "round %d step %d: INTA gave another vector than the line's 0x%x", round, i, v);
      if (v < -1 || v > 255 || (v >= 0 && (v & ~7) != b.pic.c[0].base && (v & ~7) != b.pic.c[1].base))
        bad = 1, CHECK(0, "round %d step %d: line vector %d", round, i, v);
      if (dl && dl < now)
        bad = 1, CHECK(0, "round %d step %d: deadline %lu before now %lu", round, i, dl, now);
      if (b.pit.pending > PIT_MAX_BACKLOG || b.uart.rx_n > UART_FIFO || b.uart.rx_n < 0)
        bad = 1, CHECK(0, "round %d step %d: backlog %lu, FIFO %d", round, i, b.pit.pending, b.uart.rx_n);
      if (b.end != BOARD_RUN)
        reset_board(), now = rnd() % (1ULL << 40);
    }
  }
  CHECK(!bad && acks > 1000, "200,000 random accesses: invariants held, %d INTAs", acks);
}

static const struct {
  const char *name;
  void (*fn)(void);
  const char *group;
} tests[] = {
    {"pic_basic", pic_basic, "pic"},   {"pic_level", pic_level, "pic"}, {"pic_cascade", pic_cascade, "pic"},
    {"pic_modes", pic_modes, "pic"},   {"pit_rate", pit_rate, "pit"},   {"pit_modes", pit_modes, "pit"},
    {"pit_rates", pit_rates, "pit"},
    {"pit_port61", pit_port61, "pit"}, {"uart_intr", uart_intr, "uart"}, {"uart_regs", uart_regs, "uart"},
    {"rtc_time", rtc_time, "rtc"},     {"rtc_intr", rtc_intr, "rtc"},   {"board_ports", board_ports, "board"},
    {"board_ticks", board_ticks, "board"}, {"board_ticks_ioapic", board_ticks_ioapic, "board"},
    {"board_fuzz", board_fuzz, "board"},
};

static int wanted(const char *group, int argc, char **argv)
{
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], group) == 0)
      return 1;
  return argc < 2;
}

int main(int argc, char **argv)
{
  for (unsigned i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    if (!wanted(tests[i].group, argc, argv))
      continue;
    group_failed = 0;
    tests[i].fn();
    printf("devtest: %s: %s\n", tests[i].name, group_failed ? "FAIL" : "ok");
  }
  printf("devtest: %d checks, %d failed\n", nchecks, nfailed);
  return nfailed ? 1 : 0;
}
