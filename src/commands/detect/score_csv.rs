//! Scoring mode (`--input`): one CSV series streamed through the scorer `--detector` names
//! (`auto`: [`fieldline_analytics::anomaly::onset::OnsetDetector`], the onset likelihood;
//! else one detector of [`SeriesDetector`]), one score per input row written in input
//! order, each computed from that row and the rows before it only; the events come from
//! [`SeriesDetector`] (all its detectors for `auto`), which holds each condition's state.
//! Times are read by [`parse_data_time`] (naive = UTC, epoch units by size).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, bail};
use fieldline_analytics::anomaly::generic::SeriesConfig;
use fieldline_analytics::anomaly::{DetectorName, EventChange, SeriesDetector};
use fieldline_core::time::{EpochNumbers, parse_data_time};
use time::UtcOffset;

use super::nab::Scorer;
use super::{DetectArgs, column_index, parse_value};

pub(super) fn score_file(args: &DetectArgs, input: &Path, output: &Path) -> anyhow::Result<()> {
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
    // `auto` scores the onset likelihood; a single detector scores itself.
    let mut onset = match args.detector {
        DetectorName::Auto => Some(Scorer::new(args.detector, &args.value_col)?),
        _ => None,
    };

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
        let Some(t) = parse_data_time(time_text, UtcOffset::UTC, EpochNumbers::BySize) else {
            bail!("{} line {line}: cannot read the time {time_text:?} (see --help for formats)", input.display());
        };
        let value_text = record.get(value_col).unwrap_or("");
        let (value, readable) = parse_value(value_text);
        missing += u64::from(value.is_nan());
        unreadable += u64::from(!readable);
        let single = detector.update(t, value);
        let score = onset.as_mut().map_or(single, |o| o.update(t, value));
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
        if onset.is_some() { "auto (onset likelihood)" } else { args.detector.name() },
        started.elapsed().as_secs_f64(),
        if summary.is_empty() { "none".to_string() } else { summary.join(", ") }
    );
    Ok(())
}
