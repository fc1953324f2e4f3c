// The board: which chip answers which I/O port, and the small ports of a
// PC that need no chip of their own. Port map (IBM PC/AT and PIIX):
//   0x20-0x21, 0xA0-0xA1  8259A master/slave       (pic.c)
//   0x40-0x43, 0x61       8254, port B             (pit.c)
//   0x70-0x71             MC146818 RTC/CMOS         (rtc.c)
//   0x3F8-0x3FF           16550A COM1               (uart.c)
//   0x4D0-0x4D1           ELCR                      (pic.c)
//   0x80, 0xED            POST/delay ports: writes ignored, reads all ones
//   0x64                  i8042 command: only 0xFE (pulse reset) is modelled
//   0x92                  system control port A: bit 0 fast reset, bit 1 A20
//   0xCF9                 PIIX reset control: bit 2 resets
//   0xF4                  svmlab's debug exit (guest.h GUEST_EXIT_PORT)
// Anything else reads as all ones (an empty ISA bus) and ignores writes.
// Wider accesses are split into byte accesses to consecutive ports, as an
// 8-bit ISA device sees them.
#include "user.h"
#include "chips.h"
#include "../guests/guest.h"

// Counter 0's OUT is masked at the PIC: the backlog of ticks is dropped
// (KVM's PIT does the same), so unmasking does not bring a burst.
static int pit_mask_hook(void *ctx, int irq, int masked)
{
  struct board *b = ctx;
  if (irq == 0 && masked)
    b->pit.pending = 0;
  return 0;
}

void board_init(struct board *b, void (*tx)(void *, int), void *ctx, uint64 rtc_base_s)
{
  memset(b, 0, sizeof *b);
  pic_init(&b->pic);
  b->pic.mask_hook = pit_mask_hook;
  b->pic.ctx = b;
  pit_init(&b->pit);
  uart_init(&b->uart, &b->pic, 4, tx, ctx);
  rtc_init(&b->rtc, &b->pic, rtc_base_s);
  b->port92 = 2;
}

static void reset(struct board *b, const char *why)
{
  if (b->end == BOARD_RUN) {
    b->end = BOARD_RESET;
    b->reset_why = why;
  }
}

// System control port A (the PIIX4 datasheet's "Port 92h" register; the PS/2's fast
// A20 and reset): a 0-to-1 write of bit 0 resets the machine, as 0xFE to the
// 8042 does; bit 1 is the A20 gate. Guest memory never wraps at 1 MiB, so A20
// is always on; bit 1 reads back what was last written (1 from reset), which
// is what kernels poll after setting it.
static uint8 port92(struct board *b, int in, uint8 v)
{
  if (in)
    return b->port92 & 3;
  if ((v & 1) && !(b->port92 & 1))
    reset(b, "fast reset (bit 0 of port 0x92)");
  b->port92 = v & 3;
  return v;
}

// One byte at one port.
static uint8 byte_io(struct board *b, uint16 port, int in, uint8 v, uint64 now)
{
  if (port == 0x20 || port == 0x21 || port == 0xA0 || port == 0xA1 || port == 0x4D0 || port == 0x4D1)
    pic_io(&b->pic, port, in, &v);
  else if ((port >= 0x40 && port <= 0x43) || port == 0x61)
    pit_io(&b->pit, port, in, &v, now);
  else if (port == 0x70 || port == 0x71)
    rtc_io(&b->rtc, port, in, &v, now);
  else if (port >= GUEST_UART && port < GUEST_UART + 8)
    uart_io(&b->uart, port - GUEST_UART, in, &v, now);
  else if (port == 0x92)
    v = port92(b, in, v);
  else if (in)
    v = 0xFF;
  else if (port == 0x64 && v == 0xFE)
    reset(b, "i8042 reset (0xFE to port 0x64)");
  else if (port == 0xCF9 && (v & 4))
    reset(b, "reset control register (port 0xCF9)");
  else if (port == GUEST_EXIT_PORT && b->end == BOARD_RUN) {
    b->end = BOARD_EXIT;
    b->exit_code = v;
  }
  return v;
}

void board_io(struct board *b, uint16 port, int size, int in, uint32 *data, uint64 now)
{
  uint32 v = in ? 0 : *data;
  if (size == 4 && !in && port == GUEST_EXIT_PORT)
    size = 1;   // out %eax, $0xF4: the exit code is the low byte
  // A word or dword at 0xCF8-0xCFF is PCI configuration mechanism #1 (PCI
  // Local Bus spec 3.2.2.3.2), not bytes for 0xCF9's reset control, which
  // decodes byte accesses only: Linux's pci_check_type1 writes back the
  // all-ones it read from 0xCF8, and split into bytes that reset the board.
  // There is no PCI bus: reads are all ones, writes go nowhere.
  if (size > 1 && port >= 0xCF8 && port <= 0xCFF) {
    if (in)
      *data = size == 4 ? 0xFFFFFFFF : 0xFFFF;
    return;
  }
  for (int i = 0; i < size && b->end == BOARD_RUN; i++) {
    uint8 x = byte_io(b, port + i, in, v >> (8 * i), now);
    if (in)
      v |= (uint32)x << (8 * i);
  }
  if (in)
    *data = v;
}

// IRQ0's edges also reach an unmasked I/O APIC pin (apic.c's line_open).
static int irq0_elsewhere(struct board *b)
{
  return b->pic.line_open && b->pic.line_open(b->pic.ctx, 0);
}

// Counter 0's ticks reach IRQ0 one edge at a time: the next only once the
// PIC has taken the last one out of IRR (its INTA), so ticks that came while
// the guest had IF=0 are delivered late but not lost. A masked IRQ0 keeps
// one request in IRR, as the chip would, and drops the rest; but while the
// I/O APIC's pin 2, on the same line (apic.c), is unmasked, the edges go on:
// a kernel in APIC mode masks IRQ0 at the 8259 and takes the PIT there
// (Linux's check_timer counts those ticks), so one edge per advance that had
// ticks (a tick the local APIC still holds in IRR merges with it, as on a PC).
static void deliver_ticks(struct board *b)
{
  struct pit *t = &b->pit;
  int masked = pic_irq_masked(&b->pic, 0), elsewhere = masked && irq0_elsewhere(b);
  if (t->pending > PIT_MAX_BACKLOG)
    t->pending = PIT_MAX_BACKLOG;
  if (t->pending && (elsewhere || !pic_irr_set(&b->pic, 0))) {
    pic_set_irq(&b->pic, 0, 1);
    pic_set_irq(&b->pic, 0, 0);
    t->pending--;
  }
  if (masked)
    t->pending = 0;
}

void board_advance(struct board *b, uint64 now)
{
  pit_advance(&b->pit, now);
  deliver_ticks(b);
  rtc_advance(&b->rtc, now);
  uart_update(&b->uart, now);
}

// 1 if a chip's state moves with time in a way the guest can be interrupted
// by: counter 0 counting (or ticks waiting), an RTC interrupt enabled, a
// receive FIFO whose character timeout may fire. Otherwise the VMM need not
// read the clock before entering the guest.
int board_needs_clock(struct board *b)
{
  struct uart *u = &b->uart;
  return b->pit.ch[0].armed || b->pit.pending || (b->rtc.ram[0x0B] & 0x70) ||
         ((u->ier & 1) && u->rx_n > 0);
}

static uint64 earliest(uint64 a, uint64 b)
{
  return !a ? b : !b ? a : a < b ? a : b;
}

// The nearest moment a chip needs the VMM. Edges are counted from the
// clock whenever the VMM looks, so a deadline is only needed when one
// changes what the guest sees: not while IRQ0 is masked with its one
// request already latched in IRR (a guest that masks a fast PIT and halts
// must not keep the VMM busy), unless the I/O APIC takes IRQ0's edges.
uint64 board_deadline(struct board *b, uint64 now)
{
  int idle = pic_irq_masked(&b->pic, 0) && pic_irr_set(&b->pic, 0) && !irq0_elsewhere(b);
  uint64 at = idle ? 0 : pit_next_edge(&b->pit, now);
  at = earliest(at, rtc_next_event(&b->rtc, now));
  return earliest(at, uart_next_event(&b->uart, now));
}
