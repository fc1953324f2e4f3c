"""The vocabulary of the bug catalogues: plausible student mistakes, one file per lab.

grade/bugs/<stem>.py lists the mistakes a student might make in lab <stem>'s solution
regions. Each is a small edit of the solution; tools/bugs.py applies it to a copy of
the tree, rebuilds, runs the grader tests the entry names, and requires at least one of
them to fail (or, with build_error=, the build to fail with that message). So a grader
that passes a wrong solution is caught by `make test`, not by a student.

    from bugs import bug
    bug("asid_wrap_off_by_one",
        "the ASID wrap test uses >=, so the last ASID is never handed out",
        edits=[("kern/svm/vcpu.c", "exact old text", "new text")],
        tests=["vcpu/asid_wrap"])

Each edit's old text must occur exactly once in its file: an entry whose text no longer
matches the solution is reported as stale (update the entry with the code).

A catalogue also lists correct variants: other ways to write the solution (KVM's own
choices among them) that must keep full marks. tools/bugs.py grades the variant's whole
lab with the usual timeouts and requires every test to pass:

    variant("cli_before_host_vmload", "KVM's order: CLI while GIF=0, before the host's VMLOAD",
            edits=[("kern/svm/run.c", "exact old text", "new text")])
"""
import os

CATALOGUE = []      # every Bug registered so far, in file order
_lab = None         # the stem whose catalogue is being loaded (set by load())


class Bug:
    def __init__(self, lab, name, why, edits, tests, build_error, where, variant=False):
        self.lab, self.name, self.why = lab, name, why
        self.edits, self.tests, self.build_error, self.where = edits, tests, build_error, where
        self.variant = variant   # a correct variant: must keep full marks

    @property
    def id(self):
        return "%s/%s" % (self.lab, self.name)


def bug(name, why, edits, tests=None, build_error=None):
    """Declares one plausible mistake of lab <stem> (the catalogue file's name)."""
    import inspect
    caller = inspect.stack()[1]
    where = "%s:%d" % (os.path.relpath(caller.filename), caller.lineno)
    if _lab is None:
        raise RuntimeError("bug() outside a catalogue being loaded by bugs.load()")
    if not edits or any(len(e) != 3 for e in edits):
        raise ValueError("%s: %s: edits must be a non-empty list of (file, old, new)" % (where, name))
    if bool(tests) == bool(build_error):
        raise ValueError("%s: %s: give tests=[...] or build_error=..., exactly one" % (where, name))
    if any(b.lab == _lab and b.name == name for b in CATALOGUE):
        raise ValueError("%s: bug %r declared twice in lab %s" % (where, name, _lab))
    CATALOGUE.append(Bug(_lab, name, why, list(edits), list(tests or []), build_error, where))


def variant(name, why, edits):
    """Declares one correct way to write lab <stem>'s solution: it must keep full marks."""
    import inspect
    caller = inspect.stack()[1]
    where = "%s:%d" % (os.path.relpath(caller.filename), caller.lineno)
    if _lab is None:
        raise RuntimeError("variant() outside a catalogue being loaded by bugs.load()")
    if not edits or any(len(e) != 3 for e in edits):
        raise ValueError("%s: %s: edits must be a non-empty list of (file, old, new)" % (where, name))
    if any(b.lab == _lab and b.name == name for b in CATALOGUE):
        raise ValueError("%s: %s declared twice in lab %s" % (where, name, _lab))
    CATALOGUE.append(Bug(_lab, name, why, list(edits), [], None, where, variant=True))


def load(path):
    """Reads one catalogue file; returns its bugs."""
    global _lab
    stem = os.path.basename(path)[:-3]
    before = len(CATALOGUE)
    _lab = stem
    try:
        code = compile(open(path).read(), path, "exec")
        exec(code, {"__name__": "bugs_" + stem, "bug": bug, "variant": variant})
    finally:
        _lab = None
    return CATALOGUE[before:]
