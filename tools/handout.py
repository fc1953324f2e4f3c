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

Over a student's repository (DEST holds a handout's stamp and .git), the
tool updates in place instead: `make handout LAB=N+1 DEST=repo` merges the
kit's changes since the commit named in the stamp into the student's files
(git merge-file), keeps the student's code (the regions stay stubs in what
is merged, so the student's edits of them win), adds new files, records lab
N+1 and the kit's commit, and reports conflicts by file.

    tools/handout.py --lab N --dest DIR          write the handout (or update a repo)
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


def parse(path, text, strict=True):
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
            if strict:
                check_contract(cur)
            elif not any(l.strip() for l in cur.stub):
                cur.stub = []
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


# Sources that hold the answers of a lab although no region marks them: the
# handouts of that lab and earlier ones carry them compiled instead (a make
# target of the kit builds the archives, which the tree's Makefile links
# when the source is absent). user/fuzz/x86gen.c encodes instructions from
# the opcode maps, ModRM/SIB and default-segment rules: what the lab 7
# decoder must work out.
PREBUILT = {
    "user/fuzz/x86gen.c": ("mmio", "x86gen-prebuilt",
                           {"prebuilt/libx86gen-svmlab.a": "user/fuzz/libx86gen-svmlab.a",
                            "prebuilt/libx86gen-host.a": "user/fuzz/libx86gen-host.a"}),
}


def prebuilt_withheld(path, lab):
    entry = PREBUILT.get(path)
    return entry is not None and labs_number(entry[0]) >= lab


def labs_number(stem):
    return next(n for n, s, _ in labs.numbered() if s == stem)


PREBUILT_DIR = "build-handout"   # in the kit: make's build directory for them (kept: rebuilt when stale)


def write_prebuilt(root, dest, lab):
    """Builds (make TARGET in root, B=build-handout, never a SAN build) and
    copies the archives that stand in for the sources a handout of lab `lab`
    withholds."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SAN")}
    b = os.path.join(root, PREBUILT_DIR)
    for path, (stem, target, outputs) in sorted(PREBUILT.items()):
        if not prebuilt_withheld(path, lab) or not os.path.isfile(os.path.join(root, path)):
            continue
        p = subprocess.run(["make", "-s", "-C", root, "B=" + b, "SAN=", target], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.returncode != 0:
            raise MarkerError("make %s (for %s) failed:\n%s" % (target, path, p.stdout.decode(errors="replace")))
        for built, there in outputs.items():
            os.makedirs(os.path.dirname(os.path.join(dest, there)), exist_ok=True)
            shutil.copyfile(os.path.join(b, built), os.path.join(dest, there))


def withheld(path, lab):
    """Files a handout of lab `lab` leaves out: the answers of labs >= lab
    (answers-labK.txt, the student writes them), their bug catalogues
    (grade/bugs/STEM.py quote the solution) and PREBUILT sources."""
    if prebuilt_withheld(path, lab):
        return True
    m = re.match(r"answers-lab(\d+)\.txt$", path)
    if m:
        return int(m.group(1)) >= lab
    m = re.match(r"grade/bugs/(\w+)\.py$", path)
    num = next((n for n, stem, _ in labs.numbered() if m and stem == m.group(1)), None)
    return num is not None and num >= lab


def kit_commit(root):
    """The kit's commit (recorded in the stamp: the base of a later update)."""
    p = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, universal_newlines=True)
    return p.stdout.strip() if p.returncode == 0 else "unknown"


def write_stamp(dest, lab, first, kit):
    with open(os.path.join(dest, STAMP), "w") as f:
        f.write("svmlab handout: lab %d; the regions of labs >= %d are the student's\n"
                "lab: %d\nfirst: %d\nkit: %s\n" % (lab, first, lab, first, kit))


def read_stamp(dest):
    """{"lab", "first", "kit"} of a handout tree's stamp (old stamps: lab only)."""
    try:
        with open(os.path.join(dest, STAMP)) as f:
            text = f.read()
    except OSError:
        return None
    st = dict(re.findall(r"^(lab|first|kit): (\S+)$", text, re.M))
    if "lab" not in st:
        m = re.search(r"labs >= (\d+)", text)
        st["lab"] = m.group(1) if m else "1"
    return {"lab": int(st["lab"]), "first": int(st.get("first", st["lab"])),
            "kit": st.get("kit", "unknown")}


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
    write_prebuilt(root, dest, lab)
    write_stamp(dest, lab, lab, kit_commit(root))


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


# ---------------------------------------------------------------------------
# Updating a student's repository to a later lab (make handout LAB=N+1 DEST=repo)

def handout_text(path, text, first, strict=True):
    """What the handout of first has for a file: its regions of labs >= first stubbed."""
    if path.endswith(CODE_EXT):
        return render(parse(path, text, strict), first)
    return text


def kit_file(root, commit, path):
    """A file of the kit at commit (bytes), or None."""
    p = subprocess.run(["git", "-C", root, "show", "%s:%s" % (commit, path)],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return p.stdout if p.returncode == 0 else None


def merge3(ours, base, theirs):
    """git merge-file: (merged text, number of conflicts)."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        names = []
        for name, text in (("yours", ours), ("handout-before", base), ("handout-now", theirs)):
            names.append(os.path.join(tmp, name))
            with open(names[-1], "w", encoding="utf-8") as f:
                f.write(text)
        p = subprocess.run(["git", "merge-file", "-p", "-L", "yours", "-L", "handout before",
                            "-L", "handout now"] + names, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    if p.returncode < 0 or p.returncode > 127:
        raise MarkerError("git merge-file failed: %s" % p.stderr.decode(errors="replace"))
    return p.stdout.decode("utf-8"), p.returncode


class Update:
    """One file's three versions: ours (the student's), base (the handout
    the student got, from the kit commit in the stamp), theirs (the handout
    now). Student code in regions of labs >= first is in ours only."""

    def __init__(self, src, dest, st, parsed):
        self.src, self.dest, self.st, self.parsed = src, dest, st, parsed
        self.conflicts, self.notes = [], []

    def base(self, path):
        raw = None if self.st["kit"] == "unknown" else kit_file(self.src, self.st["kit"], path)
        if raw is None:
            return None
        try:
            return handout_text(path, raw.decode("utf-8"), self.st["first"], strict=False)
        except (UnicodeDecodeError, MarkerError):
            return None

    def theirs(self, path):
        if path in self.parsed:
            return render(self.parsed[path], self.st["first"])
        return read_text(os.path.join(self.src, path))

    def write(self, path, text):
        dst = os.path.join(self.dest, path)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if text is None:      # not text: copied as it is
            shutil.copy2(os.path.join(self.src, path), dst)
            return
        with open(dst, "w", encoding="utf-8") as f:
            f.write(text)
        shutil.copymode(os.path.join(self.src, path), dst)

    def file(self, path):
        theirs = self.theirs(path)
        dst = os.path.join(self.dest, path)
        ours = read_text(dst) if os.path.exists(dst) else None
        if ours is not None and ours == theirs:
            return
        base = self.base(path)
        if ours is None:
            if not os.path.exists(dst) and (base is None or base != theirs):
                self.write(path, theirs)      # new in the kit, or changed since
            return
        if theirs is None or base == theirs or (base is None and self.st["kit"] == "unknown"):
            return                            # the kit did not change it: yours stays
        if base is None:
            base = ""                         # new in the kit, but you have one too
        if ours == base:
            self.write(path, theirs)
            return
        merged, n = merge3(ours, base, theirs)
        with open(dst, "w", encoding="utf-8") as f:
            f.write(merged)
        if n:
            self.conflicts.append("%s (%d conflict%s)" % (path, n, "s" if n > 1 else ""))

    def removed(self, paths):
        """Files the kit had at the stamp's commit and no longer has."""
        if self.st["kit"] == "unknown":
            return
        p = subprocess.run(["git", "-C", self.src, "ls-tree", "-r", "-z", "--name-only",
                            self.st["kit"]], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        gone = set(p.stdout.decode().split("\0")) - set(paths) - {""}
        for path in (p for p in gone if not withheld(p, self.st["first"])):
            dst = os.path.join(self.dest, path)
            base = self.base(path)
            if os.path.isfile(dst) and base is not None and read_text(dst) == base:
                os.unlink(dst)
            elif os.path.isfile(dst):
                self.notes.append("%s: no longer in the kit; yours is kept" % path)


def update_handout(src, dest, lab, parsed):
    """Brings a student's repository (a handout tree with .git) to lab's
    handout: kit changes since its stamp are merged in (git merge-file), the
    student's code stays. Returns (conflicts, notes)."""
    st = read_stamp(dest)
    up = Update(src, dest, st, parsed)
    known = subprocess.run(["git", "-C", src, "cat-file", "-e", st["kit"] + "^{commit}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    if st["kit"] == "unknown" or not known:
        up.notes.append("the kit commit this tree came from (%s) is not in %s: only files "
                        "new to you were added" % (st["kit"], src))
        st["kit"] = "unknown"
    # What a handout of the first lab leaves out stays out (the answers and
    # bug catalogues of the student's labs quote the solution).
    every = tracked(src)
    paths = [p for p in every if not withheld(p, st["first"])]
    for path in paths:
        up.file(path)
    up.removed(every)
    write_prebuilt(src, dest, st["first"])   # the kit's generator may have changed
    write_stamp(dest, lab, st["first"], kit_commit(src))
    return up.conflicts, up.notes


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


def is_student_repo(dest):
    """A handout tree under git: a student's (or a course's) repository, updated
    in place, never replaced."""
    return (os.path.exists(os.path.join(dest, STAMP)) and
            os.path.exists(os.path.join(dest, ".git")))


def run_update(src, dest, lab, parsed):
    st = read_stamp(dest)
    print("handout: updating the repository %s from lab %d to lab %d (the code of labs >= %d "
          "stays yours; kit changes since %s are merged in)"
          % (dest, st["lab"], lab, st["first"], st["kit"][:12]))
    conflicts, notes = update_handout(src, dest, lab, parsed)
    for n in notes:
        print("handout: note: " + n, file=sys.stderr)
    if conflicts:
        print("handout: conflicts (marked <<<<<<< yours / >>>>>>> handout now): %s\n"
              "handout: resolve them, build, then commit" % ", ".join(conflicts), file=sys.stderr)
        return 1
    print("handout: %s is now the lab %d (%s) handout: check `git status`, build, commit"
          % (dest, lab, labs.by_number(lab)))
    return 0


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
        if is_student_repo(a.dest):
            return run_update(a.src, a.dest, lab, parsed)
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
