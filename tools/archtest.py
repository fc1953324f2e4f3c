#!/usr/bin/env python3
"""Run each architectural test kernel (tests/arch/NAME.c, initrd file
arch-NAME.bin) twice: on plain QEMU (the reference) and in svmlab's VMM
(svmlab booted under QEMU, `vmm -A -M 128 -k arch-NAME.bin`), then compare
their "NAME.check: value" lines one by one. A difference fails unless
tests/arch/known-differences lists it with its reason (docs/archtest.md).
A kernel whose source has a line "// archtest: cpus N M ..." runs once per
count, on plain QEMU -smp N and in the VMM with -V N (run NAME-N).

  python3 tools/archtest.py [-j 2] [-k NAME]... [--open-fails] [--strict] [-v]

Last line: "N passed, M failed" (kernels), as tools/test.sh counts steps.
"""
import argparse
import concurrent.futures
import fnmatch
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCH = os.path.join(ROOT, "tests", "arch")
DEBUG_EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
GUEST_MB = 128
# Extra `vmm` flags by kernel: nsvm is an L1 hypervisor and needs nested SVM.
VMM_FLAGS = {"nsvm": "-N "}


def timeout_scale():
    try:
        return float(os.environ.get("SVMLAB_TIMEOUT_SCALE", "1"))
    except ValueError:
        return 1.0


def run(argv, timeout):
    """(output text, return code or None on timeout)."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        return p.stdout.decode("latin-1"), p.returncode
    except subprocess.TimeoutExpired as e:
        return (e.stdout or b"").decode("latin-1"), None


def checks(name, text):
    """The kernel's check lines, in order: [(check, value)]."""
    rx = re.compile(r"^%s\.(\S+): (.*?)\s*$" % re.escape(name), re.M)
    return [(m.group(1), m.group(2)) for m in rx.finditer(text)]


def cpu_counts(name):
    """The CPU counts a kernel asks for ("// archtest: cpus 2 4"), else [1]."""
    with open(os.path.join(ARCH, name + ".c")) as f:
        m = re.search(r"^// archtest: cpus ((?:\d+ ?)+)$", f.read(), re.M)
    return [int(n) for n in m.group(1).split()] if m else [1]


def plain_qemu(args, name, cpus):
    kernel = os.path.join(args.build_dir, "initrd", "arch-%s.bin" % name)
    argv = [args.qemu, "-M", "pc", "-accel", "tcg", "-cpu", "max", "-smp", str(cpus), "-m", str(GUEST_MB),
            "-no-reboot", "-display", "none", "-nodefaults", "-serial", "stdio", "-kernel", kernel] + DEBUG_EXIT
    # several CPUs that spin on a loaded host: more time each (4 TCG threads on 2 cores)
    text, rc = run(argv, 20 * cpus * timeout_scale())
    if rc is None:
        end = "timeout"
    elif rc & 1:
        end = "exit code %d" % (rc >> 1)
    else:
        end = "machine stopped (QEMU status %d)" % rc
    return text, end


def in_vmm(args, name, cpus):
    """Several vcpus: -V N, and svmlab itself on 2 CPUs, so that vcpu threads
    run in parallel and IPIs need kicks."""
    b = args.build_dir
    cmd = "test=vmm -A %s-M %d%s -k arch-%s.bin" % (VMM_FLAGS.get(name, ""), GUEST_MB,
                                                   " -V %d" % cpus if cpus > 1 else "", name)
    argv = [args.qemu, "-accel", "tcg", "-cpu", "max", "-smp", "2" if cpus > 1 else "1", "-m", "512M", "-no-reboot",
            "-display", "none", "-nodefaults", "-serial", "stdio", "-kernel", os.path.join(b, "kernel.bin"),
            "-initrd", os.path.join(b, "initrd.tar"), "-append", cmd] + DEBUG_EXIT
    text, rc = run(argv, 60 * (2 if cpus > 1 else 1) * timeout_scale())
    # (not anchored: a guest's unfinished line may precede it)
    m = re.search(r"vmm: guest \S+ (.*?) after \d+ exits", text)
    if m:
        end = re.sub(r"^exited with code", "exit code", m.group(1))
    elif re.search(r"^panic: ", text, re.M):
        end = "svmlab panicked"
    else:
        end = "timeout" if rc is None else "no VMM summary (QEMU status %s)" % rc
    return text, end


class Known:
    """tests/arch/known-differences: one accepted difference per line,
        PATTERN [= VALUE-REGEX] | REASON
    PATTERN is a glob over NAME.check; with = VALUE-REGEX the VMM's value must
    match it in full (the manual's answer where QEMU's is wrong); <none> stands
    for a line the VMM run did not print (the guest ended before it). REASON starts
    with "open:" (a VMM bug being fixed: reported, fails only with --open-fails),
    "qemu:" (QEMU is wrong) or "policy:" (the VMM differs on purpose).
    A kernel with a file tests/arch/NAME.expect is not run on plain QEMU: that
    file's "check: value" lines (the manual's answers) are its reference."""

    def __init__(self, path):
        self.entries = []
        for no, line in enumerate(open(path), 1):
            line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
            if not line:
                continue
            head, sep, reason = line.partition("|")
            if not sep:
                sys.exit("%s:%d: no '| reason'" % (path, no))
            head, reason = head.strip(), reason.strip()
            pat, eq, val = head.partition("=")
            self.entries.append({"pat": pat.strip(), "value": val.strip() if eq else None,
                                 "reason": reason, "used": False, "line": no})

    def match(self, key, value):
        """The first entry for key whose value (if it has one) matches, else
        (None, the first entry for key that has a value, or None)."""
        first = None
        for e in self.entries:
            if not fnmatch.fnmatchcase(key, e["pat"]):
                continue
            if e["value"] is None or (e["value"] == "<none>" and value is None) or \
                    (value is not None and re.fullmatch(e["value"], value)):
                return e, None
            first = first or e
        return None, first


def compare(name, ref, got, known):
    """Rows (key, qemu value, vmm value, verdict, reason); verdict in
    equal, listed, open, unexplained."""
    rdict, gdict = dict(ref), dict(got)
    keys = [k for k, _ in ref] + [k for k, _ in got if k not in rdict]
    rows = []
    for k in keys:
        key = "%s.%s" % (name, k)
        r, g = rdict.get(k), gdict.get(k)
        if r == g:
            rows.append((key, r, g, "equal", ""))
            continue
        e, wanted = known.match(key, g)
        if e is None:
            why = "known-differences wants %r (%s)" % (wanted["value"], wanted["reason"]) if wanted else ""
            rows.append((key, r, g, "unexplained", why))
            continue
        e["used"] = True
        rows.append((key, r, g, "open" if e["reason"].startswith("open:") else "listed", e["reason"]))
    return rows


def expected(name):
    """The reference from tests/arch/NAME.expect ("check: value" lines), or None."""
    path = os.path.join(ARCH, name + ".expect")
    if not os.path.exists(path):
        return None
    lines = [l.rstrip("\n") for l in open(path) if l.strip() and not l.startswith("#")]
    return "".join("%s.%s\n" % (name, l) for l in lines if not l.startswith("exit: ")), \
        next((l[6:] for l in lines if l.startswith("exit: ")), None)


def one_kernel(args, known, run):
    name, cpus = run
    label = name if cpus == 1 else "%s-%d" % (name, cpus)
    ref_text, ref_end = expected(name) or plain_qemu(args, name, cpus)
    vmm_text, vmm_end = in_vmm(args, name, cpus)
    logdir = os.path.join(args.build_dir, "archtest")
    os.makedirs(logdir, exist_ok=True)
    for kind, text in (("qemu", ref_text), ("vmm", vmm_text)):
        with open(os.path.join(logdir, "%s.%s.log" % (label, kind)), "w") as f:
            f.write(text)
    ref = checks(name, ref_text) + ([("exit", ref_end)] if ref_end else [])
    got = checks(name, vmm_text) + [("exit", vmm_end)]
    return label, compare(name, ref, got, known)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("-j", type=int, default=2, help="kernels at a time (each runs two QEMUs, one after the other)")
    ap.add_argument("-k", action="append", help="only this kernel (repeatable)")
    ap.add_argument("--known", default=os.path.join(ARCH, "known-differences"))
    ap.add_argument("--open-fails", action="store_true", help="count 'open:' differences as failures")
    ap.add_argument("--strict", action="store_true", help="also fail on known entries that matched nothing")
    ap.add_argument("-v", action="store_true", help="print every check, not only differences")
    args = ap.parse_args()
    known = Known(args.known)
    names = sorted(f[:-2] for f in os.listdir(ARCH) if f.endswith(".c") and f != "rt.c")
    if args.k:
        names = [n for n in names if n in args.k]
    if not names:
        sys.exit("archtest: no kernels (build with make; -k names one of tests/arch/*.c)")
    runs = [(n, c) for n in names for c in cpu_counts(n)]
    with concurrent.futures.ThreadPoolExecutor(max(1, args.j)) as pool:
        results = dict(pool.map(lambda r: one_kernel(args, known, r), runs))
    report(args, known, names, [n if c == 1 else "%s-%d" % (n, c) for n, c in runs], results)


def report(args, known, names, labels, results):
    fmt = "%-10s %7s %6s %7s %5s %12s"
    print(fmt % ("kernel", "checks", "equal", "listed", "open", "unexplained"))
    passed = failed = 0
    tot = [0] * 5
    for n in labels:
        rows = results[n]
        c = [len(rows)] + [sum(1 for r in rows if r[3] == v) for v in ("equal", "listed", "open", "unexplained")]
        tot = [a + b for a, b in zip(tot, c)]
        print(fmt % ((n,) + tuple(c)))
        bad = c[4] or (args.open_fails and c[3])
        failed += bool(bad)
        passed += not bad
    print(fmt % (("total",) + tuple(tot)))
    for n in labels:
        for key, r, g, verdict, reason in results[n]:
            if verdict != "equal" or args.v:
                print("%-11s %s\n    qemu: %s\n    vmm:  %s%s" % (verdict.upper(), key, r, g,
                      "\n    why:  " + reason if reason else ""))
    ran = set(names)
    stale = [e for e in known.entries if not e["used"] and e["pat"].split(".")[0] in ran]
    for e in stale:
        print("STALE       known-differences:%d %s: no such difference now%s" % (
            e["line"], e["pat"], " (fixed? remove the entry)" if e["reason"].startswith("open:") else ""))
    if args.strict and stale:
        failed += 1
    print("logs: %s/archtest/NAME.{qemu,vmm}.log" % args.build_dir)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
