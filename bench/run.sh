#!/usr/bin/env bash
# Benchmarks in one run on one machine: bare axum, this runtime (each transport), rmcp, and
# FastMCP (when Python is present), each serving echo(text) and add(a, b) on 127.0.0.1, driven
# by one load generator (bench-client). The server is pinned to core 0 and the load generator to
# core 1 when the machine has two cores or more. Every measurement is repeated --rounds times,
# the servers taking turns, and the report gives the median of each. With valgrind present, the
# instructions each server executes per request are counted too (callgrind: a number that other
# load on the machine cannot move). Prints a Markdown report; `--write` also saves it as
# BENCHMARKS.md.
#
#   bash bench/run.sh [--write] [--seconds N] [--rounds N] [--registry] [--only TEXT]
#
# --only TEXT measures only the rows whose label contains TEXT (for a quick comparison while
# working; the report then holds those rows alone and cannot be written).
#
# --registry also runs registry.sh (compile time of 200 tools against rmcp, startup with 10,000
# `#[tool]` functions); it compiles large generated crates and takes ten minutes or more.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_RUN=5
ROUNDS=3
WRITE=0
REGISTRY=0
ONLY=""
while [ $# -gt 0 ]; do
  case $1 in
    --write) WRITE=1 ;;
    --registry) REGISTRY=1 ;;
    --seconds) SECONDS_PER_RUN=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --only) ONLY=$2; shift ;;
    *) echo "usage: bench/run.sh [--write] [--seconds N] [--rounds N] [--registry] [--only TEXT]"; exit 2 ;;
  esac
  shift
done
if [ -n "$ONLY" ] && [ "$WRITE" = 1 ]; then
  echo "--only measures some rows: the report cannot be written"; exit 2
fi
# Whether the row `label` is measured.
wanted() { [ -z "$ONLY" ] || [[ "$1" == *"$ONLY"* ]]; }

cargo build --release --quiet
BIN=target/release
# The app users run, built as they build it (the workspace's default release profile).
(cd .. && cargo build --release --quiet -p example-article)
ARTICLE=${CARGO_TARGET_DIR:-$PWD/../target}/release/example-article
ARTICLE_DB=$(mktemp -d)
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

# A local Redis for the rows of sessions recorded in Redis (skipped without redis-server). It
# runs on the load generator's core: the server's core does only the server's work, as when
# Redis is another machine.
REDIS_URL=""
REDIS_PID=""
if command -v redis-server > /dev/null; then
  $PIN_CLIENT redis-server --port 9499 --bind 127.0.0.1 --save "" --appendonly no > /dev/null &
  REDIS_PID=$!
  REDIS_URL=redis://127.0.0.1:9499/
  for _ in $(seq 1 100); do
    (echo > /dev/tcp/127.0.0.1/9499) 2> /dev/null && break
    sleep 0.05
  done
fi
export REDIS_URL

PORT=9500
SERVER_PID=""
start() { # kind [wrapper command...]
  local kind=$1
  shift
  PORT=$((PORT + 1))
  if [ "$kind" = fastmcp ]; then
    $PIN_SERVER "$VENV/bin/uvicorn" fastmcp_app:app --port "$PORT" --log-level warning > /tmp/bench-server.log 2>&1 &
  elif [ "$kind" = article ] || [ "$kind" = article-unaudited ]; then
    rm -f "$ARTICLE_DB"/*
    # `article-unaudited`: the same app with its audit lines filtered out, to show their cost.
    local log=()
    [ "$kind" = article ] || log=(RUST_LOG=info,tower_http=warn,mcp_runtime::audit=off)
    env PORT=$PORT DATABASE_PATH="$ARTICLE_DB/article.db" REDIS_URL="" "${log[@]}" $PIN_SERVER "$@" "$ARTICLE" > /tmp/bench-server.log 2>&1 &
  else
    $PIN_SERVER "$@" "$BIN/bench-server" "$kind" "$PORT" > /tmp/bench-server.log 2>&1 &
  fi
  SERVER_PID=$!
  for _ in $(seq 1 600); do
    (echo > "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null && return 0
    sleep 0.05
  done
  echo "server $kind did not start"; cat /tmp/bench-server.log; exit 1
}
stop() { kill "$SERVER_PID" 2> /dev/null || true; wait "$SERVER_PID" 2> /dev/null || true; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }
rss_kib() { awk "/^$1:/ {print \$2}" "/proc/$SERVER_PID/status"; }
json_field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

# One sample per line, tab-separated, first field its kind; report.py aggregates them.
SAMPLES=$(mktemp)
trap 'rm -rf "$SAMPLES" "$ARTICLE_DB"; [ -z "$REDIS_PID" ] || kill "$REDIS_PID"' EXIT
measure() { # label kind workload style conns
  local label=$1 kind=$2 workload=$3 style=$4 conns=$5
  wanted "$label" || return 0
  start "$kind"
  local before out after hwm
  before=$(cpu_ticks)
  out=$($PIN_CLIENT "$BIN/bench-client" "http://127.0.0.1:$PORT/mcp/" "$workload" "$style" "$conns" "$SECONDS_PER_RUN")
  after=$(cpu_ticks)
  hwm=$(rss_kib VmHWM)
  stop
  printf 'load\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$workload" "$conns" "$out" "$((after - before))" "$TCK" "$hwm" >> "$SAMPLES"
  echo "  $label $workload c=$conns: $out" >&2
}

# The same, against two instances sharing their sessions in Redis: requests alternate between
# them (a session opened on one is used on the other); CPU is both servers' together.
measure_two() { # label workload style conns
  local label=$1 workload=$2 style=$3 conns=$4
  wanted "$label" || return 0
  start stream-sse-redis
  local first_pid=$SERVER_PID first_port=$PORT before out after hwm
  start stream-sse-redis
  local both="http://127.0.0.1:$first_port/mcp/,http://127.0.0.1:$PORT/mcp/"
  before=$(($(cpu_ticks) + $(awk '{print $14 + $15}' "/proc/$first_pid/stat")))
  out=$($PIN_CLIENT "$BIN/bench-client" "$both" "$workload" "$style" "$conns" "$SECONDS_PER_RUN")
  after=$(($(cpu_ticks) + $(awk '{print $14 + $15}' "/proc/$first_pid/stat")))
  hwm=$(rss_kib VmHWM)
  stop
  kill "$first_pid" 2> /dev/null || true
  wait "$first_pid" 2> /dev/null || true
  printf 'load\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$workload" "$conns" "$out" "$((after - before))" "$TCK" "$hwm" >> "$SAMPLES"
  echo "  $label $workload c=$conns: $out" >&2
}

for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round of $ROUNDS: tools/call echo" >&2
  for conns in 1 32 256; do
    measure "bare axum" bare echo stateless "$conns"
    measure "runtime Transport::Http" http echo stateless "$conns"
    measure "runtime Streamable, stateless JSON" stream-json echo stateless "$conns"
    measure "runtime Streamable, session + SSE" stream-sse echo session "$conns"
    measure "runtime 2026-07-28" stream-json echo modern "$conns"
    measure "rmcp stateless JSON" rmcp-json echo stateless "$conns"
    measure "rmcp stateful (session + SSE)" rmcp-session echo session "$conns"
    if [ -n "$REDIS_URL" ]; then
      measure "runtime Streamable, session + SSE, sessions in Redis" stream-sse-redis echo session "$conns"
    fi
    if [ "$HAVE_FASTMCP" = 1 ]; then
      measure "FastMCP in FastAPI (stateless JSON)" fastmcp echo stateless "$conns"
    fi
  done
  echo "== round $round of $ROUNDS: the app users run (examples/article) against a bare handler in its shape" >&2
  for conns in 1 4 32 128 256; do
    measure "app shape: bare JSON-RPC handler" app-bare status stateless "$conns"
    measure "app shape: bare JSON-RPC handler under axum::serve" app-bare-axum status stateless "$conns"
    measure "app shape: bare JSON-RPC handler under axum::serve, a log line per call" app-bare-axum-logged status stateless "$conns"
    measure "app shape: example-article" article status stateless "$conns"
    measure "app shape: example-article, audit lines off" article-unaudited status stateless "$conns"
  done
  echo "== round $round of $ROUNDS: other workloads" >&2
  measure "runtime Transport::Http, 1,000 tools" tools1000 list stateless 32
  measure "runtime Transport::Http, search over 10,000 tools" tools10000-search search stateless 32
  measure "runtime Transport::Http, rate limit in memory" http-limit echo stateless 32
  if [ -n "$REDIS_URL" ]; then
    measure "runtime Transport::Http, rate limit in Redis" http-limit-redis echo stateless 32
  fi
  measure "runtime Transport::Http, cache hit" http-cache echo stateless 32
  measure "runtime Transport::Http, through a tool transform" http-transform echo stateless 32
  measure "runtime Transport::Http, proxied (the remote in the same process)" http-proxy echo stateless 32
  measure "REST route, called directly" rest-direct rest stateless 32
  measure "REST route as a tool (routes::RouteTools, Transport::Http)" rest-tool echo stateless 32
  measure "runtime Streamable, session + SSE" stream-sse handshake session 32
  if [ -n "$REDIS_URL" ]; then
    measure "runtime Streamable, session + SSE, sessions in Redis" stream-sse-redis handshake session 32
    measure_two "two instances, sessions in Redis" handshake session 32
  fi
  measure "rmcp stateful (session + SSE)" rmcp-session handshake session 32
  measure "runtime Streamable, session + SSE" stream-sse progress session 32
  measure "rmcp stateful (session + SSE)" rmcp-session progress session 32
done

# Memory per idle session: RSS before and after opening 10,000 sessions.
idle() { # label kind
  wanted "$1" || return 0
  start "$2"
  sleep 0.2
  local before after
  before=$(rss_kib VmRSS)
  $PIN_CLIENT "$BIN/bench-client" "http://127.0.0.1:$PORT/mcp/" idle session 10000 1 > /dev/null
  sleep 0.2
  after=$(rss_kib VmRSS)
  stop
  printf 'idle\t%s\t%s\n' "$1" "$(((after - before) * 1024 / 10000))" >> "$SAMPLES"
}
echo "== idle sessions" >&2
idle runtime stream-sse
idle rmcp rmcp-session

# Instructions per request under callgrind: counters zeroed after a warm-up, dumped after the
# measured load, divided by the requests served in it.
instructions() { # label kind style [workload]
  local label=$1 kind=$2 style=$3 workload=${4:-echo} out dump total
  wanted "$label" || return 0
  local file=/tmp/bench-callgrind.$$
  rm -f "$file"*
  start "$kind" valgrind --tool=callgrind --callgrind-out-file="$file"
  $PIN_CLIENT "$BIN/bench-client" "http://127.0.0.1:$PORT/mcp/" "$workload" "$style" 32 2 > /dev/null
  callgrind_control -z "$SERVER_PID" > /dev/null 2>&1
  out=$($PIN_CLIENT "$BIN/bench-client" "http://127.0.0.1:$PORT/mcp/" "$workload" "$style" 32 4)
  callgrind_control -d "$SERVER_PID" > /dev/null 2>&1
  sleep 0.5
  stop
  dump=$(ls "$file".* 2> /dev/null | head -1)
  total=$(callgrind_annotate "$dump" 2> /dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  rm -f "$file"*
  printf 'instr\t%s\t%s\t%s\n' "$label" "$(json_field "$out" requests)" "$total" >> "$SAMPLES"
  echo "  $label: $total instructions for $(json_field "$out" requests) requests" >&2
}
if command -v valgrind > /dev/null && command -v callgrind_control > /dev/null; then
  echo "== instructions per request (callgrind)" >&2
  instructions "bare axum" bare stateless
  instructions "runtime Transport::Http" http stateless
  instructions "runtime Streamable, stateless JSON" stream-json stateless
  instructions "runtime Streamable, session + SSE" stream-sse session
  instructions "runtime 2026-07-28" stream-json modern
  instructions "rmcp stateless JSON" rmcp-json stateless
  instructions "rmcp stateful (session + SSE)" rmcp-session session
  instructions "app shape: bare JSON-RPC handler" app-bare stateless status
  instructions "app shape: bare JSON-RPC handler under axum::serve" app-bare-axum stateless status
  instructions "app shape: bare JSON-RPC handler under axum::serve, a log line per call" app-bare-axum-logged stateless status
  instructions "app shape: example-article" article stateless status
  instructions "app shape: example-article, audit lines off" article-unaudited stateless status
  instructions "runtime Transport::Http, rate limit in memory" http-limit stateless
  if [ -n "$REDIS_URL" ]; then
    instructions "runtime Transport::Http, rate limit in Redis" http-limit-redis stateless
  fi
  instructions "runtime Transport::Http, cache hit" http-cache stateless
  instructions "runtime Transport::Http, through a tool transform" http-transform stateless
  instructions "runtime Transport::Http, proxied (the remote in the same process)" http-proxy stateless
  instructions "REST route, called directly" rest-direct stateless rest
  instructions "REST route as a tool (routes::RouteTools, Transport::Http)" rest-tool stateless
  instructions "runtime Transport::Http, search over 10,000 tools" tools10000-search stateless search
fi

PINNING=$([ -n "$PIN_SERVER" ] && echo "taskset" || echo "no pinning: one core")
RUN_NOTES="- Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); $(rustc --version).
- Server pinned to core 0, load generator to core 1 ($PINNING).
- Each measurement: a fresh server, $SECONDS_PER_RUN s of back-to-back requests over keep-alive HTTP/1.1 connections on 127.0.0.1; $ROUNDS rounds with the servers taking turns, medians reported.
- Command: \`bash bench/run.sh --write\` (builds \`bench/\` in release; installs FastMCP from PyPI into \`bench/target/fastmcp-venv\` when Python is present; counts instructions when valgrind is present)."
REPORT=$(python3 report.py "$SAMPLES" "$RUN_NOTES")
write() {
  echo "$REPORT"
  if [ "$WRITE" = 1 ]; then
    {
      cat BENCHMARKS.head.md
      echo
      echo "$REPORT"
      # Sections measured in runs of their own, with their analysis: kept across runs.
      echo
      cat BENCHMARKS.tail.md
    } > ../BENCHMARKS.md
    echo "wrote BENCHMARKS.md" >&2
  fi
}
# The load report is written first, so a failure in the long registry step loses nothing.
write
if [ "$REGISTRY" = 1 ]; then
  REPORT="$REPORT

$(bash registry.sh)"
  write > /dev/null
fi
