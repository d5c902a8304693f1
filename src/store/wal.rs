//! The write-ahead log: numbered segment files under `wal/`, each a sequence of records
//! `[len: u32 LE][crc32: u32 LE][payload]`, one record per write request (the store encodes
//! its points with postcard). A group commit appends many records with one `write` and makes
//! them durable with one `fdatasync`. A torn or corrupt tail (a crash mid-write) ends replay
//! of that segment and is cut off, so later appends never follow garbage; a failed append is
//! cut off the same way before the error is returned.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const HEADER_LEN: usize = 8;
/// Largest record accepted on replay; anything bigger is treated as corruption.
const MAX_RECORD_LEN: u32 = 1 << 30;

/// An open log, appending to its newest segment.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    seq: u64,
    file: File,
    segment_bytes: u64,
    scratch: Vec<u8>,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// Segment numbers present in `dir`, ascending.
fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
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

impl Wal {
    /// Opens the log in `dir`, calling `replay` with every intact record of every existing
    /// segment in order, then starts a fresh segment for new appends. Returns the log and the
    /// number of records replayed.
    pub fn open(dir: &Path, mut replay: impl FnMut(&[u8])) -> io::Result<(Wal, usize)> {
        fs::create_dir_all(dir)?;
        let segments = list_segments(dir)?;
        let mut replayed = 0;
        for &seq in &segments {
            replayed += replay_segment(&segment_path(dir, seq), &mut replay)?;
        }
        let seq = segments.last().map_or(1, |s| s + 1);
        let file = create_segment(dir, seq)?;
        Ok((Wal { dir: dir.to_path_buf(), seq, file, segment_bytes: 0, scratch: Vec::new() }, replayed))
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
            let len = u32::try_from(payload.len())
                .ok()
                .filter(|&l| l <= MAX_RECORD_LEN)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "WAL record too large"))?;
            self.scratch.extend_from_slice(&len.to_le_bytes());
            self.scratch.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            self.scratch.extend_from_slice(payload);
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
        let sealed = self.seq;
        self.seq += 1;
        self.file = create_segment(&self.dir, self.seq)?;
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

fn create_segment(dir: &Path, seq: u64) -> io::Result<File> {
    let file = OpenOptions::new().create(true).append(true).open(segment_path(dir, seq))?;
    sync_dir(dir)?;
    Ok(file)
}

/// Replays one segment, truncating it after the last intact record.
fn replay_segment(path: &Path, replay: &mut impl FnMut(&[u8])) -> io::Result<usize> {
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    let mut offset = 0usize;
    let mut records = 0;
    while let Some(header) = data.get(offset..offset + HEADER_LEN) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        let body_start = offset + HEADER_LEN;
        let Some(body) = data.get(body_start..body_start + len as usize) else { break };
        if len > MAX_RECORD_LEN || crc32fast::hash(body) != crc {
            break;
        }
        replay(body);
        records += 1;
        offset = body_start + len as usize;
    }
    if offset < data.len() {
        tracing::warn!(path = %path.display(), kept = offset, dropped = data.len() - offset, "cutting torn WAL tail");
        file.set_len(offset as u64)?;
        file.seek(SeekFrom::Start(offset as u64))?;
        file.sync_all()?;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay_all(dir: &Path) -> Vec<Vec<u8>> {
        let mut seen = Vec::new();
        let (_wal, _) = Wal::open(dir, |r| seen.push(r.to_vec())).unwrap();
        seen
    }

    #[test]
    fn records_survive_reopen_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, n) = Wal::open(dir.path(), |_| {}).unwrap();
        assert_eq!(n, 0);
        wal.append(b"one").unwrap();
        wal.append(b"two").unwrap();
        wal.sync().unwrap();
        wal.rotate().unwrap();
        wal.append(b"three").unwrap();
        wal.sync().unwrap();
        drop(wal);
        assert_eq!(replay_all(dir.path()), vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
    }

    #[test]
    fn torn_tail_is_cut_and_later_appends_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), |_| {}).unwrap();
        wal.append(b"good").unwrap();
        wal.sync().unwrap();
        let path = segment_path(dir.path(), wal.seq);
        drop(wal);
        // Simulate a crash mid-record: a header promising more bytes than follow.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&100u32.to_le_bytes()).unwrap();
        f.write_all(&[1, 2, 3, 4, 5]).unwrap();
        drop(f);
        let mut seen = Vec::new();
        let (mut wal, _) = Wal::open(dir.path(), |r| seen.push(r.to_vec())).unwrap();
        assert_eq!(seen, vec![b"good".to_vec()]);
        wal.append(b"after").unwrap();
        wal.sync().unwrap();
        drop(wal);
        assert_eq!(replay_all(dir.path()), vec![b"good".to_vec(), b"after".to_vec()]);
    }

    #[test]
    fn corrupt_record_stops_replay_of_that_segment() {
        let dir = tempfile::tempdir().unwrap();
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
        assert_eq!(replay_all(dir.path()), vec![b"first".to_vec()]);
    }

    #[test]
    fn remove_through_deletes_old_segments_only() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path(), |_| {}).unwrap();
        wal.append(b"old").unwrap();
        let sealed = wal.rotate().unwrap();
        wal.append(b"new").unwrap();
        wal.sync().unwrap();
        wal.remove_through(sealed).unwrap();
        drop(wal);
        assert_eq!(replay_all(dir.path()), vec![b"new".to_vec()]);
    }
}
