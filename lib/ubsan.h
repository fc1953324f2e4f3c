// The UBSan handlers (lib/ubsan.c) report through these, defined once by the
// kernel (kern/ubsan.c) and once by the user library (user/lib/ubsan.c).
#pragma once
#include "../kern/types.h"

// One report: "ubsan: <kind> at <file>:<line>:<col>: <what>", then what the
// side's policy says (the kernel panics unless told to count; a process exits).
void ubsan_report(const char *file, uint32 line, uint32 col, const char *kind, const char *what);
// After a report the program cannot run past (unreachable code).
void ubsan_fatal(const char *why) __attribute__((noreturn));
