"""The command line every benchmark in tools/ takes: --runs, --build-dir, --qemu."""
import argparse
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse(doc, runs=3):
    """Parsed arguments; doc is the tool's docstring (its first paragraph is --help's)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=runs, help="boots per configuration")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    return ap.parse_args()
