#!/bin/sh
# Usage: need.sh PROGRAM...
# Makes sure each program exists: installs its Debian package when running as
# root, otherwise stops with the exact apt-get line to run.
pkg_of() {
  case "$1" in
    qemu-system-x86_64) echo qemu-system-x86 ;;
    gdb) echo gdb ;;
    python3) echo python3 ;;
    ld|objcopy|nm|as) echo binutils ;;
    *) echo "$1" ;;
  esac
}
missing=""
for p in "$@"; do
  command -v "$p" >/dev/null 2>&1 || missing="$missing $(pkg_of "$p")"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "need.sh: installing$missing"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null && exit 0
  echo "need.sh: apt-get install failed" >&2
  exit 1
fi
echo "svmlab needs:$missing. Install with:" >&2
echo "  sudo apt-get install -y$missing" >&2
exit 1
