// ls: lists the initrd's files with their sizes.
#include "user.h"

int main(void)
{
  char name[64];
  long size;
  for (int i = 0; (size = readdir(i, name, sizeof name)) >= 0; i++)
    printf("%-16s %ld\n", name, size);
  return 0;
}
