// echo: prints its arguments separated by spaces.
#include "user.h"

int main(int argc, char **argv)
{
  char line[256];
  int n = 0;
  line[0] = 0;
  for (int i = 1; i < argc; i++)
    n += snprintf(line + n, sizeof line - n, i > 1 ? " %s" : "%s", argv[i]);
  printf("%s\n", line);
  return 0;
}
