#!/usr/bin/env python3
"""Check relative links in svmlab's markdown.

Usage: python3 tools/linkcheck.py [FILE_OR_DIR ...]
Default: README.md HACKING.md labs/ docs/ (relative to the tree's root).

For every [text](target) and [text]: target link whose target is relative
(not http:, https:, mailto:, ...), checks that the file or directory exists,
and, when the target has a #anchor into a markdown file (or the same file),
that a heading in that file produces the anchor (GitHub's rule: lower case,
punctuation dropped, spaces to '-'; explicit <a id="..."> also count).
Links inside fenced code blocks and inline code are ignored.
Prints one line per broken link and exits 1 if there was any; 0 otherwise.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = ["README.md", "HACKING.md", "labs", "docs"]

INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
HTML_ID = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def strip_code(lines):
    """Yields (lineno, text) outside fenced code, with inline code removed."""
    fence = None
    for n, line in enumerate(lines, 1):
        m = re.match(r"^\s{0,3}(`{3,}|~{3,})", line)
        if m:
            if fence is None:
                fence = m.group(1)[0] * 3
            elif m.group(1).startswith(fence):
                fence = None
            continue
        if fence is None:
            yield n, re.sub(r"`+[^`]*`+", "", line)


def slug(text):
    """GitHub's heading anchor: lower case, drop punctuation, spaces to '-'."""
    text = re.sub(r"<[^>]+>", "", text)            # inline HTML
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links keep their text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


_anchor_cache = {}


def anchors(path):
    if path not in _anchor_cache:
        found, seen = set(), {}
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        for _, line in strip_code(lines):
            found.update(HTML_ID.findall(line))
            m = HEADING.match(line)
            if not m:
                continue
            s = slug(m.group(2))
            k = seen.get(s, 0)
            seen[s] = k + 1
            found.add(s if k == 0 else "%s-%d" % (s, k))
        _anchor_cache[path] = found
    return _anchor_cache[path]


def links(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in strip_code(lines):
        for m in INLINE.finditer(line):
            yield n, m.group(1)
        m = REFDEF.match(line)
        if m:
            yield n, m.group(1)


def check_file(path):
    bad = []
    for n, target in links(path):
        if SCHEME.match(target) or target.startswith("//"):
            continue
        file_part, _, anchor = target.partition("#")
        dest = path if file_part == "" else os.path.normpath(
            os.path.join(os.path.dirname(path), file_part))
        if not os.path.exists(dest):
            bad.append((path, n, target, "no such file"))
            continue
        if anchor and dest.endswith(".md") and os.path.isfile(dest):
            if anchor.lower() not in anchors(dest):
                bad.append((path, n, target, "no heading for #" + anchor))
    return bad


def markdown_files(args):
    for a in args:
        p = a if os.path.isabs(a) else os.path.join(ROOT, a)
        if os.path.isdir(p):
            for d, _, files in sorted(os.walk(p)):
                for f in sorted(files):
                    if f.endswith(".md"):
                        yield os.path.join(d, f)
        elif os.path.isfile(p):
            yield p


def main(argv):
    files = list(markdown_files(argv or DEFAULT))
    bad = []
    nlinks = 0
    for f in files:
        nlinks += sum(1 for _ in links(f))
        bad += check_file(f)
    for path, n, target, why in bad:
        print("linkcheck: %s:%d: %s: %s" % (os.path.relpath(path, ROOT), n, target, why))
    print("linkcheck: %d files, %d links, %d broken" % (len(files), nlinks, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
