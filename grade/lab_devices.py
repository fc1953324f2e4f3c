"""The VMM's chips without a guest (extra lab `devices`; issue 11, helper irqv).

user/devtest.c links user/vmm/pic.c, pit.c, uart.c, rtc.c and ports.c and
drives them port by port on a fake clock, the way the datasheets (Intel 8259A
and 8254, TI PC16550D, Motorola MC146818A) and their real clients (Linux's
i8259, PIT calibration and 8250 drivers) use them. Needs no lab 5 kernel:
the guest-level properties are graded in lab irq. docs/devices.md lists
what is modelled.
"""
from gradelib import test


def devtest(group, names):
    def run(r):
        r.reject(r"^panic: ")
        r.reject(r"^devtest: FAIL: ")
        for n in names:
            r.expect(r"^devtest: %s: ok$" % n)
        m = r.expect(r"^devtest: (\d+) checks, (\d+) failed$")
        r.check(m.group(2) == "0", "%s checks failed" % m.group(2))
        r.expect_exit(0)
    run.__name__ = "devtest_" + group
    return run


GROUPS = [
    ("pic", 6, "8259A pair: ICW1-4, priorities, EOI kinds, ELCR level mode, cascade, spurious "
     "IRQ7/15, auto-EOI, poll, rotation, special mask mode",
     ["pic_basic", "pic_level", "pic_cascade", "pic_modes"]),
    ("pit", 6, "8254: rate generator edge counts (1 kHz, 250, 100, 18.2 Hz) and times, latch, "
     "read-back, LSB/MSB/BCD, modes 0, 3 and 4, port 0x61 gate/OUT as Linux calibrates the TSC",
     ["pit_rate", "pit_modes", "pit_rates", "pit_port61"]),
    ("uart", 5, "16550A: IIR priorities, THRE re-armed, FIFO trigger and timeout, overrun, OUT2, "
     "loopback, DLAB", ["uart_intr", "uart_regs"]),
    ("rtc", 5, "MC146818: BCD/binary, 12/24 h, UIP, SET, century rollover, leap day, periodic/"
     "update/alarm flags and IRQ8", ["rtc_time", "rtc_intr"]),
    ("board", 4, "ports: all ones when unhandled, i8042, 0xCF9 and port 0x92 resets, 0x92 A20 readback, "
     "exit port; PIT ticks "
     "reinjected, not lost, dropped when masked (but still edges for an open I/O APIC pin 2); 200,000 "
     "random accesses keep the invariants",
     ["board_ports", "board_ticks", "board_ticks_ioapic", "board_fuzz"]),
]

for _group, _points, _title, _names in GROUPS:
    test(points=_points, title=_title, cmdline="test=devtest " + _group, timeout=30,
         name="devtest_" + _group)(devtest(_group, _names))


@test(points=3, title="MSR policy as KVM answers an AMD guest: legacy AMD and P6 performance counters read 0 "
      "and take any write, read-only and reserved bits #GP, HWCR/MISC_ENABLE/PAT/MTRR rules; vmm -s lists "
      "the MSRs not implemented", cmdline="test=vmm -s msrpolicy", timeout=60)
def vmm_msrpolicy(r):
    r.reject(r"^panic: ")
    r.reject(r"^msrpolicy: MISMATCH")
    m = r.expect(r"^msrpolicy: (\d+) checks, (\d+) failed$")
    r.check(int(m.group(1)) >= 40 and m.group(2) == "0", "expected 40+ checks, none failed: " + m.group(0))
    r.expect(r"^vmm: guest msrpolicy exited with code 0 ")
    u = r.expect(r"^vmm: MSRs not implemented \(#GP\): (.*)$").group(1)
    for want in ("0xc0010140 (1 rdmsr, 0 wrmsr)", "0xc0010200 (0 rdmsr, 1 wrmsr)",
                 "0x12345678 (1 rdmsr, 1 wrmsr)"):
        r.check(want in u, "vmm -s must list %s among the MSRs not implemented: %s" % (want, u))
    r.check("0xc001000" not in u, "the legacy performance counters are implemented: " + u)
    r.expect(r"^init: test vmm exited with status 0$")
    r.expect_exit(0)


@test(points=2, title="a guest's i8042 reset (0xFE to port 0x64) ends it as \"reset\", other "
      "commands ignored, the absent controller reads all ones", cmdline="test=vmm -e reset kbdreset",
      timeout=30)
def vmm_kbdreset(r):
    r.reject(r"^panic: ")
    r.expect(r"^vmm: guest kbdreset reset: i8042 reset \(0xFE to port 0x64\) after 3 exits "
             r"\(io=3, cpuid=0, msr=0, hlt=0, vmmcall=0, npf=0, exc=0, other=0; intr=\d+\)$")
    r.expect(r"^init: test vmm exited with status 0$")
    r.expect_exit(0)


@test(points=4, title="port I/O the kernel finishes itself (kern/svm/pio.c): 300 queued OUTs arrive in order, "
      "a full queue exits, an IN answered without an exit, wide OUTs and unflagged runs still exit, a halt "
      "returns the queue first, a single-stepped OUT is followed by its #DB (user/piotest.c)",
      cmdline="test=piotest", timeout=60)
def pio_fast(r):
    r.reject(r"^panic: ")
    r.reject(r"^piotest: FAIL")
    m = r.expect(r"^piotest: (\d+) checks, (\d+) failed$")
    r.check(int(m.group(1)) >= 14 and m.group(2) == "0", "expected 14 checks, none failed: %s" % m.group(0))
    r.expect(r"^init: test piotest exited with status 0$")
    r.expect_exit(0)
