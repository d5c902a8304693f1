//! Generic detectors for any numeric series, combined in one [`SeriesDetector`].
//!
//! | detector | what it learns | score |
//! |---|---|---|
//! | `range` | nothing: configured physical limits | 1 outside the limits or for ±∞ |
//! | `stuck` | per time-of-day bin, how often the value changes; the most surprising unchanged run seen | surprise of the current unchanged run (−Σ ln P(no change)) against the longest normal one |
//! | `spike` | per time-of-day bin, the spread of the residual against the median of the last `window` readings (moved along their median slope when that predicts this series better) | robust z of that residual; the event waits for the next reading to come back |
//! | `gap` | the usual interval between readings | silence against `intervals` × that (on a timer: [`SeriesDetector::check`]) |
//! | `level_shift` | a slow level plus a time-of-day profile, the spread around it, and the spread of that residual smoothed over 2 h | two-sided CUSUM (per unit of time) of the smoothed residual in units of its own spread, so weather-like wander is not a shift |
//! | `unusual` | the onset likelihood of [`super::onset`]: this series' predictors, cadence, daily season and how surprising its errors usually are | how likely something unusual *begins* here; the event opens at strong evidence and lasts while the value stays far from the baseline |
//!
//! `auto` runs all of them and reports the largest score; each keeps its own events, so an
//! operator sees "stuck", not "auto". Everything is O(1) per reading except the spike
//! median, O(window). A flat run is judged against how often *this* series changes at *this*
//! time of day, so a PV inverter at 0 every night or a counter that rarely moves is not
//! stuck, while a sensor that normally changes every minute is flagged within minutes.

use fieldline_core::time::SECS_PER_DAY;
use serde::{Deserialize, Serialize};

use super::event::{Event, EventChange, EventKind, EventTracker, Hysteresis};
use super::onset::{OnsetConfig, OnsetDetector};
use super::stats::{Cadence, Resolution, RollingMedian, SIGMA_PER_MEAN_ABS_DEV, ew_weight, ramp, ratio_score, sane};
use super::{Result, require};

/// The detectors of this module, as chosen on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorName {
    Auto,
    Range,
    Stuck,
    Spike,
    Gap,
    LevelShift,
    Unusual,
}

impl DetectorName {
    pub const ALL: [DetectorName; 7] = [
        DetectorName::Auto,
        DetectorName::Range,
        DetectorName::Stuck,
        DetectorName::Spike,
        DetectorName::Gap,
        DetectorName::LevelShift,
        DetectorName::Unusual,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DetectorName::Auto => "auto",
            DetectorName::Range => "range",
            DetectorName::Stuck => "stuck",
            DetectorName::Spike => "spike",
            DetectorName::Gap => "gap",
            DetectorName::LevelShift => "level_shift",
            DetectorName::Unusual => "unusual",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        DetectorName::ALL.into_iter().find(|d| d.name() == name)
    }
}

/// Physical limits; without limits only non-finite values are out of range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RangeConfig {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub hysteresis: Hysteresis,
}

impl Default for RangeConfig {
    fn default() -> Self {
        RangeConfig { min: None, max: None, hysteresis: Hysteresis::with_durations(0, 600) }
    }
}

/// Stuck / flat-line detection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StuckConfig {
    /// An unchanged run is stuck at this many times the surprise of the longest normal run.
    pub ratio: f64,
    /// ... and never below this surprise (nats: 30 ≈ a one-in-10¹³ run).
    pub min_surprise: f64,
    /// ... nor with fewer readings than this.
    pub min_points: u64,
    /// Changes of value seen before any score: a field that changes a few times a season
    /// never becomes "stuck".
    pub min_changes: u64,
    /// Values within this of the run's first value count as unchanged; default: half the
    /// series' learned resolution (its smallest step).
    pub tolerance: Option<f64>,
    /// How fast the memory of the longest normal run fades (days).
    pub forget_days: f64,
    pub hysteresis: Hysteresis,
}

impl Default for StuckConfig {
    fn default() -> Self {
        StuckConfig {
            ratio: 3.0,
            min_surprise: 30.0,
            min_points: 5,
            min_changes: 20,
            tolerance: None,
            forget_days: 60.0,
            hysteresis: Hysteresis::default(),
        }
    }
}

/// Spike detection (Hampel-style, against the median of the previous readings).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpikeConfig {
    /// Readings in the rolling median.
    pub window: usize,
    /// Robust z where the score starts rising, and where it reaches 1 (0.5 half way).
    pub z_low: f64,
    pub z_high: f64,
    /// Readings the residual spread averages over (overall and per time-of-day bin).
    pub scale_points: f64,
    pub hysteresis: Hysteresis,
}

impl Default for SpikeConfig {
    fn default() -> Self {
        SpikeConfig { window: 9, z_low: 6.0, z_high: 14.0, scale_points: 200.0, hysteresis: Hysteresis::default() }
    }
}

/// Gap (silence) detection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GapConfig {
    /// Silent for this many usual intervals is a gap...
    pub intervals: f64,
    /// ... but never for less than this (s).
    pub min_gap_s: f64,
    pub hysteresis: Hysteresis,
}

impl Default for GapConfig {
    fn default() -> Self {
        GapConfig { intervals: 2.5, min_gap_s: 600.0, hysteresis: Hysteresis { close: 0.5, ..Hysteresis::default() } }
    }
}

/// Level shift and fast drift: a CUSUM of the smoothed baseline residual, in units of
/// that smoothed residual's own learned spread. Smoothing over `tau_s` and learning the
/// spread of the smoothed value (not of single readings) is what keeps series whose
/// residuals wander for hours — weather — from tripping it, while a shift of one σ in a
/// white-noise series shows within a few `tau_s`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LevelShiftConfig {
    /// Smoothing time constant of the residual (s); also the CUSUM's unit of time.
    pub tau_s: f64,
    /// Allowance (σ of the smoothed residual) below which nothing accumulates.
    pub k: f64,
    /// Decision interval (σ × `tau_s`): the CUSUM at which the score is 0.5.
    pub h: f64,
    pub hysteresis: Hysteresis,
}

impl Default for LevelShiftConfig {
    fn default() -> Self {
        LevelShiftConfig { tau_s: 7200.0, k: 2.0, h: 8.0, hysteresis: Hysteresis::with_durations(0, 3600) }
    }
}

/// The adaptive score for any series: the onset likelihood of [`OnsetDetector`] (the
/// detector `fieldline detect --input` runs and NAB scores). The score spikes where
/// something unusual begins; the event, which reaches a person, needs far stronger evidence
/// than the onset detector's own alarm and then lasts while the value stays at least
/// `hold_fraction` as far from the time-of-day baseline as when the condition began.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UnusualConfig {
    pub onset: OnsetConfig,
    /// Evidence (−log10 p) that opens an `unusual` condition.
    pub open_evidence: f64,
    /// An open condition lasts while the value's distance from the baseline is at least this
    /// fraction of its distance when the condition began.
    pub hold_fraction: f64,
    pub hysteresis: Hysteresis,
}

impl Default for UnusualConfig {
    fn default() -> Self {
        UnusualConfig {
            onset: OnsetConfig::default(),
            // p = 10⁻⁸: an alarm a series with minute readings raises by chance about once
            // in 190 years.
            open_evidence: 8.0,
            hold_fraction: 0.5,
            hysteresis: Hysteresis::with_durations(0, 1800),
        }
    }
}

/// The baseline `level_shift` and `unusual` compare against, and the time-of-day bins
/// `stuck` learns change rates in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    /// Time-of-day bins (UTC); 1 = no daily cycle.
    pub bins_per_day: u32,
    /// Time constant of the level (s).
    pub level_tau_s: f64,
    /// Time constant of the daily profile and the spread (s).
    pub season_tau_s: f64,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig { bins_per_day: 24, level_tau_s: SECS_PER_DAY as f64, season_tau_s: 7.0 * SECS_PER_DAY as f64 }
    }
}

/// No learned detector scores above 0 before this much history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Warmup {
    pub points: u64,
    pub seconds: i64,
}

impl Default for Warmup {
    fn default() -> Self {
        Warmup { points: 100, seconds: 3 * SECS_PER_DAY }
    }
}

/// Which detectors a [`SeriesDetector`] runs and how. `None` switches one off; the default
/// is `auto` (all on, range without limits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SeriesConfig {
    pub range: Option<RangeConfig>,
    pub stuck: Option<StuckConfig>,
    pub spike: Option<SpikeConfig>,
    pub gap: Option<GapConfig>,
    pub level_shift: Option<LevelShiftConfig>,
    pub unusual: Option<UnusualConfig>,
    pub baseline: BaselineConfig,
    pub warmup: Warmup,
}

impl Default for SeriesConfig {
    fn default() -> Self {
        SeriesConfig::auto()
    }
}

impl SeriesConfig {
    /// Every detector with its defaults.
    pub fn auto() -> Self {
        SeriesConfig {
            range: Some(RangeConfig::default()),
            stuck: Some(StuckConfig::default()),
            spike: Some(SpikeConfig::default()),
            gap: Some(GapConfig::default()),
            level_shift: Some(LevelShiftConfig::default()),
            unusual: Some(UnusualConfig::default()),
            baseline: BaselineConfig::default(),
            warmup: Warmup::default(),
        }
    }

    /// Only the named detector (`Auto` = all).
    pub fn only(name: DetectorName) -> Self {
        let auto = SeriesConfig::auto();
        if name == DetectorName::Auto {
            return auto;
        }
        SeriesConfig {
            range: auto.range.filter(|_| name == DetectorName::Range),
            stuck: auto.stuck.filter(|_| name == DetectorName::Stuck),
            spike: auto.spike.filter(|_| name == DetectorName::Spike),
            gap: auto.gap.filter(|_| name == DetectorName::Gap),
            level_shift: auto.level_shift.filter(|_| name == DetectorName::LevelShift),
            unusual: auto.unusual.filter(|_| name == DetectorName::Unusual),
            ..auto
        }
    }

    /// Sets physical limits (switching the range check on).
    pub fn with_limits(mut self, min: Option<f64>, max: Option<f64>) -> Self {
        let range = self.range.get_or_insert_with(RangeConfig::default);
        range.min = min;
        range.max = max;
        self
    }

    pub fn check(&self) -> Result<()> {
        if let Some(r) = &self.range {
            r.hysteresis.check()?;
            if let (Some(lo), Some(hi)) = (r.min, r.max) {
                require(lo <= hi, || format!("range min {lo} is above max {hi}"))?;
            }
        }
        if let Some(s) = &self.stuck {
            s.hysteresis.check()?;
            require(s.ratio > 0.0 && s.min_surprise > 0.0 && s.forget_days > 0.0, || {
                "stuck ratio, min_surprise and forget_days must be positive".into()
            })?;
            require(s.tolerance.is_none_or(|t| t >= 0.0), || "stuck tolerance must not be negative".into())?;
        }
        if let Some(s) = &self.spike {
            s.hysteresis.check()?;
            require((1..=1001).contains(&s.window), || format!("spike window {} must be 1..=1001", s.window))?;
            require(s.z_low >= 0.0 && s.z_high > s.z_low, || "spike needs 0 <= z_low < z_high".into())?;
            require(s.scale_points >= 1.0, || "spike scale_points must be at least 1".into())?;
        }
        if let Some(g) = &self.gap {
            g.hysteresis.check()?;
            require(g.intervals > 1.0 && g.min_gap_s >= 0.0, || "gap intervals must exceed 1".into())?;
        }
        if let Some(l) = &self.level_shift {
            l.hysteresis.check()?;
            require(l.tau_s > 0.0 && l.k >= 0.0 && l.h > 0.0, || "level_shift needs tau_s > 0, k >= 0, h > 0".into())?;
        }
        if let Some(u) = &self.unusual {
            u.hysteresis.check()?;
            require(u.open_evidence > 0.0 && (0.0..=1.0).contains(&u.hold_fraction), || {
                "unusual needs open_evidence > 0 and hold_fraction in [0, 1]".into()
            })?;
            OnsetDetector::new(u.onset.clone())?;
        }
        let b = &self.baseline;
        require((1..=1440).contains(&b.bins_per_day), || "bins_per_day must be 1..=1440".into())?;
        require(b.level_tau_s > 0.0 && b.season_tau_s > 0.0, || "baseline time constants must be positive".into())?;
        require(self.warmup.seconds >= 0, || "warmup seconds must not be negative".into())
    }
}

/// Time-of-day bin of `t` among `bins` per day.
fn bin_of(t: i64, bins: usize) -> usize {
    let bins = bins.max(1);
    (t.rem_euclid(SECS_PER_DAY) as u128 * bins as u128 / SECS_PER_DAY as u128) as usize
}

/// What one reading's detectors have in common.
struct Context {
    t: i64,
    /// Seconds this reading stands for (time since the previous one, capped).
    dt_s: f64,
    /// The series' resolution (smallest step), if any step was seen.
    resolution: Option<f64>,
    warm: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RangeCheck {
    config: RangeConfig,
    tracker: EventTracker,
}

impl RangeCheck {
    fn step(&mut self, t: i64, x: f64) -> f64 {
        let (score, limit) = match (self.config.min, self.config.max) {
            _ if !x.is_finite() => (1.0, f64::NAN),
            (Some(lo), _) if x < lo => (1.0, lo),
            (_, Some(hi)) if x > hi => (1.0, hi),
            _ => (0.0, f64::NAN),
        };
        self.tracker.observe(t, score, x, limit);
        score
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct StuckCheck {
    config: StuckConfig,
    tracker: EventTracker,
    /// Per time-of-day bin: probability that a reading differs from the previous one.
    change_probability: Vec<f64>,
    bin_readings: Vec<u64>,
    run_value: Option<f64>,
    run_points: u64,
    changes: u64,
    /// −Σ ln P(no change) over the current run's unchanged readings (nats).
    run_surprise: f64,
    /// The most surprising normal run seen, fading with `forget_days`.
    typical_surprise: f64,
    typical_at_s: i64,
    season_tau_s: f64,
    /// The range check's limits: a value pinned at a physical limit (100 % humidity in fog,
    /// calm wind) is saturated, and flat is normal there.
    limits: (Option<f64>, Option<f64>),
}

impl StuckCheck {
    fn threshold(&self) -> f64 {
        (self.config.ratio * self.typical_surprise).max(self.config.min_surprise)
    }

    /// Whether `x` is within 1 % of the span from a limit (at the limit with only one).
    fn saturated(&self, x: f64) -> bool {
        match self.limits {
            (Some(lo), Some(hi)) => {
                let band = 0.01 * (hi - lo);
                x <= lo + band || x >= hi - band
            }
            (Some(lo), None) => x <= lo,
            (None, Some(hi)) => x >= hi,
            (None, None) => false,
        }
    }

    fn step(&mut self, cx: &Context, x: f64) -> f64 {
        let bins = self.change_probability.len();
        let b = bin_of(cx.t, bins);
        let tolerance = self.config.tolerance.unwrap_or(0.5 * cx.resolution.unwrap_or(0.0));
        let unchanged = self.run_value.is_some_and(|v| (x - v).abs() <= tolerance);
        let saturated = self.saturated(x);
        // Runs beyond anything normal teach nothing about how often the value changes.
        let suspicious = self.run_surprise > self.typical_surprise;
        let (Some(p), Some(n)) = (self.change_probability.get_mut(b), self.bin_readings.get_mut(b)) else {
            return 0.0;
        };
        let alpha = ew_weight(cx.dt_s * bins as f64, self.season_tau_s, *n);
        if unchanged {
            if !saturated {
                self.run_surprise += -(-p.min(0.99)).ln_1p();
            }
            self.run_points += 1;
            if !suspicious {
                *p += alpha * (0.0 - *p);
                *n += 1;
            }
        } else {
            if self.run_points > 0 {
                if !self.tracker.is_open() {
                    let age_days = cx.t.saturating_sub(self.typical_at_s).max(0) as f64 / SECS_PER_DAY as f64;
                    let faded = self.typical_surprise * (-age_days / self.config.forget_days).exp();
                    self.typical_surprise = faded.max(self.run_surprise);
                    self.typical_at_s = cx.t;
                }
                // The first reading is not a change: there was nothing to change from.
                *p += alpha * (1.0 - *p);
                *n += 1;
                self.changes = self.changes.saturating_add(1);
            }
            self.run_value = Some(x);
            self.run_points = 1;
            self.run_surprise = 0.0;
        }
        let score = if cx.warm && self.changes >= self.config.min_changes && self.run_points >= self.config.min_points {
            ratio_score(self.run_surprise, self.threshold())
        } else {
            0.0
        };
        self.tracker.observe(cx.t, score, x, self.run_value.unwrap_or(x));
        score
    }
}

/// Mean absolute residual and its count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Spread {
    mean_abs: f64,
    n: u64,
}

impl Spread {
    fn sigma(&self) -> f64 {
        SIGMA_PER_MEAN_ABS_DEV * self.mean_abs
    }

    fn learn(&mut self, abs_residual: f64, memory: f64) {
        let alpha = (1.0 / (self.n as f64 + 1.0)).max(1.0 / memory);
        self.mean_abs += alpha * (abs_residual - self.mean_abs);
        self.n = self.n.saturating_add(1);
    }
}

/// A residual spread overall and per time-of-day bin (a PV inverter's temperature jumps
/// with the clouds by day and creeps at night).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Spreads {
    global: Spread,
    bins: Vec<Spread>,
}

impl Spreads {
    fn new(bins: usize) -> Self {
        Spreads { global: Spread::default(), bins: vec![Spread::default(); bins] }
    }

    /// σ for bin `b`: the bin's own once it has enough residuals, never below a quarter of
    /// the overall one nor below `floor`.
    fn sigma(&self, b: usize, floor: f64) -> f64 {
        let global = self.global.sigma();
        let local = self.bins.get(b).filter(|s| s.n >= SpikeCheck::WARM_RESIDUALS).map_or(global, Spread::sigma);
        local.max(0.25 * global).max(floor)
    }

    fn learn(&mut self, b: usize, abs_residual: f64, memory: f64) {
        if let Some(bin) = self.bins.get_mut(b) {
            bin.learn(abs_residual, memory);
        }
        self.global.learn(abs_residual, memory);
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SpikeCheck {
    config: SpikeConfig,
    tracker: EventTracker,
    recent: RollingMedian,
    /// First differences of the recent readings, for a robust local slope.
    steps: RollingMedian,
    last: Option<f64>,
    /// Residual spreads of two predictions: the median of the recent readings, and that
    /// median moved along the recent slope (better for smooth, trending series such as soil
    /// temperature; worse for noisy ones). The one that has been more accurate is used.
    level: Spreads,
    trend: Spreads,
    /// A reading that scored as a spike, waiting for the next reading to confirm it.
    pending: Option<Candidate>,
}

/// A spike candidate: its time, value, the prediction before it and its score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Candidate {
    t: i64,
    x: f64,
    median: f64,
    score: f64,
}

impl SpikeCheck {
    /// Residuals seen before a spread is trusted.
    const WARM_RESIDUALS: u64 = 20;

    fn new(config: SpikeConfig, tracker: EventTracker, bins: usize) -> Self {
        SpikeCheck {
            recent: RollingMedian::new(config.window),
            steps: RollingMedian::new(config.window.saturating_sub(1).max(1)),
            last: None,
            level: Spreads::new(bins),
            trend: Spreads::new(bins),
            pending: None,
            config,
            tracker,
        }
    }

    /// Scores `x` at once; its event waits for the next reading, which confirms a spike by
    /// coming back towards the earlier level (a reading that starts a new level is a step:
    /// the weather, or a level shift, not a spike).
    fn step(&mut self, cx: &Context, x: f64, restart: bool) -> f64 {
        if restart {
            // After a long silence the last readings say little about this one.
            self.recent.clear();
            self.steps.clear();
            self.last = None;
            self.pending = None;
        }
        if let Some(c) = self.pending.take()
            && (x - c.median).abs() < 0.5 * (c.x - c.median).abs()
        {
            self.tracker.observe(c.t, c.score, c.x, c.median);
        }
        let mut score = 0.0;
        let mut expected = f64::NAN;
        let b = bin_of(cx.t, self.level.bins.len());
        if self.recent.len() >= 3
            && let Some(median) = self.recent.median()
        {
            let slope = if self.steps.len() >= 2 { self.steps.median().unwrap_or(0.0) } else { 0.0 };
            let along_trend = median + slope * (self.recent.len() as f64 + 1.0) / 2.0;
            let use_trend =
                self.trend.global.n >= Self::WARM_RESIDUALS && self.trend.global.mean_abs < self.level.global.mean_abs;
            let (prediction, spreads) = if use_trend { (along_trend, &self.trend) } else { (median, &self.level) };
            expected = prediction;
            let residual = (x - prediction).abs();
            let floor = cx.resolution.unwrap_or(0.0).max(1e-9 * prediction.abs()).max(1e-12);
            let sigma = spreads.sigma(b, floor);
            let warm = spreads.global.n >= Self::WARM_RESIDUALS;
            if warm && cx.warm {
                score = ramp(residual / sigma, self.config.z_low, self.config.z_high);
            }
            // Both predictions learn their spread; a spike teaches at most 5 σ.
            for (spreads, prediction) in [(&mut self.level, median), (&mut self.trend, along_trend)] {
                let residual = (x - prediction).abs();
                let sigma = spreads.sigma(b, floor);
                let learned =
                    if spreads.global.n >= Self::WARM_RESIDUALS { residual.min(5.0 * sigma) } else { residual };
                spreads.learn(b, learned, self.config.scale_points);
            }
        }
        if let Some(last) = self.last {
            self.steps.push(x - last);
        }
        self.last = Some(x);
        self.recent.push(x);
        if score >= self.config.hysteresis.open {
            self.pending = Some(Candidate { t: cx.t, x, median: expected, score });
            self.tracker.observe(cx.t, 0.0, x, expected);
        } else {
            self.tracker.observe(cx.t, score, x, expected);
        }
        score
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SeasonBin {
    offset: f64,
    mean_abs_residual: f64,
    n: u64,
}

/// Level + time-of-day profile, with the spread of the residual per bin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Baseline {
    config: BaselineConfig,
    level: f64,
    n: u64,
    bins: Vec<SeasonBin>,
    mean_abs_residual: f64,
}

impl Baseline {
    /// Readings in a bin before its own spread is trusted.
    const BIN_WARM: u64 = 10;

    fn new(config: BaselineConfig) -> Self {
        let bins = (0..config.bins_per_day.max(1)).map(|_| SeasonBin { offset: 0.0, mean_abs_residual: 0.0, n: 0 });
        Baseline { config, level: 0.0, n: 0, bins: bins.collect(), mean_abs_residual: 0.0 }
    }

    /// Expected value and the standardized residual of `x`, then learns from it.
    fn step(&mut self, cx: &Context, x: f64) -> (f64, f64) {
        if self.n == 0 {
            self.level = x;
        }
        let bins = self.bins.len();
        let b = bin_of(cx.t, bins);
        let global_sigma = SIGMA_PER_MEAN_ABS_DEV * self.mean_abs_residual;
        let Some(bin) = self.bins.get_mut(b) else { return (x, 0.0) };
        let expected = self.level + bin.offset;
        let residual = x - expected;
        let bin_sigma =
            if bin.n >= Self::BIN_WARM { SIGMA_PER_MEAN_ABS_DEV * bin.mean_abs_residual } else { global_sigma };
        let floor = cx.resolution.unwrap_or(0.0).max(1e-9 * expected.abs()).max(1e-12);
        let sigma = bin_sigma.max(0.25 * global_sigma).max(floor);
        let z = residual / sigma;

        let learned = if cx.warm { residual.clamp(-4.0 * sigma, 4.0 * sigma) } else { residual };
        let value = expected + learned;
        let alpha_level = ew_weight(cx.dt_s, self.config.level_tau_s, self.n);
        self.level += alpha_level * (value - bin.offset - self.level);
        let alpha_bin = ew_weight(cx.dt_s * bins as f64, self.config.season_tau_s, bin.n);
        if bins > 1 {
            bin.offset += alpha_bin * (value - self.level - bin.offset);
        }
        bin.mean_abs_residual += alpha_bin * (learned.abs() - bin.mean_abs_residual);
        bin.n = bin.n.saturating_add(1);
        let alpha_global = ew_weight(cx.dt_s, self.config.season_tau_s, self.n);
        self.mean_abs_residual += alpha_global * (learned.abs() - self.mean_abs_residual);
        self.n = self.n.saturating_add(1);
        (expected, z)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct LevelShiftCheck {
    config: LevelShiftConfig,
    tracker: EventTracker,
    /// The standardized residual smoothed over `tau_s`.
    smoothed: f64,
    /// Mean absolute value of `smoothed` under normal conditions.
    spread: f64,
    n: u64,
    up: f64,
    down: f64,
}

impl LevelShiftCheck {
    fn step(&mut self, cx: &Context, x: f64, expected: f64, z: f64, season_tau_s: f64) -> f64 {
        let c = &self.config;
        self.smoothed += ew_weight(cx.dt_s, c.tau_s, self.n) * (z - self.smoothed);
        let sigma = (SIGMA_PER_MEAN_ABS_DEV * self.spread).max(1e-3);
        let u = self.smoothed / sigma;
        let mut score = 0.0;
        if cx.warm {
            let units = cx.dt_s / c.tau_s;
            self.up = (self.up + (u - c.k) * units).clamp(0.0, 2.0 * c.h);
            self.down = (self.down + (-u - c.k) * units).clamp(0.0, 2.0 * c.h);
            score = ratio_score(self.up.max(self.down), c.h);
        }
        // The spread learns from normal times only, so a shift does not widen its own yardstick.
        if !cx.warm || (score < 0.25 && !self.tracker.is_open()) {
            let learned = if cx.warm { self.smoothed.abs().min(4.0 * sigma) } else { self.smoothed.abs() };
            self.spread += ew_weight(cx.dt_s, season_tau_s, self.n) * (learned - self.spread);
            self.n = self.n.saturating_add(1);
        }
        self.tracker.observe(cx.t, score, x, expected);
        score
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct UnusualCheck {
    config: UnusualConfig,
    tracker: EventTracker,
    /// Boxed: up to a week of the series' values for its seasonal predictors.
    onset: Box<OnsetDetector>,
    /// Distance from the baseline when the open condition began.
    opened_deviation: f64,
}

impl UnusualCheck {
    fn step(&mut self, cx: &Context, x: f64, expected: f64) -> f64 {
        // The onset detector learns from every reading, warm or not.
        let score = self.onset.update(cx.t, x);
        if !cx.warm {
            self.tracker.observe(cx.t, 0.0, x, expected);
            return 0.0;
        }
        let deviation = (x - expected).abs();
        let was_open = self.tracker.is_open();
        let condition = if self.onset.evidence() >= self.config.open_evidence {
            1.0
        } else if was_open && deviation >= self.config.hold_fraction * self.opened_deviation {
            self.config.hysteresis.open
        } else {
            0.0
        };
        self.tracker.observe(cx.t, condition, x, expected);
        if self.tracker.is_open() && !was_open {
            self.opened_deviation = deviation;
        }
        score
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct GapCheck {
    config: GapConfig,
    tracker: EventTracker,
}

impl GapCheck {
    /// Intervals seen before the cadence is trusted.
    const WARM_INTERVALS: u64 = 10;

    fn threshold_s(&self, cadence: &Cadence) -> Option<f64> {
        if cadence.intervals() < Self::WARM_INTERVALS {
            return None;
        }
        cadence.seconds().map(|c| (self.config.intervals * c).max(self.config.min_gap_s))
    }
}

/// All generic detectors of one series (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesDetector {
    config: SeriesConfig,
    /// Finite values seen.
    points: u64,
    first_value_s: Option<i64>,
    last_value_s: Option<i64>,
    last_value: Option<f64>,
    last_arrival_s: Option<i64>,
    cadence: Cadence,
    resolution: Resolution,
    range: Option<RangeCheck>,
    stuck: Option<StuckCheck>,
    spike: Option<SpikeCheck>,
    gap: Option<GapCheck>,
    baseline: Option<Baseline>,
    level_shift: Option<LevelShiftCheck>,
    unusual: Option<UnusualCheck>,
}

impl SeriesDetector {
    /// Detectors for the series `field` (the name events carry).
    pub fn new(field: &str, config: SeriesConfig) -> Result<Self> {
        config.check()?;
        Ok(SeriesDetector::build(field, config))
    }

    /// `auto` with its defaults (valid by construction: tested).
    pub fn auto(field: &str) -> Self {
        SeriesDetector::build(field, SeriesConfig::auto())
    }

    fn build(field: &str, config: SeriesConfig) -> Self {
        let bins = config.baseline.bins_per_day.max(1) as usize;
        let tracker = |kind, h: Hysteresis| EventTracker::new(kind, field, h);
        SeriesDetector {
            range: config
                .range
                .clone()
                .map(|c| RangeCheck { tracker: tracker(EventKind::OutOfRange, c.hysteresis), config: c }),
            stuck: config.stuck.clone().map(|c| StuckCheck {
                tracker: tracker(EventKind::Stuck, c.hysteresis),
                change_probability: vec![0.0; bins],
                bin_readings: vec![0; bins],
                run_value: None,
                run_points: 0,
                changes: 0,
                run_surprise: 0.0,
                typical_surprise: 0.0,
                typical_at_s: 0,
                season_tau_s: config.baseline.season_tau_s,
                limits: config.range.as_ref().map_or((None, None), |r| (r.min, r.max)),
                config: c,
            }),
            spike: config.spike.clone().map(|c| {
                let tracker = tracker(EventKind::Spike, c.hysteresis);
                SpikeCheck::new(c, tracker, bins)
            }),
            gap: config.gap.clone().map(|c| GapCheck { tracker: tracker(EventKind::Gap, c.hysteresis), config: c }),
            baseline: (config.level_shift.is_some() || config.unusual.is_some())
                .then(|| Baseline::new(config.baseline.clone())),
            level_shift: config.level_shift.clone().map(|c| LevelShiftCheck {
                tracker: tracker(EventKind::LevelShift, c.hysteresis),
                smoothed: 0.0,
                spread: 0.0,
                n: 0,
                up: 0.0,
                down: 0.0,
                config: c,
            }),
            // `check` (or `auto`'s defaults) validated the onset configuration.
            unusual: config.unusual.clone().and_then(|c| {
                Some(UnusualCheck {
                    tracker: tracker(EventKind::Unusual, c.hysteresis),
                    onset: Box::new(OnsetDetector::new(c.onset.clone()).ok()?),
                    opened_deviation: 0.0,
                    config: c,
                })
            }),
            config,
            points: 0,
            first_value_s: None,
            last_value_s: None,
            last_value: None,
            last_arrival_s: None,
            cadence: Cadence::default(),
            resolution: Resolution::default(),
        }
    }

    pub fn config(&self) -> &SeriesConfig {
        &self.config
    }

    /// Scores one reading (NaN = arrived without a value) and learns from it. Returns the
    /// largest score of the enabled detectors, in [0, 1].
    pub fn update(&mut self, t: i64, value: f64) -> f64 {
        let mut score = self.arrive(t);
        if value.is_nan() {
            return score;
        }
        let Some(x) = sane(value) else {
            if let Some(range) = &mut self.range {
                score = score.max(range.step(t, value));
            }
            return score;
        };
        let cadence = self.cadence.seconds();
        let raw_dt = self.last_value_s.map_or(0, |last| t.saturating_sub(last).max(0)) as f64;
        let dt_s = cadence.map_or(0.0, |c| raw_dt.min(3.0 * c));
        let restart = cadence.is_some_and(|c| raw_dt > 10.0 * c);
        if let Some(previous) = self.last_value {
            self.resolution.observe(previous, x);
        }
        let first = *self.first_value_s.get_or_insert(t);
        let warm = self.points >= self.config.warmup.points && t.saturating_sub(first) >= self.config.warmup.seconds;
        let cx = Context { t, dt_s, resolution: self.resolution.step(), warm };

        if let Some(range) = &mut self.range {
            score = score.max(range.step(t, x));
        }
        // After a flat line the last readings say nothing about this one either.
        let was_stuck = self.stuck.as_ref().is_some_and(|s| s.tracker.is_open());
        if let Some(stuck) = &mut self.stuck {
            score = score.max(stuck.step(&cx, x));
        }
        if let Some(spike) = &mut self.spike {
            score = score.max(spike.step(&cx, x, restart || was_stuck));
        }
        if let Some(baseline) = &mut self.baseline {
            let (expected, z) = baseline.step(&cx, x);
            if let Some(level_shift) = &mut self.level_shift {
                score = score.max(level_shift.step(&cx, x, expected, z, self.config.baseline.season_tau_s));
            }
            if let Some(unusual) = &mut self.unusual {
                score = score.max(unusual.step(&cx, x, expected));
            }
        }
        self.points = self.points.saturating_add(1);
        self.last_value = Some(x);
        self.last_value_s = Some(self.last_value_s.map_or(t, |last| last.max(t)));
        score
    }

    /// Bookkeeping of an arrival: cadence, and the gap that just ended (scored at `t` so a
    /// caller without a timer still sees it on the first reading after the silence).
    fn arrive(&mut self, t: i64) -> f64 {
        let mut score = 0.0;
        if let Some(last) = self.last_arrival_s {
            let silence = t.saturating_sub(last);
            if let Some(gap) = &mut self.gap {
                if let Some(threshold) = gap.threshold_s(&self.cadence) {
                    score = ratio_score(silence as f64, threshold);
                    gap.tracker.observe(t, score, silence as f64, threshold);
                }
                // The device is back: the silence is over.
                gap.tracker.observe(t, 0.0, 0.0, 0.0);
            }
            self.cadence.observe(silence);
        }
        self.last_arrival_s = Some(self.last_arrival_s.map_or(t, |last| last.max(t)));
        score
    }

    /// The gap score at `now` without a new reading: call it on a timer (every cadence or
    /// so). Opens a gap event when the device has been silent too long.
    pub fn check(&mut self, now: i64) -> f64 {
        let (Some(gap), Some(last)) = (&mut self.gap, self.last_arrival_s) else { return 0.0 };
        let Some(threshold) = gap.threshold_s(&self.cadence) else { return 0.0 };
        let silence = now.saturating_sub(last).max(0) as f64;
        let score = ratio_score(silence, threshold);
        gap.tracker.observe(now, score, silence, threshold);
        score
    }

    /// After a restart from persisted state: counts silence from `now` on, since whatever
    /// happened while the server was down is not the device's fault.
    pub fn resume_at(&mut self, now: i64) {
        if let Some(last) = &mut self.last_arrival_s {
            *last = (*last).max(now);
        }
    }

    /// Learns from stored history `(t, value)` without emitting events: the way to rebuild
    /// state after a restart when none was persisted.
    pub fn replay(&mut self, history: impl IntoIterator<Item = (i64, f64)>) {
        for (t, v) in history {
            self.update(t, v);
        }
        for tracker in self.trackers_mut() {
            tracker.discard_changes();
        }
    }

    fn trackers_mut(&mut self) -> impl Iterator<Item = &mut EventTracker> {
        let range = self.range.as_mut().map(|c| &mut c.tracker);
        let stuck = self.stuck.as_mut().map(|c| &mut c.tracker);
        let spike = self.spike.as_mut().map(|c| &mut c.tracker);
        let gap = self.gap.as_mut().map(|c| &mut c.tracker);
        let level = self.level_shift.as_mut().map(|c| &mut c.tracker);
        let unusual = self.unusual.as_mut().map(|c| &mut c.tracker);
        [range, stuck, spike, gap, level, unusual].into_iter().flatten()
    }

    /// Event openings and closings since the last call, in detector order.
    pub fn drain_events(&mut self) -> Vec<EventChange> {
        let mut out = Vec::new();
        for tracker in self.trackers_mut() {
            tracker.drain_into(&mut out);
        }
        out
    }

    /// The events currently open.
    pub fn ongoing(&self) -> Vec<&Event> {
        let range = self.range.as_ref().map(|c| &c.tracker);
        let stuck = self.stuck.as_ref().map(|c| &c.tracker);
        let spike = self.spike.as_ref().map(|c| &c.tracker);
        let gap = self.gap.as_ref().map(|c| &c.tracker);
        let level = self.level_shift.as_ref().map(|c| &c.tracker);
        let unusual = self.unusual.as_ref().map(|c| &c.tracker);
        [range, stuck, spike, gap, level, unusual].into_iter().flatten().filter_map(EventTracker::ongoing).collect()
    }

    /// The learned reporting interval (s), once known.
    pub fn cadence_s(&self) -> Option<f64> {
        self.cadence.seconds()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::testutil::{Noise, opened, temperature};

    const MINUTE: i64 = 60;
    const HOUR: i64 = 3600;
    /// 2026-03-01T00:00:00Z.
    const T0: i64 = 1_772_323_200;

    fn run(detector: &mut SeriesDetector, series: &[(i64, f64)]) -> (Vec<f64>, Vec<EventChange>) {
        let mut scores = Vec::with_capacity(series.len());
        let mut changes = Vec::new();
        for &(t, v) in series {
            scores.push(detector.update(t, v));
            changes.extend(detector.drain_events());
        }
        (scores, changes)
    }

    /// One reading a minute of a temperature-like series.
    fn temperatures(seed: u64, days: i64) -> Vec<(i64, f64)> {
        let mut noise = Noise::new(seed);
        let mut wander = 0.0;
        (0..days * 1440)
            .map(|i| {
                let t = T0 + i * MINUTE;
                (t, temperature(&mut noise, t, &mut wander))
            })
            .collect()
    }

    fn round_to(x: f64, step: f64) -> f64 {
        (x / step).round() * step
    }

    #[test]
    fn every_configuration_preset_is_valid() {
        for name in DetectorName::ALL {
            assert!(SeriesConfig::only(name).check().is_ok(), "{name:?}");
            assert_eq!(DetectorName::from_name(name.name()), Some(name));
        }
        assert!(SeriesConfig::auto().with_limits(Some(5.0), Some(1.0)).check().is_err());
        let bad =
            SeriesConfig { spike: Some(SpikeConfig { window: 0, ..SpikeConfig::default() }), ..SeriesConfig::auto() };
        assert!(SeriesDetector::new("x", bad).is_err());
    }

    #[test]
    fn clean_seasonal_series_raise_nothing() {
        // Fine-grained, quantized to 0.1 and hourly versions of a month of temperatures.
        let fine = temperatures(1, 30);
        let coarse: Vec<(i64, f64)> = fine.iter().map(|&(t, v)| (t, round_to(v, 0.1))).collect();
        let hourly: Vec<(i64, f64)> = fine.iter().step_by(60).copied().collect();
        for (name, series) in [("fine", &fine), ("quantized", &coarse), ("hourly", &hourly)] {
            let mut detector = SeriesDetector::auto("air_temp_c");
            let (scores, changes) = run(&mut detector, series);
            assert!(
                changes.is_empty(),
                "{name}: {:?}",
                changes.iter().map(|c| (c.event().kind, c.event().start_s - T0)).collect::<Vec<_>>()
            );
            assert!(scores.iter().all(|s| *s < 0.5), "{name}");
        }
    }

    #[test]
    fn legitimately_flat_series_are_not_stuck() {
        let mut noise = Noise::new(2);
        // PV power: exactly 0 every night, noisy by day.
        let pv: Vec<(i64, f64)> = (0..30 * 1440)
            .map(|i| {
                let t = T0 + i * MINUTE;
                let hour = (t.rem_euclid(86_400)) as f64 / 3600.0;
                let sun = ((hour - 22.0).rem_euclid(24.0) / 12.0 * std::f64::consts::PI).sin();
                let power = if (22.0..24.0).contains(&hour) || hour < 10.0 { 2000.0 * sun } else { 0.0 };
                (t, if power > 0.0 { round_to(power * (1.0 + 0.02 * noise.normal()), 0.1) } else { 0.0 })
            })
            .collect();
        // A stage code that changes every few days, reported every 10 minutes.
        let mut stage = 0.0;
        let stages: Vec<(i64, f64)> = (0..60 * 144)
            .map(|i| {
                if noise.uniform() < 1.0 / (144.0 * 5.0) {
                    stage += 1.0;
                }
                (T0 + i * 600, stage)
            })
            .collect();
        for (name, series) in [("pv", &pv), ("stage", &stages)] {
            let mut detector = SeriesDetector::new("f", SeriesConfig::only(DetectorName::Stuck)).unwrap();
            let (_, changes) = run(&mut detector, series);
            assert!(opened(&changes, EventKind::Stuck).is_empty(), "{name}: {changes:#?}");
        }
    }

    #[test]
    fn a_stuck_sensor_is_one_event_from_soon_after_it_sticks_until_it_recovers() {
        let mut series: Vec<(i64, f64)> =
            temperatures(3, 12).into_iter().map(|(t, v)| (t, round_to(v, 0.01))).collect();
        let from = 10 * 1440 + 600;
        let to = from + 180;
        let held = series[from].1;
        for reading in &mut series[from..to] {
            reading.1 = held;
        }
        let mut detector = SeriesDetector::auto("air_temp_c");
        let (_, changes) = run(&mut detector, &series);
        let stuck = opened(&changes, EventKind::Stuck);
        assert_eq!(stuck.len(), 1, "{changes:#?}");
        let (start, _) = stuck[0];
        let stuck_at = series[from].0;
        assert!(start > stuck_at && start <= stuck_at + 30 * MINUTE, "opened {} s after sticking", start - stuck_at);
        let closed = changes.iter().find_map(|c| match c {
            EventChange::Closed(e) if e.kind == EventKind::Stuck => e.end_s,
            _ => None,
        });
        assert_eq!(closed, Some(series[to - 1].0), "closes at the last stuck reading");
        assert!(changes.iter().all(|c| c.event().kind == EventKind::Stuck), "{changes:#?}");
    }

    #[test]
    fn a_spike_is_flagged_at_its_reading_only() {
        let mut series = temperatures(4, 5);
        let at = 4 * 1440 + 123;
        series[at].1 += 5.0;
        let mut detector = SeriesDetector::auto("air_temp_c");
        let (scores, changes) = run(&mut detector, &series);
        assert_eq!(opened(&changes, EventKind::Spike), vec![(series[at].0, series[at].0)]);
        assert!(scores[at] > 0.9);
        assert!(scores[at + 1] < 0.5, "the reading after the spike is normal again");
    }

    #[test]
    fn a_step_is_not_a_spike_event() {
        let mut series = temperatures(9, 5);
        for reading in &mut series[4 * 1440 + 200..] {
            reading.1 += 5.0;
        }
        let mut detector = SeriesDetector::new("f", SeriesConfig::only(DetectorName::Spike)).unwrap();
        let (scores, changes) = run(&mut detector, &series);
        assert!(scores[4 * 1440 + 200] > 0.5, "the first reading of the step does score");
        assert!(opened(&changes, EventKind::Spike).is_empty(), "but the next one does not come back: {changes:#?}");
    }

    #[test]
    fn spikes_stand_out_on_smooth_trending_series() {
        // Soil-temperature-like: a smooth daily cycle read every 10 minutes, where the
        // median of the last readings lags behind the trend by more than the noise.
        let mut noise = Noise::new(10);
        let mut series: Vec<(i64, f64)> = (0..8 * 144)
            .map(|i| {
                let t = T0 + i * 600;
                let day = (t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
                (t, round_to(15.0 + 6.0 * day.sin() + 0.05 * noise.normal(), 0.01))
            })
            .collect();
        let at = 6 * 144 + 2; // just after midnight UTC: the steepest rise
        series[at].1 += 4.0;
        let mut detector = SeriesDetector::new("soil_temp_c", SeriesConfig::only(DetectorName::Spike)).unwrap();
        let (_, changes) = run(&mut detector, &series);
        assert_eq!(opened(&changes, EventKind::Spike), vec![(series[at].0, series[at].0)]);
    }

    #[test]
    fn a_value_pinned_at_a_physical_limit_is_saturated_not_stuck() {
        // Humidity: noisy, then 100 % for eight hours of fog.
        let mut noise = Noise::new(11);
        let series: Vec<(i64, f64)> = (0..10 * 1440)
            .map(|i| {
                let fog = (8 * 1440..8 * 1440 + 480).contains(&i);
                let rh = if fog { 100.0 } else { round_to(70.0 + 10.0 * noise.normal().clamp(-2.0, 2.0), 0.1) };
                (T0 + i * 60, rh)
            })
            .collect();
        let stuck = |config: SeriesConfig| {
            let (_, changes) = run(&mut SeriesDetector::new("rh_pct", config).unwrap(), &series);
            opened(&changes, EventKind::Stuck).len()
        };
        assert_eq!(stuck(SeriesConfig::only(DetectorName::Stuck).with_limits(Some(0.0), Some(100.0))), 0);
        assert_eq!(stuck(SeriesConfig::only(DetectorName::Stuck)), 1, "without the limit it would look stuck");
    }

    #[test]
    fn gaps_open_on_the_timer_and_close_when_the_device_is_back() {
        let mut detector = SeriesDetector::new("f", SeriesConfig::only(DetectorName::Gap)).unwrap();
        let mut t = T0;
        for i in 0..1440 {
            t = T0 + i * MINUTE;
            detector.update(t, 1.0);
            detector.check(t + 30);
        }
        let last = t;
        let mut opened_at = None;
        for k in 1..=120 {
            let now = last + k * MINUTE;
            let score = detector.check(now);
            if opened_at.is_none() && score >= 0.5 {
                opened_at = Some(now);
            }
        }
        // 2.5 × 60 s is below the 600 s minimum: the gap opens after ten minutes.
        assert_eq!(opened_at, Some(last + 10 * MINUTE));
        let back = last + 121 * MINUTE;
        let score = detector.update(back, 1.0);
        assert!(score >= 0.5, "the first reading after the silence carries the gap score");
        let changes = detector.drain_events();
        let kinds: Vec<_> = changes.iter().map(|c| (matches!(c, EventChange::Opened(_)), c.event().start_s)).collect();
        assert_eq!(kinds, vec![(true, last + 10 * MINUTE), (false, last + 10 * MINUTE)]);
        assert_eq!(changes[1].event().end_s, Some(back));
    }

    #[test]
    fn a_level_shift_is_detected_within_hours() {
        let mut noise = Noise::new(5);
        let series: Vec<(i64, f64)> = (0..6 * 288)
            .map(|i| {
                let shift = if i >= 5 * 288 { 2.5 } else { 0.0 };
                (T0 + i * 300, 10.0 + shift + noise.normal())
            })
            .collect();
        let mut detector = SeriesDetector::new("f", SeriesConfig::only(DetectorName::LevelShift)).unwrap();
        let (_, changes) = run(&mut detector, &series);
        let shifts = opened(&changes, EventKind::LevelShift);
        assert_eq!(shifts.len(), 1, "{changes:#?}");
        let shifted_at = series[5 * 288].0;
        assert!(shifts[0].0 >= shifted_at && shifts[0].0 <= shifted_at + 4 * HOUR, "{:?}", shifts[0]);
    }

    #[test]
    fn an_unusual_excursion_is_one_event_from_its_start_until_the_value_returns() {
        // Ten days of 5-minute temperatures; on day 8 at noon a heater next to the sensor adds
        // 8 °C for three hours.
        let start = T0 + 8 * 86_400 + 12 * HOUR;
        let end = start + 3 * HOUR;
        let series: Vec<(i64, f64)> = temperatures(3, 10)
            .into_iter()
            .step_by(5)
            .map(|(t, v)| (t, if (start..end).contains(&t) { v + 8.0 } else { v }))
            .collect();
        let mut detector = SeriesDetector::new("air_temp_c", SeriesConfig::only(DetectorName::Unusual)).unwrap();
        let (scores, changes) = run(&mut detector, &series);
        let opened = opened(&changes, EventKind::Unusual);
        assert_eq!(opened.len(), 1, "{changes:#?}");
        assert!((start..start + 30 * MINUTE).contains(&opened[0].0), "opened {} s after", opened[0].0 - start);
        let closed: Vec<i64> = changes
            .iter()
            .filter_map(|c| match c {
                EventChange::Closed(e) => e.end_s,
                _ => None,
            })
            .collect();
        assert_eq!(closed.len(), 1, "{changes:#?}");
        // The event ends at the last reading away from the baseline.
        assert!((end - 15 * MINUTE..end + HOUR).contains(&closed[0]), "ended {} s after the heater", closed[0] - end);
        // The score marks the onset, not the whole excursion.
        let high: Vec<i64> = series.iter().zip(&scores).filter(|(_, s)| **s >= 0.25).map(|((t, _), _)| *t).collect();
        assert!(!high.is_empty() && high.iter().all(|t| (start..start + HOUR).contains(t)), "{high:?}");
    }

    #[test]
    fn values_out_of_range_and_non_finite_values() {
        let config = SeriesConfig::only(DetectorName::Range).with_limits(Some(0.0), Some(100.0));
        let mut detector = SeriesDetector::new("rh_pct", config).unwrap();
        assert_eq!(detector.update(T0, 50.0), 0.0);
        assert_eq!(detector.update(T0 + 60, 150.0), 1.0);
        assert_eq!(detector.update(T0 + 120, f64::INFINITY), 1.0);
        assert_eq!(detector.update(T0 + 180, f64::NAN), 0.0, "missing is not out of range");
        assert_eq!(detector.update(T0 + 240, -1.0), 1.0);
        detector.update(T0 + 1000, 50.0);
        detector.update(T0 + 1700, 50.0);
        let changes = detector.drain_events();
        assert_eq!(opened(&changes, EventKind::OutOfRange), vec![(T0 + 60, T0 + 60)]);
        assert_eq!(changes.last().and_then(|c| c.event().end_s), Some(T0 + 240));
    }

    #[test]
    fn replaying_history_rebuilds_state_without_events() {
        let mut series: Vec<(i64, f64)> = temperatures(6, 8).into_iter().map(|(t, v)| (t, round_to(v, 0.01))).collect();
        let held = series[5 * 1440].1;
        for reading in &mut series[5 * 1440..5 * 1440 + 240] {
            reading.1 = held;
        }
        let split = 7 * 1440;
        let mut live = SeriesDetector::auto("f");
        let (live_scores, live_changes) = run(&mut live, &series);
        assert!(!opened(&live_changes, EventKind::Stuck).is_empty());
        let mut rebuilt = SeriesDetector::auto("f");
        rebuilt.replay(series[..split].iter().copied());
        assert!(rebuilt.drain_events().is_empty());
        let (tail_scores, _) = run(&mut rebuilt, &series[split..]);
        assert_eq!(tail_scores, live_scores[split..].to_vec());
    }

    #[test]
    fn a_restart_in_the_middle_of_a_condition_raises_no_new_alert() {
        let mut series: Vec<(i64, f64)> =
            temperatures(12, 8).into_iter().map(|(t, v)| (t, round_to(v, 0.01))).collect();
        let held = series[6 * 1440].1;
        for reading in &mut series[6 * 1440..6 * 1440 + 300] {
            reading.1 = held;
        }
        let restart = 6 * 1440 + 120; // two hours into the stuck spell, an hour after it opened
        let mut live = SeriesDetector::auto("f");
        let (_, before) = run(&mut live, &series[..restart]);
        assert_eq!(opened(&before, EventKind::Stuck).len(), 1);
        let persisted = serde_json::to_string(&live).unwrap();

        // Restored from persisted state, or rebuilt from stored history: either way the
        // ongoing condition is known, not re-announced, and closes once.
        let mut restored: SeriesDetector = serde_json::from_str(&persisted).unwrap();
        let mut rebuilt = SeriesDetector::auto("f");
        rebuilt.replay(series[..restart].iter().copied());
        for detector in [&mut restored, &mut rebuilt] {
            assert_eq!(detector.ongoing().len(), 1);
            let (_, after) = run(detector, &series[restart..]);
            assert!(opened(&after, EventKind::Stuck).is_empty(), "{after:#?}");
            assert_eq!(after.iter().filter(|c| matches!(c, EventChange::Closed(_))).count(), 1);
        }
    }

    #[test]
    fn resuming_after_downtime_does_not_report_every_device_silent() {
        let mut detector = SeriesDetector::new("f", SeriesConfig::only(DetectorName::Gap)).unwrap();
        for i in 0..100 {
            detector.update(T0 + i * MINUTE, 1.0);
        }
        let mut restored: SeriesDetector = serde_json::from_str(&serde_json::to_string(&detector).unwrap()).unwrap();
        // The server was down for two hours; the device kept sending into the void.
        let now = T0 + 100 * MINUTE + 2 * HOUR;
        restored.resume_at(now);
        assert_eq!(restored.check(now + MINUTE), 0.0);
        assert!(restored.drain_events().is_empty());
        assert!(detector.check(now + MINUTE) > 0.5, "without resume_at the downtime looks like a gap");
    }

    #[test]
    fn state_round_trips_mid_stream() {
        let mut series = temperatures(7, 4);
        series[3 * 1440].1 += 8.0;
        let split = 2 * 1440 + 17;
        let mut uninterrupted = SeriesDetector::auto("f");
        let (expected, _) = run(&mut uninterrupted, &series);

        let mut first = SeriesDetector::auto("f");
        let (mut scores, _) = run(&mut first, &series[..split]);
        let bytes = postcard::to_stdvec(&first).unwrap();
        let mut restored: SeriesDetector = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(restored, first);
        scores.extend(run(&mut restored, &series[split..]).0);
        assert_eq!(scores.len(), expected.len());
        assert!(scores.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits()));
        // JSON works too (no NaN hides in the state).
        let json = serde_json::to_string(&first).unwrap();
        let from_json: SeriesDetector = serde_json::from_str(&json).unwrap();
        assert_eq!(from_json.config(), first.config());
    }

    #[test]
    fn scores_never_depend_on_the_future() {
        let series = temperatures(8, 5);
        let k = 4 * 1440 + 5;
        let mut altered = series.clone();
        for (i, reading) in altered.iter_mut().enumerate().skip(k + 1) {
            reading.1 = if i % 2 == 0 { 1e6 } else { f64::NAN };
        }
        altered.push((series[series.len() - 1].0 + 60, -1e9));
        let score_all = |s: &[(i64, f64)]| run(&mut SeriesDetector::auto("f"), s).0;
        let (a, b) = (score_all(&series), score_all(&altered));
        assert!(a[..=k].iter().zip(&b[..=k]).all(|(x, y)| x.to_bits() == y.to_bits()));
        assert!(a[k + 1..] != b[k + 1..a.len()], "the altered future does change later scores");
    }
}
