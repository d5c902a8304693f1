//! `GET /api/v1/overview`: what the dashboard's first page shows, in one request. Per site
//! and device kind: devices, last reading, usual reading interval and data completeness over
//! the last 24 h (each device's share of its usual reading slots, the cadence learned from the
//! last 3 days);
//! open alerts by severity; readings per second over the last 10 minutes; how many series
//! are stored. Only readings of
//! devices count: weather-forecast runs and forecasts are stamped ahead of now and would
//! make a site's "last reading" lie in the future.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fieldline_core::time::{NS_PER_DAY, NS_PER_SEC, format_time, now_ns};
use serde_json::{Value, json};
use time::UtcOffset;

use super::{ApiError, AppState};
use crate::alerts::State as AlertState;

/// The window the ingest rate is measured over.
const RATE_WINDOW_S: i64 = 600;

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/overview", get(overview))
}

async fn overview(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let now = now_ns();
    let (sites, series) = tokio::task::spawn_blocking(move || {
        let sites = crate::brain::bundle::completeness(&store, now.saturating_sub(NS_PER_DAY), now, 3, &|_| true);
        sites.map(|s| (s, store.series(None, &[]).len()))
    })
    .await
    .map_err(ApiError::internal)??;
    let alerts = state.alerts.clone();
    let alerts = tokio::task::spawn_blocking(move || alerts.list()).await.map_err(ApiError::internal)??;

    let rate_from = now.saturating_sub(RATE_WINDOW_S * NS_PER_SEC);
    let mut recent_total = 0usize;
    let mut out = Vec::new();
    for (site, kinds) in &sites {
        let mut site_last = None::<i64>;
        let mut kinds_out = Vec::new();
        for (kind, found) in kinds {
            let (shares, times) = (&found.shares, &found.times);
            // A reading stamped ahead of the clock (within the ingest skew) is not "later than now".
            let last = times.iter().copied().filter(|t| *t <= now).max();
            site_last = site_last.max(last);
            let recent = times.iter().filter(|t| (rate_from..=now).contains(*t)).count();
            recent_total += recent;
            let mean = (!shares.is_empty()).then(|| shares.iter().sum::<f64>() / shares.len() as f64);
            // The kind's usual interval: the median over its devices (the page calls a site
            // late only when it is silent for several of them).
            let mut cadences = found.cadences_ns.clone();
            cadences.sort_unstable();
            let cadence_s = cadences.get(cadences.len() / 2).map(|c| c / NS_PER_SEC);
            kinds_out.push(json!({
                "kind": kind,
                "devices": shares.len(),
                "silent_devices": shares.iter().filter(|s| **s == 0.0).count(),
                "completeness_24h": mean,
                "last": last.map(|t| format_time(t, UtcOffset::UTC)),
                "readings_last_10min": recent,
                "cadence_s": cadence_s,
            }));
        }
        let mut by_severity: BTreeMap<&str, usize> = BTreeMap::new();
        for a in alerts.iter().filter(|a| &a.site == site && a.state != AlertState::Resolved) {
            *by_severity.entry(a.severity.as_str()).or_default() += 1;
        }
        out.push(json!({
            "site": site,
            "last": site_last.map(|t| format_time(t, UtcOffset::UTC)),
            "kinds": kinds_out,
            "open_alerts": by_severity,
        }));
    }
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    for a in alerts.iter().filter(|a| a.state != AlertState::Resolved) {
        *open.entry(a.severity.as_str()).or_default() += 1;
    }
    let body: Value = json!({
        "now": format_time(now, UtcOffset::UTC),
        "sites": out,
        "open_alerts": open,
        "series": series,
        "ingest": {
            "readings_per_s": recent_total as f64 / RATE_WINDOW_S as f64,
            "window_s": RATE_WINDOW_S,
        },
    });
    Ok(axum::Json(body).into_response())
}
