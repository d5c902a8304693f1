//! Where simulated readings go: one CSV or Parquet file per kind plus `ground_truth.jsonl`
//! ([`write_history`]), or InfluxDB line protocol ([`to_point`], [`LineProtocolSink`]) for
//! the HTTP backfill.
//!
//! Files are wide tables: `time` (RFC 3339 UTC in CSV, a UTC nanosecond timestamp in
//! Parquet), `site`, `device`, the kind's extra tags (`issued` for `nwp`; `species`,
//! `trap_type` for `pest_trap`), then the kind's fields in DESIGN.md order. A field the
//! device does not report is empty (CSV) or null (Parquet). Rows are in emission order:
//! by time, then by device in scenario order (NWP files: by publication, then valid time).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float64Builder, StringBuilder};
use arrow_array::{ArrayRef, RecordBatch, TimestampNanosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use fieldline_core::{FieldValue, Point};
use fieldline_ingest::decode::lineproto;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::engine::{SimOptions, Simulation};
use super::faults::GroundTruth;
use super::{DeviceInfo, Error, Kind, Row, RowSink, Scenario, Value, rfc3339};

/// Rows per Parquet record batch.
const PARQUET_BATCH_ROWS: usize = 65_536;

/// File format of [`write_history`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Parquet,
}

/// What [`write_history`] wrote.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Each data file with its row count, then the ground-truth file with its event count.
    pub files: Vec<(PathBuf, u64)>,
    pub rows: u64,
    pub events: usize,
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io { path: path.display().to_string(), source }
}

/// Simulates `[options.start, end)` into `dir`: one file per kind and `ground_truth.jsonl`.
pub fn write_history(
    scenario: &Scenario,
    options: &SimOptions,
    end: i64,
    dir: &Path,
    format: Format,
) -> Result<Summary, Error> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let mut sim = Simulation::new(scenario, &SimOptions { end: Some(end), ..options.clone() })?;
    let mut files = match format {
        Format::Csv => {
            let mut sink = CsvSink::create(dir, sim.devices())?;
            sim.run_until(end, &mut sink)?;
            sink.finish()?
        }
        Format::Parquet => {
            let mut sink = ParquetSink::create(dir, sim.devices())?;
            sim.run_until(end, &mut sink)?;
            sink.finish()?
        }
    };
    let mut truth = sim.finish();
    truth.sort();
    let path = dir.join("ground_truth.jsonl");
    write_ground_truth(&path, &truth)?;
    files.push((path, truth.len() as u64));
    Ok(Summary { files, rows: sim.rows(), events: truth.len() })
}

/// Writes ground-truth records as JSON lines (replacing the file).
pub fn write_ground_truth(path: &Path, truth: &[GroundTruth]) -> Result<(), Error> {
    let file = File::create(path).map_err(io_error(path))?;
    let mut out = BufWriter::new(file);
    append_ground_truth(&mut out, truth).map_err(io_error(path))?;
    out.flush().map_err(io_error(path))
}

/// Opens `path` for appending ground truth (created if missing); nothing without a path.
pub fn open_ground_truth(path: Option<&Path>) -> std::io::Result<Option<File>> {
    let Some(path) = path else { return Ok(None) };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Some)
        .map_err(|e| std::io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))
}

/// Appends ground-truth records as JSON lines.
pub fn append_ground_truth(out: &mut impl Write, truth: &[GroundTruth]) -> std::io::Result<()> {
    for record in truth {
        let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Formats `YYYY-MM-DDTHH:MM:SSZ`, caching the date (rows come in time order).
#[derive(Debug, Default)]
struct TimeText {
    day: Option<i64>,
    date: String,
}

impl TimeText {
    fn push(&mut self, t: i64, out: &mut String) {
        let day = t.div_euclid(86_400);
        if self.day != Some(day) {
            let (y, m, d) = civil_from_days(day);
            self.date.clear();
            let _ = write!(self.date, "{y:04}-{m:02}-{d:02}T");
            self.day = Some(day);
        }
        out.push_str(&self.date);
        let s = t.rem_euclid(86_400);
        let _ = write!(out, "{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60);
    }
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Kinds present among `devices`, in [`Kind::ALL`] order.
fn kinds_of(devices: &[DeviceInfo]) -> Vec<Kind> {
    Kind::ALL.into_iter().filter(|k| devices.iter().any(|d| d.kind == *k)).collect()
}

fn header(kind: Kind) -> Vec<&'static str> {
    let mut columns = vec!["time", "site", "device"];
    columns.extend(kind.extra_tags());
    columns.extend(kind.fields());
    columns
}

/// One CSV file per kind.
pub struct CsvSink {
    writers: BTreeMap<Kind, (PathBuf, csv::Writer<BufWriter<File>>, u64)>,
    text: String,
    time: TimeText,
}

impl CsvSink {
    pub fn create(dir: &Path, devices: &[DeviceInfo]) -> Result<Self, Error> {
        let mut writers = BTreeMap::new();
        for kind in kinds_of(devices) {
            let path = dir.join(format!("{}.csv", kind.name()));
            let file = File::create(&path).map_err(io_error(&path))?;
            let mut writer = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file));
            writer.write_record(header(kind)).map_err(|e| csv_error(&path, e))?;
            writers.insert(kind, (path, writer, 0));
        }
        Ok(CsvSink { writers, text: String::with_capacity(64), time: TimeText::default() })
    }

    /// Flushes every file; returns them with their row counts.
    pub fn finish(self) -> Result<Vec<(PathBuf, u64)>, Error> {
        let mut out = Vec::new();
        for (_, (path, mut writer, rows)) in self.writers {
            writer.flush().map_err(io_error(&path))?;
            out.push((path, rows));
        }
        Ok(out)
    }
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    Error::Io { path: path.display().to_string(), source: std::io::Error::other(e) }
}

impl RowSink for CsvSink {
    fn row(&mut self, devices: &[DeviceInfo], row: &Row<'_>) -> Result<(), Error> {
        let Some(info) = devices.get(row.device) else {
            return Err(Error::Options(format!("internal: unknown device {}", row.device)));
        };
        let Some((path, writer, rows)) = self.writers.get_mut(&info.kind) else {
            return Err(Error::Options(format!("internal: no file for {}", info.kind.name())));
        };
        let text = &mut self.text;
        text.clear();
        self.time.push(row.ts, text);
        let fail = |e| csv_error(path, e);
        writer.write_field(text.as_bytes()).map_err(fail)?;
        writer.write_field(&info.site).map_err(fail)?;
        writer.write_field(&info.device).map_err(fail)?;
        if info.kind == Kind::Nwp {
            writer.write_field(rfc3339(row.issued.unwrap_or(row.ts))).map_err(fail)?;
        }
        for (_, v) in &info.tags {
            writer.write_field(v).map_err(fail)?;
        }
        for value in row.values {
            text.clear();
            match value {
                Value::Num(v) => {
                    let _ = write!(text, "{v}");
                }
                Value::Bool(b) => text.push_str(if *b { "true" } else { "false" }),
                Value::Text(s) => text.push_str(s),
                Value::Missing => {}
            }
            writer.write_field(text.as_bytes()).map_err(fail)?;
        }
        writer.write_record(None::<&[u8]>).map_err(fail)?;
        *rows += 1;
        Ok(())
    }
}

enum Column {
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Text(StringBuilder),
}

impl Column {
    fn for_field(name: &str) -> Self {
        match name {
            "status" => Column::Text(StringBuilder::new()),
            "curtailed" => Column::Bool(BooleanBuilder::new()),
            _ => Column::Float(Float64Builder::new()),
        }
    }

    fn data_type(&self) -> DataType {
        match self {
            Column::Float(_) => DataType::Float64,
            Column::Bool(_) => DataType::Boolean,
            Column::Text(_) => DataType::Utf8,
        }
    }

    fn append(&mut self, value: Value) {
        match (self, value) {
            (Column::Float(b), Value::Num(v)) => b.append_value(v),
            (Column::Bool(b), Value::Bool(v)) => b.append_value(v),
            (Column::Text(b), Value::Text(v)) => b.append_value(v),
            (Column::Float(b), _) => b.append_null(),
            (Column::Bool(b), _) => b.append_null(),
            (Column::Text(b), _) => b.append_null(),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Column::Float(b) => Arc::new(b.finish()),
            Column::Bool(b) => Arc::new(b.finish()),
            Column::Text(b) => Arc::new(b.finish()),
        }
    }
}

struct ParquetTable {
    path: PathBuf,
    writer: ArrowWriter<File>,
    schema: Arc<Schema>,
    time: Vec<i64>,
    tags: Vec<StringBuilder>,
    fields: Vec<Column>,
    rows: u64,
}

impl ParquetTable {
    fn flush(&mut self) -> Result<(), Error> {
        if self.time.is_empty() {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> =
            vec![Arc::new(TimestampNanosecondArray::from(std::mem::take(&mut self.time)).with_timezone("UTC"))];
        columns.extend(self.tags.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        columns.extend(self.fields.iter_mut().map(Column::finish));
        let batch = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| Error::Parquet(e.to_string()))?;
        self.writer.write(&batch).map_err(|e| Error::Parquet(format!("{}: {e}", self.path.display())))
    }
}

/// One Parquet file per kind (Snappy-compressed).
pub struct ParquetSink {
    tables: BTreeMap<Kind, ParquetTable>,
}

impl ParquetSink {
    pub fn create(dir: &Path, devices: &[DeviceInfo]) -> Result<Self, Error> {
        let mut tables = BTreeMap::new();
        for kind in kinds_of(devices) {
            let path = dir.join(format!("{}.parquet", kind.name()));
            let tag_names: Vec<&str> =
                ["site", "device"].into_iter().chain(kind.extra_tags().iter().copied()).collect();
            let fields: Vec<Column> = kind.fields().iter().map(|f| Column::for_field(f)).collect();
            let mut schema_fields =
                vec![Field::new("time", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false)];
            schema_fields.extend(tag_names.iter().map(|t| Field::new(*t, DataType::Utf8, false)));
            schema_fields
                .extend(kind.fields().iter().zip(&fields).map(|(name, col)| Field::new(*name, col.data_type(), true)));
            let schema = Arc::new(Schema::new(schema_fields));
            let file = File::create(&path).map_err(io_error(&path))?;
            let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
            let writer =
                ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| Error::Parquet(e.to_string()))?;
            tables.insert(
                kind,
                ParquetTable {
                    path,
                    writer,
                    schema,
                    time: Vec::with_capacity(PARQUET_BATCH_ROWS),
                    tags: tag_names.iter().map(|_| StringBuilder::new()).collect(),
                    fields,
                    rows: 0,
                },
            );
        }
        Ok(ParquetSink { tables })
    }

    pub fn finish(self) -> Result<Vec<(PathBuf, u64)>, Error> {
        let mut out = Vec::new();
        for (_, mut table) in self.tables {
            table.flush()?;
            table.writer.close().map_err(|e| Error::Parquet(format!("{}: {e}", table.path.display())))?;
            out.push((table.path, table.rows));
        }
        Ok(out)
    }
}

impl RowSink for ParquetSink {
    fn row(&mut self, devices: &[DeviceInfo], row: &Row<'_>) -> Result<(), Error> {
        let Some(info) = devices.get(row.device) else {
            return Err(Error::Options(format!("internal: unknown device {}", row.device)));
        };
        let Some(table) = self.tables.get_mut(&info.kind) else {
            return Err(Error::Options(format!("internal: no file for {}", info.kind.name())));
        };
        table.time.push(row.ts.saturating_mul(1_000_000_000));
        let mut tags = table.tags.iter_mut();
        if let Some(b) = tags.next() {
            b.append_value(&info.site);
        }
        if let Some(b) = tags.next() {
            b.append_value(&info.device);
        }
        if info.kind == Kind::Nwp
            && let Some(b) = tags.next()
        {
            b.append_value(rfc3339(row.issued.unwrap_or(row.ts)));
        }
        for ((_, v), b) in info.tags.iter().zip(tags) {
            b.append_value(v);
        }
        for (column, value) in table.fields.iter_mut().zip(row.values) {
            column.append(*value);
        }
        table.rows += 1;
        if table.time.len() >= PARQUET_BATCH_ROWS {
            table.flush()?;
        }
        Ok(())
    }
}

/// A reading as a fieldline point: measurement = kind, tags site, device and the extra tags.
pub fn to_point(devices: &[DeviceInfo], row: &Row<'_>) -> Option<Point> {
    let info = devices.get(row.device)?;
    let mut tags = vec![("site".to_string(), info.site.clone()), ("device".to_string(), info.device.clone())];
    tags.extend(info.tags.iter().cloned());
    if let Some(issued) = row.issued {
        tags.push(("issued".to_string(), rfc3339(issued)));
    }
    let fields = info
        .kind
        .fields()
        .iter()
        .zip(row.values)
        .filter_map(|(name, value)| {
            let v = match value {
                Value::Num(v) => FieldValue::Float(*v),
                Value::Bool(b) => FieldValue::Bool(*b),
                Value::Text(s) => FieldValue::Str((*s).to_string()),
                Value::Missing => return None,
            };
            Some(((*name).to_string(), v))
        })
        .collect();
    Some(Point::new(info.kind.name(), tags, fields, row.ts.saturating_mul(1_000_000_000)))
}

/// Encodes readings as line protocol and hands off batches of about `batch_bytes`.
pub struct LineProtocolSink<F: FnMut(String) -> Result<(), Error>> {
    buffer: String,
    batch_bytes: usize,
    send: F,
    pub lines: u64,
}

impl<F: FnMut(String) -> Result<(), Error>> LineProtocolSink<F> {
    pub fn new(batch_bytes: usize, send: F) -> Self {
        LineProtocolSink { buffer: String::with_capacity(batch_bytes + 4096), batch_bytes, send, lines: 0 }
    }

    /// Sends what is left.
    pub fn finish(mut self) -> Result<u64, Error> {
        if !self.buffer.is_empty() {
            (self.send)(std::mem::take(&mut self.buffer))?;
        }
        Ok(self.lines)
    }
}

impl<F: FnMut(String) -> Result<(), Error>> RowSink for LineProtocolSink<F> {
    fn row(&mut self, devices: &[DeviceInfo], row: &Row<'_>) -> Result<(), Error> {
        if let Some(point) = to_point(devices, row) {
            lineproto::encode(&point, &mut self.buffer);
            self.lines += 1;
        }
        if self.buffer.len() >= self.batch_bytes {
            let full = std::mem::replace(&mut self.buffer, String::with_capacity(self.batch_bytes + 4096));
            (self.send)(full)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_the_time_crate() {
        for t in [0i64, 951_782_400, 1_772_294_400, 4_107_542_399, -86_400] {
            let mut s = String::new();
            TimeText::default().push(t, &mut s);
            assert_eq!(s, rfc3339(t), "t = {t}");
        }
    }
}
