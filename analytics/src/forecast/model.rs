//! The ultra-short-term and day-ahead forecasters.
//!
//! **Ultra-short-term**: one boosted-tree model per lead (16 × 15 min on a 15-min grid; on a
//! coarser grid, as many of its own slots as fit in 4 h, e.g. 4 × 1 h). For wind each model
//! learns the correction to persistence (`power(t) − power now`), so it starts from persistence;
//! early stopping on a time-ordered validation tail keeps only trees that help, the correction is
//! weighted by its least-squares weight on that tail, and a lead whose trees cut the validation
//! error of persistence by less than `min_validation_gain` issues persistence. On the T1 turbine
//! (no NWP) smaller validation gains at 15–90 min did not survive the change of season into the
//! test months. For PV the models learn power directly: once the sun moves, persistence is a poor
//! anchor (on GEFCom zone 1 the direct models were better at every lead). **Day-ahead**: one model for all slots of the
//! next local day(s), learning power directly from the target-time NWP, solar geometry and what is
//! known at the issue hour. **Quantiles**: P10/P90 are the P50 plus the 10 %/90 % empirical
//! quantiles of the validation residuals, taken separately for five bands of forecast level
//! (errors are small at zero and full output and largest mid-curve), clipped to `[0, C]`.
//! Training uses only slots before the training end, and rows never read the target after the
//! issue time (see [`super::features`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use super::features::Context;
use super::gbdt::{Gbdt, GbdtParams, Matrix};
use super::series::Series;
use super::{Error, PlantKind, Result, SECS_PER_DAY, local_day};

/// Training settings shared by both horizons.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelOptions {
    /// Tree learner settings.
    pub gbdt: GbdtParams,
    /// Share of the training rows (the newest) held out for early stopping and quantiles.
    pub validation_fraction: f64,
    /// Ultra-short horizon, hours.
    pub ultra_short_hours: f64,
    /// Local hour the day-ahead forecast is issued.
    pub issue_hour: u32,
    /// At most this many training rows per model (older issue times are thinned evenly beyond it).
    pub max_rows_per_model: usize,
    /// Worker threads for training (0 = all available cores).
    pub threads: usize,
    /// An ultra-short lead keeps its trees only if they cut the validation squared error of
    /// persistence by at least this share; otherwise it issues persistence.
    pub min_validation_gain: f64,
}

impl Default for ModelOptions {
    fn default() -> Self {
        Self {
            // 40 rows per leaf rather than LightGBM's 20: steadier across seasons on both reference data sets.
            gbdt: GbdtParams { min_data_in_leaf: 40, ..GbdtParams::default() },
            validation_fraction: 0.15,
            ultra_short_hours: 4.0,
            issue_hour: 8,
            max_rows_per_model: 40_000,
            threads: 0,
            min_validation_gain: 0.1,
        }
    }
}

/// One forecast value with its uncertainty band, in plant units.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecastPoint {
    /// End time of the slot, unix seconds.
    pub time: i64,
    /// Central forecast.
    pub p50: f64,
    /// Lower 10 % quantile.
    pub p10: f64,
    /// Upper 90 % quantile.
    pub p90: f64,
}

/// Residual quantiles by forecast level band.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct LevelQuantiles {
    /// Upper band edges as fractions of capacity.
    edges: Vec<f64>,
    /// `(q10, q90)` of `measured − forecast` per band.
    bands: Vec<(f64, f64)>,
}

impl LevelQuantiles {
    const EDGES: [f64; 4] = [0.05, 0.25, 0.5, 0.75];

    fn fit(forecasts: &[f64], measured: &[f64], capacity: f64) -> Self {
        let band_of = |f: f64| Self::EDGES.iter().take_while(|e| f / capacity > **e).count();
        let mut all: Vec<f64> = measured.iter().zip(forecasts).map(|(m, f)| m - f).collect();
        let overall = quantile_pair(&mut all);
        let mut bands = Vec::with_capacity(Self::EDGES.len() + 1);
        for band in 0..=Self::EDGES.len() {
            let mut residuals: Vec<f64> =
                measured.iter().zip(forecasts).filter(|(_, f)| band_of(**f) == band).map(|(m, f)| m - f).collect();
            bands.push(if residuals.len() >= 30 { quantile_pair(&mut residuals) } else { overall });
        }
        Self { edges: Self::EDGES.to_vec(), bands }
    }

    fn point(&self, time: i64, p50: f64, capacity: f64) -> ForecastPoint {
        let band = self.edges.iter().take_while(|e| p50 / capacity > **e).count();
        let (q10, q90) = self.bands.get(band).copied().unwrap_or((0.0, 0.0));
        ForecastPoint {
            time,
            p50,
            p10: (p50 + q10).clamp(0.0, capacity).min(p50),
            p90: (p50 + q90).clamp(0.0, capacity).max(p50),
        }
    }
}

fn quantile_pair(values: &mut [f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.1), at(0.9))
}

/// Rows of one model: features, target, and what the target is relative to.
struct Rows {
    features: Matrix,
    targets: Vec<f64>,
    bases: Vec<f64>,
}

/// Fits a model on rows ordered by time; the newest `validation_fraction` drive early stopping and quantiles.
fn fit_rows(rows: &Rows, options: &ModelOptions, capacity: f64, shrink: bool) -> Result<Fitted> {
    let n = rows.targets.len();
    let n_valid = ((n as f64 * options.validation_fraction).round() as usize).min(n / 2);
    let n_train = n - n_valid;
    let split = |from: usize, to: usize| -> Result<Matrix> {
        let mut m = Matrix::new(rows.features.n_features());
        for i in from..to {
            m.push_row(rows.features.row(i))?;
        }
        Ok(m)
    };
    let train = split(0, n_train)?;
    let residual = |i: usize| rows.targets[i] - rows.bases[i];
    let train_y: Vec<f64> = (0..n_train).map(residual).collect();
    let valid = split(n_train, n)?;
    let valid_y: Vec<f64> = (n_train..n).map(residual).collect();
    let gbdt = Gbdt::fit(&train, &train_y, (n_valid > 0).then_some((&valid, valid_y.as_slice())), &options.gbdt)?;
    let weight = if shrink { correction_weight(&gbdt, &valid, &valid_y, options.min_validation_gain) } else { 1.0 };
    let correction = |row: &[f64]| weight * gbdt.predict(row);
    let forecasts: Vec<f64> =
        (n_train..n).map(|i| (rows.bases[i] + correction(rows.features.row(i))).clamp(0.0, capacity)).collect();
    let quantiles = LevelQuantiles::fit(&forecasts, &rows.targets[n_train..], capacity);
    Ok(Fitted { gbdt, weight, quantiles })
}

/// A trained model with its validated weight and residual quantiles.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Fitted {
    gbdt: Gbdt,
    weight: f64,
    quantiles: LevelQuantiles,
}

impl Fitted {
    /// What the model adds to its base (persistence, or zero for day-ahead).
    fn correction(&self, row: &[f64]) -> f64 {
        self.weight * self.gbdt.predict(row)
    }
}

/// Least-squares weight in `[0, 1]` of the trees' correction to the base on the validation
/// rows; 0 (the base alone, i.e. persistence) when the correction cuts the validation squared
/// error by less than `min_gain`, because such small gains do not survive a change of season.
fn correction_weight(gbdt: &Gbdt, valid: &Matrix, residuals: &[f64], min_gain: f64) -> f64 {
    let (mut cross, mut square, mut base_sse, mut model_sse) = (0.0, 0.0, 0.0, 0.0);
    for (i, r) in residuals.iter().enumerate() {
        let c = gbdt.predict(valid.row(i));
        cross += c * r;
        square += c * c;
        base_sse += r * r;
        model_sse += (r - c) * (r - c);
    }
    if square == 0.0 || base_sse == 0.0 || 1.0 - model_sse / base_sse < min_gain {
        return 0.0;
    }
    (cross / square).clamp(0.0, 1.0)
}

/// A 0–4 h forecaster: one model per lead.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UltraShortModel {
    leads: Vec<Fitted>,
    /// Wind learns the correction to persistence; PV learns power directly.
    on_persistence: bool,
    feature_names: Vec<String>,
}

/// A next-day forecaster.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DayAheadModel {
    model: Fitted,
    issue_hour: u32,
    feature_names: Vec<String>,
}

/// Both forecasters of one plant.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlantModels {
    /// 0–4 h.
    pub ultra_short: UltraShortModel,
    /// Next local day.
    pub day_ahead: DayAheadModel,
}

/// A PV plant makes nothing in a slot without sun, whatever the trees say (they can
/// extrapolate oddly where weather inputs run out, e.g. beyond the NWP horizon).
fn dark_is_zero(s: &Series, slot: usize, point: ForecastPoint) -> ForecastPoint {
    let dark = s.kind == PlantKind::Pv && s.clear_sky.as_ref().and_then(|c| c.get(slot)).is_some_and(|&ghi| ghi <= 0.0);
    if dark { ForecastPoint { time: point.time, p50: 0.0, p10: 0.0, p90: 0.0 } } else { point }
}

/// Ultra-short leads on a grid of `step` seconds: the slots that fit in `hours` (at least one).
pub fn ultra_short_leads(step: i64, hours: f64) -> usize {
    (((hours * 3600.0) / step as f64).floor() as usize).max(1)
}

/// The issue slot of the day-ahead forecast made on local day `day`: the newest slot ending at
/// or before `issue_hour` local time.
pub fn day_ahead_issue(ctx: &Context, day: i64, issue_hour: u32) -> Option<usize> {
    let s = ctx.series();
    let issue_time = day * SECS_PER_DAY - i64::from(s.utc_offset_seconds) + i64::from(issue_hour) * 3600;
    let offset = issue_time - s.start;
    if offset < 0 {
        return None;
    }
    let i = (offset / s.step) as usize;
    (i < s.len()).then_some(i)
}

/// The slots of local day `day` (the first `days` days from its midnight), clipped to the series.
/// Slots are labelled by their end, so the first is the one ending just after midnight
/// (00:15 on a 15-min grid) and the last the one ending at the following midnight.
pub fn day_slots(ctx: &Context, day: i64, days: usize) -> std::ops::Range<usize> {
    let s = ctx.series();
    let midnight = day * SECS_PER_DAY - i64::from(s.utc_offset_seconds);
    let first = if midnight < s.start { 0 } else { (midnight - s.start).div_euclid(s.step) as usize + 1 };
    let end = (first + days * ctx.slots_per_day()).min(s.len());
    first.min(end)..end
}

impl PlantModels {
    /// Trains both forecasters on targets in slots `0..train_end`, using all cores.
    pub fn fit(ctx: &Context, train_end: usize, options: &ModelOptions) -> Result<Self> {
        let s = ctx.series();
        let train_end = train_end.min(s.len());
        let n_leads = ultra_short_leads(s.step, options.ultra_short_hours);
        let on_persistence = s.kind == PlantKind::Wind;
        // Job 0 is the day-ahead model, jobs 1..=n_leads the ultra-short leads.
        let jobs = n_leads + 1;
        let threads = match options.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
        .min(jobs);
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<Fitted>>>> = Mutex::new((0..jobs).map(|_| None).collect());
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let job = next.fetch_add(1, Ordering::Relaxed);
                        if job >= jobs {
                            break;
                        }
                        let rows = if job == 0 {
                            day_ahead_rows(ctx, train_end, options)
                        } else {
                            ultra_short_rows(ctx, job, train_end, options.max_rows_per_model, on_persistence)
                        };
                        let fitted = rows.and_then(|r| fit_rows(&r, options, s.capacity, job > 0 && on_persistence));
                        if let Ok(mut slots) = results.lock() {
                            slots[job] = Some(fitted);
                        }
                    }
                });
            }
        });
        let results = results.into_inner().map_err(|_| Error::InvalidInput("a training thread failed".into()))?;
        let mut fitted = Vec::with_capacity(jobs);
        for r in results {
            fitted.push(r.ok_or_else(|| Error::InvalidInput("a model was not trained".into()))??);
        }
        let mut fitted = fitted.into_iter();
        let model = fitted.next().ok_or_else(|| Error::InvalidInput("no day-ahead model".into()))?;
        Ok(Self {
            ultra_short: UltraShortModel {
                leads: fitted.collect(),
                on_persistence,
                feature_names: ctx.ultra_short_names(),
            },
            day_ahead: DayAheadModel { model, issue_hour: options.issue_hour, feature_names: ctx.day_ahead_names() },
        })
    }
}

fn ultra_short_rows(
    ctx: &Context,
    lead: usize,
    train_end: usize,
    max_rows: usize,
    on_persistence: bool,
) -> Result<Rows> {
    let s = ctx.series();
    let usable = |i: usize| {
        let j = i + lead;
        s.target[j].is_finite() && !s.excluded[j] && ctx.persistence(i).is_finite()
    };
    let candidates: Vec<usize> = (0..train_end.saturating_sub(lead)).filter(|&i| usable(i)).collect();
    let stride = candidates.len().div_ceil(max_rows.max(1)).max(1);
    // Thin from the oldest end so the newest rows (the validation tail) stay dense.
    let skip = candidates.len() % stride;
    let names = ctx.ultra_short_names();
    let mut rows = Rows { features: Matrix::new(names.len()), targets: Vec::new(), bases: Vec::new() };
    let mut row = Vec::with_capacity(names.len());
    for &i in candidates.iter().skip(skip).step_by(stride) {
        ctx.ultra_short_row(i, lead, &mut row);
        rows.features.push_row(&row)?;
        rows.targets.push(s.target[i + lead]);
        rows.bases.push(if on_persistence { ctx.persistence(i) } else { 0.0 });
    }
    check_rows(&rows, "ultra-short")?;
    Ok(rows)
}

fn day_ahead_rows(ctx: &Context, train_end: usize, options: &ModelOptions) -> Result<Rows> {
    let s = ctx.series();
    let names = ctx.day_ahead_names();
    let mut rows = Rows { features: Matrix::new(names.len()), targets: Vec::new(), bases: Vec::new() };
    let mut row = Vec::with_capacity(names.len());
    let first_day = local_day(s.start, s.utc_offset_seconds);
    let last_day = local_day(s.time(train_end.saturating_sub(1)), s.utc_offset_seconds);
    for day in first_day..last_day {
        let Some(issue) = day_ahead_issue(ctx, day, options.issue_hour) else {
            continue;
        };
        for j in day_slots(ctx, day + 1, 1) {
            if j >= train_end || !s.target[j].is_finite() || s.excluded[j] {
                continue;
            }
            ctx.day_ahead_row(issue, j, &mut row);
            rows.features.push_row(&row)?;
            rows.targets.push(s.target[j]);
            rows.bases.push(0.0);
        }
    }
    check_rows(&rows, "day-ahead")?;
    Ok(rows)
}

fn check_rows(rows: &Rows, what: &str) -> Result<()> {
    if rows.targets.len() < 100 {
        return Err(Error::InvalidInput(format!(
            "only {} usable {what} training rows: need more history with measured power",
            rows.targets.len()
        )));
    }
    Ok(())
}

impl UltraShortModel {
    /// Number of leads.
    pub fn leads(&self) -> usize {
        self.leads.len()
    }

    /// Boosting rounds kept per lead.
    pub fn rounds(&self) -> Vec<usize> {
        self.leads.iter().map(|f| f.gbdt.rounds()).collect()
    }

    /// Feature names, in row order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Forecasts leads `1..=leads` from issue slot `issue` (leads past the series end are left out).
    pub fn forecast(&self, ctx: &Context, issue: usize) -> Vec<ForecastPoint> {
        let s = ctx.series();
        let base = if self.on_persistence { ctx.persistence(issue) } else { 0.0 };
        let mut row = Vec::with_capacity(self.feature_names.len());
        let mut out = Vec::with_capacity(self.leads.len());
        for (k, fitted) in self.leads.iter().enumerate() {
            let target = issue + k + 1;
            if target >= s.len() {
                break;
            }
            ctx.ultra_short_row(issue, k + 1, &mut row);
            // With no power history at all, fall back to the model's correction on zero.
            let p50 = (if base.is_finite() { base } else { 0.0 } + fitted.correction(&row)).clamp(0.0, s.capacity);
            out.push(dark_is_zero(s, target, fitted.quantiles.point(s.time(target), p50, s.capacity)));
        }
        out
    }
}

impl DayAheadModel {
    /// Local issue hour.
    pub fn issue_hour(&self) -> u32 {
        self.issue_hour
    }

    /// Boosting rounds kept.
    pub fn rounds(&self) -> usize {
        self.model.gbdt.rounds()
    }

    /// Feature names, in row order.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Five most important features by split gain.
    pub fn top_features(&self) -> Vec<String> {
        top_features(&self.model.gbdt, &self.feature_names)
    }

    /// Forecasts the `days` local days after `issue_day`, issued at the issue hour of `issue_day`.
    pub fn forecast(&self, ctx: &Context, issue_day: i64, days: usize) -> Vec<ForecastPoint> {
        let s = ctx.series();
        let Some(issue) = day_ahead_issue(ctx, issue_day, self.issue_hour) else {
            return Vec::new();
        };
        let mut row = Vec::with_capacity(self.feature_names.len());
        day_slots(ctx, issue_day + 1, days)
            .map(|j| {
                ctx.day_ahead_row(issue, j, &mut row);
                let p50 = self.model.correction(&row).clamp(0.0, s.capacity);
                dark_is_zero(s, j, self.model.quantiles.point(s.time(j), p50, s.capacity))
            })
            .collect()
    }
}

impl UltraShortModel {
    /// Five most important features of the last lead's model by split gain.
    pub fn top_features(&self) -> Vec<String> {
        self.leads.last().map(|f| top_features(&f.gbdt, &self.feature_names)).unwrap_or_default()
    }

    /// Validated weight of the trees' correction per lead (1 = fully trusted, 0 = persistence).
    pub fn weights(&self) -> Vec<f64> {
        self.leads.iter().map(|f| f.weight).collect()
    }
}

fn top_features(model: &Gbdt, names: &[String]) -> Vec<String> {
    let mut ranked: Vec<(f64, &String)> = model.gain_by_feature().iter().copied().zip(names).collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
    ranked.into_iter().take(5).filter(|(g, _)| *g > 0.0).map(|(_, n)| n.clone()).collect()
}
