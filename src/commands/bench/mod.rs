//! `fieldline bench ...`: the end-to-end benchmarks, each against a real `fieldline serve`
//! child process. `ingest` is the MQTT load generator (throughput, PUBACK latency, RSS);
//! `query` builds a store from simulator data and times the queries users make, beside
//! VictoriaMetrics and DuckDB loaded with the same data in the same run.

mod ingest;
mod peers;
mod pipelines;
mod query;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

pub use ingest::IngestArgs;
pub use query::QueryArgs;

/// `fieldline bench ...`
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Publish readings over MQTT QoS 1 and measure throughput, latency and RSS.
    Ingest(IngestArgs),
    /// Load N days of simulator data and time five queries against fieldline, VictoriaMetrics
    /// and DuckDB (same data, same run), checking that the answers agree.
    Query(QueryArgs),
    /// Publish the same readings through peer pipelines (fieldline via Mosquitto, a Python
    /// paho/influxdb-client bridge, Telegraf, fieldline's own endpoint) into VictoriaMetrics and
    /// compare throughput, latency and loss side by side.
    Pipelines(pipelines::PipelinesArgs),
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.command {
        BenchCommand::Ingest(a) => ingest::run(a).await,
        BenchCommand::Query(a) => query::run(a).await,
        BenchCommand::Pipelines(a) => pipelines::run(a).await,
    }
}

/// A `fieldline serve` child process on ephemeral ports. Dropping it stops the server with
/// SIGTERM, which flushes the store before exiting.
struct Server {
    child: Child,
    http: String,
    mqtt: String,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts `fieldline serve` on `data_dir` (a temporary directory when `None`), with
    /// `config` as its config file when given, and waits for its "listening" line.
    fn start(data_dir: Option<PathBuf>, config: Option<&Path>) -> anyhow::Result<Self> {
        let (dir, tmp) = match data_dir {
            Some(d) => (d, None),
            None => {
                let t = tempfile::tempdir()?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["serve", "--http-listen", "127.0.0.1:0", "--mqtt-listen", "127.0.0.1:0", "--data-dir"]).arg(&dir);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let child =
            command.env("FIELDLINE_LOG", "warn").stdout(Stdio::piped()).spawn().context("starting fieldline serve")?;
        Server::listening(child, tmp, String::new)
    }

    /// Waits for a spawned `fieldline serve` (stdout piped) to print its "listening" line and
    /// keeps draining its stdout; `why` explains an early exit (e.g. the tail of its log).
    fn listening(
        mut child: Child,
        dir: Option<tempfile::TempDir>,
        why: impl FnOnce() -> String,
    ) -> anyhow::Result<Self> {
        use std::io::{BufRead, BufReader};
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = loop {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("fieldline listening") => break l,
                Some(Ok(_)) => continue,
                _ => {
                    let _ = child.wait();
                    bail!("fieldline serve exited before listening{}", why());
                }
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let field = |name: &str| line.split_whitespace().find_map(|w| w.strip_prefix(name)).map(str::to_string);
        Ok(Server {
            child,
            http: field("http=").context("no http address")?,
            mqtt: field("mqtt=").context("no mqtt address")?,
            _dir: dir,
        })
    }

    /// Peak resident set size (VmHWM) in MiB.
    fn peak_rss_mib(&self) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    }

    /// Stops the server (SIGTERM: it flushes the store) and waits for it to exit.
    fn stop(mut self) -> anyhow::Result<()> {
        terminate(&mut self.child);
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// SIGTERM, then wait: both fieldline and VictoriaMetrics flush on SIGTERM.
fn terminate(child: &mut Child) {
    if let Ok(None) = child.try_wait() {
        // SAFETY: kill(2) on our own child process.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
    }
    let _ = child.wait();
}

/// Bytes under `path`, recursively (what `du -sb` reports for regular files).
fn disk_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => disk_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
