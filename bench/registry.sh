#!/usr/bin/env bash
# Scale of the registry: compile time of a crate with 200 tools written with `#[tool]` against
# the same 200 tools written for rmcp, and startup time and memory of a server with 10,000
# `#[tool]` functions. The crates are generated under target/registry/. Prints Markdown.
#
#   bash bench/registry.sh [TOOLS_FOR_STARTUP]
set -euo pipefail
cd "$(dirname "$0")"
BIG=${1:-10000}
OUT=target/registry
mkdir -p "$OUT"
BENCH=$PWD
# One target directory for the generated crates: their dependencies are built once.
export CARGO_TARGET_DIR=$PWD/$OUT/target

# A crate of its own (outside any workspace) named `name`, with these dependency lines.
manifest() { # dir name dependency-lines
  mkdir -p "$1/src"
  printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n[workspace]\n[dependencies]\n%s\n' \
    "$2" "$3" > "$1/Cargo.toml"
}

gen_ours() { # dir count
  local dir=$1 n=$2
  manifest "$dir" "gen-ours-$n" \
'mcp-runtime = { path = "'"$BENCH"'/../mcp-runtime", default-features = false, features = ["macros"] }
tokio = { version = "1", features = ["rt-multi-thread", "macros"] }'
  {
    echo 'use mcp_runtime::{McpServer, tool};'
    for i in $(seq 1 "$n"); do
      cat <<EOF
/// Tool $i: add two numbers.
#[tool(domain = "gen")]
fn tool_$i(
    /// The first number.
    a: i64,
    /// The second number.
    b: Option<i64>,
) -> i64 {
    a + b.unwrap_or($i)
}
EOF
    done
    cat <<'EOF'
/// Counts the bytes live on the heap, to tell what the registry keeps from what the allocator
/// holds on to.
struct Counting;
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}
#[global_allocator]
static ALLOC: Counting = Counting;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let rss_before = rss_kib();
    let live_before = LIVE.load(std::sync::atomic::Ordering::Relaxed);
    let started = std::time::Instant::now();
    let server = McpServer::new("Generated").domain("gen").build().unwrap();
    let took = started.elapsed();
    let live = LIVE.load(std::sync::atomic::Ordering::Relaxed) - live_before;
    let rss = rss_kib() - rss_before;
    // The first `tools/list` of a revision writes its prebuilt body.
    let client = server.client();
    let started = std::time::Instant::now();
    let list = client
        .send_raw(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .await
        .unwrap();
    let first_list = started.elapsed();
    let live_listed = LIVE.load(std::sync::atomic::Ordering::Relaxed) - live_before - list.len();
    println!(
        "{{\"tools\": {}, \"build_ms\": {:.1}, \"heap_kib\": {}, \"rss_growth_kib\": {}, \"first_list_ms\": {:.1}, \"list_kib\": {}, \"heap_after_list_kib\": {}, \"rss_after_list_kib\": {}}}",
        server.tools().len(),
        took.as_secs_f64() * 1e3,
        live / 1024,
        rss,
        first_list.as_secs_f64() * 1e3,
        list.len() / 1024,
        live_listed / 1024,
        rss_kib() - rss_before
    );
}
EOF
  } > "$dir/src/main.rs"
}

gen_rmcp() { # dir count
  local dir=$1 n=$2
  manifest "$dir" "gen-rmcp-$n" \
'rmcp = { version = "3.11", features = ["server", "macros"] }
serde = { version = "1", features = ["derive"] }
schemars = "1"
tokio = { version = "1", features = ["rt-multi-thread", "macros"] }'
  {
    echo 'use rmcp::handler::server::wrapper::Parameters;'
    echo 'use rmcp::{schemars, tool, tool_router};'
    echo '#[derive(Clone)] pub struct Generated;'
    for i in $(seq 1 "$n"); do
      cat <<EOF
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub struct Args$i {
    /// The first number.
    pub a: i64,
    /// The second number.
    pub b: Option<i64>,
}
EOF
    done
    echo '#[tool_router(server_handler)]'
    echo 'impl Generated {'
    for i in $(seq 1 "$n"); do
      cat <<EOF
    #[tool(description = "Tool $i: add two numbers.")]
    fn tool_$i(&self, Parameters(Args$i { a, b }): Parameters<Args$i>) -> String {
        (a + b.unwrap_or($i)).to_string()
    }
EOF
    done
    echo '}'
    # Build the router, so the tools are compiled as a server uses them (an unused generic
    # router would only be type-checked), and list them.
    echo 'fn main() { println!("{}", Generated::tool_router().list_all().len()); }'
  } > "$dir/src/main.rs"
}

# Builds once (dependencies), then times a rebuild of the generated crate alone: seconds and
# the compiler's peak memory in MiB.
rebuild() { # dir [cargo flags]
  local dir=$1
  shift
  (cd "$dir" && cargo build --quiet "$@" 2> /dev/null && touch src/main.rs &&
    /usr/bin/time -f "%e %M" cargo build --quiet "$@" 2>&1 | tail -1 |
    awk '{printf "%.1f s, %.0f MiB", $1, $2 / 1024}')
}
# Times one build (its dependencies already built by an identical crate above).
build() { # dir [cargo flags]
  local dir=$1
  shift
  (cd "$dir" && /usr/bin/time -f "%e %M" cargo build --quiet "$@" 2>&1 | tail -1 |
    awk '{printf "%.1f s, %.0f MiB", $1, $2 / 1024}')
}
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

gen_ours "$OUT/ours-200" 200
gen_rmcp "$OUT/rmcp-200" 200
OURS_DEBUG=$(rebuild "$OUT/ours-200")
RMCP_DEBUG=$(rebuild "$OUT/rmcp-200")
OURS_RELEASE=$(rebuild "$OUT/ours-200" --release)
RMCP_RELEASE=$(rebuild "$OUT/rmcp-200" --release)

gen_ours "$OUT/ours-$BIG" "$BIG"
touch "$OUT/ours-$BIG/src/main.rs"
BIG_BUILD=$(build "$OUT/ours-$BIG" --release)
S=$("$OUT/target/release/gen-ours-$BIG")

cat <<EOF
## Registry scale

Generated crates (\`bash bench/registry.sh\`): each tool is \`fn tool_N(a: i64, b: Option<i64>) -> i64\`
with doc comments, as \`#[tool]\` functions or as methods of an rmcp \`#[tool_router]\` with a
\`Parameters<ArgsN>\` struct each, whose \`main\` builds the tool router (so that rmcp's tools are
compiled as a server uses them, not only type-checked). Times are rebuilds of the generated
crate alone (its dependencies already built), with the compiler's peak memory.

| compile time, 200 tools | this runtime | rmcp |
| --- | ---: | ---: |
| debug rebuild | ${OURS_DEBUG} | ${RMCP_DEBUG} |
| release rebuild | ${OURS_RELEASE} | ${RMCP_RELEASE} |

| $BIG \`#[tool]\` functions in one crate | |
| --- | ---: |
| release build of the crate (dependencies built) | ${BIG_BUILD} |
| building the server (collect registrations, make schemas) | $(field "$S" build_ms) ms |
| heap the server holds after building | $(field "$S" heap_kib) KiB |
| RSS growth after building | $(field "$S" rss_growth_kib) KiB |
| first \`tools/list\` (writes the prebuilt body, $(field "$S" list_kib) KiB) | $(field "$S" first_list_ms) ms |
| heap held with the prebuilt \`tools/list\` body | $(field "$S" heap_after_list_kib) KiB |
| RSS growth with the prebuilt body | $(field "$S" rss_after_list_kib) KiB |
EOF
