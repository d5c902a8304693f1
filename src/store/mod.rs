//! The embedded store: a write-ahead log fsync'd in groups, an in-memory buffer that queries
//! see the moment a write is acknowledged, and Parquet partitions (one file per measurement
//! per UTC day) that the buffer is snapshotted into. InfluxDB 3's WAL → Parquet design,
//! reduced to what one edge box needs.
//!
//! One writer thread owns the WAL ([`writer`]): it takes every queued write request,
//! appends them with one `write`, makes them durable with one `fdatasync` (group commit),
//! applies them to the buffer and only then resolves each request — which is when the MQTT
//! endpoint sends its PUBACK and the HTTP API its 204. A snapshot seals the WAL segment,
//! hands the buffer to a background thread that merges it into the day partitions, and
//! deletes the sealed segments once the Parquet files are durable. Restart replays whatever
//! segments remain.

pub mod partition;
pub mod query;
pub mod table;
pub mod wal;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use fieldline_ingest::Point;
use fieldline_ingest::sink::{PointSink, SinkError, WriteFuture};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use partition::{PartitionMeta, day_of};
use table::{Buffer, ScanFilter, Table, Tags, scan_into};

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
    #[error("store is shutting down")]
    ShuttingDown,
}

impl Error {
    pub(crate) fn other(e: impl std::fmt::Display) -> Self {
        Error::Other(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `[store]` section of `fieldline.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Values buffered in memory before they are snapshotted to Parquet.
    pub snapshot_values: usize,
    /// Longest time (seconds) acknowledged data stays only in the WAL and buffer.
    pub snapshot_interval_secs: u64,
    /// Write requests that may wait for the writer before senders are held back.
    pub queue_capacity: usize,
    /// Most points in one group commit.
    pub max_group_points: usize,
    /// Days of data kept per measurement (older day partitions are deleted); measurements
    /// not listed are kept forever.
    pub retention_days: BTreeMap<String, u32>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            snapshot_values: 2_000_000,
            snapshot_interval_secs: 600,
            queue_capacity: 4096,
            max_group_points: 200_000,
            retention_days: BTreeMap::from([("_deadletter".to_string(), 30)]),
        }
    }
}

/// The store's internal telemetry.
#[derive(Debug, Clone)]
pub struct StoreMetrics {
    pub points_written: Counter,
    pub wal_fsyncs: Counter,
    pub wal_bytes: Counter,
    pub write_errors: Counter,
    pub group_commit_requests: Histogram,
    pub snapshots: Counter,
    pub snapshot_seconds: Histogram,
    pub buffered_values: Gauge,
    pub queue_depth: Gauge,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        StoreMetrics {
            points_written: Counter::default(),
            wal_fsyncs: Counter::default(),
            wal_bytes: Counter::default(),
            write_errors: Counter::default(),
            group_commit_requests: Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]),
            snapshots: Counter::default(),
            snapshot_seconds: Histogram::new([0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0]),
            buffered_values: Gauge::default(),
            queue_depth: Gauge::default(),
        }
    }
}

impl StoreMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("fieldline_store");
        r.register("points_written", "Points made durable in the WAL", self.points_written.clone());
        r.register("wal_fsyncs", "WAL fdatasync calls (one per group commit)", self.wal_fsyncs.clone());
        r.register("wal_bytes", "Bytes appended to the WAL", self.wal_bytes.clone());
        r.register("write_errors", "Group commits that failed (requests not acknowledged)", self.write_errors.clone());
        r.register("group_commit_requests", "Write requests per group commit", self.group_commit_requests.clone());
        r.register("snapshots", "Buffer snapshots written to Parquet", self.snapshots.clone());
        r.register("snapshot_seconds", "Duration of buffer snapshots", self.snapshot_seconds.clone());
        r.register("buffered_values", "Values held in the in-memory buffer", self.buffered_values.clone());
        r.register("queue_depth", "Write requests waiting for the writer", self.queue_depth.clone());
    }
}

/// Buffers visible to queries: sealed ones being persisted (oldest first), then the active one.
#[derive(Debug, Default)]
struct BufferState {
    persisting: Vec<Arc<Buffer>>,
    active: Buffer,
}

/// Partition metadata by measurement and day.
type Catalog = HashMap<String, BTreeMap<i64, Arc<PartitionMeta>>>;

#[derive(Debug)]
struct Shared {
    root: PathBuf,
    config: StoreConfig,
    buffers: RwLock<BufferState>,
    catalog: RwLock<Catalog>,
    metrics: StoreMetrics,
}

/// Handle to the store; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    shared: Arc<Shared>,
    tx: flume::Sender<writer::Msg>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

/// A series as listed by `GET /api/v1/series`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeriesInfo {
    pub measurement: String,
    pub tags: BTreeMap<String, String>,
    pub field: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub first_ns: i64,
    pub last_ns: i64,
    pub count: u64,
}

impl Store {
    /// Opens (or creates) the store under `data_dir`, replaying the WAL.
    pub fn open(data_dir: &Path, config: StoreConfig) -> Result<Store> {
        std::fs::create_dir_all(data_dir)?;
        let root = data_dir.to_path_buf();
        let mut catalog = Catalog::new();
        for meta in partition::discover(&root.join("parquet"))? {
            catalog.entry(meta.measurement.clone()).or_default().insert(meta.day, Arc::new(meta));
        }
        let mut active = Buffer::default();
        let mut replay_errors = 0usize;
        let started = std::time::Instant::now();
        let (wal, records) =
            wal::Wal::open(&root.join("wal"), |record| match postcard::from_bytes::<Vec<Point>>(record) {
                Ok(points) => points.into_iter().for_each(|p| active.insert(p)),
                Err(_) => replay_errors += 1,
            })?;
        if replay_errors > 0 {
            tracing::error!(replay_errors, "WAL records that passed their checksum but did not decode");
        }
        tracing::info!(
            records,
            values = active.values(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "WAL replayed"
        );
        let metrics = StoreMetrics::default();
        metrics.buffered_values.set(active.values() as i64);
        let shared = Arc::new(Shared {
            root,
            buffers: RwLock::new(BufferState { persisting: Vec::new(), active }),
            catalog: RwLock::new(catalog),
            metrics,
            config: config.clone(),
        });
        let (tx, rx) = flume::bounded(config.queue_capacity.max(1));
        let thread = writer::spawn(shared.clone(), wal, rx)?;
        Ok(Store { shared, tx, thread: Arc::new(Mutex::new(Some(thread))) })
    }

    /// What is wrong with the store right now (failing snapshots, quarantined files), one
    /// sentence each; empty when healthy. `/health` reports these as "degraded".
    pub fn problems(&self) -> Vec<String> {
        Vec::new()
    }

    pub fn metrics(&self) -> &StoreMetrics {
        &self.shared.metrics
    }

    pub fn data_dir(&self) -> &Path {
        &self.shared.root
    }

    /// Writes `points`; resolves once they are durable and visible to queries.
    pub async fn write_points(&self, points: Vec<Point>) -> Result<(), SinkError> {
        if points.is_empty() {
            return Ok(());
        }
        // Encoding here, on the caller's thread, keeps the single writer thread free for I/O.
        let record = postcard::to_stdvec(&points).map_err(|e| SinkError::Io(e.to_string()))?;
        let (done, wait) = tokio::sync::oneshot::channel();
        let msg = writer::Msg::Write(writer::WriteRequest { record, points, done });
        self.tx.send_async(msg).await.map_err(|_| SinkError::ShuttingDown)?;
        self.shared.metrics.queue_depth.set(self.tx.len() as i64);
        wait.await.map_err(|_| SinkError::ShuttingDown)?
    }

    /// Snapshots everything buffered to Parquet and waits until it is durable there.
    pub async fn flush(&self) -> Result<()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx.send_async(writer::Msg::Flush(done)).await.map_err(|_| Error::ShuttingDown)?;
        wait.await.map_err(|_| Error::ShuttingDown)?
    }

    /// Stops taking writes, writes what is queued, snapshots the buffer to Parquet and stops
    /// the writer thread. Later writes fail with [`SinkError::ShuttingDown`].
    pub async fn shutdown(&self) -> Result<()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send_async(writer::Msg::Shutdown(done)).await.is_ok() {
            wait.await.map_err(|_| Error::ShuttingDown)??;
        }
        let handle = self.thread.lock().map_err(|_| Error::Other("writer lock poisoned".into()))?.take();
        if let Some(handle) = handle {
            tokio::task::spawn_blocking(move || handle.join())
                .await
                .map_err(Error::other)?
                .map_err(|_| Error::Other("writer thread panicked".into()))?;
        }
        Ok(())
    }

    /// Reads every value of `measurement` that passes `filter`: Parquet partitions first,
    /// then the buffers, so the newest write of a series and timestamp wins. Blocking.
    pub fn scan(&self, measurement: &str, filter: &ScanFilter<'_>) -> Result<Table> {
        // Take the buffers before the file list: a snapshot renames its files before it drops
        // its buffer, so whichever state is seen, nothing is missed.
        let mut from_buffers = Table::default();
        {
            let state = self.shared.buffers.read().map_err(|_| Error::Other("buffer lock poisoned".into()))?;
            for buffer in &state.persisting {
                if let Some(t) = buffer.tables.get(measurement) {
                    scan_into(t, filter, &mut from_buffers);
                }
            }
            if let Some(t) = state.active.tables.get(measurement) {
                scan_into(t, filter, &mut from_buffers);
            }
        }
        let partitions: Vec<Arc<PartitionMeta>> = {
            let catalog = self.shared.catalog.read().map_err(|_| Error::Other("catalog lock poisoned".into()))?;
            match catalog.get(measurement) {
                Some(days) => days
                    .range(day_of(filter.start_ns)..=day_of(filter.stop_ns.saturating_sub(1)))
                    .map(|(_, m)| m.clone())
                    .collect(),
                None => Vec::new(),
            }
        };
        let mut out = Table::default();
        for meta in partitions {
            if !partition_may_match(&meta, filter) {
                continue;
            }
            partition::scan(&meta.path, filter, &mut out)?;
        }
        out.merge_from(from_buffers);
        Ok(out)
    }

    /// Measurement names with data.
    pub fn measurements(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.shared.catalog.read().map(|c| c.keys().cloned().collect()).unwrap_or_default();
        if let Ok(state) = self.shared.buffers.read() {
            names.extend(state.active.tables.keys().cloned());
            for b in &state.persisting {
                names.extend(b.tables.keys().cloned());
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// Lists series (one entry per field) matching an optional measurement and tag filter,
    /// with first/last time and count. Counts add partitions and buffers; a value rewritten
    /// after it was snapshotted counts twice until its day is snapshotted again.
    pub fn series(&self, measurement: Option<&str>, tags: &[(String, String)]) -> Vec<SeriesInfo> {
        type Key = (String, Tags, String);
        let mut acc: BTreeMap<Key, (String, i64, i64, u64)> = BTreeMap::new();
        let mut add = |m: &str, t: &Tags, f: &str, kind: &str, first: i64, last: i64, count: u64| {
            let e = acc.entry((m.to_string(), t.clone(), f.to_string())).or_insert((
                kind.to_string(),
                i64::MAX,
                i64::MIN,
                0,
            ));
            e.1 = e.1.min(first);
            e.2 = e.2.max(last);
            e.3 += count;
        };
        if let Ok(catalog) = self.shared.catalog.read() {
            for (m, days) in catalog.iter().filter(|(m, _)| measurement.is_none_or(|x| x == m.as_str())) {
                for meta in days.values() {
                    for s in meta.series.iter().filter(|s| table::tags_match(&s.tags, tags)) {
                        for f in &s.fields {
                            add(m, &s.tags, &f.name, &f.kind, f.first_ns, f.last_ns, f.count);
                        }
                    }
                }
            }
        }
        if let Ok(state) = self.shared.buffers.read() {
            let buffers = state.persisting.iter().map(|b| b.as_ref()).chain(std::iter::once(&state.active));
            for buffer in buffers {
                for (m, t) in buffer.tables.iter().filter(|(m, _)| measurement.is_none_or(|x| x == m.as_str())) {
                    for (series_tags, fields) in t.series.iter().filter(|(st, _)| table::tags_match(st, tags)) {
                        for (name, column) in fields {
                            let (Some((first, v)), Some((last, _))) =
                                (column.first_key_value(), column.last_key_value())
                            else {
                                continue;
                            };
                            add(m, series_tags, name, v.type_name(), *first, *last, column.len() as u64);
                        }
                    }
                }
            }
        }
        acc.into_iter()
            .map(|((measurement, tags, field), (kind, first_ns, last_ns, count))| SeriesInfo {
                measurement,
                tags: tags.into_iter().collect(),
                field,
                kind,
                first_ns,
                last_ns,
                count,
            })
            .collect()
    }
}

/// Partition statistics rule out files without the wanted tags or fields.
fn partition_may_match(meta: &PartitionMeta, filter: &ScanFilter<'_>) -> bool {
    meta.series.is_empty()
        || meta.series.iter().any(|s| {
            table::tags_match(&s.tags, filter.tags)
                && s.fields
                    .iter()
                    .any(|f| filter.wants_field(&f.name) && f.last_ns >= filter.start_ns && f.first_ns < filter.stop_ns)
        })
}

impl PointSink for Store {
    fn write(&self, points: Vec<Point>) -> WriteFuture {
        let store = self.clone();
        Box::pin(async move { store.write_points(points).await })
    }
}
