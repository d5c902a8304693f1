//! An alert as it is stored — one point of measurement `_alert` per alert, at its start,
//! rewritten on every change — and as clients see it (the JSON of the API, MQTT and the
//! webhook); its lifecycle state and the key of the condition it is about.

use std::collections::BTreeMap;

use fieldline_core::time::format_time;
use fieldline_core::{FieldValue, Point};
use fieldline_store::{Query, Store};
use serde::{Deserialize, Serialize};
use time::UtcOffset;

use super::{Error, MEASUREMENT, Severity};

/// Lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Open,
    Acknowledged,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Acknowledged => "acknowledged",
            State::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(State::Open),
            "acknowledged" => Some(State::Acknowledged),
            "resolved" => Some(State::Resolved),
            _ => None,
        }
    }
}

/// The condition an alert is about: one alert per key is open at a time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AlertKey {
    /// Detector kind, e.g. `stuck`.
    pub kind: String,
    pub site: String,
    pub device: String,
    pub field: String,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: String,
    pub state: State,
    pub severity: Severity,
    /// Detector kind, e.g. `stuck`, `power_curve`, `pest_outbreak`.
    pub kind: String,
    /// Device kind (measurement), e.g. `wind_turbine`.
    pub measurement: String,
    pub site: String,
    pub device: String,
    pub field: String,
    pub start_ns: i64,
    pub last_seen_ns: i64,
    pub resolved_ns: Option<i64>,
    pub acknowledged_ns: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub message: String,
    pub value: Option<f64>,
    pub expected: Option<f64>,
    pub score: f64,
}

impl Alert {
    /// The condition an alert is about: one alert per key is open at a time.
    pub fn key(&self) -> AlertKey {
        AlertKey {
            kind: self.kind.clone(),
            site: self.site.clone(),
            device: self.device.clone(),
            field: self.field.clone(),
        }
    }

    pub(super) fn to_point(&self) -> Point {
        let mut fields = vec![
            ("state".to_string(), FieldValue::Str(self.state.as_str().into())),
            ("severity".to_string(), FieldValue::Str(self.severity.as_str().into())),
            ("kind".to_string(), FieldValue::Str(self.kind.clone())),
            ("measurement".to_string(), FieldValue::Str(self.measurement.clone())),
            ("site".to_string(), FieldValue::Str(self.site.clone())),
            ("device".to_string(), FieldValue::Str(self.device.clone())),
            ("field".to_string(), FieldValue::Str(self.field.clone())),
            ("last_seen_ns".to_string(), FieldValue::Int(self.last_seen_ns)),
            ("message".to_string(), FieldValue::Str(self.message.clone())),
            ("score".to_string(), FieldValue::Float(self.score)),
        ];
        let mut opt = |name: &str, v: Option<FieldValue>| {
            if let Some(v) = v {
                fields.push((name.to_string(), v));
            }
        };
        opt("resolved_ns", self.resolved_ns.map(FieldValue::Int));
        opt("acknowledged_ns", self.acknowledged_ns.map(FieldValue::Int));
        opt("acknowledged_by", self.acknowledged_by.clone().map(FieldValue::Str));
        opt("value", self.value.map(FieldValue::Float));
        opt("expected", self.expected.map(FieldValue::Float));
        Point::new(MEASUREMENT, vec![("id".into(), self.id.clone())], fields, self.start_ns)
    }

    pub(super) fn from_fields(id: &str, start_ns: i64, fields: &BTreeMap<String, FieldValue>) -> Option<Alert> {
        let text = |n: &str| match fields.get(n) {
            Some(FieldValue::Str(s)) => Some(s.clone()),
            _ => None,
        };
        let int = |n: &str| match fields.get(n) {
            Some(FieldValue::Int(i)) => Some(*i),
            Some(other) => other.as_f64().map(|f| f as i64),
            None => None,
        };
        let float = |n: &str| fields.get(n).and_then(FieldValue::as_f64);
        Some(Alert {
            id: id.to_string(),
            state: State::parse(&text("state")?)?,
            severity: Severity::parse(&text("severity").unwrap_or_default()),
            kind: text("kind")?,
            measurement: text("measurement").unwrap_or_default(),
            site: text("site").unwrap_or_default(),
            device: text("device").unwrap_or_default(),
            field: text("field").unwrap_or_default(),
            start_ns,
            last_seen_ns: int("last_seen_ns").unwrap_or(start_ns),
            resolved_ns: int("resolved_ns"),
            acknowledged_ns: int("acknowledged_ns"),
            acknowledged_by: text("acknowledged_by"),
            message: text("message").unwrap_or_default(),
            value: float("value"),
            expected: float("expected"),
            score: float("score").unwrap_or(0.0),
        })
    }

    /// The JSON clients see (API, MQTT, webhook).
    pub fn to_json(&self) -> serde_json::Value {
        let t = |ns: i64| format_time(ns, UtcOffset::UTC);
        serde_json::json!({
            "id": self.id,
            "state": self.state.as_str(),
            "severity": self.severity.as_str(),
            "kind": self.kind,
            "measurement": self.measurement,
            "site": self.site,
            "device": self.device,
            "field": self.field,
            "start": t(self.start_ns),
            "last_seen": t(self.last_seen_ns),
            "resolved": self.resolved_ns.map(t),
            "acknowledged": self.acknowledged_ns.map(t),
            "acknowledged_by": self.acknowledged_by,
            "message": self.message,
            "message_key": super::message::message_key(&self.kind),
            "message_params": super::message::message_params(&self.kind, &self.site, &self.device, &self.field, self.value, self.expected),
            "evidence": { "value": self.value, "expected": self.expected, "score": self.score },
        })
    }
}

/// Every alert (or the one with `id`) from the store.
pub(super) fn load(store: &Store, id: Option<&str>) -> Result<Vec<Alert>, Error> {
    let mut query = Query::new(MEASUREMENT);
    if let Some(id) = id {
        query = query.tag("id", id);
    }
    let mut rows = store.query_rows(&query)?.into_iter().peekable();
    let mut out = Vec::new();
    // Rows come by series, then time: an alert is its series' newest row (normally its only one).
    while let Some(row) = rows.next() {
        if rows.peek().is_some_and(|next| next.tags == row.tags) {
            continue;
        }
        let Some(id) = row.tag("id").map(str::to_string) else { continue };
        let fields: BTreeMap<String, FieldValue> = row.fields.into_iter().collect();
        if let Some(alert) = Alert::from_fields(&id, row.timestamp_ns, &fields) {
            out.push(alert);
        }
    }
    Ok(out)
}
