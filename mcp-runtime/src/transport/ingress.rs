//! One HTTP ingress for every HTTP transport: `Content-Type`, `Accept`, the body (bounded in size
//! and time), the batch sniff, one parse, and the era the message speaks. What comes out is an
//! [`Incoming`]: a 2026-07-28 message, a handshake-era message with its `MCP-Protocol-Version`,
//! or a batch. Each transport then applies its own rules (sessions, streams) to it.

// Checks return the rejection `Response` as their error, as axum extractors do; the path is cold.
#![allow(clippy::result_large_err)]

use super::egress::{TRANSPORT_ERROR, error_response, json_response, no_stateless_batches};
use super::options::HttpOptions;
use crate::protocol::{Message, ProtocolVersion, error_bytes};
use axum::body::Body;
use axum::response::Response;
use http::{StatusCode, header};

pub(super) use crate::headers::{Known, SESSION_HEADER};

/// What an endpoint may answer with, so what its requests must accept.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Answers {
    /// Only `application/json` (request-response): 406 unless the request accepts it.
    Json,
    /// `application/json` or `text/event-stream` (Streamable HTTP): 406 unless it accepts one.
    JsonOrSse,
    /// Nothing on this request: the answer goes to a stream opened before (legacy HTTP+SSE).
    OnStream,
}

/// Checks what every POST of an MCP message carries before its body is read: a JSON
/// `Content-Type` (415) and an `Accept` that admits the answer (406).
pub(super) fn head(known: &Known<'_>, answers: Answers) -> Result<Accepts, Response> {
    check_content_type(known.content_type)?;
    match answers {
        Answers::Json if !accepts(known.headers, "application/json") => Err(error_response(
            StatusCode::NOT_ACCEPTABLE,
            TRANSPORT_ERROR,
            "this endpoint answers with `application/json`; the request's Accept header refuses it",
        )),
        Answers::Json => Ok(Accepts {
            json: true,
            sse: false,
        }),
        Answers::JsonOrSse => check_accept(known),
        Answers::OnStream => Ok(Accepts {
            json: false,
            sse: true,
        }),
    }
}

/// A message as the ingress read it.
pub(super) enum Incoming {
    /// A 2026-07-28 message (per-request `_meta`, or the era's `MCP-Protocol-Version`).
    Stateless(Message),
    /// A handshake-era message and the `MCP-Protocol-Version` it names (`None`: absent).
    Handshake(Message, Option<ProtocolVersion>),
    /// A JSON-RPC batch (handshake era only), unparsed: the core parses and answers it whole.
    Batch(bytes::Bytes, Option<ProtocolVersion>),
}

/// Which eras an endpoint reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Eras {
    /// Every revision, told apart per request (Streamable HTTP, request-response).
    All,
    /// Only 2024-11-05, one message per POST (the legacy HTTP+SSE endpoint).
    Legacy,
}

/// Reads and parses the body of a POST whose head passed [`head`]: 413/408 past the limits,
/// 400 with the JSON-RPC error of a message that does not parse, 400 for a batch in the
/// stateless era or an unsupported `MCP-Protocol-Version`.
pub(super) async fn read(
    known: &Known<'_>,
    body: Body,
    options: &HttpOptions,
    eras: Eras,
) -> Result<Incoming, Response> {
    let body = read_body(body, options).await?;
    let batch = eras == Eras::All && body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if batch {
        if super::era::header_is_stateless(known.headers) {
            return Err(no_stateless_batches());
        }
        let version = header_version(known.headers, &ProtocolVersion::HANDSHAKE)?;
        return Ok(Incoming::Batch(body, version));
    }
    let msg = Message::parse(&body).map_err(|r| {
        json_response(
            StatusCode::BAD_REQUEST,
            error_bytes(r.id.as_ref(), &r.error),
        )
    })?;
    if eras == Eras::Legacy {
        return Ok(Incoming::Handshake(msg, None));
    }
    // The header is read once for both questions.
    let named = crate::headers::value_text(
        known.protocol_version,
        &crate::headers::MCP_PROTOCOL_VERSION,
    );
    let header_stateless = super::era::names_stateless(named.as_ref().ok().copied().flatten());
    if super::era::is_stateless_era(&msg, header_stateless) {
        return Ok(Incoming::Stateless(msg));
    }
    let version = version_named(named, &ProtocolVersion::HANDSHAKE)?;
    Ok(Incoming::Handshake(msg, version))
}

#[derive(Clone, Copy)]
pub(super) struct Accepts {
    pub(super) json: bool,
    pub(super) sse: bool,
}

pub(super) fn check_accept(known: &Known<'_>) -> Result<Accepts, Response> {
    // What MCP clients send, answered without parsing it.
    if let (Some(value), false) = (known.accept, known.more_accepts)
        && (value == "application/json, text/event-stream"
            || value == "text/event-stream, application/json")
    {
        return Ok(Accepts {
            json: true,
            sse: true,
        });
    }
    let [json, sse] = accepts_each(known.headers, ["application/json", "text/event-stream"]);
    let a = Accepts { json, sse };
    if a.json || a.sse {
        Ok(a)
    } else {
        Err(error_response(
            StatusCode::NOT_ACCEPTABLE,
            TRANSPORT_ERROR,
            "the Accept header must allow `application/json` and `text/event-stream`",
        ))
    }
}

/// Checks `Content-Type: application/json` (parameters such as `charset` allowed).
pub(crate) fn check_content_type(value: Option<&http::HeaderValue>) -> Result<(), Response> {
    // What clients send, accepted without parsing it.
    if value.is_some_and(|v| v == "application/json") {
        return Ok(());
    }
    let ct = crate::headers::value_text(value, &header::CONTENT_TYPE)
        .map_err(|e| {
            error_response(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                TRANSPORT_ERROR,
                e.to_string(),
            )
        })?
        .unwrap_or("");
    if crate::headers::essence(ct).eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        let got = if ct.is_empty() {
            "no Content-Type".to_owned()
        } else {
            format!("`{}`", crate::bounds::shown(ct))
        };
        Err(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            TRANSPORT_ERROR,
            format!("MCP messages are JSON: send `Content-Type: application/json` (got {got})"),
        ))
    }
}

/// Whether an `Accept` header admits a media type (`*/*`, `type/*`, or the type itself).
/// A missing header admits everything.
pub(crate) fn accepts(headers: &http::HeaderMap, media: &str) -> bool {
    accepts_each(headers, [media])[0]
}

/// The media ranges of the `Accept` headers, trimmed, without those refused with `q=0`.
pub(crate) fn accept_ranges(headers: &http::HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(accepted_range)
}

/// One item of an `Accept` header: its range, trimmed, unless `q=0` refuses it.
fn accepted_range(item: &str) -> Option<&str> {
    let Some((range, params)) = item.split_once(';') else {
        return Some(item.trim());
    };
    // Parameters are rare, so only they are parsed.
    let refused = params.split(';').any(|p| {
        p.trim()
            .strip_prefix("q=")
            .and_then(|q| q.trim().parse::<f32>().ok())
            == Some(0.0)
    });
    (!refused).then_some(range.trim())
}

/// [`accepts`] for several media types, reading the header once. Written as plain loops: it
/// runs on every POST.
pub(crate) fn accepts_each<const N: usize>(
    headers: &http::HeaderMap,
    media: [&str; N],
) -> [bool; N] {
    let mut out = [false; N];
    let mut present = false;
    for value in headers.get_all(header::ACCEPT) {
        present = true;
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',').filter_map(accepted_range) {
            let any_subtype = range.strip_suffix("/*");
            for (m, hit) in media.iter().zip(out.iter_mut()) {
                *hit |= range == "*/*"
                    || range.eq_ignore_ascii_case(m)
                    || any_subtype.is_some_and(|t| {
                        m.split_once('/')
                            .is_some_and(|(ty, _)| t.eq_ignore_ascii_case(ty))
                    });
            }
        }
    }
    if present { out } else { [true; N] }
}

/// The revision named by `MCP-Protocol-Version`: `Ok(None)` when absent, 400 when unsupported.
pub(crate) fn header_version(
    headers: &http::HeaderMap,
    allowed: &[ProtocolVersion],
) -> Result<Option<ProtocolVersion>, Response> {
    version_named(
        crate::headers::text(headers, &crate::headers::MCP_PROTOCOL_VERSION),
        allowed,
    )
}

/// [`header_version`] of the header's value, already looked up.
fn version_named(
    named: Result<Option<&str>, crate::headers::Unreadable>,
    allowed: &[ProtocolVersion],
) -> Result<Option<ProtocolVersion>, Response> {
    let text = match named {
        Ok(None) => return Ok(None),
        Ok(Some(text)) => text.trim_ascii(),
        Err(e) => {
            return Err(error_response(
                StatusCode::BAD_REQUEST,
                crate::protocol::code::INVALID_REQUEST,
                e.to_string(),
            ));
        }
    };
    match ProtocolVersion::parse(text).filter(|v| allowed.contains(v)) {
        Some(v) => Ok(Some(v)),
        None => Err(error_response(
            StatusCode::BAD_REQUEST,
            crate::protocol::code::INVALID_REQUEST,
            format!(
                "unsupported MCP-Protocol-Version `{}`; this server speaks {}",
                crate::bounds::shown(text),
                allowed
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Reads the body up to `max_body_bytes` (413 past it), within `body_read_timeout` (408 past it).
pub(crate) async fn read_body(body: Body, options: &HttpOptions) -> Result<bytes::Bytes, Response> {
    let limit = options.max_body_bytes;
    let too_large = || {
        error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            TRANSPORT_ERROR,
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    };
    // A declared `Content-Length` over the limit (hyper gives it as the body's size, checked).
    if axum::body::HttpBody::size_hint(&body).lower() > limit as u64 {
        return Err(too_large());
    }
    let read = tokio::time::timeout(options.body_read_timeout, axum::body::to_bytes(body, limit));
    let Ok(read) = read.await else {
        return Err(error_response(
            StatusCode::REQUEST_TIMEOUT,
            TRANSPORT_ERROR,
            format!(
                "the request body did not arrive within {} ms",
                options.body_read_timeout.as_millis()
            ),
        ));
    };
    match read {
        Ok(bytes) => Ok(bytes),
        Err(e) => {
            let inner = e.into_inner();
            if inner.is::<http_body_util::LengthLimitError>() {
                Err(too_large())
            } else {
                Err(error_response(
                    StatusCode::BAD_REQUEST,
                    TRANSPORT_ERROR,
                    format!("the request body could not be read: {inner}"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn accept(values: &[&str]) -> [bool; 2] {
        let mut h = http::HeaderMap::new();
        for v in values {
            h.append(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        }
        accepts_each(&h, ["application/json", "text/event-stream"])
    }

    #[test]
    fn accept_ranges() {
        assert_eq!(accept(&[]), [true, true]);
        assert_eq!(accept(&["*/*"]), [true, true]);
        assert_eq!(
            accept(&["application/json, text/event-stream"]),
            [true, true]
        );
        assert_eq!(accept(&["Application/JSON"]), [true, false]);
        assert_eq!(accept(&["text/*;q=0.5"]), [false, true]);
        assert_eq!(accept(&["application/*; charset=utf-8"]), [true, false]);
        assert_eq!(
            accept(&["application/json;q=0", "text/event-stream"]),
            [false, true]
        );
        assert_eq!(accept(&["*/*; q=0.0"]), [false, false]);
        assert_eq!(accept(&["text/html", "image/png"]), [false, false]);
    }

    #[test]
    fn one_pass_finds_what_look_ups_find() {
        let mut h = http::HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("localhost"));
        h.append("Mcp-Session-Id", HeaderValue::from_static("first"));
        h.append("mcp-session-id", HeaderValue::from_static("second"));
        h.insert(
            "MCP-Protocol-Version",
            HeaderValue::from_static("2025-11-25"),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let known = Known::of(&h);
        assert_eq!(known.session_id, h.get(SESSION_HEADER));
        assert_eq!(known.session().unwrap(), Some("first"));
        assert_eq!(
            known.protocol_version,
            h.get(&crate::headers::MCP_PROTOCOL_VERSION)
        );
        assert_eq!(known.content_type, h.get(header::CONTENT_TYPE));
        assert!(known.accept.is_none() && !known.more_accepts);
        assert!(check_content_type(known.content_type).is_ok());
        // No Accept: everything is accepted.
        let a = check_accept(&known).unwrap();
        assert!(a.json && a.sse);

        // The quick form alone is taken without parsing; with another value, all are parsed.
        h.append(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        let a = check_accept(&Known::of(&h)).unwrap();
        assert!(a.json && a.sse);
        h.append(header::ACCEPT, HeaderValue::from_static("text/html"));
        let known = Known::of(&h);
        assert_eq!(known.accept, h.get(header::ACCEPT));
        assert!(known.more_accepts);
        let a = check_accept(&known).unwrap();
        assert!(a.json && a.sse);
        h.remove(header::ACCEPT);
        h.append(header::ACCEPT, HeaderValue::from_static("text/html"));
        h.append(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        let a = check_accept(&Known::of(&h)).unwrap();
        assert!(!a.json && a.sse, "the second value is read");

        h.insert(
            "mcp-session-id",
            HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        );
        assert!(
            Known::of(&h).session().is_err(),
            "unreadable: 404, not absent"
        );
    }
}
