//! `fieldline serve --broker`: readings published to Debian's Mosquitto reach the store
//! through rumqttc with manual acks; kill -9 of fieldline and a Mosquitto restart in the
//! middle of a stream lose nothing Mosquitto acknowledged to the publisher; a full disk
//! delays readings but loses none; the broker password never reaches the logs.

use crate::common;
use crate::mqtt_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    Mosquitto, SeqPublisher, ServeProcess, TestServer, free_port, metric, mosquitto_pub, points, terminate, wait_for,
    wait_for_points,
};
use fieldline_ingest::sources::mqtt_broker::BrokerConfig;
use mqtt_support::{Broker, mosquitto_password_file};
use serde_json::{Value, json};

const BASE_MS: i64 = 1_775_772_000_000;

/// Waits until fieldline's subscription is in place, by publishing probes until one lands.
async fn wait_until_subscribed(client: &reqwest::Client, server: &ServeProcess, broker: &Mosquitto) {
    let url = format!("http://{}/api/v1/query?measurement=probe&field=ok", server.http_addr);
    let port = broker.port;
    wait_for("fieldline subscribed at the broker", Duration::from_secs(30), || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            mosquitto_pub(port, "fl/v1/lp", "probe ok=1", &[]);
            let v: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
            (!points(&v).is_empty()).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_flow_through_mosquitto() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let server = ServeProcess::start(dir.path(), &["--broker", &url, "--broker-client-id", "fl-test-flow"]);
    assert!(server.mqtt_addr.is_none(), "no MQTT endpoint in broker mode");
    let client = reqwest::Client::new();
    wait_until_subscribed(&client, &server, &broker).await;

    mosquitto_pub(
        broker.port,
        "fl/v1/heze-pv/pv_inverter/inv03/telemetry",
        r#"{"ts":1775772000000,"values":{"ac_power_kw":512.5}}"#,
        &[],
    );
    mosquitto_pub(
        broker.port,
        "fl/v1/heze-met/met_station/m1/senml",
        r#"[{"bt":1775772000,"n":"ghi_wm2","v":640}]"#,
        &[],
    );
    mosquitto_pub(broker.port, "fl/v1/lp", "plant,site=heze-pv power_mw=31.5,curtailed=false 1775772000000000000", &[]);
    mosquitto_pub(broker.port, "fl/v1/heze-pv/pv_inverter/inv03/telemetry", "garbage", &[]);

    let v =
        wait_for_points(&client, server.http_addr, "/api/v1/query?measurement=pv_inverter&field=ac_power_kw", 1).await;
    assert_eq!(points(&v), vec![("2026-04-09T22:00:00Z".to_string(), json!(512.5))]);
    wait_for_points(&client, server.http_addr, "/api/v1/query?measurement=met_station&field=ghi_wm2", 1).await;
    let v = wait_for_points(&client, server.http_addr, "/api/v1/query?measurement=plant&field=curtailed", 1).await;
    assert_eq!(points(&v)[0].1, json!(false));
    let dl_url = format!("http://{}/api/v1/deadletters", server.http_addr);
    let dl = wait_for("dead letter", Duration::from_secs(20), || {
        let (client, dl_url) = (client.clone(), dl_url.clone());
        async move {
            let v: Value = client.get(&dl_url).send().await.ok()?.json().await.ok()?;
            (!v["deadletters"].as_array()?.is_empty()).then_some(v)
        }
    })
    .await;
    assert_eq!(dl["deadletters"][0]["source"], json!("mqtt_broker"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_broker_restart_lose_nothing_acknowledged() {
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let args = ["--broker", url.as_str(), "--broker-client-id", "fl-test-crash"];
    let mut server = ServeProcess::start(dir.path(), &args);
    let client = reqwest::Client::new();
    wait_until_subscribed(&client, &server, &broker).await;

    // The publisher sees PUBACKs from Mosquitto; it retries a message until acknowledged.
    let mut publisher = SeqPublisher::new(broker.port, "crash-publisher");
    let mut acked = BTreeSet::new();
    let total = 900i64;
    for i in 0..total {
        let ts = BASE_MS + i * 1000;
        let payload = format!(r#"{{"ts":{ts},"values":{{"power_kw":{i}}}}}"#);
        while !publisher.publish("fl/v1/heze-wind/wind_turbine/wt01/telemetry", &payload, Duration::from_secs(2)).await
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        acked.insert(ts);
        match i {
            200 => server.kill9(),
            400 => server = ServeProcess::start(dir.path(), &args),
            600 => broker = broker.restart(),
            _ => {}
        }
    }

    let url = format!("http://{}/api/v1/query?measurement=wind_turbine&field=power_kw&device=wt01", server.http_addr);
    let mut stored = BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let v: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        stored.clear();
        for (t, _) in points(&v) {
            let t = time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).unwrap();
            assert!(stored.insert((t.unix_timestamp_nanos() / 1_000_000) as i64), "duplicate timestamp {t}");
        }
        if stored.is_superset(&acked) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing: Vec<i64> = acked.difference(&stored).map(|t| (t - BASE_MS) / 1000).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged readings missing (message numbers): {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    assert_eq!(stored, acked);
    drop(broker);
}

/// A tmpfs mounted for one test, unmounted when dropped (after the server using it stopped).
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .expect("mount(8)");
        assert!(out.status.success(), "mounting a tmpfs needs root: {}", String::from_utf8_lossy(&out.stderr));
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the file system with one file until writes fail with ENOSPC.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("ballast");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        // Single bytes fill the last partial page as well.
        while file.write(&[0]).is_ok_and(|n| n == 1) {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy, so a file still open (a failing test) cannot keep the mount around.
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_published_while_the_disk_is_full_arrive_once_it_has_room() {
    let disk = Tmpfs::mount("4m");
    let broker = Mosquitto::start();
    let server = TestServer::start_with(|c| {
        c.data_dir = disk.path().join("data");
        c.broker = Some(BrokerConfig {
            url: format!("mqtt://127.0.0.1:{}", broker.port),
            client_id: "fl-test-disk-full".into(),
            ..Default::default()
        });
        // Only WAL writes touch the disk during the test: no snapshot, no jobs.
        c.store.snapshot_interval_secs = 24 * 3600;
        c.alerts.enabled = false;
        c.forecast.enabled = false;
    })
    .await;
    let http_addr = server.running.http_addr;
    mqtt_support::wait_until_subscribed(http_addr, broker.port, &[]).await;

    let ballast = disk.fill();
    // 40 messages of 10 readings, each acknowledged by Mosquitto to the publisher (QoS 1).
    let lines: Vec<String> = (0..40)
        .map(|m| {
            let readings: Vec<String> = (0..10)
                .map(|r| {
                    let i = m * 10 + r;
                    format!(r#"{{"ts":{},"values":{{"power_kw":{i}}}}}"#, BASE_MS + i * 1000)
                })
                .collect();
            format!("[{}]", readings.join(","))
        })
        .collect();
    let mut publisher = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &broker.port.to_string(), "-q", "1", "-l"])
        .args(["-t", "fl/v1/heze-wind/wind_turbine/wt09/telemetry"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    publisher.stdin.take().unwrap().write_all(format!("{}\n", lines.join("\n")).as_bytes()).unwrap();
    assert!(publisher.wait().unwrap().success(), "mosquitto_pub -l");

    // Writes fail while the disk is full, and are retried rather than dropped.
    let metrics_url = format!("http://{http_addr}/metrics");
    wait_for("failed WAL writes being retried", Duration::from_secs(30), || {
        let (client, url) = (server.http.clone(), metrics_url.clone());
        async move {
            let text = client.get(&url).send().await.ok()?.text().await.ok()?;
            (metric(&text, "fieldline_ingest_write_retries_total")? > 0.0).then_some(())
        }
    })
    .await;

    std::fs::remove_file(&ballast).unwrap();
    let query = "/api/v1/query?measurement=wind_turbine&field=power_kw&device=wt09";
    let v = wait_for_points(&server.http, http_addr, query, 400).await;
    let mut stored: Vec<i64> = points(&v).iter().map(|(_, value)| value.as_f64().unwrap() as i64).collect();
    stored.sort_unstable();
    assert_eq!(stored, (0..400).collect::<Vec<_>>(), "every reading exactly once, without a restart");
    server.running.shutdown().await.unwrap();
    drop(broker);
}

/// `fieldline serve --broker URL` with `env`, logging at info to a file; returns the child,
/// its HTTP address and the log path.
fn serve_logging(data_dir: &Path, url: &str, env: &[(&str, &str)]) -> (Child, SocketAddr, PathBuf) {
    let log = data_dir.join("fieldline.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldline"))
        .args(["serve", "--http-listen", "127.0.0.1:0", "--broker", url, "--broker-client-id", "fl-test-password"])
        .arg("--data-dir")
        .arg(data_dir.join("data"))
        .env("FIELDLINE_LOG", "info")
        .env_remove("FIELDLINE_BROKER_PASSWORD")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = lines
        .find_map(|l| l.ok().filter(|l| l.starts_with("fieldline listening")))
        .unwrap_or_else(|| panic!("fieldline exited: {}", std::fs::read_to_string(&log).unwrap_or_default()));
    std::thread::spawn(move || lines.for_each(drop));
    let http = line.split_whitespace().find_map(|w| w.strip_prefix("http=")).unwrap().parse().unwrap();
    (child, http, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_password_from_the_environment_and_never_logged() {
    const PASSWORD: &str = "br0ker-Secret-7731";
    let dir = tempfile::tempdir().unwrap();
    let passwd = mosquitto_password_file(dir.path(), &[("fieldline", PASSWORD), ("device", "dev-pass")]);
    let port = free_port();
    let conf = format!("allow_anonymous false\npassword_file {}\nlistener {port} 127.0.0.1\n", passwd.display());
    let _broker = Broker::start(tempfile::tempdir().unwrap(), &conf, &[port]);
    let device = ["-u", "device", "-P", "dev-pass"];
    let client = reqwest::Client::new();

    // The password from FIELDLINE_BROKER_PASSWORD, the URL naming only the user; then the
    // password in the URL, which the logs show as ***.
    let runs = [
        (format!("mqtt://fieldline@127.0.0.1:{port}"), vec![("FIELDLINE_BROKER_PASSWORD", PASSWORD)]),
        (format!("mqtt://fieldline:{PASSWORD}@127.0.0.1:{port}"), vec![]),
    ];
    for (n, (url, env)) in runs.iter().enumerate() {
        let run_dir = tempfile::tempdir().unwrap();
        let (mut child, http, log) = serve_logging(run_dir.path(), url, env);
        mqtt_support::wait_until_subscribed(http, port, &device).await;
        let payload = format!(r#"{{"ts":{},"values":{{"power_kw":{n}}}}}"#, BASE_MS + n as i64 * 1000);
        mosquitto_pub(port, "fl/v1/heze-wind/wind_turbine/wt04/telemetry", &payload, &device);
        wait_for_points(&client, http, "/api/v1/query?measurement=wind_turbine&field=power_kw&device=wt04", 1).await;
        assert!(terminate(&mut child).is_some_and(|s| s.success()));
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("connecting to MQTT broker"), "run {n}: info logs captured: {text}");
        assert!(!text.contains(PASSWORD), "run {n}: the broker password is in the log:\n{text}");
        if env.is_empty() {
            assert!(text.contains("mqtt://fieldline:***@127.0.0.1"), "run {n}: {text}");
        }
    }
}
