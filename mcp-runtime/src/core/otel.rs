//! W3C trace context from the client: `_meta.traceparent` (and `tracestate`) of a request
//! becomes the parent of the request's span, so a client's trace continues on the server.

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use serde_json::Value;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Parses `00-<trace id>-<parent id>-<flags>` (W3C Trace Context, version 00).
fn parse_traceparent(value: &str, state: Option<&str>) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || parts.next().is_some() || trace.len() != 32 || span.len() != 16 {
        return None;
    }
    let trace = TraceId::from_hex(trace)
        .ok()
        .filter(|t| *t != TraceId::INVALID)?;
    let span = SpanId::from_hex(span)
        .ok()
        .filter(|s| *s != SpanId::INVALID)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let state = state
        .and_then(|s| s.parse::<TraceState>().ok())
        .unwrap_or_default();
    Some(SpanContext::new(
        trace,
        span,
        TraceFlags::new(flags),
        true,
        state,
    ))
}

/// Makes the client's trace context (in the request's `_meta`) the parent of `span`.
pub(super) fn adopt_parent(span: &tracing::Span, params: Option<&Value>) {
    let Some(meta) = params.and_then(|p| p.get("_meta")) else {
        return;
    };
    let Some(parent) = meta.get("traceparent").and_then(Value::as_str) else {
        return;
    };
    let state = meta.get("tracestate").and_then(Value::as_str);
    if let Some(cx) = parse_traceparent(parent, state) {
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(cx));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents() {
        let cx = parse_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            Some("k=v"),
        )
        .unwrap();
        assert_eq!(
            cx.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(cx.span_id().to_string(), "00f067aa0ba902b7");
        assert!(cx.is_sampled() && cx.is_remote());
        assert!(
            parse_traceparent(
                "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                None
            )
            .is_none()
        );
        assert!(
            parse_traceparent(
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                None
            )
            .is_none()
        );
        assert!(parse_traceparent("00-xyz-00f067aa0ba902b7-01", None).is_none());
    }
}
