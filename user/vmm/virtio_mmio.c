// The virtio-mmio transport (virtio_mmio.h), version 2 of the register
// layout (virtio 1.1 §4.2.2 "MMIO Device Register Layout"). Version 2, not
// the legacy version 1: its queues are three addresses the driver chooses
// (QueueDesc/QueueDriver/QueueDevice) rather than one page-aligned block
// with a guest page size, so there is no layout arithmetic to get wrong,
// and it is what a virtio 1.x driver (Linux's virtio_mmio.c) prefers.
// The driver reads and writes the registers with 32-bit accesses only
// (§4.2.2.2); the device configuration at 0x100 in any width.
#include "vmm.h"
#include "virtio_mmio.h"

enum {
  R_MAGIC = 0x000, R_VERSION = 0x004, R_DEVICE_ID = 0x008, R_VENDOR_ID = 0x00C,
  R_DEV_FEATURES = 0x010, R_DEV_FEATURES_SEL = 0x014, R_DRV_FEATURES = 0x020, R_DRV_FEATURES_SEL = 0x024,
  R_QUEUE_SEL = 0x030, R_QUEUE_NUM_MAX = 0x034, R_QUEUE_NUM = 0x038, R_QUEUE_READY = 0x044,
  R_QUEUE_NOTIFY = 0x050, R_INT_STATUS = 0x060, R_INT_ACK = 0x064, R_STATUS = 0x070,
  R_QUEUE_DESC_LO = 0x080, R_QUEUE_DESC_HI = 0x084, R_QUEUE_DRIVER_LO = 0x090, R_QUEUE_DRIVER_HI = 0x094,
  R_QUEUE_DEVICE_LO = 0x0A0, R_QUEUE_DEVICE_HI = 0x0A4, R_CONFIG_GEN = 0x0FC, R_CONFIG = 0x100,
};

#define MAGIC 0x74726976     // "virt"
#define VENDOR 0x4C4D5653    // "SVML": any value; the driver matches on DeviceID

static void set_line(struct virtio_mmio *d)
{
  if (d->irq)
    d->irq(d->irq_ctx, d->isr != 0);
}

// Status 0: everything back to its state at power-on (§4.2.3.1), the line low.
static void reset(struct virtio_mmio *d)
{
  d->status = d->isr = 0;
  d->dev_feat_sel = d->drv_feat_sel = d->queue_sel = 0;
  d->driver_features = 0;
  for (int i = 0; i < VIRTIO_MAX_QUEUES; i++)
    vq_reset(&d->q[i]);
  set_line(d);
}

void virtio_mmio_init(struct virtio_mmio *d) { reset(d); }

static uint64 device_features(const struct virtio_mmio *d) { return d->ops->features | VIRTIO_F_VERSION_1; }

// The selected queue, NULL when QueueSel names none.
static struct virtq *selq(struct virtio_mmio *d)
{
  return d->queue_sel < (uint32)d->ops->nqueues ? &d->q[d->queue_sel] : NULL;
}

static uint32 read_reg(struct virtio_mmio *d, uint64 off)
{
  struct virtq *q = selq(d);
  switch (off) {
  case R_MAGIC: return MAGIC;
  case R_VERSION: return 2;
  case R_DEVICE_ID: return d->ops->device_id;
  case R_VENDOR_ID: return VENDOR;
  case R_DEV_FEATURES: return d->dev_feat_sel < 2 ? (uint32)(device_features(d) >> (32 * d->dev_feat_sel)) : 0;
  case R_QUEUE_NUM_MAX: return q ? d->ops->queue_max[d->queue_sel] : 0;   // 0: no such queue (§4.2.3.2)
  case R_QUEUE_READY: return q ? q->ready : 0;
  case R_INT_STATUS: return d->isr;
  case R_STATUS: return d->status;
  case R_CONFIG_GEN: return 0;   // the configuration never changes
  }
  return 0;   // write-only and reserved registers
}

// Low or high half of a 64-bit queue address.
static void set_half(uint64 *a, int high, uint32 v)
{
  *a = high ? (*a & 0xFFFFFFFFUL) | (uint64)v << 32 : (*a & ~0xFFFFFFFFUL) | v;
}

// Queue set-up registers: only while the queue is not ready, so that the
// rings vq_enable checked cannot move afterwards.
static void write_queue(struct virtio_mmio *d, struct virtq *q, uint64 off, uint32 v)
{
  if (off == R_QUEUE_READY) {
    if (!v)
      q->ready = 0;
    else if (!q->ready && vq_enable(q, &d->mem) < 0)
      virtio_broken(d, q - d->q);
    return;
  }
  if (q->ready)
    return;
  if (off == R_QUEUE_NUM)   // vq_enable refuses a bad size
    q->num = v > d->ops->queue_max[q - d->q] ? 0 : v;
  else if (off == R_QUEUE_DESC_LO || off == R_QUEUE_DESC_HI)
    set_half(&q->desc, off == R_QUEUE_DESC_HI, v);
  else if (off == R_QUEUE_DRIVER_LO || off == R_QUEUE_DRIVER_HI)
    set_half(&q->avail, off == R_QUEUE_DRIVER_HI, v);
  else if (off == R_QUEUE_DEVICE_LO || off == R_QUEUE_DEVICE_HI)
    set_half(&q->used, off == R_QUEUE_DEVICE_HI, v);
}

// Status writes (§3.1.1): 0 resets; FEATURES_OK stays set only if the driver
// took VIRTIO_F_VERSION_1 and nothing the device did not offer.
static void write_status(struct virtio_mmio *d, uint32 v)
{
  if (v == 0) {
    reset(d);
    return;
  }
  uint64 f = d->driver_features;
  if ((v & VIRTIO_S_FEATURES_OK) && ((f & ~device_features(d)) || !(f & VIRTIO_F_VERSION_1)))
    v &= ~VIRTIO_S_FEATURES_OK;
  d->status = (v & 0xFF) | (d->status & VIRTIO_S_NEEDS_RESET);
}

static void write_reg(struct virtio_mmio *d, uint64 off, uint32 v)
{
  struct virtq *q = selq(d);
  switch (off) {
  case R_DEV_FEATURES_SEL: d->dev_feat_sel = v; return;
  case R_DRV_FEATURES_SEL: d->drv_feat_sel = v; return;
  case R_DRV_FEATURES:
    if (d->drv_feat_sel < 2)
      set_half(&d->driver_features, d->drv_feat_sel, v);
    return;
  case R_QUEUE_SEL: d->queue_sel = v; return;
  case R_QUEUE_NOTIFY:
    d->notifies++;
    if (v < (uint32)d->ops->nqueues && d->q[v].ready)
      d->ops->notify(d, v);
    return;
  case R_INT_ACK:
    d->isr &= ~v;
    if (d->edge && d->isr && d->irq)   // bits the driver has not seen yet: a new edge for them
      d->irq(d->irq_ctx, 0);
    set_line(d);
    return;
  case R_STATUS: write_status(d, v); return;
  }
  if (q)
    write_queue(d, q, off, v);
}

int virtio_mmio_read(void *dev, uint64 off, void *buf, int n)
{
  struct virtio_mmio *d = dev;
  if (off >= R_CONFIG) {   // the device configuration: bytes, zero past its end
    for (int i = 0; i < n; i++)
      ((uint8 *)buf)[i] = off - R_CONFIG + i < d->ops->config_size ? d->ops->config[off - R_CONFIG + i] : 0;
    return 0;
  }
  if (n != 4 || off % 4)
    return -1;   // §4.2.2.2: 32-bit registers take 32-bit accesses only; the guest ends with a report
  uint32 v = read_reg(d, off);
  memmove(buf, &v, 4);
  return 0;
}

int virtio_mmio_write(void *dev, uint64 off, const void *buf, int n)
{
  struct virtio_mmio *d = dev;
  if (off >= R_CONFIG)
    return 0;   // nothing in the configuration the driver may write is offered
  if (n != 4 || off % 4)
    return -1;
  uint32 v;
  memmove(&v, buf, 4);
  write_reg(d, off, v);
  return 0;
}

// Used buffers went back on queue: the used-buffer interrupt, unless the
// driver asked for none (or the device already needs a reset).
void virtio_used(struct virtio_mmio *d, int queue)
{
  if (!vq_wants_interrupt(&d->q[queue], &d->mem))
    return;
  d->isr |= VIRTIO_INT_USED;
  d->interrupts++;
  set_line(d);
}

// The guest broke a queue's rules: the device stops using it, sets
// DEVICE_NEEDS_RESET and, once the driver is running, raises the
// configuration-change interrupt (§2.1.2). The VMM says why, once per reset.
void virtio_broken(struct virtio_mmio *d, int queue)
{
  if (d->status & VIRTIO_S_NEEDS_RESET)
    return;
  printf("vmm: %s: queue %d: %s; the device needs a reset\n", d->name, queue, d->q[queue].broken);
  d->status |= VIRTIO_S_NEEDS_RESET;
  if (d->status & VIRTIO_S_DRIVER_OK) {
    d->isr |= VIRTIO_INT_CONFIG;
    set_line(d);
  }
}
