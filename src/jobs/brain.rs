//! The daily 产业大脑 job: once the readings have moved `[brain] build_after` past local
//! midnight (or the wall clock has, with six hours' grace for a silent site) it builds the
//! day's bundle (and any of the last `catch_up_days` missed while the server was down), stores
//! it durably, then hands it to the deliveries (`crate::brain::deliver`). A day is built once:
//! its stored file is the record that it was. Following the readings rather than the clock
//! alone keeps a backfill (the demo's) from building a day before its data is in.

use std::collections::BTreeSet;
use std::sync::Arc;

use fieldline_core::time::{NS_PER_DAY, NS_PER_HOUR, NS_PER_SEC, local_date, now_ns};
use time::Duration;

use super::JobContext;
use crate::api::farm::midnight_ns;
use crate::brain::bundle::{self, Sources};
use crate::brain::{Brain, Error};
use crate::config::AgroConfig;
use crate::jobs::forecast::ForecastConfig;

/// How long past `build_after` a day waits for readings that do not come (a silent site).
const SILENT_GRACE_NS: i64 = 6 * NS_PER_HOUR;

/// The job's settings; it keeps no state between ticks besides the ledger on disk.
pub struct BrainJob {
    pub brain: Brain,
    pub agro: Arc<AgroConfig>,
    pub forecast: Arc<ForecastConfig>,
}

impl BrainJob {
    /// Builds and sends whatever bundle is due.
    pub fn tick(&mut self, ctx: &JobContext) {
        if let Err(e) = self.run_due(ctx) {
            tracing::error!(error = %e, "brain bundle not built");
        }
    }

    fn run_due(&self, ctx: &JobContext) -> Result<(), Error> {
        let offset = fieldline_core::time::parse_offset(&self.forecast.utc_offset)
            .map_err(|e| Error::Config(format!("[forecast] utc_offset: {}", e.0)))?;
        let Some((first_ns, newest_ns)) = data_span(ctx) else { return Ok(()) };
        let now = now_ns();
        let today = local_date(newest_ns.max(now), offset);
        let first_day = local_date(first_ns, offset);
        let build_after_ns = i64::from(self.brain.config.build_after_minutes()?) * 60 * NS_PER_SEC;
        for back in (1..=i64::from(self.brain.config.catch_up_days.max(1))).rev() {
            let Some(date) = today.checked_sub(Duration::days(back)) else { continue };
            let due_at = midnight_ns(date, offset).saturating_add(NS_PER_DAY + build_after_ns);
            let due = newest_ns >= due_at || now >= due_at.saturating_add(SILENT_GRACE_NS);
            // Days before the first reading have nothing to say.
            if !due || date < first_day || self.brain.ledger.has_bundle(date) {
                continue;
            }
            let sources =
                Sources { store: &ctx.store, agro: &self.agro, forecast: &self.forecast, alerts: &ctx.alerts };
            let whole = bundle::build(&sources, date, offset, None)?;
            self.brain.ledger.store_bundle(date, &whole)?;
            tracing::info!(%date, sites = bundle::sites_of(&whole).len(), "brain bundle built");
            self.brain.deliveries.dispatch(date, &whole, &BTreeSet::new())?;
        }
        Ok(())
    }
}

/// The first reading's time and the newest one's (bounded by the skew ingest allows); `None`
/// before any reading.
fn data_span(ctx: &JobContext) -> Option<(i64, i64)> {
    let readings: Vec<_> = ctx
        .store
        .series(None, &[])
        .into_iter()
        .filter(|s| fieldline_core::kinds::kind(&s.measurement).is_some_and(|k| !k.forecast))
        .collect();
    let first = readings.iter().map(|s| s.first_ns).min()?;
    let newest = readings.iter().map(|s| s.last_ns.min(ctx.clock_limit_ns())).max()?;
    Some((first, newest))
}
