//! Crash points for the fault-injection tests: `FIELDLINE_CRASH_AT=<name>` makes the process
//! kill itself with SIGKILL when it reaches that point of a write or snapshot, exactly as a
//! `kill -9` (or a power cut, minus the page cache) at that instant would. Debug builds only:
//! in a release build [`point`] does nothing, whatever the environment says.
//!
//! Points: `wal-appended` (records written, not yet fsync'd), `wal-synced` (durable, not yet
//! acknowledged), `snapshot-sealed` (WAL segment sealed, nothing in Parquet yet),
//! `snapshot-tmp-written` (a partition file's temporary file written, not renamed; by a
//! snapshot or a compaction), `snapshot-renamed` (one file of a snapshot written, others not
//! yet), `snapshot-persisted` (every file written, WAL segments not yet removed),
//! `snapshot-segments-removed` (segments removed, snapshot not yet finished),
//! `compaction-renamed` (a day's compacted file renamed over its newest input, the older
//! inputs not yet removed).

/// Kills the process if `FIELDLINE_CRASH_AT` names this point (debug builds only).
/// `name:n` kills it the n-th time the point is reached (e.g. `wal-synced:5`, after four
/// acknowledged group commits).
pub fn point(name: &str) {
    #[cfg(debug_assertions)]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        static TARGET: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
        static HITS: AtomicU64 = AtomicU64::new(0);
        let target = TARGET.get_or_init(|| {
            let value = std::env::var("FIELDLINE_CRASH_AT").ok()?;
            match value.split_once(':') {
                Some((point, n)) => Some((point.to_string(), n.parse().unwrap_or(1))),
                None => Some((value, 1)),
            }
        });
        if let Some((point, nth)) = target
            && point == name
            && HITS.fetch_add(1, Ordering::SeqCst) + 1 >= *nth
        {
            eprintln!("fieldline: crash point {name}: killing the process (FIELDLINE_CRASH_AT)");
            // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught, nothing runs after it.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = name;
}
