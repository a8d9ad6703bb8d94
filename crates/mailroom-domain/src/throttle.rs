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
    /// Decides an attempt before its password is checked, and counts it at once: the record to
    /// save with it (`None` when the attempt is refused and nothing changes). Counting before the
    /// check is what holds under concurrency: of many guesses sent together, each is counted in
    /// turn by the one read-modify-write of its record, so at most `lock_after` are checked. An
    /// attempt that then succeeds is taken back ([`LoginPolicy::release`]).
    pub fn reserve(&self, record: Option<&ThrottleRecord>, now: i64) -> (LoginVerdict, Option<ThrottleRecord>) {
        let current = match record {
            Some(record) => {
                if let Some(until) = record.locked_until.filter(|until| *until > now) {
                    return (Self::refuse(until - now), None);
                }
                if self.window_expired(record, now) { Self::fresh(now) } else { *record }
            }
            None => Self::fresh(now),
        };
        if current.failures >= self.lock_after {
            // As many attempts as may be checked are under way; their outcome decides the lock.
            return (Self::refuse(secs(self.lockout)), None);
        }
        let attempt = current.failures + 1;
        let extra = attempt.saturating_sub(self.slow_after);
        let delay = self.delay_step.saturating_mul(extra).min(self.max_delay);
        (LoginVerdict::Allow { delay }, Some(ThrottleRecord { failures: attempt, locked_until: None, ..current }))
    }

    /// The record after a reserved attempt failed: it is counted already, so only the lock is
    /// left to decide. The `lock_after`-th failure locks for `lockout`, and the lock starts a
    /// fresh window, so the first failure after it counts from one.
    pub fn after_failure(&self, record: &ThrottleRecord, now: i64) -> ThrottleRecord {
        if record.failures >= self.lock_after {
            ThrottleRecord { failures: 0, window_start: now, locked_until: Some(now + secs(self.lockout)) }
        } else {
            *record
        }
    }

    /// The record with a reserved attempt taken back: it succeeded, or another key refused it
    /// before its password was checked.
    pub fn release(&self, record: &ThrottleRecord) -> ThrottleRecord {
        ThrottleRecord { failures: record.failures.saturating_sub(1), ..*record }
    }

    fn fresh(now: i64) -> ThrottleRecord {
        ThrottleRecord { failures: 0, window_start: now, locked_until: None }
    }

    fn refuse(seconds: i64) -> LoginVerdict {
        LoginVerdict::Refuse { retry_after: Duration::from_secs(seconds.unsigned_abs().max(1)) }
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

    /// `n` attempts reserved and failed one after another.
    fn fail_times(policy: &LoginPolicy, n: u32, now: i64) -> Option<ThrottleRecord> {
        (0..n).fold(None, |record, _| {
            let (verdict, reserved) = policy.reserve(record.as_ref(), now);
            assert!(matches!(verdict, LoginVerdict::Allow { .. }), "{verdict:?}");
            Some(policy.after_failure(&reserved.unwrap(), now))
        })
    }

    fn verdict(policy: &LoginPolicy, record: Option<&ThrottleRecord>, now: i64) -> LoginVerdict {
        policy.reserve(record, now).0
    }

    #[test]
    fn first_failures_are_free_then_slowed() {
        let policy = LoginPolicy::default();
        let two = fail_times(&policy, 2, 100);
        assert_eq!(verdict(&policy, two.as_ref(), 100), LoginVerdict::Allow { delay: Duration::ZERO });
        let three = fail_times(&policy, 3, 100);
        assert_eq!(verdict(&policy, three.as_ref(), 100), LoginVerdict::Allow { delay: Duration::from_millis(500) });
        let five = fail_times(&policy, 5, 100);
        assert_eq!(verdict(&policy, five.as_ref(), 100), LoginVerdict::Allow { delay: Duration::from_millis(1500) });
    }

    #[test]
    fn delay_is_capped() {
        let policy = LoginPolicy { lock_after: 100, ..LoginPolicy::default() };
        let many = fail_times(&policy, 50, 100);
        assert_eq!(verdict(&policy, many.as_ref(), 100), LoginVerdict::Allow { delay: policy.max_delay });
    }

    #[test]
    fn tenth_failure_locks_for_the_lockout() {
        let policy = LoginPolicy::default();
        let locked = fail_times(&policy, 10, 1000);
        assert_eq!(
            verdict(&policy, locked.as_ref(), 1000),
            LoginVerdict::Refuse { retry_after: Duration::from_secs(900) }
        );
        assert_eq!(
            verdict(&policy, locked.as_ref(), 1899),
            LoginVerdict::Refuse { retry_after: Duration::from_secs(1) }
        );
        assert_eq!(verdict(&policy, locked.as_ref(), 1900), LoginVerdict::Allow { delay: Duration::ZERO });
    }

    #[test]
    fn attempts_under_way_count_before_their_passwords_are_checked() {
        let policy = LoginPolicy::default();
        // Thirty guesses reserved before any of them is checked: ten go on, twenty are refused.
        let mut record = None;
        let mut allowed = 0;
        for _ in 0..30 {
            let (verdict, next) = policy.reserve(record.as_ref(), 50);
            if let LoginVerdict::Allow { .. } = verdict {
                allowed += 1;
            }
            record = next.or(record);
        }
        assert_eq!(allowed, 10);
        // The first of them to fail locks; the lock holds for every later attempt.
        let locked = policy.after_failure(&record.unwrap(), 51);
        assert_eq!(locked.locked_until, Some(51 + 900));
        assert!(matches!(verdict(&policy, Some(&locked), 60), LoginVerdict::Refuse { .. }));
    }

    #[test]
    fn a_released_attempt_no_longer_counts() {
        let policy = LoginPolicy::default();
        let nine = fail_times(&policy, 9, 100).unwrap();
        let (_, reserved) = policy.reserve(Some(&nine), 100);
        let released = policy.release(&reserved.unwrap());
        assert_eq!(released, nine);
        assert_eq!(policy.after_failure(&released, 100), nine, "nine failures do not lock");
    }

    #[test]
    fn failures_outside_the_window_start_over() {
        let policy = LoginPolicy::default();
        let old = fail_times(&policy, 9, 0);
        let (_, later) = policy.reserve(old.as_ref(), 901);
        let later = policy.after_failure(&later.unwrap(), 901);
        assert_eq!(later.failures, 1);
        assert_eq!(later.window_start, 901);
        assert_eq!(later.locked_until, None);
    }
}
