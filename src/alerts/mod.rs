//! Alerts: what detector events become for an operator. One alert per ongoing condition
//! (kind + device + field), with a lifecycle open → acknowledged → resolved; the detectors'
//! hysteresis decides when a condition starts and ends, so alerts do not flap.
//!
//! Alerts are stored as points of measurement `_alert` (one series per alert id, one point at
//! the alert's start that every change overwrites), so they are durable through the WAL like
//! any reading and survive restarts; the open ones are kept in memory for deduplication.
//! Each change is published on `fl/v1/{site}/alerts` and, when configured, POSTed to a
//! webhook with retries.
//!
//! Here are the configuration, the metrics and the errors; the alert book and its lifecycle
//! live in `lifecycle`, the alert as stored and as clients see it in `record`, what an
//! operator reads (message, severity) in `message`, and the webhook sender in `webhook`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use fieldline_store as store;

mod lifecycle;
mod message;
mod record;
pub(crate) mod webhook;

pub use lifecycle::{Alerts, Origin};
pub use message::Severity;
pub use record::{Alert, AlertKey, State};

/// Measurement holding alerts.
pub const MEASUREMENT: &str = "_alert";

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

impl AlertsConfig {
    /// Checks what can be checked before anything opens: the webhook's extra CA file must be
    /// readable and hold a PEM certificate (the error names the file).
    pub fn check(&self) -> Result<(), Error> {
        if self.webhook_ca.is_some() {
            webhook::webhook_client(self.webhook_ca.as_deref())?;
        }
        Ok(())
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
