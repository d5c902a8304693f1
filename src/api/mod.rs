//! The HTTP API (axum): `fn app(state) -> Router` and `run(listener, state, shutdown)` in the
//! mini-redis style, so tests start it in-process on `127.0.0.1:0`. Every error is one
//! [`ApiError`], rendered as JSON `{"error": "...", "details": [...]}` with its status.
//! Connections (limits, timeouts, TLS) live in `conn`, who may call what in `auth`.

mod alerts;
pub mod auth;
mod brain;
pub mod conn;
pub(crate) mod farm;
mod forecasts;
mod meta;
mod overview;
mod query;
mod web;
mod write;

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use fieldline_ingest::outbox::Outbox;
use fieldline_ingest::pipeline::Pipeline;
use prometheus_client::registry::Registry;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

pub use auth::Sessions;
pub use conn::{HttpMetrics, TlsError, load_tls};

use crate::alerts::Alerts;
use crate::config::HttpConfig;
use crate::jobs::forecast::ForecastConfig;
use fieldline_store::Store;

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
    /// Crops and plots of the farm views.
    pub agro: Arc<crate::config::AgroConfig>,
    pub alerts: Alerts,
    /// The 产业大脑 feed's ledger (bundles, deliveries).
    pub brain: crate::brain::Brain,
    /// The loaded `[http.tls]` certificate: present = HTTPS (and Secure cookies).
    pub tls: Option<TlsAcceptor>,
    /// Signed-in dashboard sessions.
    pub sessions: Sessions,
    /// One permit per `/api/v2/write` processed at once (`max_concurrent_writes`).
    pub write_slots: Arc<Semaphore>,
    pub http_metrics: HttpMetrics,
    /// Which jobs this instance runs (`/health` says; a shared-subscription replica runs none).
    pub jobs: JobsRunning,
    /// The InfluxDB mirror's state, when it runs (`/health` checks).
    pub influx: Option<Arc<crate::sinks::influx::InfluxStatus>>,
}

/// Which jobs this instance runs.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct JobsRunning {
    pub forecast: bool,
    pub detection: bool,
    pub brain: bool,
}

impl AppState {
    fn body_read_timeout(&self) -> Duration {
        Duration::from_secs(self.http.body_read_timeout_secs)
    }
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
    /// `{"error", "details"}` for fieldline's clients, and InfluxDB's `{"code", "message"}` in
    /// the same body, so InfluxDB clients report the reason too. A 503 or 429 says when to retry.
    fn into_response(self) -> Response {
        let code = match self.status {
            StatusCode::BAD_REQUEST => "invalid",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not found",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "request too large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported media type",
            StatusCode::UNPROCESSABLE_ENTITY => "unprocessable entity",
            StatusCode::TOO_MANY_REQUESTS => "too many requests",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            s if s.is_server_error() => "internal error",
            _ => "invalid",
        };
        let body = json!({ "code": code, "message": self.message, "error": self.message, "details": self.details });
        let mut response = (self.status, axum::Json(body)).into_response();
        if matches!(self.status, StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS) {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
        }
        response
    }
}

impl From<fieldline_store::Error> for ApiError {
    fn from(e: fieldline_store::Error) -> Self {
        match e {
            fieldline_store::Error::ShuttingDown => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
            other => ApiError::internal(other),
        }
    }
}

impl From<fieldline_core::time::TimeError> for ApiError {
    fn from(e: fieldline_core::time::TimeError) -> Self {
        ApiError::bad_request(e.0)
    }
}

/// The router with every route.
pub fn app(state: AppState) -> Router {
    let max_body = state.http.max_body_bytes;
    Router::new()
        .merge(meta::routes())
        .merge(auth::routes())
        .merge(forecasts::routes())
        .merge(alerts::routes())
        .merge(farm::routes())
        .merge(brain::routes())
        .merge(overview::routes())
        .merge(query::routes())
        .merge(write::routes())
        .merge(web::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such endpoint; see /api/v1/openapi.json") })
        .layer(middleware::from_fn_with_state(state.clone(), auth::guard))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Serves `app(state)` on `listener` (over TLS when `state.tls` is set) until `shutdown`
/// resolves, then finishes in-flight requests (so a write being made durable still gets
/// its 204). Connections are bounded and timed as `[http]` says.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = conn::Limits::from_config(&state.http);
    let (tls, metrics) = (state.tls.clone(), state.http_metrics.clone());
    conn::serve(listener, app(state), tls, limits, metrics, shutdown).await
}

/// Reads a request body of at most `limit` bytes that must arrive completely `within`:
/// 413 past the limit, 408 when too slow (a trickling client would otherwise hold its
/// connection, and for writes a write slot, indefinitely).
pub(crate) async fn read_body(mut body: Body, limit: usize, within: Duration) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body exceeds {limit} bytes"));
    let collect = async {
        let hint = usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX);
        if hint > limit {
            return Err(too_large());
        }
        let mut out = Vec::with_capacity(hint);
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let frame = frame.map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                if out.len() + data.len() > limit {
                    return Err(too_large());
                }
                out.extend_from_slice(&data);
            }
        }
        Ok(Bytes::from(out))
    };
    tokio::time::timeout(within, collect).await.unwrap_or_else(|_| {
        Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("request body not received within {} s (body_read_timeout_secs)", within.as_secs()),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_influxdb_code_and_message_and_a_503_says_when_to_retry() {
        let response = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "disk full").into_response();
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "5");
        let response = ApiError::bad_request("bad line").into_response();
        assert!(response.headers().get(axum::http::header::RETRY_AFTER).is_none());
        let body = futures_executor(axum::body::to_bytes(response.into_body(), 1 << 16));
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        assert_eq!(
            (v["code"].as_str(), v["message"].as_str(), v["error"].as_str()),
            (Some("invalid"), Some("bad line"), Some("bad line"))
        );
    }

    fn futures_executor<F: std::future::Future<Output = Result<Bytes, axum::Error>>>(f: F) -> Bytes {
        let runtime = tokio::runtime::Builder::new_current_thread().build();
        runtime.map(|r| r.block_on(f).unwrap_or_default()).unwrap_or_default()
    }
}
