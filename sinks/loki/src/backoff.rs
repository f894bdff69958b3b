//! Exponential backoff with jitter for retried pushes.
//!
//! The n-th retry (n = 0, 1, …) waits a random time in `[c/2, c]`, where the
//! ceiling `c = min(max, min · 2ⁿ)`: 500 ms, 1 s, 2 s, … 5 m with the defaults.
//! Keeping half the ceiling bounds how fast a sender comes back; the random half
//! spreads many gomon instances that lost the same Loki at the same moment.

use std::time::Duration;

/// The retry delays of one batch.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// From `min` to `max` (a `max` below `min` is raised to it).
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max: max.max(min), attempt: 0 }
    }

    /// The ceiling of retry `attempt` (0-based), without jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.min.saturating_mul(factor).min(self.max)
    }

    /// The delay before the next retry; each call moves one step up.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let spread = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(fastrand::u64(0..=spread))
    }

    /// Retries so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Back to the first step (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_max() {
        let b = Backoff::new(Duration::from_millis(500), Duration::from_secs(300));
        let ceilings: Vec<u64> = (0..12).map(|n| b.ceiling(n).as_millis() as u64).collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000]);
        assert_eq!(b.ceiling(1000), Duration::from_secs(300));
    }

    #[test]
    fn delays_stay_within_half_and_full_ceiling() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(300));
        for n in 0..40 {
            let ceiling = b.ceiling(n);
            let d = b.next_delay();
            assert!(d >= ceiling / 2 && d <= ceiling, "retry {n}: {d:?} not in [{:?}, {ceiling:?}]", ceiling / 2);
        }
        assert_eq!(b.attempts(), 40);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(500));
    }

    #[test]
    fn jitter_varies() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..50 {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(10));
            seen.insert(b.next_delay());
        }
        assert!(seen.len() > 1, "50 first delays were all equal: no jitter");
    }
}
