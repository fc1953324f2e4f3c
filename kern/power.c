// Power-off: QEMU's isa-debug-exit device (port 0xF4) ends QEMU with exit
// status (code << 1) | 1, so a grader sees how the kernel ended. Without the
// device we fall back to ACPI shutdown for QEMU's PIIX4 and then halt.
#include "defs.h"
#include "x86.h"

#define DEBUG_EXIT_PORT 0xF4

void poweroff(int code)
{
  cli();
  svm_hardware_disable_all();   // EFER.SVME off on every CPU
  kcov_dump();                  // with kcov=all: the sites reached, this included
  printf("poweroff: code %d\n", code);
  outl(DEBUG_EXIT_PORT, code);
  outw(0x604, 0x2000);           // QEMU PIIX4 ACPI: S5
  for (;;)
    hlt();
}
