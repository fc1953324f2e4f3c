"""The VMM's firmware side (issue 13): the multiboot loader, ACPI tables,
fw_cfg, and the local APIC and I/O APIC models, each checked on its own by a
user program (user/mbcheck.c, user/apictest.c). Given code, not a lab: an
extra grader.
"""
from gradelib import test


def clean(r):
    r.reject(r"^panic: ")
    r.reject(r"^pid \d+ \(\w+\): killed")


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
