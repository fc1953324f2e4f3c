// tscaux: the host's TSC_AUX on each CPU, as RDTSCP returns it to a user
// program: "tscaux: cpu0 0x.. cpu1 0x..". Run it before and after guests
// that set their own TSC_AUX (guest rdtscp): the kernel loads a guest's
// value only while that guest runs (kern/svm/tsc_aux.c), so the two lines
// must be equal; a guest's value left behind would show here.
#include "user.h"

static int has_rdtscp(void)
{
  uint32 a, b, c, d;
  asm volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000001), "c"(0));
  return (d >> 27) & 1;
}

int main(int argc, char **argv)
{
  int ncpu = argc > 1 ? atoi(argv[1]) : 2;
  if (!has_rdtscp()) {
    printf("tscaux: no RDTSCP on this CPU\n");
    return 1;
  }
  printf("tscaux:");
  for (int cpu = 0; cpu < ncpu; cpu++) {
    if (setcpu(cpu) < 0) {
      printf(" cpu%d: setcpu failed\n", cpu);
      return 1;
    }
    uint32 lo, hi, aux;
    asm volatile("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux));
    printf(" cpu%d 0x%x", cpu, aux);
  }
  printf("\n");
  setcpu(-1);
  return 0;
}
