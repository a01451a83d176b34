//! The [`PolicyStore`](crate::store::policy::PolicyStore) of `RedisStore`: rate counters,
//! permits and cached responses, each decision one script on Redis's clock.

use super::{RedisStore, Script, millis};
use crate::store::StoreError;
use futures_util::future::BoxFuture;
use std::time::Duration;

/// A generic cell rate: the key holds the theoretical arrival time (µs, Redis's clock, so every
/// instance reads one time) of the next request; a request is allowed when that is at most a
/// window ahead. Returns {allowed, retry µs, remaining}.
static RATE: Script = Script::new(
    r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local interval = window / tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next = tat + interval
local allowed_at = next - window
if allowed_at > now then
  return {0, math.ceil(allowed_at - now), 0}
end
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.max(1, math.ceil((next - now) / 1000)))
return {1, 0, math.floor((window - (next - now)) / interval)}
",
);

/// Takes a permit: the key is a sorted set of permits scored by their lease's end (ms, Redis's
/// clock); lapsed ones are dropped first.
static ACQUIRE: Script = Script::new(
    r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
local lease = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < lease then
  redis.call('PEXPIRE', KEYS[1], lease)
end
return 1
",
);

/// Extends a held permit's lease (not one that lapsed and was dropped).
static RENEW_PERMIT: Script = Script::new(
    r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < lease then
  redis.call('PEXPIRE', KEYS[1], lease)
end
return 1
",
);

/// Keeps a cached response within its caller's share: KEYS[1] the entry, KEYS[2] the caller's
/// entries scored by their expiry (ms, Redis's clock), KEYS[3] their sizes; ARGV the value, its
/// TTL (ms), the most entries and bytes the caller holds. What expired is forgotten first, then
/// the caller's entries closest to expiry make room. Returns 1 when kept.
static CACHE_PUT: Script = Script::new(
    r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
local size = string.len(ARGV[1])
local max_entries = tonumber(ARGV[3])
local max_bytes = tonumber(ARGV[4])
for _, k in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('HDEL', KEYS[3], k)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('HEXISTS', KEYS[3], KEYS[1]) == 1 then
  redis.call('ZREM', KEYS[2], KEYS[1])
  redis.call('HDEL', KEYS[3], KEYS[1])
end
if size > max_bytes or max_entries < 1 then
  return 0
end
local used = 0
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do
  used = used + tonumber(v)
end
while redis.call('ZCARD', KEYS[2]) >= max_entries or used + size > max_bytes do
  local first = redis.call('ZPOPMIN', KEYS[2])
  if #first == 0 then
    break
  end
  used = used - tonumber(redis.call('HGET', KEYS[3], first[1]) or '0')
  redis.call('HDEL', KEYS[3], first[1])
  redis.call('DEL', first[1])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
redis.call('HSET', KEYS[3], KEYS[1], size)
local keep = math.max(redis.call('PTTL', KEYS[2]), ttl)
redis.call('PEXPIRE', KEYS[2], keep)
redis.call('PEXPIRE', KEYS[3], keep)
return 1
",
);

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

impl crate::store::policy::PolicyStore for RedisStore {
    fn rate<'a>(
        &'a self,
        key: &'a str,
        limit: u32,
        window: Duration,
    ) -> BoxFuture<'a, Result<crate::store::policy::RateDecision, StoreError>> {
        Box::pin(async move {
            let key = self.key("policy", key);
            let (allowed, retry_us, remaining): (u8, u64, u64) = self
                .eval(&RATE, |cmd| {
                    cmd.arg(1).arg(&key).arg(micros(window)).arg(limit.max(1));
                })
                .await?;
            Ok(crate::store::policy::RateDecision {
                allowed: allowed == 1,
                retry_after: Duration::from_micros(retry_us),
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            })
        })
    }

    fn acquire<'a>(
        &'a self,
        key: &'a str,
        permit: &'a str,
        max: u32,
        lease: Duration,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let key = self.key("policy", key);
            let taken: u8 = self
                .eval(&ACQUIRE, |cmd| {
                    cmd.arg(1).arg(&key).arg(permit).arg(max).arg(millis(lease));
                })
                .await?;
            Ok(taken == 1)
        })
    }

    fn renew<'a>(
        &'a self,
        key: &'a str,
        permit: &'a str,
        lease: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.key("policy", key);
            self.eval::<()>(&RENEW_PERMIT, |cmd| {
                cmd.arg(1).arg(&key).arg(permit).arg(millis(lease));
            })
            .await
        })
    }

    fn release<'a>(
        &'a self,
        key: &'a str,
        permit: &'a str,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.key("policy", key);
            self.run(|mut c| async move {
                redis::cmd("ZREM")
                    .arg(&key)
                    .arg(permit)
                    .query_async::<()>(&mut c)
                    .await
            })
            .await
        })
    }

    fn cache_get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, StoreError>> {
        Box::pin(async move {
            let key = self.key("policy", key);
            self.run(|mut c| async move { redis::cmd("GET").arg(&key).query_async(&mut c).await })
                .await
        })
    }

    fn cache_put<'a>(
        &'a self,
        entry: crate::store::policy::CacheEntry<'a>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key = self.key("policy", entry.key);
            let index = self.key("policy", &format!("{}:entries", entry.owner));
            let sizes = self.key("policy", &format!("{}:sizes", entry.owner));
            self.eval::<u8>(&CACHE_PUT, |cmd| {
                cmd.arg(3)
                    .arg(&key)
                    .arg(&index)
                    .arg(&sizes)
                    .arg(entry.value)
                    .arg(millis(entry.ttl))
                    .arg(entry.owner_entries)
                    .arg(entry.owner_bytes);
            })
            .await
            .map(drop)
        })
    }
}
