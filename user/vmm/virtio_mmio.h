// The virtio-mmio transport, version 2 ("modern", virtio 1.1 §4.2.2), for any
// virtio device model: the register window a driver finds through ACPI (the
// DSDT's LNRO0005 device, acpi.c), feature negotiation, the device status,
// each queue's set-up registers, QueueNotify and the interrupt line.
#pragma once
#include "virtqueue.h"

#define VIRTIO_MMIO_SIZE 0x200   // registers 0x000-0x0FF, device configuration from 0x100
#define VIRTIO_MAX_QUEUES 2

// Device status bits (§2.1).
#define VIRTIO_S_ACKNOWLEDGE 1
#define VIRTIO_S_DRIVER 2
#define VIRTIO_S_DRIVER_OK 4
#define VIRTIO_S_FEATURES_OK 8
#define VIRTIO_S_NEEDS_RESET 0x40
#define VIRTIO_S_FAILED 0x80

#define VIRTIO_F_VERSION_1 (1UL << 32)   // §6: a modern device offers it and the driver must take it

#define VIRTIO_INT_USED 1      // InterruptStatus: a used buffer (§4.2.2, "Used Buffer Notification")
#define VIRTIO_INT_CONFIG 2    // the configuration changed (or DEVICE_NEEDS_RESET was set)

struct virtio_mmio;

// What a device model gives the transport.
struct virtio_ops {
  uint32 device_id;        // 3: console (§5)
  uint64 features;         // besides VIRTIO_F_VERSION_1, which the transport adds
  int nqueues;
  uint16 queue_max[VIRTIO_MAX_QUEUES];   // QueueNumMax of each queue
  void (*notify)(struct virtio_mmio *d, int queue);   // the driver made buffers available
  uint32 config_size;      // bytes of device configuration at 0x100 (read as little-endian bytes)
  const uint8 *config;
};

struct virtio_mmio {
  const char *name;        // in messages: "virtio-console"
  const struct virtio_ops *ops;
  void *ctx;               // the device model's
  struct vq_mem mem;
  void (*irq)(void *ctx, int level);   // the interrupt line: asserted while InterruptStatus != 0
  void *irq_ctx;
  int edge;                // the pin is edge-triggered: an ACK that leaves bits set pulses the line
  uint32 status, isr;
  uint32 dev_feat_sel, drv_feat_sel, queue_sel;
  uint64 driver_features;
  struct virtq q[VIRTIO_MAX_QUEUES];
  uint64 notifies, interrupts;   // for vmm -s
};

void virtio_mmio_init(struct virtio_mmio *d);
int virtio_mmio_read(void *dev, uint64 off, void *buf, int n);    // struct mmio_dev's callbacks
int virtio_mmio_write(void *dev, uint64 off, const void *buf, int n);
void virtio_used(struct virtio_mmio *d, int queue);    // after pushes: interrupt the driver if it wants
void virtio_broken(struct virtio_mmio *d, int queue);  // a queue broke: DEVICE_NEEDS_RESET, say why once
