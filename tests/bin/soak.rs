//! A soak run against a running `example-article` (see `tests/soak.sh`): mixed requests of every
//! era (sessions opened and dropped, streams abandoned, bad input), each checked against the
//! status it must get, with the server's RSS read along the way; then many SSE streams held at
//! once, and their memory. Prints a report; exits non-zero on any unexpected answer.
//!
//! `soak <base-url> <server-pid> <requests> <streams> [concurrency]`

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What went wrong, counted, with the first few kept to print.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    refused_as_expected: AtomicU64,
    unexpected: AtomicU64,
    samples: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn check(&self, what: &str, got: Result<StatusCode, String>, want: &[u16]) -> bool {
        self.requests.fetch_add(1, Ordering::Relaxed);
        match got {
            Ok(s) if want.contains(&s.as_u16()) => {
                if s.as_u16() >= 400 {
                    self.refused_as_expected.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
            other => {
                self.unexpected.fetch_add(1, Ordering::Relaxed);
                let mut samples = self.samples.lock().unwrap();
                if samples.len() < 20 {
                    samples.push(format!("{what}: got {other:?}, expected {want:?}"));
                }
                false
            }
        }
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

const V26: &str = "2026-07-28";
const ERAS: [&str; 4] = ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

fn modern_call(id: u64, name: &str, args: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
    "name": name, "arguments": args,
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": V26,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "soak", "version": "0"}
    }}})
}

struct Soak {
    base: String,
    http: Client,
    tally: Tally,
}

impl Soak {
    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .header("accept", "application/json, text/event-stream")
            .json(body)
    }

    async fn status(r: reqwest::RequestBuilder) -> Result<Response, String> {
        r.send().await.map_err(|e| format!("{e:?}"))
    }

    /// Reads a whole answer; its status.
    async fn whole(r: reqwest::RequestBuilder) -> Result<StatusCode, String> {
        let res = Self::status(r).await?;
        let status = res.status();
        res.bytes().await.map_err(|e| format!("{e:?}"))?;
        Ok(status)
    }

    /// One 2026-07-28 stateless call.
    async fn modern(&self, n: u64) {
        let body = modern_call(n, "get_status", json!({}));
        let r = self
            .post("/mcp", &body)
            .header("mcp-protocol-version", V26)
            .header("mcp-method", "tools/call")
            .header("mcp-name", "get_status");
        self.tally.check("2026 call", Self::whole(r).await, &[200]);
    }

    /// A 2026 call on the authenticated mount, with the right key or a wrong one.
    async fn keyed(&self, n: u64) {
        let good = !n.is_multiple_of(4);
        let body = modern_call(n, "list_projects", json!({"limit": 5}));
        let r = self
            .post("/mcp/crm", &body)
            .header("mcp-protocol-version", V26)
            .header("mcp-method", "tools/call")
            .header("mcp-name", "list_projects")
            .header("x-api-key", if good { "demo-key" } else { "wrong-key" });
        let want: &[u16] = if good { &[200] } else { &[401] };
        self.tally.check("keyed call", Self::whole(r).await, want);
    }

    /// A session of one of the handshake eras: opened, used, then ended or abandoned; sometimes
    /// with its GET stream opened and dropped unread, or a call's SSE answer dropped half-read.
    async fn session(&self, n: u64) {
        let era = ERAS[(n % 4) as usize];
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": era, "capabilities": {}, "clientInfo": {"name": "soak", "version": "0"}}});
        let res = match Self::status(self.post("/mcp", &init)).await {
            Ok(r) => r,
            Err(e) => {
                self.tally.check("initialize", Err(e), &[200]);
                return;
            }
        };
        let id = res
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = res.status();
        let _ = res.bytes().await;
        if !self.tally.check("initialize", Ok(status), &[200]) {
            return;
        }
        let Some(id) = id else {
            self.tally
                .check("initialize without a session id", Err("none".into()), &[]);
            return;
        };
        let in_session = |body: &Value| {
            self.post("/mcp", body)
                .header("mcp-session-id", &id)
                .header("mcp-protocol-version", era)
        };
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        self.tally.check(
            "initialized",
            Self::whole(in_session(&initialized)).await,
            &[202],
        );
        let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                          "params": {"name": "get_status", "arguments": {}}});
        match n % 5 {
            // A call whose answer is read only up to its headers, then dropped.
            0 => {
                let r = Self::status(in_session(&call).header("accept", "text/event-stream"));
                let got = r.await.map(|r| r.status());
                self.tally.check("call dropped unread", got, &[200]);
            }
            // The GET stream, opened and abandoned.
            1 if era != "2024-11-05" => {
                let r = self
                    .http
                    .get(format!("{}/mcp", self.base))
                    .header("accept", "text/event-stream")
                    .header("mcp-session-id", &id)
                    .header("mcp-protocol-version", era);
                let got = Self::status(r).await.map(|r| r.status());
                self.tally.check("GET stream abandoned", got, &[200]);
            }
            _ => {
                self.tally
                    .check("call", Self::whole(in_session(&call)).await, &[200]);
            }
        }
        let list = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
        self.tally
            .check("tools/list", Self::whole(in_session(&list)).await, &[200]);
        if n.is_multiple_of(2) {
            let r = self
                .http
                .delete(format!("{}/mcp", self.base))
                .header("mcp-session-id", &id)
                .header("mcp-protocol-version", era);
            self.tally
                .check("DELETE", Self::whole(r).await, &[200, 204]);
        }
    }

    /// The legacy HTTP+SSE transport: the stream, its endpoint, one message, then abandoned.
    async fn legacy(&self, n: u64) {
        let r = self
            .http
            .get(format!("{}/mcp/sse", self.base))
            .header("accept", "text/event-stream");
        let mut res = match Self::status(r).await {
            Ok(r) => r,
            Err(e) => {
                self.tally.check("legacy GET", Err(e), &[200]);
                return;
            }
        };
        if !self.tally.check("legacy GET", Ok(res.status()), &[200]) {
            return;
        }
        let mut text = String::new();
        while !text.contains("\n\n") {
            match tokio::time::timeout(Duration::from_secs(10), res.chunk()).await {
                Ok(Ok(Some(c))) => text.push_str(&String::from_utf8_lossy(&c)),
                other => {
                    self.tally
                        .check("legacy endpoint event", Err(format!("{other:?}")), &[200]);
                    return;
                }
            }
        }
        let Some(endpoint) = text
            .lines()
            .find_map(|l| l.strip_prefix("data:"))
            .map(str::trim)
        else {
            self.tally
                .check("legacy endpoint event", Err(text.clone()), &[200]);
            return;
        };
        let init = json!({"jsonrpc": "2.0", "id": n, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05", "capabilities": {}, "clientInfo": {"name": "soak", "version": "0"}}});
        let url = if endpoint.starts_with('/') {
            format!("{}{endpoint}", self.base)
        } else {
            endpoint.to_owned()
        };
        let r = self.http.post(url).json(&init);
        self.tally
            .check("legacy POST", Self::whole(r).await, &[202]);
        drop(res);
    }

    /// Bad input of many kinds, each with the status it must get.
    async fn bad(&self, n: u64) {
        let url = format!("{}/mcp", self.base);
        let (what, r, want): (&str, reqwest::RequestBuilder, &[u16]) = match n % 9 {
            0 => (
                "not JSON",
                self.http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body("{\"jsonrpc\": \"2.0\", \"id\": 1, \"method\""),
                &[400],
            ),
            1 => (
                "wrong content type",
                self.http
                    .post(&url)
                    .header("content-type", "text/plain")
                    .header("accept", "application/json, text/event-stream")
                    .body("{}"),
                &[415],
            ),
            2 => (
                "unknown session",
                self.post(
                    "/mcp",
                    &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
                )
                .header("mcp-session-id", "0123456789abcdef0123456789abcdef")
                .header("mcp-protocol-version", "2025-11-25"),
                &[404],
            ),
            3 => (
                "unknown protocol version",
                self.post(
                    "/mcp",
                    &json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
                )
                .header("mcp-protocol-version", "1999-01-01"),
                &[400],
            ),
            4 => (
                "2026 batch",
                self.post("/mcp", &json!([modern_call(1, "get_status", json!({}))]))
                    .header("mcp-protocol-version", V26),
                &[400],
            ),
            5 => (
                "Accept without JSON or SSE",
                self.http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("accept", "text/html")
                    .body(modern_call(1, "get_status", json!({})).to_string())
                    .header("mcp-protocol-version", V26)
                    .header("mcp-method", "tools/call")
                    .header("mcp-name", "get_status"),
                &[406],
            ),
            6 => (
                "header mismatch",
                self.post("/mcp", &modern_call(1, "get_status", json!({})))
                    .header("mcp-protocol-version", V26)
                    .header("mcp-method", "tools/list"),
                &[400],
            ),
            7 => (
                "foreign origin",
                self.post("/mcp", &modern_call(1, "get_status", json!({})))
                    .header("origin", "https://evil.example")
                    .header("mcp-protocol-version", V26),
                &[403],
            ),
            _ => (
                "GET without a session",
                self.http
                    .get(&url)
                    .header("accept", "text/event-stream")
                    .header("mcp-protocol-version", "2025-11-25"),
                &[400],
            ),
        };
        self.tally.check(what, Self::whole(r).await, want);
    }

    async fn one(&self, n: u64) {
        match n % 20 {
            0..=7 => self.modern(n).await,
            8..=9 => self.keyed(n).await,
            10..=14 => self.session(n).await,
            15 => self.legacy(n).await,
            _ => self.bad(n).await,
        }
    }
}

/// Opens one session with `http` (bound to its own loopback address) and its GET stream;
/// returns the open response.
async fn open_stream(base: &str, http: &Client) -> Result<Response, String> {
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "soak", "version": "0"}}});
    let res = http
        .post(format!("{base}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&init)
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    if res.status() != 200 {
        return Err(format!("initialize: {}", res.status()));
    }
    let id = res.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let _ = res.bytes().await;
    let mut res = http
        .get(format!("{base}/mcp"))
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .map_err(|e| format!("{e:?}"))?;
    if res.status() != 200 {
        return Err(format!("GET: {}", res.status()));
    }
    // The priming event: the stream is open on the server.
    match tokio::time::timeout(Duration::from_secs(30), res.chunk()).await {
        Ok(Ok(Some(_))) => Ok(res),
        other => Err(format!("no priming event: {other:?}")),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: soak <base-url> <server-pid> <requests> <streams> [concurrency]");
        std::process::exit(2);
    }
    let base = args[1].trim_end_matches('/').to_owned();
    let pid: u32 = args[2].parse().expect("pid");
    let total: u64 = args[3].parse().expect("requests");
    let streams: usize = args[4].parse().expect("streams");
    let concurrency: u64 = args.get(5).map_or(64, |c| c.parse().expect("concurrency"));

    let soak = Arc::new(Soak {
        base: base.clone(),
        http: Client::builder()
            .http1_only()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        tally: Tally::default(),
    });
    let rss_start = rss_kib(pid);
    println!("server RSS at start: {}", mib(rss_start));
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let rss_marks = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::new()));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (soak, next, marks) = (soak.clone(), next.clone(), rss_marks.clone());
        workers.push(tokio::spawn(async move {
            let tenth = (total / 10).max(1);
            loop {
                let before = soak.tally.requests.load(Ordering::Relaxed);
                if before >= total {
                    return;
                }
                soak.one(next.fetch_add(1, Ordering::Relaxed)).await;
                // Each tenth of the run: the server's RSS.
                let after = soak.tally.requests.load(Ordering::Relaxed);
                if after / tenth > before / tenth {
                    let mark = after / tenth * tenth;
                    marks
                        .lock()
                        .unwrap()
                        .entry(mark)
                        .or_insert_with(|| rss_kib(pid));
                }
            }
        }));
    }
    for w in workers {
        w.await.unwrap();
    }
    let elapsed = started.elapsed();
    let t = &soak.tally;
    let requests = t.requests.load(Ordering::Relaxed);
    println!(
        "{requests} requests in {:.1} s ({:.0}/s), {} refused as they must be, {} unexpected",
        elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
        t.refused_as_expected.load(Ordering::Relaxed),
        t.unexpected.load(Ordering::Relaxed),
    );
    for (n, rss) in rss_marks.lock().unwrap().iter() {
        println!("  server RSS after {n:>8} requests: {}", mib(*rss));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_end = rss_kib(pid);
    println!("server RSS at end: {}", mib(rss_end));

    // Streams held at once: sessions from several loopback addresses (one client may hold at
    // most 1,000 sessions), each with its GET stream open.
    let per_address = 1000;
    let clients: Vec<Client> = (0..streams.div_ceil(per_address))
        .map(|i| {
            Client::builder()
                .http1_only()
                .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1 + i as u8)))
                .timeout(Duration::from_secs(3600))
                .build()
                .unwrap()
        })
        .collect();
    let mut failed = Vec::new();
    // Twice: the second round's sessions replace the first's (idle once their streams closed),
    // so memory must be reused, not grow again.
    for round in 1..=2 {
        let before = rss_kib(pid);
        let opened = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let gate = Arc::new(tokio::sync::Semaphore::new(256));
        for i in 0..streams {
            let (base, http, gate) = (base.clone(), clients[i / per_address].clone(), gate.clone());
            tasks.spawn(async move {
                let permit = gate.acquire_owned().await.unwrap();
                let r = open_stream(&base, &http).await;
                drop(permit);
                r
            });
        }
        let mut open = Vec::new();
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                Ok(res) => open.push(res),
                Err(e) => failed.push(e),
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let held = rss_kib(pid);
        println!(
            "round {round}: {} SSE streams (session + GET stream each) opened in {:.1} s, {} failed; server RSS {} -> {}: {:.1} KiB per stream",
            open.len(),
            opened.elapsed().as_secs_f64(),
            failed.len(),
            mib(before),
            mib(held),
            held.saturating_sub(before) as f64 / open.len().max(1) as f64,
        );
        drop(open);
        tokio::time::sleep(Duration::from_secs(3)).await;
        println!(
            "round {round}: server RSS after the streams closed: {}",
            mib(rss_kib(pid))
        );
    }
    for e in failed.iter().take(5) {
        println!("  failed: {e}");
    }

    let samples = t.samples.lock().unwrap();
    for s in samples.iter() {
        println!("  unexpected: {s}");
    }
    if t.unexpected.load(Ordering::Relaxed) > 0 || !failed.is_empty() {
        std::process::exit(1);
    }
}
