#!/usr/bin/env python3
"""Writes a student tree: `make handout LAB=N DEST=dir`.

Copies every tracked file (git ls-files) to DEST.  In C, header and assembly
files, a solution region

    // LAB n BEGIN
    ...solution...
    // LAB n STUB
    // // LAB n: <the function's contract, for the student>
    // ...stub, commented out...
    // LAB n END

becomes its stub (the comment leader `// ` removed) when n >= N, and stays
the solution (markers and commented stub dropped) when n < N.  Assembly
files (.S) may also use `#` as the leader.  Regions do not nest.  The first
stub line is a commented comment, `// // LAB n: contract` (`# # LAB n: ...`
in .S), which the handout shows as `// LAB n: contract` where the student
writes: it is required in every region with a STUB part.  A region without a
STUB part (or with only blank stub lines) is dropped from the handout: use
that for a whole helper function that only solution code calls.  A
malformed, unbalanced or nested marker, a missing contract line, or a lab
number not in grade/labs.py, stops the tool with file:line.

Afterwards it checks DEST: no marker is left, and no distinctive solution
line of a stripped region (one that appears nowhere else in the code) occurs
in any file of DEST, documentation included.

    tools/handout.py --lab N --dest DIR          write the handout
    tools/handout.py --check                     only parse every marker
    tools/handout.py --has-markers N             exit 0 iff lab N has markers
"""
import argparse
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "grade"))
import labs  # noqa: E402

CODE_EXT = (".c", ".h", ".S")
MARK = re.compile(r"^\s*(//|#)\s*LAB\s+(\S+)\s+(BEGIN|STUB|END)\s*$")
# Catches near-misses ("/* LAB 1 BEGIN */"); "LAB n:" starts a contract line, not a marker.
LOOSE = re.compile(r"\bLAB\s+[^\s:]+\s+(BEGIN|STUB|END)\b")
STAMP = ".svmlab-handout"
MIN_DISTINCT = 20   # shorter solution lines are too generic to look for


class MarkerError(Exception):
    pass


class Region:
    def __init__(self, lab, where):
        self.lab = lab
        self.where = where      # "file:line" of BEGIN
        self.solution = []
        self.stub = []          # uncommented stub lines
        self.stub_where = None  # "file:line" of the first stub line


def leaders(path):
    return ("//", "#") if path.endswith(".S") else ("//",)


def uncomment(line, lead, where):
    """'  // code' -> '  code' (one space after the leader is dropped)."""
    m = re.match(r"^(\s*)%s ?(.*)$" % re.escape(lead), line.rstrip("\n"))
    if m:
        return m.group(1) + m.group(2) + "\n"
    if line.strip() == "":
        return line
    raise MarkerError("%s: stub line is not commented out with %r" % (where, lead))


def check_contract(region):
    """A region with a stub must open it with `LEAD LAB n: contract`, which the
    handout shows where the student writes (the markers themselves vanish)."""
    if not any(l.strip() for l in region.stub):
        region.stub = []          # no STUB part: the handout drops the region
        return
    lead, n = region.lead, region.lab
    m = re.match(r"^\s*%s\s*LAB\s+(\S+?):\s*(\S.*)?$" % re.escape(lead), region.stub[0])
    if m and m.group(1) == str(n) and m.group(2):
        return
    raise MarkerError("%s: the stub of the LAB %d region opened at %s must start with its "
                      "contract, `%s %s LAB %d: <what the code must do>` (the handout shows "
                      "it as `%s LAB %d: ...`)" % (region.stub_where, n, region.where,
                                                  lead, lead, n, lead, n))


def parse(path, text):
    """Splits text into a list of str (plain lines) and Region, checking markers."""
    known = [n for n, _, _ in labs.marked()]
    items, cur, part = [], None, None
    for i, line in enumerate(text.splitlines(True), 1):
        where = "%s:%d" % (path, i)
        m = MARK.match(line)
        if not m:
            if LOOSE.search(line):
                raise MarkerError("%s: malformed marker (want `// LAB n BEGIN|STUB|END` "
                                  "alone on its line)" % where)
            if cur is None:
                items.append(line)
            elif part == "solution":
                cur.solution.append(line)
            else:
                cur.stub.append(uncomment(line, cur.lead, where))
                cur.stub_where = cur.stub_where or where
            continue
        lead, num, kind = m.groups()
        if lead not in leaders(path):
            raise MarkerError("%s: %r markers are only for assembly files" % (where, lead))
        if not num.isdigit() or int(num) not in known:
            raise MarkerError("%s: unknown lab %r (labs with markers: %s)"
                              % (where, num, ", ".join(map(str, known))))
        n = int(num)
        if kind == "BEGIN":
            if cur is not None:
                raise MarkerError("%s: LAB %d BEGIN inside the LAB %d region opened at %s "
                                  "(regions do not nest)" % (where, n, cur.lab, cur.where))
            cur, part = Region(n, where), "solution"
            cur.lead = lead
            continue
        if cur is None:
            raise MarkerError("%s: LAB %d %s without a LAB %d BEGIN" % (where, n, kind, n))
        if n != cur.lab:
            raise MarkerError("%s: LAB %d %s inside the LAB %d region opened at %s"
                              % (where, n, kind, cur.lab, cur.where))
        if kind == "STUB":
            if part != "solution":
                raise MarkerError("%s: second LAB %d STUB in the region opened at %s"
                                  % (where, n, cur.where))
            part = "stub"
        else:
            check_contract(cur)
            items.append(cur)
            cur = None
    if cur is not None:
        raise MarkerError("%s: LAB %d BEGIN has no LAB %d END" % (cur.where, cur.lab, cur.lab))
    return items


def render(items, lab):
    """The handout text: regions of labs >= lab become their stubs."""
    out = []
    for it in items:
        if isinstance(it, Region):
            out += it.stub if it.lab >= lab else it.solution
        else:
            out.append(it)
    return "".join(out)


def tracked(root):
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], check=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout
    except (OSError, subprocess.CalledProcessError):
        raise MarkerError("%s is not a git checkout (the handout copies `git ls-files`)" % root)
    return [p for p in out.decode().split("\0") if p and os.path.isfile(os.path.join(root, p))]


def read_text(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (UnicodeDecodeError, OSError):
        return None


def parse_tree(root):
    """{path: items} for every tracked code file with text."""
    parsed = {}
    for p in tracked(root):
        if p.endswith(CODE_EXT):
            text = read_text(os.path.join(root, p))
            if text is not None:
                parsed[p] = parse(p, text)
    return parsed


def labs_with_markers(parsed):
    return sorted({it.lab for items in parsed.values() for it in items
                   if isinstance(it, Region)})


def prepare_dest(dest):
    if os.path.exists(dest):
        if not os.path.isdir(dest) or (os.listdir(dest) and
                                       not os.path.exists(os.path.join(dest, STAMP))):
            raise MarkerError("%s exists and is not a handout tree: not overwriting it" % dest)
        shutil.rmtree(dest)
    os.makedirs(dest)


def withheld(path, lab):
    """Files a handout of lab `lab` leaves out: the answers of labs >= lab
    (answers-labK.txt, the student writes them) and their bug catalogues
    (grade/bugs/STEM.py quote the solution)."""
    m = re.match(r"answers-lab(\d+)\.txt$", path)
    if m:
        return int(m.group(1)) >= lab
    m = re.match(r"grade/bugs/(\w+)\.py$", path)
    num = next((n for n, stem, _ in labs.numbered() if m and stem == m.group(1)), None)
    return num is not None and num >= lab


def write_handout(root, dest, lab, parsed):
    prepare_dest(dest)
    for p in tracked(root):
        if withheld(p, lab):
            continue
        src, dst = os.path.join(root, p), os.path.join(dest, p)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if any(isinstance(it, Region) for it in parsed.get(p, ())):
            with open(dst, "w", encoding="utf-8") as f:
                f.write(render(parsed[p], lab))
            shutil.copymode(src, dst)
        else:
            shutil.copy2(src, dst)   # keeps the mtime: make rebuilds only what changed
    with open(os.path.join(dest, STAMP), "w") as f:
        f.write("svmlab handout: regions of labs >= %d replaced by stubs\n" % lab)


def check_dest(dest, lab, parsed):
    """Reads DEST back: no marker left, no distinctive solution line anywhere."""
    kept = set()
    secret = {}
    for p, items in parsed.items():
        for it in items:
            if not isinstance(it, Region):
                kept.add(it.strip())
            elif it.lab < lab:
                kept.update(l.strip() for l in it.solution)
            else:
                kept.update(l.strip() for l in it.stub)
                for l in it.solution:
                    secret.setdefault(l.strip(), it.where)
    secret = {s: w for s, w in secret.items() if len(s) >= MIN_DISTINCT and s not in kept}
    problems = []
    for dirpath, _, files in os.walk(dest):
        for name in files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, dest)
            text = read_text(path)
            if text is None:
                continue
            for i, line in enumerate(text.splitlines(), 1):
                if rel.endswith(CODE_EXT) and MARK.match(line):
                    problems.append("%s:%d: marker left in the handout" % (rel, i))
                s = line.strip()
                if rel.endswith(CODE_EXT):
                    hits = [s] if s in secret else []   # code: whole lines
                else:
                    hits = [sec for sec in secret if sec in s]  # docs: quoted anywhere
                for sec in hits:
                    problems.append("%s:%d: solution line from %s survives: %s"
                                    % (rel, i, secret[sec], sec))
    return problems


def lab_number(arg):
    if arg.isdigit():
        n = int(arg)
    else:
        n = next((num for num, stem, _ in labs.numbered() if stem == arg), None)
    known = [num for num, _, _ in labs.marked()]
    if n not in known:
        raise MarkerError("unknown lab %r for a handout (labs with markers: %s)"
                          % (arg, ", ".join("%d %s" % (x, labs.by_number(x)) for x in known)))
    return n


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write an svmlab student tree.")
    ap.add_argument("--lab", help="first lab to strip (number or stem)")
    ap.add_argument("--dest", help="where to write the tree")
    ap.add_argument("--src", default=ROOT, help="the solution tree (default: this one)")
    ap.add_argument("--check", action="store_true", help="only check the markers")
    ap.add_argument("--has-markers", metavar="N", type=int,
                    help="exit 0 iff lab N has solution markers")
    a = ap.parse_args(argv)
    try:
        parsed = parse_tree(a.src)
        if a.has_markers is not None:
            return 0 if a.has_markers in labs_with_markers(parsed) else 1
        if a.check:
            print("handout: markers of labs %s are well formed"
                  % (labs_with_markers(parsed) or "(none)"))
            return 0
        if a.lab is None or not a.dest:
            ap.error("--lab and --dest are required")
        lab = lab_number(a.lab)
        if lab not in labs_with_markers(parsed):
            print("handout: warning: lab %d has no solution markers yet" % lab, file=sys.stderr)
        write_handout(a.src, a.dest, lab, parsed)
        problems = check_dest(a.dest, lab, parsed)
    except MarkerError as e:
        print("handout: %s" % e, file=sys.stderr)
        return 1
    if problems:
        print("\n".join("handout: " + p for p in problems), file=sys.stderr)
        print("handout: %s is NOT a clean handout" % a.dest, file=sys.stderr)
        return 1
    nreg = sum(1 for items in parsed.values() for it in items
               if isinstance(it, Region) and it.lab >= lab)
    print("handout: wrote %s (lab %d %s: %d solution regions of labs >= %d replaced by stubs)"
          % (a.dest, lab, labs.by_number(lab), nreg, lab))
    return 0


if __name__ == "__main__":
    sys.exit(main())
