// The 16550A UART at 0x3F8, IRQ4 (TI PC16550D datasheet, "PC16550D
// Universal Asynchronous Receiver/Transmitter with FIFOs", Table II
// "Register Summary"). Transmission is instant: a byte written to THR goes
// to tx() at once, so THR is always empty again (LSR THRE and TEMT always
// set) and the THRE interrupt re-arms after every write, as on the chip once
// the shift register is done. Received bytes come from the VMM (the svmlab
// console) into the 16-byte receive FIFO. On a PC, MCR OUT2 gates the INTR
// pin onto the IRQ line.
#include "user.h"
#include "chips.h"

enum { IER_RDI = 1, IER_THRI = 2, IER_RLSI = 4, IER_MSI = 8 };
enum { LSR_DR = 0x01, LSR_OE = 0x02, LSR_ERR = 0x1E, LSR_THRE = 0x20, LSR_TEMT = 0x40 };
enum { MCR_DTR = 1, MCR_RTS = 2, MCR_OUT1 = 4, MCR_OUT2 = 8, MCR_LOOP = 0x10 };
enum { FCR_ENABLE = 1, FCR_CLEAR_RX = 2 };

static int fifo_on(struct uart *u)
{
  return u->fcr & FCR_ENABLE;
}

// Receive FIFO trigger level (FCR bits 7-6: 1, 4, 8, 14 bytes); 1 when the
// FIFOs are off (16450 mode: a single holding register).
static int trigger(struct uart *u)
{
  static const int level[4] = {1, 4, 8, 14};
  return fifo_on(u) ? level[u->fcr >> 6] : 1;
}

int uart_rx_room(struct uart *u)
{
  return (fifo_on(u) ? UART_FIFO : 1) - u->rx_n;
}

// Four character times at the programmed divisor (10 bits a character):
// the FIFO's character timeout (datasheet "FIFO Interrupt Mode Operation").
static uint64 char_timeout_ns(struct uart *u)
{
  uint64 div = u->divisor ? u->divisor : 65536;
  return 4 * 10 * div * NSEC / 115200;
}

static int timed_out(struct uart *u, uint64 now)
{
  return fifo_on(u) && u->rx_n > 0 && u->rx_n < trigger(u) &&
         now >= u->last_rx_ns + char_timeout_ns(u);
}

// MSR's status bits: a terminal is attached (CTS, DSR, DCD), or in loopback
// the MCR outputs fed back (RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD).
static uint8 msr_lines(struct uart *u)
{
  if (!(u->mcr & MCR_LOOP))
    return 0xB0;
  uint8 m = u->mcr;
  return (m & MCR_RTS) << 3 | (m & MCR_DTR) << 5 | (m & MCR_OUT1) << 4 | (m & MCR_OUT2) << 4;
}

// IIR by priority (datasheet Table IV "Interrupt Control Functions"):
// line status 0x06, received data 0x04, character timeout 0x0C, THRE 0x02,
// modem status 0x00; 0x01 when none. FIFO mode sets bits 7-6.
static uint8 iir(struct uart *u, uint64 now)
{
  uint8 id = 0x01;
  if ((u->ier & IER_RLSI) && (u->lsr_err & LSR_ERR))
    id = 0x06;
  else if ((u->ier & IER_RDI) && u->rx_n >= trigger(u))
    id = 0x04;
  else if ((u->ier & IER_RDI) && timed_out(u, now))
    id = 0x0C;
  else if ((u->ier & IER_THRI) && u->thre_pending)
    id = 0x02;
  else if ((u->ier & IER_MSI) && u->msr_delta)
    id = 0x00;
  return id | (fifo_on(u) ? 0xC0 : 0);
}

// IRQ4 follows INTR while OUT2 is set; in loopback the OUT2 pin is held
// inactive, so no interrupt reaches the PIC.
void uart_update(struct uart *u, uint64 now)
{
  int intr = !(iir(u, now) & 1);
  int gate = (u->mcr & MCR_OUT2) && !(u->mcr & MCR_LOOP);
  if (u->pic)
    pic_set_irq(u->pic, u->irq, intr && gate);
}

void uart_receive(struct uart *u, const uint8 *buf, int n, uint64 now)
{
  for (int i = 0; i < n; i++) {
    if (uart_rx_room(u) <= 0) {
      u->lsr_err |= LSR_OE;   // overrun: the byte is lost
      continue;
    }
    u->rx[(u->rx_head + u->rx_n++) % UART_FIFO] = buf[i];
  }
  u->last_rx_ns = now;
  uart_update(u, now);
}

uint64 uart_next_event(struct uart *u, uint64 now)
{
  if (!(u->ier & IER_RDI) || !fifo_on(u) || u->rx_n == 0 || u->rx_n >= trigger(u))
    return 0;
  uint64 at = u->last_rx_ns + char_timeout_ns(u);
  return at > now ? at : 0;
}

void uart_init(struct uart *u, struct pic *p, int irq, void (*tx)(void *, int), void *ctx)
{
  memset(u, 0, sizeof *u);
  u->pic = p;
  u->irq = irq;
  u->tx = tx;
  u->ctx = ctx;
  u->divisor = 12;   // 9600 baud, a BIOS's setting
  u->lcr = 0x03;     // 8N1
}

static uint8 rx_pop(struct uart *u, uint64 now)
{
  if (u->rx_n == 0)
    return 0;
  uint8 c = u->rx[u->rx_head];
  u->rx_head = (u->rx_head + 1) % UART_FIFO;
  u->rx_n--;
  u->last_rx_ns = now;   // a read restarts the character timeout too
  return c;
}

// THR: the byte leaves at once (to tx, or to the receiver in loopback),
// INTR drops with the THRE interrupt and rises again when THR is empty.
static void thr_write(struct uart *u, uint8 c, uint64 now)
{
  u->thre_pending = 0;
  uart_update(u, now);
  if (u->mcr & MCR_LOOP)
    uart_receive(u, &c, 1, now);
  else if (u->tx)
    u->tx(u->ctx, c);
  u->thre_pending = 1;
}

// Loopback feeds MCR into MSR: changes set the delta bits (DCTS, DDSR,
// TERI on RI's trailing edge, DDCD).
static void mcr_write(struct uart *u, uint8 v)
{
  uint8 before = msr_lines(u);
  u->mcr = v & 0x1F;
  uint8 after = msr_lines(u), ch = before ^ after;
  u->msr_delta |= (ch & 0x10 ? 1 : 0) | (ch & 0x20 ? 2 : 0) | ((before & ~after & 0x40) ? 4 : 0) |
                  (ch & 0x80 ? 8 : 0);
}

// FCR: bit 0 enables the FIFOs (a change clears them), bit 1 clears the
// receive FIFO, bits 7-6 set its trigger level.
static void fcr_write(struct uart *u, uint8 v)
{
  if ((v ^ u->fcr) & FCR_ENABLE || (v & FCR_CLEAR_RX))
    u->rx_n = u->rx_head = 0;
  u->fcr = v & (v & FCR_ENABLE ? 0xC1 : 0);
}

static void uart_write(struct uart *u, uint16 off, uint8 v, uint64 now)
{
  int dlab = u->lcr & 0x80;
  switch (off) {
  case 0:
    if (dlab)
      u->divisor = (u->divisor & 0xFF00) | v;
    else
      thr_write(u, v, now);
    break;
  case 1:
    if (dlab) {
      u->divisor = (u->divisor & 0xFF) | v << 8;
      break;
    }
    if ((v & IER_THRI) && !(u->ier & IER_THRI))
      u->thre_pending = 1;   // enabling ETBEI with THR empty interrupts at once
    u->ier = v & 0x0F;
    if (v & IER_RDI)
      u->interactive = 1;
    break;
  case 2: fcr_write(u, v); break;
  case 3: u->lcr = v; break;
  case 4: mcr_write(u, v); break;
  case 7: u->scr = v; break;
  }   // 5 (LSR) and 6 (MSR) are read-only here ("factory test" writes ignored)
}

// Whether writes to THR may wait in the kernel (VM_RUN_PIO_OUT, loop.c) and
// LSR reads be answered there (VM_RUN_PIO_IN): DLAB clear (offset 0 is THR),
// no loopback (a byte would reach the receiver), the THRE interrupt off (a
// write would re-arm it), nothing received and no error (then reading LSR
// changes nothing and it reads THRE|TEMT: transmission is instant here).
int uart_quiet(struct uart *u, uint8 *lsr)
{
  if ((u->lcr & 0x80) || (u->mcr & MCR_LOOP) || (u->ier & IER_THRI) || u->rx_n || u->lsr_err)
    return 0;
  *lsr = LSR_THRE | LSR_TEMT;
  return 1;
}

static uint8 uart_read(struct uart *u, uint16 off, uint64 now)
{
  int dlab = u->lcr & 0x80;
  uint8 v = 0;
  switch (off) {
  case 0:
    if (dlab)
      return u->divisor & 0xFF;
    u->interactive = 1;
    return rx_pop(u, now);
  case 1: return dlab ? u->divisor >> 8 : u->ier;
  case 2:
    v = iir(u, now);
    if ((v & 0x0F) == 0x02)
      u->thre_pending = 0;   // reading IIR with THRE as the source clears it
    return v;
  case 3: return u->lcr;
  case 4: return u->mcr;
  case 5:
    v = (u->rx_n ? LSR_DR : 0) | u->lsr_err | LSR_THRE | LSR_TEMT;
    u->lsr_err = 0;
    return v;
  case 6:
    v = msr_lines(u) | u->msr_delta;
    u->msr_delta = 0;
    return v;
  default: return u->scr;
  }
}

void uart_io(struct uart *u, uint16 off, int in, uint8 *val, uint64 now)
{
  if (in)
    *val = uart_read(u, off & 7, now);
  else
    uart_write(u, off & 7, *val, now);
  uart_update(u, now);
}
