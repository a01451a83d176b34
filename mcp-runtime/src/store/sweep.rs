//! When a memory store at its bound looks for expired entries to make room: a sweep reads
//! every entry, so it runs only when one may have expired (the earliest expiry it knows of has
//! passed) and at most once per [`EVERY`]. Keys flooding a store full of live entries
//! then cost a refusal each, not a pass over the whole store each (100,000 entries by default).

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

    /// Runs `sweep` when it is due at `now`: it drops what has expired and returns the earliest
    /// expiry of what is left (`None` when nothing is). Whether it ran.
    pub(crate) fn run(&mut self, now: T, sweep: impl FnOnce() -> Option<T>) -> bool {
        let expired = self.earliest.is_some_and(|e| e <= now);
        let rested = self.last.is_none_or(|last| now.since(last) >= EVERY);
        if !(expired && rested) {
            return false;
        }
        self.last = Some(now);
        self.earliest = sweep();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_runs_once_something_expired_and_not_twice_in_a_row() {
        let t0 = Instant::now();
        let mut sweep = Sweep::<Instant>::default();
        assert!(!sweep.run(t0, || unreachable!()), "nothing recorded");
        sweep.expires(t0 + Duration::from_secs(10));
        sweep.expires(t0 + Duration::from_secs(5));
        assert!(
            !sweep.run(t0 + Duration::from_secs(4), || unreachable!()),
            "none expired"
        );
        let mut ran = 0;
        let at = t0 + Duration::from_secs(6);
        assert!(sweep.run(at, || {
            ran += 1;
            Some(t0 + Duration::from_secs(10))
        }));
        assert_eq!(ran, 1);
        // What is left expires at 10 s: nothing to do before, then once per `EVERY`.
        assert!(!sweep.run(t0 + Duration::from_secs(9), || unreachable!()));
        let at = t0 + Duration::from_secs(10);
        assert!(sweep.run(at, || Some(at)));
        assert!(!sweep.run(at + EVERY / 2, || unreachable!()), "rested");
        assert!(sweep.run(at + EVERY, || None));
        assert!(
            !sweep.run(at + Duration::from_secs(60), || unreachable!()),
            "empty"
        );
    }
}
