// x86-64 paging, segment and flag bits (AMD APM Vol. 2 §5 "Page Translation and Protection").
#pragma once
#include "const.h"
#define PGSIZE _UL(4096)
#define PGSHIFT 12
#define PGROUNDUP(a) (((a) + PGSIZE - 1) & ~(PGSIZE - 1))
#define PGROUNDDOWN(a) ((a) & ~(PGSIZE - 1))

// Page table entry bits.
#define PTE_P   _UL(0x001)   // present
#define PTE_W   _UL(0x002)   // writable
#define PTE_U   _UL(0x004)   // user
#define PTE_PWT _UL(0x008)
#define PTE_PCD _UL(0x010)
#define PTE_A   _UL(0x020)
#define PTE_D   _UL(0x040)
#define PTE_PS  _UL(0x080)   // 2 MiB / 1 GiB page
#define PTE_G   _UL(0x100)
#define PTE_NX  (_UL(1) << 63)
#define PTE_ADDR(pte) ((pte) & _UL(0x000FFFFFFFFFF000))
#define PTE_FLAGS(pte) ((pte) & ~_UL(0x000FFFFFFFFFF000))

// Index of va in the page table at level L (3 = PML4 .. 0 = PT).
#define PX(level, va) ((((uint64)(va)) >> (12 + 9 * (level))) & 0x1FF)

// Control registers.
#define CR0_PE _UL(0x00000001)
#define CR0_MP _UL(0x00000002)
#define CR0_TS _UL(0x00000008)
#define CR0_ET _UL(0x00000010)
#define CR0_NE _UL(0x00000020)
#define CR0_WP _UL(0x00010000)
#define CR0_NW _UL(0x20000000)
#define CR0_CD _UL(0x40000000)
#define CR0_PG _UL(0x80000000)
#define CR4_DE _UL(0x008)
#define CR4_PSE _UL(0x010)
#define CR4_PAE _UL(0x020)
#define CR4_PGE _UL(0x080)
#define CR4_OSFXSR _UL(0x200)

// EFER (MSR C000_0080h).
#define EFER_SCE  (_UL(1) << 0)
#define EFER_LME  (_UL(1) << 8)
#define EFER_LMA  (_UL(1) << 10)
#define EFER_NXE  (_UL(1) << 11)
#define EFER_SVME (_UL(1) << 12)

// RFLAGS.
#define FL_CF _UL(0x001)
#define FL_RSVD1 _UL(0x002)   // always 1
#define FL_TF _UL(0x100)
#define FL_IF _UL(0x200)
#define FL_DF _UL(0x400)
#define FL_IOPL _UL(0x3000)
#define FL_AC _UL(0x40000)

// Segment selectors of the kernel GDT. The order KCODE, KDATA, UDATA, UCODE
// is what SYSCALL/SYSRET require of STAR (APM Vol. 2 §6.1.1 "SYSCALL and SYSRET").
#define SEG_KCODE 1
#define SEG_KDATA 2
#define SEG_UDATA 3
#define SEG_UCODE 4
#define SEG_TSS   5   // 16-byte descriptor: slots 5 and 6
#define NSEGS     7
#define KCODE_SEL (SEG_KCODE << 3)
#define KDATA_SEL (SEG_KDATA << 3)
#define UDATA_SEL ((SEG_UDATA << 3) | 3)
#define UCODE_SEL ((SEG_UCODE << 3) | 3)
#define TSS_SEL   (SEG_TSS << 3)

// Model-specific registers used by the kernel (the SVM ones live in svm/svm.h).
#define MSR_EFER          0xC0000080
#define MSR_STAR          0xC0000081
#define MSR_LSTAR         0xC0000082
#define MSR_CSTAR         0xC0000083
#define MSR_SFMASK        0xC0000084
#define MSR_FS_BASE       0xC0000100
#define MSR_GS_BASE       0xC0000101
#define MSR_KERNEL_GS_BASE 0xC0000102
#define MSR_TSC_AUX       0xC0000103
#define MSR_APIC_BASE     0x0000001B
#define MSR_PAT           0x00000277
