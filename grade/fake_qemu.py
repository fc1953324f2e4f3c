#!/usr/bin/env python3
"""A stand-in for qemu-system-x86_64 used by test_gradelib.py.

It ignores every option except -append, whose value is a script of steps
separated by '|':
    p:TEXT   print TEXT and a newline (as a serial console would: \\r\\n)
    w:TEXT   print TEXT without a newline
    s:SECS   sleep
    r        read one line from stdin and print "got: LINE"
    o:CODE   power off like isa-debug-exit: exit status (CODE << 1) | 1
    x:STATUS exit with this status (0: a reset or triple fault)
    k:SIG    kill itself with signal SIG
    f        flood: print forever
    h        hang forever
    a        print "argv: " and the arguments as JSON
    e:TEXT   print TEXT and a newline on stderr
    d:N      print N lines "REGnn=..." on stderr (a register dump)
    A        abort (SIGABRT), as QEMU does after "qemu: fatal: ..."
With FAKE_QEMU_LOG set, each start appends [pid] + argv (JSON) to that file.
Without a final o/x step it exits with status 1 (power-off code 0).
"""
import json
import os
import signal
import sys
import time


def out(s):
    sys.stdout.write(s.replace("\n", "\r\n"))
    sys.stdout.flush()


def main(argv):
    if os.environ.get("FAKE_QEMU_LOG"):
        with open(os.environ["FAKE_QEMU_LOG"], "a") as f:
            f.write(json.dumps([os.getpid()] + argv) + "\n")
    script = argv[argv.index("-append") + 1] if "-append" in argv else ""
    for step in filter(None, script.split("|")):
        op, _, arg = step.partition(":")
        if op == "p":
            out(arg + "\n")
        elif op == "w":
            out(arg)
        elif op == "s":
            time.sleep(float(arg))
        elif op == "r":
            out("got: " + sys.stdin.readline().rstrip("\n") + "\n")
        elif op == "o":
            sys.exit((int(arg) << 1) | 1)
        elif op == "x":
            sys.exit(int(arg))
        elif op == "k":
            os.kill(os.getpid(), int(arg))
        elif op == "f":
            while True:
                out("spam " * 50 + "\n")
        elif op == "h":
            while True:
                time.sleep(60)
        elif op == "e":
            sys.stderr.write(arg + "\n")
        elif op == "d":
            sys.stderr.write("".join("REG%02d=%016x\n" % (i, i) for i in range(int(arg))))
        elif op == "A":
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGABRT)
        elif op == "a":
            out("argv: " + json.dumps(argv) + "\n")
    sys.exit(1)


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    main(sys.argv[1:])
