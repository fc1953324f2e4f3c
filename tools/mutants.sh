#!/bin/sh
# Lab 0 has no solution markers, so the handout check cannot show that its
# tests fail on a kernel without the behaviour.  This script does: it breaks
# the kernel in one small way at a time (a sed on one file of a copy of the
# tree), builds, grades lab 0 there, and requires the named tests to FAIL.
#
#   sh tools/mutants.sh [-j JOBS]        (about 10 s per mutant; make test runs it)
#
# Timeouts are scaled by MUTANT_TIMEOUT_SCALE (0.25).
#
# A mutant whose sed no longer changes its file is reported as stale: update
# its line below when the code it breaks has changed.
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python3}
JOBS=2
SCALE=${MUTANT_TIMEOUT_SCALE:-0.25}
B=${B:-build}
[ "${1:-}" = -j ] && JOBS=$2
TMP=$(mktemp -d "${TMPDIR:-/tmp}/svmlab-mutants.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
PASSED=0
FAILED=0

# mutant NAME FILE SED TESTS: TESTS (space-separated boot/<name>) must fail.
mutant() {
  name=$1 file=$2 expr=$3 tests=$4
  d=$TMP/$name
  mkdir -p "$d"
  # Sources and the solution's build keep their mtimes: make then rebuilds
  # only the mutated file and what depends on it.
  git ls-files -z | xargs -0 cp -p --parents -t "$d"
  if [ -d "$B" ]; then cp -a "$B" "$d/build"; fi
  sed -i "$expr" "$d/$file"
  touch "$d/$file"
  if cmp -s "$file" "$d/$file"; then
    echo "  FAIL: $name: stale mutant, the sed changes nothing in $file"
    FAILED=$((FAILED + 1))
    return
  fi
  if ! make -s -C "$d" -j2 >"$d.build" 2>&1; then
    tail -n 5 "$d.build"
    echo "  FAIL: $name: the mutant does not build"
    FAILED=$((FAILED + 1))
    return
  fi
  # Broken kernels often hang until a test's timeout: scale timeouts down
  # (the unbroken tests take well under a second).
  (cd "$d" && $PY grade/grade.py --lab boot -j "$JOBS" --timeout-scale "$SCALE" \
      --json "$d.json" >"$d.log" 2>&1)
  verdict=$($PY - "$d.json" "$tests" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
status = {t["extra_data"]["id"]: t["status"] for t in doc["tests"]}
want = sys.argv[2].split()
missed = [t for t in want if status.get(t) != "failed"]
caught = sorted(t for t, s in status.items() if s == "failed")
print(("ok" if not missed else "FAIL") + " caught by " + (", ".join(caught) or "nothing")
      + ("" if not missed else "; passes anyway: " + ", ".join(missed)))
EOF
)
  case "$verdict" in
    ok*) echo "  ok:   $name: ${verdict#ok }"; PASSED=$((PASSED + 1)) ;;
    *) echo "  FAIL: $name: ${verdict#FAIL }"; FAILED=$((FAILED + 1)) ;;
  esac
}

echo "== lab 0 mutants"
mutant smp_last_ap kern/smp.c \
  '/^void smp_boot/,/^}/{/start_ap/s/^/if (i < ncpu - 1) /}' \
  "boot/cpus2 boot/cpus4"
mutant fault_status_0 kern/proc.c \
  '/^void proc_fault/,/^}/s/exit(-1);/exit(0);/' \
  "boot/faulttest boot/shell_survives_faults"
mutant leak_kstack kern/proc.c \
  '/^static void freeproc/,/^}/s/if (p->kstack)/if (0)/' \
  "boot/leaktest"
mutant no_range_check kern/uvm.c \
  '/^int uvm_check/,/^}/s/if (va >= USERTOP || len > USERTOP - va)/if (0)/' \
  "boot/badptr"
mutant wait_wrong_status kern/proc.c \
  's/copyout(cur->pml4, ustatus, &p->xstatus,/copyout(cur->pml4, ustatus, \&p->pid,/' \
  "boot/forktest"
mutant no_backtrace kern/console.c \
  's/^  backtrace((uint64)__builtin_frame_address(0));/;/' \
  "boot/panic_pf"
mutant no_trap_report kern/trap.c \
  's/"trap: cpu%d: /"cpu%d: /' \
  "boot/panic_pf"
mutant no_console_echo kern/sysfile.c \
  's/^  line\[llen++\] = c;$/  line[llen++] = c; if (0)/' \
  "boot/shell_echo boot/shell_survives_faults"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
