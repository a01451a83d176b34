//! The client's Streamable HTTP side: each request a POST whose answer is one JSON body or an
//! SSE stream (read until the answer to it, resumed with `Last-Event-ID` when it breaks
//! before), the session's id on every request after `initialize`, and the session's GET
//! stream for what the server sends outside requests.

use super::sse::Parser;
use super::{ClientError, Inner, RequestScope};
use serde_json::Value;
use std::sync::{Mutex, PoisonError, Weak};
use std::time::Duration;

/// Part of the error of a request whose session the server no longer knows (404): the client
/// opens a new session and sends the request again.
pub(crate) const SESSION_GONE: &str = "the server no longer knows this session";

pub(crate) struct HttpWire {
    url: String,
    /// The URL as errors name it: without credentials or query.
    shown: String,
    headers: Vec<(String, String)>,
    http: reqwest::Client,
    session: Mutex<Option<String>>,
    inner: Weak<Inner>,
    listening: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for HttpWire {
    fn drop(&mut self) {
        if let Some(task) = self
            .listening
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

impl HttpWire {
    pub(crate) fn new(url: String, headers: Vec<(String, String)>, inner: Weak<Inner>) -> Self {
        // No redirects: a server elsewhere would get the headers meant for this one.
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        let shown = shown_url(&url);
        Self {
            url,
            shown,
            headers,
            http,
            session: Mutex::new(None),
            inner,
            listening: Mutex::new(None),
        }
    }

    pub(crate) fn forget_session(&self) {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn session(&self) -> Option<String> {
        self.session
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn builder(&self, method: reqwest::Method, inner: &Inner) -> reqwest::RequestBuilder {
        let mut req = self
            .http
            .request(method, &self.url)
            .header("accept", "application/json, text/event-stream");
        if let Some(v) = inner.version() {
            req = req.header("mcp-protocol-version", v.as_str());
        }
        if let Some(s) = self.session() {
            req = req.header("mcp-session-id", s);
        }
        for (k, v) in &self.headers {
            req = req.header(k, v);
        }
        req
    }

    fn unreachable(&self, e: &reqwest::Error) -> ClientError {
        ClientError::Transport(format!(
            "the MCP server at {} cannot be reached: {}",
            self.shown,
            without_url(e)
        ))
    }

    /// POSTs a request and reads its answer (from the JSON body, or from the stream, where
    /// what comes before the answer goes to `scope`).
    pub(crate) async fn exchange(
        &self,
        id: i64,
        method: &str,
        message: &Value,
        scope: &RequestScope,
    ) -> Result<Value, ClientError> {
        let inner = self.inner.upgrade().ok_or(ClientError::Closed)?;
        let mut req = self
            .builder(reqwest::Method::POST, &inner)
            .header("content-type", "application/json");
        for (k, v) in &scope.headers {
            req = req.header(k, v);
        }
        if inner.stateless() {
            req = req.header("mcp-method", method);
            let name = match method {
                "tools/call" | "prompts/get" => message.pointer("/params/name"),
                "resources/read" => message.pointer("/params/uri"),
                _ => None,
            };
            if let Some(name) = name.and_then(Value::as_str) {
                req = req.header("mcp-name", header_text(name));
            }
        }
        let mut res = req
            .body(serde_json::to_vec(message).expect("messages serialize"))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if method == "initialize"
            && let Some(sid) = res
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
        {
            *self.session.lock().unwrap_or_else(PoisonError::into_inner) = Some(sid.to_owned());
        }
        let status = res.status();
        if status == reqwest::StatusCode::NOT_FOUND && self.session().is_some() {
            return Err(ClientError::Transport(format!(
                "{SESSION_GONE} (404 from {})",
                self.shown
            )));
        }
        let sse = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/event-stream"));
        if sse && status.is_success() {
            return self.read_stream(res, id, scope, &inner).await;
        }
        let body =
            crate::bounds::read_response(&mut res, inner.max_message(), "the server's answer")
                .await
                .map_err(ClientError::Transport)?;
        match serde_json::from_slice::<Value>(&body) {
            Ok(answer) if answer.get("id") == Some(&Value::from(id)) => Ok(answer),
            _ => Err(ClientError::Transport(format!(
                "the MCP server at {} answered HTTP {status}: {}",
                self.shown,
                crate::bounds::shown(&String::from_utf8_lossy(&body))
            ))),
        }
    }

    /// Reads an SSE answer until the answer to `id`; a stream that ends before it is resumed
    /// from its last event (a few times).
    async fn read_stream(
        &self,
        mut res: reqwest::Response,
        id: i64,
        scope: &RequestScope,
        inner: &std::sync::Arc<Inner>,
    ) -> Result<Value, ClientError> {
        let mut last_event: Option<String> = None;
        for resumed in 0..=3 {
            let mut parser = Parser::new(inner.max_message());
            loop {
                let chunk = match res.chunk().await {
                    Ok(Some(c)) => c,
                    Ok(None) | Err(_) => break,
                };
                for event in parser.push(&chunk).map_err(ClientError::Transport)? {
                    if event.id.is_some() {
                        last_event.clone_from(&event.id);
                    }
                    if event.data.is_empty() {
                        continue;
                    }
                    let Ok(message) = serde_json::from_str::<Value>(&event.data) else {
                        continue;
                    };
                    if message.get("method").is_none()
                        && message.get("id") == Some(&Value::from(id))
                    {
                        return Ok(message);
                    }
                    inner.incoming(message, Some(scope));
                }
            }
            let Some(from) = last_event.clone() else {
                break;
            };
            if resumed == 3 {
                break;
            }
            res = self
                .builder(reqwest::Method::GET, inner)
                .header("last-event-id", from)
                .send()
                .await
                .map_err(|e| self.unreachable(&e))?;
            if !res.status().is_success() {
                break;
            }
        }
        Err(ClientError::Transport(format!(
            "the MCP server at {} ended the stream of a request before answering it",
            self.shown
        )))
    }

    /// POSTs a notification or an answer (202 expected).
    pub(crate) async fn post_only(&self, message: &Value) -> Result<(), ClientError> {
        let inner = self.inner.upgrade().ok_or(ClientError::Closed)?;
        let res = self
            .builder(reqwest::Method::POST, &inner)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(message).expect("messages serialize"))
            .send()
            .await
            .map_err(|e| self.unreachable(&e))?;
        if res.status().is_success() {
            return Ok(());
        }
        Err(ClientError::Transport(format!(
            "the MCP server at {} answered HTTP {} to a notification",
            self.shown,
            res.status()
        )))
    }

    /// Opens the session's GET stream (once), for what the server sends outside requests;
    /// reopened from its last event when it breaks, while the client lives.
    pub(crate) fn listen(&self) {
        let mut listening = self
            .listening
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = listening.take() {
            task.abort();
        }
        let weak = self.inner.clone();
        let task = tokio::spawn(async move {
            let mut last_event: Option<String> = None;
            let mut failures = 0u32;
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let super::Wire::Http(wire) = &inner.wire else {
                    return;
                };
                let mut req = wire
                    .builder(reqwest::Method::GET, &inner)
                    .header("accept", "text/event-stream");
                if let Some(from) = &last_event {
                    req = req.header("last-event-id", from);
                }
                let max = inner.max_message();
                let generation = inner.client().generation();
                drop(inner);
                match req.send().await {
                    Ok(res) if res.status().is_success() => {
                        failures = 0;
                        let mut res = res;
                        let mut parser = Parser::new(max);
                        while let Ok(Some(chunk)) = res.chunk().await {
                            let Ok(events) = parser.push(&chunk) else {
                                break;
                            };
                            let Some(inner) = weak.upgrade() else { return };
                            for event in events {
                                if event.id.is_some() {
                                    last_event = event.id;
                                }
                                if let Ok(message) = serde_json::from_str::<Value>(&event.data) {
                                    inner.incoming(message, None);
                                }
                            }
                        }
                    }
                    // The server lost the session (it restarted): open a new one, which
                    // opens its own stream.
                    // (In a task of its own: the new session's stream replaces this task.)
                    Ok(res) if res.status() == reqwest::StatusCode::NOT_FOUND => {
                        if let Some(inner) = weak.upgrade() {
                            let client = inner.client();
                            tokio::spawn(async move {
                                let _ = client.renew(generation).await;
                            });
                        }
                        return;
                    }
                    // The server has no stream for this session (405).
                    Ok(res) if res.status().is_client_error() => return,
                    _ => failures += 1,
                }
                // Reopen after a pause that grows while the server stays away (at most 30 s).
                let pause = Duration::from_millis(250 * 2u64.pow(failures.min(7)));
                tokio::time::sleep(pause.min(Duration::from_secs(30))).await;
            }
        });
        *listening = Some(task.abort_handle());
    }
}

/// `text` as a header value: as it is when it is visible ASCII, else in the `=?base64?…?=`
/// form the 2026-07-28 revision gives such values.
fn header_text(text: &str) -> String {
    if !text.is_empty() && text.bytes().all(|b| (b' '..=b'~').contains(&b)) && text.trim() == text {
        return text.to_owned();
    }
    use base64::Engine as _;
    format!(
        "=?base64?{}?=",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

/// `url` as errors show it: its scheme, host, port and path, without user, password or
/// query (which may hold credentials).
fn shown_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path()
        ),
        Err(_) => "the configured URL".to_owned(),
    }
}

/// A reqwest error without the URL it carries.
fn without_url(e: &reqwest::Error) -> String {
    let mut e =
        std::error::Error::source(e).map_or_else(|| e.to_string(), |inner| inner.to_string());
    if e.is_empty() {
        e = "no answer".to_owned();
    }
    e
}
