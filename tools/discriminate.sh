#!/bin/sh
# The handout check (run by make test): the solution scores 100%, and for each
# lab N with solution markers, the handout `make handout LAB=N` builds, keeps
# full marks on lab N-1 and FAILs every test of lab N.  Labs > N are stubbed
# too and would fail anyway.  Labs < N-1 are not graded again in handout N:
# each lab K < N-1 already kept full marks in handout K+1, where every lab
# after K was a stub, and in the solution, where none is; handout N lies between.
#
#   sh tools/discriminate.sh [--solution-json FILE] [-j JOBS] [--keep]
#
# --solution-json: grade.py --json output of this tree (else it is graded here).
# A lab with a grader but no markers, or with markers but no grader, is a
# failure; a lab with neither is reported as "no markers yet".
# Prints a table lab x tree -> score, then "N passed, N failed".
cd "$(dirname "$0")/.." || exit 2
PY=${PYTHON:-python3}
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
B=${B:-build}
SOLJSON=
KEEP=
while [ $# -gt 0 ]; do
  case "$1" in
    --solution-json) SOLJSON=$2; shift 2 ;;
    -j) JOBS=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "usage: $0 [--solution-json FILE] [-j JOBS] [--keep]" >&2; exit 2 ;;
  esac
done
TMP=$(mktemp -d "${TMPDIR:-/tmp}/svmlab-handouts.XXXXXX")
if [ -n "$KEEP" ]; then echo "keeping $TMP"; else trap 'rm -rf "$TMP"' EXIT; fi
trap 'exit 130' INT TERM
PASSED=0
FAILED=0
ok() { echo "  ok:   $*"; PASSED=$((PASSED + 1)); }
bad() { echo "  FAIL: $*"; FAILED=$((FAILED + 1)); }
COLUMNS_JSON=""

# labs_upto N: comma-separated stems of the numbered labs N-1 and N that have a
# grader (only lab N's own when grade/labs.py lists it in SELF_CONTAINED).
labs_upto() {
  _self=$($PY grade/labs.py | awk -v n="$1" '$1 == n { print $2 }')
  if $PY grade/labs.py --self-contained "$_self"; then
    echo "$_self"
    return
  fi
  $PY grade/labs.py | while read -r num stem _; do
    if [ "$num" != - ] && [ "$num" -le "$1" ] && [ "$num" -ge $(($1 - 1)) ] && [ -f "grade/lab_$stem.py" ]; then
      printf '%s,' "$stem"
    fi
  done | sed 's/,$//'
}
# judge FILE.json N: checks handout N's results (N=solution: everything 100%).
judge() {
  $PY - "$1" "$2" <<'EOF'
import json, sys
sys.path.insert(0, "grade")
import labs
doc = json.load(open(sys.argv[1]))
n = sys.argv[2]
bylab = {}
for t in doc["tests"]:
    bylab.setdefault(t["tags"][0], []).append(t)
for stem, tests in bylab.items():
    num = next((x for x, s, _ in labs.LABS if s == stem), None)
    failed = [t["name"] for t in tests if t["status"] != "passed"]
    passed = [t["name"] for t in tests if t["status"] == "passed"]
    if n == "solution" or (num is not None and num < int(n)):
        if failed:
            print("FAIL %s: lab %s loses points: %s" % (stem, num, "; ".join(failed)))
        else:
            print("ok %s: full marks" % stem)
    elif num == int(n):
        if passed:
            print("FAIL %s: tests pass on a tree without lab %s's solution: %s"
                  % (stem, n, "; ".join(passed)))
        else:
            print("ok %s: every test fails without the solution (%d tests)" % (stem, len(tests)))
EOF
}

# merge_json OUT IN...: one grade.py --json document of several runs' tests
# and per-lab scores (each lab is graded by one of them).
merge_json() {
  $PY - "$@" <<'EOF'
import json, os, sys
out, docs = sys.argv[1], [json.load(open(p)) for p in sys.argv[2:] if os.path.exists(p)]
if docs:
    doc = docs[0]
    for d in docs[1:]:
        doc["tests"] += d["tests"]
        doc["extra_data"]["labs"].update(d["extra_data"]["labs"])
    json.dump(doc, open(out, "w"))
EOF
}

# slowest FILE.json: ", slowest: TEST 12.3s (...)" when a test took long, so a
# wait shows in make test's log without --keep.
slowest() {
  $PY - "$1" <<'EOF'
import json, sys
try:
    tests = json.load(open(sys.argv[1]))["tests"]
except (OSError, ValueError, KeyError):
    sys.exit(0)
t = max(tests, key=lambda t: t["extra_data"].get("elapsed", 0), default=None)
if t and t["extra_data"].get("elapsed", 0) > 30:
    print(", slowest: %s %.1fs (%s)" % (t["extra_data"]["id"], t["extra_data"]["elapsed"],
                                        t["output"].split("\n")[0]), end="")
EOF
}

# report LINES: turns judge's "ok ..."/"FAIL ..." lines into counted checks.
report() {
  while read -r verdict rest; do
    case "$verdict" in
      ok) ok "$PREFIX$rest" ;;
      *) bad "$PREFIX$rest" ;;
    esac
  done <<EOF
$1
EOF
}

echo "== markers"
if $PY tools/handout.py --check; then ok "markers are well formed"; else bad "markers"; fi

echo "== solution"
if [ -z "$SOLJSON" ]; then
  SOLJSON=$TMP/solution.json
  make -s -j2 >"$TMP/solution.build" 2>&1 || { tail -n 20 "$TMP/solution.build"; bad "solution does not build"; }
  $PY grade/grade.py -j "$JOBS" --retries 1 --json "$SOLJSON" >"$TMP/solution.log" 2>&1
fi
if [ -f "$SOLJSON" ]; then
  PREFIX="solution: "
  report "$(judge "$SOLJSON" solution)"
  COLUMNS_JSON="solution=$SOLJSON"
else
  bad "no solution results ($SOLJSON)"
fi

for num_stem in $($PY grade/labs.py --marked | awk '{print $1 ":" $2}'); do
  n=${num_stem%%:*}
  stem=${num_stem#*:}
  echo "== handout $n ($stem)"
  PREFIX="handout $n: "
  if $PY tools/handout.py --has-markers "$n"; then marked=1; else marked=; fi
  if [ -f "grade/lab_$stem.py" ]; then graded=1; else graded=; fi
  if [ -z "$marked" ] && [ -z "$graded" ]; then
    echo "  lab $n ($stem): no markers yet, no grader yet: nothing to check"
    continue
  elif [ -z "$marked" ]; then
    bad "grade/lab_$stem.py exists but lab $n has no '// LAB $n BEGIN' markers"
    continue
  elif [ -z "$graded" ]; then
    bad "lab $n has solution markers but no grader grade/lab_$stem.py"
    continue
  fi
  dir=$TMP/h$n
  if ! $PY tools/handout.py --lab "$n" --dest "$dir" >"$TMP/h$n.handout" 2>&1; then
    cat "$TMP/h$n.handout"
    bad "make handout LAB=$n failed"
    continue
  fi
  # Start from the solution's objects (same mtimes for unchanged files), so
  # make rebuilds only files with stripped regions and what depends on them.
  if [ -d "$B" ]; then cp -a "$B" "$dir/build"; fi
  if ! make -s -C "$dir" -j2 >"$TMP/h$n.build" 2>&1; then
    tail -n 25 "$TMP/h$n.build"
    bad "the handout of lab $n does not build"
    continue
  fi
  ok "${PREFIX}builds"
  t0=$(date +%s)
  # Earlier labs must pass: a failure from timing noise gets one retry. Lab
  # n's own tests must fail: they are never retried, and run with 0.3 of
  # their timeouts (as bugs.py's), so that a stub that hangs a guest costs
  # seconds, not a 240 s timeout (a test that passes on the solution in
  # under 0.3 of its timeout would still be seen passing here).
  own=$($PY grade/labs.py | awk -v n="$n" '$1 == n { print $2 }')
  prev=$(labs_upto "$n" | tr ',' '\n' | grep -vx "$own" | tr '\n' ',' | sed 's/,$//')
  jsons=$TMP/h$n.own.json
  (cd "$dir" && $PY grade/grade.py -j "$JOBS" --lab "$own" --timeout-scale 0.3 \
      --json "$TMP/h$n.own.json" >"$TMP/h$n.log" 2>&1)
  if [ -n "$prev" ]; then
    jsons="$TMP/h$n.prev.json $jsons"
    (cd "$dir" && $PY grade/grade.py -j "$JOBS" --lab "$prev" --retries 1 \
        --json "$TMP/h$n.prev.json" >>"$TMP/h$n.log" 2>&1)
  fi
  # shellcheck disable=SC2086
  merge_json "$TMP/h$n.json" $jsons
  echo "  graded labs $(labs_upto "$n") in $(($(date +%s) - t0))s$(slowest "$TMP/h$n.json")"
  if [ ! -f "$TMP/h$n.json" ]; then
    tail -n 25 "$TMP/h$n.log"
    bad "grading the handout of lab $n produced no results"
    continue
  fi
  report "$(judge "$TMP/h$n.json" "$n")"
  COLUMNS_JSON="$COLUMNS_JSON handout$n=$TMP/h$n.json"
done

echo "== scores (lab x tree)"
# shellcheck disable=SC2086
$PY - $COLUMNS_JSON <<'EOF'
import json, sys
sys.path.insert(0, "grade")
import labs
cols = [a.split("=", 1) for a in sys.argv[1:]]
data = {}
for name, path in cols:
    for stem, v in json.load(open(path))["extra_data"]["labs"].items():
        data.setdefault(stem, {})[name] = "%g/%g" % (v["score"], v["max_score"])
rows = sorted(data, key=labs.order_key)
print("  %-12s" % "lab" + "".join("%12s" % c for c, _ in cols))
for stem in rows:
    num = next((x for x, s, _ in labs.LABS if s == stem), None)
    label = "%s %s" % ("-" if num is None else num, stem)
    print("  %-12s" % label + "".join("%12s" % data[stem].get(c, "-") for c, _ in cols))
EOF
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
