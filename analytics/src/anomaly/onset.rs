//! Onset likelihood: how likely it is that something anomalous *begins* at this reading,
//! for any numeric series, from the readings before it only.
//!
//! The score spikes at the onset of an anomaly and falls back right after, instead of
//! holding a state for the length of an event (that is the event layer's job, see
//! [`super::event`]). It is the kind of score the Numenta Anomaly Benchmark (NAB) rewards:
//! one early detection per anomaly, and a cost for every reading flagged outside one.
//!
//! # Method
//!
//! 1. **Cadence and season.** The median of the first 32 positive intervals gives the
//!    cadence; when a day holds 12–1000 readings, a ring of the last 7 days (constant size,
//!    fixed by the cadence) gives seasonal predictors.
//! 2. **Several simple predictors** of the new value: the previous value (random walk), a
//!    slow level (exponential mean), the value one day ago and one week ago. Each error is
//!    made dimensionless against that predictor's own exponentially averaged absolute
//!    error, learned after scoring (robust z, capped at [`Z_CAP`]).
//! 3. **Evidence groups**, each the moving average of the *smallest* z of some predictors
//!    (a reading is surprising only if no predictor of the group explains it):
//!    all four over 5 readings (a point or short anomaly), day/week over 5 (a broken
//!    daily or weekly pattern: a flat middle, a missing jump), week over 12 (a holiday-like
//!    day) and the slow level over 24 (a sustained excursion). The purely seasonal groups
//!    give no evidence until they have seen a whole day of their own averages.
//! 4. **Anomaly likelihood** per group, after Numenta's HTM anomaly likelihood (Ahmad,
//!    Lavin, Purdy & Agha 2017, "Unsupervised real-time anomaly detection for streaming
//!    data"): the tail probability of the group's current average against the long-run
//!    distribution of its past averages. Here that distribution is an empirical, slowly
//!    forgetting histogram (a conformal p-value, as in CAD OSE and ARTime's novelty of
//!    never-seen contexts), so a spike size this series shows every few hundred readings is
//!    not news, and beyond the largest value seen the tail continues as a Gaussian in units
//!    of the distribution's spread: the further past the record, the stronger the evidence.
//!    Evidence is −log10 p; the strongest group counts.
//! 5. **Change points** of the value, by Bayesian online change-point detection (Adams &
//!    MacKay 2007, "Bayesian online changepoint detection"): Gaussian segments with the noise
//!    of the previous-value errors and unknown means, a constant hazard, and the run-length
//!    distribution truncated to `change_runs` hypotheses (the oldest merged into the one
//!    before it). The posterior probability p that a new segment starts at this reading
//!    becomes −log10(1 − p) and goes through the same forgetting tail as a group, so a
//!    series that changes level all the time (a random walk, a daily swing) learns that a
//!    change is not news, while a level shift in a series that holds its levels is. This
//!    catches drops that look like ordinary dips to the z of a single predictor. Its
//!    evidence is the empirical tail only (no Gaussian beyond the record), so on its own it
//!    reaches at most the rarity the forgetting history can attest (about 10⁻⁴·³).
//! 6. **Spatial novelty**, as in NAB's HTM detector: a value beyond everything seen by more
//!    than 5 % of the seen range is strong evidence on its own.
//! 7. **Refractory period.** After an alarm (evidence ≥ `alarm`), scores stay 0 for
//!    `refractory` readings unless, after `beat_after` readings, the evidence beats the
//!    alarm's by `beat` × — NAB's own detectors suppress repeated detections the same way,
//!    and so does ARTime (masking after an anomaly).
//!
//! The score is `min(1, evidence / evidence_full)`; with the defaults 0.125 is an evidence of
//! p = 10⁻²·⁵ and 1 is p ≤ 10⁻²⁰.
//!
//! Every step is O(1) per reading (the histograms have [`BINS`] bins; the tail sum walks the
//! bins at or below the current one, a handful for ordinary readings; the change points
//! update `change_runs` hypotheses); memory is constant: at most 7000 seasonal values plus a
//! few hundred numbers.
//!
//! On the 24 NAB series in `nab-dev` (v1.1 scoring, one configuration for all) this scores
//! 72.8 standard, 64.5 reward-low-FP and 78.5 reward-low-FN (see the README); without the
//! change points 68.3, 61.6 and 72.9.
//!
//! # Input hygiene
//!
//! NaN and ±∞ are missing: they score 0 and teach nothing. Finite values are clamped to
//! ±1e100 so all state stays finite (and serializable). Timestamps only matter for the
//! cadence: duplicates and out-of-order readings are scored like any other.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::stats::sane;
use super::{Result, require};

/// Bins of the evidence histograms, over `ln(1 + mean z)` in steps of [`BIN_WIDTH`].
pub const BINS: usize = 80;
/// Width of a histogram bin in `ln(1 + mean z)`.
pub const BIN_WIDTH: f64 = 0.05;
/// Largest z one error can contribute.
pub const Z_CAP: f64 = 50.0;
/// Intervals the cadence is learned from.
const CADENCE_SAMPLES: usize = 32;
/// Evidence is capped here (p = 10⁻³⁰⁰).
const EVIDENCE_CAP: f64 = 300.0;

/// Predictors, in the order of [`OnsetDetector`]'s error arrays.
const DIFF: usize = 0;
const LEVEL: usize = 1;
const DAY: usize = 2;
const WEEK: usize = 3;
/// Evidence groups: the predictors whose smallest z each group averages.
const GROUPS: [&[usize]; 4] = [&[DIFF, LEVEL, DAY, WEEK], &[DAY, WEEK], &[WEEK], &[LEVEL]];

/// Configuration of [`OnsetDetector`]; the defaults are the one configuration evaluated on
/// NAB.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnsetConfig {
    /// Weight of a new reading in the slow level (1/readings).
    pub level_weight: f64,
    /// Weight of a new error in each predictor's mean absolute error.
    pub scale_weight: f64,
    /// Forgetting of the evidence histograms and their spread, per reading.
    pub tail_weight: f64,
    /// Per-reading decay of the record (largest average) each group compares against.
    pub record_decay: f64,
    /// Errors a predictor needs before its z counts.
    pub scale_warmup: u64,
    /// Averages a group needs before it gives evidence (also the spatial check's warm-up).
    pub warmup: u64,
    /// Pseudo-count of the empirical tail (p ≥ prior / (n + prior)).
    pub prior: f64,
    /// Readings each group averages over (in the order of the groups above).
    pub group_window: [usize; 4],
    /// Beyond the seen range by this fraction of it is spatial novelty...
    pub spatial_tolerance: f64,
    /// ... worth this much evidence (−log10 p), up to twice as much for twice the range.
    pub spatial_evidence: f64,
    /// Evidence that maps to a score of 1.
    pub evidence_full: f64,
    /// Evidence that raises an alarm and starts the refractory period.
    pub alarm: f64,
    /// Readings after an alarm whose scores are held at 0...
    pub refractory: u64,
    /// ... unless, this many readings after it, ...
    pub beat_after: u64,
    /// ... the evidence is this many times the alarm's.
    pub beat: f64,
    /// Run-length hypotheses the change-point detector keeps (0 turns it off).
    pub change_runs: usize,
    /// Change-point hazard: the prior probability that a segment ends at any reading.
    pub change_hazard: f64,
}

impl Default for OnsetConfig {
    fn default() -> Self {
        OnsetConfig {
            level_weight: 1.0 / 2000.0,
            scale_weight: 1.0 / 1000.0,
            tail_weight: 1.0 / 20_000.0,
            record_decay: 0.99998,
            scale_warmup: 20,
            warmup: 100,
            prior: 1.0,
            group_window: [5, 5, 12, 24],
            spatial_tolerance: 0.05,
            spatial_evidence: 10.0,
            evidence_full: 20.0,
            alarm: 2.5,
            refractory: 100,
            beat_after: 20,
            beat: 1.5,
            change_runs: 32,
            change_hazard: 1.0 / 250.0,
        }
    }
}

impl OnsetConfig {
    fn validate(&self) -> Result<()> {
        let unit = |x: f64| x > 0.0 && x <= 1.0;
        require(unit(self.level_weight) && unit(self.scale_weight) && unit(self.tail_weight), || {
            "level_weight, scale_weight and tail_weight must be in (0, 1]".into()
        })?;
        require(self.record_decay > 0.0 && self.record_decay <= 1.0, || "record_decay must be in (0, 1]".into())?;
        require(self.prior > 0.0 && self.prior.is_finite(), || "prior must be positive".into())?;
        require(self.group_window.iter().all(|&k| (1..=10_000).contains(&k)), || {
            "group_window entries must be in 1..=10000".into()
        })?;
        require(self.spatial_tolerance >= 0.0 && self.spatial_tolerance.is_finite(), || {
            "spatial_tolerance must be finite and not negative".into()
        })?;
        require(self.spatial_evidence >= 0.0 && self.spatial_evidence.is_finite(), || {
            "spatial_evidence must be finite and not negative".into()
        })?;
        require(self.evidence_full > 0.0 && self.evidence_full.is_finite(), || {
            "evidence_full must be positive".into()
        })?;
        require(self.alarm > 0.0 && self.alarm.is_finite(), || "alarm must be positive".into())?;
        require(self.change_runs <= 10_000, || "change_runs must be at most 10000".into())?;
        require(self.change_hazard > 0.0 && self.change_hazard < 1.0, || "change_hazard must be in (0, 1)".into())?;
        require(self.beat >= 1.0 && self.beat.is_finite(), || "beat must be at least 1".into())
    }
}

/// An exponentially weighted mean and variance (weight never below 1/n, so the first
/// samples average evenly).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct EwStat {
    mean: f64,
    var: f64,
    n: u64,
}

impl EwStat {
    fn add(&mut self, x: f64, weight: f64) {
        self.n = self.n.saturating_add(1);
        let a = weight.max(1.0 / self.n as f64);
        let d = x - self.mean;
        self.mean += a * d;
        self.var = (1.0 - a) * (self.var + a * d * d);
    }
}

/// One evidence group: a moving average of the group's z, and the forgetting histogram,
/// spread and record of its past averages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Tail {
    window: Vec<f64>,
    pos: usize,
    filled: usize,
    /// Histogram counts scaled by `weight` (the weight the newest sample got), so forgetting
    /// is O(1): a count is `counts[b] / weight`.
    counts: Vec<f64>,
    total: f64,
    weight: f64,
    spread: EwStat,
    record: f64,
    n: u64,
}

impl Tail {
    fn new(k: usize) -> Self {
        Tail {
            window: vec![0.0; k],
            pos: 0,
            filled: 0,
            counts: vec![0.0; BINS],
            total: 0.0,
            weight: 1.0,
            spread: EwStat::default(),
            record: 0.0,
            n: 0,
        }
    }

    /// Adds one z; returns the evidence (−log10 p) of the new average against the past
    /// ones, or 0 until `warmup` averages have been seen. With `extrapolate`, a new record
    /// adds a Gaussian tail beyond it; without, the evidence is the empirical tail only.
    fn update(&mut self, z: f64, warmup: u64, extrapolate: bool, c: &OnsetConfig) -> f64 {
        let k = self.window.len();
        if let Some(slot) = self.window.get_mut(self.pos) {
            *slot = z;
        }
        self.pos = (self.pos + 1) % k;
        self.filled = (self.filled + 1).min(k);
        let m = self.window.iter().take(self.filled).sum::<f64>() / self.filled as f64;
        let bin = ((m.ln_1p() / BIN_WIDTH) as usize).min(BINS - 1);

        let mut evidence = 0.0;
        if self.n > warmup {
            let below: f64 = self.counts.iter().take(bin + 1).sum();
            let at = self.counts.get(bin).copied().unwrap_or(0.0);
            let tail = ((self.total - below).max(0.0) + 0.5 * at) / self.weight;
            let mut log_p = ((tail + c.prior) / (self.total / self.weight + c.prior)).log10();
            if extrapolate && m > self.record {
                let sd = self.spread.var.max(1e-4).sqrt();
                log_p += std::f64::consts::LOG10_2 + log10_normal_tail((m - self.record) / sd);
            }
            evidence = (-log_p).clamp(0.0, EVIDENCE_CAP);
        }

        // Forget by weighting the newest sample more (rescaled long before overflow).
        self.weight /= 1.0 - c.tail_weight;
        if self.weight > 1e100 {
            for x in &mut self.counts {
                *x /= self.weight;
            }
            self.total /= self.weight;
            self.weight = 1.0;
        }
        if let Some(x) = self.counts.get_mut(bin) {
            *x += self.weight;
        }
        self.total += self.weight;
        self.record = (self.record * c.record_decay).max(m);
        self.spread.add(m, c.tail_weight);
        self.n = self.n.saturating_add(1);
        evidence
    }
}

/// Bayesian online change-point detection (Adams & MacKay 2007): segments of a Gaussian
/// with known noise and unknown mean, and a run-length distribution truncated to at most
/// `change_runs` hypotheses (the oldest merged into the one before it), so memory and cost
/// per reading are constant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct ChangePoints {
    /// The run-length hypotheses, the newest (shortest run) first.
    runs: VecDeque<Run>,
}

/// One run-length hypothesis: its log probability, the readings in the run and their mean.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Run {
    log_prob: f64,
    len: f64,
    mean: f64,
}

/// ln(1 + 1/n) for small n, the predictive variance inflation of a run of n readings.
static LOG_INFLATION: std::sync::LazyLock<Vec<f64>> =
    std::sync::LazyLock::new(|| (0..256).map(|n| (1.0 / n.max(1) as f64).ln_1p()).collect());

fn log_inflation(n: f64) -> f64 {
    // Beyond the table the series 1/n − 1/(2n²) is accurate to 1e-7.
    LOG_INFLATION.get(n as usize).copied().unwrap_or_else(|| (1.0 - 0.5 / n) / n)
}

impl ChangePoints {
    /// Adds `x` with noise `sigma`, a new segment's mean being `prior_mean` ± `prior_sd`;
    /// returns the posterior probability that a new segment starts at `x`.
    fn update(&mut self, x: f64, sigma: f64, prior_mean: f64, prior_sd: f64, c: &OnsetConfig) -> f64 {
        let var = sigma * sigma;
        let (inv_var, log_var) = (1.0 / var, var.ln());
        let log_grow = (-c.change_hazard).ln_1p();
        // Log posteriors (up to a common constant) of every run growing by x, and of a new
        // run starting at x (the old runs' probabilities sum to 1).
        let prior_var = var + prior_sd * prior_sd;
        let fresh = c.change_hazard.ln() - 0.5 * ((x - prior_mean).powi(2) / prior_var + prior_var.ln());
        let mut best = fresh;
        for run in &mut self.runs {
            let shrink = run.len / (run.len + 1.0); // 1 / (1 + 1/n), the predictive variance's inflation
            run.log_prob +=
                log_grow - 0.5 * ((x - run.mean).powi(2) * inv_var * shrink + log_var + log_inflation(run.len));
            best = best.max(run.log_prob);
        }
        let total = (fresh - best).exp() + self.runs.iter().map(|run| (run.log_prob - best).exp()).sum::<f64>();
        let log_total = best + total.ln();
        if !log_total.is_finite() {
            // Degenerate input: start over at x.
            self.runs = VecDeque::from([Run { log_prob: 0.0, len: 1.0, mean: x }]);
            return 0.0;
        }
        for run in &mut self.runs {
            run.log_prob -= log_total;
            run.len += 1.0;
            run.mean += (x - run.mean) / run.len;
        }
        let fresh = fresh - log_total;
        self.runs.push_front(Run { log_prob: fresh, len: 1.0, mean: x });
        if self.runs.len() > c.change_runs
            && let Some(oldest) = self.runs.pop_back()
            && let Some(last) = self.runs.back_mut()
        {
            // The oldest run is merged into the one before it (log-sum of the two).
            let high = last.log_prob.max(oldest.log_prob);
            last.log_prob = high + ((last.log_prob - high).exp() + (oldest.log_prob - high).exp()).ln();
        }
        fresh.exp().clamp(0.0, 1.0)
    }
}

/// log10 of the upper tail of the standard normal, P(Z > z), for z ≥ 0, without underflow
/// (Numerical Recipes' erfc approximation, fractional error below 1.2e-7, taken in logs).
fn log10_normal_tail(z: f64) -> f64 {
    let x = z.max(0.0) / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * x);
    let poly = -x * x - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    // Q(z) = erfc(x) / 2 = t · e^poly / 2
    (0.5 * t).log10() + poly * std::f64::consts::LOG10_E
}

/// The streaming onset detector for one series (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnsetDetector {
    config: OnsetConfig,
    /// First positive intervals (s), until the cadence is known.
    intervals: Vec<i64>,
    cadence_known: bool,
    last_t: Option<i64>,
    /// Readings per day, when the series has a usable daily season.
    period: Option<usize>,
    /// The last 7 periods of values (oldest overwritten first).
    ring: Vec<f64>,
    ring_pos: usize,
    ring_filled: usize,
    previous: Option<f64>,
    level: EwStat,
    magnitude: EwStat,
    scales: [EwStat; 4],
    tails: Vec<Tail>,
    changes: ChangePoints,
    change_tail: Tail,
    readings: u64,
    max_seen: f64,
    min_seen: f64,
    since_alarm: u64,
    last_alarm: f64,
    evidence: f64,
}

impl OnsetDetector {
    pub fn new(config: OnsetConfig) -> Result<Self> {
        config.validate()?;
        let tails = config.group_window.iter().map(|&k| Tail::new(k)).collect();
        let change_tail = Tail::new(1);
        Ok(OnsetDetector {
            config,
            intervals: Vec::with_capacity(CADENCE_SAMPLES),
            cadence_known: false,
            last_t: None,
            period: None,
            ring: Vec::new(),
            ring_pos: 0,
            ring_filled: 0,
            previous: None,
            level: EwStat::default(),
            magnitude: EwStat::default(),
            scales: Default::default(),
            changes: ChangePoints::default(),
            change_tail,
            tails,
            readings: 0,
            max_seen: 0.0,
            min_seen: 0.0,
            since_alarm: u64::MAX,
            last_alarm: 0.0,
            evidence: 0.0,
        })
    }

    pub fn config(&self) -> &OnsetConfig {
        &self.config
    }

    /// Readings per day once the cadence is learned and the series has a usable daily
    /// season (12 to 1000 readings a day).
    pub fn period(&self) -> Option<usize> {
        self.period
    }

    /// The evidence (−log10 p) behind the last score, before the refractory period.
    pub fn evidence(&self) -> f64 {
        self.evidence
    }

    /// Scores the reading `value` at `t_unix_s` in [0, 1] and learns from it. NaN and ±∞
    /// score 0 and change nothing.
    pub fn update(&mut self, t_unix_s: i64, value: f64) -> f64 {
        let Some(v) = sane(value) else { return 0.0 };
        self.learn_cadence(t_unix_s);
        let c = &self.config;

        self.magnitude.add(v.abs(), 1.0 / 1000.0);
        let eps = 1e-6 * self.magnitude.mean + 1e-12;
        let mut errors = [None; 4];
        if let Some(previous) = self.previous {
            errors[DIFF] = Some(v - previous);
        }
        if self.level.n > 0 {
            errors[LEVEL] = Some(v - self.level.mean);
        }
        self.level.add(v, c.level_weight);
        if let Some(period) = self.period {
            let len = self.ring.len();
            if self.ring_filled >= period {
                errors[DAY] = self.ring.get((self.ring_pos + len - period) % len).map(|old| v - old);
            }
            if self.ring_filled >= len {
                errors[WEEK] = self.ring.get(self.ring_pos).map(|old| v - old);
            }
            if let Some(slot) = self.ring.get_mut(self.ring_pos) {
                *slot = v;
            }
            self.ring_pos = (self.ring_pos + 1) % len;
            self.ring_filled = (self.ring_filled + 1).min(len);
        }
        let mut z = [None; 4];
        for ((error, scale), z) in errors.iter().zip(self.scales.iter_mut()).zip(z.iter_mut()) {
            if let Some(e) = error {
                let e = e.abs();
                if scale.n >= c.scale_warmup {
                    *z = Some((e / (scale.mean + eps)).min(Z_CAP));
                }
                scale.add(e, c.scale_weight);
            }
        }
        self.previous = Some(v);
        self.readings = self.readings.saturating_add(1);

        // A purely seasonal group has seen only the first day's comparisons after a day:
        // it waits for one whole day of its own averages, so the first repeat of a daily
        // shape it has not yet learned is not news.
        let seasonal_warmup = c.warmup.max(self.period.unwrap_or(0) as u64);
        let mut evidence: f64 = 0.0;
        // Change points of the value itself: noise from the previous-value errors (their mean
        // absolute value is 2σ/√π for white noise), a new segment's mean anywhere within the
        // series' spread around the slow level. The change-point probability p becomes
        // −log10(1 − p), which goes through the same forgetting tail as the other groups, but
        // without extrapolating past its record: a near-certain change (a sensor coming back
        // after being stuck) is as rare as the history says, not a p of 10⁻³⁰.
        let diff = &self.scales[DIFF];
        if c.change_runs > 0 && diff.n >= c.scale_warmup {
            let sigma = diff.mean / std::f64::consts::FRAC_2_SQRT_PI + eps;
            let p = self.changes.update(v, sigma, self.level.mean, self.level.var.sqrt() + sigma, c);
            let stat = -(1.0 - p).max(1e-30).log10();
            evidence = evidence.max(self.change_tail.update(stat, c.warmup, false, c));
        }
        for (group, tail) in GROUPS.iter().zip(self.tails.iter_mut()) {
            let smallest = group.iter().filter_map(|&i| z[i]).reduce(f64::min);
            if let Some(zmin) = smallest {
                let seasonal = group.iter().all(|&i| i == DAY || i == WEEK);
                let warmup = if seasonal { seasonal_warmup } else { c.warmup };
                evidence = evidence.max(tail.update(zmin, warmup, true, c));
            }
        }
        if self.readings > 1 {
            let range = self.max_seen - self.min_seen;
            if self.readings > c.warmup && range > 0.0 {
                let tolerance = c.spatial_tolerance * range;
                if v > self.max_seen + tolerance || v < self.min_seen - tolerance {
                    let excess = (v - self.max_seen).max(self.min_seen - v) / range;
                    evidence = evidence.max(c.spatial_evidence * (1.0 + excess.min(1.0)));
                }
            }
            self.max_seen = self.max_seen.max(v);
            self.min_seen = self.min_seen.min(v);
        } else {
            self.max_seen = v;
            self.min_seen = v;
        }
        self.evidence = evidence;

        let score = (evidence / c.evidence_full).clamp(0.0, 1.0);
        self.since_alarm = self.since_alarm.saturating_add(1);
        if self.since_alarm <= c.refractory && (self.since_alarm < c.beat_after || evidence < c.beat * self.last_alarm)
        {
            return 0.0;
        }
        if evidence >= c.alarm {
            self.since_alarm = 0;
            self.last_alarm = evidence;
        }
        score
    }

    /// Learns the cadence from the first positive intervals, then the daily period.
    fn learn_cadence(&mut self, t: i64) {
        if !self.cadence_known {
            if let Some(last) = self.last_t
                && t > last
            {
                self.intervals.push(t.saturating_sub(last));
            }
            if self.intervals.len() >= CADENCE_SAMPLES {
                self.cadence_known = true;
                let mut sorted = self.intervals.clone();
                sorted.sort_unstable();
                let dt = sorted.get(CADENCE_SAMPLES / 2).copied().unwrap_or(0);
                let per_day = if dt > 0 { (86_400.0 / dt as f64).round() } else { 0.0 };
                if (12.0..=1000.0).contains(&per_day) {
                    let period = per_day as usize;
                    self.period = Some(period);
                    self.ring = vec![0.0; 7 * period];
                }
                self.intervals = Vec::new();
            }
        }
        self.last_t = Some(t);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A deterministic xorshift in [-0.5, 0.5).
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        }
    }

    /// Two weeks of 5-minute readings with a daily cycle and noise.
    fn daily(n: usize, seed: u64) -> Vec<(i64, f64)> {
        let mut rng = Rng(seed);
        (0..n)
            .map(|i| {
                let t = 1_400_000_000 + i as i64 * 300;
                let day = (t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
                (t, 50.0 + 20.0 * day.sin() + 2.0 * rng.next())
            })
            .collect()
    }

    fn scores(data: &[(i64, f64)]) -> Vec<f64> {
        let mut d = OnsetDetector::new(OnsetConfig::default()).unwrap();
        data.iter().map(|&(t, v)| d.update(t, v)).collect()
    }

    #[test]
    fn learns_the_daily_period() {
        let mut d = OnsetDetector::new(OnsetConfig::default()).unwrap();
        for (t, v) in daily(100, 1) {
            d.update(t, v);
        }
        assert_eq!(d.period(), Some(288));
        let mut hourly = OnsetDetector::new(OnsetConfig::default()).unwrap();
        for i in 0..40 {
            hourly.update(i * 3600, 1.0);
        }
        assert_eq!(hourly.period(), Some(24));
        let mut daily_readings = OnsetDetector::new(OnsetConfig::default()).unwrap();
        for i in 0..40 {
            daily_readings.update(i * 86_400, 1.0);
        }
        assert_eq!(daily_readings.period(), None);
    }

    #[test]
    fn spikes_at_onset_and_falls_back() {
        let mut data = daily(4032, 7);
        for reading in &mut data[3000..3200] {
            reading.1 += 60.0; // a sustained jump
        }
        let s = scores(&data);
        let peak = s[2990..3010].iter().cloned().fold(0.0, f64::max);
        assert!(peak >= 0.5, "onset scored {peak}");
        // Not held for the event: a few readings at most above 0.1.
        let held = s[3000..3200].iter().filter(|&&x| x > 0.1).count();
        assert!(held <= 3, "{held} readings above 0.1 during the event");
        // Quiet on the normal days after the warm-up.
        let quiet = s[1000..2990].iter().filter(|&&x| x > 0.2).count();
        assert!(quiet <= 2, "{quiet} false alarms");
    }

    #[test]
    fn a_broken_daily_pattern_is_an_onset() {
        let mut data = daily(4032, 11);
        let flat = data[3000].1;
        for reading in &mut data[3000..3150] {
            reading.1 = flat; // flat where the day should move
        }
        // The evidence, not the score: in this series a chance alarm on the noise a few dozen
        // readings before holds the score at 0 through the refractory period, which is the
        // refractory period working, not the flat middle going unseen.
        let mut d = OnsetDetector::new(OnsetConfig::default()).unwrap();
        let mut peak: f64 = 0.0;
        for (i, &(t, v)) in data.iter().enumerate().take(3100) {
            d.update(t, v);
            if i >= 3000 {
                peak = peak.max(d.evidence());
            }
        }
        assert!(peak >= 3.0, "flat middle had evidence {peak}");
    }

    #[test]
    fn missing_values_score_zero_and_teach_nothing() {
        let data = daily(2000, 3);
        let mut a = OnsetDetector::new(OnsetConfig::default()).unwrap();
        let mut b = OnsetDetector::new(OnsetConfig::default()).unwrap();
        for (i, &(t, v)) in data.iter().enumerate() {
            let sa = a.update(t, v);
            if i % 7 == 3 {
                assert_eq!(b.update(t, f64::NAN), 0.0);
                assert_eq!(b.update(t, f64::INFINITY), 0.0);
            }
            assert_eq!(b.update(t, v), sa);
        }
        assert_eq!(a, b);
    }

    #[test]
    fn the_normal_tail_in_logs() {
        // P(Z > 0) = 0.5, P(Z > 1.96) ≈ 0.025, P(Z > 10) ≈ 7.6e-24; no underflow far out.
        assert!((log10_normal_tail(0.0) - 0.5f64.log10()).abs() < 1e-6);
        assert!((log10_normal_tail(1.96) - 0.024_997_9f64.log10()).abs() < 1e-4);
        assert!((log10_normal_tail(10.0) - 7.619_853e-24f64.log10()).abs() < 1e-3);
        assert!(log10_normal_tail(1e6).is_finite());
    }

    #[test]
    fn rejects_bad_configuration() {
        assert!(OnsetDetector::new(OnsetConfig { group_window: [5, 0, 1, 1], ..OnsetConfig::default() }).is_err());
        assert!(OnsetDetector::new(OnsetConfig { beat: 0.5, ..OnsetConfig::default() }).is_err());
        assert!(OnsetDetector::new(OnsetConfig { tail_weight: 0.0, ..OnsetConfig::default() }).is_err());
        assert!(OnsetDetector::new(OnsetConfig { change_hazard: 1.0, ..OnsetConfig::default() }).is_err());
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => -50.0..3000.0f64,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(1e300),
            1 => Just(-1e300),
            2 => Just(7.25),
        ]
    }

    fn readings() -> impl Strategy<Value = Vec<(i64, f64)>> {
        let step = prop_oneof![6 => Just(300i64), 1 => Just(0i64), 1 => -3600..3600i64, 1 => 0..10_000_000i64];
        prop::collection::vec((step, value()), 0..600).prop_map(|steps| {
            let mut t: i64 = 1_400_000_000;
            steps
                .into_iter()
                .map(|(dt, v)| {
                    t = t.saturating_add(dt);
                    (t, v)
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 64,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x0a5e_7000),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// No look-ahead: scoring a prefix gives the same scores as scoring the whole series
        /// up to that row; scores are finite, in [0, 1]; the state stays finite (JSON reads
        /// it back) and survives postcard unchanged.
        #[test]
        fn no_look_ahead_and_bounded(data in readings(), cut in 0.0..1.0f64, small_warmup in any::<bool>()) {
            let config = if small_warmup {
                OnsetConfig { warmup: 5, scale_warmup: 2, ..OnsetConfig::default() }
            } else {
                OnsetConfig::default()
            };
            let mut whole = OnsetDetector::new(config.clone()).unwrap();
            let all: Vec<f64> = data.iter().map(|&(t, v)| whole.update(t, v)).collect();
            let n = (cut * data.len() as f64) as usize;
            let mut prefix = OnsetDetector::new(config).unwrap();
            for (i, &(t, v)) in data.iter().take(n).enumerate() {
                prop_assert_eq!(prefix.update(t, v).to_bits(), all[i].to_bits());
            }
            for s in &all {
                prop_assert!(s.is_finite() && (0.0..=1.0).contains(s), "score {}", s);
            }
            let json = serde_json::to_string(&whole).unwrap();
            let _: OnsetDetector = serde_json::from_str(&json).unwrap();
            let bytes = postcard::to_stdvec(&whole).unwrap();
            let back: OnsetDetector = postcard::from_bytes(&bytes).unwrap();
            prop_assert!(back == whole, "postcard changed the state");
        }
    }
}
