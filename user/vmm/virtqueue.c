// The split virtqueue (virtqueue.h): checks and moves descriptors between the
// guest's available ring and its used ring. Section numbers: virtio 1.1.
#include "virtqueue.h"

#define barrier() asm volatile("" ::: "memory")   // x86 keeps stores in order (TSO): the compiler must too

// Stops the queue: why, with a number when it says which (-1: none). The
// reason stays until the driver resets the device (§2.1.2: DEVICE_NEEDS_RESET).
static int fail(struct virtq *q, const char *why, long v)
{
  int k = 0;
  while (*why && k < (int)sizeof q->why - 24)
    q->why[k++] = *why++;
  if (v >= 0) {
    char d[24];
    int n = 0;
    do
      d[n++] = '0' + v % 10;
    while ((v /= 10));
    q->why[k++] = ' ';
    while (n)
      q->why[k++] = d[--n];
  }
  q->why[k] = 0;
  q->broken = q->why;
  return -1;
}

void vq_reset(struct virtq *q)
{
  q->num = q->ready = 0;
  q->desc = q->avail = q->used = 0;
  q->last_avail = q->used_idx = 0;
  q->broken = 0;
}

// Guest RAM at gpa for n bytes, or NULL if any of it lies outside.
static uint8 *ram(const struct vq_mem *m, uint64 gpa, uint64 n)
{
  if (gpa >= m->size || n > m->size - gpa)
    return 0;
  return m->ram + gpa;
}

static uint16 get16(const uint8 *p) { return p[0] | p[1] << 8; }
static void put16(uint8 *p, uint16 v) { p[0] = v, p[1] = v >> 8; }
static void put32(uint8 *p, uint32 v) { put16(p, v), put16(p + 2, v >> 16); }

// Volatile reads: each guest field is read exactly once, where the code says.
static uint16 read16(const uint8 *p)
{
  const volatile uint8 *v = p;
  return v[0] | v[1] << 8;
}

// The three parts' sizes for num entries (§2.6: the alignment column of the table too).
static uint64 desc_size(uint16 num) { return 16UL * num; }
static uint64 avail_size(uint16 num) { return 6 + 2UL * num; }
static uint64 used_size(uint16 num) { return 6 + 8UL * num; }

// QueueReady = 1: the driver says the queue is set up (§4.2.3.2). Its size
// must be a power of 2 (§2.6), each part aligned (desc 16, avail 2, used 4)
// and inside guest RAM. The indices start from 0 (§2.6.14 after a reset).
int vq_enable(struct virtq *q, const struct vq_mem *m)
{
  q->last_avail = q->used_idx = 0;
  q->broken = 0;
  if (q->num == 0 || q->num > VQ_MAX_NUM || (q->num & (q->num - 1)))
    return fail(q, "queue size is not a power of 2 up to the maximum:", q->num);
  if (q->desc % 16 || q->avail % 2 || q->used % 4)
    return fail(q, "a ring address is misaligned (descriptors 16, available 2, used 4)", -1);
  if (!ram(m, q->desc, desc_size(q->num)) || !ram(m, q->avail, avail_size(q->num)) ||
      !ram(m, q->used, used_size(q->num)))
    return fail(q, "a ring lies outside guest RAM", -1);
  q->ready = 1;
  return 0;
}

// One descriptor, copied out of the guest's table (read once).
struct desc {
  uint64 addr;
  uint32 len;
  uint16 flags, next;
};

static void read_desc(const struct virtq *q, const struct vq_mem *m, uint16 i, struct desc *d)
{
  const volatile uint8 *p = m->ram + q->desc + 16UL * i;   // vq_enable checked the table
  uint8 b[16];
  for (int k = 0; k < 16; k++)
    b[k] = p[k];
  d->addr = 0, d->len = 0;
  for (int k = 7; k >= 0; k--)
    d->addr = d->addr << 8 | b[k];
  for (int k = 11; k >= 8; k--)
    d->len = d->len << 8 | b[k];
  d->flags = get16(b + 12);
  d->next = get16(b + 14);
}

// Follows the chain from head into c (§2.6.5). A chain longer than the
// queue must visit some descriptor twice: a loop.
static int walk(struct virtq *q, const struct vq_mem *m, uint16 head, struct vq_chain *c)
{
  c->head = head, c->n = 0;
  uint16 i = head;
  for (int steps = 0;; steps++) {
    struct desc d;
    if (i >= q->num)
      return fail(q, "a descriptor index is past the queue's end:", i);
    if (steps >= q->num)
      return fail(q, "a descriptor chain loops (longer than the queue) from head", head);
    if (steps >= VQ_MAX_CHAIN)
      return fail(q, "a descriptor chain is longer than this device takes:", VQ_MAX_CHAIN);
    read_desc(q, m, i, &d);
    if (d.flags & VQ_DESC_F_INDIRECT)
      return fail(q, "an indirect descriptor (VIRTIO_F_INDIRECT_DESC was not offered) at", i);
    uint8 *p = ram(m, d.addr, d.len);
    if (!p)
      return fail(q, "a buffer lies outside guest RAM: descriptor", i);
    c->b[c->n].p = p, c->b[c->n].len = d.len, c->b[c->n].writable = (d.flags & VQ_DESC_F_WRITE) != 0;
    c->n++;
    if (!(d.flags & VQ_DESC_F_NEXT))
      return 0;
    i = d.next;
  }
}

// Takes the next chain the driver made available (§2.6.13), if any.
int vq_pop(struct virtq *q, const struct vq_mem *m, struct vq_chain *c)
{
  if (q->broken)
    return -1;
  if (!q->ready)
    return 0;
  uint8 *avail = m->ram + q->avail;
  uint16 idx = read16(avail + 2);
  uint16 pending = idx - q->last_avail;
  if (pending == 0)
    return 0;
  if (pending > q->num)
    return fail(q, "the available index ran ahead of the device by more than the queue size:", pending);
  barrier();   // the ring entry after the index (the driver wrote them in the other order)
  uint16 head = read16(avail + 4 + 2 * (q->last_avail % q->num));
  if (walk(q, m, head, c) < 0)
    return -1;
  q->last_avail++;
  return 1;
}

// Returns chain head to the driver with len bytes written into its
// device-writable buffers (§2.6.8): the entry first, then the index.
int vq_push(struct virtq *q, const struct vq_mem *m, uint16 head, uint32 len)
{
  if (q->broken)
    return -1;
  uint8 *used = m->ram + q->used;   // vq_enable checked the ring
  uint8 *e = used + 4 + 8 * (q->used_idx % q->num);
  put32(e, head);
  put32(e + 4, len);
  barrier();
  put16(used + 2, ++q->used_idx);
  return 0;
}

// Whether the driver has made a chain available that the device has not
// taken (vq_pop checks it when it takes it).
int vq_has_avail(const struct virtq *q, const struct vq_mem *m)
{
  return q->ready && !q->broken && read16(m->ram + q->avail + 2) != q->last_avail;
}

// Without VIRTIO_F_EVENT_IDX the driver asks for no interrupt by the
// available ring's flags (§2.6.7.2); the device must interrupt otherwise,
// also for chains it pushed before the queue broke.
int vq_wants_interrupt(const struct virtq *q, const struct vq_mem *m)
{
  if (!q->ready)
    return 0;
  return !(read16(m->ram + q->avail) & VQ_AVAIL_F_NO_INTERRUPT);
}
