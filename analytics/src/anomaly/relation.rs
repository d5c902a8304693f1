//! Two fields of one device that follow each other: a sensor drifting on either side
//! breaks the relation.
//!
//! Bulk soil conductivity rises and falls with soil moisture; a drifting conductivity probe,
//! or a drifting moisture probe, leaves the pair off the curve it always followed, which no
//! single-series check can see through the daily wetting and drying. The curve `E[y | x]` is
//! learned in bins of `x` (averaged evenly at first, then over `bin_memory` readings),
//! and `y` is compared with it by the [`PeerDrift`] machinery (hourly blocks, a CUSUM of the
//! standardized log ratio, never trusting the curve to better than 2 %), which reports
//! [`EventKind::Relation`] events on `y`. Bins stop
//! learning while a departure builds up, so a drift is not absorbed as it grows.

use serde::{Deserialize, Serialize};

use super::event::{EventKind, EventTracker, Tracked};
use super::peer::{PeerDrift, PeerDriftConfig, PeerMode};
use super::stats::sane;
use super::{Result, require};

/// Configuration of [`Relation`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelationConfig {
    /// The range of `x` binned, and the bin width (units of `x`).
    pub min_x: f64,
    pub max_x: f64,
    pub bin_width: f64,
    /// Readings a bin needs before it predicts.
    pub min_bin_samples: u64,
    /// Readings a trained bin averages over.
    pub bin_memory: f64,
    /// How departures from the curve are accumulated into events.
    pub drift: PeerDriftConfig,
}

impl Default for RelationConfig {
    fn default() -> Self {
        RelationConfig {
            min_x: 0.0,
            max_x: 60.0,
            bin_width: 0.5,
            min_bin_samples: 20,
            bin_memory: 1000.0,
            // Relative departures: a binned curve is only good to a few percent.
            drift: PeerDriftConfig {
                mode: PeerMode::Ratio,
                bins_per_day: 1,
                min_sigma: 0.02,
                ..PeerDriftConfig::default()
            },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Bin {
    mean: f64,
    n: u64,
}

/// `y` against its learned curve over `x` (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Relation {
    config: RelationConfig,
    bins: Vec<Bin>,
    drift: PeerDrift,
}

impl Relation {
    /// Watches field `y_field` (the name events carry) against its curve over another field.
    pub fn new(y_field: &str, config: RelationConfig) -> Result<Self> {
        require(config.bin_width > 0.0 && config.max_x > config.min_x, || {
            "relation needs bin_width > 0 and min_x < max_x".into()
        })?;
        let bins = ((config.max_x - config.min_x) / config.bin_width).ceil();
        require(bins <= 10_000.0, || "relation has too many bins".into())?;
        require(config.bin_memory >= 1.0, || "bin_memory must be at least 1".into())?;
        let drift = PeerDrift::with_kind(y_field, EventKind::Relation, config.drift.clone())?;
        Ok(Relation { bins: vec![Bin { mean: 0.0, n: 0 }; bins as usize + 1], config, drift })
    }

    fn bin_index(&self, x: f64) -> Option<usize> {
        let position = (x - self.config.min_x) / self.config.bin_width;
        (position >= 0.0 && position < self.bins.len() as f64).then_some(position as usize)
    }

    /// What the curve predicts for `y` at `x`, once that bin is learned.
    pub fn expected(&self, x: f64) -> Option<f64> {
        let bin = self.bins.get(self.bin_index(x)?)?;
        (bin.n >= self.config.min_bin_samples).then_some(bin.mean)
    }

    /// One reading of both fields. Returns the score of the last complete block.
    pub fn update(&mut self, t: i64, x: f64, y: f64) -> f64 {
        let (Some(x), Some(y)) = (sane(x), sane(y)) else { return self.drift.update(t, f64::NAN, f64::NAN) };
        let expected = self.expected(x).unwrap_or(f64::NAN);
        let score = self.drift.update(t, y, expected);
        if score < 0.25
            && self.drift.ongoing().is_none()
            && let Some(i) = self.bin_index(x)
            && let Some(bin) = self.bins.get_mut(i)
        {
            let alpha = (1.0 / (bin.n as f64 + 1.0)).max(1.0 / self.config.bin_memory);
            bin.mean += alpha * (y - bin.mean);
            bin.n = bin.n.saturating_add(1);
        }
        score
    }
}

impl Tracked for Relation {
    fn tracker(&self) -> &EventTracker {
        self.drift.tracker()
    }
    fn tracker_mut(&mut self) -> &mut EventTracker {
        self.drift.tracker_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::EventChange;
    use crate::anomaly::testutil::{Noise, opened};

    const T0: i64 = 1_772_323_200;

    /// Soil moisture drying 0.4 %/day from 30 % with a refill to 30 % whenever it reaches
    /// 22 %, read every 10 minutes; conductivity follows it. `ec_drift(minute)` is added to
    /// the conductivity reading, `vwc_drift(minute)` to the moisture reading.
    fn run(days: i64, ec_drift: impl Fn(i64) -> f64, vwc_drift: impl Fn(i64) -> f64) -> Vec<EventChange> {
        let mut noise = Noise::new(51);
        let mut relation = Relation::new("soil_ec_ds_m", RelationConfig::default()).unwrap();
        let mut theta: f64 = 30.0;
        let mut changes = Vec::new();
        for step in 0..days * 144 {
            let minute = step * 10;
            theta -= 0.4 / 144.0;
            if theta < 22.0 {
                theta = 30.0;
            }
            let ec = 0.05 + 0.02 * theta * (1.0 + 0.01 * noise.normal());
            let vwc = theta + 0.2 * noise.normal() + vwc_drift(minute);
            relation.update(T0 + minute * 60, vwc, ec + ec_drift(minute));
            changes.extend(relation.drain_events());
        }
        changes
    }

    #[test]
    fn a_pair_that_keeps_its_relation_raises_nothing() {
        let changes = run(80, |_| 0.0, |_| 0.0);
        assert!(changes.is_empty(), "{changes:#?}");
    }

    #[test]
    fn a_drift_on_either_side_breaks_the_relation() {
        let from = 40 * 1440;
        let ramp =
            move |m: i64, to: f64| if m < from { 0.0 } else { (to * (m - from) as f64 / (15.0 * 1440.0)).min(to) };
        for (name, changes) in
            [("conductivity", run(60, |m| ramp(m, 0.4), |_| 0.0)), ("moisture", run(60, |_| 0.0, |m| ramp(m, 5.0)))]
        {
            let events = opened(&changes, EventKind::Relation);
            assert_eq!(events.len(), 1, "{name}: {changes:#?}");
            let days = (events[0].0 - T0 - from * 60) as f64 / 86_400.0;
            assert!(days > 0.0 && days < 15.0, "{name}: caught {days:.1} days in");
        }
    }
}
