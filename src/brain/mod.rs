//! The peony 产业大脑 (industry brain) feed: one day's curated indicators per site — plots,
//! traps, plants, sites and market prices — never a raw sensor series (原始数据不出域).
//!
//! - [`bundle`] builds a day's bundle from the store (the farm views, the forecast scores, the
//!   alerts) and cuts it down to what one recipient may see. Its shape is
//!   `schemas/brain-bundle.v1.json`; every bundle the tests build is validated against it.
//! - [`ledger`] keeps the bundles (one durable JSON file per day) and the audit log of every
//!   delivery (what left, to whom, when, its SHA-256).
//! - [`deliver`] signs bundles (HMAC-SHA256 over a timestamp and the body) and POSTs them to
//!   each recipient with retries, and publishes them on `fl/v1/{site}/brain`.
//!
//! The daily job that drives them is `crate::jobs::brain`.

pub mod bundle;
pub mod deliver;
pub mod ledger;

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use deliver::{SIGNATURE_HEADER, SignatureError, sign, verify};

/// The JSON Schema every bundle follows (its `$id` names the version).
pub const SCHEMA: &str = include_str!("../../schemas/brain-bundle.v1.json");
/// The bundle format's version, `schema_version` in every bundle.
pub const SCHEMA_VERSION: &str = "1";

/// A group of indicators a recipient may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Per plot: crop, degree days, stage, bloom forecast, ET0, water and advice, frost risk.
    Plots,
    /// Per trap and species: daily catch, warning level, trend, flight dates, next week.
    Traps,
    /// Per plant: yesterday's energy, forecast accuracy, curtailment.
    Plants,
    /// Per site: data completeness by device kind, open alerts by kind.
    Sites,
    /// Market prices written as `market_price` (item, unit, price, weekly change).
    Market,
}

impl Group {
    pub const ALL: [Group; 5] = [Group::Plots, Group::Traps, Group::Plants, Group::Sites, Group::Market];

    /// The bundle key holding the group.
    pub fn key(self) -> &'static str {
        match self {
            Group::Plots => "plots",
            Group::Traps => "traps",
            Group::Plants => "plants",
            Group::Sites => "sites",
            Group::Market => "market",
        }
    }
}

/// `[brain]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrainConfig {
    /// Build, store and deliver a bundle every day.
    pub enabled: bool,
    /// Local time (HH:MM) after midnight when the previous day's bundle is built: late
    /// readings of the day have arrived by then.
    pub build_after: String,
    /// Days missed while the server was down that are built when it returns.
    pub catch_up_days: u32,
    /// How often the job checks whether a bundle is due (s).
    pub tick_secs: u64,
    /// Attempts per webhook delivery before it is logged as failed.
    pub attempts: u32,
    /// Delay before the first retry (ms); each further retry waits twice as long, at most 5 min.
    pub retry_initial_ms: u64,
    /// Publish each site's bundle on `fl/v1/{site}/brain`.
    pub mqtt: bool,
    /// The groups the MQTT bundles carry.
    pub mqtt_groups: Vec<Group>,
    /// `[[brain.recipients]]`: who receives the bundle and what of it.
    pub recipients: Vec<Recipient>,
}

impl Default for BrainConfig {
    fn default() -> Self {
        BrainConfig {
            enabled: true,
            build_after: "00:30".into(),
            catch_up_days: 3,
            tick_secs: 60,
            attempts: 8,
            retry_initial_ms: 2_000,
            mqtt: true,
            mqtt_groups: Group::ALL.to_vec(),
            recipients: Vec::new(),
        }
    }
}

/// `[[brain.recipients]]`: one system the bundle is POSTed to.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// Names the recipient in the audit log.
    pub name: String,
    /// Where the bundle is POSTed (https:// or http://).
    pub url: String,
    /// The indicator groups it may receive; nothing else is sent to it.
    pub groups: Vec<Group>,
    /// Sites whose indicators it receives; empty = every site.
    #[serde(default)]
    pub sites: Vec<String>,
    /// The shared HMAC key, or the environment variable holding it (`secret_env`), one of them.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    #[serde(default)]
    pub secret_env: Option<String>,
}

impl Recipient {
    /// The HMAC key: `secret`, or the value of `secret_env`.
    pub fn key(&self) -> Result<Vec<u8>, Error> {
        match (&self.secret, &self.secret_env) {
            (Some(s), None) if !s.is_empty() => Ok(s.as_bytes().to_vec()),
            (None, Some(var)) => match std::env::var(var) {
                Ok(s) if !s.is_empty() => Ok(s.into_bytes()),
                _ => Err(Error::Config(format!(
                    "[[brain.recipients]] {}: environment variable {var} (secret_env) is not set",
                    self.name
                ))),
            },
            _ => Err(Error::Config(format!(
                "[[brain.recipients]] {}: set exactly one of secret or secret_env (a non-empty HMAC key)",
                self.name
            ))),
        }
    }
}

impl BrainConfig {
    /// The build time as minutes after local midnight.
    pub fn build_after_minutes(&self) -> Result<u32, Error> {
        let bad = || Error::Config(format!("[brain] build_after {:?}: expected HH:MM", self.build_after));
        let (h, m) = self.build_after.split_once(':').ok_or_else(bad)?;
        let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 {
            return Err(bad());
        }
        Ok(h * 60 + m)
    }

    /// Checked at start-up: a bad recipient stops the server instead of silently losing bundles.
    pub fn check(&self) -> Result<(), Error> {
        self.build_after_minutes()?;
        let mut names = std::collections::BTreeSet::new();
        for r in &self.recipients {
            if !names.insert(&r.name) {
                return Err(Error::Config(format!("[[brain.recipients]] name {:?} is used twice", r.name)));
            }
            if !(r.url.starts_with("https://") || r.url.starts_with("http://")) {
                return Err(Error::Config(format!(
                    "[[brain.recipients]] {}: url {:?} must start with https:// or http://",
                    r.name, r.url
                )));
            }
            if r.groups.is_empty() {
                return Err(Error::Config(format!("[[brain.recipients]] {}: groups is empty", r.name)));
            }
            r.key()?;
        }
        Ok(())
    }
}

/// Errors of the feed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("store: {0}")]
    Store(#[from] fieldline_store::Error),
    #[error("{0}")]
    Build(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl Error {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { path: path.display().to_string(), source }
    }
}

/// The feed's parts a job and the API share: the ledger and the delivery queues.
#[derive(Clone)]
pub struct Brain {
    pub config: Arc<BrainConfig>,
    pub ledger: Arc<ledger::Ledger>,
    pub deliveries: deliver::Deliveries,
}

impl std::fmt::Debug for Brain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Brain").field("recipients", &self.config.recipients.len()).finish_non_exhaustive()
    }
}

impl Brain {
    /// Opens the ledger under `data_dir/brain` and starts one delivery task per recipient
    /// (until `stop`); deliveries a previous run stored but did not finish are queued again.
    pub fn start(
        config: BrainConfig,
        data_dir: &Path,
        outbox: fieldline_ingest::outbox::Outbox,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<Brain, Error> {
        config.check()?;
        let ledger = Arc::new(ledger::Ledger::open(&data_dir.join("brain"))?);
        let config = Arc::new(config);
        let deliveries = deliver::Deliveries::start(config.clone(), ledger.clone(), outbox, stop)?;
        let brain = Brain { config, ledger, deliveries };
        brain.deliveries.resume()?;
        Ok(brain)
    }
}
