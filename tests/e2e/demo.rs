//! `fieldline demo` as a user runs it: the binary starts the server, backfills history,
//! streams the catch-up live over MQTT, the data is queryable, the detectors check the live
//! stream from its first reading (not only once it has caught up with the wall clock), and
//! SIGTERM stops it with exit code 0.

use crate::common;

use std::time::Duration;

use common::{ServeProcess, metric, terminate, wait_for};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_backfills_streams_detects_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--days", "8", "--catch-up", "2h", "--speed", "300", "--past-springs", "0"];
    let mut demo = ServeProcess::run("demo", dir.path(), &args);
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

/// `--start` replays a past spring as if it were now: the server's "today" is the start date,
/// and the plot view has a bloom range from the backfilled past spring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_replays_a_past_spring() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["--start", "2026-04-10", "--days", "3", "--past-springs", "1", "--catch-up", "1h", "--speed", "300"];
    let mut demo = ServeProcess::run("demo", dir.path(), &args);
    demo.wait_line("past spring 2025 of the peony plots");
    demo.wait_line("backfilled ");
    let client = reqwest::Client::new();
    let plot = common::get_json(&client, &format!("http://{}/api/v1/farm/plots/plot1", demo.http_addr)).await;
    assert_eq!(plot["date"], "2026-04-10", "{plot}");
    let bloom = plot["bloom"].as_array().unwrap_or_else(|| panic!("no bloom range: {plot}"));
    let flowering = bloom.iter().find(|s| s["stage"] == "bloom").unwrap();
    assert_eq!(flowering["members"], 1, "{plot}");
    // Stored springs reached bloom between April and May: so does the forecast, or it is reached.
    let day = flowering["reached"].as_str().or(flowering["p50"].as_str()).unwrap();
    assert!(("2026-03-15".."2026-06-01").contains(&day), "{plot}");
    let status = terminate(&mut demo.child).expect("the demo exits");
    assert!(status.success(), "demo exited with {status}");
}
