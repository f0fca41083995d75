#!/usr/bin/env bash
# check_includes.sh -- the layering, read from the #include lines (ctest
# runs it as layering_includes; docs/design.md, "Layering"). Fails when
#   - a core/ file includes anything but the C library's headers (and
#     <glpk.h> in core/solver/lp_glpk.c only), "carematch/..." public
#     headers, core's own headers and the internal utilities of core/util/;
#   - an adapter includes a header of core/, or another adapter's private
#     header (an adapter publishes what others may use in
#     adapters/<name>/include/);
#   - a public header (include/carematch/) or a published one
#     (adapters/<name>/include/, core/util/<name>/) includes a private one.
# Tests, fuzz targets and benchmarks are white-box and not checked.
#   scripts/check_includes.sh [ROOT]    ROOT: the source tree (default: ..)
set -euo pipefail
ROOT=${1:-"$(dirname "$0")/.."}
cd "$ROOT"

# The C library's headers core/ may include: C11's, and POSIX's strings.h
# and sys/types.h. No header for files, sockets or processes; C11's
# threads.h only for threads created and joined inside one call
# (cm_solve_options.threads, core/solver/par_ordered.c).
CLIB=" assert.h complex.h ctype.h errno.h fenv.h float.h inttypes.h iso646.h
 limits.h locale.h math.h setjmp.h signal.h stdalign.h stdarg.h stdatomic.h
 stdbool.h stddef.h stdint.h stdio.h stdlib.h stdnoreturn.h string.h
 tgmath.h threads.h time.h uchar.h wchar.h wctype.h strings.h sys/types.h "
CLIB=" $(echo $CLIB) "

fails=0
fail() {
  echo "check_includes: $1: $2" >&2
  fails=$((fails + 1))
}

# zone PATH: what a file is -- core, public, util:NAME, published:NAME (an
# adapter's include/ folder), adapter:NAME, or other.
zone() {
  case $1 in
  core/util/*/*) echo "util:$(cut -d/ -f3 <<<"$1")" ;;
  core/*) echo core ;;
  include/carematch/*) echo public ;;
  adapters/*/include/*) echo "published:$(cut -d/ -f2 <<<"$1")" ;;
  adapters/*/*) echo "adapter:$(cut -d/ -f2 <<<"$1")" ;;
  *) echo other ;;
  esac
}

# resolve FILE NAME: the repository path a quoted #include "NAME" of FILE
# reaches, as the build's include paths would find it: the file's own
# folder, core/ for core's files (includes across its folders name the
# folder), then the published folders (include/, core/util/*/,
# adapters/*/include/). Empty when none holds it.
resolve() {
  local dir p
  dir=$(dirname "$1")
  for p in "$dir/$2" "include/$2"; do
    [ -f "$p" ] && { realpath -m --relative-to=. "$p"; return; }
  done
  if [[ $1 == core/* ]] && [ -f "core/$2" ]; then
    echo "core/$2"
    return
  fi
  for p in core/util/*/"$2" adapters/*/include/"$2"; do
    [ -f "$p" ] && { echo "$p"; return; }
  done
  return 0
}

# private NAME: where a header named NAME is found in core/ or adapters/
# (to say whose private header an unresolved include is).
private() {
  find core adapters -path "*/$1" -o -name "$(basename "$1")" 2>/dev/null |
    grep -v '/include/' | head -1
}

check_file() {
  local f=$1 z line kind name target tz
  z=$(zone "$f")
  while IFS= read -r line; do
    kind=${line:0:1}
    name=${line:1:${#line}-2}
    if [ "$kind" = "<" ]; then
      case $z in
      core | public | util:*)
        if [ "$name" = glpk.h ] && [ "$f" = core/solver/lp_glpk.c ]; then
          continue
        fi
        [[ $z == public && $name == carematch/* && -f include/$name ]] && continue
        [[ $CLIB == *" $name "* ]] ||
          fail "$f" "includes <$name>: $z may include only the C library's headers"
        ;;
      esac
      continue
    fi
    target=$(resolve "$f" "$name")
    if [ -z "$target" ]; then
      local owner
      owner=$(private "$name")
      if [ -n "$owner" ]; then
        fail "$f" "includes \"$name\", private to $(zone "$owner" | tr : " ") ($owner)"
      else
        fail "$f" "includes \"$name\", found nowhere in the tree"
      fi
      continue
    fi
    tz=$(zone "$target")
    case $z:$tz in
    core:core | core:public | core:util:*) ;;
    public:public) ;;
    util:*:public) ;;
    util:*:util:*) [ "${z#util:}" = "${tz#util:}" ] || fail "$f" "includes $target of another utility" ;;
    published:*:public | published:*:util:* | published:*:published:*) ;;
    adapter:*:public | adapter:*:util:* | adapter:*:published:*) ;;
    adapter:*:adapter:*)
      [ "${z#adapter:}" = "${tz#adapter:}" ] ||
        fail "$f" "includes $target, private to adapter ${tz#adapter:}"
      ;;
    *:core) fail "$f" "includes $target, private to core/" ;;
    *) fail "$f" "includes $target: $tz is out of reach of $z" ;;
    esac
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*\([<"][^>"]*[>"]\).*/\1/p' "$f")
}

n=0
while IFS= read -r f; do
  check_file "$f"
  n=$((n + 1))
done < <(find core include/carematch adapters -name '*.[ch]' 2>/dev/null | sort)

if [ "$fails" -ne 0 ]; then
  echo "check_includes: $fails include line(s) break the layering (of $n files)" >&2
  exit 1
fi
echo "check_includes: $n files, the layering holds"
