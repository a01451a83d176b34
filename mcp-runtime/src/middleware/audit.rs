//! An audit event per request.

use futures_util::future::BoxFuture;
use tower::Layer;

use super::{Around, AroundLayer, McpRequest, McpResponse, McpService, Next};
use crate::protocol::STATELESS_METHODS;

/// One `tracing` event per request (target `mcp_runtime::audit`, level `INFO`), after it was
/// answered: the server, the method, the tool, prompt or resource it named, the caller's
/// subject, the session, the transport, the outcome (`ok`, `tool_error`, `pending` for an
/// input-required round or a task, `cancelled`, or the JSON-RPC error code) and the duration
/// in microseconds (`duration_us`). Never a token; argument values only with
/// [`Audit::with_arguments`].
///
/// Every value is recorded as what it is (text as `&str`, the duration as `u64`), so a
/// subscriber writing JSON keeps their types.
///
/// Applied to every request by default; `layer_on(Select::tool_calls(), Audit::new())` audits
/// tool calls only.
#[derive(Clone, Debug, Default)]
pub struct Audit {
    arguments: bool,
}

impl Audit {
    /// An audit of every request the layer sees.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the request's arguments (as JSON) to each event: only for tools whose arguments
    /// hold nothing secret.
    #[must_use]
    pub fn with_arguments(mut self) -> Self {
        self.arguments = true;
        self
    }
}

impl Layer<McpService> for Audit {
    type Service = McpService;

    fn layer(&self, inner: McpService) -> Self::Service {
        AroundLayer(self.clone()).layer(inner)
    }
}

impl Around for Audit {
    fn around(&self, req: McpRequest, next: Next) -> BoxFuture<'static, McpResponse> {
        // Filtered out (`RUST_LOG=…,mcp_runtime::audit=off`): nothing to gather.
        if !tracing::enabled!(target: "mcp_runtime::audit", tracing::Level::INFO) {
            return next.run(req);
        }
        // Kept past the request without copies where it can be: shared handles for the server,
        // the caller and the session; the method as the protocol's own text when it is one;
        // the name inline when short.
        let sender = req.sender();
        let method = match STATELESS_METHODS.iter().find(|m| **m == req.method()) {
            Some(known) => Kept::Static(known),
            None => Kept::shown(req.method()),
        };
        let name = req.name().map(Kept::shown);
        let transport = req.transport();
        let arguments = self
            .arguments
            .then(|| {
                req.arguments()
                    .map(|a| serde_json::Value::Object(a.clone()).to_string())
            })
            .flatten();
        Box::pin(async move {
            let started = std::time::Instant::now();
            let response = next.run(req).await;
            let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            tracing::info!(
                target: "mcp_runtime::audit",
                // A field, not a format string: subscribers record a `&str` without the
                // formatting machinery (`{:?}` of `format_args!`), and print it the same.
                message = "mcp request",
                server = sender.server_name(),
                method = method.as_str(),
                name = name.as_ref().map(Kept::as_str),
                subject = sender.subject(),
                session = sender.session_id(),
                transport,
                outcome = response.kind().as_ref(),
                duration_us,
                arguments,
            );
            response
        })
    }
}

/// A short text kept past the request: the protocol's own, inline when it fits (no
/// allocation: tool names and methods mostly do), else on the heap.
enum Kept {
    Static(&'static str),
    Inline { len: u8, bytes: [u8; Kept::INLINE] },
    Heap(String),
}

impl Kept {
    const INLINE: usize = 54;

    /// A client's text, as a log line shows it (cut short when long).
    fn shown(text: &str) -> Self {
        let shown = crate::bounds::shown(text);
        match shown.whole() {
            Some(whole) => Self::new(whole),
            None => Self::Heap(shown.to_string()),
        }
    }

    fn new(text: &str) -> Self {
        if text.len() > Self::INLINE {
            return Self::Heap(text.to_owned());
        }
        let mut bytes = [0; Self::INLINE];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Self::Inline {
            len: text.len() as u8,
            bytes,
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Self::Static(s) => s,
            // Copied whole from a `&str`, so a whole UTF-8 text.
            Self::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            Self::Heap(s) => s,
        }
    }
}
