"""Lab 6 (linux): the Linux/x86 boot protocol loader in the VMM
(user/vmm/bzimage.c), and Debian's stock kernel booting in svmlab's VMM.

The kernel and busybox come from Debian's packages (tools/linux/fetch.sh,
cached in BUILD/linux); without them the lab says so in one line and
declares no tests. The graders' own files go into BUILD/linux/grade.tar, the
usual initrd plus: bzImage, initramfs (busybox and the init script below),
command-line files, and broken bzImages made from the real one here.
"""
import os
import struct
import subprocess
import sys
import tarfile

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
grep -E 'BUG:|WARNING:|Oops|Call Trace|panic|unchecked MSR' /tmp/dmesg | sed 's/^/linuxtest: dmesg-bad: /'
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


def bad_images(r):
    clean_run(r)
    r.reject(r"^vmm: guest bz_")
    r.expect(r"\$ ", partial=True)
    for args, field in BAD_IMAGES:
        r.sendline("vmm %s" % args)
        name = args.split("-k ")[1].split()[0]
        r.wait_for(r"^vmm: (%s|initramfs): %s: " % (name, field))
        r.wait_for(r"^sh: vmm: exit status 1$")
    r.sendline("vmm -M 8 -k bzImage")
    r.wait_for(r"^vmm: -M 8: guest RAM must be")
    r.sendline("vmm -k nosuchfile")
    r.wait_for(r"^vmm: nosuchfile: ")
    r.sendline("vmm hello")
    r.wait_for(r"^vmm: guest hello exited with code 0 after 81 exits")
    r.sendline("exit")


# ---- the guest's x87/SSE state is its own (kern/svm/fpu.c) -------------------

@test(points=5, title="x87/SSE state: two guests and a host process on one CPU see only their own",
      cmdline="test=fputest", cpus=2, timeout=90)
def fpu_isolation(r):
    clean_run(r)
    for i in (0, 1):
        r.expect(r"^fpu\.%d\| fpu: 7 x87/SSE state intact$" % i)
        r.expect(r"^fpu\.%d\| vmm: guest fpu exited with code 0 after" % i)
    m = r.expect(r"^fputest: (\d+) checks, (\d+) saw guest state; vmm exited with status 0$")
    r.check(int(m.group(1)) >= 50, "the host process looked only %s times" % m.group(1))
    r.check(m.group(2) == "0", "a host process saw a guest's x87 state %s times" % m.group(2))
    r.expect_exit(0)


# Only a grading run fetches and builds (tools/labtests.py imports this file
# for the handout's test table, which must not depend on the network).
SKIP = prepare() if os.path.basename(sys.argv[0]) == "grade.py" else None
if SKIP:
    print("lab linux: skipped, no tests: %s" % SKIP, file=sys.stderr)
else:
    test(points=10, title="loader refuses %d broken bzImages, naming the field; the VMM runs on"
         % len(BAD_IMAGES), cmdline="test=sh", cpus=2, timeout=120, mem="1G",
         extra=["-initrd", TAR], name="bad_images")(bad_images)
