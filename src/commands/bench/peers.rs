//! The engines `fieldline bench query` compares with: a VictoriaMetrics single-node process
//! (Debian's package) and DuckDB (Python, in a venv this module creates) reading fieldline's
//! Parquet files. Each turns its answers into the bench's comparable [`Answer`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::query::{Answer, BenchQuery, KEY_TAGS, Timing, VmRequest, get_json, series_key};
use super::terminate;

/// A VictoriaMetrics process on a free loopback port, storing under `storage`.
pub struct VictoriaMetrics {
    child: Child,
    binary: PathBuf,
    storage: PathBuf,
    port: u16,
    client: reqwest::Client,
}

impl VictoriaMetrics {
    pub async fn start(binary: &Path, storage: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(binary)
            .arg(format!("-storageDataPath={}", storage.display()))
            // The data is months old: the default retention (1 month) would drop it.
            .arg("-retentionPeriod=100y")
            .arg(format!("-httpListenAddr=127.0.0.1:{port}"))
            .arg("-loggerLevel=ERROR")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!("{} not found or not runnable (apt-get install victoria-metrics)", binary.display())
            })?;
        let vm = VictoriaMetrics {
            child,
            binary: binary.to_path_buf(),
            storage: storage.to_path_buf(),
            port,
            client: reqwest::Client::new(),
        };
        vm.wait_healthy().await?;
        Ok(vm)
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Ok(r) = self.client.get(self.url("/health")).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("VictoriaMetrics did not become healthy on port {} within 60 s", self.port);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Writes buffered samples to disk (VictoriaMetrics acknowledges writes before that).
    pub async fn flush(&self) -> anyhow::Result<()> {
        let response = self.client.get(self.url("/internal/force_flush")).send().await?;
        if !response.status().is_success() {
            bail!("force_flush: {}", response.status());
        }
        Ok(())
    }

    /// Stops the process (SIGTERM: it flushes) and starts it again on the same storage.
    pub async fn restart(mut self) -> anyhow::Result<Self> {
        terminate(&mut self.child);
        let (binary, storage) = (self.binary.clone(), self.storage.clone());
        drop(self);
        Self::start(&binary, &storage).await
    }

    pub async fn query(&self, request: &VmRequest) -> anyhow::Result<Answer> {
        match request {
            VmRequest::Range { expr, start_ms, end_ms, step_ms } => {
                // VictoriaMetrics' window at t is (t - step, t]; fieldline's is [s, s + step).
                // Evaluating at t = s + step - 1 ms makes them the same set of samples.
                let first = start_ms + step_ms - 1;
                let url = format!(
                    "{}?query={}&start={}&end={}&step={}ms&nocache=1",
                    self.url("/api/v1/query_range"),
                    encode(expr),
                    seconds(first),
                    seconds(end_ms - 1),
                    step_ms
                );
                let body = get_json(&self.client, &url).await?;
                let mut out = BTreeMap::new();
                for series in body["data"]["result"].as_array().context("no data.result")? {
                    let key = series_key(|k| series["metric"][k].as_str().map(str::to_string));
                    let mut points = Vec::new();
                    for p in series["values"].as_array().context("no values")? {
                        let t = (p[0].as_f64().context("no time")? * 1000.0).round() as i64;
                        let v: f64 = p[1].as_str().context("no value")?.parse()?;
                        points.push((t - step_ms + 1, v));
                    }
                    out.insert(key, points);
                }
                Ok(Answer::Points(out))
            }
            VmRequest::Export { selector, start_ms, end_ms } => {
                let url = format!(
                    "{}?match[]={}&start={}&end={}",
                    self.url("/api/v1/export"),
                    encode(selector),
                    seconds(*start_ms),
                    seconds(*end_ms)
                );
                let response = self.client.get(&url).send().await?;
                if !response.status().is_success() {
                    bail!("GET {url}: {}", response.status());
                }
                let body = response.text().await?;
                let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
                for line in body.lines().filter(|l| !l.trim().is_empty()) {
                    let series: Value = serde_json::from_str(line)?;
                    let key = series_key(|k| series["metric"][k].as_str().map(str::to_string));
                    let times = series["timestamps"].as_array().context("no timestamps")?;
                    let values = series["values"].as_array().context("no values")?;
                    let points = out.entry(key).or_default();
                    for (t, v) in times.iter().zip(values) {
                        points.push((t.as_i64().context("bad timestamp")?, v.as_f64().context("bad value")?));
                    }
                }
                for points in out.values_mut() {
                    points.sort_by_key(|p| p.0);
                }
                Ok(Answer::Points(out))
            }
            VmRequest::Series { start_ms, end_ms } => {
                let url = format!(
                    "{}?match[]={}&start={}&end={}",
                    self.url("/api/v1/series"),
                    encode("{__name__=~\".+\"}"),
                    seconds(*start_ms),
                    seconds(*end_ms)
                );
                let body = get_json(&self.client, &url).await?;
                let names: BTreeSet<String> = body["data"]
                    .as_array()
                    .context("no data")?
                    .iter()
                    .filter_map(|labels| {
                        let labels = labels.as_object()?;
                        let name = labels.get("__name__")?.as_str()?;
                        let tags: BTreeMap<&str, &str> = labels
                            .iter()
                            .filter(|(k, _)| *k != "__name__")
                            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                            .collect();
                        let tags: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                        Some(format!("{name}{{{}}}", tags.join(",")))
                    })
                    .collect();
                Ok(Answer::Names(names))
            }
        }
    }
}

impl Drop for VictoriaMetrics {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// Unix seconds with milliseconds, as VictoriaMetrics' `start`/`end` take them.
fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

/// Percent-encodes a query parameter value.
pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Python with `duckdb` installed, in a venv under the user's cache directory.
pub struct DuckDb {
    python: PathBuf,
}

const SCRIPT: &str = include_str!("../../../bench/duckdb_query.py");

impl DuckDb {
    /// Finds the bench venv, creating it (`python3 -m venv`, `pip install duckdb`) if needed.
    pub async fn prepare() -> anyhow::Result<Self> {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .context("neither XDG_CACHE_HOME nor HOME is set")?;
        let venv = cache.join("fieldline").join("bench-venv");
        let python = venv.join("bin").join("python");
        let has_duckdb = |python: &Path| {
            Command::new(python).args(["-c", "import duckdb"]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
        };
        if !has_duckdb(&python) {
            eprintln!("creating {} with duckdb (once) ...", venv.display());
            let status = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .context("python3 not found (apt-get install python3-venv)")?;
            if !status.success() {
                bail!("python3 -m venv failed (apt-get install python3-venv)");
            }
            let status = Command::new(venv.join("bin").join("pip"))
                .args(["install", "--quiet", "duckdb"])
                .status()
                .context("running pip")?;
            if !status.success() || !has_duckdb(&python) {
                bail!("pip install duckdb failed (needs PyPI)");
            }
        }
        Ok(DuckDb { python })
    }

    /// Runs every query's SQL over `root` (after one warm-up run, `rounds` timed runs).
    pub async fn run(
        &self,
        root: &Path,
        queries: &[BenchQuery],
        rounds: usize,
        work_dir: &Path,
    ) -> anyhow::Result<Vec<Option<Timing>>> {
        let (script, spec, out) =
            (work_dir.join("duckdb_query.py"), work_dir.join("duckdb_spec.json"), work_dir.join("duckdb_out.json"));
        std::fs::write(&script, SCRIPT)?;
        let sql: Vec<Option<&str>> = queries.iter().map(|q| q.duckdb.as_deref()).collect();
        let root = root.to_str().context("work dir is not UTF-8")?;
        std::fs::write(
            &spec,
            serde_json::to_vec(&serde_json::json!({"root": root, "rounds": rounds, "queries": sql}))?,
        )?;
        let python = self.python.clone();
        let output = out.clone();
        let status =
            tokio::task::spawn_blocking(move || Command::new(python).arg(&script).arg(&spec).arg(&output).status())
                .await??;
        if !status.success() {
            bail!("the DuckDB script failed ({status})");
        }
        let results: Vec<Value> = serde_json::from_slice(&std::fs::read(&out)?)?;
        results
            .iter()
            .map(|r| {
                if r.is_null() {
                    return Ok(None);
                }
                let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
                for row in r["rows"].as_array().context("no rows")? {
                    let key = series_key(|k| {
                        let i = KEY_TAGS.iter().position(|t| *t == k)?;
                        row[i].as_str().map(str::to_string)
                    });
                    let t = row[2].as_i64().context("no t")?;
                    let v = row[3].as_f64().context("no v")?;
                    out.entry(key).or_default().push((t, v));
                }
                Ok(Some(Timing { median_ms: r["median_ms"].as_f64().unwrap_or(f64::NAN), answer: Answer::Points(out) }))
            })
            .collect()
    }
}
