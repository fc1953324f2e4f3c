// Port I/O the kernel finishes without a trip to user space (kern/vmabi.h,
// "Port I/O the kernel finishes itself"; KVM's coalesced PIO). A Linux guest
// with a serial console makes two exits per character it prints (LSR read,
// THR write): 96 % of a boot's exits. The VMM names one port whose 1-byte
// writes are queued and one whose 1-byte reads have a value known in
// advance; the device model stays in user space and sees every queued write
// before the next exit. Measured (tools/linux/bench.py): user exits per boot
// fall by four fifths but boot time only by ~15 %, because under QEMU the
// VMRUN/#VMEXIT pair itself, not the trip to user space, is most of an exit.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "svm/vmm.h"
#include "svm/vcpu.h"
#include "../lib/string.h"

// An IOIO exit the run's VM_RUN_PIO_* flags cover: done here (1), or 0 for
// the usual path to user space. Decoding and completion are lab 4's
// (run.c), the same as for an exit user space answers.
// A scratch record per CPU (a struct vm_exit is over 1 KiB; IF=0 here).
static struct vm_exit scratch[NCPU];

int svm_pio_fast(struct vcpu *v, struct vm_exit *e)
{
  struct vm_exit *d = &scratch[cpuid_self()];
  memset(&d->u, 0, sizeof d->u);
  if (!(v->run_flags & (VM_RUN_PIO_IN | VM_RUN_PIO_OUT)) || svm_ioio_decode(v, d) < 0)
    return 0;
  if (d->u.io.size != 1 || d->u.io.string || d->u.io.rep)
    return 0;
  uint64 value = 0;
  if (d->u.io.in) {
    if (!(v->run_flags & VM_RUN_PIO_IN) || d->u.io.port != v->pio.in_port)
      return 0;
    value = v->pio.in_value;
  } else {
    if (!(v->run_flags & VM_RUN_PIO_OUT) || d->u.io.port != v->pio.out_port || e->npio_out >= VM_PIO_MAX)
      return 0;
    e->pio_out[e->npio_out].port = d->u.io.port;
    e->pio_out[e->npio_out].value = d->u.io.data;
    e->npio_out++;
  }
  svm_pio_complete(v, d, value);
  e->kexits++;
  return 1;
}

// A vcpu about to sleep in HLT with writes queued returns them first: the
// device may have an interrupt to raise for them (a THR write may re-arm
// THRE), and nothing else would bring them to user space before a timer.
int svm_pio_before_halt(struct vcpu *v, struct vm_exit *e)
{
  if (!v->halted || e->npio_out == 0)
    return 0;
  svm_exit_record(v, e, VM_EXIT_PIO);
  return 1;
}
