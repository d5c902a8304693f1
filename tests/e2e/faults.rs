//! Fault injection against the real `fieldline` binary: kill -9 at every stage of a write, of
//! a snapshot and of a compaction, a disk that fills up and empties again (a small tmpfs), a Parquet directory
//! that turns read-only (a read-only bind mount), bit flips in WAL and Parquet files. After
//! each, and a restart, every acknowledged reading is there and queries agree with what was
//! acknowledged; damage that destroyed data is reported, never served.
//!
//! The tmpfs and bind mounts need root, as CI runs.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{ServeProcess, day_files, metric, terminate, wait_for};
use fieldline_core::time::NS_PER_SEC;
use serde_json::Value;

/// Midnight UTC three days ago (s): every test day lies in the past.
fn base_day() -> i64 {
    let now = fieldline_core::time::now_ns() / NS_PER_SEC;
    now - now.rem_euclid(86_400) - 3 * 86_400
}

/// A config file with quick snapshots (and quick retries).
fn config(dir: &Path, snapshot_secs: u64) -> PathBuf {
    let path = dir.join("fieldline.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\nsnapshot_interval_secs = {snapshot_secs}\nsnapshot_retry_max_secs = 1\n\
             [alerts]\nenabled = false\n[forecast]\nenabled = false\n[brain]\nenabled = false\n"
        ),
    )
    .unwrap();
    path
}

/// One request's readings: `n` turbine power values of device `dev` from `t0` (s), one a
/// minute, plus the same count of met-station temperatures on the next day (so a snapshot
/// writes several partitions). Returns the body and the (measurement, device, t) keys.
fn batch(dev: &str, t0: i64, n: i64) -> (String, Vec<(String, String, i64)>) {
    let mut body = String::new();
    let mut keys = Vec::new();
    for i in 0..n {
        let t = t0 + i * 60;
        body.push_str(&format!("wind_turbine,site=s,device={dev} power_kw={} {}\n", 100 + i, t * NS_PER_SEC));
        keys.push(("wind_turbine".to_string(), dev.to_string(), t));
        let t2 = t + 86_400;
        body.push_str(&format!("met_station,site=s,device={dev} air_temp_c={}.5 {}\n", i % 30, t2 * NS_PER_SEC));
        keys.push(("met_station".to_string(), dev.to_string(), t2));
    }
    (body, keys)
}

type Keys = BTreeSet<(String, String, i64)>;

/// POSTs line protocol; `Some(true)` = 204 (acknowledged), `Some(false)` = refused with an
/// error status, `None` = no answer (the server died).
async fn post(client: &reqwest::Client, http: std::net::SocketAddr, body: &str) -> Option<bool> {
    let resp = client.post(format!("http://{http}/api/v2/write?bucket=b")).body(body.to_string()).send().await.ok()?;
    Some(resp.status() == 204)
}

/// Every stored (measurement, device, t) of the two test measurements, asserting no
/// duplicates and that each value is the one written.
async fn stored(client: &reqwest::Client, http: std::net::SocketAddr) -> Keys {
    let mut out = Keys::new();
    for (measurement, field) in [("wind_turbine", "power_kw"), ("met_station", "air_temp_c")] {
        let v: Value = client
            .get(format!("http://{http}/api/v1/query?measurement={measurement}&field={field}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for s in v["series"].as_array().unwrap_or(&Vec::new()) {
            let device = s["tags"]["device"].as_str().unwrap().to_string();
            let points = s["points"].as_array().unwrap();
            for p in points {
                let t =
                    time::OffsetDateTime::parse(p[0].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
                        .unwrap()
                        .unix_timestamp();
                assert!(out.insert((measurement.to_string(), device.clone(), t)), "{measurement} {device} {t} twice");
                // The value written for minute i of a batch.
                let value = p[1].as_f64().unwrap();
                let ok = match measurement {
                    "wind_turbine" => value >= 100.0 && value.fract() == 0.0,
                    _ => value.fract() == 0.5,
                };
                assert!(ok, "{measurement} {device} {t}: unexpected value {value}");
            }
        }
    }
    out
}

fn assert_all_acknowledged_there(acked: &Keys, written: &Keys, stored: &Keys, what: &str) {
    let missing: Vec<_> = acked.difference(stored).take(5).collect();
    assert!(
        missing.is_empty(),
        "{what}: {} acknowledged readings lost, e.g. {missing:?}",
        acked.difference(stored).count()
    );
    let unknown: Vec<_> = stored.difference(written).take(5).collect();
    assert!(unknown.is_empty(), "{what}: readings nobody wrote: {unknown:?}");
}

async fn get_json(client: &reqwest::Client, http: std::net::SocketAddr, path: &str) -> (u16, Value) {
    let resp = client.get(format!("http://{http}{path}")).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn metrics(client: &reqwest::Client, http: std::net::SocketAddr) -> String {
    client.get(format!("http://{http}/metrics")).send().await.unwrap().text().await.unwrap()
}

/// Waits until `/health` answers `want` (200 or 503); returns its body.
async fn wait_health(client: &reqwest::Client, http: std::net::SocketAddr, want: u16, what: &str) -> Value {
    wait_for(what, Duration::from_secs(60), || async move {
        let (status, body) = get_json(client, http, "/health").await;
        (status == want).then_some(body)
    })
    .await
}

/// kill -9 at `point` (the `n`-th time it is reached): every acknowledged reading survives
/// the restart, and the store goes on working (a clean shutdown writes it all to Parquet).
async fn crash_at(point: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config(dir.path(), 1);
    let config = config.to_str().unwrap();
    let client = reqwest::Client::new();
    let (mut acked, mut written) = (Keys::new(), Keys::new());
    let server = ServeProcess::run_with_env("serve", &data, &["--config", config], &[("FIELDLINE_CRASH_AT", point)]);
    let mut server = server;
    let t0 = base_day();
    let mut died = false;
    for i in 0..200i64 {
        let (body, keys) = batch(&format!("d{}", i % 3), t0 + i * 600, 10);
        written.extend(keys.iter().cloned());
        match post(&client, server.http_addr, &body).await {
            Some(true) => acked.extend(keys),
            Some(false) => panic!("{point}: write refused before the crash"),
            None => {
                died = true;
                break;
            }
        }
        if i % 20 == 19 {
            // Let a snapshot (every second) start between the batches.
            tokio::time::sleep(Duration::from_millis(600)).await;
        }
    }
    // The crash point may be reached by a snapshot after the writes.
    let exited = wait_for(&format!("{point}: the process killed at its crash point"), Duration::from_secs(60), || {
        let status = server.child.try_wait().ok().flatten();
        async move { status }
    })
    .await;
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(exited.signal(), Some(libc::SIGKILL), "{point}: killed at the crash point (died during writes: {died})");
    assert!(!acked.is_empty() || point.starts_with("wal-appended"), "{point}: something was acknowledged");

    let mut server = ServeProcess::start(&data, &["--config", config]);
    let after_restart = stored(&client, server.http_addr).await;
    assert_all_acknowledged_there(&acked, &written, &after_restart, point);
    // The store still works: more writes, a clean shutdown to Parquet, the same answer again.
    let (body, keys) = batch("after", t0 + 5 * 3600, 20);
    assert_eq!(post(&client, server.http_addr, &body).await, Some(true));
    acked.extend(keys.iter().cloned());
    written.extend(keys);
    assert!(terminate(&mut server.child).unwrap().success(), "{point}: clean shutdown");
    let wal_left = std::fs::read_dir(data.join("wal")).unwrap().count();
    assert!(wal_left <= 1, "{point}: persisted WAL segments are removed ({wal_left} left)");
    let server = ServeProcess::start(&data, &["--config", config]);
    let final_state = stored(&client, server.http_addr).await;
    assert_all_acknowledged_there(&acked, &written, &final_state, point);
    assert_eq!(final_state, after_restart.union(&keys_of("after", &written)).cloned().collect::<Keys>(), "{point}");
    let (status, health) = get_json(&client, server.http_addr, "/health").await;
    assert_eq!(status, 200, "{point}: {health}");
}

fn keys_of(device: &str, written: &Keys) -> Keys {
    written.iter().filter(|(_, d, _)| d == device).cloned().collect()
}

macro_rules! crash_tests {
    ($($name:ident: $point:expr,)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            crash_at($point).await;
        }
    )*};
}

crash_tests! {
    kill_9_after_a_wal_append_before_its_fsync: "wal-appended:40",
    kill_9_after_a_wal_fsync_before_the_acknowledgement: "wal-synced:40",
    kill_9_after_sealing_a_snapshot: "snapshot-sealed:2",
    kill_9_after_writing_a_partition_before_its_rename: "snapshot-tmp-written:3",
    kill_9_after_one_partition_of_a_snapshot_was_replaced: "snapshot-renamed:2",
    kill_9_after_every_partition_before_removing_wal_segments: "snapshot-persisted:2",
    kill_9_after_removing_wal_segments_before_the_snapshot_ends: "snapshot-segments-removed:2",
    kill_9_after_a_compacted_day_replaced_its_newest_file_before_the_rest_were_removed: "compaction-renamed:2",
}

/// A mount made by a test (tmpfs or bind), unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    fn run(args: &[&str]) {
        let out = Command::new("mount").args(args).output().expect("mount(8)");
        assert!(
            out.status.success(),
            "mount {args:?} failed (these tests need root, as CI runs): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn tmpfs(path: &Path, size: &str) -> Mount {
        std::fs::create_dir_all(path).unwrap();
        Mount::run(&["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs", path.to_str().unwrap()]);
        Mount(path.to_path_buf())
    }

    /// `path` bound onto itself, read-only until [`Mount::read_write`].
    fn read_only(path: &Path) -> Mount {
        let p = path.to_str().unwrap();
        Mount::run(&["--bind", p, p]);
        Mount::run(&["-o", "remount,ro,bind", p]);
        Mount(path.to_path_buf())
    }

    fn read_write(&self) {
        Mount::run(&["-o", "remount,rw,bind", self.0.to_str().unwrap()]);
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system holding `dir` until a write fails with ENOSPC.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("ballast");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 << 10];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    }
    // Byte by byte for the last partial chunk.
    while f.write(&[0]).is_ok_and(|n| n == 1) {}
    path
}

/// The disk holding the Parquet files fills up: snapshots fail (reported, retried), the WAL
/// keeps taking writes, a kill -9 in that state loses nothing acknowledged, and once space is
/// back everything is persisted. Before the fix the failed snapshot stayed "persisting" for
/// ever and the next successful snapshot deleted its WAL segments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_snapshots_but_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let parquet = Mount::tmpfs(&data.join("parquet"), "4m");
    let config = config(dir.path(), 1);
    let config = config.to_str().unwrap();
    let client = reqwest::Client::new();
    let (mut acked, mut written) = (Keys::new(), Keys::new());
    let t0 = base_day();

    let mut server = ServeProcess::start(&data, &["--config", config]);
    let http = server.http_addr;
    // A: acknowledged and persisted.
    let (body, keys) = batch("a", t0, 50);
    assert_eq!(post(&client, http, &body).await, Some(true));
    acked.extend(keys.iter().cloned());
    written.extend(keys);
    wait_for("A in Parquet", Duration::from_secs(30), || async {
        let m = metrics(&client, http).await;
        (metric(&m, "fieldline_store_snapshots_total")? >= 1.0).then_some(())
    })
    .await;
    // The Parquet disk fills up; B and C are acknowledged (the WAL is elsewhere).
    let ballast = fill(&parquet.0);
    for (i, dev) in ["b", "c"].into_iter().enumerate() {
        let (body, keys) = batch(dev, t0 + 3600 * (i as i64 + 1), 50);
        assert_eq!(post(&client, http, &body).await, Some(true));
        acked.extend(keys.iter().cloned());
        written.extend(keys);
    }
    let health = wait_health(&client, http, 503, "health degraded by the failing snapshot").await;
    let problems = health["problems"].to_string();
    assert!(problems.contains("snapshots to Parquet are failing") && problems.contains("No space left"), "{health}");
    wait_for("a retried snapshot", Duration::from_secs(30), || async {
        let m = metrics(&client, http).await;
        (metric(&m, "fieldline_store_snapshot_failures_total")? >= 2.0).then_some(())
    })
    .await;
    // Still served from memory.
    assert_all_acknowledged_there(&acked, &written, &stored(&client, http).await, "while the disk is full");

    // kill -9 in this state, free the space, start again.
    server.kill9();
    std::fs::remove_file(&ballast).unwrap();
    let mut server = ServeProcess::start(&data, &["--config", config]);
    let http = server.http_addr;
    let after = stored(&client, http).await;
    assert_all_acknowledged_there(&acked, &written, &after, "after kill -9 with a full disk");
    // D, then a clean shutdown: everything lands in Parquet and the WAL is emptied.
    let (body, keys) = batch("d", t0 + 10_800, 50);
    assert_eq!(post(&client, http, &body).await, Some(true));
    acked.extend(keys.iter().cloned());
    written.extend(keys);
    assert!(terminate(&mut server.child).unwrap().success());
    let wal_left = std::fs::read_dir(data.join("wal")).unwrap().count();
    assert!(wal_left <= 1, "persisted WAL segments are removed ({wal_left} left)");
    let server = ServeProcess::start(&data, &["--config", config]);
    let last = stored(&client, server.http_addr).await;
    assert_all_acknowledged_there(&acked, &written, &last, "after recovery");
    assert_eq!(last, acked);
    let (status, health) = get_json(&client, server.http_addr, "/health").await;
    assert_eq!(status, 200, "{health}");
}

/// The disk holding the WAL fills up: writes are refused (503), not acknowledged; once space
/// is back they are taken again, and nothing acknowledged is lost across a kill -9.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_wal_disk_refuses_writes_instead_of_acknowledging_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let disk = Mount::tmpfs(&data, "4m");
    let config = config(dir.path(), 3600);
    let config = config.to_str().unwrap();
    let client = reqwest::Client::new();
    let (mut acked, mut written) = (Keys::new(), Keys::new());
    let t0 = base_day();
    let mut server = ServeProcess::start(&data, &["--config", config]);
    let http = server.http_addr;
    let (body, keys) = batch("a", t0, 50);
    assert_eq!(post(&client, http, &body).await, Some(true));
    acked.extend(keys.iter().cloned());
    written.extend(keys);
    let ballast = fill(&disk.0);
    let (body, keys) = batch("b", t0 + 3600, 50);
    written.extend(keys);
    let resp = client.post(format!("http://{http}/api/v2/write?bucket=b")).body(body).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    let err: Value = resp.json().await.unwrap();
    assert!(err["error"].as_str().unwrap().contains("No space left"), "{err}");
    std::fs::remove_file(&ballast).unwrap();
    let (body, keys) = batch("c", t0 + 7200, 50);
    assert_eq!(post(&client, http, &body).await, Some(true), "writes are taken again once space is back");
    acked.extend(keys.iter().cloned());
    written.extend(keys);
    server.kill9();
    let server = ServeProcess::start(&data, &["--config", config]);
    assert_all_acknowledged_there(&acked, &written, &stored(&client, server.http_addr).await, "full WAL disk");
}

/// The Parquet directory turns read-only while the WAL stays writable: writes are still
/// acknowledged, snapshots fail and are retried, /health says why; once it is writable again
/// the retried snapshot persists everything, oldest first, and a restart finds it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_parquet_directory_delays_snapshots_without_losing_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config(dir.path(), 1);
    let config = config.to_str().unwrap();
    let client = reqwest::Client::new();
    let (mut acked, mut written) = (Keys::new(), Keys::new());
    let t0 = base_day();

    let mut server = ServeProcess::start(&data, &["--config", config]);
    let http = server.http_addr;
    let (body, keys) = batch("a", t0, 30);
    assert_eq!(post(&client, http, &body).await, Some(true));
    acked.extend(keys.iter().cloned());
    written.extend(keys);
    wait_for("the first snapshot", Duration::from_secs(30), || async {
        let m = metrics(&client, http).await;
        (metric(&m, "fieldline_store_snapshots_total")? >= 1.0).then_some(())
    })
    .await;
    let mount = Mount::read_only(&data.join("parquet"));
    for (i, dev) in ["b", "c", "e"].into_iter().enumerate() {
        let (body, keys) = batch(dev, t0 + 3600 * (i as i64 + 1), 30);
        assert_eq!(post(&client, http, &body).await, Some(true), "the WAL still takes writes");
        acked.extend(keys.iter().cloned());
        written.extend(keys);
    }
    let health = wait_health(&client, http, 503, "degraded while Parquet is read-only").await;
    assert!(health["problems"].to_string().contains("Read-only file system"), "{health}");
    assert_all_acknowledged_there(&acked, &written, &stored(&client, http).await, "while read-only");

    mount.read_write();
    wait_health(&client, http, 200, "healthy after the retry").await;
    drop(mount);
    server.kill9();
    let server = ServeProcess::start(&data, &["--config", config]);
    let after = stored(&client, server.http_addr).await;
    assert_all_acknowledged_there(&acked, &written, &after, "after recovery and kill -9");
    assert_eq!(after, acked);
}

/// A measurement name longer than a file name allows: refused at the door with a reason, the
/// good lines of the same request kept, and the store itself copes with such a name (before,
/// its snapshot failed with "File name too long" and took acknowledged data with it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_measurement_name_too_long_for_a_file_loses_nothing() {
    let server = common::TestServer::start_with(|c| c.store.snapshot_interval_secs = 1).await;
    let t = base_day() * NS_PER_SEC;
    let long = "m".repeat(300);
    let body = format!("{long} x=1 {t}\nwind_turbine,site=s,device=wt1 power_kw=5 {t}\n");
    let resp = server.http.post(server.url("/api/v2/write?bucket=b")).body(body).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert!(err["details"][0]["reason"].as_str().unwrap().contains("at most 64"), "{err}");
    // What fieldline writes itself skips those checks: the store must still persist it.
    let point = fieldline_core::Point::new(
        "测".repeat(100),
        vec![],
        vec![("x".into(), fieldline_core::FieldValue::Float(1.0))],
        t,
    );
    server.running.store.write_points(vec![point]).await.unwrap();
    server.running.store.flush().await.unwrap();
    let v = server.get_json("/api/v1/query?measurement=wind_turbine&field=power_kw").await;
    assert_eq!(common::points(&v).len(), 1);
    let v = server.get_json(&format!("/api/v1/query?measurement={}", "测".repeat(100))).await;
    assert_eq!(common::points(&v).len(), 1);
    let health = server.get_json("/health").await;
    assert_eq!(health["status"], "pass");
    server.running.shutdown().await.unwrap();
}

/// A flipped bit in the middle of a WAL segment: every other record is replayed, the segment
/// goes to quarantine with a note, /health and a metric say so. Before: everything after the
/// damaged record was dropped without a word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_bit_in_the_wal_keeps_every_other_record_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config(dir.path(), 3600);
    let config = config.to_str().unwrap();
    let client = reqwest::Client::new();
    let mut server = ServeProcess::start(&data, &["--config", config]);
    let t0 = base_day();
    let mut batches = Vec::new();
    for i in 0..40i64 {
        let (body, keys) = batch(&format!("d{i}"), t0 + i * 600, 5);
        assert_eq!(post(&client, server.http_addr, &body).await, Some(true));
        batches.push(keys.into_iter().collect::<Keys>());
    }
    server.kill9();
    let wal: Vec<PathBuf> = std::fs::read_dir(data.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.metadata().unwrap().len() > 0)
        .collect();
    assert_eq!(wal.len(), 1, "{wal:?}");
    let mut bytes = std::fs::read(&wal[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x04;
    std::fs::write(&wal[0], &bytes).unwrap();

    let server = ServeProcess::start(&data, &["--config", config]);
    let after = stored(&client, server.http_addr).await;
    let lost: Vec<usize> = batches.iter().enumerate().filter(|(_, b)| !b.is_subset(&after)).map(|(i, _)| i).collect();
    assert_eq!(lost.len(), 1, "exactly the damaged record is lost: {lost:?}");
    assert!(after.iter().all(|k| batches.iter().any(|b| b.contains(k))));
    let (status, health) = get_json(&client, server.http_addr, "/health").await;
    assert_eq!(status, 503, "{health}");
    assert!(health["problems"].to_string().contains("WAL segment"), "{health}");
    let m = metrics(&client, server.http_addr).await;
    assert_eq!(metric(&m, "fieldline_store_wal_corrupt_segments_total"), Some(1.0));
    let quarantined: Vec<PathBuf> =
        std::fs::read_dir(data.join("quarantine")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(quarantined.len(), 2, "the original segment and its note: {quarantined:?}");
    // The operator inspected it and deleted it: healthy again.
    for p in quarantined {
        std::fs::remove_file(p).unwrap();
    }
    wait_health(&client, server.http_addr, 200, "healthy once the quarantine is cleared").await;
}

/// A flipped bit in a Parquet file: detected on first read, the file quarantined and the query
/// answered with an error rather than wrong values; other days are untouched, and the damaged
/// day takes new data again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_bit_in_a_parquet_file_is_reported_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = config(dir.path(), 3600);
    let config = config.to_str().unwrap();
    let client = reqwest::Client::new();
    let mut server = ServeProcess::start(&data, &["--config", config]);
    let t0 = base_day();
    let (body, keys) = batch("a", t0, 200);
    assert_eq!(post(&client, server.http_addr, &body).await, Some(true));
    let keys: Keys = keys.into_iter().collect();
    assert!(terminate(&mut server.child).unwrap().success());
    let day = time::OffsetDateTime::from_unix_timestamp(t0).unwrap().date();
    let files = day_files(&data, "wind_turbine", &day.to_string());
    assert_eq!(files.len(), 1, "one snapshot, one file for the day: {files:?}");
    let file = &files[0];
    let mut bytes = std::fs::read(file).unwrap();
    // In the middle of the pages (before the footer, whose length ends the file).
    let footer_len = u32::from_le_bytes(bytes[bytes.len() - 8..bytes.len() - 4].try_into().unwrap()) as usize;
    let middle = (bytes.len() - 8 - footer_len) / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(file, &bytes).unwrap();

    let server = ServeProcess::start(&data, &["--config", config]);
    let http = server.http_addr;
    let (status, body) = get_json(&client, http, "/api/v1/query?measurement=wind_turbine&field=power_kw").await;
    assert_eq!(status, 500, "{body}");
    assert!(body["error"].as_str().unwrap().contains("quarantine"), "{body}");
    let (status, health) = get_json(&client, http, "/health").await;
    assert_eq!(status, 503, "{health}");
    assert!(health["problems"].to_string().contains("wind_turbine"), "{health}");
    // Nothing wrong is served: the turbine day is gone from queries, the station day intact.
    let after = stored(&client, http).await;
    let stations: Keys = keys.iter().filter(|k| k.0 == "met_station").cloned().collect();
    assert_eq!(after, stations);
    // The damaged day takes new data.
    let (body, new) = batch("b", t0, 10);
    assert_eq!(post(&client, http, &body).await, Some(true));
    let after = stored(&client, http).await;
    assert!(new.iter().all(|k| after.contains(k)));
}
