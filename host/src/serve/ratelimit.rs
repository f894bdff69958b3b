//! The web config's `rate_limit`: a token bucket over every request (exporter-toolkit's
//! `golang.org/x/time/rate` limiter): one token every `interval`, at most `burst` saved.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket.
pub struct RateLimiter {
    interval: Duration,
    burst: f64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimiter {
    /// A full bucket of `burst` tokens, refilled one per `interval`.
    pub fn new(interval: Duration, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        RateLimiter { interval, burst, state: Mutex::new((burst, Instant::now())) }
    }

    /// Takes a token if there is one.
    pub fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = *state;
        let refill = now.saturating_duration_since(last).as_secs_f64() / self.interval.as_secs_f64().max(1e-9);
        let tokens = (tokens + refill).min(self.burst);
        if tokens >= 1.0 {
            *state = (tokens - 1.0, now);
            true
        } else {
            *state = (tokens, now);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval() {
        let limiter = RateLimiter::new(Duration::from_secs(1), 3);
        let t0 = Instant::now();
        assert!((0..3).all(|_| limiter.allow_at(t0)));
        assert!(!limiter.allow_at(t0));
        assert!(!limiter.allow_at(t0 + Duration::from_millis(500)));
        assert!(limiter.allow_at(t0 + Duration::from_millis(1001)));
        assert!(!limiter.allow_at(t0 + Duration::from_millis(1002)));
        assert!((0..3).all(|_| limiter.allow_at(t0 + Duration::from_secs(60))), "refills to the burst, no more");
        assert!(!limiter.allow_at(t0 + Duration::from_secs(60)));
    }
}
