//! The HTTP API (axum): `fn app(state) -> Router` and `run(listener, state, shutdown)` in the
//! mini-redis style, so tests start it in-process on `127.0.0.1:0`. Every error is one
//! [`ApiError`], rendered as JSON `{"error": "...", "details": [...]}` with its status.

mod alerts;
mod forecasts;
mod meta;
mod query;
mod web;
mod write;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use fieldline_ingest::outbox::Outbox;
use fieldline_ingest::pipeline::{Pipeline, Rights};
use prometheus_client::registry::Registry;
use serde_json::{Value, json};

use crate::alerts::Alerts;
use crate::config::{HttpConfig, Scope};
use crate::jobs::forecast::ForecastConfig;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub pipeline: Arc<Pipeline>,
    pub registry: Arc<Registry>,
    pub http: Arc<HttpConfig>,
    pub outbox: Outbox,
    pub started: Instant,
    pub forecast: Arc<ForecastConfig>,
    pub alerts: Alerts,
}

/// An API error: status, message and optional details.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: Vec<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), details: Vec::new() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::error!(error = %message, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message.to_string())
    }

    pub fn with_details(mut self, details: Vec<Value>) -> Self {
        self.details = details;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.message, "details": self.details });
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        match e {
            crate::store::Error::ShuttingDown => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::timefmt::TimeError> for ApiError {
    fn from(e: crate::timefmt::TimeError) -> Self {
        ApiError::bad_request(e.0)
    }
}

/// The router with every route.
pub fn app(state: AppState) -> Router {
    let max_body = state.http.max_body_bytes;
    Router::new()
        .merge(meta::routes())
        .merge(forecasts::routes())
        .merge(alerts::routes())
        .merge(query::routes())
        .merge(write::routes())
        .merge(web::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint; see /api/v1/openapi.json") })
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` resolves, then finishes in-flight
/// requests (so a write being made durable still gets its 204).
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state)).with_graceful_shutdown(shutdown).await
}

/// Token check when tokens are configured: writes need a `write` token, `/api` reads need
/// any token. `/health`, `/metrics` and the web UI stay open.
async fn authorize(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.http.tokens.is_empty() || !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let mut request = request;
    let needs_write = request.method() != axum::http::Method::GET && request.method() != axum::http::Method::HEAD;
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Token ").or_else(|| v.strip_prefix("Bearer ")))
        .map(str::trim);
    let token = presented.and_then(|p| state.http.tokens.iter().find(|t| t.token == p));
    match token {
        None => ApiError::new(StatusCode::UNAUTHORIZED, "missing or unknown API token (Authorization: Token <token>)")
            .into_response(),
        Some(t) if needs_write && t.scope != Scope::Write => ApiError::new(
            StatusCode::FORBIDDEN,
            format!("token {:?} has read scope; writing needs a write token", t.name),
        )
        .into_response(),
        Some(t) => {
            request.extensions_mut().insert(Rights { write_reserved: t.write_reserved });
            next.run(request).await
        }
    }
}
