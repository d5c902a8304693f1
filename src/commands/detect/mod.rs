//! `fieldline detect`: anomaly scores for a CSV series, and the evaluation of the detectors
//! against the simulator's ground truth.
//!
//! Scoring mode (`--input`) streams one series through
//! [`fieldline_analytics::anomaly::onset::OnsetDetector`] (`auto`: the likelihood that an
//! anomaly begins at this row) or one of the single detectors of
//! [`fieldline_analytics::anomaly::SeriesDetector`], and writes one score per input row, each
//! computed from that row and the rows before it only; events (`--events`) come from the
//! `SeriesDetector`, which holds state for as long as a condition lasts. NAB mode (`--nab`)
//! does the same for every series of a NAB corpus and scores them like NAB (module `nab`). Evaluation mode (`--data`) feeds a
//! `fieldline simulate --out` directory through `serve`'s detection engine
//! ([`crate::jobs::detect::DetectionEngine::replay`]) as if the readings arrived live — generic
//! checks on every sensor field, device gaps on a timer, peer drift across the region, and
//! the turbine, PV, pest and peony detectors — and scores their events against
//! `ground_truth.jsonl`.
//!
//! Here are the arguments, the help text and the cell readers both modes share; the modes
//! live in `score_csv` and `evaluate` (with the simulator data in `sim_data`, the ground
//! truth in `truth` and the matching and report in `report`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use fieldline_analytics::anomaly::DetectorName;

mod evaluate;
mod nab;
mod report;
mod score_csv;
mod sim_data;
mod truth;

const AFTER_HELP: &str = "\
Scores (--detector):
  auto         The onset likelihood: how likely it is that something anomalous *begins* at
               this row. Several predictors (previous value, slow level, same time yesterday
               and last week, the cadence and daily period learned from the series), an
               anomaly-likelihood layer over their errors (tail probability against the
               series' own history), Bayesian online change points of the level (through
               the same history), spatial novelty, and a refractory period after an alarm:
               the score spikes at onset and falls back. Events (--events) still come from
               all the detectors below, held for as long as each condition lasts.
Single detectors (their events with --events; `auto` runs them all for events):
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
  unusual      The onset likelihood above as an event: it opens at far stronger evidence
               (p <= 1e-8) and lasts while the value stays at least half as far from the
               hourly baseline as when it began. `serve` runs it on every numeric field of
               kinds (and fields) the table of kinds does not know.
Single-detector scores are in [0, 1]; 0.5 is where an event opens. Learned detectors stay at 0 for the
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

NAB (--nab DIR --output OUT): scores every CSV under DIR/data (default detector: the onset
likelihood), writes NAB results (OUT/<category>/<prefix><file>: timestamp,value,anomaly_score)
and prints the NAB v1.1 scores of the standard, reward-low-FP and reward-low-FN profiles
(DIR/labels/combined_windows.json, DIR/config/profiles.json; one threshold for the corpus);
--scorer nab_score.py cross-checks them with that Python scorer.

Examples:
  fieldline detect --input nab/realKnownCause/machine_temperature_system_failure.csv --output scores.csv
  fieldline detect --nab ../shared/data/nab-dev --output nab-results --report nab.json
  fieldline detect --input series.csv --time-col time --value-col soil_vwc_pct --detector stuck --output s.csv
  fieldline simulate --out sim --days 104 --seed 7 && fieldline detect --data sim --report report.json";

/// `fieldline detect`
#[derive(Debug, Clone, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct DetectArgs {
    /// Series to score: a CSV file with a header row (NAB format: timestamp,value).
    #[arg(long, value_name = "FILE", required_unless_present_any = ["data", "nab"], requires = "output")]
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
    /// Where to write `timestamp,value,anomaly_score` (one row per input row, in order); with
    /// --nab, the directory of the NAB results.
    #[arg(long, value_name = "FILE|DIR")]
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
    /// Write the evaluation (--data or --nab) as JSON.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Score a NAB corpus (DIR/data, DIR/labels, DIR/config) and print its NAB scores.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["input", "data"], requires = "output")]
    pub nab: Option<PathBuf>,
    /// File name prefix of the NAB results (NAB's convention: `<detector>_`).
    #[arg(long, default_value = "fieldline_", requires = "nab")]
    pub prefix: String,
    /// Also score the results with this NAB scorer script (run by python3), as a cross-check.
    #[arg(long, value_name = "FILE", requires = "nab")]
    pub scorer: Option<PathBuf>,
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
    match (&args.input, &args.data, &args.nab) {
        (Some(input), _, _) => {
            let Some(output) = &args.output else { bail!("--input needs --output") };
            if args.report.is_some() {
                bail!("--report goes with --data or --nab");
            }
            score_csv::score_file(&args, input, output)
        }
        (None, Some(dir), _) => evaluate::evaluate(&args, dir),
        (None, None, Some(dir)) => {
            let Some(output) = &args.output else { bail!("--nab needs --output DIR") };
            nab::run_nab(&args, dir, output)
        }
        (None, None, None) => {
            bail!("give --input FILE --output FILE, --data DIR or --nab DIR --output DIR (see --help)")
        }
    }
}

/// A cell as a number (both modes): empty, NA, NaN, null and text are missing (NaN).
pub(super) fn parse_value(text: &str) -> (f64, bool) {
    let t = text.trim();
    if t.is_empty() || ["na", "nan", "null", "none"].iter().any(|m| t.eq_ignore_ascii_case(m)) {
        return (f64::NAN, true);
    }
    match t.parse::<f64>() {
        Ok(v) => (v, true),
        Err(_) => (f64::NAN, false),
    }
}

pub(super) fn column_index(headers: &csv::StringRecord, name: &str, path: &Path) -> anyhow::Result<usize> {
    headers.iter().position(|h| h.trim() == name).with_context(|| {
        let available: Vec<&str> = headers.iter().collect();
        format!("{}: no column {name:?} (columns: {})", path.display(), available.join(", "))
    })
}

/// Writes `report` as pretty JSON to `path` (`--report`).
fn write_report(path: &std::path::Path, report: &impl serde::Serialize) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::io::Write as _;
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut out, report)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_missing_cells() {
        assert_eq!(parse_value(" 1.5 "), (1.5, true));
        assert!(parse_value("").0.is_nan() && parse_value("NA").1);
        let (v, readable) = parse_value("abc");
        assert!(v.is_nan() && !readable);
    }
}
