//! `fieldline forecast …`: the analyst's commands around power forecasting.
//!
//! `fieldline forecast backtest` reads a CSV time series, hands it to
//! [`fieldline_analytics::forecast::backtest::run`] and writes the JSON report. The CSV has a
//! header row, one time column (RFC 3339 or epoch numbers; naive times and dates are read in
//! `--tz`; see [`fieldline_core::time::parse_data_time`]) and numeric columns (empty, `NA`,
//! `NaN` and `null` cells are missing values). With `--features auto` every numeric column other
//! than the time, the target, `--measured` and `--curtailed` columns is taken as a weather
//! forecast valid at its row's time and used at every lead; columns in `--measured` are used
//! only up to each issue time; a non-numeric column is skipped with a note (or is an error when
//! named). `--tz` is also the plant's local time for days and the issue hour.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use fieldline_analytics::forecast::PlantKind;
use fieldline_analytics::forecast::backtest::{self, BacktestOptions, Report};
use fieldline_analytics::forecast::model::ModelOptions;
use fieldline_analytics::forecast::scoring::{RuleSet, ScoringRules};
use fieldline_analytics::forecast::series::{Column, FeatureSelection, Location, SeriesOptions, Table};
use fieldline_core::time::{EpochNumbers, parse_data_time};
use time::UtcOffset;

/// `fieldline forecast`: power forecasting tools.
#[derive(clap::Args, Debug)]
pub struct ForecastArgs {
    #[command(subcommand)]
    pub command: ForecastCommand,
}

/// The forecast subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ForecastCommand {
    /// Train on the first part of a CSV series, walk forward through the rest issuing
    /// ultra-short (0–4 h) and day-ahead forecasts, and score them against persistence.
    Backtest(BacktestArgs),
}

/// Plant kind on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum KindArg {
    Wind,
    Pv,
}

/// Assessment rule set on the command line.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum RuleSetArg {
    /// Error divided by capacity (Shandong and northern grids).
    Capacity,
    /// Error divided by max(measured, 0.2·capacity) (southern grid).
    Southern,
}

/// Options of `fieldline forecast backtest`.
#[derive(clap::Args, Debug)]
pub struct BacktestArgs {
    /// CSV file with a header row.
    #[arg(long)]
    pub input: PathBuf,
    /// Plant kind (PV adds clear-sky features when --lat/--lon are given).
    #[arg(long, value_enum)]
    pub kind: KindArg,
    /// Operating capacity, in the target column's units.
    #[arg(long)]
    pub capacity: f64,
    /// Power column to forecast.
    #[arg(long)]
    pub target: String,
    /// Time column (RFC 3339; naive times and dates are read in --tz; epoch s/ms/µs/ns).
    #[arg(long, default_value = "timestamp")]
    pub time_col: String,
    /// Weather-forecast columns: `auto` or a comma-separated list.
    #[arg(long, default_value = "auto")]
    pub features: String,
    /// Measured columns, usable only up to each issue time (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub measured: Vec<String>,
    /// Column that is non-zero where output was curtailed (left out of training and scoring).
    #[arg(long)]
    pub curtailed: Option<String>,
    /// Site latitude, degrees north.
    #[arg(long, requires = "lon", allow_hyphen_values = true)]
    pub lat: Option<f64>,
    /// Site longitude, degrees east.
    #[arg(long, requires = "lat", allow_hyphen_values = true)]
    pub lon: Option<f64>,
    /// Site altitude, metres.
    #[arg(long, default_value_t = 0.0)]
    pub altitude: f64,
    /// Plant local time as a UTC offset, e.g. +08:00.
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true)]
    pub tz: String,
    /// Share of the series (the newest) walked forward and scored.
    #[arg(long, default_value_t = 0.2)]
    pub test_fraction: f64,
    /// Local hour the day-ahead forecast is issued.
    #[arg(long, default_value_t = 8)]
    pub issue_hour: u32,
    /// Runs of near-zero output at least this long are downtime.
    #[arg(long, default_value_t = 24.0)]
    pub downtime_hours: f64,
    /// A point is qualified when 1 − |error|/normaliser reaches this.
    #[arg(long, default_value_t = 0.75)]
    pub qualified_threshold: f64,
    /// Assessment rule set.
    #[arg(long, value_enum, default_value = "capacity")]
    pub rule_set: RuleSetArg,
    /// Training threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Where to write the JSON report.
    #[arg(long)]
    pub output: PathBuf,
}

/// Runs a `fieldline forecast` subcommand.
pub fn run(args: ForecastArgs) -> anyhow::Result<()> {
    match args.command {
        ForecastCommand::Backtest(args) => run_backtest(&args),
    }
}

fn run_backtest(args: &BacktestArgs) -> anyhow::Result<()> {
    let offset = parse_offset(&args.tz)?;
    let features = match args.features.trim() {
        "auto" => FeatureSelection::Auto,
        list => {
            FeatureSelection::Named(list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        }
    };
    let mut named: Vec<&str> = vec![args.target.as_str()];
    named.extend(args.measured.iter().map(String::as_str));
    named.extend(args.curtailed.as_deref());
    if let FeatureSelection::Named(list) = &features {
        named.extend(list.iter().map(String::as_str));
    }
    let (table, skipped) = read_csv(&args.input, &args.time_col, offset, &named)?;
    let options = BacktestOptions {
        series: SeriesOptions {
            kind: match args.kind {
                KindArg::Wind => PlantKind::Wind,
                KindArg::Pv => PlantKind::Pv,
            },
            capacity: args.capacity,
            target: args.target.clone(),
            features,
            measured: args.measured.clone(),
            curtailed: args.curtailed.clone(),
            location: args.lat.zip(args.lon).map(|(lat, lon)| Location { lat, lon, altitude_m: args.altitude }),
            utc_offset_seconds: offset.whole_seconds(),
            downtime_hours: args.downtime_hours,
        },
        model: ModelOptions { issue_hour: args.issue_hour, threads: args.threads, ..ModelOptions::default() },
        test_fraction: args.test_fraction,
        scoring: ScoringRules {
            rule_set: match args.rule_set {
                RuleSetArg::Capacity => RuleSet::Capacity,
                RuleSetArg::Southern => RuleSet::Southern,
            },
            qualified_threshold: args.qualified_threshold,
            ..ScoringRules::default()
        },
    };
    let mut report =
        backtest::run(&table, &options).with_context(|| format!("backtest of {}", args.input.display()))?;
    report.notes.extend(skipped);
    let json = serde_json::to_string_pretty(&report)?;
    std::fs::write(&args.output, json + "\n").with_context(|| format!("writing {}", args.output.display()))?;
    print_summary(&report);
    Ok(())
}

fn print_summary(r: &Report) {
    let us = &r.ultra_short;
    let da = &r.day_ahead;
    println!("{} slots of {} s ({} trained, {} tested)", r.n_points, r.step_seconds, r.train_slots, r.test_slots);
    println!(
        "ultra-short: accuracy 1 h {:.4} (persistence {:.4}), 4 h {:.4} (persistence {:.4}), qualified 4 h {:.4}",
        us.accuracy_1h, us.persistence_accuracy_1h, us.accuracy_4h, us.persistence_accuracy_4h, us.qualified_rate_4h
    );
    println!(
        "day-ahead:   accuracy {:.4} (persistence {:.4}), qualified {:.4}, P10–P90 coverage {:.3}",
        da.accuracy, da.persistence_accuracy, da.qualified_rate, da.p10_p90_coverage
    );
    println!(
        "time: prepare {:.0} ms, train {:.0} ms, walk forward {:.0} ms",
        r.timing.prepare_ms, r.timing.train_ms, r.timing.walk_forward_ms
    );
}

fn parse_offset(text: &str) -> anyhow::Result<UtcOffset> {
    fieldline_core::time::parse_offset(text.trim())
        .with_context(|| format!("--tz {text:?} is not an offset like +08:00"))
}

fn parse_number(text: &[u8]) -> Result<f64, ()> {
    let t = std::str::from_utf8(text).map_err(|_| ())?.trim();
    if t.is_empty() || ["na", "nan", "null", "none"].iter().any(|m| t.eq_ignore_ascii_case(m)) {
        return Ok(f64::NAN);
    }
    t.parse::<f64>().map_err(|_| ())
}

/// Reads the CSV into a table; returns notes about skipped non-numeric columns.
fn read_csv(
    path: &std::path::Path,
    time_col: &str,
    offset: UtcOffset,
    named: &[&str],
) -> anyhow::Result<(Table, Vec<String>)> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let headers: Vec<String> = reader.headers()?.iter().map(|h| h.trim().to_string()).collect();
    let Some(time_index) = headers.iter().position(|h| h == time_col) else {
        bail!("{}: no time column {time_col:?} (columns: {})", path.display(), headers.join(", "));
    };
    for name in named {
        if !headers.iter().any(|h| h == name) {
            bail!("{}: no column {name:?} (columns: {})", path.display(), headers.join(", "));
        }
    }
    let mut times = Vec::new();
    let mut values: Vec<Vec<f64>> = vec![Vec::new(); headers.len()];
    let mut bad: Vec<Option<(usize, String)>> = vec![None; headers.len()];
    let mut record = csv::ByteRecord::new();
    let mut row = 0usize;
    while reader
        .read_byte_record(&mut record)
        .with_context(|| format!("{}: reading row {}", path.display(), row + 2))?
    {
        row += 1;
        let line = row + 1;
        let time_text = String::from_utf8_lossy(record.get(time_index).unwrap_or_default()).into_owned();
        let Some(t) = parse_data_time(&time_text, offset, EpochNumbers::BySize) else {
            bail!(
                "{}: line {line}: {time_text:?} is not an RFC 3339, YYYY-MM-DD HH:MM:SS or epoch time",
                path.display()
            );
        };
        times.push(t);
        for (c, column) in values.iter_mut().enumerate() {
            if c == time_index {
                continue;
            }
            let cell = record.get(c).unwrap_or_default();
            match parse_number(cell) {
                Ok(v) => column.push(v),
                Err(()) => {
                    if bad[c].is_none() {
                        bad[c] = Some((line, String::from_utf8_lossy(cell).into_owned()));
                    }
                    column.push(f64::NAN);
                }
            }
        }
    }
    let mut notes = Vec::new();
    let mut columns = Vec::new();
    for (c, (name, column)) in headers.iter().zip(values).enumerate() {
        if c == time_index {
            continue;
        }
        if let Some((line, cell)) = &bad[c] {
            if named.contains(&name.as_str()) {
                bail!("{}: line {line}: column {name:?} holds {cell:?}, not a number", path.display());
            }
            notes.push(format!("column {name} is not numeric (line {line}: {cell:?}): not used"));
            continue;
        }
        columns.push(Column { name: name.clone(), values: column });
    }
    Ok((Table { times, columns }, notes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("-03:30").unwrap().whole_seconds(), -(3 * 3600 + 1800));
        assert!(parse_offset("Asia/Shanghai").is_err());
    }

    #[test]
    fn csv_reading_handles_missing_cells_and_text_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, "timestamp,p,note,w\n2024-05-01T00:00:00Z,1.5,ok,\n2024-05-01T01:00:00Z,NA,bad,2\n")
            .unwrap();
        let (table, notes) = read_csv(&path, "timestamp", UtcOffset::UTC, &["p"]).unwrap();
        assert_eq!(table.times, vec![1_714_521_600, 1_714_525_200]);
        assert_eq!(table.columns.len(), 2);
        assert_eq!(table.columns[0].values[0], 1.5);
        assert!(table.columns[0].values[1].is_nan());
        assert!(table.columns[1].values[0].is_nan());
        assert!(notes[0].contains("note"));
        assert!(read_csv(&path, "timestamp", UtcOffset::UTC, &["note"]).is_err());
        assert!(read_csv(&path, "time", UtcOffset::UTC, &["p"]).is_err());
        std::fs::write(&path, "timestamp,p\nnot-a-time,1\n").unwrap();
        assert!(read_csv(&path, "timestamp", UtcOffset::UTC, &["p"]).is_err());
        // Naive times are read in --tz.
        let plus8 = UtcOffset::from_hms(8, 0, 0).unwrap();
        std::fs::write(&path, "timestamp,p\n2024-05-01 08:00:00,1\n2024-05-01T09:00,2\n").unwrap();
        let (naive, _) = read_csv(&path, "timestamp", plus8, &["p"]).unwrap();
        assert_eq!(naive.times, vec![1_714_521_600, 1_714_525_200]);
    }
}
