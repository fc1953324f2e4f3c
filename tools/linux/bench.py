#!/usr/bin/env python3
"""make bench, Linux part: boots Debian's kernel and the graders' initramfs
to the same marker ("linuxtest: init running") under svmlab's VMM and under
plain QEMU TCG (-M pc), RUNS times each, alternating, and prints the wall
times from QEMU's start, their ratio and the VMM's exits per boot by reason
(vmm -s).  Usage: bench.py BUILD_DIR [RUNS [VMM-FLAGS]]: none for the 8259s and
the PIT; "-A" for the APIC board, on which Linux gets KVM's paravirtual interface
(user/vmm/kvmpv.c; "-A -p off" without it); the guest then ends in ACPI S5.
BENCH_QUIET=1: both boot with `quiet` (no kernel console messages: what the
8250 console's two world switches per character cost).
"-v": svmlab's guest gets the virtio console (hvc0, vmm -v, which implies -A) and the
command line cmd_hvc: its init loads the virtio modules, then prints the kernel's log
with dmesg before the marker; plain QEMU keeps ttyS0, where the kernel printed the
same log as it booted. Both times are to the same marker, so each side's includes
getting the boot messages out through its console."""
import os
import re
import subprocess
import sys
import time

MARK = b"linuxtest: init running"
ENTER = b"vmm: entering the guest"   # vmm -s, right before the first vcpu_run


def run(argv, cwd, stdin_data=None, until_end=False, timeout=300, marks=None):
    """Seconds from start to MARK (None if never), and the whole output.
    marks: {bytes: None} gets the seconds to each of its strings."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out, seen = b"", None
    os.set_blocking(p.stdout.fileno(), False)
    while time.monotonic() - t0 < timeout:
        chunk = p.stdout.read()
        if chunk:
            out += chunk
            for k in marks or {}:
                if marks[k] is None and k in out:
                    marks[k] = time.monotonic() - t0
            if seen is None and MARK in out:
                seen = time.monotonic() - t0
                if not until_end:
                    break
        elif p.poll() is not None:
            break
        else:
            time.sleep(0.01)
    p.kill()
    p.wait()
    return seen, out.decode(errors="replace")


def main():
    b = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    flags = sys.argv[3] if len(sys.argv) > 3 else ""
    end = "poweroff" if "-p on" in flags or "-A" in flags.split() or "-v" in flags.split() else "halt"
    sys.argv = ["grade.py", "--build-dir", b]
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "grade"))
    import linux_guest as lx_guest
    if lx_guest.SKIP:
        print("  linux: skipped: %s" % lx_guest.SKIP)
        return
    lx = os.path.join(b, "linux")
    cmd = "quiet" if os.environ.get("BENCH_QUIET") else "poweroff"   # quiet: no kernel console messages
    svm_cmd = ("hvc_quiet" if cmd == "quiet" else "hvc") if "-v" in flags.split() else cmd
    plain = ["qemu-system-x86_64", "-accel", "tcg", "-M", "pc", "-cpu", "max", "-m", "256M", "-smp", "1",
             "-display", "none", "-nodefaults", "-serial", "stdio", "-monitor", "none", "-no-reboot",
             "-kernel", os.path.join(lx, "vmlinuz"), "-initrd", os.path.join(lx, "grade.cpio"),
             "-append", lx_guest.CMDLINES[cmd]]
    svm = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "1G", "-no-reboot",
           "-display", "none", "-nodefaults", "-serial", "stdio", "-monitor", "none",
           "-kernel", "kernel.bin", "-initrd", lx_guest.TAR,
           "-append", "test=vmm -s -e %s %s -k bzImage -r initramfs -a cmd_%s" % (end, flags, svm_cmd),
           "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
    tp, ts, tv, table = [], [], [], ""
    for _ in range(runs):
        t, _ = run(plain, b)
        tp.append(t)
        marks = {ENTER: None}
        t, out = run(svm, b, until_end=True, marks=marks)
        ts.append(t)
        tv.append(marks[ENTER])
        keep = r"vmm: (guest linux .* after|exits:|reason|virtio-console:|\S+ exits by |\d+ UART writes|kvmpv:|\S+ +\d+ |world switches|switches by)"
        table = "\n".join(l for l in out.splitlines() if re.match(keep, l))
    ok = [(p, s) for p, s in zip(tp, ts) if p and s]
    if not ok:
        print("  linux: the marker was never reached (plain %s, svmlab %s)" % (tp, ts))
        return
    med = lambda v: sorted(v)[len(v) // 2]
    p, s = med([x for x, _ in ok]), med([y for _, y in ok])
    print("  linux to /init: plain QEMU TCG median %.2fs, svmlab's VMM median %.2fs, ratio %.2f (%d runs)"
          % (p, s, s / p, len(ok)))
    print("  (wall time from QEMU's start: the VMM's includes svmlab's own boot; plain QEMU's, SeaBIOS)")
    v = [x for x in tv if x is not None]
    if v:
        print("  QEMU's start, svmlab's boot and the VMM's loading before the guest's first VMRUN (wall):"
              " median %.2fs; the rest of the VMM's median %.2fs, ratio %.2f to all of plain QEMU's"
              " (which includes its own start and SeaBIOS)" % (med(v), s - med(v), (s - med(v)) / p))
    print("  load average at the end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("  exits per boot, last run:")
    for l in table.splitlines():
        print("    " + l)


if __name__ == "__main__":
    main()
