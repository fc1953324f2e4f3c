// The virtio console as `vmm -v` offers it (user/vmm/virtio_console.c,
// virtio_mmio.c, virtqueue.c), driven by hand: the rules of virtio 1.1
// (§4.2.2 the MMIO registers, §3.1.1 feature negotiation, §2.6 split
// virtqueues, §2.1.2 DEVICE_NEEDS_RESET) written here, not taken from the
// VMM. A good chain must come back used and its bytes reach the console;
// hostile queues (a descriptor loop, a buffer outside RAM, a size that is
// not a power of 2, an available index far ahead) must each set
// DEVICE_NEEDS_RESET without using anything, and a reset must clear it.
// Prints one line per failure and "virtio: N checks, M failed"; exit code M.
// Run: vmm -v -M 128 -k pv-virtio.bin (the grader: lab firmware, virtio_guest).
#include "rt.h"

const char kernel_name[] = "virtio";

#define BASE 0xFEB00000UL
enum {
  MAGIC = 0x000, VERSION = 0x004, DEVICE_ID = 0x008, DEV_FEAT = 0x010, DEV_FEAT_SEL = 0x014,
  DRV_FEAT = 0x020, DRV_FEAT_SEL = 0x024, QSEL = 0x030, QNUM_MAX = 0x034, QNUM = 0x038, QREADY = 0x044,
  QNOTIFY = 0x050, ISR = 0x060, ISR_ACK = 0x064, STATUS = 0x070, QDESC = 0x080, QDRIVER = 0x090,
  QDEVICE = 0x0A0,
};
#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40
#define F_NEXT 1
#define TXQ 1
#define NUM 8

static int nchecks, nfailed;

static void check(int ok, const char *name, const char *fmt, u64 a, u64 b)
{
  char buf[160];
  nchecks++;
  if (ok)
    return;
  nfailed++;
  snprintf(buf, sizeof buf, fmt, a, b);
  out("FAIL", "%s: %s", name, buf);
}

static u32 rd(u32 off) { return *(volatile u32 *)(BASE + off); }
static void wr(u32 off, u32 v) { *(volatile u32 *)(BASE + off) = v; }

struct desc {
  u64 addr;
  u32 len;
  u16 flags, next;
};
static struct desc desc[NUM] __attribute__((aligned(16)));
static struct { u16 flags, idx, ring[NUM], used_event; } avail __attribute__((aligned(2)));
static volatile struct { u16 flags, idx; struct { u32 id, len; } ring[NUM]; u16 avail_event; } used
    __attribute__((aligned(4)));

static void wr64(u32 off, u64 v)
{
  wr(off, (u32)v);
  wr(off + 4, v >> 32);
}

// Reset, negotiate VIRTIO_F_VERSION_1 and set up the transmit queue with num entries.
static void bring_up(u32 num)
{
  wr(STATUS, 0);
  for (int i = 0; i < NUM; i++)
    desc[i] = (struct desc){0, 0, 0, 0};
  avail.flags = avail.idx = 0;
  used.idx = 0;
  wr(STATUS, S_ACK | S_DRIVER);
  wr(DRV_FEAT_SEL, 1), wr(DRV_FEAT, 1);   // bit 32: VIRTIO_F_VERSION_1
  wr(DRV_FEAT_SEL, 0), wr(DRV_FEAT, 0);
  wr(STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
  wr(QSEL, TXQ);
  wr(QNUM, num);
  wr64(QDESC, (u64)desc), wr64(QDRIVER, (u64)&avail), wr64(QDEVICE, (u64)&used);
  wr(QREADY, 1);
  wr(STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
}

static void make_avail(u16 head)
{
  avail.ring[avail.idx % NUM] = head;
  barrier();
  avail.idx++;
}

static void identity(void)
{
  check(rd(MAGIC) == 0x74726976, "magic", "MagicValue 0x%lx, not \"virt\" (%lx)", rd(MAGIC), 0x74726976);
  check(rd(VERSION) == 2, "version", "Version %lu, not 2 (modern virtio-mmio)", rd(VERSION), 0);
  check(rd(DEVICE_ID) == 3, "device_id", "DeviceID %lu, not 3 (console)", rd(DEVICE_ID), 0);
  wr(DEV_FEAT_SEL, 1);
  u32 hi = rd(DEV_FEAT);
  wr(DEV_FEAT_SEL, 0);
  u32 lo = rd(DEV_FEAT);
  check(hi & 1, "version_1", "features 63..32 = 0x%lx: VIRTIO_F_VERSION_1 (bit 32) missing", hi, 0);
  check(!(lo & 2), "no_multiport", "features 31..0 = 0x%lx offer VIRTIO_CONSOLE_F_MULTIPORT (bit 1)", lo, 0);
  // §3.1.1: a modern device refuses FEATURES_OK without VERSION_1.
  wr(STATUS, 0);
  wr(STATUS, S_ACK | S_DRIVER);
  wr(DRV_FEAT_SEL, 1), wr(DRV_FEAT, 0);
  wr(STATUS, S_ACK | S_DRIVER | S_FEATURES_OK);
  check(!(rd(STATUS) & S_FEATURES_OK), "features_ok", "FEATURES_OK kept without VERSION_1: status 0x%lx",
        rd(STATUS), 0);
}

// Two chained buffers: their bytes on the console, the head in the used ring.
static void good_chain(void)
{
  static const char a[] = "virtio.console: hello ", b[] = "through the transmit queue\n";
  bring_up(NUM);
  check(rd(QNUM_MAX) >= NUM, "num_max", "QueueNumMax %lu < %lu", rd(QNUM_MAX), NUM);
  check(rd(QREADY) == 1, "ready", "QueueReady reads %lu after writing 1", rd(QREADY), 0);
  desc[2] = (struct desc){(u64)a, sizeof a - 1, F_NEXT, 5};
  desc[5] = (struct desc){(u64)b, sizeof b - 1, 0, 0};
  make_avail(2);
  wr(QNOTIFY, TXQ);
  check(used.idx == 1 && used.ring[0].id == 2, "used", "used idx %lu, first id %lu (expected 1, 2)", used.idx,
        used.ring[0].id);
  check(rd(ISR) & 1, "isr", "InterruptStatus 0x%lx: no used-buffer bit", rd(ISR), 0);
  wr(ISR_ACK, rd(ISR));
  check(rd(ISR) == 0, "isr_ack", "InterruptStatus 0x%lx after the ACK", rd(ISR), 0);
  check(!(rd(STATUS) & S_NEEDS_RESET), "good_status", "status 0x%lx after a good chain", rd(STATUS), 0);
}

// After a hostile request: DEVICE_NEEDS_RESET, nothing used; then a reset clears it all.
static void expect_needs_reset(const char *name, u16 used_before)
{
  check(rd(STATUS) & S_NEEDS_RESET, name, "status 0x%lx: DEVICE_NEEDS_RESET (0x40) not set", rd(STATUS), 0);
  check(used.idx == used_before, name, "used idx moved from %lu to %lu", used_before, used.idx);
  wr(STATUS, 0);
  wr(QSEL, TXQ);
  check(rd(STATUS) == 0 && rd(ISR) == 0 && rd(QREADY) == 0, name, "after a reset: status 0x%lx, QueueReady ",
        rd(STATUS), rd(QREADY));
}

static void hostile(void)
{
  bring_up(NUM);   // a loop: 1 -> 3 -> 1
  desc[1] = (struct desc){(u64)desc, 4, F_NEXT, 3};
  desc[3] = (struct desc){(u64)desc, 4, F_NEXT, 1};
  make_avail(1);
  wr(QNOTIFY, TXQ);
  expect_needs_reset("loop", 0);

  bring_up(NUM);   // a buffer far outside the guest's 128 MiB
  desc[0] = (struct desc){0x7FFFFFFF000UL, 64, 0, 0};
  make_avail(0);
  wr(QNOTIFY, TXQ);
  expect_needs_reset("outside_ram", 0);

  bring_up(3);     // QueueNum 3: not a power of 2
  expect_needs_reset("num3", 0);

  bring_up(NUM);   // the available index 200 ahead of a queue of 8
  avail.idx = 200;
  wr(QNOTIFY, TXQ);
  expect_needs_reset("runaway_idx", 0);
}

void kmain(void)
{
  identity();
  good_chain();
  hostile();
  good_chain();    // the device works again after the resets
  out("result", "%d checks, %d failed", nchecks, nfailed);
  exit(nfailed);
}
