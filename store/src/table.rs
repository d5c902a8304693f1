//! In-memory tables. The write buffer ([`Buffer`]: points since the last snapshot) keeps
//! each field of each series as a vector in arrival order, appended in O(1) while values come
//! in time order (as telemetry does) and put in order when read; what a snapshot writes is
//! [`SeriesSlice`]s borrowed from it. A scan's result is a [`Table`]: per tag set, per
//! field, a time-ordered map. Either way, the same series and timestamp written twice keeps
//! the last value.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use fieldline_core::{FieldValue, Point};

/// Sorted `(key, value)` tag pairs: the identity of a series within a measurement.
pub type Tags = Vec<(String, String)>;

/// The values of one field of one series, by timestamp (ns).
pub type Column = BTreeMap<i64, FieldValue>;

/// All fields of one series.
pub type SeriesFields = BTreeMap<String, Column>;

/// One field's values in time order, one per timestamp.
pub type Values = Vec<(i64, FieldValue)>;

/// `values` in time order with one value per timestamp, the later-written one (`values` is
/// in the order written). Costs one pass when it is in order already, as it usually is.
pub fn in_time_order(mut values: Values) -> Values {
    if values.windows(2).all(|w| w[0].0 < w[1].0) {
        return values;
    }
    values.sort_by_key(|(t, _)| *t); // stable: equal timestamps stay in the order written
    let mut out: Values = Vec::with_capacity(values.len());
    for (t, v) in values {
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 = v,
            _ => out.push((t, v)),
        }
    }
    out
}

/// One series as a partition file receives it: tags, and per field its values in time order
/// with one per timestamp. Partition writers take these sorted by tags.
#[derive(Debug)]
pub struct SeriesSlice<'a> {
    pub tags: &'a Tags,
    pub fields: Vec<FieldSlice<'a>>,
}

/// A field's name and values (in time order, one per timestamp).
pub type FieldSlice<'a> = (&'a str, &'a [(i64, FieldValue)]);

/// One series of the write buffer with its fields put in time order ([`BufferTable::ordered`]).
#[derive(Debug)]
pub struct OrderedSeries<'a> {
    pub tags: &'a Tags,
    pub fields: Vec<(&'a str, OrderedValues<'a>)>,
}

/// A buffer column's values in time order: borrowed, or sorted into a copy.
pub type OrderedValues<'a> = Cow<'a, [(i64, FieldValue)]>;

/// Owned series values (a compaction's merge), to lend out as [`SeriesSlice`]s.
#[derive(Debug, Default)]
pub struct SeriesValues {
    pub tags: Tags,
    pub fields: Vec<(String, Values)>,
}

impl SeriesValues {
    pub fn slice(&self) -> SeriesSlice<'_> {
        SeriesSlice { tags: &self.tags, fields: self.fields.iter().map(|(n, v)| (n.as_str(), v.as_slice())).collect() }
    }
}

/// One measurement's series.
#[derive(Debug, Default, Clone)]
pub struct Table {
    pub series: HashMap<Tags, SeriesFields>,
}

impl Table {
    /// Inserts a point's fields.
    #[cfg(test)]
    pub fn insert(&mut self, tags: Tags, fields: Vec<(String, FieldValue)>, ts: i64) {
        let series = self.series.entry(tags).or_default();
        for (name, value) in fields {
            series.entry(name).or_default().insert(ts, value);
        }
    }

    /// The table as owned series sorted by tags (what a partition writer takes).
    #[cfg(test)]
    pub fn to_series_values(&self) -> Vec<SeriesValues> {
        let mut out: Vec<SeriesValues> = self
            .series
            .iter()
            .map(|(tags, fields)| SeriesValues {
                tags: tags.clone(),
                fields: fields
                    .iter()
                    .map(|(n, c)| (n.clone(), c.iter().map(|(t, v)| (*t, v.clone())).collect()))
                    .collect(),
            })
            .collect();
        out.sort_by(|a, b| a.tags.cmp(&b.tags));
        out
    }

    /// Overlays `newer` on `self` (newer values win). A column `self` lacks is moved, not
    /// copied. (Not `BTreeMap::append`: it rebuilds the whole map, so gathering day after day
    /// into one table became quadratic.)
    pub fn merge_from(&mut self, newer: Table) {
        for (tags, fields) in newer.series {
            let series = self.series.entry(tags).or_default();
            for (name, column) in fields {
                match series.get_mut(&name) {
                    Some(existing) => existing.extend(column),
                    None => {
                        series.insert(name, column);
                    }
                }
            }
        }
    }

    /// UTC days holding a value.
    pub fn days(&self) -> std::collections::BTreeSet<i64> {
        let mut days = std::collections::BTreeSet::new();
        for column in self.series.values().flat_map(|fields| fields.values()) {
            // One look per day, not per value.
            let mut from = i64::MIN;
            while let Some((&ts, _)) = column.range(from..).next() {
                let day = super::partition::day_of(ts);
                days.insert(day);
                match day.checked_add(1).and_then(|d| d.checked_mul(fieldline_core::time::NS_PER_DAY)) {
                    Some(next) => from = next,
                    None => break,
                }
            }
        }
        days
    }

    /// Values at or after `ts_ns`, counted per series by its fullest field.
    pub fn count_from(&self, ts_ns: i64) -> usize {
        self.series.values().map(|f| f.values().map(|c| c.range(ts_ns..).count()).max().unwrap_or(0)).sum()
    }
}

/// One field of one series in the write buffer: values in the order written. While they
/// come in time order (the usual case) each is appended, or replaces the last on the same
/// timestamp; one for an earlier time is appended too, and the column is sorted when read.
#[derive(Debug, Default, Clone)]
pub struct BufferColumn {
    values: Values,
    /// Some value came for a time at or before the one before it.
    unordered: bool,
}

impl BufferColumn {
    pub fn insert(&mut self, ts: i64, value: FieldValue) {
        match self.values.last_mut() {
            Some(last) if !self.unordered && last.0 == ts => last.1 = value,
            Some(last) if !self.unordered && last.0 > ts => {
                self.unordered = true;
                self.values.push((ts, value));
            }
            _ => self.values.push((ts, value)),
        }
    }

    /// The values in time order, one per timestamp (the last written): borrowed unless a value
    /// came out of order.
    pub fn ordered(&self) -> OrderedValues<'_> {
        if self.unordered { Cow::Owned(in_time_order(self.values.clone())) } else { Cow::Borrowed(&self.values) }
    }

    /// First and last timestamp and number of values.
    pub fn span(&self) -> Option<(i64, i64, usize)> {
        let ordered = self.ordered();
        Some((ordered.first()?.0, ordered.last()?.0, ordered.len()))
    }

    /// The value type's name (of the first value).
    pub fn type_name(&self) -> Option<&'static str> {
        self.values.first().map(|(_, v)| v.type_name())
    }
}

/// One measurement's series in the write buffer.
#[derive(Debug, Default)]
pub struct BufferTable {
    pub series: HashMap<Tags, BTreeMap<String, BufferColumn>>,
}

impl BufferTable {
    /// Per series (sorted by tags), per field, the values in time order.
    pub fn ordered(&self) -> Vec<OrderedSeries<'_>> {
        let mut out: Vec<OrderedSeries<'_>> = self
            .series
            .iter()
            .map(|(tags, fields)| OrderedSeries {
                tags,
                fields: fields.iter().map(|(name, c)| (name.as_str(), c.ordered())).collect(),
            })
            .collect();
        out.sort_by(|a, b| a.tags.cmp(b.tags));
        out
    }
}

/// Points since the last snapshot, by measurement.
#[derive(Debug, Default)]
pub struct Buffer {
    pub tables: HashMap<String, BufferTable>,
    values: usize,
}

impl Buffer {
    pub fn insert(&mut self, point: Point) {
        let Point { measurement, tags, fields, timestamp_ns } = point;
        let table = match self.tables.get_mut(&measurement) {
            Some(t) => t,
            None => self.tables.entry(measurement).or_default(),
        };
        let series = match table.series.get_mut(&tags) {
            Some(s) => s,
            None => table.series.entry(tags).or_default(),
        };
        self.values += fields.len();
        for (name, value) in fields {
            match series.get_mut(&name) {
                Some(column) => column.insert(timestamp_ns, value),
                None => series.entry(name).or_default().insert(timestamp_ns, value),
            }
        }
    }

    /// Values inserted (an overwrite counts again; used only to decide when to snapshot).
    pub fn values(&self) -> usize {
        self.values
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

/// Tag filter of a scan: every `(key, value)` must be present on the series.
pub fn tags_match(tags: &Tags, filter: &[(String, String)]) -> bool {
    filter.iter().all(|(k, v)| tags.iter().any(|(tk, tv)| tk == k && tv == v))
}

/// The part of `values` (in time order) within `[start_ns, stop_ns)`.
pub fn time_range(values: &[(i64, FieldValue)], start_ns: i64, stop_ns: i64) -> &[(i64, FieldValue)] {
    let from = values.partition_point(|(t, _)| *t < start_ns);
    let to = values.partition_point(|(t, _)| *t < stop_ns).max(from);
    &values[from..to]
}

/// Copies the part of `table` that matches into `out` (newer data overwrites what `out`
/// holds, so callers scan oldest first).
pub fn scan_into(table: &BufferTable, filter: &ScanFilter<'_>, out: &mut Table) {
    for (tags, fields) in &table.series {
        if !tags_match(tags, filter.tags) {
            continue;
        }
        for (name, column) in fields {
            if !filter.wants_field(name) {
                continue;
            }
            let ordered = column.ordered();
            let range = time_range(&ordered, filter.start_ns, filter.stop_ns);
            if range.is_empty() {
                continue;
            }
            let dest = out.series.entry(tags.clone()).or_default().entry(name.clone()).or_default();
            if dest.is_empty() {
                // In time order: built in bulk, not value by value.
                *dest = range.iter().cloned().collect();
            } else {
                dest.extend(range.iter().cloned());
            }
        }
    }
}

/// What a scan selects: a half-open time range, tag equalities and optionally some fields.
#[derive(Debug, Clone, Copy)]
pub struct ScanFilter<'a> {
    pub start_ns: i64,
    pub stop_ns: i64,
    pub tags: &'a [(String, String)],
    /// `None` = every field.
    pub fields: Option<&'a [String]>,
}

impl ScanFilter<'_> {
    pub fn wants_field(&self, name: &str) -> bool {
        self.fields.is_none_or(|f| f.iter().any(|x| x == name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(device: &str, ts: i64, v: f64) -> Point {
        Point::new("m", vec![("device".into(), device.into())], vec![("x".into(), FieldValue::Float(v))], ts)
    }

    #[test]
    fn same_series_and_time_keeps_last() {
        let mut b = Buffer::default();
        b.insert(point("a", 1, 1.0));
        b.insert(point("a", 1, 2.0));
        b.insert(point("b", 1, 3.0));
        let t = &b.tables["m"];
        let a = &t.series[&vec![("device".to_string(), "a".to_string())]]["x"];
        assert_eq!(&*a.ordered(), &[(1, FieldValue::Float(2.0))]);
    }

    #[test]
    fn out_of_order_values_are_sorted_when_read_and_the_last_write_wins() {
        let mut c = BufferColumn::default();
        for (t, v) in [(5, 1.0), (7, 2.0), (3, 3.0), (7, 4.0), (5, 5.0), (9, 6.0), (9, 7.0)] {
            c.insert(t, FieldValue::Float(v));
        }
        let want: Vec<(i64, FieldValue)> =
            [(3, 3.0), (5, 5.0), (7, 4.0), (9, 7.0)].into_iter().map(|(t, v)| (t, FieldValue::Float(v))).collect();
        assert_eq!(&*c.ordered(), want.as_slice());
        assert_eq!(c.span(), Some((3, 9, 4)));
        assert_eq!(time_range(&want, 4, 9), &want[1..3]);
        assert_eq!(time_range(&want, 10, 20), &[]);
        assert_eq!(time_range(&want, 9, 4), &[]);
    }

    #[test]
    fn scan_filters_time_tags_and_fields() {
        let mut b = Buffer::default();
        for ts in 0..10 {
            b.insert(point("a", ts, ts as f64));
            b.insert(point("b", ts, -(ts as f64)));
        }
        let tags = vec![("device".to_string(), "a".to_string())];
        let fields = vec!["x".to_string()];
        let filter = ScanFilter { start_ns: 2, stop_ns: 5, tags: &tags, fields: Some(&fields) };
        let mut out = Table::default();
        scan_into(&b.tables["m"], &filter, &mut out);
        assert_eq!(out.series.len(), 1);
        let col = &out.series[&tags]["x"];
        assert_eq!(col.keys().copied().collect::<Vec<_>>(), vec![2, 3, 4]);
    }
}
