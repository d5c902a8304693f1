//! PV inverter performance: against irradiance ([`PvPerformance`]) and against the other
//! inverters of the plant ([`PvPeer`]).
//!
//! [`PvPerformance`] works with the performance ratio `PR = P_ac / (P_dc,STC · G / 1000)`
//! against the plane-of-array (or horizontal) irradiance of the site's met station. Within
//! a day PR swings with module temperature, sun angle and clipping, so it is judged the way
//! plant operators read it: once per local day, as energy over reference energy, against
//! its learned normal value, with a one-sided CUSUM over days (a soiled or degraded array
//! loses a few percent for days). Given the module temperature, the reference energy is
//! corrected to 25 °C so a warming season is not a loss, and given the AC limit, clipped
//! readings are left out. Within the day only a dead inverter is flagged: output
//! far below its usual PR in good light for half an hour. Without a sensor it uses
//! clear-sky irradiance ([`crate::solar::clearsky_ghi_at`]); clouds then hide partial
//! losses day to day, so that mode watches the best day of the last week against its
//! long-run level instead, plus the same dead-inverter check.
//!
//! [`PvPeer`] compares an inverter with the median of its peers at the same moment (scaled
//! to its capacity): clouds, clipping and curtailment affect them all alike, so a trip, a
//! lost string or a soiled array stands out as a falling ratio, tracked by the same CUSUM
//! against the inverter's learned normal ratio.

use fieldline_core::time::SECS_PER_DAY;
use serde::{Deserialize, Serialize};

use super::event::{EventKind, EventTracker, Hysteresis, tracked};
use super::stats::{SIGMA_PER_MEAN_ABS_DEV, ratio_score, sane};
use super::{Result, require};
use crate::solar;

/// The one-sided CUSUM of a standardized shortfall, shared by both detectors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShortfallConfig {
    /// Allowance (σ per reading) and decision interval; one reading's z is clipped.
    pub k: f64,
    pub h: f64,
    pub z_clip: f64,
    /// Readings the normal level averages over once learned.
    pub memory: f64,
    /// Readings learned before any score.
    pub warmup_points: u64,
    /// Smallest σ of the ratio.
    pub min_sigma: f64,
    pub hysteresis: Hysteresis,
}

impl Default for ShortfallConfig {
    fn default() -> Self {
        ShortfallConfig {
            k: 1.0,
            h: 60.0,
            z_clip: 10.0,
            memory: 20_000.0,
            warmup_points: 600,
            min_sigma: 0.01,
            hysteresis: Hysteresis::with_durations(0, 3600),
        }
    }
}

impl ShortfallConfig {
    fn check(&self) -> Result<()> {
        self.hysteresis.check()?;
        require(self.k >= 0.0 && self.h > 0.0 && self.z_clip > 0.0, || {
            "shortfall needs k >= 0, h > 0, z_clip > 0".into()
        })?;
        require(self.memory >= 1.0 && self.min_sigma > 0.0, || "shortfall needs memory >= 1, min_sigma > 0".into())
    }
}

/// A learned normal ratio: its mean and spread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct NormalRatio {
    mean: f64,
    mean_abs_residual: f64,
    n: u64,
}

impl NormalRatio {
    fn new() -> Self {
        NormalRatio { mean: 0.0, mean_abs_residual: 0.0, n: 0 }
    }

    /// The standardized shortfall of `ratio` (positive = below normal).
    fn shortfall_z(&self, ratio: f64, min_sigma: f64) -> f64 {
        let sigma = (SIGMA_PER_MEAN_ABS_DEV * self.mean_abs_residual).max(min_sigma);
        (self.mean - ratio) / sigma
    }

    /// Learns `ratio`, averaging evenly at first and over the last `memory` samples later.
    fn learn(&mut self, ratio: f64, memory: f64) {
        let alpha = (1.0 / (self.n as f64 + 1.0)).max(1.0 / memory);
        let residual = ratio - self.mean;
        if self.n > 0 {
            self.mean_abs_residual += alpha * (residual.abs() - self.mean_abs_residual);
        }
        self.mean += alpha * residual;
        self.n = self.n.saturating_add(1);
    }
}

/// Adds one sample's z to a one-sided CUSUM and returns the score.
fn accumulate(cusum: &mut f64, z: f64, k: f64, h: f64, z_clip: f64) -> f64 {
    *cusum = (*cusum + z.clamp(-z_clip, z_clip) - k).clamp(0.0, 2.0 * h);
    ratio_score(*cusum, h)
}

/// Whether a sample with shortfall `z` may teach the normal ratio: anything while warming
/// up, afterwards only what looks normal while no event is building.
fn looks_normal(warm: bool, z: f64, event_open: bool, cusum: f64, h: f64) -> bool {
    !warm || (z.abs() < 3.0 && !event_open && cusum < 0.5 * h)
}

/// Where [`PvPerformance`] gets its irradiance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IrradianceSource {
    /// The irradiance passed to `update` (plane-of-array, or GHI).
    Measured,
    /// Clear-sky GHI at the site.
    ClearSky { latitude: f64, longitude: f64, altitude_m: f64 },
}

/// Configuration of [`PvPerformance`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PvPerformanceConfig {
    pub source: IrradianceSource,
    /// Irradiance below which readings are not judged (W/m²).
    pub min_irradiance_wm2: f64,
    /// Local time zone offset (s): PR is judged per local day.
    pub utc_offset_s: i64,
    /// A reading below this share of the inverter's usual PR counts as no output...
    pub dead_fraction: f64,
    /// ... and no output for this long in good light scores 0.5 (s).
    pub dead_after_s: i64,
    /// Days with less reference insolation than this many hours of full sun are not judged.
    pub min_sun_hours: f64,
    /// Daily PR: days it averages over, days learned before judging, the CUSUM allowance
    /// (σ per day) and decision interval, and the smallest σ.
    pub memory_days: f64,
    pub warmup_days: u64,
    pub k: f64,
    pub h: f64,
    pub min_sigma: f64,
    /// Clear-sky mode: how far the best day of the last week may fall below its long-run
    /// level before the score is 0.5.
    pub decline_fraction: f64,
    /// Module power temperature coefficient (1/°C): with a module temperature, the daily PR
    /// is corrected to 25 °C so a warming season is not a loss.
    pub temp_coefficient_per_c: f64,
    /// The inverter's AC limit (kW): readings at it are clipping and left out of the daily PR.
    pub ac_limit_kw: Option<f64>,
    pub hysteresis: Hysteresis,
}

impl Default for PvPerformanceConfig {
    fn default() -> Self {
        PvPerformanceConfig {
            source: IrradianceSource::Measured,
            min_irradiance_wm2: 200.0,
            utc_offset_s: 8 * 3600,
            dead_fraction: 0.05,
            dead_after_s: 1800,
            min_sun_hours: 1.0,
            memory_days: 30.0,
            warmup_days: 7,
            k: 0.5,
            h: 3.0,
            min_sigma: 0.01,
            decline_fraction: 0.1,
            temp_coefficient_per_c: -0.004,
            ac_limit_kw: None,
            // A day-resolution judgement: only a good day ends an event (an outage's own
            // day is judged poor at its end, and that is the same condition).
            hysteresis: Hysteresis::with_durations(0, 86_400),
        }
    }
}

impl PvPerformanceConfig {
    fn check(&self) -> Result<()> {
        self.hysteresis.check()?;
        require(self.min_irradiance_wm2 > 0.0 && self.min_sun_hours >= 0.0, || {
            "min_irradiance_wm2 must be positive and min_sun_hours not negative".into()
        })?;
        require(self.dead_fraction > 0.0 && self.dead_fraction < 1.0 && self.dead_after_s > 0, || {
            "dead_fraction must be in (0, 1) and dead_after_s positive".into()
        })?;
        require(self.memory_days >= 1.0 && self.k >= 0.0 && self.h > 0.0 && self.min_sigma > 0.0, || {
            "daily PR needs memory_days >= 1, k >= 0, h > 0, min_sigma > 0".into()
        })?;
        require(self.decline_fraction > 0.0, || "decline_fraction must be positive".into())?;
        require(self.temp_coefficient_per_c.abs() < 0.05, || "temp_coefficient_per_c must be within ±0.05".into())?;
        require(self.ac_limit_kw.is_none_or(|l| l > 0.0), || "ac_limit_kw must be positive".into())
    }
}

/// One inverter reading for [`PvPerformance`]. NaN marks what was not measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PvReading {
    pub t: i64,
    pub ac_power_kw: f64,
    /// Measured mode: plane-of-array (or horizontal) irradiance (W/m²); ignored otherwise.
    pub irradiance_wm2: f64,
    pub module_temp_c: f64,
    /// Under a dispatch limit: neither judged nor learned.
    pub curtailed: bool,
}

/// Share of the AC limit above which an inverter is taken to be clipping.
const CLIPPING_FRACTION: f64 = 0.97;
/// Readings learned before the "no output" check trusts the usual PR.
const DEAD_WARMUP: u64 = 300;
/// Readings the usual instantaneous PR averages over.
const INSTANT_MEMORY: f64 = 5000.0;
/// Days in the clear-sky mode's best-of-week envelope.
const RECENT_DAYS: usize = 7;
/// A reading stands for at most this long when integrating a day (s): gaps do not count.
const MAX_READING_S: i64 = 900;

/// Performance ratio of one inverter against irradiance (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PvPerformance {
    config: PvPerformanceConfig,
    dc_kwp: f64,
    tracker: EventTracker,
    /// The usual instantaneous PR in good light.
    instant: NormalRatio,
    dead_since: Option<i64>,
    /// The local day being integrated: its number, energy and reference energy (kWh).
    day: Option<i64>,
    last_t: Option<i64>,
    energy_kwh: f64,
    reference_kwh: f64,
    /// Measured mode: the normal daily PR and the CUSUM of daily shortfalls.
    daily: NormalRatio,
    cusum: f64,
    /// Clear-sky mode: daily yield ratios of the last week, oldest first, and the long-run
    /// level of their best.
    recent: Vec<f64>,
    envelope: NormalRatio,
    daily_score: f64,
    score: f64,
}

impl PvPerformance {
    /// For the power field `field` of an inverter with `dc_kwp` of modules.
    pub fn new(field: &str, dc_kwp: f64, config: PvPerformanceConfig) -> Result<Self> {
        config.check()?;
        require(dc_kwp > 0.0 && dc_kwp.is_finite(), || format!("dc_kwp {dc_kwp} must be positive"))?;
        Ok(PvPerformance {
            tracker: EventTracker::new(EventKind::PvPerformance, field, config.hysteresis),
            config,
            dc_kwp,
            instant: NormalRatio::new(),
            dead_since: None,
            day: None,
            last_t: None,
            energy_kwh: 0.0,
            reference_kwh: 0.0,
            daily: NormalRatio::new(),
            cusum: 0.0,
            recent: Vec::new(),
            envelope: NormalRatio::new(),
            daily_score: 0.0,
            score: 0.0,
        })
    }

    fn clear_sky(&self) -> bool {
        matches!(self.config.source, IrradianceSource::ClearSky { .. })
    }

    /// Scores one reading and learns from it.
    pub fn update(&mut self, r: &PvReading) -> f64 {
        let t = r.t;
        self.roll_day(t);
        let irradiance = match &self.config.source {
            IrradianceSource::Measured => r.irradiance_wm2,
            IrradianceSource::ClearSky { latitude, longitude, altitude_m } => {
                solar::clearsky_ghi_at(t as f64, *latitude, *longitude, *altitude_m)
            }
        };
        let dt_s = self.last_t.map_or(0, |last| t.saturating_sub(last).clamp(0, MAX_READING_S));
        self.last_t = Some(self.last_t.map_or(t, |last| last.max(t)));
        let (Some(power), Some(g)) = (sane(r.ac_power_kw), sane(irradiance)) else { return self.score };
        if r.curtailed || g < self.config.min_irradiance_wm2 {
            return self.score;
        }
        let reference_kw = self.dc_kwp * g / 1000.0;
        let pr = power / reference_kw;
        let clipping = self.config.ac_limit_kw.is_some_and(|limit| power >= CLIPPING_FRACTION * limit);
        if !clipping {
            let hours = dt_s as f64 / 3600.0;
            let derate = sane(r.module_temp_c)
                .map_or(1.0, |temp| (1.0 + self.config.temp_coefficient_per_c * (temp - 25.0)).clamp(0.5, 1.5));
            self.energy_kwh += power.max(0.0) * hours;
            self.reference_kwh += reference_kw * derate * hours;
        }

        let c = &self.config;
        let dead = self.instant.n >= DEAD_WARMUP && pr < c.dead_fraction * self.instant.mean;
        if dead {
            self.dead_since.get_or_insert(t);
        } else {
            self.dead_since = None;
            self.instant.learn(pr.max(0.0), INSTANT_MEMORY);
        }
        let dead_score = self
            .dead_since
            .map_or(0.0, |since| ratio_score(t.saturating_sub(since).max(0) as f64, self.config.dead_after_s as f64));
        self.score = dead_score.max(self.daily_score);
        self.tracker.observe(t, self.score, pr, self.instant.mean);
        self.score
    }

    /// Judges the finished local day when `t` starts a new one.
    fn roll_day(&mut self, t: i64) {
        let day = t.saturating_add(self.config.utc_offset_s).div_euclid(SECS_PER_DAY);
        match self.day {
            Some(current) if day > current => {}
            Some(_) => return,
            None => {
                self.day = Some(day);
                return;
            }
        }
        self.day = Some(day);
        let (energy, reference) = (self.energy_kwh, self.reference_kwh);
        self.energy_kwh = 0.0;
        self.reference_kwh = 0.0;
        if !(reference >= self.config.min_sun_hours * self.dc_kwp && reference > 0.0) {
            return;
        }
        let ratio = energy / reference;
        let open = self.tracker.is_open();
        let c = &self.config;
        if self.clear_sky() {
            // Clouds hide partial losses day to day; the best day of a week does not.
            self.recent.push(ratio);
            if self.recent.len() > RECENT_DAYS {
                self.recent.remove(0);
            }
            if self.recent.len() < RECENT_DAYS {
                return;
            }
            let best = self.recent.iter().copied().fold(0.0, f64::max);
            let warm = self.envelope.n >= c.warmup_days;
            if warm && self.envelope.mean > 0.0 {
                self.daily_score = ratio_score(1.0 - best / self.envelope.mean, c.decline_fraction);
            }
            if !warm || (self.daily_score < 0.25 && !open) {
                self.envelope.learn(best, c.memory_days);
            }
        } else {
            let z = self.daily.shortfall_z(ratio, c.min_sigma);
            let warm = self.daily.n >= c.warmup_days;
            if warm {
                self.daily_score = accumulate(&mut self.cusum, z, c.k, c.h, 10.0);
            }
            if looks_normal(warm, z, open, self.cusum, c.h) {
                self.daily.learn(ratio, c.memory_days);
            }
            let expected = self.daily.mean;
            self.tracker.observe(t, self.daily_score, ratio, expected);
        }
    }
}

/// Configuration of [`PvPeer`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PvPeerConfig {
    /// Readings where the peers make less than this share of capacity are not scored...
    pub min_peer_fraction: f64,
    /// ... nor where they make more than this share: clipping inverters all look alike.
    pub max_peer_fraction: f64,
    pub shortfall: ShortfallConfig,
}

impl Default for PvPeerConfig {
    fn default() -> Self {
        PvPeerConfig {
            min_peer_fraction: 0.05,
            max_peer_fraction: 0.95,
            shortfall: ShortfallConfig { min_sigma: 0.005, ..ShortfallConfig::default() },
        }
    }
}

/// One inverter against the median of its peers (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PvPeer {
    config: PvPeerConfig,
    capacity_kw: f64,
    tracker: EventTracker,
    ratio: NormalRatio,
    cusum: f64,
    score: f64,
}

impl PvPeer {
    /// For the power field `field` of an inverter of `capacity_kw`.
    pub fn new(field: &str, capacity_kw: f64, config: PvPeerConfig) -> Result<Self> {
        config.shortfall.check()?;
        require(capacity_kw > 0.0 && capacity_kw.is_finite(), || {
            format!("capacity_kw {capacity_kw} must be positive")
        })?;
        require(0.0 <= config.min_peer_fraction && config.min_peer_fraction < config.max_peer_fraction, || {
            "peer fractions need 0 <= min_peer_fraction < max_peer_fraction".into()
        })?;
        Ok(PvPeer {
            tracker: EventTracker::new(EventKind::PvPeer, field, config.shortfall.hysteresis),
            config,
            capacity_kw,
            ratio: NormalRatio::new(),
            cusum: 0.0,
            score: 0.0,
        })
    }

    /// One reading of this inverter (kW) and the median of its peers at the same time,
    /// scaled to this inverter's capacity (NaN when none reported).
    pub fn update(&mut self, t: i64, power_kw: f64, peer_median_kw: f64, curtailed: bool) -> f64 {
        let (Some(own), Some(peer)) = (sane(power_kw), sane(peer_median_kw)) else { return self.score };
        let c = &self.config;
        let informative =
            peer >= c.min_peer_fraction * self.capacity_kw && peer <= c.max_peer_fraction * self.capacity_kw;
        if curtailed || !informative || peer <= 0.0 {
            return self.score;
        }
        let ratio = own.max(0.0) / peer;
        let s = &self.config.shortfall;
        let expected = self.ratio.mean * peer;
        let warm = self.ratio.n >= s.warmup_points.max(1);
        let z = self.ratio.shortfall_z(ratio, s.min_sigma);
        if looks_normal(warm, z, self.tracker.is_open(), self.cusum, s.h) {
            self.ratio.learn(ratio, s.memory);
        }
        if warm {
            self.score = accumulate(&mut self.cusum, z, s.k, s.h, s.z_clip);
            self.tracker.observe(t, self.score, own, expected);
        }
        self.score
    }
}

tracked!(PvPerformance, PvPeer);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::testutil::{Noise, opened};
    use crate::anomaly::{EventChange, Tracked};

    const T0: i64 = 1_772_323_200;
    const LAT: f64 = 35.12;
    const LON: f64 = 115.3;
    const KWP: f64 = 2500.0;
    const INVERTERS: usize = 8;

    /// Irradiance under a sky whose clouds change every ten minutes, and a cloudy day now
    /// and then.
    struct Sky {
        noise: Noise,
        cloud: f64,
    }

    impl Sky {
        fn irradiance(&mut self, t: i64) -> f64 {
            if t % 600 == 0 {
                let day = (t - T0) / 86_400;
                let overcast = day % 5 == 3;
                self.cloud = if overcast { 0.2 + 0.1 * self.noise.uniform() } else { 0.6 + 0.4 * self.noise.uniform() };
            }
            solar::clearsky_ghi_at(t as f64, LAT, LON, 50.0) * self.cloud
        }
    }

    /// AC power of an inverter: PR 0.82, clipping at 2175 kW, a small mismatch and noise.
    fn ac_power(noise: &mut Noise, g: f64, mismatch: f64, loss: f64) -> f64 {
        (KWP * g / 1000.0 * 0.82 * (1.0 + mismatch) * (1.0 - loss) * (1.0 + 0.003 * noise.normal())).clamp(0.0, 2175.0)
    }

    /// Runs `days` of minutes; `loss(inverter, minute)` is the share of output lost.
    fn run_peers(days: i64, loss: impl Fn(usize, i64) -> f64) -> Vec<Vec<EventChange>> {
        let mut sky = Sky { noise: Noise::new(21), cloud: 1.0 };
        let mut noise = Noise::new(22);
        let mut detectors: Vec<PvPeer> =
            (0..INVERTERS).map(|_| PvPeer::new("ac_power_kw", 2175.0, PvPeerConfig::default()).unwrap()).collect();
        let mut changes = vec![Vec::new(); INVERTERS];
        let mut powers = [0.0; INVERTERS];
        let mut scratch = Vec::new();
        for minute in 0..days * 1440 {
            let t = T0 + minute * 60;
            let g = sky.irradiance(t);
            for (i, p) in powers.iter_mut().enumerate() {
                *p = ac_power(&mut noise, g, 0.01 * i as f64 - 0.03, loss(i, minute));
            }
            for (i, d) in detectors.iter_mut().enumerate() {
                let peers = powers.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, p)| *p);
                let median = crate::anomaly::peer::median_of(peers, &mut scratch).unwrap_or(f64::NAN);
                d.update(t, powers[i], median, false);
                changes[i].extend(d.drain_events());
            }
        }
        changes
    }

    #[test]
    fn peers_in_clouds_and_clipping_raise_nothing() {
        let changes = run_peers(20, |_, _| 0.0);
        assert!(changes.iter().all(Vec::is_empty), "{changes:#?}");
    }

    #[test]
    fn an_outage_and_a_lost_string_stand_out_against_the_peers() {
        let outage = (10 * 1440 + 180, 10 * 1440 + 540); // 03:00–09:00 UTC: local midday
        let strings = (12 * 1440, 15 * 1440);
        let changes = run_peers(16, |i, m| match i {
            2 if (outage.0..outage.1).contains(&m) => 1.0,
            5 if (strings.0..strings.1).contains(&m) => 2.0 / 16.0,
            _ => 0.0,
        });
        let outage_events = opened(&changes[2], EventKind::PvPeer);
        assert_eq!(outage_events.len(), 1, "{:#?}", changes[2]);
        assert!(outage_events[0].0 - (T0 + outage.0 * 60) <= 15 * 60);
        let string_events = opened(&changes[5], EventKind::PvPeer);
        assert_eq!(string_events.len(), 1, "{:#?}", changes[5]);
        assert!(string_events[0].0 < T0 + strings.0 * 60 + 86_400);
        for (i, c) in changes.iter().enumerate() {
            if i != 2 && i != 5 {
                assert!(c.is_empty(), "inverter {i}: {c:#?}");
            }
        }
    }

    #[test]
    fn performance_ratio_drop_against_measured_irradiance() {
        let mut sky = Sky { noise: Noise::new(23), cloud: 1.0 };
        let mut noise = Noise::new(24);
        let mut pr = PvPerformance::new("ac_power_kw", KWP, PvPerformanceConfig::default()).unwrap();
        let mut changes = Vec::new();
        let drop_from = 12 * 1440;
        for minute in 0..16 * 1440 {
            let t = T0 + minute * 60;
            let g = sky.irradiance(t);
            let loss = if minute >= drop_from { 0.1 } else { 0.0 };
            let reading = PvReading {
                t,
                ac_power_kw: ac_power(&mut noise, g, 0.0, loss),
                irradiance_wm2: g * (1.0 + 0.01 * noise.normal()),
                module_temp_c: f64::NAN,
                curtailed: false,
            };
            pr.update(&reading);
            changes.extend(pr.drain_events());
        }
        let events = opened(&changes, EventKind::PvPerformance);
        assert_eq!(events.len(), 1, "{changes:#?}");
        assert!(events[0].0 >= T0 + drop_from * 60 && events[0].0 < T0 + drop_from * 60 + 86_400);
    }

    #[test]
    fn clear_sky_mode_catches_a_dead_inverter_but_not_cloudy_days() {
        let mut sky = Sky { noise: Noise::new(25), cloud: 1.0 };
        let mut noise = Noise::new(26);
        let config = PvPerformanceConfig {
            source: IrradianceSource::ClearSky { latitude: LAT, longitude: LON, altitude_m: 50.0 },
            ..PvPerformanceConfig::default()
        };
        let mut pr = PvPerformance::new("ac_power_kw", KWP, config).unwrap();
        let mut changes = Vec::new();
        let dead = (14 * 1440, 15 * 1440);
        for minute in 0..18 * 1440 {
            let t = T0 + minute * 60;
            let g = sky.irradiance(t);
            let loss = if (dead.0..dead.1).contains(&minute) { 1.0 } else { 0.0 };
            let ac_power_kw = ac_power(&mut noise, g, 0.0, loss);
            pr.update(&PvReading {
                t,
                ac_power_kw,
                irradiance_wm2: f64::NAN,
                module_temp_c: f64::NAN,
                curtailed: false,
            });
            changes.extend(pr.drain_events());
        }
        let events = opened(&changes, EventKind::PvPerformance);
        assert_eq!(events.len(), 1, "{changes:#?}");
        assert!(events[0].0 >= T0 + dead.0 * 60 && events[0].0 < T0 + dead.1 * 60);
    }
}
