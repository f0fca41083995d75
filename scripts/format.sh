#!/usr/bin/env bash
# format.sh -- clang-format every C source (and the C++ one, bench/lemon_anchor.cc);
# --check fails on a difference.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t FILES < <(git ls-files --cached --others --exclude-standard '*.c' '*.h' '*.cc')
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run -Werror "${FILES[@]}"
else
  clang-format -i "${FILES[@]}"
fi
