#!/usr/bin/env python3
"""Builds a Linux initramfs (cpio "newc", uncompressed) holding busybox and an
init script, with nothing but the Python standard library.

  mkinitramfs.py --busybox PATH [--init FILE] [--file SRC:DEST ...] -o OUT

The default /init mounts /proc, /sys and /dev, installs busybox's applets,
prints "svmlab-init: /init running" and starts an interactive shell on the
console. Graders pass init scripts of their own with --init.
"""
import argparse
import os
import stat
import sys

DEFAULT_INIT = """#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /sbin /usr/bin /usr/sbin /tmp
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "svmlab-init: /init running (Linux $(uname -r))"
echo "svmlab-init: poweroff -f or reboot -f ends the guest"
exec setsid cttyhack sh
"""


class Cpio:
    """Writes newc records; inode numbers are handed out in order."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def add(self, name, mode, data=b"", rdev=(0, 0)):
        name_b = name.encode() + b"\0"
        fields = [self.ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data),
                  0, 0, rdev[0], rdev[1], len(name_b), 0]
        self.ino += 1
        self.out += b"070701" + b"".join(b"%08X" % f for f in fields) + name_b
        self.pad()
        self.out += data
        self.pad()

    def pad(self):
        self.out += b"\0" * (-len(self.out) % 4)

    def finish(self):
        self.ino = 0
        self.add("TRAILER!!!", 0)
        self.out += b"\0" * (-len(self.out) % 512)
        return bytes(self.out)


def build(busybox, init_text, extra):
    c = Cpio()
    for d in ("bin", "dev", "proc", "sys", "sbin", "tmp", "etc"):
        c.add(d, stat.S_IFDIR | 0o755)
    # /dev/console must exist before init: the kernel opens it for init's stdio.
    c.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    c.add("dev/null", stat.S_IFCHR | 0o666, rdev=(1, 3))
    c.add("bin/busybox", stat.S_IFREG | 0o755, busybox)
    c.add("bin/sh", stat.S_IFLNK | 0o777, b"busybox")
    c.add("init", stat.S_IFREG | 0o755, init_text.encode())
    made = {"bin", "dev", "proc", "sys", "sbin", "tmp", "etc"}
    for dest, data in extra:
        # The kernel's unpacker creates no missing directories: each parent gets its record first.
        parts = dest.strip("/").split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in made:
                c.add(d, stat.S_IFDIR | 0o755)
                made.add(d)
        c.add(dest.lstrip("/"), stat.S_IFREG | 0o755, data)
    return c.finish()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--busybox", required=True, help="a static busybox binary")
    ap.add_argument("--init", help="init script (default: a busybox shell)")
    ap.add_argument("--file", action="append", default=[], metavar="SRC:DEST",
                    help="another file to include")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()
    try:
        with open(a.busybox, "rb") as f:
            bb = f.read()
        init_text = DEFAULT_INIT
        if a.init:
            with open(a.init) as f:
                init_text = f.read()
        extra = []
        for spec in a.file:
            src, _, dest = spec.partition(":")
            with open(src, "rb") as f:
                extra.append((dest or os.path.basename(src), f.read()))
    except OSError as e:
        sys.exit("mkinitramfs: %s" % e)
    data = build(bb, init_text, extra)
    with open(a.output, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
