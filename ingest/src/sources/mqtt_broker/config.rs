//! `[broker]` configuration: which external MQTT broker to read from, and how (TLS,
//! credentials).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Error;

/// `[broker]` section of `fieldline.toml` (used with `serve --broker URL`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// `mqtt://[user[:password]@]host[:port]`, or `mqtts://` for TLS (port 8883 by default).
    pub url: String,
    /// Stable client id: the broker keeps this session's unacknowledged messages.
    pub client_id: String,
    /// Used when the URL names no user.
    pub username: Option<String>,
    /// The password (also set from `FIELDLINE_BROKER_PASSWORD`). At most one of this,
    /// `password_file` and a password in the URL.
    pub password: Option<String>,
    /// A file holding the password (trailing newline ignored).
    pub password_file: Option<PathBuf>,
    /// PEM CA certificate(s) trusted for an `mqtts://` broker; unset = the OS trust store.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and key, for brokers that require client certificates.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
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
            password_file: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
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
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_file", &self.password_file)
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("client_key", &self.client_key)
            .field("topics", &self.topics)
            .finish_non_exhaustive()
    }
}

impl BrokerConfig {
    /// Username and password to send: the user from the URL or `username`; the password from
    /// exactly one of the URL, `password` and `password_file`.
    pub(crate) fn credentials(&self, target: &BrokerTarget) -> Result<Option<(String, String)>, Error> {
        let mut sources = Vec::new();
        if let Some(p) = &target.password {
            sources.push(("the URL", p.clone()));
        }
        if let Some(p) = &self.password {
            sources.push(("password (or FIELDLINE_BROKER_PASSWORD)", p.clone()));
        }
        if let Some(path) = &self.password_file {
            let text =
                std::fs::read_to_string(path).map_err(|source| Error::PasswordFile { path: path.clone(), source })?;
            sources.push(("password_file", text.trim_end_matches(['\r', '\n']).to_string()));
        }
        if sources.len() > 1 {
            let names: Vec<&str> = sources.iter().map(|(name, _)| *name).collect();
            return Err(Error::Credentials(format!("the broker password is given twice: {}", names.join(" and "))));
        }
        let password = sources.pop().map(|(_, p)| p);
        match (target.username.clone().or_else(|| self.username.clone()), password) {
            (Some(user), password) => Ok(Some((user, password.unwrap_or_default()))),
            (None, Some(_)) => Err(Error::Credentials("a broker password is set but no username".into())),
            (None, None) => Ok(None),
        }
    }
}

/// A parsed broker URL.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerTarget {
    pub host: String,
    pub port: u16,
    /// `mqtts://`: connect over TLS.
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for BrokerTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Parses `mqtt://[user[:password]@]host[:port]` (`tcp://` also accepted; port 1883 by
/// default) and `mqtts://...` (`ssl://` also accepted; port 8883 by default).
pub fn parse_url(url: &str) -> Result<BrokerTarget, Error> {
    let err = || Error::Url(redact_url(url));
    let (tls, rest) = if let Some(rest) = url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://")) {
        (false, rest)
    } else if let Some(rest) = url.strip_prefix("mqtts://").or_else(|| url.strip_prefix("ssl://")) {
        (true, rest)
    } else {
        return Err(err());
    };
    let rest = rest.trim_end_matches('/');
    let (username, password, hostport) = match rest.rsplit_once('@') {
        Some((cred, hp)) => match cred.split_once(':') {
            Some((u, p)) => (Some(u.to_string()), Some(p.to_string()), hp),
            None => (Some(cred.to_string()), None, hp),
        },
        None => (None, None, rest),
    };
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = match hostport.strip_prefix('[') {
        // [IPv6]:port
        Some(bracketed) => {
            let (h, after) = bracketed.split_once(']').ok_or_else(err)?;
            match after.strip_prefix(':') {
                Some(p) => (h, p.parse::<u16>().map_err(|_| err())?),
                None if after.is_empty() => (h, default_port),
                None => return Err(err()),
            }
        }
        None => match hostport.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| err())?),
            None => (hostport, default_port),
        },
    };
    if host.is_empty() || host.contains('/') {
        return Err(err());
    }
    let host = host.to_string();
    Ok(BrokerTarget { host, port, tls, username, password })
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
        let t = parse_url("mqtt://localhost").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls, t.username.as_deref()), ("localhost", 1883, false, None));
        let t = parse_url("mqtt://u:p@10.0.0.1:2883").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("10.0.0.1", 2883));
        assert_eq!((t.username.as_deref(), t.password.as_deref()), (Some("u"), Some("p")));
        let t = parse_url("mqtts://u@broker.example").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.tls), ("broker.example", 8883, true));
        assert_eq!((t.username.as_deref(), t.password.as_deref()), (Some("u"), None));
        assert!(parse_url("ssl://h:1").unwrap().tls);
        let t = parse_url("mqtt://[::1]:2883").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 2883));
        assert_eq!(parse_url("mqtts://[::1]").unwrap().port, 8883);
        assert!(parse_url("http://x").is_err());
        assert!(parse_url("mqtt://host:notaport").is_err());
        assert_eq!(redact_url("mqtt://u:secret@h:1"), "mqtt://u:***@h:1");
        assert!(!format!("{:?}", parse_url("mqtt://u:secret@h:1").unwrap()).contains("secret"));
    }

    #[test]
    fn the_password_comes_from_exactly_one_place() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let target = |url: &str| parse_url(url).unwrap();
        let config = BrokerConfig { password_file: Some(file.clone()), ..Default::default() };
        assert_eq!(
            config.credentials(&target("mqtt://fl@h")).unwrap(),
            Some(("fl".to_string(), "from-file".to_string()))
        );
        let e = config.credentials(&target("mqtt://fl:url@h")).unwrap_err().to_string();
        assert!(e.contains("the URL and password_file") && !e.contains("url@"), "{e}");
        let config = BrokerConfig { username: Some("cfg".into()), password: Some("pw".into()), ..Default::default() };
        assert_eq!(config.credentials(&target("mqtt://h")).unwrap(), Some(("cfg".to_string(), "pw".to_string())));
        let nobody = BrokerConfig { password: Some("pw".into()), ..Default::default() };
        assert!(nobody.credentials(&target("mqtt://h")).is_err());
        let missing = BrokerConfig { password_file: Some(dir.path().join("none")), ..Default::default() };
        assert!(missing.credentials(&target("mqtt://u@h")).unwrap_err().to_string().contains("none"));
        assert!(
            !format!("{:?}", BrokerConfig { password: Some("hunter2".into()), ..Default::default() })
                .contains("hunter2")
        );
    }
}
