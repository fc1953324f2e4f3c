// Coverage for fuzzers: the kernel's (system call 48, kern/kcov.h) and this
// program's own (user/lib/kcov.c: the files built with
// -fsanitize-coverage=trace-pc under make SAN=1, the VMM's device models and
// loaders). Both hand out site numbers; ucov numbers follow the kernel's in
// one space 0 .. kcov_nsites()+ucov_nsites()-1 when a fuzzer merges them.
#pragma once
#include "../../kern/kcov.h"
#include "../../kern/types.h"

long kcov(int op, void *buf, long n);   // the system call (kern/kcov.h)

// This program's sites: ucov_enable() returns how many (0: not instrumented);
// ucov_collect() is KCOV_COLLECT for them.
long ucov_enable(void);
long ucov_collect(uint32 *buf, long n);
// Constants the program compared values with (trace-cmp): up to n into out.
long ucov_dict(uint64 *out, long n);
