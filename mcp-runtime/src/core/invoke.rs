//! Running a handler (tool, resource, prompt, completion): with its timeout, catching its
//! panic, and stopping at cancellation.

use futures_util::FutureExt as _;
use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How a handler ended.
pub(super) enum Invoked<T> {
    Done(T),
    Panicked(String),
    TimedOut(Duration),
    Cancelled,
    /// The handler asked the client something it has no answer to (a 2026-07-28 round).
    InputRequired,
}

impl<T> Invoked<T> {
    /// The JSON-RPC error of a handler that panicked or timed out (`what` names it).
    pub(super) fn failure(&self, what: &str) -> crate::protocol::RpcError {
        let message = match self {
            Self::Panicked(msg) => {
                tracing::error!(handler = %what, panic = %msg, "handler panicked");
                format!("{what} failed: it panicked ({msg})")
            }
            Self::TimedOut(t) => format!("{what} timed out after {} ms", t.as_millis()),
            Self::Done(_) | Self::Cancelled | Self::InputRequired => format!("{what} failed"),
        };
        crate::protocol::RpcError::new(crate::protocol::code::INTERNAL_ERROR, message)
    }
}

/// Runs `fut`. The handler is polled first, so one that watches for cancellation sees it and can
/// clean up; its result is then dropped, since no response is sent for a cancelled request.
pub(super) async fn run<T>(
    fut: impl Future<Output = T>,
    timeout: Option<Duration>,
    cancel: &CancellationToken,
    round: Option<&crate::call::ask::Round>,
) -> Invoked<T> {
    let run = AssertUnwindSafe(fut).catch_unwind();
    let timed = async {
        match timeout {
            Some(t) => tokio::time::timeout(t, run).await.ok(),
            None => Some(run.await),
        }
    };
    // A round ends as soon as the handler waits on a question it has no answer for; the
    // questions asked in the same poll (`join!`) go out together.
    let asked = async {
        match round {
            Some(r) => r.waiting.notified().await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        biased;
        outcome = timed => outcome,
        () = asked => return Invoked::InputRequired,
        () = cancel.cancelled() => return Invoked::Cancelled,
    };
    if cancel.is_cancelled() {
        return Invoked::Cancelled;
    }
    match outcome {
        None => {
            cancel.cancel();
            Invoked::TimedOut(timeout.unwrap_or_default())
        }
        Some(Ok(v)) => Invoked::Done(v),
        Some(Err(payload)) => Invoked::Panicked(panic_message(&*payload)),
    }
}

pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    }
}
