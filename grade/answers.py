"""The written part of a lab: answers-lab<N>.txt at the top of the tree.

The handout asks numbered questions; the student answers each in the file,
an answer starting with its number at the start of a line ("1.", "1)", "Q1:"
or "Q1."), possibly running over several lines:

    1. Because ...
       and so ...
    Q2: ...

check(r, n, count) fails unless the file exists and every question 1..count
has an answer of at least MIN_CHARS characters (a sentence, not "-"). The grader cannot judge the answers: the course
staff read them; this only makes sure none was forgotten."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN_CHARS = 20


def parse(text):
    """{number: answer text} for every "N." or "N)" answer in text."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^\s*Q?(\d+)\s*[.:)]\s*(.*)$", line)
        if m:
            cur = int(m.group(1))
            out[cur] = m.group(2).strip()
        elif cur is not None:
            out[cur] = (out[cur] + " " + line.strip()).strip()
    return out


def check(r, n, count):
    name = "answers-lab%d.txt" % n
    path = os.path.join(ROOT, name)
    r.check(os.path.isfile(path),
            "%s is missing: write the answers to lab %d's questions there (one answer per "
            "question, each starting with its number, like '1. ...')" % (name, n))
    with open(path, encoding="utf-8", errors="replace") as f:
        answers = parse(f.read())
    empty = [q for q in range(1, count + 1) if len(answers.get(q, "")) < MIN_CHARS]
    r.check(not empty, "%s: no answer to question%s %s (each answer starts with its number "
            "at the start of a line: '%d. ...')" % (name, "s" if len(empty) > 1 else "",
                                                   ", ".join(map(str, empty)), empty[0] if empty else 1))
