#!/bin/sh
# make fuzz: the big fuzz runs of issue 7, outside CI (make test runs small
# fixed seeds through grade/lab_hostile.py). One QEMU boot per run:
#   vmfuzz SEED CALLS      random VM system calls (user/vmfuzz.c)
#   guestfuzz SEED GUESTS  random guests in every start mode (user/guestfuzz.c)
#   hostile full probe     every guest-physical page up to 4 GiB (user/hostile.c)
# Each run's summary line is printed; a run fails on a panic, a hang (its
# timeout), a violation, an error outcome or a leaked page. Logs: $B/fuzz-*.log.
# Environment: B (build), SEED (1), CALLS (100000), GUESTS (10000), CPUS (2),
# QEMU, QEMUCPU (max), PROBE (1: run the full probe; 0: skip it).
cd "$(dirname "$0")/.." || exit 2
B=${B:-build}
SEED=${SEED:-1}
CALLS=${CALLS:-100000}
GUESTS=${GUESTS:-10000}
CPUS=${CPUS:-2}
QEMU=${QEMU:-qemu-system-x86_64}
QEMUCPU=${QEMUCPU:-max}
PROBE=${PROBE:-1}
FAILED=0

# run NAME TIMEOUT SUMMARY-REGEX CMDLINE: one boot; checks its summary line.
run() {
  name=$1 t=$2 rx=$3 cmd=$4
  log=$B/fuzz-$name.log
  start=$(date +%s)
  timeout "$t" "$QEMU" -accel tcg -cpu "$QEMUCPU" -smp "$CPUS" -m 512M -no-reboot -nographic \
    -kernel "$B/kernel.bin" -initrd "$B/initrd.tar" -append "$cmd" \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null >"$log" 2>&1
  rc=$?
  secs=$(($(date +%s) - start))
  line=$(grep -E "$rx" "$log" | tail -n 1)
  echo "$name ($cmd, ${secs}s): ${line:-no summary line}"
  if [ "$rc" = 124 ]; then
    echo "FAIL $name: hang (no power-off within ${t}s)"
  elif grep -q '^panic: ' "$log"; then
    echo "FAIL $name: host panic: $(grep -m1 '^panic: ' "$log")"
  elif [ "$rc" != 1 ]; then
    echo "FAIL $name: QEMU status $rc (the test failed; see $log)"
  else
    return 0
  fi
  FAILED=$((FAILED + 1))
}

run vmfuzz $((CALLS / 50 + 300)) '^vmfuzz: seed' "test=vmfuzz $SEED $CALLS"
run guestfuzz $((GUESTS / 10 + 300)) '^guestfuzz: seed' "test=guestfuzz $SEED $GUESTS"
if [ "$PROBE" = 1 ]; then
  run probe 900 '^hostile: probe: canary' "test=hostile full probe"
fi
[ "$FAILED" = 0 ] && echo "fuzz: all runs ok" || echo "fuzz: $FAILED runs failed"
[ "$FAILED" = 0 ]
