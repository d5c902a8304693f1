//! Drift against neighbours: a sensor compared with the median of its peers (the same
//! quantity at other devices of the site or region) at the same times.
//!
//! Weather moves every sensor of a region together, so a slow drift that no single-series
//! detector can tell from a warm week stands out against the peers. Readings are averaged
//! into blocks (an hour by default) to damp turbulence and clock skew; each block's
//! difference (or log ratio, for multiplicative quantities such as irradiance) is compared
//! with its learned normal value for that time of day, standardized by its learned spread,
//! and a two-sided CUSUM accumulates sustained departures. The normal offset keeps learning
//! slowly from blocks that look normal, so sites that simply differ are not flagged.

use fieldline_core::time::SECS_PER_DAY;
use serde::{Deserialize, Serialize};

use super::event::{EventKind, EventTracker, Hysteresis, tracked};
use super::stats::{SIGMA_PER_MEAN_ABS_DEV, ew_weight, ratio_score, sane};
use super::{Result, require};

/// How a series is compared with its peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerMode {
    /// own − peers (temperatures, humidity, soil moisture).
    Difference,
    /// ln(own / peers), over readings where the peers exceed `min_peer_level` (irradiance,
    /// power).
    Ratio,
}

/// Configuration of [`PeerDrift`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeerDriftConfig {
    pub mode: PeerMode,
    /// Block length over which readings are averaged (s).
    pub block_s: i64,
    /// Time-of-day bins of the normal offset (1 = one offset for the whole day).
    pub bins_per_day: u32,
    /// Time constant of the normal offset and spread (days).
    pub baseline_tau_days: f64,
    /// CUSUM allowance (σ per block) and decision interval.
    pub k: f64,
    pub h: f64,
    pub z_clip: f64,
    /// Ratio mode: readings where the peer median is below this are skipped.
    pub min_peer_level: f64,
    /// Smallest spread (in the units of the difference or log ratio).
    pub min_sigma: f64,
    /// Blocks learned before any score.
    pub warmup_blocks: u64,
    pub hysteresis: Hysteresis,
}

impl Default for PeerDriftConfig {
    fn default() -> Self {
        PeerDriftConfig {
            mode: PeerMode::Difference,
            block_s: 3600,
            bins_per_day: 24,
            baseline_tau_days: 21.0,
            k: 0.75,
            h: 30.0,
            z_clip: 4.0,
            min_peer_level: 0.0,
            min_sigma: 1e-6,
            warmup_blocks: 7 * 24,
            hysteresis: Hysteresis::with_durations(0, 6 * 3600),
        }
    }
}

impl PeerDriftConfig {
    pub fn check(&self) -> Result<()> {
        self.hysteresis.check()?;
        require(self.block_s > 0 && self.block_s <= SECS_PER_DAY, || "peer block_s must be 1..=86400".into())?;
        require((1..=1440).contains(&self.bins_per_day), || "peer bins_per_day must be 1..=1440".into())?;
        require(self.baseline_tau_days > 0.0 && self.h > 0.0 && self.k >= 0.0 && self.z_clip > 0.0, || {
            "peer drift needs baseline_tau_days > 0, h > 0, k >= 0, z_clip > 0".into()
        })?;
        require(self.min_sigma > 0.0, || "peer min_sigma must be positive".into())
    }
}

/// The median of the finite values, reusing `scratch`; `None` when there are none.
pub fn median_of(values: impl IntoIterator<Item = f64>, scratch: &mut Vec<f64>) -> Option<f64> {
    scratch.clear();
    scratch.extend(values.into_iter().filter(|v| v.is_finite()));
    let n = scratch.len();
    if n == 0 {
        return None;
    }
    scratch.sort_unstable_by(f64::total_cmp);
    let hi = scratch.get(n / 2).copied()?;
    if n % 2 == 1 {
        return Some(hi);
    }
    let lo = scratch.get(n / 2 - 1).copied()?;
    Some(lo + (hi - lo) / 2.0)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Block {
    index: i64,
    own_sum: f64,
    peer_sum: f64,
    n: u32,
}

/// Drift of one series against its peers (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PeerDrift {
    config: PeerDriftConfig,
    tracker: EventTracker,
    block: Option<Block>,
    offsets: Vec<f64>,
    offset_blocks: Vec<u64>,
    mean_abs_deviation: f64,
    deviation_blocks: u64,
    blocks: u64,
    up: f64,
    down: f64,
    score: f64,
}

impl PeerDrift {
    pub fn new(field: &str, config: PeerDriftConfig) -> Result<Self> {
        PeerDrift::with_kind(field, EventKind::PeerDrift, config)
    }

    /// The same machinery reporting events of another kind (a field against what a related
    /// field predicts: [`super::relation`]).
    pub(crate) fn with_kind(field: &str, kind: EventKind, config: PeerDriftConfig) -> Result<Self> {
        config.check()?;
        let bins = config.bins_per_day as usize;
        Ok(PeerDrift {
            tracker: EventTracker::new(kind, field, config.hysteresis),
            config,
            block: None,
            offsets: vec![0.0; bins],
            offset_blocks: vec![0; bins],
            mean_abs_deviation: 0.0,
            deviation_blocks: 0,
            blocks: 0,
            up: 0.0,
            down: 0.0,
            score: 0.0,
        })
    }

    /// One reading of the series at `t` and the median of its peers at the same time
    /// (NaN when no peer reported). Returns the score of the last complete block.
    pub fn update(&mut self, t: i64, value: f64, peer_median: f64) -> f64 {
        let index = t.div_euclid(self.config.block_s);
        if self.block.as_ref().is_some_and(|b| index > b.index)
            && let Some(done) = self.block.take()
        {
            self.finish(done);
        }
        let (Some(own), Some(peer)) = (sane(value), sane(peer_median)) else { return self.score };
        if self.config.mode == PeerMode::Ratio && !(peer >= self.config.min_peer_level && peer > 0.0 && own >= 0.0) {
            return self.score;
        }
        let block = self.block.get_or_insert(Block { index, own_sum: 0.0, peer_sum: 0.0, n: 0 });
        if block.index == index {
            block.own_sum += own;
            block.peer_sum += peer;
            block.n += 1;
        }
        self.score
    }

    fn finish(&mut self, block: Block) {
        if block.n == 0 {
            return;
        }
        let n = f64::from(block.n);
        let stat = match self.config.mode {
            PeerMode::Difference => block.own_sum / n - block.peer_sum / n,
            // A dead sensor (own = 0) is a ratio of e^-10, not -∞.
            PeerMode::Ratio => (block.own_sum.max(1e-300) / block.peer_sum).ln().max(-10.0),
        };
        if !stat.is_finite() {
            return;
        }
        let c = &self.config;
        let end_s = block.index.saturating_add(1).saturating_mul(c.block_s);
        let b = ((block.index.saturating_mul(c.block_s)).rem_euclid(SECS_PER_DAY) as u128 * u128::from(c.bins_per_day)
            / SECS_PER_DAY as u128) as usize;
        let (Some(offset), Some(offset_blocks)) = (self.offsets.get_mut(b), self.offset_blocks.get_mut(b)) else {
            return;
        };
        let sigma = (SIGMA_PER_MEAN_ABS_DEV * self.mean_abs_deviation).max(c.min_sigma);
        let z = if *offset_blocks > 0 { (stat - *offset) / sigma } else { 0.0 };
        let warm = self.blocks >= c.warmup_blocks && *offset_blocks > 0;
        if warm {
            let z = z.clamp(-c.z_clip, c.z_clip);
            let cap = 2.0 * c.h;
            self.up = (self.up + z - c.k).clamp(0.0, cap);
            self.down = (self.down - z - c.k).clamp(0.0, cap);
            self.score = ratio_score(self.up.max(self.down), c.h);
        }
        let expected = *offset;
        // Learn only from blocks that look normal, so a drift is not absorbed as it grows.
        if !warm || (z.abs() < 2.0 && !self.tracker.is_open() && self.score < 0.25) {
            let tau_s = c.baseline_tau_days * SECS_PER_DAY as f64;
            let alpha_bin = ew_weight(c.block_s as f64 * f64::from(c.bins_per_day), tau_s, *offset_blocks);
            if *offset_blocks > 0 {
                let alpha = ew_weight(c.block_s as f64, tau_s, self.deviation_blocks);
                self.mean_abs_deviation += alpha * ((stat - *offset).abs() - self.mean_abs_deviation);
                self.deviation_blocks = self.deviation_blocks.saturating_add(1);
            }
            *offset += alpha_bin * (stat - *offset);
            *offset_blocks = offset_blocks.saturating_add(1);
        }
        self.blocks = self.blocks.saturating_add(1);
        self.tracker.observe(end_s, self.score, stat, expected);
    }

    /// What a reading of this series at `t` says the group's value is: the reading less its
    /// learned normal offset (divided by its normal ratio in ratio mode). The median of these
    /// over a group is a reference that one drifting member cannot pull: a member whose
    /// usual place is the middle of the group moves the plain median when it drifts, and its
    /// healthy peers would seem to drift with it.
    pub fn group_estimate(&self, t: i64, value: f64) -> f64 {
        let c = &self.config;
        let b = (t.rem_euclid(SECS_PER_DAY) as u128 * u128::from(c.bins_per_day) / SECS_PER_DAY as u128) as usize;
        let offset = match (self.offsets.get(b), self.offset_blocks.get(b)) {
            (Some(&offset), Some(&n)) if n > 0 => offset,
            _ => 0.0,
        };
        match c.mode {
            PeerMode::Difference => value - offset,
            PeerMode::Ratio => value / offset.exp(),
        }
    }

    /// The score of the last complete block.
    pub fn score(&self) -> f64 {
        self.score
    }
}

tracked!(PeerDrift);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::testutil::{Noise, opened, temperature};
    use crate::anomaly::{EventChange, Tracked};

    const T0: i64 = 1_772_323_200;

    /// Minute readings of five thermometers of one region for `days`: the regional weather,
    /// a fixed offset per site, local wander and noise; sensor 0 drifts by `drift(minute)`.
    fn run(days: i64, drift: impl Fn(i64) -> f64) -> Vec<EventChange> {
        let mut noise = Noise::new(41);
        let mut wander = 0.0;
        let mut local = [0.0f64; 5];
        let offsets = [0.4, -0.3, 0.0, 0.8, -0.6];
        let mut detector = PeerDrift::new("air_temp_c", PeerDriftConfig::default()).unwrap();
        let mut scratch = Vec::new();
        let mut changes = Vec::new();
        for minute in 0..days * 1440 {
            let t = T0 + minute * 60;
            let regional = temperature(&mut noise, t, &mut wander);
            let readings: Vec<f64> = (0..5)
                .map(|i| {
                    local[i] = 0.995 * local[i] + 0.03 * noise.normal();
                    regional + offsets[i] + local[i] + 0.1 * noise.normal()
                })
                .collect();
            let own = readings[0] + drift(minute);
            let peers = median_of(readings[1..].iter().copied(), &mut scratch).unwrap_or(f64::NAN);
            detector.update(t, own, peers);
            changes.extend(detector.drain_events());
        }
        changes
    }

    #[test]
    fn sites_that_simply_differ_raise_nothing() {
        let changes = run(60, |_| 0.0);
        assert!(changes.is_empty(), "{changes:#?}");
    }

    #[test]
    fn a_slow_drift_against_the_peers_is_caught_before_it_ends() {
        let (from, days) = (20 * 1440, 15.0);
        let changes = run(40, |m| if m < from { 0.0 } else { (2.0 * (m - from) as f64 / (days * 1440.0)).min(2.0) });
        let events = opened(&changes, EventKind::PeerDrift);
        assert_eq!(events.len(), 1, "{changes:#?}");
        let started = T0 + from * 60;
        let after_days = (events[0].0 - started) as f64 / 86_400.0;
        assert!(after_days > 0.0 && after_days < days, "caught {after_days:.1} days into the drift");
    }

    #[test]
    fn median_ignores_non_finite_values() {
        let mut scratch = Vec::new();
        assert_eq!(median_of([3.0, f64::NAN, 1.0, 2.0, f64::INFINITY], &mut scratch), Some(2.0));
        assert_eq!(median_of([4.0, 1.0], &mut scratch), Some(2.5));
        assert_eq!(median_of([f64::NAN], &mut scratch), None);
    }
}
