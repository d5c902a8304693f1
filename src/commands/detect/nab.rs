//! NAB mode (`--nab DIR`): every CSV under `DIR/data` scored by the onset detector (or the
//! `--detector` chosen), written in NAB's results layout (`OUT/<category>/<prefix><file>`,
//! columns `timestamp,value,anomaly_score`), then scored by a port of NAB v1.1's scorer
//! (`nab/sweeper.py`, `nab/optimizer.py`, `nab/runner.py::normalize`, as in the shared
//! `nab_score.py`): per-row weights from the labelled windows (scaled sigmoid of the
//! position in the window, FP cost fading after a window, the first 15 % of each file —
//! at most 750 rows — not scored), one threshold for the whole corpus per profile chosen to
//! maximise the raw score, normalised between the null detector (0) and a perfect one (100).
//! `--scorer nab_score.py` also runs the Python original on the same files as a cross-check.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use fieldline_analytics::anomaly::DetectorName;
use fieldline_analytics::anomaly::SeriesDetector;
use fieldline_analytics::anomaly::generic::SeriesConfig;
use fieldline_analytics::anomaly::onset::{OnsetConfig, OnsetDetector};
use fieldline_core::time::{EpochNumbers, parse_data_time};
use serde::{Deserialize, Serialize};
use time::UtcOffset;

use super::{DetectArgs, column_index, parse_value};

/// The per-series scorer behind `--detector`: the onset detector for `auto`, else one
/// generic detector.
pub(super) enum Scorer {
    Onset(Box<OnsetDetector>),
    Single(Box<SeriesDetector>),
}

impl Scorer {
    pub(super) fn new(name: DetectorName, field: &str) -> anyhow::Result<Self> {
        Ok(match name {
            DetectorName::Auto => Scorer::Onset(Box::new(OnsetDetector::new(OnsetConfig::default())?)),
            single => Scorer::Single(Box::new(SeriesDetector::new(field, SeriesConfig::only(single))?)),
        })
    }

    pub(super) fn update(&mut self, t: i64, value: f64) -> f64 {
        match self {
            Scorer::Onset(d) => d.update(t, value),
            Scorer::Single(d) => {
                let score = d.update(t, value);
                d.drain_events();
                score
            }
        }
    }
}

/// A NAB cost matrix (`config/profiles.json`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct CostMatrix {
    tp_weight: f64,
    fn_weight: f64,
    fp_weight: f64,
}

#[derive(Debug, Deserialize)]
struct Profile {
    #[serde(rename = "CostMatrix")]
    cost_matrix: CostMatrix,
}

/// One profile's result, as `nab_score.py` prints it.
#[derive(Debug, Clone, Serialize)]
struct ProfileScore {
    threshold: f64,
    raw_score: f64,
    normalized: f64,
    tp_points: u64,
    fp_points: u64,
}

/// One scored series.
#[derive(Debug, Clone, Serialize)]
struct FileReport {
    file: String,
    rows: usize,
    windows: usize,
    /// Windows with a detection at the standard profile's threshold (after probation).
    windows_detected: usize,
    /// Rows flagged outside any window at that threshold (after probation).
    false_positive_rows: usize,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct NabReport {
    detector: &'static str,
    data: String,
    results: String,
    prefix: String,
    rows: usize,
    seconds: f64,
    profiles: BTreeMap<String, ProfileScore>,
    files: Vec<FileReport>,
    /// The Python scorer's output on the same files, when `--scorer` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    python_scorer: Option<serde_json::Value>,
}

/// One series as the scorer needs it.
struct Series {
    rel: String,
    times: Vec<i64>,
    scores: Vec<f64>,
}

pub(super) fn run_nab(args: &DetectArgs, dir: &Path, out_dir: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let data_dir = dir.join("data");
    let mut files = Vec::new();
    collect_csv(&data_dir, &mut files)?;
    files.sort();
    if files.is_empty() {
        bail!("no CSV files under {}", data_dir.display());
    }
    let bar = crate::commands::progress(files.len() as u64, "scoring");
    let mut series = Vec::with_capacity(files.len());
    let mut timings = HashMap::new();
    let mut rows = 0usize;
    for path in &files {
        let rel = path.strip_prefix(&data_dir).unwrap_or(path).to_string_lossy().replace('\\', "/");
        bar.set_message(rel.rsplit('/').next().unwrap_or(&rel).to_string());
        let file_started = Instant::now();
        let scored = score_series(args, path, &rel, out_dir)?;
        timings.insert(rel.clone(), file_started.elapsed().as_secs_f64());
        rows += scored.times.len();
        series.push(scored);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let scoring_s = started.elapsed().as_secs_f64();
    eprintln!(
        "scored {} series, {rows} rows with `{}` in {scoring_s:.2} s ({:.2} M rows/s); results in {}",
        series.len(),
        detector_label(args.detector),
        rows as f64 / scoring_s.max(1e-9) / 1e6,
        out_dir.display()
    );

    let (profiles, files) = score_corpus(dir, &series, &timings)?;
    let python = match &args.scorer {
        Some(script) => Some(run_python_scorer(script, dir, out_dir, &args.prefix)?),
        None => None,
    };
    print_summary(&profiles, &files, python.as_ref());
    if let Some(path) = &args.report {
        let report = NabReport {
            detector: detector_label(args.detector),
            data: dir.display().to_string(),
            results: out_dir.display().to_string(),
            prefix: args.prefix.clone(),
            rows,
            seconds: scoring_s,
            profiles,
            files,
            python_scorer: python,
        };
        super::write_report(path, &report)?;
    }
    Ok(())
}

fn detector_label(name: DetectorName) -> &'static str {
    match name {
        DetectorName::Auto => "onset",
        other => other.name(),
    }
}

fn collect_csv(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect_csv(&path, out)?;
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            out.push(path);
        }
    }
    Ok(())
}

/// Scores one series and writes `OUT/<dir of rel>/<prefix><file name>`.
fn score_series(args: &DetectArgs, path: &Path, rel: &str, out_dir: &Path) -> anyhow::Result<Series> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let headers = reader.headers().with_context(|| format!("reading the header of {}", path.display()))?.clone();
    let time_col = column_index(&headers, &args.time_col, path)?;
    let value_col = column_index(&headers, &args.value_col, path)?;
    let (sub, name) = match rel.rsplit_once('/') {
        Some((sub, name)) => (out_dir.join(sub), name),
        None => (out_dir.to_path_buf(), rel),
    };
    std::fs::create_dir_all(&sub).with_context(|| format!("creating {}", sub.display()))?;
    let out_path = sub.join(format!("{}{name}", args.prefix));
    let file = File::create(&out_path).with_context(|| format!("creating {}", out_path.display()))?;
    let mut writer = csv::Writer::from_writer(BufWriter::new(file));
    writer.write_record(["timestamp", "value", "anomaly_score"])?;

    let mut scorer = Scorer::new(args.detector, &args.value_col)?;
    let (mut times, mut scores) = (Vec::new(), Vec::new());
    let mut text = String::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{} line {}", path.display(), i + 2))?;
        let time_text = record.get(time_col).unwrap_or("");
        let Some(t) = parse_data_time(time_text, UtcOffset::UTC, EpochNumbers::BySize) else {
            bail!("{} line {}: cannot read the time {time_text:?}", path.display(), i + 2);
        };
        let value_text = record.get(value_col).unwrap_or("");
        let score = scorer.update(t, parse_value(value_text).0);
        text.clear();
        let _ = write!(text, "{score:.6}");
        writer.write_record([time_text, value_text, text.as_str()])?;
        times.push(t);
        // Score what was written, as the Python scorer reads it back.
        scores.push(text.parse::<f64>().unwrap_or(score));
    }
    writer.flush().with_context(|| format!("writing {}", out_path.display()))?;
    Ok(Series { rel: rel.to_string(), times, scores })
}

/// NAB's scaled sigmoid: ~1 well before the end of a window, -1 long after one.
fn scaled_sigmoid(x: f64) -> f64 {
    if x > 3.0 { -1.0 } else { 2.0 / (1.0 + (5.0 * x).exp()) - 1.0 }
}

/// Rows at the start of a file that NAB does not score.
fn probation_rows(n: usize) -> f64 {
    (0.15 * n as f64).floor().min(0.15 * 5000.0)
}

/// Where a row stands for the sweep.
#[derive(Clone, Copy, PartialEq)]
enum Label {
    Probation,
    Outside,
    Window(usize),
}

/// One scored row: (anomaly score, weight, label), as `nab_score.py::sweep_points`.
fn sweep_points(
    s: &Series,
    windows: &[(usize, usize)],
    first_window: usize,
    cm: &CostMatrix,
) -> Vec<(f64, f64, Label)> {
    let max_tp = scaled_sigmoid(-1.0);
    let probation = probation_rows(s.scores.len());
    let mut out = Vec::with_capacity(s.scores.len());
    let mut next = 0usize;
    let mut current: Option<(usize, usize, usize)> = None;
    let mut previous: Option<(usize, f64)> = None;
    for (i, &score) in s.scores.iter().enumerate() {
        if current.is_none()
            && let Some(&(left, right)) = windows.get(next)
            && i == left
        {
            current = Some((left, right, first_window + next));
            next += 1;
        }
        let (weight, label) = match current {
            Some((left, right, id)) => {
                let width = (right - left + 1) as f64;
                let position = -((right as f64) - i as f64 + 1.0) / width;
                (scaled_sigmoid(position) * cm.tp_weight / max_tp, Label::Window(id))
            }
            None => {
                let u = match previous {
                    None => -1.0,
                    Some((right, width)) => scaled_sigmoid((right as f64 - i as f64).abs() / (width - 1.0)),
                };
                (u * cm.fp_weight, Label::Outside)
            }
        };
        out.push((score, weight, if (i as f64) >= probation { label } else { Label::Probation }));
        if let Some((left, right, _)) = current
            && i == right
        {
            previous = Some((i, (right - left + 1) as f64));
            current = None;
        }
    }
    out
}

/// The best raw score over all thresholds, as `nab_score.py::score_by_threshold` + `max`.
fn best_threshold(points: &mut [(f64, f64, Label)], n_windows: usize, cm: &CostMatrix) -> ProfileScore {
    let mut parts: Vec<Option<f64>> = vec![None; n_windows];
    for &(_, _, label) in points.iter() {
        if let Label::Window(id) = label
            && let Some(part) = parts.get_mut(id)
        {
            *part = Some(-cm.fn_weight);
        }
    }
    points.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut total: f64 = parts.iter().flatten().sum();
    let (mut threshold, mut tp, mut fp) = (1.1, 0u64, 0u64);
    let mut best = (total, threshold, tp, fp);
    for &(score, weight, label) in points.iter() {
        if label == Label::Probation {
            continue;
        }
        if score != threshold {
            if total > best.0 {
                best = (total, threshold, tp, fp);
            }
            threshold = score;
        }
        match label {
            Label::Window(id) => {
                tp += 1;
                if let Some(Some(part)) = parts.get_mut(id)
                    && weight > *part
                {
                    total += weight - *part;
                    *part = weight;
                }
            }
            _ => {
                fp += 1;
                total += weight;
            }
        }
    }
    if total > best.0 {
        best = (total, threshold, tp, fp);
    }
    let null = -(n_windows as f64) * cm.fn_weight;
    let perfect = n_windows as f64 * cm.tp_weight;
    ProfileScore {
        threshold: best.1,
        raw_score: best.0,
        normalized: 100.0 * (best.0 - null) / (perfect - null),
        tp_points: best.2,
        fp_points: best.3,
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn score_corpus(
    dir: &Path,
    series: &[Series],
    timings: &HashMap<String, f64>,
) -> anyhow::Result<(BTreeMap<String, ProfileScore>, Vec<FileReport>)> {
    let labels: BTreeMap<String, Vec<(String, String)>> = read_json(&dir.join("labels").join("combined_windows.json"))?;
    let profiles: BTreeMap<String, Profile> = read_json(&dir.join("config").join("profiles.json"))?;
    let by_rel: HashMap<&str, &Series> = series.iter().map(|s| (s.rel.as_str(), s)).collect();

    // Windows as row ranges (a timestamp seen twice maps to its last row, as in NAB).
    let mut scored = Vec::new();
    let mut n_windows = 0usize;
    for (rel, windows) in &labels {
        let Some(s) = by_rel.get(rel.as_str()) else { bail!("{rel} is labelled but has no results") };
        let index: HashMap<i64, usize> = s.times.iter().enumerate().map(|(i, &t)| (t, i)).collect();
        let row = |text: &str| -> anyhow::Result<usize> {
            let t = parse_data_time(text, UtcOffset::UTC, EpochNumbers::BySize)
                .with_context(|| format!("{rel}: cannot read the window time {text:?}"))?;
            index.get(&t).copied().with_context(|| format!("{rel}: window time {text} is not a row"))
        };
        let rows: Vec<(usize, usize)> =
            windows.iter().map(|(a, b)| Ok((row(a)?, row(b)?))).collect::<anyhow::Result<_>>()?;
        scored.push((*s, rows, n_windows));
        n_windows += windows.len();
    }

    let mut results = BTreeMap::new();
    for (name, profile) in &profiles {
        let cm = &profile.cost_matrix;
        let mut points = Vec::new();
        for (s, rows, first) in &scored {
            points.extend(sweep_points(s, rows, *first, cm));
        }
        results.insert(name.clone(), best_threshold(&mut points, n_windows, cm));
    }

    // Per file, at the standard profile's threshold.
    let threshold = results.get("standard").or_else(|| results.values().next()).map_or(1.1, |p| p.threshold);
    let unit = CostMatrix { tp_weight: 1.0, fn_weight: 1.0, fp_weight: 1.0 };
    let mut files = Vec::new();
    for (s, rows, first) in &scored {
        let mut detected = vec![false; rows.len()];
        let mut false_positive_rows = 0;
        for (score, _, label) in sweep_points(s, rows, *first, &unit) {
            if score < threshold {
                continue;
            }
            match label {
                Label::Window(id) => {
                    if let Some(d) = detected.get_mut(id - first) {
                        *d = true;
                    }
                }
                Label::Outside => false_positive_rows += 1,
                Label::Probation => {}
            }
        }
        files.push(FileReport {
            file: s.rel.clone(),
            rows: s.scores.len(),
            windows: rows.len(),
            windows_detected: detected.iter().filter(|&&d| d).count(),
            false_positive_rows,
            seconds: timings.get(&s.rel).copied().unwrap_or(0.0),
        });
    }
    Ok((results, files))
}

fn run_python_scorer(script: &Path, dir: &Path, out_dir: &Path, prefix: &str) -> anyhow::Result<serde_json::Value> {
    let output = Command::new("python3")
        .arg(script)
        .arg("--nab")
        .arg(dir)
        .arg("--det-dir")
        .arg(out_dir)
        .arg("--prefix")
        .arg(prefix)
        .output()
        .with_context(|| format!("running python3 {}", script.display()))?;
    if !output.status.success() {
        bail!("{} failed: {}", script.display(), String::from_utf8_lossy(&output.stderr).trim());
    }
    serde_json::from_slice(&output.stdout).with_context(|| format!("reading the output of {}", script.display()))
}

fn print_summary(profiles: &BTreeMap<String, ProfileScore>, files: &[FileReport], python: Option<&serde_json::Value>) {
    println!("{:<58} {:>6} {:>8} {:>9}", "series", "rows", "windows", "FP rows");
    for f in files {
        println!(
            "{:<58} {:>6} {:>4}/{:<3} {:>9}",
            f.file, f.rows, f.windows_detected, f.windows, f.false_positive_rows
        );
    }
    println!("(windows detected and false-positive rows at the standard profile's threshold)");
    println!();
    println!(
        "| profile | NAB score | threshold | TP rows | FP rows |{}",
        if python.is_some() { " nab_score.py |" } else { "" }
    );
    println!("|---|---|---|---|---|{}", if python.is_some() { "---|" } else { "" });
    for name in ["standard", "reward_low_FP_rate", "reward_low_FN_rate"]
        .into_iter()
        .map(String::from)
        .chain(profiles.keys().filter(|k| !k.starts_with("reward_low_F") && *k != "standard").cloned())
    {
        let Some(p) = profiles.get(&name) else { continue };
        let check = python
            .and_then(|v| v.get(&name))
            .and_then(|v| v.get("normalized"))
            .and_then(|v| v.as_f64())
            .map(|x| format!(" {x:.1} |"))
            .unwrap_or_default();
        println!("| {name} | {:.1} | {:.6} | {} | {} |{check}", p.normalized, p.threshold, p.tp_points, p.fp_points);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(scores: Vec<f64>) -> Series {
        Series { rel: "a/b.csv".into(), times: (0..scores.len() as i64).collect(), scores }
    }

    #[test]
    fn sweep_and_threshold_follow_nab() {
        let cm = CostMatrix { tp_weight: 1.0, fn_weight: 1.0, fp_weight: 0.11 };
        // 100 rows: probation 15; one window 50..=59; a detection at its first row scores ~1.
        let mut scores = vec![0.0; 100];
        scores[50] = 0.9;
        let s = series(scores.clone());
        let mut points = sweep_points(&s, &[(50, 59)], 0, &cm);
        let best = best_threshold(&mut points, 1, &cm);
        assert_eq!(best.threshold, 0.9);
        assert!((best.normalized - 100.0 * (1.0 + 1.0) / 2.0).abs() < 0.5, "{best:?}");
        // One false positive before the window costs its full fpWeight.
        scores[30] = 0.95;
        let s = series(scores);
        let mut points = sweep_points(&s, &[(50, 59)], 0, &cm);
        let best = best_threshold(&mut points, 1, &cm);
        assert!((best.raw_score - (1.0 - 0.11)).abs() < 0.02, "{best:?}");
        // Detections in the probation period are free and never count.
        let mut early = vec![0.0; 100];
        early[3] = 1.0;
        let s = series(early);
        let mut points = sweep_points(&s, &[(50, 59)], 0, &cm);
        assert_eq!(best_threshold(&mut points, 1, &cm).normalized, 0.0);
    }
}
