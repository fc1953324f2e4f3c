// hostile_probe: reads guest-physical memory from 0 to the top of the
// 32-bit address space (protected mode, paging off: linear = physical).
//   - Its own RAM (0 .. memsize): every dword is compared with the host's
//     canary (HOSTILE_CANARY), which the harness left in freed host pages
//     before creating the VM: fresh guest RAM must be zeroed host memory.
//   - Every page above: one read each. None is backed, so each must exit to
//     the VMM (a nested page fault, APM Vol. 2 §15.25.6), which answers it
//     as open bus (all ones) and skips the 2-byte `mov (%esi), %eax`.
// Every page up to EBX (default 64 MiB) is probed, then one per ECX bytes
// (default 1 MiB) up to 4 GiB; EBX = 4 GiB probes every page (slow).
// Ends with HLT and EAX = pages probed outside RAM, EDX = reads that were
// not open bus, EDI = canary dwords seen in RAM.
#include "guest.h"
#define MEMSIZE 0x100000
#define HOSTILE_CANARY 0xDEADBEEF
GUEST_HEADER(GUEST_MODE_PROT32, start, MEMSIZE, 0, 0x8000, 0)
  .code32
  .globl start
start:
  test %ebx, %ebx
  jnz 1f
  mov $0x4000000, %ebx
1:
  test %ecx, %ecx
  jnz 2f
  mov $0x100000, %ecx
2:
  mov %ecx, %ebp                        // sparse step
  xor %edi, %edi
  xor %esi, %esi
scan:                                   // own RAM: look for the canary
  cmpl $HOSTILE_CANARY, (%esi)
  jne 3f
  inc %edi
3:
  add $4, %esi
  cmp $MEMSIZE, %esi
  jne scan
  xor %edx, %edx
  xor %ecx, %ecx                        // pages probed
dense:
  call probe
  add $0x1000, %esi
  jz done                               // wrapped: 4 GiB reached
  cmp %ebx, %esi
  jb dense
sparse:
  call probe
  add %ebp, %esi
  jnc sparse                            // until it wraps past 4 GiB
done:
  mov %ecx, %eax
  hlt
  jmp done

// probe: one read at %esi; counts it, and counts a non-open-bus value.
probe:
  mov (%esi), %eax                      // 8B 06: the harness skips 2 bytes
  inc %ecx
  cmp $0xFFFFFFFF, %eax
  je 1f
  inc %edx
1:
  ret
