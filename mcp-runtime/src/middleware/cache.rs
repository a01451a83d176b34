//! A response cache for read-only tools.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Around, McpRequest, McpResponse, Next};
use crate::store::policy::{CacheEntry, PolicyStore};

/// Caches the results of read-only tools (`#[tool(read_only)]`) for a time: a second call of
/// the same tool with the same arguments, by the same principal, in the same protocol
/// revision, within the TTL, is answered from the cache without running the tool. A result is
/// never served to another principal, and calls without a principal (a mount without auth)
/// are not cached: the cache cannot tell their callers apart. Only complete, successful results
/// are kept (not tool errors, input-required rounds or tasks), each at most
/// [`ResponseCache::max_entry_bytes`] (default 1 MiB).
///
/// Each caller holds at most 1,000 entries and 16 MiB of them
/// ([`ResponseCache::max_per_caller`]): past that, its own entries closest to expiry make room,
/// so that one caller can neither grow the store without bound nor push another's results out.
///
/// A cached result is served only to a caller the tool would run for now (the caller may see
/// it and holds its scopes); a call carrying more than the tool's name, its arguments and
/// `_meta` (answers to the tool's questions, a request to run as a task) neither reads nor
/// fills the cache. A tool replaced at run time keeps its cached results until they expire.
///
/// Calls of other tools, and other requests, pass through. Kept in memory (bounded: 100,000
/// entries, 64 MiB) unless given a shared store ([`ResponseCache::store`]). When the store
/// fails, the call runs as if nothing were cached.
#[derive(Clone, Debug)]
pub struct ResponseCache {
    inner: Arc<Settings>,
}

#[derive(Clone, Debug)]
struct Settings {
    ttl: Duration,
    max_entry_bytes: usize,
    caller_entries: usize,
    caller_bytes: usize,
    store: Arc<dyn PolicyStore>,
    outage: Arc<super::Outage>,
}

store_builder!(ResponseCache, "results");

impl ResponseCache {
    /// A cache keeping each result for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            inner: Arc::new(Settings {
                ttl: ttl.clamp(Duration::from_millis(1), crate::bounds::LONGEST),
                max_entry_bytes: 1024 * 1024,
                caller_entries: crate::store::policy::CACHE_ENTRIES_PER_OWNER,
                caller_bytes: crate::store::policy::CACHE_BYTES_PER_OWNER,
                store: super::default_store(),
                outage: Arc::default(),
            }),
        }
    }

    /// The largest result kept (default 1 MiB); larger ones are answered, not cached.
    #[must_use]
    pub fn max_entry_bytes(mut self, bytes: usize) -> Self {
        Arc::make_mut(&mut self.inner).max_entry_bytes = bytes;
        self
    }

    /// The most entries and bytes one caller holds (default 1,000 and 16 MiB).
    #[must_use]
    pub fn max_per_caller(mut self, entries: usize, bytes: usize) -> Self {
        let s = Arc::make_mut(&mut self.inner);
        s.caller_entries = entries;
        s.caller_bytes = bytes;
        self
    }
}

/// The cache key of a call: the server, the tool, the revision, the principal and the
/// arguments (written with sorted keys, so that their order does not matter).
fn key_of(req: &McpRequest, owner: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        req.server_name(),
        req.name().unwrap_or(""),
        req.protocol_version().as_str(),
        owner,
    ] {
        h.update(part.as_bytes());
        h.update([0x1f]);
    }
    let mut args = String::new();
    match req.arguments() {
        Some(a) => canonical_object(a, &mut args),
        None => args.push_str("null"),
    }
    h.update(args.as_bytes());
    let digest = h.finalize();
    let mut out = String::with_capacity(6 + 64);
    out.push_str("cache:");
    crate::protocol::push_hex(&digest, &mut out);
    out
}

/// Whether a `tools/call` is the tool, its arguments and `_meta` alone: a call carrying more
/// (answers to the tool's questions, its sealed state, a request to run as a task) is not
/// answered from the cache, nor kept in it.
fn plain_call(req: &McpRequest) -> bool {
    req.params().and_then(Value::as_object).is_some_and(|p| {
        p.keys()
            .all(|k| matches!(k.as_str(), "name" | "arguments" | "_meta"))
    })
}

/// An object as JSON with its keys sorted, at every depth.
fn canonical_object(o: &serde_json::Map<String, Value>, out: &mut String) {
    let mut keys: Vec<&String> = o.keys().collect();
    keys.sort();
    out.push('{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k).expect("strings serialize"));
        out.push(':');
        canonical(&o[k], out);
    }
    out.push('}');
}

/// JSON with object keys sorted.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(o) => canonical_object(o, out),
        Value::Array(a) => {
            out.push('[');
            for (i, item) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

impl Around for ResponseCache {
    fn around(&self, req: McpRequest, next: Next) -> BoxFuture<'static, McpResponse> {
        let this = self.clone();
        Box::pin(async move {
            let s = &this.inner;
            let read_only = req
                .tool_annotations()
                .is_some_and(|a| a.read_only == Some(true));
            let owner = req
                .principal()
                .map(crate::call::context::Principal::owner_key);
            let (true, Some(owner), true) = (read_only, owner, plain_call(&req)) else {
                return next.run(req).await;
            };
            let key = key_of(&req, &owner);
            let asked = s.store.cache_get(&key);
            let open = super::OnStoreError::FailOpen;
            match super::ask_store("response cache", open, &s.outage, asked).await {
                // Served only to a caller the tool would run for now (its scopes and what it
                // may see may have changed since, or differ between its clients).
                Ok(Some(bytes)) if req.may_run_tool() => {
                    if let Some(raw) = String::from_utf8(bytes)
                        .ok()
                        .and_then(|t| serde_json::value::RawValue::from_string(t).ok())
                    {
                        return McpResponse::raw_result(raw);
                    }
                }
                // Not there, or the store failed: the tool runs.
                Ok(_) | Err(_) => {}
            }
            // Only a miss stores: the caller's share is named then, not on every hit.
            let share = super::store_key("cache-owner", req.server_name(), &owner);
            let response = next.run(req).await;
            if let Some(raw) = response.as_result()
                && !response.is_tool_error()
                && !response.is_pending()
                && raw.get().len() <= s.max_entry_bytes
                && !s.outage.ongoing()
                && let Err(e) = s
                    .store
                    .cache_put(
                        CacheEntry::new(&key, &share, raw.get().as_bytes(), s.ttl)
                            .share(s.caller_entries, s.caller_bytes),
                    )
                    .await
            {
                s.outage.note(&e);
                crate::bounds::warn_limited!(error = %e, "the response cache could not write its store");
            }
            response
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let a = serde_json::json!({"b": 1, "a": {"y": [1, {"d": 2, "c": 3}], "x": "s"}});
        let mut out = String::new();
        canonical(&a, &mut out);
        assert_eq!(out, r#"{"a":{"x":"s","y":[1,{"c":3,"d":2}]},"b":1}"#);
    }
}
