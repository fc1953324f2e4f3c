// The kernel's UBSan runtime (kern/ubsan.c): what a report does, and what
// the self-test (kern/ubsan_test.c) reads back.
#pragma once
#include "types.h"

enum { UBSAN_PANIC, UBSAN_REPORT };
extern int ubsan_mode;            // UBSAN_PANIC (default) or UBSAN_REPORT (count and run on)
int ubsan_count(void);            // reports since boot
// 1 if one of the reports numbered from..ubsan_count()-1 (the last 8 are
// kept) was of this kind at this line.
int ubsan_reported(int from, const char *kind, uint32 line);
