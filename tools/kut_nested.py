#!/usr/bin/env python3
"""kvm-unit-tests' SVM tests (x86/svm.flat: an outside hypervisor's own
tests of SVM) run twice: on plain QEMU (QEMU's SVM is L0) and as L1 of
svmlab (`vmm -N -A -k svm.flat`, svmlab booted under the same QEMU), then
compared sub-test by sub-test. Not part of `make test`: kvm-unit-tests is
not vendored; build it first:

  git clone <kvm-unit-tests> /tmp/kut && cd /tmp/kut && ./configure && make
  python3 tools/kut_nested.py --kut /tmp/kut [--build-dir build] [-t SECONDS] [FILTER...]

FILTERs are svm.flat's own (test names, globs, -NAME to leave one out;
put `--` before the first FILTER that starts with -); by default these are
left out: reg_corruption (does not finish on QEMU 7.2 TCG) and the
latency_* benchmarks (a million world switches each, far too slow with two
levels of emulation; they measure, they do not check). Name them to run
them.
Prints one row per sub-test: its verdicts on both and whether they agree;
logs go to BUILD/kut/{qemu,vmm}.log.
"""
import argparse
import os
import re
import shutil
import subprocess
import tarfile
import io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


def run(argv, timeout):
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        return p.stdout.decode("latin-1")
    except subprocess.TimeoutExpired as e:
        return (e.stdout or b"").decode("latin-1") + "\n(timeout)\n"


def verdicts(text):
    """{sub-test: verdict}. svm.flat prints 'SVM test: NAME' before a test
    and 'PASS: ...'/'FAIL: ...' reports after it; a test passes when none of
    its reports fails. 'SKIP: NAME (not supported)' is a test of its own that
    did not run; any other SKIP line in a test without reports (svm.flat's
    own check of a feature, 'SKIP: XSAVE not detected') makes it 'SKIP'. A
    test with no report at all (the run ended in it) is 'no report'."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.search(r"SVM test: (\S.*?)\s*$", line)
        if m:
            cur = m.group(1)
            out[cur] = "no report"
            continue
        m = re.search(r"\bSKIP: (.*?) \(not supported\)\s*$", line)
        if m:
            out.setdefault(m.group(1), "SKIP")
            continue
        if re.search(r"\bSKIP: ", line) and cur is not None and out[cur] == "no report":
            out[cur] = "SKIP"
            continue
        m = re.search(r"\b(PASS|FAIL): ", line)
        if m and cur is not None and out[cur] != "FAIL":
            out[cur] = m.group(1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kut", required=True, help="a built kvm-unit-tests tree")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("-t", type=int, default=600, help="seconds per run")
    ap.add_argument("filters", nargs="*")
    args = ap.parse_args()
    flat = os.path.join(args.kut, "x86", "svm.flat")
    if not os.path.exists(flat):
        raise SystemExit("kut_nested: no %s (build kvm-unit-tests for x86_64 first)" % flat)
    filters = args.filters or ["-reg_corruption", "-latency_*"]
    logdir = os.path.join(args.build_dir, "kut")
    os.makedirs(logdir, exist_ok=True)
    common = ["-accel", "tcg", "-no-reboot", "-display", "none", "-nodefaults", "-serial", "stdio"] + DEBUG_EXIT
    qemu_text = run([args.qemu, "-M", "pc", "-cpu", "max", "-smp", "1", "-m", "256", "-kernel", flat,
                     "-append", " ".join(filters)] + common, args.t)
    # svmlab's initrd plus svm.flat and its command line (vmm -a FILE).
    initrd = os.path.join(logdir, "initrd.tar")
    shutil.copy(os.path.join(args.build_dir, "initrd.tar"), initrd)
    with tarfile.open(initrd, "a", format=tarfile.USTAR_FORMAT) as t:
        t.add(flat, arcname="svm.flat")
        line = ("svm.flat " + " ".join(filters)).encode()
        info = tarfile.TarInfo("kutargs")
        info.size = len(line)
        t.addfile(info, io.BytesIO(line))
    vmm_text = run([args.qemu, "-cpu", "max", "-smp", "1", "-m", "1G", "-kernel",
                    os.path.join(args.build_dir, "kernel.bin"), "-initrd", initrd, "-append",
                    "test=vmm -N -A -M 256 -k svm.flat -a kutargs"] + common, args.t)
    for kind, text in (("qemu", qemu_text), ("vmm", vmm_text)):
        with open(os.path.join(logdir, kind + ".log"), "w") as f:
            f.write(text)
    q, v = verdicts(qemu_text), verdicts(vmm_text)
    names = list(q) + [n for n in v if n not in q]
    same = 0
    print("%-34s %-10s %-10s %s" % ("sub-test", "qemu", "svmlab", ""))
    for n in names:
        a, b = q.get(n, "-"), v.get(n, "-")
        same += a == b
        print("%-34s %-10s %-10s %s" % (n, a, b, "" if a == b else "DIFFERS"))
    print("%d sub-tests, %d agree, %d differ; logs: %s/{qemu,vmm}.log" % (len(names), same, len(names) - same, logdir))


if __name__ == "__main__":
    main()
