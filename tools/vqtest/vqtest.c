// vqtest: the VMM's split virtqueue (user/vmm/virtqueue.c) on the host,
// against the rules of virtio 1.1 §2.6 written here independently.
//
//   build/vqtest [ROUNDS [SEED]]        (make vqtest)
//
// Guest RAM is a buffer with inaccessible guard pages on both sides, so a
// read or write outside it kills the test instead of passing unnoticed.
// Random rounds: a queue of random power-of-2 size at random aligned places,
// random chains of random buffers made available (several at once, the
// indices wrapping past 65535), popped and pushed back: each popped chain
// must be exactly the buffers the driver wrote, the used ring must hold the
// heads and lengths in order. Hostile cases: each bad ring or chain must stop
// the queue with a reason naming the fault (q->broken), and the queue stays
// stopped: no further pop or push touches the rings.
#define _GNU_SOURCE
#include "virtqueue.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096
#define RAM (1 << 20)

static uint8 *ram;
static struct vq_mem mem;
static int checks, failures;
static unsigned long long rng;

static unsigned rnd(void)
{
  rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
  return rng >> 33;
}

#define CHECK(cond, ...)                     \
  do {                                       \
    checks++;                                \
    if (!(cond)) {                           \
      failures++;                            \
      printf("vqtest: FAIL: " __VA_ARGS__);  \
      printf("\n");                          \
    }                                        \
  } while (0)

// RAM between two PROT_NONE pages.
static void map_ram(void)
{
  uint8 *p = mmap(NULL, RAM + 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED || mprotect(p, PAGE, PROT_NONE) || mprotect(p + PAGE + RAM, PAGE, PROT_NONE)) {
    printf("vqtest: cannot map guest RAM\n");
    exit(2);
  }
  ram = p + PAGE;
  mem.ram = ram, mem.size = RAM;
}

// The driver's side, from §2.6.5-2.6.8 (not from virtqueue.c).
static void w16(uint64 a, uint16 v) { memcpy(ram + a, &v, 2); }
static void w32(uint64 a, uint32 v) { memcpy(ram + a, &v, 4); }
static uint16 r16(uint64 a) { uint16 v; memcpy(&v, ram + a, 2); return v; }
static uint32 r32(uint64 a) { uint32 v; memcpy(&v, ram + a, 4); return v; }

static void set_desc(const struct virtq *q, uint16 i, uint64 addr, uint32 len, uint16 flags, uint16 next)
{
  uint64 d = q->desc + 16UL * i;
  memcpy(ram + d, &addr, 8);
  w32(d + 8, len);
  w16(d + 12, flags);
  w16(d + 14, next);
}

static uint16 avail_idx(const struct virtq *q) { return r16(q->avail + 2); }
static void make_avail(const struct virtq *q, uint16 head)
{
  uint16 idx = avail_idx(q);
  w16(q->avail + 4 + 2 * (idx % q->num), head);
  w16(q->avail + 2, idx + 1);
}

// A fresh queue of num entries with its parts at desc/avail/used, enabled.
static int setup(struct virtq *q, uint16 num, uint64 desc, uint64 avail, uint64 used)
{
  memset(ram, 0, RAM);
  vq_reset(q);
  q->num = num, q->desc = desc, q->avail = avail, q->used = used;
  return vq_enable(q, &mem);
}

static void setup_ok(struct virtq *q, uint16 num)
{
  int r = setup(q, num, 0x1000, 0x1000 + 16 * num, 0x2000 + 18 * num + 4 - (18 * num) % 4);
  CHECK(r == 0, "a valid queue of %u entries was refused: %s", num, q->broken ? q->broken : "?");
}

// One random round: chains made available in a batch, then popped and pushed.
static void random_round(void)
{
  struct virtq q;
  uint16 num = 1 << (rnd() % 9);   // 1 .. 256
  setup_ok(&q, num);
  // Start the indices near the wrap, as after a long run (the device takes them from the ring).
  uint16 start = 65536 - rnd() % 8;
  w16(q.avail + 2, start);
  q.last_avail = q.used_idx = start;
  w16(q.used + 2, start);
  int nchains = 0, ndesc = 0;
  uint16 heads[256];
  int lens[256];
  uint64 addrs[256][VQ_MAX_CHAIN];
  uint32 blen[256][VQ_MAX_CHAIN];
  int wr[256][VQ_MAX_CHAIN];
  while (ndesc < num && nchains < (int)num) {
    int len = 1 + rnd() % 4;
    if (len > num - ndesc)
      len = num - ndesc;
    heads[nchains] = ndesc;
    lens[nchains] = len;
    for (int k = 0; k < len; k++) {
      uint64 a = 0x40000 + rnd() % 0x80000;
      uint32 l = rnd() % 5000;
      addrs[nchains][k] = a, blen[nchains][k] = l, wr[nchains][k] = rnd() % 2;
      set_desc(&q, ndesc + k, a, l, (k + 1 < len ? VQ_DESC_F_NEXT : 0) | (wr[nchains][k] ? VQ_DESC_F_WRITE : 0),
               ndesc + k + 1);
    }
    make_avail(&q, ndesc);
    ndesc += len, nchains++;
    if (rnd() % 3 == 0)
      break;
  }
  for (int c = 0; c < nchains; c++) {
    struct vq_chain ch;
    int r = vq_pop(&q, &mem, &ch);
    CHECK(r == 1, "pop %d of %d (queue %u): got %d (%s)", c, nchains, num, r, q.broken ? q.broken : "");
    if (r != 1)
      return;
    int same = ch.head == heads[c] && ch.n == lens[c];
    for (int k = 0; same && k < ch.n; k++)
      same = ch.b[k].p == ram + addrs[c][k] && ch.b[k].len == blen[c][k] && ch.b[k].writable == wr[c][k];
    CHECK(same, "chain %d: head %u with %d buffers, the driver made head %u with %d", c, ch.head, ch.n, heads[c],
          lens[c]);
    uint32 written = rnd();
    vq_push(&q, &mem, ch.head, written);
    uint64 e = q.used + 4 + 8 * ((uint16)(start + c) % num);
    CHECK(r32(e) == heads[c] && r32(e + 4) == written && r16(q.used + 2) == (uint16)(start + c + 1),
          "used ring entry %d: id %u len %u idx %u, expected %u %u %u", c, r32(e), r32(e + 4), r16(q.used + 2),
          heads[c], written, (uint16)(start + c + 1));
  }
  struct vq_chain ch;
  CHECK(vq_pop(&q, &mem, &ch) == 0, "a pop after the last available chain found another");
}

// The queue must be stopped with a reason containing word; then stay stopped.
static void expect_broken(struct virtq *q, int r, const char *what, const char *word)
{
  CHECK(r < 0 && q->broken && strstr(q->broken, word), "%s: expected a stopped queue (\"%s\"), got %d (%s)", what,
        word, r, q->broken ? q->broken : "still working");
  struct vq_chain ch;
  uint16 used = q->ready ? r16(q->used + 2) : 0;
  CHECK(vq_pop(q, &mem, &ch) < 0 && vq_push(q, &mem, 0, 0) < 0 && (!q->ready || r16(q->used + 2) == used),
        "%s: the stopped queue still takes pops or pushes", what);
}

static void hostile_enable(void)
{
  struct virtq q;
  expect_broken(&q, setup(&q, 0, 0x1000, 0x2000, 0x3000), "queue size 0", "power of 2");
  expect_broken(&q, setup(&q, 24, 0x1000, 0x2000, 0x3000), "queue size 24", "power of 2");
  expect_broken(&q, setup(&q, 2048, 0x1000, 0x10000, 0x20000), "queue size 2048", "power of 2");
  expect_broken(&q, setup(&q, 8, 0x1008, 0x2000, 0x3000), "descriptors at 0x1008", "misaligned");
  expect_broken(&q, setup(&q, 8, 0x1000, 0x2001, 0x3000), "available ring at an odd address", "misaligned");
  expect_broken(&q, setup(&q, 8, 0x1000, 0x2000, 0x3002), "used ring at 0x3002", "misaligned");
  expect_broken(&q, setup(&q, 256, RAM - 16 * 128, 0x2000, 0x3000), "descriptor table past RAM's end", "outside");
  expect_broken(&q, setup(&q, 256, 0x1000, 0x2000, RAM - 8 * 256), "used ring past RAM's end", "outside");
  expect_broken(&q, setup(&q, 8, 0xFFFFFFFFFFFFFF80UL, 0x2000, 0x3000), "descriptors at 2^64-128 (wraps)", "outside");
  expect_broken(&q, setup(&q, 8, 0x1000, 0xFFFFFFFFFFFFFFF0UL, 0x3000), "available ring at 2^64-16", "outside");
}

// A queue of 16 set up and enabled; then one bad chain at head 0.
static void bad_chain(const char *what, const char *word, void (*build)(struct virtq *))
{
  struct virtq q;
  setup_ok(&q, 16);
  build(&q);
  struct vq_chain ch;
  expect_broken(&q, vq_pop(&q, &mem, &ch), what, word);
}

static void loop2(struct virtq *q)
{
  set_desc(q, 0, 0x8000, 10, VQ_DESC_F_NEXT, 1);
  set_desc(q, 1, 0x9000, 10, VQ_DESC_F_NEXT, 0);
  make_avail(q, 0);
}
static void loop_self(struct virtq *q)
{
  set_desc(q, 3, 0x8000, 10, VQ_DESC_F_NEXT, 3);
  make_avail(q, 3);
}
static void next_past(struct virtq *q)
{
  set_desc(q, 0, 0x8000, 10, VQ_DESC_F_NEXT, 16);
  make_avail(q, 0);
}
static void head_past(struct virtq *q) { make_avail(q, 0xFFFF); }
static void buf_past(struct virtq *q)
{
  set_desc(q, 0, RAM - 8, 16, 0, 0);
  make_avail(q, 0);
}
static void buf_huge(struct virtq *q)
{
  set_desc(q, 0, 0x8000, 0xFFFFFFFF, VQ_DESC_F_WRITE, 0);
  make_avail(q, 0);
}
static void buf_wrap(struct virtq *q)
{
  set_desc(q, 0, 0xFFFFFFFFFFFFFFF0UL, 0x20, 0, 0);
  make_avail(q, 0);
}
static void indirect(struct virtq *q)
{
  set_desc(q, 0, 0x8000, 64, VQ_DESC_F_INDIRECT, 0);
  make_avail(q, 0);
}
static void idx_jump(struct virtq *q) { w16(q->avail + 2, 17); }
static void idx_back(struct virtq *q) { w16(q->avail + 2, 0xFFFF); }

// A chain longer than VQ_MAX_CHAIN without a loop, in a queue of 256.
static void long_chain(void)
{
  struct virtq q;
  setup_ok(&q, 256);
  for (int i = 0; i <= VQ_MAX_CHAIN; i++)
    set_desc(&q, i, 0x8000, 1, VQ_DESC_F_NEXT, i + 1);
  set_desc(&q, VQ_MAX_CHAIN + 1, 0x8000, 1, 0, 0);
  make_avail(&q, 0);
  struct vq_chain ch;
  expect_broken(&q, vq_pop(&q, &mem, &ch), "a chain of VQ_MAX_CHAIN+2 descriptors", "longer than this device");
}

// The driver asks for no interrupts by the available ring's flags (§2.6.7).
static void interrupt_flag(void)
{
  struct virtq q;
  setup_ok(&q, 8);
  CHECK(vq_wants_interrupt(&q, &mem), "flags 0: the device must interrupt");
  w16(q.avail, VQ_AVAIL_F_NO_INTERRUPT);
  CHECK(!vq_wants_interrupt(&q, &mem), "flags NO_INTERRUPT: the device should not interrupt");
}

int main(int argc, char **argv)
{
  int rounds = argc > 1 ? atoi(argv[1]) : 2000;
  rng = argc > 2 ? strtoull(argv[2], NULL, 0) : 1;
  printf("vqtest: %d random rounds, seed %llu (vqtest ROUNDS SEED replays)\n", rounds, rng);
  map_ram();
  for (int i = 0; i < rounds; i++)
    random_round();
  hostile_enable();
  bad_chain("a chain of two descriptors pointing at each other", "loops", loop2);
  bad_chain("a descriptor whose next is itself", "loops", loop_self);
  bad_chain("next = 16 in a queue of 16", "past the queue", next_past);
  bad_chain("head 0xFFFF in a queue of 16", "past the queue", head_past);
  bad_chain("a buffer crossing RAM's end", "outside guest RAM", buf_past);
  bad_chain("a 4 GiB buffer", "outside guest RAM", buf_huge);
  bad_chain("a buffer whose end wraps past 2^64", "outside guest RAM", buf_wrap);
  bad_chain("an indirect descriptor", "indirect", indirect);
  bad_chain("the available index 17 ahead in a queue of 16", "ran ahead", idx_jump);
  bad_chain("the available index moved backwards", "ran ahead", idx_back);
  long_chain();
  interrupt_flag();
  printf("vqtest: %d checks, %d failures\n", checks, failures);
  return failures != 0;
}
