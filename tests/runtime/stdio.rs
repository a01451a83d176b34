//! The stdio transport, in-process over pipes: line framing, bad input, limits, notifications,
//! cancellation, questions to the client, the principal, and the end of the input.

use crate::fixtures::Counter;
use mcp_runtime::{McpServer, auth::Principal, stdio::StdioOptions};
use mcp_tests::assert_valid;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

/// A server on a pair of pipes; returns the client's ends and the server's task.
fn start(
    domain: &str,
    options: StdioOptions,
) -> (
    DuplexStream,
    tokio::io::Lines<BufReader<DuplexStream>>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let server = McpServer::new("Stdio")
        .domain(domain)
        .state(Counter::default())
        .build()
        .unwrap();
    let (client_in, server_in) = tokio::io::duplex(1 << 16);
    let (server_out, client_out) = tokio::io::duplex(1 << 16);
    let task = tokio::spawn(async move { server.serve_io(server_in, server_out, options).await });
    (client_in, BufReader::new(client_out).lines(), task)
}

async fn send(w: &mut DuplexStream, msg: &Value) {
    w.write_all(format!("{msg}\n").as_bytes()).await.unwrap();
}

/// The next line, as JSON (every line written is one JSON-RPC message).
async fn next(r: &mut tokio::io::Lines<BufReader<DuplexStream>>) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(5), r.next_line())
        .await
        .expect("a line within 5 s")
        .unwrap()
        .expect("the output is open");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {line}"))
}

fn init(caps: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": caps, "clientInfo": {"name": "t", "version": "0"}}})
}

#[tokio::test]
async fn requests_notifications_bad_input_and_the_end_of_input() {
    let (mut w, mut r, task) = start("fx", StdioOptions::default());
    send(&mut w, &init(json!({}))).await;
    let init = next(&mut r).await;
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(init["result"]["capabilities"]["logging"], json!({}));
    // Not JSON: -32700, and the server goes on.
    w.write_all(b"{not json\n\n").await.unwrap();
    let e = next(&mut r).await;
    assert_eq!(e["error"]["code"], -32700);
    assert_valid("2025-11-25", "JSONRPCErrorResponse", &e);
    // Logs at the level asked for, progress, then the result.
    send(&mut w, &json!({"jsonrpc": "2.0", "id": 1, "method": "logging/setLevel", "params": {"level": "info"}})).await;
    assert_eq!(next(&mut r).await["result"], json!({}));
    send(
        &mut w,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "work", "arguments": {"steps": 2}, "_meta": {"progressToken": "p"}}}),
    )
    .await;
    let mut methods = Vec::new();
    let result = loop {
        let m = next(&mut r).await;
        if m.get("id").is_some() {
            break m;
        }
        methods.push(m["method"].as_str().unwrap().to_owned());
    };
    assert_eq!(
        methods,
        [
            "notifications/message",
            "notifications/progress",
            "notifications/message",
            "notifications/progress"
        ]
    );
    assert_eq!(result["result"]["content"][0]["text"], "worked 2 steps");
    // A tool that panics: an error result, and nothing but messages on the output.
    send(&mut w, &json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "explode", "arguments": {}}})).await;
    assert_eq!(next(&mut r).await["result"]["isError"], true);
    // Cancelled: no response; the next request is answered.
    send(
        &mut w,
        &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
        "name": "wait_cancel", "arguments": {"tag": "stdio-cancel", "millis": 10000}}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    send(
        &mut w,
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 4}}),
    )
    .await;
    send(
        &mut w,
        &json!({"jsonrpc": "2.0", "id": 5, "method": "ping"}),
    )
    .await;
    assert_eq!(next(&mut r).await["id"], 5);
    // The tool sees the cancellation (within 5 s, however busy the machine is).
    let mut seen = false;
    for _ in 0..100 {
        if crate::fixtures::was_cancelled("stdio-cancel") {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen, "the call was cancelled");
    // The end of the input ends the server after the calls in flight.
    send(&mut w, &json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "slow", "arguments": {"millis": 100}}})).await;
    drop(w);
    let last = next(&mut r).await;
    assert_eq!(last["id"], 6, "the call in flight finished: {last}");
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the server stops")
        .unwrap()
        .unwrap();
    assert!(
        r.next_line().await.unwrap().is_none(),
        "the output is closed"
    );
}

#[tokio::test]
async fn a_line_over_the_limit_is_refused_without_being_kept() {
    let (mut w, mut r, _task) = start("fx", StdioOptions::default().max_line_bytes(1024));
    // 256 KiB in one line: refused, and the next message is served.
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"echo\",\"arguments\":{{\"text\":\"{}\"}}}}}}\n",
        "x".repeat(256 * 1024)
    );
    w.write_all(big.as_bytes()).await.unwrap();
    let e = next(&mut r).await;
    assert_eq!(e["error"]["code"], -32600);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over the limit of 1024 bytes")
    );
    send(&mut w, &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "ok"}}})).await;
    assert_eq!(next(&mut r).await["result"]["content"][0]["text"], "ok");
}

#[tokio::test]
async fn the_end_of_input_cancels_calls_past_the_grace() {
    let (mut w, mut r, task) = start(
        "fx",
        StdioOptions::default().shutdown_grace(Duration::from_millis(100)),
    );
    send(
        &mut w,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "wait_cancel", "arguments": {"tag": "stdio-grace", "millis": 30000}}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(w);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the server stops within the grace")
        .unwrap()
        .unwrap();
    assert!(
        r.next_line().await.unwrap().is_none(),
        "no answer for a cancelled call"
    );
}

#[tokio::test]
async fn a_bounded_number_of_requests_run_at_once() {
    let (mut w, mut r, _task) = start("fx", StdioOptions::default().max_requests(2));
    let wait = |id: i64| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "wait_cancel", "arguments": {"tag": format!("stdio-limit-{id}"), "millis": 30000}}})
    };
    send(&mut w, &wait(1)).await;
    send(&mut w, &wait(2)).await;
    // The third is answered at once, naming the limit; the two others go on.
    send(&mut w, &wait(3)).await;
    let refused = next(&mut r).await;
    assert_eq!(refused["id"], 3);
    assert_eq!(refused["error"]["code"], -32000);
    assert_eq!(
        refused["error"]["message"],
        "this connection already has 2 requests running; wait for one to finish"
    );
    // Once one ends (here, cancelled by the client), there is room again.
    send(
        &mut w,
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
    )
    .await;
    send(
        &mut w,
        &json!({"jsonrpc": "2.0", "id": 4, "method": "ping"}),
    )
    .await;
    let pong = next(&mut r).await;
    assert_eq!(pong["id"], 4, "{pong}");
    assert_eq!(pong["result"], json!({}));

    // An id still running is refused, and the running request keeps it: its cancellation
    // still reaches it.
    send(
        &mut w,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}),
    )
    .await;
    let refused = next(&mut r).await;
    assert_eq!(refused["id"], 2);
    assert_eq!(refused["error"]["code"], -32600, "{refused}");
    send(
        &mut w,
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}}),
    )
    .await;
    for _ in 0..200 {
        if crate::fixtures::was_cancelled("stdio-limit-2") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(crate::fixtures::was_cancelled("stdio-limit-2"));
}

#[tokio::test]
async fn questions_to_the_client_and_the_principal() {
    let (mut w, mut r, _task) = start(
        "ask",
        StdioOptions::default().principal(Principal {
            subject: "local-user".into(),
            ..Principal::default()
        }),
    );
    send(&mut w, &init(json!({"elicitation": {}}))).await;
    next(&mut r).await;
    send(&mut w, &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "ask_contact", "arguments": {}}})).await;
    let q = next(&mut r).await;
    assert_eq!(q["method"], "elicitation/create");
    assert_valid("2025-11-25", "ElicitRequest", &q);
    send(
        &mut w,
        &json!({"jsonrpc": "2.0", "id": q["id"], "result": {"action": "accept",
        "content": {"name": "Ada", "tickets": 2}}}),
    )
    .await;
    let result = next(&mut r).await;
    assert_eq!(
        result["result"]["content"][0]["text"],
        "accepted Ada with 2 tickets, news=false"
    );

    // The principal given to the transport is the caller tools see.
    let (mut w, mut r, _task) = start(
        "fx",
        StdioOptions::default().principal(Principal {
            subject: "local-user".into(),
            scopes: vec!["fx".into()],
            ..Principal::default()
        }),
    );
    send(&mut w, &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "principal_info", "arguments": {}}})).await;
    let who = next(&mut r).await;
    assert_eq!(
        who["result"]["content"][0]["text"],
        "subject=local-user scopes=fx"
    );
    // No headers on stdio: tools see none, not an error.
    send(&mut w, &json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "whoami", "arguments": {}}})).await;
    let who = next(&mut r).await;
    assert_eq!(
        who["result"]["content"][0]["text"],
        "user=none authorization_visible=false authorization_all=false uri="
    );
}

/// A real process: its tool logs and panics; stdout still carries JSON-RPC only, the call is
/// answered with an error, the panic is on stderr, and the server goes on.
#[test]
fn a_panicking_tool_in_a_real_process_leaves_stdout_clean() {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_stdio-panic"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut lines: Vec<Value> = Vec::new();
    let mut read_answer = |lines: &mut Vec<Value>| {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        lines.push(v);
    };
    // As a client does: each step after the answer to the one before.
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}});
    writeln!(stdin, "{init}").unwrap();
    read_answer(&mut lines);
    writeln!(
        stdin,
        "{}",
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
    )
    .unwrap();
    writeln!(
        stdin,
        "{}",
        json!({"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel", "params": {"level": "debug"}})
    )
    .unwrap();
    read_answer(&mut lines);
    for msg in [
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "log_then_panic", "arguments": {}}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "ping"}),
    ] {
        writeln!(stdin, "{msg}").unwrap();
    }
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    for l in rest.lines() {
        lines.push(serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let by_id = |id: i64| lines.iter().find(|m| m["id"] == id).unwrap();
    assert!(
        lines
            .iter()
            .any(|m| m["method"] == "notifications/message"
                && m["params"]["data"] == "about to fail"),
        "{lines:?}"
    );
    let failed = by_id(3);
    assert!(
        failed["result"]["isError"] == true || failed.get("error").is_some(),
        "{failed}"
    );
    assert_eq!(by_id(4)["result"], json!({}), "the server went on");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the tool failed on purpose"), "{stderr}");
    assert!(stderr.contains("about to panic"), "{stderr}");
}
