//! In-memory tables: the write buffer (points since the last snapshot) and the unit of
//! merging when a snapshot rewrites a day's Parquet file. Per measurement, a [`Table`] maps
//! a tag set to its fields, each a time-ordered map, so the same series and timestamp
//! written twice keeps the last value.

use std::collections::{BTreeMap, HashMap};

use fieldline_core::{FieldValue, Point};

/// Sorted `(key, value)` tag pairs: the identity of a series within a measurement.
pub type Tags = Vec<(String, String)>;

/// The values of one field of one series, by timestamp (ns).
pub type Column = BTreeMap<i64, FieldValue>;

/// All fields of one series.
pub type SeriesFields = BTreeMap<String, Column>;

/// One measurement's series.
#[derive(Debug, Default, Clone)]
pub struct Table {
    pub series: HashMap<Tags, SeriesFields>,
}

impl Table {
    /// Inserts a point's fields (measurement already chosen by the caller). Returns the
    /// number of values stored.
    pub fn insert(&mut self, tags: Tags, fields: Vec<(String, FieldValue)>, ts: i64) -> usize {
        let series = self.series.entry(tags).or_default();
        let n = fields.len();
        for (name, value) in fields {
            series.entry(name).or_default().insert(ts, value);
        }
        n
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

    /// Values at or after `ts_ns`, counted per series by its fullest field.
    pub fn count_from(&self, ts_ns: i64) -> usize {
        self.series.values().map(|f| f.values().map(|c| c.range(ts_ns..).count()).max().unwrap_or(0)).sum()
    }

    /// Number of stored values.
    #[cfg(test)]
    pub fn values(&self) -> usize {
        self.series.values().flat_map(|f| f.values()).map(BTreeMap::len).sum()
    }
}

/// Points since the last snapshot, by measurement.
#[derive(Debug, Default)]
pub struct Buffer {
    pub tables: HashMap<String, Table>,
    values: usize,
}

impl Buffer {
    pub fn insert(&mut self, point: Point) {
        let Point { measurement, tags, fields, timestamp_ns } = point;
        let table = match self.tables.get_mut(&measurement) {
            Some(t) => t,
            None => self.tables.entry(measurement).or_default(),
        };
        self.values += table.insert(tags, fields, timestamp_ns);
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

/// Copies the part of `table` that matches into `out` (newer data overwrites what `out`
/// holds, so callers scan oldest first).
pub fn scan_into(table: &Table, filter: &ScanFilter<'_>, out: &mut Table) {
    for (tags, fields) in &table.series {
        if !tags_match(tags, filter.tags) {
            continue;
        }
        for (name, column) in fields {
            if !filter.wants_field(name) {
                continue;
            }
            let range = column.range(filter.start_ns..filter.stop_ns);
            let mut range = range.peekable();
            if range.peek().is_none() {
                continue;
            }
            let dest = out.series.entry(tags.clone()).or_default().entry(name.clone()).or_default();
            dest.extend(range.map(|(t, v)| (*t, v.clone())));
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
        assert_eq!(t.values(), 2);
        let a = &t.series[&vec![("device".to_string(), "a".to_string())]]["x"];
        assert_eq!(a.get(&1), Some(&FieldValue::Float(2.0)));
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
