// File system calls: the console (fds 0, 1, 2 of init, inherited) and
// read-only files of the initrd. Files are held by value in the process
// (kern/proc.h), so a forked child has its own offsets; its threads share them.
#include "defs.h"
#include "x86.h"
#include "proc.h"
#include "errno.h"
#include "spinlock.h"
#include "../lib/string.h"

#define CHUNK 256

// The open file fd of the caller, or NULL.
static struct file *getfile(int64 fd)
{
  if (fd < 0 || fd >= NOFILE)
    return NULL;
  struct file *f = &proc_files(myproc())[fd];
  return f->type == FD_NONE ? NULL : f;
}

// Reads up to n bytes of f into user dst; returns the count.
static int64 file_read(struct file *f, uint64 dst, uint64 n)
{
  if (f->type == FD_CONSOLE)
    return consoleread(dst, n);
  // The file table is shared by threads: read the offset once, so that a
  // sibling reading the same file meanwhile cannot make us copy past its end.
  uint64 off = __atomic_load_n(&f->off, __ATOMIC_RELAXED);
  if (off > f->size)
    off = f->size;
  if (n > f->size - off)
    n = f->size - off;
  if (copyout(myproc()->pml4, dst, f->data + off, n) < 0)
    return -EFAULT;
  f->off = off + n;
  return n;
}

// read(fd, buf, n): -EBADF, -EINVAL (n < 0), -EFAULT unless all of buf is
// writable user memory.
uint64 sys_read(void)
{
  struct file *f = getfile(argint(0));
  uint64 dst = argraw(1);
  int64 n = arglong(2);
  if (!f)
    return -EBADF;
  if (n < 0)
    return -EINVAL;
  if (uvm_check(myproc()->pml4, dst, n, PTE_W) < 0)
    return -EFAULT;
  return file_read(f, dst, n);
}

// Prints n bytes of user memory at src on the console, CHUNK at a time so
// that a line from one process is not interleaved with another's.
static int64 console_write(uint64 src, uint64 n)
{
  char buf[CHUNK + 1];
  for (uint64 done = 0; done < n;) {
    uint64 k = n - done < CHUNK ? n - done : CHUNK;
    if (copyin(myproc()->pml4, buf, src + done, k) < 0)
      return done ? (int64)done : -EFAULT;
    buf[k] = 0;
    for (uint64 i = 0; i < k; i += strlen(buf + i) + 1)   // NUL bytes are dropped
      printf("%s", buf + i);
    done += k;
  }
  return n;
}

uint64 sys_write(void)
{
  struct file *f = getfile(argint(0));
  uint64 src = argraw(1);
  int64 n = arglong(2);
  if (!f)
    return -EBADF;
  if (n < 0)
    return -EINVAL;
  if (uvm_check(myproc()->pml4, src, n, 0) < 0)
    return -EFAULT;
  if (f->type != FD_CONSOLE)
    return -EBADF;   // initrd files are read-only
  return console_write(src, n);
}

// open(path): an initrd file, read-only. Returns the lowest free fd.
uint64 sys_open(void)
{
  char path[MAXPATH];
  const uint8 *data;
  uint64 size;
  int r = copyinstr(myproc()->pml4, path, argraw(0), sizeof path);
  if (r < 0)
    return r == -ERANGE ? -ENOENT : r;
  if ((r = initrd_lookup(path, &data, &size)) < 0)
    return r;
  // Threads share the table: two opens at once must not take one slot.
  static struct spinlock ftlock = {0, "ofile", 0};
  acquire(&ftlock);
  for (int fd = 0; fd < NOFILE; fd++) {
    struct file *f = &proc_files(myproc())[fd];
    if (f->type == FD_NONE) {
      *f = (struct file){FD_INITRD, data, size, 0};
      release(&ftlock);
      return fd;
    }
  }
  release(&ftlock);
  return -EMFILE;
}

uint64 sys_close(void)
{
  struct file *f = getfile(argint(0));
  if (!f)
    return -EBADF;
  f->type = FD_NONE;
  return 0;
}

// fsize(fd): the size of an initrd file; 0 for the console.
uint64 sys_fsize(void)
{
  struct file *f = getfile(argint(0));
  if (!f)
    return -EBADF;
  return f->type == FD_INITRD ? f->size : 0;
}

// readdir(i, name, n): name (truncated to n-1 characters) and size of the
// i'th initrd file; -ENOENT past the last one. All of name[0..n) must be
// writable.
uint64 sys_readdir(void)
{
  int i = argint(0);
  int64 n = arglong(2);
  char name[MAXPATH];
  uint64 size;
  if (n <= 0)
    return -EINVAL;
  if (uvm_check(myproc()->pml4, argraw(1), n, PTE_W) < 0)
    return -EFAULT;
  if (initrd_entry(i, name, sizeof name, &size) < 0)
    return -ENOENT;
  uint64 len = strlen(name) + 1;
  if (len > (uint64)n) {
    len = n;
    name[len - 1] = 0;
  }
  if (copyout(myproc()->pml4, argraw(1), name, len) < 0)
    return -EFAULT;
  return size;
}

// ---- console input ------------------------------------------------------
// A line discipline: bytes from the UART (queued by console.c's interrupt
// handler) are edited into line[] (echo, backspace) until Enter; reads
// then hand out that line. Readers sleep on rdchan under rdlock; the
// interrupt calls console_input_wakeup, which takes rdlock before waking
// them, so a byte arriving between a reader's empty check and its sleep is
// never missed. rdlock guards line[], llen, lpos and lready.
#define LINEMAX 256
static struct spinlock rdlock = {0, "consread", NULL};
static int rdchan;
static char line[LINEMAX];
static int llen, lpos, lready;

void console_input_wakeup(void)
{
  acquire(&rdlock);
  wakeup(&rdchan);
  release(&rdlock);
  vcpu_console_wakeup();   // a halted vcpu run with VM_RUN_WAKE_CONSOLE
}

// Applies input byte c to the line being edited.
static void edit(int c)
{
  if (c == '\r')
    c = '\n';
  if (c == 0x7F || c == '\b') {
    if (llen > 0) {
      llen--;
      consputc('\b'), consputc(' '), consputc('\b');
    }
    return;
  }
  if (llen == LINEMAX - 1 && c != '\n')
    return;   // full: only Enter is taken
  line[llen++] = c;
  consputc(c);
  lready = c == '\n';
}

// Waits (rdlock held) until a whole line is there; -EINTR when killed.
static int wait_line(void)
{
  while (!lready) {
    int c = console_getc_nonblock();
    if (c >= 0) {
      edit(c);
    } else if (myproc()->killed) {
      return -EINTR;
    } else {
      sleep(&rdchan, &rdlock);
    }
  }
  return 0;
}

// Reads up to n bytes of the current input line into user dst; blocks
// until a line has been entered.
int64 consoleread(uint64 dst, uint64 n)
{
  acquire(&rdlock);
  int64 r = wait_line();
  if (r == 0) {
    r = n < (uint64)(llen - lpos) ? (int64)n : llen - lpos;
    if (copyout(myproc()->pml4, dst, line + lpos, r) < 0)
      r = -EFAULT;
    else if ((lpos += r) == llen)
      llen = lpos = lready = 0;
  }
  release(&rdlock);
  return r;
}
