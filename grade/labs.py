"""The list of svmlab's labs: the one place that names them.

grade.py (order of labs, --lab NUMBER), tools/handout.py (which marker
numbers exist) and tools/discriminate.sh (which handouts to check) all read
this table.  A lab is graded by grade/lab_<stem>.py; numbered labs 1.. have
solution markers `// LAB n BEGIN/STUB/END` in the source (HACKING.md).

    python3 grade/labs.py            prints "number stem title" lines
    python3 grade/labs.py --marked   only the labs that have markers (1..)
    python3 grade/labs.py --self-contained STEM   exit 0 iff STEM is in SELF_CONTAINED
"""
import sys

# (number, stem, title).  number None: an extra lab (graded, no handout).
LABS = [
    (0, "boot", "boot, traps, SMP, processes"),
    (1, "hsave", "SVM detection and the host save area"),
    (2, "vmcb", "the VMCB"),
    (3, "vcpu", "vcpus, ASIDs, loading a VMCB"),
    (4, "run", "VMRUN and #VMEXIT handling"),
    (5, "irq", "interrupts, the interrupt window, HLT and timers"),
    (6, "linux", "the Linux boot protocol: Debian's kernel in our VMM"),
    (None, "gdb", "GDB helpers"),
    (None, "hostile", "hostile guests and user programs"),
    (None, "soak", "SMP races and stress"),
    (None, "devices", "the VMM's chips: 8259A, 8254, 16550A, MC146818"),
    (7, "mmio", "MMIO: decoding and emulating the guest's instruction"),
    (None, "firmware", "the VMM's firmware side: multiboot loader, ACPI, fw_cfg, APIC models"),
    (8, "smp", "several vcpus: vcpu threads, INIT-SIPI, IPIs that kick or wake"),
    (9, "nested", "nested SVM: the guest runs guests of its own"),
]

# Lab 0 is orientation: it has a grader but no solution markers.
FIRST_MARKED = 1

# Labs whose solution regions only run when a test asks for them (smp: only
# with `vmm -V N`, N > 1; one vcpu never enters user/vmm/smp.c's regions,
# and the stub of ioapic.c's lapic_match_dest keeps one APIC's routing;
# nested: only after a guest's own VMRUN, which needs `vmm -N`), so
# that their stubs cannot cost an earlier lab a point: the handout check
# (tools/discriminate.sh) grades only the lab itself on such a lab's
# handout, instead of every lab before it again (3 minutes).
SELF_CONTAINED = {"smp", "nested"}


def numbered():
    """[(number, stem, title)] of the numbered labs, in order."""
    return [l for l in LABS if l[0] is not None]


def marked():
    """The labs whose solutions live between markers (number >= FIRST_MARKED)."""
    return [l for l in numbered() if l[0] >= FIRST_MARKED]


def by_number(n):
    """The stem of lab n, or None."""
    for num, stem, _ in LABS:
        if num == n:
            return stem
    return None


def order_key(stem):
    """Sort key: numbered labs by number, then extras in table order, then others."""
    for i, (num, s, _) in enumerate(LABS):
        if s == stem:
            return (0, num if num is not None else 1000 + i, stem)
    return (1, 0, stem)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--self-contained"]:
        sys.exit(0 if sys.argv[2:3] and sys.argv[2] in SELF_CONTAINED else 1)
    rows = marked() if "--marked" in sys.argv[1:] else LABS
    for num, stem, title in rows:
        print("%s %s %s" % ("-" if num is None else num, stem, title))
