//! Alerts and device health for operators: `GET /api/v1/alerts?state=&site=&kind=`,
//! `POST /api/v1/alerts/{id}/ack` and `GET /api/v1/devices` (last seen, cadence, open alerts).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use fieldline_core::time::{format_time, now_ns};
use serde::Deserialize;
use serde_json::{Value, json};
use time::UtcOffset;

use super::{ApiError, AppState, read_body};
use crate::alerts::{self, State as AlertState};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/alerts", get(list))
        .route("/api/v1/alerts/{id}", get(one))
        .route("/api/v1/alerts/{id}/ack", post(ack))
        .route("/api/v1/devices", get(devices))
}

impl From<alerts::Error> for ApiError {
    fn from(e: alerts::Error) -> Self {
        match e {
            alerts::Error::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()),
            alerts::Error::Resolved(_) => ApiError::new(StatusCode::CONFLICT, e.to_string()),
            other => ApiError::internal(other),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    /// `open`, `acknowledged`, `resolved`, or `active` (open or acknowledged).
    state: Option<String>,
    site: Option<String>,
    device: Option<String>,
    kind: Option<String>,
    limit: Option<usize>,
}

async fn list(State(state): State<AppState>, Query(p): Query<ListParams>) -> Result<Response, ApiError> {
    let wanted: Option<Vec<AlertState>> = match p.state.as_deref() {
        None => None,
        Some("active") => Some(vec![AlertState::Open, AlertState::Acknowledged]),
        Some(s) => Some(vec![AlertState::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!("state {s:?} is not open, acknowledged, resolved or active"))
        })?]),
    };
    let alerts = state.alerts.clone();
    let all = tokio::task::spawn_blocking(move || alerts.list()).await.map_err(ApiError::internal)??;
    let body: Vec<Value> = all
        .iter()
        .filter(|a| wanted.as_ref().is_none_or(|w| w.contains(&a.state)))
        .filter(|a| p.site.as_deref().is_none_or(|s| s == a.site))
        .filter(|a| p.device.as_deref().is_none_or(|d| d == a.device))
        .filter(|a| p.kind.as_deref().is_none_or(|k| k == a.kind))
        .take(p.limit.unwrap_or(500))
        .map(alerts::Alert::to_json)
        .collect();
    Ok(axum::Json(json!({ "alerts": body })).into_response())
}

async fn one(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let alerts = state.alerts.clone();
    let wanted = id.clone();
    let alert = tokio::task::spawn_blocking(move || alerts.get(&wanted)).await.map_err(ApiError::internal)??;
    let alert = alert.ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no alert {id:?}")))?;
    Ok(axum::Json(alert.to_json()).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    /// Who acknowledges (shown on the alert).
    by: Option<String>,
}

async fn ack(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let body = read_body(body, 16 << 10, state.body_read_timeout()).await?;
    let body: AckBody = if body.is_empty() {
        AckBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("body: {e}; expected {{\"by\": \"name\"}}")))?
    };
    let alert = state.alerts.acknowledge(&id, body.by, now_ns()).await?;
    Ok(axum::Json(alert.to_json()).into_response())
}

/// Every device with its last reading, reporting interval and open alerts.
async fn devices(State(state): State<AppState>) -> Result<Response, ApiError> {
    let store = state.store.clone();
    let series = tokio::task::spawn_blocking(move || store.series(None, &[])).await.map_err(ApiError::internal)?;
    let open = state.alerts.open_by_device();
    #[derive(Default)]
    struct Device {
        first_ns: i64,
        last_ns: i64,
        count: u64,
        fields: Vec<String>,
    }
    let mut devices: BTreeMap<(String, String, String), Device> = BTreeMap::new();
    for s in series.iter().filter(|s| !s.measurement.starts_with('_') && !s.measurement.starts_with("forecast")) {
        let (Some(site), Some(device)) = (s.tags.get("site"), s.tags.get("device")) else { continue };
        let d = devices.entry((s.measurement.clone(), site.clone(), device.clone())).or_insert_with(|| Device {
            first_ns: i64::MAX,
            last_ns: i64::MIN,
            ..Default::default()
        });
        d.first_ns = d.first_ns.min(s.first_ns);
        d.last_ns = d.last_ns.max(s.last_ns);
        d.count = d.count.max(s.count);
        d.fields.push(s.field.clone());
    }
    let body: Vec<Value> = devices
        .into_iter()
        .map(|((measurement, site, device), d)| {
            // Typical interval between readings of the device's busiest series.
            let cadence_s = (d.count > 1).then(|| (d.last_ns - d.first_ns) as f64 / 1e9 / (d.count - 1) as f64);
            let alerts = open.get(&(site.clone(), device.clone())).copied().unwrap_or(0);
            json!({
                "measurement": measurement,
                "site": site,
                "device": device,
                "last_seen": format_time(d.last_ns, UtcOffset::UTC),
                "cadence_s": cadence_s.map(|c| (c * 10.0).round() / 10.0),
                "open_alerts": alerts,
                "fields": d.fields,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "devices": body })).into_response())
}
