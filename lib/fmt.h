// printf-style formatting shared by the kernel and user space.
#pragma once
#include <stdarg.h>
#include "../kern/types.h"
// Calls putc(c, arg) for every output character; returns the count.
int vfmt(void (*putc)(int, void *), void *arg, const char *fmt, va_list ap);
int snprintf(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);
