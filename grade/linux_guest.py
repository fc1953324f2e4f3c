"""The Linux guest the graders boot (lab 6 linux, and lab 7 mmio's Linux with
its APIC): Debian's kernel and busybox (tools/linux/fetch.sh, cached in
BUILD/linux), the graders' /init, command-line files and broken bzImages in
BUILD/linux/grade.tar, and the checks of a clean boot. Without the packages
SKIP says why and linux_test declares nothing."""
import os
import re
import struct
import subprocess
import sys
import tarfile
import time

from gradelib import test

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_dir():
    """The --build-dir grade.py was given (default: build)."""
    argv = sys.argv
    for i, a in enumerate(argv):
        if a == "--build-dir" and i + 1 < len(argv):
            return os.path.abspath(argv[i + 1])
        if a.startswith("--build-dir="):
            return os.path.abspath(a.split("=", 1)[1])
    return os.path.join(ROOT, "build")


B = build_dir()
LX = os.path.join(B, "linux")
TAR = "linux/grade.tar"      # relative to the build directory, where QEMU runs

# The guest's /init for the graders: markers on the console, then what the
# kernel command line's linuxtest_end= (an environment variable for init) asks.
# dmesg -n 1: from here on only emergencies (a panic) reach the console, so
# that a late kernel line (clocksource switch) never cuts a marker in two.
INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin /tmp
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# linuxtest_hvc (vmm -v, console=hvc0): the console is the virtio one, whose drivers this kernel has
# as modules: until they are in there is no console (init's output goes nowhere, failures to ttyS0).
# The kernel's log so far is not replayed on hvc0 (virtio_console registers the console before it
# lists the port, so the replay's writes find no port and are dropped): init prints it with dmesg,
# the same lines the 8250 console shows; later kernel messages reach hvc0 as the kernel prints them.
if [ -n "$linuxtest_hvc" ]; then
  for m in virtio_ring virtio virtio_mmio virtio_console; do
    insmod /lib/modules/$m.ko 2>/dev/ttyS0 || echo "linuxtest: insmod $m failed" >/dev/ttyS0
  done
  exec </dev/hvc0 >/dev/hvc0 2>&1
  stty -opost   # whole writes to the console, not a write per line plus one per CR-LF (one buffer each)
  # cat: whole blocks (dmesg writes a line at a time). With quiet the console shows no log.
  grep -qw quiet /proc/cmdline || { dmesg > /tmp/log; cat /tmp/log; }
  echo "linuxtest: hvc $(ls /sys/class/virtio-ports /sys/bus/platform/drivers/virtio-mmio 2>&1 | grep -E '^(vport|LNRO)' | tr '\n' ' ')$(cat /sys/class/tty/console/active)"
fi
dmesg -n 1
echo "linuxtest: init running"
echo "linuxtest: uname $(uname -r)"
echo "linuxtest: cpuinfo $(grep -m1 '^flags' /proc/cpuinfo)"
echo "linuxtest: vendor $(grep -m1 '^vendor_id' /proc/cpuinfo)"
dmesg > /tmp/dmesg
grep -v 'ommand line:' /tmp/dmesg | grep -E 'BUG:|WARNING:|Oops|Call Trace|panic|unchecked MSR' | sed 's/^/linuxtest: dmesg-bad: /'
grep -E 'tsc: (Detected|Refined|Unable|Marking)' /tmp/dmesg | sed 's/^/linuxtest: /'
echo "linuxtest: clockevent $(cat /sys/devices/system/clockevents/clockevent0/current_device)"
echo "linuxtest: interrupts $(grep -E '^ *(0|4|LOC|ERR|SPU):' /proc/interrupts | tr -s ' ' | tr '\n' ';')"
echo "linuxtest: nproc $(nproc)"
echo "linuxtest: ipis $(grep -E '^ *(LOC|RES|CAL):' /proc/interrupts | tr -s ' ' | tr '\n' ';')"
echo "linuxtest: echo $((6 * 7))"
case "$linuxtest_end" in
sleep) echo "linuxtest: sleep start"; sleep 2; echo "linuxtest: sleep end"; poweroff -f ;;
reboot) echo "linuxtest: rebooting"; reboot -f ;;
panic) echo "linuxtest: init exits"; exit 1 ;;
shell) exec setsid cttyhack sh ;;
*) echo "linuxtest: powering off"; poweroff -f ;;
esac
"""

BASE_CMDLINE = "console=ttyS0 reboot=k panic=-1"
CMDLINES = {e: BASE_CMDLINE + " linuxtest_end=" + e for e in ("poweroff", "sleep", "reboot", "panic", "shell")}
# tools/linux/bench.py with BENCH_QUIET=1: the same boot without the kernel's console messages (two
# world switches per character on the 8250), on plain QEMU and svmlab alike.
CMDLINES["quiet"] = BASE_CMDLINE + " quiet linuxtest_end=poweroff"
# vmm -v: the virtio console is the kernel's (hvc0); init loads its modules first.
HVC_CMDLINE = "console=hvc0 reboot=k panic=-1 linuxtest_hvc=1"
CMDLINES["hvc"] = HVC_CMDLINE + " linuxtest_end=poweroff"
CMDLINES["hvc_quiet"] = HVC_CMDLINE + " quiet linuxtest_end=poweroff"
CMDLINES["hvc_shell"] = HVC_CMDLINE + " linuxtest_end=shell"
MODULES = ["virtio_ring", "virtio", "virtio_mmio", "virtio_console"]


def u16(d, o):
    return struct.unpack_from("<H", d, o)[0]


def put(d, o, fmt, v):
    struct.pack_into(fmt, d, o, v)


def small_kernel(k, size=1 << 20):
    """The real kernel's first `size` bytes with syssize made to match: a
    file whose header is consistent, for checks after syssize's."""
    d = bytearray(k[:size])
    setup = ((d[0x1F1] or 4) + 1) * 512
    put(d, 0x1F4, "<I", (size - setup) // 16)
    return d


def broken_images(k):
    """{name: bytes}: one header lie each (the table of bad_images below)."""
    s = small_kernel(k)
    out = {"bz_empty": b"", "bz_short": k[:300]}

    def patched(base, off, fmt, val):
        d = bytearray(base)
        put(d, off, fmt, val)
        return bytes(d)
    out["bz_nohdrs"] = patched(s, 0x202, "<I", 0x53726449)
    out["bz_noaa55"] = patched(s, 0x1FE, "<H", 0x55AA)
    out["bz_oldproto"] = patched(s, 0x206, "<H", 0x0204)
    out["bz_zimage"] = patched(s, 0x211, "B", s[0x211] & ~1)
    out["bz_no64"] = patched(s, 0x236, "<H", u16(s, 0x236) & ~1)
    out["bz_setup"] = patched(s[:65536], 0x1F1, "B", 255)
    out["bz_sects0"] = patched(s[:1536], 0x1F1, "B", 0)
    out["bz_syssize"] = patched(s, 0x1F4, "<I", 0x10000000)
    out["bz_syssize0"] = patched(s, 0x1F4, "<I", 0)
    out["bz_cut"] = bytes(k[:len(k) // 2])
    out["bz_align"] = patched(s, 0x230, "<I", 0x3000)
    out["bz_fixed"] = patched(patched(s, 0x234, "B", 0), 0x258, "<Q", 0x2000000)
    out["bz_hugeinit"] = patched(s, 0x260, "<I", 0xF0000000)
    out["bz_tinyinit"] = patched(s, 0x260, "<I", 4096)
    out["bz_lowinitrd"] = patched(s, 0x22C, "<I", 0xFFFFFF)
    out["bz_small"] = bytes(s)
    return out


def add_bytes(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o755
    import io
    tar.addfile(info, io.BytesIO(data))


def prepare():
    """Builds BUILD/linux/grade.tar; None, or why the lab cannot run."""
    r = subprocess.run(["sh", os.path.join(ROOT, "tools/linux/fetch.sh"), LX],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        return r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "fetch.sh failed"
    base = os.path.join(B, "initrd.tar")
    if not os.path.exists(base):
        return "%s is missing: run make first" % base
    out = os.path.join(B, TAR)
    mods = [os.path.join(LX, "modules", m + ".ko") for m in MODULES]
    deps = [base, os.path.join(LX, "vmlinuz"), os.path.abspath(__file__),
            os.path.join(ROOT, "tools/linux/mkinitramfs.py")] + mods
    if os.path.exists(out) and all(os.path.getmtime(out) >= os.path.getmtime(d) for d in deps):
        return None
    init = os.path.join(LX, "grade-init")
    with open(init, "w") as f:
        f.write(INIT)
    cpio = os.path.join(LX, "grade.cpio")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools/linux/mkinitramfs.py"), "--busybox",
                        os.path.join(LX, "busybox"), "--init", init, "-o", cpio]
                       + ["--file=%s:lib/modules/%s" % (m, os.path.basename(m)) for m in mods])
    if r.returncode != 0:
        return "mkinitramfs.py failed"
    with open(os.path.join(LX, "vmlinuz"), "rb") as f:
        k = f.read()
    tmp = out + ".tmp"
    with tarfile.open(base) as src, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as dst:
        for m in src.getmembers():
            if m.isfile():
                dst.addfile(m, src.extractfile(m))
        add_bytes(dst, "bzImage", k)
        with open(cpio, "rb") as f:
            add_bytes(dst, "initramfs", f.read())
        for end, line in CMDLINES.items():
            add_bytes(dst, "cmd_" + end, (line + "\n").encode())
        add_bytes(dst, "cmd_long", ("console=ttyS0 " + "x" * 2100 + "\n").encode())
        for name, data in broken_images(k).items():
            add_bytes(dst, name, data)
    os.replace(tmp, out)
    return None


# Only a grading run fetches and builds (tools/labtests.py imports this file
# for the handout's test table, which must not depend on the network).
SKIP = prepare() if os.path.basename(sys.argv[0]) == "grade.py" else None
if SKIP:
    print("lab linux: skipped: the tests that boot Linux need Debian's packages: %s" % SKIP,
          file=sys.stderr)


def linux_test(points, title, cmdline, name, cpus=2, timeout=300):
    """@test for the tests that need BUILD/linux/grade.tar; none when SKIP."""
    if SKIP:
        return lambda fn: fn
    return test(points=points, title=title, cmdline=cmdline, cpus=cpus, timeout=timeout, mem="1G",
                extra=["-initrd", TAR], name=name)


def release():
    with open(os.path.join(LX, "release")) as f:
        return f.read().strip()


def clean_run(r):
    r.reject(r"^panic: ")
    r.reject(r"^FAIL: ")
    r.reject(r"^lab \d: .* not implemented")
    r.reject(r"^pid \d+ \(vmm\): killed")



FIRST_LINE = 40      # seconds (scaled) to the kernel's banner; an idle machine takes 1.5
BOOT_TIMEOUT = 300   # a loaded 2-core machine; an idle one boots to /init in about 15 s


def linux(end, expect, mem=256, names=""):
    """svmlab's command line: init runs the VMM on Linux, the guest's init
    ending as `end` says; the VMM exits 0 iff the guest ended as `expect`."""
    return "test=vmm -e %s -M %d -k bzImage -r initramfs -a cmd_%s%s" % (expect, mem, end, names)


# Flags the CPUID policy (user/vmm/cpuid.c) must show, and must hide.
FLAGS_ON = ["fpu", "tsc", "msr", "pae", "cx8", "pge", "cmov", "pat", "mmx", "fxsr", "sse", "sse2",
            "syscall", "nx", "lm", "hypervisor", "rdtscp"]   # rdtscp: QEMU's -cpu max has it
FLAGS_OFF = ["apic", "x2apic", "tsc_deadline_timer", "monitor", "svm", "vmx", "xsave", "avx",
             "mce", "mca", "perfctr_core", "arch_perfmon", "ht"]


def sleeps_two_seconds(r):
    """The graders' init ran `sleep 2` (linuxtest_end=sleep): it must take
    2 s of wall time, then the guest powers off (it halts, or with the APIC
    board's ACPI tables it enters S5). A loaded host delays the end line
    (measured with two busy loops beside the test: 0.17 s on the PIT board,
    1.25 s on the APIC board), never brings it early: so the window is 1.9 s
    to 5 s, and guest_tsc_agrees judges the clock's rate to 0.5 %."""
    r.wait_for(r"^linuxtest: sleep start$")
    t0 = time.monotonic()
    r.wait_for(r"^linuxtest: sleep end$", within=10)   # a timer that never fires fails now, not at the timeout
    dt = time.monotonic() - t0
    r.check(1.9 <= dt <= 5.0, "sleep 2 took %.3f s of wall time" % dt)
    r.wait_for(r"^vmm: guest linux (halted|powered off \(ACPI S5\)) after")


def guest_tsc_agrees(r):
    """The frequency Linux took for its TSC (the VMM's tsc_early_khz) must be
    the one svmlab measured against the PIT at boot, within 0.5 %: a guest
    clock that is off by less than a loaded host's output delays (which stay
    within the sleep window's slack) still shows here."""
    host = int(r.expect(r"^lapic: timer \d+ ticks per \d+ ms at divide 16, TSC (\d+) MHz").group(1))
    guest = float(r.expect(r"tsc: Detected (\d+\.\d+) MHz processor").group(1))
    r.check(abs(guest - host) <= host * 0.005 + 1, "Linux took its TSC for %.3f MHz; the host measured %d MHz"
            % (guest, host))


def boots_clean(r, prefix="", w=None, apic=False, pv=False):
    """The markers of a clean boot, in order (w: r.wait_for), or each
    searched from the start (w=r.expect, when two guests' lines interleave).
    apic: the guest has the APIC board (vmm -A), so CPUID shows the APIC;
    pv: and KVM's paravirtual interface (vmm -p on): x2APIC and TSC-deadline too.
    Returns the clock event device and {irq: (count, description)} of the
    guest's /proc/interrupts (IRQs 0 and 4, LOC, SPU, ERR)."""
    p = re.escape(prefix)
    w = w or r.wait_for
    extra = (["apic"] if apic else []) + (["x2apic", "tsc_deadline_timer"] if pv else [])
    on = FLAGS_ON + extra
    off = [f for f in FLAGS_OFF if f not in extra]
    r.reject(r"^%slinuxtest: dmesg-bad: " % p)
    # The kernel's first line comes 1-2 s into an idle boot: a loader bug that
    # leaves it dead (no e820 map, say) fails now, not at the timeout.
    r.expect(r"Linux version \S+", within=FIRST_LINE)
    w(r"^%slinuxtest: init running$" % p)
    m = w(r"^%slinuxtest: uname (\S+)$" % p)
    r.check(m.group(1) == release(), "uname -r says %s, the kernel is %s" % (m.group(1), release()))
    m = w(r"^%slinuxtest: cpuinfo flags\s*:(.*)$" % p)
    flags = m.group(1).split()
    r.check(not [f for f in on if f not in flags], "/proc/cpuinfo lacks %s" % [f for f in on if f not in flags])
    r.check(not [f for f in off if f in flags],
            "/proc/cpuinfo shows %s, which the VMM does not emulate" % [f for f in off if f in flags])
    w(r"^%slinuxtest: vendor vendor_id\s*: SVMLAB vCPU\s*$" % p)
    w(r"^%slinuxtest: (\[[ .0-9]*\] )?tsc: Detected \d+\.\d+ MHz processor$" % p)
    clockevent = w(r"^%slinuxtest: clockevent (\S*)$" % p).group(1)
    irqs = {}
    for entry in w(r"^%slinuxtest: interrupts (.*)$" % p).group(1).split(";"):
        m = re.match(r"^\s*(\w+): (\d+)\s*(.*)$", entry)
        if m:
            irqs[m.group(1)] = (int(m.group(2)), m.group(3).strip())
    w(r"^%slinuxtest: echo 42$" % p)
    return clockevent, irqs
