// What the guests touch besides the chips (ports.c, loop.c): the UART's
// output line buffer, hypercalls (CPUID: cpuid.c, MSRs: msr.c). Each returns
// 1 to keep running, 0 when the guest has ended (g->end says how).
#include "vmm.h"
#include "kvmpv.h"

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

void uart_putc(struct guest *g, int c)
{
  g->line[g->linelen++] = c;
  if (c == '\n' || g->linelen == sizeof g->line - 2) {
    if (c != '\n')
      g->line[g->linelen++] = '\n';
    uart_flush(g);
  }
}

// Guest memory at gpa for n bytes, or NULL when it is not all guest RAM.
uint8 *gpa_ptr(struct guest *g, uint64 gpa, uint64 n)
{
  if (gpa >= g->hdr.memsize || n > g->hdr.memsize - gpa)
    return NULL;
  return g->mem + gpa;
}

// HC_RAISE: the guest asks for an event (inject, virq and nmi guests).
static long hc_raise(struct guest *g, uint64 vector, uint64 kind)
{
  static const uint32 types[] = {
    [RAISE_INTR] = VM_EVENT_INTR, [RAISE_EXCEPTION] = VM_EVENT_EXCEPTION,
    [RAISE_VIRQ] = VM_EVENT_VIRQ, [RAISE_NMI] = VM_EVENT_NMI,
  };
  if (kind >= sizeof types / sizeof types[0])
    return -EINVAL;
  struct vm_event ev = {types[kind], kind == RAISE_NMI ? 2 : vector, 0, 0};
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
  if (kvmpv_on(g))
    return kvmpv_hypercall(g);   // KVM's numbers, not svmlab's
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
