//! The 产业大脑 feed over HTTP: `GET /api/v1/brain/indicators?date=&site=` (one day's bundle:
//! the stored one when the daily job has built it, else built now), `GET
//! /api/v1/brain/deliveries?date=&recipient=` (the audit log) and `GET /api/v1/brain/schema`
//! (the bundle's JSON Schema).

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fieldline_core::time::{local_date, now_ns, parse_date, parse_offset};
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, AppState};
use crate::brain::{self, Group, bundle};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/brain/indicators", get(indicators))
        .route("/api/v1/brain/deliveries", get(deliveries))
        .route("/api/v1/brain/schema", get(schema))
}

impl From<brain::Error> for ApiError {
    fn from(e: brain::Error) -> Self {
        match e {
            brain::Error::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndicatorParams {
    /// The local day (YYYY-MM-DD); default yesterday, the last whole day.
    date: Option<String>,
    /// Only this site's indicators.
    site: Option<String>,
}

async fn indicators(State(state): State<AppState>, Query(p): Query<IndicatorParams>) -> Result<Response, ApiError> {
    let offset = parse_offset(&state.forecast.utc_offset)?;
    let date = match &p.date {
        Some(d) => parse_date(d)?,
        None => local_date(now_ns(), offset).previous_day().ok_or_else(|| ApiError::internal("date out of range"))?,
    };
    let (store, agro, forecast, alerts, ledger) = (
        state.store.clone(),
        state.agro.clone(),
        state.forecast.clone(),
        state.alerts.clone(),
        state.brain.ledger.clone(),
    );
    let site = p.site.clone();
    let (body, origin) = tokio::task::spawn_blocking(move || -> Result<_, ApiError> {
        let sites: Vec<String> = site.iter().cloned().collect();
        if let Some(stored) = ledger.bundle(date)? {
            return Ok((bundle::cut(&stored, &Group::ALL, &sites), "stored"));
        }
        let sources = bundle::Sources { store: &store, agro: &agro, forecast: &forecast, alerts: &alerts };
        Ok((bundle::build(&sources, date, offset, site.as_deref())?, "live"))
    })
    .await
    .map_err(ApiError::internal)??;
    let mut response = axum::Json(body).into_response();
    // Whether this is the bundle as it was sent, or built now from today's store.
    response.headers_mut().insert("x-fieldline-bundle", HeaderValue::from_static(origin));
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveryParams {
    date: Option<String>,
    recipient: Option<String>,
}

async fn deliveries(State(state): State<AppState>, Query(p): Query<DeliveryParams>) -> Result<Response, ApiError> {
    if let Some(d) = &p.date {
        parse_date(d)?;
    }
    let ledger = state.brain.ledger.clone();
    let records = tokio::task::spawn_blocking(move || ledger.records()).await.map_err(ApiError::internal)??;
    let records: Vec<_> = records
        .into_iter()
        .filter(|r| p.date.as_ref().is_none_or(|d| *d == r.date))
        .filter(|r| p.recipient.as_ref().is_none_or(|n| *n == r.recipient))
        .collect();
    Ok(axum::Json(json!({"deliveries": records})).into_response())
}

async fn schema() -> Response {
    (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/schema+json")], brain::SCHEMA).into_response()
}
