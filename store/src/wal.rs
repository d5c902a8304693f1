//! The write-ahead log: numbered segment files under `wal/`, one record per write request
//! (the store encodes its points with postcard). A group commit appends many records with one
//! `write` and makes them durable with one `fdatasync`.
//!
//! Record format: `[magic "\xF1\xE1\xD1\xA5"][len: u32 LE][crc32 of len and payload: u32 LE]
//! [payload]`. The magic lets replay find the next record after a damaged one; the checksum
//! covers the length, so a flipped length is caught instead of swallowing what follows.
//! Segments written before the magic existed (`[len][crc32 of payload][payload]`) still
//! replay: their first four bytes are a length, always below the magic's value.
//!
//! Replay tells two kinds of damage apart:
//! - a **torn tail** (a crash mid-append: bad bytes and nothing valid after them) is cut off
//!   quietly, so later appends never follow garbage;
//! - **corruption** (a bad record *followed by valid ones*: a flipped bit on disk) keeps every
//!   valid record, moves the original segment to the quarantine directory with a note, rewrites
//!   the segment with the valid records only (order kept), and says so loudly: it is returned
//!   in the [`ReplayReport`] that `/health` shows.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

pub(crate) const MAGIC: [u8; 4] = [0xF1, 0xE1, 0xD1, 0xA5];
pub(crate) const HEADER_LEN: usize = 12;
const LEGACY_HEADER_LEN: usize = 8;
/// Largest record accepted; anything bigger is treated as damage. Below the magic read as a
/// length, which is how legacy records are told apart.
pub(crate) const MAX_RECORD_LEN: u32 = 1 << 30;

/// An open log, appending to its newest segment.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    seq: u64,
    file: File,
    segment_bytes: u64,
    scratch: Vec<u8>,
    /// Directories every new segment is hard-linked into (the followers', see
    /// [`crate::follow`]): the link keeps a segment's records for its follower after the
    /// store has persisted them and removed its own name.
    mirrors: Vec<PathBuf>,
}

/// What replay found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReplayReport {
    /// Records replayed.
    pub records: usize,
    /// Torn tails cut off (bytes).
    pub torn_bytes: u64,
    /// Segments with damaged records between valid ones, now in quarantine.
    pub quarantined: Vec<Quarantined>,
}

/// A damaged segment: where its original went and what was lost.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarantined {
    pub segment: u64,
    /// The original segment, moved aside.
    pub moved_to: PathBuf,
    /// Damaged bytes skipped (their records are lost).
    pub bad_bytes: u64,
    /// Valid records kept.
    pub kept_records: usize,
}

pub(crate) fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// The quarantine directory beside the WAL directory (`data/quarantine` for `data/wal`).
pub fn quarantine_dir(wal_dir: &Path) -> PathBuf {
    wal_dir.parent().map_or_else(|| wal_dir.join("quarantine"), |p| p.join("quarantine"))
}

/// Segment numbers present in `dir`, ascending.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(seq) = name.strip_suffix(".wal").and_then(|s| s.parse::<u64>().ok()) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

/// fsyncs a directory so that file creations and removals in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Appends one framed record to `out`.
fn frame(out: &mut Vec<u8>, payload: &[u8]) -> io::Result<()> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l <= MAX_RECORD_LEN)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "WAL record too large"))?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len.to_le_bytes());
    crc.update(payload);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

impl Wal {
    /// Opens the log in `dir`, calling `replay` with every intact record of every existing
    /// segment in order, then starts a fresh segment for new appends.
    pub fn open(dir: &Path, replay: impl FnMut(&[u8])) -> io::Result<(Wal, ReplayReport)> {
        Wal::open_mirrored(dir, Vec::new(), replay)
    }

    /// [`Wal::open`], hard-linking every segment it creates from now on into each of
    /// `mirrors` (created if missing; same file system as `dir`).
    pub fn open_mirrored(
        dir: &Path,
        mirrors: Vec<PathBuf>,
        mut replay: impl FnMut(&[u8]),
    ) -> io::Result<(Wal, ReplayReport)> {
        fs::create_dir_all(dir)?;
        for mirror in &mirrors {
            fs::create_dir_all(mirror)?;
        }
        let segments = list_segments(dir)?;
        let mut report = ReplayReport::default();
        for &seq in &segments {
            replay_segment(dir, seq, &mut replay, &mut report)?;
        }
        // Above every mirror's segments too: a mirror may still hold segments the store has
        // persisted and removed, and a reused number would append to one of them.
        // Every follower's directory counts, configured now or not (`data/sinks/*`).
        let mut last = segments.last().copied().unwrap_or(0);
        let followers = dir.parent().map(|data| data.join("sinks")).and_then(|d| fs::read_dir(d).ok());
        let follower_dirs = followers.into_iter().flatten().filter_map(|e| e.ok().map(|e| e.path()));
        for mirror in mirrors.iter().cloned().chain(follower_dirs) {
            if mirror.is_dir() {
                last = last.max(list_segments(&mirror)?.last().copied().unwrap_or(0));
            }
        }
        let seq = last + 1;
        let file = create_segment(dir, seq, &mirrors)?;
        Ok((Wal { dir: dir.to_path_buf(), seq, file, segment_bytes: 0, scratch: Vec::new(), mirrors }, report))
    }

    /// Appends one record (not yet durable: call [`Wal::sync`]).
    pub fn append(&mut self, payload: &[u8]) -> io::Result<()> {
        self.append_many([payload])
    }

    /// Appends several records with a single write call (not yet durable: call
    /// [`Wal::sync`]). On error nothing of them stays in the segment.
    pub fn append_many<'a>(&mut self, payloads: impl IntoIterator<Item = &'a [u8]>) -> io::Result<()> {
        self.scratch.clear();
        for payload in payloads {
            frame(&mut self.scratch, payload)?;
        }
        if let Err(e) = self.file.write_all(&self.scratch) {
            // A partial record would stop replay there and hide every later record.
            let _ = self.file.set_len(self.segment_bytes);
            return Err(e);
        }
        self.segment_bytes += self.scratch.len() as u64;
        Ok(())
    }

    /// Makes every appended record durable (fdatasync).
    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Bytes in the current segment.
    pub fn segment_bytes(&self) -> u64 {
        self.segment_bytes
    }

    /// Closes the current segment and starts the next; returns the closed segment's number.
    /// Everything up to and including it can be removed once it is persisted elsewhere.
    pub fn rotate(&mut self) -> io::Result<u64> {
        self.file.sync_data()?;
        let next = create_segment(&self.dir, self.seq + 1, &self.mirrors)?;
        let sealed = self.seq;
        self.seq += 1;
        self.file = next;
        self.segment_bytes = 0;
        Ok(sealed)
    }

    /// Removes segments numbered `<= seq`.
    pub fn remove_through(&self, seq: u64) -> io::Result<()> {
        remove_segments_through(&self.dir, seq)
    }
}

/// Removes the segments numbered `<= seq` in `dir`; callable from another thread than the
/// one appending.
pub fn remove_segments_through(dir: &Path, seq: u64) -> io::Result<()> {
    let mut removed = false;
    for s in list_segments(dir)?.into_iter().filter(|&s| s <= seq) {
        fs::remove_file(segment_path(dir, s))?;
        removed = true;
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}

/// Creates segment `seq` and links it into every mirror before anything is appended, so a
/// mirror never misses a record.
fn create_segment(dir: &Path, seq: u64, mirrors: &[PathBuf]) -> io::Result<File> {
    let path = segment_path(dir, seq);
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    sync_dir(dir)?;
    for mirror in mirrors {
        let link = segment_path(mirror, seq);
        match fs::hard_link(&path, &link) {
            Ok(()) => {}
            // Left by a crash between this link and the segment's first append: empty.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_file(&link)?;
                fs::hard_link(&path, &link)?;
            }
            Err(e) => return Err(e),
        }
        sync_dir(mirror)?;
    }
    Ok(file)
}

/// The record at `offset`: `(payload range, next offset)` if intact.
pub(crate) fn record_at(data: &[u8], offset: usize) -> Option<(std::ops::Range<usize>, usize)> {
    let rest = data.get(offset..)?;
    if rest.starts_with(&MAGIC) {
        let header = rest.get(..HEADER_LEN)?;
        let len_bytes = [header[4], header[5], header[6], header[7]];
        let len = u32::from_le_bytes(len_bytes);
        let crc = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        if len > MAX_RECORD_LEN {
            return None;
        }
        let body = rest.get(HEADER_LEN..HEADER_LEN + len as usize)?;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&len_bytes);
        hasher.update(body);
        let start = offset + HEADER_LEN;
        return (hasher.finalize() == crc).then_some((start..start + len as usize, start + len as usize));
    }
    // A legacy record: [len][crc32 of payload][payload].
    let header = rest.get(..LEGACY_HEADER_LEN)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len > MAX_RECORD_LEN {
        return None;
    }
    let body = rest.get(LEGACY_HEADER_LEN..LEGACY_HEADER_LEN + len as usize)?;
    let start = offset + LEGACY_HEADER_LEN;
    (crc32fast::hash(body) == crc).then_some((start..start + len as usize, start + len as usize))
}

/// The offset of the first intact record (with the magic) after `from`, if any.
pub(crate) fn next_record(data: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(rest) = data.get(at..) {
        let found = rest.windows(MAGIC.len()).position(|w| w == MAGIC)?;
        let candidate = at + found;
        if record_at(data, candidate).is_some() {
            return Some(candidate);
        }
        at = candidate + 1;
    }
    None
}

/// Replays one segment; cuts a torn tail, quarantines a corrupt segment (see the module doc).
fn replay_segment(dir: &Path, seq: u64, replay: &mut impl FnMut(&[u8]), report: &mut ReplayReport) -> io::Result<()> {
    let path = segment_path(dir, seq);
    let mut data = Vec::new();
    File::open(&path)?.read_to_end(&mut data)?;
    let mut offset = 0usize;
    let mut kept: Vec<std::ops::Range<usize>> = Vec::new();
    let mut bad_bytes = 0u64;
    let mut torn_at = None;
    while offset < data.len() {
        if let Some((body, next)) = record_at(&data, offset) {
            kept.push(body);
            offset = next;
            continue;
        }
        match next_record(&data, offset + 1) {
            Some(next) => {
                bad_bytes += (next - offset) as u64;
                offset = next;
            }
            None => {
                torn_at = Some(offset);
                break;
            }
        }
    }
    for body in &kept {
        if let Some(record) = data.get(body.clone()) {
            replay(record);
        }
    }
    report.records += kept.len();

    if bad_bytes > 0 {
        let moved_to = quarantine_segment(dir, seq, &path, bad_bytes, kept.len())?;
        // Rewrite the segment with the valid records only, in their order, atomically.
        let mut clean = Vec::with_capacity(data.len());
        for body in &kept {
            frame(&mut clean, data.get(body.clone()).unwrap_or_default())?;
        }
        let tmp = path.with_extension("wal.tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(&clean)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)?;
        sync_dir(dir)?;
        tracing::error!(
            segment = seq,
            bad_bytes,
            kept_records = kept.len(),
            quarantined = %moved_to.display(),
            "WAL CORRUPTION: damaged records between valid ones (a flipped bit on disk?); the damaged \
             records are lost, every valid one was kept; the original segment is in quarantine"
        );
        report.quarantined.push(Quarantined { segment: seq, moved_to, bad_bytes, kept_records: kept.len() });
    } else if let Some(cut) = torn_at {
        let dropped = data.len() - cut;
        tracing::warn!(path = %path.display(), kept = cut, dropped, "cutting torn WAL tail");
        let file = OpenOptions::new().write(true).open(&path)?;
        file.set_len(cut as u64)?;
        file.sync_all()?;
        report.torn_bytes += dropped as u64;
    }
    Ok(())
}

/// Copies a damaged segment into the quarantine directory with a note beside it.
fn quarantine_segment(dir: &Path, seq: u64, path: &Path, bad_bytes: u64, kept: usize) -> io::Result<PathBuf> {
    let qdir = quarantine_dir(dir);
    fs::create_dir_all(&qdir)?;
    let stamp = fieldline_core::time::now_ns() / 1_000_000_000;
    let target = qdir.join(format!("wal-{seq:020}-{stamp}.wal"));
    fs::copy(path, &target)?;
    File::open(&target)?.sync_all()?;
    let note = format!(
        "WAL segment {seq} had {bad_bytes} damaged bytes between valid records.\n\
         {kept} valid records were kept and replayed; the damaged records are lost.\n\
         This is the original segment. Delete this file and its note once inspected: \
         /health reports the store degraded while the quarantine directory holds files.\n"
    );
    fs::write(target.with_extension("txt"), note)?;
    sync_dir(&qdir)?;
    Ok(target)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay_all(dir: &Path) -> (Vec<Vec<u8>>, ReplayReport) {
        let mut seen = Vec::new();
        let (_wal, report) = Wal::open(dir, |r| seen.push(r.to_vec())).unwrap();
        (seen, report)
    }

    fn records(dir: &Path) -> Vec<Vec<u8>> {
        replay_all(dir).0
    }

    /// A temp dir with the WAL in `wal/`, so the quarantine lands in the temp dir too.
    struct TestDir {
        _root: tempfile::TempDir,
        wal: PathBuf,
    }

    impl TestDir {
        fn new() -> Self {
            let root = tempfile::tempdir().unwrap();
            let wal = root.path().join("wal");
            TestDir { _root: root, wal }
        }

        fn path(&self) -> &Path {
            &self.wal
        }
    }

    #[test]
    fn records_survive_reopen_in_order() {
        let dir = TestDir::new();
        let (mut wal, report) = Wal::open(dir.path(), |_| {}).unwrap();
        assert_eq!(report.records, 0);
        wal.append(b"one").unwrap();
        wal.append(b"two").unwrap();
        wal.sync().unwrap();
        wal.rotate().unwrap();
        wal.append(b"three").unwrap();
        wal.sync().unwrap();
        drop(wal);
        assert_eq!(records(dir.path()), vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
    }

    #[test]
    fn torn_tail_is_cut_quietly_and_later_appends_replay() {
        let dir = TestDir::new();
        let (mut wal, _) = Wal::open(dir.path(), |_| {}).unwrap();
        wal.append(b"good").unwrap();
        wal.sync().unwrap();
        let path = segment_path(dir.path(), wal.seq);
        drop(wal);
        // A crash mid-record: a header promising more bytes than follow.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&MAGIC).unwrap();
        f.write_all(&100u32.to_le_bytes()).unwrap();
        f.write_all(&[1, 2, 3, 4, 5]).unwrap();
        drop(f);
        let mut seen = Vec::new();
        let (mut wal, report) = Wal::open(dir.path(), |r| seen.push(r.to_vec())).unwrap();
        assert_eq!(seen, vec![b"good".to_vec()]);
        assert_eq!(report.torn_bytes, 13);
        assert!(report.quarantined.is_empty());
        wal.append(b"after").unwrap();
        wal.sync().unwrap();
        drop(wal);
        assert_eq!(records(dir.path()), vec![b"good".to_vec(), b"after".to_vec()]);
        assert!(!quarantine_dir(dir.path()).exists());
    }

    #[test]
    fn a_flipped_bit_in_the_last_record_is_a_torn_tail() {
        let dir = TestDir::new();
        let (mut wal, _) = Wal::open(dir.path(), |_| {}).unwrap();
        wal.append(b"first").unwrap();
        wal.append(b"second").unwrap();
        wal.sync().unwrap();
        let path = segment_path(dir.path(), wal.seq);
        drop(wal);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&path, bytes).unwrap();
        assert_eq!(records(dir.path()), vec![b"first".to_vec()]);
    }

    /// Before: everything after a damaged record was dropped without a word.
    #[test]
    fn a_damaged_record_between_valid_ones_keeps_the_rest_and_quarantines_the_segment() {
        let test_dir = TestDir::new();
        let dir = test_dir.path().to_path_buf();
        let (mut wal, _) = Wal::open(&dir, |_| {}).unwrap();
        let payloads: Vec<Vec<u8>> = (0..50).map(|i| format!("record number {i}").into_bytes()).collect();
        for p in &payloads {
            wal.append(p).unwrap();
        }
        wal.sync().unwrap();
        let path = segment_path(&dir, wal.seq);
        drop(wal);
        let original = fs::read(&path).unwrap();
        // Record 0 is 12 + 15 bytes; record 1's length field starts 4 bytes into its header.
        for (what, position) in [("payload", original.len() / 2), ("length", 27 + 4), ("magic", 27)] {
            let mut bytes = original.clone();
            bytes[position] ^= 0x10;
            fs::write(&path, &bytes).unwrap();
            let (seen, report) = replay_all(&dir);
            assert_eq!(seen.len(), 49, "{what}: every valid record is kept");
            assert!(payloads.iter().filter(|p| seen.contains(p)).count() == 49, "{what}");
            assert_eq!(report.quarantined.len(), 1, "{what}");
            let q = &report.quarantined[0];
            assert_eq!(q.kept_records, 49);
            assert!(q.moved_to.exists() && q.moved_to.with_extension("txt").exists());
            assert_eq!(fs::read(&q.moved_to).unwrap(), bytes, "the original is kept as it was");
            // The segment now holds the valid records only: a second replay is clean.
            let (again, report) = replay_all(&dir);
            assert!(report.quarantined.is_empty(), "{what}");
            assert_eq!(again, seen, "{what}");
            for seg in list_segments(&dir).unwrap() {
                fs::remove_file(segment_path(&dir, seg)).unwrap();
            }
            fs::write(&path, &original).unwrap();
        }
    }

    #[test]
    fn legacy_segments_still_replay() {
        let dir = TestDir::new();
        let mut legacy = Vec::new();
        for payload in [&b"old one"[..], b"old two"] {
            legacy.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            legacy.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            legacy.extend_from_slice(payload);
        }
        fs::create_dir_all(dir.path()).unwrap();
        fs::write(segment_path(dir.path(), 7), legacy).unwrap();
        let (mut wal, report) = Wal::open(dir.path(), |_| {}).unwrap();
        assert_eq!(report.records, 2);
        wal.append(b"new").unwrap();
        wal.sync().unwrap();
        drop(wal);
        assert_eq!(records(dir.path()), vec![b"old one".to_vec(), b"old two".to_vec(), b"new".to_vec()]);
    }

    #[test]
    fn remove_through_deletes_old_segments_only() {
        let dir = TestDir::new();
        let (mut wal, _) = Wal::open(dir.path(), |_| {}).unwrap();
        wal.append(b"old").unwrap();
        let sealed = wal.rotate().unwrap();
        wal.append(b"new").unwrap();
        wal.sync().unwrap();
        wal.remove_through(sealed).unwrap();
        drop(wal);
        assert_eq!(records(dir.path()), vec![b"new".to_vec()]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(300))]

        /// Any single flipped byte loses at most the record it hit (and, when it hit the last
        /// record, only that one), never a valid record elsewhere, and never panics.
        #[test]
        fn one_flipped_byte_loses_at_most_its_own_record(
            sizes in proptest::collection::vec(0usize..200, 1..20),
            position in 0.0f64..1.0,
            mask in 1u8..=255,
        ) {
            let dir = TestDir::new();
            let (mut wal, _) = Wal::open(dir.path(), |_| {}).unwrap();
            let payloads: Vec<Vec<u8>> =
                sizes.iter().enumerate().map(|(i, &n)| (0..n).map(|j| (i * 31 + j) as u8).collect()).collect();
            for p in &payloads {
                wal.append(p).unwrap();
            }
            wal.sync().unwrap();
            let path = segment_path(dir.path(), wal.seq);
            drop(wal);
            let mut bytes = fs::read(&path).unwrap();
            let at = ((bytes.len() - 1) as f64 * position) as usize;
            bytes[at] ^= mask;
            fs::write(&path, &bytes).unwrap();
            let seen = records(dir.path());
            proptest::prop_assert!(seen.len() + 1 >= payloads.len(), "lost {} of {}", payloads.len() - seen.len(), payloads.len());
            for r in &seen {
                proptest::prop_assert!(payloads.contains(r), "a replayed record was never written");
            }
        }
    }
}
