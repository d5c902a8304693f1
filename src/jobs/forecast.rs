//! Live power forecasts for every wind and PV plant, as dispatch expects them: an
//! ultra-short-term forecast (16 × 15 min, 0–4 h) at every quarter hour and a short-term
//! forecast (288 × 15 min from next local midnight) once a day at the issue hour; models
//! retrained on a schedule; every issued forecast stored as series tagged with its issue time
//! (measurement `forecast`), published on `fl/v1/{site}/forecasts/{horizon}`, and scored daily
//! against the plant meter as the grid assesses it (measurement `forecast_accuracy`).
//!
//! Data comes from the store: the `plant` meter (`power_mw`, `curtailed`, `capacity_mw`), the
//! site's `nwp` feed (one series per `issued` tag) and its `met_station` (measured, so usable
//! only up to the issue time). NWP enters each model *as it was available* when that model
//! issues: the ultra-short model sees, for a slot at time t, the newest run published at least
//! 4 h before t; the short-term model the newest run published before its daily issue time.
//! Training and live forecasts build their inputs the same way, so training never sees better
//! weather forecasts than live issuing will.
//!
//! On first start a plant gets a hindcast of the last `hindcast_days` days (models trained on
//! the data before them), so the accuracy pages have history at once; it is skipped for
//! issue times that already have a forecast.

use std::collections::{BTreeMap, BTreeSet};

pub use fieldline_analytics::forecast::efile::Horizon;
use fieldline_analytics::forecast::model::{DayAheadModel, ForecastPoint, ModelOptions, PlantModels, UltraShortModel};
use fieldline_analytics::forecast::scoring::{RuleSet, ScoringRules, score};
use fieldline_analytics::forecast::series::{Column, FeatureSelection, Location, SeriesOptions, Table, prepare};
use fieldline_analytics::forecast::{PlantKind, features::Context};
use fieldline_core::{FieldValue, Point};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use time::UtcOffset;

use super::JobContext;
use fieldline_core::time::{NS_PER_SEC, SECS_PER_DAY, format_time, parse_offset};
use fieldline_store::Query;

const SLOT: i64 = 900;
/// Measurement of issued forecasts.
pub const FORECAST_MEASUREMENT: &str = "forecast";
/// Measurement of daily accuracy.
pub const ACCURACY_MEASUREMENT: &str = "forecast_accuracy";
/// Ultra-short horizon: 16 slots.
const ULTRA_SHORT_LEADS: i64 = 16;
/// Short-term horizon: 3 days from next local midnight (288 slots).
const SHORT_TERM_DAYS: usize = 3;
const NWP_FIELDS: [&str; 7] =
    ["wind_speed_100m_ms", "wind_dir_100m_deg", "ghi_wm2", "air_temp_c", "rh_pct", "cloud_cover_pct", "pressure_hpa"];

/// `[forecast]` section of `fieldline.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ForecastConfig {
    pub enabled: bool,
    /// How often the scheduler looks for due work, seconds.
    pub tick_secs: u64,
    /// Local time of the plants (Shandong: +08:00): days, the issue hour and daily scores use it.
    pub utc_offset: String,
    /// Local hour the short-term forecast is issued (dispatch deadline 14:30).
    pub issue_hour: u32,
    /// Days of history the models train on.
    pub history_days: u32,
    /// No forecasts before a plant has this much history.
    pub min_history_days: u32,
    /// Retrain after this many hours of new data.
    pub retrain_hours: u32,
    /// Days of past forecasts issued (hindcast) when a plant is first seen.
    pub hindcast_days: u32,
    /// Minutes between an NWP run's nominal issue time and its arrival (typically 3–6 h); a
    /// run is used only once it would have arrived.
    pub nwp_delay_minutes: u32,
    /// Training threads (1 keeps a core free for ingest).
    pub train_threads: usize,
    /// Default site location (Heze) for plants that do not give their own.
    pub latitude: f64,
    pub longitude: f64,
    pub altitude_m: f64,
    /// Assessment rules (threshold, capacity or southern rule) for plants without their own.
    pub scoring: ScoringRules,
    /// Plants; empty = every site with a `plant` meter, wind if it has turbines, PV if inverters.
    pub plants: Vec<PlantConfig>,
}

impl Default for ForecastConfig {
    fn default() -> Self {
        ForecastConfig {
            enabled: true,
            tick_secs: 5,
            utc_offset: "+08:00".into(),
            issue_hour: 8,
            history_days: 60,
            min_history_days: 7,
            retrain_hours: 24,
            hindcast_days: 7,
            nwp_delay_minutes: 240,
            train_threads: 1,
            latitude: 35.2,
            longitude: 115.4,
            altitude_m: 50.0,
            scoring: ScoringRules::default(),
            plants: Vec::new(),
        }
    }
}

/// One plant in `[[forecast.plants]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlantConfig {
    pub site: String,
    pub kind: PlantKind,
    /// Operating capacity C, MW; default: the meter's latest `capacity_mw`.
    #[serde(default)]
    pub capacity_mw: Option<f64>,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
    #[serde(default)]
    pub altitude_m: Option<f64>,
    /// `capacity` (error / C) or `southern` (error / max(P, 0.2 C)).
    #[serde(default)]
    pub rule_set: Option<RuleSet>,
}

/// Forecast metrics for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct ForecastMetrics {
    pub issued: Family<PlantLabels, Counter>,
    pub trainings: Family<SiteLabel, Counter>,
    pub daily_accuracy: Family<PlantLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    pub failures: Family<SiteLabel, Counter>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PlantLabels {
    pub site: String,
    pub horizon: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SiteLabel {
    pub site: String,
}

impl ForecastMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("fieldline_forecast");
        r.register("issued", "Forecasts issued", self.issued.clone());
        r.register("trainings", "Model trainings", self.trainings.clone());
        r.register("daily_accuracy", "Accuracy of the last scored day (grid rule)", self.daily_accuracy.clone());
        r.register("failures", "Forecast job failures", self.failures.clone());
    }
}

/// A plant as the jobs use it.
#[derive(Debug, Clone)]
struct Plant {
    site: String,
    kind: PlantKind,
    capacity_mw: f64,
    location: Location,
    rules: ScoringRules,
}

#[derive(Debug, Default)]
struct PlantState {
    models: Option<(UltraShortModel, DayAheadModel)>,
    /// Data time (unix s) the models were trained up to.
    trained_to: i64,
    last_ultra_short: i64,
    last_short_term_day: i64,
    scored_days: BTreeSet<i64>,
    hindcast_done: bool,
    waiting_logged: bool,
    /// Newest plant reading seen at the previous tick.
    previous_last: Option<i64>,
}

/// The forecasting jobs' state: one entry per plant.
pub struct Forecaster {
    config: ForecastConfig,
    offset_s: i32,
    plants: BTreeMap<String, PlantState>,
}

/// Why a forecast job step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store: {0}")]
    Store(#[from] fieldline_store::Error),
    #[error("model: {0}")]
    Model(#[from] fieldline_analytics::forecast::Error),
    #[error("{0}")]
    Other(String),
}

impl Forecaster {
    pub fn new(config: ForecastConfig) -> Self {
        let offset_s = parse_offset(&config.utc_offset).map(|o| o.whole_seconds()).unwrap_or(8 * 3600);
        Forecaster { config, offset_s, plants: BTreeMap::new() }
    }

    /// Runs everything due now for every plant.
    pub fn run_due(&mut self, ctx: &JobContext) {
        for plant in self.discover(ctx) {
            let label = SiteLabel { site: plant.site.clone() };
            if let Err(e) = self.run_plant(ctx, &plant) {
                ctx.metrics.failures.get_or_create(&label).inc();
                tracing::error!(site = plant.site, error = %e, "forecast job failed");
            }
        }
    }

    /// Configured plants, or every site with a plant meter (kind from its devices).
    fn discover(&self, ctx: &JobContext) -> Vec<Plant> {
        let meters = ctx.store.series(Some("plant"), &[]);
        let latest_capacity = |site: &str| -> Option<f64> {
            let last = meters
                .iter()
                .find(|s| s.tags.get("site").map(String::as_str) == Some(site) && s.field == "capacity_mw")?;
            let query =
                Query::new("plant").range(last.last_ns, last.last_ns + 1).tag("site", site).fields(["capacity_mw"]);
            let series = ctx.store.query(&query).ok()?;
            series.iter().flat_map(|s| &s.points).filter_map(|(_, v)| v.as_f64()).next_back()
        };
        let location = |p: Option<&PlantConfig>| Location {
            lat: p.and_then(|p| p.latitude).unwrap_or(self.config.latitude),
            lon: p.and_then(|p| p.longitude).unwrap_or(self.config.longitude),
            altitude_m: p.and_then(|p| p.altitude_m).unwrap_or(self.config.altitude_m),
        };
        let rules = |p: Option<&PlantConfig>| {
            let mut r = self.config.scoring.clone();
            if let Some(set) = p.and_then(|p| p.rule_set) {
                r.rule_set = set;
            }
            r
        };
        if !self.config.plants.is_empty() {
            return self
                .config
                .plants
                .iter()
                .filter_map(|p| {
                    let capacity_mw = p.capacity_mw.or_else(|| latest_capacity(&p.site))?;
                    Some(Plant {
                        site: p.site.clone(),
                        kind: p.kind,
                        capacity_mw,
                        location: location(Some(p)),
                        rules: rules(Some(p)),
                    })
                })
                .collect();
        }
        let sites: BTreeSet<String> =
            meters.iter().filter(|s| s.field == "power_mw").filter_map(|s| s.tags.get("site").cloned()).collect();
        sites
            .into_iter()
            .filter_map(|site| {
                let tags = [("site".to_string(), site.clone())];
                let kind = if !ctx.store.series(Some("wind_turbine"), &tags).is_empty() {
                    PlantKind::Wind
                } else if !ctx.store.series(Some("pv_inverter"), &tags).is_empty() {
                    PlantKind::Pv
                } else {
                    return None;
                };
                let capacity_mw = latest_capacity(&site).filter(|c| *c > 0.0)?;
                Some(Plant { site, kind, capacity_mw, location: location(None), rules: rules(None) })
            })
            .collect()
    }

    fn run_plant(&mut self, ctx: &JobContext, plant: &Plant) -> Result<(), Error> {
        let Some((first_s, last_s)) = power_span(ctx, &plant.site) else { return Ok(()) };
        // A meter reading stamped in the future must not drag the clock (and the issue
        // times) ahead of real time.
        let last_s = last_s.min(ctx.clock_limit_ns() / NS_PER_SEC);
        let clock = (fieldline_core::time::now_ns() / NS_PER_SEC).max(last_s);
        let config = self.config.clone();
        let offset_s = self.offset_s;
        let state = self.plants.entry(plant.site.clone()).or_default();
        // History still arriving in bulk (a backfill): models trained now would miss most of
        // it, so wait until the newest reading moves at a live pace (< 1 h of data per tick).
        let settled = state.previous_last.is_some_and(|p| last_s - p <= 3600);
        state.previous_last = Some(last_s);
        if !settled {
            return Ok(());
        }
        if last_s - first_s < i64::from(config.min_history_days) * SECS_PER_DAY {
            if !state.waiting_logged {
                tracing::info!(
                    site = plant.site,
                    "forecasts start once the plant has {} days of history",
                    config.min_history_days
                );
                state.waiting_logged = true;
            }
            return Ok(());
        }
        let hindcast_from = if state.hindcast_done {
            None
        } else {
            let from = floor_slot(clock - i64::from(config.hindcast_days) * SECS_PER_DAY);
            (from - first_s >= i64::from(config.min_history_days) * SECS_PER_DAY).then_some(from)
        };
        let retrain_due = state.models.is_none() || clock - state.trained_to >= i64::from(config.retrain_hours) * 3600;
        if retrain_due {
            let train_to = hindcast_from.unwrap_or(clock);
            let started = std::time::Instant::now();
            state.models = Some(train(ctx, &config, offset_s, plant, train_to)?);
            state.trained_to = train_to;
            ctx.metrics.trainings.get_or_create(&SiteLabel { site: plant.site.clone() }).inc();
            tracing::info!(site = plant.site, kind = ?plant.kind, trained_to = %format_time(train_to * NS_PER_SEC, UtcOffset::UTC),
                elapsed_ms = started.elapsed().as_millis() as u64, "forecast models trained");
        }
        let Some((ultra_short, day_ahead)) = state.models.as_ref() else { return Ok(()) };

        // Issue times due now, oldest first: the hindcast window once, then the live quarter hour.
        let live_issue = floor_slot(clock);
        let mut us_issues: Vec<i64> = Vec::new();
        let mut st_days: Vec<i64> = Vec::new();
        let today = local_day(clock, offset_s);
        let issue_today = today * SECS_PER_DAY - i64::from(offset_s) + i64::from(config.issue_hour) * 3600;
        if let Some(from) = hindcast_from {
            let existing = issued_times(ctx, &plant.site, Horizon::UltraShort, from)?;
            us_issues.extend((from..live_issue).step_by(SLOT as usize).filter(|t| !existing.contains(t)));
            let existing_st = issued_times(ctx, &plant.site, Horizon::ShortTerm, from - SECS_PER_DAY)?;
            let existing_days: BTreeSet<i64> = existing_st.iter().map(|t| local_day(*t, offset_s)).collect();
            st_days.extend((local_day(from, offset_s)..today).filter(|d| {
                !existing_days.contains(d)
                    && d * SECS_PER_DAY - i64::from(offset_s) + i64::from(config.issue_hour) * 3600 >= from
            }));
        }
        if live_issue > state.last_ultra_short {
            us_issues.push(live_issue);
            state.last_ultra_short = live_issue;
        }
        if clock >= issue_today && state.last_short_term_day < today {
            st_days.push(today);
            state.last_short_term_day = today;
        }
        let live_st = st_days.last().copied().filter(|d| *d == today);
        if !us_issues.is_empty() || !st_days.is_empty() {
            let window_start =
                us_issues.iter().copied().chain(st_days.iter().map(|d| d * SECS_PER_DAY)).min().unwrap_or(clock);
            let from = window_start - i64::from(config.history_days.min(14)) * SECS_PER_DAY;
            let to = clock + (SHORT_TERM_DAYS as i64 + 2) * SECS_PER_DAY;
            let inputs = Inputs::load(ctx, &config, offset_s, plant, from, to)?;
            if !us_issues.is_empty() {
                let series = prepare(&inputs.table(NwpAsOf::UltraShort), &series_options(offset_s, plant))?;
                let fctx = Context::new(&series);
                for &issue in &us_issues {
                    let Some(i) = series.index_of(issue) else { continue };
                    let points = ultra_short.forecast(&fctx, i);
                    let live = issue == live_issue;
                    store_forecast(ctx, plant, Horizon::UltraShort, issue, &points, live)?;
                }
            }
            if !st_days.is_empty() {
                let series = prepare(&inputs.table(NwpAsOf::ShortTerm), &series_options(offset_s, plant))?;
                let fctx = Context::new(&series);
                for &day in &st_days {
                    let points = day_ahead.forecast(&fctx, day, SHORT_TERM_DAYS);
                    let issue = day * SECS_PER_DAY - i64::from(offset_s) + i64::from(config.issue_hour) * 3600;
                    store_forecast(ctx, plant, Horizon::ShortTerm, issue, &points, Some(day) == live_st)?;
                }
            }
        }
        if hindcast_from.is_some() {
            state.hindcast_done = true;
        }
        // Score every finished day not yet scored (the last 30 at most).
        let first_day = local_day(first_s, offset_s) + 1;
        for day in (today - 30).max(first_day)..today {
            if state.scored_days.contains(&day) {
                continue;
            }
            if score_day(ctx, &config, offset_s, plant, day)? {
                state.scored_days.insert(day);
            }
        }
        Ok(())
    }
}

fn floor_slot(t: i64) -> i64 {
    t.div_euclid(SLOT) * SLOT
}

fn local_day(t: i64, offset_s: i32) -> i64 {
    (t + i64::from(offset_s)).div_euclid(SECS_PER_DAY)
}

/// First and last time (unix s) of the plant's power readings.
fn power_span(ctx: &JobContext, site: &str) -> Option<(i64, i64)> {
    let tags = [("site".to_string(), site.to_string())];
    let s = ctx.store.series(Some("plant"), &tags).into_iter().find(|s| s.field == "power_mw")?;
    Some((s.first_ns.div_euclid(NS_PER_SEC), s.last_ns.div_euclid(NS_PER_SEC)))
}

fn series_options(offset_s: i32, plant: &Plant) -> SeriesOptions {
    SeriesOptions {
        kind: plant.kind,
        capacity: plant.capacity_mw,
        target: "power_mw".into(),
        features: FeatureSelection::Named(
            NWP_FIELDS
                .iter()
                .map(|f| format!("nwp_{f}"))
                .chain(LAGGED_NWP_FIELDS.iter().map(|f| format!("nwp_lag3_{f}")))
                .collect(),
        ),
        measured: measured_columns(plant.kind),
        curtailed: Some("curtailed".into()),
        location: (plant.kind == PlantKind::Pv).then_some(plant.location),
        utc_offset_seconds: offset_s,
        downtime_hours: 24.0,
    }
}

const MET_FIELDS: [&str; 3] = ["ghi_wm2", "poa_wm2", "wind_speed_ms"];
/// Fields also given as the mean of the newest three available runs (a lagged ensemble: older
/// runs' errors partly cancel the newest run's, notably its timing errors).
const LAGGED_NWP_FIELDS: [&str; 3] = ["wind_speed_100m_ms", "ghi_wm2", "cloud_cover_pct"];

/// Measured inputs (known only up to each issue time): the met station, the plant's available
/// capacity (turbines or inverters out of service) and, for wind, the turbines' mean nacelle
/// wind speed.
fn measured_columns(kind: PlantKind) -> Vec<String> {
    let mut names: Vec<String> = MET_FIELDS.iter().map(|f| format!("met_{f}")).collect();
    names.push("plant_available_mw".into());
    if kind == PlantKind::Wind {
        names.push("turbines_wind_speed_ms".into());
    }
    names
}

/// Trains both models on data before `train_to`.
fn train(
    ctx: &JobContext,
    config: &ForecastConfig,
    offset_s: i32,
    plant: &Plant,
    train_to: i64,
) -> Result<(UltraShortModel, DayAheadModel), Error> {
    let from = train_to - i64::from(config.history_days) * SECS_PER_DAY;
    let inputs = Inputs::load(ctx, config, offset_s, plant, from, train_to)?;
    let options =
        ModelOptions { issue_hour: config.issue_hour, threads: config.train_threads, ..ModelOptions::default() };
    let fit = |asof: NwpAsOf| -> Result<PlantModels, Error> {
        let series = prepare(&inputs.table(asof), &series_options(offset_s, plant))?;
        let fctx = Context::new(&series);
        Ok(PlantModels::fit(&fctx, series.len(), &options)?)
    };
    let ultra_short = fit(NwpAsOf::UltraShort)?.ultra_short;
    let day_ahead = fit(NwpAsOf::ShortTerm)?.day_ahead;
    Ok((ultra_short, day_ahead))
}

/// Which NWP run a slot's weather comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NwpAsOf {
    /// The newest run available 4 h before the slot (known at every ultra-short issue).
    UltraShort,
    /// The newest run available at the short-term issue time of the day before the slot.
    ShortTerm,
}

/// The plant's data on a 15-min grid (slot ends), plus its NWP runs.
struct Inputs {
    times: Vec<i64>,
    power: Vec<f64>,
    curtailed: Vec<f64>,
    met: Vec<(String, Vec<f64>)>,
    /// NWP runs by arrival time: valid time → field values.
    runs: BTreeMap<i64, BTreeMap<i64, [f64; 7]>>,
    offset_s: i32,
    issue_hour: u32,
}

impl Inputs {
    fn load(
        ctx: &JobContext,
        config: &ForecastConfig,
        offset_s: i32,
        plant: &Plant,
        from: i64,
        to: i64,
    ) -> Result<Self, Error> {
        let from = floor_slot(from);
        let to = floor_slot(to) + SLOT;
        let times: Vec<i64> = (from + SLOT..=to).step_by(SLOT as usize).collect();
        let slot_means = |measurement: &str, fields: &[&str]| -> Result<Vec<(String, Vec<f64>)>, Error> {
            let query = Query::new(measurement)
                .range(from * NS_PER_SEC, to * NS_PER_SEC)
                .tag("site", plant.site.as_str())
                .fields(fields.iter().copied());
            let series = ctx.store.query(&query)?;
            let mut out = Vec::new();
            for name in fields {
                let mut sum = vec![0.0; times.len()];
                let mut n = vec![0u32; times.len()];
                for s in series.iter().filter(|s| s.field == *name) {
                    for (ts, v) in &s.points {
                        let Some(x) = v.as_f64().filter(|x| x.is_finite()) else { continue };
                        // A reading stamped t belongs to the slot ending at or after t.
                        let end = (ts.div_euclid(NS_PER_SEC) + SLOT - 1).div_euclid(SLOT) * SLOT;
                        let idx = (end - from - SLOT).div_euclid(SLOT);
                        if let Some(i) = usize::try_from(idx).ok().filter(|i| *i < times.len()) {
                            sum[i] += x;
                            n[i] += 1;
                        }
                    }
                }
                out.push((
                    name.to_string(),
                    sum.iter().zip(&n).map(|(s, &k)| if k == 0 { f64::NAN } else { s / f64::from(k) }).collect(),
                ));
            }
            Ok(out)
        };
        let mut meter = slot_means("plant", &["power_mw", "curtailed", "available_mw"])?.into_iter();
        let power = meter.next().map(|(_, v)| v).unwrap_or_default();
        // Any curtailed reading flags the slot.
        let curtailed = meter
            .next()
            .map(|(_, v)| v.into_iter().map(|x| if x > 0.0 { 1.0 } else { 0.0 }).collect())
            .unwrap_or_default();
        let mut met: Vec<(String, Vec<f64>)> =
            slot_means("met_station", &MET_FIELDS)?.into_iter().map(|(name, v)| (format!("met_{name}"), v)).collect();
        met.extend(meter.next().map(|(_, v)| ("plant_available_mw".to_string(), v)));
        if plant.kind == PlantKind::Wind {
            let turbines = slot_means("wind_turbine", &["wind_speed_ms"])?;
            met.extend(turbines.into_iter().map(|(_, v)| ("turbines_wind_speed_ms".to_string(), v)));
        }

        // NWP runs that can matter: issued up to 4 days before the window.
        let query = Query::new("nwp")
            .range((from - 4 * SECS_PER_DAY) * NS_PER_SEC, to * NS_PER_SEC)
            .tag("site", plant.site.as_str())
            .fields(NWP_FIELDS);
        let nwp = ctx.store.query(&query)?;
        let delay = i64::from(config.nwp_delay_minutes) * 60;
        let mut runs: BTreeMap<i64, BTreeMap<i64, [f64; 7]>> = BTreeMap::new();
        for series in &nwp {
            let Some(issued) = series.tag("issued").and_then(parse_issued) else { continue };
            let Some(k) = NWP_FIELDS.iter().position(|f| *f == series.field) else { continue };
            let run = runs.entry(issued + delay).or_default();
            for (ts, v) in &series.points {
                let row = run.entry(ts.div_euclid(NS_PER_SEC)).or_insert([f64::NAN; 7]);
                row[k] = v.as_f64().unwrap_or(f64::NAN);
            }
        }
        Ok(Inputs { times, power, curtailed, met, runs, offset_s, issue_hour: config.issue_hour })
    }

    /// Latest time a run may have arrived to be used for slot `t`.
    fn cutoff(&self, t: i64, asof: NwpAsOf) -> i64 {
        match asof {
            NwpAsOf::UltraShort => t - ULTRA_SHORT_LEADS * SLOT,
            NwpAsOf::ShortTerm => {
                // The slot ending at local midnight belongs to the day before.
                let day = local_day(t - 1, self.offset_s);
                (day - 1) * SECS_PER_DAY - i64::from(self.offset_s) + i64::from(self.issue_hour) * 3600
            }
        }
    }

    fn table(&self, asof: NwpAsOf) -> Table {
        let mut nwp = vec![vec![f64::NAN; self.times.len()]; NWP_FIELDS.len()];
        let mut lagged = vec![vec![f64::NAN; self.times.len()]; LAGGED_NWP_FIELDS.len()];
        let lagged_index: Vec<usize> =
            LAGGED_NWP_FIELDS.iter().filter_map(|f| NWP_FIELDS.iter().position(|n| n == f)).collect();
        for (i, &t) in self.times.iter().enumerate() {
            let cutoff = self.cutoff(t, asof);
            let mid = t - SLOT / 2;
            // The newest runs that had arrived by the cutoff and cover the slot.
            let mut used = 0usize;
            let mut sums = vec![0.0; lagged_index.len()];
            for run in self.runs.range(..=cutoff).rev().map(|(_, r)| r).take(6) {
                let (Some((&t0, v0)), Some((&t1, v1))) = (run.range(..=mid).next_back(), run.range(mid..).next())
                else {
                    continue;
                };
                if used == 0 {
                    for (k, name) in NWP_FIELDS.iter().enumerate() {
                        nwp[k][i] = interpolate(t0, v0[k], t1, v1[k], mid, name.ends_with("_deg"));
                    }
                }
                for (j, &k) in lagged_index.iter().enumerate() {
                    sums[j] += interpolate(t0, v0[k], t1, v1[k], mid, false);
                }
                used += 1;
                if used == 3 {
                    break;
                }
            }
            if used > 0 {
                for (j, sum) in sums.iter().enumerate() {
                    lagged[j][i] = sum / used as f64;
                }
            }
        }
        let mut columns = vec![
            Column { name: "power_mw".into(), values: self.power.clone() },
            Column { name: "curtailed".into(), values: self.curtailed.clone() },
        ];
        for (k, name) in NWP_FIELDS.iter().enumerate() {
            columns.push(Column { name: format!("nwp_{name}"), values: std::mem::take(&mut nwp[k]) });
        }
        for (j, name) in LAGGED_NWP_FIELDS.iter().enumerate() {
            columns.push(Column { name: format!("nwp_lag3_{name}"), values: std::mem::take(&mut lagged[j]) });
        }
        for (name, values) in &self.met {
            columns.push(Column { name: name.clone(), values: values.clone() });
        }
        Table { times: self.times.clone(), columns }
    }
}

/// Linear interpolation (circular for directions).
fn interpolate(t0: i64, v0: f64, t1: i64, v1: f64, t: i64, circular: bool) -> f64 {
    if t1 == t0 {
        return v0;
    }
    let w = (t - t0) as f64 / (t1 - t0) as f64;
    if circular {
        let (a, b) = (v0.to_radians(), v1.to_radians());
        let (s, c) = ((1.0 - w) * a.sin() + w * b.sin(), (1.0 - w) * a.cos() + w * b.cos());
        s.atan2(c).to_degrees().rem_euclid(360.0)
    } else {
        v0 + w * (v1 - v0)
    }
}

/// The `issued` tag: RFC 3339 or unix seconds.
fn parse_issued(s: &str) -> Option<i64> {
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Some(t.unix_timestamp());
    }
    s.parse::<i64>().ok()
}

/// Issue times (unix s) of stored forecasts of `horizon` with valid times from `from` on.
fn issued_times(ctx: &JobContext, site: &str, horizon: Horizon, from: i64) -> Result<BTreeSet<i64>, Error> {
    let tags = [("site".to_string(), site.to_string()), ("horizon".to_string(), horizon.as_str().to_string())];
    Ok(ctx
        .store
        .series(Some(FORECAST_MEASUREMENT), &tags)
        .into_iter()
        .filter(|s| s.last_ns >= from * NS_PER_SEC)
        .filter_map(|s| s.tags.get("issued").and_then(|i| parse_issued(i)))
        .collect())
}

/// Stores one issued forecast and, if it is a live issue, publishes it.
fn store_forecast(
    ctx: &JobContext,
    plant: &Plant,
    horizon: Horizon,
    issue: i64,
    points: &[ForecastPoint],
    live: bool,
) -> Result<(), Error> {
    if points.is_empty() {
        return Ok(());
    }
    let issued = format_time(issue * NS_PER_SEC, UtcOffset::UTC);
    let tags = vec![
        ("horizon".to_string(), horizon.as_str().to_string()),
        ("issued".to_string(), issued.clone()),
        ("site".to_string(), plant.site.clone()),
    ];
    let rows: Vec<Point> = points
        .iter()
        .map(|p| {
            Point::new(
                FORECAST_MEASUREMENT,
                tags.clone(),
                vec![
                    ("p50_mw".into(), FieldValue::Float(round3(p.p50))),
                    ("p10_mw".into(), FieldValue::Float(round3(p.p10))),
                    ("p90_mw".into(), FieldValue::Float(round3(p.p90))),
                ],
                p.time * NS_PER_SEC,
            )
        })
        .collect();
    block_on_write(ctx, rows)?;
    ctx.metrics.issued.get_or_create(&PlantLabels { site: plant.site.clone(), horizon: horizon.as_str() }).inc();
    if live {
        let body = serde_json::json!({
            "site": plant.site,
            "horizon": horizon.as_str(),
            "issued": issued,
            "capacity_mw": plant.capacity_mw,
            "points": points.iter().map(|p| serde_json::json!({
                "time": format_time(p.time * NS_PER_SEC, UtcOffset::UTC),
                "p50_mw": round3(p.p50), "p10_mw": round3(p.p10), "p90_mw": round3(p.p90),
            })).collect::<Vec<_>>(),
        });
        ctx.outbox.publish(format!("fl/v1/{}/forecasts/{}", plant.site, horizon.as_str()), body.to_string());
        tracing::info!(site = plant.site, horizon = horizon.as_str(), issued, points = points.len(), "forecast issued");
    }
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Writes from the blocking pool through the async store API.
fn block_on_write(ctx: &JobContext, points: Vec<Point>) -> Result<(), Error> {
    let store = ctx.store.clone();
    tokio::runtime::Handle::current()
        .block_on(store.write_points(points))
        .map_err(|e| Error::Other(format!("writing forecasts: {e}")))
}

/// Scores local day `day` for both horizons; false if the day has no forecasts yet.
fn score_day(ctx: &JobContext, config: &ForecastConfig, offset_s: i32, plant: &Plant, day: i64) -> Result<bool, Error> {
    let start = day * SECS_PER_DAY - i64::from(offset_s);
    let end = start + SECS_PER_DAY;
    let inputs = Inputs::load(ctx, config, offset_s, plant, start, end - SLOT)?;
    let measured: BTreeMap<i64, (f64, bool)> = inputs
        .times
        .iter()
        .zip(inputs.power.iter().zip(&inputs.curtailed))
        .filter(|(t, _)| **t > start && **t <= end)
        .map(|(t, (p, c))| (*t, (*p, *c > 0.0)))
        .collect();
    let mut any = false;
    for horizon in [Horizon::ShortTerm, Horizon::UltraShort] {
        let forecast = forecast_for_day(ctx, &plant.site, horizon, start, end, offset_s)?;
        if forecast.is_empty() {
            continue;
        }
        any = true;
        let (mut m, mut f, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for (t, (p, curtailed)) in &measured {
            m.push(*p);
            f.push(forecast.get(t).copied().unwrap_or(f64::NAN));
            c.push(*curtailed);
        }
        let s = score(&m, &f, Some(&c), plant.capacity_mw, &plant.rules)?;
        if s.n == 0 {
            continue;
        }
        let point = Point::new(
            ACCURACY_MEASUREMENT,
            vec![("horizon".into(), horizon.as_str().into()), ("site".into(), plant.site.clone())],
            vec![
                ("accuracy".into(), FieldValue::Float(s.accuracy)),
                ("qualified_rate".into(), FieldValue::Float(s.qualified_rate)),
                ("n".into(), FieldValue::Int(s.n as i64)),
                ("excluded".into(), FieldValue::Int(s.excluded as i64)),
                ("mae_mw".into(), FieldValue::Float(s.mae)),
                ("rmse_mw".into(), FieldValue::Float(s.rmse)),
                ("bias_mw".into(), FieldValue::Float(s.bias)),
                ("capacity_mw".into(), FieldValue::Float(plant.capacity_mw)),
            ],
            start * NS_PER_SEC,
        );
        block_on_write(ctx, vec![point])?;
        ctx.metrics
            .daily_accuracy
            .get_or_create(&PlantLabels { site: plant.site.clone(), horizon: horizon.as_str() })
            .set(s.accuracy);
        tracing::info!(site = plant.site, horizon = horizon.as_str(), day = %format_time(start * NS_PER_SEC, UtcOffset::UTC),
            accuracy = s.accuracy, qualified_rate = s.qualified_rate, n = s.n, "day scored");
    }
    Ok(any)
}

/// The forecast values dispatch assesses for the slots in `(start, end]`: for the short term,
/// the forecast issued the day before; for the ultra-short term, each slot's 4th-hour value
/// (issued 4 h before it).
pub fn forecast_for_day(
    ctx: &JobContext,
    site: &str,
    horizon: Horizon,
    start: i64,
    end: i64,
    offset_s: i32,
) -> Result<BTreeMap<i64, f64>, Error> {
    let query = Query::new(FORECAST_MEASUREMENT)
        .range((start + 1) * NS_PER_SEC, (end + 1) * NS_PER_SEC)
        .tag("site", site)
        .tag("horizon", horizon.as_str())
        .fields(["p50_mw"]);
    let forecasts = ctx.store.query(&query)?;
    let day = local_day(start, offset_s);
    let mut out: BTreeMap<i64, (i64, f64)> = BTreeMap::new();
    for series in &forecasts {
        let Some(issued) = series.tag("issued").and_then(parse_issued) else { continue };
        for (ts, v) in &series.points {
            let t = ts.div_euclid(NS_PER_SEC);
            let wanted = match horizon {
                Horizon::ShortTerm => local_day(issued, offset_s) == day - 1,
                Horizon::UltraShort => t - issued == ULTRA_SHORT_LEADS * SLOT,
            };
            let Some(x) = v.as_f64() else { continue };
            // Of several qualifying issues, the latest wins.
            if wanted && out.get(&t).is_none_or(|(i, _)| *i < issued) {
                out.insert(t, (issued, x));
            }
        }
    }
    Ok(out.into_iter().map(|(t, (_, x))| (t, x)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_is_linear_and_circular_for_directions() {
        assert_eq!(interpolate(0, 0.0, 10, 10.0, 5, false), 5.0);
        let d = interpolate(0, 350.0, 10, 10.0, 5, true);
        assert!(d < 0.001 || (d - 360.0).abs() < 0.001, "{d}");
    }

    #[test]
    fn short_term_cutoff_is_the_issue_time_of_the_day_before() {
        let inputs = Inputs {
            times: vec![],
            power: vec![],
            curtailed: vec![],
            met: vec![],
            runs: BTreeMap::new(),
            offset_s: 8 * 3600,
            issue_hour: 8,
        };
        // Slot ending 2026-04-10T10:00+08:00 (02:00Z): day 2026-04-10 local; cutoff 2026-04-09T08:00+08:00 = 00:00Z.
        let t = 1_775_786_400; // 2026-04-10T02:00:00Z
        assert_eq!(inputs.cutoff(t, NwpAsOf::ShortTerm), 1_775_692_800); // 2026-04-09T00:00:00Z
        // The slot ending exactly at local midnight belongs to the day before.
        let midnight = 1_775_750_400; // 2026-04-10T00:00+08:00 = 2026-04-09T16:00Z
        assert_eq!(inputs.cutoff(midnight, NwpAsOf::ShortTerm), 1_775_692_800 - SECS_PER_DAY);
        assert_eq!(inputs.cutoff(t, NwpAsOf::UltraShort), t - 4 * 3600);
    }
}
