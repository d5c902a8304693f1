//! `fieldline influx backfill`: send what a data dir already holds to InfluxDB (or
//! VictoriaMetrics), for a deployment that adds the database of record after months on the
//! edge box. The live mirror (`serve --influx-url`) sends what is written from then on; this
//! sends the past, one measurement and UTC day at a time, in the same line protocol, with the
//! same names (`_alert` → `fl_alert`).
//!
//! It reads the store itself, so the server must be stopped (the data dir is locked while it
//! runs); points are written idempotently, so a backfill overlapping the mirror's points, or
//! run twice, leaves one point per series and timestamp.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use fieldline_core::Point;
use fieldline_core::time::{NS_PER_DAY, format_time, parse_time};
use fieldline_store::{Query, Store, StoreConfig};

use crate::sinks::influx::InfluxConfig;
use crate::sinks::influx::config::TOKEN_ENV;
use crate::sinks::influx::sink::{PostError, Writer, encode};

/// `fieldline influx ...`
#[derive(Debug, Args)]
pub struct InfluxArgs {
    #[command(subcommand)]
    pub command: InfluxCommand,
}

#[derive(Debug, Subcommand)]
pub enum InfluxCommand {
    /// Send a data dir's stored points to InfluxDB (stop the server first).
    Backfill(BackfillArgs),
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The data dir of a stopped fieldline.
    #[arg(long, env = "FIELDLINE_DATA_DIR", value_name = "DIR", default_value = "./data")]
    pub data_dir: std::path::PathBuf,
    /// InfluxDB base URL, e.g. http://influxdb:8086 (token in FIELDLINE_INFLUX_TOKEN).
    #[arg(long, env = "FIELDLINE_INFLUX_URL", value_name = "URL")]
    pub influx_url: String,
    #[arg(long, env = "FIELDLINE_INFLUX_ORG", value_name = "ORG", default_value = "fieldline")]
    pub influx_org: String,
    #[arg(long, env = "FIELDLINE_INFLUX_BUCKET", value_name = "BUCKET", default_value = "fieldline")]
    pub influx_bucket: String,
    /// Only points at or after this time (RFC 3339, YYYY-MM-DD in UTC, -30d); default: the oldest.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Only points before this time; default: the newest.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Only these measurements (repeat or comma-separate); default: all.
    #[arg(long = "measurement", value_delimiter = ',', value_name = "NAME")]
    pub measurements: Vec<String>,
    /// Lines per write request.
    #[arg(long, default_value_t = 5000)]
    pub batch_points: usize,
}

pub async fn run(args: InfluxArgs) -> anyhow::Result<()> {
    match args.command {
        InfluxCommand::Backfill(a) => backfill(a).await,
    }
}

async fn backfill(args: BackfillArgs) -> anyhow::Result<()> {
    let config = InfluxConfig {
        url: args.influx_url.clone(),
        org: args.influx_org.clone(),
        bucket: args.influx_bucket.clone(),
        token: std::env::var(TOKEN_ENV).ok(),
        batch_points: args.batch_points.max(1),
        ..InfluxConfig::default()
    };
    config.check()?;
    let writer = Writer::new(&config)?;
    let now = fieldline_core::time::now_ns();
    let bound = |t: &Option<String>, default: i64| -> anyhow::Result<i64> {
        match t {
            Some(text) => parse_time(text, now, time::UtcOffset::UTC).map_err(|e| anyhow::anyhow!("{text:?}: {}", e.0)),
            None => Ok(default),
        }
    };
    let (from, to) = (bound(&args.from, i64::MIN)?, bound(&args.to, i64::MAX)?);
    let data_dir = args.data_dir.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&data_dir, StoreConfig::default()))
        .await?
        .with_context(|| format!("opening {}", args.data_dir.display()))?;

    // Which (measurement, UTC day) pairs hold data in range.
    let mut days: Vec<(String, i64)> = Vec::new();
    for measurement in store.measurements() {
        if !args.measurements.is_empty() && !args.measurements.contains(&measurement) {
            continue;
        }
        let series = store.series(Some(&measurement), &[]);
        let first = series.iter().map(|s| s.first_ns).min().unwrap_or(i64::MAX).max(from);
        let last = series.iter().map(|s| s.last_ns).max().unwrap_or(i64::MIN).min(to.saturating_sub(1));
        if first > last {
            continue;
        }
        let mut day = first.div_euclid(NS_PER_DAY);
        while day <= last.div_euclid(NS_PER_DAY) {
            days.push((measurement.clone(), day));
            day += 1;
        }
    }
    if days.is_empty() {
        println!("nothing to send: no stored points in that range");
        store.shutdown().await?;
        return Ok(());
    }
    let bar = super::progress(days.len() as u64, "measurement-days sent");
    let started = std::time::Instant::now();
    let (mut points_sent, mut requests, mut rejected) = (0u64, 0u64, 0u64);
    for (measurement, day) in &days {
        let start = (day * NS_PER_DAY).max(from);
        let stop = ((day + 1) * NS_PER_DAY).min(to);
        let query = Query::new(measurement.clone()).range(start, stop);
        let reader = store.clone();
        let rows = tokio::task::spawn_blocking(move || reader.query_rows(&query)).await??;
        let mut body = String::new();
        let mut lines = 0usize;
        for row in rows {
            let point = Point::new(measurement.clone(), row.tags, row.fields, row.timestamp_ns);
            if point.fields.is_empty() {
                continue;
            }
            encode(&point, &mut body);
            lines += 1;
            if lines >= config.batch_points {
                rejected += send(&writer, &body, lines as u64).await?;
                points_sent += lines as u64;
                requests += 1;
                body.clear();
                lines = 0;
            }
        }
        if lines > 0 {
            rejected += send(&writer, &body, lines as u64).await?;
            points_sent += lines as u64;
            requests += 1;
        }
        bar.inc(1);
        bar.set_message(format!("{measurement} {}", &format_time(day * NS_PER_DAY, time::UtcOffset::UTC)[..10]));
    }
    bar.finish_and_clear();
    store.shutdown().await?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "sent {points_sent} points ({} measurement-days, {requests} requests) to {} in {seconds:.1} s ({:.0} points/s){}",
        days.len(),
        config.url,
        points_sent as f64 / seconds.max(1e-9),
        if rejected > 0 { format!("; {rejected} refused by the server (see the log)") } else { String::new() }
    );
    Ok(())
}

/// Posts one batch, retrying what may recover (1 s doubling, 8 tries); returns the number of
/// points the server refused for good.
async fn send(writer: &Writer, body: &str, points: u64) -> anyhow::Result<u64> {
    let mut delay = Duration::from_secs(1);
    for attempt in 1..=8 {
        match writer.post(body).await {
            Ok(()) => return Ok(0),
            Err(PostError::Rejected(why)) => {
                tracing::error!(points, error = why, "InfluxDB refused a batch");
                return Ok(points);
            }
            Err(PostError::TooLarge) => bail!("InfluxDB says a batch is too large (413): use a smaller --batch-points"),
            Err(PostError::Retry(why)) if attempt < 8 => {
                tracing::warn!(attempt, error = why, retry_in_s = delay.as_secs(), "InfluxDB write failed; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(PostError::Retry(why)) => {
                bail!("{why}; stopped (run again with --from to resume: writes are idempotent)")
            }
        }
    }
    Ok(0)
}
