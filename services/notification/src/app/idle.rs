//! How long a background worker (dispatcher, action worker, campaign runner) waits between
//! rounds that found nothing to do. Work this replica creates wakes its worker at once; the
//! poll only finds what nothing signalled (a deferral or retry coming due, another replica's
//! work left behind), so it starts at the worker's base period and slows down, doubling up
//! to a cap, for as long as rounds stay idle: an idle system costs a round every few seconds
//! instead of several a second.

use std::time::Duration;

/// The waits of one worker between idle rounds.
#[derive(Debug, Clone)]
pub struct IdlePoll {
    base: Duration,
    cap: Duration,
    next: Duration,
}

impl IdlePoll {
    /// Starts at `base`, never above `cap` (at least `base`).
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            next: base,
        }
    }

    /// The wait after an idle round; the one after it is twice as long, up to the cap.
    pub fn idle(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.cap);
        wait
    }

    /// Work was found or signalled: back to the base period.
    pub fn reset(&mut self) {
        self.next = self.base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_rounds_slow_down_to_the_cap_and_work_resets() {
        let ms = Duration::from_millis;
        let mut poll = IdlePoll::new(ms(250), ms(2_000));
        let waits: Vec<_> = (0..6).map(|_| poll.idle()).collect();
        assert_eq!(
            waits,
            [ms(250), ms(500), ms(1_000), ms(2_000), ms(2_000), ms(2_000)]
        );
        poll.reset();
        assert_eq!(poll.idle(), ms(250));
        // A cap below the base is the base.
        assert_eq!(IdlePoll::new(ms(500), ms(100)).idle(), ms(500));
        assert_eq!(IdlePoll::new(ms(500), ms(100)).idle(), ms(500));
    }
}
