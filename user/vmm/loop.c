// The VMM's side of interrupts and time (kern/vmabi.h, "Interrupts,
// halting and time"). Guest time is the host's clock_ns(), so the chips stay
// in step with wall time by construction. Around every vcpu_run:
//   before: clock the chips up to now (PIT edges, RTC flags, UART timeout),
//           put the PIC's INTR output on the vcpu's line (vcpu_irq) if it
//           changed, pass the nearest chip deadline and, once the guest uses
//           the UART's receiver, ask to be woken for console input;
//   after:  if the kernel injected the line's vector (irq_acked), that was
//           the INTA cycle: the PIC moves the IRQ from IRR to ISR, and the
//           kernel has lowered the line.
// VM_EXIT_DEADLINE, _KICK and _CONSOLE need nothing else: the next "before"
// does the work. A vcpu blocked in HLT is woken by the kernel when the line
// is raised.
#include "vmm.h"
#include "kvmpv.h"
#include "virtio_console.h"

#define RTC_BASE 1767225600UL   // 2026-01-01 00:00:00 UTC: the RTC's time at clock_ns() = 0

static void uart_tx(void *ctx, int c)
{
  uart_putc(ctx, c);
}

void loop_init(struct guest *g)
{
  if (!g->board)
    g->board = &g->board0;
  board_init(g->board, uart_tx, g, RTC_BASE);
  // -t: a vcpu halted with nothing to wake it must still come back when the
  // time budget runs out, so the budget's end is a deadline too.
  uint64 t0 = guest_now();
  g->budget_end_ns = g->o->budget_ms && t0 ? t0 + (uint64)g->o->budget_ms * 1000000 : 0;
  apic_attach(g->board);
  g->irq_line = -1;
}

// Guest time now, in ns. 0 if the kernel has no clock (a stubbed lab).
uint64 guest_now(void)
{
  long t = clock_ns();
  return t > 0 ? (uint64)t : 0;
}

// Guest time for the exit being handled, read once (clock_ns is a system
// call, and an I/O exit costs only a few of them): the microseconds between
// the exit and the next entry do not matter to any chip.
static uint64 exit_now(struct guest *g)
{
  if (!g->now_valid) {
    g->now = guest_now();
    g->now_valid = 1;
  }
  return g->now;
}

// The PIC's INTR output onto the vcpu's line, when it changed. 0, or -1
// after failing the guest.
static int sync_line(struct guest *g)
{
  int v = apic_line(g->board);
  if (v == g->irq_line)
    return 0;
  int r = vcpu_irq(g->vm, g->vcpu, v);
  if (r < 0) {
    guest_fail(g, "vcpu_irq(%d): %s", v, errstr(r));
    return -1;
  }
  g->irq_line = v;
  return 0;
}

// Console input into the UART's receive FIFO (VM_EXIT_CONSOLE).
static void console_in(struct guest *g, uint64 now)
{
  char buf[UART_FIFO];
  if (virtio_console_rx_ready()) {   // vmm -v: the virtio console takes it (virtio_console.c)
    g->count[C_RXBYTES] += virtio_console_input();
    return;
  }
  int room = uart_rx_room(&g->board->uart);
  long n = room > 0 ? cons_read(buf, room) : 0;
  if (n > 0) {
    uart_receive(&g->board->uart, (uint8 *)buf, n, now);
    g->count[C_RXBYTES] += n;
  }
}

// The NMIs from the local APIC (ICR or LINT1) into the vcpu, each one: the
// kernel keeps what a CPU would (one in progress, one pending). 0, or -1
// after failing the guest.
static int send_nmi(struct guest *g)
{
  struct vm_event ev = {VM_EVENT_NMI, 2, 0, 0};
  for (int n = apic_nmi(g->board); n > 0; n--) {
    int r = vcpu_inject(g->vm, g->vcpu, &ev);
    if (r < 0) {   // the kernel holds NMIs back itself while the guest handles one
      guest_fail(g, "injecting an NMI: %s", errstr(r));
      return -1;
    }
  }
  return 0;
}

// The kernel may finish the UART's quiet traffic itself (kern/vmabi.h, "Port
// I/O the kernel finishes itself"): THR writes are queued and LSR reads
// answered while uart_quiet says neither needs the model. Only for -k guests
// (Linux, multiboot kernels), whose console output is most of their exits;
// the small guests' exit counts stay exact. -P turns it off.
static void pio_before_run(struct guest *g)
{
  uint8 lsr;
  if (!g->o->kernel || g->o->pio_exits || !uart_quiet(&g->board->uart, &lsr))
    return;
  g->e.pio.out_port = GUEST_UART;
  g->e.pio.in_port = GUEST_UART + 5;
  g->e.pio.in_value = lsr;
  g->e.run_flags |= VM_RUN_PIO_OUT | VM_RUN_PIO_IN;
}

// The writes the kernel queued during the run, in order, before the exit.
static void pio_after_run(struct guest *g)
{
  struct vm_exit *e = &g->e;
  int n = e->npio_out > VM_PIO_MAX ? VM_PIO_MAX : e->npio_out;
  for (int i = 0; i < n; i++) {
    uint32 d = e->pio_out[i].value;
    board_io(g->board, e->pio_out[i].port, 1, 0, &d, exit_now(g));
  }
  g->count[C_PIOQ] += n > 0 ? n : 0;
}

int loop_before_run(struct guest *g)
{
  struct uart *u = &g->board->uart;
  if (!g->cpuid_set && cpuid_table_setup(g) < 0)   // cpuid.c: once per vcpu
    return -1;
  if (g->e.reason == VM_EXIT_CONSOLE)
    console_in(g, exit_now(g));
  g->e.deadline_ns = 0;
  if (board_needs_clock(g->board) || g->board->apics) {   // no clock reads for guests without timers
    uint64 now = exit_now(g);
    board_advance(g->board, now);
    apic_advance(g->board, now);
    // The board's timers wake the first vcpu only; whom their interrupts
    // reach is kicked (smp.c). Each vcpu wakes for its own LAPIC timer.
    g->e.deadline_ns = g->index == 0 ? board_deadline(g->board, now) : 0;
    uint64 t = apic_deadline(g->board);
    if (t && (!g->e.deadline_ns || t < g->e.deadline_ns))
      g->e.deadline_ns = t;
  }
  uint64 b = g->budget_end_ns;
  if (b && (!g->e.deadline_ns || b < g->e.deadline_ns))
    g->e.deadline_ns = b;
  if (sync_line(g) < 0 || send_nmi(g) < 0)
    return -1;
  g->e.run_flags = (u->interactive && uart_rx_room(u) > 0) || virtio_console_rx_ready() ? VM_RUN_WAKE_CONSOLE : 0;
  if (g->o->nested)   // -N: the guest has SVM (kern/svm/nested.c)
    g->e.run_flags |= VM_RUN_NESTED;
  if (g->insn_done)   // mmio.c emulated the last exit's instruction
    g->e.run_flags |= VM_RUN_INSN_DONE;
  g->insn_done = 0;
  if (apic_cr8_to_run(g->board, &g->e.cr8))
    g->e.run_flags |= VM_RUN_SET_CR8;
  pio_before_run(g);
  kvmpv_before_run(g);   // PV EOI: arm this vcpu's flag (kvmpv.c)
  if (u->interactive && !*g->prefix)
    uart_flush(g);   // an interactive guest's echo must not wait for a newline (several guests
                     // sharing the console keep whole lines, each with its prefix)
  return 0;
}

static void after_run(struct guest *g)
{
  struct vm_exit *e = &g->e;
  g->now_valid = 0;
  pio_after_run(g);
  apic_cr8_from_exit(g->board, e->cr8);
  if (e->irq_acked < 0) {
    smp_acked(g, -1);
    return;
  }
  g->irq_line = -1;   // the kernel lowered the line when it injected
  int v = apic_intack(g->board, e->irq_acked);
  smp_acked(g, e->irq_acked);
  g->count[C_IRQ]++;
  if (v != e->irq_acked && !g->ack_mismatch++)
    printf("%svmm: INTA: the vcpu took vector 0x%x, the PIC answers 0x%x\n", g->prefix, e->irq_acked, v);
}

void loop_after_run(struct guest *g)
{
  after_run(g);
  kvmpv_after_run(g);   // PV EOI: an EOI this vcpu did in guest memory (after the INTA)
}

// One port access, to whichever chip decodes the port: the APIC board's
// (fw_cfg, ACPI PM, port 0x92) first, then the PC's (ports.c).
static void port_io(struct guest *g, uint16 port, int size, int in, uint32 *d, uint64 now)
{
  if (!apic_port_io(g->board, port, size, in, d, now))
    board_io(g->board, port, size, in, d, now);
}

// I/O exits for the board; string I/O element by element through guest
// memory (linear = guest-physical: real mode and the identity-mapped
// guests), downward from gva when the guest's DF is set. 1 to run on, 0
// when the guest ended (exit port, reset).
int loop_io(struct guest *g)
{
  struct vm_exit *e = &g->e;
  uint64 now = exit_now(g);
  int size = e->u.io.size, in = e->u.io.in;
  if (!e->u.io.string) {
    uint32 d = e->u.io.data;
    port_io(g, e->u.io.port, size, in, &d, now);
    if (in)
      e->u.io.data = d;
    return board_ended(g);
  }
  uint64 n = (uint64)e->u.io.count * size;
  uint64 lo = e->u.io.down && n ? e->u.io.gva - (n - size) : e->u.io.gva;
  uint8 *p = gpa_ptr(g, lo, n);
  if (!p) {
    guest_fail(g, "%s at 0x%lx (%lu bytes) outside guest memory", in ? "INS" : "OUTS", lo, n);
    return 0;
  }
  for (uint64 i = 0; i < n && g->board->end == BOARD_RUN; i += size) {
    uint64 at = e->u.io.down ? n - size - i : i;
    uint32 d = 0;
    memmove(&d, p + at, in ? 0 : size);
    port_io(g, e->u.io.port, size, in, &d, now);
    if (in)
      memmove(p + at, &d, size);
  }
  return board_ended(g);
}

// The board's end (exit port, reset) as the guest's end; 1 while it runs.
int board_ended(struct guest *g)
{
  if (g->board->end == BOARD_EXIT) {
    g->end = END_EXIT;
    g->code = g->board->exit_code;
  } else if (g->board->end == BOARD_POWEROFF) {
    g->end = END_POWEROFF;
  } else if (g->board->end == BOARD_RESET) {
    g->end = END_RESET;
    snprintf(g->why, sizeof g->why, "%s", g->board->reset_why);
  }
  return g->board->end == BOARD_RUN;
}
