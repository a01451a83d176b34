//! Concurrency caps: so many requests running at once, per key.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::json;

use super::{Around, Key, McpRequest, McpResponse, Next, OnStoreError, PolicyStore};
use crate::protocol::RpcError;

/// At most `max` requests running at once for each key (by default [`Key::Caller`]). A request
/// over the cap is refused at once with [`code::RATE_LIMITED`](crate::protocol::code::RATE_LIMITED)
/// (HTTP 429 where the answer is a JSON response), naming the cap. A permit is given back when
/// the request ends, fails or is cancelled (its client went away); in a shared store it is held
/// on a lease the instance renews while the request runs, so that the permits of an instance
/// that stopped lapse (after [`ConcurrencyLimit::lease`], default 30 s).
///
/// A call that goes on as a task (either task era) holds its permit until the task ends:
/// completed, failed or cancelled.
#[derive(Clone, Debug)]
pub struct ConcurrencyLimit {
    inner: Arc<Settings>,
}

#[derive(Clone, Debug)]
struct Settings {
    name: String,
    max: u32,
    key: Key,
    lease: Duration,
    store: Arc<dyn PolicyStore>,
    on_error: OnStoreError,
    outage: Arc<super::Outage>,
}

limit_builder!(ConcurrencyLimit, "permits");

impl ConcurrencyLimit {
    /// At most `max` requests at once per caller; `name` names the cap in refusals and in the
    /// store.
    pub fn new(name: &str, max: u32) -> Self {
        Self {
            inner: Arc::new(Settings {
                name: name.to_owned(),
                max: max.max(1),
                key: Key::Caller,
                lease: Duration::from_secs(30),
                store: super::default_store(),
                outage: Arc::default(),
                on_error: OnStoreError::default(),
            }),
        }
    }

    /// How long a permit outlives an instance that stopped without giving it back (renewed
    /// every third of it while the request runs; default 30 s).
    #[must_use]
    pub fn lease(mut self, lease: Duration) -> Self {
        Arc::make_mut(&mut self.inner).lease =
            lease.clamp(Duration::from_millis(30), crate::bounds::LONGEST);
        self
    }
}

/// A permit held: given back when dropped (the request ended, or its future was dropped).
struct Held {
    store: Arc<dyn PolicyStore>,
    key: String,
    permit: String,
}

impl Held {
    /// A permit the store refused: nothing to give back.
    fn refused(mut self) {
        self.key.clear();
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.key.is_empty() {
            return;
        }
        let store = self.store.clone();
        let key = std::mem::take(&mut self.key);
        let permit = std::mem::take(&mut self.permit);
        let release = async move {
            if let Err(e) = store.release(&key, &permit).await {
                crate::bounds::warn_limited!(error = %e, "a concurrency permit was not given back; it lapses with its lease");
            }
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(release);
        }
    }
}

impl Around for ConcurrencyLimit {
    fn around(&self, req: McpRequest, next: Next) -> BoxFuture<'static, McpResponse> {
        let this = self.clone();
        Box::pin(async move {
            let s = &this.inner;
            let Some(key) = s.key.of(&req) else {
                return next.run(req).await;
            };
            // Given back when dropped from here on: an acquire that failed (a timeout) or
            // was dropped half-way (the client went) may have taken the permit all the same.
            let held = Held {
                store: s.store.clone(),
                key: super::store_key("running", &s.name, &key),
                permit: crate::protocol::random_id(),
            };
            let asked = s.store.acquire(&held.key, &held.permit, s.max, s.lease);
            match super::ask_store(&s.name, s.on_error, &s.outage, asked).await {
                Ok(true) => {}
                Ok(false) => {
                    held.refused();
                    return McpResponse::error(
                        RpcError::new(
                            crate::protocol::code::RATE_LIMITED,
                            format!(
                                "concurrency limit `{}` reached: at most {} at once; retry when \
                                 one has finished",
                                s.name, s.max
                            ),
                        )
                        .with_data(json!({ "limit": s.name, "maxConcurrent": s.max })),
                    );
                }
                Err(failed) => {
                    if failed.asked {
                        drop(held);
                    } else {
                        held.refused();
                    }
                    return match failed.answer {
                        Some(refusal) => refusal,
                        None => next.run(req).await,
                    };
                }
            }
            let response = renewing(s, &held, next.run(req)).await;
            if let Some(ended) = response.task_ended() {
                // The call goes on as a task: so does its permit.
                let this = this.clone();
                tokio::spawn(async move {
                    renewing(&this.inner, &held, ended).await;
                    drop(held);
                });
            }
            response
        })
    }
}

/// Runs `work`, renewing the lease of `held` while it runs.
async fn renewing<T>(s: &Settings, held: &Held, work: impl Future<Output = T>) -> T {
    tokio::pin!(work);
    let mut renew = tokio::time::interval(s.lease / 3);
    renew.tick().await;
    loop {
        tokio::select! {
            r = &mut work => break r,
            _ = renew.tick() => {
                if let Err(e) = s.store.renew(&held.key, &held.permit, s.lease).await {
                    crate::bounds::warn_limited!(error = %e, "a concurrency permit's lease was not renewed");
                }
            }
        }
    }
}
