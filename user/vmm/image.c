// Guest images: read NAME.guest from the initrd, check its header, copy it
// into freshly allocated guest memory (format: user/guests/guest.h).
#include "vmm.h"

// Reads the whole initrd file path into a malloc'd buffer; its size or -E*.
static long read_file(const char *path, uint8 **buf)
{
  int fd = open(path);
  if (fd < 0)
    return fd;
  long n = fsize(fd);
  *buf = n > 0 ? malloc(n) : NULL;
  long got = *buf ? read(fd, *buf, n) : -ENOMEM;
  close(fd);
  if (n <= 0)
    return -ENOEXEC;
  return got == n ? n : (got < 0 ? got : -EIO);
}

// NULL when the header fits an image of n bytes, else what is wrong with it.
static const char *header_problem(const struct guest_header *h, long n)
{
  if (n < 4 || h->magic != GUEST_MAGIC)
    return "bad magic (not a svmlab guest image)";
  if (n < GUEST_HDRSIZE)
    return "truncated: shorter than the 64-byte header";
  if (h->version != GUEST_VERSION)
    return "unsupported version";
  if (h->mode > GUEST_MODE_LONG64)
    return "bad mode";
  if (h->memsize % 4096 || h->memsize == 0 || h->memsize > GUEST_MAXMEM)
    return "bad memory size (a multiple of 4 KiB, at most 16 MiB)";
  if (h->load % 4096 || h->load > h->memsize || (uint64)n > h->memsize - h->load)
    return "image does not fit in guest memory";
  if (h->entry < h->load || h->entry >= h->load + n)
    return "entry outside the image";
  if (h->mode == GUEST_MODE_REAL && h->entry >= 0x10000)
    return "real-mode entry above 64 KiB";
  if (h->mode == GUEST_MODE_LONG64 && (h->cr3 % 4096 || h->cr3 < h->load || h->cr3 >= h->load + n))
    return "long-mode page tables (cr3) outside the image";
  return NULL;
}

// Page-aligned zeroed memory for the guest (sbrk'd pages are zeroed).
static uint8 *guest_memory(uint64 size)
{
  long cur = sbrk(0);
  long pad = (4096 - cur % 4096) % 4096;
  if (sbrk(pad + size) < 0)
    return NULL;
  return (uint8 *)(cur + pad);
}

// Loads "name.guest" (or the file "name" itself) into g. 0, or -1 after
// printing why not.
int image_load(struct guest *g, const char *name)
{
  char path[64];
  uint8 *buf;
  snprintf(path, sizeof path, "%s.guest", name);
  long n = read_file(path, &buf);
  if (n == -ENOENT) {
    snprintf(path, sizeof path, "%s", name);
    n = read_file(path, &buf);
  }
  if (n < 0 && n != -ENOEXEC) {
    printf("vmm: %s: %s\n", path, errstr(n));
    return -1;
  }
  int r = image_load_buf(g, path, buf, n < 0 ? 0 : n);
  free(buf);
  return r;
}

// Checks the image in buf (n bytes, read from path) and loads it into g:
// fresh guest memory from the heap. 0, or -1 after printing why not. The
// guided fuzzer (guestfuzz l) calls this with corrupted images.
int image_load_buf(struct guest *g, const char *path, const uint8 *buf, long n)
{
  const char *bad = header_problem((const struct guest_header *)buf, n);
  if (bad) {
    printf("vmm: %s: %s\n", path, bad);
    return -1;
  }
  memmove(&g->hdr, buf, sizeof g->hdr);
  g->imagesize = n;
  if (!(g->mem = guest_memory(g->hdr.memsize))) {
    printf("vmm: %s: no memory for %lu bytes of guest RAM\n", path, g->hdr.memsize);
    return -1;
  }
  memmove(g->mem + g->hdr.load, buf, n);
  return 0;
}
