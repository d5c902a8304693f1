//! Operational endpoints: `/health`, `/metrics` (Prometheus text), the OpenAPI document and
//! the kind schema (`/api/v1/schema`: units and physical limits of every device kind).

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
        .route("/metrics", get(metrics))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/schema", get(schema))
}

/// `200 {"status":"ok"}`, or `503 {"status":"degraded","problems":[...]}` while the store
/// cannot persist (failing snapshots, quarantined files) so monitoring notices.
async fn health(State(state): State<AppState>) -> Response {
    let problems = state.store.problems();
    let status = if problems.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = json!({
        "status": if problems.is_empty() { "ok" } else { "degraded" },
        "problems": problems,
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": state.started.elapsed().as_secs(),
    });
    (status, axum::Json(body)).into_response()
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
