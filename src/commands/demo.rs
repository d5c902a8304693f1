//! `fieldline demo`: `serve` plus the simulator in one process. Starts the server (on a
//! temporary data dir unless one is given), backfills history of the `heze` scenario over
//! HTTP, then streams live readings over MQTT to the server's own endpoint (or the broker it
//! reads from), until SIGINT/SIGTERM.
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
directory that is deleted on exit.";

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
