//! Background jobs of `serve`: power forecasts ([`forecast`]), anomaly detection with
//! alerts ([`detect`]) and the daily 产业大脑 bundle ([`brain`]), each a loop that wakes on its own tick and runs whatever is due on the
//! blocking pool, so the runtime never stalls and a long model training never delays alerts.
//!
//! Jobs run on the *data clock*: the later of the wall clock and the newest reading. On a live
//! site that is the wall clock; in the accelerated demo (and when replaying history) simulated
//! time runs ahead of it and the jobs follow the data.

pub mod brain;
pub mod detect;
pub mod forecast;

use std::path::PathBuf;
use std::time::Duration;

use fieldline_ingest::outbox::Outbox;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alerts::{Alerts, AlertsConfig};
use fieldline_store::Store;

/// Everything a job may touch.
#[derive(Clone)]
pub struct JobContext {
    pub store: Store,
    pub outbox: Outbox,
    pub metrics: forecast::ForecastMetrics,
    pub alerts: Alerts,
    pub data_dir: PathBuf,
    /// Ingest's `max_future_secs`: no job clock moves further than this past the wall clock,
    /// whatever the store holds.
    pub max_future_secs: i64,
    /// The 产业大脑 feed's ledger and deliveries.
    pub brain: crate::brain::Brain,
    /// Crops and plots, for the feed's plot indicators.
    pub agro: std::sync::Arc<crate::config::AgroConfig>,
}

impl JobContext {
    /// The latest instant (ns) a job clock may reach now: the wall clock plus the skew
    /// ingest allows. Readings after it (stored before ingest refused such times, or written
    /// by a privileged token) wait until their time comes instead of dragging the clocks.
    pub fn clock_limit_ns(&self) -> i64 {
        clock_limit_ns(self.max_future_secs)
    }
}

/// See [`JobContext::clock_limit_ns`].
pub fn clock_limit_ns(max_future_secs: i64) -> i64 {
    fieldline_core::time::now_ns().saturating_add(max_future_secs.max(0).saturating_mul(1_000_000_000))
}

/// Starts the job loops; the handle completes when all of them stopped after `stop` turned true.
pub fn spawn(
    forecast: forecast::ForecastConfig,
    alerts: AlertsConfig,
    ratings: fieldline_ingest::schema::SchemaConfig,
    ctx: JobContext,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let mut loops = Vec::new();
    if ctx.brain.config.enabled {
        let tick = ctx.brain.config.tick_secs;
        let (brain, agro, forecast) = (ctx.brain.clone(), ctx.agro.clone(), std::sync::Arc::new(forecast.clone()));
        let make = move || brain::BrainJob { brain: brain.clone(), agro: agro.clone(), forecast: forecast.clone() };
        loops.push(tokio::spawn(run_loop(tick, make, |j, ctx| j.tick(ctx), |_, _| {}, ctx.clone(), stop.clone())));
    }
    if forecast.enabled {
        let tick = forecast.tick_secs;
        let make = move || forecast::Forecaster::new(forecast.clone());
        loops.push(tokio::spawn(run_loop(tick, make, |f, ctx| f.run_due(ctx), |_, _| {}, ctx.clone(), stop.clone())));
    }
    if alerts.enabled {
        let tick = alerts.tick_secs;
        let (dir, store, skew) = (ctx.data_dir.clone(), ctx.store.clone(), ctx.max_future_secs);
        let make = move || {
            let ratings = fieldline_ingest::schema::Schema::new(&ratings);
            detect::DetectionEngine::new(alerts.clone(), ratings, &dir, &store, clock_limit_ns(skew))
        };
        loops.push(tokio::spawn(run_loop(
            tick,
            make,
            |d, ctx| d.tick(&ctx.store, &ctx.alerts, ctx.clock_limit_ns()),
            |d, _| d.save(),
            ctx,
            stop,
        )));
    }
    tokio::spawn(async move {
        for l in loops {
            if let Err(e) = l.await {
                tracing::error!(error = %e, "job loop failed");
            }
        }
    })
}

/// Runs `step` every `tick_secs` on the blocking pool with state made by `make` (made afresh
/// if a step panics), and `finish` once after `stop`.
async fn run_loop<S: Send + 'static>(
    tick_secs: u64,
    make: impl Fn() -> S + Send + Sync + 'static,
    step: fn(&mut S, &JobContext),
    finish: fn(&mut S, &JobContext),
    ctx: JobContext,
    mut stop: watch::Receiver<bool>,
) {
    let make = std::sync::Arc::new(make);
    let maker = make.clone();
    let Ok(mut state) = tokio::task::spawn_blocking(move || maker()).await else { return };
    let mut tick = tokio::time::interval(Duration::from_secs(tick_secs.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tick.tick() => {}
        }
        let job_ctx = ctx.clone();
        // The state moves into the blocking task and back, so it persists between ticks
        // without locks.
        match tokio::task::spawn_blocking(move || {
            step(&mut state, &job_ctx);
            state
        })
        .await
        {
            Ok(s) => state = s,
            Err(e) => {
                tracing::error!(error = %e, "job step panicked; starting afresh");
                let maker = make.clone();
                let Ok(s) = tokio::task::spawn_blocking(move || maker()).await else { return };
                state = s;
            }
        }
    }
    let _ = tokio::task::spawn_blocking(move || finish(&mut state, &ctx)).await;
}
