//! Logs to stderr; and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, traces and metrics to an
//! OpenTelemetry collector over OTLP/HTTP (protobuf), with the official OpenTelemetry crates:
//! the span of every MCP request (the runtime's `mcp.request`, named after the operation, e.g.
//! `tools/call get_status`, and continuing the client's trace when it sends a `traceparent`),
//! the tools' own spans beneath it, and the `mcp.server.operation.duration` histogram.
//!
//! The exporters read the standard variables: `OTEL_EXPORTER_OTLP_ENDPOINT` (e.g.
//! `http://localhost:4318`), `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME` (default
//! `example-article`), `OTEL_BSP_SCHEDULE_DELAY`, `OTEL_METRIC_EXPORT_INTERVAL`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{MetricExporter, Protocol, SpanExporter, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// What must be flushed before the process exits.
pub struct Telemetry {
    providers: Option<(SdkTracerProvider, SdkMeterProvider)>,
    /// The log writer's thread: the lines it still holds are written when this drops.
    _logs: crate::log_line::Flusher,
}

impl Telemetry {
    /// Sends what is still buffered and stops the exporters.
    pub fn shutdown(self) {
        if let Some((traces, metrics)) = self.providers {
            if let Err(e) = traces.shutdown() {
                eprintln!("exporting traces at exit: {e}");
            }
            if let Err(e) = metrics.shutdown() {
                eprintln!("exporting metrics at exit: {e}");
            }
        }
    }
}

/// Installs the process's subscriber: logs (`RUST_LOG`, default `info,tower_http=warn`) on
/// stderr (with `--stdio`, stdout carries protocol messages only), and the OTLP exporters when
/// an endpoint is configured.
pub fn init() -> Result<Telemetry, Box<dyn std::error::Error>> {
    // Lines are formatted where they happen and written by a thread of their own every few
    // milliseconds (`log_line::Batched`): a request never waits on a write to stderr nor wakes
    // another thread, and nothing is dropped.
    let (writer, guard) = crate::log_line::Batched::new(std::io::stderr())?;
    let filter =
        || EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,tower_http=warn".into());
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_none() {
        // The log alone: its filter is the subscriber's, so each callsite is told once whether
        // it logs (a filter of one layer among several is asked again at every event).
        tracing_subscriber::registry()
            .with(filter())
            .with(crate::log_line::layer(writer))
            .init();
        return Ok(Telemetry {
            providers: None,
            _logs: guard,
        });
    }
    // One plain line per event, written directly (`log_line`): every call writes an audit line.
    let logs = crate::log_line::layer(writer).with_filter(filter());
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "example-article".into());
    let resource = Resource::builder().with_service_name(service).build();
    let traces = SdkTracerProvider::builder()
        .with_batch_exporter(
            SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .build()?,
        )
        .with_resource(resource.clone())
        .build();
    let metrics = SdkMeterProvider::builder()
        .with_periodic_exporter(
            MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .build()?,
        )
        .with_resource(resource)
        .build();
    // Spans at info and above, and the runtime's request spans (at debug, under
    // `mcp_runtime`); the operation durations are debug events under `mcp_runtime::metrics`.
    // Both are enabled for these layers only, so the log on stderr pays nothing per request.
    let spans = tracing_opentelemetry::layer()
        .with_tracer(traces.tracer("example-article"))
        .with_filter(
            Targets::new()
                .with_default(tracing::Level::INFO)
                .with_target("mcp_runtime", tracing::Level::DEBUG),
        );
    let durations = tracing_opentelemetry::MetricsLayer::new(metrics.clone())
        .with_filter(Targets::new().with_target("mcp_runtime::metrics", tracing::Level::DEBUG));
    tracing_subscriber::registry()
        .with(logs)
        .with(spans)
        .with(durations)
        .init();
    Ok(Telemetry {
        providers: Some((traces, metrics)),
        _logs: guard,
    })
}
