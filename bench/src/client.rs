//! The load generator of `bench/run.sh`: keep-alive HTTP/1.1 connections on 127.0.0.1, each
//! sending MCP requests back to back for a fixed time, with latencies recorded per request.
//!
//! Usage: `bench-client <url>[,<url>…] <workload> <style> <connections> <seconds>`; with several
//! URLs (instances of one app sharing their sessions) each request goes to the next in turn.
//! - workload: `echo`, `status` (`get_status`, the article app's tool), `list`, `search` (a
//!   search over `tools10000-search`), `rest` (a plain
//!   `POST {"text": "hello"}`, for the REST rows), `handshake` (initialize → initialized → call → DELETE),
//!   `progress` (a call streaming 100 progress notifications), `idle` (open `connections`
//!   sessions and leave them open);
//! - style: `stateless` (no session), `session` (each connection initializes first), `modern`
//!   (2026-07-28: per-request `_meta` and headers).
//!
//! Prints one JSON line: requests, errors, requests/s, p50 and p99 latency in microseconds.

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

type HttpClient = Client<HttpConnector, Full<Bytes>>;

struct Target {
    urls: Vec<String>,
    turn: std::sync::atomic::AtomicUsize,
    style: String,
    client: HttpClient,
}

struct Answer {
    ok: bool,
    session: Option<String>,
    body: Bytes,
}

impl Target {
    /// The URL of the next request: the instances in turn.
    fn url(&self) -> &str {
        let i = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        &self.urls[i % self.urls.len()]
    }

    async fn post(&self, body: &Value, session: Option<&str>) -> Answer {
        let bytes = Bytes::from(serde_json::to_vec(body).unwrap());
        let mut req = hyper::Request::post(self.url())
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream");
        if self.style == "modern" {
            let method = body["method"].as_str().unwrap_or_default();
            req = req
                .header("mcp-protocol-version", "2026-07-28")
                .header("mcp-method", method);
            if let Some(name) = body["params"]["name"].as_str() {
                req = req.header("mcp-name", name);
            }
        } else {
            req = req.header("mcp-protocol-version", "2025-11-25");
        }
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        self.send(req.body(Full::new(bytes)).unwrap()).await
    }

    async fn send(&self, req: hyper::Request<Full<Bytes>>) -> Answer {
        match self.client.request(req).await {
            Ok(res) => {
                let ok = res.status().is_success();
                let session = res
                    .headers()
                    .get("mcp-session-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = res
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                Answer { ok, session, body }
            }
            Err(_) => Answer {
                ok: false,
                session: None,
                body: Bytes::new(),
            },
        }
    }

    fn request(&self, id: u64, method: &str, mut params: Value) -> Value {
        if self.style == "modern" {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            });
        }
        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
    }

    async fn open_session(&self) -> Option<String> {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}});
        let answer = self.post(&init, None).await;
        let session = answer.session?;
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.post(&initialized, Some(&session)).await;
        Some(session)
    }

    async fn delete(&self, session: &str) -> bool {
        let req = hyper::Request::delete(self.url())
            .header("mcp-session-id", session)
            .body(Full::new(Bytes::new()))
            .unwrap();
        self.send(req).await.ok
    }
}

fn contains(body: &[u8], needle: &[u8]) -> bool {
    body.windows(needle.len()).any(|w| w == needle)
}

fn count(body: &[u8], needle: &[u8]) -> usize {
    body.windows(needle.len()).filter(|w| *w == needle).count()
}

/// One operation of the workload; returns whether it succeeded.
async fn op(t: &Target, workload: &str, id: u64, session: Option<&str>) -> bool {
    match workload {
        "echo" => {
            let body = t.request(
                id,
                "tools/call",
                json!({"name": "echo", "arguments": {"text": "hello"}}),
            );
            let a = t.post(&body, session).await;
            a.ok && contains(&a.body, b"\"result\"")
        }
        "status" => {
            let body = t.request(
                id,
                "tools/call",
                json!({"name": "get_status", "arguments": {}}),
            );
            let a = t.post(&body, session).await;
            a.ok && contains(&a.body, b"All systems operational")
        }
        "list" => {
            let body = t.request(id, "tools/list", json!({}));
            let a = t.post(&body, session).await;
            a.ok && contains(&a.body, b"\"tools\"")
        }
        "handshake" => {
            let Some(s) = t.open_session().await else {
                return false;
            };
            let body = t.request(
                id,
                "tools/call",
                json!({"name": "echo", "arguments": {"text": "hello"}}),
            );
            let a = t.post(&body, Some(&s)).await;
            a.ok && contains(&a.body, b"\"result\"") && t.delete(&s).await
        }
        "progress" => {
            let body = t.request(
                id,
                "tools/call",
                json!({"name": "stream100", "arguments": {}, "_meta": {"progressToken": id}}),
            );
            let a = t.post(&body, session).await;
            a.ok && count(&a.body, b"notifications/progress") == 100
                && contains(&a.body, b"\"result\"")
        }
        // A search over a large catalog.
        "search" => {
            let body = t.request(
                id,
                "tools/call",
                json!({"name": "search_tools", "arguments": {"query": "refund for a customer invoice", "limit": 10}}),
            );
            let a = t.post(&body, session).await;
            a.ok && contains(&a.body, b"\"tools\"")
        }
        // A plain REST call: `POST {"text": "hello"}` to the URL, answered with JSON.
        "rest" => {
            let a = t.post(&json!({"text": "hello"}), None).await;
            a.ok && contains(&a.body, b"\"hello\"")
        }
        other => panic!("unknown workload {other}"),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, workload, style, conns, seconds] = &args[..] else {
        eprintln!("usage: bench-client <url> <workload> <style> <connections> <seconds>");
        std::process::exit(2);
    };
    let conns: usize = conns.parse().unwrap();
    let seconds: f64 = seconds.parse().unwrap();
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(conns * 2)
        .build(connector);
    let target = Arc::new(Target {
        urls: url.split(',').map(str::to_owned).collect(),
        turn: std::sync::atomic::AtomicUsize::new(0),
        style: style.clone(),
        client,
    });

    if workload == "idle" {
        let mut opened = 0;
        for _ in 0..conns {
            if target.open_session().await.is_some() {
                opened += 1;
            }
        }
        println!("{}", json!({"sessions": opened}));
        return;
    }

    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..conns {
        let t = target.clone();
        let workload = workload.clone();
        tasks.push(tokio::spawn(async move {
            let session = if t.style == "session" && workload != "handshake" {
                t.open_session().await
            } else {
                None
            };
            let mut latencies = Vec::with_capacity(100_000);
            let mut errors = 0u64;
            let mut id = (w as u64) << 32;
            while Instant::now() < deadline {
                id += 1;
                let start = Instant::now();
                let ok = op(&t, &workload, id, session.as_deref()).await;
                latencies.push(start.elapsed().as_micros() as u32);
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{}",
        json!({
            "requests": all.len(),
            "errors": errors,
            "rps": all.len() as f64 / elapsed,
            "p50_us": pct(0.50),
            "p99_us": pct(0.99),
        })
    );
}
