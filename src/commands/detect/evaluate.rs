//! Evaluation mode (`--data`): a simulator directory fed through `serve`'s detection engine
//! ([`DetectionEngine::replay`]) as if the readings arrived live, its events collected as
//! [`Detection`]s and scored against the ground truth ([`super::report`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use fieldline_analytics::anomaly::{Event, EventChange, EventKind};
use fieldline_core::time::{SECS_PER_DAY, format_time, parse_duration, parse_offset};
use serde::Serialize;

use super::DetectArgs;
use super::report::{Period, print_report, score};
use super::sim_data::{KindData, load_kind, window_of};
use super::truth::{mark_unobservable, read_truth};
use crate::alerts::AlertsConfig;
use crate::jobs::detect::{DetectionEngine, Owner};

pub(super) fn evaluate(args: &DetectArgs, dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let tolerance_s = parse_duration(&args.tolerance)?.div_euclid(1_000_000_000);
    parse_offset(&args.timezone)?;
    let truth_path = args.truth.clone().unwrap_or_else(|| dir.join("ground_truth.jsonl"));
    let mut truth = read_truth(&truth_path)?;
    let mut kinds = Vec::new();
    for kind in crate::jobs::detect::detected_kinds() {
        let path = dir.join(format!("{kind}.csv"));
        if path.exists() {
            kinds.push(load_kind(&path, kind)?);
        }
    }
    if kinds.is_empty() {
        bail!("{}: no simulator CSV files (wind_turbine.csv, pv_inverter.csv, ...)", dir.display());
    }
    mark_unobservable(&mut truth, &kinds);
    let first = kinds.iter().flat_map(|k| k.devices.iter().filter_map(|d| d.times.first())).min().copied().unwrap_or(0);
    let data_end =
        kinds.iter().flat_map(|k| k.devices.iter().filter_map(|d| d.times.last())).max().copied().unwrap_or(0);
    eprintln!("loaded {} kinds in {:.1} s; running detectors ...", kinds.len(), started.elapsed().as_secs_f64());

    let scored_from = first + (args.warmup_days.max(0.0) * 86_400.0) as i64;
    let mut collector = Collector::default();
    let config = AlertsConfig {
        utc_offset: args.timezone.clone(),
        refill_point_pct: args.refill_point,
        ..AlertsConfig::default()
    };
    run_engine(&kinds, config, scored_from, data_end, &mut collector)?;

    let devices: Vec<String> = kinds.iter().flat_map(|k| k.devices.iter().map(|d| d.path.clone())).collect();
    let report =
        score(dir, truth, collector.detections, Period { from: scored_from, until: data_end, tolerance_s, devices });
    print_report(&report);
    eprintln!("evaluated in {:.1} s", started.elapsed().as_secs_f64());
    if let Some(path) = &args.report {
        super::write_report(path, &report)?;
    }
    Ok(())
}

/// One detector event on one device.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Detection {
    pub(super) device: String,
    pub(super) kind: EventKind,
    pub(super) field: String,
    pub(super) start: String,
    pub(super) end: String,
    #[serde(skip)]
    pub(super) start_s: i64,
    #[serde(skip)]
    pub(super) end_s: i64,
    pub(super) peak_score: f64,
    pub(super) value: Option<f64>,
    pub(super) expected: Option<f64>,
    /// The ground-truth event it matched (`kind` on `device`), if any.
    pub(super) matched: Option<String>,
}

/// Collects the events of every detector.
#[derive(Default)]
struct Collector {
    detections: Vec<Detection>,
}

impl Collector {
    /// Adds an event; one still open ends with the data.
    fn add(&mut self, device: &str, event: &Event, data_end: i64) {
        let end_s = event.end_s.unwrap_or(data_end.max(event.last_s));
        self.detections.push(Detection {
            device: device.to_string(),
            kind: event.kind,
            field: event.field.clone(),
            start: format_time(event.start_s.saturating_mul(1_000_000_000), time::UtcOffset::UTC),
            end: format_time(end_s.saturating_mul(1_000_000_000), time::UtcOffset::UTC),
            start_s: event.start_s,
            end_s,
            peak_score: event.peak.score,
            value: event.peak.value,
            expected: event.peak.expected,
            matched: None,
        });
    }
}

/// Runs the server's detection engine ([`DetectionEngine`]) over the data as if it arrived live,
/// learning from the readings before `live_from` and ticking every minute of data time.
fn run_engine(
    kinds: &[KindData],
    config: AlertsConfig,
    live_from: i64,
    data_end: i64,
    out: &mut Collector,
) -> anyhow::Result<()> {
    let first = kinds.iter().flat_map(|k| k.devices.iter().filter_map(|d| d.times.first())).min().copied().unwrap_or(0);
    let lag = config.lag_secs.max(0);
    // The inverters' ratings: the most each delivered in the run (a nameplate figure).
    let mut capacity_kw = BTreeMap::new();
    if let Some(inverters) = kinds.iter().find(|k| k.kind == "pv_inverter")
        && let Some(ac) = inverters.field("ac_power_kw")
    {
        for device in &inverters.devices {
            let most = device
                .columns
                .get(ac)
                .into_iter()
                .flatten()
                .filter(|v| v.is_finite())
                .fold(0.0, |a, &b| f64::max(a, b));
            capacity_kw.insert(format!("pv_inverter/{}", device.path), most);
        }
    }
    let windows = (0..)
        .map(|day| first.div_euclid(SECS_PER_DAY) * SECS_PER_DAY + day * SECS_PER_DAY)
        .take_while(|start| *start <= data_end)
        .map(|start| {
            let end = (start + SECS_PER_DAY).min(data_end + 1);
            (end, window_of(kinds, start, end, lag))
        });
    let mut engine = DetectionEngine::offline(config);
    let replayed = engine.replay(windows, live_from, 60, &capacity_kw);
    for (Owner { site, device, .. }, change) in replayed.changes {
        if let EventChange::Closed(event) = change {
            out.add(&format!("{site}/{device}"), &event, event.last_s);
        }
    }
    for (Owner { site, device, .. }, event) in replayed.open {
        out.add(&format!("{site}/{device}"), &event, data_end);
    }
    Ok(())
}
