use std::sync::atomic::{AtomicU32, Ordering};

use super::*;

fn quick() -> Limits {
    Limits { backoff_base: Duration::from_millis(10), backoff_cap: Duration::from_millis(80), ..Limits::default() }
}

/// A provider's per-minute quota, as Gmail keeps it: a refused call spends nothing.
struct Quota {
    limit: Mutex<u32>,
    spent: Mutex<Window>,
    refused: AtomicU32,
    answered: AtomicU32,
}

impl Quota {
    fn new(limit: u32) -> Quota {
        Quota { limit: Mutex::new(limit), spent: Mutex::new(Window::default()), refused: 0.into(), answered: 0.into() }
    }

    fn set(&self, limit: u32) {
        *self.limit.lock().unwrap() = limit;
    }

    fn call(&self, units: u32) -> Result<(), ApiError> {
        let limit = *self.limit.lock().unwrap();
        let mut spent = self.spent.lock().unwrap();
        spent.expire(MINUTE, Instant::now());
        if spent.total + u64::from(units) > u64::from(limit) {
            self.refused.fetch_add(1, Ordering::SeqCst);
            return Err(ApiError::RateLimited { retry_after: None });
        }
        spent.record(units, Instant::now());
        self.answered.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[test]
fn the_window_refuses_what_does_not_fit_and_says_how_long_to_wait() {
    let start = Instant::now();
    let mut window = Window::default();
    assert!(window.try_spend(600, 1000, MINUTE, start).is_ok());
    assert!(window.try_spend(400, 1000, MINUTE, start + Duration::from_secs(10)).is_ok());
    // Full: the first spend must leave the window before 250 more fit.
    let wait = window.try_spend(250, 1000, MINUTE, start + Duration::from_secs(20)).unwrap_err();
    assert_eq!(wait, Duration::from_secs(40));
    assert!(window.try_spend(250, 1000, MINUTE, start + Duration::from_secs(60)).is_ok());
    // The second spend (400 at 10 s) is still in the window: 600 + 250 fit, no more.
    assert!(window.try_spend(351, 1000, MINUTE, start + Duration::from_secs(61)).is_err());
    assert!(window.try_spend(350, 1000, MINUTE, start + Duration::from_secs(61)).is_ok());
}

#[test]
fn a_call_dearer_than_the_limit_waits_for_an_empty_window() {
    let start = Instant::now();
    let mut window = Window::default();
    assert!(window.try_spend(5, 100, MINUTE, start).is_ok());
    assert_eq!(window.try_spend(500, 100, MINUTE, start).unwrap_err(), MINUTE);
    assert!(window.try_spend(500, 100, MINUTE, start + MINUTE).is_ok());
}

#[test]
fn backoff_doubles_up_to_the_cap_with_jitter() {
    let limits = Limits::default();
    for attempt in 1..12 {
        let full = Duration::from_secs(1 << (attempt - 1).min(5));
        let wait = backoff(&limits, attempt);
        assert!(wait <= full && wait >= full / 2, "attempt {attempt}: {wait:?} for {full:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn passing_failures_are_retried_and_final_ones_are_not() {
    let pacing = Pacing::new(quick());
    let calls = AtomicU32::new(0);
    let result = pacing
        .gmail(AccountId(1), 5, || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(ApiError::Transient { reason: "503".into(), retry_after: None }),
                1 => Err(ApiError::RateLimited { retry_after: Some(Duration::from_millis(5)) }),
                _ => Ok("done"),
            }
        })
        .await;
    assert_eq!(result.unwrap(), "done");
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let calls = AtomicU32::new(0);
    let result: Result<(), _> = pacing
        .graph(AccountId(2), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ApiError::NotFound)
        })
        .await;
    assert!(matches!(result, Err(ApiError::NotFound)));
    assert_eq!(calls.load(Ordering::SeqCst), 1, "a final error is not retried");
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_is_waited_for_on_a_server_error_as_on_a_rate_limit() {
    // The backoff alone would retry within 80 ms; the answers asked for 3 s and then 2 s.
    let pacing = Pacing::new(quick());
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    let result = pacing
        .graph(AccountId(3), || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Err(ApiError::Transient { reason: "503".into(), retry_after: Some(Duration::from_secs(3)) }),
                1 => Err(ApiError::RateLimited { retry_after: Some(Duration::from_secs(2)) }),
                _ => Ok(Instant::now()),
            }
        })
        .await;
    let waited = result.unwrap() - start;
    assert!(waited >= Duration::from_secs(5) && waited < Duration::from_secs(6), "{waited:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn passing_failures_stop_after_the_configured_attempts() {
    let pacing = Pacing::new(Limits { attempts: 3, ..quick() });
    let calls = AtomicU32::new(0);
    let result: Result<(), _> = pacing
        .graph(AccountId(2), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(ApiError::Transient { reason: "500".into(), retry_after: None })
        })
        .await;
    assert!(matches!(result, Err(ApiError::Transient { .. })));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_while_the_mailbox_makes_progress_and_not_after() {
    // Refused with a Retry-After 30 times in a row: far past the attempts for passing failures,
    // but the refusals stand only once nothing has been answered for `give_up_after`.
    let limits = Limits { attempts: 3, give_up_after: Duration::from_secs(600), ..quick() };
    let pacing = Pacing::new(limits);
    let calls = AtomicU32::new(0);
    let result = pacing
        .graph(AccountId(4), || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                n if n < 30 => Err(ApiError::RateLimited { retry_after: Some(Duration::from_secs(5)) }),
                _ => Ok("through"),
            }
        })
        .await;
    assert_eq!(result.unwrap(), "through");
    assert_eq!(calls.load(Ordering::SeqCst), 31);
    // Refused for good: the refusal is returned after ten minutes without an answer.
    let start = Instant::now();
    let result: Result<(), _> = pacing
        .graph(AccountId(5), || async { Err(ApiError::RateLimited { retry_after: Some(Duration::from_secs(5)) }) })
        .await;
    assert!(matches!(result, Err(ApiError::RateLimited { .. })));
    let waited = Instant::now() - start;
    assert!(waited >= Duration::from_secs(600) && waited < Duration::from_secs(620), "{waited:?}");
}

#[tokio::test(start_paused = true)]
async fn graph_keeps_at_most_four_calls_in_flight_for_the_whole_app() {
    let pacing = Pacing::new(quick());
    let in_flight = AtomicU32::new(0);
    let most = AtomicU32::new(0);
    let call = |account| {
        let pacing = &pacing;
        let (in_flight, most) = (&in_flight, &most);
        async move {
            pacing
                .graph(AccountId(account), || async {
                    let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    Ok::<_, ApiError>(())
                })
                .await
        }
    };
    // Twelve calls to one mailbox, then twelve spread over three.
    for accounts in [[7, 7, 7], [8, 9, 10]] {
        most.store(0, Ordering::SeqCst);
        let calls: Vec<_> = (0..12).map(|n| call(accounts[n % 3])).collect();
        for result in futures_util::future::join_all(calls).await {
            result.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 4, "{accounts:?}");
    }
}

/// Runs `calls` Gmail calls of `units` each through the pacer, four at a time, against `quota`;
/// returns how long they took.
async fn import(pacing: &Pacing, account: AccountId, quota: &Quota, calls: usize, units: u32) -> Duration {
    let start = Instant::now();
    let next = AtomicU32::new(0);
    let worker = || async {
        while (next.fetch_add(1, Ordering::SeqCst) as usize) < calls {
            pacing.gmail(account, units, || async { quota.call(units) }).await.unwrap();
        }
    };
    futures_util::future::join_all((0..4).map(|_| worker())).await;
    Instant::now() - start
}

#[tokio::test(start_paused = true)]
async fn a_quota_far_below_the_setting_is_learned_with_few_refusals() {
    // The setting says 15,000 units a minute; the provider allows 300 (2 %).
    let pacing = Pacing::new(quick());
    let quota = Quota::new(300);
    let account = AccountId(11);
    // A first minute teaches the rate.
    import(&pacing, account, &quota, 80, 5).await;
    let learned = pacing.learned(account).expect("a rate below the ceiling is learned");
    assert!((200..=300).contains(&learned.rate), "{learned:?}");
    // Then 600 calls (50 minutes of quota at 300) go through with few refusals, near the ideal pace.
    let refused_before = quota.refused.load(Ordering::SeqCst);
    let took = import(&pacing, account, &quota, 600, 5).await;
    let refused = quota.refused.load(Ordering::SeqCst) - refused_before;
    assert!(f64::from(refused) < 0.05 * 600.0, "{refused} of 600 refused");
    let ideal = Duration::from_secs(600 * 5 / 300 * 60);
    assert!(took < ideal.mul_f64(1.3), "{took:?} against the ideal {ideal:?}");
}

#[tokio::test(start_paused = true)]
async fn the_rate_climbs_back_while_the_provider_refuses_nothing() {
    let pacing = Pacing::new(quick());
    let quota = Quota::new(300);
    let account = AccountId(12);
    import(&pacing, account, &quota, 80, 5).await;
    let low = pacing.learned(account).unwrap().rate;
    // The provider raises the quota: the pacer finds more room, a twentieth a quiet minute.
    quota.set(15_000);
    import(&pacing, account, &quota, 400, 5).await;
    let higher = pacing.learned(account).map_or(15_000, |l| l.rate);
    assert!(higher > low, "{low} → {higher}");
}

#[tokio::test(start_paused = true)]
async fn a_learned_rate_is_where_a_mailbox_starts_again_and_the_ceiling_is_nothing_learned() {
    let pacing = Pacing::new(quick());
    assert_eq!(pacing.learned(AccountId(13)), None);
    pacing.start_from(AccountId(13), true, 600);
    assert_eq!(pacing.learned(AccountId(13)).map(|l| l.rate), Some(600));
    // Learned already in this process: a rate from elsewhere does not replace it.
    pacing.start_from(AccountId(13), true, 900);
    assert_eq!(pacing.learned(AccountId(13)).map(|l| l.rate), Some(600));
    // Above the ceiling means nothing was learned.
    pacing.start_from(AccountId(14), true, 90_000);
    assert_eq!(pacing.learned(AccountId(14)), None);
    assert_eq!(pacing.gmail_batch_size(AccountId(13), 5, 50), 30);
    assert_eq!(pacing.gmail_batch_size(AccountId(14), 5, 50), 50);
}

#[tokio::test(start_paused = true)]
async fn calls_refused_inside_a_batch_teach_the_rate_too() {
    let pacing = Pacing::new(quick());
    let quota = Quota::new(100);
    let account = AccountId(15);
    // A batch of 50 calls of 5 units: 20 fit in the provider's minute, 30 are refused.
    let results = pacing
        .gmail_batch(account, 5, 50, || async { Ok((0..50).map(|_| quota.call(5)).collect::<Vec<_>>()) })
        .await
        .unwrap();
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 20);
    let learned = pacing.learned(account).expect("learned from the batch");
    assert!((80..=100).contains(&learned.rate), "{learned:?}");
    assert!(pacing.gmail_batch_size(account, 5, 50) <= 5);
}

#[tokio::test(start_paused = true)]
async fn odd_refusals_among_answered_calls_do_not_lower_the_rate() {
    // One call in ten refused at random, as a passing overload refuses: the rate stays where it
    // was, and the calls go at the pace of the answers, not of a quota that is not there.
    let pacing = Pacing::new(quick());
    let account = AccountId(16);
    let calls = AtomicU32::new(0);
    let start = Instant::now();
    for _ in 0..400 {
        pacing
            .gmail(account, 5, || async {
                match calls.fetch_add(1, Ordering::SeqCst) % 10 {
                    9 => Err(ApiError::RateLimited { retry_after: None }),
                    _ => Ok(()),
                }
            })
            .await
            .unwrap();
    }
    assert_eq!(pacing.learned(account), None, "nothing learned from noise");
    assert!(Instant::now() - start < Duration::from_secs(10), "{:?}", Instant::now() - start);
}

#[tokio::test(start_paused = true)]
async fn a_raise_that_goes_past_the_limit_is_taken_back() {
    let pacing = Pacing::new(quick());
    let quota = Quota::new(1000);
    let account = AccountId(17);
    pacing.start_from(account, true, 990);
    // Quiet minutes raise the rate past 1,000; the refusals that follow take the raise back.
    import(&pacing, account, &quota, 1200, 5).await;
    let rate = pacing.learned(account).unwrap().rate;
    assert!(rate <= 1000, "{rate}");
    let refused = quota.refused.load(Ordering::SeqCst);
    assert!(f64::from(refused) < 0.05 * 1200.0, "{refused} of 1200 refused");
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_midway_gives_its_slot_back() {
    // A run killed while its calls are in flight (a deadline, a cancelled task) must not leave
    // the mailbox's slots taken: with one slot, the next call would wait for ever.
    let pacing = Pacing::new(Limits { gmail_in_flight: 1, ..quick() });
    let account = AccountId(20);
    let hung = pacing.gmail(account, 1, std::future::pending::<Result<(), ApiError>>);
    assert!(tokio::time::timeout(Duration::from_secs(1), hung).await.is_err());
    let next = pacing.gmail(account, 1, || async { Ok::<_, ApiError>(7) });
    assert_eq!(tokio::time::timeout(Duration::from_secs(1), next).await.expect("a slot is free").unwrap(), 7);
}

#[tokio::test(start_paused = true)]
async fn one_or_two_refusals_early_in_a_window_are_not_a_quota() {
    // The first calls of a run, one of them refused by a passing overload: nothing was learned,
    // since so few refusals say nothing of what the provider allows.
    let pacing = Pacing::new(quick());
    let account = AccountId(21);
    let _ = pacing.gmail(account, 1, || async { Ok::<_, ApiError>(()) }).await;
    let refused_once = AtomicU32::new(0);
    let result = pacing
        .gmail(account, 5, || async {
            if refused_once.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(ApiError::RateLimited { retry_after: None })
            } else {
                Ok(())
            }
        })
        .await;
    assert!(result.is_ok());
    assert_eq!(pacing.learned(account), None, "the rate stays at the ceiling");
    assert_eq!(pacing.gmail_batch_size(account, 5, 50), 50);
}

#[tokio::test(start_paused = true)]
async fn a_quota_reached_after_a_busy_window_is_learned_from_the_first_refusals_in_a_row() {
    // 6,000 units accepted in the first seconds, then Gmail refuses everything: a few refusals in
    // a row teach the rate, though they are a small share of the window's traffic.
    let pacing = Pacing::new(quick());
    let quota = Quota::new(6_000);
    let account = AccountId(22);
    for _ in 0..24 {
        let results = pacing
            .gmail_batch(account, 5, 50, || async { Ok((0..50).map(|_| quota.call(5)).collect::<Vec<_>>()) })
            .await
            .unwrap();
        assert!(results.iter().all(Result::is_ok));
    }
    assert_eq!(pacing.learned(account), None);
    let refused_before = quota.refused.load(Ordering::SeqCst);
    let _ = pacing
        .gmail_batch(account, 5, 50, || async { Ok((0..50).map(|_| quota.call(5)).collect::<Vec<_>>()) })
        .await
        .unwrap();
    let learned = pacing.learned(account).expect("learned from one refused batch");
    assert!((5_000..=6_000).contains(&learned.rate), "{learned:?}");
    assert_eq!(quota.refused.load(Ordering::SeqCst) - refused_before, 50);
}

#[tokio::test(start_paused = true)]
async fn a_wait_on_the_provider_is_told_while_it_lasts_with_its_reason() {
    let pacing = Pacing::new(quick());
    let account = AccountId(9);
    assert_eq!(pacing.waiting(account), None, "a mailbox never called waits for nothing");
    let calls = Arc::new(AtomicU32::new(0));
    let task = {
        let (pacing, calls) = (pacing.clone(), calls.clone());
        tokio::spawn(async move {
            pacing
                .gmail(account, 1, || {
                    let calls = calls.clone();
                    async move {
                        match calls.fetch_add(1, Ordering::SeqCst) {
                            0 => Err(ApiError::RateLimited { retry_after: Some(Duration::from_secs(40)) }),
                            1 => Err(ApiError::Transient {
                                reason: "503".into(),
                                retry_after: Some(Duration::from_secs(20)),
                            }),
                            _ => Ok(()),
                        }
                    }
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let wait = pacing.waiting(account).expect("asked to wait for the rate limit");
    assert_eq!(wait.reason, WaitReason::RateLimit);
    let left = wait.until - Instant::now();
    assert!(left > Duration::from_secs(38) && left <= Duration::from_secs(39), "{left:?}");
    // The pause is over and the next answer is a server error with its own Retry-After.
    tokio::time::sleep(Duration::from_secs(40)).await;
    let wait = pacing.waiting(account).expect("backing off after the server error");
    assert_eq!(wait.reason, WaitReason::ProviderError);
    tokio::time::sleep(Duration::from_secs(20)).await;
    task.await.unwrap().unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(pacing.waiting(account), None, "nothing waits once the call is answered");
}

#[tokio::test(start_paused = true)]
async fn a_call_held_back_for_the_mailboxs_rate_is_told_as_waiting_for_it() {
    // 60 units a minute, all spent at once: the next call waits for the window to move on.
    let pacing = Pacing::new(Limits { gmail_units_per_minute: 60, ..quick() });
    let account = AccountId(10);
    for _ in 0..60 {
        pacing.gmail(account, 1, || async { Ok(()) }).await.unwrap();
    }
    assert_eq!(pacing.waiting(account), None, "nothing waits while the window has room");
    let task = {
        let pacing = pacing.clone();
        tokio::spawn(async move { pacing.gmail(account, 1, || async { Ok(()) }).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let wait = pacing.waiting(account).expect("held back for the rate");
    assert_eq!(wait.reason, WaitReason::RateLimit);
    // The window and its second of slack, less the second gone.
    assert_eq!(wait.until - Instant::now(), Duration::from_secs(60));
    task.await.unwrap().unwrap();
    assert_eq!(pacing.waiting(account), None);
}
