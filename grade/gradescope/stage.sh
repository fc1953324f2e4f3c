#!/bin/sh
# Usage: sh grade/gradescope/stage.sh N DIR
# Writes DIR = what run_autograder expects as its source: the handout tree of
# lab N (tree/), the lab number (lab), the files a student edits in lab N
# (files: every source file of this solution tree with a "LAB N BEGIN"
# marker, and answers-labN.txt), setup.sh and run_autograder. Run it in the
# solution tree.
set -eu
cd "$(dirname "$0")/../.."
N=$1
DIR=$2
rm -rf "$DIR"
mkdir -p "$DIR"
python3 tools/handout.py --lab "$N" --dest "$DIR/tree" >/dev/null
echo "$N" > "$DIR/lab"
git ls-files '*.c' '*.h' '*.S' | while read -r f; do
  if grep -qE "^[[:space:]]*(//|#)[[:space:]]*LAB[[:space:]]+$N[[:space:]]+BEGIN" "$f"; then
    echo "$f"
  fi
done > "$DIR/files"
[ -s "$DIR/files" ] || { echo "stage.sh: no file has LAB $N markers" >&2; exit 1; }
# The student's answers to the lab's questions (graded; handouts leave them out).
echo "answers-lab$N.txt" >> "$DIR/files"
cp grade/gradescope/setup.sh grade/gradescope/run_autograder "$DIR/"
chmod +x "$DIR/setup.sh" "$DIR/run_autograder"
echo "stage.sh: lab $N, student files: $(tr '\n' ' ' < "$DIR/files")"
