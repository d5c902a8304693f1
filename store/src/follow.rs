//! WAL followers: consumers outside the store (the InfluxDB mirror) that read every record
//! the store writes, in order, behind their own durable cursor.
//!
//! A follower named `influx` owns `data/sinks/influx/`. The WAL hard-links every segment it
//! creates into that directory before appending to it ([`crate::wal::Wal::open_mirrored`]),
//! so the store persists and removes its own names as always while the follower's links keep
//! the records until the follower has delivered them. The store and the follower share
//! nothing else: no lock, no callback, and a slow follower never slows a snapshot.
//!
//! The cursor (`cursor`: segment number and byte offset of the next record) is written
//! atomically (temporary file, fsync, rename, fsync of the directory) and only after the
//! records before it were delivered ([`Follower::commit`]); a segment's link is removed once
//! the cursor has moved past it. After a crash the follower resends from its cursor: delivery
//! is at least once, and InfluxDB overwrites a point written twice with the same value.
//!
//! The backlog (bytes from the cursor to the WAL's head) is bounded: once it reaches the
//! follower's `max_backlog_bytes` its [`Gate`] closes and the store refuses writes (HTTP 503,
//! no PUBACK) until the follower catches up, rather than fill the disk or drop records.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::wal::{self, HEADER_LEN, MAGIC};

const CURSOR_FILE: &str = "cursor";

/// A follower the store mirrors its WAL to; given to [`crate::Store::open_with_followers`].
#[derive(Debug, Clone, PartialEq)]
pub struct FollowerConfig {
    /// Directory name under `data/sinks/`.
    pub name: String,
    /// Backlog at which the store stops accepting writes.
    pub max_backlog_bytes: u64,
}

/// Where the next record to deliver starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    pub segment: u64,
    pub offset: u64,
}

/// The follower's backpressure signal to the store: closed while its backlog is full.
#[derive(Debug, Default)]
pub struct Gate {
    closed: AtomicBool,
    reason: Mutex<String>,
}

impl Gate {
    /// Why writes are refused now, if they are.
    pub fn refusal(&self) -> Option<String> {
        if !self.closed.load(Ordering::Acquire) {
            return None;
        }
        Some(self.reason.lock().map(|r| r.clone()).unwrap_or_else(|_| "a WAL follower's backlog is full".into()))
    }

    fn set(&self, refusal: Option<String>) {
        if let Some(reason) = refusal {
            if let Ok(mut r) = self.reason.lock() {
                *r = reason;
            }
            self.closed.store(true, Ordering::Release);
        } else {
            self.closed.store(false, Ordering::Release);
        }
    }
}

/// One record read: its payload and the cursor just after it.
#[derive(Debug)]
pub struct Record {
    pub payload: Vec<u8>,
    pub end: Cursor,
}

/// Records read from the cursor on, in WAL order, and the cursor after them (past any
/// skipped damage or torn tail too).
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    pub end: Option<Cursor>,
    /// Damaged bytes skipped in sealed segments (their records are lost to this follower).
    pub skipped_bytes: u64,
}

/// A follower's reading end. Not shared: one task owns it.
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    config: FollowerConfig,
    cursor: Cursor,
    gate: std::sync::Arc<Gate>,
}

/// The directory of follower `name` under `data_dir`.
pub fn follower_dir(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("sinks").join(name)
}

impl Follower {
    /// Opens the follower's directory (created by the store when it opened the WAL) and its
    /// cursor; without a cursor it starts at its oldest segment.
    pub(crate) fn open(dir: PathBuf, config: FollowerConfig, gate: std::sync::Arc<Gate>) -> io::Result<Follower> {
        fs::create_dir_all(&dir)?;
        let cursor = match fs::read_to_string(dir.join(CURSOR_FILE)) {
            Ok(text) => parse_cursor(&text).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not a cursor (\"segment offset\"): {text:?}", dir.join(CURSOR_FILE).display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let first = wal::list_segments(&dir)?.first().copied().unwrap_or(0);
                Cursor { segment: first, offset: 0 }
            }
            Err(e) => return Err(e),
        };
        let mut follower = Follower { dir, config, cursor, gate };
        follower.update_gate()?;
        Ok(follower)
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn cursor(&self) -> Cursor {
        self.cursor
    }

    /// The gate the store checks before each write (shared, for `/health` to read).
    pub fn gate(&self) -> std::sync::Arc<Gate> {
        self.gate.clone()
    }

    /// Reads complete records from the cursor on, up to about `max_bytes` of payload (at
    /// least one record), without moving the cursor. An incomplete record at the end of the
    /// newest segment is "not yet written"; in a sealed segment it is a torn tail the store
    /// cut, and reading goes on in the next segment.
    pub fn read(&self, max_bytes: usize) -> io::Result<Batch> {
        let segments = wal::list_segments(&self.dir)?;
        let mut batch = Batch::default();
        let mut payload_bytes = 0usize;
        let mut cursor = self.cursor;
        for (i, &segment) in segments.iter().enumerate() {
            if segment < cursor.segment {
                continue;
            }
            if segment > cursor.segment {
                cursor = Cursor { segment, offset: 0 };
            }
            let sealed = i + 1 < segments.len();
            let file = match File::open(wal::segment_path(&self.dir, segment)) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // Appends after this moment are read next time.
            let len = file.metadata()?.len();
            let mut reader = BufReader::with_capacity(256 * 1024, file);
            reader.seek(SeekFrom::Start(cursor.offset))?;
            while cursor.offset < len {
                if payload_bytes >= max_bytes {
                    batch.end = Some(cursor);
                    return Ok(batch);
                }
                match next_in(&mut reader, cursor.offset, len)? {
                    Next::Record(payload) => {
                        cursor.offset += (HEADER_LEN + payload.len()) as u64;
                        payload_bytes += payload.len();
                        batch.records.push(Record { payload, end: cursor });
                    }
                    // The newest segment: an append in flight (or damage the next rotation
                    // seals); wait for it.
                    Next::Incomplete | Next::Damaged if !sealed => break,
                    // A sealed segment ends in a torn tail (the store cut it): next segment.
                    Next::Incomplete => cursor.offset = len,
                    Next::Damaged => {
                        let mut rest = Vec::new();
                        let file = reader.get_mut();
                        file.seek(SeekFrom::Start(cursor.offset))?;
                        file.take(len - cursor.offset).read_to_end(&mut rest)?;
                        let skip = wal::next_record(&rest, 1).unwrap_or(rest.len());
                        batch.skipped_bytes += skip as u64;
                        tracing::error!(
                            follower = %self.config.name,
                            segment,
                            offset = cursor.offset,
                            skipped = skip,
                            "damaged WAL record skipped by the follower; its points are not mirrored"
                        );
                        cursor.offset += skip as u64;
                        reader.seek(SeekFrom::Start(cursor.offset))?;
                    }
                }
            }
            if !sealed || cursor.offset < len {
                break;
            }
        }
        batch.end = Some(cursor).filter(|c| *c != self.cursor);
        Ok(batch)
    }

    /// Makes `end` (from [`Follower::read`]) the durable cursor: everything before it was
    /// delivered. Removes the links of segments wholly before it and updates the gate.
    pub fn commit(&mut self, end: Cursor) -> io::Result<()> {
        if end < self.cursor {
            return Ok(());
        }
        let tmp = self.dir.join("cursor.tmp");
        {
            let mut file = File::create(&tmp)?;
            writeln!(file, "{} {}", end.segment, end.offset)?;
            file.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join(CURSOR_FILE))?;
        wal::sync_dir(&self.dir)?;
        self.cursor = end;
        let segments = wal::list_segments(&self.dir)?;
        let newest = segments.last().copied().unwrap_or(0);
        let mut removed = false;
        for segment in segments {
            // A segment before the cursor's is delivered; the cursor's own segment is done
            // when it is read to its end and a newer one exists.
            let done = segment < end.segment
                || (segment == end.segment
                    && segment < newest
                    && fs::metadata(wal::segment_path(&self.dir, segment)).map(|m| m.len()).unwrap_or(0) <= end.offset);
            if done {
                fs::remove_file(wal::segment_path(&self.dir, segment))?;
                removed = true;
            }
        }
        if removed {
            wal::sync_dir(&self.dir)?;
        }
        self.update_gate()?;
        Ok(())
    }

    /// Bytes from the cursor to the WAL's head.
    pub fn backlog_bytes(&self) -> io::Result<u64> {
        let mut total = 0u64;
        for segment in wal::list_segments(&self.dir)? {
            if segment < self.cursor.segment {
                continue;
            }
            let len = match fs::metadata(wal::segment_path(&self.dir, segment)) {
                Ok(m) => m.len(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
                Err(e) => return Err(e),
            };
            total += if segment == self.cursor.segment { len.saturating_sub(self.cursor.offset) } else { len };
        }
        Ok(total)
    }

    /// Recomputes the backlog, closes or opens the gate, and returns the backlog.
    pub fn update_gate(&mut self) -> io::Result<u64> {
        let backlog = self.backlog_bytes()?;
        let max = self.config.max_backlog_bytes;
        self.gate.set((backlog >= max).then(|| {
            format!(
                "not written: the {} mirror is {backlog} bytes behind (limit {max}); it has not been able to \
                 deliver, so writes wait until it catches up; retry later",
                self.config.name
            )
        }));
        Ok(backlog)
    }
}

/// What is at a position of a segment.
enum Next {
    Record(Vec<u8>),
    /// The file ends inside the record.
    Incomplete,
    /// Not an intact record (no magic, or a checksum mismatch).
    Damaged,
}

/// Reads the record at `offset` (where `reader` stands) of a segment `len` bytes long.
fn next_in(reader: &mut BufReader<File>, offset: u64, len: u64) -> io::Result<Next> {
    if len - offset < HEADER_LEN as u64 {
        return Ok(Next::Incomplete);
    }
    let mut header = [0u8; HEADER_LEN];
    reader.read_exact(&mut header)?;
    if !header.starts_with(&MAGIC) {
        return Ok(Next::Damaged);
    }
    let len_bytes = [header[4], header[5], header[6], header[7]];
    let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
    let payload_len = u64::from(u32::from_le_bytes(len_bytes));
    if payload_len > u64::from(wal::MAX_RECORD_LEN) {
        return Ok(Next::Damaged);
    }
    if len - offset - (HEADER_LEN as u64) < payload_len {
        return Ok(Next::Incomplete);
    }
    let mut payload = vec![0u8; payload_len as usize];
    reader.read_exact(&mut payload)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len_bytes);
    hasher.update(&payload);
    Ok(if hasher.finalize() == crc { Next::Record(payload) } else { Next::Damaged })
}

fn parse_cursor(text: &str) -> Option<Cursor> {
    let mut parts = text.split_whitespace();
    let segment = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some(Cursor { segment, offset })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::Wal;
    use std::sync::Arc;

    struct Setup {
        _root: tempfile::TempDir,
        wal_dir: PathBuf,
        follower_dir: PathBuf,
    }

    fn setup() -> Setup {
        let root = tempfile::tempdir().unwrap();
        let wal_dir = root.path().join("wal");
        let follower_dir = follower_dir(root.path(), "test");
        Setup { _root: root, wal_dir, follower_dir }
    }

    fn follower(s: &Setup, max: u64) -> (Follower, Arc<Gate>) {
        let gate = Arc::new(Gate::default());
        let config = FollowerConfig { name: "test".into(), max_backlog_bytes: max };
        (Follower::open(s.follower_dir.clone(), config, gate.clone()).unwrap(), gate)
    }

    fn drain(f: &mut Follower) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let batch = f.read(10).unwrap();
            out.extend(batch.records.into_iter().map(|r| r.payload));
            match batch.end {
                Some(end) => f.commit(end).unwrap(),
                None => return out,
            }
        }
    }

    #[test]
    fn follows_across_rotations_and_removals_in_order() {
        let s = setup();
        let (mut wal, _) = Wal::open_mirrored(&s.wal_dir, vec![s.follower_dir.clone()], |_| {}).unwrap();
        let (mut f, _) = follower(&s, u64::MAX);
        wal.append(b"one").unwrap();
        wal.append(b"two").unwrap();
        wal.sync().unwrap();
        let sealed = wal.rotate().unwrap();
        // The store persists and removes its segment: the follower's link keeps the records.
        wal.remove_through(sealed).unwrap();
        wal.append(b"three").unwrap();
        wal.sync().unwrap();
        assert_eq!(drain(&mut f), vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
        assert_eq!(f.backlog_bytes().unwrap(), 0);
        // The delivered, sealed segment's link is gone; the newest stays.
        assert_eq!(wal::list_segments(&s.follower_dir).unwrap().len(), 1);
        wal.append(b"four").unwrap();
        wal.sync().unwrap();
        assert_eq!(drain(&mut f), vec![b"four".to_vec()]);
    }

    #[test]
    fn the_cursor_survives_a_restart_and_nothing_is_resent() {
        let s = setup();
        {
            let (mut wal, _) = Wal::open_mirrored(&s.wal_dir, vec![s.follower_dir.clone()], |_| {}).unwrap();
            wal.append(b"a").unwrap();
            wal.append(b"b").unwrap();
            wal.sync().unwrap();
            let (mut f, _) = follower(&s, u64::MAX);
            let batch = f.read(1).unwrap();
            assert_eq!(batch.records.len(), 1);
            assert_eq!(batch.records[0].payload, b"a".to_vec());
            f.commit(batch.end.unwrap()).unwrap();
        }
        // Restart: the store replays and starts a new segment; the follower resumes at "b".
        let (mut wal, _) = Wal::open_mirrored(&s.wal_dir, vec![s.follower_dir.clone()], |_| {}).unwrap();
        wal.append(b"c").unwrap();
        wal.sync().unwrap();
        let (mut f, _) = follower(&s, u64::MAX);
        assert_eq!(drain(&mut f), vec![b"b".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn new_segments_number_above_the_followers_after_the_store_removed_its_own() {
        let s = setup();
        {
            let (mut wal, _) = Wal::open_mirrored(&s.wal_dir, vec![s.follower_dir.clone()], |_| {}).unwrap();
            wal.append(b"kept for the follower").unwrap();
            let sealed = wal.rotate().unwrap();
            wal.remove_through(sealed + 1).unwrap();
        }
        assert!(wal::list_segments(&s.wal_dir).unwrap().is_empty());
        let (mut wal, _) = Wal::open_mirrored(&s.wal_dir, vec![s.follower_dir.clone()], |_| {}).unwrap();
        wal.append(b"after restart").unwrap();
        wal.sync().unwrap();
        let (mut f, _) = follower(&s, u64::MAX);
        assert_eq!(drain(&mut f), vec![b"kept for the follower".to_vec(), b"after restart".to_vec()]);
    }

    #[test]
    fn an_incomplete_record_at_the_head_is_not_yet_and_a_torn_sealed_tail_is_skipped() {
        let s = setup();
        let (mut wal, _) = Wal::open_mirrored(&s.wal_dir, vec![s.follower_dir.clone()], |_| {}).unwrap();
        wal.append(b"whole").unwrap();
        wal.sync().unwrap();
        let head = wal::segment_path(&s.follower_dir, wal::list_segments(&s.follower_dir).unwrap()[0]);
        // Half a record, as a reader may see an append in flight.
        let mut half = Vec::new();
        half.extend_from_slice(&MAGIC);
        half.extend_from_slice(&100u32.to_le_bytes());
        half.extend_from_slice(&[0; 6]);
        fs::OpenOptions::new().append(true).open(&head).unwrap().write_all(&half).unwrap();
        let (mut f, _) = follower(&s, u64::MAX);
        let batch = f.read(1 << 20).unwrap();
        assert_eq!(batch.records.iter().map(|r| r.payload.clone()).collect::<Vec<_>>(), vec![b"whole".to_vec()]);
        f.commit(batch.end.unwrap()).unwrap();
        assert!(f.read(1 << 20).unwrap().end.is_none(), "waits for the rest of the record");
        // The writer moves on (as after a crash that tore the record): reading goes on there.
        wal.rotate().unwrap();
        wal.append(b"next").unwrap();
        wal.sync().unwrap();
        assert_eq!(drain(&mut f), vec![b"next".to_vec()]);
    }

    #[test]
    fn a_damaged_record_in_a_sealed_segment_is_skipped_and_the_rest_delivered() {
        let s = setup();
        let (mut wal, _) = Wal::open_mirrored(&s.wal_dir, vec![s.follower_dir.clone()], |_| {}).unwrap();
        for r in [&b"first"[..], b"second", b"third"] {
            wal.append(r).unwrap();
        }
        wal.sync().unwrap();
        wal.rotate().unwrap();
        let seg = wal::segment_path(&s.follower_dir, wal::list_segments(&s.follower_dir).unwrap()[0]);
        let mut bytes = fs::read(&seg).unwrap();
        // Flip a byte in "second"'s payload (record 0 is 12 + 5 bytes).
        bytes[17 + 12 + 2] ^= 0x40;
        // Same inode (the store's name too): write in place.
        fs::OpenOptions::new().write(true).open(&seg).unwrap().write_all(&bytes).unwrap();
        let (mut f, _) = follower(&s, u64::MAX);
        assert_eq!(drain(&mut f), vec![b"first".to_vec(), b"third".to_vec()]);
    }

    #[test]
    fn the_gate_closes_at_the_backlog_limit_and_opens_when_delivered() {
        let s = setup();
        let (mut wal, _) = Wal::open_mirrored(&s.wal_dir, vec![s.follower_dir.clone()], |_| {}).unwrap();
        let (mut f, gate) = follower(&s, 100);
        assert!(gate.refusal().is_none());
        wal.append(&[7u8; 120]).unwrap();
        wal.sync().unwrap();
        assert_eq!(f.update_gate().unwrap(), 132);
        let reason = gate.refusal().expect("closed");
        assert!(reason.contains("132 bytes behind"), "{reason}");
        drain(&mut f);
        assert!(gate.refusal().is_none());
    }

    #[test]
    fn a_big_record_is_read_whole_even_past_the_batch_size() {
        let s = setup();
        let (mut wal, _) = Wal::open_mirrored(&s.wal_dir, vec![s.follower_dir.clone()], |_| {}).unwrap();
        let big = vec![3u8; 200_000];
        wal.append(b"small").unwrap();
        wal.append(&big).unwrap();
        wal.append(b"tail").unwrap();
        wal.sync().unwrap();
        let (mut f, _) = follower(&s, u64::MAX);
        assert_eq!(drain(&mut f), vec![b"small".to_vec(), big, b"tail".to_vec()]);
    }
}
