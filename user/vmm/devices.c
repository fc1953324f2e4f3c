// What the guests touch: a 16550 UART (output), the debug-exit port,
// hypercalls (CPUID: cpuid.c, MSRs: msr.c). Each returns 1 to keep running, 0 when the
// guest has ended (g->end says how).
#include "vmm.h"

void guest_fail(struct guest *g, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g->why, sizeof g->why, fmt, ap);
  va_end(ap);
  g->end = END_FAIL;
}

// Prints the buffered UART line, prefixed when several guests share the console.
void uart_flush(struct guest *g)
{
  if (!g->linelen)
    return;
  g->line[g->linelen] = 0;
  printf("%s%s", g->prefix, g->line);
  g->linelen = 0;
}

static void uart_putc(struct guest *g, int c)
{
  g->line[g->linelen++] = c;
  if (c == '\n' || g->linelen == sizeof g->line - 2) {
    if (c != '\n')
      g->line[g->linelen++] = '\n';
    uart_flush(g);
  }
}

// Guest memory at gpa for n bytes, or NULL when it is not all guest RAM.
static uint8 *gpa_ptr(struct guest *g, uint64 gpa, uint64 n)
{
  if (gpa >= g->hdr.memsize || n > g->hdr.memsize - gpa)
    return NULL;
  return g->mem + gpa;
}

// String OUTS to the UART; the guest's linear address is taken as
// guest-physical (true for real mode and the identity-mapped guests).
static int outs(struct guest *g)
{
  struct vm_exit *e = &g->e;
  uint64 n = (uint64)e->u.io.count * e->u.io.size;
  uint8 *p = gpa_ptr(g, e->u.io.gva, n);
  if (!p) {
    guest_fail(g, "OUTS from 0x%lx (%lu bytes) outside guest memory", e->u.io.gva, n);
    return 0;
  }
  if (e->u.io.port == GUEST_UART)
    for (uint64 i = 0; i < n; i += e->u.io.size)
      uart_putc(g, p[i]);
  return 1;
}

// Port I/O: UART THR (0x3F8) and LSR (0x3FD, always ready), debug exit (0xF4).
int dev_io(struct guest *g)
{
  struct vm_exit *e = &g->e;
  uint16 port = e->u.io.port;
  if (e->u.io.string)
    return e->u.io.in ? 1 : outs(g);
  if (e->u.io.in) {
    e->u.io.data = port == GUEST_UART + 5 ? 0x60 : port > GUEST_UART && port < GUEST_UART + 8 ? 0 : ~0UL;
    return 1;
  }
  if (port == GUEST_UART)
    uart_putc(g, e->u.io.data & 0xFF);
  if (port == GUEST_EXIT_PORT) {
    g->end = END_EXIT;
    g->code = e->u.io.data & 0xFF;
    return 0;
  }
  return 1;
}

// HC_RAISE: the guest asks for an event (inject and virq guests).
static long hc_raise(struct guest *g, uint64 vector, uint64 kind)
{
  struct vm_event ev = {0, vector, 0, 0};
  ev.type = kind == RAISE_INTR ? VM_EVENT_INTR : kind == RAISE_EXCEPTION ? VM_EVENT_EXCEPTION : VM_EVENT_VIRQ;
  if (kind > RAISE_VIRQ)
    return -EINVAL;
  return vcpu_inject(g->vm, g->vcpu, &ev);
}

// HC_YIELD: with -m, move this VMM (and so the vcpu) to the next CPU.
static long hc_yield(struct guest *g)
{
  if (!g->o->migrate)
    return 0;
  int next = (getcpu() + 1) % ncpu();
  int r = setcpu(next);
  if (r == 0)
    g->moves++;
  return r;
}

// Hypercalls (VMMCALL): rax = number, rbx/rcx arguments, result in rax.
int dev_hypercall(struct guest *g)
{
  struct vm_exit *e = &g->e;
  uint64 a = e->u.hypercall.rbx, b = e->u.hypercall.rcx;
  long ret = -ENOSYS;
  switch (e->u.hypercall.rax) {
  case HC_PRINT: {
    uint8 *p = gpa_ptr(g, a, b);
    if (!p)
      ret = -EFAULT;
    for (uint64 i = 0; p && i < b; i++)
      uart_putc(g, p[i]);
    ret = p ? (long)b : ret;
    break;
  }
  case HC_EXIT:
    g->end = END_EXIT;
    g->code = (int)a;
    return 0;
  case HC_ACK:
    printf("%svmm: guest ack 0x%lx\n", g->prefix, a);
    ret = 0;
    break;
  case HC_RAISE:
    ret = hc_raise(g, a, b);
    break;
  case HC_YIELD:
    ret = hc_yield(g);
    break;
  }
  e->u.hypercall.ret = ret;
  return 1;
}
