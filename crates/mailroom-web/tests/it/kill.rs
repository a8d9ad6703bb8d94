//! Work killed part-way, as a process killed there would stop: whatever it had not committed is
//! lost. Shared by the robustness tests of each provider's sync.

use std::future::Future;
use std::time::Duration;

use mailroom_sim::RunningSim;

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The requests the simulator has logged whose path starts with `prefix`: every try, failed or
/// not.
pub fn requests(sim: &RunningSim, prefix: &str) -> usize {
    sim.state.world().log.iter().filter(|entry| entry.path.starts_with(prefix)).count()
}

/// The Gmail messages.get calls the simulator answered since log entry `from`, in batches or
/// alone: what a sync downloaded.
pub fn gmail_fetches_since(sim: &RunningSim, from: usize) -> usize {
    let world = sim.state.world();
    world.log[from..]
        .iter()
        .filter(|e| e.path.starts_with("/google/"))
        .map(|e| {
            if e.path.contains("/batch") {
                e.parts.iter().filter(|status| **status == 200).count()
            } else {
                let get = e.method == "GET" && e.path.contains("/messages/") && e.status == 200;
                usize::from(get)
            }
        })
        .sum()
}

/// Runs `work` in a task of its own and drops it `delay` after the simulator has answered `after`
/// more requests under `prefix`. `None` when it was killed (or ran past `after` requests before the
/// kill could land), its output when it finished first.
pub async fn killed_after<T: Send + 'static>(
    sim: &RunningSim,
    prefix: &str,
    after: usize,
    delay: Duration,
    work: impl Future<Output = T> + Send + 'static,
) -> Option<T> {
    let start = requests(sim, prefix);
    let task = tokio::spawn(work);
    loop {
        if task.is_finished() {
            let output = task.await.unwrap();
            // A loaded machine can let the work run past the kill point, even to its end, before
            // this loop looks again: that counts as killed at its end, not as finishing within
            // `after` requests, which is what the callers count on.
            return (requests(sim, prefix) <= start + after).then_some(output);
        }
        if requests(sim, prefix) >= start + after {
            tokio::time::sleep(delay).await;
            task.abort();
            return match task.await {
                Ok(output) => Some(output),
                Err(err) if err.is_cancelled() => None,
                Err(err) => panic!("the work panicked: {err}"),
            };
        }
        tokio::time::sleep(ms(1)).await;
    }
}

/// Runs `attempt(after, delay)`, which is to kill its work after `after` requests, for `after`
/// = 1, 2, 3 ..., each killed one followed by `between(kills so far)` (changes from another
/// client), until the work finishes before it is killed: every step of it has been cut short at
/// least once. Returns how many were killed.
pub async fn kill_until_finished(
    mut attempt: impl AsyncFnMut(usize, Duration) -> bool,
    mut between: impl AsyncFnMut(usize),
) -> usize {
    let mut killed = 0;
    for after in 1.. {
        // Killed as soon as the answer is in (mostly while the next request is on its way), and
        // a few milliseconds later (mostly while the store writes).
        for delay in [0, 4] {
            if attempt(after, ms(delay)).await {
                return killed;
            }
            killed += 1;
            assert!(killed < 200, "the work never finishes");
            between(killed).await;
        }
    }
    unreachable!()
}
