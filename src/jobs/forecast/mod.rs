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
//!
//! Here are the configuration, the metrics and the scheduler ([`Forecaster`]: what is due for
//! each plant); the inputs a model sees live in `inputs`, training and issuing in `issue`,
//! the daily scoring in `score`.

use std::collections::{BTreeMap, BTreeSet};

pub use fieldline_analytics::forecast::efile::Horizon;
use fieldline_analytics::forecast::model::{DayAheadModel, UltraShortModel};
use fieldline_analytics::forecast::scoring::{RuleSet, ScoringRules};
use fieldline_analytics::forecast::series::{Location, prepare};
use fieldline_analytics::forecast::{PlantKind, features::Context};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use time::UtcOffset;

use super::JobContext;
use fieldline_core::time::{EpochNumbers, NS_PER_SEC, SECS_PER_DAY, format_time, parse_data_time, parse_offset};
use fieldline_store::Query;

mod inputs;
mod issue;
mod score;
pub mod sftp;

use inputs::{Inputs, NwpAsOf, series_options};
use issue::{issued_times, store_forecast, train};
use score::score_day;

/// A forecast slot (15 min), seconds.
const SLOT: i64 = 900;
/// Measurement of issued forecasts.
pub const FORECAST_MEASUREMENT: &str = "forecast";
/// Measurement of daily accuracy.
pub const ACCURACY_MEASUREMENT: &str = "forecast_accuracy";
/// Ultra-short horizon: 16 slots.
const ULTRA_SHORT_LEADS: i64 = 16;
/// Short-term horizon: 3 days from next local midnight (288 slots).
const SHORT_TERM_DAYS: usize = 3;
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
    /// `[forecast.efile]`: E files written on every live issue for dispatch's uploader.
    pub efile: EfileDrop,
}

/// `[forecast.efile]`: every live forecast issue is also written as its E file into `dir`
/// (under a temporary name, fsync'd, then renamed, so an uploader polling the directory never
/// picks up half a file), in the encoding and header language the provincial template expects.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EfileDrop {
    /// Where to write `{site}_{YYYYMMDD}_{HHMM}_DQ.txt` / `_CDQ.txt`; unset = no files.
    pub dir: Option<std::path::PathBuf>,
    /// `utf-8` (default) or `gbk`.
    pub encoding: EfileEncoding,
    /// `en` (default: `@id time p_fcst_mw ...`) or `zh` (`@序号 时刻 预测功率(MW) ...`).
    pub headers: EfileHeaders,
    /// Also upload each file to dispatch's SFTP server: `sftp://user@host[:port]/dir`
    /// (needs `dir`, `sftp_identity` and `sftp_known_hosts`; see [`sftp`]).
    pub sftp: Option<String>,
    /// Private key for the SFTP login.
    pub sftp_identity: Option<std::path::PathBuf>,
    /// known_hosts file with the server's host key (checked strictly).
    pub sftp_known_hosts: Option<std::path::PathBuf>,
    /// Seconds after writing a file when failed uploads stop being retried.
    pub sftp_give_up_secs: u64,
}

impl Default for EfileDrop {
    fn default() -> Self {
        EfileDrop {
            dir: None,
            encoding: EfileEncoding::default(),
            headers: EfileHeaders::default(),
            sftp: None,
            sftp_identity: None,
            sftp_known_hosts: None,
            sftp_give_up_secs: 900,
        }
    }
}

impl EfileDrop {
    /// The SFTP target, if one is configured, checked (`serve --check` and start-up).
    pub fn sftp_target(&self) -> Result<Option<sftp::SftpTarget>, String> {
        let Some(url) = &self.sftp else { return Ok(None) };
        if self.dir.is_none() {
            return Err("sftp needs dir: the file written there is what is uploaded (and stays as the record)".into());
        }
        sftp::SftpTarget::new(
            url,
            self.sftp_identity.as_deref(),
            self.sftp_known_hosts.as_deref(),
            self.sftp_give_up_secs,
        )
        .map(Some)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EfileEncoding {
    #[default]
    Utf8,
    Gbk,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EfileHeaders {
    #[default]
    En,
    Zh,
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
            efile: EfileDrop::default(),
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
    pub efile_uploads: Counter,
    pub efile_upload_failures: Counter,
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
        r.register("efile_uploads", "E files uploaded to dispatch over SFTP", self.efile_uploads.clone());
        r.register(
            "efile_upload_failures",
            "E files given up on after sftp_give_up_secs of failed uploads (the local copy stays)",
            self.efile_upload_failures.clone(),
        );
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
    /// Started on the first run when `[forecast.efile] sftp` is set.
    uploader: Option<sftp::SftpUploader>,
}

/// Why a forecast job step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store: {0}")]
    Store(#[from] fieldline_store::Error),
    #[error("model: {0}")]
    Model(#[from] fieldline_analytics::forecast::Error),
    #[error("E file {path}: {source}")]
    Efile { path: std::path::PathBuf, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

impl Forecaster {
    pub fn new(config: ForecastConfig) -> Self {
        let offset_s = parse_offset(&config.utc_offset).map(|o| o.whole_seconds()).unwrap_or(8 * 3600);
        Forecaster { config, offset_s, plants: BTreeMap::new(), uploader: None }
    }

    /// Runs everything due now for every plant.
    pub fn run_due(&mut self, ctx: &JobContext) {
        if self.uploader.is_none() {
            match self.config.efile.sftp_target() {
                Ok(Some(target)) => {
                    let metrics = sftp::UploadMetrics {
                        uploads: ctx.metrics.efile_uploads.clone(),
                        failures: ctx.metrics.efile_upload_failures.clone(),
                    };
                    match sftp::SftpUploader::start(target, metrics) {
                        Ok(uploader) => self.uploader = Some(uploader),
                        Err(e) => tracing::error!(error = %e, "cannot start the SFTP upload thread"),
                    }
                }
                Ok(None) => {}
                // Checked at start-up; a key file removed since then is said here.
                Err(e) => tracing::error!(error = e, "[forecast.efile] sftp: E files are not uploaded"),
            }
        }
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
        let uploader = self.uploader.as_ref();
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
                    if live {
                        issue::drop_efile(
                            &config.efile,
                            uploader,
                            plant,
                            Horizon::UltraShort,
                            issue,
                            offset_s,
                            &points,
                        );
                    }
                }
            }
            if !st_days.is_empty() {
                let series = prepare(&inputs.table(NwpAsOf::ShortTerm), &series_options(offset_s, plant))?;
                let fctx = Context::new(&series);
                for &day in &st_days {
                    let points = day_ahead.forecast(&fctx, day, SHORT_TERM_DAYS);
                    let issue = day * SECS_PER_DAY - i64::from(offset_s) + i64::from(config.issue_hour) * 3600;
                    store_forecast(ctx, plant, Horizon::ShortTerm, issue, &points, Some(day) == live_st)?;
                    if Some(day) == live_st {
                        issue::drop_efile(&config.efile, uploader, plant, Horizon::ShortTerm, issue, offset_s, &points);
                    }
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

/// An `issued` tag (an NWP run's or a stored forecast's): RFC 3339 as fieldline and the
/// simulator write it, or unix seconds.
pub(crate) fn parse_issued(tag: &str) -> Option<i64> {
    parse_data_time(tag, UtcOffset::UTC, EpochNumbers::Seconds)
}
