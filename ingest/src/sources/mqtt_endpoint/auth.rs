//! CONNECT credentials: who may connect, and as whom.
//!
//! Plain passwords are compared in constant time. argon2id hashes take tens of milliseconds
//! to verify (far more in a debug build), so verification runs on the blocking pool, never on
//! an ntex worker thread where it would stall every connection that worker serves; at most
//! one verification per core runs at once, so a flood of wrong passwords costs bounded CPU.
//! A successful verification is remembered as an HMAC-SHA256 of the password under a random
//! key made at start-up (never the password itself), so a device that reconnects every few
//! seconds is checked once, and a wrong password always goes through argon2.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use super::config::{AnonymousConfig, EndpointConfig, Identity, UserConfig};

/// Why a CONNECT was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Unknown user, missing or wrong password.
    BadCredentials,
    /// No username, and anonymous sessions are not allowed.
    AnonymousNotAllowed,
}

/// Checks credentials against `[[mqtt.users]]` and `[mqtt] allow_anonymous`.
pub struct Authenticator {
    users: HashMap<String, UserConfig>,
    /// `Some` when anonymous sessions are allowed.
    anonymous: Option<AnonymousConfig>,
    /// Username → HMAC of the password that last verified against its hash.
    verified: Mutex<HashMap<String, hmac::Tag>>,
    cache_key: hmac::Key,
    slots: Semaphore,
    argon2_runs: AtomicU64,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("users", &self.users.len()).finish_non_exhaustive()
    }
}

/// The system random source failed (no entropy available).
#[derive(Debug, thiserror::Error)]
#[error("no random numbers available from the operating system")]
pub struct NoRandomness;

impl Authenticator {
    /// Takes the users and anonymous rules of a checked configuration.
    pub fn new(config: &EndpointConfig) -> Result<Self, NoRandomness> {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Authenticator {
            users: config.users.iter().map(|u| (u.username.clone(), u.clone())).collect(),
            anonymous: config.anonymous_allowed().then(|| config.anonymous.clone()),
            verified: Mutex::new(HashMap::new()),
            cache_key: hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new()).map_err(|_| NoRandomness)?,
            slots: Semaphore::new(cores),
            argon2_runs: AtomicU64::new(0),
        })
    }

    /// The session's identity, or why the CONNECT is refused. A password without a username
    /// (allowed by MQTT 5) is ignored: that session is anonymous.
    pub async fn authenticate(
        &self,
        client_id: &str,
        username: Option<&str>,
        password: Option<&[u8]>,
    ) -> Result<Identity, Refused> {
        let Some(name) = username else {
            return match &self.anonymous {
                Some(acl) => Ok(Identity::anonymous(client_id, acl)),
                None => Err(Refused::AnonymousNotAllowed),
            };
        };
        let user = self.users.get(name).ok_or(Refused::BadCredentials)?;
        let password = password.ok_or(Refused::BadCredentials)?;
        let ok = match (&user.password, &user.password_hash) {
            (Some(plain), _) => bool::from(plain.as_bytes().ct_eq(password)),
            (None, Some(hash)) => self.verify_hash(name, hash, password).await,
            (None, None) => false,
        };
        if ok { Ok(Identity::user(client_id, user)) } else { Err(Refused::BadCredentials) }
    }

    async fn verify_hash(&self, name: &str, hash: &str, password: &[u8]) -> bool {
        let cached = self.verified.lock().ok().and_then(|c| c.get(name).cloned());
        if let Some(tag) = cached
            && hmac::verify(&self.cache_key, password, tag.as_ref()).is_ok()
        {
            return true;
        }
        let Ok(_slot) = self.slots.acquire().await else { return false };
        self.argon2_runs.fetch_add(1, Ordering::Relaxed);
        let (hash, owned) = (hash.to_string(), password.to_vec());
        // A panic in the verifier refuses this CONNECT, nothing more.
        let ok = tokio::task::spawn_blocking(move || verify_password(&hash, &owned)).await.unwrap_or(false);
        if ok && let Ok(mut cache) = self.verified.lock() {
            cache.insert(name.to_string(), hmac::sign(&self.cache_key, password));
        }
        ok
    }

    /// How many argon2 verifications ran (the rest were answered from the cache).
    pub fn argon2_runs(&self) -> u64 {
        self.argon2_runs.load(Ordering::Relaxed)
    }
}

/// Verifies `password` against an argon2 PHC string (its own parameters and salt).
fn verify_password(hash: &str, password: &[u8]) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| Argon2::default().verify_password(password, &parsed).is_ok())
}

/// Checks that `hash` is an argon2id PHC string with usable parameters; the reason if not.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| e.to_string())?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!("algorithm {:?}, expected argon2id", parsed.algorithm.as_str()));
    }
    argon2::Params::try_from(&parsed).map_err(|e| e.to_string())?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("salt or hash missing".into());
    }
    Ok(())
}

/// Hashes a password for `password_hash`: argon2id, a random 16-byte salt and the argon2
/// crate's default cost (19 MiB, 2 passes, 1 lane — OWASP's recommendation).
pub fn hash_password(password: &[u8]) -> Result<String, HashError> {
    let mut salt = [0u8; 16];
    SystemRandom::new().fill(&mut salt).map_err(|_| HashError(NoRandomness.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| HashError(e.to_string()))?;
    let hash = Argon2::default().hash_password(password, &salt).map_err(|e| HashError(e.to_string()))?;
    Ok(hash.to_string())
}

/// A password could not be hashed.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

#[cfg(test)]
mod tests {
    use super::*;

    /// A hash with tiny costs, so the unit tests stay fast in debug builds.
    fn cheap_hash(password: &str) -> String {
        let params = argon2::Params::new(64, 1, 1, None).unwrap();
        let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::encode_b64(b"fieldline-test-salt").unwrap();
        argon.hash_password(password.as_bytes(), &salt).unwrap().to_string()
    }

    fn config() -> EndpointConfig {
        EndpointConfig {
            users: vec![
                UserConfig { username: "plain".into(), password: Some("s3cret".into()), ..Default::default() },
                UserConfig { username: "hashed".into(), password_hash: Some(cheap_hash("h4sh")), ..Default::default() },
            ],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn plain_and_hashed_passwords() {
        let c = config();
        c.check().unwrap();
        let auth = Authenticator::new(&c).unwrap();
        assert_eq!(auth.authenticate("c", None, None).await.unwrap_err(), Refused::AnonymousNotAllowed);
        assert!(auth.authenticate("c", Some("plain"), Some(b"s3cret")).await.is_ok());
        assert_eq!(auth.authenticate("c", Some("plain"), Some(b"s3cre")).await.unwrap_err(), Refused::BadCredentials);
        assert_eq!(auth.authenticate("c", Some("plain"), None).await.unwrap_err(), Refused::BadCredentials);
        assert_eq!(auth.authenticate("c", Some("nobody"), Some(b"x")).await.unwrap_err(), Refused::BadCredentials);
        assert_eq!(auth.authenticate("c", Some("hashed"), Some(b"wrong")).await.unwrap_err(), Refused::BadCredentials);
        let id = auth.authenticate("c", Some("hashed"), Some(b"h4sh")).await.unwrap();
        assert_eq!(id.username(), Some("hashed"));
        assert_eq!(auth.argon2_runs(), 2);
        // Remembered: the same password again needs no argon2 run, a wrong one still does.
        assert!(auth.authenticate("c2", Some("hashed"), Some(b"h4sh")).await.is_ok());
        assert_eq!(auth.argon2_runs(), 2);
        assert!(auth.authenticate("c2", Some("hashed"), Some(b"h4sh!")).await.is_err());
        assert_eq!(auth.argon2_runs(), 3);
    }

    #[tokio::test]
    async fn anonymous_sessions_get_the_anonymous_acl() {
        let open = Authenticator::new(&EndpointConfig::default()).unwrap();
        let id = open.authenticate("dev", None, None).await.unwrap();
        assert!(id.may_publish("fl/v1/s/k/d/telemetry"));
        assert!(!id.may_publish("other/topic"));
        let explicit = EndpointConfig { allow_anonymous: Some(true), ..config() };
        assert!(Authenticator::new(&explicit).unwrap().authenticate("dev", None, None).await.is_ok());
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let hash = hash_password(b"correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        check_hash(&hash).unwrap();
        assert!(verify_password(&hash, b"correct horse"));
        assert!(!verify_password(&hash, b"correct horse "));
        assert!(check_hash("$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo").is_err());
        assert!(check_hash("plain text").is_err());
    }
}
