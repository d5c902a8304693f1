//! Nothing acknowledged is lost: kill -9 of the real `fieldline` process in the middle of a
//! stream of QoS 1 publishes, restart on the same data dir, and every reading whose PUBACK
//! the publisher received is there exactly once.

use crate::common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{SeqPublisher, ServeProcess, day_files, terminate, wait_for};
use serde_json::Value;
use tokio::sync::Mutex;

const BASE_MS: i64 = 1_775_772_000_000;

/// Timestamps (ms) the publishers got a PUBACK for.
type Acked = Arc<Mutex<BTreeSet<i64>>>;

/// `devices` publishers streaming readings with unique timestamps until `stop` is set or
/// their connection fails for good.
fn stream(port: u16, devices: usize, acked: Acked, total: Arc<AtomicUsize>) -> Vec<tokio::task::JoinHandle<()>> {
    (0..devices)
        .map(|d| {
            let (acked, total) = (acked.clone(), total.clone());
            tokio::spawn(async move {
                let mut publisher = SeqPublisher::new(port, &format!("crash-dev{d}"));
                for i in 0..100_000i64 {
                    let ts = BASE_MS + (i * devices as i64 + d as i64) * 1000;
                    let payload = format!(r#"{{"ts":{ts},"values":{{"power_kw":{i}}}}}"#);
                    if publisher
                        .publish("fl/v1/heze-wind/wind_turbine/wt01/telemetry", &payload, Duration::from_secs(2))
                        .await
                    {
                        acked.lock().await.insert(ts);
                        total.fetch_add(1, Ordering::SeqCst);
                    } else {
                        // The server is gone: this publisher stops, as the test intends.
                        return;
                    }
                }
            })
        })
        .collect()
}

/// Timestamps (ms) stored for wt01's power, asserting there are no duplicates.
async fn stored(client: &reqwest::Client, http: std::net::SocketAddr) -> BTreeSet<i64> {
    let v: Value = client
        .get(format!("http://{http}/api/v1/query?measurement=wind_turbine&field=power_kw&device=wt01"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = BTreeSet::new();
    for s in v["series"].as_array().unwrap() {
        for p in s["points"].as_array().unwrap() {
            let t = time::OffsetDateTime::parse(p[0].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
                .unwrap();
            let ms = (t.unix_timestamp_nanos() / 1_000_000) as i64;
            assert!(out.insert(ms), "timestamp {ms} returned twice");
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_qos1_stream_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let acked: Acked = Arc::default();
    let total = Arc::new(AtomicUsize::new(0));

    let mut server = ServeProcess::start(dir.path(), &[]);
    let port = server.mqtt_addr.unwrap().port();
    let publishers = stream(port, 4, acked.clone(), total.clone());
    wait_for("500 acknowledged readings", Duration::from_secs(60), || {
        let total = total.clone();
        async move { (total.load(Ordering::SeqCst) >= 500).then_some(()) }
    })
    .await;
    server.kill9();
    for p in publishers {
        p.await.unwrap();
    }
    let acked = acked.lock().await.clone();
    assert!(acked.len() >= 500);

    let server = ServeProcess::start(dir.path(), &[]);
    let stored = stored(&client, server.http_addr).await;
    let missing: Vec<&i64> = acked.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged readings lost after kill -9, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    // Unacknowledged publishes may or may not have been stored; nothing else may appear.
    assert!(stored.len() <= acked.len() + 4, "stored {} > acked {} + in flight", stored.len(), acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_to_parquet_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServeProcess::start(dir.path(), &[]);
    let port = server.mqtt_addr.unwrap().port();
    let mut publisher = SeqPublisher::new(port, "sigterm-dev");
    for i in 0..50i64 {
        let payload = format!(r#"{{"ts":{},"values":{{"power_kw":{i}}}}}"#, BASE_MS + i * 1000);
        assert!(
            publisher.publish("fl/v1/heze-wind/wind_turbine/wt01/telemetry", &payload, Duration::from_secs(5)).await
        );
    }
    let status = terminate(&mut server.child).unwrap();
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    let files = day_files(dir.path(), "wind_turbine", "2026-04-09");
    assert_eq!(files.len(), 1, "buffer snapshotted to one file for the day: {files:?}");
    let wal_segments = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert!(wal_segments <= 1, "flushed WAL segments are removed ({wal_segments} left)");

    let server = ServeProcess::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    assert_eq!(stored(&client, server.http_addr).await.len(), 50);
}
