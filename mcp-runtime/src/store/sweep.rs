//! When a memory store at its bound looks for expired entries to make room: a sweep reads
//! every entry, so it runs only when one may have expired (the earliest expiry it knows of has
//! passed) and at most once per [`EVERY`]. Keys flooding a store full of live entries
//! then cost a refusal each, not a pass over the whole store each (up to 100,000 entries by
//! default).

use std::time::{Duration, Instant};

/// The expiries a memory store has handed out, as far as sweeping needs them; times are
/// `Instant`s, or milliseconds since the Unix epoch for records that carry their own.
#[derive(Debug)]
pub(crate) struct Sweep<T = Instant> {
    /// No entry expires before this (it may be earlier than the earliest entry still there:
    /// removals leave it as it is, and the next sweep sets it right).
    earliest: Option<T>,
    /// When the last sweep ran.
    last: Option<T>,
}

impl<T> Default for Sweep<T> {
    fn default() -> Self {
        Self {
            earliest: None,
            last: None,
        }
    }
}

/// A point in time of a [`Sweep`].
pub(crate) trait Moment: Ord + Copy {
    /// How long after `earlier` this is (zero when it is not after it).
    fn since(self, earlier: Self) -> Duration;
}

impl Moment for Instant {
    fn since(self, earlier: Self) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Milliseconds since the Unix epoch.
impl Moment for u64 {
    fn since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.saturating_sub(earlier))
    }
}

/// The shortest time between two sweeps of one store.
pub(crate) const EVERY: Duration = Duration::from_millis(100);

impl<T: Moment> Sweep<T> {
    /// Notes an entry that lives until `until` (a new one, or one whose life changed).
    pub(crate) fn expires(&mut self, until: T) {
        self.earliest = Some(self.earliest.map_or(until, |e| e.min(until)));
    }

    /// Whether an entry may have expired at `now`.
    pub(crate) fn expired(&self, now: T) -> bool {
        self.earliest.is_some_and(|e| e <= now)
    }

    /// Whether a sweep is due at `now`: an entry may have expired, and the last sweep is at
    /// least [`EVERY`] old (or in the future: a wall clock set back).
    pub(crate) fn due(&self, now: T) -> bool {
        self.expired(now)
            && self
                .last
                .is_none_or(|last| now < last || now.since(last) >= EVERY)
    }

    /// Notes a sweep at `now` that left `earliest` as the earliest expiry (`None`: nothing
    /// left that expires).
    pub(crate) fn swept(&mut self, now: T, earliest: Option<T>) {
        self.last = Some(now);
        self.earliest = earliest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_is_due_once_something_expired_and_not_twice_in_a_row() {
        let t0 = Instant::now();
        let secs = |n| t0 + Duration::from_secs(n);
        let mut sweep = Sweep::<Instant>::default();
        assert!(!sweep.due(t0), "nothing recorded");
        sweep.expires(secs(10));
        sweep.expires(secs(5));
        assert!(!sweep.due(secs(4)), "none expired");
        assert!(sweep.due(secs(6)));
        sweep.swept(secs(6), Some(secs(10)));
        // What is left expires at 10 s: nothing to do before, then once per `EVERY`.
        assert!(!sweep.due(secs(9)));
        assert!(sweep.due(secs(10)));
        sweep.swept(secs(10), Some(secs(10)));
        assert!(!sweep.due(secs(10) + EVERY / 2), "rested");
        assert!(sweep.expired(secs(10) + EVERY / 2));
        assert!(sweep.due(secs(10) + EVERY));
        sweep.swept(secs(10) + EVERY, None);
        assert!(!sweep.due(secs(60)), "empty");
    }

    #[test]
    fn a_wall_clock_set_back_does_not_stop_sweeps() {
        let mut sweep = Sweep::<u64>::default();
        sweep.expires(1_000);
        sweep.swept(5_000, Some(1_000));
        assert!(sweep.due(4_000), "the clock went back a second");
        assert!(!sweep.due(5_050));
        assert!(sweep.due(5_100));
    }
}
