"""Lab 7 (mmio): the VMM's instruction decoder and emulator behind nested page
faults (user/vmm/decode.c, emulate.c, gva.c, mmio.c; alu.c and testdev.c are
given).

The guest user/guests/mmio.S runs every covered instruction form twice, on
RAM and on the VMM's RAM-like MMIO test device, and compares registers, flags
and memory; it also checks RIP- and GS-relative accesses and a #PF that
emulation must raise. The VMM's testdev line must show accesses of every
width, each reaching the device as one access. The emulator itself is checked
against the CPU: tools/emutest runs random instances natively and through
x86_decode/x86_emulate and compares (emulator_vs_cpu); user/mmiodiff runs
random instances in a guest, on RAM and through the real MMIO exit path
(mmio_random).
"""
import os
import random
import re
import subprocess

import answers
from gradelib import cases, test
from linux_guest import boots_clean, clean_run, guest_tsc_agrees, linux, linux_test, sleeps_two_seconds

QUESTIONS = 5   # labs/lab7-mmio.md §6
TREE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


@test(points=15, title="32-bit guest: paging off, a device-based segment with 16-bit addressing, "
      "32-bit paging (4 MiB and 4 KiB pages), #PF from an emulated write to a read-only page, PAE",
      cmdline="test=vmm mmio32", timeout=60)
def mmio_prot32(r):
    clean(r)
    r.expect(r"^mmio32: 9 checks passed$")
    r.expect(r"^vmm: guest mmio32 exited with code 0 ")
    r.expect_exit(0)


# A new seed each grading run (SVMLAB_SEED=N replays one): mmio_random and
# gva_random draw their instances from it.
SEED = int(os.environ.get("SVMLAB_SEED") or random.SystemRandom().randrange(1, 1 << 31))
MMIODIFF = 5000


@test(points=15, title="%d random instances agree on guest RAM and through the real MMIO path "
      "(NPF exit, fetch through the guest's page tables, decode, emulate) in 64-bit, 32-bit and 16-bit mode: "
      "random non-zero bases in every segment (FS and GS in 64-bit mode), overrides, default segments "
      "(SS for rBP/rSP, ES for string destinations), 16-bit addresses that wrap at 64 KiB, every operand and "
      "address size, some 40 %% across a page boundary into a frame that is not the next: user/mmiodiff.c" % MMIODIFF,
      cmdline="test=mmiodiff %d seed=%d" % (MMIODIFF, SEED), timeout=120, name="mmio_random")
def mmio_random(r):
    clean(r)
    replay = "\n    replay with: SVMLAB_SEED=%d make grade LAB=mmio GRADEFLAGS=\"-k mmio_random -v\"" % SEED
    m = r.expect(r"^mmiodiff: (\d+) instances of \d+ forms, (\d+) agree \(A on RAM, B through MMIO\); "
                 r"(\d+) emulated; QEMU: .*; (\d+) failures$")
    n, agree, emulated = int(m.group(1)), int(m.group(2)), int(m.group(3))
    first = r.find(r"^mmiodiff: MISMATCH .*$")
    r.check(n == MMIODIFF and agree == n, "%d of %d instances agree; first: %s (the MISMATCH lines say how)%s"
            % (agree, n, first.group(0) if first else "?", replay))
    r.check(emulated >= n * 9 // 10, "only %d of %d instances went through the MMIO path" % (emulated, n))
    c = r.expect(r"^mmiodiff: (\d+) instances crossed into a non-contiguous code page, (\d+) used GS with a "
                 r"non-zero base$")
    r.check(int(c.group(1)) >= n // 5 and int(c.group(2)) >= n // 40,
            "too few instances crossed a page boundary (%s) or used GS (%s) of %d" % (c.group(1), c.group(2), n))
    k = r.expect(r"^mmiodiff: by mode 64-bit (\d+), 32-bit (\d+), 16-bit (\d+); with segment bases: (\d+) named an "
                 r"override, (\d+) used SS by default \(rBP/rSP base\), (\d+) wrote through ES:rDI, (\d+) wrapped a "
                 r"16-bit address at 64 KiB, (\d+) used FS in 64-bit mode$")
    counts = [int(x) for x in k.groups()]
    r.check(min(counts[:3]) >= n // 5 and min(counts[3:]) >= n // 100,
            "every mode and segment rule must be exercised: " + k.group(0))
    r.expect_exit(0)


@test(points=5, title="an instruction the emulator does not cover ends the guest with its bytes",
      cmdline="test=vmm mmio_bad", timeout=60)
def mmio_refuse(r):
    clean(r)
    r.expect(r"^vmm: guest mmio_bad failed: MMIO gpa 0x20000000 rip 0x[0-9a-f]+: "
             r"instruction not emulated \(f7 33 [0-9a-f ]*\.\.\.\)")
    r.expect(r"^init: test vmm exited with status 1$")
    r.reject(r"the DIV on the device went through")


@test(points=4, title="local APIC as the SDM and KVM have it: APIC_BASE.EN clears and sets (CPUID.1 EDX.APIC "
      "follows, the page reads all ones while disabled, power-up state after), reserved bits #GP, a new base "
      "moves the page; byte/16-bit/unaligned accesses and REP STOSB memsets of the APIC and I/O APIC pages "
      "do not end the guest",
      cmdline="test=vmm apicbase", timeout=60)
def apic_base_widths(r):
    clean(r)
    r.reject(r"^apicbase: MISMATCH")
    m = r.expect(r"^apicbase: (\d+) checks, (\d+) failed$")
    r.check(int(m.group(1)) >= 34 and m.group(2) == "0", "expected 34+ checks, none failed: " + m.group(0))
    r.expect(r"^vmm: guest apicbase exited with code 0 ")
    r.expect_exit(0)


@test(points=25, title="decoder and emulator agree with the CPU on 30,000 random instances "
      "(tools/emutest), truncations refused, random bytes survive", cmdline="test=echo ok", timeout=120)
def emulator_vs_cpu(r):
    """Builds tools/emutest with this tree's decode.c/emulate.c/alu.c and runs it
    on the build machine's CPU (the QEMU boot is not used)."""
    p = subprocess.run(["make", "-s", "B=" + os.path.abspath(r.build_dir), "emutest",
                        "EMUCOUNT=30000", "SEED=7"], cwd=TREE, capture_output=True, text=True,
                       timeout=r.time_left(margin=10))
    out = p.stdout + p.stderr
    m = re.search(r"emutest: (\d+) instances of \d+ forms, (\d+) agree with the CPU;.* (\d+) failures", out)
    first = "\n".join(out.strip().splitlines()[:6])
    r.check(m is not None, "make emutest did not finish its run:\n" + first)
    r.check(m.group(1) == m.group(2) and m.group(3) == "0",
            "the emulator disagrees with the CPU (first lines of make emutest):\n" + first)


# user/gvacheck.c builds random page tables and computes the paging rules itself.
GVA_WALKS = 20000


@test(points=10, title="%d random page walks agree with the paging rules: long mode (4K/2M/1G pages), PAE, "
      "32-bit (4M pages with CR4.PSE), P, R/W with CR0.WP, U/S, NX with EFER.NXE, the #PF error code, "
      "accessed and dirty bits: user/gvacheck.c" % GVA_WALKS,
      cmdline="test=gvacheck %d seed=%d" % (GVA_WALKS, SEED), timeout=60, name="gva_random")
def gva_random(r):
    clean(r)
    m = r.expect(r"^gvacheck: (\d+) walks \(long mode (\d+), PAE (\d+), 32-bit (\d+); translated: 4K (\d+), "
                 r"2M (\d+), 1G (\d+), 4M (\d+)\), (\d+) failed$")
    first = r.find(r"^gvacheck: MISMATCH .*$")
    r.check(m.group(9) == "0", "%s of %s walks disagree; first: %s\n    replay with: SVMLAB_SEED=%d make grade "
            "LAB=mmio GRADEFLAGS=\"-k gva_random -v\"" % (m.group(9), m.group(1), first.group(0) if first else "?", SEED))
    r.check(int(m.group(1)) == GVA_WALKS and min(int(x) for x in m.groups()[1:8]) > 0,
            "every mode and page size must be exercised: " + m.group(0))
    r.expect_exit(0)


@test(points=3, title="answers-lab7.txt answers every question of labs/lab7-mmio.md §6",
      cpus=1, boot=False)
def written_answers(r):
    answers.check(r, 7, QUESTIONS)


def turtles(r, cmdline_file):
    """The host's lines around `vmm -k kernel.bin -r svmlab.tar`: svmlab boots
    as a multiboot guest, finds its one CPU, I/O APIC and local APIC through
    the ACPI tables, calibrates its LAPIC timer against the PIT, says SVM is
    unavailable (hidden by the CPUID policy) and powers off through the debug
    exit port with its test's status."""
    clean(r)
    r.expect(r"^svmlab: booting \(cmdline \"kernel.bin test=%s\"\)$" % cmdline_file)
    r.reject(r"^acpi: no MADT")
    t = r.expect(r"^lapic: timer (\d+) ticks per 10 ms")
    r.check(int(t.group(1)) > 0, "the guest's LAPIC timer counts (calibration got 0)")
    r.expect(r"^svm: unavailable: ")
    r.expect(r"^svmlab: 1 cpus online$")


def turtles_lines(r, case):
    """svmlab in svmlab runs the test named, which prints these lines."""
    prog, lines = case
    turtles(r, prog)
    for line in lines:
        r.expect(line)
    r.expect_exit(0)


cases(turtles_lines, ("points", "name", "title", "cmdline", "case"), [
    (20, "turtles_usertests", "svmlab boots svmlab (multiboot, ACPI, LAPIC timer, IOAPIC, UART) and passes its "
     "usertests", "test=vmm -k kernel.bin -r svmlab.tar -a svmlab-usertests.cmdline -M 64",
     ("usertests", [r"^usertests: ok$", r"^init: test usertests exited with status 0$",
                    r"^vmm: guest \S+ exited with code 0 ", r"^init: test vmm exited with status 0$"])),
    (5, "turtles_forktest", "svmlab in svmlab runs forktest",
     "test=vmm -k kernel.bin -r svmlab.tar -a svmlab-forktest.cmdline -M 64",
     ("forktest", [r"^forktest: ok$", r"^vmm: guest \S+ exited with code 0 "])),
], timeout=180)


@test(points=5, title="CR8 is the local APIC's TPR both ways, and an interrupt waits while CR8 holds its "
      "class (svmlab's ktest=cr8, in svmlab's VMM: the exit record's cr8, VM_RUN_SET_CR8, VM_EXIT_TPR)",
      cmdline="test=vmm -k kernel.bin -r svmlab.tar -a svmlab-cr8.cmdline -M 64", timeout=120)
def turtles_cr8(r):
    clean(r)
    r.expect(r"^svmlab: booting \(cmdline \"kernel.bin ktest=cr8\"\)$")
    r.expect(r"^ok: MOV 5 to CR8: the TPR reads 0x50 ")
    r.expect(r"^ok: TPR 0x3A written through the APIC page: CR8 reads 3 ")
    r.expect(r"^ok: a self-IPI of class 15 with CR8 = 15: taken 0 times ")
    r.expect(r"^ok: CR8 = 0 lets it in: taken 1 times")
    r.expect(r"^ktest cr8: 6 checks, 0 failed$")
    r.expect(r"^vmm: guest \S+ exited with code 0 ")
    r.expect_exit(0)


@test(points=5, title="svmlab in svmlab is interactive: keys typed at the host reach the guest's shell "
      "(host console -> VMM -> 16550A -> IOAPIC -> LAPIC -> guest) and its answer comes back",
      cmdline="test=vmm -k kernel.bin -r svmlab.tar -a svmlab-shell.cmdline -M 64", timeout=180)
def turtles_shell(r):
    clean(r)
    r.wait_for(r"^svmlab: booting \(cmdline \"kernel.bin\"\)$")
    r.wait_for(r"^init: starting sh$")
    r.wait_for(r"^\$ ", partial=True)
    r.sendline("echo turtles all the way down")
    r.wait_for(r"^turtles all the way down$")
    r.wait_for(r"^\$ ", partial=True)
    r.sendline("ls README")
    r.wait_for(r"README")


# Debian's kernel with the APIC board (vmm -A; -p off: without KVM's paravirtual
# interface, which a bzImage on this board otherwise gets): CPUID shows the APIC, the
# ACPI tables name it and the I/O APIC, and Linux runs in symmetric I/O mode.
# Its own check_timer must find the PIT on I/O APIC pin 2 (the MADT's
# override), the UART arrives on pin 4, and the local APIC timer is its
# clock event device (the graders' init reads both back).
@linux_test(15, "Debian's kernel with its local APIC and I/O APIC (vmm -A, ACPI MADT): PIT on IOAPIC pin 2, "
            "UART on pin 4, the LAPIC timer is its clock event device; sleep 2 takes 2 s",
            linux("sleep", "poweroff", names=" -A -p off"), "linux_apic")
def linux_apic(r):
    clean_run(r)
    r.reject(r"MP-BIOS bug|trying to set up timer|APIC: Keep in PIC mode|timer doesn't work")
    r.wait_for(r"ACPI: Using ACPI \(MADT\) for SMP configuration information")
    r.wait_for(r"APIC: Switch to symmetric I/O mode setup")
    r.wait_for(r"\.\.TIMER: vector=0x[0-9A-Fa-f]+ apic1=0 pin1=2 ")
    guest_tsc_agrees(r)
    clockevent, irqs = boots_clean(r, apic=True)
    r.check(clockevent == "lapic", "the clock event device is %r, not the local APIC timer" % clockevent)
    for irq, desc in (("0", "IO-APIC 2-edge timer"), ("4", "IO-APIC 4-edge ttyS0")):
        n, d = irqs.get(irq, (0, "missing"))
        r.check(n > 0 and d == desc, "/proc/interrupts IRQ %s: %d, %r; expected %r with a count" % (irq, n, d, desc))
    r.check(irqs.get("LOC", (0,))[0] >= 50, "only %s local timer interrupts" % (irqs.get("LOC", (0,))[0],))
    r.check(irqs.get("SPU", (0,))[0] == 0, "spurious interrupts: %s" % (irqs.get("SPU"),))
    sleeps_two_seconds(r)
    r.expect_exit(0)


# The FADT (user/vmm/acpi.c) names the ACPI PM registers (acpipm.c): Linux
# finds the PM timer, registers it as the acpi_pm clocksource once its rate
# matched the PIT's, loads the DSDT and its \_S5 package, and `poweroff -f`
# writes SLP_TYP|SLP_EN to PM1a_CNT, which turns the board off.
@linux_test(5, "Debian's kernel with the ACPI FADT (vmm -A): the PM timer is its acpi_pm clocksource and "
            "poweroff -f enters S5 through PM1a_CNT", linux("poweroff", "poweroff", names=" -A -p off"), "linux_acpi")
def linux_acpi(r):
    clean_run(r)
    r.reject(r"PM-Timer (had|running at invalid|is not)|ACPI Error|ACPI BIOS Error|FADT.*mismatch")
    r.wait_for(r"ACPI: PM-Timer IO Port: 0x608$")
    r.wait_for(r"ACPI: PM: \(supports S0 S5\)$")
    r.wait_for(r"clocksource: acpi_pm: mask: 0xffffff ")
    boots_clean(r, apic=True)
    r.wait_for(r"^linuxtest: powering off$")
    r.wait_for(r"^vmm: guest linux powered off \(ACPI S5\) after \d+ exits")
    r.expect_exit(0)
