#!/bin/sh
# A CPU-bound workload of two processes in Debian's kernel on 1 and on 2 (or
# more) vcpus in svmlab's VMM (vmm -A -V N): prints the figures, judges
# nothing (a loaded host changes them; the issue asks for >= 1.6x on 2).
#
#   sh tools/linux/smpbench.sh [VCPUS...]     default: 1 2
#
# SMPBENCH_N sets the loop count (30000: about 6 s per process on an idle
# machine). Needs the Linux files (make linux-files); QEMU gets -smp 2, or
# CPUS=N.
cd "$(dirname "$0")/../.." || exit 2
B=${B:-build}
N=${SMPBENCH_N:-30000}
CPUS=${CPUS:-2}
[ $# -gt 0 ] || set -- 1 2
python3 tools/linux/mkinitramfs.py --busybox "$B/linux/busybox" --init tools/linux/smpbench-init \
  -o "$B/linux/smpbench.cpio" || exit 1
make -s B="$B" all linux-files APIC=1 INITRD="$B/linux/smpbench.cpio" \
  CMDLINE="console=ttyS0 reboot=k panic=-1 smpbench_n=$N" >/dev/null || exit 1
for v in "$@"; do
  out="$B/linux/smpbench-$v.log"
  (cd "$B" && timeout 900 qemu-system-x86_64 -accel tcg -cpu max -smp "$CPUS" -m 1G -no-reboot \
    -kernel kernel.bin -initrd linux/initrd.tar -display none -nodefaults -serial stdio -monitor none \
    -append "test=vmm -e poweroff -M 256 -A -V $v -k bzImage -r initramfs -a cmdline" \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04) > "$out" 2>&1
  one=$(sed -n 's/^smpbench: one process: \([0-9]*\) cs.*/\1/p' "$out")
  two=$(sed -n 's/^smpbench: two processes: \([0-9]*\) cs.*/\1/p' "$out")
  cpus=$(sed -n 's/^smpbench: nproc \([0-9]*\).*/\1/p' "$out")
  echo "smpbench: vcpus $v (nproc ${cpus:-?}): one process ${one:-?} cs, two processes ${two:-?} cs" \
    "($(awk -v a="${one:-0}" -v b="${two:-0}" 'BEGIN { if (b > 0) printf "%.2f", 2 * a / b; else print "?" }')x" \
    "the work of one per unit of time; log $out; host load $(cut -d' ' -f1 /proc/loadavg))"
  eval "two_$v=${two:-0}"
done
eval "a=\${two_$1:-0}"
shift $(($# - 1))
eval "b=\${two_$1:-0}"
[ "$a" -gt 0 ] && [ "$b" -gt 0 ] &&
  awk -v a="$a" -v b="$b" -v v="$1" 'BEGIN { printf "smpbench: two processes on %s vcpus finish %.2fx faster than on the first setting\n", v, a / b }'
exit 0
