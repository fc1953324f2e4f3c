#!/bin/sh
# make bench: boot and grading time figures on this machine.
#   - time from QEMU's start to "svmlab: N cpus online", "init: starting sh" and the
#     shell's first "$ " prompt (after init's `vmm hello` demo, when there is a vmm),
#     over RUNS boots (default 5) with CPUS (default 2) CPUs;
#   - wall time of `make grade LAB=boot` over GRADE_RUNS runs (default 3);
#   - Linux to /init under the VMM and under plain QEMU (tools/linux/bench.py, LINUX_RUNS).
# Prints min / median / max in seconds.
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python3}
B=${B:-build}
RUNS=${RUNS:-5}
GRADE_RUNS=${GRADE_RUNS:-3}
CPUS=${CPUS:-2}

echo "== boot ($RUNS runs, -smp $CPUS, -cpu max, TCG)"
$PY - "$B" "$RUNS" "$CPUS" <<'EOF'
import re, statistics, sys, time
sys.path.insert(0, "grade")
import gradelib
build, runs, cpus = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cfg = gradelib.Config(build)
t = gradelib.Test(None, "bench", 0, "bench", "", cpus, 60, None, [], "512M", "boot")
marks = [("cpus online", r"^svmlab: \d+ cpus online$"), ("init: sh", r"^init: starting sh$"),
         ("shell prompt", r"^\$ $")]
times = {name: [] for name, _ in marks}
for _ in range(runs):
    q = gradelib.Qemu(cfg.argv(t), cfg.build_dir, 60)
    for name, rx in marks:
        c = re.compile(rx, re.M)
        if q.wait_until(lambda text: c.search(text)):
            times[name].append(time.monotonic() - q.started)
    q.stop()
for name, _ in marks:
    v = times[name]
    if v:
        print("  %-12s min %.3fs  median %.3fs  max %.3fs  (%d/%d runs)"
              % (name, min(v), statistics.median(v), max(v), len(v), runs))
    else:
        print("  %-12s never reached" % name)
EOF

echo "== make grade LAB=boot ($GRADE_RUNS runs, -j $(getconf _NPROCESSORS_ONLN))"
i=0
: > "$B/bench-grade.times"
while [ "$i" -lt "$GRADE_RUNS" ]; do
  s=$($PY -c 'import time; print(time.monotonic())')
  make -s grade LAB=boot B="$B" > "$B/bench-grade.log" 2>&1
  e=$($PY -c 'import time; print(time.monotonic())')
  echo "$s $e" | awk '{printf "%.2f\n", $2 - $1}' >> "$B/bench-grade.times"
  i=$((i + 1))
done
sort -n "$B/bench-grade.times" | awk '{v[NR] = $1} END {
  printf "  wall time    min %.2fs  median %.2fs  max %.2fs\n", v[1], v[int((NR + 1) / 2)], v[NR] }'
echo "  last run: $(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$B/bench-grade.log" | tail -n 1)"

echo "== Linux (lab 6): Debian's kernel to its /init, svmlab's VMM vs plain QEMU TCG"
$PY tools/linux/bench.py "$B" "${LINUX_RUNS:-3}"
