//! The SSE writer and the pump: how a call's notifications and answer become the events of a
//! stream, and how a stream becomes a response. Every SSE answer of every HTTP transport is
//! written here: a POST's stream (at once when everything is known, or pumped while the call
//! runs), the standalone GET stream, a resumed stream, the legacy transport's stream.

use super::inflight::{Answer, DisconnectGuard};
use super::options::HttpOptions;
use crate::protocol::RequestId;
use crate::transport::replay::{EventStream, Reader, push_u64};
use crate::transport::session::Session;
use axum::body::Body;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse as _, Response};
use http::{HeaderName, HeaderValue, header};
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a notification channel holds now.
pub(super) fn drain(rx: &mut mpsc::Receiver<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut events = Vec::new();
    while let Ok(n) = rx.try_recv() {
        events.push(n);
    }
    events
}

/// An SSE answer whose events are all known: priming event, notifications, response.
pub(super) async fn at_once(
    options: &HttpOptions,
    session: Option<&Session>,
    id: &RequestId,
    notifications: Vec<Vec<u8>>,
    answer: Answer,
) -> Response {
    let stream = match session {
        Some(s) => s.new_stream(),
        None => EventStream::new(0, options.replay()),
    };
    // Closing the stream early means nothing when everything is sent at once.
    let mut events: Vec<Arc<str>> = notifications
        .into_iter()
        .filter(|n| !n.is_empty())
        .map(bytes_to_str)
        .collect();
    if let Some((bytes, _)) = answer {
        events.push(bytes_to_str(bytes));
    }
    // The call has ended: so has its request, before the wait below (its client may go
    // meanwhile, dropping this).
    if let Some(s) = session {
        s.end_request(id);
    }
    // With a shared store, logged before any of it is sent.
    stream.log_finished(&events).await;
    // Written piece by piece: this is the hot path of sessions answered with SSE.
    let mut body = String::with_capacity(events.iter().map(|e| e.len() + 64).sum::<usize>() + 64);
    write_priming_event(options, &stream, &mut body);
    for (i, e) in events.iter().enumerate() {
        body.push_str("id: ");
        stream.write_event_id(&mut body, i as u64 + 1);
        body.push_str("\nevent: message\ndata: ");
        body.push_str(e);
        body.push_str("\n\n");
    }
    stream.push_finished(events);
    let mut res = Response::new(Body::from(body));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    no_buffering(&mut res);
    res
}

/// Headers every SSE answer carries: no caching, and no buffering by proxies (nginx), so
/// events arrive as they are sent.
fn no_buffering(res: &mut Response) {
    let headers = res.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    static X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");
    headers.insert(&X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
}

pub(super) fn bytes_to_str(bytes: Vec<u8>) -> Arc<str> {
    String::from_utf8(bytes).expect("JSON is UTF-8").into()
}

/// How an SSE response starts.
pub(super) enum SseStart {
    /// With a priming event (an id and empty data) and `retry`, so the client can resume.
    Prime,
    /// Without one (a resumed stream).
    Resume,
    /// With the legacy transport's `endpoint` event.
    Endpoint(String),
}

/// The SSE response reading `reader`. It ends when the stream is finished, or when `stop` is
/// cancelled; `guard` lives as long as the response.
pub(super) fn response(
    options: &HttpOptions,
    reader: Reader,
    start: SseStart,
    stop: CancellationToken,
    guard: DisconnectGuard,
) -> Response {
    let legacy = matches!(start, SseStart::Endpoint(_));
    // axum's `Event` writes no `data` line for empty data, and an event without one is never
    // dispatched by a client's parser: the priming event is written as bytes, before the rest.
    let priming = matches!(start, SseStart::Prime).then(|| priming_event(options, reader.stream()));
    let first = match start {
        SseStart::Prime | SseStart::Resume => None,
        SseStart::Endpoint(url) => Some(Event::default().event("endpoint").data(url)),
    };
    struct State {
        reader: Reader,
        first: Option<Event>,
        stop: CancellationToken,
        legacy: bool,
        _guard: DisconnectGuard,
    }
    let state = State {
        reader,
        first,
        stop,
        legacy,
        _guard: guard,
    };
    let events = futures_util::stream::unfold(state, |mut st| async move {
        if let Some(e) = st.first.take() {
            return Some((Ok::<_, Infallible>(e), st));
        }
        let next = tokio::select! {
            biased;
            next = st.reader.next() => next,
            () = st.stop.cancelled() => None,
        };
        let (seq, data) = next?;
        let mut event = Event::default().event("message").data(&*data);
        if !st.legacy {
            event = event.id(st.reader.stream().event_id(seq));
        }
        Some((Ok(event), st))
    });
    let mut res = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(options.streams.keep_alive))
        .into_response();
    no_buffering(&mut res);
    match priming {
        Some(priming) => {
            let (parts, body) = res.into_parts();
            let first = futures_util::stream::once(async move {
                Ok::<_, axum::Error>(bytes::Bytes::from(priming))
            });
            let body = Body::from_stream(futures_util::StreamExt::chain(
                first,
                body.into_data_stream(),
            ));
            Response::from_parts(parts, body)
        }
        None => res,
    }
}

/// The priming event of a stream (SEP-1699): its first id, the `retry` the client should wait
/// before reconnecting, and empty data.
fn priming_event(options: &HttpOptions, stream: &EventStream) -> String {
    let mut out = String::with_capacity(48);
    write_priming_event(options, stream, &mut out);
    out
}

/// Writes the priming event into `out`.
fn write_priming_event(options: &HttpOptions, stream: &EventStream, out: &mut String) {
    let retry = u64::try_from(options.streams.retry.as_millis()).unwrap_or(u64::MAX);
    out.push_str("id: ");
    stream.write_event_id(out, 0);
    out.push_str("\nretry: ");
    push_u64(out, retry);
    out.push_str("\ndata: \n\n");
}

/// Ties a value's lifetime to a response body.
pub(super) fn attach<T: Send + 'static>(res: Response, value: T) -> Response {
    let (parts, body) = res.into_parts();
    let stream = body.into_data_stream();
    let with = futures_util::StreamExt::map(stream, move |chunk| {
        let _keep = &value;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(with))
}

/// Moves a running call's notifications onto `stream`, in the order they were sent, then its
/// answer; `first` is a notification already taken from `rx`. An empty notification is a
/// tool closing its stream early (`Context::close_stream`): `close` is cancelled, where the
/// stream can close. Whether an answer was written (a cancelled call has none).
pub(super) async fn pump(
    stream: &EventStream,
    first: Option<Vec<u8>>,
    mut rx: mpsc::Receiver<Vec<u8>>,
    call: impl Future<Output = Answer>,
    close: Option<&CancellationToken>,
) -> bool {
    let push = async |n: Vec<u8>| {
        if !n.is_empty() {
            stream.push(bytes_to_str(n)).await;
        } else if let Some(close) = close {
            close.cancel();
        }
    };
    if let Some(n) = first {
        push(n).await;
    }
    let mut call = std::pin::pin!(call);
    let answer = loop {
        tokio::select! {
            biased;
            Some(n) = rx.recv() => push(n).await,
            answer = &mut call => break answer,
        }
    };
    while let Ok(n) = rx.try_recv() {
        push(n).await;
    }
    match answer {
        Some((bytes, _)) => {
            stream.push(bytes_to_str(bytes)).await;
            true
        }
        None => false,
    }
}
