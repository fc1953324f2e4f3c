// irqtest: the lab 5 kernel mechanism seen from user space, on small
// real-mode guests written here byte by byte: interrupts from the line
// (vcpu_irq) counted exactly, HLT blocking, deadlines, kicks.
//   irqtest count N      N interrupts, one per EOI (out 0x20): exact count, rate
//   irqtest deadline N   N runs of a halted guest with a 2 ms deadline: error
// Prints "irqtest: ok: ..." / "irqtest: FAIL: ..." lines; exit 0 iff all ok.
#include "user.h"
#include "vm.h"

#define MEM (64 * 1024)
#define VEC 0x20
#define COUNTER 0x600      // word the handler increments
#define MS 1000000UL

static int failed;

static void check(int ok, const char *fmt, long a, long b)
{
  printf("irqtest: %s: ", ok ? "ok" : "FAIL");
  printf(fmt, a, b);
  printf("\n");
  failed += !ok;
}

static uint8 *pages(long n)
{
  long cur = sbrk(0), pad = (4096 - cur % 4096) % 4096;
  return sbrk(pad + n * 4096) < 0 ? NULL : (uint8 *)(cur + pad);
}

// 0x1000: sti; hlt; jmp 0x1000. Vector VEC -> 0x1100: inc word [COUNTER];
// out 0x20, al (the EOI the VMM sees); iret.
static void put_guest(uint8 *mem)
{
  static const uint8 main_loop[] = {0xFB, 0xF4, 0xEB, 0xFC};
  static const uint8 handler[] = {0xFF, 0x06, COUNTER & 0xFF, COUNTER >> 8, 0xE6, 0x20, 0xCF};
  memcpy(mem + 0x1000, main_loop, sizeof main_loop);
  memcpy(mem + 0x1100, handler, sizeof handler);
  mem[VEC * 4] = 0x00, mem[VEC * 4 + 1] = 0x11;   // IVT: offset 0x1100, segment 0
  mem[VEC * 4 + 2] = mem[VEC * 4 + 3] = 0;
}

static int new_guest(uint8 **memp)
{
  uint8 *mem = pages(MEM / 4096);
  int vm = vm_create(), vc;
  struct vm_regs r;
  if (!mem || vm < 0 || vm_map(vm, 0, mem, MEM, VM_MAP_RWX) < 0 || (vc = vcpu_create(vm, VM_MODE_REAL)) < 0 ||
      vcpu_getregs(vm, vc, &r) < 0)
    return -1;
  put_guest(mem);
  r.rip = 0x1000, r.rsp = 0x7000;
  if (vcpu_setregs(vm, vc, &r) < 0)
    return -1;
  *memp = mem;
  return vm;
}

static void test_count(long n)
{
  uint8 *mem;
  int vm = new_guest(&mem);
  struct vm_exit e;
  memset(&e, 0, sizeof e);
  long acks = 0, eois = 0, runs = 0, t0 = clock_ns();
  vcpu_irq(vm, 0, VEC);
  while (eois < n && runs < 20 * n + 100) {
    e.deadline_ns = clock_ns() + 1000 * MS;
    if (vcpu_run(vm, 0, &e) < 0)
      break;
    runs++;
    if (e.irq_acked >= 0)
      acks++;
    if (e.reason == VM_EXIT_IO && e.u.io.port == 0x20 && ++eois < n)
      vcpu_irq(vm, 0, VEC);
    else if (e.reason == VM_EXIT_DEADLINE)
      break;
  }
  long ns = clock_ns() - t0;
  uint16 got = mem[COUNTER] | mem[COUNTER + 1] << 8;
  check(got == n && acks == n, "guest counted %ld interrupts, %ld acked", got, acks);
  check(eois == n, "%ld EOIs of %ld", eois, n);
  printf("irqtest: %ld interrupts in %ld us\n", n, ns / 1000);
  vm_destroy(vm);
}

static void test_deadline(long n)
{
  uint8 *mem;
  int vm = new_guest(&mem);
  struct vm_exit e;
  memset(&e, 0, sizeof e);
  long worst = 0, total = 0, bad = 0;
  for (long i = 0; i < n; i++) {
    long want = clock_ns() + 2 * MS;
    e.deadline_ns = want;
    if (vcpu_run(vm, 0, &e) < 0 || e.reason != VM_EXIT_DEADLINE)
      bad++;
    long late = clock_ns() - want;
    if (late < 0)
      bad++;
    total += late;
    if (late > worst)
      worst = late;
  }
  check(bad == 0 && e.halted, "%ld runs of %ld did not end at their deadline", bad, n);
  printf("irqtest: deadline error: mean %ld us, worst %ld us\n", total / n / 1000, worst / 1000);
  vm_destroy(vm);
}

int main(int argc, char **argv)
{
  if (argc < 3) {
    printf("usage: irqtest count|deadline N\n");
    exit(2);
  }
  long n = atoi(argv[2]);
  if (!strcmp(argv[1], "count"))
    test_count(n);
  else if (!strcmp(argv[1], "deadline"))
    test_deadline(n);
  exit(failed ? 1 : 0);
}
