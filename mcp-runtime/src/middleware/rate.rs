//! Rate limits: so many requests per window, per key.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::json;

use super::{Around, Key, McpRequest, McpResponse, Next, OnStoreError, PolicyStore};
use crate::protocol::RpcError;

/// At most `limit` requests per `window` for each key (by default [`Key::Caller`]): requests
/// spread evenly over the window, with a burst of `limit` after a quiet one (a generic cell rate
/// algorithm, one counter per key). Over the limit the request is refused with
/// [`code::RATE_LIMITED`](crate::protocol::code::RATE_LIMITED) (HTTP 429 with `Retry-After`
/// where the answer is a JSON response), its message naming the limit and when to retry, and
/// `data` carrying `limit` and `retryAfterMs`.
///
/// Kept in memory (per instance) unless given a shared store ([`RateLimit::store`]: a
/// `RedisStore` counts atomically, in one round trip, for every instance).
#[derive(Clone, Debug)]
pub struct RateLimit {
    inner: Arc<Settings>,
}

#[derive(Clone, Debug)]
struct Settings {
    name: String,
    limit: u32,
    window: Duration,
    key: Key,
    store: Arc<dyn PolicyStore>,
    on_error: OnStoreError,
    outage: Arc<super::Outage>,
}

limit_builder!(RateLimit, "the counters");

impl RateLimit {
    /// `limit` requests per `window` per caller; `name` names the limit in refusals and in the
    /// store (two limits with one name share their counters).
    pub fn new(name: &str, limit: u32, window: Duration) -> Self {
        Self {
            inner: Arc::new(Settings {
                name: name.to_owned(),
                limit: limit.max(1),
                window: window.clamp(Duration::from_millis(1), crate::bounds::LONGEST),
                key: Key::Caller,
                store: super::default_store(),
                outage: Arc::default(),
                on_error: OnStoreError::default(),
            }),
        }
    }

    /// `limit` requests a minute per caller.
    pub fn per_minute(name: &str, limit: u32) -> Self {
        Self::new(name, limit, Duration::from_secs(60))
    }

    /// How the limit reads in a refusal: "30 calls a minute".
    fn rate_text(&self) -> String {
        let s = &self.inner;
        let per = match s.window.as_secs() {
            1 if s.window.subsec_nanos() == 0 => "a second".to_owned(),
            60 if s.window.subsec_nanos() == 0 => "a minute".to_owned(),
            3600 if s.window.subsec_nanos() == 0 => "an hour".to_owned(),
            _ => format!("per {} ms", s.window.as_millis()),
        };
        format!("{} requests {per}", s.limit)
    }
}

impl Around for RateLimit {
    fn around(&self, req: McpRequest, next: Next) -> BoxFuture<'static, McpResponse> {
        let this = self.clone();
        Box::pin(async move {
            let s = &this.inner;
            let Some(key) = s.key.of(&req) else {
                return next.run(req).await;
            };
            let key = super::store_key("rate", &s.name, &key);
            let asked = s.store.rate(&key, s.limit, s.window);
            match super::ask_store(&s.name, s.on_error, &s.outage, asked).await {
                Ok(d) if d.allowed => next.run(req).await,
                Ok(d) => {
                    let ms = u64::try_from(d.retry_after.as_millis())
                        .unwrap_or(u64::MAX)
                        .max(1);
                    McpResponse::error(
                        RpcError::new(
                            crate::protocol::code::RATE_LIMITED,
                            format!(
                                "rate limit `{}` reached ({}); retry in {:.1} s",
                                s.name,
                                this.rate_text(),
                                ms as f64 / 1000.0
                            ),
                        )
                        .with_data(json!({ "limit": s.name, "retryAfterMs": ms })),
                    )
                }
                Err(failed) => match failed.answer {
                    Some(refusal) => refusal,
                    None => next.run(req).await,
                },
            }
        })
    }
}
