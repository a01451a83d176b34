"""Turns the samples of bench/run.sh into the Markdown report: medians over the rounds, the
ratios the targets are stated in, and instructions per request.

    python3 report.py SAMPLES RUN_NOTES
"""

import json
import statistics
import sys

samples_path, run_notes = sys.argv[1], sys.argv[2]
loads = {}  # (label, workload, connections) -> samples, in first-seen order
idle = {}
instructions = {}
with open(samples_path, encoding="utf-8") as samples:
    for line in samples:
        kind, *f = line.rstrip("\n").split("\t")
        if kind == "load":
            label, workload, conns, out, ticks, tck, hwm = f
            out = json.loads(out)
            loads.setdefault((label, workload, int(conns)), []).append({
                "rps": out["rps"],
                "p50": out["p50_us"],
                "p99": out["p99_us"],
                "cpu": int(ticks) * 1e6 / int(tck) / max(out["requests"], 1),
                "rss": int(hwm) / 1024,
                "errors": out["errors"],
            })
        elif kind == "idle":
            idle[f[0]] = int(f[1])
        elif kind == "instr" and f[2]:
            instructions[f[0]] = int(f[2]) / max(int(f[1]), 1)


def median(key, field):
    return statistics.median(s[field] for s in loads[key])


def ratio(a, b, field="rps"):
    if a not in loads or b not in loads:
        return "n/a"
    return f"{median(a, field) / median(b, field):.2f}"


def echo(label, conns=32):
    return (label, "echo", conns)


first_seen = list(loads)
order = sorted(loads, key=lambda k: (k[1] != "echo", k[2] if k[1] == "echo" else 0,
                                     first_seen.index(k)))
out = [
    "## Run", "", run_notes, "", "## Results", "",
    "Medians over the rounds; the last column is the range of requests/s across the rounds.", "",
    "| server | workload | connections | requests/s | p50 µs | p99 µs | server CPU µs/request "
    "| peak RSS MiB | errors | requests/s, all rounds |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]
for key in order:
    label, workload, conns = key
    rps = [s["rps"] for s in loads[key]]
    out.append(
        f"| {label} | {workload} | {conns} | {median(key, 'rps'):.0f} | {median(key, 'p50'):.0f} "
        f"| {median(key, 'p99'):.0f} | {median(key, 'cpu'):.1f} "
        f"| {max(s['rss'] for s in loads[key]):.1f} | {sum(s['errors'] for s in loads[key])} "
        f"| {min(rps):.0f}–{max(rps):.0f} |")
if idle:
    out += ["", "Idle session memory (RSS growth over 10,000 open sessions, per session): "
            + ", ".join(f"{k} {v} bytes" for k, v in idle.items()) + "."]

rows = [
    ("`Transport::Http` / bare axum, requests/s, 32 connections",
     ratio(echo("runtime Transport::Http"), echo("bare axum")), "≥ 0.85"),
    ("`Transport::Http` / bare axum, p99 latency, 32 connections",
     ratio(echo("runtime Transport::Http"), echo("bare axum"), "p99"), "≤ 1.5"),
]
for c in (1, 32, 256):
    rows.append((f"Streamable stateless JSON / rmcp stateless JSON, requests/s, {c} connections",
                 ratio(echo("runtime Streamable, stateless JSON", c),
                       echo("rmcp stateless JSON", c)), "≥ 2"))
for c in (1, 32, 256):
    rows.append((f"Streamable session + SSE / rmcp stateful, requests/s, {c} connections",
                 ratio(echo("runtime Streamable, session + SSE", c),
                       echo("rmcp stateful (session + SSE)", c)), "≥ 2"))
for c in (32, 256):
    rows.append((f"Streamable session + SSE / bare axum, requests/s, {c} connections",
                 ratio(echo("runtime Streamable, session + SSE", c), echo("bare axum", c)),
                 "≥ 0.75"))
for c in (32, 256):
    rows.append((f"2026-07-28 `tools/call` / bare axum, requests/s, {c} connections",
                 ratio(echo("runtime 2026-07-28", c), echo("bare axum", c)), "≥ 0.85"))
for c in (1, 32, 256):
    rows.append((f"session + SSE, sessions in Redis / in memory, requests/s, {c} connections",
                 ratio(echo("runtime Streamable, session + SSE, sessions in Redis", c),
                       echo("runtime Streamable, session + SSE", c)), ""))
rows.append(("handshake, sessions in Redis / in memory, operations/s",
             ratio(("runtime Streamable, session + SSE, sessions in Redis", "handshake", 32),
                   ("runtime Streamable, session + SSE", "handshake", 32)), ""))
rows.append(("handshake across two instances (Redis) / one instance in memory, operations/s",
             ratio(("two instances, sessions in Redis", "handshake", 32),
                   ("runtime Streamable, session + SSE", "handshake", 32)), ""))
for workload, what in (("handshake", "full handshake per client"),
                       ("progress", "a call streaming 100 progress notifications")):
    rows.append((f"{what} / rmcp stateful, operations/s",
                 ratio(("runtime Streamable, session + SSE", workload, 32),
                       ("rmcp stateful (session + SSE)", workload, 32)), ""))
for c in (1, 4, 32, 128, 256):
    app = ("app shape: example-article", "status", c)
    bare_app = ("app shape: bare JSON-RPC handler", "status", c)
    plain = ("app shape: bare JSON-RPC handler under axum::serve", "status", c)
    target = c in (32, 256)
    rows.append((f"app shape: `example-article` `tools/call get_status` / bare handler under plain "
                 f"`axum::serve`, requests/s, {c} connections", ratio(app, plain),
                 "≥ 0.90" if target else ""))
    rows.append((f"app shape: server CPU per request, article / bare under `axum::serve`, "
                 f"{c} connections", ratio(app, plain, "cpu"), "≤ 1.15" if target else ""))
    rows.append((f"app shape: article without its audit lines / bare under `axum::serve`, "
                 f"requests/s, {c} connections",
                 ratio(("app shape: example-article, audit lines off", "status", c), plain), ""))
    logged = ("app shape: bare JSON-RPC handler under axum::serve, a log line per call", "status", c)
    rows.append((f"app shape: article / bare under `axum::serve` writing the same log line per "
                 f"call, requests/s, {c} connections", ratio(app, logged), ""))
    rows.append((f"app shape: article / bare under `axum::serve` writing the same log line per "
                 f"call, server CPU per request, {c} connections", ratio(app, logged, "cpu"), ""))
    rows.append((f"app shape: `example-article` / bare handler under `mcp_runtime::serve`, "
                 f"requests/s, {c} connections", ratio(app, bare_app), ""))
    rows.append((f"app shape: bare handler under `mcp_runtime::serve` / under `axum::serve`, "
                 f"requests/s, {c} connections", ratio(bare_app, plain), ""))
http32 = ("runtime Transport::Http", "echo", 32)
for label in ("rate limit in memory", "rate limit in Redis", "cache hit"):
    rows.append((f"`Transport::Http` with a {label} / without layers, requests/s, 32 connections",
                 ratio((f"runtime Transport::Http, {label}", "echo", 32), http32), ""))
    rows.append((f"`Transport::Http` with a {label} / without layers, server CPU, 32 connections",
                 ratio((f"runtime Transport::Http, {label}", "echo", 32), http32, "cpu"), ""))
out += ["", "## Ratios (medians, same run)", "", "| comparison | ratio | target |",
        "| --- | ---: | --- |"]
out += [f"| {a} | {b} | {c} |" for a, b, c in rows]

redis_key = ("runtime Streamable, session + SSE, sessions in Redis", "echo", 32)
memory_key = ("runtime Streamable, session + SSE", "echo", 32)
if redis_key in loads and memory_key in loads:
    extra = median(redis_key, "cpu") - median(memory_key, "cpu")
    out += ["", "## What Redis costs", "",
            f"With sessions recorded in Redis, a call on a session costs the server {extra:.1f} µs "
            f"more CPU at 32 connections ({median(redis_key, 'cpu'):.1f} against "
            f"{median(memory_key, 'cpu'):.1f} µs): one `GETEX` when the request names its session, "
            "and one pipelined write of the answer's events (`XADD`, `PEXPIRE`, the end mark) "
            "before the answer goes out, each a round trip on the process's one multiplexed "
            "connection. Redis runs on the load generator's core, so the requests/s ratios "
            "understate what a separate Redis machine allows; the CPU per request is the figure "
            "to plan with. The handshake across two instances alternates its four requests "
            "between them (each instance reads the session the other created)."]

out += ["", "## Where a 2026-07-28 call spends more", "",
        "Measured with callgrind on `stream-json` with the `modern` style (32 connections), "
        "against the same call in the stateless JSON style of 2025: the request body is twice "
        "as long (`_meta` with the revision and the client's capabilities, read on every "
        "request since the revision has no session), and its envelope parse into a `Value` tree "
        "takes about 3.8k instructions more; the routing headers (`MCP-Protocol-Version`, "
        "`Mcp-Method`, `Mcp-Name`) are checked against the body (about 2.5k; 3.4k before they "
        "were looked up by static names); the per-request peer is built "
        "from `_meta`; the result carries `resultType`. The bare handler reads none of it, and "
        "its requests are the shorter ones. What remains is what the revision asks of every "
        "request; the next saving would be a borrowed parse of `_meta` (no tree for the "
        "capabilities), which also serves every other 2026-07-28 method."]

if instructions:
    bare = instructions.get("bare axum")
    out += [
        "", "## Instructions per request", "",
        "Instructions the server executed per `tools/call echo` (32 connections, 4 s after a "
        "warm-up, under valgrind's callgrind): a count that other load on the machine cannot "
        "move, unlike the timings above.", "",
        "| server | instructions/request | × bare axum |", "| --- | ---: | ---: |",
    ]
    for label, n in instructions.items():
        out.append(f"| {label} | {n:,.0f} | {n / bare:.2f} |" if bare else f"| {label} | {n:,.0f} | |")
    app, app_bare, app_plain, app_quiet = (
        instructions.get("app shape: example-article"),
        instructions.get("app shape: bare JSON-RPC handler"),
        instructions.get("app shape: bare JSON-RPC handler under axum::serve"),
        instructions.get("app shape: example-article, audit lines off"))
    if app and app_bare and app_plain:
        out += ["", f"In the app shape (`tools/call get_status`), `example-article` executes "
                f"{app / app_plain:.2f}× the instructions of the bare handler in the same shape "
                f"under plain `axum::serve` (target ≤ 1.12), {app / app_bare:.2f}× those of the "
                "same bare handler under `mcp_runtime::serve`."]
        if app_quiet:
            out[-1] += (f" Without its audit line per call (filtered out by `RUST_LOG`), the "
                        f"article executes {app_quiet / app_plain:.2f}× the plain bare handler's.")
        app_logged = instructions.get(
            "app shape: bare JSON-RPC handler under axum::serve, a log line per call")
        if app_logged:
            out[-1] += (f" The bare handler writing the same line per call executes "
                        f"{app_logged / app_plain:.2f}× its own, and the article "
                        f"{app / app_logged:.2f}× that.")
    http = instructions.get("runtime Transport::Http")
    if http:
        parts = [f"{label}: {instructions[f'runtime Transport::Http, {label}'] - http:+,.0f}"
                 for label in ("rate limit in memory", "rate limit in Redis", "cache hit")
                 if f"runtime Transport::Http, {label}" in instructions]
        if parts:
            out += ["", "Middleware, in instructions per `tools/call echo` against "
                    "`Transport::Http` without layers: " + "; ".join(parts) + "."]

    def times(ours, theirs):
        if ours in instructions and theirs in instructions:
            return f"{instructions[theirs] / instructions[ours]:.1f}"
        return "n/a"

    out += [
        "",
        f"rmcp executes {times('runtime Streamable, stateless JSON', 'rmcp stateless JSON')}× "
        "the instructions of this runtime per stateless JSON call, and "
        f"{times('runtime Streamable, session + SSE', 'rmcp stateful (session + SSE)')}× per "
        "call on a session with SSE answers.",
    ]
print("\n".join(out))
