//! Where the feed keeps what it built and what it sent: `bundles/YYYY-MM-DD.json` (the whole
//! day's bundle, written to a temporary file, synced and renamed, so a crash leaves the old
//! file or the new one) and `deliveries.jsonl` (the audit log: one line per delivery, synced
//! before the next begins; a torn last line from a crash is skipped when read).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use time::Date;

use super::{Error, Group};

/// One delivery in the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    /// `{date}/{recipient}` for webhooks, `{date}/mqtt/{site}` for MQTT.
    pub id: String,
    /// The day the bundle reports.
    pub date: String,
    /// The recipient's name, or `mqtt`.
    pub recipient: String,
    /// `webhook` or `mqtt`.
    pub channel: String,
    /// The URL or topic it went to.
    pub target: String,
    /// The groups the body held (the recipient's allow-list).
    pub groups: Vec<Group>,
    /// The sites whose indicators it held.
    pub sites: Vec<String>,
    /// SHA-256 (hex) of the exact body sent.
    pub sha256: String,
    pub bytes: usize,
    /// `delivered` or `failed` (every attempt refused or unreachable).
    pub status: String,
    pub attempts: u32,
    /// The last HTTP status the recipient answered, if it answered.
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// When the delivery finished (RFC 3339, UTC).
    pub at: String,
}

/// The bundle files and the audit log under one directory.
#[derive(Debug)]
pub struct Ledger {
    dir: PathBuf,
    log: Mutex<File>,
}

impl Ledger {
    pub fn open(dir: &Path) -> Result<Ledger, Error> {
        let bundles = dir.join("bundles");
        std::fs::create_dir_all(&bundles).map_err(|e| Error::io(&bundles, e))?;
        let path = dir.join("deliveries.jsonl");
        let mut log = OpenOptions::new().create(true).append(true).open(&path).map_err(|e| Error::io(&path, e))?;
        // A crash mid-append leaves a torn line: end it, so the next record starts on its own.
        let torn = std::fs::read(&path).map_err(|e| Error::io(&path, e))?.last().is_some_and(|b| *b != b'\n');
        if torn {
            log.write_all(b"\n").and_then(|()| log.sync_data()).map_err(|e| Error::io(&path, e))?;
        }
        Ok(Ledger { dir: dir.to_path_buf(), log: Mutex::new(log) })
    }

    fn bundle_path(&self, date: Date) -> PathBuf {
        self.dir.join("bundles").join(format!("{date}.json"))
    }

    /// Stores `date`'s bundle durably (replacing an earlier one).
    pub fn store_bundle(&self, date: Date, bundle: &serde_json::Value) -> Result<(), Error> {
        let path = self.bundle_path(date);
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(bundle).map_err(|e| Error::Build(e.to_string()))?;
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            File::open(self.dir.join("bundles"))?.sync_all()
        };
        write().map_err(|e| Error::io(&path, e))
    }

    /// `date`'s stored bundle, if there is one.
    pub fn bundle(&self, date: Date) -> Result<Option<serde_json::Value>, Error> {
        let path = self.bundle_path(date);
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::Build(format!("{}: {e}", path.display())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    pub fn has_bundle(&self, date: Date) -> bool {
        self.bundle_path(date).exists()
    }

    /// The dates with a stored bundle, oldest first.
    pub fn bundle_dates(&self) -> Result<Vec<Date>, Error> {
        let dir = self.dir.join("bundles");
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut dates: Vec<Date> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                fieldline_core::time::parse_date(name.strip_suffix(".json")?).ok()
            })
            .collect();
        dates.sort();
        Ok(dates)
    }

    /// Appends `record` to the audit log and syncs it.
    pub fn record(&self, record: &DeliveryRecord) -> Result<(), Error> {
        let path = self.dir.join("deliveries.jsonl");
        let mut line = serde_json::to_vec(record).map_err(|e| Error::Build(e.to_string()))?;
        line.push(b'\n');
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        log.write_all(&line).and_then(|()| log.sync_data()).map_err(|e| Error::io(&path, e))
    }

    /// Every delivery logged, oldest first.
    pub fn records(&self) -> Result<Vec<DeliveryRecord>, Error> {
        let path = self.dir.join("deliveries.jsonl");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        Ok(text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> DeliveryRecord {
        DeliveryRecord {
            id: id.into(),
            date: "2026-04-20".into(),
            recipient: "brain".into(),
            channel: "webhook".into(),
            target: "http://127.0.0.1:1/in".into(),
            groups: vec![Group::Plots],
            sites: vec!["heze".into()],
            sha256: "00".into(),
            bytes: 2,
            status: "delivered".into(),
            attempts: 1,
            http_status: Some(200),
            error: None,
            at: "2026-04-21T00:30:00Z".into(),
        }
    }

    #[test]
    fn bundles_and_records_survive_a_reopen_and_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let date = fieldline_core::time::parse_date("2026-04-20").unwrap();
        {
            let ledger = Ledger::open(dir.path()).unwrap();
            assert!(!ledger.has_bundle(date));
            ledger.store_bundle(date, &serde_json::json!({"date": "2026-04-20"})).unwrap();
            ledger.record(&record("a")).unwrap();
            ledger.record(&record("b")).unwrap();
        }
        // A crash mid-append leaves half a line.
        let mut log = OpenOptions::new().append(true).open(dir.path().join("deliveries.jsonl")).unwrap();
        log.write_all(b"{\"id\":\"c\",\"da").unwrap();
        let ledger = Ledger::open(dir.path()).unwrap();
        ledger.record(&record("d")).unwrap();
        assert_eq!(ledger.bundle(date).unwrap().unwrap()["date"], "2026-04-20");
        assert_eq!(ledger.bundle_dates().unwrap(), vec![date]);
        let ids: Vec<String> = ledger.records().unwrap().into_iter().map(|r| r.id).collect();
        assert_eq!(ids, ["a", "b", "d"]);
    }
}
