#!/usr/bin/env bash
# A soak run of the release build of examples/article: a million mixed requests (every era,
# sessions opened and dropped, streams abandoned, bad input), the server's RSS along the way,
# then 10,000 SSE streams held at once. Results are in RELIABILITY.md.
#
#   tests/soak.sh            1,000,000 requests and 10,000 streams, release build
#   tests/soak.sh --smoke    20,000 requests and 300 streams, debug build (CI)
#   tests/soak.sh REQUESTS STREAMS
#
# The app gets this script's environment: with REDIS_URL set, its sessions live in that Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release requests=1000000 streams=10000
if [ "${1:-}" = --smoke ]; then profile=dev requests=20000 streams=300
elif [ -n "${1:-}" ]; then requests=$1 streams=${2:-10000}
fi
dir=$([ $profile = dev ] && echo debug || echo release)
target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --quiet --profile $profile -p example-article -p mcp-tests --bin example-article --bin soak
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

work=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null || true; rm -rf "$work"' EXIT
# Room for the held streams' sessions beside the soak's own (idle ones are evicted as needed).
DATABASE_PATH=$work/article.db PORT=0 MCP_MAX_SESSIONS=$((streams + 1000)) \
  RUST_LOG=info,tower_http=warn "$target/$dir/example-article" >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/out" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/out")
echo "example-article ($profile build) at $url, pid $pid"
status=0
"$target/$dir/soak" "$url" "$pid" "$requests" "$streams" || status=$?
# The server is still healthy, and stops cleanly.
port=${url##*:}
if exec 3<>"/dev/tcp/127.0.0.1/$port" &&
   printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3 &&
   head -n 1 <&3 | grep -q ' 200 '; then exec 3>&-
else echo "the server stopped answering"; status=1
fi
kill -INT $pid
wait $pid || { echo "the server exited with $?"; status=1; }
if grep -E "ERROR|panicked" "$work/log" | head -5 | grep -q .; then
  echo "the server logged errors:"; grep -E "ERROR|panicked" "$work/log" | head -5; status=1
fi
echo "server log: $(wc -l <"$work/log") lines, $(grep -c WARN "$work/log" || true) warnings"
exit $status
