//! Which finished executions to forget, and when.
//!
//! Finished executions stay readable for a time-to-live and there are never
//! more than a maximum of them, so memory stays bounded however many
//! executions a server runs. Executions finish in time order and share one
//! TTL, so a queue ordered by finish time is also ordered by expiry: the
//! oldest is always at the front. This is pure bookkeeping; the scheduler
//! does the evicting and owns the clock.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// Finished executions (`T`: what identifies one), oldest first, with when
/// each expires.
#[derive(Debug)]
pub(crate) struct Retention<T> {
    ttl: Duration,
    max: usize,
    /// `None` expiry: the TTL is too long to represent, so never.
    finished: VecDeque<(Option<Instant>, T)>,
}

impl<T> Retention<T> {
    /// Keeps finished executions for `ttl`, at most `max` of them.
    pub(crate) fn new(ttl: Duration, max: usize) -> Self {
        Retention {
            ttl,
            max,
            finished: VecDeque::new(),
        }
    }

    /// Records that `id` finished at `now`; returns the oldest executions
    /// that no longer fit.
    pub(crate) fn finished(&mut self, id: T, now: Instant) -> Vec<T> {
        self.finished.push_back((now.checked_add(self.ttl), id));
        let over = self.finished.len().saturating_sub(self.max);
        self.finished.drain(..over).map(|(_, id)| id).collect()
    }

    /// Takes out the executions whose time is up at `now`.
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<T> {
        let due = self
            .finished
            .iter()
            .take_while(|(expiry, _)| expiry.is_some_and(|at| at <= now))
            .count();
        self.finished.drain(..due).map(|(_, id)| id).collect()
    }

    /// When the oldest execution expires, if there is one that will.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.finished.front().and_then(|(expiry, _)| *expiry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use monaco_core::ExecutionId;

    #[test]
    fn expires_in_finish_order_after_the_ttl() {
        let t0 = Instant::now();
        let mut r = Retention::new(Duration::from_secs(10), 100);
        let (a, b) = (ExecutionId::new(), ExecutionId::new());
        assert!(r.finished(a, t0).is_empty());
        assert!(r.finished(b, t0 + Duration::from_secs(5)).is_empty());
        assert_eq!(r.next_expiry(), Some(t0 + Duration::from_secs(10)));
        assert!(r.expired(t0 + Duration::from_secs(9)).is_empty());
        assert_eq!(r.expired(t0 + Duration::from_secs(10)), vec![a]);
        assert_eq!(r.next_expiry(), Some(t0 + Duration::from_secs(15)));
        assert_eq!(r.expired(t0 + Duration::from_secs(60)), vec![b]);
        assert_eq!(r.next_expiry(), None);
    }

    #[test]
    fn evicts_the_oldest_beyond_the_maximum() {
        let t0 = Instant::now();
        let mut r = Retention::new(Duration::from_secs(10), 2);
        let ids = [ExecutionId::new(), ExecutionId::new(), ExecutionId::new()];
        assert!(r.finished(ids[0], t0).is_empty());
        assert!(r.finished(ids[1], t0).is_empty());
        assert_eq!(r.finished(ids[2], t0), vec![ids[0]]);
    }

    #[test]
    fn an_unrepresentable_ttl_never_expires() {
        let t0 = Instant::now();
        let mut r = Retention::new(Duration::MAX, 2);
        let id = ExecutionId::new();
        r.finished(id, t0);
        assert_eq!(r.next_expiry(), None);
        assert!(r.expired(t0 + Duration::from_secs(1 << 40)).is_empty());
    }
}
