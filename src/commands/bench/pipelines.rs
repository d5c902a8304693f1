//! `fieldline bench pipelines`: the same readings through the pipelines a deployment could
//! run, side by side, in one run, each delivering into VictoriaMetrics (the InfluxDB v2 write
//! API) or, for fieldline's own endpoint, into fieldline's durable WAL:
//!
//! - (a) devices → Mosquitto → `fieldline serve --broker ... --influx-url ...` → VictoriaMetrics
//! - (b) devices → Mosquitto → `bench/mqtt_influx_bridge.py` (paho-mqtt + influxdb-client's
//!   batching `WriteApi`) → VictoriaMetrics — the baseline the other rows are divided by
//! - (c) devices → Mosquitto → Telegraf (`mqtt_consumer` → `influxdb_v2`) → VictoriaMetrics,
//!   when `telegraf` is on PATH
//! - (d) devices → fieldline's own MQTT endpoint (PUBACK only after the durable WAL write)
//!
//! Every path gets fresh processes and storage (Mosquitto on a free port without persistence,
//! VictoriaMetrics on a temporary directory, fieldline on a temporary data dir). The workload
//! is built once before anything is timed: M devices (one rumqttc connection each, QoS 1, a
//! window of in-flight messages) publish N JSON telemetry readings on
//! `fl/v1/bench/peony_plot/plotNNNN/telemetry`, one reading per message, each device's readings
//! one second apart on one UTC day in 2023 (a seeded random walk of `soil_vwc_pct`).
//!
//! A reading is *delivered* when VictoriaMetrics returns it (paths a–c) or when its PUBACK
//! arrived (d). While the devices publish, the bench asks VictoriaMetrics every 50 ms for the
//! number of readings of each device (one `count_over_time` instant query: cheaper than
//! looking up marker series one by one, and it times every sampled reading at once). Readings
//! of one device travel in order, so sampled reading k of a device is visible by the first
//! poll whose count for that device exceeds k; its latency is that poll's answer time minus
//! the moment its PUBLISH left the device (so the figures are upper bounds by at most one poll
//! interval; VictoriaMetrics itself makes samples searchable about once a second). Before the
//! timed run each broker path must carry a probe reading per device all the way into
//! VictoriaMetrics: the consumer has subscribed and every series exists on that day. At the
//! end the readings are exported from VictoriaMetrics (`/api/v1/export`) and checked one by
//! one against what was published: loss, duplicates and wrong values.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use fieldline_core::time::format_time;
use indicatif::ProgressBar;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::{Value, json};
use time::UtcOffset;
use tokio::sync::{mpsc, watch};

use super::peers::{VictoriaMetrics, encode};
use super::{Server, terminate};
use crate::commands::progress;

const AFTER_HELP: &str = "\
Paths (each with fresh processes and storage; VictoriaMetrics is Debian's `victoria-metrics`):
  a  devices -> Mosquitto -> fieldline serve --broker (InfluxDB sink: --influx-url) -> VictoriaMetrics
  b  devices -> Mosquitto -> bench/mqtt_influx_bridge.py (paho-mqtt, influxdb-client batching
     WriteApi: batch 5000, flush 1 s) -> VictoriaMetrics /api/v2/write    [the baseline]
  c  devices -> Mosquitto -> Telegraf mqtt_consumer -> influxdb_v2 -> VictoriaMetrics
     (only when `telegraf` is on PATH)
  d  devices -> fieldline's own MQTT endpoint (PUBACK = in the fsync'd WAL)

readings/s = delivered readings / (first PUBLISH .. last reading delivered): for a-c the poll
that first saw the last one in VictoriaMetrics, for d the last PUBACK. Latency = PUBLISH ->
visible in VictoriaMetrics (a-c) or -> PUBACK (d), for one reading in --sample-every.
Loss = published - delivered (VictoriaMetrics' export, or fieldline's query API for d,
checked reading by reading), after --drain-timeout seconds without progress.

Mosquitto runs with the settings of deploy/mosquitto.conf that matter here
(max_queued_messages 1000000, max_inflight_messages 1000) but without persistence. The bridge
runs in a venv this command creates once under ~/.cache/fieldline/bridge-venv
(python3 -m venv; pip install paho-mqtt influxdb-client: needs PyPI once).

Examples:
  fieldline bench pipelines                                  # 200 000 readings, 8 devices
  fieldline bench pipelines --paths b,d --readings 50000
  fieldline bench pipelines --rate 5000                      # latency at a steady offered load";

/// `fieldline bench pipelines`
#[derive(Debug, Clone, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct PipelinesArgs {
    /// Readings published through each path (one reading per MQTT message).
    #[arg(long, default_value_t = 200_000)]
    pub readings: usize,
    /// Simulated devices (one MQTT connection each).
    #[arg(long, default_value_t = 8)]
    pub devices: usize,
    /// Seed of the readings' values.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// QoS 1 messages each device keeps in flight.
    #[arg(long, default_value_t = 100)]
    pub inflight: u16,
    /// Offered load in readings/s over all devices; 0 = as fast as the devices can publish.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Time one reading in this many end to end.
    #[arg(long, default_value_t = 100)]
    pub sample_every: usize,
    /// After the last publish, stop waiting once nothing new was delivered for this many seconds.
    #[arg(long, default_value_t = 30)]
    pub drain_timeout: u64,
    /// Time how fast each consumer drains a backlog instead: it is paused (SIGSTOP) while the
    /// devices publish everything into Mosquitto, then resumed; readings/s counts from the
    /// resume. No latency figures; path d (no broker) does not apply.
    #[arg(long)]
    pub backlog: bool,
    /// Paths to run, comma-separated (see below).
    #[arg(long, value_delimiter = ',', default_value = "a,b,c,d")]
    pub paths: Vec<PathName>,
    /// The VictoriaMetrics single-node binary.
    #[arg(long, default_value = "/usr/bin/victoria-metrics", value_name = "PATH")]
    pub victoria_metrics: PathBuf,
    /// The Mosquitto broker binary.
    #[arg(long, default_value = "/usr/sbin/mosquitto", value_name = "PATH")]
    pub mosquitto: PathBuf,
    /// The Python bridge's venv [default: ~/.cache/fieldline/bridge-venv, created when missing].
    #[arg(long, value_name = "DIR")]
    pub venv: Option<PathBuf>,
    /// fieldline's config file for paths a and d [default: forecast and alert jobs off, so only
    /// the ingest path is measured].
    #[arg(long, value_name = "FILE")]
    pub fieldline_config: Option<PathBuf>,
    /// Keep every path's data and logs (fieldline, VictoriaMetrics, Mosquitto config, bridge)
    /// under DIR/path-X (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// One of the compared paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum PathName {
    A,
    B,
    C,
    D,
}

impl PathName {
    fn label(self) -> &'static str {
        match self {
            PathName::A => "(a) Mosquitto -> fieldline -> VM",
            PathName::B => "(b) Mosquitto -> Python bridge -> VM",
            PathName::C => "(c) Mosquitto -> Telegraf -> VM",
            PathName::D => "(d) fieldline MQTT endpoint",
        }
    }

    fn letter(self) -> &'static str {
        match self {
            PathName::A => "a",
            PathName::B => "b",
            PathName::C => "c",
            PathName::D => "d",
        }
    }
}

const SITE: &str = "bench";
const KIND: &str = "peony_plot";
const FIELD: &str = "soil_vwc_pct";
/// VictoriaMetrics names an InfluxDB point's field `{measurement}_{field}`.
const VM_SELECTOR: &str = "{__name__=~\"peony_plot_.*\"}";
/// The first reading's time: 2023-11-14T00:00:00Z (well inside VictoriaMetrics' 100-year
/// retention). All readings and the probes fall on this one UTC day: VictoriaMetrics makes a
/// series' first sample on a new day searchable only seconds later (its per-day index), a
/// delay the probes take so that no timed path pays it.
const BASE_MS: i64 = 1_699_920_000_000;
/// The probe readings' time: the day's last second, after every measured reading.
const PROBE_MS: i64 = BASE_MS + 86_399_000;
/// The measured readings of one device fit in this span (they report once a second, or
/// faster when there are more than 86 000 per device).
const SPAN_MS: i64 = 86_000_000;
const POLL: Duration = Duration::from_millis(50);
const PROBE_TIMEOUT: Duration = Duration::from_secs(60);

/// The Python bridge, written next to the venv's interpreter at run time.
const BRIDGE_SCRIPT: &str = include_str!("../../../bench/mqtt_influx_bridge.py");
const BRIDGE_PACKAGES: &[&str] = &["paho-mqtt>=2", "influxdb-client"];

/// What one device publishes, built before anything is timed.
struct DeviceLoad {
    name: String,
    topic: String,
    payloads: Vec<String>,
    values: Vec<f64>,
}

struct Workload {
    devices: Vec<DeviceLoad>,
    total: usize,
    /// Device name → index.
    index: HashMap<String, usize>,
    /// Time between one device's readings, ms.
    interval_ms: i64,
    /// End of the measured time range (after the last reading), ms.
    end_ms: i64,
}

impl Workload {
    fn new(readings: usize, devices: usize, seed: u64) -> anyhow::Result<Self> {
        let per_device = readings.div_ceil(devices.max(1)) as i64;
        let interval_ms = (SPAN_MS / per_device.max(1)).min(1000);
        if interval_ms == 0 {
            bail!("more than {SPAN_MS} readings per device: use more --devices");
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let mut loads = Vec::with_capacity(devices);
        for d in 0..devices {
            let n = readings / devices + usize::from(d < readings % devices);
            let name = format!("plot{d:04}");
            let topic = format!("fl/v1/{SITE}/{KIND}/{name}/telemetry");
            let mut v: f64 = rng.random_range(18.0..42.0);
            let mut payloads = Vec::with_capacity(n);
            let mut values = Vec::with_capacity(n);
            for k in 0..n {
                v = (v + rng.random_range(-0.25..0.25)).clamp(5.0, 60.0);
                let rounded = (v * 100.0).round() / 100.0;
                let ts = BASE_MS + k as i64 * interval_ms;
                payloads.push(format!("{{\"ts\":{ts},\"values\":{{\"{FIELD}\":{rounded:.2}}}}}"));
                values.push(rounded);
            }
            loads.push(DeviceLoad { name, topic, payloads, values });
        }
        let index = loads.iter().enumerate().map(|(i, l)| (l.name.clone(), i)).collect();
        Ok(Workload { devices: loads, total: readings, index, interval_ms, end_ms: BASE_MS + per_device * interval_ms })
    }

    fn probe_messages(&self) -> Vec<(String, String)> {
        self.devices
            .iter()
            .map(|d| (d.topic.clone(), format!("{{\"ts\":{PROBE_MS},\"values\":{{\"{FIELD}\":30.0}}}}")))
            .collect()
    }
}

/// One timed reading.
#[derive(Debug, Clone, Copy)]
struct Sample {
    device: usize,
    k: usize,
    sent: Instant,
    acked: Option<Instant>,
}

/// What the devices saw.
struct Published {
    first_sent: Instant,
    last_ack: Instant,
    acked: u64,
    samples: Vec<Sample>,
}

/// One answer of VictoriaMetrics while the readings arrive.
struct Poll {
    at: Instant,
    counts: Vec<u64>,
}

/// The figures of one measured path.
#[derive(Debug, Default, Clone)]
struct Measured {
    published: u64,
    delivered: u64,
    duplicates: u64,
    wrong_values: u64,
    /// First PUBLISH → last reading delivered.
    seconds: f64,
    /// First PUBLISH → last PUBACK the devices got (from Mosquitto on a–c).
    publish_seconds: f64,
    latencies_ms: Vec<f64>,
    consumer_cpu_s: Option<f64>,
    broker_cpu_s: Option<f64>,
    consumer_rss_mib: Option<f64>,
    notes: Vec<String>,
}

impl Measured {
    fn rate(&self) -> f64 {
        if self.seconds > 0.0 { self.delivered as f64 / self.seconds } else { f64::NAN }
    }
    /// Delivered readings per CPU-second of the consumer (fieldline, the bridge, Telegraf):
    /// what the consumer costs, whatever else the machine runs.
    fn per_cpu_s(&self) -> Option<f64> {
        self.consumer_cpu_s.filter(|c| *c > 0.0).map(|c| self.delivered as f64 / c)
    }
    fn loss(&self) -> u64 {
        self.published.saturating_sub(self.delivered)
    }
}

enum Outcome {
    Measured(Measured),
    Skipped(String),
    Failed(String),
}

/// Shared by the paths of one run.
struct Ctx {
    args: PipelinesArgs,
    work: Arc<Workload>,
    http: reqwest::Client,
    /// Where each path's processes keep their data and logs.
    root: PathBuf,
    /// Removes `root` at the end unless --work-dir was given.
    _tmp: Option<tempfile::TempDir>,
    config: PathBuf,
}

pub async fn run(args: PipelinesArgs) -> anyhow::Result<()> {
    if args.readings == 0 || args.devices == 0 || args.inflight == 0 || args.sample_every == 0 {
        bail!("--readings, --devices, --inflight and --sample-every must be positive");
    }
    if args.devices > 10_000 {
        bail!("--devices: at most 10 000");
    }
    if !args.victoria_metrics.is_file() {
        bail!(
            "{} not found (apt-get install victoria-metrics, or --victoria-metrics PATH)",
            args.victoria_metrics.display()
        );
    }
    let mut paths = args.paths.clone();
    paths.sort();
    paths.dedup();
    let needs_mosquitto = paths.iter().any(|p| *p != PathName::D);
    if needs_mosquitto && !args.mosquitto.is_file() {
        bail!("{} not found (apt-get install mosquitto, or --mosquitto PATH)", args.mosquitto.display());
    }
    let (root, tmp) = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            (dir.clone(), None)
        }
        None => {
            let tmp = tempfile::tempdir()?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    let config = match &args.fieldline_config {
        Some(file) => file.clone(),
        None => {
            let config = root.join("fieldline-bench.toml");
            // Only the ingest path is measured: no forecast or detection jobs beside it.
            std::fs::write(&config, "[forecast]\nenabled = false\n\n[alerts]\nenabled = false\n")?;
            config
        }
    };
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?;
    let work = Arc::new(Workload::new(args.readings, args.devices, args.seed)?);
    let ctx = Ctx { args: args.clone(), work, http, root, _tmp: tmp, config };

    let mut rows: Vec<(PathName, Outcome)> = Vec::new();
    for path in paths {
        eprintln!("{}", path.label());
        let outcome = match path {
            PathName::A => match influx_flags_missing() {
                Some(why) => Outcome::Skipped(why),
                None => result(broker_path(&ctx, path).await),
            },
            PathName::B => match prepare_venv(args.venv.clone()) {
                Ok(_) => result(broker_path(&ctx, path).await),
                Err(why) => Outcome::Skipped(format!("{why:#}")),
            },
            PathName::C => match find_on_path("telegraf") {
                Some(_) => result(broker_path(&ctx, path).await),
                None => Outcome::Skipped("telegraf not installed".into()),
            },
            PathName::D if args.backlog => {
                Outcome::Skipped("no broker to hold a backlog (run without --backlog)".into())
            }
            PathName::D => result(endpoint_path(&ctx).await),
        };
        if let Outcome::Failed(why) = &outcome {
            eprintln!("  failed: {why}");
        }
        rows.push((path, outcome));
    }
    print_table(&ctx.args, &rows);
    if let Some(file) = &ctx.args.json {
        std::fs::write(file, serde_json::to_vec_pretty(&to_json(&ctx.args, &rows))?)
            .with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(())
}

fn result(r: anyhow::Result<Measured>) -> Outcome {
    match r {
        Ok(m) => Outcome::Measured(m),
        Err(e) => Outcome::Failed(format!("{e:#}")),
    }
}

/// Why path (a) cannot run with this binary, if it cannot.
fn influx_flags_missing() -> Option<String> {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return Some(format!("cannot find this binary: {e}")),
    };
    match Command::new(exe).args(["serve", "--help"]).output() {
        Ok(out) if String::from_utf8_lossy(&out.stdout).contains("--influx-url") => None,
        Ok(_) => Some("this fieldline has no `serve --influx-url` (InfluxDB sink not built in)".into()),
        Err(e) => Some(format!("cannot run `fieldline serve --help`: {e}")),
    }
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

// ---------------------------------------------------------------------------------------
// The paths
// ---------------------------------------------------------------------------------------

/// A consumer between Mosquitto and VictoriaMetrics.
enum Consumer {
    Fieldline(Server),
    Bridge(Bridge),
    Telegraf(Child),
}

impl Consumer {
    fn pid(&self) -> u32 {
        match self {
            Consumer::Fieldline(s) => s.child.id(),
            Consumer::Bridge(b) => b.child.id(),
            Consumer::Telegraf(c) => c.id(),
        }
    }
}

/// Paths a–c: devices → Mosquitto → consumer → VictoriaMetrics.
async fn broker_path(ctx: &Ctx, path: PathName) -> anyhow::Result<Measured> {
    let dir = path_dir(ctx, path)?;
    let vm = VictoriaMetrics::start(&ctx.args.victoria_metrics, &dir.join("vm")).await?;
    let influx_url = vm.url("");
    let mosquitto = Mosquitto::start(&ctx.args.mosquitto, &dir)?;
    let log = dir.join(format!("consumer-{}.log", path.letter()));
    let consumer = match path {
        PathName::A => Consumer::Fieldline(start_fieldline(
            &[
                "--broker".into(),
                format!("mqtt://127.0.0.1:{}", mosquitto.port),
                "--broker-client-id".into(),
                "fieldline-bench".into(),
                "--influx-url".into(),
                influx_url.clone(),
                "--influx-org".into(),
                "bench".into(),
                "--influx-bucket".into(),
                "bench".into(),
            ],
            &dir.join("fieldline"),
            &ctx.config,
            &log,
        )?),
        PathName::B => {
            let python = prepare_venv(ctx.args.venv.clone())?;
            Consumer::Bridge(Bridge::start(&python, &dir, mosquitto.port, &influx_url, &log).await?)
        }
        PathName::C => {
            let telegraf = find_on_path("telegraf").context("telegraf not installed")?;
            Consumer::Telegraf(start_telegraf(&telegraf, &dir, mosquitto.port, &influx_url, &log)?)
        }
        PathName::D => bail!("path d has no broker"),
    };
    let with_log = |e: anyhow::Error| e.context(format!("consumer log: {}", log_tail(&log)));

    eprintln!("  waiting for a probe reading per device to arrive in VictoriaMetrics ...");
    probe(ctx, mosquitto.port, &vm).await.map_err(with_log)?;

    let bar = progress(ctx.work.total as u64, &format!("({}) in VictoriaMetrics", path.letter()));
    let opts = PublishOpts {
        port: mosquitto.port,
        inflight: ctx.args.inflight,
        rate_per_device: ctx.args.rate as f64 / ctx.args.devices as f64,
        sample_every: ctx.args.sample_every,
        tag: format!("bench-{}", path.letter()),
        bar: None,
    };
    let me = std::process::id();
    let (published, polls, cpu, timed_from) = if ctx.args.backlog {
        // The consumer sleeps (SIGSTOP) while Mosquitto queues everything for it.
        let paused = Paused::new(consumer.pid());
        let published = publish(&ctx.work, &opts).await.map_err(with_log)?;
        let generator_cpu = cpu_seconds(me);
        let cpu_before = (cpu_seconds(consumer.pid()), cpu_seconds(mosquitto.child.id()), generator_cpu);
        let resumed = Instant::now();
        drop(paused);
        let (_, done) = watch::channel(true);
        let polls = watch_vm(ctx, &vm, done, &bar).await.map_err(with_log)?;
        let cpu_after = (cpu_seconds(consumer.pid()), cpu_seconds(mosquitto.child.id()), cpu_seconds(me));
        (published, polls, (cpu_before, cpu_after), resumed)
    } else {
        let cpu_before = (cpu_seconds(consumer.pid()), cpu_seconds(mosquitto.child.id()), cpu_seconds(me));
        let (done_tx, done_rx) = watch::channel(false);
        let publishing = async {
            let r = publish(&ctx.work, &opts).await;
            let _ = done_tx.send(true);
            r
        };
        let watching = watch_vm(ctx, &vm, done_rx, &bar);
        let (published, polls) = tokio::join!(publishing, watching);
        let published = published.map_err(with_log)?;
        let cpu_after = (cpu_seconds(consumer.pid()), cpu_seconds(mosquitto.child.id()), cpu_seconds(me));
        let first = published.first_sent;
        (published, polls.map_err(with_log)?, (cpu_before, cpu_after), first)
    };
    bar.finish();
    let (cpu_before, cpu_after) = cpu;

    vm.flush().await?;
    let verified = vm_verify(ctx, &vm).await?;
    let mut m = Measured {
        published: ctx.work.total as u64,
        delivered: verified.correct,
        duplicates: verified.duplicates,
        wrong_values: verified.wrong,
        publish_seconds: published.last_ack.duration_since(published.first_sent).as_secs_f64(),
        consumer_cpu_s: diff(cpu_before.0, cpu_after.0),
        broker_cpu_s: diff(cpu_before.1, cpu_after.1),
        consumer_rss_mib: peak_rss_mib(consumer.pid()),
        ..Measured::default()
    };
    let final_total = polls.last().map_or(0, |p| p.counts.iter().sum::<u64>());
    if let Some(last) = polls.iter().find(|p| p.counts.iter().sum::<u64>() >= final_total && final_total > 0) {
        m.seconds = last.at.saturating_duration_since(timed_from).as_secs_f64();
    }
    if ctx.args.backlog {
        m.notes.push(format!(
            "consumer paused while the devices queued everything in Mosquitto ({:.2} s); drained in {:.2} s",
            m.publish_seconds, m.seconds
        ));
    }
    m.latencies_ms = published
        .samples
        .iter()
        .filter(|_| !ctx.args.backlog)
        .filter_map(|s| {
            let i = polls.partition_point(|p| p.counts.get(s.device).copied().unwrap_or(0) <= s.k as u64);
            polls.get(i).map(|p| p.at.saturating_duration_since(s.sent).as_secs_f64() * 1000.0)
        })
        .collect();
    m.latencies_ms.sort_by(f64::total_cmp);
    if verified.unexpected > 0 {
        m.notes.push(format!("{} readings in VictoriaMetrics that were never published", verified.unexpected));
    }
    m.notes.push(format!(
        "devices got their last PUBACK from Mosquitto after {:.2} s ({:.0} readings/s offered); \
         the load generator (this process: devices, polling) used {} CPU-s",
        m.publish_seconds,
        m.published as f64 / m.publish_seconds.max(1e-9),
        opt(diff(cpu_before.2, cpu_after.2), 1)
    ));

    match consumer {
        Consumer::Fieldline(server) => {
            match fieldline_check(ctx, &server.http).await {
                Ok(c) => m.notes.push(format!("fieldline's own store holds {} of the readings", c.correct)),
                Err(e) => m.notes.push(format!("fieldline's store could not be read: {e:#}")),
            }
            server.stop()?;
        }
        Consumer::Bridge(bridge) => match bridge.stop().await {
            Ok(stats) => m.notes.push(format!("bridge counters: {stats}")),
            Err(e) => m.notes.push(format!("bridge: {e:#}")),
        },
        Consumer::Telegraf(mut child) => terminate(&mut child),
    }
    drop(mosquitto);
    drop(vm);
    Ok(m)
}

/// Path d: devices → fieldline's own MQTT endpoint; delivered = PUBACKed (durable).
async fn endpoint_path(ctx: &Ctx) -> anyhow::Result<Measured> {
    let dir = path_dir(ctx, PathName::D)?;
    let log = dir.join("fieldline-d.log");
    let server =
        start_fieldline(&["--mqtt-listen".into(), "127.0.0.1:0".into()], &dir.join("fieldline"), &ctx.config, &log)?;
    let (_, port) = server.mqtt.rsplit_once(':').context("fieldline's MQTT address has no port")?;
    let port: u16 = port.parse().context("fieldline's MQTT port")?;
    let bar = progress(ctx.work.total as u64, "(d) PUBACKed (durable)");
    let opts = PublishOpts {
        port,
        inflight: ctx.args.inflight,
        rate_per_device: ctx.args.rate as f64 / ctx.args.devices as f64,
        sample_every: ctx.args.sample_every,
        tag: "bench-d".into(),
        bar: Some(bar.clone()),
    };
    let cpu_before = cpu_seconds(server.child.id());
    let published = publish(&ctx.work, &opts).await;
    bar.finish();
    let published = published.map_err(|e| e.context(format!("fieldline log: {}", log_tail(&log))))?;
    let cpu_after = cpu_seconds(server.child.id());
    let seconds = published.last_ack.duration_since(published.first_sent).as_secs_f64();
    let mut latencies: Vec<f64> = published
        .samples
        .iter()
        .filter_map(|s| s.acked.map(|a| a.duration_since(s.sent).as_secs_f64() * 1000.0))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let queryable_from = Instant::now();
    let check = fieldline_check(ctx, &server.http).await?;
    let mut m = Measured {
        published: ctx.work.total as u64,
        delivered: published.acked.min(check.correct),
        duplicates: 0,
        wrong_values: check.wrong,
        seconds,
        publish_seconds: seconds,
        latencies_ms: latencies,
        consumer_cpu_s: diff(cpu_before, cpu_after),
        broker_cpu_s: None,
        consumer_rss_mib: server.peak_rss_mib(),
        notes: Vec::new(),
    };
    m.notes.push(format!(
        "{} PUBACKed; fieldline's query API returns {} of them, all queryable {:.2} s after the last PUBACK",
        published.acked,
        check.correct,
        (queryable_from.duration_since(published.last_ack) + check.waited).as_secs_f64()
    ));
    if check.correct < published.acked {
        m.notes.push(format!("{} PUBACKed readings are missing from the query API", published.acked - check.correct));
    }
    server.stop()?;
    Ok(m)
}

/// A fresh directory for one path's processes under the work dir.
fn path_dir(ctx: &Ctx, path: PathName) -> anyhow::Result<PathBuf> {
    let dir = ctx.root.join(format!("path-{}", path.letter()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn diff(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    Some(after? - before?)
}

// ---------------------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
struct PublishOpts {
    port: u16,
    inflight: u16,
    /// Readings/s per device; 0 = unthrottled.
    rate_per_device: f64,
    sample_every: usize,
    tag: String,
    /// Advanced on every PUBACK (path d).
    bar: Option<ProgressBar>,
}

struct DeviceOutcome {
    first_sent: Option<Instant>,
    last_ack: Option<Instant>,
    acked: u64,
    samples: Vec<Sample>,
}

/// Every device publishes its readings at once, each on its own connection.
async fn publish(work: &Arc<Workload>, opts: &PublishOpts) -> anyhow::Result<Published> {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(work.devices.len());
    for d in 0..work.devices.len() {
        let (work, opts) = (work.clone(), opts.clone());
        tasks.push(tokio::spawn(async move { device(work, d, opts, start).await }));
    }
    let mut first_sent: Option<Instant> = None;
    let mut last_ack: Option<Instant> = None;
    let mut acked = 0;
    let mut samples = Vec::new();
    for task in tasks {
        let outcome = task.await??;
        first_sent = min_instant(first_sent, outcome.first_sent);
        last_ack = last_ack.max(outcome.last_ack);
        acked += outcome.acked;
        samples.extend(outcome.samples);
    }
    Ok(Published {
        first_sent: first_sent.context("nothing was published")?,
        last_ack: last_ack.context("nothing was acknowledged")?,
        acked,
        samples,
    })
}

fn min_instant(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One device: publishes its readings in order with QoS 1 and records, for every sampled
/// reading, when its PUBLISH left and when its PUBACK came back.
async fn device(work: Arc<Workload>, d: usize, opts: PublishOpts, start: Instant) -> anyhow::Result<DeviceOutcome> {
    let load = work.devices.get(d).context("no such device")?;
    let n = load.payloads.len();
    let mut outcome = DeviceOutcome { first_sent: None, last_ack: None, acked: 0, samples: Vec::new() };
    if n == 0 {
        return Ok(outcome);
    }
    let mut options = MqttOptions::new(format!("{}-{d}-{}", opts.tag, std::process::id()), "127.0.0.1", opts.port);
    options.set_inflight(opts.inflight);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, usize::from(opts.inflight) * 2);
    let publisher = tokio::spawn({
        let (client, work, rate) = (client.clone(), work.clone(), opts.rate_per_device);
        async move {
            let load = work.devices.get(d).context("no such device")?;
            for (k, payload) in load.payloads.iter().enumerate() {
                if rate > 0.0 {
                    let due = start + Duration::from_secs_f64(k as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                client.publish(load.topic.as_str(), QoS::AtLeastOnce, false, payload.as_bytes()).await?;
            }
            anyhow::Ok(())
        }
    });
    // The n-th outgoing PUBLISH is reading n: one publisher per connection, sent in order.
    let mut sent = 0usize;
    // pkid → index into `samples` for sampled readings awaiting their PUBACK.
    let mut pending: HashMap<u16, usize> = HashMap::new();
    while (outcome.acked as usize) < n {
        match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                let now = Instant::now();
                outcome.first_sent.get_or_insert(now);
                if sent.is_multiple_of(opts.sample_every) {
                    outcome.samples.push(Sample { device: d, k: sent, sent: now, acked: None });
                    pending.insert(pkid, outcome.samples.len() - 1);
                }
                sent += 1;
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                let now = Instant::now();
                if let Some(i) = pending.remove(&ack.pkid)
                    && let Some(s) = outcome.samples.get_mut(i)
                {
                    s.acked = Some(now);
                }
                outcome.acked += 1;
                outcome.last_ack = Some(now);
                if let Some(bar) = &opts.bar {
                    bar.inc(1);
                }
            }
            Ok(_) => {}
            Err(e) => {
                publisher.abort();
                bail!("device {}: MQTT connection failed: {e}", load.name);
            }
        }
    }
    publisher.await??;
    let _ = client.disconnect().await;
    Ok(outcome)
}

/// Publishes `messages` on one connection with QoS 1 and waits for every PUBACK.
async fn publish_once(port: u16, tag: &str, messages: Vec<(String, String)>) -> anyhow::Result<()> {
    let mut options = MqttOptions::new(format!("{tag}-{}", std::process::id()), "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let n = messages.len();
    let publisher = tokio::spawn({
        let client = client.clone();
        async move {
            for (topic, payload) in messages {
                client.publish(topic, QoS::AtLeastOnce, false, payload).await?;
            }
            anyhow::Ok(())
        }
    });
    let mut acked = 0;
    let result = tokio::time::timeout(Duration::from_secs(10), async {
        while acked < n {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
                Ok(_) => {}
                Err(e) => bail!("MQTT connection failed: {e}"),
            }
        }
        Ok(())
    })
    .await;
    publisher.abort();
    let _ = client.disconnect().await;
    result.context("no PUBACK within 10 s")?
}

/// Publishes one probe reading per device until every one is in VictoriaMetrics (the
/// consumer may subscribe only after the first attempt).
async fn probe(ctx: &Ctx, port: u16, vm: &VictoriaMetrics) -> anyhow::Result<()> {
    let started = Instant::now();
    let n = ctx.work.devices.len();
    loop {
        publish_once(port, "bench-probe", ctx.work.probe_messages()).await?;
        let attempt = Instant::now();
        while attempt.elapsed() < Duration::from_secs(3) {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let counts = vm_counts(ctx, vm, PROBE_MS + 500, 1000).await?;
            if counts.iter().filter(|c| **c > 0).count() == n {
                return Ok(());
            }
        }
        if started.elapsed() > PROBE_TIMEOUT {
            let names = get_json(&ctx.http, &vm.url("/api/v1/label/__name__/values")).await.unwrap_or(Value::Null);
            bail!(
                "the probe readings did not all reach VictoriaMetrics within {} s (metric names there: {})",
                PROBE_TIMEOUT.as_secs(),
                names["data"]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// VictoriaMetrics
// ---------------------------------------------------------------------------------------

/// Unix seconds with milliseconds, as VictoriaMetrics' `time`/`start`/`end` take them.
fn seconds(ms: i64) -> String {
    format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
}

async fn get_json(http: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = http.get(url).send().await.with_context(|| format!("GET {url}"))?;
    let status = response.status();
    if !status.is_success() {
        bail!("GET {url}: {status}: {}", response.text().await.unwrap_or_default());
    }
    Ok(response.json().await?)
}

/// Readings per device with a time in `(at_ms - window_ms, at_ms]`, in device order.
async fn vm_counts(ctx: &Ctx, vm: &VictoriaMetrics, at_ms: i64, window_ms: i64) -> anyhow::Result<Vec<u64>> {
    let query = format!("sum by (device) (count_over_time({VM_SELECTOR}[{window_ms}ms]))");
    let url = format!("{}?query={}&time={}&nocache=1", vm.url("/api/v1/query"), encode(&query), seconds(at_ms));
    let body = get_json(&ctx.http, &url).await?;
    let mut counts = vec![0u64; ctx.work.devices.len()];
    for series in body["data"]["result"].as_array().context("no data.result")? {
        let Some(&d) = series["metric"]["device"].as_str().and_then(|name| ctx.work.index.get(name)) else {
            continue;
        };
        let count = series["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).context("bad count")?;
        if let Some(c) = counts.get_mut(d) {
            *c = count as u64;
        }
    }
    Ok(counts)
}

/// Polls the per-device counts until every reading is there, or nothing new arrived for
/// `--drain-timeout` after the devices finished. Keeps the answers that changed something.
async fn watch_vm(
    ctx: &Ctx,
    vm: &VictoriaMetrics,
    mut done: watch::Receiver<bool>,
    bar: &ProgressBar,
) -> anyhow::Result<Vec<Poll>> {
    let expected = ctx.work.total as u64;
    let drain = Duration::from_secs(ctx.args.drain_timeout);
    let window = ctx.work.end_ms - (BASE_MS - 500);
    let mut polls: Vec<Poll> = Vec::new();
    let mut last_total = 0u64;
    let mut last_change = Instant::now();
    let mut done_at: Option<Instant> = None;
    let mut errors = 0;
    loop {
        let counts = match vm_counts(ctx, vm, ctx.work.end_ms, window).await {
            Ok(c) => {
                errors = 0;
                c
            }
            Err(e) => {
                errors += 1;
                if errors >= 20 {
                    return Err(e.context("VictoriaMetrics failed 20 queries in a row"));
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        let at = Instant::now();
        let total: u64 = counts.iter().sum();
        bar.set_position(total.min(expected));
        if total != last_total || polls.is_empty() {
            last_total = total;
            last_change = at;
            polls.push(Poll { at, counts });
        }
        if total >= expected {
            break;
        }
        if *done.borrow_and_update() {
            let finished = *done_at.get_or_insert(at);
            if at.duration_since(last_change.max(finished)) > drain {
                break;
            }
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(polls)
}

/// Readings checked one by one against the workload.
#[derive(Debug, Default)]
struct Verified {
    /// Distinct published readings found with the published value.
    correct: u64,
    duplicates: u64,
    wrong: u64,
    unexpected: u64,
    /// How long the check waited for the store (fieldline only).
    waited: Duration,
}

impl Verified {
    fn check(&mut self, work: &Workload, seen: &mut [Vec<bool>], d: usize, t_ms: i64, value: f64) {
        let offset = t_ms - BASE_MS;
        let k = offset / work.interval_ms;
        let (Some(load), Some(seen)) = (work.devices.get(d), seen.get_mut(d)) else {
            self.unexpected += 1;
            return;
        };
        let (Ok(k), true) = (usize::try_from(k), offset % work.interval_ms == 0) else {
            self.unexpected += 1;
            return;
        };
        let (Some(expected), Some(flag)) = (load.values.get(k), seen.get_mut(k)) else {
            self.unexpected += 1;
            return;
        };
        if *flag {
            self.duplicates += 1;
        } else if (value - expected).abs() <= 1e-9 * expected.abs().max(1.0) {
            *flag = true;
            self.correct += 1;
        } else {
            self.wrong += 1;
        }
    }
}

/// Exports the measured range from VictoriaMetrics and checks it against the workload.
async fn vm_verify(ctx: &Ctx, vm: &VictoriaMetrics) -> anyhow::Result<Verified> {
    let url = format!(
        "{}?match[]={}&start={}&end={}",
        vm.url("/api/v1/export"),
        encode(VM_SELECTOR),
        seconds(BASE_MS - 500),
        seconds(ctx.work.end_ms)
    );
    let response = ctx.http.get(&url).send().await?;
    if !response.status().is_success() {
        bail!("GET {url}: {}", response.status());
    }
    let body = response.text().await?;
    let mut seen: Vec<Vec<bool>> = ctx.work.devices.iter().map(|d| vec![false; d.values.len()]).collect();
    let mut verified = Verified::default();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let series: Value = serde_json::from_str(line).context("VictoriaMetrics export line")?;
        let times = series["timestamps"].as_array().context("no timestamps")?;
        let values = series["values"].as_array().context("no values")?;
        let device = series["metric"]["device"].as_str().and_then(|n| ctx.work.index.get(n)).copied();
        for (t, v) in times.iter().zip(values) {
            match (device, t.as_i64(), v.as_f64()) {
                (Some(d), Some(t), Some(v)) => verified.check(&ctx.work, &mut seen, d, t, v),
                _ => verified.unexpected += 1,
            }
        }
    }
    Ok(verified)
}

// ---------------------------------------------------------------------------------------
// fieldline
// ---------------------------------------------------------------------------------------

/// `fieldline serve` with `extra` flags on `data_dir`, its log in `log`.
fn start_fieldline(extra: &[String], data_dir: &Path, config: &Path, log: &Path) -> anyhow::Result<Server> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["serve", "--http-listen", "127.0.0.1:0", "--data-dir"]).arg(data_dir).arg("--config").arg(config);
    command.args(extra);
    // A broker or config from the caller's environment would change what is measured.
    for var in [
        "FIELDLINE_CONFIG",
        "FIELDLINE_BROKER",
        "FIELDLINE_BROKER_TOPICS",
        "FIELDLINE_SHARE_GROUP",
        "FIELDLINE_INFLUX_URL",
    ] {
        command.env_remove(var);
    }
    let log_file = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let child = command
        .env("FIELDLINE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .context("starting fieldline serve")?;
    Server::listening(child, None, || format!(": {}", log_tail(log)))
}

/// Reads every device's series back through `/api/v1/query` (after waiting up to 60 s for
/// the readings to become queryable) and checks them against the workload.
async fn fieldline_check(ctx: &Ctx, http_addr: &str) -> anyhow::Result<Verified> {
    let (start, stop) =
        (format_time(BASE_MS * 1_000_000, UtcOffset::UTC), format_time(ctx.work.end_ms * 1_000_000, UtcOffset::UTC));
    let series_url = format!("http://{http_addr}/api/v1/series?measurement={KIND}&field={FIELD}");
    let waiting = Instant::now();
    loop {
        let v = get_json(&ctx.http, &series_url).await?;
        let count: u64 = v["series"].as_array().into_iter().flatten().filter_map(|s| s["count"].as_u64()).sum();
        if count >= ctx.work.total as u64 || waiting.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut verified = Verified { waited: waiting.elapsed(), ..Verified::default() };
    let mut seen: Vec<Vec<bool>> = ctx.work.devices.iter().map(|d| vec![false; d.values.len()]).collect();
    for (d, load) in ctx.work.devices.iter().enumerate() {
        let url = format!(
            "http://{http_addr}/api/v1/query?measurement={KIND}&field={FIELD}&device={}&start={}&stop={}",
            encode(&load.name),
            encode(&start),
            encode(&stop)
        );
        let body = get_json(&ctx.http, &url).await?;
        for series in body["series"].as_array().context("no series")? {
            for point in series["points"].as_array().context("no points")? {
                let t = point[0].as_str().and_then(|t| fieldline_core::time::parse_time(t, 0, UtcOffset::UTC).ok());
                match (t, point[1].as_f64()) {
                    (Some(t_ns), Some(v)) => verified.check(&ctx.work, &mut seen, d, t_ns / 1_000_000, v),
                    _ => verified.unexpected += 1,
                }
            }
        }
    }
    Ok(verified)
}

// ---------------------------------------------------------------------------------------
// Mosquitto, the bridge, Telegraf
// ---------------------------------------------------------------------------------------

struct Mosquitto {
    child: Child,
    port: u16,
}

impl Mosquitto {
    /// Mosquitto on a free loopback port with a config in `dir`: no persistence, and the
    /// queue limits of deploy/mosquitto.conf (the default 1000 queued messages per client
    /// would drop QoS 1 messages to any consumer slower than the devices).
    fn start(binary: &Path, dir: &Path) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let conf = dir.join("mosquitto.conf");
        // Started as root, Mosquitto would switch to the `mosquitto` user.
        // SAFETY: geteuid has no preconditions.
        let user = if unsafe { libc::geteuid() } == 0 { "user root\n" } else { "" };
        std::fs::write(
            &conf,
            format!(
                "{user}listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n\
                 max_queued_messages 1000000\nmax_queued_bytes 0\nmax_inflight_messages 1000\nlog_dest none\n"
            ),
        )?;
        let mut child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                bail!("mosquitto exited at start-up ({status})");
            }
            if started.elapsed() > Duration::from_secs(10) {
                terminate(&mut child);
                bail!("mosquitto did not listen on port {port} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Mosquitto { child, port })
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// A process stopped with SIGSTOP until this is dropped (SIGCONT), so that no error path
/// leaves it stopped (a stopped process would not act on the SIGTERM that ends it).
struct Paused(u32);

impl Paused {
    fn new(pid: u32) -> Self {
        // SAFETY: kill(2) on our own child process.
        unsafe {
            libc::kill(pid as i32, libc::SIGSTOP);
        }
        Paused(pid)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child process.
        unsafe {
            libc::kill(self.0 as i32, libc::SIGCONT);
        }
    }
}

/// The Python interpreter of the bridge's venv, creating the venv when it lacks the packages.
fn prepare_venv(venv: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let venv = match venv {
        Some(v) => v,
        None => std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .context("neither XDG_CACHE_HOME nor HOME is set (or pass --venv)")?
            .join("fieldline")
            .join("bridge-venv"),
    };
    let python = venv.join("bin").join("python");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", "import paho.mqtt.client, influxdb_client; assert paho.mqtt.client.CallbackAPIVersion"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    eprintln!("  creating {} with {} (once) ...", venv.display(), BRIDGE_PACKAGES.join(", "));
    let out = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .context("python3 not found: the Python bridge needs python3 and python3-venv")?;
    if !out.status.success() {
        bail!(
            "python3 -m venv failed (on Debian: apt-get install python3-venv): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let out = Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(BRIDGE_PACKAGES)
        .output()
        .context("running the venv's pip")?;
    if !out.status.success() || !ready(&python) {
        bail!(
            "pip install {} failed (needs PyPI once): {}",
            BRIDGE_PACKAGES.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(python)
}

/// `bench/mqtt_influx_bridge.py` running in the venv.
struct Bridge {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Bridge {
    async fn start(python: &Path, dir: &Path, port: u16, influx_url: &str, log: &Path) -> anyhow::Result<Self> {
        let script = dir.join("mqtt_influx_bridge.py");
        std::fs::write(&script, BRIDGE_SCRIPT)?;
        let log_file = std::fs::File::create(log)?;
        let mut child = Command::new(python)
            .arg(&script)
            .args(["--broker", &format!("127.0.0.1:{port}"), "--url", influx_url, "--org", "bench"])
            .args(["--bucket", "bench", "--batch-size", "5000", "--flush-interval-ms", "1000"])
            .args(["--client-id", &format!("bench-bridge-{}", std::process::id())])
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .context("starting the Python bridge")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, mut lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let subscribed = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.recv().await {
                if line.trim() == "subscribed" {
                    return true;
                }
            }
            false
        })
        .await;
        if subscribed != Ok(true) {
            terminate(&mut child);
            bail!("the bridge did not subscribe within 30 s: {}", log_tail(log));
        }
        Ok(Bridge { child, lines })
    }

    /// SIGTERM (the bridge flushes its write buffer), then its counters line.
    async fn stop(mut self) -> anyhow::Result<String> {
        // SAFETY: kill(2) on our own child process.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let stats = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = self.lines.recv().await {
                if line.starts_with('{') {
                    return Some(line);
                }
            }
            None
        })
        .await;
        terminate(&mut self.child);
        match stats {
            Ok(Some(line)) => Ok(line),
            _ => bail!("the bridge printed no counters on exit"),
        }
    }
}

/// Telegraf with a generated config: `mqtt_consumer` (same topic grammar, JSON via json_v2)
/// → `influxdb_v2`, batches of 5000 flushed every second like the bridge.
fn start_telegraf(binary: &Path, dir: &Path, port: u16, influx_url: &str, log: &Path) -> anyhow::Result<Child> {
    let conf = dir.join("telegraf.conf");
    std::fs::write(
        &conf,
        format!(
            r#"[agent]
  interval = "1s"
  flush_interval = "1s"
  flush_jitter = "0s"
  metric_batch_size = 5000
  metric_buffer_limit = 1000000
  omit_hostname = true

[[outputs.influxdb_v2]]
  urls = ["{influx_url}"]
  token = ""
  organization = "bench"
  bucket = "bench"

[[inputs.mqtt_consumer]]
  servers = ["tcp://127.0.0.1:{port}"]
  topics = ["fl/v1/+/+/+/telemetry"]
  qos = 1
  client_id = "bench-telegraf-{pid}"
  topic_tag = ""
  data_format = "json_v2"
  [[inputs.mqtt_consumer.topic_parsing]]
    topic = "fl/v1/+/+/+/telemetry"
    measurement = "_/_/_/measurement/_/_"
    tags = "_/_/site/_/device/_"
  [[inputs.mqtt_consumer.json_v2]]
    timestamp_path = "ts"
    timestamp_format = "unix_ms"
    [[inputs.mqtt_consumer.json_v2.field]]
      path = "values.{FIELD}"
      rename = "{FIELD}"
      type = "float"
"#,
            pid = std::process::id()
        ),
    )?;
    let log_file = std::fs::File::create(log)?;
    Command::new(binary)
        .arg("--config")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))
}

/// The last lines of a log file, for error messages.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
    if tail.is_empty() { "(empty log)".into() } else { tail }
}

/// User + system CPU seconds of a process so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start with the state, field 3.
    let rest = stat.rsplit_once(')')?.1;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then(|| (utime + stime) / ticks as f64)
}

/// Peak resident set size (VmHWM) of a process in MiB.
fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

// ---------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// 1234567 → "1 234 567".
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

fn baseline_rate(rows: &[(PathName, Outcome)]) -> Option<f64> {
    rows.iter().find_map(|(p, o)| match (p, o) {
        (PathName::B, Outcome::Measured(m)) if m.rate() > 0.0 => Some(m.rate()),
        _ => None,
    })
}

fn print_table(args: &PipelinesArgs, rows: &[(PathName, Outcome)]) {
    let offered = match (args.backlog, args.rate) {
        (true, _) => "BACKLOG: each consumer paused while the devices publish, then timed draining it".to_string(),
        (false, 0) => "unthrottled".to_string(),
        (false, rate) => format!("{rate} readings/s offered"),
    };
    println!();
    println!(
        "{} readings (1 per message, JSON) from {} devices, QoS 1, {} in flight each, {offered}, seed {}; latency of 1 in {}",
        grouped(args.readings as u64),
        args.devices,
        args.inflight,
        args.seed,
        args.sample_every
    );
    println!();
    let base = baseline_rate(rows);
    println!(
        "{:<38} {:>9} {:>11} {:>7} {:>9} {:>9} {:>7} {:>5} {:>13} {:>10} {:>8}",
        "path",
        "delivered",
        "readings/s",
        "vs (b)",
        "p50 ms",
        "p99 ms",
        "loss",
        "dup",
        "CPU s cons/mq",
        "rd/cons-CPU-s",
        "RSS MiB"
    );
    for (path, outcome) in rows {
        match outcome {
            Outcome::Measured(m) => {
                let ratio = base.map_or("-".into(), |b| format!("{:.2}x", m.rate() / b));
                let cpu = format!("{}/{}", opt(m.consumer_cpu_s, 1), opt(m.broker_cpu_s, 1));
                println!(
                    "{:<38} {:>9} {:>11} {:>7} {:>9} {:>9} {:>7} {:>5} {:>13} {:>10} {:>8}",
                    path.label(),
                    grouped(m.delivered),
                    grouped(m.rate().round() as u64),
                    ratio,
                    ms(percentile(&m.latencies_ms, 0.50)),
                    ms(percentile(&m.latencies_ms, 0.99)),
                    grouped(m.loss()),
                    grouped(m.duplicates),
                    cpu,
                    m.per_cpu_s().map_or("-".into(), |r| grouped(r.round() as u64)),
                    opt(m.consumer_rss_mib, 0),
                );
            }
            Outcome::Skipped(why) => println!("{:<38} skipped: {why}", path.label()),
            Outcome::Failed(why) => println!("{:<38} FAILED: {why}", path.label()),
        }
    }
    println!();
    println!("delivered = in VictoriaMetrics (a-c; latency PUBLISH -> visible, polled every 50 ms)");
    println!("            or PUBACKed by fieldline = in its fsync'd WAL (d; latency PUBLISH -> PUBACK)");
    if args.backlog {
        println!("readings/s = delivered / (consumer resumed .. last delivered); CPU s = consumer / Mosquitto");
    } else {
        println!("readings/s = delivered / (first PUBLISH .. last delivered); CPU s = consumer / Mosquitto");
    }
    println!("rd/cons-CPU-s = delivered readings per CPU-second of the consumer process (fieldline, bridge, Telegraf)");
    for (path, outcome) in rows {
        if let Outcome::Measured(m) = outcome {
            for note in &m.notes {
                println!("({}) {note}", path.letter());
            }
            if m.wrong_values > 0 {
                println!("({}) {} readings arrived with a wrong value", path.letter(), m.wrong_values);
            }
        }
    }
}

fn to_json(args: &PipelinesArgs, rows: &[(PathName, Outcome)]) -> Value {
    let base = baseline_rate(rows);
    let rows: Vec<Value> = rows
        .iter()
        .map(|(path, outcome)| match outcome {
            Outcome::Measured(m) => json!({
                "path": path.letter(),
                "label": path.label(),
                "published": m.published,
                "delivered": m.delivered,
                "loss": m.loss(),
                "duplicates": m.duplicates,
                "wrong_values": m.wrong_values,
                "seconds": m.seconds,
                "publish_seconds": m.publish_seconds,
                "readings_per_s": m.rate(),
                "vs_bridge": base.map(|b| m.rate() / b),
                "latency_ms_p50": percentile(&m.latencies_ms, 0.50),
                "latency_ms_p99": percentile(&m.latencies_ms, 0.99),
                "latency_samples": m.latencies_ms.len(),
                "consumer_cpu_s": m.consumer_cpu_s,
                "readings_per_consumer_cpu_s": m.per_cpu_s(),
                "broker_cpu_s": m.broker_cpu_s,
                "consumer_peak_rss_mib": m.consumer_rss_mib,
                "notes": m.notes,
            }),
            Outcome::Skipped(why) => json!({"path": path.letter(), "label": path.label(), "skipped": why}),
            Outcome::Failed(why) => json!({"path": path.letter(), "label": path.label(), "failed": why}),
        })
        .collect();
    json!({
        "readings": args.readings,
        "devices": args.devices,
        "inflight": args.inflight,
        "rate": args.rate,
        "backlog": args.backlog,
        "seed": args.seed,
        "sample_every": args.sample_every,
        "paths": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_splits_readings_over_one_day() {
        let w = Workload::new(10, 3, 1).unwrap();
        let sizes: Vec<usize> = w.devices.iter().map(|d| d.payloads.len()).collect();
        assert_eq!(sizes, [4, 3, 3]);
        assert_eq!(w.interval_ms, 1000);
        assert!(w.end_ms < PROBE_MS);
        assert_eq!(
            w.devices[1].payloads[0],
            format!("{{\"ts\":{BASE_MS},\"values\":{{\"soil_vwc_pct\":{:.2}}}}}", w.devices[1].values[0])
        );
        // More readings than seconds in the span: the interval shrinks, the day still holds them.
        let w = Workload::new(200_000, 1, 1).unwrap();
        assert_eq!(w.interval_ms, 430);
        assert!(w.end_ms < PROBE_MS);
        // Same seed, same values.
        assert_eq!(
            Workload::new(50, 2, 7).unwrap().devices[1].values,
            Workload::new(50, 2, 7).unwrap().devices[1].values
        );
    }

    #[test]
    fn verification_counts_duplicates_wrong_and_unexpected() {
        let w = Workload::new(4, 2, 3).unwrap();
        let mut seen: Vec<Vec<bool>> = w.devices.iter().map(|d| vec![false; d.values.len()]).collect();
        let mut v = Verified::default();
        let (v0, v1) = (w.devices[0].values[0], w.devices[0].values[1]);
        v.check(&w, &mut seen, 0, BASE_MS, v0);
        v.check(&w, &mut seen, 0, BASE_MS, v0);
        v.check(&w, &mut seen, 0, BASE_MS + 1000, v1 + 1.0);
        v.check(&w, &mut seen, 0, BASE_MS + 500, v0);
        v.check(&w, &mut seen, 0, BASE_MS + 5000, v0);
        v.check(&w, &mut seen, 9, BASE_MS, v0);
        assert_eq!((v.correct, v.duplicates, v.wrong, v.unexpected), (1, 1, 1, 3));
    }

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(200_000), "200 000");
        assert_eq!(grouped(1_234_567), "1 234 567");
        assert!(percentile(&[], 0.5).is_nan());
        assert_eq!(percentile(&[1.0, 2.0, 3.0], 0.5), 2.0);
    }
}
