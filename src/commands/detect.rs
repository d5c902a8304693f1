//! `fieldline detect`: anomaly scores for a CSV series, and the evaluation of the detectors
//! against the simulator's ground truth.
//!
//! Scoring mode (`--input`) streams one series through
//! [`fieldline_analytics::anomaly::SeriesDetector`] and writes one score per input row, each
//! computed from that row and the rows before it only. Evaluation mode (`--data`) feeds a
//! `fieldline simulate --out` directory through `serve`'s detection engine
//! ([`crate::jobs::detect::Detection::replay`]) as if the readings arrived live — generic
//! checks on every sensor field, device gaps on a timer, peer drift across the region, and
//! the turbine, PV, pest and peony detectors — and scores their events against
//! `ground_truth.jsonl`.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Args;
use fieldline_analytics::anomaly::generic::SeriesConfig;
use fieldline_analytics::anomaly::peer::median_of;
use fieldline_analytics::anomaly::{DetectorName, Event, EventChange, EventKind, SeriesDetector};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::alerts::AlertsConfig;
use crate::jobs::detect::{Detection as Engine, KindRows, Rows, Window};
use fieldline_core::FieldValue;
use fieldline_core::time::{SECS_PER_DAY, format_time, parse_duration, parse_offset};

const AFTER_HELP: &str = "\
Detectors (--detector; `auto` runs them all and reports the largest score):
  range        1 outside --min/--max, and for infinite values (without limits: only those).
  stuck        The value has not changed for far longer than this series ever stays
               unchanged at this time of day: the surprise of the run, -sum ln P(no change),
               against twice the most surprising normal run seen. A PV inverter at 0 every
               night, or a field that changes a few times a season, is never stuck.
  spike        One reading far from the median of the previous 9, in units of the learned
               robust spread of that residual (Hampel-style, past readings only).
  gap          The series was silent for 2.5 of its usual intervals (at least 10 min); here
               the first reading after the silence carries the score (the server runs it on
               a timer).
  level_shift  A CUSUM of the residual against a slow level + time-of-day profile, smoothed
               over 2 h and measured against that smoothed residual's own spread, so a
               weather-like wander does not trip it but a sustained shift does.
  unusual      A value far from what this series shows at this hour (robust z against the
               learned hourly profile).
Scores are in [0, 1]; 0.5 is where an event opens. Learned detectors stay at 0 for the
first 3 days and 100 readings (their warm-up). Each row's score uses that row and the rows
before it only. An empty, NaN or non-numeric value scores 0 and teaches nothing (a missing
value is not evidence of an anomaly; a silence is the gap detector's business). Times:
RFC 3339, `YYYY-MM-DD HH:MM:SS[.fff]` or `YYYY-MM-DDTHH:MM:SS` (naive = UTC), a date, or
epoch seconds (milliseconds and smaller units are recognized by size).

Evaluation (--data DIR): feeds a `fieldline simulate --out DIR` directory (CSV) through the
server's detection engine as if the readings arrived live (a tick every minute of data
time), so it measures what `serve` runs: range, stuck and spike on sensor fields; device gaps on a 1-minute timer;
drift of temperature, humidity, irradiance and soil temperature sensors against the median
of their peers (each corrected by its usual offset, so one drifting sensor cannot drag the
reference); soil conductivity against soil moisture in each plot; the turbine power
curve; PV inverters against their peers and against the met station's irradiance;
pest-trap outbreaks (EARS C2 over flight days); peony frost (stages 3-4) and drought
(below --refill-point for 2 days). A detection matches a ground-truth event on the same device, overlapping
[start, end + --tolerance], whose field is one the detection is computed from (a power-
curve alert covers power, wind speed and temperature; AC and DC power count as one; `*`
matches any field; detectors that judge whole days, PV performance ratio and pest catches,
get at least a day of tolerance). Events and detections that start in the first
--warmup-days are not scored: the detectors learn there, as a server does from its stored
history. Curtailment is flagged by the plant, not detected, and events on NWP feeds
(forecasts, not sensors) are out of scope: neither is scored; nor are events the data
cannot show: a stuck value whose first reading after it equals the held value (the truth
never moved, as with a trap counter on nights without catches), and a turbine fault
during which the wind stayed below 4.5 m/s but for 30 readings (no power to lose).

Examples:
  fieldline detect --input nab/realKnownCause/machine_temperature_system_failure.csv --output scores.csv
  fieldline detect --input series.csv --time-col time --value-col soil_vwc_pct --detector stuck --output s.csv
  fieldline simulate --out sim --days 104 --seed 7 && fieldline detect --data sim --report report.json";

/// `fieldline detect`
#[derive(Debug, Clone, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct DetectArgs {
    /// Series to score: a CSV file with a header row (NAB format: timestamp,value).
    #[arg(long, value_name = "FILE", required_unless_present = "data", requires = "output")]
    pub input: Option<PathBuf>,
    /// Time column of --input.
    #[arg(long, default_value = "timestamp")]
    pub time_col: String,
    /// Value column of --input.
    #[arg(long, default_value = "value")]
    pub value_col: String,
    /// auto, range, stuck, spike, gap, level_shift or unusual (see below).
    #[arg(long, default_value = "auto", value_parser = detector_name)]
    pub detector: DetectorName,
    /// Where to write `timestamp,value,anomaly_score` (one row per input row, in order).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Physical lower limit of the series (switches the range check on).
    #[arg(long, allow_negative_numbers = true)]
    pub min: Option<f64>,
    /// Physical upper limit of the series.
    #[arg(long, allow_negative_numbers = true)]
    pub max: Option<f64>,
    /// Also write the events (openings and closings) as JSON lines.
    #[arg(long, value_name = "FILE")]
    pub events: Option<PathBuf>,
    /// Evaluate against a simulator output directory (CSV files per device kind).
    #[arg(long, value_name = "DIR", conflicts_with = "input")]
    pub data: Option<PathBuf>,
    /// Ground truth (JSON lines); default: DIR/ground_truth.jsonl.
    #[arg(long, value_name = "FILE", requires = "data")]
    pub truth: Option<PathBuf>,
    /// Write the evaluation as JSON.
    #[arg(long, value_name = "FILE", requires = "data")]
    pub report: Option<PathBuf>,
    /// How long after a ground-truth event's end a detection still counts.
    #[arg(long, default_value = "1h", value_name = "DURATION")]
    pub tolerance: String,
    /// Days at the start of the data the detectors only learn from.
    #[arg(long, default_value_t = 14.0)]
    pub warmup_days: f64,
    /// Peony plots: soil moisture (%) at which irrigation is due.
    #[arg(long, default_value_t = 20.0)]
    pub refill_point: f64,
    /// Local time of the sites (pest trap days, PV days).
    #[arg(long, default_value = "+08:00")]
    pub timezone: String,
}

fn detector_name(s: &str) -> Result<DetectorName, String> {
    DetectorName::from_name(s).ok_or_else(|| {
        let names: Vec<&str> = DetectorName::ALL.iter().map(|d| d.name()).collect();
        format!("unknown detector {s:?}: use one of {}", names.join(", "))
    })
}

pub fn run(args: DetectArgs) -> anyhow::Result<()> {
    match (&args.input, &args.data) {
        (Some(input), _) => {
            let Some(output) = &args.output else { bail!("--input needs --output") };
            score_file(&args, input, output)
        }
        (None, Some(dir)) => evaluate(&args, dir),
        (None, None) => bail!("give --input FILE --output FILE, or --data DIR (see --help)"),
    }
}

// ---------------------------------------------------------------------------------------
// Scoring one series

/// Parses a timestamp (see the help text) to unix seconds, rounding fractions down.
fn parse_timestamp(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(dt) = OffsetDateTime::parse(t, &Rfc3339) {
        return Some(dt.unix_timestamp());
    }
    if let Ok(number) = t.parse::<f64>() {
        if !number.is_finite() {
            return None;
        }
        // Epoch seconds, or milli-, micro-, nanoseconds recognized by their size.
        let magnitude = number.abs();
        let seconds = if magnitude >= 1e17 {
            number / 1e9
        } else if magnitude >= 1e14 {
            number / 1e6
        } else if magnitude >= 1e11 {
            number / 1e3
        } else {
            number
        };
        return Some(seconds.floor() as i64);
    }
    // Fractions of a second are dropped (times are whole seconds).
    let main = match t.split_once('.') {
        Some((main, fraction)) if fraction.bytes().all(|b| b.is_ascii_digit()) => main,
        _ => t,
    };
    let naive = PrimitiveDateTime::parse(main, format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
        .or_else(|_| {
            PrimitiveDateTime::parse(main, format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
        })
        .or_else(|_| PrimitiveDateTime::parse(main, format_description!("[year]-[month]-[day] [hour]:[minute]")))
        .or_else(|_| PrimitiveDateTime::parse(main, format_description!("[year]-[month]-[day]T[hour]:[minute]")))
        .or_else(|_| time::Date::parse(main, format_description!("[year]-[month]-[day]")).map(|d| d.midnight()))
        .ok()?;
    Some(naive.assume_utc().unix_timestamp())
}

/// A cell as a number: empty, NA, NaN, null and text are missing (NaN).
fn parse_value(text: &str) -> (f64, bool) {
    let t = text.trim();
    if t.is_empty() || ["na", "nan", "null", "none"].iter().any(|m| t.eq_ignore_ascii_case(m)) {
        return (f64::NAN, true);
    }
    match t.parse::<f64>() {
        Ok(v) => (v, true),
        Err(_) => (f64::NAN, false),
    }
}

fn column_index(headers: &csv::StringRecord, name: &str, path: &Path) -> anyhow::Result<usize> {
    headers.iter().position(|h| h.trim() == name).with_context(|| {
        let available: Vec<&str> = headers.iter().collect();
        format!("{}: no column {name:?} (columns: {})", path.display(), available.join(", "))
    })
}

fn score_file(args: &DetectArgs, input: &Path, output: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(input)
        .with_context(|| format!("opening {}", input.display()))?;
    let headers = reader.headers().with_context(|| format!("reading the header of {}", input.display()))?.clone();
    let time_col = column_index(&headers, &args.time_col, input)?;
    let value_col = column_index(&headers, &args.value_col, input)?;
    let config = SeriesConfig::only(args.detector);
    let config = if args.min.is_some() || args.max.is_some() { config.with_limits(args.min, args.max) } else { config };
    let mut detector = SeriesDetector::new(&args.value_col, config)?;

    let file = File::create(output).with_context(|| format!("creating {}", output.display()))?;
    let mut writer = csv::Writer::from_writer(BufWriter::new(file));
    writer.write_record(["timestamp", "value", "anomaly_score"])?;
    let mut events_out = match &args.events {
        Some(path) => Some(BufWriter::new(File::create(path).with_context(|| format!("creating {}", path.display()))?)),
        None => None,
    };
    let (mut rows, mut missing, mut unreadable) = (0u64, 0u64, 0u64);
    let mut opened: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut score_text = String::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("{} line {line}", input.display()))?;
        let time_text = record.get(time_col).unwrap_or("");
        let Some(t) = parse_timestamp(time_text) else {
            bail!("{} line {line}: cannot read the time {time_text:?} (see --help for formats)", input.display());
        };
        let value_text = record.get(value_col).unwrap_or("");
        let (value, readable) = parse_value(value_text);
        missing += u64::from(value.is_nan());
        unreadable += u64::from(!readable);
        let score = detector.update(t, value);
        score_text.clear();
        let _ = write!(score_text, "{score:.6}");
        writer.write_record([time_text, value_text, score_text.as_str()])?;
        for change in detector.drain_events() {
            if let EventChange::Opened(e) = &change {
                *opened.entry(e.kind.name()).or_default() += 1;
            }
            if let Some(out) = events_out.as_mut() {
                serde_json::to_writer(&mut *out, &change)?;
                out.write_all(b"\n")?;
            }
        }
        rows += 1;
    }
    writer.flush().with_context(|| format!("writing {}", output.display()))?;
    if let Some(mut out) = events_out {
        out.flush()?;
    }
    let summary: Vec<String> = opened.iter().map(|(k, n)| format!("{n} {k}")).collect();
    eprintln!(
        "scored {rows} rows ({missing} missing{}) with `{}` in {:.2} s; events: {}",
        if unreadable > 0 { format!(", {unreadable} not numbers") } else { String::new() },
        args.detector.name(),
        started.elapsed().as_secs_f64(),
        if summary.is_empty() { "none".to_string() } else { summary.join(", ") }
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Evaluation against the simulator's ground truth

/// One ground-truth record as the simulator writes it.
#[derive(Debug, Clone, Deserialize)]
struct TruthRecord {
    kind: String,
    device: String,
    field: String,
    start: String,
    end: String,
}

#[derive(Debug, Clone)]
struct TruthEvent {
    kind: String,
    device: String,
    field: String,
    start_s: i64,
    end_s: i64,
    /// False for an event the data cannot show (see [`mark_unobservable`]).
    observable: bool,
}

/// One detector event on one device.
#[derive(Debug, Clone, Serialize)]
struct Detection {
    device: String,
    kind: EventKind,
    field: String,
    start: String,
    end: String,
    #[serde(skip)]
    start_s: i64,
    #[serde(skip)]
    end_s: i64,
    peak_score: f64,
    value: Option<f64>,
    expected: Option<f64>,
    /// The ground-truth event it matched (`kind` on `device`), if any.
    matched: Option<String>,
}

fn read_truth(path: &Path) -> anyhow::Result<Vec<TruthEvent>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: TruthRecord =
            serde_json::from_str(&line).with_context(|| format!("{} line {}", path.display(), i + 1))?;
        let time =
            |s: &str| parse_timestamp(s).with_context(|| format!("{} line {}: bad time {s:?}", path.display(), i + 1));
        out.push(TruthEvent {
            start_s: time(&record.start)?,
            end_s: time(&record.end)?,
            kind: record.kind,
            device: record.device,
            field: record.field,
            observable: true,
        });
    }
    Ok(out)
}

/// Readings of one device: times and one column per field (NaN = missing).
struct DeviceData {
    site: String,
    path: String,
    times: Vec<i64>,
    columns: Vec<Vec<f64>>,
    /// Codes into [`KindData::statuses`], when the kind has a status column.
    status: Vec<u8>,
}

/// One CSV file of the simulator: a device kind.
struct KindData {
    kind: String,
    fields: Vec<String>,
    statuses: Vec<String>,
    devices: Vec<DeviceData>,
}

impl KindData {
    fn field(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f == name)
    }

    fn value(&self, device: &DeviceData, field: usize, row: usize) -> f64 {
        device.columns.get(field).and_then(|c| c.get(row)).copied().unwrap_or(f64::NAN)
    }
}

/// Columns that are tags, not fields.
const TAG_COLUMNS: [&str; 3] = ["issued", "species", "trap_type"];

fn load_kind(path: &Path, kind: &str) -> anyhow::Result<KindData> {
    let mut reader =
        csv::ReaderBuilder::new().from_path(path).with_context(|| format!("opening {}", path.display()))?;
    let headers = reader.headers()?.clone();
    let time_col = column_index(&headers, "time", path)?;
    let site_col = column_index(&headers, "site", path)?;
    let device_col = column_index(&headers, "device", path)?;
    let field_cols: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter(|(i, h)| ![time_col, site_col, device_col].contains(i) && !TAG_COLUMNS.contains(h))
        .map(|(i, h)| (i, h.to_string()))
        .collect();
    let status_col = field_cols.iter().position(|(_, name)| name == "status");
    let mut data = KindData {
        kind: kind.to_string(),
        fields: field_cols.iter().map(|(_, n)| n.clone()).collect(),
        statuses: Vec::new(),
        devices: Vec::new(),
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut key = String::new();
    let mut record = csv::StringRecord::new();
    let mut line = 1;
    while reader.read_record(&mut record).with_context(|| format!("{} line {}", path.display(), line + 1))? {
        line += 1;
        let time_text = record.get(time_col).unwrap_or("");
        let Some(t) = parse_timestamp(time_text) else {
            bail!("{} line {line}: cannot read the time {time_text:?}", path.display());
        };
        let (site, device) = (record.get(site_col).unwrap_or(""), record.get(device_col).unwrap_or(""));
        key.clear();
        key.push_str(site);
        key.push('/');
        key.push_str(device);
        let d = match index.get(key.as_str()) {
            Some(&d) => d,
            None => {
                data.devices.push(DeviceData {
                    site: site.to_string(),
                    path: key.clone(),
                    times: Vec::new(),
                    columns: vec![Vec::new(); field_cols.len()],
                    status: Vec::new(),
                });
                index.insert(key.clone(), data.devices.len() - 1);
                data.devices.len() - 1
            }
        };
        let Some(device) = data.devices.get_mut(d) else { continue };
        device.times.push(t);
        for (c, (col, _)) in field_cols.iter().enumerate() {
            let text = record.get(*col).unwrap_or("");
            let value = match text {
                "true" => 1.0,
                "false" => 0.0,
                _ => parse_value(text).0,
            };
            if let Some(column) = device.columns.get_mut(c) {
                column.push(value);
            }
            if Some(c) == status_col {
                let code = match data.statuses.iter().position(|s| s == text) {
                    Some(code) => code,
                    None => {
                        data.statuses.push(text.to_string());
                        data.statuses.len() - 1
                    }
                };
                device.status.push(u8::try_from(code).unwrap_or(u8::MAX));
            }
        }
    }
    // Rows come in time order from the simulator; sort anyway so lookups can bisect.
    for device in &mut data.devices {
        if !device.times.is_sorted() {
            let mut order: Vec<usize> = (0..device.times.len()).collect();
            order.sort_by_key(|&i| device.times.get(i).copied().unwrap_or(0));
            let pick = |v: &Vec<f64>| order.iter().map(|&i| v.get(i).copied().unwrap_or(f64::NAN)).collect();
            device.columns = device.columns.iter().map(pick).collect();
            device.times = order.iter().map(|&i| device.times.get(i).copied().unwrap_or(0)).collect();
            if !device.status.is_empty() {
                device.status = order.iter().map(|&i| device.status.get(i).copied().unwrap_or(u8::MAX)).collect();
            }
        }
    }
    Ok(data)
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

/// The readings of `[start − lag, end)` as the detection engine takes them, for every kind
/// and device.
fn window_of(kinds: &[KindData], start: i64, end: i64, lag: i64) -> Window {
    let mut window = Window::new();
    for kind in kinds {
        let mut rows_of_kind = KindRows::default();
        for device in &kind.devices {
            let from = device.times.partition_point(|&t| t < start - lag);
            let to = device.times.partition_point(|&t| t < end);
            let mut rows = Rows::new();
            for row in from..to {
                let Some(&t) = device.times.get(row) else { continue };
                let mut fields = BTreeMap::new();
                for (f, name) in kind.fields.iter().enumerate() {
                    if name == "status" {
                        let code = device.status.get(row).map(|c| usize::from(*c));
                        if let Some(text) = code.and_then(|c| kind.statuses.get(c)) {
                            fields.insert(name.clone(), FieldValue::Str(text.clone()));
                        }
                        continue;
                    }
                    let value = kind.value(device, f, row);
                    if value.is_finite() {
                        fields.insert(name.clone(), FieldValue::Float(value));
                    }
                }
                rows.insert(t, fields);
            }
            let name = device.path.rsplit('/').next().unwrap_or(&device.path).to_string();
            let key = format!("{}/{}", kind.kind, device.path);
            rows_of_kind.devices.insert(key, (device.site.clone(), name, rows));
        }
        window.insert(kind.kind.clone(), rows_of_kind);
    }
    window
}

/// Runs the server's detection engine ([`Engine`]) over the data as if it arrived live,
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
    let mut engine = Engine::offline(config);
    let replayed = engine.replay(windows, live_from, 60, &capacity_kw);
    for ((_, site, device), change) in replayed.changes {
        if let EventChange::Closed(event) = change {
            out.add(&format!("{site}/{device}"), &event, event.last_s);
        }
    }
    for ((_, site, device), event) in replayed.open {
        out.add(&format!("{site}/{device}"), &event, data_end);
    }
    Ok(())
}

/// Wind speed (m/s) from which a turbine makes enough power (about 10 % of rated on a
/// multi-megawatt curve) for a loss to show.
const PRODUCTION_WIND_MS: f64 = 4.5;
/// ... for at least this many readings of the event.
const PRODUCTION_READINGS: usize = 30;

/// Marks events the data cannot show, so they do not count against recall: a stuck value
/// whose first reading after the window equals the held value (the truth never moved while
/// the sensor was stuck), and a turbine fault during which the wind never reached
/// production (an idle turbine has no power to lose).
fn mark_unobservable(truth: &mut [TruthEvent], kinds: &[KindData]) {
    for event in truth.iter_mut() {
        let found = kinds.iter().find_map(|k| Some((k, k.devices.iter().find(|d| d.path == event.device)?)));
        let Some((kind, device)) = found else { continue };
        let first_in = device.times.partition_point(|&t| t < event.start_s);
        let first_after = device.times.partition_point(|&t| t < event.end_s);
        match event.kind.as_str() {
            "stuck" => {
                let Some(field) = kind.field(&event.field) else { continue };
                if first_in >= first_after {
                    continue;
                }
                let held = kind.value(device, field, first_in);
                let after = kind.value(device, field, first_after);
                if held.is_finite() && after.is_finite() && (held - after).abs() <= 1e-9 * held.abs().max(1.0) {
                    event.observable = false;
                }
            }
            "icing" | "pitch_fault" | "turbine_outage" => {
                let Some(wind) = kind.field("wind_speed_ms") else { continue };
                let producing =
                    (first_in..first_after).filter(|&r| kind.value(device, wind, r) >= PRODUCTION_WIND_MS).count();
                if producing < PRODUCTION_READINGS {
                    event.observable = false;
                }
            }
            _ => {}
        }
    }
}

/// Which fault kinds a detector's events stand for.
fn targets(kind: EventKind) -> &'static [&'static str] {
    match kind {
        EventKind::OutOfRange => &["spike"],
        EventKind::Stuck => &["stuck"],
        EventKind::Spike => &["spike"],
        EventKind::Gap => &["dropout"],
        EventKind::LevelShift | EventKind::Unusual | EventKind::PeerDrift | EventKind::Relation => &["drift"],
        EventKind::PowerCurve => &["pitch_fault", "icing", "turbine_outage"],
        EventKind::PvPerformance | EventKind::PvPeer => &["inverter_outage", "string_outage", "soiling"],
        EventKind::PestOutbreak => &["pest_outbreak"],
        EventKind::Frost => &["frost_night"],
        EventKind::Drought => &["drought"],
    }
}

/// How late a detector can see a condition by design: the daily PR and the daily catch are
/// judged when the day is complete. The match tolerance is at least this.
fn resolution_s(kind: EventKind) -> i64 {
    match kind {
        EventKind::PvPerformance | EventKind::PestOutbreak => 86_400,
        _ => 0,
    }
}

/// Operational events the plant flags itself: not detected, not scored.
const NOT_SCORED: [&str; 1] = ["curtailment"];

/// The fields a detector's event on `field` is computed from: a turbine's power curve
/// from power, wind and temperature; PV from AC (and so DC) power; soil conductivity
/// against moisture from both.
fn inputs(kind: EventKind, field: &str) -> Vec<&str> {
    match kind {
        EventKind::PowerCurve => vec![field, "wind_speed_ms", "ambient_temp_c"],
        EventKind::PvPeer | EventKind::PvPerformance => vec![field, "ac_power_kw", "dc_power_kw"],
        EventKind::Relation if field == "soil_ec_ds_m" => vec![field, "soil_vwc_pct"],
        _ => vec![field],
    }
}

/// Whether a detection of `kind` on `field` concerns the ground-truth `truth_field`.
fn same_field(kind: EventKind, field: &str, truth_field: &str) -> bool {
    field == "*" || truth_field == "*" || inputs(kind, field).contains(&truth_field)
}

#[derive(Debug, Default, Clone, Serialize)]
struct KindScore {
    kind: String,
    events: usize,
    detected: usize,
    recall: Option<f64>,
    /// Detections matched to events of this kind.
    true_detections: usize,
    /// Unmatched detections of the detectors meant for this kind.
    false_detections: usize,
    precision: Option<f64>,
    median_delay_s: Option<f64>,
}

#[derive(Debug, Default, Clone, Serialize)]
struct DetectorScore {
    detector: String,
    detections: usize,
    matched: usize,
    precision: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    data: String,
    scored_from: String,
    scored_until: String,
    tolerance_s: i64,
    devices: usize,
    /// Ground-truth events on devices without data (NWP feeds), not scored.
    out_of_scope: usize,
    /// Events the data cannot show (a stuck value that never differed from the truth, a
    /// turbine fault in winds below production), not counted in recall.
    unobservable: usize,
    weeks: f64,
    false_alerts: usize,
    false_alerts_per_device_week: f64,
    kinds: Vec<KindScore>,
    detectors: Vec<DetectorScore>,
    missed: Vec<String>,
    detections: Vec<Detection>,
}

fn median(values: &mut [f64]) -> Option<f64> {
    median_of(values.iter().copied(), &mut Vec::new())
}

fn evaluate(args: &DetectArgs, dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let tolerance_s = parse_duration(&args.tolerance)?.div_euclid(1_000_000_000);
    parse_offset(&args.timezone)?;
    let truth_path = args.truth.clone().unwrap_or_else(|| dir.join("ground_truth.jsonl"));
    let mut truth = read_truth(&truth_path)?;
    let mut kinds = Vec::new();
    for kind in ["wind_turbine", "pv_inverter", "plant", "met_station", "peony_plot", "pest_trap"] {
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
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let mut out = BufWriter::new(file);
        serde_json::to_writer_pretty(&mut out, &report)?;
        out.write_all(b"\n")?;
        out.flush()?;
    }
    Ok(())
}

struct Period {
    from: i64,
    until: i64,
    tolerance_s: i64,
    /// The devices with data (`site/device`): ground truth elsewhere (NWP feeds) is out of
    /// scope.
    devices: Vec<String>,
}

fn score(dir: &Path, truth: Vec<TruthEvent>, detections: Vec<Detection>, period: Period) -> Report {
    let in_period = |start: i64| start >= period.from && start <= period.until;
    // Events of the warm-up still explain detections after it; only those starting in the
    // scored period count for recall.
    let (truth, out_of_scope): (Vec<TruthEvent>, Vec<TruthEvent>) = truth
        .into_iter()
        .filter(|e| !NOT_SCORED.contains(&e.kind.as_str()))
        .partition(|e| period.devices.contains(&e.device));
    let mut detections: Vec<Detection> = detections.into_iter().filter(|d| in_period(d.start_s)).collect();
    detections.sort_by(|a, b| (a.start_s, &a.device, a.kind).cmp(&(b.start_s, &b.device, b.kind)));

    let matches = |d: &Detection, e: &TruthEvent| {
        d.device == e.device
            && same_field(d.kind, &d.field, &e.field)
            && d.start_s <= e.end_s.saturating_add(period.tolerance_s.max(resolution_s(d.kind)))
            && d.end_s >= e.start_s
    };
    // First detection of each truth event (detections are in start order).
    let mut first_detection: Vec<Option<i64>> = vec![None; truth.len()];
    for d in &mut detections {
        // Prefer an event this detector is meant for, then any overlapping event.
        let meant = truth.iter().position(|e| matches(d, e) && targets(d.kind).contains(&e.kind.as_str()));
        let Some(i) = meant.or_else(|| truth.iter().position(|e| matches(d, e))) else { continue };
        let Some(e) = truth.get(i) else { continue };
        d.matched = Some(format!(
            "{} on {} from {}",
            e.kind,
            e.device,
            format_time(e.start_s * 1_000_000_000, time::UtcOffset::UTC)
        ));
        if let Some(slot) = first_detection.get_mut(i) {
            slot.get_or_insert(d.start_s);
        }
    }

    let mut kind_names: Vec<String> = truth.iter().map(|e| e.kind.clone()).collect();
    for d in &detections {
        kind_names.extend(targets(d.kind).iter().map(|k| k.to_string()));
    }
    kind_names.sort();
    kind_names.dedup();
    let matched_kind = |d: &Detection| -> Option<&str> {
        let meant = truth.iter().find(|e| matches(d, e) && targets(d.kind).contains(&e.kind.as_str()));
        meant.or_else(|| truth.iter().find(|e| matches(d, e))).map(|e| e.kind.as_str())
    };
    let mut kinds = Vec::new();
    for name in &kind_names {
        let indices: Vec<usize> = (0..truth.len())
            .filter(|&i| truth.get(i).is_some_and(|e| &e.kind == name && in_period(e.start_s) && e.observable))
            .collect();
        let detected: Vec<usize> =
            indices.iter().copied().filter(|&i| first_detection.get(i).is_some_and(Option::is_some)).collect();
        let mut delays: Vec<f64> = detected
            .iter()
            .filter_map(|&i| Some((first_detection.get(i).copied()?? - truth.get(i)?.start_s) as f64))
            .collect();
        let true_detections = detections.iter().filter(|d| matched_kind(d) == Some(name.as_str())).count();
        let false_detections =
            detections.iter().filter(|d| d.matched.is_none() && targets(d.kind).contains(&name.as_str())).count();
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        kinds.push(KindScore {
            kind: name.clone(),
            events: indices.len(),
            detected: detected.len(),
            recall: ratio(detected.len(), indices.len()),
            true_detections,
            false_detections,
            precision: ratio(true_detections, true_detections + false_detections),
            median_delay_s: median(&mut delays),
        });
    }
    let mut detectors = Vec::new();
    for kind in EventKind::ALL {
        let of_kind: Vec<&Detection> = detections.iter().filter(|d| d.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let matched = of_kind.iter().filter(|d| d.matched.is_some()).count();
        detectors.push(DetectorScore {
            detector: kind.name().to_string(),
            detections: of_kind.len(),
            matched,
            precision: Some(matched as f64 / of_kind.len() as f64),
        });
    }
    let unobservable = truth.iter().filter(|e| in_period(e.start_s) && !e.observable).count();
    let missed = (0..truth.len())
        .filter(|&i| first_detection.get(i).is_some_and(Option::is_none))
        .filter(|&i| truth.get(i).is_some_and(|e| in_period(e.start_s) && e.observable))
        .filter_map(|i| truth.get(i))
        .map(|e| {
            format!(
                "{} on {} {} from {} to {}",
                e.kind,
                e.device,
                e.field,
                format_time(e.start_s * 1_000_000_000, time::UtcOffset::UTC),
                format_time(e.end_s * 1_000_000_000, time::UtcOffset::UTC)
            )
        })
        .collect();
    let weeks = (period.until - period.from).max(0) as f64 / (7.0 * 86_400.0);
    let false_alerts = detections.iter().filter(|d| d.matched.is_none()).count();
    let devices = period.devices.len();
    Report {
        data: dir.display().to_string(),
        scored_from: format_time(period.from * 1_000_000_000, time::UtcOffset::UTC),
        scored_until: format_time(period.until * 1_000_000_000, time::UtcOffset::UTC),
        tolerance_s: period.tolerance_s,
        devices,
        out_of_scope: out_of_scope.iter().filter(|e| in_period(e.start_s)).count(),
        unobservable,
        weeks,
        false_alerts,
        false_alerts_per_device_week: if weeks > 0.0 && devices > 0 {
            false_alerts as f64 / devices as f64 / weeks
        } else {
            0.0
        },
        kinds,
        detectors,
        missed,
        detections,
    }
}

fn print_report(r: &Report) {
    let num = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
    let hours = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |s| format!("{:.1} h", s / 3600.0));
    println!(
        "scored {} to {} ({:.1} weeks, {} devices); not scored: {} ground-truth events on devices without \
         data, {} the data cannot show",
        r.scored_from, r.scored_until, r.weeks, r.devices, r.out_of_scope, r.unobservable
    );
    println!();
    println!(
        "{:<16} {:>6} {:>8} {:>7} {:>9} {:>13}",
        "fault kind", "events", "detected", "recall", "precision", "median delay"
    );
    for k in &r.kinds {
        println!(
            "{:<16} {:>6} {:>8} {:>7} {:>9} {:>13}",
            k.kind,
            k.events,
            k.detected,
            num(k.recall),
            num(k.precision),
            hours(k.median_delay_s)
        );
    }
    println!();
    println!("{:<16} {:>10} {:>8} {:>9}", "detector", "detections", "matched", "precision");
    for d in &r.detectors {
        println!("{:<16} {:>10} {:>8} {:>9}", d.detector, d.detections, d.matched, num(d.precision));
    }
    println!();
    println!(
        "false alerts: {} ({:.3} per device per week, {:.2} per device per month)",
        r.false_alerts,
        r.false_alerts_per_device_week,
        r.false_alerts_per_device_week * 30.0 / 7.0
    );
    if !r.missed.is_empty() {
        println!();
        println!("missed:");
        for m in &r.missed {
            println!("  {m}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_documented_form() {
        let t = 1_396_310_400; // 2014-04-01T00:00:00Z
        for text in [
            "2014-04-01 00:00:00",
            "2014-04-01T00:00:00",
            "2014-04-01T08:00:00+08:00",
            "2014-04-01T00:00:00Z",
            "2014-04-01 00:00:00.750",
            "2014-04-01",
            "1396310400",
            "1396310400000",
            "1396310400.5",
        ] {
            assert_eq!(parse_timestamp(text), Some(t), "{text}");
        }
        assert_eq!(parse_timestamp("yesterday"), None);
        assert_eq!(parse_timestamp("NaN"), None);
    }

    #[test]
    fn values_and_missing_cells() {
        assert_eq!(parse_value(" 1.5 "), (1.5, true));
        assert!(parse_value("").0.is_nan() && parse_value("NA").1);
        let (v, readable) = parse_value("abc");
        assert!(v.is_nan() && !readable);
    }

    #[test]
    fn detections_match_the_fields_they_are_computed_from() {
        assert!(same_field(EventKind::Spike, "air_temp_c", "air_temp_c"));
        assert!(same_field(EventKind::Gap, "*", "soil_vwc_pct"));
        assert!(same_field(EventKind::PvPeer, "ac_power_kw", "dc_power_kw"));
        assert!(same_field(EventKind::PowerCurve, "power_kw", "wind_speed_ms"));
        assert!(!same_field(EventKind::Spike, "wind_speed_ms", "power_kw"));
    }
}
