#!/usr/bin/env python3
"""Writes compile_commands.json for clangd, VS Code and CLion:
`make compile_commands.json` (B=dir for another build directory).

The commands are the Makefile's own: `make -n -B all` prints every compiler
invocation of a full build (kernel, user programs and library, guests) without
running it, and each one that compiles a source of the tree becomes an entry
with its real flags. Nothing is compiled; a Makefile change shows up at the
next `make compile_commands.json`.

    tools/compile_commands.py [-B build] [-o compile_commands.json] [--make make]
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCES = (".c", ".S")


def dry_run(make, build):
    """The commands of a full build, one per line, as make would run them."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    p = subprocess.run([make, "-n", "-B", "--no-print-directory", "all", "B=" + build],
                       cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    if p.returncode != 0:
        sys.exit("compile_commands: `make -n all` failed:\n" + p.stderr)
    return p.stdout.splitlines()


def strip_deps(argv):
    """Without make's dependency-file options: an editor checking a file must
    not rewrite build/*.d (they say nothing about how the file compiles)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("-MF", "-MT", "-MQ"):
            skip = True
        elif a not in ("-MMD", "-MD", "-MP"):
            out.append(a)
    return out


def entry(line, build):
    """The entry for one compiler command, or None for any other command."""
    try:
        argv = shlex.split(line)
    except ValueError:
        return None
    if not argv or "-c" not in argv or not os.path.basename(argv[0]).endswith(("gcc", "cc")):
        return None
    srcs = [a for a in argv[1:] if a.endswith(SOURCES) and os.path.isfile(os.path.join(ROOT, a))]
    out = argv[argv.index("-o") + 1] if "-o" in argv[:-1] else None
    if len(srcs) != 1 or os.path.abspath(os.path.join(ROOT, srcs[0])).startswith(
            os.path.abspath(os.path.join(ROOT, build)) + os.sep):
        return None   # generated files (the symbol table) are not for an editor
    e = {"directory": ROOT, "file": os.path.join(ROOT, srcs[0]), "arguments": strip_deps(argv)}
    if out:
        e["output"] = os.path.join(ROOT, out)
    return e


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-B", dest="build", default=os.environ.get("B") or "build")
    ap.add_argument("-o", dest="out", default=os.path.join(ROOT, "compile_commands.json"))
    ap.add_argument("--make", default="make")
    a = ap.parse_args(argv)
    entries = [e for e in (entry(l, a.build) for l in dry_run(a.make, a.build)) if e]
    if not entries:
        sys.exit("compile_commands: `make -n all` printed no compiler command")
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")
    os.replace(tmp, a.out)
    kinds = {}
    for e in entries:
        top = os.path.relpath(e["file"], ROOT).split(os.sep)[0]
        kinds[top] = kinds.get(top, 0) + 1
    print("compile_commands: %d entries (%s) in %s" % (len(entries), ", ".join(
        "%s %d" % kv for kv in sorted(kinds.items())), os.path.relpath(a.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
