#!/usr/bin/env bash
# package-test.sh -- carematch as a packager and a library user get it:
# the build installed to a temporary prefix (cmake --install --prefix),
# then the external programs of tests/package/ built against that prefix
#   1. with pkg-config on the shared libraries (carematch, carematch-redis),
#   2. with CMake's find_package(carematch), shared and static targets,
#   3. with pkg-config --static, after the prefix was moved elsewhere (the
#      .pc files are relocatable) and its shared libraries deleted,
# and run: solve_tiny must print the objective `carematch solve` finds for
# the same instance, redis_link the documented refusal of a closed port.
# Also checked: the SONAMEs, that every symbol the libraries export is
# cm_ and none is an internal cm__ (hidden visibility, CM_EXPORT), that
# each installed header compiles alone, and the programs' NEEDED
# libraries (shared: ours; static: none of ours).
#   scripts/package-test.sh          uses build/ (BUILD=dir), built first
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
cmake --build "$BUILD" -j 2 >/dev/null

V=include/carematch/version.h
MAJOR=$(sed -n 's/^#define CM_VERSION_MAJOR \([0-9]*\)$/\1/p' $V)
MINOR=$(sed -n 's/^#define CM_VERSION_MINOR \([0-9]*\)$/\1/p' $V)
SOV=$MAJOR
[ "$MAJOR" = 0 ] && SOV=0.$MINOR

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "package-test: $*" >&2; exit 1; }
cmake --install "$BUILD" --prefix "$TMP/usr" >/dev/null
PC=$(find "$TMP/usr" -name carematch.pc)
[ -n "$PC" ] || fail "no carematch.pc installed"
PCDIR=$(dirname "$PC")
LIBDIR=$(dirname "$PCDIR")
INSTANCE=tests/data/instances/good/edges.json
CFLAGS=(-std=c11 -Wall -Wextra -Werror)

for lib in core json redis; do
  so=$LIBDIR/libcarematch_$lib.so
  [ -f "$LIBDIR/libcarematch_$lib.a" ] || fail "no libcarematch_$lib.a"
  readelf -d "$so" | grep -q "(SONAME) .*\[libcarematch_$lib.so.$SOV\]" ||
    fail "$so: SONAME is not libcarematch_$lib.so.$SOV"
  [ "$(readlink "$so")" = "libcarematch_$lib.so.$SOV" ] ||
    fail "$so does not point at libcarematch_$lib.so.$SOV"
  other=$(nm -D --defined-only "$so" | awk 'NF == 3 && $3 !~ /^cm_/ { print $3 }')
  [ -z "$other" ] || fail "$so exports names without cm_: $other"
  # hidden visibility: only the CM_EXPORT API, no cm__ internals
  internal=$(nm -D --defined-only "$so" | awk 'NF == 3 && $3 ~ /^cm__/ { print $3 }')
  [ -z "$internal" ] || fail "$so exports internal names: $internal"
done

# every installed header compiles on its own
for h in "$TMP/usr/include/carematch/"*.h; do
  echo "#include <carematch/$(basename "$h")>" |
    cc "${CFLAGS[@]}" -fsyntax-only -I"$TMP/usr/include" -x c - ||
    fail "carematch/$(basename "$h") does not compile on its own"
done

# the objective carematch's own CLI finds, to 6 decimals
WANT=$("$BUILD/carematch" solve <"$INSTANCE" |
  sed -n 's/.*"objective": *\([-0-9.eE+]*\).*/\1/p' | head -1)
[ -n "$WANT" ] || fail "no objective from $BUILD/carematch solve"
WANT=$(awk -v x="$WANT" 'BEGIN { printf "%.6f", x }')

# run NAME PROGRAM...: the program must succeed and print what it should
check() {
  local name=$1 out
  shift
  out=$("$@") || fail "$name failed: $out"
  case $name in
  solve*) [[ $out == *" objective $WANT "* ]] ||
    fail "$name: '$out', wanted objective $WANT" ;;
  redis*) [ "$out" = "redis: unavailable" ] || fail "$name: '$out'" ;;
  esac
  echo "package-test: $name: $out"
}
# needs PROGRAM yes|no: whether it loads our shared libraries
needs() {
  local n
  n=$(readelf -d "$1" | grep -c 'NEEDED.*libcarematch_' || true)
  if [ "$2" = yes ] && [ "$n" -eq 0 ]; then fail "$1 does not load libcarematch"; fi
  if [ "$2" = no ] && [ "$n" -ne 0 ]; then fail "$1 loads a libcarematch .so"; fi
  return 0
}

# 1. pkg-config, shared
export PKG_CONFIG_PATH=$PCDIR
W=$TMP/work
mkdir -p "$W"
# shellcheck disable=SC2046
cc "${CFLAGS[@]}" $(pkg-config --cflags carematch) tests/package/solve_tiny.c \
  $(pkg-config --libs carematch) -o "$W/solve_pc"
# shellcheck disable=SC2046
cc "${CFLAGS[@]}" $(pkg-config --cflags carematch-redis) \
  tests/package/redis_link.c $(pkg-config --libs carematch-redis) -o "$W/redis_pc"
needs "$W/solve_pc" yes
needs "$W/redis_pc" yes
check solve_tiny/pkg-config env LD_LIBRARY_PATH="$LIBDIR" "$W/solve_pc" "$INSTANCE"
check redis_link/pkg-config env LD_LIBRARY_PATH="$LIBDIR" "$W/redis_pc" 1

# 2. CMake find_package
cmake -S tests/package -B "$W/cmake" -DCMAKE_PREFIX_PATH="$TMP/usr" \
  -DCM_EXPECT_VERSION="$MAJOR.$MINOR" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" \
  >"$W/cmake.log" 2>&1 || { cat "$W/cmake.log" >&2; fail "find_package(carematch) failed"; }
cmake --build "$W/cmake" -j 2 >"$W/cmake-build.log" 2>&1 ||
  { cat "$W/cmake-build.log" >&2; fail "the find_package programs do not build"; }
needs "$W/cmake/solve_tiny" yes
needs "$W/cmake/redis_link" yes
needs "$W/cmake/solve_tiny_static" no
needs "$W/cmake/redis_link_static" no
check solve_tiny/cmake env LD_LIBRARY_PATH="$LIBDIR" "$W/cmake/solve_tiny" "$INSTANCE"
check redis_link/cmake env LD_LIBRARY_PATH="$LIBDIR" "$W/cmake/redis_link" 1
check solve_tiny_static/cmake "$W/cmake/solve_tiny_static" "$INSTANCE"
check redis_link_static/cmake "$W/cmake/redis_link_static" 1

# 3. pkg-config --static, in a prefix moved elsewhere, without the .so
mv "$TMP/usr" "$TMP/moved"
export PKG_CONFIG_PATH=${PCDIR/$TMP\/usr/$TMP/moved}
LIBDIR=${LIBDIR/$TMP\/usr/$TMP/moved}
rm -f "$LIBDIR"/libcarematch_*.so*
case $(pkg-config --cflags carematch) in
*"$TMP/moved/"*) ;;
*) fail "carematch.pc does not follow its prefix: $(pkg-config --cflags carematch)" ;;
esac
# shellcheck disable=SC2046
cc "${CFLAGS[@]}" $(pkg-config --cflags carematch) tests/package/solve_tiny.c \
  $(pkg-config --static --libs carematch) -o "$W/solve_static"
# shellcheck disable=SC2046
cc "${CFLAGS[@]}" $(pkg-config --cflags carematch-redis) \
  tests/package/redis_link.c $(pkg-config --static --libs carematch-redis) \
  -o "$W/redis_static"
needs "$W/solve_static" no
needs "$W/redis_static" no
check solve_tiny/pkg-config-static "$W/solve_static" "$INSTANCE"
check redis_link/pkg-config-static "$W/redis_static" 1
echo "package-test: installed, relocated and linked 3 ways; 8 programs ran"
