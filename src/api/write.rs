//! `POST /api/v2/write`: InfluxDB v2 compatible line protocol (gzip accepted). Answers 204
//! only after the points are durable; a body with bad lines keeps the good ones and answers
//! 400 with each rejected line's number and reason.

use std::io::Read;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use fieldline_ingest::decode::Precision;
use fieldline_ingest::pipeline::Rights;
use fieldline_ingest::point::now_ns;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};

pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v2/write", post(write))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteParams {
    /// Accepted for InfluxDB client compatibility; fieldline has one namespace.
    bucket: Option<String>,
    org: Option<String>,
    #[serde(rename = "orgID")]
    org_id: Option<String>,
    precision: Option<String>,
}

async fn write(
    State(state): State<AppState>,
    Query(params): Query<WriteParams>,
    rights: Option<Extension<Rights>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let _ = (&params.bucket, &params.org, &params.org_id);
    let precision = match params.precision.as_deref() {
        None => Precision::Ns,
        Some(p) => Precision::parse(p)
            .ok_or_else(|| ApiError::bad_request(format!("precision {p:?} is not one of ns, us, ms, s")))?,
    };
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let body = if gzip { gunzip(&body, state.http.max_body_bytes)? } else { body.to_vec() };

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
