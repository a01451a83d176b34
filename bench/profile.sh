#!/usr/bin/env bash
# Where one server spends its instructions per request: runs one server of bench/run.sh (a
# bench-server kind, or `article` / `article-unaudited` for the real example-article binary)
# under callgrind, drives it with bench-client at 32 connections (2 s warm-up, counters zeroed,
# 4 s measured), and prints instructions per request and the top functions (inclusive and
# self). The dump stays in /tmp/profile.<kind>.out for callgrind_annotate.
#
#   bash bench/profile.sh KIND [WORKLOAD] [STYLE]      e.g. bash bench/profile.sh article status
#
# With CACHESIM=1, callgrind also simulates the caches and branch predictors, and the first line
# gives per request the instruction-cache misses (I1mr), L1 data misses (D1mr, D1mw) and
# mispredicted branches (Bcm, Bim) too.
set -euo pipefail
cd "$(dirname "$0")"
kind=${1:?usage: bench/profile.sh KIND [WORKLOAD] [STYLE]}
workload=${2:-echo}
style=${3:-stateless}
cargo build --release --quiet
(cd .. && cargo build --release --quiet -p example-article)
ARTICLE=${CARGO_TARGET_DIR:-$PWD/../target}/release/example-article
PORT=9591
out=/tmp/profile.$kind.out
rm -f "$out"*
db=$(mktemp -d)
trap 'rm -rf "$db"' EXIT
vg=(valgrind --tool=callgrind --callgrind-out-file="$out")
[ "${CACHESIM:-0}" = 1 ] && vg+=(--cache-sim=yes --branch-sim=yes)
case $kind in
  article) env PORT=$PORT DATABASE_PATH="$db/a.db" REDIS_URL="" "${vg[@]}" "$ARTICLE" > /tmp/profile.log 2>&1 & ;;
  article-unaudited) env PORT=$PORT DATABASE_PATH="$db/a.db" REDIS_URL="" RUST_LOG=info,tower_http=warn,mcp_runtime::audit=off "${vg[@]}" "$ARTICLE" > /tmp/profile.log 2>&1 & ;;
  *) "${vg[@]}" target/release/bench-server "$kind" "$PORT" > /tmp/profile.log 2>&1 & ;;
esac
pid=$!
for _ in $(seq 1 600); do (echo > "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null && break; sleep 0.05; done
target/release/bench-client "http://127.0.0.1:$PORT/mcp/" "$workload" "$style" 32 2 > /dev/null
callgrind_control -z "$pid" > /dev/null 2>&1
res=$(target/release/bench-client "http://127.0.0.1:$PORT/mcp/" "$workload" "$style" 32 4)
callgrind_control -d "$pid" > /dev/null 2>&1
sleep 0.5
kill "$pid" 2> /dev/null || true
wait "$pid" 2> /dev/null || true
dump=$(ls -S "$out".* | head -1)
mv "$dump" "$out"
rm -f "$out".*
requests=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['requests'])" "$res")
total=$(callgrind_annotate "$out" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$kind $workload $style: $((total / requests)) instructions per request ($requests requests)"
if [ "${CACHESIM:-0}" = 1 ]; then
  # The events line and the totals line: each event per request.
  callgrind_annotate "$out" | awk -v n="$requests" '
    /^Ir / && !names { for (i = 1; i <= NF; i++) name[i] = $i; names = NF }
    /PROGRAM TOTALS/ { j = 0; line = "per request:"
      for (i = 1; i <= NF; i++) if ($i ~ /^[0-9,]+$/) { v = $i; gsub(",", "", v); j++; line = line " " name[j] "=" int(v / n) }
      print line }'
fi
echo "-- inclusive"
callgrind_annotate --inclusive=yes "$out" 2> /dev/null | sed -n '/^Ir/,$p' | sed -n 3,40p | cut -c1-200
echo "-- self"
callgrind_annotate "$out" 2> /dev/null | sed -n '/^Ir/,$p' | sed -n 3,40p | cut -c1-200
