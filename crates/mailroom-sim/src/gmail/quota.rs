//! Gmail's per-user quota: every method costs units (providers.md B6 gives two tables; the config
//! picks one) and a user may spend `gmail_user_units_per_minute` units in any 60-second window
//! (`window_ms`, shortened only by tests).

use std::collections::VecDeque;

/// Units spent by one user, with when they were spent.
#[derive(Debug, Default)]
pub struct Window {
    spent: VecDeque<(i64, u32)>,
}

impl Window {
    /// Spends `units` now if the last minute leaves room for them; a refused call spends nothing.
    pub fn try_spend(&mut self, units: u32, limit: u32, window_ms: i64, now_ms: i64) -> bool {
        while self.spent.front().is_some_and(|(at, _)| *at <= now_ms - window_ms) {
            self.spent.pop_front();
        }
        let used: u32 = self.spent.iter().map(|(_, u)| u).sum();
        if used.saturating_add(units) > limit {
            return false;
        }
        self.spent.push_back((now_ms, units));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_slides() {
        let mut window = Window::default();
        assert!(window.try_spend(15, 20, 60_000, 0));
        assert!(!window.try_spend(10, 20, 60_000, 30_000));
        assert!(window.try_spend(5, 20, 60_000, 30_000));
        assert!(!window.try_spend(5, 20, 60_000, 59_999));
        assert!(window.try_spend(15, 20, 60_000, 60_000));
    }
}
