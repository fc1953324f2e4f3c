// The virtio console (virtio_console.c), `vmm -v`: where the board puts it.
#pragma once
#include "vmm.h"

#define VIRTIO_CONSOLE_BASE 0xFEB00000UL   // above RAM, below the I/O APIC (QEMU's microvm uses it too)
#define VIRTIO_CONSOLE_GSI 16              // the first I/O APIC pin past the ISA IRQs: nothing else on it

int virtio_console_setup(struct guest *g);
void virtio_console_report(struct guest *g);
int virtio_console_rx_ready(void);   // the guest takes console input on the virtio console
long virtio_console_input(void);    // VM_EXIT_CONSOLE: read it into a receive buffer
