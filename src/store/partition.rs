//! Parquet partitions: one file per measurement per UTC day,
//! `parquet/{measurement}/{YYYY-MM-DD}.parquet`, in the wide layout an analyst expects
//! (`time`, one string column per tag, one typed nullable column per field, rows sorted by
//! tags then time). A snapshot merges the buffer into the day's file and atomically replaces
//! it (write to a temporary file, fsync, rename, fsync the directory), so each partition is
//! always exactly one deduplicated file. Per-series statistics live in the file's key-value
//! metadata, so the catalog is rebuilt at startup from footers alone.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, UInt64Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch, TimestampNanosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use fieldline_ingest::FieldValue;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use super::table::{ScanFilter, Table, Tags, tags_match};
use super::{Error, Result};

const TIME_COLUMN: &str = "time";
const META_MEASUREMENT: &str = "fieldline.measurement";
const META_SERIES: &str = "fieldline.series";

/// Nanoseconds in a day.
pub const DAY_NS: i64 = 86_400_000_000_000;

/// UTC day number (days since 1970-01-01) of a timestamp.
pub fn day_of(ts_ns: i64) -> i64 {
    ts_ns.div_euclid(DAY_NS)
}

/// `YYYY-MM-DD` of a day number.
pub fn day_name(day: i64) -> String {
    let date = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(day);
    let d = date.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn parse_day_name(name: &str) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(name, &format).ok()?;
    Some(i64::from((date - time::Date::from_calendar_date(1970, time::Month::January, 1).ok()?).whole_days() as i32))
}

/// Directory name for a measurement: safe characters kept, everything else `%XX`-escaped,
/// so no measurement name can climb out of the data directory.
pub fn measurement_dir_name(measurement: &str) -> String {
    let mut out = String::with_capacity(measurement.len());
    for (i, b) in measurement.bytes().enumerate() {
        let safe = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if safe {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Statistics of one field of one series in one partition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FieldStats {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub count: u64,
    pub first_ns: i64,
    pub last_ns: i64,
}

/// Statistics of one series in one partition.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeriesStats {
    pub tags: Tags,
    pub fields: Vec<FieldStats>,
}

/// What the catalog knows of one partition file.
#[derive(Debug, Clone)]
pub struct PartitionMeta {
    pub path: PathBuf,
    pub measurement: String,
    pub day: i64,
    pub series: Vec<SeriesStats>,
    pub rows: usize,
}

/// Path of the partition of `measurement` for `day` under `root`.
pub fn partition_path(root: &Path, measurement: &str, day: i64) -> PathBuf {
    root.join(measurement_dir_name(measurement)).join(format!("{}.parquet", day_name(day)))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ColumnType {
    Bool,
    Int,
    UInt,
    Float,
    Str,
}

impl ColumnType {
    fn of(v: &FieldValue) -> Self {
        match v {
            FieldValue::Bool(_) => ColumnType::Bool,
            FieldValue::Int(_) => ColumnType::Int,
            FieldValue::UInt(_) => ColumnType::UInt,
            FieldValue::Float(_) => ColumnType::Float,
            FieldValue::Str(_) => ColumnType::Str,
        }
    }

    /// A column holding both types: text if either is text, otherwise a float.
    fn widen(self, other: Self) -> Self {
        match (self, other) {
            (a, b) if a == b => a,
            (ColumnType::Str, _) | (_, ColumnType::Str) => ColumnType::Str,
            _ => ColumnType::Float,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int => DataType::Int64,
            ColumnType::UInt => DataType::UInt64,
            ColumnType::Float => DataType::Float64,
            ColumnType::Str => DataType::Utf8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ColumnType::Bool => "boolean",
            ColumnType::Int => "integer",
            ColumnType::UInt => "unsigned",
            ColumnType::Float => "float",
            ColumnType::Str => "string",
        }
    }
}

enum FieldBuilder {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    UInt(UInt64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
}

impl FieldBuilder {
    fn new(kind: ColumnType, rows: usize) -> Self {
        match kind {
            ColumnType::Bool => FieldBuilder::Bool(BooleanBuilder::with_capacity(rows)),
            ColumnType::Int => FieldBuilder::Int(Int64Builder::with_capacity(rows)),
            ColumnType::UInt => FieldBuilder::UInt(UInt64Builder::with_capacity(rows)),
            ColumnType::Float => FieldBuilder::Float(Float64Builder::with_capacity(rows)),
            ColumnType::Str => FieldBuilder::Str(StringBuilder::with_capacity(rows, rows * 8)),
        }
    }

    fn append(&mut self, v: Option<&FieldValue>) {
        match (self, v) {
            (FieldBuilder::Bool(b), Some(FieldValue::Bool(x))) => b.append_value(*x),
            (FieldBuilder::Int(b), Some(FieldValue::Int(x))) => b.append_value(*x),
            (FieldBuilder::UInt(b), Some(FieldValue::UInt(x))) => b.append_value(*x),
            (FieldBuilder::Str(b), Some(v)) => b.append_value(v.to_string()),
            (FieldBuilder::Float(b), Some(v)) => b.append_option(v.as_f64()),
            (FieldBuilder::Bool(b), _) => b.append_null(),
            (FieldBuilder::Int(b), _) => b.append_null(),
            (FieldBuilder::UInt(b), _) => b.append_null(),
            (FieldBuilder::Float(b), _) => b.append_null(),
            (FieldBuilder::Str(b), None) => b.append_null(),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            FieldBuilder::Bool(mut b) => Arc::new(b.finish()),
            FieldBuilder::Int(mut b) => Arc::new(b.finish()),
            FieldBuilder::UInt(mut b) => Arc::new(b.finish()),
            FieldBuilder::Float(mut b) => Arc::new(b.finish()),
            FieldBuilder::Str(mut b) => Arc::new(b.finish()),
        }
    }
}

/// Writes `table` (one measurement, one day) as the partition file at `path`, replacing any
/// previous file atomically, and returns its catalog entry.
pub fn write(path: &Path, measurement: &str, day: i64, table: &Table) -> Result<PartitionMeta> {
    let mut tag_keys = BTreeSet::new();
    let mut field_types: BTreeMap<&str, ColumnType> = BTreeMap::new();
    for (tags, fields) in &table.series {
        tag_keys.extend(tags.iter().map(|(k, _)| k.as_str()));
        for (name, column) in fields {
            for v in column.values() {
                let t = ColumnType::of(v);
                field_types.entry(name.as_str()).and_modify(|c| *c = c.widen(t)).or_insert(t);
            }
        }
    }
    // A tag key that is also a field name would make two columns of one name; the field
    // keeps the plain name and the tag column is suffixed.
    let tag_column =
        |k: &str| if field_types.contains_key(k) || k == TIME_COLUMN { format!("{k}_tag") } else { k.to_string() };

    let mut series: Vec<(&Tags, &BTreeMap<String, _>)> = table.series.iter().collect();
    series.sort_by(|a, b| a.0.cmp(b.0));

    let mut times = Vec::new();
    let mut tag_builders: Vec<StringBuilder> = tag_keys.iter().map(|_| StringBuilder::new()).collect();
    let mut field_builders: Vec<FieldBuilder> = field_types.values().map(|&t| FieldBuilder::new(t, 0)).collect();
    let mut stats = Vec::with_capacity(series.len());

    for (tags, fields) in series {
        let timestamps: BTreeSet<i64> = fields.values().flat_map(|c| c.keys().copied()).collect();
        for &ts in &timestamps {
            times.push(ts);
            for (builder, key) in tag_builders.iter_mut().zip(&tag_keys) {
                builder.append_option(tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()));
            }
            for (builder, name) in field_builders.iter_mut().zip(field_types.keys()) {
                builder.append(fields.get(*name).and_then(|c| c.get(&ts)));
            }
        }
        let field_stats = fields
            .iter()
            .filter_map(|(name, column)| {
                let (first, _) = column.first_key_value()?;
                let (last, _) = column.last_key_value()?;
                let kind = field_types.get(name.as_str()).map_or("float", |t| t.name());
                Some(FieldStats {
                    name: name.clone(),
                    kind: kind.to_string(),
                    count: column.len() as u64,
                    first_ns: *first,
                    last_ns: *last,
                })
            })
            .collect();
        stats.push(SeriesStats { tags: tags.clone(), fields: field_stats });
    }

    let rows = times.len();
    let mut schema_fields =
        vec![Field::new(TIME_COLUMN, DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(TimestampNanosecondArray::from(times).with_timezone("UTC"))];
    for (key, mut builder) in tag_keys.iter().zip(tag_builders) {
        schema_fields.push(Field::new(tag_column(key), DataType::Utf8, true));
        columns.push(Arc::new(builder.finish()));
    }
    for ((name, kind), builder) in field_types.iter().zip(field_builders) {
        schema_fields.push(Field::new(*name, kind.data_type(), true));
        columns.push(builder.finish());
    }
    let mut arrow_schema = Schema::new(schema_fields);
    // Records which columns are tags, so the reader does not have to guess.
    let tag_map: BTreeMap<String, String> = tag_keys.iter().map(|k| (tag_column(k), k.to_string())).collect();
    arrow_schema.metadata.insert("fieldline.tags".to_string(), serde_json::to_string(&tag_map).map_err(Error::other)?);
    let batch = RecordBatch::try_new(Arc::new(arrow_schema), columns).map_err(Error::other)?;

    let series_json = serde_json::to_string(&stats).map_err(Error::other)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(META_MEASUREMENT.to_string(), measurement.to_string()),
            KeyValue::new(META_SERIES.to_string(), series_json),
        ]))
        .build();

    let dir = path.parent().ok_or_else(|| Error::Other("partition path has no parent".into()))?;
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("parquet.tmp");
    let file = File::create(&tmp)?;
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(Error::other)?;
    writer.write(&batch).map_err(Error::other)?;
    let file = writer.into_inner().map_err(Error::other)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    super::wal::sync_dir(dir)?;

    Ok(PartitionMeta { path: path.to_path_buf(), measurement: measurement.to_string(), day, series: stats, rows })
}

/// Reads a partition's catalog entry from its footer.
pub fn read_meta(path: &Path) -> Result<PartitionMeta> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?).map_err(Error::other)?;
    let meta = builder.metadata().file_metadata();
    let kv = meta.key_value_metadata();
    let get = |key: &str| kv.and_then(|kv| kv.iter().find(|e| e.key == key)).and_then(|e| e.value.clone());
    let measurement =
        get(META_MEASUREMENT).ok_or_else(|| Error::Other(format!("{}: no measurement metadata", path.display())))?;
    let series: Vec<SeriesStats> = match get(META_SERIES) {
        Some(json) => serde_json::from_str(&json).map_err(Error::other)?,
        None => Vec::new(),
    };
    let day = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(parse_day_name)
        .ok_or_else(|| Error::Other(format!("{}: file name is not a day", path.display())))?;
    let rows = usize::try_from(meta.num_rows()).unwrap_or(0);
    Ok(PartitionMeta { path: path.to_path_buf(), measurement, day, series, rows })
}

/// Every partition file under `root` (skipping leftovers of interrupted writes).
pub fn discover(root: &Path) -> Result<Vec<PartitionMeta>> {
    let mut out = Vec::new();
    if !root.exists() {
        return Ok(out);
    }
    for dir in fs::read_dir(root)? {
        let dir = dir?.path();
        if !dir.is_dir() {
            continue;
        }
        for file in fs::read_dir(&dir)? {
            let path = file?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("parquet") => match read_meta(&path) {
                    Ok(meta) => out.push(meta),
                    Err(e) => tracing::error!(path = %path.display(), error = %e, "skipping unreadable partition"),
                },
                Some("tmp") => {
                    // A snapshot interrupted before its rename: the WAL still holds the data.
                    let _ = fs::remove_file(&path);
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Reads the rows of a partition that pass `filter` into `out` (newer data in `out` is
/// overwritten, so scan partitions before buffers).
pub fn scan(path: &Path, filter: &ScanFilter<'_>, out: &mut Table) -> Result<()> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path)?).map_err(Error::other)?;
    let schema = builder.schema().clone();
    let tag_map: BTreeMap<String, String> =
        schema.metadata.get("fieldline.tags").and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default();
    // Columns to read: time, all tags, the wanted fields.
    let mut indices = Vec::new();
    let mut tag_cols = Vec::new();
    let mut field_cols = Vec::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if f.name() == TIME_COLUMN {
            indices.push(i);
        } else if let Some(key) = tag_map.get(f.name()) {
            indices.push(i);
            tag_cols.push((i, key.clone()));
        } else if filter.wants_field(f.name()) {
            indices.push(i);
            field_cols.push((i, f.name().clone()));
        }
    }
    if field_cols.is_empty() {
        return Ok(());
    }
    // Tag filters on keys this file lacks can never match.
    if filter.tags.iter().any(|(k, _)| !tag_cols.iter().any(|(_, key)| key == k)) {
        return Ok(());
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices.iter().copied());
    let reader = builder.with_projection(mask).build().map_err(Error::other)?;
    for batch in reader {
        let batch = batch.map_err(Error::other)?;
        let bschema = batch.schema();
        let col = |name: &str| bschema.index_of(name).ok().map(|i| batch.column(i).clone());
        let times = col(TIME_COLUMN).ok_or_else(|| Error::Other("partition without time column".into()))?;
        let times = times
            .as_primitive_opt::<TimestampNanosecondType>()
            .ok_or_else(|| Error::Other("time column type".into()))?;
        let tag_arrays: Vec<(String, ArrayRef)> =
            tag_cols.iter().filter_map(|(i, key)| col(schema.field(*i).name()).map(|a| (key.clone(), a))).collect();
        let field_arrays: Vec<(String, ArrayRef)> =
            field_cols.iter().filter_map(|(_, name)| col(name).map(|a| (name.clone(), a))).collect();
        for row in 0..batch.num_rows() {
            let ts = times.value(row);
            if ts < filter.start_ns || ts >= filter.stop_ns {
                continue;
            }
            let mut tags: Tags = Vec::with_capacity(tag_arrays.len());
            for (key, array) in &tag_arrays {
                let strings = array.as_string::<i32>();
                if strings.is_valid(row) {
                    tags.push((key.clone(), strings.value(row).to_string()));
                }
            }
            if !tags_match(&tags, filter.tags) {
                continue;
            }
            let series = out.series.entry(tags).or_default();
            for (name, array) in &field_arrays {
                if let Some(v) = value_at(array, row) {
                    series.entry(name.clone()).or_default().insert(ts, v);
                }
            }
        }
    }
    Ok(())
}

/// Reads a whole partition (for merging into a new snapshot).
pub fn read_all(path: &Path) -> Result<Table> {
    let mut table = Table::default();
    let filter = ScanFilter { start_ns: i64::MIN, stop_ns: i64::MAX, tags: &[], fields: None };
    scan(path, &filter, &mut table)?;
    Ok(table)
}

fn value_at(array: &ArrayRef, row: usize) -> Option<FieldValue> {
    if array.is_null(row) {
        return None;
    }
    Some(match array.data_type() {
        DataType::Float64 => FieldValue::Float(array.as_primitive::<Float64Type>().value(row)),
        DataType::Int64 => FieldValue::Int(array.as_primitive::<Int64Type>().value(row)),
        DataType::UInt64 => FieldValue::UInt(array.as_primitive::<UInt64Type>().value(row)),
        DataType::Boolean => FieldValue::Bool(array.as_boolean().value(row)),
        DataType::Utf8 => FieldValue::Str(array.as_string::<i32>().value(row).to_string()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::default();
        for (device, base) in [("wt01", 0.0), ("wt02", 100.0)] {
            let tags = vec![("device".to_string(), device.to_string()), ("site".to_string(), "heze".to_string())];
            for i in 0..5 {
                t.insert(
                    tags.clone(),
                    vec![
                        ("power_kw".into(), FieldValue::Float(base + i as f64)),
                        ("status".into(), FieldValue::Int(i)),
                        ("note".into(), FieldValue::Str(format!("n{i}"))),
                    ],
                    i * 1_000_000_000,
                );
            }
        }
        t
    }

    #[test]
    fn write_then_read_round_trips_with_stats() {
        let dir = tempfile::tempdir().unwrap();
        let path = partition_path(dir.path(), "wind_turbine", 0);
        let table = sample();
        let meta = write(&path, "wind_turbine", 0, &table).unwrap();
        assert_eq!(meta.rows, 10);
        let back = read_all(&path).unwrap();
        assert_eq!(back.series, table.series);
        let reread = read_meta(&path).unwrap();
        assert_eq!(reread.measurement, "wind_turbine");
        assert_eq!(reread.day, 0);
        assert_eq!(reread.series, meta.series);
        let wt01 = reread.series.iter().find(|s| s.tags[0].1 == "wt01").unwrap();
        let power = wt01.fields.iter().find(|f| f.name == "power_kw").unwrap();
        assert_eq!((power.count, power.first_ns, power.last_ns), (5, 0, 4_000_000_000));
    }

    #[test]
    fn scan_projects_and_filters() {
        let dir = tempfile::tempdir().unwrap();
        let path = partition_path(dir.path(), "wind_turbine", 0);
        write(&path, "wind_turbine", 0, &sample()).unwrap();
        let tags = vec![("device".to_string(), "wt02".to_string())];
        let fields = vec!["power_kw".to_string()];
        let filter = ScanFilter { start_ns: 1_000_000_000, stop_ns: 3_000_000_000, tags: &tags, fields: Some(&fields) };
        let mut out = Table::default();
        scan(&path, &filter, &mut out).unwrap();
        assert_eq!(out.series.len(), 1);
        let (_, fields) = out.series.iter().next().unwrap();
        let col = &fields["power_kw"];
        assert_eq!(col.values().cloned().collect::<Vec<_>>(), vec![FieldValue::Float(101.0), FieldValue::Float(102.0)]);
        assert!(!fields.contains_key("note"));
    }

    #[test]
    fn mixed_types_widen() {
        let mut t = Table::default();
        let tags = vec![("device".to_string(), "x".to_string())];
        t.insert(tags.clone(), vec![("v".into(), FieldValue::Int(1))], 1);
        t.insert(tags.clone(), vec![("v".into(), FieldValue::Float(2.5))], 2);
        let dir = tempfile::tempdir().unwrap();
        let path = partition_path(dir.path(), "m", 0);
        write(&path, "m", 0, &t).unwrap();
        let back = read_all(&path).unwrap();
        let col = &back.series[&tags]["v"];
        assert_eq!(col.values().cloned().collect::<Vec<_>>(), vec![FieldValue::Float(1.0), FieldValue::Float(2.5)]);
    }

    #[test]
    fn unsafe_measurement_names_stay_inside_the_root() {
        assert_eq!(measurement_dir_name("../etc"), "%2E.%2Fetc");
        assert_eq!(measurement_dir_name(".."), "%2E.");
        assert_eq!(measurement_dir_name("wind_turbine"), "wind_turbine");
        assert_eq!(day_name(0), "1970-01-01");
        assert_eq!(parse_day_name("1970-01-02"), Some(1));
        assert_eq!(day_of(-1), -1);
    }
}
