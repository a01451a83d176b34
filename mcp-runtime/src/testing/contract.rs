use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt as _;
use serde_json::{Map, json};

use crate::store::grants::GrantStore;
use crate::store::policy::{CacheEntry, PolicyStore};
use crate::store::shared::{EventBounds, SessionRecord, SessionStore};
use crate::store::tasks::{StoreError, TaskRecord, TaskStatus, TaskStore};

/// A key or id no other run uses.
fn fresh(what: &str) -> String {
    format!("contract-{what}-{}", crate::protocol::random_id())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

async fn ok<T>(what: &str, done: impl Future<Output = Result<T, StoreError>>) -> T {
    done.await
        .unwrap_or_else(|e| panic!("{what}: the store failed: {e}"))
}

/// The contract of a [`SessionStore`]: records saved, loaded (renewing their expiry), removed
/// and expired after their idle time; event logs appended in order, read after a sequence
/// number, finished, and kept within their [`EventBounds`]; messages published to every
/// listener.
pub async fn session_store_contract(store: &dyn SessionStore) {
    let idle = Duration::from_secs(60);
    let record = SessionRecord {
        id: fresh("session"),
        owner: Some("issuer|alice".into()),
        client: "alice".into(),
        version: "2025-11-25".into(),
        capabilities: Some(json!({"elicitation": {}})),
        log_level: None,
        subscriptions: vec!["file:///a".into()],
    };
    ok("save", store.save(&record, idle)).await;
    let loaded = ok("load", store.load(&record.id, idle)).await;
    assert_eq!(
        loaded.as_ref(),
        Some(&record),
        "a saved record loads as saved"
    );
    let mut changed = record.clone();
    changed.subscriptions.push("file:///b".into());
    ok("save again", store.save(&changed, idle)).await;
    assert_eq!(
        ok("load", store.load(&record.id, idle)).await,
        Some(changed),
        "a record saved again replaces the first"
    );
    assert_eq!(
        ok("load", store.load(&fresh("unknown"), idle)).await,
        None,
        "an unknown session loads as None"
    );
    assert!(
        ok("remove", store.remove(&record.id)).await,
        "removing a record says it existed"
    );
    assert!(
        !ok("remove", store.remove(&record.id)).await,
        "removing it again says it did not"
    );
    assert_eq!(ok("load", store.load(&record.id, idle)).await, None);

    // Expiry after `idle` without a load; a load renews it.
    let short = Duration::from_millis(400);
    let expiring = SessionRecord {
        id: fresh("expiring"),
        ..record.clone()
    };
    let renewed = SessionRecord {
        id: fresh("renewed"),
        ..record.clone()
    };
    ok("save", store.save(&expiring, short)).await;
    ok("save", store.save(&renewed, short)).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(ok("load", store.load(&renewed.id, short)).await.is_some());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        ok("load", store.load(&expiring.id, short)).await,
        None,
        "a record not loaded for longer than its idle time expires"
    );
    assert!(
        ok("load", store.load(&renewed.id, short)).await.is_some(),
        "a load renews a record's expiry"
    );

    // Event logs.
    let session = fresh("events");
    let bounds = EventBounds {
        events: 3,
        bytes: 1024,
        session_bytes: 4096,
        streams: 4,
    };
    let event = |n: u64, data: &str| (n, Arc::<str>::from(data));
    assert_eq!(
        ok("events_after", store.events_after(&session, 1, 0)).await,
        None,
        "a stream never logged has no log"
    );
    ok(
        "append",
        store.append_events(
            &session,
            1,
            &[event(1, "a"), event(2, "b")],
            false,
            bounds,
            idle,
        ),
    )
    .await;
    let logged = ok("events_after", store.events_after(&session, 1, 0))
        .await
        .expect("a log once appended to");
    assert_eq!(logged.events, [(1, "a".into()), (2, "b".into())]);
    assert!(!logged.finished, "not finished until marked");
    ok(
        "append",
        store.append_events(&session, 1, &[event(3, "c")], true, bounds, idle),
    )
    .await;
    let after = ok("events_after", store.events_after(&session, 1, 1))
        .await
        .expect("the log");
    assert_eq!(
        after.events,
        [(2, "b".into()), (3, "c".into())],
        "the events after a sequence number, in order"
    );
    assert!(after.finished, "marked finished");
    // At most `bounds.events` per stream: the oldest go.
    let many: Vec<_> = (1..=5).map(|n| event(n, "x")).collect();
    ok(
        "append",
        store.append_events(&session, 2, &many, false, bounds, idle),
    )
    .await;
    let kept = ok("events_after", store.events_after(&session, 2, 0))
        .await
        .expect("the log");
    assert_eq!(
        kept.events.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        [3, 4, 5],
        "a log keeps its newest `events`"
    );
    // At most `bounds.bytes` per stream: the oldest go to make room.
    let big = "y".repeat(400);
    let heavy: Vec<_> = (1..=3).map(|n| event(n, &big)).collect();
    ok(
        "append",
        store.append_events(&session, 3, &heavy, false, bounds, idle),
    )
    .await;
    let kept = ok("events_after", store.events_after(&session, 3, 0))
        .await
        .expect("the log");
    let bytes: usize = kept.events.iter().map(|(_, d)| d.len()).sum();
    assert!(
        bytes <= bounds.bytes && kept.events.last().map(|(n, _)| *n) == Some(3),
        "a log stays within `bytes` and keeps its newest event: {:?}",
        kept.events.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );

    // Publish reaches every listener, this one too.
    let mut first = store.listen();
    let mut second = store.listen();
    let message = fresh("message");
    // A listener subscribes in the background: publish until both have it.
    let heard = async {
        let wanted = |s: &String| *s == message;
        let a = async {
            while let Some(m) = first.next().await {
                if wanted(&m) {
                    return true;
                }
            }
            false
        };
        let b = async {
            while let Some(m) = second.next().await {
                if wanted(&m) {
                    return true;
                }
            }
            false
        };
        futures_util::future::join(a, b).await
    };
    let publish = async {
        loop {
            ok("publish", store.publish(message.clone())).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let both = tokio::time::timeout(Duration::from_secs(10), async {
        tokio::select! {
            both = heard => both,
            () = publish => unreachable!(),
        }
    })
    .await
    .expect("a published message reaches every listener within 10 s");
    assert_eq!(both, (true, true), "both listeners heard the message");
}

/// A task record of `owner`.
fn task(owner: Option<&str>, status: TaskStatus, created_at_ms: u64, ttl_ms: u64) -> TaskRecord {
    TaskRecord {
        id: fresh("task"),
        owner: owner.map(str::to_owned),
        status,
        status_message: Some("working on it".into()),
        created_at_ms,
        updated_at_ms: now_ms(),
        ttl_ms,
        result: None,
        error: None,
        input_requests: Map::new(),
    }
}

/// The contract of a [`TaskStore`]: records written and read back, replaced, listed per owner
/// (newest first, bounded by `limit`, without what they hold; nothing for the owner `None`),
/// and ended records gone once their TTL has passed (running ones stay).
pub async fn task_store_contract(store: &dyn TaskStore) {
    let owner = fresh("owner");
    let other = fresh("other");
    let base = now_ms();
    let mut first = task(Some(&owner), TaskStatus::Working, base, 60_000);
    ok("put", store.put(first.clone())).await;
    let got = ok("get", store.get(&first.id))
        .await
        .expect("a record once put");
    assert_eq!(
        (got.id.as_str(), got.owner.as_deref(), got.status),
        (first.id.as_str(), Some(owner.as_str()), TaskStatus::Working)
    );
    assert_eq!(got.status_message, first.status_message);
    assert_eq!(got.created_at_ms, first.created_at_ms);
    first.status = TaskStatus::Completed;
    first.result = Some(json!({"content": [{"type": "text", "text": "done"}]}));
    first.updated_at_ms = now_ms();
    ok("put", store.put(first.clone())).await;
    let got = ok("get", store.get(&first.id)).await.expect("the record");
    assert_eq!(
        got.status,
        TaskStatus::Completed,
        "a record put again replaces the first"
    );
    assert_eq!(
        got.result, first.result,
        "a completed record keeps its result"
    );
    assert!(ok("get", store.get(&fresh("unknown"))).await.is_none());

    let second = task(Some(&owner), TaskStatus::Working, base + 1, 60_000);
    let third = task(Some(&owner), TaskStatus::InputRequired, base + 2, 60_000);
    let theirs = task(Some(&other), TaskStatus::Working, base + 3, 60_000);
    let nobodys = task(None, TaskStatus::Working, base + 4, 60_000);
    for r in [&second, &third, &theirs, &nobodys] {
        ok("put", store.put(r.clone())).await;
    }
    let listed = ok("list", store.list(Some(&owner), 10)).await;
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [third.id.as_str(), second.id.as_str(), first.id.as_str()],
        "an owner's records, newest first, and no one else's"
    );
    assert!(
        listed
            .iter()
            .all(|r| r.result.is_none() && r.error.is_none() && r.input_requests.is_empty()),
        "a list shows where tasks are, not what they hold"
    );
    assert_eq!(
        ok("list", store.list(Some(&owner), 2)).await.len(),
        2,
        "at most `limit`"
    );
    assert!(
        ok("list", store.list(None, 10)).await.is_empty(),
        "the owner `None` is listed to nobody"
    );
    assert!(
        ok("get", store.get(&nobodys.id)).await.is_some(),
        "a record of the owner `None` is reachable by its id"
    );

    // An ended record goes once its TTL has passed; a running one stays.
    let ended = task(Some(&owner), TaskStatus::Cancelled, now_ms(), 200);
    let running = task(Some(&owner), TaskStatus::Working, now_ms(), 200);
    ok("put", store.put(ended.clone())).await;
    ok("put", store.put(running.clone())).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    assert!(
        ok("get", store.get(&ended.id)).await.is_none(),
        "an ended record is gone once its TTL has passed"
    );
    assert!(
        ok("get", store.get(&running.id)).await.is_some(),
        "a running record does not expire"
    );
    assert!(
        !ok("list", store.list(Some(&owner), 10))
            .await
            .iter()
            .any(|r| r.id == ended.id),
        "nor is it listed"
    );
}

/// The contract of a [`PolicyStore`]: a rate allows a burst then one per interval and says
/// when to retry, per key; permits are counted, given back and lapse with their lease; a cached
/// value is read back until it expires, within its caller's share.
pub async fn policy_store_contract(store: &dyn PolicyStore) {
    let window = Duration::from_secs(60);
    let key = fresh("rate");
    for left in (0..3).rev() {
        let d = ok("rate", store.rate(&key, 3, window)).await;
        assert!(d.allowed, "the first 3 of a limit of 3 are allowed");
        assert_eq!(d.remaining, left, "and say how many remain");
    }
    let refused = ok("rate", store.rate(&key, 3, window)).await;
    assert!(!refused.allowed, "the fourth is refused");
    assert!(
        refused.retry_after > Duration::from_secs(15)
            && refused.retry_after <= Duration::from_secs(20),
        "one more is due 20 s after the first (a limit of 3 a minute): {:?}",
        refused.retry_after
    );
    assert!(
        ok("rate", store.rate(&fresh("rate"), 3, window))
            .await
            .allowed,
        "another key has its own budget"
    );

    let permits = fresh("permits");
    let lease = Duration::from_secs(60);
    assert!(ok("acquire", store.acquire(&permits, "a", 2, lease)).await);
    assert!(ok("acquire", store.acquire(&permits, "b", 2, lease)).await);
    assert!(
        !ok("acquire", store.acquire(&permits, "c", 2, lease)).await,
        "at most `max` permits at once"
    );
    ok("release", store.release(&permits, "a")).await;
    assert!(
        ok("acquire", store.acquire(&permits, "c", 2, lease)).await,
        "a permit given back makes room"
    );
    let lapsing = fresh("lapsing");
    let short = Duration::from_millis(200);
    assert!(ok("acquire", store.acquire(&lapsing, "a", 1, short)).await);
    ok("renew", store.renew(&lapsing, "a", short)).await;
    assert!(!ok("acquire", store.acquire(&lapsing, "b", 1, short)).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        ok("acquire", store.acquire(&lapsing, "b", 1, short)).await,
        "a permit not renewed lapses with its lease"
    );

    let (alice, bob) = (fresh("alice"), fresh("bob"));
    let ttl = Duration::from_secs(60);
    let put = |key: &str, owner: &str, ttl| {
        let (key, owner) = (key.to_owned(), owner.to_owned());
        async move {
            ok(
                "cache_put",
                store.cache_put(CacheEntry::new(&key, &owner, b"0123456789", ttl).share(2, 1024)),
            )
            .await;
        }
    };
    let held = |key: String| async move { ok("cache_get", store.cache_get(&key)).await };
    let keys: Vec<String> = (0..4).map(|_| fresh("cache")).collect();
    put(&keys[0], &alice, Duration::from_secs(30)).await;
    put(&keys[1], &alice, ttl).await;
    put(&keys[2], &bob, ttl).await;
    assert_eq!(
        held(keys[0].clone()).await.as_deref(),
        Some(&b"0123456789"[..]),
        "a cached value reads back"
    );
    put(&keys[3], &alice, ttl).await;
    assert!(
        held(keys[0].clone()).await.is_none(),
        "past a caller's share, its entry closest to expiry goes"
    );
    assert!(held(keys[1].clone()).await.is_some() && held(keys[3].clone()).await.is_some());
    assert!(
        held(keys[2].clone()).await.is_some(),
        "another caller's entries stay"
    );
    let expiring = fresh("cache");
    put(&expiring, &bob, Duration::from_millis(200)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        held(expiring).await.is_none(),
        "a cached value expires after its TTL"
    );
}

/// The contract of a store that cannot be reached (stopped, or pointed at nothing): every
/// operation fails within `within` with an error that says the store is unavailable
/// ([`StoreError::is_unavailable`]), never hangs, never reports success.
pub async fn unavailable_store_contract(
    sessions: Option<&dyn SessionStore>,
    tasks: Option<&dyn TaskStore>,
    policies: Option<&dyn PolicyStore>,
    within: Duration,
) {
    async fn unavailable<T>(
        what: &str,
        within: Duration,
        done: impl Future<Output = Result<T, StoreError>>,
    ) {
        match tokio::time::timeout(within, done).await {
            Err(_) => panic!("{what}: no answer within {within:?} from a store that is down"),
            Ok(Ok(_)) => panic!("{what}: a store that is down reported success"),
            Ok(Err(e)) => assert!(e.is_unavailable(), "{what}: {e} (not `unavailable`)"),
        }
    }
    let idle = Duration::from_secs(60);
    if let Some(s) = sessions {
        let record = SessionRecord {
            id: fresh("down"),
            owner: None,
            client: "c".into(),
            version: "2025-11-25".into(),
            capabilities: None,
            log_level: None,
            subscriptions: Vec::new(),
        };
        unavailable("save", within, s.save(&record, idle)).await;
        unavailable("load", within, s.load(&record.id, idle)).await;
        unavailable("remove", within, s.remove(&record.id)).await;
        unavailable("publish", within, s.publish("m".into())).await;
    }
    if let Some(t) = tasks {
        let record = task(Some("o"), TaskStatus::Working, now_ms(), 1_000);
        unavailable("put", within, t.put(record.clone())).await;
        unavailable("get", within, t.get(&record.id)).await;
        unavailable("list", within, t.list(Some("o"), 10)).await;
    }
    if let Some(p) = policies {
        unavailable("rate", within, p.rate("k", 1, idle)).await;
        unavailable("acquire", within, p.acquire("k", "a", 1, idle)).await;
        unavailable("cache_get", within, p.cache_get("k")).await;
    }
}

/// The contract of a [`GrantStore`]: a record read until its lifetime ends, taken once (of two
/// takers, one gets it), replaced by a write, and given a new lifetime by `extend` only while it
/// exists (a record taken meanwhile is not brought back).
pub async fn grant_store_contract(store: &dyn GrantStore) {
    let key = fresh("grant");
    ok("put", store.put(&key, b"one", Duration::from_secs(60))).await;
    assert_eq!(
        ok("get", store.get(&key)).await.as_deref(),
        Some(&b"one"[..]),
        "a record is read back"
    );
    ok("put", store.put(&key, b"two", Duration::from_secs(60))).await;
    let (first, second) = tokio::join!(store.take(&key), store.take(&key));
    let taken: Vec<_> = [first, second]
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("take: the store failed: {e}")))
        .collect();
    assert_eq!(
        taken.iter().flatten().collect::<Vec<_>>(),
        [&b"two".to_vec()],
        "a record is taken once, as last written"
    );
    assert!(
        !ok("extend", store.extend(&key, Duration::from_secs(60))).await,
        "extend gives a taken record no new life"
    );
    assert_eq!(ok("get", store.get(&key)).await, None, "nor brings it back");

    let short = fresh("grant-short");
    ok("put", store.put(&short, b"x", Duration::from_millis(300))).await;
    assert!(
        ok("extend", store.extend(&short, Duration::from_secs(60))).await,
        "a record that exists is extended"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        ok("get", store.get(&short)).await.as_deref(),
        Some(&b"x"[..]),
        "past its first lifetime, it lives its new one"
    );
    let gone = fresh("grant-gone");
    ok("put", store.put(&gone, b"y", Duration::from_millis(100))).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ok("get", store.get(&gone)).await, None, "a record expires");
    assert!(
        !ok("extend", store.extend(&gone, Duration::from_secs(60))).await,
        "an expired record is not extended"
    );
}
