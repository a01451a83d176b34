#!/usr/bin/env bash
# Runs the fuzz targets with libFuzzer, built by the stable toolchain (coverage instrumentation
# only: the runtime has no unsafe code for a sanitizer to watch).
#
#   fuzz/run.sh                    every target, 10,000,000 executions each
#   fuzz/run.sh 1000000 batch      one target, a million executions
#   fuzz/run.sh --smoke            every target for a few seconds (CI)
#   fuzz/run.sh --minimize         merge what the runs found into the committed corpus
#
# New inputs go to fuzz/work/<target> (not committed); crashes to fuzz/artifacts/<target>/.
# `cargo fuzz run <target> -s none` works too, with cargo-fuzz installed.
set -euo pipefail
cd "$(dirname "$0")"
targets_all=(http_message batch last_event_id header_values uri_template)
mode=runs
runs=10000000
if [ "${1:-}" = --smoke ]; then mode=smoke; shift
elif [ "${1:-}" = --minimize ]; then mode=minimize; shift
elif [ -n "${1:-}" ]; then runs=$1; shift
fi
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${targets_all[@]}")

host=$(rustc -vV | sed -n 's/^host: //p')
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}/fuzz
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# `--target` keeps the instrumentation off build scripts and proc macros.
cargo build --quiet --release --target "$host" --bins
bin=$CARGO_TARGET_DIR/$host/release

printf '%-16s %14s %10s %8s\n' target executions exec/s corpus
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "work/$t" "artifacts/$t"
  case $mode in
    smoke) args=(-max_total_time=5) ;;
    runs) args=("-runs=$runs") ;;
    minimize)
      rm -rf "corpus/$t.min" && mkdir -p "corpus/$t.min"
      "$bin/$t" -merge=1 "corpus/$t.min" "corpus/$t" "work/$t" 2>/dev/null
      rm -rf "corpus/$t" && mv "corpus/$t.min" "corpus/$t"
      printf '%-16s %14s %10s %8s\n' "$t" - - "$(ls "corpus/$t" | wc -l)"
      continue ;;
  esac
  log=$(mktemp)
  if ! "$bin/$t" "${args[@]}" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" "work/$t" "corpus/$t" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $t failed (input in fuzz/artifacts/$t/)"
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  printf '%-16s %14s %10s %8s\n' "$t" "$execs" "$rate" "$(ls "corpus/$t" "work/$t" | grep -vc ':$')"
  rm -f "$log"
done
