//! A call's life on a connection: what happens to it when the client goes away.

use crate::protocol::RpcError;
use std::pin::Pin;
use tokio_util::sync::CancellationToken;

/// The answer of a dispatched request, as bytes with its HTTP status; `None` when it was
/// cancelled.
pub(super) type Answer = Option<(Vec<u8>, Option<RpcError>)>;

/// A call being answered on this connection. If the handler is dropped before it completes (the
/// client went away), the rest of the call runs as its own task: cancelled first where a closed
/// connection means cancellation, so a tool watching `ctx.cancelled()` sees it, or left to
/// finish where it does not.
pub(super) struct InFlight<T: Send + 'static = Answer> {
    future: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
    cancel: Option<CancellationToken>,
}

impl<T: Send + 'static> InFlight<T> {
    /// A call that `cancel` (if any) cancels when its client goes.
    pub(super) fn new(
        future: Pin<Box<dyn Future<Output = T> + Send>>,
        cancel: Option<CancellationToken>,
    ) -> Self {
        Self {
            future: Some(future),
            cancel,
        }
    }

    /// The token that cancels the call when its client goes, if any.
    pub(super) fn cancel_token(&self) -> Option<CancellationToken> {
        self.cancel.clone()
    }

    /// A call of a client that nothing can resume: cancelled by `cancel` when its client goes.
    pub(super) fn cancelled_on_drop(
        cancel: CancellationToken,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Self {
        Self {
            future: Some(Box::pin(future)),
            cancel: Some(cancel),
        }
    }
}

impl<T: Send + 'static + Default> Future for InFlight<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<T> {
        let Some(future) = self.future.as_mut() else {
            return std::task::Poll::Ready(T::default());
        };
        let answer = std::task::ready!(future.as_mut().poll(cx));
        self.future = None;
        std::task::Poll::Ready(answer)
    }
}

impl<T: Send + 'static> Drop for InFlight<T> {
    fn drop(&mut self) {
        if let Some(future) = self.future.take() {
            if let Some(c) = &self.cancel {
                c.cancel();
            }
            tokio::spawn(future);
        }
    }
}

/// Cancels a call when the response is dropped before it completed (client went away).
pub(super) struct DisconnectGuard {
    pub(super) cancel: Option<CancellationToken>,
}

impl DisconnectGuard {
    pub(super) fn disarm(mut self) {
        self.cancel = None;
    }
}

impl Drop for DisconnectGuard {
    fn drop(&mut self) {
        if let Some(c) = &self.cancel {
            c.cancel();
        }
    }
}
