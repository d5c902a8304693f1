//! The InfluxDB mirror against a real VictoriaMetrics (Debian's package; it speaks the
//! InfluxDB v2 write API): everything fieldline stores arrives, read back through VM's export
//! API; VM stopped for a while and started again loses nothing, and a fieldline restarted in
//! the meantime resends its backlog from the durable cursor; the order of delivery is the
//! order of writing (seen by a recording pass-through in front of VM); a full backlog makes
//! fieldline refuse writes (503) instead of dropping them, and it takes writes again once VM
//! is back.

use crate::common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::vm::Vm;
use common::{metric, wait_for};
use fieldline::config::Config;
use fieldline::server::{self, Running};
use fieldline::sinks::influx::InfluxConfig;
use serde_json::Value;

/// A pass-through in front of VM that keeps, in arrival order, the line-protocol bodies VM
/// accepted: the order fieldline delivered in.
#[derive(Clone)]
struct Recorder {
    upstream: String,
    accepted: Arc<Mutex<Vec<String>>>,
    client: reqwest::Client,
}

async fn relay(
    axum::extract::State(rec): axum::extract::State<Recorder>,
    uri: axum::http::Uri,
    body: String,
) -> axum::http::StatusCode {
    let url = format!("{}{}", rec.upstream, uri.path_and_query().map_or("", |p| p.as_str()));
    match rec.client.post(url).body(body.clone()).send().await {
        Ok(r) if r.status().is_success() => {
            rec.accepted.lock().unwrap().push(body);
            axum::http::StatusCode::NO_CONTENT
        }
        Ok(r) => r.status(),
        // What a load balancer in front of a stopped InfluxDB answers.
        Err(_) => axum::http::StatusCode::BAD_GATEWAY,
    }
}

async fn start_recorder(upstream: String) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let rec = Recorder { upstream, accepted: accepted.clone(), client: reqwest::Client::new() };
    let app = axum::Router::new().route("/api/v2/write", axum::routing::post(relay)).with_state(rec);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, accepted)
}

fn config(data_dir: &Path, influx_url: String, adjust: impl FnOnce(&mut InfluxConfig)) -> Config {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(std::env::var("FIELDLINE_TEST_LOG").unwrap_or_else(|_| "warn".into()))
        .with_test_writer()
        .try_init();
    let mut config = common::test_config(data_dir);
    config.alerts.enabled = false;
    config.forecast.enabled = false;
    let mut influx = InfluxConfig {
        url: influx_url,
        org: "heze".into(),
        bucket: "fieldline".into(),
        retry_max_secs: 1,
        drain_secs: 1,
        ..InfluxConfig::default()
    };
    adjust(&mut influx);
    config.influxdb = Some(influx);
    config
}

const T0_S: i64 = 1_777_600_000;

/// Line protocol for readings `from..to` of the probe series: value i at T0 + i seconds.
fn readings(from: usize, to: usize) -> String {
    (from..to).map(|i| format!("probe,site=heze-test,device=p1 level={i} {}\n", T0_S + i as i64)).collect()
}

async fn write(http: &reqwest::Client, server: &Running, body: String) -> reqwest::Response {
    http.post(format!("http://{}/api/v2/write?precision=s", server.http_addr)).body(body).send().await.unwrap()
}

async fn metrics_text(http: &reqwest::Client, server: &Running) -> String {
    http.get(format!("http://{}/metrics", server.http_addr)).send().await.unwrap().text().await.unwrap()
}

fn expected(n: usize) -> Vec<(i64, f64)> {
    (0..n).map(|i| ((T0_S + i as i64) * 1000, i as f64)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_point_arrives_in_order_through_an_outage_and_a_restart() {
    let http = reqwest::Client::new();
    let vm_dir = tempfile::tempdir().unwrap();
    let mut vm = Vm::start(vm_dir.path());
    vm.wait_healthy(&http).await;
    let (recorder, accepted) = start_recorder(vm.url()).await;
    let data = tempfile::tempdir().unwrap();
    let server = server::start(config(data.path(), format!("http://{recorder}"), |_| {})).await.unwrap();

    // 1. Delivered while VM is up, in requests of 100.
    for chunk in 0..3 {
        let r = write(&http, &server, readings(chunk * 100, chunk * 100 + 100)).await;
        assert_eq!(r.status(), 204);
    }
    assert_eq!(vm.wait_for_samples(&http, "probe_level", 300).await, expected(300));
    // A dead letter is stored too; InfluxDB reserves `_deadletter`, so it arrives renamed.
    let bad = write(&http, &server, "probe,site=heze-test,device=p1 level=\n".into()).await;
    assert_eq!(bad.status(), 400);

    // 2. VM stops. Writes are still acknowledged: the WAL keeps them for the mirror.
    vm.stop();
    for chunk in 3..6 {
        let r = write(&http, &server, readings(chunk * 100, chunk * 100 + 100)).await;
        assert_eq!(r.status(), 204, "fieldline acknowledges while VM is down (the WAL holds the backlog)");
    }
    wait_for("a retry and a backlog", Duration::from_secs(30), || async {
        let text = metrics_text(&http, &server).await;
        let retried = metric(&text, "fieldline_influx_retries_total").unwrap_or(0.0);
        let backlog = metric(&text, "fieldline_influx_backlog_bytes").unwrap_or(0.0);
        (retried > 0.0 && backlog > 0.0).then_some(())
    })
    .await;
    let health: Value =
        http.get(format!("http://{}/health", server.http_addr)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "pass", "a failing mirror alone does not fail fieldline: {health}");
    let check = &health["checks"][0];
    assert_eq!(check["name"], "influxdb");
    assert!(check["message"].as_str().unwrap().contains("failing since"), "{check}");

    // 3. fieldline restarts while VM is still down: its cursor and backlog survive.
    server.shutdown().await.unwrap();
    let server = server::start(config(data.path(), format!("http://{recorder}"), |_| {})).await.unwrap();
    let r = write(&http, &server, readings(600, 700)).await;
    assert_eq!(r.status(), 204);

    // 4. VM is back: everything arrives, nothing twice.
    vm.resume();
    vm.wait_healthy(&http).await;
    assert_eq!(vm.wait_for_samples(&http, "probe_level", 700).await, expected(700));
    let dead = vm.wait_for_samples(&http, "fl_deadletter_payload_size", 1).await;
    assert_eq!(dead.len(), 1, "the dead letter, renamed for InfluxDB: {dead:?}");

    // 5. In the order written: the bodies VM accepted, in arrival order, hold the readings
    // 0..700 in sequence (a batch resent after a restart may repeat what went before).
    let delivered: Vec<i64> = accepted
        .lock()
        .unwrap()
        .iter()
        .flat_map(|body| body.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.starts_with("probe,"))
        .map(|l| l.split(['=', ' ']).nth(4).unwrap().parse::<f64>().unwrap() as i64)
        .collect();
    let mut next = 0i64;
    for (at, &level) in delivered.iter().enumerate() {
        assert!(level <= next, "reading {level} delivered before {next} (position {at}): {delivered:?}");
        if level == next {
            next += 1;
        }
    }
    assert_eq!(next, 700, "every reading delivered");
    let text = metrics_text(&http, &server).await;
    wait_for("the backlog drained", Duration::from_secs(10), || async {
        let text = metrics_text(&http, &server).await;
        (metric(&text, "fieldline_influx_backlog_bytes") == Some(0.0)).then_some(())
    })
    .await;
    assert!(metric(&text, "fieldline_influx_points_written_total").unwrap() >= 100.0, "{text}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backlog_refuses_writes_instead_of_dropping_them() {
    let http = reqwest::Client::new();
    let vm_dir = tempfile::tempdir().unwrap();
    let mut vm = Vm::start(vm_dir.path());
    vm.wait_healthy(&http).await;
    vm.stop();
    let data = tempfile::tempdir().unwrap();
    let server = server::start(config(data.path(), vm.url(), |c| c.max_backlog_bytes = 1 << 20)).await.unwrap();

    // VM is down: write until fieldline refuses (a 1 MiB backlog is ~10 000 readings).
    let mut acknowledged = 0usize;
    let refusal = loop {
        let r = write(&http, &server, readings(acknowledged, acknowledged + 1000)).await;
        match r.status().as_u16() {
            204 => acknowledged += 1000,
            503 => break r,
            other => panic!("unexpected {other}: {}", r.text().await.unwrap()),
        }
        assert!(acknowledged < 200_000, "never refused");
        // Let the mirror measure the backlog (it does every second while it waits).
        if acknowledged.is_multiple_of(10_000) {
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
    };
    assert!(refusal.headers().contains_key("retry-after"));
    let body: Value = refusal.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("mirror"), "{body}");
    let health = http.get(format!("http://{}/health", server.http_addr)).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let health: Value = health.json().await.unwrap();
    assert_eq!(health["checks"][0]["status"], "fail", "{health}");

    // VM is back: the backlog drains, every acknowledged reading arrives, writes resume.
    vm.resume();
    vm.wait_healthy(&http).await;
    assert_eq!(vm.wait_for_samples(&http, "probe_level", acknowledged).await, expected(acknowledged));
    wait_for("writes accepted again", Duration::from_secs(30), || async {
        let r = write(&http, &server, readings(acknowledged, acknowledged + 1)).await;
        (r.status() == 204).then_some(())
    })
    .await;
    server.shutdown().await.unwrap();
}

/// A data dir filled before InfluxDB existed: `fieldline influx backfill` sends its past (the
/// server stopped), and running it twice leaves every point once (VictoriaMetrics deduplicating
/// samples of one series and timestamp, as InfluxDB always does).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_sends_what_a_data_dir_already_holds() {
    let http = reqwest::Client::new();
    let data = tempfile::tempdir().unwrap();
    let mut config = common::test_config(data.path());
    config.alerts.enabled = false;
    config.forecast.enabled = false;
    let server = server::start(config).await.unwrap();
    for chunk in 0..4 {
        assert_eq!(write(&http, &server, readings(chunk * 250, chunk * 250 + 250)).await.status(), 204);
    }
    server.shutdown().await.unwrap();

    let vm_dir = tempfile::tempdir().unwrap();
    let vm = Vm::start_with(vm_dir.path(), &["-dedup.minScrapeInterval=1ms"]);
    vm.wait_healthy(&http).await;
    for _ in 0..2 {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fieldline"))
            .args(["influx", "backfill", "--influx-url", &vm.url(), "--measurement", "probe", "--data-dir"])
            .arg(data.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("sent 1000 points"), "{stdout}");
    }
    let samples = vm.wait_for_samples(&http, "probe_level", 1000).await;
    assert!(samples == expected(1000), "{} samples, not the 1000 written, each once", samples.len());
}
