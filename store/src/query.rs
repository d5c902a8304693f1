//! The store's query API: a typed [`Query`] (measurement, time range, tag filters, fields,
//! an optional aggregation [`Window`]) answered by [`Store::query`] as [`Series`] (one field
//! of one tag set, time-ordered) or by [`Store::query_rows`] as [`Row`]s (the fields of one
//! series at one timestamp, pivoted here so no caller rebuilds rows from columns).
//!
//! Windows are aligned to the epoch shifted by `offset_ns` (so `every=1d` with a +08:00 offset
//! gives Heze calendar days) and labelled by their start; empty windows are omitted.
//!
//! [`Store::query`]: crate::Store::query
//! [`Store::query_rows`]: crate::Store::query_rows

use std::collections::{BTreeMap, HashMap};

use fieldline_core::FieldValue;

use super::partition::{Runs, WindowRuns};
use super::table::{Column, ScanFilter, SeriesFields, Table, Tags, in_time_order};

/// A half-open time range `[start_ns, stop_ns)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start_ns: i64,
    pub stop_ns: i64,
}

impl TimeRange {
    /// Every representable time.
    pub const ALL: TimeRange = TimeRange { start_ns: i64::MIN, stop_ns: i64::MAX };

    pub fn new(start_ns: i64, stop_ns: i64) -> Self {
        TimeRange { start_ns, stop_ns }
    }
}

/// Aggregation windows `[start, start + every_ns)`, aligned to the epoch plus `offset_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub every_ns: i64,
    pub offset_ns: i64,
    pub agg: Agg,
}

/// What to read: one measurement, a time range, tag equalities, optionally some fields, and
/// optionally windows to aggregate each series into.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub measurement: String,
    pub range: TimeRange,
    /// Every `(key, value)` must be a tag of the series.
    pub tags: Vec<(String, String)>,
    /// `None` = every field.
    pub fields: Option<Vec<String>>,
    pub window: Option<Window>,
}

impl Query {
    /// Every value of `measurement`, all time, no aggregation.
    pub fn new(measurement: impl Into<String>) -> Self {
        Query { measurement: measurement.into(), range: TimeRange::ALL, tags: Vec::new(), fields: None, window: None }
    }

    /// Only `[start_ns, stop_ns)`.
    pub fn range(mut self, start_ns: i64, stop_ns: i64) -> Self {
        self.range = TimeRange::new(start_ns, stop_ns);
        self
    }

    /// Only series with tag `key` = `value` (may be given several times).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((key.into(), value.into()));
        self
    }

    /// Only series with all of these tags.
    pub fn tags(mut self, tags: impl IntoIterator<Item = (String, String)>) -> Self {
        self.tags.extend(tags);
        self
    }

    /// Only these fields.
    pub fn fields<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.fields = Some(fields.into_iter().map(Into::into).collect());
        self
    }

    /// Aggregate each series into windows.
    pub fn window(mut self, window: Window) -> Self {
        self.window = Some(window);
        self
    }

    pub(crate) fn filter(&self) -> ScanFilter<'_> {
        ScanFilter {
            start_ns: self.range.start_ns,
            stop_ns: self.range.stop_ns,
            tags: &self.tags,
            fields: self.fields.as_deref(),
        }
    }
}

/// One field of one series: its values in time order (or its windows, labelled by start).
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub tags: Tags,
    pub field: String,
    pub points: Vec<(i64, FieldValue)>,
}

impl Series {
    /// Value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        tag_of(&self.tags, key)
    }
}

/// The fields one series holds at one timestamp: a point again, as it was written (the last
/// write of each field wins).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub tags: Tags,
    pub timestamp_ns: i64,
    pub fields: Vec<(String, FieldValue)>,
}

impl Row {
    /// Value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        tag_of(&self.tags, key)
    }

    /// Value of field `name`, if present.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Field `name` as a number (see [`FieldValue::as_f64`]).
    pub fn f64(&self, name: &str) -> Option<f64> {
        self.field(name).and_then(FieldValue::as_f64)
    }
}

fn tag_of<'a>(tags: &'a Tags, key: &str) -> Option<&'a str> {
    tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A column's values, or its windows if a window is given.
fn windowed(column: Column, window: Option<Window>) -> Vec<(i64, FieldValue)> {
    match window {
        Some(w) => aggregate(&column, w.every_ns, w.offset_ns, w.agg),
        None => column.into_iter().collect(),
    }
}

/// Scanned day files (per series and field, values in time order) overlaid with the buffers'
/// newer values, as series ordered by tags then field, each aggregated if asked. Values go
/// from the scan's vectors to the windows directly, without a map per series.
pub(crate) fn runs_to_series(runs: Runs, mut buffers: Table, window: Option<Window>) -> Vec<Series> {
    let mut out = Vec::new();
    for (tags, fields) in runs.into_series() {
        let mut newer = buffers.series.remove(&tags);
        for (field, values) in fields {
            let values = match newer.as_mut().and_then(|n| n.remove(&field)) {
                Some(column) => overlay(values, column),
                None => in_time_order(values),
            };
            let points = match window {
                Some(w) => aggregate(values.iter().map(|(t, v)| (t, v)), w.every_ns, w.offset_ns, w.agg),
                None => values,
            };
            if !points.is_empty() {
                out.push(Series { tags: tags.clone(), field, points });
            }
        }
        if let Some(rest) = newer.filter(|rest| !rest.is_empty()) {
            buffers.series.insert(tags, rest);
        }
    }
    out.extend(to_series(buffers, window));
    out.sort_by(|a, b| (&a.tags, &a.field).cmp(&(&b.tags, &b.field)));
    out
}

/// Series of a windowed query: partials aggregated while day files were read (`direct`) and
/// the windows of everything gathered value by value (days of several files, the buffers'
/// values overlaid), merged per series and field. Ordered by tags then field.
pub(crate) fn windows_to_series(direct: WindowRuns, runs: Runs, buffers: Table, window: Window) -> Vec<Series> {
    let mut all: HashMap<Tags, BTreeMap<String, Vec<Partial>>> = direct.into_series().collect();
    for series in runs_to_series(runs, buffers, None) {
        let windows = partials(series.points.iter().map(|(t, v)| (*t, v)), window);
        let slot = all.entry(series.tags).or_default().entry(series.field).or_default();
        *slot = merge_partials(std::mem::take(slot), windows);
    }
    let mut out = Vec::new();
    for (tags, fields) in all {
        for (field, windows) in fields {
            let points = finish(windows, window.agg);
            if !points.is_empty() {
                out.push(Series { tags: tags.clone(), field, points });
            }
        }
    }
    out.sort_by(|a, b| (&a.tags, &a.field).cmp(&(&b.tags, &b.field)));
    out
}

/// Merges `older` (from files) and `newer` (from buffers); on the same timestamp `newer` wins.
fn overlay(older: Vec<(i64, FieldValue)>, newer: Column) -> Vec<(i64, FieldValue)> {
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let mut newer = newer.into_iter().peekable();
    for (t, v) in in_time_order(older) {
        while let Some(n) = newer.next_if(|(n, _)| *n <= t) {
            out.push(n);
        }
        // The buffer's value at `t` was just pushed: it replaces the file's.
        if out.last().is_none_or(|(last, _)| *last != t) {
            out.push((t, v));
        }
    }
    out.extend(newer);
    out
}

/// A scanned table as series, ordered by tags then field, each aggregated if asked.
pub(crate) fn to_series(table: Table, window: Option<Window>) -> Vec<Series> {
    let mut out = Vec::new();
    for (tags, fields) in table.series {
        for (field, column) in fields {
            let points = windowed(column, window);
            if !points.is_empty() {
                out.push(Series { tags: tags.clone(), field, points });
            }
        }
    }
    out.sort_by(|a, b| (&a.tags, &a.field).cmp(&(&b.tags, &b.field)));
    out
}

/// A scanned table as rows, ordered by tags then time; fields in name order. With a window,
/// each field is aggregated first and a row holds the windows that start together.
pub(crate) fn to_rows(table: Table, window: Option<Window>) -> Vec<Row> {
    let mut series: Vec<(Tags, SeriesFields)> = table.series.into_iter().collect();
    series.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rows = Vec::new();
    for (tags, fields) in series {
        let mut by_time: BTreeMap<i64, Vec<(String, FieldValue)>> = BTreeMap::new();
        for (name, column) in fields {
            for (t, v) in windowed(column, window) {
                by_time.entry(t).or_default().push((name.clone(), v));
            }
        }
        rows.extend(by_time.into_iter().map(|(timestamp_ns, fields)| Row { tags: tags.clone(), timestamp_ns, fields }));
    }
    rows
}

/// Aggregate function of a windowed query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    Mean,
    Min,
    Max,
    Sum,
    Count,
    First,
    Last,
}

impl Agg {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "mean" => Agg::Mean,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "sum" => Agg::Sum,
            "count" => Agg::Count,
            "first" => Agg::First,
            "last" => Agg::Last,
            _ => return None,
        })
    }
}

/// Window aggregation: each window `[start, start + every)` becomes one value labelled
/// `start`. Numeric aggregates skip non-numeric values (strings) and NaN; `count`, `first`
/// and `last` take every value.
///
/// Terminates for every input: window bounds are computed in i128, so a window always
/// contains the value it was computed from and every round of the loop consumes at least one
/// value. (In i64 they saturated near `i64::MAX`: the window ended before its own value, the
/// loop never advanced, and `agg=count` pushed empty windows until memory ran out.)
pub fn aggregate<'a>(
    column: impl IntoIterator<Item = (&'a i64, &'a FieldValue)>,
    every_ns: i64,
    offset_ns: i64,
    agg: Agg,
) -> Vec<(i64, FieldValue)> {
    let window = Window { every_ns, offset_ns, agg };
    finish(partials(column.into_iter().map(|(t, v)| (*t, v)), window), agg)
}

/// One window's aggregate over the values of one stretch of time. Partials of the same window
/// from adjacent stretches (a window spanning two day files) merge into what one pass over
/// all its values gives.
#[derive(Debug, Clone)]
pub(crate) struct Partial {
    start: i128,
    acc: Acc,
}

/// The windows of `values` (in time order), not yet finished; none if `every_ns <= 0`.
pub(crate) fn partials<'a>(values: impl IntoIterator<Item = (i64, &'a FieldValue)>, window: Window) -> Vec<Partial> {
    let mut out: Vec<Partial> = Vec::new();
    if window.every_ns <= 0 {
        return out;
    }
    let mut end = i128::MIN;
    for (ts, v) in values {
        if i128::from(ts) >= end || out.is_empty() {
            let start = window_start_wide(ts, window.every_ns, window.offset_ns);
            end = start + i128::from(window.every_ns);
            out.push(Partial { start, acc: Acc::default() });
        }
        if let Some(last) = out.last_mut() {
            last.acc.add(ts, v);
        }
    }
    out
}

/// Appends `later` (partials of values after every value of `into`'s) to `into`, merging the
/// window they share at the seam.
pub(crate) fn append_partials(into: &mut Vec<Partial>, later: Vec<Partial>) {
    let mut later = later.into_iter();
    if let (Some(last), Some(first)) = (into.last_mut(), later.as_slice().first())
        && last.start == first.start
        && let Some(first) = later.next()
    {
        last.acc.merge(first.acc);
    }
    into.extend(later);
}

/// Merges two time-ordered partial lists of the same series (values of disjoint stretches).
pub(crate) fn merge_partials(a: Vec<Partial>, b: Vec<Partial>) -> Vec<Partial> {
    if b.is_empty() {
        return a;
    }
    if a.is_empty() {
        return b;
    }
    let mut out: Vec<Partial> = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) if x.start <= y.start => a.next(),
            (Some(_), Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (None, None) => break,
        };
        let Some(next) = next else { break };
        match out.last_mut() {
            Some(last) if last.start == next.start => last.acc.merge(next.acc),
            _ => out.push(next),
        }
    }
    out
}

/// The finished windows: (start, value), empty ones omitted.
pub(crate) fn finish(partials: Vec<Partial>, agg: Agg) -> Vec<(i64, FieldValue)> {
    partials.into_iter().filter_map(|p| Some((clamp_i64(p.start), p.acc.finish(agg)?))).collect()
}

/// Start of the window containing `ts` (clamped to the i64 range for windows that begin
/// before it).
pub fn window_start(ts: i64, every_ns: i64, offset_ns: i64) -> i64 {
    if every_ns <= 0 {
        return ts;
    }
    clamp_i64(window_start_wide(ts, every_ns, offset_ns))
}

/// Exact window start: `start <= ts < start + every`.
fn window_start_wide(ts: i64, every_ns: i64, offset_ns: i64) -> i128 {
    let every = i128::from(every_ns);
    let shifted = i128::from(ts) - i128::from(offset_ns);
    shifted.div_euclid(every) * every + i128::from(offset_ns)
}

fn clamp_i64(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

#[derive(Debug, Clone, Default)]
struct Acc {
    count: u64,
    numeric: u64,
    sum: f64,
    min: Option<f64>,
    max: Option<f64>,
    first: Option<(i64, FieldValue)>,
    last: Option<(i64, FieldValue)>,
}

impl Acc {
    /// Adds a value later than every value added so far.
    fn add(&mut self, ts: i64, v: &FieldValue) {
        self.count += 1;
        if self.first.is_none() {
            self.first = Some((ts, v.clone()));
        }
        self.last = Some((ts, v.clone()));
        if let Some(x) = v.as_f64().filter(|x| !x.is_nan()) {
            self.numeric += 1;
            self.sum += x;
            self.min = Some(self.min.map_or(x, |m| m.min(x)));
            self.max = Some(self.max.map_or(x, |m| m.max(x)));
        }
    }

    /// Adds the values of another stretch of the same window (earlier or later).
    fn merge(&mut self, other: Acc) {
        self.count += other.count;
        self.numeric += other.numeric;
        self.sum += other.sum;
        self.min = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if other.first.as_ref().is_some_and(|(t, _)| self.first.as_ref().is_none_or(|(mine, _)| t < mine)) {
            self.first = other.first;
        }
        if other.last.as_ref().is_some_and(|(t, _)| self.last.as_ref().is_none_or(|(mine, _)| t > mine)) {
            self.last = other.last;
        }
    }

    fn finish(self, agg: Agg) -> Option<FieldValue> {
        match agg {
            Agg::Count => Some(FieldValue::Int(i64::try_from(self.count).unwrap_or(i64::MAX))),
            Agg::First => self.first.map(|(_, v)| v),
            Agg::Last => self.last.map(|(_, v)| v),
            Agg::Sum => (self.numeric > 0).then_some(FieldValue::Float(self.sum)),
            Agg::Mean => (self.numeric > 0).then(|| FieldValue::Float(self.sum / self.numeric as f64)),
            Agg::Min => self.min.map(FieldValue::Float),
            Agg::Max => self.max.map(FieldValue::Float),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::Just;

    const MIN: i64 = 60_000_000_000;

    fn column(values: &[(i64, f64)]) -> Column {
        values.iter().map(|&(t, v)| (t * MIN, FieldValue::Float(v))).collect()
    }

    #[test]
    fn buffer_values_overlay_file_values_and_win_ties() {
        let f = FieldValue::Float;
        let older = vec![(1, f(1.0)), (2, f(2.0)), (4, f(4.0))];
        let newer: Column = [(0, f(10.0)), (2, f(20.0)), (5, f(50.0))].into_iter().collect();
        assert_eq!(overlay(older, newer), vec![(0, f(10.0)), (1, f(1.0)), (2, f(20.0)), (4, f(4.0)), (5, f(50.0))]);
        // Out of order or repeated timestamps are sorted, the later value kept.
        let messy = vec![(3, f(3.0)), (1, f(1.0)), (3, f(30.0))];
        assert_eq!(in_time_order(messy), vec![(1, f(1.0)), (3, f(30.0))]);
    }

    #[test]
    fn fifteen_minute_windows_by_hand() {
        // Minutes 0, 5, 10 | 15, 29 | (nothing in 30-44) | 45
        let c = column(&[(0, 1.0), (5, 2.0), (10, 6.0), (15, 10.0), (29, 20.0), (45, -4.0)]);
        let every = 15 * MIN;
        let mean = aggregate(&c, every, 0, Agg::Mean);
        assert_eq!(
            mean,
            vec![(0, FieldValue::Float(3.0)), (15 * MIN, FieldValue::Float(15.0)), (45 * MIN, FieldValue::Float(-4.0))]
        );
        let max = aggregate(&c, every, 0, Agg::Max);
        assert_eq!(max[0].1, FieldValue::Float(6.0));
        let count = aggregate(&c, every, 0, Agg::Count);
        assert_eq!(
            count.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
            vec![FieldValue::Int(3), FieldValue::Int(2), FieldValue::Int(1)]
        );
        let sum = aggregate(&c, every, 0, Agg::Sum);
        assert_eq!(sum[1].1, FieldValue::Float(30.0));
        let last = aggregate(&c, every, 0, Agg::Last);
        assert_eq!(last[0].1, FieldValue::Float(6.0));
        let min = aggregate(&c, every, 0, Agg::Min);
        assert_eq!(min[2].1, FieldValue::Float(-4.0));
    }

    #[test]
    fn offset_aligns_days_to_local_midnight() {
        let hour = 60 * MIN;
        let day = 24 * hour;
        let offset = -8 * hour; // local midnight at UTC+8 is 16:00 UTC the day before
        // 15:00 UTC belongs to the local day starting at 16:00 UTC the previous day.
        assert_eq!(window_start(15 * hour, day, offset), -8 * hour);
        assert_eq!(window_start(16 * hour, day, offset), 16 * hour);
        assert_eq!(window_start(-1, 15 * MIN, 0), -15 * MIN);
    }

    #[test]
    fn a_value_near_the_end_of_time_with_a_local_offset_terminates() {
        // The dashboard's own query (tz=+08:00, i.e. offset -8 h) on a reading at 2262.
        let ts = 9_223_372_036_854_000_000;
        let c: Column = [(ts, FieldValue::Float(1.0))].into_iter().collect();
        let hour = 3_600_000_000_000;
        for agg in [Agg::Count, Agg::Mean] {
            let out = aggregate(&c, 15 * MIN, -8 * hour, agg);
            assert_eq!(out.len(), 1, "{agg:?}");
            assert!(out[0].0 <= ts);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(4000))]

        /// Every value lands in exactly one window, labelled at or before it, whatever the
        /// timestamps, window length and offset: the loop always terminates.
        #[test]
        fn every_value_is_counted_once_for_extreme_inputs(
            times in proptest::collection::btree_set(
                proptest::prop_oneof![
                    proptest::num::i64::ANY,
                    (i64::MAX - 1_000_000_000_000..=i64::MAX),
                    (i64::MIN..=i64::MIN + 1_000_000_000_000),
                    (-1_000_000_000i64..1_000_000_000),
                ],
                1..40,
            ),
            every in proptest::prop_oneof![1i64..=1_000, 1i64..=i64::MAX, Just(i64::MAX), Just(15 * 60_000_000_000)],
            offset in proptest::prop_oneof![proptest::num::i64::ANY, Just(i64::MIN), Just(i64::MAX), -86_400_000_000_000i64..86_400_000_000_000],
        ) {
            let c: Column = times.iter().map(|&t| (t, FieldValue::Float(1.0))).collect();
            let counts = aggregate(&c, every, offset, Agg::Count);
            let total: i64 = counts.iter().map(|(_, v)| match v { FieldValue::Int(n) => *n, _ => 0 }).sum();
            proptest::prop_assert_eq!(total, times.len() as i64);
            proptest::prop_assert!(counts.windows(2).all(|w| w[0].0 <= w[1].0));
            let first = *times.iter().next().unwrap_or(&0);
            proptest::prop_assert!(counts[0].0 <= first);
        }
    }

    #[test]
    fn strings_and_nan_do_not_poison_numeric_aggregates() {
        let mut c = column(&[(0, 1.0), (1, f64::NAN)]);
        c.insert(2 * MIN, FieldValue::Str("x".into()));
        assert_eq!(aggregate(&c, 15 * MIN, 0, Agg::Mean), vec![(0, FieldValue::Float(1.0))]);
        assert_eq!(aggregate(&c, 15 * MIN, 0, Agg::Count), vec![(0, FieldValue::Int(3))]);
    }
}
