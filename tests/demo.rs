//! `fieldline demo` as a user runs it: the binary starts the server, backfills history,
//! streams the catch-up live over MQTT, the data is queryable, the detectors check the live
//! stream from its first reading (not only once it has caught up with the wall clock), and
//! SIGTERM stops it with exit code 0.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::wait_for;
use serde_json::Value;

/// The next stdout line starting with `prefix`, without it.
fn line_after(lines: &mpsc::Receiver<String>, prefix: &str) -> String {
    loop {
        let line =
            lines.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|e| panic!("waiting for {prefix:?}: {e}"));
        if let Some(rest) = line.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
}

/// Kills the demo if the test fails before stopping it.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_backfills_streams_detects_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_fieldline"))
        .args(["demo", "--days", "8", "--catch-up", "2h", "--speed", "300"])
        .args(["--http-listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("FIELDLINE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let http = line_after(&lines, "fieldline listening http=").split(' ').next().unwrap().to_string();
    line_after(&lines, "backfilled ");

    let client = reqwest::Client::new();
    let get = |path: String| {
        let (client, url) = (client.clone(), format!("http://{http}{path}"));
        async move { client.get(url).send().await.ok()?.text().await.ok() }
    };
    // Backfilled history is there at once.
    let v: Value = serde_json::from_str(
        &get("/api/v1/query?measurement=plant&field=power_mw&site=heze-wind&start=-3d".into()).await.unwrap(),
    )
    .unwrap();
    let points = v["series"][0]["points"].as_array().map_or(0, Vec::len);
    assert!(points > 2 * 1440, "{points} meter readings backfilled");

    // Two simulated hours replay at 300x (24 s); the detectors check them as they arrive,
    // about 45 readings a simulated minute, long before the stream reaches the wall clock.
    let checked = wait_for("the catch-up stream checked by the detectors", Duration::from_secs(90), || {
        let metrics = get("/metrics".into());
        async move {
            let text = metrics.await?;
            let n: f64 = text
                .lines()
                .find(|l| l.starts_with("fieldline_alerts_readings_checked_total"))?
                .rsplit(' ')
                .next()?
                .parse()
                .ok()?;
            (n >= 2_000.0).then_some(n)
        }
    })
    .await;
    assert!(checked >= 2_000.0);

    let pid = child.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = wait_for("the demo to exit", Duration::from_secs(30), || {
        let status = child.0.try_wait().ok().flatten();
        async move { status }
    })
    .await;
    assert!(status.success(), "demo exited with {status}");
}
