// nullderef: writes through a NULL pointer. The kernel must kill it with
// "pid N (nullderef): killed: ..." and go on; it must never print "survived".
#include "user.h"

int main(void)
{
  printf("nullderef: writing to address 0\n");
  *(volatile int *)0 = 1;
  printf("nullderef: survived\n");
  return 0;
}
