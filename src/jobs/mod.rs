//! Background jobs of `serve`: one scheduler task that wakes every few seconds and runs
//! whatever is due — today the power-forecast jobs ([`forecast`]). Heavy work (training,
//! issuing, scoring) runs on the blocking pool so the runtime never stalls.
//!
//! Jobs run on the *data clock*: the later of the wall clock and the newest plant reading. On
//! a live plant that is the wall clock; in the accelerated demo (and when replaying history)
//! simulated time runs ahead of it and the jobs follow the data.

pub mod forecast;

use std::time::Duration;

use fieldline_ingest::outbox::Outbox;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::Store;

/// Everything a job may touch.
#[derive(Clone)]
pub struct JobContext {
    pub store: Store,
    pub outbox: Outbox,
    pub metrics: forecast::ForecastMetrics,
}

/// Starts the scheduler; it stops when `stop` turns true.
pub fn spawn(config: forecast::ForecastConfig, ctx: JobContext, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        if !config.enabled {
            return;
        }
        let mut forecaster = forecast::Forecaster::new(config.clone());
        let mut tick = tokio::time::interval(Duration::from_secs(config.tick_secs.max(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                _ = tick.tick() => {}
            }
            let job_ctx = ctx.clone();
            // The forecaster moves into the blocking task and back, so its models and
            // bookkeeping persist between ticks without locks.
            let result = tokio::task::spawn_blocking(move || {
                forecaster.run_due(&job_ctx);
                forecaster
            })
            .await;
            match result {
                Ok(f) => forecaster = f,
                Err(e) => {
                    tracing::error!(error = %e, "forecast job panicked; starting afresh");
                    forecaster = forecast::Forecaster::new(config.clone());
                }
            }
        }
    })
}
