//! How fast anyone may guess the credentials on file. `existingCredentials` (and a rotation that
//! names exactly what is on file) are compared with the stored fingerprint: each comparison tells the
//! caller whether its guess was right. The guard counts comparisons that failed, stored with the
//! connection so that it holds across every instance of the function, and after
//! [`FAILURES_BEFORE_LOCK`] of them in a row answers 429 for a window that doubles with each further
//! failure. A right guess resets it.

use std::time::Duration;

use time::OffsetDateTime;

/// Failed comparisons in a row that lock the connection.
pub const FAILURES_BEFORE_LOCK: u32 = 5;
/// The first lock's length; each further failure doubles it, up to [`LONGEST_LOCK`].
pub const FIRST_LOCK: Duration = Duration::from_secs(60);
/// The longest lock: then one guess an hour.
pub const LONGEST_LOCK: Duration = Duration::from_secs(3600);

/// A connection's failed-comparison count and lock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProofGuard {
    /// Comparisons that failed since the last one that succeeded.
    pub failures: u32,
    /// No comparison is made before this instant.
    pub locked_until: Option<OffsetDateTime>,
}

impl ProofGuard {
    /// How long the connection stays locked, if it is locked at `now` (whole seconds, at least 1:
    /// what `Retry-After` says).
    pub fn locked_for(&self, now: OffsetDateTime) -> Option<Duration> {
        let until = self.locked_until.filter(|until| *until > now)?;
        let left = (until - now).whole_milliseconds();
        let seconds = u64::try_from((left + 999) / 1000).unwrap_or(1).max(1);
        Some(Duration::from_secs(seconds))
    }

    /// The guard after one more failed comparison at `now`: locked from the
    /// [`FAILURES_BEFORE_LOCK`]th on, for [`FIRST_LOCK`] doubled per failure beyond it.
    pub fn after_failure(&self, now: OffsetDateTime) -> Self {
        let failures = self.failures.saturating_add(1);
        let locked_until = failures.checked_sub(FAILURES_BEFORE_LOCK).map(|beyond| {
            let factor = 1_u32.checked_shl(beyond).unwrap_or(u32::MAX);
            now + FIRST_LOCK.saturating_mul(factor).min(LONGEST_LOCK)
        });
        Self { failures, locked_until }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fifth_failure_locks_and_each_further_one_doubles_the_lock() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut guard = ProofGuard::default();
        for _ in 0..4 {
            guard = guard.after_failure(now);
            assert_eq!(guard.locked_for(now), None);
        }
        let expected = [60, 120, 240, 480, 960, 1920, 3600, 3600];
        for seconds in expected {
            guard = guard.after_failure(now);
            assert_eq!(guard.locked_for(now), Some(Duration::from_secs(seconds)), "after {}", guard.failures);
        }
        let far = ProofGuard { failures: u32::MAX, locked_until: None }.after_failure(now);
        assert_eq!(far.locked_for(now), Some(LONGEST_LOCK));
    }

    #[test]
    fn a_lock_ends_when_its_window_does_and_rounds_up_to_a_second() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let guard = ProofGuard { failures: 5, locked_until: Some(now + Duration::from_millis(1_500)) };
        assert_eq!(guard.locked_for(now), Some(Duration::from_secs(2)));
        assert_eq!(guard.locked_for(now + Duration::from_millis(1_499)), Some(Duration::from_secs(1)));
        assert_eq!(guard.locked_for(now + Duration::from_millis(1_500)), None);
    }
}
