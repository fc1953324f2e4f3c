#!/usr/bin/env python3
"""Grades svmlab: boots QEMU once per test, in parallel, and reports.

    python3 grade/grade.py                    every lab
    python3 grade/grade.py --lab hsave        one lab (by stem or number; repeat or
                                              separate with commas for several)
    python3 grade/grade.py -k fork --list     list the tests matching a pattern
    python3 grade/grade.py --json results.json --junit junit.xml

Exit status: 0 when every selected test passed, 1 when one failed, 2 on a
usage error (unknown lab, kernel not built).
"""
import argparse
import glob
import importlib.util
import json
import os
import re
import sys
import time
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gradelib  # noqa: E402
import labs  # noqa: E402


def discover(grade_dir):
    """{stem: path} of every grade/lab_<stem>.py, in lab order."""
    found = {}
    for path in glob.glob(os.path.join(grade_dir, "lab_*.py")):
        found[os.path.basename(path)[4:-3]] = path
    return dict(sorted(found.items(), key=lambda kv: labs.order_key(kv[0])))


def load(stem, path):
    """Imports lab_<stem>.py, which registers its tests in gradelib.REGISTRY."""
    spec = importlib.util.spec_from_file_location("lab_" + stem, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)


def resolve(names, available):
    """Lab stems named by --lab arguments (stems or numbers); exits on unknown."""
    out = []
    for arg in names:
        for n in filter(None, (s.strip() for s in arg.split(","))):
            stem = labs.by_number(int(n)) if n.isdigit() else n
            if stem not in available:
                print("grade.py: no grader for lab %r (have: %s)"
                      % (n, ", ".join(available) or "none"), file=sys.stderr)
                sys.exit(2)
            if stem not in out:
                out.append(stem)
    return out


def lab_label(stem):
    for num, s, _ in labs.LABS:
        if s == stem and num is not None:
            return "lab %d %s" % (num, stem)
    return stem


def summarize(results, stems):
    """{stem: (score, max, passed, failed)} over the selected labs."""
    summary = {}
    for stem in stems:
        rs = [r for r in results if r.test.lab == stem]
        if rs:
            summary[stem] = (sum(r.score for r in rs), sum(r.test.points for r in rs),
                             sum(r.passed for r in rs), sum(not r.passed for r in rs))
    return summary


def fmt_pts(x):
    return ("%g" % x)


def write_json(path, results, summary, elapsed):
    """Gradescope's results.json (per-lab summary under extra_data)."""
    tests = []
    for r in results:
        t = r.test
        out = "%s (%.1fs)" % ("OK" if r.passed else "FAIL", r.elapsed)
        if not r.passed:
            out += "\n" + r.report()
        tests.append({"name": "%s: %s" % (t.lab, t.title), "score": r.score,
                      "max_score": t.points, "output": out,
                      "status": "passed" if r.passed else "failed",
                      "tags": [t.lab], "extra_data": {"id": t.id, "cmdline": r.cmdline(),
                                                      "elapsed": round(r.elapsed, 2)}})
    doc = {"score": sum(r.score for r in results),
           "max_score": sum(r.test.points for r in results),
           "execution_time": round(elapsed, 1), "tests": tests,
           "extra_data": {"labs": {s: {"score": v[0], "max_score": v[1], "passed": v[2],
                                       "failed": v[3]} for s, v in summary.items()}}}
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def write_junit(path, results, summary, elapsed):
    """JUnit XML: one <testsuite> per lab, one <testcase> per test."""
    root = ET.Element("testsuites", name="svmlab", tests=str(len(results)),
                      failures=str(sum(not r.passed for r in results)),
                      time="%.2f" % elapsed)
    for stem in summary:
        rs = [r for r in results if r.test.lab == stem]
        suite = ET.SubElement(root, "testsuite", name=stem, tests=str(len(rs)),
                              failures=str(sum(not r.passed for r in rs)), errors="0",
                              time="%.2f" % sum(r.elapsed for r in rs))
        for r in rs:
            case = ET.SubElement(suite, "testcase", classname="svmlab." + stem,
                                 name=r.test.name, time="%.2f" % r.elapsed)
            ET.SubElement(case, "system-out").text = r.output[-20000:]
            if not r.passed:
                fl = ET.SubElement(case, "failure", message=r.message.split("\n")[0][:200])
                fl.text = r.report()
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)


def print_result(r, verbose, tail):
    t = r.test
    status = "OK" if r.passed else "FAIL"
    print("%s: %s (%s pts): %s (%.1fs)" % (t.lab, t.title, fmt_pts(t.points), status,
                                          r.elapsed), flush=True)
    if not r.passed:
        print(r.report(tail), flush=True)
    elif verbose:
        print("\n".join("      | " + l for l in r.tail(10 ** 6)), flush=True)


def retry_failed(results, cfg, args):
    """Runs each failed test again, up to args.retries times, one at a time
    (a failure from a loaded machine's timing should not repeat on a quieter
    one). A real bug fails every time, so handout and bug checks, which need
    failures, are not weakened. Returns the results with passes replacing
    failures, each retried test named."""
    for attempt in range(1, args.retries + 1):
        failed = [i for i, r in enumerate(results)
                  if not r.passed and r.test.lab != args.retry_except]
        if not failed:
            break
        print("\nretry %d of %d: %d failed test%s, one at a time" % (
            attempt, args.retries, len(failed), "s" if len(failed) > 1 else ""), flush=True)
        again = gradelib.run_tests([results[i].test for i in failed], cfg, 1,
                                   lambda r: print_result(r, args.verbose, args.tail))
        for i, r in zip(failed, again):
            if r.passed:
                print("%s: passed on retry %d (flaky: %s)" % (r.test.id, attempt, r.test.title), flush=True)
                results[i] = r
    return results


def cores():
    """CPUs this process may run on (a container may allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def parse_args(argv):
    p = argparse.ArgumentParser(description="Grade svmlab under QEMU.")
    p.add_argument("--lab", action="append", default=[],
                   help="lab stem or number (repeatable, or comma-separated)")
    p.add_argument("-k", dest="pattern", help="only tests whose lab/name or title match")
    p.add_argument("-j", dest="jobs", type=int, default=cores(),
                   help="QEMUs at a time (default: one per core)")
    p.add_argument("--list", action="store_true", help="list the tests; run nothing")
    p.add_argument("--json", help="write Gradescope results.json here")
    p.add_argument("--junit", help="write JUnit XML here")
    p.add_argument("--build-dir", default=os.path.join(os.path.dirname(HERE), "build"),
                   help="where kernel.bin and initrd.tar are (default: build)")
    p.add_argument("--qemu", default=os.environ.get("QEMU", "qemu-system-x86_64"))
    p.add_argument("--cpu", default="max", help="default QEMU -cpu model (max)")
    p.add_argument("--timeout-scale", type=float, default=1.0,
                   help="multiply every timeout, on top of SVMLAB_TIMEOUT_SCALE (the one "
                        "setting for a slow machine; tools that expect hangs pass a factor < 1)")
    p.add_argument("--no-calibrate", action="store_true",
                   help="skip the calibration boot (also SVMLAB_CALIBRATE=0)")
    p.add_argument("--tail", type=int, default=25, help="output lines shown on failure")
    p.add_argument("--retries", type=int, default=int(os.environ.get("SVMLAB_RETRIES", "0")),
                   help="run a failed test again up to this many times (timing noise on a loaded "
                        "machine); a test that passes on a retry is reported as such")
    p.add_argument("--retry-except", default="",
                   help="a lab whose tests are never retried (a handout check expects them to fail)")
    p.add_argument("-v", "--verbose", action="store_true", help="show output of passing tests")
    p.add_argument("--grade-dir", default=HERE, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def env_scale():
    """SVMLAB_TIMEOUT_SCALE: how much slower this machine is than ours."""
    raw = os.environ.get("SVMLAB_TIMEOUT_SCALE", "1")
    try:
        v = float(raw)
    except ValueError:
        v = 0
    if v <= 0:
        print("grade.py: SVMLAB_TIMEOUT_SCALE=%r is not a positive number" % raw, file=sys.stderr)
        sys.exit(2)
    return v


def check_speed(args, tests, cfg):
    """The calibration boot, for a run of 5 tests or more without a shortening
    --timeout-scale (SVMLAB_CALIBRATE=1: always, 0: never): says up front when
    this machine is much slower than the timeouts assume."""
    want = os.environ.get("SVMLAB_CALIBRATE")
    if args.no_calibrate or want == "0" or (len(tests) < 5 and want != "1"):
        return
    if args.timeout_scale < 1 and want != "1":
        return      # a tool that expects broken kernels (mutants, bug catalogue): not a student
    seconds, ratio = gradelib.calibrate(cfg)
    if seconds is None:
        print("grade.py: the calibration boot failed (%s): no speed check" % ratio, flush=True)
        return
    cfg.slowness = ratio
    note = gradelib.slowness_note(seconds, ratio, cfg.timeout_scale)
    if note:
        print("grade.py: warning: " + note + "\n", flush=True)
    elif args.verbose:
        print("grade.py: calibration boot %.2fs (reference %.2fs: this machine is %s)"
              % (seconds, gradelib.reference_boot(), gradelib.speed_words(ratio)), flush=True)


# What each build output is made of: a source newer than its output means
# the grade would test old code. (kernel.bin holds kern/ and lib/; the
# initrd holds user/ and lib/.)
SOURCES = (("kern", ("kernel.bin",)), ("user", ("initrd.tar",)),
           ("lib", ("kernel.bin", "initrd.tar")))
SOURCE_EXT = (".c", ".h", ".S", ".s", ".ld", ".inc")


def newer_source(build_dir, root=os.path.dirname(HERE)):
    """A source file changed after the build output made of it (a path), or None."""
    for top, outs in SOURCES:
        try:
            built = min(os.path.getmtime(os.path.join(build_dir, f)) for f in outs)
        except OSError:
            continue
        for d, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = [x for x in dirs if not x.startswith(".") and x != "__pycache__"]
            for f in files:
                if not f.endswith(SOURCE_EXT):
                    continue
                try:
                    if os.path.getmtime(os.path.join(d, f)) > built:
                        return os.path.join(d, f)
                except OSError:
                    continue
    return None


def warn_stale(build_dir):
    """grade.py run directly (not by make grade) may test an old build: say so."""
    path = newer_source(build_dir)
    if path:
        print("grade.py: warning: %s changed after the build in %s: this grades the old "
              "build; run make first (make grade builds, then grades)"
              % (os.path.relpath(path, os.path.dirname(HERE)), build_dir),
              file=sys.stderr, flush=True)


def select(args):
    available = discover(args.grade_dir)
    stems = resolve(args.lab, available) if args.lab else list(available)
    for stem in stems:
        load(stem, available[stem])
    tests = [t for t in gradelib.REGISTRY if t.lab in stems]
    if args.pattern:
        rx = re.compile(args.pattern, re.I)
        tests = [t for t in tests if rx.search(t.id) or rx.search(t.title)]
    return stems, tests


def main(argv=None):
    args = parse_args(argv)
    stems, tests = select(args)
    if args.list:
        for t in tests:
            print("%-28s %4s pts  %-44s %s" % (t.id, fmt_pts(t.points), t.title,
                                              (t.cmdline if isinstance(t.cmdline, str)
                                               else "(computed from the build)") or "(no cmdline)"))
        print("%d tests" % len(tests))
        return 0
    if not tests:
        print("grade.py: no test matches (labs: %s%s)" % (", ".join(stems) or "none",
              ", -k %s" % args.pattern if args.pattern else ""), file=sys.stderr)
        return 2
    for f in ("kernel.bin", "initrd.tar"):
        if not os.path.exists(os.path.join(args.build_dir, f)):
            print("grade.py: %s/%s is missing: run make first" % (args.build_dir, f),
                  file=sys.stderr)
            return 2
    warn_stale(args.build_dir)
    cfg = gradelib.Config(args.build_dir, args.qemu, args.cpu, args.timeout_scale * env_scale(),
                          args.tail)
    gradelib.install_signal_handlers()
    start = time.monotonic()
    try:
        check_speed(args, tests, cfg)
        results = gradelib.run_tests(tests, cfg, args.jobs,
                                     lambda r: print_result(r, args.verbose, args.tail))
        results = retry_failed(results, cfg, args)
    except KeyboardInterrupt:
        gradelib.kill_all()
        print("\ngrade.py: interrupted", file=sys.stderr)
        return 130
    elapsed = time.monotonic() - start
    summary = summarize(results, stems)
    print()
    for stem, (score, mx, _, _) in summary.items():
        print("%-18s %6s/%s" % (lab_label(stem), fmt_pts(score), fmt_pts(mx)))
    print("%-18s %6s/%s   (%.1fs)" % ("total", fmt_pts(sum(r.score for r in results)),
                                      fmt_pts(sum(r.test.points for r in results)), elapsed))
    if args.json:
        write_json(args.json, results, summary, elapsed)
    if args.junit:
        write_junit(args.junit, results, summary, elapsed)
    npass = sum(r.passed for r in results)
    print("%d passed, %d failed" % (npass, len(results) - npass))
    return 0 if npass == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
