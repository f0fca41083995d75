#!/usr/bin/env python3
"""check_function_length.py -- no function of the product's C is over 75
lines (docs/design.md, "Code that reads top down"); ctest runs it as
function_length. A function is counted from the first line of its
signature (an identifier at column 0 with a "(", not a declaration) to
its closing "}" at column 0, as clang-format lays them out. Tests are not
checked (a Test() is a scenario, read top to bottom).
  scripts/check_function_length.py [ROOT]    ROOT: the tree (default ..)"""
import os
import re
import sys

LIMIT = 75
DIRS = ("core", "adapters", "bench")
SIG = re.compile(r"^[A-Za-z_][^;=]*\(")


def functions(lines):
    """(first line, number of lines, signature) of each function."""
    sig = body = None
    for i, line in enumerate(lines):
        if body is None:
            if sig is None and SIG.match(line) and not line.startswith(
                    ("typedef", "#")):
                sig = i
            if sig is not None:
                text = line.rstrip()
                if text.endswith("{"):
                    body = sig
                elif text.endswith(";") or not text or i - sig > 8:
                    sig = None
        elif line == "}":
            yield body + 1, i - body + 1, lines[body].strip()
            sig = body = None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..")
    bad = 0
    for top in DIRS:
        for d, _, names in os.walk(os.path.join(root, top)):
            for name in sorted(names):
                if not name.endswith((".c", ".cc")):
                    continue
                path = os.path.join(d, name)
                with open(path, encoding="utf-8") as f:
                    lines = f.read().split("\n")
                for first, n, sig in functions(lines):
                    if n > LIMIT:
                        rel = os.path.relpath(path, root)
                        print(f"check_function_length: {rel}:{first}: {n} "
                              f"lines (at most {LIMIT}): {sig[:60]}",
                              file=sys.stderr)
                        bad += 1
    if bad:
        print(f"check_function_length: {bad} function(s) over {LIMIT} lines: "
              "split them into steps", file=sys.stderr)
        return 1
    print(f"check_function_length: every function in {', '.join(DIRS)} is at "
          f"most {LIMIT} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
