#!/usr/bin/env python3
"""Figures, not a test: what a 1 kHz timer tick costs one level down and two
levels down. It boots the timer guest (user/guests/timer.S) on svmlab's VMM
(L1 is the guest), then as L2 on the VMM of svmlab in svmlab (the lab 9
boot, user/cmdlines/svmlab-nested-timer), at QEMU's real-time clock, and
prints for each: the ticks per second the guest got, its own figures (ticks
in two RTC seconds, ms for 1000 ticks), and QEMU's world switches (VMRUN and
#VMEXIT pairs of the outermost kernel) per tick.

A tick that costs more host time than the PIT's 1 ms period leaves the guest
in its handler for good: on a loaded host the nested run then ends at its
30 s budget with no figures from the guest. That is why the grader runs the
nested boot on QEMU's instruction clock (grade/lab_nested.py, ICOUNT) and
this tool reports the real-time cost.

  python3 tools/nested_bench.py [--runs 3] [--build-dir build] [--qemu qemu-system-x86_64]
"""
import os
import re
import subprocess
import time

import benchargs

EXIT = ["-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
TAKEN = re.compile(r"^(?:\S+\| )?vmm: interrupts taken (\d+); ", re.M)
SPENT = re.compile(r"^(?:\S+\| )?vmm: exits: \d+ in (\d+) ms; ", re.M)
SWITCHES = re.compile(r"^(?:\S+\| )?vmm: world switches: (\d+), ", re.M)


def boot(args, append, timeout):
    argv = [args.qemu, "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "512M", "-no-reboot",
            "-display", "none", "-nodefaults", "-serial", "stdio",
            "-kernel", os.path.join(args.build_dir, "kernel.bin"),
            "-initrd", os.path.join(args.build_dir, "initrd.tar"), "-append", append] + EXIT
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        text = p.stdout.decode("latin-1").replace("\r", "")
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode("latin-1").replace("\r", "") + "\n(killed after %d s)\n" % timeout
    return text, time.monotonic() - t0


def figures(text):
    """The innermost VMM's ticks and time (it prints first), the outermost
    kernel's world switches (it prints last)."""
    taken, spent, sw = TAKEN.findall(text), SPENT.findall(text), SWITCHES.findall(text)
    rtc = re.findall(r"^timer: 2 rtc seconds: (\d+) ticks$", text, re.M)
    ms = re.findall(r"^timer: 1000 ticks in (\d+) ms$", text, re.M)
    if not taken or not spent:
        return "no figures (the output ended early)"
    ticks, msec = int(taken[0]), int(spent[0])
    out = "%6d ticks in %6d ms: %5.0f ticks/s" % (ticks, msec, 1000.0 * ticks / max(msec, 1))
    if sw and ticks:
        out += ", %5.1f outer world switches a tick" % (int(sw[-1]) / ticks)
    out += "; guest: 2 RTC s = %s ticks, 1000 ticks = %s ms" % ("/".join(rtc) or "-", "/".join(ms) or "-")
    if "budget of" in text:
        out += "  (ended by the budget: the guest never finished)"
    return out


def main():
    args = benchargs.parse(__doc__)
    cases = (("L1 (svmlab VMM)", "test=vmm -s timer", 60),
             ("L2 (svmlab in svmlab)", "test=vmm -N -s -k kernel.bin -r svmlab-nested.tar -M 64 "
              "-a svmlab-nested-timer.cmdline", 90))
    for name, append, timeout in cases:
        for r in range(args.runs):
            with open("/proc/loadavg") as f:
                load = f.read().split()[0]
            text, wall = boot(args, append, timeout)
            print("%-22s run %d  load %-5s %5.1f s  %s" % (name, r + 1, load, wall, figures(text)), flush=True)


if __name__ == "__main__":
    main()
