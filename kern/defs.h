// Kernel-wide prototypes, grouped by the file that defines them (xv6 style).
// Subsystems with their own structures have their own headers (proc.h,
// svm/svm.h); this file only names functions.
#pragma once
#include "types.h"
#include "param.h"
#include "memlayout.h"
#include "mmu.h"

struct mb_info;
struct spinlock;
struct proc;
struct trapframe;

// console.c
void consoleinit(void);
void consputc(int c);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void backtrace(uint64 rbp);
void _panic(const char *file, int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));
#define panic(...) _panic(__FILE__, __LINE__, __VA_ARGS__)
extern volatile int panicked;

// uart.c
void uartinit(void);
void uartputc(int c);
int uartgetc(void);

// ksym.c
const char *ksym_lookup(uint64 addr, uint64 *off);

// power.c -- exit codes seen by QEMU as (code << 1) | 1
#define POWEROFF_OK 0
#define POWEROFF_FAIL 1
#define POWEROFF_PANIC 3
void poweroff(int code) __attribute__((noreturn));

// cmdline.c
void cmdline_init(const char *s);
const char *cmdline_all(void);
int cmdline_get(const char *key, char *buf, int n);

// kalloc.c
void kinit(struct mb_info *mb);
void *kalloc(void);
void kfree(void *va);
void *kalloc_pages(uint64 n, uint64 align);
void kfree_pages(void *va, uint64 n);
uint64 kfreecount(void);
uint64 ktotalpages(void);

// vm.c
extern pte_t *kpml4;
void kvminit(void);
void kvmswitch(void);
pte_t *walk_level(pte_t *pml4, uint64 va, int level, int alloc, uint64 perm);
pte_t *walk(pte_t *pml4, uint64 va, int alloc);
int mappages(pte_t *pml4, uint64 va, uint64 size, uint64 pa, uint64 perm);
pte_t *pml4_new(void);

// spinlock.c
void initlock(struct spinlock *lk, const char *name);
void acquire(struct spinlock *lk);
void release(struct spinlock *lk);
int holding(struct spinlock *lk);
void pushcli(void);
void popcli(void);

// ktest.c
void ktest_run(const char *name) __attribute__((noreturn));

// svm/hsave.c (stage 1)
void svm_hardware_setup(void);
void svm_hardware_enable(void);
void svm_hardware_disable(void);
