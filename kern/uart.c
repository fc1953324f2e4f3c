// 16550 UART on COM1: the console for all kernel and user output.
#include "defs.h"
#include "x86.h"
#include "trap.h"

#define COM1 0x3F8
#define UART_THR 0  // transmit holding (write)
#define UART_RBR 0  // receive buffer (read)
#define UART_IER 1  // interrupt enable
#define UART_FCR 2  // FIFO control
#define UART_LCR 3  // line control
#define UART_MCR 4  // modem control
#define UART_LSR 5  // line status
#define LSR_DATA 0x01
#define LSR_THRE 0x20

void uartinit(void)
{
  outb(COM1 + UART_IER, 0x00);
  outb(COM1 + UART_LCR, 0x80);   // DLAB: set the divisor
  outb(COM1 + 0, 1);             // 115200 baud
  outb(COM1 + 1, 0);
  outb(COM1 + UART_LCR, 0x03);   // 8N1
  outb(COM1 + UART_FCR, 0x07);   // FIFOs on and cleared
  outb(COM1 + UART_MCR, 0x0B);   // DTR, RTS, OUT2 (interrupts to the PIC/IOAPIC)
  outb(COM1 + UART_IER, 0x01);   // receive interrupts
}

void uartputc(int c)
{
  for (int i = 0; i < 100000 && !(inb(COM1 + UART_LSR) & LSR_THRE); i++)
    pause();
  outb(COM1 + UART_THR, c);
}

// Returns the next received byte, or -1 if none is waiting.
int uartgetc(void)
{
  if (!(inb(COM1 + UART_LSR) & LSR_DATA))
    return -1;
  return inb(COM1 + UART_RBR);
}

// Receive interrupt (IRQ 4 through the IOAPIC): moves every waiting byte
// into the console input buffer and wakes readers.
void uartintr(void)
{
  if (console_input_uart())
    console_input_wakeup();
}

// Routes COM1's interrupt to CPU 0. uartinit already set IER (receive
// data available) and MCR.OUT2, which gates the UART's IRQ line on PCs.
void uartintr_enable(void)
{
  ioapic_enable(IRQ_COM1, 0);
  uartintr();   // take anything that arrived before the route existed
}
