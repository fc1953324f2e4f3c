#!/usr/bin/env python3
"""Planted bugs the coverage-guided fuzzers must find (issue 15): each is a
plausible mistake in a device model or a loader, planted in a copy of the
tree, built with make SAN=1, and fuzzed with the same fixed-seed run that
make test runs on the clean tree (tools/test.sh step "fuzz"). The bug counts
as found when the run reports it: a UBSan report, the fuzzer killed by a
fault, a VIOLATION line, a host panic, or a failing exit status.

    python3 tools/fuzzbugs.py [-j N] [-k REGEX] [--keep]
    python3 tools/fuzzbugs.py --clean     the same runs on the unmodified tree: nothing found
    python3 tools/fuzzbugs.py --seed S    another seed than make test's (how robust a finding is)

Prints one line per bug (found by what, after how long) and
"N passed, N failed". Exit status 0 iff every bug was found (--clean: none).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The fixed-seed guided runs (make test runs these on the clean tree too).
DEV_RUN = "test=guestfuzz 1 8000 64 d"
LOADER_RUN = "test=guestfuzz 1 3000 64 l"

# (name, mistake, file, old text (exactly once), new text, run)
BUGS = [
    ("ioapic_index_off_by_one",
     "I/O APIC: IOREGSEL range check <= instead of <, so index 0x40 reads redirection entry 24 of 24",
     "user/vmm/ioapic.c",
     "  if (r >= 0x10 && r < 0x10 + 2 * IOAPIC_PINS) {\n    uint64 rte = io->rte[(r - 0x10) / 2];",
     "  if (r >= 0x10 && r <= 0x10 + 2 * IOAPIC_PINS) {\n    uint64 rte = io->rte[(r - 0x10) / 2];",
     DEV_RUN),
    ("image_unchecked_length",
     "guest image loader: the file length is not checked against memsize - load",
     "user/vmm/image.c",
     " || (uint64)n > h->memsize - h->load)", ")",
     LOADER_RUN),
    ("uart_line_off_by_one",
     "UART output line buffer: flushed at sizeof - 1 instead of sizeof - 2, the newline lands past the end",
     "user/vmm/devices.c",
     "c == '\\n' || g->linelen == sizeof g->line - 2", "c == '\\n' || g->linelen == sizeof g->line - 1",
     DEV_RUN),
]

FOUND = [("ubsan", r"^ubsan: .*"), ("killed", r"^pid \d+ \(guestfuzz\): killed.*"),
         ("violation", r".*VIOLATION.*"), ("panic", r"^panic: .*"),
         ("status", r"^init: test guestfuzz exited with status [1-9]\d*$")]


def parse_args(argv):
    p = argparse.ArgumentParser(description="Planted device/loader bugs the guided fuzzers must find.")
    p.add_argument("-j", dest="jobs", type=int, default=2, help="bugs at a time (each QEMU uses 2 CPUs)")
    p.add_argument("-k", dest="pattern", help="only bugs whose name matches")
    p.add_argument("--clean", action="store_true", help="run the fuzz runs on the clean tree instead")
    p.add_argument("--keep", action="store_true", help="keep the worker trees")
    p.add_argument("--build-dir", default="build-san", help="the SAN=1 build to start from")
    p.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-x86_64"))
    p.add_argument("--timeout", type=int, default=600)
    p.add_argument("--seed", type=int, help="fuzz with this seed instead of make test's (1)")
    return p.parse_args(argv)


def copy_tree(dest, build):
    """The tracked files (with their mtimes) and the SAN build, so make rebuilds only the edit."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "--null", "-T", "-", "-cf", dest + ".tar"], cwd=ROOT, input=files, check=True)
    subprocess.run(["tar", "-xf", dest + ".tar", "-C", dest], check=True)
    os.unlink(dest + ".tar")
    if os.path.isdir(os.path.join(ROOT, build)):
        shutil.copytree(os.path.join(ROOT, build), os.path.join(dest, "build-san"), symlinks=True)


def plant(tree, path, old, new):
    f = os.path.join(tree, path)
    text = open(f).read()
    if text.count(old) != 1:
        return "the old text occurs %d times in %s" % (text.count(old), path)
    open(f, "w").write(text.replace(old, new))
    return None


def fuzz(tree, cmdline, args):
    """Boots the SAN kernel of tree with cmdline; (what found it, the line) or (None, summary)."""
    b = os.path.join(tree, "build-san")
    argv = [args.qemu, "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "512M", "-no-reboot",
            "-nographic", "-kernel", b + "/kernel.bin", "-initrd", b + "/initrd.tar", "-append", cmdline,
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    try:
        out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=args.timeout).stdout
    except subprocess.TimeoutExpired:
        return "hang", "no power-off within %d s" % args.timeout
    text = out.decode("utf-8", "replace").replace("\r", "")
    for what, rx in FOUND:
        m = re.search(rx, text, re.M)
        if m:
            return what, m.group(0)
    summary = [l for l in text.splitlines() if l.startswith("guestfuzz: seed")]
    return None, summary[-1] if summary else "no summary line"


def one(bug, args, results, lock):
    name, _, path, old, new, run = bug
    if args.seed is not None:
        run = run.replace("guestfuzz 1 ", "guestfuzz %d " % args.seed)
    tree = tempfile.mkdtemp(prefix="fuzzbug-%s-" % name)
    t0 = time.time()
    try:
        copy_tree(tree, args.build_dir)
        err = None if args.clean else plant(tree, path, old, new)
        if not err:
            mk = subprocess.run(["make", "-s", "-j2", "SAN=1", "B=build-san"], cwd=tree, capture_output=True)
            if mk.returncode:
                err = "build failed: " + mk.stderr.decode()[-300:]
        what, line = (None, err) if err else fuzz(tree, run, args)
    finally:
        if not args.keep:
            shutil.rmtree(tree, ignore_errors=True)
    ok = (what is None and not err) if args.clean else what is not None
    with lock:
        results.append((name, ok))
        print("%s %-26s %-9s %5.0fs  %s: %s" % ("ok  " if ok else "FAIL", name, what or "-", time.time() - t0,
                                              run.split("=", 1)[1], line), flush=True)


def main(argv):
    args = parse_args(argv)
    bugs = [b for b in BUGS if not args.pattern or re.search(args.pattern, b[0])]
    if args.clean:   # each distinct run once, on the clean tree
        seen = set()
        bugs = [b for b in bugs if not (b[5] in seen or seen.add(b[5]))]
        bugs = [("clean:" + b[5].split()[-1], "", "", "", "", b[5]) for b in bugs]
    subprocess.run(["make", "-s", "-j2", "SAN=1", "B=" + args.build_dir], cwd=ROOT, check=True)
    results, lock, pending = [], threading.Lock(), list(bugs)
    workers = []
    while pending or workers:
        workers = [w for w in workers if w.is_alive()]
        while pending and len(workers) < max(1, args.jobs):
            w = threading.Thread(target=one, args=(pending.pop(0), args, results, lock))
            w.start()
            workers.append(w)
        time.sleep(0.2)
    passed = sum(1 for _, ok in results if ok)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
