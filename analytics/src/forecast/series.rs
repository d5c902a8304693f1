//! From an input table to a regular slot grid the forecasters work on.
//!
//! Rules, in order:
//! - rows are sorted by time; of rows with the same timestamp the last one wins;
//! - the data cadence is the most common spacing between rows;
//! - a timestamp labels the *end* of the interval its values describe, and a row is known at its
//!   timestamp (a 15-min mean stamped 10:15 covers 10:00–10:15 and is known at 10:15);
//! - columns whose name ends in `_acc` hold values accumulated since the last 00 UTC forecast
//!   issue (ECMWF style); they become per-second rates `{name}_per_s` (J/m² → W/m²) by
//!   differencing consecutive rows, restarting at 00 UTC or wherever the total drops;
//! - data finer than 15 min is averaged onto 15-min slots by time overlap (a slot with less than
//!   half its time covered is missing); data at 15 min or coarser keeps its own cadence as the
//!   slot. When the cadence does not divide 15 min (e.g. 10-min SCADA) a slot is complete only when
//!   the row that closes it arrives, so measured data is treated as arriving one slot late;
//! - missing rows become NaN slots; runs of near-zero output (≤ 0.5 % of capacity) lasting at
//!   least `downtime_hours` are flagged as downtime and, like rows flagged in the curtailment
//!   column, kept out of training and scoring;
//! - for PV with a location, each slot gets the mean clear-sky GHI over its interval and the sun's
//!   elevation at its middle ([`crate::solar`]).

use serde::{Deserialize, Serialize};

use super::{Error, PlantKind, Result};
use crate::solar;

/// Slot length the grid rules are written for.
pub const QUARTER_HOUR: i64 = 900;

/// One named column of an input table; NaN marks a missing value.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// One value per table row.
    pub values: Vec<f64>,
}

/// An in-memory input table: unix-second timestamps (UTC) and named numeric columns.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// Row timestamps, unix seconds.
    pub times: Vec<i64>,
    /// Columns, each as long as `times`.
    pub columns: Vec<Column>,
}

impl Table {
    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Which columns feed the models as weather forecasts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSelection {
    /// Every column except the target, the curtailment flag and the measured columns.
    #[default]
    Auto,
    /// Exactly these columns.
    Named(Vec<String>),
}

/// Site coordinates for solar geometry.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Latitude, degrees north.
    pub lat: f64,
    /// Longitude, degrees east.
    pub lon: f64,
    /// Altitude above sea level, metres.
    #[serde(default)]
    pub altitude_m: f64,
}

/// How to read a table into a [`Series`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesOptions {
    /// Wind or PV.
    pub kind: PlantKind,
    /// Operating capacity, in the target's units.
    pub capacity: f64,
    /// The power column.
    pub target: String,
    /// Weather-forecast columns (usable at every lead).
    #[serde(default)]
    pub features: FeatureSelection,
    /// Measured columns (usable only up to the issue time).
    #[serde(default)]
    pub measured: Vec<String>,
    /// A column that is non-zero where output was curtailed.
    #[serde(default)]
    pub curtailed: Option<String>,
    /// Site location (PV clear-sky features need it).
    #[serde(default)]
    pub location: Option<Location>,
    /// Local time offset from UTC, seconds (Shandong `28800`).
    #[serde(default)]
    pub utc_offset_seconds: i32,
    /// Near-zero runs at least this long are downtime.
    #[serde(default = "default_downtime_hours")]
    pub downtime_hours: f64,
}

fn default_downtime_hours() -> f64 {
    24.0
}

/// A regular slot grid with target, flags and feature columns.
#[derive(Clone, Debug)]
pub struct Series {
    /// End time of slot 0, unix seconds.
    pub start: i64,
    /// Slot length, seconds.
    pub step: i64,
    /// Cadence of the input rows, seconds.
    pub cadence: i64,
    /// Slots by which measured data lags the issue time (0, or 1 when the cadence does not divide the slot).
    pub delay_slots: usize,
    /// Plant kind.
    pub kind: PlantKind,
    /// Operating capacity.
    pub capacity: f64,
    /// Local offset from UTC, seconds.
    pub utc_offset_seconds: i32,
    /// Power per slot (NaN = missing).
    pub target: Vec<f64>,
    /// Slot left out of training and scoring (downtime or curtailed).
    pub excluded: Vec<bool>,
    /// Weather-forecast columns.
    pub forecasts: Vec<Column>,
    /// Measured columns.
    pub measured: Vec<Column>,
    /// Mean clear-sky GHI over each slot, W/m² (PV with a location).
    pub clear_sky: Option<Vec<f64>>,
    /// Sun elevation at each slot's middle, degrees (PV with a location).
    pub sun_elevation: Option<Vec<f64>>,
    /// What was done to the data, for the report.
    pub notes: Vec<String>,
    /// Slots flagged as downtime.
    pub downtime_slots: usize,
}

impl Series {
    /// Slots held.
    pub fn len(&self) -> usize {
        self.target.len()
    }

    /// Whether the series is empty.
    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }

    /// End time of slot `i`.
    pub fn time(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    /// The slot ending at `t`, if on the grid and in range.
    pub fn index_of(&self, t: i64) -> Option<usize> {
        let offset = t - self.start;
        if offset < 0 || offset % self.step != 0 {
            return None;
        }
        let i = (offset / self.step) as usize;
        (i < self.len()).then_some(i)
    }
}

/// Builds the slot grid from `table` (see the module documentation for the rules).
pub fn prepare(table: &Table, options: &SeriesOptions) -> Result<Series> {
    if !(options.capacity.is_finite() && options.capacity > 0.0) {
        return Err(Error::InvalidInput(format!("capacity must be positive, got {}", options.capacity)));
    }
    for c in &table.columns {
        if c.values.len() != table.times.len() {
            return Err(Error::InvalidInput(format!(
                "column {} has {} values for {} rows",
                c.name,
                c.values.len(),
                table.times.len()
            )));
        }
    }
    let mut notes = Vec::new();
    // Sort (stable) and keep the last row of each timestamp.
    let mut order: Vec<usize> = (0..table.times.len()).collect();
    order.sort_by_key(|&i| table.times[i]);
    let mut rows: Vec<usize> = Vec::with_capacity(order.len());
    for &i in &order {
        match rows.last_mut() {
            Some(last) if table.times[*last] == table.times[i] => *last = i,
            _ => rows.push(i),
        }
    }
    if rows.len() < order.len() {
        notes.push(format!("{} duplicated timestamps: kept the last row of each", order.len() - rows.len()));
    }
    let times: Vec<i64> = rows.iter().map(|&i| table.times[i]).collect();
    let cadence = most_common_spacing(&times)
        .ok_or_else(|| Error::InvalidInput("need at least two rows with distinct timestamps".into()))?;
    let pick = |c: &Column| -> Vec<f64> { rows.iter().map(|&i| c.values[i]).collect() };

    let target_col = table
        .column(&options.target)
        .ok_or_else(|| Error::InvalidInput(format!("target column {:?} not found", options.target)))?;
    let mut measured_names = Vec::new();
    for name in &options.measured {
        if table.column(name).is_none() {
            return Err(Error::InvalidInput(format!("measured column {name:?} not found")));
        }
        if name == &options.target {
            continue;
        }
        measured_names.push(name.clone());
    }
    let forecast_names: Vec<String> = match &options.features {
        FeatureSelection::Auto => table
            .columns
            .iter()
            .map(|c| c.name.clone())
            .filter(|n| n != &options.target && !options.measured.contains(n) && Some(n) != options.curtailed.as_ref())
            .collect(),
        FeatureSelection::Named(names) => {
            for n in names {
                if table.column(n).is_none() {
                    return Err(Error::InvalidInput(format!("feature column {n:?} not found")));
                }
                if n == &options.target {
                    return Err(Error::InvalidInput(format!("the target {n:?} cannot also be a forecast feature")));
                }
            }
            names.iter().filter(|n| !options.measured.contains(n)).cloned().collect()
        }
    };

    // Columns on the input rows, accumulated ones turned into rates.
    let mut raw_forecasts = Vec::new();
    for name in &forecast_names {
        let Some(col) = table.column(name) else {
            continue;
        };
        let values = pick(col);
        if values.iter().all(|v| v.is_nan()) {
            notes.push(format!("column {name} is empty: not used"));
            continue;
        }
        if name.ends_with("_acc") {
            raw_forecasts
                .push(Column { name: format!("{name}_per_s"), values: deaccumulate(&times, &values, cadence) });
            notes.push(format!("column {name} is accumulated since 00 UTC: differenced into {name}_per_s"));
        } else {
            raw_forecasts.push(Column { name: name.clone(), values });
        }
    }
    let raw_measured: Vec<Column> = measured_names
        .iter()
        .filter_map(|n| table.column(n))
        .map(|c| Column { name: c.name.clone(), values: pick(c) })
        .collect();
    let raw_target = pick(target_col);
    let raw_curtailed = match &options.curtailed {
        Some(name) => Some(pick(
            table.column(name).ok_or_else(|| Error::InvalidInput(format!("curtailment column {name:?} not found")))?,
        )),
        None => None,
    };

    let grid = Grid::new(&times, cadence)?;
    if grid.len > 5_000_000 {
        return Err(Error::InvalidInput(format!("{} slots is too many (check the timestamps)", grid.len)));
    }
    if grid.step != cadence {
        notes.push(format!("{cadence}-s rows averaged onto {}-s slots", grid.step));
    }
    if grid.delay_slots > 0 {
        notes.push(format!("the {cadence}-s cadence does not divide the slot: measured data used one slot late"));
    }
    let target = grid.resample(&times, &raw_target);
    let mut excluded = match &raw_curtailed {
        Some(flags) => grid.resample(&times, flags).iter().map(|v| v.is_finite() && *v > 0.0).collect(),
        None => vec![false; grid.len],
    };
    let downtime = flag_downtime(&target, options.capacity, options.downtime_hours, grid.step);
    let downtime_slots = downtime.iter().filter(|d| **d).count();
    if downtime_slots > 0 {
        notes.push(format!(
            "{downtime_slots} slots in near-zero runs of at least {} h treated as downtime (left out of training and scoring)",
            options.downtime_hours
        ));
    }
    for (e, d) in excluded.iter_mut().zip(&downtime) {
        *e |= *d;
    }
    let forecasts = raw_forecasts
        .iter()
        .map(|c| Column { name: c.name.clone(), values: grid.resample(&times, &c.values) })
        .collect();
    let measured = raw_measured
        .iter()
        .map(|c| Column { name: c.name.clone(), values: grid.resample(&times, &c.values) })
        .collect();

    let (clear_sky, sun_elevation) = match (options.kind, options.location) {
        (PlantKind::Pv, Some(loc)) => {
            let mut cs = Vec::with_capacity(grid.len);
            let mut elevation = Vec::with_capacity(grid.len);
            for i in 0..grid.len {
                let end = grid.start + i as i64 * grid.step;
                cs.push(solar::clearsky_mean_ghi(
                    (end - grid.step) as f64,
                    end as f64,
                    loc.lat,
                    loc.lon,
                    loc.altitude_m,
                ));
                let mid = (end - grid.step / 2) as f64;
                let pressure = solar::pressure_from_altitude_hpa(loc.altitude_m);
                elevation.push(solar::position_fast(mid, loc.lat, loc.lon, pressure, 12.0).elevation_deg);
            }
            (Some(cs), Some(elevation))
        }
        (PlantKind::Pv, None) => {
            notes.push("PV without --lat/--lon: no clear-sky features".into());
            (None, None)
        }
        (PlantKind::Wind, _) => (None, None),
    };

    Ok(Series {
        start: grid.start,
        step: grid.step,
        cadence,
        delay_slots: grid.delay_slots,
        kind: options.kind,
        capacity: options.capacity,
        utc_offset_seconds: options.utc_offset_seconds,
        target,
        excluded,
        forecasts,
        measured,
        clear_sky,
        sun_elevation,
        notes,
        downtime_slots,
    })
}

fn most_common_spacing(times: &[i64]) -> Option<i64> {
    let mut diffs: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0).collect();
    diffs.sort_unstable();
    let mut best: Option<(i64, usize)> = None;
    let mut k = 0;
    while k < diffs.len() {
        let run = diffs[k..].iter().take_while(|d| **d == diffs[k]).count();
        if best.is_none_or(|(_, n)| run > n) {
            best = Some((diffs[k], run));
        }
        k += run;
    }
    best.map(|(d, _)| d)
}

/// Per-second rates of a column accumulated since each 00 UTC issue.
fn deaccumulate(times: &[i64], values: &[f64], cadence: i64) -> Vec<f64> {
    let mut out = vec![f64::NAN; values.len()];
    for i in 0..values.len() {
        let interval_start = times[i] - cadence;
        let restarted = interval_start.rem_euclid(super::SECS_PER_DAY) == 0;
        let previous = (i > 0 && times[i - 1] == interval_start).then(|| values[i - 1]);
        out[i] = match previous {
            _ if restarted => values[i],
            Some(p) if values[i] >= p => values[i] - p,
            Some(p) if p.is_finite() => values[i],
            _ => f64::NAN,
        } / cadence as f64;
    }
    out
}

/// The target slot grid and how input rows map onto it.
struct Grid {
    start: i64,
    step: i64,
    len: usize,
    delay_slots: usize,
    cadence: i64,
}

impl Grid {
    fn new(times: &[i64], cadence: i64) -> Result<Self> {
        let (first, last) = match (times.first(), times.last()) {
            (Some(f), Some(l)) => (*f, *l),
            _ => return Err(Error::InvalidInput("empty table".into())),
        };
        if cadence >= QUARTER_HOUR {
            let len = ((last - first) / cadence + 1) as usize;
            return Ok(Self { start: first, step: cadence, len, delay_slots: 0, cadence });
        }
        // Slots end on multiples of 15 min; the first slot is the one holding the first row's interval end.
        let start = first.div_euclid(QUARTER_HOUR) * QUARTER_HOUR
            + if first.rem_euclid(QUARTER_HOUR) == 0 { 0 } else { QUARTER_HOUR };
        let end = last.div_euclid(QUARTER_HOUR) * QUARTER_HOUR;
        if end < start {
            return Err(Error::InvalidInput("the table spans less than one 15-min slot".into()));
        }
        let len = ((end - start) / QUARTER_HOUR + 1) as usize;
        let delay_slots = usize::from(QUARTER_HOUR % cadence != 0);
        Ok(Self { start, step: QUARTER_HOUR, len, delay_slots, cadence })
    }

    /// Values of the input rows on the slot grid (NaN where missing).
    fn resample(&self, times: &[i64], values: &[f64]) -> Vec<f64> {
        let mut out = vec![f64::NAN; self.len];
        if self.step == self.cadence {
            for (t, v) in times.iter().zip(values) {
                let offset = t - self.start;
                if offset >= 0
                    && offset % self.step == 0
                    && let Some(slot) = out.get_mut((offset / self.step) as usize)
                {
                    *slot = *v;
                }
            }
            return out;
        }
        // Split each row's interval into pieces of gcd(cadence, slot) and average the pieces per slot.
        let piece = gcd(self.cadence, self.step);
        let pieces_per_row = self.cadence / piece;
        let pieces_per_slot = (self.step / piece) as f64;
        let mut sum = vec![0.0; self.len];
        let mut count = vec![0.0; self.len];
        for (t, v) in times.iter().zip(values) {
            if v.is_nan() {
                continue;
            }
            for k in 0..pieces_per_row {
                let piece_end = t - k * piece;
                let slot_end = piece_end.div_euclid(self.step) * self.step
                    + if piece_end.rem_euclid(self.step) == 0 { 0 } else { self.step };
                let offset = slot_end - self.start;
                if offset >= 0 && ((offset / self.step) as usize) < self.len {
                    sum[(offset / self.step) as usize] += v;
                    count[(offset / self.step) as usize] += 1.0;
                }
            }
        }
        for i in 0..self.len {
            if count[i] >= 0.5 * pieces_per_slot {
                out[i] = sum[i] / count[i];
            }
        }
        out
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// Flags runs of output at or below 0.5 % of capacity lasting at least `hours`.
fn flag_downtime(target: &[f64], capacity: f64, hours: f64, step: i64) -> Vec<bool> {
    let mut flags = vec![false; target.len()];
    if !(hours.is_finite() && hours > 0.0) {
        return flags;
    }
    let min_len = ((hours * 3600.0) / step as f64).ceil() as usize;
    let mut i = 0;
    while i < target.len() {
        let run = target[i..].iter().take_while(|v| v.is_finite() && **v <= 0.005 * capacity).count();
        if run >= min_len.max(1) {
            flags[i..i + run].iter_mut().for_each(|f| *f = true);
        }
        i += run.max(1);
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(target: &str) -> SeriesOptions {
        SeriesOptions {
            kind: PlantKind::Wind,
            capacity: 10.0,
            target: target.into(),
            features: FeatureSelection::Auto,
            measured: vec![],
            curtailed: None,
            location: None,
            utc_offset_seconds: 0,
            downtime_hours: 24.0,
        }
    }

    #[test]
    fn duplicates_keep_the_last_row_and_gaps_become_nan() {
        let table = Table {
            times: vec![3600, 0, 3600, 3 * 3600],
            columns: vec![Column { name: "p".into(), values: vec![1.0, 0.5, 2.0, 4.0] }],
        };
        let s = prepare(&table, &options("p")).unwrap();
        assert_eq!(s.step, 3600);
        assert_eq!(s.len(), 4);
        assert_eq!(s.target[0], 0.5);
        assert_eq!(s.target[1], 2.0);
        assert!(s.target[2].is_nan());
        assert_eq!(s.target[3], 4.0);
        assert!(s.notes.iter().any(|n| n.contains("duplicated")));
    }

    #[test]
    fn ten_minute_rows_average_onto_quarter_hours_by_overlap() {
        // Rows stamped 10, 20, 30 min cover (0,10], (10,20], (20,30].
        let table = Table {
            times: vec![600, 1200, 1800],
            columns: vec![Column { name: "p".into(), values: vec![3.0, 6.0, 9.0] }],
        };
        let s = prepare(&table, &options("p")).unwrap();
        assert_eq!((s.start, s.step, s.delay_slots), (900, 900, 1));
        // Slot (0,15]: 10 min of 3 and 5 of 6 → 4. Slot (15,30]: 5 min of 6 and 10 of 9 → 8.
        assert_eq!(s.target, vec![4.0, 8.0]);
    }

    #[test]
    fn accumulated_columns_become_rates_restarting_at_midnight_utc() {
        let day = 86_400;
        let times = vec![day - 3600, day, day + 3600, day + 7200];
        let acc = vec![36_000.0, 72_000.0, 3600.0, 10_800.0];
        let table = Table {
            times,
            columns: vec![
                Column { name: "p".into(), values: vec![0.0; 4] },
                Column { name: "ssrd_acc".into(), values: acc },
            ],
        };
        let s = prepare(&table, &options("p")).unwrap();
        let rate = &s.forecasts[0];
        assert_eq!(rate.name, "ssrd_acc_per_s");
        assert!(rate.values[0].is_nan());
        assert_eq!(&rate.values[1..], &[10.0, 1.0, 2.0]);
    }

    #[test]
    fn long_zero_runs_are_downtime_and_curtailment_is_excluded() {
        let n = 60;
        let mut p: Vec<f64> = (0..n).map(|i| 1.0 + (i % 3) as f64).collect();
        for v in &mut p[10..40] {
            *v = 0.0;
        }
        p[50] = 0.0;
        let mut curtailed = vec![0.0; n];
        curtailed[55] = 1.0;
        let table = Table {
            times: (0..n as i64).map(|i| i * 3600).collect(),
            columns: vec![Column { name: "p".into(), values: p }, Column { name: "lim".into(), values: curtailed }],
        };
        let mut opts = options("p");
        opts.curtailed = Some("lim".into());
        let s = prepare(&table, &opts).unwrap();
        assert_eq!(s.downtime_slots, 30);
        assert!(s.excluded[10] && s.excluded[39] && !s.excluded[9] && !s.excluded[40]);
        assert!(!s.excluded[50], "a short zero is not downtime");
        assert!(s.excluded[55]);
        assert!(s.forecasts.is_empty(), "the curtailment flag is not a feature");
    }

    #[test]
    fn unknown_columns_and_bad_tables_are_errors() {
        let table = Table { times: vec![0, 3600], columns: vec![Column { name: "p".into(), values: vec![1.0, 2.0] }] };
        assert!(prepare(&table, &options("q")).is_err());
        let mut opts = options("p");
        opts.measured = vec!["w".into()];
        assert!(prepare(&table, &opts).is_err());
        let one_row = Table { times: vec![0], columns: vec![Column { name: "p".into(), values: vec![1.0] }] };
        assert!(prepare(&one_row, &options("p")).is_err());
        let ragged = Table { times: vec![0, 1], columns: vec![Column { name: "p".into(), values: vec![1.0] }] };
        assert!(prepare(&ragged, &options("p")).is_err());
    }
}
