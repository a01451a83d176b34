//! The contract of what an OAuth authorization server keeps ([`GrantStore`]): client
//! registrations, authorizations in progress, codes, refresh tokens and revoked token families,
//! each a record under a key with a lifetime; and its memory implementation. A store several
//! instances share (`RedisStore`) lets a flow started on one instance end on another.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::sweep::Sweep;
use crate::store::StoreError;

/// Records with lifetimes, read, written and taken (read and removed at once: a code or a
/// refresh token is used once, whichever instance sees it first).
pub trait GrantStore: Send + Sync + std::fmt::Debug + 'static {
    /// Keeps `value` under `key` for `ttl`, replacing what was there.
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The record under `key`, unless it expired.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// The record under `key`, removed in the same step: of two callers taking it, one gets it.
    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Gives the record under `key`, if there is one, the lifetime `ttl` from now; `false` when
    /// there is none. In one step: a record taken meanwhile stays gone (a revoked family is not
    /// brought back by a token issued at the same moment).
    fn extend<'a>(&'a self, key: &'a str, ttl: Duration)
    -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// A [`GrantStore`] in the process, bounded in records and bytes (expired ones are dropped
/// first, by a sweep that runs only when one may have expired; past the bounds a write is
/// refused).
#[derive(Debug)]
pub struct MemoryGrantStore {
    records: Mutex<Records>,
    max_records: usize,
    max_bytes: usize,
}

/// The records, and the bytes of their keys and values together.
#[derive(Debug, Default)]
struct Records {
    map: HashMap<String, (Vec<u8>, Instant)>,
    bytes: usize,
    sweep: Sweep,
}

impl Records {
    fn remove(&mut self, key: &str) -> Option<(Vec<u8>, Instant)> {
        let removed = self.map.remove(key)?;
        self.bytes -= key.len() + removed.0.len();
        Some(removed)
    }

    /// Drops what has expired at `now`, when a sweep is due.
    fn drop_expired(&mut self, now: Instant) {
        if !self.sweep.due(now) {
            return;
        }
        let bytes = &mut self.bytes;
        self.map.retain(|key, (value, until)| {
            let keep = *until > now;
            if !keep {
                *bytes -= key.len() + value.len();
            }
            keep
        });
        let earliest = self.map.values().map(|(_, until)| *until).min();
        self.sweep.swept(now, earliest);
    }
}

impl Default for MemoryGrantStore {
    /// 100,000 records, 64 MiB.
    fn default() -> Self {
        Self::new(100_000, 64 * 1024 * 1024)
    }
}

impl MemoryGrantStore {
    /// At most `max_records` records of `max_bytes` bytes in all.
    pub fn new(max_records: usize, max_bytes: usize) -> Self {
        Self {
            records: Mutex::new(Records::default()),
            max_records,
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl GrantStore for MemoryGrantStore {
    fn put<'a>(
        &'a self,
        key: &'a str,
        value: &'a [u8],
        ttl: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut records = self.lock();
            let now = Instant::now();
            let old = records.remove(key);
            let full = |r: &Records| {
                r.map.len() >= self.max_records
                    || r.bytes + key.len() + value.len() > self.max_bytes
            };
            if full(&records) {
                records.drop_expired(now);
                if full(&records) {
                    // What was there stays (the sweep above did not see it).
                    if let Some(old) = old {
                        records.bytes += key.len() + old.0.len();
                        records.sweep.expires(old.1);
                        records.map.insert(key.to_owned(), old);
                    }
                    return Err(StoreError::refused(format!(
                        "the authorization server keeps {} records, its most, until some expire",
                        records.map.len()
                    )));
                }
            }
            records.bytes += key.len() + value.len();
            records.sweep.expires(now + ttl);
            records
                .map
                .insert(key.to_owned(), (value.to_vec(), now + ttl));
            Ok(())
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let records = self.lock();
            Ok(records
                .map
                .get(key)
                .filter(|(_, until)| *until > Instant::now())
                .map(|(v, _)| v.clone()))
        })
    }

    fn take<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let mut records = self.lock();
            Ok(records
                .remove(key)
                .filter(|(_, until)| *until > Instant::now())
                .map(|(v, _)| v))
        })
    }

    fn extend<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let now = Instant::now();
            let mut records = self.lock();
            let extended = match records.map.get_mut(key) {
                Some((_, until)) if *until > now => {
                    *until = now + ttl;
                    true
                }
                _ => false,
            };
            if extended {
                records.sweep.expires(now + ttl);
            }
            Ok(extended)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_expire_are_taken_once_and_are_bounded() {
        let store = MemoryGrantStore::new(2, 1024);
        store.put("a", b"1", Duration::from_secs(60)).await.unwrap();
        assert_eq!(store.get("a").await.unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(store.take("a").await.unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(store.take("a").await.unwrap(), None);
        store
            .put("b", b"2", Duration::from_millis(1))
            .await
            .unwrap();
        store.put("c", b"3", Duration::from_secs(60)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(store.get("b").await.unwrap(), None, "expired");
        // Full, but the expired record makes room.
        store.put("d", b"4", Duration::from_secs(60)).await.unwrap();
        assert!(store.put("e", b"5", Duration::from_secs(60)).await.is_err());
    }

    #[tokio::test]
    async fn a_record_kept_after_a_refused_write_still_expires() {
        let store = MemoryGrantStore::new(2, 20);
        store
            .put("a", b"1", Duration::from_millis(20))
            .await
            .unwrap();
        store.put("b", b"2", Duration::from_secs(60)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        // Too large: refused, after a sweep that ran without `a`, which is put back.
        assert!(
            store
                .put("a", &[0; 30], Duration::from_secs(60))
                .await
                .is_err()
        );
        // Once a sweep may run again, the expired `a` makes room.
        tokio::time::sleep(Duration::from_millis(150)).await;
        store.put("c", b"3", Duration::from_secs(60)).await.unwrap();
    }
}
