#!/usr/bin/env python3
"""Keep the test tables in the lab handouts equal to the graders.

Usage: python3 tools/labtests.py [--check | --update | --print STEM]

A handout marks where its table goes:

    <!-- TESTS lab_hsave -->
    ...generated table...
    <!-- /TESTS -->

The table (test name, points, title, CPUs, command line) is generated from
the @test declarations in grade/lab_<stem>.py, so a handout can never name a
test that does not exist or show stale points.

  --check   (default) exit 1, listing each stale table (a table whose
            grader does not exist yet is only warned about)
  --update  rewrite every table in labs/*.md and docs/*.md
  --print   print the table for one lab
"""
import glob
import importlib.util
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GRADE = os.path.join(ROOT, "grade")
REGION = re.compile(r"(<!-- TESTS lab_(\w+) -->\n)(.*?)(<!-- /TESTS -->)", re.S)


def load_tests():
    """{stem: [Test]} from every grade/lab_<stem>.py, in declaration order."""
    if not os.path.isdir(GRADE):
        return {}
    sys.path.insert(0, GRADE)
    import gradelib
    for path in sorted(glob.glob(os.path.join(GRADE, "lab_*.py"))):
        name = os.path.basename(path)[:-3]
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    out = {}
    for t in gradelib.REGISTRY:
        out.setdefault(t.lab, []).append(t)
    return out


def pts(x):
    return "%g" % x


def table(tests):
    rows = ["| test | points | what it checks | boot |", "|---|---|---|---|"]
    for t in tests:
        boot = []
        if t.cmdline:
            # A randomized test draws a new seed each grading run: show where it goes.
            boot.append("`%s`" % re.sub(r"\bseed=\d+", "seed=N", t.cmdline))
        if not getattr(t, "boot", True):
            boot.append("boots nothing (reads files)")
        else:
            boot.append("%d CPU%s" % (t.cpus, "" if t.cpus == 1 else "s"))
        if t.qemu_cpu:
            boot.append("`-cpu %s`" % t.qemu_cpu)
        rows.append("| `%s` | %s | %s | %s |" % (t.name, pts(t.points),
                                                   t.title.replace("|", "\\|"), ", ".join(boot)))
    rows.append("| **total** | **%s** | | |" % pts(sum(t.points for t in tests)))
    return "\n".join(rows) + "\n"


def handouts():
    return sorted(glob.glob(os.path.join(ROOT, "labs", "*.md")) +
                  glob.glob(os.path.join(ROOT, "docs", "*.md")))


def main(argv):
    mode = argv[0] if argv else "--check"
    tests = load_tests()
    if mode == "--print":
        if len(argv) < 2 or argv[1] not in tests:
            sys.exit("labtests: no grader grade/lab_%s.py" % (argv[1] if len(argv) > 1 else "?"))
        sys.stdout.write(table(tests[argv[1]]))
        return 0
    if mode not in ("--check", "--update"):
        sys.exit(__doc__)
    problems = []
    for path in handouts():
        with open(path, encoding="utf-8") as f:
            text = f.read()

        def fill(m):
            stem = m.group(2)
            if stem not in tests:
                # A lab whose grader is not written yet: say so, do not fail.
                print("labtests: warning: %s: no grader grade/lab_%s.py yet for its test table"
                      % (os.path.relpath(path, ROOT), stem))
                return m.group(0)
            want = table(tests[stem])
            if m.group(3) != want:
                problems.append("%s: test table of lab_%s is stale"
                                % (os.path.relpath(path, ROOT), stem))
            return m.group(1) + want + m.group(4)
        new = REGION.sub(fill, text)
        if mode == "--update" and new != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(new)
            print("labtests: updated %s" % os.path.relpath(path, ROOT))
    if mode == "--check":
        for p in problems:
            print("labtests: " + p)
        if problems:
            print("labtests: run 'python3 tools/labtests.py --update' and commit the handouts")
            return 1
        print("labtests: every handout's test table matches grade/lab_*.py")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
