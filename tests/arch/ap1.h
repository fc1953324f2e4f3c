// One application processor started by INIT-SIPI-SIPI, for the test kernels
// that need exactly two CPUs (tests/arch/nmismp.c, tests/bench/ipipong.c;
// smpipi.c starts several and keeps its own copy that records CR0).
// The including kernel defines `void ap_main(void)` (the AP's C entry) and
// `u8 ap_stack[16384]`, AP1_TRAMP, the page the SIPI names (0x8000), and, before
// including this file, icr_send(dest, lo) and the ICR field names it uses.
// The trampoline (Intel SDM Vol. 3A §8.4.4.1): real mode at CS = AP1_TRAMP >> 4,
// load the BSP's GDT, protected mode, PAE + the BSP's CR3, EFER.LME, paging,
// far jump to 64-bit code on the BSP's IDT and ap_stack.
#ifndef AP1_H
#define AP1_H
_Static_assert(AP1_TRAMP == 0x8000, "the trampoline's addresses assume the page at 0x8000");
#define AP1_T(x) #x " - tramp + 0x8000"
asm(".text\n.code16\n.globl tramp, tramp_end, tramp_gdtr, tramp_cr3\n"
    "tramp:\n  cli\n  mov %cs, %ax\n  mov %ax, %ds\n"
    "  lgdtl tramp_gdtr - tramp\n"
    "  mov %cr0, %eax\n  or $1, %eax\n  mov %eax, %cr0\n"
    "  ljmpl $0x40, $(" AP1_T(tramp32) ")\n"
    ".code32\ntramp32:\n  mov $0x10, %ax\n  mov %ax, %ds\n  mov %ax, %es\n  mov %ax, %ss\n"
    "  mov %cr4, %eax\n  or $0x20, %eax\n  mov %eax, %cr4\n"
    "  mov " AP1_T(tramp_cr3) ", %eax\n  mov %eax, %cr3\n"
    "  mov $0xC0000080, %ecx\n  rdmsr\n  or $0x100, %eax\n  wrmsr\n"
    "  mov %cr0, %eax\n  and $0x9FFFFFFF, %eax\n  or $0x80010001, %eax\n  mov %eax, %cr0\n"
    "  ljmp $0x08, $ap1_64\n"
    ".align 8\ntramp_gdtr: .word 0\n  .long 0\n"
    "tramp_cr3: .long 0\ntramp_end:\n"
    ".code64\n"
    "ap1_64:\n  mov $0x10, %ax\n  mov %ax, %ds\n  mov %ax, %es\n  mov %ax, %ss\n"
    "  lidt ap_idtr(%rip)\n"
    "  lea ap_stack+16384(%rip), %rsp\n"
    "  call ap_main\n1: cli\n  hlt\n  jmp 1b\n");
extern char tramp[], tramp_end[], tramp_gdtr[], tramp_cr3[];
struct { u16 limit; u64 base; } __attribute__((packed)) ap_idtr;

// A low physical address as a pointer the compiler cannot reason about
// (0x8000 is not an object of this program).
static void *low(u64 a)
{
  asm("" : "+r"(a));
  return (void *)a;
}

// Copies the trampoline to AP1_TRAMP and fills in the BSP's GDT, CR3 and IDT;
// the caller then sends INIT and the SIPI with vector AP1_TRAMP >> 12.
static void ap1_prepare(void)
{
  u8 *t = low(AP1_TRAMP);
  for (long k = 0; k < tramp_end - tramp; k++)
    t[k] = tramp[k];
  struct { u16 limit; u64 base; } __attribute__((packed)) gdtr;
  asm volatile("sgdt %0" : "=m"(gdtr));
  u32 base32 = (u32)gdtr.base;
  __builtin_memcpy(t + (tramp_gdtr - tramp), &gdtr.limit, 2);
  __builtin_memcpy(t + (tramp_gdtr - tramp) + 2, &base32, 4);
  *(u32 *)(t + (tramp_cr3 - tramp)) = (u32)READ_CR(3);
  asm volatile("sidt %0" : "=m"(ap_idtr));
}

// INIT (assert, then deassert), 10 ms, then the SIPI to every other CPU
// (SDM Vol. 3A §8.4.4.1); the caller waits for its AP to report.
static void ap1_start(void)
{
  ap1_prepare();
  icr_send(0, SH_OTHERS | DM_INIT | ASSERT | LEVEL);
  icr_send(0, SH_OTHERS | DM_INIT | LEVEL);
  delay_pit_ms(10);
  icr_send(0, SH_OTHERS | DM_SIPI | (AP1_TRAMP >> 12));
}
#endif
