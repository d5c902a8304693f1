//! Alerts: what detector events become for an operator. One alert per ongoing condition
//! (kind + device + field), with a lifecycle open → acknowledged → resolved; the detectors'
//! hysteresis decides when a condition starts and ends, so alerts do not flap.
//!
//! Alerts are stored as points of measurement `_alert` (one series per alert id, one point at
//! the alert's start that every change overwrites), so they are durable through the WAL like
//! any reading and survive restarts; the open ones are kept in memory for deduplication.
//! Each change is published on `fl/v1/{site}/alerts` and, when configured, POSTed to a
//! webhook with retries.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fieldline_analytics::anomaly::peer::PeerMode;
use fieldline_analytics::anomaly::{Event, EventKind};
use fieldline_core::{FieldValue, Point};
use fieldline_ingest::outbox::Outbox;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use time::UtcOffset;

use fieldline_core::time::{NS_PER_SEC, format_time};
use fieldline_store::{self as store, Query, Store};

/// Measurement holding alerts.
pub const MEASUREMENT: &str = "_alert";

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

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "critical" => Severity::Critical,
            "info" => Severity::Info,
            _ => Severity::Warning,
        }
    }

    /// Crop and production losses are critical; sensor trouble is a warning.
    pub fn of(kind: EventKind, score: f64) -> Self {
        match kind {
            EventKind::Frost => Severity::Critical,
            EventKind::PowerCurve | EventKind::PvPeer | EventKind::PvPerformance | EventKind::PestOutbreak
                if score >= 0.9 =>
            {
                Severity::Critical
            }
            EventKind::Spike => Severity::Info,
            _ => Severity::Warning,
        }
    }
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
        (self.kind.clone(), self.site.clone(), self.device.clone(), self.field.clone())
    }

    fn to_point(&self) -> Point {
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

    fn from_fields(id: &str, start_ns: i64, fields: &BTreeMap<String, FieldValue>) -> Option<Alert> {
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
            "evidence": { "value": self.value, "expected": self.expected, "score": self.score },
        })
    }
}

/// `[alerts]` section of `fieldline.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub enabled: bool,
    /// How often new readings are run through the detectors, seconds.
    pub tick_secs: u64,
    /// Readings arriving up to this late (behind the newest data) are still checked, seconds.
    pub lag_secs: i64,
    /// Days of stored history a newly seen device's detectors learn from (silently).
    pub warmup_days: u32,
    /// How often detector state is saved for restarts, seconds.
    pub state_save_secs: u64,
    /// Local time offset: trap days, frost nights.
    pub utc_offset: String,
    /// Soil moisture (% VWC) at which peony plots need water.
    pub refill_point_pct: f64,
    /// POST every alert change here (JSON), retried with backoff. `https://` is verified
    /// against the operating system's trust store (plus `webhook_ca`).
    pub webhook_url: Option<String>,
    pub webhook_attempts: u32,
    /// Extra CA certificate(s) (PEM) to trust for the webhook, e.g. a farm-internal CA.
    pub webhook_ca: Option<std::path::PathBuf>,
    /// Where live data starts on an empty data dir (unix s): readings before it are history
    /// the detectors learn from, not check. Set by `fieldline demo` (its backfill ends there);
    /// otherwise the wall clock is where live starts. Not a file setting.
    #[serde(skip)]
    pub live_from_s: Option<i64>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            tick_secs: 10,
            lag_secs: 600,
            warmup_days: 7,
            state_save_secs: 60,
            utc_offset: "+08:00".into(),
            refill_point_pct: 20.0,
            webhook_url: None,
            webhook_attempts: 6,
            webhook_ca: None,
            live_from_s: None,
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

/// Alert metrics.
#[derive(Debug, Clone, Default)]
pub struct AlertMetrics {
    pub opened: Family<KindLabel, Counter>,
    pub resolved: Family<KindLabel, Counter>,
    pub open: Gauge,
    pub webhook_failures: Counter,
    pub readings_checked: Counter,
}

impl AlertMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("fieldline_alerts");
        r.register("opened", "Alerts opened, by detector kind", self.opened.clone());
        r.register("resolved", "Alerts resolved, by detector kind", self.resolved.clone());
        r.register("open", "Alerts open or acknowledged now", self.open.clone());
        r.register("webhook_failures", "Webhook deliveries given up after all retries", self.webhook_failures.clone());
        r.register("readings_checked", "Readings run through the detectors", self.readings_checked.clone());
    }
}

/// Errors of alert handling.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store: {0}")]
    Store(#[from] store::Error),
    #[error("not stored: {0}")]
    Write(#[from] fieldline_core::sink::SinkError),
    #[error("no alert {0:?}")]
    NotFound(String),
    #[error("alert {0:?} is resolved")]
    Resolved(String),
    #[error("webhook: {0}")]
    Webhook(String),
}

/// What one alert is about: (detector kind, site, device, field).
pub type AlertKey = (String, String, String, String);

/// The alert book: open alerts in memory, every alert in the store.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Mutex<BTreeMap<AlertKey, Alert>>>,
    store: Store,
    outbox: Outbox,
    webhook: Option<tokio::sync::mpsc::Sender<serde_json::Value>>,
    pub metrics: AlertMetrics,
}

/// Where a detector event happened.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub measurement: &'a str,
    pub site: &'a str,
    pub device: &'a str,
}

impl Alerts {
    /// Loads the open alerts from the store and starts the webhook sender if configured.
    pub fn open(config: &AlertsConfig, store: Store, outbox: Outbox, metrics: AlertMetrics) -> Result<Self, Error> {
        let mut open = BTreeMap::new();
        for alert in load(&store, None)? {
            if alert.state != State::Resolved {
                open.insert(alert.key(), alert);
            }
        }
        metrics.open.set(open.len() as i64);
        let webhook = match &config.webhook_url {
            Some(url) => Some(spawn_webhook(url.clone(), config, metrics.clone())?),
            None => None,
        };
        Ok(Alerts { inner: Arc::new(Mutex::new(open)), store, outbox, webhook, metrics })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<AlertKey, Alert>> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters (entries are replaced whole), so carry on with its contents.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A detector event opened (or, for an ongoing one, was seen again).
    pub async fn event_seen(&self, origin: &Origin<'_>, event: &Event) -> Result<(), Error> {
        let key =
            (event.kind.name().to_string(), origin.site.to_string(), origin.device.to_string(), event.field.clone());
        let (alert, new) = {
            let mut open = self.lock();
            match open.get_mut(&key) {
                Some(existing) => {
                    let last = event.last_s.saturating_mul(NS_PER_SEC);
                    // Refresh at most once a minute: an ongoing condition is seen every tick.
                    if last < existing.last_seen_ns.saturating_add(60 * NS_PER_SEC)
                        && event.peak.score <= existing.score
                    {
                        return Ok(());
                    }
                    existing.last_seen_ns = existing.last_seen_ns.max(last);
                    if event.peak.score > existing.score {
                        existing.score = event.peak.score;
                        existing.value = event.peak.value;
                        existing.expected = event.peak.expected;
                        existing.severity = existing.severity.max(Severity::of(event.kind, event.peak.score));
                    }
                    (existing.clone(), false)
                }
                None => {
                    let alert = new_alert(origin, event);
                    open.insert(key, alert.clone());
                    self.metrics.open.set(open.len() as i64);
                    (alert, true)
                }
            }
        };
        if new {
            self.metrics.opened.get_or_create(&KindLabel { kind: alert.kind.clone() }).inc();
            tracing::info!(
                id = alert.id,
                site = alert.site,
                device = alert.device,
                message = alert.message,
                "alert opened"
            );
        }
        self.save(&alert, new).await
    }

    /// An ongoing condition seen again: refreshes its alert's last-seen time, if it has one.
    /// (A condition already ongoing in the history a detector learned from has none: that
    /// history was before this server watched, and raising it now would be a burst of stale
    /// alerts after every restart.)
    pub async fn refresh(&self, origin: &Origin<'_>, event: &Event) -> Result<(), Error> {
        let key =
            (event.kind.name().to_string(), origin.site.to_string(), origin.device.to_string(), event.field.clone());
        if !self.lock().contains_key(&key) {
            return Ok(());
        }
        self.event_seen(origin, event).await
    }

    /// A detector event closed: its alert is resolved.
    pub async fn event_closed(&self, origin: &Origin<'_>, event: &Event) -> Result<(), Error> {
        let key =
            (event.kind.name().to_string(), origin.site.to_string(), origin.device.to_string(), event.field.clone());
        let alert = {
            let mut open = self.lock();
            let Some(mut alert) = open.remove(&key) else { return Ok(()) };
            self.metrics.open.set(open.len() as i64);
            let end = event.end_s.unwrap_or(event.last_s).saturating_mul(NS_PER_SEC);
            alert.state = State::Resolved;
            alert.last_seen_ns = alert.last_seen_ns.max(event.last_s.saturating_mul(NS_PER_SEC));
            alert.resolved_ns = Some(end);
            alert
        };
        self.metrics.resolved.get_or_create(&KindLabel { kind: alert.kind.clone() }).inc();
        tracing::info!(id = alert.id, site = alert.site, device = alert.device, "alert resolved");
        self.save(&alert, true).await
    }

    /// An operator acknowledges an alert.
    pub async fn acknowledge(&self, id: &str, by: Option<String>, now_ns: i64) -> Result<Alert, Error> {
        let alert = {
            let mut open = self.lock();
            match open.values_mut().find(|a| a.id == id) {
                Some(alert) => {
                    if alert.state == State::Open {
                        alert.state = State::Acknowledged;
                        alert.acknowledged_ns = Some(now_ns);
                        alert.acknowledged_by = by;
                    }
                    alert.clone()
                }
                None => {
                    drop(open);
                    return match self.get(id)? {
                        Some(_) => Err(Error::Resolved(id.to_string())),
                        None => Err(Error::NotFound(id.to_string())),
                    };
                }
            }
        };
        self.save(&alert, true).await?;
        Ok(alert)
    }

    /// One alert by id.
    pub fn get(&self, id: &str) -> Result<Option<Alert>, Error> {
        if let Some(a) = self.lock().values().find(|a| a.id == id) {
            return Ok(Some(a.clone()));
        }
        Ok(load(&self.store, Some(id))?.into_iter().next())
    }

    /// Every stored alert, newest first.
    pub fn list(&self) -> Result<Vec<Alert>, Error> {
        let mut all = load(&self.store, None)?;
        all.sort_by(|a, b| b.start_ns.cmp(&a.start_ns).then_with(|| a.id.cmp(&b.id)));
        Ok(all)
    }

    /// Open and acknowledged alerts per (site, device).
    pub fn open_by_device(&self) -> BTreeMap<(String, String), usize> {
        let mut out = BTreeMap::new();
        for a in self.lock().values() {
            *out.entry((a.site.clone(), a.device.clone())).or_insert(0) += 1;
        }
        out
    }

    /// Writes the alert durably, then tells subscribers (and the webhook) when `announce`.
    async fn save(&self, alert: &Alert, announce: bool) -> Result<(), Error> {
        self.store.write_points(vec![alert.to_point()]).await?;
        if announce {
            let body = alert.to_json();
            self.outbox.publish(format!("fl/v1/{}/alerts", alert.site), body.to_string());
            if let Some(tx) = &self.webhook
                && tx.try_send(body).is_err()
            {
                self.metrics.webhook_failures.inc();
                tracing::error!(id = alert.id, "webhook queue full: alert not delivered to the webhook");
            }
        }
        Ok(())
    }
}

fn new_alert(origin: &Origin<'_>, event: &Event) -> Alert {
    let kind = event.kind.name();
    let id = format!("{}-{}-{}-{}-{}", event.start_s, origin.site, origin.device, event.field, kind)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    Alert {
        id,
        state: State::Open,
        severity: Severity::of(event.kind, event.peak.score),
        kind: kind.to_string(),
        measurement: origin.measurement.to_string(),
        site: origin.site.to_string(),
        device: origin.device.to_string(),
        field: event.field.clone(),
        start_ns: event.start_s.saturating_mul(NS_PER_SEC),
        last_seen_ns: event.last_s.saturating_mul(NS_PER_SEC),
        resolved_ns: None,
        acknowledged_ns: None,
        acknowledged_by: None,
        message: describe(origin, event),
        value: event.peak.value,
        expected: event.peak.expected,
        score: event.peak.score,
    }
}

/// A sentence an operator understands.
fn describe(origin: &Origin<'_>, event: &Event) -> String {
    let who = format!("{}/{}", origin.site, origin.device);
    let (v, e) = (event.peak.value, event.peak.expected);
    let num = |x: Option<f64>| x.map_or_else(|| "?".to_string(), |x| format!("{x:.1}"));
    let f = &event.field;
    match event.kind {
        EventKind::OutOfRange => format!("{who}: {f} = {} is outside its physical range", num(v)),
        EventKind::Stuck => format!("{who}: {f} has been stuck at {} (sensor fault?)", num(v)),
        EventKind::Spike => format!("{who}: {f} spiked to {} (expected about {})", num(v), num(e)),
        EventKind::Gap => {
            format!("{who}: no readings for {} (alert after {} of silence)", duration(v), duration(e))
        }
        EventKind::LevelShift => format!("{who}: {f} shifted to {} from a usual {}", num(v), num(e)),
        EventKind::Unusual => format!("{who}: {f} = {} is unusual for this time of day (usually {})", num(v), num(e)),
        EventKind::PeerDrift => {
            // The evidence is the difference from the group (a log ratio for irradiance).
            let ratio = crate::detectors::peer_groups()
                .iter()
                .any(|g| g.mode == PeerMode::Ratio && g.members.iter().any(|m| m.1 == f.as_str()));
            let show = |x: Option<f64>| match x {
                Some(x) if ratio => format!("{:+.0} %", (x.exp() - 1.0) * 100.0),
                Some(x) => format!("{x:+.1}"),
                None => "?".to_string(),
            };
            format!("{who}: {f} drifting away from its neighbours: {} against them, usually {}", show(v), show(e))
        }
        EventKind::Relation => {
            format!("{who}: {f} no longer matches the device's other readings ({} vs {})", num(v), num(e))
        }
        EventKind::PowerCurve => {
            format!(
                "{who}: producing {} kW, below its power curve ({} kW expected): pitch fault, icing?",
                num(v),
                num(e)
            )
        }
        EventKind::PvPerformance => format!("{who}: performance ratio {} below its usual {}", num(v), num(e)),
        EventKind::PvPeer => format!("{who}: {} kW while its peers make {} kW (outage, string fault?)", num(v), num(e)),
        EventKind::PestOutbreak => format!("{who}: daily catch {} over a baseline of {}: pest surge", num(v), num(e)),
        EventKind::Frost => format!("{who}: frost risk, air {} °C during a frost-sensitive stage", num(v)),
        EventKind::Drought => format!("{who}: soil moisture {} % below the refill point {} %", num(v), num(e)),
    }
}

/// Seconds as `45 min` or `3.5 h`.
fn duration(seconds: Option<f64>) -> String {
    match seconds {
        Some(s) if s >= 5400.0 => format!("{:.1} h", s / 3600.0),
        Some(s) => format!("{:.0} min", s / 60.0),
        None => "?".into(),
    }
}

/// Every alert (or the one with `id`) from the store.
fn load(store: &Store, id: Option<&str>) -> Result<Vec<Alert>, Error> {
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

/// Delivers alert changes to the webhook in order, retrying each with exponential backoff.
/// The HTTP client is built here, before anything runs, so a bad `webhook_ca` (or a TLS
/// set-up failure) stops start-up instead of silently losing every delivery.
fn spawn_webhook(
    url: String,
    config: &AlertsConfig,
    metrics: AlertMetrics,
) -> Result<tokio::sync::mpsc::Sender<serde_json::Value>, Error> {
    let client = webhook_client(config.webhook_ca.as_deref())?;
    let attempts = config.webhook_attempts;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<serde_json::Value>(1024);
    tokio::spawn(async move {
        while let Some(body) = rx.recv().await {
            let mut delay = Duration::from_millis(500);
            let mut delivered = false;
            for attempt in 1..=attempts.max(1) {
                match client.post(&url).json(&body).send().await {
                    Ok(resp) if resp.status().is_success() => {
                        delivered = true;
                        break;
                    }
                    Ok(resp) => tracing::warn!(attempt, status = %resp.status(), "webhook refused alert"),
                    Err(e) => tracing::warn!(attempt, error = %e, "webhook unreachable"),
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
            if !delivered {
                metrics.webhook_failures.inc();
                tracing::error!(id = %body["id"], "webhook delivery given up after {attempts} attempts");
            }
        }
    });
    Ok(tx)
}

/// The webhook's HTTP client: rustls with the OS trust store, plus the certificates in `ca`.
fn webhook_client(ca: Option<&std::path::Path>) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10)).use_rustls_tls();
    if let Some(path) = ca {
        let pem = std::fs::read(path)
            .map_err(|e| Error::Webhook(format!("cannot read webhook_ca {}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| Error::Webhook(format!("webhook_ca {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(Error::Webhook(format!("webhook_ca {}: no PEM certificate in it", path.display())));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| Error::Webhook(format!("cannot build the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldline_analytics::anomaly::Evidence;

    fn event(kind: EventKind, start: i64, end: Option<i64>) -> Event {
        Event {
            kind,
            field: "soil_vwc_pct".into(),
            start_s: start,
            last_s: end.unwrap_or(start + 600),
            end_s: end,
            peak: Evidence::new(start, 14.0, 20.0, 0.8),
        }
    }

    #[tokio::test]
    async fn one_alert_per_condition_through_its_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Default::default()).unwrap();
        let alerts =
            Alerts::open(&AlertsConfig::default(), store.clone(), Outbox::default(), AlertMetrics::default()).unwrap();
        let origin = Origin { measurement: "peony_plot", site: "heze-peony", device: "plot1" };
        let start = 1_775_772_000;
        alerts.event_seen(&origin, &event(EventKind::Drought, start, None)).await.unwrap();
        // Seen again while ongoing: the same alert, not a second one.
        let mut again = event(EventKind::Drought, start, None);
        again.last_s = start + 7200;
        alerts.event_seen(&origin, &again).await.unwrap();
        let list = alerts.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].state, State::Open);
        assert_eq!(list[0].last_seen_ns, (start + 7200) * NS_PER_SEC);
        assert!(list[0].message.contains("refill point"), "{}", list[0].message);

        let acked = alerts.acknowledge(&list[0].id, Some("technician".into()), 5).await.unwrap();
        assert_eq!(acked.state, State::Acknowledged);
        alerts.event_closed(&origin, &event(EventKind::Drought, start, Some(start + 9000))).await.unwrap();
        let done = alerts.get(&list[0].id).unwrap().unwrap();
        assert_eq!(done.state, State::Resolved);
        assert_eq!(done.resolved_ns, Some((start + 9000) * NS_PER_SEC));
        assert_eq!(done.acknowledged_by.as_deref(), Some("technician"));
        assert!(matches!(alerts.acknowledge(&done.id, None, 6).await, Err(Error::Resolved(_))));
        assert!(matches!(alerts.acknowledge("nope", None, 6).await, Err(Error::NotFound(_))));

        // A new occurrence after resolution is a new alert; state survives a reopen of the store.
        alerts.event_seen(&origin, &event(EventKind::Drought, start + 86_400, None)).await.unwrap();
        store.shutdown().await.unwrap();
        let store = Store::open(dir.path(), Default::default()).unwrap();
        let reopened =
            Alerts::open(&AlertsConfig::default(), store.clone(), Outbox::default(), AlertMetrics::default()).unwrap();
        let list = reopened.list().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].state, State::Open);
        assert_eq!(reopened.open_by_device().get(&("heze-peony".into(), "plot1".into())), Some(&1));
        store.shutdown().await.unwrap();
    }
}
