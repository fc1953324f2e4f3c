// smpstorm: a guest with several vcpus (vmm -V N, 2..8) checks the VMM's
// multiprocessor board against the Intel SDM Vol. 3A (§8.4 "Multiple-
// Processor (MP) Initialization", §10.6 "Issuing Interprocessor Interrupts"):
// - firmware: fw_cfg's CPU count, the MADT's enabled local APICs and the APs
//   that come up agree; each CPU's CPUID.1 EBX[31:24] equals its APIC ID
//   register, and the IDs are 0..N-1;
// - startup: each AP is started by INIT, INIT de-assert, SIPI, SIPI (the
//   second SIPI ignored), in real mode at the SIPI vector's page; a SIPI to
//   a running AP is ignored; an INIT stops a running AP (IF=0, never exits
//   on its own) until the next SIPI restarts it; INIT-SIPI-SIPI restarts an
//   AP waiting in HLT;
// - a storm: every CPU sends STORM random IPIs (fixed physical, logical,
//   self, all, all-but-self, lowest priority to one CPU, physical broadcast,
//   NMI) to random destinations, IF=1, while receiving the others'. Each
//   IPI's destination set is computed here from the SDM's rules; a sender
//   waits for its previous IPI to a CPU to be taken before sending it
//   another (so nothing may coalesce), and the receiver checks the IPI was
//   expected: nothing may be lost (a timeout) or arrive twice or at a CPU it
//   was not for;
// - halted targets: the APs wait in STI; HLT while CPU 0 sends HALTED IPIs,
//   each to be taken before the next: every one must wake its target.
// Prints "smpstorm: ..." lines and exits with the number of failures.
#include "guest.h"
GUEST_HEADER(GUEST_MODE_LONG64, start, 0x200000, pml4, 0x8000, GUEST_F_APIC)
#include "long64.inc"
#include "idt64.inc"
#include "pc.inc"

#define APIC 0xFEE00000
#define STACKS 0x100000          // CPU i's stack: STACKS + i * 0x4000 .. + 0x4000
#define MAXCPU 8
#define STORM 200                // IPIs each CPU sends in the storm
#define HALTED 64                // IPIs to halted APs
#define TIMEOUT 10000000000      // TSC cycles a wait for one IPI may last (4 s at 2.6 GHz)
#define LONG_TIMEOUT 80000000000 // a wait for a whole phase of another CPU
#define HOLD_TIMES 8             // an AP stopped by INIT must stay stopped 8 times as long as
#define HOLD_MIN 260000000       // its thread took to answer a poke, 0.1 s at least, 2 s at
#define HOLD_MAX 5200000000      // most (set_init_hold)
#define HEART_SLACK 16           // beats it may finish after the quiet window (heart_moved)
#define V_POKE 0x30              // wakes an idle AP to look at its command (not counted)
#define V_IPI 0x40               // + sender: the counted IPIs
#define CMD_IDLE 0
#define CMD_HEART 1
#define CMD_STORM 2

// ICR (§10.6.1): delivery mode bits 10:8, logical 11, status 12, assert 14,
// trigger 15, shorthand 19:18.
#define DM_LOWEST 0x100
#define DM_NMI 0x400
#define DM_INIT 0x500
#define DM_SIPI 0x600
#define ICR_LOGICAL 0x800
#define ICR_BUSY 0x1000
#define ICR_ASSERT 0x4000
#define ICR_LEVEL 0x8000
#define SH_SELF (1 << 18)
#define SH_ALL (2 << 18)
#define SH_OTHERS (3 << 18)

// FAIL msg: counts a failure and says so.
.macro FAIL msg
  lock incq fails(%rip)
  SAY \msg
.endm

  .globl start
start:
  mov $STACKS + 0x4000, %rsp         // CPU 0's stack
  call load_gdt_idt
  call map_apic
  call set_gates
  xor %r15d, %r15d                   // CPU number (APIC ID) in r15 everywhere
  call cpu_setup
  call discover
  call start_aps
  call sipi_running
  call init_running
  call init_halted
  call storm_all
  call halted_targets
// fatal: the end, also from a CPU that found an IPI lost (the others may
// wait forever for theirs).
fatal:
  SAY s_done
  SAYNUM fails(%rip)
  SAY s_nl
  mov fails(%rip), %rax
  jmp guest_exit

// ---- setup ---------------------------------------------------------------

set_gates:
  SETGATE(2, on_nmi)
  SETGATE(V_POKE, on_poke)
  .set k, 0
  .rept MAXCPU
  lea ipi_stubs + k * 16(%rip), %rax
  lea idt + (V_IPI + k) * 16(%rip), %rdi
  call setgate
  .set k, k + 1
  .endr
  ret

// cpu_setup: this CPU (r15) checks its IDs and turns its APIC on: SVR
// enabled, flat logical destination bit r15 in the LDR. Clobbers rax-rdx.
cpu_setup:
  push %rbx
  mov $1, %eax
  cpuid
  shr $24, %ebx
  cmp %r15d, %ebx
  je 1f
  FAIL s_cpuid_id
1:
  movabs APIC + 0x20, %eax           // APIC ID (above 2 GiB: 64-bit absolute moves)
  shr $24, %eax
  cmp %r15d, %eax
  je 2f
  FAIL s_apic_id
2:
  mov $0x1FF, %eax
  movabs %eax, APIC + 0xF0           // SVR: enabled, spurious vector 0xFF
  xor %eax, %eax
  movabs %eax, APIC + 0x80           // TPR 0
  mov $0xFFFFFFFF, %eax
  movabs %eax, APIC + 0xE0           // DFR: flat model
  mov $1, %eax
  mov %r15d, %ecx
  shl %cl, %eax
  shl $24, %eax
  movabs %eax, APIC + 0xD0           // LDR: bit r15
  pop %rbx
  ret

// discover: ncpu from fw_cfg (key 5, 16 bits); the MADT's enabled local
// APIC entries must number the same, and at least 2.
discover:
  mov $0x510, %dx
  mov $5, %ax
  out %ax, %dx
  mov $0x511, %dx
  xor %eax, %eax
  in %dx, %al
  mov %eax, %ecx
  in %dx, %al
  shl $8, %eax
  or %ecx, %eax
  mov %rax, ncpu(%rip)
  call madt_cpus
  mov %rax, madt(%rip)
  SAY s_cpus
  SAYNUM ncpu(%rip)
  SAY s_madt
  SAYNUM madt(%rip)
  SAY s_nl
  mov ncpu(%rip), %rax
  cmp madt(%rip), %rax
  jne 1f
  cmp $2, %rax
  jb 1f
  cmp $MAXCPU, %rax
  ja 1f
  mov $1, %edx                       // all = (1 << ncpu) - 1
  mov %eax, %ecx
  shl %cl, %edx
  dec %edx
  mov %rdx, allmask(%rip)
  ret
1:
  FAIL s_count
  mov fails(%rip), %rax
  jmp guest_exit

// madt_cpus: %rax = enabled processor local APIC entries of the MADT found
// through the RSDP in 0xE0000-0xFFFFF (ACPI 6 §5.2.5, §5.2.7, §5.2.12).
madt_cpus:
  mov $0xE0000, %rsi
  movabs $0x2052545020445352, %rdx   // "RSD PTR "
1:
  cmp %rdx, (%rsi)
  je 2f
  add $16, %rsi
  cmp $0x100000, %rsi
  jb 1b
  xor %eax, %eax
  ret
2:
  mov 16(%rsi), %esi                 // RSDT
  mov 4(%rsi), %ecx
  lea (%rsi, %rcx), %rcx             // its end
  lea 36(%rsi), %rdi
3:
  cmp %rcx, %rdi
  jae 6f
  mov (%rdi), %esi
  add $4, %rdi
  cmpl $0x43495041, (%rsi)           // "APIC"
  jne 3b
  mov 4(%rsi), %ecx
  lea (%rsi, %rcx), %rcx
  lea 44(%rsi), %rdi
  xor %eax, %eax
4:
  cmp %rcx, %rdi
  jae 5f
  cmpb $0, (%rdi)                    // type 0: processor local APIC
  jne 7f
  testb $1, 4(%rdi)                  // flags: enabled
  jz 7f
  inc %rax
7:
  movzbl 1(%rdi), %edx
  test %edx, %edx
  jz 5f
  add %rdx, %rdi
  jmp 4b
5:
  ret
6:
  xor %eax, %eax
  ret

// ---- IPIs ----------------------------------------------------------------

// icr_send: ICR high = %esi (destination << 24), low = %edi; then waits for
// the delivery status to read idle. Clobbers rax, rdx.
icr_send:
  mov %esi, %eax
  movabs %eax, APIC + 0x310
  mov %edi, %eax
  movabs %eax, APIC + 0x300
  rdtsc
  shl $32, %rdx
  or %rax, %rdx
  mov %rdx, %r8
1:
  movabs APIC + 0x300, %eax
  test $ICR_BUSY, %eax
  jz 2f
  pause
  rdtsc
  shl $32, %rdx
  or %rax, %rdx
  sub %r8, %rdx
  movabs $TIMEOUT, %rax
  cmp %rax, %rdx
  jb 1b
  FAIL s_busy
2:
  ret

// timed_out: CF=1 once TIMEOUT cycles passed since the TSC value in %r9;
// long_timed_out: LONG_TIMEOUT. Clobber rax, rdx.
timed_out:
  movabs $TIMEOUT, %rax
  jmp 1f
long_timed_out:
  movabs $LONG_TIMEOUT, %rax
1:
  push %rax
  rdtsc
  shl $32, %rdx
  or %rax, %rdx
  sub %r9, %rdx
  pop %rax
  cmp %rdx, %rax                     // CF = limit < elapsed
  ret

tsc_start:
  rdtsc
  shl $32, %rdx
  or %rax, %rdx
  mov %rdx, %r9
  ret

// wait_mask: waits until pending[r15][t] == 0 for every t in %r12 (IF as
// the caller has it); after TIMEOUT the IPI counts as lost and the guest
// ends. Clobbers rax-rdx, r9.
wait_mask:
  call tsc_start
1:
  xor %ecx, %ecx
2:
  bt %ecx, %r12d
  jnc 3f
  lea (%r15, %r15), %eax
  lea (%rcx, %rax, 4), %eax          // r15 * 8 + t
  cmpb $0, pending(%rax)
  jne 4f
3:
  inc %ecx
  cmp $MAXCPU, %ecx
  jb 2b
  xor %eax, %eax
  ret
4:
  pause
  call timed_out
  jnc 1b
  FAIL s_lost
  jmp fatal

// wait_nmi: waits until nmibusy[%ebx] is clear; lost after TIMEOUT.
wait_nmi:
  call tsc_start
1:
  cmpb $0, nmibusy(%rbx)
  je 2f
  pause
  call timed_out
  jnc 1b
  FAIL s_lost_nmi
  jmp fatal
2:
  xor %eax, %eax
  ret

// send_kind: CPU r15 sends one IPI of kind %r13 (0..7) to CPU %ebx (kinds
// 0, 5, 6) or logical mask %r10d (kind 1): computes its destination set
// (r12), waits until none of them still has one from r15 pending, marks
// and counts them, writes the ICR. Clobbers rax-rdx, rsi, rdi, r8-r12.
send_kind:
  mov %r15d, %edi
  add $V_IPI, %edi                   // the vector names the sender
  mov $1, %r12d
  mov %ebx, %ecx
  shl %cl, %r12d                     // {t}
  mov %ebx, %esi
  shl $24, %esi                      // physical destination t
  cmp $1, %r13d
  jne 1f
  mov %r10d, %r12d                   // logical: the mask's CPUs (flat model, LDR bit i)
  mov %r10d, %esi
  shl $24, %esi
  or $ICR_LOGICAL, %edi
1:
  cmp $2, %r13d
  jne 2f
  mov $1, %r12d                      // self
  mov %r15d, %ecx
  shl %cl, %r12d
  or $SH_SELF, %edi
2:
  cmp $3, %r13d
  jne 3f
  mov allmask(%rip), %r12            // all including self
  or $SH_ALL, %edi
3:
  cmp $4, %r13d
  jne 4f
  mov allmask(%rip), %r12            // all excluding self
  btr %r15d, %r12d
  or $SH_OTHERS, %edi
4:
  cmp $5, %r13d
  jne 5f
  or $DM_LOWEST, %edi                // lowest priority to one CPU: that CPU
5:
  cmp $7, %r13d
  jne 7f
  mov allmask(%rip), %r12            // physical broadcast 0xFF
  mov $0xFF000000, %esi
7:
  cmp $6, %r13d
  je send_nmi
  test %r12d, %r12d
  jz 9f
  push %rsi
  push %rdi
  call wait_mask
  pop %rdi
  pop %rsi
  xor %ecx, %ecx
8:
  bt %ecx, %r12d
  jnc 6f
  lea (%r15, %r15), %eax
  lea (%rcx, %rax, 4), %eax
  movb $1, pending(%rax)
  lock incl sent(, %rax, 4)
6:
  inc %ecx
  cmp $MAXCPU, %ecx
  jb 8b
  call icr_send
9:
  ret

// An NMI to CPU %ebx (physical): one at a time per target, from any sender.
send_nmi:
  push %rsi
1:
  call wait_nmi
  mov $1, %al
  xchg %al, nmibusy(%rbx)
  test %al, %al
  jnz 1b
  lock incl nmisent(, %rbx, 4)
  pop %rsi
  mov $DM_NMI, %edi
  call icr_send
  ret

// rand: xorshift64 on r14; the value in %rax.
rand:
  mov %r14, %rax
  shl $13, %rax
  xor %rax, %r14
  mov %r14, %rax
  shr $7, %rax
  xor %rax, %r14
  mov %r14, %rax
  shl $17, %rax
  xor %rax, %r14
  mov %r14, %rax
  ret

// seed_r14: this CPU's generator from the run's seed.
seed_r14:
  lea 1(%r15), %rax
  movabs $0x9E3779B97F4A7C15, %rdx
  imul %rdx, %rax
  xor seed(%rip), %rax
  or $1, %rax
  mov %rax, %r14
  ret

// storm: this CPU sends STORM random IPIs, IF=1 throughout, then waits for
// its last ones to be taken and says it is done.
storm:
  sti
  call seed_r14
  mov $STORM, %r11d
1:
  push %r11
  call rand
  mov %eax, %r13d
  and $7, %r13d                      // kind
  mov %rax, %rcx
  shr $8, %rcx
  xor %edx, %edx
  mov %rcx, %rax
  divq ncpu(%rip)
  mov %edx, %ebx                     // target
  call rand
  and allmask(%rip), %eax
  jnz 2f
  mov $1, %eax
  mov %ebx, %ecx
  shl %cl, %eax
2:
  mov %eax, %r10d                    // logical mask
  call send_kind
  pop %r11
  dec %r11d
  jnz 1b
  mov allmask(%rip), %r12
  call wait_mask
  lock btsq %r15, done(%rip)
  ret

// ---- interrupt handlers --------------------------------------------------

// The counted IPIs: vector V_IPI + s. The receiver (its number from its
// stack) takes it only if s marked it pending for this CPU.
  .balign 16
ipi_stubs:
  .set k, 0
  .rept MAXCPU
  .balign 16
  push $k
  jmp ipi_common
  .set k, k + 1
  .endr

ipi_common:
  push %rax
  push %rcx
  mov %rsp, %rax
  sub $STACKS, %rax
  shr $14, %rax                      // this CPU
  mov 16(%rsp), %rcx                 // sender
  lea (%rax, %rcx, 8), %rax          // pending index s * 8 + t
  xor %ecx, %ecx
  xchg %cl, pending(%rax)
  test %cl, %cl
  jz 1f
  lock incl recv(, %rax, 4)
  jmp 2f
1:
  lock incq unexpected(%rip)
2:
  xor %eax, %eax
  movabs %eax, APIC + 0xB0           // EOI
  pop %rcx
  pop %rax
  add $8, %rsp
  iretq

on_nmi:
  push %rax
  push %rcx
  mov %rsp, %rax
  sub $STACKS, %rax
  shr $14, %rax
  xor %ecx, %ecx
  xchg %cl, nmibusy(%rax)
  test %cl, %cl
  jz 1f
  lock incl nmirecv(, %rax, 4)
  jmp 2f
1:
  lock incq unexpected(%rip)
2:
  pop %rcx
  pop %rax
  iretq

on_poke:
  push %rax
  xor %eax, %eax
  movabs %eax, APIC + 0xB0
  pop %rax
  iretq

// ---- the APs -------------------------------------------------------------

// The SIPI vector's page: real mode at CS = page >> 4, IP 0. To long mode
// on CPU 0's page tables and GDT, then ap64.
  .balign 4096
tramp:
  .code16
  cli
  mov %cs, %ax
  mov %ax, %ds
  lgdtl tramp_gdtr - tramp
  mov %cr4, %eax
  or $0x20, %eax                     // PAE
  mov %eax, %cr4
  movl $pml4, %eax
  mov %eax, %cr3
  mov $0xC0000080, %ecx              // EFER.LME
  rdmsr
  or $0x100, %eax
  wrmsr
  mov %cr0, %eax
  or $0x80000001, %eax               // PG, PE
  mov %eax, %cr0
  ljmpl $0x08, $ap64
  .balign 8
tramp_gdtr:
  .short gdtend - gdt - 1
  .long gdt
  .code64

ap64:
  mov $0x10, %ax
  mov %ax, %ds
  mov %ax, %es
  mov %ax, %ss
  mov $1, %eax
  cpuid
  shr $24, %ebx
  mov %ebx, %r15d                    // CPU number
  lea 1(%r15), %rsp
  shl $14, %rsp
  add $STACKS, %rsp
  lidt idtr(%rip)
  call cpu_setup
  lock incl started(, %r15, 4)
  lock btsq %r15, online(%rip)
ap_idle:
  cli
  mov cmd(, %r15, 4), %eax
  cmp $CMD_HEART, %eax
  je ap_heart
  cmp $CMD_STORM, %eax
  je ap_storm
  sti
  hlt
  jmp ap_idle

// IF=0, no exits: only INIT stops this.
ap_heart:
  lock incq heart(%rip)
  jmp ap_heart

ap_storm:
  call storm
  movl $CMD_IDLE, cmd(, %r15, 4)
  jmp ap_idle

// ---- CPU 0's phases ------------------------------------------------------

// wait_online: waits until online has every bit of allmask. CF=1 on timeout.
wait_online:
  call tsc_start
1:
  mov online(%rip), %rax
  cmp allmask(%rip), %rax
  je 2f
  pause
  call timed_out
  jnc 1b
  stc
  ret
2:
  clc
  ret

// start_ap: INIT (assert), INIT de-assert, SIPI, SIPI to CPU %ebx.
start_ap:
  mov %ebx, %esi
  shl $24, %esi
  mov $DM_INIT | ICR_ASSERT | ICR_LEVEL, %edi
  call icr_send
  mov $DM_INIT | ICR_LEVEL, %edi
  call icr_send
  call tsc_start                     // 10 ms, as SDM §8.4.4.1 says
1:
  pause
  rdtsc
  shl $32, %rdx
  or %rax, %rdx
  sub %r9, %rdx
  cmp $26000000, %rdx
  jb 1b
  call sipi_icr
  call icr_send
  call sipi_icr
  call icr_send
  ret

// sipi_icr: %edi = a startup IPI's ICR low word with tramp's page as vector.
sipi_icr:
  lea tramp(%rip), %rdi
  shr $12, %edi
  or $DM_SIPI, %edi
  ret

start_aps:
  rdtsc
  shl $32, %rdx
  or %rdx, %rax
  mov %rax, seed(%rip)
  SAY s_seed
  mov seed(%rip), %rax
  call puthex
  SAY s_nl
  movq $1, online(%rip)
  mov $1, %ebx
1:
  push %rbx
  call start_ap
  pop %rbx
  inc %ebx
  cmp ncpu(%rip), %rbx
  jb 1b
  call wait_online
  jnc 2f
  FAIL s_noap
  mov fails(%rip), %rax
  jmp guest_exit
2:
  mov $1, %ebx                       // each AP started once (the second SIPI ignored)
3:
  cmpl $1, started(, %rbx, 4)
  je 4f
  FAIL s_twice
4:
  inc %ebx
  cmp ncpu(%rip), %rbx
  jb 3b
  SAY s_started
  ret

// sipi_running: a SIPI to AP 1 while it runs (no INIT before) is ignored.
sipi_running:
  mov $1 << 24, %esi
  call sipi_icr
  call icr_send
  mov $V_POKE, %edi                  // and a poke, so that a restart would show soon
  mov $1 << 24, %esi
  call icr_send
  call tsc_start
1:
  pause
  rdtsc
  shl $32, %rdx
  or %rax, %rdx
  sub %r9, %rdx
  cmp $200000000, %rdx               // a while
  jb 1b
  cmpl $1, started + 4(%rip)
  je 2f
  FAIL s_sipi_restart
2:
  ret

// init_running: AP 1 spins with IF=0 (no exit of its own); INIT must stop
// it, and a SIPI then restart it at the vector.
init_running:
  movl $CMD_HEART, cmd + 4(%rip)
  call tsc_start                     // from the poke until its heart beats
  mov $1 << 24, %esi
  mov $V_POKE, %edi
  call icr_send
1:
  cmpq $1000, heart(%rip)
  jae 2f
  pause
  call timed_out
  jnc 1b
  FAIL s_noheart
  ret
2:
  call set_init_hold
  SAY s_hold
  mov init_hold(%rip), %rax
  xor %edx, %edx
  mov $2600000, %ecx
  div %rcx
  call putdec
  SAY s_hold2
  movl $CMD_IDLE, cmd + 4(%rip)      // what it does once restarted
  btrq $1, online(%rip)
  mov $1, %ebx
  mov %ebx, %esi
  shl $24, %esi
  mov $DM_INIT | ICR_ASSERT | ICR_LEVEL, %edi
  call icr_send
  call tsc_start                     // the heart must stop
3:
  mov heart(%rip), %rcx
  mov $200000, %eax
4:
  pause
  dec %eax
  jnz 4b
  cmp heart(%rip), %rcx
  je 5f
  call timed_out
  jnc 3b
  FAIL s_init_running
  ret
5:
  mov %rcx, heart_stop(%rip)
  call heart_held
  jc 8f
  mov $1, %ebx
  call start_ap
  call wait_online
  jnc 6f
  FAIL s_norestart
  ret
6:
  call heart_moved                   // nor between the hold and the restart
  jc 8f
  cmpl $2, started + 4(%rip)
  je 7f
  FAIL s_restart_count
7:
  SAY s_init_ok
  ret
8:
  FAIL s_init_resumed
  SAYNUM %rcx
  SAY s_init_resumed2
  ret

// set_init_hold: how long heart_held watches (init_hold, TSC cycles):
// HOLD_TIMES the time since tsc_start (the poke that got AP 1's heart going:
// its thread's way from a kick through the VMM back into the guest, the way
// a VMM that runs a vcpu waiting for its SIPI takes after an INIT), within
// HOLD_MIN..HOLD_MAX.
set_init_hold:
  rdtsc
  shl $32, %rdx
  or %rax, %rdx
  sub %r9, %rdx
  imul $HOLD_TIMES, %rdx
  mov $HOLD_MIN, %eax
  cmp %rax, %rdx
  cmovb %rax, %rdx
  movabs $HOLD_MAX, %rax
  cmp %rax, %rdx
  cmova %rax, %rdx
  mov %rdx, init_hold(%rip)
  ret

// heart_held: once INIT stopped AP 1's heart (at heart_stop), it must stay
// stopped until the SIPI. A VMM that lets a vcpu waiting for its SIPI enter
// the guest resumes the AP as soon as the AP's thread has taken the INIT;
// on a loaded host that may come after the quiet window above, and a SIPI
// that comes first hides it. So the heart is watched for init_hold cycles,
// far longer than that thread was seen to need. CF=1 (beats since the stop
// in %rcx) if it beat again.
heart_held:
  call tsc_start
1:
  call heart_moved
  jc 2f
  pause
  rdtsc
  shl $32, %rdx
  or %rax, %rdx
  sub %r9, %rdx
  cmp init_hold(%rip), %rdx
  jb 1b
  clc
2:
  ret

// heart_moved: CF=1 (beats in %rcx) if AP 1's heart beat more than
// HEART_SLACK times since heart_stop. The slack: the AP may finish the
// translated block it is in when the kick reaches it (QEMU checks for an
// exit request between blocks), should its host thread have been preempted
// there for the whole quiet window.
heart_moved:
  mov heart(%rip), %rcx
  sub heart_stop(%rip), %rcx
  cmp $HEART_SLACK, %rcx
  ja 1f
  clc
  ret
1:
  stc
  ret

// init_halted: AP 1 idles in STI; HLT; INIT-SIPI-SIPI restarts it from
// there (a CPU in HLT takes INIT like any other).
init_halted:
  mov $1, %ebx
  call tsc_start                     // let it reach its HLT
1:
  pause
  rdtsc
  shl $32, %rdx
  or %rax, %rdx
  sub %r9, %rdx
  cmp $50000000, %rdx
  jb 1b
  btrq $1, online(%rip)
  call start_ap
  call wait_online
  jnc 2f
  FAIL s_halted_restart
  jmp fatal
2:
  cmpl $3, started + 4(%rip)
  je 3f
  FAIL s_restart_count
3:
  SAY s_init_halted_ok
  ret

// storm_all: every CPU storms at once; then the counts must match.
storm_all:
  movq $0, done(%rip)
  mov $1, %ebx
1:
  movl $CMD_STORM, cmd(, %rbx, 4)
  inc %ebx
  cmp ncpu(%rip), %rbx
  jb 1b
  xor %esi, %esi
  mov $V_POKE | SH_OTHERS, %edi
  call icr_send
  call storm
  call tsc_start
2:
  mov done(%rip), %rax
  cmp allmask(%rip), %rax
  je 3f
  pause
  call long_timed_out
  jnc 2b
  FAIL s_nodone
3:
  cli
  SAY s_storm
  call check_counts
  ret

// check_counts: sent == recv for every pair, nmisent == nmirecv, nothing
// unexpected. Prints the totals.
check_counts:
  xor %ecx, %ecx
  xor %r8d, %r8d                     // sent
  xor %r9d, %r9d                     // received
  xor %r10d, %r10d                   // pairs that differ
1:
  mov sent(, %rcx, 4), %eax
  mov recv(, %rcx, 4), %edx
  add %rax, %r8
  add %rdx, %r9
  cmp %eax, %edx
  je 2f
  inc %r10
2:
  inc %ecx
  cmp $MAXCPU * MAXCPU, %ecx
  jb 1b
  xor %ecx, %ecx
3:
  mov nmisent(, %rcx, 4), %eax
  mov nmirecv(, %rcx, 4), %edx
  add %rax, %r8
  add %rdx, %r9
  cmp %eax, %edx
  je 4f
  inc %r10
4:
  inc %ecx
  cmp $MAXCPU, %ecx
  jb 3b
  push %r10
  push %r9
  SAYNUM %r8
  SAY s_sent
  pop %rax
  call putdec
  SAY s_recv
  SAYNUM unexpected(%rip)
  SAY s_unexp
  pop %r10
  test %r10, %r10
  jz 5f
  FAIL s_mismatch
5:
  cmpq $0, unexpected(%rip)
  je 6f
  FAIL s_unexpected
  movq $0, unexpected(%rip)
6:
  ret

// halted_targets: the APs idle in STI; HLT; CPU 0 sends HALTED IPIs to
// random APs, each taken before the next.
halted_targets:
  xor %r15d, %r15d
  call seed_r14
  sti
  mov $HALTED, %r11d
1:
  push %r11
  call rand
  mov %rax, %rcx
  shr $8, %rax
  xor %edx, %edx
  mov ncpu(%rip), %rbx
  dec %rbx
  divq %rbx
  lea 1(%rdx), %ebx                  // an AP
  and $3, %ecx
  lea kinds_halted(%rip), %rax
  movzbl (%rax, %rcx), %r13d
  call rand
  and allmask(%rip), %eax
  and $~1, %eax                      // not CPU 0
  jnz 2f
  mov $1, %eax
  mov %ebx, %ecx
  shl %cl, %eax
2:
  mov %eax, %r10d
  call send_kind
  mov allmask(%rip), %r12
  call wait_mask
  mov %ebx, %ebx
  call wait_nmi
  pop %r11
  dec %r11d
  jnz 1b
  cli
  SAY s_halted
  call check_counts
  ret
kinds_halted: .byte 0, 1, 4, 6       // physical, logical, all-but-self, NMI

// map_apic: identity-maps 3-4 GiB with 2 MiB uncached pages (PDPT[3]).
map_apic:
  lea pd_high(%rip), %rax
  or $0x7, %rax
  mov %rax, pdpt + 3 * 8(%rip)
  lea pd_high(%rip), %rdi
  mov $0xC0000000 | 0x9F, %eax       // P RW US PWT PCD PS
  mov $512, %ecx
1:
  mov %rax, (%rdi)
  add $0x200000, %rax
  add $8, %rdi
  loop 1b
  mov %cr3, %rax
  mov %rax, %cr3
  ret

  .data
  .balign 8
fails: .quad 0
ncpu: .quad 0
madt: .quad 0
allmask: .quad 0
seed: .quad 0
online: .quad 0
done: .quad 0
heart: .quad 0
heart_stop: .quad 0               // heart when INIT had stopped it
init_hold: .quad 0                // TSC cycles heart_held watches
unexpected: .quad 0
started: .fill MAXCPU, 4, 0
cmd: .fill MAXCPU, 4, 0
sent: .fill MAXCPU * MAXCPU, 4, 0
recv: .fill MAXCPU * MAXCPU, 4, 0
nmisent: .fill MAXCPU, 4, 0
nmirecv: .fill MAXCPU, 4, 0
pending: .fill MAXCPU * MAXCPU, 1, 0
nmibusy: .fill MAXCPU, 1, 0

s_nl: .asciz "\n"
s_cpus: .asciz "smpstorm: cpus: fw_cfg "
s_madt: .asciz ", MADT "
s_seed: .asciz "smpstorm: seed "
s_started: .asciz "smpstorm: every AP started by INIT-SIPI-SIPI\n"
s_init_ok: .asciz "smpstorm: INIT stopped a running AP, SIPI restarted it\n"
s_init_halted_ok: .asciz "smpstorm: INIT-SIPI-SIPI restarted a halted AP\n"
s_halted_restart: .asciz "smpstorm: FAIL: a halted AP did not come back after INIT-SIPI-SIPI\n"
s_storm: .asciz "smpstorm: storm: "
s_halted: .asciz "smpstorm: halted targets: "
s_sent: .asciz " sent, "
s_recv: .asciz " received, "
s_unexp: .asciz " unexpected\n"
s_done: .asciz "smpstorm: failures "
s_cpuid_id: .asciz "smpstorm: FAIL: CPUID.1 EBX[31:24] is not the CPU's number\n"
s_apic_id: .asciz "smpstorm: FAIL: the APIC ID register is not the CPU's number\n"
s_count: .asciz "smpstorm: FAIL: fw_cfg and the MADT disagree, or fewer than 2 CPUs\n"
s_busy: .asciz "smpstorm: FAIL: ICR delivery status stayed busy\n"
s_lost: .asciz "smpstorm: FAIL: lost: an IPI was not taken in time\n"
s_lost_nmi: .asciz "smpstorm: FAIL: lost: an NMI was not taken in time\n"
s_noap: .asciz "smpstorm: FAIL: an AP did not come up after INIT-SIPI-SIPI\n"
s_twice: .asciz "smpstorm: FAIL: an AP started twice (the second SIPI restarted it)\n"
s_sipi_restart: .asciz "smpstorm: FAIL: a SIPI restarted a running AP\n"
s_noheart: .asciz "smpstorm: FAIL: AP 1 did not start spinning\n"
s_init_running: .asciz "smpstorm: FAIL: INIT did not stop a running AP\n"
s_hold: .asciz "smpstorm: figure: INIT hold "
s_hold2: .asciz " ms (at 2.6 GHz)\n"
s_init_resumed: .asciz "smpstorm: FAIL: INIT did not keep a running AP stopped until the SIPI: its heart beat "
s_init_resumed2: .asciz " times after it stopped\n"
s_norestart: .asciz "smpstorm: FAIL: AP 1 did not come back after INIT-SIPI-SIPI\n"
s_restart_count: .asciz "smpstorm: FAIL: AP 1 started a wrong number of times\n"
s_nodone: .asciz "smpstorm: FAIL: a CPU did not finish its storm\n"
s_mismatch: .asciz "smpstorm: FAIL: IPIs sent and received differ\n"
s_unexpected: .asciz "smpstorm: FAIL: an IPI arrived twice or at a CPU it was not for\n"

  .section .pagetables, "aw"
  .balign 4096
pd_high:
  .fill 512, 8, 0
  .text
