# steps.sh -- sourced by quickstart.sh and test.sh: each set-up step prints
# one line and sends its output (apt, cmake, the compiler) to a log file;
# a step that fails prints the log's name and its last lines.
#   STEP_NAME=test.sh; step_log build/setup.log
#   step "building" cmake --build build
#   show_log FILE [N]          (the last N lines, 30 by default)

STEP_NAME=${STEP_NAME:-$(basename "$0")}
STEP_LOG=/dev/null

# Start the log FILE afresh.
step_log() {
  STEP_LOG=$1
  mkdir -p "$(dirname "$STEP_LOG")"
  : > "$STEP_LOG"
}

# The last lines of a log (and its first compiler errors, which a parallel
# build may have left further up), between rulers.
show_log() {
  local file=$1 n=${2:-30} errors
  errors=$(grep -v '^==== ' "$file" 2>/dev/null | grep -E "error:|CMake Error" |
    head -n 5 || true)
  if [ -n "$errors" ]; then
    echo "---- $file: the first errors ----" >&2
    echo "$errors" >&2
  fi
  echo "---- $file: the last $n lines ----" >&2
  tail -n "$n" "$file" >&2
  echo "---- the whole log: $file ----" >&2
}

# Run a step: one line, its output in the log, the log's tail on failure
# (then exit with the step's status).
step() {
  local what=$1 t0=$SECONDS rc=0
  shift
  printf '%s: %s ... ' "$STEP_NAME" "$what"
  echo "==== $what: $*" >> "$STEP_LOG"
  "$@" >> "$STEP_LOG" 2>&1 || rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "ok ($((SECONDS - t0)) s)"
    return 0
  fi
  echo "FAILED (exit $rc)"
  show_log "$STEP_LOG"
  exit "$rc"
}
