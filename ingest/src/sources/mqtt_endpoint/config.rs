//! `[mqtt]` configuration of fieldline's own MQTT endpoint (listeners, limits, users,
//! anonymous access, TLS), and the topic rules (ACLs) a session is held to once connected.
//!
//! ACL filters may contain `%u` (username) and `%c` (client id). A substituted value that is
//! empty or contains `+`, `#` or `/` could widen the filter (client id `#` turning
//! `fl/v1/+/wind_turbine/%c/#` into "every turbine"), so such a filter grants nothing for
//! that session; the connection itself is still accepted and its other filters apply.

use std::borrow::Cow;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::pipeline::Rights;
use crate::topic::matches_filter;

/// `[mqtt]` section of `fieldline.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EndpointConfig {
    /// Address of the plain (unencrypted) listener.
    pub listen: String,
    /// Serve plain MQTT on `listen`. `false` with `[mqtt.tls]` set serves TLS only.
    pub plain: bool,
    /// ntex worker threads accepting connections.
    pub workers: usize,
    /// QoS 1 publishes a connection may have in flight (being made durable) at once.
    pub max_inflight: u16,
    /// Largest accepted MQTT packet, bytes.
    pub max_packet_bytes: u32,
    /// Topic filters one session may hold; further filters get a failed SUBACK entry.
    pub max_subscriptions: usize,
    /// Accept connections without a username. Unset: allowed when no `[[mqtt.users]]` are
    /// configured (an open edge box), refused as soon as there are users.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_anonymous: Option<bool>,
    /// What anonymous sessions may do.
    pub anonymous: AnonymousConfig,
    /// Known users; `publish`/`subscribe` filters may use `%u` (username) and `%c` (client id).
    pub users: Vec<UserConfig>,
    /// A TLS listener beside (or, with `plain = false`, instead of) the plain one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<EndpointTlsConfig>,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            listen: "127.0.0.1:1883".into(),
            plain: true,
            workers: 1,
            max_inflight: 256,
            max_packet_bytes: 1 << 20,
            max_subscriptions: 64,
            allow_anonymous: None,
            anonymous: AnonymousConfig::default(),
            users: Vec::new(),
            tls: None,
        }
    }
}

/// `[mqtt.anonymous]`: the ACL of sessions without a username. Unlike a user's lists, an
/// empty list here allows nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnonymousConfig {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

impl Default for AnonymousConfig {
    fn default() -> Self {
        AnonymousConfig { publish: vec!["fl/v1/#".into()], subscribe: vec!["fl/v1/#".into()] }
    }
}

/// `[mqtt.tls]`: the TLS listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointTlsConfig {
    #[serde(default = "default_tls_listen")]
    pub listen: String,
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

fn default_tls_listen() -> String {
    "127.0.0.1:8883".into()
}

/// One MQTT user: exactly one of `password` (plain, accepted with a start-up warning) and
/// `password_hash` (an argon2id PHC string from `fieldline passwd`).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Topic filters this user may publish to; empty = any topic.
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
    // Secrets are never logged (the hash included: it can be attacked offline).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |set: bool| if set { "<redacted>" } else { "<none>" };
        f.debug_struct("UserConfig")
            .field("username", &self.username)
            .field("password", &redacted(self.password.is_some()))
            .field("password_hash", &redacted(self.password_hash.is_some()))
            .field("publish", &self.publish)
            .field("subscribe", &self.subscribe)
            .field("write_reserved", &self.write_reserved)
            .finish()
    }
}

/// A `[mqtt]` section that cannot work.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("[[mqtt.users]] {0:?}: set exactly one of password and password_hash")]
    PasswordChoice(String),
    #[error(
        "[[mqtt.users]] {user:?}: password_hash is not an argon2id PHC string \
         ($argon2id$v=19$m=...,t=...,p=...$SALT$HASH, made by `fieldline passwd`): {reason}"
    )]
    BadHash { user: String, reason: String },
    #[error("[[mqtt.users]] {0:?} is configured twice")]
    DuplicateUser(String),
    #[error("[mqtt] {key}: {filter:?} is not a topic filter ('+' and '#' must be whole levels, '#' the last)")]
    BadFilter { key: String, filter: String },
    #[error("[mqtt] plain = false needs a [mqtt.tls] listener, else nothing listens")]
    NoListener,
}

impl EndpointConfig {
    /// Whether sessions without a username are accepted (see `allow_anonymous`).
    pub fn anonymous_allowed(&self) -> bool {
        self.allow_anonymous.unwrap_or(self.users.is_empty())
    }

    /// Refuses a configuration that cannot work, naming the key at fault.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !self.plain && self.tls.is_none() {
            return Err(ConfigError::NoListener);
        }
        let mut seen = std::collections::HashSet::new();
        for user in &self.users {
            if !seen.insert(user.username.as_str()) {
                return Err(ConfigError::DuplicateUser(user.username.clone()));
            }
            match (&user.password, &user.password_hash) {
                (Some(_), None) => {}
                (None, Some(hash)) => super::auth::check_hash(hash)
                    .map_err(|reason| ConfigError::BadHash { user: user.username.clone(), reason })?,
                _ => return Err(ConfigError::PasswordChoice(user.username.clone())),
            }
            check_filters(&format!("[[mqtt.users]] {:?} publish", user.username), &user.publish)?;
            check_filters(&format!("[[mqtt.users]] {:?} subscribe", user.username), &user.subscribe)?;
        }
        check_filters("[mqtt.anonymous] publish", &self.anonymous.publish)?;
        check_filters("[mqtt.anonymous] subscribe", &self.anonymous.subscribe)?;
        Ok(())
    }

    /// Users configured with a plain-text password (warned about at start-up).
    pub fn plain_password_users(&self) -> impl Iterator<Item = &str> {
        self.users.iter().filter(|u| u.password.is_some()).map(|u| u.username.as_str())
    }
}

fn check_filters(key: &str, filters: &[String]) -> Result<(), ConfigError> {
    match filters.iter().find(|f| !is_valid_filter(f)) {
        Some(f) => Err(ConfigError::BadFilter { key: key.to_string(), filter: f.clone() }),
        None => Ok(()),
    }
}

/// An MQTT topic filter: non-empty, `+` and `#` only as whole levels, `#` only last.
pub fn is_valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = filter.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| match *level {
        "#" => i == levels.len() - 1,
        "+" => true,
        other => !other.contains(['+', '#']),
    })
}

/// True if every topic `requested` matches is also matched by `allowed` (both valid filters).
pub fn filter_covers(allowed: &str, requested: &str) -> bool {
    let mut a = allowed.split('/');
    let mut r = requested.split('/');
    loop {
        match (a.next(), r.next()) {
            (Some("#"), _) => return true,
            (Some(_), Some("#")) => return false,
            (Some("+"), Some(_)) => {}
            (Some(x), Some(y)) if x == y => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Which topics a session may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filters {
    /// Any topic (a user configured with an empty list).
    Any,
    /// Only these filters, `%u`/`%c` not yet substituted.
    Only(Vec<String>),
}

impl Filters {
    fn of_user(filters: &[String]) -> Self {
        if filters.is_empty() { Filters::Any } else { Filters::Only(filters.to_vec()) }
    }
}

/// Who a connection is, once authenticated, and what it may do.
#[derive(Debug, Clone)]
pub struct Identity {
    pub client_id: String,
    /// `None` for an anonymous session.
    pub username: Option<String>,
    pub publish: Filters,
    pub subscribe: Filters,
    pub write_reserved: bool,
}

impl Identity {
    /// An authenticated user's session.
    pub fn user(client_id: &str, user: &UserConfig) -> Self {
        Identity {
            client_id: client_id.to_string(),
            username: Some(user.username.clone()),
            publish: Filters::of_user(&user.publish),
            subscribe: Filters::of_user(&user.subscribe),
            write_reserved: user.write_reserved,
        }
    }

    /// A session without a username.
    pub fn anonymous(client_id: &str, acl: &AnonymousConfig) -> Self {
        Identity {
            client_id: client_id.to_string(),
            username: None,
            publish: Filters::Only(acl.publish.clone()),
            subscribe: Filters::Only(acl.subscribe.clone()),
            write_reserved: false,
        }
    }

    /// What this connection may write.
    pub fn rights(&self) -> Rights {
        Rights { write_reserved: self.write_reserved }
    }

    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// `filter` with `%u` and `%c` substituted, or `None` when a value it needs is unusable.
    /// Borrowed when there is nothing to substitute (every publish is checked).
    fn expand<'a>(&self, filter: &'a str) -> Option<Cow<'a, str>> {
        if !filter.contains('%') {
            return Some(Cow::Borrowed(filter));
        }
        let usable = |v: &str| !v.is_empty() && !v.contains(['+', '#', '/', '\0']);
        let mut out = filter.to_string();
        if out.contains("%u") {
            let user = self.username.as_deref().filter(|u| usable(u))?;
            out = out.replace("%u", user);
        }
        if out.contains("%c") {
            if !usable(&self.client_id) {
                return None;
            }
            out = out.replace("%c", &self.client_id);
        }
        Some(Cow::Owned(out))
    }

    /// May this connection publish to `topic`?
    pub fn may_publish(&self, topic: &str) -> bool {
        if topic.contains(['+', '#']) {
            return false;
        }
        match &self.publish {
            Filters::Any => true,
            Filters::Only(filters) => filters.iter().filter_map(|f| self.expand(f)).any(|f| matches_filter(&f, topic)),
        }
    }

    /// May this connection subscribe to `filter`? Only valid filters that an allowed filter
    /// covers entirely.
    pub fn may_subscribe(&self, filter: &str) -> bool {
        if !is_valid_filter(filter) {
            return false;
        }
        match &self.subscribe {
            Filters::Any => true,
            Filters::Only(filters) => filters.iter().filter_map(|f| self.expand(f)).any(|f| filter_covers(&f, filter)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(publish: &[&str], subscribe: &[&str]) -> UserConfig {
        UserConfig {
            username: "wt01".into(),
            password: Some("secret".into()),
            publish: publish.iter().map(|s| s.to_string()).collect(),
            subscribe: subscribe.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn old_config_files_still_parse_and_anonymous_follows_users() {
        // (The same serde types read fieldline.toml; JSON keeps this crate free of toml.)
        let c: EndpointConfig =
            serde_json::from_str(r#"{"allow_anonymous":true,"users":[{"username":"a","password":"p"}]}"#).unwrap();
        assert!(c.anonymous_allowed(), "explicit true is kept");
        let c: EndpointConfig = serde_json::from_str(r#"{"users":[{"username":"a","password":"p"}]}"#).unwrap();
        assert!(!c.anonymous_allowed(), "users configured: anonymous off by default");
        let c: EndpointConfig = serde_json::from_str("{}").unwrap();
        assert!(c.anonymous_allowed(), "no users: an open edge box");
        assert_eq!(c.max_subscriptions, 64);
        c.check().unwrap();
    }

    #[test]
    fn check_refuses_what_cannot_work() {
        let both = EndpointConfig {
            users: vec![UserConfig { password_hash: Some("$argon2id$x".into()), ..user(&[], &[]) }],
            ..Default::default()
        };
        assert!(matches!(both.check(), Err(ConfigError::PasswordChoice(_))));
        let bad_hash = EndpointConfig {
            users: vec![UserConfig { password: None, password_hash: Some("md5:abc".into()), ..user(&[], &[]) }],
            ..Default::default()
        };
        let e = bad_hash.check().unwrap_err().to_string();
        assert!(e.contains("\"wt01\"") && e.contains("argon2id"), "{e}");
        let twice = EndpointConfig { users: vec![user(&[], &[]), user(&[], &[])], ..Default::default() };
        assert!(matches!(twice.check(), Err(ConfigError::DuplicateUser(_))));
        let filter = EndpointConfig { users: vec![user(&["fl/v1/#/x"], &[])], ..Default::default() };
        assert!(matches!(filter.check(), Err(ConfigError::BadFilter { .. })));
        let nothing = EndpointConfig { plain: false, ..Default::default() };
        assert!(matches!(nothing.check(), Err(ConfigError::NoListener)));
        assert_eq!(
            EndpointConfig { users: vec![user(&[], &[])], ..Default::default() }
                .plain_password_users()
                .collect::<Vec<_>>(),
            vec!["wt01"]
        );
    }

    #[test]
    fn acl_applies_with_substitution() {
        let id = Identity::user("c1", &user(&["fl/v1/+/wind_turbine/%u/#"], &["fl/v1/+/alerts"]));
        assert!(id.may_publish("fl/v1/heze/wind_turbine/wt01/telemetry"));
        assert!(!id.may_publish("fl/v1/heze/wind_turbine/wt02/telemetry"));
        assert!(id.may_subscribe("fl/v1/heze/alerts"));
        assert!(id.may_subscribe("fl/v1/+/alerts"));
        assert!(!id.may_subscribe("fl/v1/#"), "a wider filter than allowed");
        assert!(!id.may_subscribe("fl/v1/#/alerts"), "invalid filter");
        assert!(format!("{:?}", user(&[], &[])).contains("redacted"));
        assert!(!format!("{:?}", user(&[], &[])).contains("secret"));
    }

    #[test]
    fn unusable_substitutions_grant_nothing() {
        let acl = user(&["fl/v1/+/wind_turbine/%c/#", "fl/v1/lp"], &["fl/v1/%c/alerts"]);
        for client_id in ["#", "+", "a/b", "", "x#", "+y"] {
            let id = Identity::user(client_id, &acl);
            assert!(!id.may_publish("fl/v1/heze/wind_turbine/wt02/telemetry"), "client id {client_id:?}");
            assert!(!id.may_subscribe("fl/v1/heze/alerts"), "client id {client_id:?}");
            assert!(!id.may_subscribe("fl/v1/+/alerts"), "client id {client_id:?}");
            assert!(id.may_publish("fl/v1/lp"), "filters without %c still apply");
        }
        let ok = Identity::user("wt02", &acl);
        assert!(ok.may_publish("fl/v1/heze/wind_turbine/wt02/telemetry"));
        // An anonymous session has no username: a %u filter grants it nothing.
        let anon = Identity::anonymous("x", &AnonymousConfig { publish: vec!["fl/v1/%u/#".into()], subscribe: vec![] });
        assert!(!anon.may_publish("fl/v1/x/y"));
        assert!(!anon.may_subscribe("fl/v1/#"), "an empty anonymous list allows nothing");
    }

    #[test]
    fn filter_validity_and_coverage() {
        for ok in ["#", "+", "fl/v1/#", "fl/v1/+/alerts", "a//b", "/"] {
            assert!(is_valid_filter(ok), "{ok}");
        }
        for bad in ["", "fl/#/x", "fl/v1/a#", "fl/+x/y", "#/a"] {
            assert!(!is_valid_filter(bad), "{bad}");
        }
        assert!(filter_covers("fl/v1/#", "fl/v1/+/alerts"));
        assert!(filter_covers("fl/v1/+/alerts", "fl/v1/heze/alerts"));
        assert!(!filter_covers("fl/v1/+/alerts", "fl/v1/+/#"));
        assert!(!filter_covers("fl/v1/heze/#", "fl/v1/+/alerts"));
        assert!(filter_covers("#", "#"));
    }
}
