//! Spans of MCP operations, after the OpenTelemetry conventions for MCP: one per request, its
//! name and fields, the tool's own spans as its children, and the error type of a failure.

use mcp_runtime::McpServer;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

/// A span as recorded: its name, fields, and its parent's name.
#[derive(Clone, Debug, Default)]
struct Recorded {
    name: String,
    fields: HashMap<String, String>,
    parent: Option<String>,
}

#[derive(Clone, Default)]
struct Spans(Arc<Mutex<Vec<(u64, Recorded)>>>);

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.to_string());
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S> for Spans {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut r = Recorded {
            name: attrs.metadata().name().to_owned(),
            ..Recorded::default()
        };
        attrs.record(&mut Fields(&mut r.fields));
        r.parent = ctx
            .span(id)
            .and_then(|s| s.parent())
            .map(|p| p.name().to_owned());
        self.0.lock().unwrap().push((id.into_u64(), r));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, S>) {
        let mut spans = self.0.lock().unwrap();
        if let Some((_, r)) = spans.iter_mut().rev().find(|(i, _)| *i == id.into_u64()) {
            values.record(&mut Fields(&mut r.fields));
        }
    }
}

#[tokio::test]
async fn one_span_per_request_with_the_conventions_fields() {
    let spans = Spans::default();
    let subscriber = tracing_subscriber::registry().with(spans.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = McpServer::new("Traced").domain("trace").build().unwrap();
    let client = server.client();
    client
        .call_tool("traced", json!({"fail": false}))
        .await
        .unwrap();
    client
        .call_tool("traced", json!({"fail": true}))
        .await
        .unwrap();
    client.call_tool("nope", json!({})).await.unwrap_err();
    client.request("tools/list", json!({})).await.unwrap();

    let recorded: Vec<Recorded> = spans
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, r)| r.clone())
        .collect();
    let requests: Vec<&Recorded> = recorded
        .iter()
        .filter(|r| r.name == "mcp.request")
        .collect();
    assert_eq!(requests.len(), 4, "{recorded:#?}");
    let ok = requests[0];
    assert_eq!(ok.fields["otel.name"], "tools/call traced");
    assert_eq!(ok.fields["mcp.method.name"], "tools/call");
    assert_eq!(ok.fields["gen_ai.tool.name"], "traced");
    assert_eq!(ok.fields["gen_ai.operation.name"], "execute_tool");
    assert_eq!(ok.fields["mcp.protocol.version"], "2025-11-25");
    assert_eq!(ok.fields["network.transport"], "inproc");
    assert!(ok.fields.contains_key("jsonrpc.request.id"));
    assert!(!ok.fields.contains_key("error.type"));
    // The tool's own span is a child of the request's.
    let inner: Vec<&Recorded> = recorded.iter().filter(|r| r.name == "inner work").collect();
    assert_eq!(inner.len(), 2);
    assert!(
        inner
            .iter()
            .all(|r| r.parent.as_deref() == Some("mcp.request"))
    );
    // Failures: a tool error, and a protocol error with its code.
    assert_eq!(requests[1].fields["error.type"], "tool_error");
    assert_eq!(requests[2].fields["otel.name"], "tools/call nope");
    assert_eq!(requests[2].fields["error.type"], "-32602");
    assert_eq!(requests[3].fields["otel.name"], "tools/list");
}

/// The client's W3C trace context in `_meta` becomes the parent of the request's span, as an
/// OpenTelemetry exporter sees it.
#[cfg(feature = "otel")]
#[tokio::test]
async fn the_clients_trace_context_is_the_parent() {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let server = McpServer::new("Traced").domain("trace").build().unwrap();
    server
        .client()
        .request(
            "tools/call",
            json!({"name": "traced", "arguments": {"fail": false}, "_meta": {
                "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}),
        )
        .await
        .unwrap();
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let request = spans
        .iter()
        .find(|s| s.name == "tools/call traced")
        .unwrap_or_else(|| panic!("{:?}", spans.iter().map(|s| &s.name).collect::<Vec<_>>()));
    assert_eq!(
        request.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(request.parent_span_id.to_string(), "00f067aa0ba902b7");
    let inner = spans.iter().find(|s| s.name == "inner work").unwrap();
    assert_eq!(inner.parent_span_id, request.span_context.span_id());
}

/// An app that logs at `info` (the usual filter) gets no line per MCP request: the runtime's
/// per-operation event is at `debug`, under its own target, for a metrics layer to enable.
#[tokio::test]
async fn an_app_logging_at_info_gets_no_line_per_request() {
    #[derive(Clone, Default)]
    struct Events(Arc<Mutex<Vec<String>>>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Events {
        fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
            let m = event.metadata();
            self.0
                .lock()
                .unwrap()
                .push(format!("{} {} {}", m.level(), m.target(), m.name()));
        }
    }
    let events = Events::default();
    let everything = Events::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::filter::Filtered::new(
            events.clone(),
            tracing_subscriber::filter::LevelFilter::INFO,
        ))
        .with(everything.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = McpServer::new("Traced").domain("trace").build().unwrap();
    let client = server.client();
    for _ in 0..3 {
        client
            .call_tool("traced", json!({"fail": false}))
            .await
            .unwrap();
    }
    let at_info = events.0.lock().unwrap().clone();
    assert!(
        at_info.iter().all(|e| !e.contains("mcp_runtime")),
        "lines at info per request: {at_info:?}"
    );
    // The operation's event is there for a layer that asks for it.
    let all = everything.0.lock().unwrap().clone();
    let operations = all
        .iter()
        .filter(|e| e.starts_with("DEBUG mcp_runtime::metrics"))
        .count();
    assert_eq!(operations, 3, "{all:?}");
}

/// The duration of every operation, as the `mcp.server.operation.duration` histogram of an
/// OpenTelemetry meter (through tracing-opentelemetry's `MetricsLayer`).
#[cfg(feature = "otel")]
#[tokio::test]
async fn operation_durations_become_a_histogram() {
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let layer = tracing_opentelemetry::MetricsLayer::new(provider.clone());
    let _guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
    let server = McpServer::new("Traced").domain("trace").build().unwrap();
    let client = server.client();
    client
        .call_tool("traced", json!({"fail": false}))
        .await
        .unwrap();
    client.request("tools/list", json!({})).await.unwrap();
    client
        .call_tool("traced", json!({"fail": true}))
        .await
        .unwrap();
    provider.force_flush().unwrap();
    let metrics = exporter.get_finished_metrics().unwrap();
    let histogram = metrics
        .iter()
        .flat_map(|rm| rm.scope_metrics())
        .flat_map(|sm| sm.metrics())
        .find(|m| m.name() == "mcp.server.operation.duration")
        .expect("the histogram is exported");
    let AggregatedMetrics::F64(MetricData::Histogram(h)) = histogram.data() else {
        panic!("not a histogram of f64: {:?}", histogram.data());
    };
    let count: u64 = h.data_points().map(|p| p.count()).sum();
    assert_eq!(count, 3, "one measurement per operation");
    // `error.type` only on the failure.
    let error_types: Vec<(String, u64)> = h
        .data_points()
        .filter_map(|p| {
            p.attributes()
                .find(|kv| kv.key.as_str() == "error.type")
                .map(|kv| (kv.value.to_string(), p.count()))
        })
        .collect();
    assert_eq!(error_types, [("tool_error".to_owned(), 1)]);
}
