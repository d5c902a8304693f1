//! `POST /api/v2/write` (InfluxDB v2) and `POST /write` (InfluxDB 1: Telegraf's `influxdb`
//! output, Node-RED, gateways): line protocol, gzip accepted. Parameters a client adds for its
//! own server (`bucket`, `org`, `db`, `rp`, `consistency`, ...) are accepted and ignored:
//! fieldline has one namespace. Answers 204 only after the points are durable; a body with bad lines keeps the good ones and answers
//! 400 with each rejected line's number and reason. At most `max_concurrent_writes` bodies
//! are read and processed at once (a big body costs many times its size in memory while it
//! is decoded); the others wait for a slot before their body is read, so they hold none.

use std::io::Read;

use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use fieldline_core::time::now_ns;
use fieldline_ingest::decode::Precision;
use fieldline_ingest::pipeline::Rights;
use serde_json::json;

use super::{ApiError, AppState, read_body};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v2/write", post(write)).route("/write", post(write))
}

async fn write(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
    rights: Option<Extension<Rights>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    refuse_form_content(&headers)?;
    let precision = match params.iter().find(|(k, _)| k == "precision").map(|(_, v)| v.as_str()) {
        None | Some("") => Precision::Ns,
        Some(p) => Precision::parse(p).ok_or_else(|| {
            ApiError::bad_request(format!("precision {p:?} is not one of ns, us, ms, s (or n, u, m, h)"))
        })?,
    };
    let max_body = state.http.max_body_bytes;
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("request body exceeds {max_body} bytes")));
    }
    state.http_metrics.writes_waiting.inc();
    let slot = state.write_slots.acquire().await;
    state.http_metrics.writes_waiting.dec();
    let _slot = slot.map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down"))?;
    let _in_progress = InProgress::start(&state.http_metrics.writes_in_progress);
    let body = read_body(body, max_body, state.body_read_timeout()).await?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let body = if gzip { gunzip(&body, max_body)?.into() } else { body };

    // The authorize layer records what the request's token may write; no token = a device's rights.
    let rights = rights.map_or(Rights::DEVICE, |Extension(r)| r);
    let pipeline = state.pipeline.clone();
    let processed =
        tokio::task::spawn_blocking(move || pipeline.http_line_protocol(&body, precision, now_ns(), rights))
            .await
            .map_err(ApiError::internal)?;
    let accepted = processed.accepted;
    let rejected = processed.rejected;
    let whole_message_reason = processed.dead_letter.as_ref().map(|d| d.reason.clone());
    let mut errors = processed.line_errors;
    state
        .store
        .write_points(processed.points)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("not stored: {e}")))?;
    if rejected == 0 {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    if errors.is_empty() {
        // Refused as a whole (too many lines, days or series): the reason says what to do.
        let reason = whole_message_reason.unwrap_or_else(|| "rejected".into());
        return Err(ApiError::bad_request(format!("nothing written: {reason}")));
    }
    errors.sort_by_key(|e| e.line);
    let details = errors.iter().map(|e| json!({ "line": e.line, "reason": e.reason })).collect();
    let listed = if errors.len() < rejected { format!(" (the first {} listed)", errors.len()) } else { String::new() };
    let message = format!("{rejected} line(s) or value(s) rejected{listed}; {accepted} point(s) written");
    Err(ApiError::bad_request(message).with_details(details))
}

/// Refuses the content types an HTML form can send cross-origin without a CORS preflight, so
/// a web page cannot make a browser write readings. InfluxDB clients send `text/plain;
/// charset=utf-8`, `application/octet-stream` or nothing, which stay accepted.
fn refuse_form_content(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else { return Ok(()) };
    let essence = value.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence == "application/x-www-form-urlencoded" || essence == "multipart/form-data" {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("content type {essence} is not line protocol; send text/plain; charset=utf-8"),
        ));
    }
    Ok(())
}

/// Decompresses a gzip body, refusing to inflate past `limit` bytes.
fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    let decoder = flate2::read::GzDecoder::new(body);
    decoder
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ApiError::bad_request(format!("body is not valid gzip: {e}")))?;
    if out.len() > limit {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, format!("decompressed body exceeds {limit} bytes")));
    }
    Ok(out)
}

/// Counts a write in `writes_in_progress` until it is dropped (however the handler ends).
struct InProgress(prometheus_client::metrics::gauge::Gauge);

impl InProgress {
    fn start(gauge: &prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        InProgress(gauge.clone())
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.0.dec();
    }
}
