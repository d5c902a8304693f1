//! Deterministic noise and helpers for the detectors' tests.

use super::event::{EventChange, EventKind};

/// SplitMix64 with Box–Muller normals: tiny, seeded, reproducible.
pub(crate) struct Noise {
    state: u64,
}

impl Noise {
    pub(crate) fn new(seed: u64) -> Self {
        Noise { state: seed }
    }

    pub(crate) fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    pub(crate) fn normal(&mut self) -> f64 {
        let (u1, u2) = (self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    pub(crate) fn poisson(&mut self, mean: f64) -> f64 {
        // Knuth's method is fine for the small means of the tests.
        let limit = (-mean).exp();
        let mut k = 0.0;
        let mut p = self.uniform();
        while p > limit {
            k += 1.0;
            p *= self.uniform();
        }
        k
    }
}

/// The opened events of `kind` among `changes`, as (start, peak time).
pub(crate) fn opened(changes: &[EventChange], kind: EventKind) -> Vec<(i64, i64)> {
    changes
        .iter()
        .filter_map(|c| match c {
            EventChange::Opened(e) if e.kind == kind => Some((e.start_s, e.peak.time_s)),
            _ => None,
        })
        .collect()
}

/// A temperature-like series: daily cycle, weather-like slow wander and sensor noise.
pub(crate) fn temperature(noise: &mut Noise, t: i64, wander: &mut f64) -> f64 {
    let day = (t as f64 / 86_400.0) * std::f64::consts::TAU;
    *wander = 0.999 * *wander + 0.05 * noise.normal();
    15.0 + 6.0 * (day - 2.0).sin() + *wander + 0.1 * noise.normal()
}
