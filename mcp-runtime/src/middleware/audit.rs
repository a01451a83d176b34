//! An audit event per request.

use futures_util::future::BoxFuture;
use tower::Layer;

use super::{Around, AroundLayer, McpRequest, McpResponse, McpService, Next};

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
        let server = req.server_name().to_owned();
        let method = req.method().to_owned();
        let name = req.name().map(|n| crate::bounds::shown(n).owned());
        let subject = req.principal().map(|p| p.subject.clone());
        let session = req.session_id().map(str::to_owned);
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
                server,
                method,
                name,
                subject,
                session,
                transport,
                outcome = response.kind().as_ref(),
                duration_us,
                arguments,
                "mcp request"
            );
            response
        })
    }
}
