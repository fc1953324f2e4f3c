// Kernel console output: printf to the serial port, panic with a backtrace.
#include <stdarg.h>
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "spinlock.h"
#include "memlayout.h"
#include "../lib/fmt.h"

static struct spinlock conslock;
static struct spinlock inlock;   // console input, below
static int console_locking;     // 0 until the lock exists, and again after a panic
volatile int panicked;

void consoleinit(void)
{
  uartinit();
  initlock(&conslock, "console");
  initlock(&inlock, "consin");
  console_locking = 1;
}

void consputc(int c)
{
  if (c == '\n')
    uartputc('\r');
  uartputc(c);
}

static void printf_putc(int c, void *arg)
{
  (void)arg;
  consputc(c);
}

int vprintf(const char *fmt, va_list ap)
{
  int locking = console_locking && !panicked;
  if (locking)
    acquire(&conslock);
  int n = vfmt(printf_putc, NULL, fmt, ap);
  if (locking)
    release(&conslock);
  return n;
}

int printf(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vprintf(fmt, ap);
  va_end(ap);
  return n;
}

// Walks the frame-pointer chain from rbp, printing each return address with
// its function name. The kernel is built with -fno-omit-frame-pointer.
void backtrace(uint64 rbp)
{
  for (int depth = 0; rbp && depth < 16; depth++) {
    if (rbp < PHYSBASE || (rbp & 7))
      break;
    uint64 *frame = (uint64 *)rbp;
    uint64 ret = frame[1];
    uint64 off = 0;
    const char *name = ksym_lookup(ret, &off);
    printf("  #%d %p %s+0x%lx\n", depth, (void *)ret, name ? name : "?", off);
    rbp = frame[0];
  }
}

void _panic(const char *file, int line, const char *fmt, ...)
{
  cli();
  int id = mycpu() ? mycpu()->id : -1;
  panicked = 1;
  va_list ap;
  va_start(ap, fmt);
  printf("\npanic: cpu%d: %s:%d: ", id, file, line);
  vfmt(printf_putc, NULL, fmt, ap);
  va_end(ap);
  printf("\nbacktrace:\n");
  backtrace((uint64)__builtin_frame_address(0));
  poweroff(POWEROFF_PANIC);
}

// ---- console input ----------------------------------------------------------
// Bytes from the UART receive interrupt (uartintr) wait here until someone
// takes them with console_getc_nonblock(). Whether a reader sleeps or spins
// is the process code's choice: it can override console_input_wakeup(),
// which runs (in interrupt context, IF=0) after new bytes arrived.

#define INBUF 256
static char inbuf[INBUF];
static uint32 in_r, in_w;   // read and write counts; in_w - in_r bytes waiting

// Moves every byte the UART holds into the buffer (dropping what does not
// fit); the count. The UART is read under inlock, as console_getc_nonblock
// reads it: otherwise a reader on another CPU that finds the buffer empty
// could take the UART's next byte while the interrupt handler still holds
// the one before it, and the two would arrive swapped (seen: "echo" typed
// into a Linux guest's shell arrived as "ecoh").
int console_input_uart(void)
{
  int c, n = 0;
  acquire(&inlock);
  while ((c = uartgetc()) >= 0) {
    if (in_w - in_r < INBUF)
      inbuf[in_w++ % INBUF] = c;
    n++;
  }
  release(&inlock);
  return n;
}

// Returns the next input byte, or -1 if there is none. Also polls the UART,
// so it works with interrupts off.
int console_getc_nonblock(void)
{
  acquire(&inlock);
  int c = -1;
  if (in_w != in_r)
    c = (uint8)inbuf[in_r++ % INBUF];
  else
    c = uartgetc();
  release(&inlock);
  return c;
}

// 1 if input bytes are waiting in the buffer (cons_read, VM_RUN_WAKE_CONSOLE).
int console_input_waiting(void)
{
  acquire(&inlock);
  int n = in_w != in_r;
  release(&inlock);
  return n;
}

__attribute__((weak)) void console_input_wakeup(void) {}
