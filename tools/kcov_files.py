#!/usr/bin/env python3
"""Kernel coverage by file, from a guided fuzzer's "NAME: kcov-map N HEX" line
(printed with the c flag: vmfuzz SEED N gc, guestfuzz SEED N 64 gc; make fuzz
keeps them in $B/fuzz-*.log).

    python3 tools/kcov_files.py [--build-dir build-san] LOG...

Site i is the i'th `call __sanitizer_cov_trace_pc` in kernel.elf's text by
address, as kern/kcov.c numbers them; addr2line names its file. Maps of
several logs are merged (a site counts when any run reached it). Prints
reached/total per file, for kern/svm/ as a whole, and over all sites.
"""
import argparse
import collections
import re
import subprocess
import sys


def sites(elf):
    """Return addresses of the hook calls, ascending (what kern/kcov.c finds)."""
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn", elf], capture_output=True, text=True,
                         check=True).stdout
    calls = [int(m.group(1), 16) for m in
             re.finditer(r"^\s*([0-9a-f]+):\s+call\s+[0-9a-f]+ <__sanitizer_cov_trace_pc>", out, re.M)]
    # objdump gives the call's address; the kernel records the return address (call + 5)
    return sorted(a + 5 for a in calls)


def files_of(elf, addrs):
    res = subprocess.run(["addr2line", "-e", elf] + ["%x" % (a - 1) for a in addrs], capture_output=True,
                         text=True, check=True).stdout.split("\n")
    return [re.sub(r".*?/(kern/)", r"\1", l.split(":")[0]) for l in res[:len(addrs)]]


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build-dir", default="build-san")
    p.add_argument("--missing", metavar="PREFIX", help="also list the unreached sites (function, file:line) "
                   "of the files whose path starts with PREFIX, e.g. kern/svm/halt.c")
    p.add_argument("logs", nargs="+")
    a = p.parse_args(argv)
    elf = a.build_dir + "/kernel.elf"
    addrs = sites(elf)
    reached = [False] * len(addrs)
    for log in a.logs:
        for line in open(log, errors="replace"):
            m = re.match(r"^\w+: kcov-map (\d+) ([0-9a-f]*)\s*$", line)
            if not m:
                continue
            if int(m.group(1)) != len(addrs):
                sys.exit("%s: the map has %s sites, %s has %d: another build" % (log, m.group(1), elf, len(addrs)))
            bits = bytes.fromhex(m.group(2))
            if len(bits) < (len(addrs) + 7) // 8:   # cut short (a panic on another CPU)
                print("%s: a kcov-map line cut short, left out" % log, file=sys.stderr)
                continue
            for i in range(len(addrs)):
                if bits[i // 8] >> (i % 8) & 1:
                    reached[i] = True
    per = collections.OrderedDict()
    for f, r in zip(files_of(elf, addrs), reached):
        t = per.setdefault(f, [0, 0])
        t[0] += r
        t[1] += 1
    for f, (r, t) in sorted(per.items()):
        print("%-28s %5d/%-5d %5.1f%%" % (f, r, t, 100.0 * r / t))
    svm = [v for f, v in per.items() if f.startswith("kern/svm/")]
    r, t = sum(v[0] for v in svm), sum(v[1] for v in svm)
    print("%-28s %5d/%-5d %5.1f%%" % ("kern/svm/ (all)", r, t, 100.0 * r / max(t, 1)))
    print("%-28s %5d/%-5d %5.1f%%" % ("all sites", sum(reached), len(addrs), 100.0 * sum(reached) / max(len(addrs), 1)))
    if a.missing:
        files = files_of(elf, addrs)
        miss = [x for x, f, r in zip(addrs, files, reached) if not r and f.startswith(a.missing)]
        out = subprocess.run(["addr2line", "-f", "-e", elf] + ["%x" % (x - 1) for x in miss], capture_output=True,
                             text=True, check=True).stdout.split("\n")
        for i in range(len(miss)):
            print("  not reached: %s %s" % (out[2 * i], re.sub(r".*?/(kern/)", r"\1", out[2 * i + 1])))


if __name__ == "__main__":
    main(sys.argv[1:])
