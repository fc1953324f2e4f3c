// exec: replaces the calling process's image with an ELF64 executable
// from the initrd. The new address space is built completely before the
// old one is dropped, so a bad executable leaves the caller running and
// gets -ENOEXEC (or -ENOENT, -ENOMEM, -E2BIG).
//
// New image: PT_LOAD segments at their vaddr (>= USERBASE, below HEAPTOP),
// heap from the page after the last segment, USTACKPAGES of stack below
// USERSTACK holding the argument strings and argv[]; at entry rdi = argc,
// rsi = argv, rsp 16-byte aligned.
#include "defs.h"
#include "x86.h"
#include "proc.h"
#include "elf.h"
#include "errno.h"
#include "../lib/string.h"

// Validates the ELF header; 0 or -ENOEXEC.
static int elf_check(const uint8 *data, uint64 size)
{
  const struct elfhdr *eh = (const struct elfhdr *)data;
  if (size < sizeof *eh || memcmp(eh->ident, ELF_MAGIC, 4) != 0)
    return -ENOEXEC;
  if (eh->ident[4] != ELFCLASS64 || eh->ident[5] != ELFDATA2LSB || eh->type != ET_EXEC ||
      eh->machine != EM_X86_64 || eh->version != EV_CURRENT)
    return -ENOEXEC;
  if (eh->phentsize != sizeof(struct proghdr) || eh->phnum == 0 || eh->phoff > size ||
      (uint64)eh->phnum * sizeof(struct proghdr) > size - eh->phoff)
    return -ENOEXEC;
  return 0;
}

// Validates one PT_LOAD header against the file and the user range.
static int seg_check(const struct proghdr *ph, uint64 size)
{
  if (ph->offset > size || ph->filesz > size - ph->offset || ph->filesz > ph->memsz)
    return -ENOEXEC;
  if (ph->vaddr < USERBASE || ph->vaddr >= HEAPTOP || ph->memsz > HEAPTOP - ph->vaddr)
    return -ENOEXEC;   // below USERBASE, in the stack, or in the kernel half
  return 0;
}

// Writes len bytes to user va in pml4 whatever the page permissions (the
// pages were just mapped by load_seg).
static void poke(pte_t *pml4, uint64 va, const void *src, uint64 len)
{
  while (len > 0) {
    uint64 off = va & (PGSIZE - 1), n = PGSIZE - off < len ? PGSIZE - off : len;
    memcpy((uint8 *)P2V(PTE_ADDR(*uvm_lookup(pml4, va))) + off, src, n);
    va += n, src = (const uint8 *)src + n, len -= n;
  }
}

// Maps the pages of one segment (pages shared with another segment get the
// union of both permissions) and copies its file bytes; the rest is zero.
static int load_seg(pte_t *pml4, const struct proghdr *ph, const uint8 *data)
{
  uint64 perm = PTE_U | PTE_P | ((ph->flags & PF_W) ? PTE_W : 0);
  for (uint64 a = PGROUNDDOWN(ph->vaddr); a < ph->vaddr + ph->memsz; a += PGSIZE) {
    pte_t *pte = uvm_lookup(pml4, a);
    if (!pte || !(*pte & PTE_P)) {
      if (uvm_alloc(pml4, a, a + PGSIZE, perm | PTE_NX) < 0)
        return -ENOMEM;
      pte = uvm_lookup(pml4, a);
    }
    *pte |= perm;
    if (ph->flags & PF_X)
      *pte &= ~PTE_NX;
  }
  poke(pml4, ph->vaddr, data + ph->offset, ph->filesz);
  return 0;
}

// Loads every PT_LOAD segment; sets *brk to the page after the highest.
static int load_elf(pte_t *pml4, const uint8 *data, uint64 size, uint64 *brk)
{
  const struct elfhdr *eh = (const struct elfhdr *)data;
  *brk = USERBASE;
  for (int i = 0; i < eh->phnum; i++) {
    struct proghdr ph;
    memcpy(&ph, data + eh->phoff + i * sizeof ph, sizeof ph);
    if (ph.type != PT_LOAD || ph.memsz == 0)
      continue;
    int r = seg_check(&ph, size);
    if (r == 0)
      r = load_seg(pml4, &ph, data);
    if (r < 0)
      return r;
    if (PGROUNDUP(ph.vaddr + ph.memsz) > *brk)
      *brk = PGROUNDUP(ph.vaddr + ph.memsz);
  }
  pte_t *pte = uvm_lookup(pml4, eh->entry);
  if (!pte || !(*pte & PTE_P) || (*pte & PTE_NX))
    return -ENOEXEC;   // the entry point is not in an executable segment
  return 0;
}

// Builds the stack: argument strings at the top, then argv[] (NULL
// terminated) below them. Returns the initial rsp or 0 when too big.
static uint64 push_args(pte_t *pml4, char **argv, int argc, uint64 *uargv)
{
  uint64 sp = USERSTACK, ptrs[MAXARG + 1];
  for (int i = 0; i < argc; i++) {
    uint64 len = strlen(argv[i]) + 1;
    if (len > sp - USTACKBASE - PGSIZE)
      return 0;
    sp -= len;
    poke(pml4, sp, argv[i], len);
    ptrs[i] = sp;
  }
  ptrs[argc] = 0;
  sp = (sp - (argc + 1) * sizeof(uint64)) & ~15UL;
  poke(pml4, sp, ptrs, (argc + 1) * sizeof(uint64));
  *uargv = sp;
  return sp;
}

// Points the trapframe at the new image's entry; everything else zeroed.
static void reset_tf(struct trapframe *tf, uint64 entry, uint64 sp, int argc, uint64 uargv)
{
  memset(tf, 0, sizeof *tf);
  tf->rip = entry;
  tf->rsp = sp;
  tf->rdi = argc;
  tf->rsi = uargv;
  tf->cs = UCODE_SEL;
  tf->ss = UDATA_SEL;
  tf->rflags = FL_IF | FL_RSVD1;
  tf->trapno = T_SYSCALL;   // see interrupted_user() in proc.c
}

// The last component of path.
static const char *basename(const char *path)
{
  const char *last = path;
  for (const char *s = path; *s; s++)
    if (*s == '/')
      last = s + 1;
  return last;
}

// A new user image: address space, entry, break, initial stack.
struct image {
  pte_t *pml4;
  uint64 entry, brk, sp, uargv;
};

// Builds the image of ELF file data (size bytes) with argv on its stack.
// Returns 0, or an error with nothing left allocated.
static int build_image(const uint8 *data, uint64 size, char **argv, int argc, struct image *im)
{
  int r = elf_check(data, size);
  if (r < 0)
    return r;
  if (!(im->pml4 = pml4_new()))
    return -ENOMEM;
  im->entry = ((const struct elfhdr *)data)->entry;
  r = load_elf(im->pml4, data, size, &im->brk);
  if (r == 0)
    r = uvm_alloc(im->pml4, USTACKBASE, USERSTACK, PTE_W | PTE_NX);
  if (r == 0 && (im->sp = push_args(im->pml4, argv, argc, &im->uargv)) == 0)
    r = -E2BIG;
  if (r < 0)
    uvm_free(im->pml4);
  return r;
}

// Loads data as an executable and throws the result away: 0 if exec
// would accept it, else its error. For the loader's ktests.
int elf_try_load(const uint8 *data, uint64 size)
{
  struct image im;
  char *argv[] = {"test"};
  int r = build_image(data, size, argv, 1, &im);
  if (r == 0)
    uvm_free(im.pml4);
  return r;
}

// Replaces p's image with path, argv (kernel copies, argc <= MAXARG).
// p is the caller, or a new process (userinit). Returns 0 on success (the
// caller returns to the new image through p->tf). The VMs of the caller
// go with its old address space (their guest memory lived there).
int exec_proc(struct proc *p, const char *path, char **argv, int argc)
{
  const uint8 *data;
  uint64 size;
  struct image im;
  int r = initrd_lookup(path, &data, &size);
  if (r < 0 || (r = build_image(data, size, argv, argc, &im)) < 0)
    return r;
  if (p->pml4)
    vm_proc_exit(p->pid);
  pte_t *old = p->pml4;
  strlcpy(p->name, basename(path), sizeof p->name);
  p->pml4 = p->leader->pml4 = im.pml4;   // the only thread left (sys_exec), maybe not the first
  p->leader->heapbase = p->leader->sz = im.brk;
  reset_tf(p->tf, im.entry, im.sp, argc, im.uargv);
  if (p == myproc())
    switchuvm(p);
  vm_proc_exit(p->pid);   // the VMs were built on the old image's memory
  uvm_free(old);
  return 0;
}
