// Coverage-guided input generation (user/lib/guided.h).
#include "user.h"
#include "kcov.h"
#include "guided.h"

#define BUFN 4096

static uint64 xorshift(uint64 *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545F4914F6CDD1DUL;
}

static uint64 pick(struct guided *g, uint64 n) { return xorshift(&g->rng) % n; }

// Turns on both coverage sources. 0, or -1 when out of memory.
int guided_init(struct guided *g, const char *name, uint64 seed)
{
  memset(g, 0, sizeof *g);
  g->name = name;
  g->rng = seed * 0x9E3779B97F4A7C15UL + 3;
  long k = kcov(KCOV_ENABLE, 0, 0), u = ucov_enable();
  g->nk = k > 0 ? k : 0;
  g->nu = u > 0 ? u : 0;
  g->cov = malloc((g->nk + g->nu) / 8 + 1);
  g->corpus = malloc(GUIDED_MAXCORPUS * sizeof *g->corpus);
  g->buf = malloc(BUFN * sizeof *g->buf);
  if (!g->cov || !g->corpus || !g->buf)
    return -1;
  memset(g->cov, 0, (g->nk + g->nu) / 8 + 1);
  guided_done(g);   // forget what setting up reached
  g->reached_k = g->reached_u = 0;
  memset(g->cov, 0, (g->nk + g->nu) / 8 + 1);
  return 0;
}

uint64 guided_word(struct guided *g)
{
  if (g->pos < g->cur.len)
    return g->cur.w[g->pos++];
  uint64 w = xorshift(&g->rng);
  if (g->pos < GUIDED_MAXW) {
    g->cur.w[g->pos++] = w;
    g->cur.len = g->pos;
  }
  return w;
}

// One random change to the current input.
static void mutate(struct guided *g)
{
  struct ginput *in = &g->cur;
  if (in->len == 0)
    return;
  uint32 i = pick(g, in->len);
  switch (pick(g, 6)) {
  case 0: in->w[i] = xorshift(&g->rng); break;
  case 1: in->w[i] ^= 1UL << pick(g, 64); break;
  case 2: in->w[i] = pick(g, 256); break;
  case 3: in->len = i; break;                          // the rest comes fresh
  case 4: {                                            // splice another entry's tail
    struct ginput *o = &g->corpus[pick(g, g->ncorpus)];
    uint32 j = o->len ? pick(g, o->len) : 0, n = o->len - j;
    if (i + n > GUIDED_MAXW)
      n = GUIDED_MAXW - i;
    memcpy(in->w + i, o->w + j, n * sizeof in->w[0]);
    in->len = i + n;
    break;
  }
  default:                                             // insert a word: shifts later choices
    if (in->len < GUIDED_MAXW) {
      memmove(in->w + i + 1, in->w + i, (in->len - i) * sizeof in->w[0]);
      in->w[i] = xorshift(&g->rng);
      in->len++;
    }
  }
}

void guided_next(struct guided *g)
{
  g->pos = 0;
  if (g->inputs && g->inputs % 1000 == 0)
    fprintf(2, "%s: %lu inputs, %u kernel + %u own sites reached, corpus %u\n", g->name, g->inputs,
            g->reached_k, g->reached_u, g->ncorpus);
  g->inputs++;
  if (g->ncorpus == 0 || pick(g, 8) == 0) {
    g->cur.len = 0;                                    // fresh: every word from rng
    return;
  }
  g->cur = g->corpus[pick(g, g->ncorpus)];
  for (uint64 n = 1 + pick(g, 4); n > 0; n--)
    mutate(g);
}

// Marks sites [base + s] reached; how many were new.
static uint32 merge(struct guided *g, uint32 base, long n, uint32 *reached)
{
  uint32 fresh = 0;
  for (long i = 0; i < n; i++) {
    uint32 s = base + g->buf[i];
    if (s >= g->nk + g->nu || (g->cov[s / 8] & (1 << (s % 8))))
      continue;
    g->cov[s / 8] |= 1 << (s % 8);
    fresh++;
  }
  *reached += fresh;
  return fresh;
}

uint32 guided_done(struct guided *g)
{
  uint32 fresh = 0;
  long n;
  if (g->nk)
    while ((n = kcov(KCOV_COLLECT, g->buf, BUFN)) > 0) {
      fresh += merge(g, 0, n, &g->reached_k);
      if (n < BUFN)
        break;
    }
  if (g->nu)
    while ((n = ucov_collect(g->buf, BUFN)) > 0) {
      fresh += merge(g, g->nk, n, &g->reached_u);
      if (n < BUFN)
        break;
    }
  if (fresh && g->inputs) {
    uint32 slot = g->ncorpus < GUIDED_MAXCORPUS ? g->ncorpus++ : pick(g, GUIDED_MAXCORPUS);
    g->corpus[slot] = g->cur;
    g->corpus[slot].len = g->pos < g->cur.len ? g->pos : g->cur.len;   // the words it used
    g->kept++;
  }
  return fresh;
}

static uint32 permille(uint32 a, uint32 b) { return b ? (uint64)a * 1000 / b : 0; }

void guided_report(struct guided *g)
{
  uint32 pk = permille(g->reached_k, g->nk), pu = permille(g->reached_u, g->nu);
  fprintf(2, "%s: coverage: kernel %u/%u sites (%u.%u%%) vmm %u/%u sites (%u.%u%%) inputs %lu corpus %u\n",
          g->name, g->reached_k, g->nk, pk / 10, pk % 10, g->reached_u, g->nu, pu / 10, pu % 10,
          g->inputs, g->ncorpus);
}

long guided_load(struct guided *g, const char *path, void (*run)(void))
{
  int fd = open(path);
  if (fd < 0)
    return 0;
  long n = 0;
  uint32 len;
  while (read(fd, &len, 4) == 4 && len <= GUIDED_MAXW) {
    if (read(fd, g->cur.w, len * 8) != (long)len * 8)
      break;
    g->cur.len = len;
    g->pos = 0;
    g->inputs++;
    run();
    guided_done(g);
    n++;
  }
  close(fd);
  return n;
}

// The kernel sites reached, as hex bytes of the bitmap (site i: bit i % 8
// of byte i / 8): "NAME: kcov-map N HEX" for tools/kcov_files.py.
static void save_map(struct guided *g, char *line, int size)
{
  int k = snprintf(line, size, "%s: kcov-map %u ", g->name, g->nk);
  for (uint32 i = 0; i < (g->nk + 7) / 8 && k < size - 3; i++)
    k += snprintf(line + k, size - k, "%02x", g->cov[i]);
  fprintf(2, "%s\n", line);
}

void guided_save(struct guided *g)
{
  char line[64 + GUIDED_MAXW * 17];
  if (g->nk)
    save_map(g, line, sizeof line);
  for (uint32 i = 0; i < g->ncorpus; i++) {
    struct ginput *in = &g->corpus[i];
    int k = snprintf(line, sizeof line, "%s: corpus %u", g->name, in->len);
    for (uint32 j = 0; j < in->len; j++)
      k += snprintf(line + k, sizeof line - k, " %lx", in->w[j]);
    fprintf(2, "%s\n", line);
  }
}
