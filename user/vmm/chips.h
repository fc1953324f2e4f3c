// The PC chips the VMM emulates, one file each: 8259A PIC pair (pic.c),
// 8254 PIT (pit.c), 16550A UART (uart.c), MC146818 RTC (rtc.c), and the
// port dispatch with the small ports (ports.c). They know nothing of the
// vmm system calls: time is passed in as `now` (guest ns, which the VMM keeps
// equal to the host's clock_ns), interrupt requests go to the PIC, and the
// VMM's event loop (loop.c) moves vectors between the PIC and the vcpu. So
// user/devtest.c can drive them port by port with a fake clock.
// docs/devices.md says what is modelled and what is not.
#pragma once
#include "../../kern/types.h"

#define NSEC 1000000000ULL

// ---- 8259A pair (Intel 8259A datasheet; PC/AT wiring: slave on master IR2)
struct pic8259 {
  uint8 irr, isr, imr;  // interrupt request, in-service, mask registers
  uint8 last_level;     // input levels, for edge detection
  uint8 elcr;           // 1 = level-triggered (ELCR, PIIX/ICH "edge/level control")
  uint8 elcr_mask;      // ELCR bits that exist
  uint8 base;           // ICW2: vector of IR0 (low 3 bits 0)
  uint8 icw3;           // master: bit per IR with a slave; slave: its ID
  uint8 lowest;         // IR with the lowest priority (rotation), 7 after init
  uint8 init_state;     // 0 ready; 2 wants ICW2, 3 ICW3, 4 ICW4
  uint8 need_icw4, single, ltim;
  uint8 aeoi, rotate_aeoi, sfnm;   // ICW4 auto-EOI, rotate in AEOI, special fully nested
  uint8 read_isr, poll, smm;       // OCW3 state
};

struct pic {
  struct pic8259 c[2];  // [0] master (0x20/0x21), [1] slave (0xA0/0xA1)
  int (*mask_hook)(void *ctx, int irq, int masked);  // optional: IMR changes (the PIT's reinject)
  void (*line_hook)(void *ctx, int irq, int level);  // optional: every request line (the I/O APIC's pins)
  int (*line_open)(void *ctx, int irq);   // optional: 1 if line_hook's receiver takes irq now (unmasked pin)
  void *ctx;
};

void pic_init(struct pic *p);
void pic_set_irq(struct pic *p, int irq, int level);   // irq 0..15, level 0/1
int pic_output(struct pic *p);                         // vector the INTR line asks for, or -1
int pic_intack(struct pic *p);                         // the INTA cycle: vector, IRR->ISR
int pic_irq_masked(struct pic *p, int irq);
int pic_irr_set(struct pic *p, int irq);
void pic_io(struct pic *p, uint16 port, int in, uint8 *val);  // 0x20/21, 0xA0/A1, 0x4D0/1

// ---- 8254 PIT (Intel 8254 datasheet), clocked at 1.193182 MHz
#define PIT_HZ 1193182ULL
#define PIT_MAX_BACKLOG 1000   // ticks kept for reinjection (1 s at 1 kHz)

struct pitch {
  uint8 mode, rw, bcd;  // control word fields
  uint32 count;         // initial count N (1..65536; a written 0 means 65536/10000)
  uint8 wstate;         // lobyte/hibyte write: 0 first byte, 1 second byte
  uint8 rstate;         // read: 0 LSB next, 1 MSB next
  uint8 wlatch;         // first byte of a two-byte write
  uint8 gate;
  uint8 armed;          // counting (a count was loaded, and for 1/5 the gate triggered)
  uint8 latched;        // 0, or bytes of the count latch left to read (1..2)
  uint8 status_latched;
  uint8 status;
  uint16 latch;
  uint8 null_count;     // count written but not yet loaded into the counting element
  uint64 t0;            // ns when counting began (armed)
  uint64 paused_ticks;  // modes 0/4 with gate low: ticks counted before the pause
  uint64 edges_seen;    // ch0: rising OUT edges already reported to the PIC
};

struct pit {
  struct pitch ch[3];
  uint8 speaker;        // port 0x61 bit 1 (speaker data)
  uint8 refresh;        // port 0x61 bit 4 toggles (DRAM refresh, 15 us)
  uint64 pending;       // ch0 edges not yet delivered to the PIC (reinjection)
};

void pit_init(struct pit *t);
void pit_io(struct pit *t, uint16 port, int in, uint8 *val, uint64 now);  // 0x40-0x43, 0x61
uint64 pit_advance(struct pit *t, uint64 now);   // counts new ch0 edges into t->pending; returns them
uint64 pit_next_edge(struct pit *t, uint64 now);  // ns of the next ch0 edge, 0 if none
int pit_out(struct pit *t, int ch, uint64 now);
uint32 pit_read_count(struct pit *t, int ch, uint64 now);

// ---- 16550A UART (TI PC16550D / NS16550A datasheet)
#define UART_FIFO 16

struct uart {
  uint8 ier, lcr, mcr, lsr_err, msr_delta, scr, fcr;
  uint16 divisor;
  uint8 rx[UART_FIFO];
  int rx_head, rx_n;
  uint8 thre_pending;   // the THRE interrupt is armed (cleared by an IIR read or a THR write)
  uint8 interactive;    // the guest has read RBR or enabled the RX interrupt
  uint64 last_rx_ns;    // for the FIFO character timeout
  void (*tx)(void *ctx, int c);   // a transmitted byte
  void *ctx;
  struct pic *pic;
  int irq;
};

void uart_init(struct uart *u, struct pic *p, int irq, void (*tx)(void *, int), void *ctx);
void uart_io(struct uart *u, uint16 off, int in, uint8 *val, uint64 now);  // off 0..7
int uart_rx_room(struct uart *u);
int uart_quiet(struct uart *u, uint8 *lsr);   // 1 if THR writes need no answer; *lsr: LSR, read without effect
void uart_receive(struct uart *u, const uint8 *buf, int n, uint64 now);
uint64 uart_next_event(struct uart *u, uint64 now);   // the FIFO timeout's deadline, 0 if none
void uart_update(struct uart *u, uint64 now);         // recomputes IRQ4

// ---- MC146818 RTC + CMOS (Motorola MC146818A datasheet)
struct rtc {
  uint8 index, nmi_off;
  uint8 ram[128];       // registers 0x00-0x0D and CMOS bytes 0x0E-0x7F
  int64 offset_s;       // guest time = base + now + offset (set by the guest)
  uint64 base_s;        // seconds since 1970 at now = 0
  uint64 last_now;      // for periodic/update/alarm flags
  uint8 shadow[11];     // time fields (binary) while SET=1: the guest is writing the time
  struct pic *pic;
};

void rtc_init(struct rtc *r, struct pic *p, uint64 base_s);
void rtc_io(struct rtc *r, uint16 port, int in, uint8 *val, uint64 now);  // 0x70/0x71
void rtc_advance(struct rtc *r, uint64 now);      // sets PF/UF/AF, IRQ8
uint64 rtc_next_event(struct rtc *r, uint64 now);  // next flag to set with its interrupt on, 0 none

// ---- the board: every chip, and port dispatch (ports.c)
enum board_end { BOARD_RUN, BOARD_RESET, BOARD_EXIT, BOARD_POWEROFF };   // POWEROFF: ACPI S5 (apic.c)

struct board {
  struct pic pic;
  struct pit pit;
  struct uart uart;
  struct rtc rtc;
  uint8 port61;         // port 0x61 bit 0 (ch2 gate) and 1 (speaker)
  uint8 port92;         // port 0x92 bits 0 (fast reset) and 1 (A20), as written
  enum board_end end;
  int exit_code;
  const char *reset_why;
  struct apics *apics;  // local APIC + I/O APIC + fw_cfg (apic.c), NULL for guests without
};

void board_init(struct board *b, void (*tx)(void *, int), void *ctx, uint64 rtc_base_s);
void board_io(struct board *b, uint16 port, int size, int in, uint32 *data, uint64 now);
void board_advance(struct board *b, uint64 now);   // clocks: PIT edges, RTC flags, UART timeout
uint64 board_deadline(struct board *b, uint64 now); // nearest event, 0 none
int board_needs_clock(struct board *b);             // 0: no chip changes with time now
