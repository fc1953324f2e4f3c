// Fixed-width types for the kernel and user space (no libc headers here).
#pragma once
typedef unsigned char uint8;
typedef unsigned short uint16;
typedef unsigned int uint32;
typedef unsigned long uint64;
typedef signed char int8;
typedef short int16;
typedef int int32;
typedef long int64;
typedef unsigned long uintptr;
typedef unsigned long size_t;
typedef long ssize_t;
typedef uint64 pte_t;
#define NULL ((void *)0)
#define offsetof(t, m) __builtin_offsetof(t, m)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
