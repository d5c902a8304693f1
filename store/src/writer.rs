//! The writer thread (group commit into the WAL, then the buffer, then the acknowledgement)
//! and the persister thread it hands sealed buffers to, which also compacts day files when it
//! has nothing to persist (one day at a time, checking for new work in between).
//!
//! The persister is the only place WAL segments are deleted. It persists sealed buffers
//! strictly oldest first; a buffer that fails (disk full, read-only directory, a damaged
//! file) stays at the head of the queue and is retried with exponential backoff while
//! everything behind it waits, and its segments, and every later one, stay on disk. So a
//! failed snapshot can never be skipped over: before, the next successful snapshot deleted
//! the failed one's segments, and a restart lost acknowledged data.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use fieldline_core::Point;
use fieldline_core::sink::SinkError;
use tokio::sync::oneshot;

use super::partition::{self, Gather, PartitionMeta, day_of};
use super::table::{Buffer, FieldSlice, OrderedSeries, SeriesSlice, SeriesValues, in_time_order};
use super::wal::{self, Wal};
use super::{Error, Result, Shared, SnapshotFailure, crash};

/// A write: the points and their WAL record (encoded by the caller).
#[derive(Debug)]
pub struct WriteRequest {
    pub record: Vec<u8>,
    pub points: Vec<Point>,
    pub done: oneshot::Sender<Result<(), SinkError>>,
}

#[derive(Debug)]
pub enum Msg {
    Write(WriteRequest),
    /// Snapshot now and answer once the Parquet files are durable (or a snapshot failed).
    Flush(oneshot::Sender<Result<()>>),
    /// Compact every day with several files now, and answer.
    Compact(oneshot::Sender<Result<()>>),
    /// Drain, snapshot, stop.
    Shutdown(oneshot::Sender<Result<()>>),
}

/// A buffer sealed for persisting, and the last WAL segment holding its records.
struct Sealed {
    buffer: Arc<Buffer>,
    through_segment: u64,
}

enum PersistMsg {
    Sealed(Sealed),
    /// Answer once everything sealed before it is persisted, or as soon as a snapshot fails.
    Barrier(oneshot::Sender<Result<()>>),
    /// Compact every day with several files now, and answer.
    Compact(oneshot::Sender<Result<()>>),
    Stop,
}

pub fn spawn(shared: Arc<Shared>, wal: Wal, rx: flume::Receiver<Msg>) -> Result<JoinHandle<()>> {
    // Known before the persister's first look, so a waiting caller does not see 0 too early.
    shared.metrics.compaction_pending_days.set(compaction_candidates(&shared, false).len() as i64);
    let (persist_tx, persist_rx) = flume::unbounded();
    let persister = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("fieldline-persist".into())
            .spawn(move || Persister { shared, rx: persist_rx, queue: VecDeque::new(), waiting: Vec::new() }.run())?
    };
    let thread = std::thread::Builder::new().name("fieldline-wal".into()).spawn(move || {
        Writer { shared, wal, rx, persist: persist_tx, persister: Some(persister), last_snapshot: Instant::now() }.run()
    })?;
    Ok(thread)
}

struct Writer {
    shared: Arc<Shared>,
    wal: Wal,
    rx: flume::Receiver<Msg>,
    persist: flume::Sender<PersistMsg>,
    persister: Option<JoinHandle<()>>,
    last_snapshot: Instant,
}

impl Writer {
    fn run(mut self) {
        let interval = Duration::from_secs(self.shared.config.snapshot_interval_secs.max(1));
        loop {
            let msg = match self.rx.recv_timeout(Duration::from_secs(1)) {
                Ok(msg) => Some(msg),
                Err(flume::RecvTimeoutError::Timeout) => None,
                Err(flume::RecvTimeoutError::Disconnected) => break,
            };
            let mut group = Vec::new();
            let mut control = None;
            match msg {
                Some(Msg::Write(req)) => group.push(req),
                Some(other) => control = Some(other),
                None => {}
            }
            // Group commit: everything already queued goes into this fsync.
            let mut points: usize = group.iter().map(|r| r.points.len()).sum();
            while control.is_none() && points < self.shared.config.max_group_points {
                match self.rx.try_recv() {
                    Ok(Msg::Write(req)) => {
                        points += req.points.len();
                        group.push(req);
                    }
                    Ok(other) => control = Some(other),
                    Err(_) => break,
                }
            }
            if !group.is_empty() {
                self.commit(group);
            }
            match control {
                Some(Msg::Flush(done)) => {
                    let _ = done.send(self.snapshot_and_wait());
                }
                Some(Msg::Compact(done)) => {
                    if let Err(e) = self.persist.send(PersistMsg::Compact(done))
                        && let PersistMsg::Compact(done) = e.into_inner()
                    {
                        let _ = done.send(Err(Error::Other("persister stopped".into())));
                    }
                }
                Some(Msg::Shutdown(done)) => {
                    // Writes queued behind the shutdown are still committed: their senders are waiting.
                    let mut rest = Vec::new();
                    while let Ok(msg) = self.rx.try_recv() {
                        match msg {
                            Msg::Write(req) => rest.push(req),
                            Msg::Flush(d) | Msg::Compact(d) | Msg::Shutdown(d) => {
                                let _ = d.send(Ok(()));
                            }
                        }
                    }
                    if !rest.is_empty() {
                        self.commit(rest);
                    }
                    let result = self.snapshot_and_wait();
                    if let Err(e) = &result {
                        tracing::error!(error = %e, "final snapshot failed; the WAL keeps the data for the next start");
                    }
                    self.stop_persister();
                    tracing::info!(ok = result.is_ok(), "store writer stopped");
                    let _ = done.send(result);
                    return;
                }
                _ => {}
            }
            self.maybe_snapshot(interval);
        }
        // Every handle dropped without a shutdown: persist what is buffered anyway.
        if let Err(e) = self.snapshot_and_wait() {
            tracing::error!(error = %e, "final snapshot failed; the WAL keeps the data");
        }
        self.stop_persister();
    }

    /// When too much acknowledged data is not yet in Parquet, waits for the persister while
    /// it makes progress; refuses (`Err`) while snapshots are failing.
    fn admit(&self) -> Result<(), String> {
        // A follower that cannot deliver (its server is down) may be behind for hours:
        // refuse at once rather than hold every writer.
        if let Some(refusal) = self.shared.followers.iter().find_map(|(_, gate)| gate.refusal()) {
            return Err(refusal);
        }
        let limit = self.shared.config.max_unpersisted_values.max(1);
        loop {
            let backlog = self.shared.buffers.read().map(|s| s.unpersisted_values()).unwrap_or(0);
            if backlog < limit {
                return Ok(());
            }
            if let Ok(failure) = self.shared.snapshot_failure.lock()
                && let Some(f) = failure.as_ref()
            {
                return Err(format!(
                    "not written: {backlog} acknowledged values are waiting to be persisted and snapshots are \
                     failing ({}); retry later",
                    f.error
                ));
            }
            // Not failing, just behind: the persister catches up (backpressure).
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn commit(&mut self, group: Vec<WriteRequest>) {
        let metrics = &self.shared.metrics;
        metrics.group_commit_requests.observe(group.len() as f64);
        if let Err(reason) = self.admit() {
            metrics.writes_refused.inc_by(group.len() as u64);
            tracing::warn!(requests = group.len(), %reason, "writes refused");
            for req in group {
                let _ = req.done.send(Err(SinkError::Io(reason.clone())));
            }
            return;
        }
        let result = self.wal.append_many(group.iter().map(|r| r.record.as_slice())).and_then(|()| {
            crash::point("wal-appended");
            self.wal.sync()
        });
        metrics.queue_depth.set(self.rx.len() as i64);
        if let Err(e) = result {
            metrics.write_errors.inc();
            tracing::error!(error = %e, requests = group.len(), "WAL write failed; requests not acknowledged");
            // After a failed fsync the segment's state is unknown: continue in a fresh one.
            if let Err(e) = self.wal.rotate() {
                tracing::error!(error = %e, "WAL rotation after failure failed");
            }
            for req in group {
                let _ = req.done.send(Err(SinkError::Io(e.to_string())));
            }
            return;
        }
        crash::point("wal-synced");
        metrics.wal_fsyncs.inc();
        metrics.wal_bytes.inc_by(group.iter().map(|r| r.record.len() as u64).sum());
        let mut dones = Vec::with_capacity(group.len());
        let mut written = 0u64;
        match self.shared.buffers.write() {
            Ok(mut state) => {
                for req in group {
                    written += req.points.len() as u64;
                    for p in req.points {
                        state.active.insert(p);
                    }
                    dones.push(req.done);
                }
                metrics.buffered_values.set(state.active.values() as i64);
            }
            Err(_) => {
                // Durable in the WAL but not visible until restart: still not a loss, but say so.
                tracing::error!("buffer lock poisoned; acknowledged data visible after restart");
                dones.extend(group.into_iter().map(|r| r.done));
            }
        }
        metrics.points_written.inc_by(written);
        for done in dones {
            let _ = done.send(Ok(()));
        }
    }

    fn maybe_snapshot(&mut self, interval: Duration) {
        let (values, waiting) =
            self.shared.buffers.read().map(|s| (s.active.values(), s.persisting.len())).unwrap_or((0, 0));
        if values == 0 {
            return;
        }
        let due = values >= self.shared.config.snapshot_values || self.last_snapshot.elapsed() >= interval;
        // One buffer being persisted and one waiting is enough; more would only rewrite the
        // same day files more often (and while snapshots fail, the active buffer grows until
        // `admit` holds writes back).
        if !due || waiting >= 2 {
            return;
        }
        if let Err(e) = self.seal() {
            tracing::error!(error = %e, "could not start a snapshot; the WAL keeps the data");
        }
    }

    /// Seals the WAL segment and the active buffer and queues them for the persister.
    fn seal(&mut self) -> Result<()> {
        let through_segment = self.wal.rotate()?;
        let buffer = {
            let mut state = self.shared.buffers.write().map_err(|_| Error::Other("buffer lock poisoned".into()))?;
            let buffer = Arc::new(std::mem::take(&mut state.active));
            state.persisting.push_back(buffer.clone());
            self.shared.metrics.buffered_values.set(0);
            self.shared.metrics.snapshot_backlog.set(state.persisting.len() as i64);
            buffer
        };
        self.last_snapshot = Instant::now();
        crash::point("snapshot-sealed");
        self.persist
            .send(PersistMsg::Sealed(Sealed { buffer, through_segment }))
            .map_err(|_| Error::Other("persister stopped".into()))
    }

    /// Seals what is buffered and waits until everything sealed is in Parquet, or until a
    /// snapshot fails (its error; the data stays in the WAL and the persister keeps retrying).
    fn snapshot_and_wait(&mut self) -> Result<()> {
        let empty = self.shared.buffers.read().map(|s| s.active.is_empty()).unwrap_or(true);
        if !empty {
            self.seal()?;
        }
        let (done, wait) = oneshot::channel();
        self.persist.send(PersistMsg::Barrier(done)).map_err(|_| Error::Other("persister stopped".into()))?;
        wait.blocking_recv().map_err(|_| Error::Other("persister stopped".into()))?
    }

    fn stop_persister(&mut self) {
        let _ = self.persist.send(PersistMsg::Stop);
        if let Some(handle) = self.persister.take()
            && handle.join().is_err()
        {
            tracing::error!("persister thread panicked; the WAL keeps the data");
        }
    }
}

struct Persister {
    shared: Arc<Shared>,
    rx: flume::Receiver<PersistMsg>,
    queue: VecDeque<Sealed>,
    /// Barriers waiting for the queue ahead of them: (buffers still ahead, reply).
    waiting: Vec<(usize, oneshot::Sender<Result<()>>)>,
}

impl Persister {
    fn run(mut self) {
        let max_backoff = Duration::from_secs(self.shared.config.snapshot_retry_max_secs.max(1));
        let mut backoff = Duration::from_secs(1);
        let mut retry_at: Option<Instant> = None;
        // Compaction runs when nothing waits to be persisted: at start (leftovers of the last
        // run) and after each snapshot, one day at a time, looking for messages in between.
        let mut compaction_due = true;
        loop {
            // Take messages: block when idle, wait out the backoff after a failure.
            let msg = match (self.queue.is_empty(), retry_at) {
                (true, _) if compaction_due => match self.rx.try_recv() {
                    Ok(msg) => Some(msg),
                    Err(flume::TryRecvError::Empty) => {
                        compaction_due = compact_next(&self.shared);
                        continue;
                    }
                    Err(flume::TryRecvError::Disconnected) => return,
                },
                (true, _) => self.rx.recv().ok(),
                (false, Some(at)) if at > Instant::now() => match self.rx.recv_deadline(at) {
                    Ok(msg) => Some(msg),
                    Err(flume::RecvTimeoutError::Timeout) => None,
                    Err(flume::RecvTimeoutError::Disconnected) => Some(PersistMsg::Stop),
                },
                (false, _) => self.rx.try_recv().ok(),
            };
            match msg {
                Some(PersistMsg::Sealed(sealed)) => {
                    self.queue.push_back(sealed);
                    continue;
                }
                Some(PersistMsg::Barrier(done)) => {
                    if self.queue.is_empty() {
                        let _ = done.send(Ok(()));
                    } else if let Some(f) = self.failure() {
                        let _ = done.send(Err(Error::Other(format!("snapshot failing: {}", f.error))));
                    } else {
                        self.waiting.push((self.queue.len(), done));
                    }
                    continue;
                }
                Some(PersistMsg::Compact(done)) => {
                    let _ = done.send(compact_all(&self.shared));
                    continue;
                }
                Some(PersistMsg::Stop) => {
                    self.answer_waiting(Err(Error::ShuttingDown));
                    return;
                }
                None if self.queue.is_empty() => return, // every sender gone
                None => {}
            }
            if retry_at.is_some_and(|at| at > Instant::now()) {
                continue;
            }
            let Some(head) = self.queue.front() else { continue };
            match persist(&self.shared, head) {
                Ok(()) => {
                    self.queue.pop_front();
                    compaction_due = true;
                    retry_at = None;
                    backoff = Duration::from_secs(1);
                    if let Ok(mut failure) = self.shared.snapshot_failure.lock()
                        && let Some(f) = failure.take()
                    {
                        tracing::info!(attempts = f.attempts, "snapshot succeeded after failing; store healthy again");
                    }
                    for (ahead, _) in &mut self.waiting {
                        *ahead = ahead.saturating_sub(1);
                    }
                    let (ready, rest): (Vec<_>, Vec<_>) = self.waiting.drain(..).partition(|(ahead, _)| *ahead == 0);
                    self.waiting = rest;
                    for (_, done) in ready {
                        let _ = done.send(Ok(()));
                    }
                }
                Err(e) => {
                    self.shared.metrics.snapshot_failures.inc();
                    let attempts = {
                        let mut failure = self.shared.snapshot_failure.lock().unwrap_or_else(|p| p.into_inner());
                        let f = failure.get_or_insert(SnapshotFailure {
                            error: String::new(),
                            since: SystemTime::now(),
                            attempts: 0,
                        });
                        f.error = e.to_string();
                        f.attempts += 1;
                        f.attempts
                    };
                    tracing::error!(
                        error = %e,
                        attempts,
                        retry_in_s = backoff.as_secs(),
                        "snapshot to Parquet failed; its WAL segments are kept and it will be retried"
                    );
                    self.answer_waiting(Err(Error::Other(format!("snapshot failed: {e}"))));
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(max_backoff);
                }
            }
        }
    }

    fn failure(&self) -> Option<SnapshotFailure> {
        self.shared.snapshot_failure.lock().ok().and_then(|f| f.clone())
    }

    fn answer_waiting(&mut self, result: Result<()>) {
        for (_, done) in self.waiting.drain(..) {
            let _ = done.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(Error::Other(e.to_string())),
            });
        }
    }
}

/// Writes a sealed buffer as new partition files (one per measurement and day it touches,
/// each with the next generation number, so its values outrank what the day's older files
/// hold), then drops it from the query path and removes the WAL segments through its own
/// (every older buffer is already persisted: the persister goes strictly in order). Nothing
/// is read back: merging a day's files is compaction's job, off the ingest path. A retry
/// after a partial failure writes the same values again under newer generations; the
/// compaction of those days folds the copies into one.
fn persist(shared: &Shared, sealed: &Sealed) -> Result<()> {
    let started = Instant::now();
    let root = shared.root.join("parquet");
    let buffer = &sealed.buffer;
    let mut written = 0usize;
    for (measurement, table) in &buffer.tables {
        let ordered = table.ordered();
        for (day, series) in split_by_day(&ordered) {
            let generation = shared.next_generation.fetch_add(1, Ordering::Relaxed);
            let meta = partition::write(&root, measurement, day, generation, &series)?;
            let mut catalog = shared.catalog.write().map_err(|_| Error::Other("catalog lock poisoned".into()))?;
            catalog.insert(Arc::new(meta));
            drop(catalog);
            written += 1;
            if written == 1 {
                crash::point("snapshot-renamed");
            }
        }
    }
    crash::point("snapshot-persisted");
    {
        let mut state = shared.buffers.write().map_err(|_| Error::Other("buffer lock poisoned".into()))?;
        state.persisting.retain(|b| !Arc::ptr_eq(b, buffer));
        shared.metrics.snapshot_backlog.set(state.persisting.len() as i64);
    }
    wal::remove_segments_through(&shared.root.join("wal"), sealed.through_segment)?;
    crash::point("snapshot-segments-removed");
    if let Err(e) = apply_retention(shared) {
        tracing::error!(error = %e, "retention failed; old partitions kept");
    }
    shared.metrics.snapshots.inc();
    shared.metrics.snapshot_seconds.observe(started.elapsed().as_secs_f64());
    tracing::debug!(
        values = buffer.values(),
        files = written,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "snapshot persisted"
    );
    Ok(())
}

/// Files the current UTC day may gather before the background compaction merges them
/// (snapshots add one every `snapshot_interval_secs`; each compaction rewrites the day).
const OPEN_DAY_FILES: usize = 6;

/// Days with several files, as (measurement, day): every one when `everything`, else those
/// the background compaction takes (the current UTC day only once it has `OPEN_DAY_FILES`).
fn compaction_candidates(shared: &Shared, everything: bool) -> Vec<(String, i64)> {
    let today = day_of(fieldline_core::time::now_ns());
    let Ok(catalog) = shared.catalog.read() else { return Vec::new() };
    let mut out = Vec::new();
    for (measurement, days) in catalog.iter() {
        for (&day, files) in days {
            let due = files.len() >= 2 && (everything || day != today || files.len() >= OPEN_DAY_FILES);
            if due {
                out.push((measurement.clone(), day));
            }
        }
    }
    out.sort();
    out
}

/// Compacts one day the background compaction takes; false when there was none (or it
/// failed: it is tried again after the next snapshot, and its files are served meanwhile).
fn compact_next(shared: &Shared) -> bool {
    let candidates = compaction_candidates(shared, false);
    shared.metrics.compaction_pending_days.set(candidates.len() as i64);
    let Some((measurement, day)) = candidates.into_iter().next() else { return false };
    match compact_day(shared, &measurement, day) {
        Ok(()) => true,
        Err(e) => {
            shared.metrics.compaction_failures.inc();
            tracing::error!(error = %e, %measurement, day = %partition::day_name(day), "compaction failed; the day's files are kept as they are");
            false
        }
    }
}

/// Compacts every day with several files (the first failure ends it).
fn compact_all(shared: &Shared) -> Result<()> {
    for (measurement, day) in compaction_candidates(shared, true) {
        compact_day(shared, &measurement, day).inspect_err(|_| {
            shared.metrics.compaction_failures.inc();
        })?;
    }
    shared.metrics.compaction_pending_days.set(compaction_candidates(shared, false).len() as i64);
    Ok(())
}

/// Merges one day's files into one: read oldest generation first (so the newest value of a
/// series and timestamp wins), written under the newest input's name (temporary file and
/// rename), then the older inputs deleted once no query holds them. A crash before the rename
/// leaves the inputs; after it, the compacted file outranks every leftover input and the next
/// compaction of the day removes them.
fn compact_day(shared: &Shared, measurement: &str, day: i64) -> Result<()> {
    let started = Instant::now();
    let inputs: Vec<Arc<PartitionMeta>> = {
        let catalog = shared.catalog.read().map_err(|_| Error::Other("catalog lock poisoned".into()))?;
        catalog.get(measurement).and_then(|days| days.get(&day)).cloned().unwrap_or_default()
    };
    let Some(newest) = inputs.last().filter(|_| inputs.len() >= 2) else { return Ok(()) };
    let mut gathered = partition::Runs::default();
    for meta in &inputs {
        match meta.verify_once().and_then(|()| partition::read_all(&meta.path)) {
            Ok(runs) => gathered.append(runs),
            Err(Error::Corrupt { detail, .. }) => {
                // Quarantined (and logged); the day's other files are compacted next time.
                shared.quarantine_partition(meta, &detail)?;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
    }
    // Gathered oldest generation first: the last value of a timestamp is the newest.
    let mut merged: Vec<SeriesValues> = gathered
        .into_series()
        .map(|(tags, fields)| SeriesValues {
            tags,
            fields: fields.into_iter().map(|(name, values)| (name, in_time_order(values))).collect(),
        })
        .collect();
    merged.sort_by(|a, b| a.tags.cmp(&b.tags));
    let series: Vec<SeriesSlice<'_>> = merged.iter().map(SeriesValues::slice).collect();
    let root = shared.root.join("parquet");
    let compacted = partition::write(&root, measurement, day, newest.generation, &series)?;
    crash::point("compaction-renamed");
    {
        let mut catalog = shared.catalog.write().map_err(|_| Error::Other("catalog lock poisoned".into()))?;
        for meta in &inputs {
            catalog.remove(meta);
        }
        catalog.insert(Arc::new(compacted));
    }
    // The older inputs go when the last query reading them is done (the newest input's
    // name now holds the compacted file).
    for meta in &inputs[..inputs.len() - 1] {
        meta.delete_when_unused();
    }
    shared.metrics.compactions.inc();
    shared.metrics.compaction_seconds.observe(started.elapsed().as_secs_f64());
    tracing::debug!(
        %measurement,
        day = %partition::day_name(day),
        files = inputs.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "day compacted"
    );
    Ok(())
}

/// Series (sorted by tags, values in time order) cut into UTC days, borrowing the values.
fn split_by_day<'a>(series: &'a [OrderedSeries<'a>]) -> BTreeMap<i64, Vec<SeriesSlice<'a>>> {
    let mut days: BTreeMap<i64, Vec<SeriesSlice<'a>>> = BTreeMap::new();
    for OrderedSeries { tags, fields } in series {
        let mut by_day: BTreeMap<i64, Vec<FieldSlice<'a>>> = BTreeMap::new();
        for (name, values) in fields {
            let mut rest: &'a [_] = values;
            while let Some(&(first, _)) = rest.first() {
                let day = day_of(first);
                let end = rest.partition_point(|(t, _)| day_of(*t) == day);
                by_day.entry(day).or_default().push((name, &rest[..end]));
                rest = &rest[end..];
            }
        }
        for (day, fields) in by_day {
            days.entry(day).or_default().push(SeriesSlice { tags, fields });
        }
    }
    days
}

/// Deletes day partitions older than each measurement's retention.
fn apply_retention(shared: &Shared) -> Result<()> {
    if shared.config.retention_days.is_empty() {
        return Ok(());
    }
    let today = day_of(fieldline_core::time::now_ns());
    let mut catalog = shared.catalog.write().map_err(|_| Error::Other("catalog lock poisoned".into()))?;
    for (measurement, &keep) in &shared.config.retention_days {
        for meta in catalog.remove_days_before(measurement, today - i64::from(keep)) {
            tracing::info!(path = %meta.path.display(), "retention: removing partition");
            meta.delete_when_unused();
        }
    }
    Ok(())
}
