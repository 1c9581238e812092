//! Per-client-IP sliding-window rate limiting, in memory.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::project::RateWindow;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateGroup {
    Login,
    Api,
}

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<Buckets>,
}

#[derive(Default)]
struct Buckets {
    hits: HashMap<(RateGroup, IpAddr), VecDeque<Instant>>,
    last_prune: Option<Instant>,
}

const PRUNE_EVERY: Duration = Duration::from_secs(300);

impl RateLimiter {
    /// Records a hit; `Err(retry_after_seconds)` when the client is over its limit
    /// (the rejected hit is not counted, so waiting `retry_after` always helps).
    pub fn hit(&self, group: RateGroup, ip: IpAddr, window: RateWindow) -> Result<(), u64> {
        self.hit_at(group, ip, window, Instant::now())
    }

    fn hit_at(
        &self,
        group: RateGroup,
        ip: IpAddr,
        window: RateWindow,
        now: Instant,
    ) -> Result<(), u64> {
        let span = Duration::from_secs(window.window_seconds.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets
            .last_prune
            .is_none_or(|t| now.duration_since(t) > PRUNE_EVERY)
        {
            buckets.last_prune = Some(now);
            buckets
                .hits
                .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < span * 2));
        }
        let queue = buckets.hits.entry((group, ip)).or_default();
        while queue
            .front()
            .is_some_and(|t| now.duration_since(*t) >= span)
        {
            queue.pop_front();
        }
        if queue.len() >= window.requests as usize {
            let oldest = queue.front().copied().unwrap_or(now);
            let wait = span.saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs() + 1);
        }
        queue.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_limits_and_recovers() {
        let limiter = RateLimiter::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let window = RateWindow {
            requests: 3,
            window_seconds: 60,
        };
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.hit_at(RateGroup::Login, ip, window, t0).is_ok());
        }
        let retry = limiter
            .hit_at(RateGroup::Login, ip, window, t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(retry, 51);
        // another group and another IP are independent
        assert!(limiter.hit_at(RateGroup::Api, ip, window, t0).is_ok());
        assert!(
            limiter
                .hit_at(RateGroup::Login, "10.0.0.2".parse().unwrap(), window, t0)
                .is_ok()
        );
        // after the window, allowed again
        assert!(
            limiter
                .hit_at(RateGroup::Login, ip, window, t0 + Duration::from_secs(61))
                .is_ok()
        );
    }
}
