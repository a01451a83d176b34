#!/usr/bin/env bash
# Benchmarks in one run on one machine: bare axum, this runtime (each transport), rmcp, and
# FastMCP (when Python is present), each serving echo(text) and add(a, b) on 127.0.0.1, driven
# by one load generator (bench-client). The server is pinned to core 0 and the load generator to
# core 1 when the machine has two cores or more. Prints a Markdown report; `--write` also saves
# it as BENCHMARKS.md.
#
#   bash bench/run.sh [--write] [--seconds N] [--registry]
#
# --registry also runs registry.sh (compile time of 200 tools against rmcp, startup with 10,000
# `#[tool]` functions); it compiles large generated crates and takes several minutes.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_RUN=5
WRITE=0
REGISTRY=0
while [ $# -gt 0 ]; do
  case $1 in
    --write) WRITE=1 ;;
    --registry) REGISTRY=1 ;;
    --seconds) SECONDS_PER_RUN=$2; shift ;;
    *) echo "usage: bench/run.sh [--write] [--seconds N] [--registry]"; exit 2 ;;
  esac
  shift
done

cargo build --release --quiet
BIN=target/release
CORES=$(nproc)
if [ "$CORES" -ge 2 ]; then
  PIN_SERVER="taskset -c 0"
  PIN_CLIENT="taskset -c 1"
else
  PIN_SERVER=""
  PIN_CLIENT=""
fi
TCK=$(getconf CLK_TCK)

# FastMCP (Python) when pip can install it.
VENV=${FASTMCP_VENV:-target/fastmcp-venv}
HAVE_FASTMCP=0
if command -v python3 > /dev/null; then
  if [ ! -x "$VENV/bin/uvicorn" ]; then
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q fastmcp uvicorn fastapi > /dev/null 2>&1 || true
  fi
  [ -x "$VENV/bin/uvicorn" ] && HAVE_FASTMCP=1
fi

PORT=9500
SERVER_PID=""
start() { # kind
  PORT=$((PORT + 1))
  if [ "$1" = fastmcp ]; then
    $PIN_SERVER "$VENV/bin/uvicorn" fastmcp_app:app --port "$PORT" --log-level warning > /tmp/bench-server.log 2>&1 &
  else
    $PIN_SERVER "$BIN/bench-server" "$1" "$PORT" > /tmp/bench-server.log 2>&1 &
  fi
  SERVER_PID=$!
  for _ in $(seq 1 200); do
    (echo > "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null && return 0
    sleep 0.05
  done
  echo "server $1 did not start"; cat /tmp/bench-server.log; exit 1
}
stop() { kill "$SERVER_PID" 2> /dev/null || true; wait "$SERVER_PID" 2> /dev/null || true; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
rss_kib() { awk "/^$1:/ {print \$2}" "/proc/$SERVER_PID/status"; }
json_field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

ROWS=()
declare -A RPS P99
measure() { # label kind workload style conns
  local label=$1 kind=$2 workload=$3 style=$4 conns=$5
  start "$kind"
  local before out after requests
  before=$(cpu_ticks)
  out=$($PIN_CLIENT "$BIN/bench-client" "http://127.0.0.1:$PORT/mcp/" "$workload" "$style" "$conns" "$SECONDS_PER_RUN")
  after=$(cpu_ticks)
  requests=$(json_field "$out" requests)
  local rps p50 p99 errors cpu_us rss
  rps=$(json_field "$out" rps); p50=$(json_field "$out" p50_us); p99=$(json_field "$out" p99_us)
  errors=$(json_field "$out" errors)
  cpu_us=$(python3 -c "print(round(($after - $before) * 1e6 / $TCK / max($requests, 1), 1))")
  rss=$(python3 -c "print(round($(rss_kib VmHWM) / 1024, 1))")
  stop
  RPS["$label/$workload/$conns"]=$rps
  P99["$label/$workload/$conns"]=$p99
  ROWS+=("| $label | $workload | $conns | $(printf '%.0f' "$rps") | $p50 | $p99 | $cpu_us | $rss | $errors |")
  echo "  $label $workload c=$conns: $(printf '%.0f' "$rps") req/s, p50 ${p50} µs, p99 ${p99} µs, ${cpu_us} µs CPU/req, errors $errors" >&2
}

echo "== tools/call echo" >&2
for conns in 1 32 256; do
  measure "bare axum" bare echo stateless "$conns"
  measure "runtime Transport::Http" http echo stateless "$conns"
  measure "runtime Streamable, stateless JSON" stream-json echo stateless "$conns"
  measure "runtime Streamable, session + SSE" stream-sse echo session "$conns"
  measure "runtime 2026-07-28" stream-json echo modern "$conns"
  measure "rmcp stateless JSON" rmcp-json echo stateless "$conns"
  measure "rmcp stateful (session + SSE)" rmcp-session echo session "$conns"
  [ "$HAVE_FASTMCP" = 1 ] && measure "FastMCP in FastAPI (stateless JSON)" fastmcp echo stateless "$conns"
done
echo "== other workloads" >&2
measure "runtime Transport::Http, 1,000 tools" tools1000 list stateless 32
measure "runtime Streamable, session + SSE" stream-sse handshake session 32
measure "rmcp stateful (session + SSE)" rmcp-session handshake session 32
measure "runtime Streamable, session + SSE" stream-sse progress session 32

# Memory per idle session: RSS before and after opening 10,000 sessions.
idle() { # label kind
  start "$2"
  sleep 0.2
  local before after
  before=$(rss_kib VmRSS)
  $PIN_CLIENT "$BIN/bench-client" "http://127.0.0.1:$PORT/mcp/" idle session 10000 1 > /dev/null
  sleep 0.2
  after=$(rss_kib VmRSS)
  stop
  python3 -c "print(round(($after - $before) * 1024 / 10000))"
}
echo "== idle sessions" >&2
IDLE_OURS=$(idle runtime stream-sse)
IDLE_RMCP=$(idle rmcp rmcp-session)

ratio() { python3 -c "print(round($1 / $2, 2))"; }
HTTP_VS_BARE=$(ratio "${RPS["runtime Transport::Http/echo/32"]}" "${RPS["bare axum/echo/32"]}")
P99_VS_BARE=$(ratio "${P99["runtime Transport::Http/echo/32"]}" "${P99["bare axum/echo/32"]}")
JSON_VS_RMCP=$(ratio "${RPS["runtime Streamable, stateless JSON/echo/32"]}" "${RPS["rmcp stateless JSON/echo/32"]}")
SSE_VS_RMCP=$(ratio "${RPS["runtime Streamable, session + SSE/echo/32"]}" "${RPS["rmcp stateful (session + SSE)/echo/32"]}")
HS_VS_RMCP=$(ratio "${RPS["runtime Streamable, session + SSE/handshake/32"]}" "${RPS["rmcp stateful (session + SSE)/handshake/32"]}")

REPORT=$(cat <<EOF
## Run

- Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); $(rustc --version).
- Server pinned to core 0, load generator to core 1 ($([ -n "$PIN_SERVER" ] && echo "taskset" || echo "no pinning: one core")).
- Each row: a fresh server, $SECONDS_PER_RUN s of back-to-back requests over keep-alive HTTP/1.1 connections on 127.0.0.1.
- Command: \`bash bench/run.sh --write\` (builds \`bench/\` in release; installs FastMCP from PyPI into \`bench/target/fastmcp-venv\` when Python is present).

## Results

| server | workload | connections | requests/s | p50 µs | p99 µs | server CPU µs/request | peak RSS MiB | errors |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$(printf '%s\n' "${ROWS[@]}")

Idle session memory (RSS growth over 10,000 open sessions, per session): runtime ${IDLE_OURS} bytes, rmcp ${IDLE_RMCP} bytes.

## Ratios (32 connections, same run)

| comparison | ratio | target |
| --- | ---: | --- |
| \`Transport::Http\` / bare axum, requests/s | $HTTP_VS_BARE | ≥ 0.85 |
| \`Transport::Http\` / bare axum, p99 latency | $P99_VS_BARE | ≤ 1.5 |
| Streamable stateless JSON / rmcp stateless JSON, requests/s | $JSON_VS_RMCP | ≥ 2 |
| Streamable session + SSE / rmcp stateful, requests/s | $SSE_VS_RMCP | ≥ 2 |
| full handshake per client / rmcp, operations/s | $HS_VS_RMCP | |
EOF
)
if [ "$REGISTRY" = 1 ]; then
  REPORT="$REPORT

$(bash registry.sh)"
fi
echo "$REPORT"
if [ "$WRITE" = 1 ]; then
  {
    cat BENCHMARKS.head.md
    echo
    echo "$REPORT"
  } > ../BENCHMARKS.md
  echo "wrote BENCHMARKS.md" >&2
fi
