# shellcheck shell=bash
# Shared by tests/fuzz/run-short and tests/fuzz/run-long (sourced, not run).
#
#   MOONHOST_FUZZ_BUILD   build directory of the targets (default: build-fuzz)
#   MOONHOST_FUZZ_IGNORE  known, reported bugs to look past (see common.h)
#   FUZZ_ARGS             extra libFuzzer flags for every target

FUZZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$FUZZ_DIR/../.." && pwd)
BUILD=${MOONHOST_FUZZ_BUILD:-$ROOT/build-fuzz}

# Leaks are findings too; UBSan stops at the first report (the targets are
# built with -fno-sanitize-recover=all as well).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The targets to run: the names given (fuzz_json or json), else every
# fuzz_* executable of the build directory.
fuzz_targets() {
  local t
  if [ $# -gt 0 ]; then
    for t in "$@"; do
      t=fuzz_${t#fuzz_}
      if [ ! -x "$BUILD/$t" ]; then
        echo "fuzz: no target $BUILD/$t (build with -DMOONHOST_FUZZ=ON)" >&2
        return 1
      fi
      echo "$t"
    done
    return 0
  fi
  for t in "$BUILD"/fuzz_*; do
    [ -f "$t" ] && [ -x "$t" ] && basename "$t"
  done
}

# fuzz_run TARGET SECONDS CORPUS_DIR WORK_DIR [libFuzzer flags...]
# Fuzzes TARGET for SECONDS on CORPUS_DIR (new inputs are added there), with
# the log and any crash input under WORK_DIR. Returns libFuzzer's status.
fuzz_run() {
  local name=$1 secs=$2 corpus=$3 work=$4
  shift 4
  local dict=$FUZZ_DIR/dict/$name.dict
  local args=(-max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    -artifact_prefix="$work/artifacts/")
  [ -f "$dict" ] && args+=(-dict="$dict")
  mkdir -p "$corpus" "$work/artifacts"
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
  "$BUILD/$name" "${args[@]}" ${FUZZ_ARGS:-} "$@" "$corpus" >"$work/log" 2>&1
}

# Result columns for a finished run, from its log: STATUS EXECS EXEC/S COV FT CORPUS.
fuzz_result() {
  local name=$1 rc=$2 log=$3
  local status=ok execs rate cov ft corp
  [ "$rc" -ne 0 ] && status=CRASH
  grep -q 'ERROR: libFuzzer: timeout' "$log" && status=TIMEOUT
  grep -q 'ERROR: libFuzzer: out-of-memory' "$log" && status=OOM
  grep -q 'ERROR: LeakSanitizer' "$log" && status=LEAK
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
  # The last status line (#N DONE/PULSE/NEW ... cov: C ft: F corp: N/SIZE ...).
  local last
  last=$(grep -E '^#[0-9]+' "$log" | grep ' cov: ' | tail -n1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  if [ -z "$execs" ]; then execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last"); fi
  echo "$status ${execs:--} ${rate:--} ${cov:--} ${ft:--} ${corp:--}"
}

# Prints what went wrong in a failed run and where its input is.
fuzz_report_failure() {
  local name=$1 work=$2
  echo
  echo "--- $name failed; log: $work/log"
  grep -m1 -E 'fuzz invariant failed|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:' "$work/log" |
    sed 's/^/    /'
  grep -A2 -m1 'fuzz invariant failed' "$work/log" | tail -n +2 | sed 's/^/    /'
  grep -m1 '^SUMMARY:' "$work/log" | sed 's/^/    /'
  local unit
  unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/log" | tail -n1)
  if [ -n "$unit" ]; then
    echo "    input: $unit"
    echo "    replay: $BUILD/$name $unit"
    echo "    keep it as tests/fuzz/crashes/$name/$(basename "$unit") (a regression seed once fixed)"
  fi
}

fuzz_table_header() {
  printf '%-16s %-8s %6s %12s %9s %6s %7s %s\n' target result time execs exec/s cov ft corpus
}

# fuzz_table_row TARGET SECONDS RESULT...
fuzz_table_row() {
  local name=$1 secs=$2
  shift 2
  printf '%-16s %-8s %5ss %12s %9s %6s %7s %s\n' "$name" "$1" "$secs" "$2" "$3" "$4" "$5" "$6"
}
