// piotest: port I/O the kernel finishes itself (kern/svm/pio.c,
// VM_RUN_PIO_OUT/_IN in kern/vmabi.h). A 32-bit guest writes 300 bytes to
// one port, reads another, does a 16-bit OUT and halts; the checks:
//   - with VM_RUN_PIO_OUT every byte arrives, in order, most in pio_out[]
//     and the rest (when pio_out[] is full) as ordinary I/O exits;
//   - with VM_RUN_PIO_IN the read returns the value given, without an exit;
//   - a 16-bit OUT to the same port still exits;
//   - without the flags every OUT exits (nothing queued);
//   - a vcpu that halts (IF=1) with writes queued returns VM_EXIT_PIO first,
//     still halted, and then sleeps until its deadline;
//   - unknown run flags are refused;
//   - a single-stepped OUT (TF) is followed by its #DB trap, finished in the
//     kernel or by user space.
// Ends with "piotest: N checks, N failed"; exit status 0 iff none failed.
#include "hv.h"

#define RAM (64 * 1024)
#define CODE 0x1000
#define DATA 0x2000
#define PORT 0x3F8
#define INPORT 0x3FD
#define NOUT 300

static int checks, failed;

static void check(int ok, const char *what, long a, long b)
{
  checks++;
  failed += !ok;
  printf("piotest: %s: ", ok ? "ok" : "FAIL");
  printf(what, a, b);
  printf("\n");
}

// The guest: out %al,(%dx) for al = 0..NOUT-1 (low byte), in from INPORT
// into DATA, a 16-bit OUT, then with sti one more byte ('A') and `sti`, and hlt.
static void code(uint8 *m, int sti)
{
  static const uint8 body[] = {
    0xBA, PORT & 0xFF, PORT >> 8, 0, 0,       // mov $PORT, %edx
    0x31, 0xC9,                               // xor %ecx, %ecx
    0x88, 0xC8,                               // 1: mov %cl, %al
    0xEE,                                     // out %al, (%dx)
    0x41,                                     // inc %ecx
    0x81, 0xF9, NOUT & 0xFF, NOUT >> 8, 0, 0, // cmp $NOUT, %ecx
    0x75, 0xF4,                               // jne 1b
    0xBA, INPORT & 0xFF, INPORT >> 8, 0, 0,   // mov $INPORT, %edx
    0xEC,                                     // in (%dx), %al
    0xA2, DATA & 0xFF, DATA >> 8, 0, 0,       // mov %al, DATA
    0xBA, PORT & 0xFF, PORT >> 8, 0, 0,       // mov $PORT, %edx
    0x66, 0xEF,                               // out %ax, (%dx)
  };
  memcpy(m + CODE, body, sizeof body);
  uint8 *p = m + CODE + sizeof body;
  if (sti)
    *p++ = 0xB0, *p++ = 'A', *p++ = 0xEE, *p++ = 0xFB;   // mov $'A', %al; out %al, (%dx); sti
  *p++ = 0xF4;
}

struct tally {
  int got[NOUT + 1], n;   // the bytes written to PORT, in arrival order
  int io_exits, in_exits, wide, pio_exits, hlt;
  int intr;   // runs a host tick ended (they return the queue too)
  int late;   // bytes returned with the final HLT or deadline exit
};

static void take(struct tally *t, int v)
{
  if (t->n <= NOUT)
    t->got[t->n++] = v;
}

// Runs the guest with flags to its HLT; what arrived, and how.
static int run(struct hv *h, uint32 flags, struct tally *t)
{
  memset(t, 0, sizeof *t);
  for (int i = 0; i < 10 * NOUT; i++) {
    h->e.run_flags = flags;
    h->e.pio.out_port = PORT, h->e.pio.in_port = INPORT, h->e.pio.in_value = 0x5A;
    h->e.deadline_ns = clock_ns() + 200 * 1000000L;
    int r = hv_run(h);
    if (r < 0)
      return r;
    for (int k = 0; k < h->e.npio_out && k < VM_PIO_MAX; k++)
      take(t, h->e.pio_out[k].value | (h->e.pio_out[k].port == PORT ? 0 : 0x1000));
    struct vm_exit *e = &h->e;
    if (e->reason == VM_EXIT_IO && e->u.io.port == PORT && e->u.io.size == 1)
      t->io_exits++, take(t, e->u.io.data & 0xFF);
    else if (e->reason == VM_EXIT_IO && e->u.io.port == PORT)
      t->wide++;
    else if (e->reason == VM_EXIT_IO && e->u.io.port == INPORT)
      t->in_exits++, e->u.io.data = 0x5A;
    else if (e->reason == VM_EXIT_PIO)
      t->pio_exits++;
    else if (e->reason == VM_EXIT_INTR)   // a host tick ended the run (with queued writes)
      t->intr++;
    else if (e->reason == VM_EXIT_HLT || e->reason == VM_EXIT_DEADLINE) {
      t->late = h->e.npio_out;
      return t->hlt = e->reason == VM_EXIT_HLT ? 1 : 2;
    }
    else
      return -1000 - (int)e->reason;
  }
  return -1;
}

// The NOUT bytes arrived in order (then `extra` more bytes).
static int in_order(struct tally *t, int extra)
{
  for (int i = 0; i < NOUT; i++)
    if (i >= t->n || t->got[i] != (i & 0xFF))
      return 0;
  return t->n == NOUT + extra;
}

static void test_queued(void)
{
  struct hv h;
  struct tally t;
  if (hv_new(&h, RAM, VM_MODE_PROT32) < 0 || hv_setrip(&h, CODE, RAM - 16) < 0) {
    check(0, "a prot32 VM (%ld)", 0, 0);
    return;
  }
  code(h.mem, 0);
  int r = run(&h, VM_RUN_PIO_OUT | VM_RUN_PIO_IN, &t);
  check(r == 1, "queued: the guest reaches its HLT (%ld)", r, 0);
  check(in_order(&t, 0), "queued: all %ld bytes arrive in order (%ld)", NOUT, t.n);
  check(t.io_exits <= NOUT / VM_PIO_MAX, "queued: %ld of the byte OUTs exited (pio_out[] holds %ld)", t.io_exits,
        VM_PIO_MAX);
  check(t.in_exits == 0 && h.mem[DATA] == 0x5A, "queued: the IN read 0x%lx without an exit (%ld exits)",
        h.mem[DATA], t.in_exits);
  check(t.wide == 1, "queued: the 16-bit OUT exited (%ld)", t.wide, 0);
  hv_free(&h);
  if (hv_new(&h, RAM, VM_MODE_PROT32) < 0 || hv_setrip(&h, CODE, RAM - 16) < 0)
    return;
  code(h.mem, 0);
  r = run(&h, 0, &t);
  check(r == 1 && in_order(&t, 0) && t.io_exits == NOUT && t.in_exits == 1,
        "no flags: every OUT exits (%ld of 300), and the IN (%ld)", t.io_exits, t.in_exits);
  hv_free(&h);
}

// IF=1 and HLT with bytes queued: VM_EXIT_PIO with them, then the sleep.
static void test_halt(void)
{
  struct hv h;
  struct tally t;
  if (hv_new(&h, RAM, VM_MODE_PROT32) < 0 || hv_setrip(&h, CODE, RAM - 16) < 0)
    return;
  code(h.mem, 1);
  int r = run(&h, VM_RUN_PIO_OUT | VM_RUN_PIO_IN, &t);
  // The queue comes back before the sleep: by one VM_EXIT_PIO at the HLT, or
  // (on a loaded host) by a host tick that ended a run just before it. A
  // kernel that sleeps with the queue returns it only at the deadline.
  check(r == 2 && t.late == 0 && (t.pio_exits == 1 || (t.pio_exits == 0 && t.intr > 0)),
        "halt: the queue returned before the sleep (by %ld VM_EXIT_PIO), none at the deadline (%ld)",
        t.pio_exits, t.late);
  check(in_order(&t, 1) && t.got[NOUT] == 'A', "halt: all %ld bytes and the last one arrive in order (%ld)",
        NOUT + 1, t.n);
  check(h.e.halted == 1, "halt: still halted at the deadline (%ld)", h.e.halted, 0);
  h.e.run_flags = 0x100;
  check(vcpu_run(h.vm, h.vcpu, &h.e) == -EINVAL, "an unknown run flag is refused", 0, 0);
  hv_free(&h);
}

// Single-step over an OUT (APM Vol. 2 §8.2.2): a real-mode guest sets TF
// with POPF and writes one byte; the #DB trap must follow the OUT whether the
// kernel finishes it (VM_RUN_PIO_OUT) or user space does. Vector 1's handler
// reads DR6 into EAX and halts (IF=0: VM_EXIT_HLT); its frame's IP must be
// the instruction after the OUT, and DR6.BS set (kern/svm/step.c).
#define STEP_CODE 0x3000
#define STEP_AFTER (STEP_CODE + 13)
#define STEP_DB 0x3100
static void test_step(uint32 flags, const char *how)
{
  static const uint8 body[] = {
    0x9C, 0x58, 0x0D, 0x00, 0x01, 0x50,   // pushf; pop ax; or ax, TF; push ax
    0xB0, 0x41, 0xBA, PORT & 0xFF, PORT >> 8,   // mov al, 'A'; mov dx, PORT
    0x9D, 0xEE,                           // popf; out dx, al
    0xF4,                                 // STEP_AFTER: hlt (where a missing #DB ends)
  };
  static const uint8 db[] = {0x0F, 0x21, 0xF0, 0xF4};   // mov eax, dr6; hlt
  struct hv h;
  if (hv_new(&h, RAM, VM_MODE_REAL) < 0 || hv_setrip(&h, STEP_CODE, RAM - 16) < 0)
    return;
  memcpy(h.mem + STEP_CODE, body, sizeof body);
  memcpy(h.mem + STEP_DB, db, sizeof db);
  h.mem[4] = STEP_DB & 0xFF, h.mem[5] = STEP_DB >> 8, h.mem[6] = h.mem[7] = 0;   // IVT[1] = 0:STEP_DB
  int outs = 0, r = 0;
  for (int i = 0; i < 100 && r >= 0; i++) {
    h.e.run_flags = flags;
    h.e.pio.out_port = PORT;
    h.e.deadline_ns = clock_ns() + 2000 * 1000000L;   // a safety net only: a loaded host may stall 200 ms
    r = hv_run(&h);
    outs += h.e.npio_out + (h.e.reason == VM_EXIT_IO);
    // A host tick may end any run (VM_EXIT_INTR, with the queue): go on.
    if (r < 0 || (h.e.reason != VM_EXIT_IO && h.e.reason != VM_EXIT_INTR))
      break;
  }
  struct vm_regs regs;
  vcpu_getregs(h.vm, h.vcpu, &regs);
  uint16 ip = h.mem[regs.rsp & 0xFFFF] | h.mem[(regs.rsp + 1) & 0xFFFF] << 8;
  check(r >= 0 && h.e.reason == VM_EXIT_HLT && h.e.rip == STEP_DB + 3 && outs == 1,
        how, h.e.rip, outs);
  if (h.e.reason != VM_EXIT_HLT)
    printf("piotest: step: the run ended with exit reason %u (vcpu_run %d)\n", h.e.reason, r);
  check(ip == STEP_AFTER && (regs.rax & (1 << 14)), "step: the #DB's IP is 0x%lx (the OUT's end), DR6 0x%lx has BS",
        ip, regs.rax);
  hv_free(&h);
}

int main(void)
{
  test_queued();
  test_halt();
  test_step(VM_RUN_PIO_OUT, "step: TF over an OUT the kernel queued: #DB, the handler's HLT at 0x%lx (1 OUT: %ld)");
  test_step(0, "step: TF over an OUT user space finished: #DB, the handler's HLT at 0x%lx (1 OUT: %ld)");
  printf("piotest: %d checks, %d failed\n", checks, failed);
  return failed ? 1 : 0;
}
