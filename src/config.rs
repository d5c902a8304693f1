//! `fieldline.toml`: every section with serde defaults, so an empty file (or none) runs the
//! embedded defaults. Precedence is file, then `FIELDLINE_*` environment variables, then
//! command-line flags; the last two are applied by the CLI (clap reads the environment).

use std::path::{Path, PathBuf};

use fieldline_ingest::limits::IngestConfig;
use fieldline_ingest::schema::SchemaConfig;
use fieldline_ingest::sources::mqtt_broker::BrokerConfig;
use fieldline_ingest::sources::mqtt_endpoint::EndpointConfig;
use serde::{Deserialize, Serialize};

use crate::alerts::AlertsConfig;
use crate::jobs::forecast::ForecastConfig;
use fieldline_store::StoreConfig;

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the WAL and Parquet partitions live.
    pub data_dir: PathBuf,
    pub http: HttpConfig,
    /// fieldline's own MQTT endpoint (unless a broker is configured).
    pub mqtt: EndpointConfig,
    /// External broker to read from instead of running the endpoint: present = used.
    pub broker: Option<BrokerConfig>,
    pub store: StoreConfig,
    /// What one message may hold and how far ahead its readings may be.
    pub ingest: IngestConfig,
    /// Asset ratings the kind schema checks power against.
    pub schema: SchemaConfig,
    /// Live power forecasts for wind and PV plants.
    pub forecast: ForecastConfig,
    /// Streaming anomaly detection and alerts.
    pub alerts: AlertsConfig,
    /// Crops and plots of the farm views.
    pub agro: AgroConfig,
    /// The daily 产业大脑 feed: its recipients and what each may receive.
    pub brain: crate::brain::BrainConfig,
    /// Mirror every stored point to InfluxDB (or VictoriaMetrics): present = used.
    pub influxdb: Option<crate::sinks::influx::InfluxConfig>,
}

/// `[agro]` section: which crop each plot grows and on what soil, and crop table overrides.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgroConfig {
    /// `[[agro.plots]]`: plots not listed are peony on a loam (`PlotConfig`'s defaults).
    pub plots: Vec<PlotConfig>,
    /// `[agro.crops.<name>]`: whole crops replacing or adding to the built-in table
    /// (`analytics/src/crops.toml` shows the fields).
    pub crops: std::collections::BTreeMap<String, fieldline_analytics::crops::Crop>,
}

/// `[[agro.plots]]`: one plot.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlotConfig {
    /// The plot's device id.
    pub device: String,
    /// A crop of the table: peony, winter_wheat, summer_maize, chinese_cabbage, or one of
    /// `[agro.crops]`.
    #[serde(default = "default_crop")]
    pub crop: String,
    /// Soil water content at field capacity and at the wilting point (%, volumetric).
    #[serde(default = "default_field_capacity")]
    pub field_capacity_pct: f64,
    #[serde(default = "default_wilting_point")]
    pub wilting_point_pct: f64,
    /// Rooting depth (m); default the crop's.
    #[serde(default)]
    pub root_depth_m: Option<f64>,
}

fn default_crop() -> String {
    "peony".into()
}

fn default_field_capacity() -> f64 {
    32.0
}

fn default_wilting_point() -> f64 {
    12.0
}

impl PlotConfig {
    /// A plot that is not configured.
    pub fn unlisted(device: &str) -> Self {
        PlotConfig {
            device: device.to_string(),
            crop: default_crop(),
            field_capacity_pct: default_field_capacity(),
            wilting_point_pct: default_wilting_point(),
            root_depth_m: None,
        }
    }
}

impl AgroConfig {
    /// The crop table with the overrides.
    pub fn crop_table(&self) -> Result<fieldline_analytics::crops::CropTable, String> {
        fieldline_analytics::crops::CropTable::with_overrides(&self.crops).map_err(|e| format!("[agro.crops] {e}"))
    }

    /// `device`'s plot settings (the defaults if it is not listed).
    pub fn plot(&self, device: &str) -> PlotConfig {
        self.plots.iter().find(|p| p.device == device).cloned().unwrap_or_else(|| PlotConfig::unlisted(device))
    }

    pub fn check(&self) -> Result<(), String> {
        let table = self.crop_table()?;
        for p in &self.plots {
            if table.get(&p.crop).is_none() {
                let known: Vec<&str> = table.0.keys().map(String::as_str).collect();
                return Err(format!(
                    "[[agro.plots]] {}: unknown crop {:?} (known: {})",
                    p.device,
                    p.crop,
                    known.join(", ")
                ));
            }
            let soil_ok = (0.0..=100.0).contains(&p.wilting_point_pct)
                && (0.0..=100.0).contains(&p.field_capacity_pct)
                && p.wilting_point_pct < p.field_capacity_pct;
            if !soil_ok {
                return Err(format!(
                    "[[agro.plots]] {}: need 0 ≤ wilting_point_pct < field_capacity_pct ≤ 100",
                    p.device
                ));
            }
            if p.root_depth_m.is_some_and(|r| !(r > 0.0 && r <= 5.0)) {
                return Err(format!("[[agro.plots]] {}: root_depth_m must be within 0–5 m", p.device));
            }
        }
        Ok(())
    }
}

/// `[http]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: String,
    /// Largest accepted request body (after gzip decompression), bytes.
    pub max_body_bytes: usize,
    /// API tokens. With none configured the API is open (fine on a loopback edge box);
    /// with any, every `/api` request (and `/metrics`, unless `public_metrics`) needs
    /// `Authorization: Token <token>` (or `Bearer`) or a dashboard session cookie.
    pub tokens: Vec<TokenConfig>,
    /// HTTPS: present = the API is served over TLS only.
    pub tls: Option<HttpTlsConfig>,
    /// A client must deliver a complete request head (and finish the TLS handshake) within
    /// this many seconds of connecting or of starting the next request; else it is cut off.
    pub header_read_timeout_secs: u64,
    /// A kept-alive connection with no request for this many seconds is closed.
    pub idle_timeout_secs: u64,
    /// A request body must arrive completely within this many seconds (a slow upload
    /// would otherwise hold a write slot and a connection indefinitely).
    pub body_read_timeout_secs: u64,
    /// Open connections at most; beyond it new connections are closed at once (shed, not queued).
    pub max_connections: usize,
    /// `POST /api/v2/write` requests processed at once; more wait, holding no body in memory.
    pub max_concurrent_writes: usize,
    /// Origins (`scheme://host[:port]`) besides this server's own whose pages may send
    /// non-GET requests, e.g. the public address when a reverse proxy rewrites `Host`.
    pub allowed_origins: Vec<String>,
    /// Serve `/metrics` without a token even when tokens are configured.
    pub public_metrics: bool,
    /// How long a dashboard sign-in lasts, seconds.
    pub session_ttl_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 32 << 20,
            tokens: Vec::new(),
            tls: None,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            body_read_timeout_secs: 60,
            max_connections: 512,
            max_concurrent_writes: 4,
            allowed_origins: Vec::new(),
            public_metrics: false,
            session_ttl_secs: 12 * 3600,
        }
    }
}

impl HttpConfig {
    /// Refuses settings that cannot work, so a typo fails at start-up rather than in use.
    pub fn check(&self) -> Result<(), String> {
        for (i, t) in self.tokens.iter().enumerate() {
            let which = if t.name.is_empty() { format!("token {}", i + 1) } else { format!("token {:?}", t.name) };
            match (&t.token_sha256, t.token.is_empty()) {
                (None, true) => return Err(format!("[http] tokens: {which} needs token or token_sha256")),
                (Some(_), false) => {
                    return Err(format!("[http] tokens: {which} sets both token and token_sha256; keep one"));
                }
                (Some(_), true) if t.digest().is_none() => {
                    return Err(format!(
                        "[http] tokens: {which}: token_sha256 must be 64 hex digits (made by `fieldline token`)"
                    ));
                }
                _ => {}
            }
        }
        for (key, value) in [
            ("header_read_timeout_secs", self.header_read_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("body_read_timeout_secs", self.body_read_timeout_secs),
            ("session_ttl_secs", self.session_ttl_secs),
            ("max_connections", self.max_connections as u64),
            ("max_concurrent_writes", self.max_concurrent_writes as u64),
        ] {
            if value == 0 {
                return Err(format!("[http] {key} must be at least 1"));
            }
        }
        if let Some(bad) =
            self.allowed_origins.iter().find(|o| !(o.starts_with("http://") || o.starts_with("https://")))
        {
            return Err(format!("[http] allowed_origins: {bad:?} is not an origin like \"https://host:port\""));
        }
        Ok(())
    }
}

/// `[http.tls]`: PEM files. `cert` holds the server certificate followed by any intermediates;
/// `key` its private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What a token may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Queries only.
    #[default]
    Read,
    /// Queries and writes.
    Write,
}

/// One API token: exactly one of `token` (the secret itself) and `token_sha256` (its SHA-256
/// in hex, from `fieldline token`, so the file does not hold the secret).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_sha256: Option<String>,
    pub scope: Scope,
    /// Who holds it, for logs.
    #[serde(default)]
    pub name: String,
    /// May write the measurements fieldline keeps for itself (`forecast`, `_alert`, ...).
    #[serde(default)]
    pub write_reserved: bool,
}

impl TokenConfig {
    /// The SHA-256 a presented token must hash to (`None` for a malformed `token_sha256`,
    /// which [`HttpConfig::check`] refuses at start).
    pub fn digest(&self) -> Option<[u8; 32]> {
        match &self.token_sha256 {
            Some(hex) => parse_sha256_hex(hex),
            None => Some(sha256(self.token.as_bytes())),
        }
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    out
}

/// A new secret: 256 random bits as 64 hex digits (API tokens, session ids). ThreadRng is a
/// CSPRNG seeded from the OS.
pub fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex(&bytes)
}

/// Bytes as lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 hex digits as 32 bytes.
fn parse_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        *byte = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig").field("name", &self.name).field("scope", &self.scope).finish_non_exhaustive()
    }
}

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid configuration in {path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
}

impl Config {
    /// Embedded defaults with `data_dir = ./data`.
    pub fn defaults() -> Self {
        Config { data_dir: PathBuf::from("./data"), ..Default::default() }
    }

    /// Reads a TOML file; missing keys take their defaults.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_path_buf(), source })?;
        Self::parse(&text).map_err(|source| Error::Parse { path: path.to_path_buf(), source: Box::new(source) })
    }

    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        let mut config: Config = toml::from_str(text)?;
        if config.data_dir.as_os_str().is_empty() {
            config.data_dir = PathBuf::from("./data");
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_defaults() {
        let c = Config::parse("").unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.http.listen, "127.0.0.1:8080");
        assert_eq!(c.mqtt.listen, "127.0.0.1:1883");
        assert!(c.broker.is_none());
        c.http.check().unwrap();
    }

    #[test]
    fn http_settings_that_cannot_work_are_refused() {
        let check = |text: &str| Config::parse(text).unwrap().http.check();
        assert!(
            check("[http]\ntokens = [{ token = \"\", scope = \"read\" }]")
                .unwrap_err()
                .contains("needs token or token_sha256")
        );
        assert!(check("[http]\nmax_concurrent_writes = 0").unwrap_err().contains("max_concurrent_writes"));
        assert!(check("[http]\nallowed_origins = [\"farm.example\"]").unwrap_err().contains("farm.example"));
        assert!(Config::parse("[http.tls]\ncert = \"c.pem\"").is_err(), "a certificate needs its key");
    }

    #[test]
    fn sections_parse_and_unknown_keys_are_refused() {
        let c = Config::parse(
            r#"
            data_dir = "/var/lib/fieldline"
            [http]
            listen = "0.0.0.0:8080"
            tokens = [{ token = "t1", scope = "read", name = "analyst" }]
            allowed_origins = ["https://fieldline.example"]
            max_concurrent_writes = 2
            [http.tls]
            cert = "/etc/fieldline/cert.pem"
            key = "/etc/fieldline/key.pem"
            [mqtt]
            allow_anonymous = false
            users = [{ username = "wt01", password = "pw", publish = ["fl/v1/+/wind_turbine/%u/#"] }]
            [broker]
            url = "mqtt://broker:1883"
            [store]
            snapshot_interval_secs = 60
            [schema]
            assets = [{ site = "heze-wind", kind = "wind_turbine", rated_kw = 2500.0 }]
            "#,
        )
        .unwrap();
        assert_eq!(c.http.tokens[0].scope, Scope::Read);
        assert_eq!(c.http.tls.as_ref().unwrap().key, PathBuf::from("/etc/fieldline/key.pem"));
        assert_eq!((c.http.max_concurrent_writes, c.http.header_read_timeout_secs), (2, 10));
        c.http.check().unwrap();
        assert_eq!(c.broker.unwrap().url, "mqtt://broker:1883");
        assert_eq!(c.store.snapshot_interval_secs, 60);
        assert!(Config::parse("[http]\nlisten_addr = \"x\"").is_err());
    }

    #[test]
    fn the_shipped_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/fieldline.toml");
        let c = Config::load(&path).unwrap();
        c.schema.check().unwrap();
        assert!(c.brain.recipients.is_empty(), "the example's recipient is commented out: it starts without secrets");
        assert_eq!(c.brain.build_after_minutes().unwrap(), 30);
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/fieldline"));
        assert_eq!(c.store.retention_days.get("_deadletter"), Some(&30));
    }
}
