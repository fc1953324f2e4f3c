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
#include "svm/vmm.h"
#include "svm/vcpu.h"

// EXITINFO1 of an IOIO intercept (APM Vol. 2 §15.10.2, Figure 15-2): bit 0
// IN, bit 2 string, bit 3 REP, bit 4 8-bit operand, bits 31:16 the port;
// EXITINFO2 holds the RIP of the next instruction.
#define IOIO_IN 0x1
#define IOIO_STR 0x4
#define IOIO_REP 0x8
#define IOIO_SZ8 0x10

// An IOIO exit the run's VM_RUN_PIO_* flags cover: done here (1), or 0 for
// the usual path to user space.
int svm_pio_fast(struct vcpu *v, struct vm_exit *e)
{
  uint64 info = v->vmcb->control.exitinfo1;
  uint16 port = info >> 16;
  struct vmcb_save *s = &v->vmcb->save;
  if (!(info & IOIO_SZ8) || (info & (IOIO_STR | IOIO_REP)))
    return 0;
  if (info & IOIO_IN) {
    if (!(v->run_flags & VM_RUN_PIO_IN) || port != v->pio.in_port)
      return 0;
    s->rax = (s->rax & ~0xFFUL) | v->pio.in_value;   // IN AL writes AL only
  } else {
    if (!(v->run_flags & VM_RUN_PIO_OUT) || port != v->pio.out_port || e->npio_out >= VM_PIO_MAX)
      return 0;
    e->pio_out[e->npio_out].port = port;
    e->pio_out[e->npio_out].value = s->rax & 0xFF;
    e->npio_out++;
  }
  svm_insn_done(v, v->vmcb->control.exitinfo2, v->exit_rflags);   // as svm_skip_now (run.c)
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
