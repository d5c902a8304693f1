//! `fieldline bench query`: how fast fieldline answers the queries users make, next to the
//! engines a deployment would otherwise reach for, on the same data in the same run.
//!
//! One simulator run (the `heze` scenario by default, N days ending a week ago at local
//! midnight) is encoded once as line protocol; the same batches are written to a fresh
//! `fieldline serve` and to VictoriaMetrics over their `/api/v2/write` endpoints, and DuckDB
//! reads the Parquet files fieldline wrote. Each server is restarted before it is queried (so
//! nothing is served from write buffers; the files are in the page cache), every query runs
//! once to warm up and then `--rounds` times, and the table reports medians and ratios. The
//! answers of every engine are compared point by point with fieldline's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::commands::progress;
use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use fieldline_core::time::{NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE, format_time, parse_offset, parse_time};
use fieldline_sim::output::LineProtocolSink;
use fieldline_sim::{Scenario, SimOptions, Simulation};
use indicatif::ProgressBar;
use serde_json::Value;
use time::UtcOffset;

use super::peers::{DuckDb, VictoriaMetrics, encode};
use super::{Server, disk_bytes};

const AFTER_HELP: &str = "\
The five queries (each over the last 30 days of data unless said):
  Q1 one turbine's power, 15-min mean      Q2 the same series raw
  Q3 20 turbines' power, 1-h mean          Q4 a plant's daily max over all days (UTC+8 days)
  Q5 list all series

Peers, loaded with the same data in the same run:
  victoria-metrics  Debian's `victoria-metrics` (apt-get install victoria-metrics), loaded
                    through its /api/v2/write; queried with nocache=1 (fieldline has no
                    result cache either) via /api/v1/query_range, /api/v1/export, /api/v1/series.
  duckdb            Python `duckdb` in a venv this command creates under
                    ~/.cache/fieldline/bench-venv (pip install, needs PyPI once), reading
                    fieldline's own Parquet files. Times are DuckDB's own (no HTTP).
A peer that is not installed is reported as skipped; fieldline's figures are still printed.

fieldline runs with its forecast and alert jobs off, so the load and the queries measure the
store alone. Answers are compared per series and timestamp (values within 1e-9 relative:
VictoriaMetrics stores floats with 12 significant digits at most).

Examples:
  fieldline bench query                      # 60 days, both peers, median of 7
  fieldline bench query --days 10 --peers none --rounds 3";

/// `fieldline bench query`
#[derive(Debug, Clone, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct QueryArgs {
    /// Days of simulator data to load.
    #[arg(long, default_value_t = 60)]
    pub days: u32,
    /// Scenario: `heze` (built in) or a scenario TOML file.
    #[arg(long, default_value = "heze", value_name = "NAME|FILE")]
    pub scenario: String,
    /// Seed of the simulator.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Timed runs of each query (after one warm-up run); the table shows the median.
    #[arg(long, default_value_t = 7)]
    pub rounds: usize,
    /// Engines to compare with, comma-separated, or `none`.
    #[arg(long, value_delimiter = ',', default_value = "victoria-metrics,duckdb")]
    pub peers: Vec<PeerName>,
    /// Keep the data of every engine in DIR (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// The VictoriaMetrics single-node binary.
    #[arg(long, default_value = "victoria-metrics", value_name = "PATH")]
    pub victoria_metrics: PathBuf,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PeerName {
    VictoriaMetrics,
    Duckdb,
    None,
}

/// Relative difference two engines' values may have and still agree.
const TOLERANCE: f64 = 1e-9;
/// Line-protocol batch size (the simulator's HTTP backfill uses the same).
const BATCH_BYTES: usize = 4 << 20;
/// Concurrent write requests while loading.
const LOAD_CONCURRENCY: usize = 4;

/// One query as each engine spells it.
pub struct BenchQuery {
    pub name: &'static str,
    /// Path and query string of fieldline's `/api/v1/query` or `/api/v1/series`.
    pub fieldline: String,
    pub vm: Option<VmRequest>,
    /// SQL over `{root}` (fieldline's Parquet directory); columns key tags…, t (ms), v.
    pub duckdb: Option<String>,
}

/// How a query is asked of VictoriaMetrics.
pub enum VmRequest {
    /// `/api/v1/query_range` of `expr` from `start_ms` every `step_ms` up to `end_ms`; the
    /// answer's timestamps are window ends and are mapped back to window starts.
    Range { expr: String, start_ms: i64, end_ms: i64, step_ms: i64 },
    /// `/api/v1/export` of the raw samples of `selector` in [start_ms, end_ms].
    Export { selector: String, start_ms: i64, end_ms: i64 },
    /// `/api/v1/series` matching every series in [start_ms, end_ms].
    Series { start_ms: i64, end_ms: i64 },
}

/// A query's answer in a form every engine's can be compared in.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Series key (`site=…,device=…`) → (time in ms, value), time-ordered.
    Points(BTreeMap<String, Vec<(i64, f64)>>),
    /// Series names `measurement_field{tag=value,…}`.
    Names(std::collections::BTreeSet<String>),
}

impl Answer {
    fn size(&self) -> String {
        match self {
            Answer::Points(series) => {
                let points: usize = series.values().map(Vec::len).sum();
                format!("{} series, {} points", series.len(), points)
            }
            Answer::Names(names) => format!("{} series", names.len()),
        }
    }

    /// `None` when `other` agrees with `self`; otherwise what differs first.
    fn disagreement(&self, other: &Answer) -> Option<String> {
        match (self, other) {
            (Answer::Points(a), Answer::Points(b)) => {
                if a.len() != b.len() || a.keys().ne(b.keys()) {
                    return Some(format!(
                        "series differ: {:?} vs {:?}",
                        a.keys().collect::<Vec<_>>(),
                        b.keys().collect::<Vec<_>>()
                    ));
                }
                for (key, pa) in a {
                    let pb = &b[key];
                    if pa.len() != pb.len() {
                        return Some(format!("{key}: {} points vs {}", pa.len(), pb.len()));
                    }
                    for ((ta, va), (tb, vb)) in pa.iter().zip(pb) {
                        let scale = va.abs().max(vb.abs()).max(1e-12);
                        if ta != tb || (va - vb).abs() / scale > TOLERANCE {
                            let at = format_time(ta * 1_000_000, UtcOffset::UTC);
                            return Some(format!("{key} at {at}: {va} vs {vb} (at {tb} ms)"));
                        }
                    }
                }
                None
            }
            (Answer::Names(a), Answer::Names(b)) => {
                let missing: Vec<_> = a.difference(b).take(3).collect();
                let extra: Vec<_> = b.difference(a).take(3).collect();
                (a != b).then(|| {
                    format!("{} vs {} series; only in fieldline {missing:?}, only in peer {extra:?}", a.len(), b.len())
                })
            }
            _ => Some("different kinds of answer".into()),
        }
    }
}

/// One engine's figures for one query.
pub struct Timing {
    pub median_ms: f64,
    pub answer: Answer,
}

/// The key columns every answer is grouped by.
pub const KEY_TAGS: [&str; 2] = ["site", "device"];

pub fn series_key(tag: impl Fn(&str) -> Option<String>) -> String {
    KEY_TAGS.iter().map(|k| format!("{k}={}", tag(k).unwrap_or_default())).collect::<Vec<_>>().join(",")
}

/// The five queries, for data in [start_ns, end_ns); daily windows in `timezone` (e.g. +08:00).
fn queries(start_ns: i64, end_ns: i64, offset: UtcOffset, timezone: &str) -> Vec<BenchQuery> {
    let recent = end_ns - 30 * NS_PER_DAY;
    let (start_ms, recent_ms, end_ms) = (start_ns / 1_000_000, recent / 1_000_000, end_ns / 1_000_000);
    let at = |ns: i64| format_time(ns, UtcOffset::UTC);
    let (from, to, all_from) = (at(recent), at(end_ns), at(start_ns));
    let offset_ms = i64::from(offset.whole_seconds()) * 1000;
    let tz_param = encode(timezone);
    let parquet = |m: &str| format!("read_parquet('{{root}}/{m}/*.parquet', union_by_name = true)");
    let between = |a: i64, b: i64| format!("time >= to_timestamp({}) AND time < to_timestamp({})", a / 1000, b / 1000);
    let window_sql = |field: &str, agg: &str, every_ms: i64, off_ms: i64, filter: &str, a: i64, b: i64, m: &str| {
        format!(
            "SELECT site, device, ((epoch_ms(time::TIMESTAMPTZ) + {off_ms}) // {every_ms}) * {every_ms} - {off_ms} AS t, {agg}({field}) AS v \
             FROM {} WHERE {filter} AND {} AND {field} IS NOT NULL GROUP BY ALL ORDER BY ALL",
            parquet(m),
            between(a, b)
        )
    };
    let minutes = |n: i64| n * NS_PER_MINUTE / 1_000_000;
    vec![
        BenchQuery {
            name: "one turbine's power, 15-min mean",
            fieldline: format!(
                "/api/v1/query?measurement=wind_turbine&field=power_kw&device=wt07&start={from}&stop={to}&every=15m&agg=mean"
            ),
            vm: Some(VmRequest::Range {
                expr: "avg_over_time(wind_turbine_power_kw{device=\"wt07\"}[15m])".into(),
                start_ms: recent_ms,
                end_ms,
                step_ms: minutes(15),
            }),
            duckdb: Some(window_sql(
                "power_kw",
                "avg",
                minutes(15),
                0,
                "device = 'wt07'",
                recent_ms,
                end_ms,
                "wind_turbine",
            )),
        },
        BenchQuery {
            name: "same series raw",
            fieldline: format!(
                "/api/v1/query?measurement=wind_turbine&field=power_kw&device=wt07&start={from}&stop={to}&limit=1000000"
            ),
            vm: Some(VmRequest::Export {
                selector: "wind_turbine_power_kw{device=\"wt07\"}".into(),
                start_ms: recent_ms,
                end_ms: end_ms - 1,
            }),
            duckdb: Some(format!(
                "SELECT site, device, epoch_ms(time::TIMESTAMPTZ) AS t, power_kw AS v FROM {} \
                 WHERE device = 'wt07' AND {} AND power_kw IS NOT NULL ORDER BY ALL",
                parquet("wind_turbine"),
                between(recent_ms, end_ms)
            )),
        },
        BenchQuery {
            name: "20 turbines, 1-h mean",
            fieldline: format!(
                "/api/v1/query?measurement=wind_turbine&field=power_kw&start={from}&stop={to}&every=1h&agg=mean"
            ),
            vm: Some(VmRequest::Range {
                expr: "avg_over_time(wind_turbine_power_kw[1h])".into(),
                start_ms: recent_ms,
                end_ms,
                step_ms: NS_PER_HOUR / 1_000_000,
            }),
            duckdb: Some(window_sql(
                "power_kw",
                "avg",
                NS_PER_HOUR / 1_000_000,
                0,
                "true",
                recent_ms,
                end_ms,
                "wind_turbine",
            )),
        },
        BenchQuery {
            name: "plant daily max, all days",
            fieldline: format!(
                "/api/v1/query?measurement=plant&field=power_mw&site=heze-wind&start={all_from}&stop={to}&every=1d&agg=max&tz={tz_param}"
            ),
            vm: Some(VmRequest::Range {
                expr: "max_over_time(plant_power_mw{site=\"heze-wind\"}[1d])".into(),
                start_ms,
                end_ms,
                step_ms: NS_PER_DAY / 1_000_000,
            }),
            duckdb: Some(window_sql(
                "power_mw",
                "max",
                NS_PER_DAY / 1_000_000,
                offset_ms,
                "site = 'heze-wind'",
                start_ms,
                end_ms,
                "plant",
            )),
        },
        BenchQuery {
            name: "list all series",
            fieldline: "/api/v1/series".into(),
            vm: Some(VmRequest::Series { start_ms, end_ms: end_ms + 30 * NS_PER_DAY / 1_000_000 }),
            duckdb: None,
        },
    ]
}

/// fieldline's JSON answer in comparable form.
fn fieldline_answer(body: &Value, series_list: bool) -> anyhow::Result<Answer> {
    let series = body["series"].as_array().context("no series in the answer")?;
    if series_list {
        let names = series
            .iter()
            .map(|s| {
                let tags = s["tags"].as_object().map(|t| {
                    t.iter()
                        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                        .collect::<Vec<_>>()
                        .join(",")
                });
                format!(
                    "{}_{}{{{}}}",
                    s["measurement"].as_str().unwrap_or_default(),
                    s["field"].as_str().unwrap_or_default(),
                    tags.unwrap_or_default()
                )
            })
            .collect();
        return Ok(Answer::Names(names));
    }
    let mut out = BTreeMap::new();
    for s in series {
        let key = series_key(|k| s["tags"][k].as_str().map(str::to_string));
        let mut points = Vec::new();
        for p in s["points"].as_array().context("no points")? {
            let t = p[0].as_str().context("point without a time")?;
            let ns = parse_time(t, 0, UtcOffset::UTC).with_context(|| format!("time {t}"))?;
            let v = match &p[1] {
                Value::Bool(b) => f64::from(u8::from(*b)),
                v => v.as_f64().context("point without a number")?,
            };
            points.push((ns / 1_000_000, v));
        }
        out.insert(key, points);
    }
    Ok(Answer::Points(out))
}

/// Runs `request` once to warm up, then `rounds` times; the median and the last answer.
pub async fn time_rounds<F, Fut>(rounds: usize, mut request: F) -> anyhow::Result<Timing>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Answer>>,
{
    let mut answer = request().await?;
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        answer = request().await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(Timing { median_ms: median(&mut times), answer })
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The simulator's readings as line-protocol batches, generated once for every engine.
struct Dataset {
    batches: Vec<String>,
    readings: u64,
    bytes: u64,
    start_ns: i64,
    end_ns: i64,
}

fn generate(args: &QueryArgs, scenario: &Scenario, offset: UtcOffset) -> anyhow::Result<Dataset> {
    if args.days == 0 || args.days > 3660 {
        bail!("--days must be between 1 and 3660");
    }
    // N days ending at local midnight a week ago: NWP runs (valid up to days ahead) stay in
    // the past, where VictoriaMetrics accepts them, and the daily windows are whole days.
    let now = fieldline_core::time::now_ns();
    let local_day = (now + i64::from(offset.whole_seconds()) * 1_000_000_000).div_euclid(NS_PER_DAY);
    let end_ns = (local_day - 7) * NS_PER_DAY - i64::from(offset.whole_seconds()) * 1_000_000_000;
    let start_ns = end_ns - i64::from(args.days) * NS_PER_DAY;
    let (start_s, end_s) = (start_ns / 1_000_000_000, end_ns / 1_000_000_000);
    let options = SimOptions { seed: args.seed, start: start_s, end: Some(end_s), faults: true };
    let mut sim = Simulation::new(scenario, &options)?;
    let bar = progress(u64::from(args.days), "simulating (days)");
    let mut batches = Vec::new();
    let mut sink = LineProtocolSink::new(BATCH_BYTES, |batch| {
        batches.push(batch);
        Ok(())
    });
    for day in 1..=i64::from(args.days) {
        sim.run_until(start_s + day * 86_400, &mut sink)?;
        bar.set_position(day as u64);
    }
    let readings = sink.finish()?;
    bar.finish_and_clear();
    let bytes = batches.iter().map(|b| b.len() as u64).sum();
    Ok(Dataset { batches, readings, bytes, start_ns, end_ns })
}

/// POSTs every batch to `url` with a few requests in flight; the readings/s until the last
/// acknowledgement.
pub async fn load(url: &str, batches: &[String], readings: u64, what: &str) -> anyhow::Result<f64> {
    let client = reqwest::Client::new();
    let bar = progress(batches.len() as u64, what);
    let started = Instant::now();
    let mut inflight = tokio::task::JoinSet::new();
    for batch in batches {
        while inflight.len() >= LOAD_CONCURRENCY {
            if let Some(done) = inflight.join_next().await {
                done??;
                bar.inc(1);
            }
        }
        let (client, url, body) = (client.clone(), url.to_string(), batch.clone());
        inflight.spawn(async move {
            let response = client.post(&url).body(body).send().await.with_context(|| format!("POST {url}"))?;
            let status = response.status();
            if !status.is_success() {
                let text = response.text().await.unwrap_or_default();
                bail!("POST {url}: {status} {}", text.chars().take(300).collect::<String>());
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = inflight.join_next().await {
        done??;
        bar.inc(1);
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    Ok(readings as f64 / seconds.max(1e-9))
}

/// GETs `url` and parses the JSON body.
pub async fn get_json(client: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = client.get(url).send().await.with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.bytes().await?;
    if !status.is_success() {
        bail!("GET {url}: {status} {}", String::from_utf8_lossy(&body).chars().take(300).collect::<String>());
    }
    serde_json::from_slice(&body).with_context(|| format!("GET {url}: not JSON"))
}

/// One engine's results: load rate, size on disk, and per query a timing or why not.
struct EngineResult {
    name: &'static str,
    readings_per_s: Option<f64>,
    disk_bytes: Option<u64>,
    timings: Vec<Option<Timing>>,
    skipped: Option<String>,
    /// Seconds the background compaction took after the load (fieldline only).
    compaction_s: Option<f64>,
}

impl EngineResult {
    /// A peer that could not run, and why.
    fn skipped(name: &'static str, why: anyhow::Error) -> Self {
        EngineResult {
            name,
            readings_per_s: None,
            disk_bytes: None,
            timings: Vec::new(),
            skipped: Some(format!("{why:#}")),
            compaction_s: None,
        }
    }
}

/// `dir`, emptied: each run loads an engine from scratch.
fn fresh_dir(dir: PathBuf) -> anyhow::Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    Ok(dir)
}

pub async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let scenario = Scenario::load(&args.scenario)?;
    let offset = parse_offset(&scenario.timezone)?;
    let work = match &args.work_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            (dir.clone(), None)
        }
        None => {
            let t = tempfile::tempdir()?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let (work_dir, _guard) = work;
    let peers: Vec<PeerName> = args.peers.iter().copied().filter(|p| *p != PeerName::None).collect();

    let generation = Instant::now();
    let data = {
        let (args, scenario) = (args.clone(), scenario.clone());
        tokio::task::spawn_blocking(move || generate(&args, &scenario, offset)).await??
    };
    eprintln!(
        "simulated {} days ({} to {}): {} readings, {:.0} MiB of line protocol in {:.1} s",
        args.days,
        format_time(data.start_ns, offset),
        format_time(data.end_ns, offset),
        data.readings,
        data.bytes as f64 / 1048576.0,
        generation.elapsed().as_secs_f64()
    );
    let queries = queries(data.start_ns, data.end_ns, offset, &scenario.timezone);

    let fieldline = run_fieldline(&args, &work_dir, &data, &queries).await?;
    let mut results = vec![fieldline];
    for peer in peers {
        let result = match peer {
            PeerName::VictoriaMetrics => run_victoria_metrics(&args, &work_dir, &data, &queries)
                .await
                .unwrap_or_else(|e| EngineResult::skipped("VictoriaMetrics", e)),
            PeerName::Duckdb => {
                run_duckdb(&args, &work_dir, &queries).await.unwrap_or_else(|e| EngineResult::skipped("DuckDB", e))
            }
            PeerName::None => continue,
        };
        results.push(result);
    }
    report(&args, &data, &queries, &results)
}

async fn run_fieldline(
    args: &QueryArgs,
    work_dir: &Path,
    data: &Dataset,
    queries: &[BenchQuery],
) -> anyhow::Result<EngineResult> {
    let data_dir = fresh_dir(work_dir.join("fieldline"))?;
    let config = work_dir.join("fieldline-bench.toml");
    std::fs::write(&config, "[forecast]\nenabled = false\n\n[alerts]\nenabled = false\n")?;
    let server = Server::start(Some(data_dir.clone()), Some(&config))?;
    let url = format!("http://{}/api/v2/write", server.http);
    let readings_per_s = load(&url, &data.batches, data.readings, "loading fieldline").await?;
    // SIGTERM flushes the write buffer to Parquet; restarting serves queries from files only,
    // once the background compaction has merged each day's snapshot files into one (as
    // VictoriaMetrics' own background merges are done before it is measured).
    server.stop()?;
    let server = Server::start(Some(data_dir.clone()), Some(&config))?;
    let client = reqwest::Client::new();
    let compaction_s = wait_for_compaction(&client, &server.http).await?;
    let disk = disk_bytes(&data_dir);
    let bar = progress(queries.len() as u64, "querying fieldline");
    let mut timings = Vec::new();
    for q in queries {
        let url = format!("http://{}{}", server.http, q.fieldline);
        let list = q.fieldline.starts_with("/api/v1/series");
        let timing = time_rounds(args.rounds, || {
            let (client, url) = (&client, &url);
            async move { fieldline_answer(&get_json(client, url).await?, list) }
        })
        .await
        .with_context(|| format!("fieldline: {}", q.name))?;
        timings.push(Some(timing));
        bar.inc(1);
    }
    bar.finish_and_clear();
    server.stop()?;
    Ok(EngineResult {
        name: "fieldline",
        readings_per_s: Some(readings_per_s),
        disk_bytes: Some(disk),
        timings,
        skipped: None,
        compaction_s: Some(compaction_s),
    })
}

/// Waits until the store's background compaction has no day left to merge; its seconds.
async fn wait_for_compaction(client: &reqwest::Client, http: &str) -> anyhow::Result<f64> {
    let started = Instant::now();
    let spinner = ProgressBar::new_spinner();
    spinner.set_message("fieldline: compacting the loaded days");
    spinner.enable_steady_tick(Duration::from_millis(200));
    loop {
        let text = client.get(format!("http://{http}/metrics")).send().await?.error_for_status()?.text().await?;
        let pending = text
            .lines()
            .find_map(|l| l.strip_prefix("fieldline_store_compaction_pending_days "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .context("/metrics has no fieldline_store_compaction_pending_days")?;
        if pending == 0.0 {
            spinner.finish_and_clear();
            return Ok(started.elapsed().as_secs_f64());
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!("fieldline: {pending} days still waiting for compaction after 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run_victoria_metrics(
    args: &QueryArgs,
    work_dir: &Path,
    data: &Dataset,
    queries: &[BenchQuery],
) -> anyhow::Result<EngineResult> {
    let storage = fresh_dir(work_dir.join("victoria-metrics"))?;
    let vm = VictoriaMetrics::start(&args.victoria_metrics, &storage).await?;
    let readings_per_s =
        load(&vm.url("/api/v2/write"), &data.batches, data.readings, "loading VictoriaMetrics").await?;
    vm.flush().await?;
    let vm = vm.restart().await?;
    let disk = disk_bytes(&storage);
    let bar = progress(queries.len() as u64, "querying VictoriaMetrics");
    let mut timings = Vec::new();
    for q in queries {
        let timing = match &q.vm {
            Some(request) => Some(
                time_rounds(args.rounds, || vm.query(request))
                    .await
                    .with_context(|| format!("VictoriaMetrics: {}", q.name))?,
            ),
            None => None,
        };
        timings.push(timing);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(EngineResult {
        name: "VictoriaMetrics",
        readings_per_s: Some(readings_per_s),
        disk_bytes: Some(disk),
        timings,
        skipped: None,
        compaction_s: None,
    })
}

async fn run_duckdb(args: &QueryArgs, work_dir: &Path, queries: &[BenchQuery]) -> anyhow::Result<EngineResult> {
    let duckdb = DuckDb::prepare().await?;
    let root = work_dir.join("fieldline").join("parquet");
    let spinner = ProgressBar::new_spinner();
    spinner.set_message("querying DuckDB");
    spinner.enable_steady_tick(Duration::from_millis(200));
    let timings = duckdb.run(&root, queries, args.rounds, work_dir).await;
    spinner.finish_and_clear();
    Ok(EngineResult {
        name: "DuckDB",
        readings_per_s: None,
        disk_bytes: None,
        timings: timings?,
        skipped: None,
        compaction_s: None,
    })
}

fn report(args: &QueryArgs, data: &Dataset, queries: &[BenchQuery], results: &[EngineResult]) -> anyhow::Result<()> {
    let fieldline = &results[0];
    let peers = &results[1..];
    println!(
        "\n{} days of `{}` (seed {}): {} readings; median of {} runs; machine: {} cores",
        args.days,
        args.scenario,
        args.seed,
        data.readings,
        args.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let mut header = format!("{:<34} {:>10}", "query", "fieldline");
    for peer in peers {
        header.push_str(&format!(" {:>16} {:>8}", peer.name, "ratio"));
    }
    println!("{header}   answers");
    let mut disagreements = 0;
    let mut json_queries = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let ours = fieldline.timings.get(i).and_then(Option::as_ref);
        let mut line = format!("{:<34} {:>10}", q.name, ours.map_or("—".into(), |t| format!("{:.1} ms", t.median_ms)));
        let mut agreement = Vec::new();
        let mut json_peers = serde_json::Map::new();
        for peer in peers {
            match (ours, peer.timings.get(i).and_then(Option::as_ref)) {
                (Some(a), Some(b)) => {
                    line.push_str(&format!(
                        " {:>16} {:>7.2}×",
                        format!("{:.1} ms", b.median_ms),
                        a.median_ms / b.median_ms
                    ));
                    let disagreement = a.answer.disagreement(&b.answer);
                    json_peers.insert(
                        peer.name.into(),
                        serde_json::json!({"median_ms": b.median_ms, "agrees": disagreement.is_none()}),
                    );
                    match disagreement {
                        None => agreement.push(format!("= {}", peer.name)),
                        Some(why) => {
                            disagreements += 1;
                            agreement.push(format!("≠ {}: {why}", peer.name));
                        }
                    }
                }
                _ => line.push_str(&format!(" {:>16} {:>8}", "—", "")),
            }
        }
        let size = ours.map(|t| t.answer.size()).unwrap_or_default();
        println!("{line}   {size} {}", agreement.join(" "));
        json_queries.push(serde_json::json!({
            "query": q.name,
            "fieldline_ms": ours.map(|t| t.median_ms),
            "answer": size,
            "peers": json_peers,
        }));
    }
    println!("(ratio = fieldline's time / the peer's: below 1 means fieldline is faster)");
    for engine in results {
        match (&engine.skipped, engine.readings_per_s, engine.disk_bytes) {
            (Some(why), ..) => println!("{}: skipped ({why})", engine.name),
            (None, Some(rate), Some(disk)) => println!(
                "{}: loaded {:.0} readings/s over /api/v2/write, {:.1} MB on disk{}",
                engine.name,
                rate,
                disk as f64 / 1e6,
                engine
                    .compaction_s
                    .map(|s| format!(" (after the background compaction, {s:.1} s past the restart)"))
                    .unwrap_or_default()
            ),
            _ => {}
        }
    }
    if let Some(path) = &args.json {
        let engines: Vec<Value> = results
            .iter()
            .map(|e| serde_json::json!({"engine": e.name, "readings_per_s": e.readings_per_s, "disk_bytes": e.disk_bytes, "compaction_s": e.compaction_s, "skipped": e.skipped}))
            .collect();
        let body = serde_json::json!({"days": args.days, "readings": data.readings, "rounds": args.rounds, "queries": json_queries, "engines": engines});
        std::fs::write(path, serde_json::to_vec_pretty(&body)?)?;
    }
    if disagreements > 0 {
        bail!("{disagreements} answers disagree (see the table)");
    }
    Ok(())
}
