"""Lab 6 (linux): the Linux/x86 boot protocol loader in the VMM
(user/vmm/bzimage.c), and Debian's stock kernel booting in svmlab's VMM.

The kernel and busybox come from Debian's packages (tools/linux/fetch.sh,
cached in BUILD/linux); without them the lab says so in one line and
declares no tests. The graders' own files go into BUILD/linux/grade.tar, the
usual initrd plus: bzImage, initramfs (busybox and the init script below),
command-line files, and broken bzImages made from the real one here.
"""
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
INIT = r"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin /tmp
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "linuxtest: init running"
echo "linuxtest: uname $(uname -r)"
echo "linuxtest: cpuinfo $(grep -m1 '^flags' /proc/cpuinfo)"
echo "linuxtest: vendor $(grep -m1 '^vendor_id' /proc/cpuinfo)"
dmesg > /tmp/dmesg
grep -v 'ommand line:' /tmp/dmesg | grep -E 'BUG:|WARNING:|Oops|Call Trace|panic|unchecked MSR' | sed 's/^/linuxtest: dmesg-bad: /'
grep -E 'tsc: (Detected|Refined|Unable|Marking)' /tmp/dmesg | sed 's/^/linuxtest: /'
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
    deps = [base, os.path.join(LX, "vmlinuz"), os.path.abspath(__file__),
            os.path.join(ROOT, "tools/linux/mkinitramfs.py")]
    if os.path.exists(out) and all(os.path.getmtime(out) >= os.path.getmtime(d) for d in deps):
        return None
    init = os.path.join(LX, "grade-init")
    with open(init, "w") as f:
        f.write(INIT)
    cpio = os.path.join(LX, "grade.cpio")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools/linux/mkinitramfs.py"), "--busybox",
                        os.path.join(LX, "busybox"), "--init", init, "-o", cpio])
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


# ---- the loader refuses what it cannot boot --------------------------------

# (vmm arguments, the field its message must name first)
BAD_IMAGES = [
    ("-k bz_empty", "truncated"),
    ("-k bz_short", "truncated"),
    ("-k hello.guest", "truncated"),
    ("-k vmm", "boot_flag/header"),
    ("-k bz_nohdrs", "boot_flag/header"),
    ("-k bz_noaa55", "boot_flag/header"),
    ("-k bz_oldproto", "version"),
    ("-k bz_zimage", "loadflags"),
    ("-k bz_no64", "xloadflags"),
    ("-k bz_setup", "setup_sects"),
    ("-k bz_sects0", "setup_sects"),
    ("-k bz_syssize", "syssize"),
    ("-k bz_syssize0", "syssize"),
    ("-k bz_cut", "syssize"),
    ("-k bz_align", "kernel_alignment"),
    ("-k bz_fixed", "relocatable_kernel"),
    ("-k bz_hugeinit", "init_size"),
    ("-k bz_tinyinit", "init_size"),
    ("-M 64 -k bz_small", "init_size"),
    ("-M 68 -k bz_small -r initramfs", "initrd"),
    ("-k bz_lowinitrd -r initramfs", "initrd"),
    ("-k bz_small -a cmd_long", "cmdline_size"),
]


@linux_test(10, "loader refuses %d broken bzImages, naming the field; the VMM runs on" % len(BAD_IMAGES),
            "test=sh", "bad_images", timeout=120)
def bad_images(r):
    clean_run(r)
    r.reject(r"^vmm: guest bz_")
    r.expect(r"\$ ", partial=True)
    for args, field in BAD_IMAGES:
        # -t: an image the loader wrongly accepts runs at most 3 s, and its
        # "vmm: guest ..." line fails the test at once instead of at the timeout.
        r.sendline("vmm -t 3000 %s" % args)
        name = args.split("-k ")[1].split()[0]
        # Any answer ends the wait: a refusal naming another field fails at once too.
        m = r.wait_for(r"^vmm: (?:(?:%s|initramfs): .*|guest .*)$" % name)
        r.check(not m.group(0).startswith("vmm: guest"), "the loader accepted %s (vmm %s): "
                "expected a refusal naming %s" % (name, args, field))
        r.check(re.match(r"^vmm: (%s|initramfs): %s: " % (name, field), m.group(0)),
                "vmm %s: the refusal must name %s first, not: %s" % (args, field, m.group(0)))
        r.wait_for(r"^sh: vmm: exit status 1$")
    r.sendline("vmm -M 8 -k bzImage")
    r.wait_for(r"^vmm: -M 8: guest RAM must be")
    r.sendline("vmm -k nosuchfile")
    r.wait_for(r"^vmm: nosuchfile: ")
    r.sendline("vmm hello")
    r.wait_for(r"^vmm: guest hello exited with code 0 after 81 exits")
    r.sendline("exit")


# ---- Debian's kernel boots (needs lab 5's interrupts and devices) ----------

BOOT_TIMEOUT = 300   # a loaded 2-core machine; an idle one boots to /init in about 15 s


def linux(end, expect, mem=256, names=""):
    """svmlab's command line: init runs the VMM on Linux, the guest's init
    ending as `end` says; the VMM exits 0 iff the guest ended as `expect`."""
    return "test=vmm -e %s -M %d -k bzImage -r initramfs -a cmd_%s%s" % (expect, mem, end, names)


# Flags the CPUID policy (user/vmm/cpuid.c) must show, and must hide.
FLAGS_ON = ["fpu", "tsc", "msr", "pae", "cx8", "pge", "cmov", "pat", "mmx", "fxsr", "sse", "sse2",
            "syscall", "nx", "lm", "hypervisor"]
FLAGS_OFF = ["apic", "x2apic", "tsc_deadline_timer", "monitor", "svm", "vmx", "xsave", "avx",
             "rdtscp", "mce", "mca", "perfctr_core", "arch_perfmon", "ht"]


def boots_clean(r, prefix="", w=None):
    """The markers of a clean boot, in order (w: r.wait_for), or each
    searched from the start (w=r.expect, when two guests' lines interleave)."""
    p = re.escape(prefix)
    w = w or r.wait_for
    r.reject(r"^%slinuxtest: dmesg-bad: " % p)
    w(r"^%slinuxtest: init running$" % p)
    m = w(r"^%slinuxtest: uname (\S+)$" % p)
    r.check(m.group(1) == release(), "uname -r says %s, the kernel is %s" % (m.group(1), release()))
    m = w(r"^%slinuxtest: cpuinfo flags\s*:(.*)$" % p)
    flags = m.group(1).split()
    r.check(not [f for f in FLAGS_ON if f not in flags],
            "/proc/cpuinfo lacks %s" % [f for f in FLAGS_ON if f not in flags])
    r.check(not [f for f in FLAGS_OFF if f in flags],
            "/proc/cpuinfo shows %s, which the VMM does not emulate" % [f for f in FLAGS_OFF if f in flags])
    w(r"^%slinuxtest: vendor vendor_id\s*: SVMLAB vCPU\s*$" % p)
    w(r"^%slinuxtest: (\[[ .0-9]*\] )?tsc: Detected \d+\.\d+ MHz processor$" % p)
    w(r"^%slinuxtest: echo 42$" % p)


@linux_test(20, "Debian's kernel boots to /init: uname -r, CPUID policy in /proc/cpuinfo, clean dmesg, "
            "TSC calibrated; poweroff -f ends the guest", linux("poweroff", "halt"), "boot")
def boot(r):
    clean_run(r)
    boots_clean(r)
    r.wait_for(r"^linuxtest: powering off$")
    r.wait_for(r"^vmm: guest linux halted after \d+ exits")
    r.expect_exit(0)


@linux_test(5, "the 32-bit entry (vmm -3): protected mode, paging off, the kernel turns on PAE, EFER.LME "
            "and paging itself; boots clean and powers off", linux("poweroff", "halt", names=" -3"), "boot32")
def boot32(r):
    clean_run(r)
    boots_clean(r)
    r.wait_for(r"^linuxtest: powering off$")
    r.wait_for(r"^vmm: guest linux halted after \d+ exits")
    r.expect_exit(0)


@linux_test(10, "the busybox shell runs typed commands on the UART; reboot -f resets the guest",
            linux("shell", "reset"), "shell_reboot")
def shell_reboot(r):
    clean_run(r)
    r.wait_for(r"^linuxtest: init running$")
    r.wait_for(r"# ", partial=True)
    # ash asks the terminal where the cursor is (ESC [6n) and reads the
    # answer from the input: what is typed before it gives up is lost. An
    # empty line first, then the commands at the second prompt.
    time.sleep(1)
    r.sendline("")
    r.wait_for(r"# ", partial=True)
    r.sendline("echo hello $((6 * 7))")
    r.wait_for(r"^hello 42$")
    r.sendline("uname -r")
    r.wait_for(r"^%s$" % re.escape(release()))
    r.sendline("reboot -f")
    r.wait_for(r"^vmm: guest linux reset")
    r.expect_exit(0)


@linux_test(5, "sleep 2 in the guest takes 2 s +/- 5 % of wall time", linux("sleep", "halt"), "sleep")
def sleep2(r):
    clean_run(r)
    r.wait_for(r"^linuxtest: sleep start$")
    t0 = time.monotonic()
    r.wait_for(r"^linuxtest: sleep end$")
    dt = time.monotonic() - t0
    r.check(1.9 <= dt <= 2.1, "sleep 2 took %.3f s of wall time" % dt)
    r.wait_for(r"^vmm: guest linux halted after")
    r.expect_exit(0)


@linux_test(5, "a kernel panic (init exits, panic=-1) ends the guest with a reset", linux("panic", "reset"),
            "panic")
def panic(r):
    clean_run(r)
    r.wait_for(r"^linuxtest: init exits$")
    r.wait_for(r"Kernel panic - not syncing: Attempted to kill init")
    r.wait_for(r"^vmm: guest linux reset")
    r.expect_exit(0)


# Two guests, one per CPU. This found two bugs that only show with two
# vCPUs in guest mode at once under QEMU 7.2 (docs/svm-primer.md §11): the host
# died at the instruction after VMRUN while the kernel switched FPU state
# around every VMRUN (now lazy, kern/svm/fpu.c), and a guest took its own
# EVENTINJ interrupt twice, the second time with IF=0 (kern/svm/irq.c).
@linux_test(10, "two Linux guests at once, one on each CPU, both boot clean and power off",
            linux("poweroff", "halt", mem=192, names=" -c 0 a b"), "two_guests")
def two_guests(r):
    clean_run(r)
    for i, n in enumerate("ab"):
        boots_clean(r, "%s.%d| " % (n, i), r.expect)
    for i, n in enumerate("ab"):
        r.expect(r"^%s\.%d\| vmm: vcpu moved 0 times, ran on 1 cpus \(%d\)$" % (n, i, i))
        r.expect(r"^%s\.%d\| vmm: guest %s halted after" % (n, i, n))
    r.expect(r"^vmm: 2 guests, 2 ended as expected$")
    r.expect_exit(0)


@linux_test(5, "three boots in a row and a VMM killed mid-boot give back every page",
            "test=linuxclean 3 -e halt -M 128 -k bzImage -r initramfs -a cmd_poweroff", "cleanup",
            timeout=2 * BOOT_TIMEOUT)
def cleanup(r):
    clean_run(r)
    for i in (1, 2, 3):
        m = r.wait_for(r"^linuxclean: boot %d: vmm exited with status (-?\d+)$" % i)
        r.check(m.group(1) == "0", "boot %d: the VMM exited with status %s" % (i, m.group(1)))
    # Not anchored: the kill can cut the guest's console line short, and this
    # line then continues it ("[    1.88 linuxclean: killed ...").
    r.wait_for(r"linuxclean: killed vmm mid-boot \(kill 0, ")
    m = r.wait_for(r"^linuxclean: 3 boots and a kill: free pages (\d+) -> (\d+)$")
    r.check(m.group(1) == m.group(2), "free pages %s before, %s after" % (m.group(1), m.group(2)))
    r.expect_exit(0)


