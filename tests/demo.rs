//! `fieldline demo` as a user runs it: the binary starts the server, backfills history,
//! streams the catch-up live over MQTT, the data is queryable, the detectors check the live
//! stream from its first reading (not only once it has caught up with the wall clock), and
//! SIGTERM stops it with exit code 0.

#![allow(clippy::unwrap_used)] // a test or bench stops at the first surprise

mod common;

use std::time::Duration;

use common::{ServeProcess, metric, terminate, wait_for};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_backfills_streams_detects_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = ServeProcess::run("demo", dir.path(), &["--days", "8", "--catch-up", "2h", "--speed", "300"]);
    demo.wait_line("backfilled ");

    let client = reqwest::Client::new();
    let http = demo.http_addr;
    let get = |path: &str| {
        let (client, url) = (client.clone(), format!("http://{http}{path}"));
        async move { client.get(url).send().await.ok()?.text().await.ok() }
    };
    // Backfilled history is there at once.
    let text = get("/api/v1/query?measurement=plant&field=power_mw&site=heze-wind&start=-3d").await.unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let points = v["series"][0]["points"].as_array().map_or(0, Vec::len);
    assert!(points > 2 * 1440, "{points} meter readings backfilled");

    // Two simulated hours replay at 300x (24 s); the detectors check them as they arrive,
    // about 45 readings a simulated minute, long before the stream reaches the wall clock.
    let checked = wait_for("the catch-up stream checked by the detectors", Duration::from_secs(90), || {
        let metrics = get("/metrics");
        async move {
            let n = metric(&metrics.await?, "fieldline_alerts_readings_checked_total")?;
            (n >= 2_000.0).then_some(n)
        }
    })
    .await;
    assert!(checked >= 2_000.0);

    let status = terminate(&mut demo.child).expect("the demo exits");
    assert!(status.success(), "demo exited with {status}");
}
