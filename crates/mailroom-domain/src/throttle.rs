//! How repeated failed logins are slowed and then refused. The store keeps one `ThrottleRecord` per
//! key (an email address, a client address); these pure functions decide what it means.

use std::time::Duration;

/// The throttling rules. Within `window`, once `slow_after` attempts have failed, each further
/// attempt is answered `delay_step` later than the one before (at most `max_delay`); the
/// `lock_after`-th failure refuses every attempt for `lockout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginPolicy {
    pub slow_after: u32,
    pub lock_after: u32,
    pub window: Duration,
    pub lockout: Duration,
    pub delay_step: Duration,
    pub max_delay: Duration,
}

impl Default for LoginPolicy {
    fn default() -> Self {
        Self {
            slow_after: 3,
            lock_after: 10,
            window: Duration::from_secs(15 * 60),
            lockout: Duration::from_secs(15 * 60),
            delay_step: Duration::from_millis(500),
            max_delay: Duration::from_secs(3),
        }
    }
}

/// Failures counted for one key, times in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRecord {
    pub failures: u32,
    pub window_start: i64,
    pub locked_until: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginVerdict {
    /// Try the password; answer no sooner than after `delay`.
    Allow { delay: Duration },
    /// Do not even try the password.
    Refuse { retry_after: Duration },
}

impl LoginPolicy {
    /// What to do with an attempt for a key with this record.
    pub fn verdict(&self, record: Option<&ThrottleRecord>, now: i64) -> LoginVerdict {
        let Some(record) = record else {
            return LoginVerdict::Allow { delay: Duration::ZERO };
        };
        if let Some(until) = record.locked_until.filter(|until| *until > now) {
            return LoginVerdict::Refuse { retry_after: Duration::from_secs((until - now).unsigned_abs()) };
        }
        if self.window_expired(record, now) {
            return LoginVerdict::Allow { delay: Duration::ZERO };
        }
        let extra = (record.failures + 1).saturating_sub(self.slow_after);
        let delay = self.delay_step.saturating_mul(extra).min(self.max_delay);
        LoginVerdict::Allow { delay }
    }

    /// The record after one more failure.
    pub fn after_failure(&self, record: Option<&ThrottleRecord>, now: i64) -> ThrottleRecord {
        let mut next = match record {
            Some(record) if !self.window_expired(record, now) => {
                ThrottleRecord { failures: record.failures + 1, ..*record }
            }
            _ => ThrottleRecord { failures: 1, window_start: now, locked_until: None },
        };
        if next.failures >= self.lock_after {
            next.locked_until = Some(now + secs(self.lockout));
            // A lockout starts a fresh window, so the next failure after it is counted from one.
            next.failures = 0;
            next.window_start = now;
        }
        next
    }

    fn window_expired(&self, record: &ThrottleRecord, now: i64) -> bool {
        now - record.window_start >= secs(self.window)
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail_times(policy: &LoginPolicy, n: u32, now: i64) -> Option<ThrottleRecord> {
        (0..n).fold(None, |record, _| Some(policy.after_failure(record.as_ref(), now)))
    }

    #[test]
    fn first_failures_are_free_then_slowed() {
        let policy = LoginPolicy::default();
        let two = fail_times(&policy, 2, 100);
        assert_eq!(policy.verdict(two.as_ref(), 100), LoginVerdict::Allow { delay: Duration::ZERO });
        let three = fail_times(&policy, 3, 100);
        assert_eq!(policy.verdict(three.as_ref(), 100), LoginVerdict::Allow { delay: Duration::from_millis(500) });
        let five = fail_times(&policy, 5, 100);
        assert_eq!(policy.verdict(five.as_ref(), 100), LoginVerdict::Allow { delay: Duration::from_millis(1500) });
    }

    #[test]
    fn delay_is_capped() {
        let policy = LoginPolicy { lock_after: 100, ..LoginPolicy::default() };
        let many = fail_times(&policy, 50, 100);
        assert_eq!(policy.verdict(many.as_ref(), 100), LoginVerdict::Allow { delay: policy.max_delay });
    }

    #[test]
    fn tenth_failure_locks_for_the_lockout() {
        let policy = LoginPolicy::default();
        let locked = fail_times(&policy, 10, 1000);
        assert_eq!(
            policy.verdict(locked.as_ref(), 1000),
            LoginVerdict::Refuse { retry_after: Duration::from_secs(900) }
        );
        assert_eq!(policy.verdict(locked.as_ref(), 1899), LoginVerdict::Refuse { retry_after: Duration::from_secs(1) });
        assert_eq!(policy.verdict(locked.as_ref(), 1900), LoginVerdict::Allow { delay: Duration::ZERO });
    }

    #[test]
    fn failures_outside_the_window_start_over() {
        let policy = LoginPolicy::default();
        let old = fail_times(&policy, 9, 0);
        let later = policy.after_failure(old.as_ref(), 901);
        assert_eq!(later.failures, 1);
        assert_eq!(later.locked_until, None);
    }
}
