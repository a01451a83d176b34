//! The contract of what the middleware policies keep ([`PolicyStore`]): rate-limit counters,
//! permits of calls running at once, cached responses; and its memory implementation. A store
//! several instances share (`RedisStore`) makes a limit one limit across them.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::sweep::Sweep;
use crate::store::StoreError;

/// What a rate limit decided for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request is within the limit (and was counted).
    pub allowed: bool,
    /// When refused: how long until one more request is allowed.
    pub retry_after: Duration,
    /// When allowed: how many more requests the limit allows at once now.
    pub remaining: u32,
}

/// The share of one caller in a response cache by default: entries, and bytes of them.
pub(crate) const CACHE_ENTRIES_PER_OWNER: usize = 1_000;
pub(crate) const CACHE_BYTES_PER_OWNER: usize = 16 * 1024 * 1024;

/// A response to keep ([`PolicyStore::cache_put`]): `value` under `key` for `ttl`, counted
/// against its caller's share. `owner` names the caller (a hash made by the cache: bounded, no
/// client text), who holds at most `owner_entries` entries and `owner_bytes` bytes; past them
/// the caller's own entries closest to expiry make room, so that one caller can neither grow
/// the store without bound nor push another caller's results out.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct CacheEntry<'a> {
    /// The entry's key.
    pub key: &'a str,
    /// The caller it belongs to.
    pub owner: &'a str,
    /// The serialized result.
    pub value: &'a [u8],
    /// How long it is kept.
    pub ttl: Duration,
    /// The most entries the caller holds.
    pub owner_entries: usize,
    /// The most bytes of entries the caller holds.
    pub owner_bytes: usize,
}

impl<'a> CacheEntry<'a> {
    /// An entry of `owner`, with the caller's share bounded by `owner_entries` and
    /// `owner_bytes`.
    pub fn new(key: &'a str, owner: &'a str, value: &'a [u8], ttl: Duration) -> Self {
        Self {
            key,
            owner,
            value,
            ttl,
            owner_entries: CACHE_ENTRIES_PER_OWNER,
            owner_bytes: CACHE_BYTES_PER_OWNER,
        }
    }

    /// The caller's share: at most `entries` entries and `bytes` bytes.
    #[must_use]
    pub fn share(mut self, entries: usize, bytes: usize) -> Self {
        self.owner_entries = entries;
        self.owner_bytes = bytes;
        self
    }
}

/// Where rate limits, concurrency caps and the response cache keep their state. Keys are
/// made by the policies (a hash of the policy and its key: bounded, and no client text).
pub trait PolicyStore: Send + Sync + std::fmt::Debug + 'static {
    /// Counts one request of `key` against `limit` requests per `window` (a generic cell rate
    /// algorithm: requests spread evenly, a burst of `limit` after a quiet `window`); a refused
    /// request is not counted.
    fn rate<'a>(
        &'a self,
        key: &'a str,
        limit: u32,
        window: Duration,
    ) -> BoxFuture<'a, Result<RateDecision, StoreError>>;

    /// Takes a permit `permit` of `key` if fewer than `max` are held; a permit lapses after
    /// `lease` unless renewed (the instance holding it stopped). `true` when taken.
    fn acquire<'a>(
        &'a self,
        key: &'a str,
        permit: &'a str,
        max: u32,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Extends a held permit's lease to `lease` from now.
    fn renew<'a>(
        &'a self,
        key: &'a str,
        permit: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Gives a permit back.
    fn release<'a>(
        &'a self,
        key: &'a str,
        permit: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// A cached value, if not expired.
    fn cache_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>>;

    /// Keeps a response, within its caller's share (see [`CacheEntry`]).
    fn cache_put<'a>(&'a self, entry: CacheEntry<'a>) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The [`PolicyStore`] of one process (the default): limits per instance.
#[derive(Debug)]
pub struct MemoryPolicyStore {
    max_keys: usize,
    max_cache_bytes: usize,
    rates: Mutex<Swept<HashMap<String, Instant>>>,
    permits: Mutex<Swept<HashMap<String, HashMap<String, Instant>>>>,
    cache: Mutex<Cached>,
}

/// A map of the store, with the sweep of its expired entries.
#[derive(Debug, Default)]
struct Swept<M> {
    map: M,
    sweep: Sweep,
}

#[derive(Debug, Default)]
struct Cached {
    entries: HashMap<String, Kept>,
    /// What each caller holds.
    owners: HashMap<String, Share>,
    bytes: usize,
    sweep: Sweep,
}

#[derive(Debug)]
struct Kept {
    until: Instant,
    value: Vec<u8>,
    owner: String,
}

#[derive(Debug, Default)]
struct Share {
    keys: HashSet<String>,
    bytes: usize,
}

impl Cached {
    fn remove(&mut self, key: &str) -> Option<Kept> {
        let kept = self.entries.remove(key)?;
        self.bytes -= kept.value.len();
        if let Some(share) = self.owners.get_mut(&kept.owner) {
            share.keys.remove(key);
            share.bytes -= kept.value.len();
            if share.keys.is_empty() {
                self.owners.remove(&kept.owner);
            }
        }
        Some(kept)
    }

    /// Drops what has expired at `now`, when a sweep is due.
    fn drop_expired(&mut self, now: Instant) {
        if !self.sweep.due(now) {
            return;
        }
        let expired: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, kept)| kept.until <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in expired {
            self.remove(&k);
        }
        let earliest = self.entries.values().map(|kept| kept.until).min();
        self.sweep.swept(now, earliest);
    }

    /// Makes room in `owner`'s share for one entry of `len` bytes: its entries closest to
    /// expiry (the expired first) go.
    fn make_room(&mut self, owner: &str, len: usize, max_entries: usize, max_bytes: usize) {
        loop {
            let Some(share) = self.owners.get(owner) else {
                return;
            };
            if share.keys.len() < max_entries && share.bytes + len <= max_bytes {
                return;
            }
            let first = share
                .keys
                .iter()
                .min_by_key(|k| self.entries.get(*k).map(|e| e.until))
                .cloned()
                .expect("a share holds keys");
            self.remove(&first);
        }
    }
}

impl Default for MemoryPolicyStore {
    fn default() -> Self {
        Self::new(100_000, 64 * 1024 * 1024)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryPolicyStore {
    /// A store holding at most `max_keys` rate-limit counters, keys of permits and cached
    /// responses each (default 100,000), and at most `max_cache_bytes` of cached responses
    /// (default 64 MiB). Past a bound, what has expired is dropped first (by a pass over the
    /// map, run only once an entry may have expired and at most every 100 ms); a counter or
    /// permit key that still does not fit is refused (the request fails closed), a response
    /// that does not fit is not cached.
    pub fn new(max_keys: usize, max_cache_bytes: usize) -> Self {
        Self {
            max_keys: max_keys.max(1),
            max_cache_bytes,
            rates: Mutex::default(),
            permits: Mutex::default(),
            cache: Mutex::default(),
        }
    }

    fn full() -> StoreError {
        StoreError::refused("the policy store holds its most keys")
    }
}

impl PolicyStore for MemoryPolicyStore {
    fn rate<'a>(
        &'a self,
        key: &'a str,
        limit: u32,
        window: Duration,
    ) -> BoxFuture<'a, Result<RateDecision, StoreError>> {
        let now = Instant::now();
        let decision = (|| {
            let mut rates = lock(&self.rates);
            let interval = window / limit.max(1);
            let tat = rates
                .map
                .get(key)
                .copied()
                .filter(|t| *t > now)
                .unwrap_or(now);
            let next = tat + interval;
            let allowed_at = next.checked_sub(window).unwrap_or(now);
            if allowed_at > now {
                return Ok(RateDecision {
                    allowed: false,
                    retry_after: allowed_at - now,
                    remaining: 0,
                });
            }
            if !rates.map.contains_key(key) && rates.map.len() >= self.max_keys {
                if rates.sweep.due(now) {
                    rates.map.retain(|_, t| *t > now);
                    let earliest = rates.map.values().copied().min();
                    rates.sweep.swept(now, earliest);
                }
                if rates.map.len() >= self.max_keys {
                    return Err(Self::full());
                }
            }
            rates.sweep.expires(next);
            rates.map.insert(key.to_owned(), next);
            Ok(RateDecision {
                allowed: true,
                retry_after: Duration::ZERO,
                remaining: remaining(window, next - now, interval),
            })
        })();
        Box::pin(std::future::ready(decision))
    }

    fn acquire<'a>(
        &'a self,
        key: &'a str,
        permit: &'a str,
        max: u32,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let now = Instant::now();
        let taken = (|| {
            let mut permits = lock(&self.permits);
            if !permits.map.contains_key(key) && permits.map.len() >= self.max_keys {
                if permits.sweep.due(now) {
                    permits.map.retain(|_, held| {
                        held.retain(|_, until| *until > now);
                        !held.is_empty()
                    });
                    let earliest = permits
                        .map
                        .values()
                        .flat_map(|held| held.values().copied())
                        .min();
                    permits.sweep.swept(now, earliest);
                }
                if permits.map.len() >= self.max_keys {
                    return Err(Self::full());
                }
            }
            let held = permits.map.entry(key.to_owned()).or_default();
            held.retain(|_, until| *until > now);
            if held.len() >= max as usize {
                // A key holds an entry only while it holds permits (whose expiries the sweep
                // knows).
                if held.is_empty() {
                    permits.map.remove(key);
                }
                return Ok(false);
            }
            held.insert(permit.to_owned(), now + lease);
            permits.sweep.expires(now + lease);
            Ok(true)
        })();
        Box::pin(std::future::ready(taken))
    }

    fn renew<'a>(
        &'a self,
        key: &'a str,
        permit: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let until = Instant::now() + lease;
        let mut permits = lock(&self.permits);
        if let Some(held) = permits
            .map
            .get_mut(key)
            .and_then(|held| held.get_mut(permit))
        {
            *held = until;
            permits.sweep.expires(until);
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        permit: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        let mut permits = lock(&self.permits);
        if let Some(held) = permits.map.get_mut(key) {
            held.remove(permit);
            if held.is_empty() {
                permits.map.remove(key);
            }
        }
        Box::pin(std::future::ready(Ok(())))
    }

    fn cache_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        let now = Instant::now();
        let mut cache = lock(&self.cache);
        let hit = match cache.entries.get(key) {
            Some(kept) if kept.until > now => Some(kept.value.clone()),
            Some(_) => {
                cache.remove(key);
                None
            }
            None => None,
        };
        Box::pin(std::future::ready(Ok(hit)))
    }

    fn cache_put<'a>(&'a self, entry: CacheEntry<'a>) -> BoxFuture<'a, Result<(), StoreError>> {
        let now = Instant::now();
        let len = entry.value.len();
        let mut cache = lock(&self.cache);
        cache.remove(entry.key);
        if entry.owner_entries == 0 || len > entry.owner_bytes {
            return Box::pin(std::future::ready(Ok(())));
        }
        cache.make_room(entry.owner, len, entry.owner_entries, entry.owner_bytes);
        if cache.entries.len() >= self.max_keys || cache.bytes + len > self.max_cache_bytes {
            cache.drop_expired(now);
        }
        if cache.entries.len() < self.max_keys && cache.bytes + len <= self.max_cache_bytes {
            cache.bytes += len;
            let share = cache.owners.entry(entry.owner.to_owned()).or_default();
            share.keys.insert(entry.key.to_owned());
            share.bytes += len;
            cache.sweep.expires(now + entry.ttl);
            cache.entries.insert(
                entry.key.to_owned(),
                Kept {
                    until: now + entry.ttl,
                    value: entry.value.to_vec(),
                    owner: entry.owner.to_owned(),
                },
            );
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

/// How many more requests fit now, when the next one is due `ahead` from now.
pub(crate) fn remaining(window: Duration, ahead: Duration, interval: Duration) -> u32 {
    if interval.is_zero() {
        return u32::MAX;
    }
    let room = window.saturating_sub(ahead);
    u32::try_from(room.as_nanos() / interval.as_nanos()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rate_allows_a_burst_then_one_per_interval() {
        let store = MemoryPolicyStore::default();
        let window = Duration::from_secs(60);
        for left in (0..3).rev() {
            let d = store.rate("k", 3, window).await.unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, left);
        }
        let refused = store.rate("k", 3, window).await.unwrap();
        assert!(!refused.allowed);
        // One request is due every 20 s: the next within that.
        assert!(refused.retry_after > Duration::from_secs(19), "{refused:?}");
        assert!(
            refused.retry_after <= Duration::from_secs(20),
            "{refused:?}"
        );
        // Another key has its own budget.
        assert!(store.rate("other", 3, window).await.unwrap().allowed);
    }

    #[tokio::test]
    async fn a_full_store_refuses_new_keys_until_one_expires() {
        let store = MemoryPolicyStore::new(2, 1024);
        let short = Duration::from_millis(300);
        let long = Duration::from_secs(60);
        assert!(store.rate("a", 1, short).await.unwrap().allowed);
        assert!(store.rate("b", 1, long).await.unwrap().allowed);
        assert!(store.rate("c", 1, long).await.is_err(), "full");
        assert!(store.acquire("a", "1", 1, short).await.unwrap());
        assert!(store.acquire("b", "1", 1, long).await.unwrap());
        assert!(store.acquire("c", "1", 1, long).await.is_err(), "full");
        // A sweep runs at most every 100 ms: past both `short` and that.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            store.rate("c", 1, long).await.unwrap().allowed,
            "`a` expired"
        );
        assert!(
            store.acquire("c", "1", 1, long).await.unwrap(),
            "`a` lapsed"
        );
        assert!(store.rate("d", 1, long).await.is_err(), "full of live keys");
        assert!(store.acquire("d", "1", 1, long).await.is_err());
    }

    #[tokio::test]
    async fn a_full_cache_makes_room_when_an_entry_expires() {
        let store = MemoryPolicyStore::new(2, 1024);
        let put = |key, ttl| store.cache_put(CacheEntry::new(key, "o", b"x", ttl));
        put("a", Duration::from_millis(300)).await.unwrap();
        put("b", Duration::from_secs(60)).await.unwrap();
        put("c", Duration::from_secs(60)).await.unwrap();
        assert!(store.cache_get("c").await.unwrap().is_none(), "full");
        tokio::time::sleep(Duration::from_millis(500)).await;
        // `a` is not read: the sweep, not a lookup, drops it.
        put("c", Duration::from_secs(60)).await.unwrap();
        assert!(store.cache_get("c").await.unwrap().is_some());
        assert!(store.cache_get("b").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn refused_permits_of_a_key_leave_nothing_behind() {
        let store = MemoryPolicyStore::new(1, 1024);
        assert!(
            !store
                .acquire("k", "a", 0, Duration::from_secs(60))
                .await
                .unwrap()
        );
        // Nothing held for `k`: another key fits.
        assert!(
            store
                .acquire("j", "a", 1, Duration::from_secs(60))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn permits_are_counted_released_and_lapse() {
        let store = MemoryPolicyStore::default();
        let lease = Duration::from_secs(60);
        assert!(store.acquire("k", "a", 2, lease).await.unwrap());
        assert!(store.acquire("k", "b", 2, lease).await.unwrap());
        assert!(!store.acquire("k", "c", 2, lease).await.unwrap());
        store.release("k", "a").await.unwrap();
        assert!(store.acquire("k", "c", 2, lease).await.unwrap());
        let short = Duration::from_millis(20);
        assert!(store.acquire("j", "a", 1, short).await.unwrap());
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(store.acquire("j", "b", 1, short).await.unwrap(), "lapsed");
    }

    #[tokio::test]
    async fn the_cache_is_bounded_in_bytes_and_expires() {
        let store = MemoryPolicyStore::new(10, 100);
        let ttl = Duration::from_secs(60);
        let put = |key, value, ttl| store.cache_put(CacheEntry::new(key, "o", value, ttl));
        put("a", &[0; 60], ttl).await.unwrap();
        put("b", &[0; 60], ttl).await.unwrap();
        assert!(store.cache_get("a").await.unwrap().is_some());
        assert!(
            store.cache_get("b").await.unwrap().is_none(),
            "over 100 bytes"
        );
        put("c", b"x", Duration::from_millis(10)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(store.cache_get("c").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_caller_holds_its_share_and_makes_room_in_it_only() {
        let store = MemoryPolicyStore::default();
        let put = |key, owner, secs| {
            store.cache_put(
                CacheEntry::new(key, owner, b"0123456789", Duration::from_secs(secs)).share(2, 25),
            )
        };
        put("bob-1", "bob", 60).await.unwrap();
        put("alice-1", "alice", 30).await.unwrap();
        put("alice-2", "alice", 90).await.unwrap();
        // A third entry of Alice's: her entry closest to expiry makes room, not Bob's.
        put("alice-3", "alice", 60).await.unwrap();
        let store = &store;
        let held = |key| async move { store.cache_get(key).await.unwrap().is_some() };
        assert!(!held("alice-1").await);
        assert!(held("alice-2").await && held("alice-3").await && held("bob-1").await);
        // Over her bytes (25): one entry of 10 bytes goes for another.
        let big = [0u8; 20];
        store
            .cache_put(
                CacheEntry::new("alice-4", "alice", &big, Duration::from_secs(60)).share(2, 25),
            )
            .await
            .unwrap();
        assert!(held("alice-4").await);
        assert!(
            !held("alice-3").await && !held("alice-2").await,
            "20 + 10 > 25"
        );
        assert!(held("bob-1").await);
        // Larger than a whole share: not kept.
        store
            .cache_put(
                CacheEntry::new("alice-5", "alice", &[0; 30], Duration::from_secs(60)).share(2, 25),
            )
            .await
            .unwrap();
        assert!(!held("alice-5").await && held("alice-4").await);
    }
}
