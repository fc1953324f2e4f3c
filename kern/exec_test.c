// ktests of the ELF loader: a real executable from the initrd is accepted,
// and copies of it broken in one field each are refused with -ENOEXEC,
// without leaking a page. Run with "ktest=elf".
#include "defs.h"
#include "elf.h"
#include "proc.h"
#include "errno.h"
#include "ktest.h"
#include "../lib/string.h"

static const uint8 *orig;
static uint64 origsize;
static uint8 *img;   // the copy each case breaks

static struct elfhdr *eh(void) { return (struct elfhdr *)img; }

// The first PT_LOAD program header of the copy.
static struct proghdr *load0(void)
{
  for (int i = 0; i < eh()->phnum; i++) {
    struct proghdr *ph = (struct proghdr *)(img + eh()->phoff + i * sizeof *ph);
    if (ph->type == PT_LOAD)
      return ph;
  }
  panic("ktest elf: no PT_LOAD in /echo");
}

static void brk_magic(void) { img[1] = 'X'; }
static void brk_class(void) { img[4] = 1; }
static void brk_machine(void) { eh()->machine = 3; }
static void brk_type(void) { eh()->type = 3; }
static void brk_phentsize(void) { eh()->phentsize = 40; }
static void brk_phoff(void) { eh()->phoff = origsize - 8; }
static void brk_phnum(void) { eh()->phnum = 0xFFFF; }
static void brk_offset(void) { load0()->offset = origsize + 4096; }
static void brk_filesz(void) { load0()->filesz = load0()->memsz + 1; }
static void brk_kernel(void) { load0()->vaddr = KERNBASE; }
static void brk_physmap(void) { load0()->vaddr = PHYSBASE + 0x400000; }
static void brk_wrap(void) { load0()->memsz = -load0()->vaddr + 4096; }
static void brk_stack(void) { load0()->vaddr = USTACKBASE; }
static void brk_null(void) { load0()->vaddr = 0; }
static void brk_entry0(void) { eh()->entry = 0; }
static void brk_entrydata(void) { eh()->entry = USERSTACK - 8; }

static const struct {
  const char *what;
  void (*brk)(void);
} cases[] = {
  {"bad magic", brk_magic},           {"32-bit class", brk_class},
  {"machine not x86-64", brk_machine}, {"not ET_EXEC", brk_type},
  {"wrong phentsize", brk_phentsize}, {"phdrs past the end", brk_phoff},
  {"65535 phdrs", brk_phnum},         {"segment data past the end", brk_offset},
  {"filesz > memsz", brk_filesz},     {"segment in the kernel image", brk_kernel},
  {"segment in the physical map", brk_physmap}, {"segment wraps around", brk_wrap},
  {"segment on the stack", brk_stack}, {"segment at address 0", brk_null},
  {"entry at 0", brk_entry0},         {"entry not executable", brk_entrydata},
};

KTEST(elf)
{
  int r = initrd_lookup("echo", &orig, &origsize);
  KCHECK(r == 0, "initrd_lookup(\"echo\") returned %d (expected 0)", r);
  if (r < 0)
    return;
  uint64 npages = PGROUNDUP(origsize) / PGSIZE;
  img = kalloc_pages(npages, 1);
  uint64 before = kfreecount();
  r = elf_try_load(orig, origsize);
  KCHECK(r == 0, "/echo: elf_try_load returned %d (expected 0)", r);
  r = elf_try_load(orig, 40);
  KCHECK(r == -ENOEXEC, "a 40-byte file: %d (expected -ENOEXEC, %d)", r, -ENOEXEC);
  for (uint64 i = 0; i < ARRAY_SIZE(cases); i++) {
    memcpy(img, orig, origsize);
    cases[i].brk();
    r = elf_try_load(img, origsize);
    KCHECK(r == -ENOEXEC, "%s: %d (expected -ENOEXEC, %d)", cases[i].what, r, -ENOEXEC);
  }
  KCHECK(kfreecount() == before, "free pages %lu -> %lu (expected equal: no leak)", before, kfreecount());
  kfree_pages(img, npages);
}
