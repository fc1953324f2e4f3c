// Boot: the BSP arrives here from boot.S in long mode on the boot page tables.
#include "defs.h"
#include "x86.h"
#include "cpu.h"
#include "multiboot.h"

struct cpu cpus[NCPU];
int ncpu = 1;

// Points GS at this CPU's struct cpu so mycpu() works.
void cpu_setself(struct cpu *c)
{
  c->self = c;
  wrmsr(MSR_GS_BASE, (uint64)c);
  wrmsr(MSR_KERNEL_GS_BASE, 0);
}

void main(uint64 mb_pa, uint64 magic)
{
  cpu_setself(&cpus[0]);
  consoleinit();
  if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
    panic("not started by a multiboot loader (magic %lx)", magic);
  struct mb_info *mb = P2V(mb_pa);
  cmdline_init(mb->flags & MB_INFO_CMDLINE ? (char *)P2V(mb->cmdline) : "");
  printf("svmlab: booting (cmdline \"%s\")\n", cmdline_all());
  kinit(mb);
  kvminit();
  printf("svmlab: %lu free pages (%lu MiB)\n", kfreecount(), kfreecount() * PGSIZE >> 20);
  seginit();
  syscallinit();
  trapinit();
  trapinithart();
  acpiinit();
  lapicinit();
  ioapicinit();
  uartintr_enable();
  initrd_init(mb);
  kcov_boot();   // kcov=all: count the vmm's boot-time setup too
  svm_hardware_setup();
  svm_hardware_enable();
  smp_boot();
  printf("svmlab: %d cpus online\n", ncpu);

  char name[64];
  if (cmdline_get("ktest", name, sizeof name))
    ktest_run(name);
  userinit();
  scheduler();
}
