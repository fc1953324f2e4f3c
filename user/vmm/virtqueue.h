// A split virtqueue, the device's side (virtio 1.1 §2.6 "Split Virtqueues"),
// for any virtio device model (virtio_console.c; a block device could use it
// unchanged). The guest writes the three parts into its own RAM and tells the
// transport (virtio_mmio.c) where they are:
//   descriptor table  num x 16 bytes: addr (8), len (4), flags (2), next (2)
//   available ring    flags (2), idx (2), ring[num] (2 each), used_event (2)
//   used ring         flags (2), idx (2), ring[num] {id (4), len (4)}, avail_event (2)
// Everything there is the guest's and so hostile: every index, address and
// length is checked before it is used, each field is read once (another vcpu
// may change it meanwhile), and a guest that breaks the rules gets the queue
// stopped with a reason (q->broken) instead of an access outside its RAM.
// Depends on kern/types.h alone, so tools/vqtest runs it on the host.
#pragma once
#include "../../kern/types.h"

#define VQ_MAX_NUM 1024    // the largest QueueNumMax a device offers here
#define VQ_MAX_CHAIN 64    // buffers in one chain this device takes (longer ones stop the queue)

// Descriptor flags (§2.6.5).
#define VQ_DESC_F_NEXT 1
#define VQ_DESC_F_WRITE 2      // device-writable (else device-readable)
#define VQ_DESC_F_INDIRECT 4   // not offered (VIRTIO_F_INDIRECT_DESC): refused
#define VQ_AVAIL_F_NO_INTERRUPT 1

// Guest RAM as the device sees it: guest-physical 0 .. size.
struct vq_mem {
  uint8 *ram;
  uint64 size;
};

struct virtq {
  uint16 num;            // QueueNum: a power of 2, 1 .. VQ_MAX_NUM
  uint64 desc, avail, used;   // guest-physical addresses of the three parts
  int ready;             // QueueReady
  uint16 last_avail;     // the next available-ring entry the device takes
  uint16 used_idx;       // the used ring's idx as the device last wrote it
  const char *broken;    // why the queue stopped (the guest broke a rule), NULL while it works
  char why[96];
};

// One buffer of a chain: a pointer into guest RAM, checked to lie inside it.
struct vq_buf {
  uint8 *p;
  uint32 len;
  int writable;
};

struct vq_chain {
  uint16 head;           // the first descriptor's index: what vq_push returns to the guest
  int n;
  struct vq_buf b[VQ_MAX_CHAIN];
};

void vq_reset(struct virtq *q);
int vq_enable(struct virtq *q, const struct vq_mem *m);   // QueueReady = 1: 0, or -1 with q->broken
int vq_pop(struct virtq *q, const struct vq_mem *m, struct vq_chain *c);   // 1 a chain, 0 none, -1 broken
int vq_push(struct virtq *q, const struct vq_mem *m, uint16 head, uint32 len);   // 0, or -1 broken
int vq_has_avail(const struct virtq *q, const struct vq_mem *m);   // a chain is waiting (no checks yet)
int vq_wants_interrupt(const struct virtq *q, const struct vq_mem *m);   // after a push: notify the driver?
