//! The writer thread (group commit into the WAL, then the buffer, then the acknowledgement)
//! and the snapshot thread it hands sealed buffers to.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fieldline_ingest::Point;
use fieldline_ingest::sink::SinkError;
use tokio::sync::oneshot;

use super::partition::{self, DAY_NS, day_of};
use super::table::{Buffer, Table};
use super::wal::{self, Wal};
use super::{Error, Result, Shared};

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
    /// Snapshot now and answer once the Parquet files are durable.
    Flush(oneshot::Sender<Result<()>>),
    /// Drain, snapshot, stop.
    Shutdown(oneshot::Sender<Result<()>>),
}

pub fn spawn(shared: Arc<Shared>, wal: Wal, rx: flume::Receiver<Msg>) -> Result<JoinHandle<()>> {
    let thread = std::thread::Builder::new()
        .name("fieldline-wal".into())
        .spawn(move || Writer { shared, wal, rx, snapshot: None, last_snapshot: Instant::now() }.run())?;
    Ok(thread)
}

struct Writer {
    shared: Arc<Shared>,
    wal: Wal,
    rx: flume::Receiver<Msg>,
    /// The snapshot in progress, if any.
    snapshot: Option<JoinHandle<Result<()>>>,
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
                Some(Msg::Shutdown(done)) => {
                    // Writes queued behind the shutdown are still committed: their senders are waiting.
                    let mut rest = Vec::new();
                    while let Ok(msg) = self.rx.try_recv() {
                        match msg {
                            Msg::Write(req) => rest.push(req),
                            Msg::Flush(d) | Msg::Shutdown(d) => {
                                let _ = d.send(Ok(()));
                            }
                        }
                    }
                    if !rest.is_empty() {
                        self.commit(rest);
                    }
                    let result = self.snapshot_and_wait();
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
    }

    fn commit(&mut self, group: Vec<WriteRequest>) {
        let metrics = &self.shared.metrics;
        metrics.group_commit_requests.observe(group.len() as f64);
        let result = self.wal.append_many(group.iter().map(|r| r.record.as_slice())).and_then(|()| self.wal.sync());
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
        if let Some(handle) = &self.snapshot
            && handle.is_finished()
        {
            self.join_snapshot();
        }
        let values = self.shared.buffers.read().map(|s| s.active.values()).unwrap_or(0);
        if values == 0 {
            return;
        }
        let due = values >= self.shared.config.snapshot_values || self.last_snapshot.elapsed() >= interval;
        if !due {
            return;
        }
        if self.snapshot.is_some() {
            // Backpressure: past twice the threshold, wait for the running snapshot rather
            // than let the buffer grow without bound.
            if values < 2 * self.shared.config.snapshot_values {
                return;
            }
            self.join_snapshot();
        }
        if let Err(e) = self.start_snapshot() {
            tracing::error!(error = %e, "could not start snapshot");
        }
    }

    fn join_snapshot(&mut self) {
        if let Some(handle) = self.snapshot.take() {
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "snapshot failed; its WAL segments are kept"),
                Err(_) => tracing::error!("snapshot thread panicked; its WAL segments are kept"),
            }
        }
    }

    /// Seals the WAL segment and the active buffer and persists them on another thread.
    fn start_snapshot(&mut self) -> Result<()> {
        let sealed = self.wal.rotate()?;
        let buffer = {
            let mut state = self.shared.buffers.write().map_err(|_| Error::Other("buffer lock poisoned".into()))?;
            let buffer = Arc::new(std::mem::take(&mut state.active));
            state.persisting.push(buffer.clone());
            self.shared.metrics.buffered_values.set(0);
            buffer
        };
        self.last_snapshot = Instant::now();
        let shared = self.shared.clone();
        let handle = std::thread::Builder::new()
            .name("fieldline-snapshot".into())
            .spawn(move || persist(&shared, &buffer, sealed))?;
        self.snapshot = Some(handle);
        Ok(())
    }

    fn snapshot_and_wait(&mut self) -> Result<()> {
        self.join_snapshot();
        let empty = self.shared.buffers.read().map(|s| s.active.is_empty()).unwrap_or(true);
        if !empty {
            self.start_snapshot()?;
        }
        match self.snapshot.take().map(|h| h.join()) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(Error::Other("snapshot thread panicked".into())),
        }
    }
}

/// Merges a sealed buffer into its day partitions, then drops it from the query path and
/// removes the WAL segments it came from.
fn persist(shared: &Shared, buffer: &Arc<Buffer>, sealed: u64) -> Result<()> {
    let started = Instant::now();
    let root = shared.root.join("parquet");
    for (measurement, table) in &buffer.tables {
        for (day, day_table) in split_by_day(table) {
            let path = partition::partition_path(&root, measurement, day);
            let mut merged = if path.exists() { partition::read_all(&path)? } else { Table::default() };
            merged.merge_from(day_table);
            let meta = partition::write(&path, measurement, day, &merged)?;
            let mut catalog = shared.catalog.write().map_err(|_| Error::Other("catalog lock poisoned".into()))?;
            catalog.entry(measurement.clone()).or_default().insert(day, Arc::new(meta));
        }
    }
    {
        let mut state = shared.buffers.write().map_err(|_| Error::Other("buffer lock poisoned".into()))?;
        state.persisting.retain(|b| !Arc::ptr_eq(b, buffer));
    }
    wal::remove_segments_through(&shared.root.join("wal"), sealed)?;
    apply_retention(shared)?;
    shared.metrics.snapshots.inc();
    shared.metrics.snapshot_seconds.observe(started.elapsed().as_secs_f64());
    tracing::debug!(values = buffer.values(), elapsed_ms = started.elapsed().as_millis() as u64, "snapshot persisted");
    Ok(())
}

/// One table per UTC day.
fn split_by_day(table: &Table) -> BTreeMap<i64, Table> {
    let mut days: BTreeMap<i64, Table> = BTreeMap::new();
    for (tags, fields) in &table.series {
        for (name, column) in fields {
            let (Some((&first, _)), Some((&last, _))) = (column.first_key_value(), column.last_key_value()) else {
                continue;
            };
            for day in day_of(first)..=day_of(last) {
                let start = day.saturating_mul(DAY_NS);
                let range = column.range(start..start.saturating_add(DAY_NS));
                let mut range = range.peekable();
                if range.peek().is_none() {
                    continue;
                }
                let dest = days.entry(day).or_default().series.entry(tags.clone()).or_default();
                dest.entry(name.clone()).or_default().extend(range.map(|(t, v)| (*t, v.clone())));
            }
        }
    }
    days
}

/// Deletes day partitions older than each measurement's retention.
fn apply_retention(shared: &Shared) -> Result<()> {
    if shared.config.retention_days.is_empty() {
        return Ok(());
    }
    let today = day_of(fieldline_ingest::point::now_ns());
    let mut doomed = Vec::new();
    {
        let mut catalog = shared.catalog.write().map_err(|_| Error::Other("catalog lock poisoned".into()))?;
        for (measurement, days) in catalog.iter_mut() {
            let Some(&keep) = shared.config.retention_days.get(measurement) else { continue };
            let cutoff = today - i64::from(keep);
            let old: Vec<i64> = days.range(..cutoff).map(|(d, _)| *d).collect();
            for d in old {
                if let Some(meta) = days.remove(&d) {
                    doomed.push(meta.path.clone());
                }
            }
        }
    }
    for path in doomed {
        tracing::info!(path = %path.display(), "retention: removing partition");
        std::fs::remove_file(&path)?;
    }
    Ok(())
}
