"""MMIO emulation (issue 13, the future lab 7): the VMM's instruction decoder
and emulator behind nested page faults (user/vmm/decode.c, emulate.c, alu.c,
gva.c, mmio.c, testdev.c).

The guest user/guests/mmio.S runs every covered instruction form twice, on
RAM and on the VMM's RAM-like MMIO test device, and compares registers, flags
and memory; it also checks RIP- and GS-relative accesses and a #PF that
emulation must raise. The VMM's testdev line must show accesses of every
width, each reaching the device as one access. The emulator itself is checked
against the CPU by `make emutest` (a make test step), not here.
"""
from gradelib import test


def clean(r):
    r.reject(r"^panic: ")
    r.reject(r"^pid \d+ \(vmm\): killed")


@test(points=20, title="57 instruction forms agree on RAM and through MMIO emulation",
      cmdline="test=vmm mmio", timeout=60)
def mmio_agree(r):
    clean(r)
    m = r.expect(r"^mmio:\s+(\d+) instructions agree on RAM and MMIO$")
    r.check(int(m.group(1)) >= 57, "expected at least 57 checks, the guest ran %s" % m.group(1))
    w = r.expect(r"^vmm: testdev: (\d+) instructions emulated, (\d+) reads, (\d+) writes, "
                 r"by width 1:(\d+) 2:(\d+) 4:(\d+) 8:(\d+)$")
    widths = [int(x) for x in w.groups()[3:]]
    r.check(all(widths), "every access width (1, 2, 4, 8) must reach the device: %s" % widths)
    r.check(sum(widths) == int(w.group(2)) + int(w.group(3)),
            "each access must reach the device once, as one access of its width")
    r.expect(r"^vmm: guest mmio exited with code 0 ")
    r.expect_exit(0)


@test(points=5, title="an instruction the emulator does not cover ends the guest with its bytes",
      cmdline="test=vmm mmio_bad", timeout=60)
def mmio_refuse(r):
    clean(r)
    r.expect(r"^vmm: guest mmio_bad failed: MMIO gpa 0x20000000 rip 0x[0-9a-f]+: "
             r"instruction not emulated \(f7 33 [0-9a-f ]*\.\.\.\)")
    r.expect(r"^init: test vmm exited with status 1$")
    r.reject(r"the DIV on the device went through")


@test(points=10, title="multiboot loader: a.out-kludge, ELF32 and ELF64 kernels, modules, boot info; "
      "23 broken kernels refused by field; random corruptions stay in guest RAM; ACPI tables and "
      "fw_cfg read back as a kernel finds them",
      cmdline="test=mbcheck 3000", timeout=90)
def multiboot_loader(r):
    clean(r)
    r.reject(r"^mbcheck: FAIL")
    m = r.expect(r"^mbcheck: (\d+) checks, (\d+) failed$")
    r.check(int(m.group(1)) >= 700 and m.group(2) == "0",
            "expected at least 700 checks and none failed: %s" % m.group(0))
    r.expect_exit(0)


@test(points=10, title="LAPIC and IOAPIC models: reset, priorities, EOI, timer modes and divider, "
      "IPIs, routing, edge/level and Remote IRR (fake clock)", cmdline="test=apictest", timeout=60)
def apic_models(r):
    clean(r)
    r.reject(r"^apictest: FAIL")
    m = r.expect(r"^apictest: (\d+) checks, (\d+) failed$")
    r.check(int(m.group(1)) >= 80 and m.group(2) == "0", "expected 80+ checks, none failed: " + m.group(0))
    r.expect_exit(0)
