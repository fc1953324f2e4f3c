#!/usr/bin/env python3
"""kvm-unit-tests' x86 tests that use several CPUs, each run twice: on plain
QEMU -smp N (the reference) and in svmlab's VMM with -V N (svmlab booted
under QEMU on 2 CPUs, `vmm -A -V N -k TEST.flat`), then compared check by
check ("PASS: ...", "FAIL: ...", "SKIP: ..." lines) and by how each run
ended. Not part of make test: kvm-unit-tests is not in this tree.

  git clone <kvm-unit-tests> /tmp/kut && (cd /tmp/kut && ./configure && make)
  python3 tools/kutsmp.py --kut /tmp/kut [-n 2 -n 4] [-t apic ...] [-v]

Prints one row per test and CPU count, then each check whose result differs.
Logs: BUILD/kutsmp/TEST-N.{qemu,vmm}.log. Exit status 0 iff nothing differs.
"""
import argparse
import os
import re
import sys
import tarfile

from archtest import run, timeout_scale as scale   # tools/archtest.py: the same QEMU runner

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (test, flat file, multiboot command line): unittests.cfg's SMP tests whose
# devices the VMM's board has (no PCI test device, no Hyper-V, no VMX).
# Left out: ioapic, which raises its interrupts through QEMU's pc-testdev
# (ports 0x2000+), a device neither run has here: both fail its five
# interrupt checks and time out alike.
TESTS = [("smptest", "smptest", ""), ("apic", "apic", ""), ("vmexit_ipi", "vmexit", "ipi"),
         ("vmexit_ipi_halt", "vmexit", "ipi_halt")]
RESULT = re.compile(r"^(PASS|FAIL|SKIP|XFAIL|XPASS): (.*?)\s*$", re.M)


def initrd(args):
    """svmlab's initrd plus each test's .flat and command-line file."""
    path = os.path.join(args.out, "initrd.tar")
    with tarfile.open(os.path.join(args.build_dir, "initrd.tar")) as src, \
            tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        for name, flat, cmd in TESTS:
            dst.add(os.path.join(args.kut, "x86", flat + ".flat"), "kut-%s.flat" % flat)
            cmdfile = os.path.join(args.out, "kut-%s.cmdline" % name)
            with open(cmdfile, "w") as f:   # argv[0] first, as QEMU's -kernel/-append give it
                f.write("kut-%s.flat %s\n" % (flat, cmd))
            dst.add(cmdfile, "kut-%s.cmdline" % name)
    return path


def ending(text, rc, vmm):
    if vmm:
        m = re.search(r"vmm: guest \S+ (.*?) after \d+ exits", text)
        return m.group(1) if m else "timeout" if rc is None else "no VMM summary"
    return "timeout" if rc is None else "exited with code %d" % (rc >> 1) if rc & 1 else "QEMU status %d" % rc


def plain(args, flat, cmd, n):
    argv = [args.qemu, "-M", "pc", "-accel", "tcg", "-cpu", "qemu64,-x2apic", "-smp", str(n), "-m", "256",
            "-nodefaults", "-display", "none", "-serial", "stdio", "-no-reboot",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-kernel",
            os.path.join(args.kut, "x86", flat + ".flat")] + (["-append", cmd] if cmd else [])
    text, rc = run(argv, 90 * scale())
    return text, ending(text, rc, False)


def vmm(args, name, flat, n, rd):
    cmd = "test=vmm -A -M 256 -V %d -k kut-%s.flat -a kut-%s.cmdline" % (n, flat, name)
    argv = [args.qemu, "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "768M", "-no-reboot",
            "-display", "none", "-nodefaults", "-serial", "stdio", "-device",
            "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", os.path.join(args.build_dir, "kernel.bin"),
            "-initrd", rd, "-append", cmd]
    text, rc = run(argv, 180 * scale())
    return text, ending(text, rc, True)


def results(text):
    """[(check, verdict)], numbered when a check's name repeats."""
    seen, out = {}, []
    for verdict, check in RESULT.findall(text):
        seen[check] = seen.get(check, 0) + 1
        out.append((check if seen[check] == 1 else "%s #%d" % (check, seen[check]), verdict))
    return out


def tally(res):
    c = {}
    for _, v in res:
        c[v] = c.get(v, 0) + 1
    return " ".join("%s %d" % (k.lower(), c[k]) for k in ("PASS", "FAIL", "SKIP", "XFAIL", "XPASS") if k in c) or "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kut", required=True, help="a built kvm-unit-tests tree (x86/*.flat)")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("-n", type=int, action="append", help="CPU counts (default 2 and 4)")
    ap.add_argument("-t", action="append", help="only this test (repeatable)")
    ap.add_argument("-v", action="store_true", help="print every check")
    args = ap.parse_args()
    args.out = os.path.join(args.build_dir, "kutsmp")
    os.makedirs(args.out, exist_ok=True)
    rd = initrd(args)
    fmt = "%-11s %2s  %-34s %-34s %s"
    print(fmt % ("test", "N", "plain QEMU", "svmlab VMM", "differing checks"))
    bad = 0
    for name, flat, cmd in TESTS:
        if args.t and name not in args.t:
            continue
        for n in args.n or [2, 4]:
            qt, qe = plain(args, flat, cmd, n)
            vt, ve = vmm(args, name, flat, n, rd)
            for kind, t in (("qemu", qt), ("vmm", vt)):
                with open(os.path.join(args.out, "%s-%d.%s.log" % (name, n, kind)), "w") as f:
                    f.write(t)
            q, v = results(qt), results(vt)
            qd, vd = dict(q), dict(v)
            diff = [k for k in list(qd) + [k for k in vd if k not in qd] if qd.get(k) != vd.get(k)]
            bad += bool(diff) or qe != ve
            print(fmt % (name, n, "%s; %s" % (tally(q), qe), "%s; %s" % (tally(v), ve), len(diff)))
            for k in (list(qd) if args.v else diff):
                print("    %-60s qemu %-5s vmm %s" % (k[:60], qd.get(k, "-"), vd.get(k, "-")))
    print("logs: %s/NAME-N.{qemu,vmm}.log" % args.out)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
