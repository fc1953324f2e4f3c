// kernderef: reads kernel memory (the kernel image and the physical map)
// from user mode. The kernel must kill it; it must never print "survived".
#include "user.h"

int main(int argc, char **argv)
{
  uint64 addr = argc > 1 && strcmp(argv[1], "phys") == 0 ? 0xFFFF800000100000UL : 0xFFFFFFFF80100000UL;
  printf("kernderef: reading %p\n", (void *)addr);
  int v = *(volatile int *)addr;
  printf("kernderef: survived, read %x\n", v);
  return 0;
}
