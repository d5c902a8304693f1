//! Power forecasts for dispatch and the plant's forecasting engineer:
//! `GET /api/v1/forecasts` (the latest or a given issue), `GET /api/v1/forecasts/accuracy`
//! (daily scores as the grid assesses them, with the month's mean) and
//! `GET /api/v1/forecasts/efile` (the E-language file dispatch ingests).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fieldline_analytics::forecast::efile::{self, EPoint};
use fieldline_core::time::{NS_PER_SEC, format_time, now_ns, parse_offset, parse_time};
use serde::Deserialize;
use serde_json::{Value, json};
use time::UtcOffset;

use super::{ApiError, AppState};
use crate::jobs::forecast::{ACCURACY_MEASUREMENT, FORECAST_MEASUREMENT, Horizon};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/forecasts", get(forecast))
        .route("/api/v1/forecasts/accuracy", get(accuracy))
        .route("/api/v1/forecasts/efile", get(efile_text))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForecastParams {
    site: String,
    horizon: String,
    /// An issue time; default the latest.
    issued: Option<String>,
    tz: Option<String>,
}

/// One stored forecast.
struct Issued {
    issued_ns: i64,
    points: Vec<EPoint>,
}

fn horizon(s: &str) -> Result<Horizon, ApiError> {
    Horizon::parse(s).ok_or_else(|| ApiError::bad_request(format!("horizon {s:?} is not ultra_short or short_term")))
}

fn offset(state: &AppState, tz: Option<&str>) -> Result<UtcOffset, ApiError> {
    Ok(parse_offset(tz.unwrap_or(&state.forecast.utc_offset))?)
}

/// Loads the forecast of `site`/`horizon` issued at `issued` (or the latest).
fn load(state: &AppState, site: &str, horizon: Horizon, issued: Option<i64>) -> Result<Issued, ApiError> {
    let tags = vec![("site".to_string(), site.to_string()), ("horizon".to_string(), horizon.as_str().to_string())];
    let mut issues: Vec<(i64, String)> = state
        .store
        .series(Some(FORECAST_MEASUREMENT), &tags)
        .into_iter()
        .filter_map(|s| {
            let tag = s.tags.get("issued")?.clone();
            let t = parse_time(&tag, 0, UtcOffset::UTC).ok()?;
            Some((t, tag))
        })
        .collect();
    issues.sort();
    issues.dedup();
    let chosen = match issued {
        Some(t) => issues.into_iter().find(|(i, _)| *i == t),
        None => issues.pop(),
    };
    let Some((issued_ns, issued_tag)) = chosen else {
        let what = if issued.is_some() { "issued at that time" } else { "yet" };
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no {} forecast for site {site:?} {what}", horizon.as_str()),
        ));
    };
    let mut filter_tags = tags;
    filter_tags.push(("issued".to_string(), issued_tag));
    let rows = state.store.query_rows(&fieldline_store::Query::new(FORECAST_MEASUREMENT).tags(filter_tags))?;
    let mut by_time: BTreeMap<i64, EPoint> = BTreeMap::new();
    for row in rows {
        let p = by_time.entry(row.timestamp_ns).or_insert(EPoint {
            time: row.timestamp_ns / NS_PER_SEC,
            p50_mw: f64::NAN,
            p10_mw: None,
            p90_mw: None,
        });
        if let Some(x) = row.f64("p50_mw") {
            p.p50_mw = x;
        }
        p.p10_mw = row.f64("p10_mw").or(p.p10_mw);
        p.p90_mw = row.f64("p90_mw").or(p.p90_mw);
    }
    Ok(Issued { issued_ns, points: by_time.into_values().filter(|p| p.p50_mw.is_finite()).collect() })
}

fn parse_issued(s: Option<&str>, offset: UtcOffset) -> Result<Option<i64>, ApiError> {
    s.map(|s| parse_time(s, now_ns(), offset)).transpose().map_err(ApiError::from)
}

async fn forecast(State(state): State<AppState>, Query(p): Query<ForecastParams>) -> Result<Response, ApiError> {
    let h = horizon(&p.horizon)?;
    let offset = offset(&state, p.tz.as_deref())?;
    let issued = parse_issued(p.issued.as_deref(), offset)?;
    let st = state.clone();
    let site = p.site.clone();
    let f = tokio::task::spawn_blocking(move || load(&st, &site, h, issued)).await.map_err(ApiError::internal)??;
    let points: Vec<Value> = f
        .points
        .iter()
        .map(|p| json!({ "time": format_time(p.time * NS_PER_SEC, offset), "p50_mw": p.p50_mw, "p10_mw": p.p10_mw, "p90_mw": p.p90_mw }))
        .collect();
    Ok(axum::Json(json!({
        "site": p.site,
        "horizon": h.as_str(),
        "issued": format_time(f.issued_ns, offset),
        "points": points,
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccuracyParams {
    site: String,
    from: Option<String>,
    to: Option<String>,
    horizon: Option<String>,
    tz: Option<String>,
}

async fn accuracy(State(state): State<AppState>, Query(p): Query<AccuracyParams>) -> Result<Response, ApiError> {
    let offset = offset(&state, p.tz.as_deref())?;
    let now = now_ns();
    let from = p.from.as_deref().map(|s| parse_time(s, now, offset)).transpose()?.unwrap_or(i64::MIN);
    let to = p.to.as_deref().map(|s| parse_time(s, now, offset)).transpose()?.unwrap_or(i64::MAX);
    let only = p.horizon.as_deref().map(horizon).transpose()?;
    let mut tags = vec![("site".to_string(), p.site.clone())];
    if let Some(h) = only {
        tags.push(("horizon".to_string(), h.as_str().to_string()));
    }
    let store = state.store.clone();
    let query = fieldline_store::Query::new(ACCURACY_MEASUREMENT).range(from, to.saturating_add(1)).tags(tags);
    let rows = tokio::task::spawn_blocking(move || store.query_rows(&query)).await.map_err(ApiError::internal)??;
    // date -> horizon -> field -> value
    let mut days: BTreeMap<i64, BTreeMap<String, serde_json::Map<String, Value>>> = BTreeMap::new();
    for row in &rows {
        let h = row.tag("horizon").unwrap_or_default().to_string();
        let entry = days.entry(row.timestamp_ns).or_default().entry(h).or_default();
        for (name, v) in &row.fields {
            entry.insert(name.clone(), v.as_f64().map_or(Value::Null, |x| json!(x)));
        }
    }
    // Monthly figures are the mean of the daily ones, as the assessment reports them.
    let mut months: BTreeMap<(String, String), (f64, f64, usize)> = BTreeMap::new();
    let rows: Vec<Value> = days
        .iter()
        .map(|(ts, horizons)| {
            let date = format_time(*ts, offset)[..10].to_string();
            for (h, f) in horizons {
                let m = months.entry((date[..7].to_string(), h.clone())).or_insert((0.0, 0.0, 0));
                m.0 += f.get("accuracy").and_then(Value::as_f64).unwrap_or(0.0);
                m.1 += f.get("qualified_rate").and_then(Value::as_f64).unwrap_or(0.0);
                m.2 += 1;
            }
            let mut row = serde_json::Map::new();
            row.insert("date".into(), json!(date));
            for (h, f) in horizons {
                row.insert(h.clone(), Value::Object(f.clone()));
            }
            Value::Object(row)
        })
        .collect();
    let months: Vec<Value> = months
        .into_iter()
        .map(|((month, h), (acc, qr, n))| {
            json!({ "month": month, "horizon": h, "accuracy": acc / n as f64, "qualified_rate": qr / n as f64, "days": n })
        })
        .collect();
    Ok(axum::Json(json!({ "site": p.site, "days": rows, "months": months })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EfileParams {
    site: String,
    horizon: Option<String>,
    issued: Option<String>,
}

async fn efile_text(State(state): State<AppState>, Query(p): Query<EfileParams>) -> Result<Response, ApiError> {
    let h = horizon(p.horizon.as_deref().unwrap_or("short_term"))?;
    let offset = offset(&state, None)?;
    let issued = parse_issued(p.issued.as_deref(), offset)?;
    let st = state.clone();
    let site = p.site.clone();
    let f = tokio::task::spawn_blocking(move || load(&st, &site, h, issued)).await.map_err(ApiError::internal)??;
    let offset_s = offset.whole_seconds();
    let issued_s = f.issued_ns / NS_PER_SEC;
    let text =
        efile::render(&p.site, h, issued_s, offset_s, &f.points).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let name = efile::file_name(&p.site, h, issued_s, offset_s).map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        text,
    )
        .into_response())
}
