#!/usr/bin/env python3
"""Figures, not a test: the round trip of a fixed IPI between two CPUs
(tests/bench/ipipong.c, initrd file bench-ipipong.bin), on plain QEMU -smp 2
and in svmlab's VMM with -V 2 (svmlab itself on 2 CPUs). For each way of
waiting (spin: both CPUs in a PAUSE loop; hlt: both in HLT; flag: the target
in HLT, the sender polling a store, as kvm-unit-tests' on_cpu) it prints the
median and minimum round trip in microseconds, and how much of their time
QEMU's threads spent runnable but waiting for a host CPU (Linux's
/proc/PID/task/TID/schedstat, second field): on a loaded host that wait, not
the kick path, is where most of the time goes (docs/internals/vmm-smp.md).

  python3 tools/ipibench.py [--runs 3] [--build-dir build] [--qemu qemu-system-x86_64]
"""
import os
import re
import statistics
import subprocess
import time

import benchargs

LINE = re.compile(r"^ipipong (\w+): round trip cycles min (\d+) median (\d+) max (\d+); "
                  r"us min (\d+) median (\d+) max (\d+)", re.M)
EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]


def schedstat(pid):
    """{tid: (ns on a CPU, ns waiting on a run queue)} of pid's threads."""
    out = {}
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                run, wait = f.read().split()[:2]
                out[tid] = (int(run), int(wait))
    except (OSError, ValueError):
        pass
    return out


def run(argv, timeout):
    """(output, share of the busy threads' time spent waiting for a host CPU or None)."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    last, end = {}, time.monotonic() + timeout
    while p.poll() is None and time.monotonic() < end:
        last = schedstat(p.pid) or last
        time.sleep(0.2)
    if p.poll() is None:
        p.kill()
    text = p.communicate()[0].decode("latin-1")
    busy = [v for v in last.values() if v[0] > 10 ** 8]   # the vCPU threads (> 0.1 s on a CPU)
    ran, waited = sum(v[0] for v in busy), sum(v[1] for v in busy)
    return text, (waited / (ran + waited) if ran + waited else None)


def main():
    args = benchargs.parse(__doc__)
    b = args.build_dir
    bench = os.path.join(b, "initrd", "bench-ipipong.bin")
    plain = [args.qemu, "-M", "pc", "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "128", "-no-reboot",
             "-display", "none", "-nodefaults", "-serial", "stdio", "-kernel", bench] + EXIT
    vmm = [args.qemu, "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "512M", "-no-reboot", "-display",
           "none", "-nodefaults", "-serial", "stdio", "-kernel", os.path.join(b, "kernel.bin"), "-initrd",
           os.path.join(b, "initrd.tar"), "-append", "test=vmm -A -M 128 -V 2 -k bench-ipipong.bin"] + EXIT
    for name, argv, timeout in (("plain QEMU -smp 2", plain, 120), ("svmlab VMM -V 2", vmm, 300)):
        for r in range(args.runs):
            with open("/proc/loadavg") as f:
                load = f.read().split()[0]
            text, wait = run(argv, timeout)
            figures = LINE.findall(text)
            rounds = re.findall(r"^ipipong (\w+): rounds (\d+) of (\d+)", text, re.M)
            lost = ["%s %s/%s" % m for m in rounds if m[1] != m[2]]
            cols = "  ".join("%s median %5s us (min %4s)" % (m[0], m[5], m[4]) for m in figures)
            print("%-18s run %d  load %s  %s  host-CPU wait %s%s" % (
                name, r + 1, load, cols or "no figures", "%d%%" % (100 * wait) if wait is not None else "?",
                ("  GAVE UP: " + ", ".join(lost)) if lost else ""))


if __name__ == "__main__":
    main()
