// The initrd: a ustar archive that the loader hands over as the first
// multiboot module (QEMU -initrd). kinit keeps its pages out of the
// allocator, so the files are read in place through the PHYSBASE map.
// Only regular files count; names lose a leading "./" or "/".
//
// ustar header (512-byte blocks): name[100] @0, size[12] octal @124,
// typeflag @156 ('0' or NUL = file), magic "ustar" @257, prefix[155] @345.
#include "defs.h"
#include "multiboot.h"
#include "errno.h"
#include "../lib/string.h"

#define NINITRD 512
#define TARBLOCK 512

struct initrd_file {
  char name[MAXPATH];
  const uint8 *data;
  uint64 size;
};

static struct initrd_file files[NINITRD];
static int nfiles;

// Parses an octal field of n bytes; -1 when it holds anything else.
static int64 octal(const uint8 *p, int n)
{
  int64 v = 0;
  int i = 0;
  while (i < n && p[i] == ' ')
    i++;
  for (; i < n && p[i] >= '0' && p[i] <= '7'; i++)
    v = v * 8 + (p[i] - '0');
  if (i < n && p[i] != 0 && p[i] != ' ')
    return -1;
  return v;
}

// Records the header at h (data follows it) unless it is malformed.
static void add_file(const uint8 *h, int64 size)
{
  char name[MAXPATH];
  int n = strnlen((const char *)h, 100);
  if (h[156] != '0' && h[156] != 0)
    return;   // directories, links: not files
  if (n >= MAXPATH || nfiles == NINITRD || h[345] != 0) {
    printf("initrd: skipping a file: name too long or too many files\n");
    return;
  }
  memcpy(name, h, n);
  name[n] = 0;
  const char *s = name;
  while (*s == '.' && s[1] == '/')
    s += 2;
  while (*s == '/')
    s++;
  struct initrd_file *f = &files[nfiles++];
  strlcpy(f->name, s, sizeof f->name);
  f->data = h + TARBLOCK;
  f->size = size;
}

// Indexes the archive in [start, end). Stops at the end-of-archive block or
// at the first header that is malformed or runs past the end.
static void parse(const uint8 *start, const uint8 *end)
{
  const uint8 *h = start;
  while (h + TARBLOCK <= end && h[0] != 0) {
    int64 size = octal(h + 124, 12);
    if (memcmp(h + 257, "ustar", 5) != 0 || size < 0 || (uint64)size > (uint64)(end - h - TARBLOCK)) {
      printf("initrd: bad header at offset %ld\n", (long)(h - start));
      return;
    }
    add_file(h, size);
    h += TARBLOCK + (size + TARBLOCK - 1) / TARBLOCK * TARBLOCK;
  }
}

void initrd_init(struct mb_info *mb)
{
  if (!(mb->flags & MB_INFO_MODS) || mb->mods_count == 0) {
    printf("initrd: none\n");
    return;
  }
  struct mb_module *m = P2V(mb->mods_addr);
  if (m->mod_end <= m->mod_start) {
    printf("initrd: empty module\n");
    return;
  }
  parse(P2V(m->mod_start), P2V(m->mod_end));
  printf("initrd: %d files\n", nfiles);
}

// Finds file name (with or without a leading '/'). Returns 0 and sets
// *data and *size, or -ENOENT.
int initrd_lookup(const char *name, const uint8 **data, uint64 *size)
{
  while (*name == '/')
    name++;
  for (int i = 0; i < nfiles; i++) {
    if (strcmp(files[i].name, name) == 0) {
      *data = files[i].data;
      *size = files[i].size;
      return 0;
    }
  }
  return -ENOENT;
}

// The i'th file: its name (NUL-terminated, truncated to n) and size;
// -ENOENT past the last file.
int initrd_entry(int i, char *name, int n, uint64 *size)
{
  if (i < 0 || i >= nfiles)
    return -ENOENT;
  strlcpy(name, files[i].name, n);
  *size = files[i].size;
  return 0;
}
