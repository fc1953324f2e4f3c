// A virtio console (virtio 1.1 §5.3 "Console Device"), `vmm -v`: one port,
// no VIRTIO_CONSOLE_F_MULTIPORT, so two queues: 0 receiveq (the guest's
// input) and 1 transmitq (its output). Linux's virtio_console binds to it
// as hvc0. A transmitq notify copies every available buffer to the VMM's
// console (the same line buffer the UART writes to) and returns it used:
// one exit per buffer the guest sends, where the 8250 takes two per
// character. Console input goes into the driver's receive buffers: while
// it has one, loop.c asks the kernel to return when keys are waiting
// (VM_RUN_WAKE_CONSOLE), as it does for a UART whose receiver is in use.
// The transport is virtio_mmio.c at VIRTIO_CONSOLE_BASE, which the ACPI
// DSDT names (acpi.c), with its interrupt on I/O APIC pin VIRTIO_CONSOLE_GSI.
#include "vmm.h"
#include "mmio.h"
#include "virtio_mmio.h"
#include "virtio_console.h"

enum { RXQ, TXQ };

static struct {
  struct virtio_mmio mmio;
  struct guest *g;       // whose console line buffer the output goes to (the first vcpu's)
  uint64 bytes, buffers;
  int on;
} con;

// cols, rows, max_nr_ports, emerg_wr (§5.3.4): none of their features is offered, all zero.
static const uint8 config[12];

// The driver made transmit buffers available: print them, give them back.
static void tx(struct virtio_mmio *d)
{
  struct virtq *q = &d->q[TXQ];
  struct vq_chain c;
  int got, any = 0;
  while ((got = vq_pop(q, &d->mem, &c)) > 0) {
    for (int i = 0; i < c.n; i++) {
      if (c.b[i].writable)   // §5.3.6.1: transmit buffers are device-readable
        continue;
      for (uint32 k = 0; k < c.b[i].len; k++)
        uart_putc(con.g, c.b[i].p[k]);
      con.bytes += c.b[i].len;
    }
    con.buffers++;
    vq_push(q, &d->mem, c.head, 0);
    if (!*con.g->prefix && virtio_console_rx_ready())
      uart_flush(con.g);   // an interactive guest's prompt and echo must not wait for a newline
    any = 1;
  }
  if (any)
    virtio_used(d, TXQ);
  if (got < 0)
    virtio_broken(d, TXQ);
}

// Whether the guest has given receive buffers: console input goes here
// then, and partial output lines are shown at once (a prompt has no newline).
int virtio_console_rx_ready(void)
{
  struct virtio_mmio *d = &con.mmio;
  return con.on && (d->status & VIRTIO_S_DRIVER_OK) && vq_has_avail(&d->q[RXQ], &d->mem);
}

// Console input waiting (VM_EXIT_CONSOLE): into the next receive chain's
// device-writable buffers, as much as they hold. Returns the bytes taken.
long virtio_console_input(void)
{
  struct virtio_mmio *d = &con.mmio;
  struct vq_chain c;
  int got = vq_pop(&d->q[RXQ], &d->mem, &c);
  if (got < 0)
    virtio_broken(d, RXQ);
  if (got <= 0)
    return 0;
  long total = 0;
  for (int i = 0; i < c.n; i++) {
    long n = c.b[i].writable ? cons_read((char *)c.b[i].p, c.b[i].len) : 0;
    total += n > 0 ? n : 0;
    if (n < (long)c.b[i].len && c.b[i].writable)
      break;   // nothing more waiting
  }
  vq_push(&d->q[RXQ], &d->mem, c.head, total);
  virtio_used(d, RXQ);
  return total;
}

static void notify(struct virtio_mmio *d, int queue)
{
  if (queue == TXQ)
    tx(d);
}

// Queue sizes: Linux's driver fills the receive queue one buffer and one
// notify at a time, and each buffer takes a page of input: 4 is plenty.
static const struct virtio_ops ops = {
  .device_id = 3, .features = 0, .nqueues = 2, .queue_max = {[RXQ] = 4, [TXQ] = 64}, .notify = notify,
  .config_size = sizeof config, .config = config,
};

static void line(void *ctx, int level)
{
  (void)ctx;
  apic_set_gsi(VIRTIO_CONSOLE_GSI, level);
}

// Puts the device on g's board (after apic_setup). 0, or -1 after saying why.
int virtio_console_setup(struct guest *g)
{
  con.g = g;
  con.mmio.name = "virtio-console";
  con.mmio.ops = &ops;
  con.mmio.mem.ram = g->mem;
  con.mmio.mem.size = g->hdr.memsize;
  con.mmio.irq = line;
  con.mmio.edge = 1;
  virtio_mmio_init(&con.mmio);
  struct mmio_dev dev = {"virtio-console", VIRTIO_CONSOLE_BASE, VIRTIO_MMIO_SIZE, virtio_mmio_read,
                         virtio_mmio_write, &con.mmio};
  if (mmio_add(&dev) < 0) {
    printf("vmm: %s: no room for the virtio console's registers\n", g->name);
    return -1;
  }
  con.on = 1;
  return 0;
}

// vmm's summary: what the console carried and what it cost.
void virtio_console_report(struct guest *g)
{
  if (!con.on)
    return;
  printf("%svmm: virtio-console: %lu bytes in %lu buffers, %lu notifies, %lu interrupts; status 0x%x\n",
         g->prefix, con.bytes, con.buffers, con.mmio.notifies, con.mmio.interrupts, con.mmio.status);
}
