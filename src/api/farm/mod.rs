//! The farm operator's views: a pest trap's season (`traps`) and a plot's crop, water and frost
//! (`plots`). Both report one local day (`?date=YYYY-MM-DD`, default today; `?tz=`, default the
//! server's offset) over the season from 1 January; the arithmetic is in
//! `fieldline_analytics::{pests, crops, bloom, water, agronomy}`, these modules read the store
//! and date the days.

pub(crate) mod plots;
pub(crate) mod traps;

use std::collections::BTreeMap;

use axum::Router;
use axum::routing::get;
use fieldline_analytics::crops::DayTemps;
use fieldline_core::time::{local_date, now_ns, parse_date, parse_offset};
use fieldline_store::{Series, Store};
use serde::Deserialize;
use time::{Date, UtcOffset};

use super::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/farm/traps/{trap}", get(traps::trap))
        .route("/api/v1/farm/plots/{plot}", get(plots::plot))
}

/// `?date=&tz=` of the farm views.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DayParams {
    /// The day to report (local date, YYYY-MM-DD); default today.
    date: Option<String>,
    /// Local time zone; default the server's (`[forecast] utc_offset`, +08:00).
    tz: Option<String>,
}

/// Answers a farm view: `report` runs for the day asked for on a blocking thread (it reads the
/// store) and its JSON is the response.
async fn respond(
    state: &AppState,
    params: &DayParams,
    report: impl FnOnce(Date, UtcOffset) -> Result<serde_json::Value, ApiError> + Send + 'static,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let (date, offset) = params.resolve(state)?;
    let body = tokio::task::spawn_blocking(move || report(date, offset)).await.map_err(ApiError::internal)??;
    Ok(axum::Json(body).into_response())
}

impl DayParams {
    /// The day asked for and the offset its days are local to.
    fn resolve(&self, state: &AppState) -> Result<(Date, UtcOffset), ApiError> {
        let offset = parse_offset(self.tz.as_deref().unwrap_or(&state.forecast.utc_offset))?;
        let date = match &self.date {
            Some(d) => parse_date(d)?,
            None => local_date(now_ns(), offset),
        };
        Ok((date, offset))
    }
}

/// Nanoseconds of local midnight starting `date`.
pub(crate) fn midnight_ns(date: Date, offset: UtcOffset) -> i64 {
    let t = date.midnight().assume_offset(offset);
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

/// Daily (local date) minimum and maximum of the values of `series`.
fn daily_min_max(series: &[Series], offset: UtcOffset) -> Vec<(Date, DayTemps)> {
    let mut days: BTreeMap<Date, (f64, f64)> = BTreeMap::new();
    for s in series {
        for (t, v) in &s.points {
            let Some(v) = v.as_f64().filter(|v| v.is_finite()) else { continue };
            let e = days.entry(local_date(*t, offset)).or_insert((f64::INFINITY, f64::NEG_INFINITY));
            *e = (e.0.min(v), e.1.max(v));
        }
    }
    days.into_iter().map(|(date, (tmin_c, tmax_c))| (date, DayTemps { tmin_c, tmax_c })).collect()
}

/// The site whose `measurement` (a met station, a weather forecast) serves `site`: `site`
/// itself when it has one, else the first site that does (one region, one weather).
pub(super) fn nearest_site(store: &Store, measurement: &str, site: &str) -> Option<String> {
    let mut sites: Vec<String> =
        store.series(Some(measurement), &[]).into_iter().filter_map(|s| s.tags.get("site").cloned()).collect();
    sites.sort();
    sites.dedup();
    if sites.iter().any(|s| s == site) { Some(site.to_string()) } else { sites.into_iter().next() }
}
