#!/bin/sh
# Usage: sh grade/gradescope/make-zip.sh N [OUT.zip]
# The Gradescope autograder zip for lab N (default build/gradescope-labN.zip):
# setup.sh and run_autograder at the top, as Gradescope wants, plus the lab's
# handout tree. Upload it as the assignment's autograder ("Zip file upload").
set -eu
cd "$(dirname "$0")/../.."
N=$1
OUT=${2:-build/gradescope-lab$N.zip}
STAGE=build/gradescope-lab$N
sh grade/gradescope/stage.sh "$N" "$STAGE"
mkdir -p "$(dirname "$OUT")"
rm -f "$OUT"
OUT_ABS=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
(cd "$STAGE" && python3 -m zipfile -c "$OUT_ABS" setup.sh run_autograder lab files tree)
echo "make-zip.sh: wrote $OUT"
