//! `[mqtt]` configuration of fieldline's own MQTT endpoint, and the user/ACL rules it
//! enforces.

use serde::{Deserialize, Serialize};

use crate::pipeline::Rights;
use crate::topic::matches_filter;

/// `[mqtt]` section of `fieldline.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointConfig {
    /// Address to listen on.
    pub listen: String,
    /// ntex worker threads accepting connections.
    pub workers: usize,
    /// QoS 1 publishes a connection may have in flight (being made durable) at once.
    pub max_inflight: u16,
    /// Largest accepted MQTT packet, bytes.
    pub max_packet_bytes: u32,
    /// Accept connections without credentials. When false, every client needs a `[[mqtt.users]]` entry.
    pub allow_anonymous: bool,
    /// Known users; `publish`/`subscribe` filters may use `%u` (username) and `%c` (client id).
    pub users: Vec<UserConfig>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            listen: "127.0.0.1:1883".into(),
            workers: 1,
            max_inflight: 256,
            max_packet_bytes: 1 << 20,
            allow_anonymous: true,
            users: Vec::new(),
        }
    }
}

/// One MQTT user.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub username: String,
    pub password: String,
    /// Topic filters this user may publish to; empty = any `fl/v1/...` topic.
    #[serde(default)]
    pub publish: Vec<String>,
    /// Topic filters this user may subscribe to; empty = any.
    #[serde(default)]
    pub subscribe: Vec<String>,
    /// May write the measurements fieldline keeps for itself (`forecast`, `_alert`, ...).
    #[serde(default)]
    pub write_reserved: bool,
}

impl std::fmt::Debug for UserConfig {
    // Secrets are never logged.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("publish", &self.publish)
            .field("subscribe", &self.subscribe)
            .field("write_reserved", &self.write_reserved)
            .finish()
    }
}

/// Who a connection is, once authenticated.
#[derive(Debug, Clone)]
pub struct Identity {
    pub client_id: String,
    pub user: Option<UserConfig>,
}

impl EndpointConfig {
    /// Checks CONNECT credentials; `None` means refuse the connection.
    pub fn authenticate(&self, client_id: &str, username: Option<&str>, password: Option<&[u8]>) -> Option<Identity> {
        match username {
            Some(name) => {
                let user = self.users.iter().find(|u| u.username == name)?;
                // Constant-time comparison is moot at this scale; equal length first avoids
                // the obvious shortcut.
                let ok = password.is_some_and(|p| p.len() == user.password.len() && p == user.password.as_bytes());
                ok.then(|| Identity { client_id: client_id.to_string(), user: Some(user.clone()) })
            }
            None if self.allow_anonymous => Some(Identity { client_id: client_id.to_string(), user: None }),
            None => None,
        }
    }
}

impl Identity {
    /// What this connection may write.
    pub fn rights(&self) -> Rights {
        Rights { write_reserved: self.user.as_ref().is_some_and(|u| u.write_reserved) }
    }

    pub fn username(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.username.as_str())
    }

    fn allowed(&self, filters: &[String], topic: &str) -> bool {
        if filters.is_empty() {
            return true;
        }
        let username = self.username().unwrap_or("");
        filters.iter().any(|f| {
            let f = f.replace("%u", username).replace("%c", &self.client_id);
            matches_filter(&f, topic)
        })
    }

    /// May this connection publish to `topic`?
    pub fn may_publish(&self, topic: &str) -> bool {
        match &self.user {
            Some(u) => self.allowed(&u.publish, topic),
            None => true,
        }
    }

    /// May this connection subscribe to `filter`?
    pub fn may_subscribe(&self, filter: &str) -> bool {
        match &self.user {
            // A requested filter is allowed when an allowed filter equals or covers it.
            Some(u) => {
                u.subscribe.is_empty()
                    || u.subscribe.iter().any(|f| {
                        let f = f.replace("%u", self.username().unwrap_or("")).replace("%c", &self.client_id);
                        f == filter || matches_filter(&f, filter)
                    })
            }
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> EndpointConfig {
        EndpointConfig {
            allow_anonymous: false,
            users: vec![UserConfig {
                username: "wt01".into(),
                password: "secret".into(),
                publish: vec!["fl/v1/+/wind_turbine/%u/#".into()],
                subscribe: vec![],
                write_reserved: false,
            }],
            ..Default::default()
        }
    }

    #[test]
    fn authenticates_and_applies_acl() {
        let c = config();
        assert!(c.authenticate("c", None, None).is_none());
        assert!(c.authenticate("c", Some("wt01"), Some(b"wrong")).is_none());
        let id = c.authenticate("c", Some("wt01"), Some(b"secret")).unwrap();
        assert!(id.may_publish("fl/v1/heze/wind_turbine/wt01/telemetry"));
        assert!(!id.may_publish("fl/v1/heze/wind_turbine/wt02/telemetry"));
        assert!(format!("{:?}", c.users[0]).contains("redacted"));
    }
}
