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
struct cpu;

// console.c
void consoleinit(void);
void consputc(int c);
int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void backtrace(uint64 rbp);
void _panic(const char *file, int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));
#define panic(...) _panic(__FILE__, __LINE__, __VA_ARGS__)
extern volatile int panicked;

// console.c: console input. uartintr() queues received bytes
// (console_input_uart, which reads the UART under the buffer's lock) and
// then calls console_input_wakeup() (interrupt context, IF=0; the weak
// default does nothing, proc.c may override it to wake sleeping readers).
// console_getc_nonblock() returns the next byte or -1 (and also polls the
// UART under the same lock, so it works with interrupts off).
int console_input_uart(void);
int console_getc_nonblock(void);
int console_input_waiting(void);        // 1 if input bytes are queued (console.c)
void console_input_wakeup(void);

// uart.c
void uartinit(void);
void uartputc(int c);
int uartgetc(void);
void uartintr(void);
void uartintr_enable(void);

// ksym.c
const char *ksym_lookup(uint64 addr, uint64 *off);

// power.c -- exit codes seen by QEMU as (code << 1) | 1
#define POWEROFF_OK 0
#define POWEROFF_FAIL 1
#define POWEROFF_PANIC 3
void poweroff(int code) __attribute__((noreturn));
void watchdog_tick(void);               // watchdog.c: from each timer tick

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
long kalloc_fail_nth(struct proc *p, int64 n);

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
void svm_hardware_disable_all(void);
int svm_guest_fpu_release(void);   // svm/fpu.c: #NM; 1 if a guest's state was loaded
void svm_guest_fpu_park(void);     // svm/fpu.c: leaving the CPU: a guest's state back to its vcpu

// ---- kernel base: segments, traps, interrupts, SMP -------------------------
// main.c
void cpu_setself(struct cpu *c);

// gdt.c: this CPU's GDT (KCODE, KDATA, UDATA, UCODE, TSS) and TSS with IST
// stacks for #DF and NMI. mycpu()->ts.rsp0 is 0 until proc.c sets it.
void seginit(void);
int ist_overlaps(uint64 a, uint64 n);   // a range on this CPU's NMI/#DF stacks

// trapasm.S: alltraps builds a struct trapframe and calls trap(); trapret
// pops one at %rsp and IRETQs (swapgs first when returning to ring 3), so a
// new process starts by pointing %rsp at its trapframe and jumping there.
void trapret(void);

// trap.c
void trapinit(void);
void trapinithart(void);
void trap(struct trapframe *tf);
const char *trap_name(uint64 trapno);
void trap_report(struct trapframe *tf, uint64 cr2);
void trap_expect(int trapno, int skip);
void trap_expect_user(int trapno, uint64 resume);
int trap_expect_done(uint64 *rip, uint64 *err, uint64 *cr2, uint64 *rax);
extern volatile uint64 trap_counts[256];   // by vector, all CPUs
extern int (*ktest_db_hook)(struct trapframe *tf);   // kernel #DB: 1 = handled (tests)
// Implemented by proc.c (weak defaults in trap.c): see HACKING.md.
void proc_tick(void);
void proc_fault(struct trapframe *tf, const char *what) __attribute__((noreturn));
void scheduler(void) __attribute__((noreturn));

// lapic.c
void lapicinit(void);
int lapicid(void);
uint32 lapic_tpr(void);
void lapic_set_tpr(uint32 v);
void lapiceoi(void);
void lapic_ipi(int apicid, int vector);
void lapic_init_ipi(int apicid);
void lapic_sipi(int apicid, uint64 pa);
void microdelay(uint64 us);
uint64 uptime_us(void);
uint64 clock_ns(void);                  // monotonic ns (TSC), the clock of vcpu_run deadlines
uint64 ns_to_tsc(uint64 ns);
int lapic_timer_intr(int *deadline);    // timer interrupt: 1 if a scheduler tick is due; *deadline 1 if the armed deadline passed
void lapic_deadline_arm(uint64 tsc);
uint64 lapic_deadline_armed(void);      // this CPU's armed deadline, 0 = none (tests)
void vcpu_deadline_wakeup(void);        // svm/halt.c: an armed deadline passed (interrupt context)
void vcpu_console_wakeup(void);         // svm/halt.c: console input arrived (interrupt context)    // IF=0: this CPU's timer fires no later than TSC value tsc

// ioapic.c
void ioapicinit(void);
void ioapic_enable(int irq, int cpu);

// acpi.c
extern uint64 ioapic_pa;
void acpiinit(void);
int acpi_isa_gsi(int irq, int *flags);

// smp.c
void smp_boot(void);
void mpenter(struct cpu *c);
int cpu_online(int cpu);
int smp_call(int cpu, void (*fn)(void *), void *arg);
void smp_call_intr(void);

// ---- processes, system calls, initrd, exec (part proc) --------------------
// proc.c
void userinit(void);
int fork(void);
void exit(int status) __attribute__((noreturn));
int wait(uint64 ustatus);
int kill(int pid);
void sleep(void *chan, struct spinlock *lk);
// Tests: sleep(sleep_widen_chan, lk) waits sleep_widen_us first, still holding lk.
extern void *sleep_widen_chan;
extern uint64 sleep_widen_us;
void wakeup(void *chan);
void yield(void);
int setcpu(int cpu);
int sleep_ticks(uint64 n);
uint64 uptime(void);
int64 growproc(int64 n);
void *ticks_chan(void);                 // woken at every tick
void uvm_hold(void);                    // no sbrk of the process meanwhile (vm_map)
void uvm_unhold(void);
int thread_create(uint64 fn, uint64 arg, uint64 sp, uint64 ret);
void thread_exit(int status) __attribute__((noreturn));
int thread_join(int tid, uint64 ustatus);
// futex.c
int futex_wait(uint64 uaddr, int expected, int64 timeout_ns);
int futex_wake(uint64 uaddr, int n);
// (scheduler, proc_tick, proc_fault: declared with trap.c above)

// uvm.c
pte_t *uvm_lookup(pte_t *pml4, uint64 va);
int uvm_alloc(pte_t *pml4, uint64 start, uint64 end, uint64 perm);
void uvm_dealloc(pte_t *pml4, uint64 start, uint64 end);
void uvm_dealloc_shared(pte_t *pml4, uint64 start, uint64 end);   // other CPUs may use pml4
void uvm_free(pte_t *pml4);
pte_t *uvm_copy(pte_t *src);
int uvm_check(pte_t *pml4, uint64 va, uint64 len, uint64 perm);
int copyin(pte_t *pml4, void *dst, uint64 src, uint64 len);
int copyout(pte_t *pml4, uint64 dst, const void *src, uint64 len);
int copyinstr(pte_t *pml4, char *dst, uint64 src, uint64 max);
void switchuvm(struct proc *p);

// exec.c
int exec_proc(struct proc *p, const char *path, char **argv, int argc);
int elf_try_load(const uint8 *data, uint64 size);

// initrd.c
void initrd_init(struct mb_info *mb);
int initrd_lookup(const char *name, const uint8 **data, uint64 *size);
int initrd_entry(int i, char *name, int n, uint64 *size);

// syscall.c
void syscallinit(void);
void syscall(struct trapframe *tf);
uint64 argraw(int n);
int argint(int n);
int64 arglong(int n);

// sysproc.c, sysfile.c (system calls; see kern/syscall.h)
uint64 sys_fork(void);
uint64 sys_exit(void);
uint64 sys_wait(void);
uint64 sys_getpid(void);
uint64 sys_sbrk(void);
uint64 sys_exec(void);
uint64 sys_sleep(void);
uint64 sys_uptime(void);
uint64 sys_kill(void);
uint64 sys_setcpu(void);
uint64 sys_getcpu(void);
uint64 sys_ncpu(void);
uint64 sys_freepages(void);
uint64 sys_yield(void);
uint64 sys_thread_create(void);
uint64 sys_thread_exit(void);
uint64 sys_thread_join(void);
uint64 sys_gettid(void);
uint64 sys_futex_wait(void);
uint64 sys_futex_wake(void);
uint64 sys_halt(void);
uint64 sys_cmdline(void);
uint64 sys_read(void);
uint64 sys_write(void);
uint64 sys_open(void);
uint64 sys_close(void);
uint64 sys_fsize(void);
uint64 sys_readdir(void);
int64 consoleread(uint64 dst, uint64 n);

// sysvm.c (vmm system calls 32..40; placeholder until the vmm part lands)
uint64 sys_vm_create(void);
uint64 sys_vm_destroy(void);
uint64 sys_vm_map(void);
uint64 sys_vm_unmap(void);
uint64 sys_vcpu_create(void);
uint64 sys_vcpu_getregs(void);
uint64 sys_vcpu_setregs(void);
uint64 sys_vcpu_run(void);
uint64 sys_vcpu_inject(void);
uint64 sys_vcpu_irq(void);
uint64 sys_clock_ns(void);
uint64 sys_vcpu_kick(void);
uint64 sys_cons_read(void);
uint64 sys_vcpu_cpuid(void);
// kcov.c
uint64 sys_kcov(void);
void kcov_free(struct proc *p);
void kcov_boot(void);
void kcov_dump(void);
void vm_proc_exit(int pid);
void vm_uvm_drop(pte_t *pml4, uint64 start, uint64 end);   // before sbrk frees user pages
