// kcov: coverage of the kernel code built with -fsanitize-coverage=trace-pc
// (make SAN=1: kern/svm/ and kern/sysvm.c), per process, as Linux's kcov.
// System call 48, shared with user space:
//   long kcov(int op, void *buf, long n)
//   KCOV_ENABLE   start recording this process's coverage (its system calls
//                 and its guests' exits); returns the number of instrumented
//                 sites N (-ENOSYS: a kernel built without SAN=1)
//   KCOV_COLLECT  copy to buf (uint32 site numbers 0..N-1) up to n sites the
//                 process reached since the last collect, each once; returns
//                 how many, and forgets them (they may be reported again)
//   KCOV_DISABLE  stop and free the buffer (exit does this too)
//   KCOV_FAIL_NTH fault injection, in every build: the n'th page allocation
//                 the process makes from now on fails (kalloc returns NULL),
//                 n = 0 turns it off; returns 0. Each allocation counts, in
//                 system calls and page faults alike (kern/kalloc.c).
// kcov=all on the kernel command line counts every site reached since boot
// and prints them at power-off (kcov_boot, kcov_dump; tools/svmcov.py).
#pragma once
#define SYS_kcov 48
#ifndef __ASSEMBLER__
enum { KCOV_ENABLE = 1, KCOV_COLLECT = 2, KCOV_DISABLE = 3, KCOV_FAIL_NTH = 4 };
#endif
