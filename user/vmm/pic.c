// The 8259A programmable interrupt controller pair of a PC (Intel 8259A
// datasheet, "8259A Programmable Interrupt Controller", 1988): master at
// 0x20/0x21, slave at 0xA0/0xA1 cascaded on the master's IR2, ELCR at
// 0x4D0/0x4D1 (the edge/level control registers of the PIIX/ICH south
// bridges, which replace LTIM on PCs). The VMM asks pic_output() which
// vector the INTR line carries and calls pic_intack() for the INTA cycle
// when the vcpu took it (loop.c).
#include "user.h"
#include "chips.h"

// Priority rank of an IR: 0 is the highest. After init IR0 is highest and
// IR7 lowest; rotation moves `lowest` (datasheet "Interrupt Priority Modes").
static int rank(struct pic8259 *c, int irq)
{
  return (irq - c->lowest - 1) & 7;
}

// The highest-priority IR whose bit is set in m, or -1.
static int highest(struct pic8259 *c, uint8 m)
{
  for (int r = 0; r < 8; r++) {
    int irq = (c->lowest + 1 + r) & 7;
    if ((m >> irq) & 1)
      return irq;
  }
  return -1;
}

// The IR this chip would present at its INT output now, or -1: the highest
// unmasked request with a higher priority than every IR in service. Special
// mask mode (OCW3 SMM) lets masked in-service levels be ignored; special
// fully nested mode (ICW4 SFNM) on the master lets a cascade line interrupt
// its own service (datasheet "Special Fully Nest Mode").
static int chip_pending(struct pic8259 *c, int master)
{
  int irq = highest(c, c->irr & ~c->imr);
  if (irq < 0)
    return -1;
  uint8 isr = c->isr;
  if (c->smm)
    isr &= ~c->imr;
  if (master && c->sfnm)
    isr &= ~c->icw3;
  int cur = highest(c, isr);
  if (cur >= 0 && rank(c, cur) <= rank(c, irq))
    return -1;
  return irq;
}

static int level_mode(struct pic8259 *c, int irq)
{
  return c->ltim || ((c->elcr >> irq) & 1);
}

// One input of one chip. Edge mode latches a low-to-high transition into
// IRR; level mode makes IRR follow the line.
static void chip_set(struct pic8259 *c, int irq, int level)
{
  uint8 m = 1 << irq;
  if (level_mode(c, irq)) {
    c->irr = level ? c->irr | m : c->irr & ~m;
  } else if (level && !(c->last_level & m)) {
    c->irr |= m;
  }
  c->last_level = level ? c->last_level | m : c->last_level & ~m;
}

// The slave's INT output drives master IR2. It is pulsed, not held, so that
// a slave still requesting after an auto-EOI or an EOI is seen again.
static void cascade_update(struct pic *p)
{
  int out = chip_pending(&p->c[1], 0) >= 0;
  if (out) {
    chip_set(&p->c[0], 2, 0);
    chip_set(&p->c[0], 2, 1);
  } else if (level_mode(&p->c[0], 2)) {
    chip_set(&p->c[0], 2, 0);
  } else {
    p->c[0].last_level &= ~4;
  }
}

void pic_init(struct pic *p)
{
  memset(p, 0, sizeof *p);
  for (int i = 0; i < 2; i++) {
    p->c[i].lowest = 7;
    p->c[i].base = i ? 0x70 : 0x08;   // the BIOS's vectors, until the guest's ICW2
    p->c[i].imr = 0xFF;
  }
  p->c[0].icw3 = 0x04;
  p->c[1].icw3 = 0x02;
  p->c[0].elcr_mask = 0xF8;   // IRQ0-2 are always edge-triggered
  p->c[1].elcr_mask = 0xDE;   // so are IRQ8 (RTC) and IRQ13 (FPU)
}

void pic_set_irq(struct pic *p, int irq, int level)
{
  if (irq < 0 || irq > 15)
    return;
  chip_set(&p->c[irq >> 3], irq & 7, level);
  cascade_update(p);
  if (p->line_hook)
    p->line_hook(p->ctx, irq, level);
}

int pic_irq_masked(struct pic *p, int irq)
{
  return (p->c[irq >> 3].imr >> (irq & 7)) & 1;
}

int pic_irr_set(struct pic *p, int irq)
{
  return (p->c[irq >> 3].irr >> (irq & 7)) & 1;
}

// The INTA cycle on one chip (datasheet "Interrupt Sequence"): the IR's
// ISR bit is set (not with auto-EOI, which may rotate instead) and an edge
// request is cleared from IRR.
static void chip_ack(struct pic8259 *c, int irq)
{
  if (!level_mode(c, irq))
    c->irr &= ~(1 << irq);
  if (c->aeoi) {
    if (c->rotate_aeoi)
      c->lowest = irq;
  } else {
    c->isr |= 1 << irq;
  }
}

// The vector the pair would give at INTA now, or -1 if INTR is low. With a
// request gone between INT and INTA the chip answers IR7 (spurious).
static int resolve(struct pic *p, int ack)
{
  int irq = chip_pending(&p->c[0], 1);
  if (irq < 0)
    return ack ? p->c[0].base + 7 : -1;
  if (ack)
    chip_ack(&p->c[0], irq);
  if (p->c[0].single || !((p->c[0].icw3 >> irq) & 1))
    return p->c[0].base + irq;
  int s = chip_pending(&p->c[1], 0);
  if (s < 0)
    return p->c[1].base + 7;
  if (ack)
    chip_ack(&p->c[1], s);
  return p->c[1].base + s;
}

int pic_output(struct pic *p)
{
  return resolve(p, 0);
}

int pic_intack(struct pic *p)
{
  int v = resolve(p, 1);
  cascade_update(p);
  return v;
}

// EOI commands of OCW2 (datasheet "Operation Command Words", Table 6):
// R SL EOI in bits 7-5, the IR level in bits 2-0.
static void ocw2(struct pic8259 *c, uint8 v)
{
  int cmd = v >> 5, level = v & 7;
  int irq = cmd & 2 ? level : highest(c, c->isr);   // SL: specific
  switch (cmd) {
  case 1:                 // non-specific EOI
  case 3:                 // specific EOI
  case 5:                 // rotate on non-specific EOI
  case 7:                 // rotate on specific EOI
    if (irq < 0)
      return;
    c->isr &= ~(1 << irq);
    if (cmd & 4)
      c->lowest = irq;
    return;
  case 0: c->rotate_aeoi = 0; return;   // rotate in automatic EOI mode (clear)
  case 4: c->rotate_aeoi = 1; return;   // (set)
  case 6: c->lowest = level; return;    // set priority: level becomes the lowest
  }                                     // 2: no operation
}

// OCW3: special mask mode, poll, which register a read of A0=0 returns.
static void ocw3(struct pic8259 *c, uint8 v)
{
  if (v & 0x40)
    c->smm = (v >> 5) & 1;
  if (v & 0x02)
    c->read_isr = v & 1;
  if (v & 0x04)
    c->poll = 1;
}

// ICW1 (A0=0, D4=1) starts the initialization sequence: "the edge sense
// circuit is reset", the IMR cleared, IR7 gets the lowest priority, special
// mask mode off, status read set to IRR. Level requests stay (their lines
// are still high).
static void icw1(struct pic8259 *c, uint8 v)
{
  c->irr &= c->elcr;
  c->isr = 0;
  c->imr = 0;
  c->lowest = 7;
  c->smm = c->poll = c->read_isr = 0;
  c->aeoi = c->rotate_aeoi = c->sfnm = 0;
  c->need_icw4 = v & 1;
  c->single = (v >> 1) & 1;
  c->ltim = (v >> 3) & 1;
  c->init_state = 2;
}

// A0=1 writes during initialization: ICW2 (vector base), ICW3 (cascade),
// ICW4 (8086 mode, auto-EOI, buffered mode, SFNM).
static void icw_next(struct pic8259 *c, uint8 v)
{
  if (c->init_state == 2) {
    c->base = v & 0xF8;
    c->init_state = !c->single ? 3 : c->need_icw4 ? 4 : 0;
  } else if (c->init_state == 3) {
    c->icw3 = v;
    c->init_state = c->need_icw4 ? 4 : 0;
  } else {
    c->aeoi = (v >> 1) & 1;
    c->sfnm = (v >> 4) & 1;
    c->init_state = 0;
  }
}

// The poll command's read (datasheet "The Poll Command"): bit 7 set and the
// highest-priority level in bits 2-0 when a request is pending, and that
// read is the INTA for it; 0 when none.
static uint8 poll_read(struct pic *p, int i)
{
  struct pic8259 *c = &p->c[i];
  c->poll = 0;
  int irq = chip_pending(c, i == 0);
  if (irq < 0)
    return 0;
  chip_ack(c, irq);
  return 0x80 | irq;
}

static void chip_write(struct pic *p, int i, int a0, uint8 v)
{
  struct pic8259 *c = &p->c[i];
  if (!a0 && (v & 0x10)) {
    icw1(c, v);
  } else if (!a0) {
    if (v & 0x08)
      ocw3(c, v);
    else
      ocw2(c, v);
  } else if (c->init_state) {
    icw_next(c, v);
  } else {
    uint8 old = c->imr;
    c->imr = v;
    for (int irq = 0; p->mask_hook && irq < 8; irq++)
      if (((old ^ v) >> irq) & 1)
        p->mask_hook(p->ctx, i * 8 + irq, (v >> irq) & 1);
  }
}

static uint8 chip_read(struct pic *p, int i, int a0)
{
  struct pic8259 *c = &p->c[i];
  if (c->poll)
    return poll_read(p, i);
  if (a0)
    return c->imr;
  return c->read_isr ? c->isr : c->irr;
}

void pic_io(struct pic *p, uint16 port, int in, uint8 *val)
{
  if (port == 0x4D0 || port == 0x4D1) {
    struct pic8259 *c = &p->c[port & 1];
    if (in)
      *val = c->elcr;
    else
      c->elcr = *val & c->elcr_mask;
  } else {
    int i = port >= 0xA0, a0 = port & 1;
    if (in)
      *val = chip_read(p, i, a0);
    else
      chip_write(p, i, a0, *val);
  }
  cascade_update(p);
}
