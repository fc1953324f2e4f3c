"""Sanitizers, memory and lock debugging, coverage-guided fuzzing (issue 15;
an extra lab: graded, part of `make test`, no handout). Every test plants
the bug its checker exists for and must see it reported:

  ubsan              kern/ubsan_test.c is always built with -fsanitize=undefined:
                     each kind of undefined behaviour is reported at its line
  lockdep            a lock-order inversion panics the first time it happens
  kalloc             a double free and a write after free (kpoison=1) panic
  guided fuzzing     vmfuzz/guestfuzz with kcov feedback (full only with
                     make SAN=1; a normal build runs them without coverage)
"""
from gradelib import test

UBSAN_LINE = r"^ubsan: %s at kern/ubsan_test\.c:(\d+):\d+: "


@test(points=4, title="UBSan runtime: shift, overflow, bounds, alignment, bool reported at their lines",
      cmdline="ktest=ubsan", cpus=1, timeout=30)
def ubsan(r):
    r.reject(r"^panic: ")
    for kind, what in (("shift out of bounds", r"1 << or >> 40 with type 'int'"),
                       ("signed integer overflow", r"2147483647 \+ 1 cannot be represented in type 'int'"),
                       ("signed integer overflow", r"-2147483648 - 1 cannot be represented"),
                       ("index out of bounds", r"index 4 out of range for type 'int \[4\]'"),
                       ("misaligned access", r"load of address 0x[0-9a-f]+ of type 'volatile uint32', "
                                             r"which needs 4-byte alignment"),
                       ("invalid value", r"load of value 7, not valid for type '_Bool'")):
        r.wait_for(UBSAN_LINE % kind + what)
    r.expect(r"^ktest ubsan: 7 checks, 0 failed$")
    r.expect_exit(0)


@test(points=2, title="UBSan report panics by default, with the report first",
      cmdline="ktest=ubsan_panic", cpus=1, timeout=30)
def ubsan_panic(r):
    r.reject(r"^FAIL: ")
    r.wait_for(UBSAN_LINE % "shift out of bounds")
    r.wait_for(r"^panic: cpu0: .*ubsan: undefined behaviour")
    r.wait_for(r"ktest_ubsan_panic")


@test(points=4, title="lockdep: a lock-order cycle A->B->C->A panics when closed, naming both locks",
      cmdline="ktest=lockdep", cpus=2, timeout=30)
def lockdep(r):
    r.reject(r"^FAIL: ")
    r.expect(r"^ok: A, B, C taken in one order twice: no report$")
    r.wait_for(r'^panic: cpu\d: kern/spinlock\.c:\d+: lockdep: lock order cycle: taking "lockdep_test_a" '
               r'while holding "lockdep_test_c", but "lockdep_test_c" was taken before while holding '
               r'"lockdep_test_a"$')
    r.wait_for(r"ktest_lockdep\+")


@test(points=3, title="kalloc: a double free panics at once with the caller's backtrace",
      cmdline="ktest=kalloc_double_free", cpus=1, timeout=30)
def kalloc_double_free(r):
    r.reject(r"^FAIL: ")
    r.wait_for(r"^panic: cpu0: kern/kalloc\.c:\d+: kfree: double free of (0x[0-9a-f]+) \(pa [0-9a-f]+, "
                   r"caller 0x[0-9a-f]+\)$")
    r.wait_for(r"ktest_kalloc_double_free\+")


@test(points=4, title="kalloc poisoning: a write after free is caught when the page is handed out again",
      cmdline="ktest=kalloc_poison kpoison=1", cpus=1, timeout=60)
def kalloc_poison(r):
    r.reject(r"^FAIL: ")
    m = r.wait_for(r"^ok: kalloc gives a page at (0x[0-9a-f]+)$")
    r.wait_for(r"^panic: cpu0: kern/kalloc\.c:\d+: kalloc: page %s \(pa [0-9a-f]+\) written after free: "
               r"byte 1234 is 0x42, not the poison 0x6b$" % m.group(1))
