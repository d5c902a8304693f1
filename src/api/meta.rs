//! Operational endpoints: `/health`, `/ready` and `/ping` in InfluxDB's shapes (so the
//! official clients' and load balancers' checks pass), `/metrics` (Prometheus text), the
//! OpenAPI document and the kind schema (`/api/v1/schema`: units and physical limits of every
//! device kind).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::{ApiError, AppState};

const OPENAPI: &str = include_str!("openapi.json");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/ping", get(ping).head(ping))
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/schema", get(schema))
}

/// InfluxDB's health shape: `200 {"name":"fieldline","status":"pass",...}`, or `503` with
/// `"status":"fail"` and the `problems` while the store cannot persist (failing snapshots,
/// quarantined files) so monitoring notices.
async fn health(State(state): State<AppState>) -> Response {
    let problems = problems(&state);
    let ok = problems.is_empty();
    let checks: Vec<serde_json::Value> = state.influx.iter().map(|i| i.check()).collect();
    let body = json!({
        "name": "fieldline",
        "message": if ok { "ready for queries and writes".to_string() } else { problems.join("; ") },
        "status": if ok { "pass" } else { "fail" },
        "checks": checks,
        "problems": problems,
        "version": env!("CARGO_PKG_VERSION"),
        "commit": "",
        "uptime_s": state.started.elapsed().as_secs(),
        "jobs": state.jobs,
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

/// InfluxDB's readiness shape: `{"status":"ready","started":..,"up":..}`; 503 `not ready`
/// while the store cannot persist (a load balancer should send writes elsewhere).
async fn ready(State(state): State<AppState>) -> Response {
    let up = state.started.elapsed();
    let started = fieldline_core::time::now_ns().saturating_sub(i64::try_from(up.as_nanos()).unwrap_or(i64::MAX));
    let ok = problems(&state).is_empty();
    let body = json!({
        "status": if ok { "ready" } else { "not ready" },
        "started": fieldline_core::time::format_time(started, time::UtcOffset::UTC),
        "up": format!("{:.3}s", up.as_secs_f64()),
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

/// The store's problems, and the InfluxDB mirror's while it makes the store refuse writes.
fn problems(state: &AppState) -> Vec<String> {
    let mut problems = state.store.problems();
    problems.extend(state.influx.as_ref().and_then(|i| i.problem()));
    problems
}

/// `204` with InfluxDB's version headers: what `influx ping`, Telegraf and gateways probe.
async fn ping() -> Response {
    (StatusCode::NO_CONTENT, [("X-Influxdb-Build", "fieldline"), ("X-Influxdb-Version", env!("CARGO_PKG_VERSION"))])
        .into_response()
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &state.registry).map_err(ApiError::internal)?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
        .into_response())
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn schema(State(state): State<AppState>) -> Response {
    let kinds: Vec<serde_json::Value> =
        state.pipeline.schema().kinds().map(|k| serde_json::to_value(k).unwrap_or_default()).collect();
    axum::Json(json!({ "kinds": kinds })).into_response()
}
