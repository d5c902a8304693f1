//! Shared helpers of the end-to-end tests: an in-process server on 127.0.0.1:0 ports, the
//! real `fieldline` binary as a child process, Debian's Mosquitto broker, `mosquitto_pub`,
//! and waiting on conditions (never on fixed sleeps).

#![allow(dead_code)]

pub mod cdp;
pub mod sshd;
pub mod tls;
pub mod vm;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fieldline::config::Config;
use fieldline::server::{self, Running};
use serde_json::Value;

/// Polls `check` until it returns `Some`, or panics after `timeout` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Config for a test server: temp data dir, ephemeral ports.
pub fn test_config(data_dir: &Path) -> Config {
    let mut config = Config::defaults();
    config.data_dir = data_dir.to_path_buf();
    config.http.listen = "127.0.0.1:0".into();
    config.mqtt.listen = "127.0.0.1:0".into();
    // The daily 产业大脑 bundle publishes on MQTT and writes files: only tests/e2e/brain.rs wants it.
    config.brain.enabled = false;
    config
}

/// An in-process server with its own temp dir.
pub struct TestServer {
    pub running: Running,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        // Server logs in test output; FIELDLINE_TEST_LOG=info (or debug) shows more.
        let filter = std::env::var("FIELDLINE_TEST_LOG").unwrap_or_else(|_| "warn".into());
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        let dir = tempfile::tempdir().unwrap();
        let mut config = test_config(dir.path());
        adjust(&mut config);
        let running = server::start(config).await.unwrap();
        TestServer { running, dir, http: reqwest::Client::new() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.running.http_addr, path)
    }

    pub fn mqtt_port(&self) -> u16 {
        self.running.mqtt_addr.unwrap().port()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    }
}

/// GETs `url` and parses its JSON body (any status).
pub async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// Points of every series a query returns, as (time, value) pairs.
pub fn points(query_result: &Value) -> Vec<(String, Value)> {
    query_result["series"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["points"].as_array().cloned().unwrap_or_default())
        .map(|p| (p[0].as_str().unwrap_or_default().to_string(), p[1].clone()))
        .collect()
}

/// GETs `path` on `http_addr` until the query returns at least `n` points.
pub async fn wait_for_points(client: &reqwest::Client, http_addr: SocketAddr, path: &str, n: usize) -> Value {
    let url = format!("http://{http_addr}{path}");
    wait_for(&format!("{n} points from {path}"), Duration::from_secs(20), || {
        let client = client.clone();
        let url = url.clone();
        async move {
            let v: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
            (points(&v).len() >= n).then_some(v)
        }
    })
    .await
}

/// A free TCP port on 127.0.0.1 (for processes that cannot report the port they bound).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn find_program(name: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

/// Runs `mosquitto_pub` and asserts it succeeded.
pub fn mosquitto_pub(port: u16, topic: &str, payload: &str, extra: &[&str]) {
    let out = Command::new(find_program("mosquitto_pub"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-m", payload])
        .args(extra)
        .output()
        .expect("mosquitto_pub is installed by scripts/test.sh");
    assert!(out.status.success(), "mosquitto_pub failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A Mosquitto broker on its own port with a persistence directory.
pub struct Mosquitto {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        Self::start_in(dir, port)
    }

    fn start_in(dir: tempfile::TempDir, port: u16) -> Self {
        let conf = dir.path().join("mosquitto.conf");
        // Started as root, Mosquitto drops to the `mosquitto` user and then cannot save its
        // persistence file in our temp dir; keep it as root (CI runs as root).
        // SAFETY: geteuid has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 { "user root\n" } else { "" };
        std::fs::write(
            &conf,
            format!(
                "{user}listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location {}/\n\
                 max_queued_messages 1000000\nmax_inflight_messages 1000\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new(find_program("mosquitto"))
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto is installed by scripts/test.sh");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Mosquitto { port, child, dir }
    }

    /// Stops the broker (SIGTERM, so it saves its persistence file) and starts it again on
    /// the same port with the same state.
    pub fn restart(mut self) -> Self {
        terminate(&mut self.child);
        let port = self.port;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        drop(self);
        Self::start_in(dir, port)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGTERM and waits; the exit status (`None` if waiting failed).
pub fn terminate(child: &mut Child) -> Option<std::process::ExitStatus> {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    child.wait().ok()
}

/// The Parquet files of `measurement`'s UTC `day` (`YYYY-MM-DD`) under `data_dir`, oldest
/// generation first (a day has one file per snapshot that touched it until it is compacted).
pub fn day_files(data_dir: &Path, measurement: &str, day: &str) -> Vec<std::path::PathBuf> {
    let dir = data_dir.join("parquet").join(measurement);
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.retain(|p| {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        name.starts_with(day) && name.ends_with(".parquet")
    });
    files.sort();
    files
}

/// The sum of a Prometheus counter or gauge (all its label sets) in `/metrics` text.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    let values: Vec<f64> = text
        .lines()
        .filter(|l| l.split([' ', '{']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// The real `fieldline` binary, started with `serve` (or `demo`) and the given extra
/// arguments; killed when dropped.
pub struct ServeProcess {
    pub child: Child,
    pub http_addr: SocketAddr,
    pub mqtt_addr: Option<SocketAddr>,
    /// Its stdout after the "listening" line.
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl ServeProcess {
    pub fn start(data_dir: &Path, extra: &[&str]) -> Self {
        ServeProcess::run("serve", data_dir, extra)
    }

    /// `fieldline {command}` (`serve` or `demo`) on 127.0.0.1:0 ports.
    pub fn run(command: &str, data_dir: &Path, extra: &[&str]) -> Self {
        ServeProcess::run_with_env(command, data_dir, extra, &[])
    }

    /// As [`ServeProcess::run`], with extra environment variables (e.g. `FIELDLINE_CRASH_AT`).
    pub fn run_with_env(command: &str, data_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fieldline"))
            .args([command, "--http-listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("FIELDLINE_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = loop {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("fieldline listening") => break l,
                Some(Ok(_)) => continue,
                _ => panic!("fieldline {command} exited before listening"),
            }
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                // Nobody listening any more is fine: the line is drained all the same.
                let _ = tx.send(line);
            }
        });
        let field = |name: &str| line.split_whitespace().find_map(|w| w.strip_prefix(name)).map(str::to_string);
        let http_addr = field("http=").unwrap().parse().unwrap();
        let mqtt_addr = field("mqtt=").and_then(|a| a.parse().ok());
        ServeProcess { child, http_addr, mqtt_addr, lines: rx }
    }

    /// Waits (up to 2 minutes) for a stdout line starting with `prefix`; returns the rest.
    pub fn wait_line(&self, prefix: &str) -> String {
        self.wait_line_within(prefix, Duration::from_secs(120))
    }

    /// [`ServeProcess::wait_line`] with a longer wait for long work (a debug-build backfill on a
    /// busy machine).
    pub fn wait_line_within(&self, prefix: &str, timeout: Duration) -> String {
        loop {
            let line =
                self.lines.recv_timeout(timeout).unwrap_or_else(|e| panic!("waiting for a line {prefix:?}: {e}"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.to_string();
            }
        }
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A QoS 1 publisher that sends one message at a time and reports whether the PUBACK came
/// back, reconnecting (with a fresh clean session) after any connection error. It is what a
/// careful device does, and it tells the tests exactly which messages were acknowledged.
pub struct SeqPublisher {
    host: String,
    port: u16,
    client_id: String,
    conn: Option<(rumqttc::AsyncClient, rumqttc::EventLoop)>,
}

impl SeqPublisher {
    pub fn new(port: u16, client_id: &str) -> Self {
        SeqPublisher { host: "127.0.0.1".into(), port, client_id: client_id.into(), conn: None }
    }

    fn connect(&mut self) -> &mut (rumqttc::AsyncClient, rumqttc::EventLoop) {
        self.conn.get_or_insert_with(|| {
            let mut o = rumqttc::MqttOptions::new(self.client_id.clone(), self.host.clone(), self.port);
            o.set_keep_alive(Duration::from_secs(5));
            rumqttc::AsyncClient::new(o, 10)
        })
    }

    /// Publishes once; `true` only if the PUBACK arrived within `timeout`. On `false` the
    /// connection is dropped, so the next call reconnects.
    pub async fn publish(&mut self, topic: &str, payload: &str, timeout: Duration) -> bool {
        let (client, eventloop) = self.connect();
        if client.try_publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.as_bytes().to_vec()).is_err() {
            self.conn = None;
            return false;
        }
        let acked = tokio::time::timeout(timeout, async {
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => return true,
                    Ok(_) => {}
                    Err(_) => return false,
                }
            }
        })
        .await
        .unwrap_or(false);
        if !acked {
            self.conn = None;
        }
        acked
    }
}

/// Minute readings of one met station from `from` to `to` (unix s), a daily temperature cycle
/// with deterministic jitter; from `stuck_from` on the value freezes.
pub fn stuck_met_station(from: i64, to: i64, stuck_from: i64) -> String {
    let mut lp = String::new();
    let mut t = from - from % 60;
    while t < to {
        let jitter = ((t / 60).wrapping_mul(2_654_435_761) % 1000) as f64 / 1000.0 - 0.5;
        let temp = 10.0 + 6.0 * ((t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU).sin() + jitter;
        let value = if t >= stuck_from { 13.37 } else { temp };
        lp.push_str(&format!(
            "met_station,site=t-met,device=m1 air_temp_c={value:.3} {}\n",
            t * fieldline_core::time::NS_PER_SEC
        ));
        t += 60;
    }
    lp
}
