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
use crate::store::StoreConfig;

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
}

/// `[http]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: String,
    /// Largest accepted request body (after gzip decompression), bytes.
    pub max_body_bytes: usize,
    /// API tokens. With none configured the API is open (fine on a loopback edge box);
    /// with any, every `/api` request needs `Authorization: Token <token>` (or `Bearer`).
    pub tokens: Vec<TokenConfig>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { listen: "127.0.0.1:8080".into(), max_body_bytes: 32 << 20, tokens: Vec::new() }
    }
}

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Queries only.
    Read,
    /// Queries and writes.
    Write,
}

/// One API token.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub token: String,
    pub scope: Scope,
    /// Who holds it, for logs.
    #[serde(default)]
    pub name: String,
    /// May write the measurements fieldline keeps for itself (`forecast`, `_alert`, ...).
    #[serde(default)]
    pub write_reserved: bool,
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
    }

    #[test]
    fn sections_parse_and_unknown_keys_are_refused() {
        let c = Config::parse(
            r#"
            data_dir = "/var/lib/fieldline"
            [http]
            listen = "0.0.0.0:8080"
            tokens = [{ token = "t1", scope = "read", name = "analyst" }]
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
        assert_eq!(c.broker.unwrap().url, "mqtt://broker:1883");
        assert_eq!(c.store.snapshot_interval_secs, 60);
        assert!(Config::parse("[http]\nlisten_addr = \"x\"").is_err());
    }

    #[test]
    fn the_shipped_example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/fieldline.toml");
        let c = Config::load(&path).unwrap();
        c.schema.check().unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/fieldline"));
        assert_eq!(c.store.retention_days.get("_deadletter"), Some(&30));
    }
}
