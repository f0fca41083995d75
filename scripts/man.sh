#!/usr/bin/env bash
# man.sh -- the manual pages: man/NAME.1 from docs/man/NAME.1.md with pandoc
# (Debian: apt-get install pandoc), the version from version.h in the
# footer. The pages are committed, so building and installing never need
# pandoc (docs/cli.md).
#   scripts/man.sh           write man/*.1
#   scripts/man.sh --check   fail when a committed page is not what its
#                            Markdown gives (CI), and lint the pages
set -euo pipefail
cd "$(dirname "$0")/.."
command -v pandoc >/dev/null ||
  { echo "man.sh: pandoc is missing (apt-get install pandoc)" >&2; exit 1; }
VERSION=$(sed -n 's/^#define CM_VERSION "\(.*\)"$/\1/p' include/carematch/version.h)
OUT=man
if [ "${1:-}" = "--check" ]; then
  OUT=$(mktemp -d)
  trap 'rm -rf "$OUT"' EXIT
fi
mkdir -p "$OUT"
for md in docs/man/*.md; do
  page=$(basename "$md" .md)
  pandoc --standalone --from markdown --to man \
    -M footer="carematch $VERSION" "$md" -o "$OUT/$page"
done
[ "${1:-}" = "--check" ] || exit 0
status=0
for page in "$OUT"/*; do
  name=$(basename "$page")
  if ! cmp -s "$page" "man/$name"; then
    echo "man.sh: man/$name is not what docs/man/$name.md gives: run scripts/man.sh" >&2
    diff -u "man/$name" "$page" | head -20 >&2 || true
    status=1
  fi
  # groff's warnings (a bad macro, a line it cannot break) fail the check
  if command -v groff >/dev/null; then
    warn=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "man/$name" 2>&1 || true)
    [ -z "$warn" ] || { echo "man.sh: man/$name: $warn" >&2; status=1; }
  fi
done
for page in man/*.1; do
  [ -e "docs/man/$(basename "$page").md" ] ||
    { echo "man.sh: $page has no docs/man/$(basename "$page").md" >&2; status=1; }
done
exit $status
