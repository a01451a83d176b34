#!/usr/bin/env bash
# The catalogue page and the MCP App of example-article in headless Chromium (Debian's
# `chromium`; `.ci/run` installs it), driven by playwright-core from the npm registry, against
# the real example-article binary.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "Chromium is needed at $chromium (apt-get install chromium)"; exit 1; }
npm ci --no-audit --no-fund --loglevel=error
(cd "$root" && cargo build --quiet -p example-article)

work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
DATABASE_PATH=$work/article.db PORT=0 DEMO_API_KEY=browser-key RUST_LOG=warn \
  "$target/debug/example-article" >"$work/out" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do grep -q listening "$work/out" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/out")
CHROMIUM=$chromium node catalogue.mjs "$url" browser-key "$target/catalogue.png"
# The MCP App of /mcp/crm in a host page of the test's own, built from the extension's
# host-side package (`AppBridge`) and the TypeScript SDK's client.
npx esbuild apps-host.mjs --bundle --format=esm --platform=browser --log-level=warning \
  --outfile="$work/apps-host.js"
CHROMIUM=$chromium node apps.mjs "$url" browser-key "$work/apps-host.js"
