#!/bin/sh
# make fuzz: the big fuzz runs of issues 7 and 15, outside CI (make test runs
# small fixed seeds through grade/lab_hostile.py and grade/lab_san.py). One
# QEMU boot per run:
#   vmfuzz SEED CALLS [g]          random VM system calls (user/vmfuzz.c); g: guided
#   guestfuzz SEED GUESTS 64 [g]   random guests in every start mode (user/guestfuzz.c)
#   guestfuzz SEED GUESTS 64 d     device guests through the VMM's device models
#   guestfuzz SEED GUESTS 64 l     corrupted images through the VMM's loaders
#   hostile full probe             every guest-physical page up to 4 GiB (user/hostile.c)
#   mmiodiff COUNT SEED            random instructions on RAM and through the MMIO path (user/mmiodiff.c)
# The guided runs need make SAN=1 for their coverage (make fuzz SAN=1: the
# issue's figures are CALLS=1000000 GUESTS=100000). Their corpus is kept in
# $B/corpus/NAME.corpus and handed to the next run in an initrd with the
# corpus files added ($B/fuzz-initrd.tar). Each run's summary and coverage
# lines are printed; tools/kcov_files.py breaks the kernel coverage down by
# file. A run fails on a panic, a UBSan report, a kill, a hang (its
# timeout), a violation, an error outcome or a leaked page. Logs: $B/fuzz-*.log.
# Environment: B (build), SEED (1), CALLS (100000), GUESTS (10000), MMIODIFF (100000), CPUS (2),
# QEMU, QEMUCPU (max), PROBE (1: run the full probe; 0: skip it), GUIDED
# (1: also the guided runs; 0: only the blind ones).
cd "$(dirname "$0")/.." || exit 2
B=${B:-build}
SEED=${SEED:-1}
CALLS=${CALLS:-100000}
GUESTS=${GUESTS:-10000}
MMIODIFF=${MMIODIFF:-100000}
CPUS=${CPUS:-2}
QEMU=${QEMU:-qemu-system-x86_64}
QEMUCPU=${QEMUCPU:-max}
PROBE=${PROBE:-1}
GUIDED=${GUIDED:-1}
FAILED=0
mkdir -p "$B/corpus"

# The initrd for a run: the build's, plus the corpus files kept so far.
initrd() {
  if ls "$B"/corpus/*.corpus >/dev/null 2>&1; then
    cp "$B/initrd.tar" "$B/fuzz-initrd.tar"
    tar --format=ustar -rf "$B/fuzz-initrd.tar" -C "$B/corpus" $(cd "$B/corpus" && ls *.corpus)
    echo "$B/fuzz-initrd.tar"
  else
    echo "$B/initrd.tar"
  fi
}

# keep_corpus LOG NAME: the "PROG: corpus LEN W..." lines of LOG -> $B/corpus/NAME.corpus
keep_corpus() {
  python3 - "$1" "$B/corpus/$2.corpus" <<'EOF'
import re, struct, sys
out = b""
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"^\w+: corpus (\d+)((?: [0-9a-f]+)*)\s*$", line)
    if m and int(m.group(1)) == len(m.group(2).split()):
        words = [int(w, 16) for w in m.group(2).split()]
        out += struct.pack("<I", len(words)) + b"".join(struct.pack("<Q", w) for w in words)
if out:
    open(sys.argv[2], "wb").write(out)
    print("  corpus: %d bytes -> %s" % (len(out), sys.argv[2]))
EOF
}

# run NAME TIMEOUT SUMMARY-REGEX CMDLINE: one boot; checks its summary line.
run() {
  name=$1 t=$2 rx=$3 cmd=$4
  log=$B/fuzz-$name.log
  start=$(date +%s)
  timeout "$t" "$QEMU" -accel tcg -cpu "$QEMUCPU" -smp "$CPUS" -m 512M -no-reboot -nographic \
    -kernel "$B/kernel.bin" -initrd "$(initrd)" -append "$cmd" \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null >"$log" 2>&1
  rc=$?
  secs=$(($(date +%s) - start))
  line=$(grep -E "$rx" "$log" | tail -n 1)
  echo "$name ($cmd, ${secs}s): ${line:-no summary line}"
  grep -E '^[a-z]+: coverage: ' "$log" | tail -n 1 | sed 's/^/  /'
  if [ "$rc" = 124 ]; then
    echo "FAIL $name: hang (no power-off within ${t}s)"
  elif grep -q '^panic: ' "$log"; then
    echo "FAIL $name: host panic: $(grep -m1 '^panic: ' "$log")"
  elif grep -q '^ubsan: ' "$log"; then
    echo "FAIL $name: $(grep -m1 '^ubsan: ' "$log")"
  elif grep -q '): killed' "$log"; then
    echo "FAIL $name: $(grep -m1 '): killed' "$log")"
  elif [ "$rc" != 1 ]; then
    echo "FAIL $name: QEMU status $rc (the test failed; see $log)"
  else
    return 0
  fi
  FAILED=$((FAILED + 1))
}

run vmfuzz $((CALLS / 50 + 300)) '^vmfuzz: seed' "test=vmfuzz $SEED $CALLS"
run guestfuzz $((GUESTS / 10 + 300)) '^guestfuzz: seed' "test=guestfuzz $SEED $GUESTS"
if [ "$GUIDED" = 1 ]; then
  run vmfuzz-g $((CALLS / 20 + 300)) '^vmfuzz: seed' "test=vmfuzz $SEED $CALLS gc"
  keep_corpus "$B/fuzz-vmfuzz-g.log" vmfuzz
  for m in g d l; do
    run guestfuzz-$m $((GUESTS / 5 + 300)) '^guestfuzz: seed' "test=guestfuzz $SEED $GUESTS 64 ${m}c"
    keep_corpus "$B/fuzz-guestfuzz-$m.log" guestfuzz-$m
  done
fi
# The decoder and emulator through the real MMIO exit path (user/mmiodiff.c).
run mmiodiff $((MMIODIFF / 200 + 300)) '^mmiodiff: [0-9]+ instances' "test=mmiodiff $MMIODIFF $SEED"
if [ "$PROBE" = 1 ]; then
  run probe 900 '^hostile: probe: canary' "test=hostile full probe"
fi
[ "$FAILED" = 0 ] && echo "fuzz: all runs ok" || echo "fuzz: $FAILED runs failed"
[ "$FAILED" = 0 ]
