//! Reading data back: `GET /api/v1/query` (raw or windowed values, JSON or CSV),
//! `GET /api/v1/series` (what exists, with first/last time and count),
//! `GET /api/v1/measurements` and `GET /api/v1/deadletters`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fieldline_core::time::{format_time, now_ns, parse_duration, parse_offset, parse_time};
use fieldline_core::{FieldValue, Point};
use fieldline_ingest::deadletter::{self, DeadLetter};
use serde_json::{Value, json};
use time::UtcOffset;

use super::{ApiError, AppState};
use fieldline_store::{Agg, Window};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/query", get(query))
        .route("/api/v1/series", get(series))
        .route("/api/v1/measurements", get(measurements))
        .route("/api/v1/deadletters", get(deadletters))
}

/// Query string pairs, checked against the names an endpoint knows.
struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    fn new(pairs: Vec<(String, String)>, known: &[&str]) -> Result<Self, ApiError> {
        if let Some((k, _)) = pairs.iter().find(|(k, _)| !known.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!("unknown parameter {k:?}; known: {}", known.join(", "))));
        }
        Ok(Params { pairs })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn require(&self, key: &str) -> Result<&str, ApiError> {
        self.get(key)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ApiError::bad_request(format!("parameter {key:?} is required")))
    }

    fn offset(&self) -> Result<UtcOffset, ApiError> {
        Ok(self.get("tz").map(parse_offset).transpose()?.unwrap_or(UtcOffset::UTC))
    }

    /// `[start, stop)` in ns; defaults to all time.
    fn range(&self, offset: UtcOffset) -> Result<(i64, i64), ApiError> {
        let now = now_ns();
        let start = self.get("start").map(|s| parse_time(s, now, offset)).transpose()?.unwrap_or(i64::MIN);
        let stop = self.get("stop").map(|s| parse_time(s, now, offset)).transpose()?.unwrap_or(i64::MAX);
        if start >= stop {
            return Err(ApiError::bad_request("start must be before stop"));
        }
        Ok((start, stop))
    }

    /// Tag filters: `site`, `device` and any number of `tag=key:value`.
    fn tags(&self) -> Result<Vec<(String, String)>, ApiError> {
        let mut tags = Vec::new();
        for (k, v) in &self.pairs {
            match k.as_str() {
                "site" | "device" => tags.push((k.clone(), v.clone())),
                "tag" => {
                    let (tk, tv) = v
                        .split_once(':')
                        .ok_or_else(|| ApiError::bad_request(format!("tag={v:?}: use tag=key:value")))?;
                    tags.push((tk.to_string(), tv.to_string()));
                }
                _ => {}
            }
        }
        Ok(tags)
    }
}

fn json_value(v: &FieldValue) -> Value {
    match v {
        FieldValue::Float(x) if x.is_finite() => json!(x),
        FieldValue::Float(_) => Value::Null,
        FieldValue::Int(x) => json!(x),
        FieldValue::UInt(x) => json!(x),
        FieldValue::Bool(x) => json!(x),
        FieldValue::Str(x) => json!(x),
    }
}

struct SeriesOut {
    measurement: String,
    field: String,
    tags: BTreeMap<String, String>,
    points: Vec<(i64, FieldValue)>,
}

const QUERY_PARAMS: &[&str] =
    &["measurement", "field", "start", "stop", "site", "device", "tag", "every", "agg", "tz", "format", "limit"];

async fn query(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(pairs, QUERY_PARAMS)?;
    let measurement = params.require("measurement")?.to_string();
    let field = params.get("field").filter(|f| !f.is_empty()).map(str::to_string);
    let offset = params.offset()?;
    let (start, stop) = params.range(offset)?;
    let tags = params.tags()?;
    let window = match params.get("every") {
        Some(every) => {
            let every_ns = parse_duration(every)?;
            if every_ns <= 0 {
                return Err(ApiError::bad_request("every must be positive"));
            }
            let agg_name = params.get("agg").unwrap_or("mean");
            let agg = Agg::parse(agg_name).ok_or_else(|| {
                ApiError::bad_request(format!("agg {agg_name:?} is not one of mean, min, max, sum, count, first, last"))
            })?;
            Some((every_ns, agg))
        }
        None if params.get("agg").is_some() => return Err(ApiError::bad_request("agg needs every (e.g. every=15m)")),
        None => None,
    };
    let limit = match params.get("limit") {
        Some(l) => Some(l.parse::<usize>().map_err(|_| ApiError::bad_request(format!("limit {l:?} is not a number")))?),
        None => None,
    };
    let csv = match params.get("format").unwrap_or("json") {
        "json" => false,
        "csv" => true,
        other => return Err(ApiError::bad_request(format!("format {other:?} is not json or csv"))),
    };

    let store = state.store.clone();
    let offset_ns = i64::from(offset.whole_seconds()) * 1_000_000_000;
    let mut query = fieldline_store::Query::new(measurement.clone()).range(start, stop).tags(tags);
    if let Some(field) = field {
        query = query.fields([field]);
    }
    if let Some((every_ns, agg)) = window {
        // Windows align to local midnight for a +08:00 offset, hence the minus.
        query = query.window(Window { every_ns, offset_ns: -offset_ns, agg });
    }
    let series = tokio::task::spawn_blocking(move || -> Result<Vec<SeriesOut>, ApiError> {
        Ok(store
            .query(&query)?
            .into_iter()
            .map(|mut s| {
                if let Some(limit) = limit {
                    s.points.truncate(limit);
                }
                SeriesOut {
                    measurement: measurement.clone(),
                    field: s.field,
                    tags: s.tags.into_iter().collect(),
                    points: s.points,
                }
            })
            .collect())
    })
    .await
    .map_err(ApiError::internal)??;

    if csv {
        return Ok(to_csv(&series, offset));
    }
    let body: Vec<Value> = series
        .iter()
        .map(|s| {
            let points: Vec<Value> =
                s.points.iter().map(|(t, v)| json!([format_time(*t, offset), json_value(v)])).collect();
            json!({ "measurement": s.measurement, "field": s.field, "tags": s.tags, "points": points })
        })
        .collect();
    Ok(axum::Json(json!({ "series": body })).into_response())
}

/// One row per value: `time,measurement,field,<tag columns...>,value`.
fn to_csv(series: &[SeriesOut], offset: UtcOffset) -> Response {
    let mut tag_keys: Vec<&str> = series.iter().flat_map(|s| s.tags.keys().map(String::as_str)).collect();
    tag_keys.sort_unstable();
    tag_keys.dedup();
    let mut out = String::from("time,measurement,field");
    for k in &tag_keys {
        out.push(',');
        out.push_str(&csv_escape(k));
    }
    out.push_str(",value\n");
    for s in series {
        for (t, v) in &s.points {
            let _ = write!(out, "{},{},{}", format_time(*t, offset), csv_escape(&s.measurement), csv_escape(&s.field));
            for k in &tag_keys {
                out.push(',');
                out.push_str(&csv_escape(s.tags.get(*k).map_or("", String::as_str)));
            }
            out.push(',');
            out.push_str(&csv_escape(&v.to_string()));
            out.push('\n');
        }
    }
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response()
}

fn csv_escape(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

async fn series(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(pairs, &["measurement", "site", "device", "tag", "field"])?;
    let measurement = params.get("measurement").map(str::to_string);
    let field = params.get("field").map(str::to_string);
    let tags = params.tags()?;
    let store = state.store.clone();
    let list = tokio::task::spawn_blocking(move || store.series(measurement.as_deref(), &tags))
        .await
        .map_err(ApiError::internal)?;
    let body: Vec<Value> = list
        .into_iter()
        .filter(|s| field.as_deref().is_none_or(|f| f == s.field))
        .map(|s| {
            json!({
                "measurement": s.measurement,
                "tags": s.tags,
                "field": s.field,
                "type": s.kind,
                "first": format_time(s.first_ns, UtcOffset::UTC),
                "last": format_time(s.last_ns, UtcOffset::UTC),
                "count": s.count,
            })
        })
        .collect();
    Ok(axum::Json(json!({ "series": body })).into_response())
}

async fn measurements(State(state): State<AppState>) -> Response {
    axum::Json(json!({ "measurements": state.store.measurements() })).into_response()
}

/// Most dead letters one request returns.
const MAX_DEADLETTERS: usize = 10_000;

async fn deadletters(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(pairs, &["start", "stop", "limit", "source"])?;
    let (start, stop) = params.range(UtcOffset::UTC)?;
    let limit = match params.get("limit") {
        Some(l) => l.parse::<usize>().map_err(|_| ApiError::bad_request(format!("limit {l:?} is not a number")))?,
        None => 100,
    };
    if limit > MAX_DEADLETTERS {
        return Err(ApiError::bad_request(format!("limit {limit} is above {MAX_DEADLETTERS}; page with stop=")));
    }
    let tags: Vec<(String, String)> =
        params.get("source").map(|s| vec![("source".to_string(), s.to_string())]).unwrap_or_default();
    let store = state.store.clone();
    let letters = tokio::task::spawn_blocking(move || -> Result<Vec<DeadLetter>, ApiError> {
        let query = fieldline_store::Query::new(deadletter::MEASUREMENT).range(start, stop).tags(tags);
        Ok(store
            .newest_rows(&query, limit)?
            .into_iter()
            .filter_map(|row| {
                DeadLetter::from_point(&Point::new(deadletter::MEASUREMENT, row.tags, row.fields, row.timestamp_ns))
            })
            .collect())
    })
    .await
    .map_err(ApiError::internal)??;
    let body: Vec<Value> = letters
        .iter()
        .map(|d| {
            json!({
                "time": format_time(d.received_ns, UtcOffset::UTC),
                "source": d.source,
                "topic": d.topic,
                "reason_key": fieldline_ingest::deadletter::reason_key(&d.reason),
                "reason": d.reason,
                "violations": d.violations,
                "violation_count": d.violation_count,
                "payload": d.payload,
                "payload_size": d.payload_size,
            })
        })
        .collect();
    Ok((StatusCode::OK, axum::Json(json!({ "deadletters": body }))).into_response())
}
