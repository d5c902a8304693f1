//! `[broker]` configuration: which external MQTT broker to read from, and how.

use serde::{Deserialize, Serialize};

use super::Error;

/// `[broker]` section of `fieldline.toml` (used with `serve --broker URL`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// `mqtt://[user:password@]host[:port]`.
    pub url: String,
    /// Stable client id: the broker keeps this session's unacknowledged messages.
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Filters to subscribe to; `$share/GROUP/fl/v1/#` spreads load over several replicas.
    pub topics: Vec<String>,
    pub keep_alive_secs: u64,
    /// Outgoing QoS 1 publishes (alerts, forecasts) in flight.
    pub inflight: u16,
    /// Received messages waiting to be processed before the client stops reading.
    pub queue_capacity: usize,
    /// Messages being written at once (their writes share group commits).
    pub max_pending_writes: usize,
    pub max_packet_bytes: usize,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            url: "mqtt://127.0.0.1:1883".into(),
            client_id: "fieldline-ingest".into(),
            username: None,
            password: None,
            topics: vec!["fl/v1/#".into()],
            keep_alive_secs: 30,
            inflight: 100,
            queue_capacity: 1024,
            max_pending_writes: 1024,
            max_packet_bytes: 1 << 20,
        }
    }
}

impl std::fmt::Debug for BrokerConfig {
    // Secrets are never logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerConfig")
            .field("url", &redact_url(&self.url))
            .field("client_id", &self.client_id)
            .field("username", &self.username)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl BrokerConfig {
    pub(crate) fn credentials(&self) -> Option<(String, String)> {
        self.username.clone().map(|u| (u, self.password.clone().unwrap_or_default()))
    }
}

/// A parsed broker URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerTarget {
    pub host: String,
    pub port: u16,
    pub credentials: Option<(String, String)>,
}

/// Parses `mqtt://[user:password@]host[:port]` (`tcp://` also accepted; port 1883 by default).
pub fn parse_url(url: &str) -> Result<BrokerTarget, Error> {
    let err = || Error::Url(redact_url(url));
    let rest = url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://")).ok_or_else(err)?;
    let rest = rest.trim_end_matches('/');
    let (credentials, hostport) = match rest.rsplit_once('@') {
        Some((cred, hp)) => {
            let (u, p) = cred.split_once(':').unwrap_or((cred, ""));
            (Some((u.to_string(), p.to_string())), hp)
        }
        None => (None, rest),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| err())?),
        None => (hostport, 1883),
    };
    if host.is_empty() || host.contains('/') {
        return Err(err());
    }
    Ok(BrokerTarget { host: host.trim_start_matches('[').trim_end_matches(']').to_string(), port, credentials })
}

/// The URL with any password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &url[s + 3..at];
            let user = cred.split(':').next().unwrap_or("");
            format!("{}{}:***@{}", &url[..s + 3], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_broker_urls() {
        assert_eq!(
            parse_url("mqtt://localhost").unwrap(),
            BrokerTarget { host: "localhost".into(), port: 1883, credentials: None }
        );
        let t = parse_url("mqtt://u:p@10.0.0.1:2883").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("10.0.0.1", 2883));
        assert_eq!(t.credentials, Some(("u".into(), "p".into())));
        assert!(parse_url("http://x").is_err());
        assert!(parse_url("mqtt://host:notaport").is_err());
        assert_eq!(redact_url("mqtt://u:secret@h:1"), "mqtt://u:***@h:1");
    }
}
