//! Samples of one measurement and their percentiles.

use std::time::Duration;

/// The durations of the successful runs of one measurement, and what failed.
#[derive(Debug, Default)]
pub struct Samples {
    pub times: Vec<Duration>,
    pub failures: Vec<String>,
}

impl Samples {
    /// Adds one run: its duration, or why it failed.
    pub fn record(&mut self, result: Result<Duration, String>) {
        match result {
            Ok(time) => self.times.push(time),
            Err(error) => self.failures.push(error),
        }
    }

    /// The nearest-rank percentile `q` (0 < q ≤ 1), milliseconds: with 20
    /// samples p99 is the slowest one.
    pub fn percentile(&self, q: f64) -> Option<f64> {
        let mut sorted = self.times.clone();
        sorted.sort();
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted.get(rank - 1).map(ms)
    }

    /// p50, milliseconds.
    pub fn p50(&self) -> Option<f64> {
        self.percentile(0.5)
    }

    /// p99, milliseconds.
    pub fn p99(&self) -> Option<f64> {
        self.percentile(0.99)
    }
}

/// A duration in milliseconds.
pub fn ms(d: &Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let mut s = Samples::default();
        assert_eq!(s.p50(), None);
        for n in [5, 1, 4, 2, 3] {
            s.record(Ok(Duration::from_millis(n)));
        }
        s.record(Err("lost".into()));
        assert_eq!(s.p50(), Some(3.0));
        assert_eq!(s.p99(), Some(5.0));
        assert_eq!(s.percentile(0.2), Some(1.0));
        assert_eq!(s.failures.len(), 1);
    }
}
