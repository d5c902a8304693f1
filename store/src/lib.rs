//! fieldline-store, the embedded store: a write-ahead log fsync'd in groups, an in-memory
//! buffer that queries see the moment a write is acknowledged, and Parquet partitions (files
//! per measurement and UTC day) that the buffer is snapshotted into and a background
//! compaction merges. InfluxDB 3's WAL → Parquet persister and compactor, reduced to what one
//! edge box needs. Reading is through the typed
//! [`Query`] API ([`Store::query`], [`Store::query_rows`], [`Store::newest_rows`]).
//!
//! One writer thread owns the WAL ([`writer`]): it takes every queued write request,
//! appends them with one `write`, makes them durable with one `fdatasync` (group commit),
//! applies them to the buffer and only then resolves each request — which is when the MQTT
//! endpoint sends its PUBACK and the HTTP API its 204. A snapshot seals the WAL segment and
//! hands the buffer to the persister thread, which writes sealed buffers as new day files
//! strictly in order, retries a failed one with backoff (everything behind it waits), and
//! deletes a buffer's WAL segments only once it and every older buffer are durable in
//! Parquet; when idle it compacts each day's files into one. Restart replays whatever
//! segments remain.
//!
//! Damage is never silent: a failing snapshot, a WAL segment with corrupt records and a
//! Parquet file that fails its checksum are logged as errors, counted, and listed by
//! [`Store::problems`] (so `/health` says "degraded"); damaged files go to `quarantine/`.

pub mod crash;
pub mod follow;
mod partition;
pub mod query;
mod table;
pub mod wal;
mod writer;

pub use follow::{Follower, FollowerConfig};
pub use query::{Agg, Query, Row, Series, TimeRange, Window};
pub use table::Tags;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use fieldline_core::Point;
use fieldline_core::sink::{PointSink, SinkError, WriteFuture};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use partition::{PartitionMeta, day_of};
use table::{Buffer, ScanFilter, Table, scan_into};

/// Store errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
    #[error("store is shutting down")]
    ShuttingDown,
    /// Another process (or another open store in this one) has the data dir.
    #[error("data dir {} is in use by another fieldline (it holds {}); stop it first, or ask it over its API", dir.display(), dir.join(LOCK_FILE).display())]
    InUse { dir: PathBuf },
    /// A Parquet file failed its checksum or could not be decoded; the store moves it to
    /// quarantine.
    #[error("damaged partition {}: {detail}; it was moved to quarantine and its data is no longer served", path.display())]
    Corrupt { path: PathBuf, detail: String },
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
    /// Values acknowledged but not yet in Parquet (buffered and waiting to be persisted)
    /// beyond which writes wait for the snapshots to catch up, or are refused while
    /// snapshots are failing, rather than grow memory without bound.
    pub max_unpersisted_values: usize,
    /// Longest wait between retries of a failed snapshot, seconds (it starts at 1 s).
    pub snapshot_retry_max_secs: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            snapshot_values: 2_000_000,
            snapshot_interval_secs: 600,
            queue_capacity: 4096,
            max_group_points: 200_000,
            retention_days: BTreeMap::from([("_deadletter".to_string(), 30)]),
            max_unpersisted_values: 6_000_000,
            snapshot_retry_max_secs: 60,
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
    pub snapshot_failures: Counter,
    pub snapshot_backlog: Gauge,
    pub buffered_values: Gauge,
    pub queue_depth: Gauge,
    pub wal_corrupt_segments: Counter,
    pub partitions_quarantined: Counter,
    pub writes_refused: Counter,
    pub compactions: Counter,
    pub compaction_seconds: Histogram,
    pub compaction_failures: Counter,
    pub compaction_pending_days: Gauge,
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
            snapshot_failures: Counter::default(),
            snapshot_backlog: Gauge::default(),
            buffered_values: Gauge::default(),
            queue_depth: Gauge::default(),
            wal_corrupt_segments: Counter::default(),
            partitions_quarantined: Counter::default(),
            writes_refused: Counter::default(),
            compactions: Counter::default(),
            compaction_seconds: Histogram::new([0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0]),
            compaction_failures: Counter::default(),
            compaction_pending_days: Gauge::default(),
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
        r.register(
            "snapshot_failures",
            "Snapshot attempts that failed (retried with backoff)",
            self.snapshot_failures.clone(),
        );
        r.register(
            "snapshot_backlog",
            "Sealed buffers waiting to be persisted to Parquet",
            self.snapshot_backlog.clone(),
        );
        r.register("buffered_values", "Values held in the in-memory buffer", self.buffered_values.clone());
        r.register("queue_depth", "Write requests waiting for the writer", self.queue_depth.clone());
        r.register(
            "wal_corrupt_segments",
            "WAL segments found with damaged records between valid ones (quarantined)",
            self.wal_corrupt_segments.clone(),
        );
        r.register(
            "partitions_quarantined",
            "Parquet partitions that failed their checksum (quarantined)",
            self.partitions_quarantined.clone(),
        );
        r.register(
            "writes_refused",
            "Write requests refused because too much acknowledged data is not yet in Parquet",
            self.writes_refused.clone(),
        );
        r.register("compactions", "Days whose partition files were merged into one", self.compactions.clone());
        r.register("compaction_seconds", "Duration of one day's compaction", self.compaction_seconds.clone());
        r.register(
            "compaction_failures",
            "Compactions that failed (the day's files stay as they are and are served as such)",
            self.compaction_failures.clone(),
        );
        r.register(
            "compaction_pending_days",
            "Days with several partition files waiting for the background compaction",
            self.compaction_pending_days.clone(),
        );
    }
}

/// Buffers visible to queries: sealed ones being persisted (oldest first), then the active one.
#[derive(Debug, Default)]
struct BufferState {
    persisting: VecDeque<Arc<Buffer>>,
    active: Buffer,
}

impl BufferState {
    /// Values acknowledged and not yet in Parquet.
    fn unpersisted_values(&self) -> usize {
        self.active.values() + self.persisting.iter().map(|b| b.values()).sum::<usize>()
    }
}

/// A snapshot that keeps failing: what /health reports.
#[derive(Debug, Clone)]
struct SnapshotFailure {
    error: String,
    since: std::time::SystemTime,
    attempts: u32,
}

/// Partition files by measurement and day, each day's in generation order (the last wins),
/// read through `Deref`; changed only through the methods below, which drop the cached
/// series listing.
#[derive(Debug, Default)]
struct Catalog {
    files: HashMap<String, BTreeMap<i64, Vec<Arc<PartitionMeta>>>>,
    /// Per series field, totals over every file: built by the first listing after a change
    /// (a snapshot or compaction), so a listing does not walk every file's statistics.
    listing: std::sync::OnceLock<Arc<FileListing>>,
}

/// Series fields over every partition file, for the listing.
type FileListing = BTreeMap<(String, Tags, String), Totals<'static>>;

impl std::ops::Deref for Catalog {
    type Target = HashMap<String, BTreeMap<i64, Vec<Arc<PartitionMeta>>>>;

    fn deref(&self) -> &Self::Target {
        &self.files
    }
}

impl Catalog {
    /// Adds `meta` to its day's files, keeping them in generation order.
    fn insert(&mut self, meta: Arc<PartitionMeta>) {
        self.listing = Default::default();
        let files = self.files.entry(meta.measurement.clone()).or_default().entry(meta.day).or_default();
        let at = files.partition_point(|f| f.generation <= meta.generation);
        files.insert(at, meta);
    }

    /// Takes `meta` out (by identity); false if it was no longer there.
    fn remove(&mut self, meta: &Arc<PartitionMeta>) -> bool {
        self.listing = Default::default();
        let Some(days) = self.files.get_mut(&meta.measurement) else { return false };
        let Some(files) = days.get_mut(&meta.day) else { return false };
        let before = files.len();
        files.retain(|f| !Arc::ptr_eq(f, meta));
        let removed = files.len() < before;
        if files.is_empty() {
            days.remove(&meta.day);
        }
        removed
    }

    /// Takes out every file of `measurement` before `day`.
    fn remove_days_before(&mut self, measurement: &str, day: i64) -> Vec<Arc<PartitionMeta>> {
        let Some(days) = self.files.get_mut(measurement) else { return Vec::new() };
        let old: Vec<i64> = days.range(..day).map(|(d, _)| *d).collect();
        if !old.is_empty() {
            self.listing = Default::default();
        }
        old.into_iter().flat_map(|d| days.remove(&d).unwrap_or_default()).collect()
    }

    /// Totals per series field over every file (cached until the next change).
    fn listing(&self) -> Arc<FileListing> {
        self.listing
            .get_or_init(|| {
                // Gathered under borrowed keys first: the same series is in every day's file.
                let mut totals: BTreeMap<SeriesKey<'_>, Totals<'_>> = BTreeMap::new();
                for (m, days) in &self.files {
                    for s in days.values().flatten().flat_map(|meta| &meta.series) {
                        for f in &s.fields {
                            let key = SeriesKey { measurement: m, tags: &s.tags, field: &f.name };
                            totals
                                .entry(key)
                                .or_insert_with(|| Totals::new(&f.kind))
                                .add(f.first_ns, f.last_ns, f.count);
                        }
                    }
                }
                let owned = totals.into_iter().map(|(key, t)| {
                    let key = (key.measurement.to_string(), key.tags.clone(), key.field.to_string());
                    (key, t.into_owned())
                });
                Arc::new(owned.collect())
            })
            .clone()
    }
}

#[derive(Debug)]
struct Shared {
    root: PathBuf,
    config: StoreConfig,
    buffers: RwLock<BufferState>,
    catalog: RwLock<Catalog>,
    metrics: StoreMetrics,
    snapshot_failure: Mutex<Option<SnapshotFailure>>,
    /// Generation of the next partition file written by a snapshot.
    next_generation: AtomicU64,
    /// The data dir's lock (`LOCK`, flock'ed): one store per data dir, released at shutdown
    /// or when the last handle drops.
    lock: Mutex<Option<std::fs::File>>,
    /// WAL followers and their backpressure gates (checked before every group commit).
    followers: Vec<(FollowerConfig, Arc<follow::Gate>)>,
}

impl Shared {
    fn quarantine_dir(&self) -> PathBuf {
        self.root.join("quarantine")
    }

    /// Moves a damaged partition file to quarantine (with a note) and forgets it, unless the
    /// catalog no longer lists it (a compaction replaced it meanwhile).
    fn quarantine_partition(&self, meta: &Arc<PartitionMeta>, detail: &str) -> Result<()> {
        let mut catalog = self.catalog.write().map_err(|_| Error::Other("catalog lock poisoned".into()))?;
        if !catalog.remove(meta) {
            return Ok(());
        }
        quarantine_file(&self.quarantine_dir(), &meta.path, &meta.measurement, detail)?;
        self.metrics.partitions_quarantined.inc();
        Ok(())
    }
}

/// Moves a damaged partition file into `qdir` with a note saying what was wrong.
fn quarantine_file(qdir: &Path, path: &Path, measurement: &str, detail: &str) -> Result<()> {
    std::fs::create_dir_all(qdir)?;
    let stamp = fieldline_core::time::now_ns() / 1_000_000_000;
    let day = path.file_stem().and_then(|s| s.to_str()).unwrap_or("partition");
    let target = qdir.join(format!("parquet-{}-{day}-{stamp}.parquet", partition::measurement_dir_name(measurement)));
    std::fs::rename(path, &target)?;
    let note = format!(
        "Parquet partition {} ({measurement}, {day}) is damaged: {detail}.\n\
         Its data is no longer served. This is the file as found. Delete this file and its note \
         once inspected: /health reports the store degraded while the quarantine directory holds files.\n",
        path.display()
    );
    std::fs::write(target.with_extension("txt"), note)?;
    if let Some(dir) = path.parent() {
        wal::sync_dir(dir)?;
    }
    wal::sync_dir(qdir)?;
    tracing::error!(
        path = %path.display(),
        quarantined = %target.display(),
        %detail,
        "PARQUET CORRUPTION: partition failed its checksum; moved to quarantine, its data is no longer served"
    );
    Ok(())
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

/// The lock file in a data dir.
pub const LOCK_FILE: &str = "LOCK";

/// Takes the data dir's lock. A store of this process that was just dropped may still be
/// releasing it (its writer thread finishes the last batch first): wait up to 3 s for it.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File> {
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(data_dir.join(LOCK_FILE))?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Err(Error::InUse { dir: data_dir.to_path_buf() }),
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
    }
}

impl Store {
    /// Opens (or creates) the store under `data_dir`, replaying the WAL.
    pub fn open(data_dir: &Path, config: StoreConfig) -> Result<Store> {
        Store::open_with_followers(data_dir, config, Vec::new())
    }

    /// [`Store::open`], mirroring every WAL segment written from now on to each follower
    /// (see [`follow`]); take a follower's reading end with [`Store::follower`]. Writes are
    /// refused while a follower's backlog is at its limit.
    pub fn open_with_followers(data_dir: &Path, config: StoreConfig, followers: Vec<FollowerConfig>) -> Result<Store> {
        std::fs::create_dir_all(data_dir)?;
        let lock = lock_data_dir(data_dir)?;
        let root = data_dir.to_path_buf();
        let metrics = StoreMetrics::default();
        let mut catalog = Catalog::default();
        let (partitions, damaged) = partition::discover(&root.join("parquet"))?;
        let next_generation = partitions.iter().map(|m| m.generation).max().unwrap_or(0) + 1;
        for meta in partitions {
            catalog.insert(Arc::new(meta));
        }
        for partition::Damaged { path, detail } in damaged {
            quarantine_file(&root.join("quarantine"), &path, "(unreadable footer)", &detail)?;
            metrics.partitions_quarantined.inc();
        }
        let mut active = Buffer::default();
        let mut replay_errors = 0usize;
        let started = std::time::Instant::now();
        let mirrors = followers.iter().map(|f| follow::follower_dir(&root, &f.name)).collect();
        let (wal, report) = wal::Wal::open_mirrored(&root.join("wal"), mirrors, |record| {
            match postcard::from_bytes::<Vec<Point>>(record) {
                Ok(points) => points.into_iter().for_each(|p| active.insert(p)),
                Err(_) => replay_errors += 1,
            }
        })?;
        if replay_errors > 0 {
            tracing::error!(replay_errors, "WAL records that passed their checksum but did not decode");
        }
        metrics.wal_corrupt_segments.inc_by(report.quarantined.len() as u64);
        tracing::info!(
            records = report.records,
            values = active.values(),
            torn_bytes = report.torn_bytes,
            quarantined_segments = report.quarantined.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "WAL replayed"
        );
        metrics.buffered_values.set(active.values() as i64);
        let shared = Arc::new(Shared {
            root,
            buffers: RwLock::new(BufferState { persisting: VecDeque::new(), active }),
            catalog: RwLock::new(catalog),
            metrics,
            config: config.clone(),
            snapshot_failure: Mutex::new(None),
            next_generation: AtomicU64::new(next_generation),
            lock: Mutex::new(Some(lock)),
            followers: followers.into_iter().map(|f| (f, Arc::new(follow::Gate::default()))).collect(),
        });
        let (tx, rx) = flume::bounded(config.queue_capacity.max(1));
        let thread = writer::spawn(shared.clone(), wal, rx)?;
        Ok(Store { shared, tx, thread: Arc::new(Mutex::new(Some(thread))) })
    }

    /// What is wrong with the store right now, one sentence each; empty when healthy.
    /// `/health` reports these as "degraded": a snapshot that keeps failing (the data is
    /// safe in the WAL meanwhile) and every file in `quarantine/` (damaged WAL segments and
    /// Parquet partitions, kept for inspection until an operator deletes them).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(failure) = self.shared.snapshot_failure.lock()
            && let Some(f) = failure.as_ref()
        {
            let since = time::OffsetDateTime::from(f.since)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            out.push(format!(
                "snapshots to Parquet are failing since {since} ({} attempts): {}; acknowledged data is \
                 safe in the WAL and the snapshot is retried",
                f.attempts, f.error
            ));
        }
        let qdir = self.shared.quarantine_dir();
        if let Ok(entries) = std::fs::read_dir(&qdir) {
            let mut notes: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "txt"))
                .collect();
            notes.sort();
            for note in notes {
                let first = std::fs::read_to_string(&note).ok().and_then(|t| t.lines().next().map(str::to_string));
                out.push(format!(
                    "quarantined: {} ({})",
                    note.with_extension("").display(),
                    first.unwrap_or_else(|| "see the note beside it".into())
                ));
            }
        }
        out
    }

    /// The reading end of follower `name` (one per follower: its owner keeps it). Its gate
    /// is the store's: while the backlog is at the limit, writes are refused.
    pub fn follower(&self, name: &str) -> Result<Follower> {
        let (config, gate) = self
            .shared
            .followers
            .iter()
            .find(|(f, _)| f.name == name)
            .ok_or_else(|| Error::Other(format!("no WAL follower named {name:?}")))?;
        Ok(Follower::open(follow::follower_dir(&self.shared.root, name), config.clone(), gate.clone())?)
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

    /// Merges every day's partition files into one now (the background compaction leaves
    /// the current UTC day alone until it has several) and waits for it.
    pub async fn compact(&self) -> Result<()> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx.send_async(writer::Msg::Compact(done)).await.map_err(|_| Error::ShuttingDown)?;
        wait.await.map_err(|_| Error::ShuttingDown)?
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
        // Everything is on disk: the data dir is free for the next store.
        if let Ok(mut lock) = self.shared.lock.lock() {
            lock.take();
        }
        Ok(())
    }

    /// Answers `query`: every matching series (one per tag set and field, ordered by tags then
    /// field), each aggregated into windows if the query has one. Blocking.
    pub fn query(&self, query: &Query) -> Result<Vec<Series>> {
        let scanned = self.scan_parts(&query.measurement, &query.filter(), None, query.window)?;
        Ok(match (scanned.windows, query.window) {
            (Some(direct), Some(window)) => query::windows_to_series(direct, scanned.runs, scanned.buffers, window),
            _ => query::runs_to_series(scanned.runs, scanned.buffers, query.window),
        })
    }

    /// Answers `query` as rows: per series and timestamp, the fields written then (or, with a
    /// window, the windows starting then), ordered by tags then time. Blocking.
    pub fn query_rows(&self, query: &Query) -> Result<Vec<Row>> {
        Ok(query::to_rows(self.scan(&query.measurement, &query.filter(), None)?, query.window))
    }

    /// The newest `limit` rows of `query`, newest first: day partitions are read newest first
    /// and only until `limit` rows newer than every unread one are in hand, so "the latest N"
    /// does not load everything (the dead-letter listing). Blocking.
    pub fn newest_rows(&self, query: &Query, limit: usize) -> Result<Vec<Row>> {
        let table = self.scan(&query.measurement, &query.filter(), Some(limit))?;
        let mut rows = query::to_rows(table, query.window);
        rows.sort_by(|a, b| (b.timestamp_ns, &b.tags).cmp(&(a.timestamp_ns, &a.tags)));
        rows.truncate(limit);
        Ok(rows)
    }

    /// Reads every value of `measurement` that passes `filter`: Parquet partitions first,
    /// then the buffers, so the newest write of a series and timestamp wins. Blocking.
    ///
    /// With `newest: Some(n)`, reads day partitions newest first and stops once `n` values
    /// newer than every unread partition are in hand, so "the latest N" does not load
    /// everything (the dead-letter listing). The result may then hold more than `n` values.
    fn scan(&self, measurement: &str, filter: &ScanFilter<'_>, newest: Option<usize>) -> Result<Table> {
        let scanned = self.scan_parts(measurement, filter, newest, None)?;
        let mut out = scanned.runs.into_table();
        out.merge_from(scanned.buffers);
        Ok(out)
    }

    /// [`Store::scan`] before the overlay: what the day files hold (per series, in time order
    /// when each day is one file and `newest` is not given) and what the buffers hold. With a
    /// `window`, days that are one file and hold nothing the buffers also hold are aggregated
    /// while they are read ([`Scanned::windows`]); only the others are gathered value by value.
    fn scan_parts(
        &self,
        measurement: &str,
        filter: &ScanFilter<'_>,
        newest: Option<usize>,
        window: Option<Window>,
    ) -> Result<Scanned> {
        // Take the buffers before the file list: a snapshot renames its files before it drops
        // its buffer, so whichever state is seen, nothing is missed.
        let mut buffers = Table::default();
        {
            let state = self.shared.buffers.read().map_err(|_| Error::Other("buffer lock poisoned".into()))?;
            for buffer in state.persisting.iter().map(|b| b.as_ref()).chain(std::iter::once(&state.active)) {
                if let Some(t) = buffer.tables.get(measurement) {
                    scan_into(t, filter, &mut buffers);
                }
            }
        }
        // Days in order (newest first for `newest`), each day's files in generation order, so
        // gathering keeps the newest write of a series and timestamp last.
        let mut days: Vec<(i64, Vec<Arc<PartitionMeta>>)> = {
            let catalog = self.shared.catalog.read().map_err(|_| Error::Other("catalog lock poisoned".into()))?;
            match catalog.get(measurement) {
                Some(days) => days
                    .range(day_of(filter.start_ns)..=day_of(filter.stop_ns.saturating_sub(1)))
                    .map(|(day, files)| (*day, files.clone()))
                    .collect(),
                None => Vec::new(),
            }
        };
        let mut runs = partition::Runs::default();
        if let Some(limit) = newest {
            days.reverse();
            for meta in days.into_iter().flat_map(|(_, files)| files) {
                // Everything this and the older partitions hold is before the next day began.
                let next_day = meta.day.saturating_add(1).saturating_mul(fieldline_core::time::NS_PER_DAY);
                if runs.count_from(next_day) + buffers.count_from(next_day) >= limit.max(1) {
                    break;
                }
                if partition_may_match(&meta, filter) {
                    self.gather(&[meta], filter, &mut runs)?;
                }
            }
            return Ok(Scanned { runs, windows: None, buffers });
        }
        let Some(window) = window else {
            let files: Vec<Arc<PartitionMeta>> = days.into_iter().flat_map(|(_, files)| files).collect();
            self.gather(&files, filter, &mut runs)?;
            return Ok(Scanned { runs, windows: None, buffers });
        };
        let buffer_days = buffers.days();
        let (direct, gathered): (Vec<_>, Vec<_>) =
            days.into_iter().partition(|(day, files)| files.len() == 1 && !buffer_days.contains(day));
        let mut windows = partition::WindowRuns::new(window);
        self.gather(&direct.into_iter().flat_map(|(_, files)| files).collect::<Vec<_>>(), filter, &mut windows)?;
        self.gather(&gathered.into_iter().flat_map(|(_, files)| files).collect::<Vec<_>>(), filter, &mut runs)?;
        Ok(Scanned { runs, windows: Some(windows), buffers })
    }

    /// Scans `files` (in order; on every core when there are several) into `into`. A damaged
    /// file is quarantined and the scan fails with [`Error::Corrupt`].
    fn gather<G: partition::Gather>(
        &self,
        files: &[Arc<PartitionMeta>],
        filter: &ScanFilter<'_>,
        into: &mut G,
    ) -> Result<()> {
        let wanted: Vec<Arc<PartitionMeta>> =
            files.iter().filter(|m| partition_may_match(m, filter)).cloned().collect();
        for (meta, read) in wanted.iter().zip(read_parallel(&wanted, filter, into)) {
            match read {
                Ok(part) => into.append(part),
                Err(Error::Corrupt { detail, .. }) => {
                    self.shared.quarantine_partition(meta, &detail)?;
                    return Err(Error::Corrupt { path: meta.path.clone(), detail });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
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
        let wanted = |m: &str| measurement.is_none_or(|x| x == m);
        // The buffers' series, copied out first (a few thousand at most) so that no two locks
        // are held at once.
        let mut buffered: Vec<BufferedSeries> = Vec::new();
        if let Ok(state) = self.shared.buffers.read() {
            let buffers = state.persisting.iter().map(|b| b.as_ref()).chain(std::iter::once(&state.active));
            for buffer in buffers {
                for (m, t) in buffer.tables.iter().filter(|(m, _)| wanted(m)) {
                    for (series_tags, fields) in t.series.iter().filter(|(st, _)| table::tags_match(st, tags)) {
                        for (name, column) in fields {
                            let (Some((first, last, count)), Some(kind)) = (column.span(), column.type_name()) else {
                                continue;
                            };
                            let mut totals = Totals::new(kind);
                            totals.add(first, last, count as u64);
                            buffered.push(BufferedSeries {
                                measurement: m.clone(),
                                tags: series_tags.clone(),
                                field: name.clone(),
                                totals,
                            });
                        }
                    }
                }
            }
        }
        let files = self.shared.catalog.read().map(|c| c.listing()).unwrap_or_default();
        let mut totals: BTreeMap<SeriesKey<'_>, Totals<'_>> = files
            .iter()
            .filter(|((m, series_tags, _), _)| wanted(m) && table::tags_match(series_tags, tags))
            .map(|((m, series_tags, field), t)| (SeriesKey { measurement: m, tags: series_tags, field }, t.borrowed()))
            .collect();
        for b in &buffered {
            let (key, t) = (SeriesKey { measurement: &b.measurement, tags: &b.tags, field: &b.field }, &b.totals);
            totals.entry(key).or_insert_with(|| Totals::new(&t.kind)).add(t.first_ns, t.last_ns, t.count);
        }
        totals
            .into_iter()
            .map(|(key, t)| SeriesInfo {
                measurement: key.measurement.to_string(),
                tags: key.tags.iter().cloned().collect(),
                field: key.field.to_string(),
                kind: t.kind.to_string(),
                first_ns: t.first_ns,
                last_ns: t.last_ns,
                count: t.count,
            })
            .collect()
    }
}

/// One entry of the series listing, borrowed from the catalog or the buffers' copy.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey<'a> {
    measurement: &'a str,
    tags: &'a Tags,
    field: &'a str,
}

/// One field of one series in the write buffers, copied out for the listing.
struct BufferedSeries {
    measurement: String,
    tags: Tags,
    field: String,
    totals: Totals<'static>,
}

/// A series field's span and count summed over partitions and buffers (the first seen type).
#[derive(Debug)]
struct Totals<'a> {
    kind: std::borrow::Cow<'a, str>,
    first_ns: i64,
    last_ns: i64,
    count: u64,
}

impl<'a> Totals<'a> {
    fn new(kind: &'a str) -> Self {
        Totals { kind: kind.into(), first_ns: i64::MAX, last_ns: i64::MIN, count: 0 }
    }

    fn into_owned(self) -> Totals<'static> {
        Totals { kind: self.kind.into_owned().into(), ..self }
    }

    fn borrowed(&self) -> Totals<'_> {
        Totals { kind: self.kind.as_ref().into(), ..*self }
    }

    fn add(&mut self, first_ns: i64, last_ns: i64, count: u64) {
        self.first_ns = self.first_ns.min(first_ns);
        self.last_ns = self.last_ns.max(last_ns);
        self.count += count;
    }
}

/// What a scan found: the files' values gathered value by value, the files aggregated while
/// read (windowed queries), and the buffers' values.
struct Scanned {
    runs: partition::Runs,
    windows: Option<partition::WindowRuns>,
    buffers: Table,
}

/// Scans `partitions` on up to one thread per core into gatherers like `kind`; the results in
/// the order given.
fn read_parallel<G: partition::Gather>(
    partitions: &[Arc<PartitionMeta>],
    filter: &ScanFilter<'_>,
    kind: &G,
) -> Vec<Result<G>> {
    let read = |meta: &PartitionMeta| {
        let mut runs = kind.empty();
        meta.verify_once().and_then(|()| partition::scan(meta, filter, &mut runs)).map(|()| runs)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(partitions.len()).min(8);
    if threads <= 1 {
        return partitions.iter().map(|m| read(m)).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<Option<Result<G>>> = (0..partitions.len()).map(|_| None).collect();
    let done: Vec<Vec<(usize, Result<G>)>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(meta) = partitions.get(i) else { break };
                        mine.push((i, read(meta)));
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or_else(|_| vec![])).collect()
    });
    for (i, result) in done.into_iter().flatten() {
        results[i] = Some(result);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(Error::Other("a partition reader thread panicked".into()))))
        .collect()
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
