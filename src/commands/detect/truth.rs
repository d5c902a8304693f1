//! The simulator's ground truth (`ground_truth.jsonl`: one fault per line, `kind, device,
//! field, start, end`), read into events, and which of them the data can show at all.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::Context;
use fieldline_core::time::{EpochNumbers, parse_data_time};
use serde::Deserialize;
use time::UtcOffset;

use super::sim_data::KindData;

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
pub(super) struct TruthEvent {
    pub(super) kind: String,
    pub(super) device: String,
    pub(super) field: String,
    pub(super) start_s: i64,
    pub(super) end_s: i64,
    /// False for an event the data cannot show (see [`mark_unobservable`]).
    pub(super) observable: bool,
}

pub(super) fn read_truth(path: &Path) -> anyhow::Result<Vec<TruthEvent>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: TruthRecord =
            serde_json::from_str(&line).with_context(|| format!("{} line {}", path.display(), i + 1))?;
        let time = |s: &str| data_time(s).with_context(|| format!("{} line {}: bad time {s:?}", path.display(), i + 1));
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

/// A ground-truth time: RFC 3339 as the simulator writes it (naive = UTC).
fn data_time(text: &str) -> Option<i64> {
    parse_data_time(text, UtcOffset::UTC, EpochNumbers::BySize)
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
pub(super) fn mark_unobservable(truth: &mut [TruthEvent], kinds: &[KindData]) {
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
