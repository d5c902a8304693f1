//! Parquet partitions: files per measurement and UTC day,
//! `parquet/{measurement}/{YYYY-MM-DD}.{generation}.parquet`, in the wide layout an analyst
//! expects (`time`, one string column per tag, one typed nullable column per field, rows
//! sorted by tags then time). Each snapshot writes a new file for every day it touches, with
//! the next generation number of the store; where a day's files hold the same series and
//! timestamp, the highest generation wins. Compaction merges a day's files into one, written
//! under the newest input's name (temporary file, fsync, rename, fsync the directory), then
//! deletes the older inputs; a crash in between leaves files the compacted one outranks.
//! `{YYYY-MM-DD}.parquet` (earlier versions: one file per day) is generation 0. Per-series
//! statistics live in the file's key-value metadata, so the catalog is rebuilt at startup
//! from footers alone.
//!
//! Integrity: the footer records a CRC-32 of everything before it (every page and page
//! header) and of the series statistics. The statistics are checked when the footer is read;
//! the data once per file and process, on its first read. A file that fails either is
//! [`Error::Corrupt`]: the store moves it to quarantine rather than serve wrong values.
//! Columns are unambiguous: tag columns that would share a name with a field (or `time`) get
//! a suffix, and the footer maps every column back to its tag or field name.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::builder::{BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, UInt64Builder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, ArrayRef, PrimitiveArray, RecordBatch, StringArray, TimestampNanosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use fieldline_core::FieldValue;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde::{Deserialize, Serialize};

use super::query::{Partial, Window, append_partials, partials};
use super::table::{Column, ScanFilter, SeriesSlice, Table, Tags};
use super::{Error, Result};
use fieldline_core::time::NS_PER_DAY;

const TIME_COLUMN: &str = "time";
const META_MEASUREMENT: &str = "fieldline.measurement";
const META_SERIES: &str = "fieldline.series";
/// Which column holds which tag and which field: `{"tags": {column: key}, "fields": {column: name}}`.
const META_COLUMNS: &str = "fieldline.columns";
/// Column name → tag key, in the Arrow schema metadata of files written before
/// `fieldline.columns` existed.
const LEGACY_META_TAGS: &str = "fieldline.tags";
/// `crc32 len` of every byte before the footer.
const META_DATA_CRC: &str = "fieldline.data_crc32";
/// CRC-32 of the measurement, series statistics and column map (what the catalog and the
/// reader rely on), joined by line breaks.
const META_CATALOG_CRC: &str = "fieldline.catalog_crc32";
/// Fewest rows in a row group (series are never split): five devices' days at one reading a
/// minute share a group, so a query for one device reads a fifth of a wind farm's file, and
/// dictionaries still span devices (a group per device made the files 2.7× larger).
const MIN_ROW_GROUP_ROWS: usize = 7200;
/// Longest directory name a measurement gets; longer escaped names are shortened and hashed.
const MAX_DIR_NAME: usize = 200;

/// UTC day number (days since 1970-01-01) of a timestamp.
pub fn day_of(ts_ns: i64) -> i64 {
    ts_ns.div_euclid(NS_PER_DAY)
}

/// `YYYY-MM-DD` of a day number.
pub fn day_name(day: i64) -> String {
    let date = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(day);
    let d = date.date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Day and generation of a partition file's stem: `YYYY-MM-DD.N`, or `YYYY-MM-DD` (generation 0).
fn parse_file_stem(stem: &str) -> Option<(i64, u64)> {
    match stem.split_once('.') {
        Some((day, generation)) if generation.bytes().all(|b| b.is_ascii_digit()) => {
            Some((parse_day_name(day)?, generation.parse().ok()?))
        }
        Some(_) => None,
        None => Some((parse_day_name(stem)?, 0)),
    }
}

fn parse_day_name(name: &str) -> Option<i64> {
    let date = fieldline_core::time::parse_date(name).ok()?;
    Some(i64::from((date - time::Date::from_calendar_date(1970, time::Month::January, 1).ok()?).whole_days() as i32))
}

/// Directory name for a measurement: safe characters kept, everything else `%XX`-escaped,
/// so no measurement name can climb out of the data directory. An escaped name longer than
/// 200 bytes is cut and ends in a hash of the whole name, so no measurement can fail a
/// snapshot with "file name too long" (the footer keeps the real name).
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
    if out.len() > MAX_DIR_NAME {
        let mut cut = MAX_DIR_NAME - 12;
        // Do not split an escape: the cut name stays unambiguous text.
        while cut > 0 && out.as_bytes().get(cut.saturating_sub(2)..cut).is_some_and(|w| w.contains(&b'%')) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str(&format!("~{:08x}", crc32fast::hash(measurement.as_bytes())));
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
#[derive(Debug)]
pub struct PartitionMeta {
    pub path: PathBuf,
    pub measurement: String,
    pub day: i64,
    /// Where the day's files overlap, the higher generation's values win.
    pub generation: u64,
    pub series: Vec<SeriesStats>,
    /// Set once the data checksum was verified in this process.
    verified: AtomicBool,
    /// The parsed footer of the file last read at `path`, so queries do not parse it again.
    footer: FooterCache,
    /// Set when the file left the catalog (compacted into another, or past retention): it is
    /// deleted once the last holder lets go, so a query that listed it can still read it.
    delete_when_unused: AtomicBool,
}

impl Drop for PartitionMeta {
    fn drop(&mut self) {
        if self.delete_when_unused.load(Ordering::Relaxed) {
            // A crash before this leaves a file its day's compacted file outranks; the next
            // compaction of the day folds it in.
            match fs::remove_file(&self.path) {
                Ok(()) => tracing::debug!(path = %self.path.display(), "partition file removed"),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => tracing::warn!(path = %self.path.display(), error = %e, "could not remove a partition file"),
            }
        }
    }
}

impl PartitionMeta {
    /// Deletes the file once nothing holds this entry any more (see `delete_when_unused`).
    pub fn delete_when_unused(&self) {
        self.delete_when_unused.store(true, Ordering::Relaxed);
    }

    /// Checks the file's data checksum once per process (a no-op afterwards).
    pub fn verify_once(&self) -> Result<()> {
        if self.verified.load(Ordering::Relaxed) {
            return Ok(());
        }
        verify_data(&self.path)?;
        self.verified.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// Path of the partition file of `measurement` for `day` and `generation` under `root`.
pub fn partition_path(root: &Path, measurement: &str, day: i64, generation: u64) -> PathBuf {
    let name = match generation {
        0 => format!("{}.parquet", day_name(day)),
        g => format!("{}.{g:06}.parquet", day_name(day)),
    };
    root.join(measurement_dir_name(measurement)).join(name)
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

/// Writes `series` (one measurement, one day; sorted by tags, each field's values in time
/// order, one per timestamp) as the partition file of `generation` under `root`, replacing a
/// file of that name atomically, and returns its catalog entry.
pub fn write(
    root: &Path,
    measurement: &str,
    day: i64,
    generation: u64,
    series: &[SeriesSlice<'_>],
) -> Result<PartitionMeta> {
    let path = &partition_path(root, measurement, day, generation);
    let mut tag_keys = BTreeSet::new();
    let mut field_types: BTreeMap<&str, ColumnType> = BTreeMap::new();
    for s in series {
        tag_keys.extend(s.tags.iter().map(|(k, _)| k.as_str()));
        for &(name, values) in &s.fields {
            for (_, v) in values {
                let t = ColumnType::of(v);
                field_types.entry(name).and_modify(|c| *c = c.widen(t)).or_insert(t);
            }
        }
    }
    // Column names: `time`, then fields under their own names (a field called `time` is
    // renamed), then tags (renamed when a field or `time` has the name). Every rename picks a
    // name no other column has, and the footer maps columns back.
    let mut taken: BTreeSet<String> = BTreeSet::from([TIME_COLUMN.to_string()]);
    let mut unique = |wanted: &str, suffix: &str| -> String {
        let mut name = wanted.to_string();
        let mut n = 1;
        while taken.contains(&name) {
            name = if n == 1 { format!("{wanted}_{suffix}") } else { format!("{wanted}_{suffix}{n}") };
            n += 1;
        }
        taken.insert(name.clone());
        name
    };
    let field_columns: Vec<String> = field_types.keys().map(|f| unique(f, "field")).collect();
    let tag_columns: Vec<String> = tag_keys.iter().map(|k| unique(k, "tag")).collect();

    let mut times = Vec::new();
    let mut tag_builders: Vec<StringBuilder> = tag_keys.iter().map(|_| StringBuilder::new()).collect();
    let mut field_builders: Vec<FieldBuilder> = field_types.values().map(|&t| FieldBuilder::new(t, 0)).collect();
    let mut stats = Vec::with_capacity(series.len());
    // Row-group boundaries: whole series, at least MIN_ROW_GROUP_ROWS rows per group, so a
    // query for one device skips the other devices' groups by their tag statistics.
    let mut row_groups = Vec::new();

    for SeriesSlice { tags, fields } in series {
        // Per field column, this series' values (or none) and a cursor into them; a row per
        // timestamp any field has, in time order (a merge of the fields' sorted values).
        let mut columns: Vec<&[(i64, FieldValue)]> = field_types
            .keys()
            .map(|name| fields.iter().find(|(n, _)| n == name).map_or(&[][..], |(_, values)| *values))
            .collect();
        let tag_values: Vec<Option<&str>> =
            tag_keys.iter().map(|key| tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())).collect();
        while let Some(ts) = columns.iter().filter_map(|c| c.first().map(|(t, _)| *t)).min() {
            times.push(ts);
            for (builder, value) in tag_builders.iter_mut().zip(&tag_values) {
                builder.append_option(*value);
            }
            for (builder, column) in field_builders.iter_mut().zip(columns.iter_mut()) {
                match column.split_first() {
                    Some(((t, v), rest)) if *t == ts => {
                        builder.append(Some(v));
                        *column = rest;
                    }
                    _ => builder.append(None),
                }
            }
        }
        let field_stats = fields
            .iter()
            .filter_map(|&(name, values)| {
                let (first, _) = values.first()?;
                let (last, _) = values.last()?;
                let kind = field_types.get(name).map_or("float", |t| t.name());
                Some(FieldStats {
                    name: name.to_string(),
                    kind: kind.to_string(),
                    count: values.len() as u64,
                    first_ns: *first,
                    last_ns: *last,
                })
            })
            .collect();
        stats.push(SeriesStats { tags: (*tags).clone(), fields: field_stats });
        let group_start = row_groups.last().copied().unwrap_or(0);
        if times.len() - group_start >= MIN_ROW_GROUP_ROWS {
            row_groups.push(times.len());
        }
    }
    if row_groups.last().copied().unwrap_or(0) < times.len() {
        row_groups.push(times.len());
    }

    let mut schema_fields =
        vec![Field::new(TIME_COLUMN, DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false)];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(TimestampNanosecondArray::from(times).with_timezone("UTC"))];
    for (column, mut builder) in tag_columns.iter().zip(tag_builders) {
        schema_fields.push(Field::new(column, DataType::Utf8, true));
        columns.push(Arc::new(builder.finish()));
    }
    for ((column, kind), builder) in field_columns.iter().zip(field_types.values()).zip(field_builders) {
        schema_fields.push(Field::new(column, kind.data_type(), true));
        columns.push(builder.finish());
    }
    let arrow_schema = Schema::new(schema_fields);
    let batch = RecordBatch::try_new(Arc::new(arrow_schema), columns).map_err(Error::other)?;

    // Records which column is which, so the reader does not guess.
    let column_map = ColumnMap {
        tags: tag_columns.iter().cloned().zip(tag_keys.iter().map(|k| k.to_string())).collect(),
        fields: field_columns.iter().cloned().zip(field_types.keys().map(|f| f.to_string())).collect(),
    };
    let columns_json = serde_json::to_string(&column_map).map_err(Error::other)?;
    let series_json = serde_json::to_string(&stats).map_err(Error::other)?;
    let props = WriterProperties::builder()
        // Snappy, not zstd: zstd files were 16 % smaller, but the parquet crate creates a zstd
        // context per page, which doubled one turbine's 30-day query (7 → 10 ms, 6 → 12 ms for
        // the plant's 60 daily maxima; fieldline bench query, same run).
        .set_compression(Compression::SNAPPY)
        // Timestamps are regular: deltas pack to a few bits each, a dictionary per group does not.
        .set_column_dictionary_enabled(ColumnPath::from(TIME_COLUMN), false)
        .set_column_encoding(ColumnPath::from(TIME_COLUMN), Encoding::DELTA_BINARY_PACKED)
        // No page indexes: they would sit between the checksummed pages and the footer,
        // uncovered, and nothing reads them yet. Chunk statistics stay in the footer.
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_offset_index_disabled(true)
        .set_key_value_metadata(Some(vec![
            KeyValue::new(META_MEASUREMENT.to_string(), measurement.to_string()),
            KeyValue::new(META_CATALOG_CRC.to_string(), catalog_crc(measurement, &series_json, &columns_json)),
            KeyValue::new(META_SERIES.to_string(), series_json),
            KeyValue::new(META_COLUMNS.to_string(), columns_json),
        ]))
        .build();

    let dir = path.parent().ok_or_else(|| Error::Other("partition path has no parent".into()))?;
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("parquet.tmp");
    let written = write_file(&tmp, &batch, &row_groups, props);
    if let Err(e) = written {
        // A full disk must not also keep the half-written file.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    super::crash::point("snapshot-tmp-written");
    fs::rename(&tmp, path)?;
    super::wal::sync_dir(dir)?;

    Ok(PartitionMeta {
        path: path.to_path_buf(),
        measurement: measurement.to_string(),
        day,
        generation,
        series: stats,
        verified: AtomicBool::new(true),
        footer: FooterCache::default(),
        delete_when_unused: AtomicBool::new(false),
    })
}

/// Writes `batch` to `path` as one row group per range ending at each of `row_group_ends`,
/// with the data checksum in the footer, and fsyncs it.
fn write_file(path: &Path, batch: &RecordBatch, row_group_ends: &[usize], props: WriterProperties) -> Result<()> {
    let checksum = Arc::new(Mutex::new((crc32fast::Hasher::new(), 0u64)));
    let file = Checksummed { inner: File::create(path)?, state: checksum.clone() };
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(Error::other)?;
    let mut start = 0;
    for &end in row_group_ends {
        writer.write(&batch.slice(start, end.saturating_sub(start))).map_err(Error::other)?;
        // Closes the row group here, at a series boundary.
        writer.flush().map_err(Error::other)?;
        start = end;
    }
    writer.sync()?;
    // Everything before the footer has passed through the checksum now.
    let (crc, len) = {
        let state = checksum.lock().map_err(|_| Error::Other("checksum lock poisoned".into()))?;
        (state.0.clone().finalize(), state.1)
    };
    writer.append_key_value_metadata(KeyValue::new(META_DATA_CRC.to_string(), format!("{crc} {len}")));
    let file = writer.into_inner().map_err(Error::other)?;
    file.inner.sync_all()?;
    Ok(())
}

/// A writer that checksums what passes through it.
struct Checksummed {
    inner: File,
    state: Arc<Mutex<(crc32fast::Hasher, u64)>>,
}

impl Write for Checksummed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        if let Ok(mut state) = self.state.lock() {
            state.0.update(&buf[..n]);
            state.1 += n as u64;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Which column holds which tag and which field.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ColumnMap {
    tags: BTreeMap<String, String>,
    fields: BTreeMap<String, String>,
}

fn catalog_crc(measurement: &str, series_json: &str, columns_json: &str) -> String {
    let mut hasher = crc32fast::Hasher::new();
    for part in [measurement, "\n", series_json, "\n", columns_json] {
        hasher.update(part.as_bytes());
    }
    hasher.finalize().to_string()
}

/// The footer entries the catalog and the reader rely on, checked against their checksum.
fn catalog_entries(path: &Path, kv: &BTreeMap<String, String>) -> Result<()> {
    let Some(expected) = kv.get(META_CATALOG_CRC) else { return Ok(()) };
    let get = |k: &str| kv.get(k).map_or("", String::as_str);
    if catalog_crc(get(META_MEASUREMENT), get(META_SERIES), get(META_COLUMNS)) != *expected {
        return Err(corrupt(path, "footer checksum mismatch (measurement, statistics or columns changed on disk)"));
    }
    Ok(())
}

/// The file's key-value footer entries.
fn footer(path: &Path) -> Result<BTreeMap<String, String>> {
    let metadata =
        ArrowReaderMetadata::load(&File::open(path)?, ArrowReaderOptions::new()).map_err(|e| corrupt(path, e))?;
    Ok(key_values(&metadata))
}

/// The key-value entries of a parsed footer.
fn key_values(metadata: &ArrowReaderMetadata) -> BTreeMap<String, String> {
    metadata
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| kv.iter().filter_map(|e| Some((e.key.clone(), e.value.clone()?))).collect())
        .unwrap_or_default()
}

/// Runs a read of `path` with the parquet crate, turning a panic into [`Error::Corrupt`]:
/// some damaged footers trip assertions inside the crate, and a damaged file must not take
/// a thread (or the start-up) down with it.
fn guarded<T>(path: &Path, read: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic while decoding".into());
            Err(corrupt(path, format!("undecodable ({message})")))
        }
    }
}

fn corrupt(path: &Path, detail: impl std::fmt::Display) -> Error {
    Error::Corrupt { path: path.to_path_buf(), detail: detail.to_string() }
}

/// Checks the CRC-32 of everything before the footer against the footer's record of it.
/// Files written before the checksum existed have none and pass.
pub fn verify_data(path: &Path) -> Result<()> {
    guarded(path, || verify_data_unguarded(path))
}

fn verify_data_unguarded(path: &Path) -> Result<()> {
    // One open file for the footer and the data: a compaction may rename a new file over
    // `path` in between, and the old footer's checksum does not match the new file's pages.
    let mut file = File::open(path)?;
    let metadata = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|e| corrupt(path, e))?;
    let kv = key_values(&metadata);
    let Some(recorded) = kv.get(META_DATA_CRC) else { return Ok(()) };
    let (crc, len) = recorded
        .split_once(' ')
        .and_then(|(c, l)| Some((c.parse::<u32>().ok()?, l.parse::<u64>().ok()?)))
        .ok_or_else(|| corrupt(path, format!("unreadable data checksum {recorded:?}")))?;
    let mut hasher = crc32fast::Hasher::new();
    use std::io::Seek;
    file.rewind()?;
    let mut file = file.take(len);
    let mut buf = vec![0u8; 1 << 16];
    let mut read = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        read += n as u64;
    }
    if read != len || hasher.finalize() != crc {
        return Err(corrupt(path, "data checksum mismatch (the file changed on disk)"));
    }
    Ok(())
}

/// Reads a partition's catalog entry from its footer (checking the footer's checksum).
pub fn read_meta(path: &Path) -> Result<PartitionMeta> {
    guarded(path, || read_meta_unguarded(path))
}

fn read_meta_unguarded(path: &Path) -> Result<PartitionMeta> {
    let kv = footer(path)?;
    catalog_entries(path, &kv)?;
    let measurement = kv.get(META_MEASUREMENT).cloned().ok_or_else(|| corrupt(path, "no measurement in the footer"))?;
    let series: Vec<SeriesStats> = match kv.get(META_SERIES) {
        Some(json) => serde_json::from_str(json).map_err(|e| corrupt(path, e))?,
        None => Vec::new(),
    };
    let (day, generation) = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(parse_file_stem)
        .ok_or_else(|| Error::Other(format!("{}: file name is not a day (and generation)", path.display())))?;
    Ok(PartitionMeta {
        path: path.to_path_buf(),
        measurement,
        day,
        generation,
        series,
        verified: AtomicBool::new(false),
        footer: FooterCache::default(),
        delete_when_unused: AtomicBool::new(false),
    })
}

/// A partition file whose footer is damaged, and what is wrong with it.
#[derive(Debug)]
pub struct Damaged {
    pub path: PathBuf,
    pub detail: String,
}

/// Every partition file under `root` (skipping leftovers of interrupted writes). Files whose
/// footer is damaged are returned separately, for the store to quarantine.
pub fn discover(root: &Path) -> Result<(Vec<PartitionMeta>, Vec<Damaged>)> {
    let mut out = Vec::new();
    let mut damaged = Vec::new();
    if !root.exists() {
        return Ok((out, damaged));
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
                    Err(Error::Corrupt { detail, .. }) => damaged.push(Damaged { path, detail }),
                    Err(e) => return Err(e),
                },
                Some("tmp") => {
                    // A snapshot interrupted before its rename: the WAL still holds the data.
                    let _ = fs::remove_file(&path);
                }
                _ => {}
            }
        }
    }
    Ok((out, damaged))
}

/// Reads the rows of a partition that pass `filter` into `out` (gathered after what `out`
/// holds, so scan partitions in time order). Decoding errors are [`Error::Corrupt`].
pub fn scan<G: Gather>(meta: &PartitionMeta, filter: &ScanFilter<'_>, out: &mut G) -> Result<()> {
    scan_path(&meta.path, Some(&meta.footer), filter, out)
}

fn scan_path<G: Gather>(path: &Path, cache: Option<&FooterCache>, filter: &ScanFilter<'_>, out: &mut G) -> Result<()> {
    // Rows go to runs of their own first, so a file that fails half-way adds nothing.
    let mut rows = out.empty();
    guarded(path, || scan_unguarded(path, cache, filter, &mut rows))?;
    out.append(rows);
    Ok(())
}

/// What a scan hands its rows to: per series, runs of values in time order.
pub trait Gather: Send + Sync + Sized {
    /// A new, empty gatherer of the same kind.
    fn empty(&self) -> Self;
    /// Adds values of one series (per field, in time order) after those it has.
    fn add(&mut self, tags: Tags, fields: impl IntoIterator<Item = (String, RunColumn)>);
    /// Adds `other`'s values after this one's.
    fn append(&mut self, other: Self);
}

/// Scanned files aggregated as they are read: per series and field, window partials in time
/// order, so a windowed query never holds its raw values (valid where no other file or
/// buffer holds values of the same day).
#[derive(Debug)]
pub struct WindowRuns {
    window: Window,
    series: std::collections::HashMap<Tags, BTreeMap<String, Vec<Partial>>>,
}

impl WindowRuns {
    pub fn new(window: Window) -> Self {
        WindowRuns { window, series: Default::default() }
    }

    /// Per series, per field, the window partials gathered.
    pub fn into_series(self) -> impl Iterator<Item = (Tags, BTreeMap<String, Vec<Partial>>)> {
        self.series.into_iter()
    }
}

impl Gather for WindowRuns {
    fn empty(&self) -> Self {
        WindowRuns::new(self.window)
    }

    fn add(&mut self, tags: Tags, fields: impl IntoIterator<Item = (String, RunColumn)>) {
        let series = self.series.entry(tags).or_default();
        for (name, values) in fields {
            let windows = partials(values.iter().map(|(t, v)| (*t, v)), self.window);
            if windows.is_empty() {
                continue;
            }
            match series.get_mut(&name) {
                Some(existing) => append_partials(existing, windows),
                None => {
                    series.insert(name, windows);
                }
            }
        }
    }

    fn append(&mut self, other: Self) {
        for (tags, fields) in other.series {
            let series = self.series.entry(tags).or_default();
            for (name, windows) in fields {
                match series.get_mut(&name) {
                    Some(existing) => append_partials(existing, windows),
                    None => {
                        series.insert(name, windows);
                    }
                }
            }
        }
    }
}

/// What scans of day files gather: per series and field, values in file order. Day files
/// hold disjoint days, so gathering is appending vectors; [`Runs::into_table`] builds each
/// column once, in bulk, instead of inserting every value into a map twice.
#[derive(Debug, Default)]
pub struct Runs {
    series: std::collections::HashMap<Tags, BTreeMap<String, RunColumn>>,
}

impl Gather for Runs {
    fn empty(&self) -> Self {
        Runs::default()
    }

    fn add(&mut self, tags: Tags, fields: impl IntoIterator<Item = (String, RunColumn)>) {
        let series = self.series.entry(tags).or_default();
        for (name, mut column) in fields {
            if column.is_empty() {
                continue;
            }
            match series.get_mut(&name) {
                Some(existing) => existing.append(&mut column),
                None => {
                    series.insert(name, column);
                }
            }
        }
    }

    fn append(&mut self, other: Runs) {
        for (tags, fields) in other.series {
            self.add(tags, fields);
        }
    }
}

impl Runs {
    /// Values at or after `ts_ns`, counted per series by its fullest field.
    pub fn count_from(&self, ts_ns: i64) -> usize {
        self.series
            .values()
            .map(|fields| fields.values().map(|c| c.iter().filter(|(t, _)| *t >= ts_ns).count()).max().unwrap_or(0))
            .sum()
    }

    /// Per series, per field, the values in the order gathered.
    pub fn into_series(self) -> impl Iterator<Item = (Tags, BTreeMap<String, RunColumn>)> {
        self.series.into_iter()
    }

    /// The gathered values as a table (for a timestamp seen twice, the later-gathered value).
    pub fn into_table(self) -> Table {
        let mut table = Table::default();
        for (tags, fields) in self.series {
            let series = table.series.entry(tags).or_default();
            for (name, column) in fields {
                series.insert(name, column.into_iter().collect::<Column>());
            }
        }
        table
    }
}

/// A parsed footer: the reader's metadata (tag columns as dictionaries) and what each column
/// holds. Kept in the partition's catalog entry while the file at its path is the same file.
struct Footer {
    identity: FileIdentity,
    metadata: ArrowReaderMetadata,
    time_index: usize,
    /// (column index, tag key)
    tags: Vec<(usize, String)>,
    /// (column index, field name)
    fields: Vec<(usize, String)>,
}

/// Which file a footer came from: a snapshot renames a new file over the path, and the new
/// file has another inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileIdentity {
    fn of(file: &File) -> std::io::Result<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = file.metadata()?;
        Ok(FileIdentity {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

/// The last footer parsed for a partition.
#[derive(Default)]
pub struct FooterCache(Mutex<Option<Arc<Footer>>>);

impl std::fmt::Debug for FooterCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FooterCache")
    }
}

impl FooterCache {
    /// The footer of `file` (open at `path`): the cached one if it is the same file.
    fn get(&self, file: &File, path: &Path) -> Result<Arc<Footer>> {
        let identity = FileIdentity::of(file)?;
        if let Ok(cached) = self.0.lock()
            && let Some(footer) = cached.as_ref()
            && footer.identity == identity
        {
            return Ok(footer.clone());
        }
        let footer = Arc::new(parse_footer(file, identity, path)?);
        if let Ok(mut cached) = self.0.lock() {
            *cached = Some(footer.clone());
        }
        Ok(footer)
    }
}

/// Parses `file`'s footer: checks the catalog checksum, maps columns to tags and fields.
fn parse_footer(file: &File, identity: FileIdentity, path: &Path) -> Result<Footer> {
    let plain = ArrowReaderMetadata::load(file, ArrowReaderOptions::new()).map_err(|e| corrupt(path, e))?;
    let kv = key_values(&plain);
    catalog_entries(path, &kv)?;
    let schema = plain.schema().clone();
    let columns: Option<ColumnMap> = match kv.get(META_COLUMNS) {
        Some(json) => Some(serde_json::from_str(json).map_err(|e| corrupt(path, e))?),
        None => None,
    };
    // Files from before `fieldline.columns`: tags listed in the Arrow metadata, the rest fields.
    let legacy_tags: BTreeMap<String, String> = match (&columns, schema.metadata.get(LEGACY_META_TAGS)) {
        (None, Some(json)) => serde_json::from_str(json).map_err(|e| corrupt(path, e))?,
        _ => BTreeMap::new(),
    };
    let (mut time_index, mut tags, mut fields) = (None, Vec::new(), Vec::new());
    for (i, f) in schema.fields().iter().enumerate() {
        let name = f.name();
        let (tag, field) = match &columns {
            Some(map) => (map.tags.get(name), map.fields.get(name)),
            None => (legacy_tags.get(name), (!legacy_tags.contains_key(name)).then_some(name)),
        };
        if name == TIME_COLUMN {
            time_index = Some(i);
        } else if let Some(key) = tag {
            tags.push((i, key.clone()));
        } else if let Some(field) = field {
            fields.push((i, field.clone()));
        } else {
            // A column the footer's (checksummed) map does not know: the schema changed on disk.
            return Err(corrupt(path, format!("unexpected column {name:?}")));
        }
    }
    let time_index = time_index.ok_or_else(|| corrupt(path, "no time column"))?;
    let metadata = with_dictionary_tags(plain, &schema, &tags);
    Ok(Footer { identity, metadata, time_index, tags, fields })
}

/// Whether row group `index` may hold rows passing the filter, by its column statistics
/// (time range, and each wanted tag value within the tag column's min..max).
fn row_group_may_match(footer: &Footer, index: usize, filter: &ScanFilter<'_>, wanted: &[(usize, &str)]) -> bool {
    use parquet::file::statistics::Statistics;
    let group = footer.metadata.metadata().row_group(index);
    if let Some(Statistics::Int64(s)) = group.column(footer.time_index).statistics()
        && let (Some(min), Some(max)) = (s.min_opt(), s.max_opt())
        && (*max < filter.start_ns || *min >= filter.stop_ns)
    {
        return false;
    }
    wanted.iter().all(|(column, value)| match group.column(*column).statistics() {
        // Truncated statistics stay bounds (min below, max above), so this never skips a match.
        Some(Statistics::ByteArray(s)) => match (s.min_opt(), s.max_opt()) {
            (Some(min), Some(max)) => min.data() <= value.as_bytes() && value.as_bytes() <= max.data(),
            _ => true,
        },
        _ => true,
    })
}

fn scan_unguarded<G: Gather>(
    path: &Path,
    cache: Option<&FooterCache>,
    filter: &ScanFilter<'_>,
    out: &mut G,
) -> Result<()> {
    // One open file for the footer and the pages: a snapshot may rename a new file over
    // `path`, and its pages do not match the old footer (the cache checks the inode).
    let file = File::open(path)?;
    let footer = match cache {
        Some(cache) => cache.get(&file, path)?,
        None => Arc::new(parse_footer(&file, FileIdentity::of(&file)?, path)?),
    };
    let schema = footer.metadata.schema().clone();
    let field_cols: Vec<(String, String)> = footer
        .fields
        .iter()
        .filter(|(_, field)| filter.wants_field(field))
        .map(|(i, field)| (schema.field(*i).name().clone(), field.clone()))
        .collect();
    if field_cols.is_empty() {
        return Ok(());
    }
    // Tag filters on keys this file lacks can never match.
    let mut wanted_columns = Vec::with_capacity(filter.tags.len());
    for (k, v) in filter.tags {
        match footer.tags.iter().find(|(_, key)| key == k) {
            Some((i, _)) => wanted_columns.push((*i, v.as_str())),
            None => return Ok(()),
        }
    }
    let tag_cols: Vec<(String, String)> =
        footer.tags.iter().map(|(i, key)| (schema.field(*i).name().clone(), key.clone())).collect();
    let indices = std::iter::once(footer.time_index)
        .chain(footer.tags.iter().map(|(i, _)| *i))
        .chain(footer.fields.iter().filter(|(_, f)| filter.wants_field(f)).map(|(i, _)| *i));
    let row_groups: Vec<usize> = (0..footer.metadata.metadata().num_row_groups())
        .filter(|&g| row_group_may_match(&footer, g, filter, &wanted_columns))
        .collect();
    if row_groups.is_empty() {
        return Ok(());
    }
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(file, footer.metadata.clone());
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    let reader = builder.with_projection(mask).with_row_groups(row_groups).build().map_err(|e| corrupt(path, e))?;
    'batches: for batch in reader {
        let batch = batch.map_err(|e| corrupt(path, e))?;
        let bschema = batch.schema();
        let col = |name: &str| bschema.index_of(name).ok().map(|i| batch.column(i).clone());
        let times = col(TIME_COLUMN).ok_or_else(|| corrupt(path, "no time column"))?;
        let times =
            times.as_primitive_opt::<TimestampNanosecondType>().ok_or_else(|| corrupt(path, "time column type"))?;
        let mut tag_arrays: Vec<(&String, ArrayRef)> = Vec::with_capacity(tag_cols.len());
        for (column, key) in &tag_cols {
            let Some(array) = col(column) else { continue };
            tag_arrays.push((key, array));
        }
        let mut tags_of_row: Vec<(&String, TagColumn<'_>)> = Vec::with_capacity(tag_arrays.len());
        for (key, array) in &tag_arrays {
            let column = TagColumn::new(array).ok_or_else(|| corrupt(path, format!("tag column {key} is not text")))?;
            tags_of_row.push((*key, column));
        }
        // The filter's tags, checked on dictionary codes (or borrowed strings) before any
        // String is built. A key with no column in this batch matches no row.
        let mut wanted: Vec<Wanted<'_>> = Vec::with_capacity(filter.tags.len());
        for (k, v) in filter.tags {
            match tags_of_row.iter().find(|(key, _)| *key == k) {
                Some((_, column)) => wanted.push(column.wanted(v)),
                None => continue 'batches,
            }
        }
        let field_arrays: Vec<(String, ArrayRef)> =
            field_cols.iter().filter_map(|(column, field)| col(column).map(|a| (field.clone(), a))).collect();
        // Rows are sorted by series, so a run of rows shares one tag set: gather the run's
        // values under it and look the series up once per run, not once per row.
        let mut run: Option<(usize, Tags, Vec<RunColumn>)> = None;
        for row in 0..batch.num_rows() {
            let ts = times.value(row);
            if ts < filter.start_ns || ts >= filter.stop_ns {
                continue;
            }
            if !wanted.iter().all(|w| w.matches(row)) {
                continue;
            }
            let same_series = run
                .as_ref()
                .is_some_and(|(first, _, _)| tags_of_row.iter().all(|(_, column)| column.same(*first, row)));
            if !same_series {
                if let Some((_, tags, values)) = run.take() {
                    out.add(tags, field_arrays.iter().map(|(name, _)| name.clone()).zip(values));
                }
                let tags: Tags = tags_of_row
                    .iter()
                    .filter_map(|(key, column)| column.value(row).map(|v| ((*key).clone(), v.to_string())))
                    .collect();
                run = Some((row, tags, vec![Vec::new(); field_arrays.len()]));
            }
            let Some((_, _, values)) = run.as_mut() else { continue };
            for ((_, array), column) in field_arrays.iter().zip(values.iter_mut()) {
                if let Some(v) = value_at(array, row) {
                    column.push((ts, v));
                }
            }
        }
        if let Some((_, tags, values)) = run {
            out.add(tags, field_arrays.iter().map(|(name, _)| name.clone()).zip(values));
        }
    }
    Ok(())
}

/// Asks the reader for the tag columns as Arrow dictionaries, as Parquet stores them, so rows
/// are filtered and grouped by integer codes. Falls back to plain strings if the reader
/// refuses (the scan handles both).
fn with_dictionary_tags(plain: ArrowReaderMetadata, schema: &Schema, tags: &[(usize, String)]) -> ArrowReaderMetadata {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let is_tag = tags.iter().any(|(column, _)| *column == i);
            if is_tag && f.data_type() == &DataType::Utf8 {
                Field::new(f.name(), DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), true)
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let dictionary_schema = Arc::new(Schema::new_with_metadata(fields, schema.metadata.clone()));
    let options = ArrowReaderOptions::new().with_schema(dictionary_schema);
    ArrowReaderMetadata::try_new(plain.metadata().clone(), options).unwrap_or(plain)
}

/// One tag column of a batch: dictionary codes and their strings, or plain strings.
enum TagColumn<'a> {
    Codes(&'a PrimitiveArray<Int32Type>, &'a StringArray),
    Text(&'a StringArray),
}

impl<'a> TagColumn<'a> {
    fn new(array: &'a ArrayRef) -> Option<Self> {
        if let Some(dictionary) = array.as_dictionary_opt::<Int32Type>() {
            return Some(TagColumn::Codes(dictionary.keys(), dictionary.values().as_string_opt::<i32>()?));
        }
        array.as_string_opt::<i32>().map(TagColumn::Text)
    }

    fn code(codes: &PrimitiveArray<Int32Type>, row: usize) -> Option<usize> {
        codes.is_valid(row).then(|| usize::try_from(codes.value(row)).ok()).flatten()
    }

    /// The row's tag value (`None` when the series lacks this tag).
    fn value(&self, row: usize) -> Option<&'a str> {
        match self {
            TagColumn::Codes(codes, strings) => {
                Self::code(codes, row).filter(|&i| i < strings.len()).map(|i| strings.value(i))
            }
            TagColumn::Text(strings) => strings.is_valid(row).then(|| strings.value(row)),
        }
    }

    /// Whether rows `a` and `b` have the same value (by code where there are codes).
    fn same(&self, a: usize, b: usize) -> bool {
        match self {
            TagColumn::Codes(codes, _) => Self::code(codes, a) == Self::code(codes, b),
            TagColumn::Text(_) => self.value(a) == self.value(b),
        }
    }

    /// A test for `value` on this column: one comparison per dictionary entry, then per row a
    /// lookup by code.
    fn wanted(&self, value: &'a str) -> Wanted<'a> {
        match self {
            TagColumn::Codes(codes, strings) => Wanted::Codes(
                codes,
                (0..strings.len()).map(|i| strings.is_valid(i) && strings.value(i) == value).collect(),
            ),
            TagColumn::Text(strings) => Wanted::Text(strings, value),
        }
    }
}

/// One tag equality of a scan filter, prepared for a batch.
enum Wanted<'a> {
    Codes(&'a PrimitiveArray<Int32Type>, Vec<bool>),
    Text(&'a StringArray, &'a str),
}

impl Wanted<'_> {
    fn matches(&self, row: usize) -> bool {
        match self {
            Wanted::Codes(codes, hits) => TagColumn::code(codes, row).is_some_and(|i| hits.get(i) == Some(&true)),
            Wanted::Text(strings, value) => strings.is_valid(row) && strings.value(row) == *value,
        }
    }
}

/// One field's values in a run of rows, in time order.
pub type RunColumn = Vec<(i64, FieldValue)>;

/// Reads a whole partition file (for compaction), checking its data checksum.
pub fn read_all(path: &Path) -> Result<Runs> {
    verify_data(path)?;
    let mut runs = Runs::default();
    let filter = ScanFilter { start_ns: i64::MIN, stop_ns: i64::MAX, tags: &[], fields: None };
    scan_path(path, None, &filter, &mut runs)?;
    Ok(runs)
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

    fn write_table(root: &Path, measurement: &str, day: i64, generation: u64, table: &Table) -> Result<PartitionMeta> {
        let owned = table.to_series_values();
        let series: Vec<SeriesSlice<'_>> = owned.iter().map(|s| s.slice()).collect();
        write(root, measurement, day, generation, &series)
    }

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
        let path = partition_path(dir.path(), "wind_turbine", 0, 1);
        let table = sample();
        let meta = write_table(dir.path(), "wind_turbine", 0, 1, &table).unwrap();
        let back = read_all(&path).unwrap().into_table();
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
        let path = partition_path(dir.path(), "wind_turbine", 0, 1);
        write_table(dir.path(), "wind_turbine", 0, 1, &sample()).unwrap();
        let tags = vec![("device".to_string(), "wt02".to_string())];
        let fields = vec!["power_kw".to_string()];
        let filter = ScanFilter { start_ns: 1_000_000_000, stop_ns: 3_000_000_000, tags: &tags, fields: Some(&fields) };
        let mut runs = Runs::default();
        scan_path(&path, None, &filter, &mut runs).unwrap();
        let out = runs.into_table();
        assert_eq!(out.series.len(), 1);
        let (_, fields) = out.series.iter().next().unwrap();
        let col = &fields["power_kw"];
        assert_eq!(col.values().cloned().collect::<Vec<_>>(), vec![FieldValue::Float(101.0), FieldValue::Float(102.0)]);
        assert!(!fields.contains_key("note"));
    }

    /// `devices` series of `rows` readings each, one a second from t = 0.
    fn devices(devices: usize, rows: i64) -> Table {
        let mut t = Table::default();
        for d in 0..devices {
            for i in 0..rows {
                let tags = vec![("device".to_string(), format!("d{d}"))];
                t.insert(
                    tags,
                    vec![("x".into(), FieldValue::Float((d * 10_000) as f64 + i as f64))],
                    i * 1_000_000_000,
                );
            }
        }
        t
    }

    fn scan_values(meta: &PartitionMeta, device: &str, start_ns: i64, stop_ns: i64) -> Vec<FieldValue> {
        let tags = vec![("device".to_string(), device.to_string())];
        let filter = ScanFilter { start_ns, stop_ns, tags: &tags, fields: None };
        let mut runs = Runs::default();
        scan(meta, &filter, &mut runs).unwrap();
        runs.into_table().series.into_values().flat_map(|f| f.into_values()).flat_map(|c| c.into_values()).collect()
    }

    #[test]
    fn busy_series_get_row_groups_that_statistics_can_skip() {
        let dir = tempfile::tempdir().unwrap();
        let path = partition_path(dir.path(), "m", 0, 1);
        let meta = write_table(dir.path(), "m", 0, 1, &devices(3, MIN_ROW_GROUP_ROWS as i64 + 100)).unwrap();
        let file = File::open(&path).unwrap();
        let footer = meta.footer.get(&file, &path).unwrap();
        assert_eq!(footer.metadata.metadata().num_row_groups(), 3, "one group per device");
        let wanted = [(footer.tags[0].0, "d1")];
        let all = ScanFilter { start_ns: i64::MIN, stop_ns: i64::MAX, tags: &[], fields: None };
        let kept: Vec<usize> = (0..3).filter(|&g| row_group_may_match(&footer, g, &all, &wanted)).collect();
        assert_eq!(kept, vec![1], "only d1's group is read");
        let late = ScanFilter { start_ns: 20_000 * 1_000_000_000, stop_ns: i64::MAX, tags: &[], fields: None };
        assert!((0..3).all(|g| !row_group_may_match(&footer, g, &late, &[])), "time statistics skip every group");
        // And the answers are exact.
        let values = scan_values(&meta, "d1", 10 * 1_000_000_000, 13 * 1_000_000_000);
        assert_eq!(values, vec![FieldValue::Float(10_010.0), FieldValue::Float(10_011.0), FieldValue::Float(10_012.0)]);
        assert!(scan_values(&meta, "d9", i64::MIN, i64::MAX).is_empty());
        // Small series share a group: a file of quiet devices stays one group.
        let quiet = write_table(dir.path(), "q", 0, 1, &devices(5, 24)).unwrap();
        let file = File::open(&quiet.path).unwrap();
        assert_eq!(quiet.footer.get(&file, &quiet.path).unwrap().metadata.metadata().num_row_groups(), 1);
    }

    #[test]
    fn a_cached_footer_is_not_used_for_a_new_file_at_the_same_path() {
        let dir = tempfile::tempdir().unwrap();
        let old = write_table(dir.path(), "m", 0, 1, &devices(2, 100)).unwrap();
        assert_eq!(scan_values(&old, "d1", 0, 1_000_000_000), vec![FieldValue::Float(10_000.0)]);
        // A compaction renames another file over the path; a scan still holding the old
        // catalog entry (and its cached footer) must read the new file correctly.
        write_table(dir.path(), "m", 0, 1, &devices(1, 3)).unwrap();
        assert!(scan_values(&old, "d1", i64::MIN, i64::MAX).is_empty());
        assert_eq!(scan_values(&old, "d0", i64::MIN, i64::MAX).len(), 3);
    }

    #[test]
    fn mixed_types_widen() {
        let mut t = Table::default();
        let tags = vec![("device".to_string(), "x".to_string())];
        t.insert(tags.clone(), vec![("v".into(), FieldValue::Int(1))], 1);
        t.insert(tags.clone(), vec![("v".into(), FieldValue::Float(2.5))], 2);
        let dir = tempfile::tempdir().unwrap();
        let path = partition_path(dir.path(), "m", 0, 1);
        write_table(dir.path(), "m", 0, 1, &t).unwrap();
        let back = read_all(&path).unwrap().into_table();
        let col = &back.series[&tags]["v"];
        assert_eq!(col.values().cloned().collect::<Vec<_>>(), vec![FieldValue::Float(1.0), FieldValue::Float(2.5)]);
    }

    /// Before: a field named `time` and a field named like a tag vanished at the snapshot.
    #[test]
    fn colliding_names_round_trip() {
        let mut t = Table::default();
        let tags = vec![("k".to_string(), "v".to_string()), ("k_tag".to_string(), "w".to_string())];
        t.insert(
            tags.clone(),
            vec![
                ("k".into(), FieldValue::Float(1.0)),
                ("time".into(), FieldValue::Float(2.0)),
                ("time_field".into(), FieldValue::Float(3.0)),
            ],
            5,
        );
        t.insert(vec![("time".to_string(), "t".to_string())], vec![("x".into(), FieldValue::Int(4))], 6);
        let dir = tempfile::tempdir().unwrap();
        let path = partition_path(dir.path(), "m", 0, 1);
        write_table(dir.path(), "m", 0, 1, &t).unwrap();
        assert_eq!(read_all(&path).unwrap().into_table().series, t.series);
        // A scan for one of the renamed fields finds it under its own name.
        let fields = vec!["time".to_string()];
        let filter = ScanFilter { start_ns: 0, stop_ns: 10, tags: &tags, fields: Some(&fields) };
        let mut runs = Runs::default();
        scan_path(&path, None, &filter, &mut runs).unwrap();
        let out = runs.into_table();
        assert_eq!(out.series[&tags]["time"].get(&5), Some(&FieldValue::Float(2.0)));
    }

    /// Every byte of the file flipped in turn: a flip before the footer is always detected
    /// (data checksum); anywhere, a flip is either detected or changes nothing that is read
    /// (the catalog entry and every value come back the same). Never silently wrong data,
    /// and never a panic (some damaged footers trip assertions inside the parquet crate).
    #[test]
    fn a_flipped_byte_is_detected_or_harmless() {
        let dir = tempfile::tempdir().unwrap();
        let path = partition_path(dir.path(), "wind_turbine", 0, 1);
        let meta = write_table(dir.path(), "wind_turbine", 0, 1, &sample()).unwrap();
        let original = fs::read(&path).unwrap();
        let footer_len = u32::from_le_bytes(original[original.len() - 8..original.len() - 4].try_into().unwrap());
        let footer_start = original.len() - 8 - footer_len as usize;
        let mut undetected_in_data = Vec::new();
        let mut silently_wrong = Vec::new();
        for at in 0..original.len() {
            let mut bytes = original.clone();
            bytes[at] ^= 0x01;
            fs::write(&path, &bytes).unwrap();
            let read = read_meta(&path).and_then(|m| {
                m.verify_once()?;
                Ok((m, read_all(&path)?.into_table()))
            });
            match read {
                Err(Error::Corrupt { .. }) => {}
                Err(e) => panic!("byte {at}: not reported as damage: {e}"),
                Ok((m, table)) => {
                    if at < footer_start {
                        undetected_in_data.push(at);
                    }
                    if table.series != sample().series || m.series != meta.series || m.measurement != meta.measurement {
                        silently_wrong.push(at);
                    }
                }
            }
        }
        assert!(undetected_in_data.is_empty(), "data bytes flipped undetected: {undetected_in_data:?}");
        assert!(silently_wrong.is_empty(), "flips that changed what is read, undetected: {silently_wrong:?}");
        fs::write(&path, &original).unwrap();
        assert!(read_all(&path).is_ok());
    }

    #[test]
    fn long_measurement_names_fit_a_file_name() {
        let long = "测".repeat(100);
        let name = measurement_dir_name(&long);
        assert!(name.len() <= 200, "{}", name.len());
        assert_ne!(name, measurement_dir_name(&"测".repeat(101)));
        let dir = tempfile::tempdir().unwrap();
        let mut t = Table::default();
        t.insert(vec![], vec![("x".into(), FieldValue::Float(1.0))], 1);
        let path = partition_path(dir.path(), &long, 0, 1);
        write_table(dir.path(), &long, 0, 1, &t).unwrap();
        assert_eq!(read_meta(&path).unwrap().measurement, long);
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

    #[test]
    fn file_names_carry_day_and_generation() {
        let root = Path::new("/data");
        let path = partition_path(root, "m", 1, 17);
        assert_eq!(path, Path::new("/data/m/1970-01-02.000017.parquet"));
        assert_eq!(parse_file_stem("1970-01-02.000017"), Some((1, 17)));
        assert_eq!(parse_file_stem("1970-01-02.12345678"), Some((1, 12_345_678)));
        // An earlier version's one file per day.
        assert_eq!(partition_path(root, "m", 1, 0), Path::new("/data/m/1970-01-02.parquet"));
        assert_eq!(parse_file_stem("1970-01-02"), Some((1, 0)));
        assert_eq!(parse_file_stem("1970-01-02.x"), None);
        assert_eq!(parse_file_stem("1970-01-02."), None);
        assert_eq!(parse_file_stem("notes"), None);
    }
}
