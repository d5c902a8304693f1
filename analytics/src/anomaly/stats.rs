//! Small streaming statistics the detectors share: score ramps, exponential smoothing
//! weights, a fixed-window rolling median, and learned cadence and resolution.

use serde::{Deserialize, Serialize};

/// Values are clamped to this magnitude before any arithmetic, so squares and sums of huge
/// inputs stay finite.
pub(crate) const MAX_MAGNITUDE: f64 = 1e100;

/// Normal-distribution σ per unit of mean absolute deviation (√(π/2)).
pub(crate) const SIGMA_PER_MEAN_ABS_DEV: f64 = 1.253_314_137_315_500_3;

/// A finite input clamped to ±[`MAX_MAGNITUDE`]; `None` for NaN and ±∞.
pub(crate) fn sane(x: f64) -> Option<f64> {
    x.is_finite().then(|| x.clamp(-MAX_MAGNITUDE, MAX_MAGNITUDE))
}

/// 0 at or below `low`, 1 at or above `high`, smoothstep in between (0.5 half way). NaN → 0.
pub(crate) fn ramp(x: f64, low: f64, high: f64) -> f64 {
    if x.is_nan() || x <= low {
        return 0.0;
    }
    if x >= high {
        return 1.0;
    }
    let s = (x - low) / (high - low);
    if !s.is_finite() {
        return 1.0;
    }
    s * s * (3.0 - 2.0 * s)
}

/// The usual calibration: 0 at half of `threshold`, 0.5 at `threshold`, 1 at 1.5 × it.
pub(crate) fn ratio_score(x: f64, threshold: f64) -> f64 {
    if threshold.is_nan() || threshold <= 0.0 {
        return 0.0;
    }
    ramp(x / threshold, 0.5, 1.5)
}

/// Weight of a new sample in an exponential average with time constant `tau_s` when the
/// sample stands for `dt_s` seconds, never below `1/(n+1)` so early samples average evenly.
pub(crate) fn ew_weight(dt_s: f64, tau_s: f64, n: u64) -> f64 {
    let by_time = if tau_s > 0.0 && dt_s > 0.0 { -(-dt_s / tau_s).exp_m1() } else { 0.0 };
    let by_count = 1.0 / (n as f64 + 1.0);
    by_time.max(by_count).clamp(0.0, 1.0)
}

/// The median of the last `window` values, kept sorted alongside a ring buffer: O(window)
/// per update with a memmove, which for small windows costs less than a heap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RollingMedian {
    window: usize,
    ring: Vec<f64>,
    next: usize,
    sorted: Vec<f64>,
}

impl RollingMedian {
    pub(crate) fn new(window: usize) -> Self {
        let window = window.max(1);
        RollingMedian { window, ring: Vec::with_capacity(window), next: 0, sorted: Vec::with_capacity(window) }
    }

    /// Adds a finite value, dropping the oldest once the window is full.
    pub(crate) fn push(&mut self, x: f64) {
        if self.ring.len() < self.window {
            self.ring.push(x);
        } else if let Some(slot) = self.ring.get_mut(self.next) {
            let old = std::mem::replace(slot, x);
            let at = self.sorted.partition_point(|v| v.total_cmp(&old).is_lt());
            if at < self.sorted.len() {
                self.sorted.remove(at);
            }
        }
        self.next = (self.next + 1) % self.window;
        let at = self.sorted.partition_point(|v| v.total_cmp(&x).is_lt());
        self.sorted.insert(at, x);
    }

    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    pub(crate) fn clear(&mut self) {
        self.ring.clear();
        self.sorted.clear();
        self.next = 0;
    }

    pub(crate) fn median(&self) -> Option<f64> {
        let n = self.sorted.len();
        if n == 0 {
            return None;
        }
        let hi = self.sorted.get(n / 2).copied()?;
        if n % 2 == 1 {
            return Some(hi);
        }
        let lo = self.sorted.get(n / 2 - 1).copied()?;
        Some(lo + (hi - lo) / 2.0)
    }
}

/// The usual interval between readings, robust to the occasional long silence.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Cadence {
    mean_s: f64,
    intervals: u64,
}

impl Cadence {
    /// Learns from the interval `dt_s` between two arrivals (ignored unless positive).
    pub(crate) fn observe(&mut self, dt_s: i64) {
        if dt_s <= 0 {
            return;
        }
        let dt = dt_s as f64;
        if self.intervals == 0 {
            self.mean_s = dt;
        } else {
            // A long silence is a gap, not a new cadence: it moves the estimate only a little.
            let x = dt.min(3.0 * self.mean_s);
            let alpha = (1.0 / (self.intervals as f64 + 1.0)).max(0.02);
            self.mean_s += alpha * (x - self.mean_s);
        }
        self.intervals = self.intervals.saturating_add(1);
    }

    /// Seconds between readings, once any interval was seen.
    pub(crate) fn seconds(&self) -> Option<f64> {
        (self.intervals > 0).then_some(self.mean_s)
    }

    pub(crate) fn intervals(&self) -> u64 {
        self.intervals
    }
}

/// The smallest change between consecutive values seen so far: the series' resolution.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Resolution {
    step: Option<f64>,
}

impl Resolution {
    pub(crate) fn observe(&mut self, previous: f64, x: f64) {
        let step = (x - previous).abs();
        // Differences at the level of float rounding are not a resolution.
        if step > 1e-9 * previous.abs().max(x.abs()) && step.is_finite() {
            self.step = Some(self.step.map_or(step, |s| s.min(step)));
        }
    }

    pub(crate) fn step(&self) -> Option<f64> {
        self.step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_median_matches_a_sort() {
        let mut m = RollingMedian::new(5);
        let xs = [5.0, 1.0, 4.0, 2.0, 3.0, 9.0, -1.0, 7.0, 7.0, 0.5];
        for (i, &x) in xs.iter().enumerate() {
            m.push(x);
            let lo = i.saturating_sub(4);
            let mut w = xs[lo..=i].to_vec();
            w.sort_by(f64::total_cmp);
            let n = w.len();
            let expected = if n % 2 == 1 { w[n / 2] } else { (w[n / 2 - 1] + w[n / 2]) / 2.0 };
            assert_eq!(m.median(), Some(expected), "after {i}");
        }
        m.clear();
        assert_eq!(m.median(), None);
    }

    #[test]
    fn ramp_is_monotone_and_bounded() {
        assert_eq!(ramp(f64::NAN, 0.0, 1.0), 0.0);
        assert_eq!(ramp(-1.0, 0.0, 1.0), 0.0);
        assert_eq!(ramp(0.5, 0.0, 1.0), 0.5);
        assert_eq!(ramp(f64::INFINITY, 0.0, 1.0), 1.0);
        assert_eq!(ratio_score(2.0, 2.0), 0.5);
        assert_eq!(ratio_score(1.0, 0.0), 0.0);
    }

    #[test]
    fn cadence_ignores_one_long_silence() {
        let mut c = Cadence::default();
        for _ in 0..100 {
            c.observe(60);
        }
        c.observe(36_000);
        assert!(c.seconds().is_some_and(|s| s < 80.0), "{:?}", c.seconds());
    }
}
