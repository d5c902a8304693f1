//! Alerts: what detector events become for an operator. One alert per ongoing condition
//! (kind + device + field), with a lifecycle open → acknowledged → resolved; the detectors'
//! hysteresis decides when a condition starts and ends, so alerts do not flap.
//!
//! Alerts are stored as points of measurement `_alert` (one series per alert id, one point at
//! the alert's start that every change overwrites), so they are durable through the WAL like
//! any reading and survive restarts; the open ones are kept in memory for deduplication.
//! Each change is published on `fl/v1/{site}/alerts` and, when configured, POSTed to
//! webhooks with retries: fieldline's JSON, or the shapes of WeCom, DingTalk and Feishu group
//! robots and Prometheus Alertmanager (`formats`).
//!
//! Here are the configuration, the metrics and the errors; the alert book and its lifecycle
//! live in `lifecycle`, the alert as stored and as clients see it in `record`, what an
//! operator reads (message, severity) in `message`, the webhook sender in `webhook` and the
//! receivers' shapes in `formats`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

use fieldline_store as store;

pub mod formats;
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
    /// Extra CA certificate(s) (PEM) to trust for the webhooks, e.g. a farm-internal CA.
    pub webhook_ca: Option<std::path::PathBuf>,
    /// `[[alerts.webhooks]]`: receivers in their own formats (WeCom, DingTalk, Feishu group
    /// robots, Alertmanager, or fieldline's JSON), each with a severity floor.
    pub webhooks: Vec<WebhookConfig>,
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
            webhooks: Vec::new(),
            live_from_s: None,
        }
    }
}

/// One `[[alerts.webhooks]]` receiver.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The robot's or receiver's URL, e.g.
    /// `https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...` (WeCom),
    /// `https://oapi.dingtalk.com/robot/send?access_token=...` (DingTalk),
    /// `https://open.feishu.cn/open-apis/bot/v2/hook/...` (Feishu),
    /// `http://alertmanager:9093/api/v2/alerts` (Alertmanager).
    pub url: String,
    #[serde(default)]
    pub format: formats::WebhookFormat,
    /// The signing secret (加签) of a DingTalk or Feishu robot, inline or ...
    #[serde(default)]
    pub secret: Option<String>,
    /// ... from this environment variable (kept out of the file).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// The language of the robots' text (`zh` or `en`).
    #[serde(default)]
    pub language: formats::Language,
    /// Only alerts at least this severe (`info`, `warning`, `critical`).
    #[serde(default = "lowest_severity")]
    pub min_severity: Severity,
}

fn lowest_severity() -> Severity {
    Severity::Info
}

impl WebhookConfig {
    /// The signing secret, from the file or the environment.
    pub fn signing_secret(&self) -> Result<Option<String>, Error> {
        match (&self.secret, &self.secret_env) {
            (Some(_), Some(_)) => Err(Error::Webhook(format!("webhook {}: secret and secret_env both set", self.url))),
            (Some(s), None) => Ok(Some(s.clone())),
            (None, Some(var)) => std::env::var(var).map(Some).map_err(|_| {
                Error::Webhook(format!("webhook {}: environment variable {var} (secret_env) is not set", self.url))
            }),
            (None, None) => Ok(None),
        }
    }
}

impl AlertsConfig {
    /// Checks what can be checked before anything opens: the webhooks' extra CA file must be
    /// readable and hold a PEM certificate (the error names the file); each webhook has an
    /// http(s) URL and its secret, and a secret only where the format signs.
    pub fn check(&self) -> Result<(), Error> {
        if self.webhook_ca.is_some() {
            webhook::webhook_client(self.webhook_ca.as_deref())?;
        }
        for hook in &self.webhooks {
            if !(hook.url.starts_with("http://") || hook.url.starts_with("https://")) {
                return Err(Error::Webhook(format!(
                    "webhook {:?}: the URL must start with http:// or https://",
                    hook.url
                )));
            }
            let secret = hook.signing_secret()?;
            let signs = matches!(hook.format, formats::WebhookFormat::Dingtalk | formats::WebhookFormat::Feishu);
            if secret.is_some() && !signs {
                return Err(Error::Webhook(format!(
                    "webhook {}: only dingtalk and feishu robots take a secret",
                    hook.url
                )));
            }
        }
        Ok(())
    }

    /// Every receiver: `webhook_url` (fieldline's JSON) and the `[[alerts.webhooks]]`.
    pub fn all_webhooks(&self) -> Vec<WebhookConfig> {
        let legacy = self.webhook_url.iter().map(|url| WebhookConfig {
            url: url.clone(),
            format: formats::WebhookFormat::Json,
            secret: None,
            secret_env: None,
            language: formats::Language::Zh,
            min_severity: Severity::Info,
        });
        legacy.chain(self.webhooks.iter().cloned()).collect()
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
