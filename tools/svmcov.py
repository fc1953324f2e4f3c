#!/usr/bin/env python3
"""Coverage of kern/svm/ and kern/sysvm.c by the graders and the fuzzers.

    make SAN=1 && python3 tools/svmcov.py [--build-dir build-san] [-j 2]
        [--lab hsave,vmcb,...] [--fuzz | --no-fuzz] [--keep DIR] [--missing PREFIX]

Boots every test of the chosen labs (default: the labs of kern/svm/ and the
extra labs that drive it; grade/labs.py names them) with `kcov=all` added to
its command line, plus the two guided fuzz runs that
docs/internals/sanitizers-and-coverage.md has always measured (vmfuzz 1 20000
gc, guestfuzz 1 3000 64 gc). With kcov=all the kernel counts every site any
CPU reaches from kinit on (the vmm's boot-time setup, ktests, processes
without kcov, CPU enable/disable) and prints them at power-off; a run killed
before its power-off counts nothing, so each test's QEMU runs on to the
power-off (or the test's timeout) after its checks. Whether a test passes does not matter
here. The maps are merged and broken down by file with tools/kcov_files.py.
--keep DIR writes each run's output there (the logs kcov_files.py reads).
"""
import argparse
import copy
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "grade"))
sys.path.insert(0, HERE)
import gradelib  # noqa: E402
import grade  # noqa: E402
import kcov_files  # noqa: E402

LABS = "hsave,vmcb,vcpu,run,irq,hostile,san,devices,mmio,firmware"
FUZZ = [("vmfuzz_gc", "test=vmfuzz 1 20000 gc", 600),
        ("guestfuzz_gc", "test=guestfuzz 1 3000 64 gc", 900)]


class CovConfig(gradelib.Config):
    """The grader's QEMU command line with kcov=all appended to the kernel's."""

    def argv(self, t):
        a = super().argv(t)
        i = a.index("-append") + 1
        a[i] = (a[i] + " kcov=all").strip()
        return a


def to_the_end(t):
    """t, but QEMU runs on to the power-off (or the timeout) after t's checks:
    a test that has seen what it needs would kill it before the map."""
    t = copy.copy(t)
    check = t.fn

    def fn(r):
        try:
            check(r)
        except Exception:
            pass   # whether it passes does not matter here
        r.wait_exit()
    t.fn = fn
    return t


def fuzz_tests():
    out = []
    for name, cmdline, timeout in FUZZ:
        out.append(gradelib.Test(lambda r: r.wait_exit(), "fuzz", 0, name, cmdline, 2, timeout,
                                 None, (), "512M", name))
    return out


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default="build-san")
    p.add_argument("-j", type=int, default=2, help="QEMUs at a time")
    p.add_argument("--lab", default=LABS, help="labs whose tests run (comma-separated)")
    p.add_argument("--no-fuzz", action="store_true", help="leave out the two guided fuzz runs")
    p.add_argument("--keep", metavar="DIR", help="keep each run's output in DIR")
    p.add_argument("--missing", metavar="PREFIX", help="list the sites not reached in files under PREFIX")
    a = p.parse_args(argv)
    args = grade.parse_args(["--lab", a.lab, "--build-dir", a.build_dir])
    _, tests = grade.select(args)
    tests = [to_the_end(t) for t in tests if t.boot] + ([] if a.no_fuzz else fuzz_tests())
    scale = float(os.environ.get("SVMLAB_TIMEOUT_SCALE", "1"))
    cfg = CovConfig(a.build_dir, timeout_scale=scale)
    gradelib.install_signal_handlers()
    keep = a.keep or tempfile.mkdtemp(prefix="svmcov-")
    os.makedirs(keep, exist_ok=True)
    logs, mapped = [], 0

    def save(res):
        nonlocal mapped
        path = os.path.join(keep, res.test.id.replace("/", "-") + ".log")
        with open(path, "w") as f:
            f.write(res.output or "")
        logs.append(path)
        has = "kcov: kcov-map" in (res.output or "")
        mapped += has
        print("%-32s %s" % (res.test.id, "map" if has else "no map (killed before power-off)"), flush=True)

    gradelib.run_tests(tests, cfg, a.j, on_result=save)
    print("%d of %d runs printed a map; logs in %s" % (mapped, len(tests), keep))
    kcov_files.main(["--build-dir", a.build_dir] + (["--missing", a.missing] if a.missing else []) + logs)


if __name__ == "__main__":
    main(sys.argv[1:])
