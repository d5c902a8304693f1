//! `[influxdb]`: where the mirror writes, with what token, and how much backlog it may hold.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Environment variable holding the InfluxDB token (kept out of files and command lines).
pub const TOKEN_ENV: &str = "FIELDLINE_INFLUX_TOKEN";

/// Why `[influxdb]` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("[influxdb] url {0:?}: must start with http:// or https://")]
    Url(String),
    #[error("[influxdb] {0} must not be empty")]
    Empty(&'static str),
    #[error("[influxdb] cannot read {what} {}: {source}", path.display())]
    Read { what: &'static str, path: PathBuf, source: std::io::Error },
    #[error("[influxdb] ca {}: {detail}", path.display())]
    Ca { path: PathBuf, detail: String },
    #[error("[influxdb] {0}")]
    Invalid(String),
}

/// `[influxdb]` section: present = the mirror runs.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InfluxConfig {
    /// Base URL of the server: `http://influxdb:8086` (InfluxDB 2), `http://vm:8428`
    /// (VictoriaMetrics). The mirror posts to `<url>/api/v2/write`.
    pub url: String,
    pub org: String,
    pub bucket: String,
    /// API token with write access to the bucket (sent as `Authorization: Token ...`).
    /// Better kept out of the file: FIELDLINE_INFLUX_TOKEN, or `token_file`.
    pub token: Option<String>,
    /// File holding the token (trailing newline ignored).
    pub token_file: Option<PathBuf>,
    /// Extra CA certificate(s) (PEM) to trust for `https://`, beside the system's.
    pub ca: Option<PathBuf>,
    /// Lines per write request (InfluxDB recommends 5 000).
    pub batch_points: usize,
    /// WAL bytes not yet delivered at which fieldline stops accepting writes (HTTP 503, no
    /// PUBACK) until the mirror catches up. The backlog is kept on disk in data/sinks/influx.
    pub max_backlog_bytes: u64,
    /// Longest wait between retries, seconds (the first is 1 s, doubling).
    pub retry_max_secs: u64,
    /// Timeout of one write request, seconds.
    pub timeout_secs: u64,
    /// At shutdown, how long the mirror may keep delivering the backlog, seconds (what is
    /// left is sent after the next start).
    pub drain_secs: u64,
}

impl Default for InfluxConfig {
    fn default() -> Self {
        InfluxConfig {
            url: String::new(),
            org: "fieldline".into(),
            bucket: "fieldline".into(),
            token: None,
            token_file: None,
            ca: None,
            batch_points: 5000,
            max_backlog_bytes: 2 << 30,
            retry_max_secs: 60,
            timeout_secs: 30,
            drain_secs: 10,
        }
    }
}

impl std::fmt::Debug for InfluxConfig {
    // The token is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InfluxConfig")
            .field("url", &self.url)
            .field("org", &self.org)
            .field("bucket", &self.bucket)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_file", &self.token_file)
            .field("ca", &self.ca)
            .field("batch_points", &self.batch_points)
            .field("max_backlog_bytes", &self.max_backlog_bytes)
            .field("retry_max_secs", &self.retry_max_secs)
            .field("timeout_secs", &self.timeout_secs)
            .field("drain_secs", &self.drain_secs)
            .finish()
    }
}

impl InfluxConfig {
    /// The write endpoint, `<url>/api/v2/write?org=..&bucket=..&precision=ns`.
    pub fn write_url(&self) -> Result<reqwest::Url, ConfigError> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err(ConfigError::Url(self.url.clone()));
        }
        let base = self.url.trim_end_matches('/');
        let mut url = reqwest::Url::parse(&format!("{base}/api/v2/write"))
            .map_err(|e| ConfigError::Invalid(format!("url {:?}: {e}", self.url)))?;
        url.query_pairs_mut()
            .append_pair("org", &self.org)
            .append_pair("bucket", &self.bucket)
            .append_pair("precision", "ns");
        Ok(url)
    }

    /// The token: the file's if `token_file` is set, else `token` (the environment variable
    /// has been applied to it by the CLI); `None` when the server needs none.
    pub fn resolved_token(&self) -> Result<Option<String>, ConfigError> {
        match &self.token_file {
            Some(path) => std::fs::read_to_string(path)
                .map(|t| Some(t.trim_end_matches(['\r', '\n']).to_string()))
                .map_err(|source| ConfigError::Read { what: "token_file", path: path.clone(), source }),
            None => Ok(self.token.clone().filter(|t| !t.is_empty())),
        }
    }

    /// The HTTP client: rustls with the system's roots plus `ca`.
    pub fn client(&self) -> Result<reqwest::Client, ConfigError> {
        let mut builder =
            reqwest::Client::builder().timeout(Duration::from_secs(self.timeout_secs.max(1))).use_rustls_tls();
        if let Some(path) = &self.ca {
            let pem =
                std::fs::read(path).map_err(|source| ConfigError::Read { what: "ca", path: path.clone(), source })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ConfigError::Ca { path: path.clone(), detail: e.to_string() })?;
            if certs.is_empty() {
                return Err(ConfigError::Ca { path: path.clone(), detail: "no PEM certificate in it".into() });
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build().map_err(|e| ConfigError::Invalid(format!("cannot build the HTTP client: {e}")))
    }

    /// Everything `serve --check` can check without contacting the server.
    pub fn check(&self) -> Result<(), ConfigError> {
        self.write_url()?;
        if self.org.is_empty() {
            return Err(ConfigError::Empty("org"));
        }
        if self.bucket.is_empty() {
            return Err(ConfigError::Empty("bucket"));
        }
        if self.batch_points == 0 {
            return Err(ConfigError::Invalid("batch_points must be at least 1".into()));
        }
        if self.max_backlog_bytes < 1 << 20 {
            return Err(ConfigError::Invalid("max_backlog_bytes must be at least 1 MiB (1048576)".into()));
        }
        self.resolved_token()?;
        self.client()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_url_carries_org_bucket_and_precision() {
        let c = InfluxConfig { url: "http://influx:8086/".into(), org: "菏泽".into(), ..InfluxConfig::default() };
        let url = c.write_url().unwrap();
        assert_eq!(url.path(), "/api/v2/write");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            vec![
                ("org".into(), "菏泽".into()),
                ("bucket".into(), "fieldline".into()),
                ("precision".into(), "ns".into())
            ]
        );
    }

    #[test]
    fn check_says_what_is_wrong() {
        let bad_url = InfluxConfig { url: "influx:8086".into(), ..InfluxConfig::default() };
        assert!(bad_url.check().unwrap_err().to_string().contains("http://"));
        let no_bucket = InfluxConfig { url: "http://x".into(), bucket: String::new(), ..InfluxConfig::default() };
        assert!(no_bucket.check().unwrap_err().to_string().contains("bucket"));
        let missing = InfluxConfig {
            url: "http://x".into(),
            token_file: Some("/nonexistent/token".into()),
            ..InfluxConfig::default()
        };
        assert!(missing.check().unwrap_err().to_string().contains("/nonexistent/token"));
        let ok = InfluxConfig { url: "https://x:8086".into(), ..InfluxConfig::default() };
        ok.check().unwrap();
    }

    #[test]
    fn the_token_stays_out_of_debug_output() {
        let c = InfluxConfig { token: Some("s3cret".into()), ..InfluxConfig::default() };
        assert!(!format!("{c:?}").contains("s3cret"));
    }
}
