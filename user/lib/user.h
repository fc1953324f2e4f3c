// The user-space C library: system calls (kern/syscall.h for numbers and
// contracts), formatted output, strings (lib/string.h) and malloc.
// Every system call returns a negative -E* code (kern/errno.h) on error.
#pragma once
#include <stdarg.h>
#include "../../kern/types.h"
#include "../../kern/errno.h"
#include "../../lib/string.h"
#include "../../lib/fmt.h"

// System calls (user/lib/usys.S).
int fork(void);
void exit(int status) __attribute__((noreturn));
int wait(int *status);                  // status may be NULL
int getpid(void);
long sbrk(long n);                      // returns the old break
int exec(const char *path, char **argv);  // argv required, NULL-terminated; returns only on error
long read(int fd, void *buf, long n);   // console reads block, one line at most
long write(int fd, const void *buf, long n);
int open(const char *path);             // an initrd file, read-only
int close(int fd);
long fsize(int fd);
int sleep(long ticks);
long uptime(void);                      // timer ticks since boot
int kill(int pid);
int setcpu(int cpu);                    // pin to cpu and move there; -1 = any
int getcpu(void);
int ncpu(void);
long freepages(void);                   // free physical pages (leak tests)
int halt(int code);                     // power off; init only
long readdir(int i, char *name, long n);  // i'th initrd file: size, or -ENOENT
long cmdline(char *buf, long n);        // the kernel command line
int yield(void);

// Output (user/lib/printf.c): printf writes to fd 1, one write per line.
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int fprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vfprintf(int fd, const char *fmt, va_list ap);
const char *errstr(long err);           // "EFAULT" etc. for -EFAULT

// Input: reads a line (without the newline) into buf; -1 at end of input.
int getline(int fd, char *buf, int n);

// Memory (user/lib/malloc.c).
void *malloc(size_t n);
void free(void *p);
int atoi(const char *s);

// The next word of *s separated by spaces or tabs (NUL-terminated in
// place), advancing *s; NULL when none is left.
char *strtok_ws(char **s);
