#!/usr/bin/env python3
"""Packs a student's tree for handing in: `make handin LAB=N`.

Writes handin-labN-<stem>.zip at the top of the tree: every file of the tree
(git's tracked and untracked-but-not-ignored files; without git, everything
but build outputs), with a HANDIN.txt manifest (lab, commit, uncommitted
files). Build outputs, .git and earlier hand-ins stay out. This is the file
to upload to Gradescope: its autograder (grade/gradescope/run_autograder)
unpacks it, takes the lab's files from it and grades them.

Refuses, with the compiler's complaint, when the tree does not build, and
warns about uncommitted changes and a missing or empty answers-labN.txt.

    tools/handin.py --lab N [--make make] [-B build] [--no-build]
"""
import argparse
import os
import re
import subprocess
import sys
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "grade"))
import labs  # noqa: E402

STAMP = ".svmlab-handout"
SKIP_DIRS = {".git", ".cache", "__pycache__"}
SKIP_FILES = re.compile(r"^(handin-lab.*\.zip|compile_commands\.json|.*\.pyc|.*\.o|.*\.d)$")


class HandinError(Exception):
    pass


def lab_of(arg):
    """(number, stem) for a lab number or stem; the handout's lab by default."""
    if not arg:
        try:
            with open(os.path.join(ROOT, STAMP)) as f:
                m = re.search(r"^lab: (\d+)$", f.read(), re.M)
            arg = m.group(1) if m else None
        except OSError:
            pass
    if not arg:
        raise HandinError("which lab? run `make handin LAB=N` (N = 1, 2, ... or the lab's stem)")
    for num, stem, _ in labs.numbered():
        if arg in (str(num), stem):
            return num, stem
    raise HandinError("unknown lab %r (labs: %s)" % (arg, ", ".join(
        "%d %s" % (n, s) for n, s, _ in labs.numbered())))


def git(*args):
    p = subprocess.run(["git", "-C", ROOT] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, universal_newlines=True)
    return p.stdout if p.returncode == 0 else None


def build(make, bdir):
    """Builds the tree; raises HandinError with the compiler's last lines if it fails."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    p = subprocess.run([make, "-j2", "--no-print-directory", "all", "B=" + bdir], cwd=ROOT,
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if p.returncode != 0:
        tail = "\n".join("  | " + l for l in p.stdout.rstrip().split("\n")[-25:])
        raise HandinError("not packed: the tree does not build (`make all` failed). Fix the "
                          "errors below, then run make handin again:\n" + tail)


def is_output(rel, bdir):
    """Build outputs, handout trees, caches: directories at the top of the tree
    (B, build*, handout*) and generated files anywhere."""
    parts = rel.split("/")
    if len(parts) > 1 and (parts[0] == os.path.normpath(bdir).split("/")[0] or
                           parts[0].startswith(("build", "handout")) or parts[0] in SKIP_DIRS):
        return True
    return any(p in SKIP_DIRS for p in parts[:-1]) or SKIP_FILES.match(parts[-1]) is not None


def files_to_pack(bdir):
    """The tree's files, relative to ROOT, without build outputs."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if listed is not None:
        names = [n for n in listed.split("\0") if n]
    else:
        names = []
        for dirpath, dirs, files in os.walk(ROOT):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            names += [os.path.relpath(os.path.join(dirpath, f), ROOT) for f in files]
    return sorted(n for n in names if os.path.isfile(os.path.join(ROOT, n))
                  and not is_output(n, bdir))


def uncommitted():
    """Files with uncommitted changes (None outside git)."""
    out = git("status", "--porcelain", "--untracked-files=all")
    if out is None:
        return None
    return [l[3:] for l in out.splitlines() if l.strip() and not SKIP_FILES.match(
        os.path.basename(l[3:]))]


def warnings(num, changed):
    out = []
    if changed is None:
        out.append("not a git repository: nothing records which version you handed in")
    elif changed:
        out.append("%d file(s) with uncommitted changes are packed as they are now: %s%s "
                   "(commit them so your repository holds what you handed in)"
                   % (len(changed), ", ".join(changed[:8]), ", ..." if len(changed) > 8 else ""))
    answers = os.path.join(ROOT, "answers-lab%d.txt" % num)
    if not os.path.exists(answers) or not open(answers, errors="replace").read().strip():
        out.append("answers-lab%d.txt is missing or empty: the lab's questions are graded too"
                   % num)
    return out


def manifest(num, stem, changed, names):
    head = (git("rev-parse", "HEAD") or "none\n").strip()
    return ("svmlab hand-in: lab %d (%s)\npacked: %s\ncommit: %s\nuncommitted: %s\nfiles: %d\n"
            % (num, stem, time.strftime("%Y-%m-%d %H:%M:%S %z"), head,
               "unknown (no git)" if changed is None else (" ".join(changed) or "none"),
               len(names)))


def pack(num, stem, names, changed):
    out = os.path.join(ROOT, "handin-lab%d-%s.zip" % (num, stem))
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for n in names:
            z.write(os.path.join(ROOT, n), n)
        z.writestr("HANDIN.txt", manifest(num, stem, changed, names))
    os.replace(tmp, out)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description="Pack the tree for handing in.")
    ap.add_argument("--lab", default=os.environ.get("LAB"))
    ap.add_argument("--make", default="make")
    ap.add_argument("-B", dest="build", default=os.environ.get("B") or "build")
    ap.add_argument("--no-build", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    try:
        num, stem = lab_of(a.lab)
        if not a.no_build:
            build(a.make, a.build)
        changed = uncommitted()
        for w in warnings(num, changed):
            print("handin: warning: " + w, file=sys.stderr)
        names = files_to_pack(a.build)
        out = pack(num, stem, names, changed)
    except HandinError as e:
        print("handin: " + str(e), file=sys.stderr)
        return 1
    print("handin: wrote %s (%d files, %d KiB): upload this file for lab %d (%s)"
          % (os.path.relpath(out), len(names), (os.path.getsize(out) + 1023) // 1024, num, stem))
    return 0


if __name__ == "__main__":
    sys.exit(main())
