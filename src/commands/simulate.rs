//! `fieldline simulate`: run a field scenario and write its readings to files, to a running
//! fieldline over HTTP, or live over MQTT. The models live in the `fieldline-sim` crate (`sim/`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;
use clap::Args;

use fieldline_core::time::{parse_duration, parse_offset, parse_time};
use fieldline_sim::live::{self, HttpOptions, LiveOptions};
use fieldline_sim::output::{self, Format, open_ground_truth};
use fieldline_sim::{Scenario, SimOptions, Simulation, rfc3339};

const AFTER_HELP: &str = "\
Modes:
  --out DIR     Write history as fast as possible: one file per device kind (CSV, or
                Parquet with --format parquet) plus ground_truth.jsonl (every injected fault
                and operational event). --start defaults to 2026-03-01 (local time), so
                the same command always writes the same bytes; --days defaults to 60.
  --http URL    Write --backfill-days of history ending at --start (default: now) to a
                running fieldline over HTTP line protocol, in large concurrent batches;
                then, if --mqtt is given too, continue live from --start.
  --mqtt URL    Publish live: each device on its own cadence (SCADA, inverters, plant
                meters, met stations every minute, peony plots every 10 min, traps hourly,
                NWP as issued) to fl/v1/{site}/{kind}/{device}/telemetry as JSON, QoS 1.
                The simulated clock starts at --start (default: now) and runs --speed
                times faster than the wall clock (--speed 60: one simulated minute per
                second), so with --speed > 1 it runs ahead of real time; --max-ahead caps
                that (e.g. --max-ahead 0s: catch up to now, then continue in real time).
                --days stops after that many simulated days.

The same --scenario, --seed and --start give byte-identical output. Scenarios: the built-in
`heze` (wind farm, PV plant, met stations, peony plots, pest traps, NWP feeds near Heze) or a
TOML file in the same format (see sim/src/heze.toml).

Examples:
  fieldline simulate --out sim-data
  fieldline simulate --out sim-data --format parquet --start 2026-06-01 --days 30 --seed 7
  fieldline simulate --http http://127.0.0.1:8080 --backfill-days 60 --mqtt mqtt://127.0.0.1:1883 --speed 60";

/// `fieldline simulate`
#[derive(Debug, Clone, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct SimulateArgs {
    /// Scenario: `heze` (built in) or a scenario TOML file.
    #[arg(long, default_value = "heze", value_name = "NAME|FILE")]
    pub scenario: String,
    /// Seed of every random stream; the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// First simulated instant: a date (midnight local time), RFC 3339, `now` or `-7d`.
    /// Default: 2026-03-01 with --out, now otherwise.
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Simulated days: the length of --out history (default 60), or when to stop streaming.
    #[arg(long, value_name = "DAYS")]
    pub days: Option<f64>,
    /// Write history files into DIR.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["mqtt", "http"])]
    pub out: Option<PathBuf>,
    /// File format of --out.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Publish live to this MQTT endpoint or broker: mqtt://[user:password@]host:port.
    #[arg(long, value_name = "URL")]
    pub mqtt: Option<String>,
    /// Write history to this fieldline over HTTP (http://host:port), before going live.
    #[arg(long, value_name = "URL", requires = "backfill_days")]
    pub http: Option<String>,
    /// Days of history --http writes, ending at --start.
    #[arg(long, value_name = "DAYS", requires = "http")]
    pub backfill_days: Option<f64>,
    /// Simulated seconds per wall-clock second in live mode.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Live mode: never run further ahead of the wall clock than this (e.g. 0s, 1h).
    #[arg(long, value_name = "DURATION")]
    pub max_ahead: Option<String>,
    /// Inject no faults (overrides the scenario's [faults]).
    #[arg(long)]
    pub no_faults: bool,
    /// Append ground truth to FILE in --http/--mqtt modes (--out always writes DIR/ground_truth.jsonl).
    #[arg(long, value_name = "FILE")]
    pub ground_truth: Option<PathBuf>,
    /// API token for --http, if the server requires one.
    #[arg(long, env = "FIELDLINE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Concurrent HTTP write requests.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Gzip the HTTP batches (worth it over a network, not on loopback).
    #[arg(long)]
    pub gzip: bool,
}

/// Default start of `--out` runs: the peony season (bud break to bloom, the spring frost
/// risk, spring winds and the black cutworm flight) in local time.
const DEFAULT_OUT_START: &str = "2026-03-01";

/// `days` as whole seconds (rounded to the minute).
fn days_to_seconds(days: f64, flag: &str) -> anyhow::Result<i64> {
    if !(days.is_finite() && days > 0.0 && days <= 3660.0) {
        bail!("{flag} must be a number of days between 0 and 3660");
    }
    Ok(((days * 86_400.0 / 60.0).round() as i64).max(1) * 60)
}

pub async fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let scenario = Scenario::load(&args.scenario)?;
    let offset = parse_offset(&scenario.timezone)?;
    let now_ns = fieldline_core::time::now_ns();
    let parse_start = |s: &str| -> anyhow::Result<i64> { Ok(parse_time(s, now_ns, offset)?.div_euclid(1_000_000_000)) };

    if let Some(dir) = &args.out {
        let start = parse_start(args.start.as_deref().unwrap_or(DEFAULT_OUT_START))?;
        let end = start + days_to_seconds(args.days.unwrap_or(60.0), "--days")?;
        let options = SimOptions { seed: args.seed, start, end: Some(end), faults: !args.no_faults };
        let started = Instant::now();
        let summary = tokio::task::spawn_blocking({
            let dir = dir.clone();
            let format = args.format;
            move || output::write_history(&scenario, &options, end, &dir, format)
        })
        .await??;
        let seconds = started.elapsed().as_secs_f64();
        for (path, rows) in &summary.files {
            println!("{:>10}  {}", rows, path.display());
        }
        println!(
            "simulated {} to {}: {} readings, {} ground-truth events, {} files in {:.1} s",
            rfc3339(start),
            rfc3339(end),
            summary.rows,
            summary.events,
            summary.files.len(),
            seconds
        );
        return Ok(());
    }

    if args.http.is_none() && args.mqtt.is_none() {
        bail!("choose a mode: --out DIR, --http URL --backfill-days N, and/or --mqtt URL (see --help)");
    }
    let live_start = parse_start(args.start.as_deref().unwrap_or("now"))?;
    let backfill_s = args.backfill_days.map(|d| days_to_seconds(d, "--backfill-days")).transpose()?.unwrap_or(0);
    let sim_start = live_start - backfill_s;
    let until = args.days.map(|d| days_to_seconds(d, "--days")).transpose()?.map(|s| live_start + s);
    let max_ahead_s = args.max_ahead.as_deref().map(parse_duration).transpose()?.map(|ns| ns.div_euclid(1_000_000_000));
    let window_end = if backfill_s > 0 { Some(live_start) } else { until };
    let options = SimOptions { seed: args.seed, start: sim_start, end: window_end, faults: !args.no_faults };
    let mut sim = Simulation::new(&scenario, &options)?;
    let mut truth_file = open_ground_truth(args.ground_truth.as_deref())?;

    if let Some(url) = &args.http {
        let http = HttpOptions {
            url: url.clone(),
            token: args.token.clone(),
            concurrency: args.concurrency,
            batch_bytes: 4 << 20,
            gzip: args.gzip,
        };
        eprintln!("backfilling {} to {} into {url} ...", rfc3339(sim_start), rfc3339(live_start));
        let (done, report) = live::backfill_http(sim, live_start, &http).await?;
        sim = done;
        if let Some(file) = truth_file.as_mut() {
            output::append_ground_truth(file, &sim.take_ground_truth())?;
        }
        println!(
            "backfilled {} readings in {} requests ({:.1} MiB) in {:.1} s ({:.0} readings/s)",
            report.points,
            report.requests,
            report.bytes as f64 / 1048576.0,
            report.seconds,
            report.points as f64 / report.seconds.max(1e-9)
        );
    }

    let Some(broker) = &args.mqtt else {
        return Ok(());
    };
    let live = LiveOptions {
        broker: broker.clone(),
        client_id: format!("fieldline-simulate-{}-{}", scenario.name, std::process::id()),
        speed: args.speed,
        max_ahead_s,
        until,
    };
    eprintln!("streaming live from {} at {}x to {broker} (Ctrl-C stops)", rfc3339(sim.clock()), args.speed);
    let truth: Option<&mut (dyn std::io::Write + Send)> =
        truth_file.as_mut().map(|f| f as &mut (dyn std::io::Write + Send));
    let (mut sim, report) = live::stream_mqtt(sim, &live, truth, crate::server::shutdown_signal()).await?;
    if let Some(file) = truth_file.as_mut() {
        // Events still running when streaming stopped, clipped to where it stopped.
        output::append_ground_truth(file, &sim.finish())?;
    }
    println!(
        "published {} readings in {} messages ({} acknowledged), simulated up to {}",
        report.readings,
        report.messages,
        report.acknowledged,
        rfc3339(report.simulated_until)
    );
    Ok(())
}
