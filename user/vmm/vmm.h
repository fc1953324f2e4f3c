// The user-space VMM: loads a guest image (user/guests/guest.h), runs it
// through the vmm system calls (kern/vmabi.h) and emulates what it touches.
#pragma once
#include "user.h"
#include "vm.h"
#include "../guests/guest.h"
#include "chips.h"
#include "lapic.h"

// Exit counters, by what the guest did (intr: host interrupts seen). From
// C_INTR on they depend on timing and are not part of "after N exits":
// deadline/kick/console exits, interrupts the vcpu took, console bytes read.
enum { C_IO, C_CPUID, C_MSR, C_HLT, C_VMMCALL, C_NPF, C_EXC, C_OTHER, C_INTR,
       C_DEADLINE, C_KICK, C_CONSOLE, C_IRQ, C_RXBYTES, C_PIOQ, NCOUNT };

// How a guest ended.
enum end { END_NONE, END_EXIT, END_SHUTDOWN, END_HALT, END_BUDGET, END_FAIL, END_RESET, END_POWEROFF };

// The vcpus of a VM: guest_setup creates o->nvcpus (vmm -V N, 1 by default;
// smp.c). The MADT, fw_cfg and CPUID (apic.c, cpuid.c) say so.
#define GUEST_MAXVCPUS VCPU_MAX_PER_VM

struct opts {
  long budget_ms;      // -t: stop the guest after this much time (0: none)
  long max_exits;      // -n: stop after this many exits (0: none)
  int cpu;             // -c: pin to this CPU first (-1: leave)
  int migrate;         // -m: move to the next CPU at each HC_YIELD
  enum end expect;     // -e: the end that counts as success
  int expect_code;     //     with END_EXIT
  int stats;           // -s: print the run's wall time and time per exit
  const char *kernel;  // -k: boot this bzImage (linux.c) instead of guest images
  const char *initrd;  // -r: its initramfs
  const char *cmdline; // -a: a file holding its command line
  long mem_mb;         // -M: its RAM in MiB
  int entry32;         // -3: enter it through its 32-bit entry (linux.c)
  int apic;            // -A: give the bzImage the APIC board (apic.c), not only the PICs
  int pio_exits;       // -P: every port access of a -k guest exits (no VM_RUN_PIO_*, loop.c)
  int kvmpv;           // KVM's paravirtual interface (kvmpv.c): -p on: 1 (implies -A), -p off: -1, else 0: a
                       // bzImage with the APIC board (-A) gets it (kvmpv_wanted)
  int nvcpus;          // -V: vcpus (1..GUEST_MAXVCPUS), each on a thread of its own (smp.c)
  long widen_us;       // -W: an AP thread waits this long after letting go of the VMM lock
                       //     (before vcpu_run or its futex wait: widens the window a kick or wakeup must cover)
  int nested;          // -N: the guest gets SVM (VM_RUN_NESTED, cpuid.c; lab 9)
  int virtio_console;  // -v: a virtio console for a bzImage (virtio_console.c; implies -A)
};

// Where a vcpu is in the INIT-SIPI protocol (smp.c; Intel SDM Vol. 3A §8.4,
// KVM's mp_state).
enum mp { MP_RUNNABLE, MP_WAIT_SIPI, MP_STOPPED };

struct guest {
  const char *name;    // "hello"
  const char *prefix;  // "" or "name.i| " when several guests share the console
  struct guest_header hdr;
  uint8 *mem;          // guest-physical 0 .. memsize, page-aligned
  uint64 imagesize;
  int vm, vcpu;
  struct vm_exit e;
  uint64 count[NCOUNT];
  struct {             // stats.c (-s): per VM_EXIT_* reason
    uint64 count[VM_EXIT_NREASONS], cycles[VM_EXIT_NREASONS];
    uint64 ns0, tsc0, last, in_run;
    uint32 reason;
    int started;
    struct { uint32 key, n; } ports[64];   // I/O exits by port and direction (key: port << 1 | in, + 1)
    struct { uint32 key, n; } leaves[64], msrs[64], pages[64];   // CPUID leaf, MSR << 1 | write, NPF page: + 1
    uint64 sw[VM_SW_N], sw_user[VM_SW_N];  // world switches by class (vm_exit.switches), those returned
    uint64 first_run_ns;                   // clock_ns() at the first vcpu_run (svmlab's boot before it)
  } st;
  enum end end;
  int code;            // END_EXIT: the guest's code
  char why[96];        // END_FAIL: what went wrong; END_RESET: how
  char line[1024];     // UART output waiting for its newline
  int linelen;
  uint64 cpus_seen;    // bit per CPU from vm_exit.ran_on_cpu
  int moves;
  struct {             // msr.c
    uint64 val[8];     // the read/write MSRs' values, by the table's slot
    int ready;         // msr_reset ran
    struct { uint32 msr, n, writes; } unknown[16];   // MSRs answered #GP as absent (vmm -s)
    uint32 unknown_dropped;                          // accesses to MSRs beyond those 16
  } msr;
  const struct opts *o;
  long ticks;          // timer ticks the run took (HZ=100)
  struct board *board; // PIC, PIT, UART, RTC, small ports (chips.h): every vcpu's view shares
  struct board board0; //   the first one's board0
  // smp.c: a struct guest is one vcpu's view of the guest. With several
  // vcpus each has its own (the vcpu's exit record, line, counters, MSRs);
  // memory, the board and the APICs are shared under the VMM lock.
  int index;           // this vcpu's index, also its APIC ID
  int cpuid_set;       // cpuid_table_setup ran for this vcpu
  struct smp *smp;     // NULL with one vcpu
  enum mp mp;          // MP_WAIT_SIPI: an AP before its startup IPI
  int init_pending;    // INIT arrived: the vcpu's thread resets it before running again
  int sipi_vector;     // the accepted SIPI's vector, -1 none since INIT
  int restarted;       // the next run passes VM_RUN_INIT
  uint32 again[8];     // vectors that arrived again while the kernel may have taken the first (smp_accept)
  volatile int in_run; // set under the VMM lock before vcpu_run, cleared after it returned:
                       //   0 means the thread will look at its APIC before it enters again
  volatile int wake;   // futex word: bumped to wake the thread of a vcpu that waits (MP_WAIT_SIPI/STOPPED)
  int irq_line;        // vector on the vcpu's interrupt line, -1 lowered
  int insn_done;       // the VMM emulated the exit's instruction: VM_RUN_INSN_DONE next run
  int bzimage;         // a Linux bzImage (linux.c), not a multiboot kernel or an SVMG image
  int open_bus;        // a PC board (-k): guest-physical addresses above RAM with no device read
                       // all ones and drop writes, as on a PC, instead of ending the guest
  uint64 open_bus_accesses;   // how many (vmm -s)
  int ack_mismatch;    // INTAs whose vector was not the PIC's (reported once)
  uint64 now;          // guest time of the exit being handled (loop.c exit_now)
  int now_valid;
  uint64 budget_end_ns;  // -t: clock_ns() when the budget runs out (a deadline), 0 none
};

// image.c
int image_load(struct guest *g, const char *name);
int image_load_buf(struct guest *g, const char *path, const uint8 *buf, long n);
// stats.c
void stats_start(struct guest *g);
void stats_entry(struct guest *g);
void stats_exit(struct guest *g);
void stats_print(struct guest *g);
// linux.c
int linux_load(struct guest *g);
uint64 vmm_tsc_khz(void);   // the TSC's rate, measured once
void linux_regs(struct guest *g, struct vm_regs *r);
// devices.c
int dev_cpuid(struct guest *g);
int cpuid_table_setup(struct guest *g);   // the kernel's CPUID table for this vcpu (once)
int dev_msr(struct guest *g);
void msr_print_unknown(struct guest *g);
int dev_hypercall(struct guest *g);
void uart_flush(struct guest *g);
void uart_putc(struct guest *g, int c);
uint8 *gpa_ptr(struct guest *g, uint64 gpa, uint64 n);
void guest_fail(struct guest *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// loop.c: interrupts, time and port I/O around vcpu_run
void loop_init(struct guest *g);
int loop_before_run(struct guest *g);
void loop_after_run(struct guest *g);
int loop_io(struct guest *g);
int board_ended(struct guest *g);
uint64 guest_now(void);
// apic.c: the APICs, fw_cfg and ACPI tables of multiboot guests
int apic_setup(struct guest *g);
void apic_attach(struct board *b);
// mboot.c: `vmm -k` of a multiboot kernel
int mboot_load(struct guest *g);
int mboot_regs(struct guest *g, struct vm_regs *r);
int apic_line(struct board *b);
int apic_line_of(struct board *b, int i);
void apic_select(int i);
struct lapic *apic_lapic(int i);
int apic_intack(struct board *b, int vector);
int apic_nmi(struct board *b);
void apic_advance(struct board *b, uint64 now);
void apic_cr8_from_exit(struct board *b, uint32 cr8);   // the guest's CR8 into its LAPIC's TPR
int apic_cr8_to_run(struct board *b, uint32 *cr8);     // and back (VM_RUN_SET_CR8)
uint64 apic_deadline(struct board *b);
int apic_port_io(struct board *b, uint16 port, int size, int in, uint32 *data, uint64 now);
void apic_cpuid(struct guest *g, uint32 leaf, uint32 *r);
int apic_msr(struct guest *g, uint32 msr, int write, uint64 *v);
struct lapic *apic_current(struct board *b);   // the guest's local APIC, NULL without
void apic_set_gsi(int gsi, int level);         // a device's line on an I/O APIC pin (virtio_console.c)
// run.c
int guest_setup(struct guest *g);
void guest_run(struct guest *g);
int guest_handle(struct guest *g);
int guest_over_budget(struct guest *g, long t0, long ticks);
// smp.c: several vcpus, one thread each; the lock shared devices live under
int smp_setup(struct guest *g);
void smp_run(struct guest *g);
void smp_lock(struct guest *g);
void smp_unlock(struct guest *g);
void smp_notify(int index);                         // vcpu index's LAPIC took an NMI
void smp_accept(int index, int vector, int level);  // a fixed interrupt for vcpu index's LAPIC
void smp_acked(struct guest *g, int vector);        // after each run: the vector it took, -1 none
int smp_over(struct guest *g);
int smp_stopped(struct guest *g);                  // VM_EXIT_HLT of one vcpu among several
