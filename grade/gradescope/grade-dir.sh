#!/bin/sh
# Usage: sh grade/gradescope/grade-dir.sh N SUBMISSIONS [PARALLEL]
# Grades every submission (each a subdirectory of SUBMISSIONS holding a
# student's tree) for lab N on this machine, PARALLEL submissions at a time
# (default: cores / 2), each with the same run_autograder Gradescope uses.
# Results: build/grade-labN/<name>/results.json (+ build.log, grade.log,
# junit.xml); a table of scores in build/grade-labN/scores.csv.
# AG_STAGE=DIR grades with a source directory made earlier by stage.sh
# instead of writing a fresh one.
set -eu
cd "$(dirname "$0")/../.."
N=$1
SUBS=$(cd "$2" && pwd)
CORES=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
P=${3:-$(( CORES > 1 ? CORES / 2 : 1 ))}
TOP=$(pwd)/build/grade-lab$N
mkdir -p "$TOP"
# AG_STAGE=DIR reuses a source directory written earlier by stage.sh.
if [ -n "${AG_STAGE:-}" ]; then
  STAGE=$(cd "$AG_STAGE" && pwd)
else
  STAGE=$TOP/source
  sh grade/gradescope/stage.sh "$N" "$STAGE"
fi
export STAGE TOP SUBS
ls "$SUBS" | xargs -P "$P" -I{} sh -c '
  AG_SOURCE="$STAGE" AG_SUBMISSION="$SUBS/{}" AG_RESULTS="$TOP/{}" \
  AG_WORK="$TOP/work/{}" AG_JOBS=2 sh "$STAGE/run_autograder" > "$TOP/{}.log" 2>&1
  echo "graded {}"'
rm -rf "$TOP/work"
python3 - "$TOP" "$SUBS" <<'PY'
import json, os, sys
top, subs = sys.argv[1:3]
rows = []
for name in sorted(os.listdir(subs)):
    try:
        r = json.load(open(os.path.join(top, name, "results.json")))
        rows.append((name, r.get("score", 0), r.get("max_score", "")))
    except (OSError, ValueError):
        rows.append((name, 0, "no results"))
with open(os.path.join(top, "scores.csv"), "w") as f:
    f.write("submission,score,max_score\n")
    for row in rows:
        f.write("%s,%s,%s\n" % row)
for row in rows:
    print("%-30s %6s / %s" % row)
print("scores: %s" % os.path.join(top, "scores.csv"))
PY
