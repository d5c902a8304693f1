//! `fieldline demo`: `serve` plus the simulator in one process. Starts the server (on a
//! temporary data dir unless one is given), backfills history of the `heze` scenario over
//! HTTP, then streams live readings over MQTT to the server's own endpoint (or the broker it
//! reads from), until SIGINT/SIGTERM.
//!
//! Before the history, `--past-springs` springs of the peony plots alone are backfilled (the
//! bloom forecast's ensemble). `--start DATE` moves the whole process's clock
//! (`fieldline_core::time::set_clock_offset_ns`) so a past spring plays as if it were now.
//!
//! Time mapping: the backfill covers `[now − days − catch-up, now − catch-up)`; the live
//! stream starts there and runs `--speed` times faster than the wall clock until it has
//! caught up with now (6 h at 60× take 6 minutes), then continues in real time, so no
//! reading is ever stamped in the future and "last hour" views stay live.

use std::path::PathBuf;

use clap::Args;

use super::serve::{ServeArgs, announce};
use crate::config::Scope;
use crate::server;
use fieldline_core::time::parse_duration;
use fieldline_sim::live::{self, HttpOptions, LiveOptions};
use fieldline_sim::output::{append_ground_truth, open_ground_truth};
use fieldline_sim::{Scenario, SimOptions, Simulation, rfc3339};

const AFTER_HELP: &str = "\
The demo backfills --days of history ending --catch-up before now over HTTP (about half a
minute for 60 days), then streams live over MQTT at --speed until the simulated clock has
caught up with the wall clock, and continues in real time: SCADA, inverters, plant meters
and met stations every minute, peony plots every 10 minutes, pest traps hourly, NWP
forecasts as issued. Without --data-dir (or --config) the data lives in a temporary
directory that is deleted on exit.

Before the history, --past-springs springs of the peony plots alone (1 January to 31 July)
are backfilled: the bloom forecast's ensemble members and the stage dates it is fitted to.
To watch a spring rather than today's season, move the demo's clock:
  fieldline demo --start 2026-04-20      # bloom in Heze, the first moth flights in May";

/// `fieldline demo`
#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct DemoArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Days of history to backfill.
    #[arg(long, default_value_t = 60.0, value_name = "DAYS")]
    pub days: f64,
    /// Simulated seconds per wall-clock second while catching up.
    #[arg(long, default_value_t = 60.0)]
    pub speed: f64,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// How long before now the backfill stops; live streaming replays it at --speed.
    #[arg(long, default_value = "6h", value_name = "DURATION")]
    pub catch_up: String,
    /// Scenario: `heze` (built in) or a scenario TOML file.
    #[arg(long, default_value = "heze", value_name = "NAME|FILE")]
    pub scenario: String,
    /// Append the ground truth of injected faults to FILE.
    #[arg(long, value_name = "FILE")]
    pub ground_truth: Option<PathBuf>,
    /// Replay another season: the demo's clock (the server's "now", its jobs and views) starts
    /// on this local date at today's time of day, with --days of history before it.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub start: Option<String>,
    /// Springs (1 January to 31 July) of the peony plots backfilled before the history: the
    /// bloom forecast's ensemble members and the stage dates its phenology is fitted to.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub past_springs: u32,
}

/// The peony plots' springs of the `past_springs` years before the history's: 1 January to
/// 31 July (or the history's start), with a year-to-year spread of spring temperatures
/// (`seasonal_anomaly_sd_c` 1.5 °C unless the scenario sets one) so the bloom range has width.
async fn backfill_past_springs(
    scenario: &Scenario,
    args: &DemoArgs,
    history_start: i64,
    http: &HttpOptions,
) -> anyhow::Result<()> {
    let mut plots = scenario.clone();
    super::agro::farm_only(&mut plots, super::agro::Keep::Plots);
    if plots.sites.is_empty() || args.past_springs == 0 {
        return Ok(());
    }
    if plots.climate.seasonal_anomaly_sd_c == 0.0 {
        plots.climate.seasonal_anomaly_sd_c = 1.5;
    }
    let offset = fieldline_core::time::parse_offset(&scenario.timezone)?;
    let this_year = fieldline_core::time::local_date(history_start * 1_000_000_000, offset).year();
    for year in this_year - args.past_springs as i32..this_year {
        let jan1 = time::Date::from_calendar_date(year, time::Month::January, 1)?.midnight().assume_offset(offset);
        let jul31 = time::Date::from_calendar_date(year, time::Month::July, 31)?.midnight().assume_offset(offset);
        let (start, end) = (jan1.unix_timestamp(), jul31.unix_timestamp().min(history_start));
        if end <= start {
            continue;
        }
        let seed = args.seed.wrapping_add(u64::from(year.unsigned_abs()));
        let sim = Simulation::new(&plots, &SimOptions { seed, start, end: Some(end), faults: false })?;
        let (_, report) = live::backfill_http(sim, end, http).await?;
        println!("past spring {year} of the peony plots: {} readings in {:.1} s", report.points, report.seconds);
    }
    Ok(())
}

/// The URLs worth opening, with what they show.
fn print_urls(http: &str) {
    println!("open:");
    for (path, what) in [
        ("/", "dashboard"),
        ("/api/v1/series", "every series with its first/last time and count"),
        (
            "/api/v1/query?measurement=plant&field=power_mw&site=heze-wind&start=-2d&every=15m",
            "wind farm output, 15-min means",
        ),
        (
            "/api/v1/query?measurement=plant&field=power_mw&site=heze-pv&start=-2d&every=15m",
            "PV plant output, 15-min means",
        ),
        ("/api/v1/query?measurement=peony_plot&field=soil_vwc_pct&start=-30d&every=1h", "peony soil moisture"),
        ("/api/v1/query?measurement=pest_trap&field=count&start=-14d", "pest trap counters"),
        ("/metrics", "Prometheus metrics"),
    ] {
        println!("  http://{http}{path}\n      {what}");
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let scenario = Scenario::load(&args.scenario)?;
    let catch_up_s = parse_duration(&args.catch_up)?.div_euclid(1_000_000_000).max(0);
    if !(args.days.is_finite() && args.days > 0.0 && args.days <= 3660.0) {
        anyhow::bail!("--days must be a number of days between 0 and 3660");
    }
    let mut config = args.serve.load_config()?;
    let temporary = if args.serve.data_dir.is_none() && args.serve.config.is_none() {
        let dir = tempfile::Builder::new().prefix("fieldline-demo-").tempdir()?;
        config.data_dir = dir.path().to_path_buf();
        Some(dir)
    } else {
        None
    };
    if let Some(start) = &args.start {
        let offset = fieldline_core::time::parse_offset(&config.forecast.utc_offset)?;
        let date = fieldline_core::time::parse_date(start).map_err(|e| anyhow::anyhow!("--start: {}", e.0))?;
        let today = fieldline_core::time::local_date(fieldline_core::time::now_ns(), offset);
        let days = (date - today).whole_days();
        // Whole days, so the sun in the data is up when it is up outside.
        fieldline_core::time::set_clock_offset_ns(days.saturating_mul(fieldline_core::time::NS_PER_DAY));
        println!(
            "demo clock moved {days} days: it is now {} here",
            rfc3339(fieldline_core::time::now_ns() / 1_000_000_000)
        );
    }
    let now = fieldline_core::time::now_ns().div_euclid(1_000_000_000);
    let live_start = now - catch_up_s;
    let live_start = live_start - live_start.rem_euclid(60);
    // The detectors learn from the backfill and check the live stream from its first reading.
    config.alerts.live_from_s = Some(live_start);
    let running = server::start(config.clone()).await?;
    announce(&running);
    println!("data dir {}{}", config.data_dir.display(), if temporary.is_some() { " (temporary)" } else { "" });

    let sim_start = live_start - ((args.days * 86_400.0 / 60.0).round() as i64) * 60;
    let sim = Simulation::new(
        &scenario,
        &SimOptions { seed: args.seed, start: sim_start, end: Some(live_start), faults: true },
    )?;
    let mut truth_file = open_ground_truth(args.ground_truth.as_deref())?;

    let http = HttpOptions {
        url: format!("http://{}", running.http_addr),
        token: config
            .http
            .tokens
            .iter()
            .find(|t| t.scope == Scope::Write && !t.token.is_empty())
            .map(|t| t.token.clone()),
        concurrency: 4,
        batch_bytes: 4 << 20,
        gzip: false,
    };
    println!(
        "backfilling {} days of {} ({} to {}) ...",
        args.days,
        scenario.name,
        rfc3339(sim_start),
        rfc3339(live_start)
    );
    let springs = backfill_past_springs(&scenario, &args, sim_start, &http);
    tokio::select! {
        result = springs => result?,
        _ = server::shutdown_signal() => {
            running.shutdown().await?;
            return Ok(());
        }
    }
    let backfill = live::backfill_http(sim, live_start, &http);
    let (mut sim, report) = tokio::select! {
        result = backfill => result?,
        _ = server::shutdown_signal() => {
            running.shutdown().await?;
            return Ok(());
        }
    };
    if let Some(file) = truth_file.as_mut() {
        append_ground_truth(file, &sim.take_ground_truth())?;
    }
    println!(
        "backfilled {} readings in {:.1} s ({:.0} readings/s); streaming live over MQTT at {}x until caught up with now, then in real time",
        report.points,
        report.seconds,
        report.points as f64 / report.seconds.max(1e-9),
        args.speed
    );
    print_urls(&running.http_addr.to_string());

    let broker = match (&config.broker, running.mqtt_addr) {
        (Some(broker), _) => broker.url.clone(),
        (None, Some(addr)) => match config.mqtt.users.first().filter(|_| !config.mqtt.anonymous_allowed()) {
            Some(user) => match &user.password {
                Some(password) => format!("mqtt://{}:{password}@{addr}", user.username),
                None => anyhow::bail!(
                    "the demo streams as MQTT user {:?}, whose password is stored only as a hash; \
                     allow anonymous sessions or give that user a plain password for the demo",
                    user.username
                ),
            },
            None => format!("mqtt://{addr}"),
        },
        (None, None) => anyhow::bail!("no MQTT endpoint or broker to stream to"),
    };
    let live = LiveOptions {
        broker,
        client_id: format!("fieldline-demo-{}", std::process::id()),
        speed: args.speed,
        max_ahead_s: Some(0),
        until: None,
    };
    let truth: Option<&mut (dyn std::io::Write + Send)> =
        truth_file.as_mut().map(|f| f as &mut (dyn std::io::Write + Send));
    let streamed = live::stream_mqtt(sim, &live, truth, server::shutdown_signal()).await;
    match streamed {
        Ok((done, report)) => {
            sim = done;
            if let Some(file) = truth_file.as_mut() {
                append_ground_truth(file, &sim.finish())?;
            }
            println!("streamed {} readings live, simulated up to {}", report.readings, rfc3339(report.simulated_until));
        }
        Err(e) => tracing::error!(error = %e, "live streaming stopped"),
    }
    running.shutdown().await?;
    drop(temporary);
    Ok(())
}
