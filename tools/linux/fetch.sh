#!/bin/sh
# Usage: fetch.sh DIR
# Fetches Debian's stock cloud kernel and busybox-static into DIR (a cache:
# nothing is fetched when DIR/vmlinuz and DIR/busybox exist). Uses
# `apt-get download` and `dpkg-deb -x`: nothing is installed into the system.
# On success DIR holds vmlinuz, busybox, release (the kernel's `uname -r`) and
# modules/: the kernel's virtio_ring, virtio, virtio_mmio and virtio_console
# modules (built as modules in this kernel; init loads them for `vmm -v`).
# Exit status 1 with one line on stderr when the packages cannot be had.
dir=${1:?usage: fetch.sh DIR}
MODS="virtio/virtio_ring virtio/virtio virtio/virtio_mmio char/virtio_console"
[ -s "$dir/vmlinuz" ] && [ -s "$dir/busybox" ] && [ -s "$dir/release" ] \
  && [ -s "$dir/modules/virtio_console.ko" ] && exit 0
fail() { echo "linux: cannot get Debian's kernel/busybox packages: $*" >&2; exit 1; }
command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 \
  || fail "apt-get and dpkg-deb are needed (Debian or Ubuntu host)"
# The meta-package names the current kernel package; take its dependency.
kpkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null \
  | sed -n 's/^ *Depends: \(linux-image-[0-9].*-cloud-amd64\)$/\1/p' | head -1)
[ -n "$kpkg" ] || fail "apt-cache knows no linux-image-cloud-amd64 (run apt-get update? a Debian 12 source?)"
mkdir -p "$dir/deb" || fail "cannot create $dir"
cd "$dir/deb" || exit 1
rm -f ./*.deb
for p in "$kpkg" busybox-static; do
  apt-get download "$p" >download.log 2>&1 || fail "apt-get download $p failed: $(grep -E '^(E|Err)' download.log | head -1)"
done
rm -rf x && mkdir x || exit 1
for d in ./*.deb; do dpkg-deb -x "$d" x || fail "dpkg-deb -x $d failed"; done
k=$(ls x/boot/vmlinuz-* 2>/dev/null | head -1)
[ -s "$k" ] && [ -s x/bin/busybox ] || fail "the packages hold no vmlinuz or bin/busybox"
cp "$k" ../vmlinuz && cp x/bin/busybox ../busybox || fail "copy failed"
echo "${k##*/vmlinuz-}" > ../release
mkdir -p ../modules || fail "cannot create $dir/modules"
for m in $MODS; do
  cp "x/lib/modules/$(cat ../release)/kernel/drivers/$m.ko" ../modules/ || fail "the package holds no $m.ko"
done
rm -rf x ./*.deb
echo "linux: fetched $kpkg ($(cat ../release)) and busybox-static into $dir"
