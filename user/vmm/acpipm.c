// The ACPI fixed hardware registers the FADT names (acpi.c), as a PIIX4's
// power management function provides them (ACPI 6.4 §4.8 "ACPI Hardware
// Specification"):
//   PM1a event block   base+0  PM1_STS (write 1 to clear), base+2 PM1_EN
//   PM1a control block base+4  PM1_CNT: SCI_EN, SLP_TYP, SLP_EN (§4.8.3.2.1)
//   PM timer           base+8  32 bits at 3.579545 MHz (§4.8.3.3)
// SMI_CMD is 0 in the FADT: the board is always in ACPI mode, so SCI_EN reads
// 1. No event is ever raised (there is no power button, the GPE blocks are
// absent, TMR_STS is not kept), so the SCI never fires. Writing SLP_EN with
// the SLP_TYP of the DSDT's \_S5 package turns the machine off; other sleep
// states are not offered by the DSDT and such writes change nothing.
// Like every board port, a wide access arrives as bytes to consecutive ports.
#include "acpi.h"

#define PM_TIMER_HZ 3579545ULL     // §4.8.3.3: the 14.31818 MHz crystal / 4
#define NSEC 1000000000ULL

#define PM1_SCI_EN 0x0001
#define PM1_SLP_TYP_SHIFT 10
#define PM1_SLP_EN 0x2000

void acpi_pm_reset(struct acpi_pm *p)
{
  p->sts = p->en = 0;
  p->cnt = PM1_SCI_EN;
  p->off = 0;
}

// The timer's count at now (ns): whole clocks, no overflow for any now.
uint32 acpi_pm_timer(uint64 now)
{
  return (uint32)(now / NSEC * PM_TIMER_HZ + now % NSEC * PM_TIMER_HZ / NSEC);
}

// Byte i (0 = low) of a 16-bit register.
static uint8 byte_of(uint16 v, int i) { return v >> (8 * i); }
static uint16 with_byte(uint16 v, int i, uint8 b) { return (v & ~(0xFF << (8 * i))) | (b << (8 * i)); }

// The guest wrote byte i of PM1_CNT. SLP_EN is write-only (reads 0) and acts
// on the SLP_TYP written with it (§4.8.3.2.1, Table 4.13).
static void cnt_write(struct acpi_pm *p, int i, uint8 v)
{
  uint16 c = with_byte(p->cnt, i, v);
  if ((c & PM1_SLP_EN) && ((c >> PM1_SLP_TYP_SHIFT) & 7) == ACPI_SLP_TYP_S5)
    p->off = 1;
  p->cnt = (c & ~PM1_SLP_EN) | PM1_SCI_EN;
}

// One byte at port (base..base+11). 1 if the port is one of these registers.
int acpi_pm_io(struct acpi_pm *p, uint16 port, int in, uint8 *v, uint64 now)
{
  if (port < ACPI_PM_BASE || port >= ACPI_PM_BASE + 12)
    return 0;
  int off = port - ACPI_PM_BASE;
  if (off >= 8) {             // the timer: read-only
    if (in)
      *v = acpi_pm_timer(now) >> (8 * (off - 8));
    return 1;
  }
  if (off >= 6) {             // past PM1_CNT's two bytes: nothing
    if (in)
      *v = 0xFF;
    return 1;
  }
  uint16 *reg = off < 2 ? &p->sts : off < 4 ? &p->en : &p->cnt;
  int i = off & 1;
  if (in)
    *v = byte_of(*reg, i);
  else if (reg == &p->sts)
    p->sts &= ~(v[0] << (8 * i));   // write 1 to clear
  else if (reg == &p->en)
    p->en = with_byte(p->en, i, *v);
  else
    cnt_write(p, i, *v);
  return 1;
}
