//! Delivery of a day's bundle: to each `[[brain.recipients]]` the bundle cut to its groups and
//! sites, POSTed with a signature and retried with exponential backoff by one task per
//! recipient (a dead recipient delays nobody else); to MQTT one bundle per site on
//! `fl/v1/{site}/brain`. Each delivery ends as one audit-log record. Deliveries of stored
//! bundles that have no record yet (the server stopped mid-retry) are queued again at start.
//!
//! The signature header is `X-Fieldline-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>">`, made afresh for each attempt. A receiver recomputes it with the shared key,
//! rejects a timestamp older than its tolerance (a replayed request) and may also remember
//! `X-Fieldline-Delivery` ids it has seen; [`verify`] does the first two.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use fieldline_core::time::{format_time, now_ns};
use ring::hmac;
use time::{Date, UtcOffset};
use tokio::sync::{mpsc, watch};

use super::ledger::{DeliveryRecord, Ledger};
use super::{BrainConfig, Error, Recipient, bundle};

/// The request header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-fieldline-signature";
/// The request header naming the delivery (`{date}/{recipient}`), the same on every retry.
pub const DELIVERY_HEADER: &str = "x-fieldline-delivery";
/// Stored bundles looked at for unfinished deliveries at start.
const RESUME_DAYS: usize = 30;

/// `X-Fieldline-Signature` for `body` sent at `timestamp_s`.
pub fn sign(key: &[u8], timestamp_s: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp_s.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={timestamp_s},v1={}", hex(ctx.sign().as_ref()))
}

/// Why a signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header is not t=<seconds>,v1=<hex>")]
    Malformed,
    #[error("signed {age_s} s from now, outside the tolerance: a replay or a wrong clock")]
    Stale { age_s: i64 },
    #[error("signature does not match the body")]
    Mismatch,
}

/// Checks `header` against `body` and the shared `key`, and that it was made within
/// `tolerance_s` of `now_s`; returns the signing time.
pub fn verify(key: &[u8], header: &str, body: &[u8], now_s: i64, tolerance_s: i64) -> Result<i64, SignatureError> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = unhex(value),
            _ => {}
        }
    }
    let (Some(t), Some(mac)) = (t, v1) else { return Err(SignatureError::Malformed) };
    let age_s = now_s.saturating_sub(t);
    if age_s.abs() > tolerance_s {
        return Err(SignatureError::Stale { age_s });
    }
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut signed = Vec::with_capacity(body.len() + 24);
    signed.extend_from_slice(t.to_string().as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    hmac::verify(&key, &signed, &mac).map_err(|_| SignatureError::Mismatch)?;
    Ok(t)
}

/// SHA-256 of `bytes`, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// One bundle on its way to one recipient.
struct Job {
    id: String,
    date: Date,
    body: Vec<u8>,
    sites: Vec<String>,
}

/// The delivery queues, one per recipient, and the MQTT outbox.
#[derive(Clone)]
pub struct Deliveries {
    config: Arc<BrainConfig>,
    ledger: Arc<Ledger>,
    outbox: fieldline_ingest::outbox::Outbox,
    queues: Arc<BTreeMap<String, mpsc::UnboundedSender<Job>>>,
}

impl Deliveries {
    /// Starts one delivery task per recipient (needs a Tokio runtime); they end when `stop`
    /// turns true, leaving what is unfinished to the next start.
    pub(super) fn start(
        config: Arc<BrainConfig>,
        ledger: Arc<Ledger>,
        outbox: fieldline_ingest::outbox::Outbox,
        stop: watch::Receiver<bool>,
    ) -> Result<Deliveries, Error> {
        let client = crate::alerts::webhook::webhook_client(None).map_err(|e| Error::Config(e.to_string()))?;
        let mut queues = BTreeMap::new();
        for recipient in &config.recipients {
            let (tx, rx) = mpsc::unbounded_channel();
            let key = recipient.key()?;
            let deliveries = deliver_loop(recipient.clone(), key, config.clone(), ledger.clone(), client.clone(), rx);
            let mut stop = stop.clone();
            tokio::spawn(async move {
                tokio::select! {
                    () = deliveries => {}
                    _ = stop.wait_for(|s| *s) => {}
                }
            });
            queues.insert(recipient.name.clone(), tx);
        }
        Ok(Deliveries { config, ledger, outbox, queues: Arc::new(queues) })
    }

    /// Sends `date`'s bundle everywhere it goes, except the deliveries in `done` (audit ids).
    pub fn dispatch(&self, date: Date, whole: &serde_json::Value, done: &BTreeSet<String>) -> Result<(), Error> {
        for recipient in &self.config.recipients {
            let id = format!("{date}/{}", recipient.name);
            if done.contains(&id) {
                continue;
            }
            let cut = bundle::cut(whole, &recipient.groups, &recipient.sites);
            let sites = bundle::sites_of(&cut);
            let body = serde_json::to_vec(&cut).map_err(|e| Error::Build(e.to_string()))?;
            if let Some(queue) = self.queues.get(&recipient.name) {
                // The task lives as long as the runtime; a send fails only during shutdown,
                // and the delivery is then queued again at the next start.
                let _ = queue.send(Job { id, date, body, sites });
            }
        }
        if self.config.mqtt {
            for site in bundle::sites_of(whole) {
                let id = format!("{date}/mqtt/{site}");
                if done.contains(&id) {
                    continue;
                }
                let cut = bundle::cut(whole, &self.config.mqtt_groups, std::slice::from_ref(&site));
                let body = serde_json::to_vec(&cut).map_err(|e| Error::Build(e.to_string()))?;
                let topic = format!("fl/v1/{site}/brain");
                let record = DeliveryRecord {
                    id,
                    date: date.to_string(),
                    recipient: "mqtt".into(),
                    channel: "mqtt".into(),
                    target: topic.clone(),
                    groups: self.config.mqtt_groups.clone(),
                    sites: vec![site.clone()],
                    sha256: sha256_hex(&body),
                    bytes: body.len(),
                    status: "published".into(),
                    attempts: 1,
                    http_status: None,
                    error: None,
                    at: format_time(now_ns(), UtcOffset::UTC),
                };
                self.outbox.publish(topic, body);
                self.ledger.record(&record)?;
            }
        }
        Ok(())
    }

    /// Queues again what stored bundles of the last days have no audit record for.
    pub(super) fn resume(&self) -> Result<(), Error> {
        let done: BTreeSet<String> = self.ledger.records()?.into_iter().map(|r| r.id).collect();
        let dates = self.ledger.bundle_dates()?;
        for date in dates.iter().rev().take(RESUME_DAYS).rev() {
            if let Some(whole) = self.ledger.bundle(*date)? {
                self.dispatch(*date, &whole, &done)?;
            }
        }
        Ok(())
    }
}

/// One recipient's deliveries, in order, each retried until it is accepted (2xx) or the
/// attempts run out; each ends as an audit record. Stopped mid-delivery (the server shuts
/// down), a delivery has no record and is made again at the next start: at least once, so a
/// receiver should drop a `X-Fieldline-Delivery` id it has already accepted.
async fn deliver_loop(
    recipient: Recipient,
    key: Vec<u8>,
    config: Arc<BrainConfig>,
    ledger: Arc<Ledger>,
    client: reqwest::Client,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    while let Some(job) = rx.recv().await {
        let mut delay = Duration::from_millis(config.retry_initial_ms.max(1));
        let (mut attempts, mut http_status, mut error, mut delivered) = (0, None, None, false);
        for attempt in 1..=config.attempts.max(1) {
            attempts = attempt;
            let signature = sign(&key, now_ns() / 1_000_000_000, &job.body);
            let sent = client
                .post(&recipient.url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature)
                .header(DELIVERY_HEADER, &job.id)
                .body(job.body.clone())
                .send()
                .await;
            match sent {
                Ok(resp) if resp.status().is_success() => {
                    (http_status, error, delivered) = (Some(resp.status().as_u16()), None, true);
                    break;
                }
                Ok(resp) => {
                    http_status = Some(resp.status().as_u16());
                    error = Some(format!("refused with HTTP {}", resp.status()));
                    tracing::warn!(recipient = recipient.name, attempt, status = %resp.status(), "brain bundle refused");
                }
                Err(e) => {
                    http_status = None;
                    error = Some(format!("unreachable: {e}"));
                    tracing::warn!(recipient = recipient.name, attempt, error = %e, "brain recipient unreachable");
                }
            }
            if attempt < config.attempts.max(1) {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(300));
            }
        }
        let record = DeliveryRecord {
            id: job.id,
            date: job.date.to_string(),
            recipient: recipient.name.clone(),
            channel: "webhook".into(),
            target: recipient.url.clone(),
            groups: recipient.groups.clone(),
            sites: job.sites,
            sha256: sha256_hex(&job.body),
            bytes: job.body.len(),
            status: if delivered { "delivered" } else { "failed" }.into(),
            attempts,
            http_status,
            error,
            at: format_time(now_ns(), UtcOffset::UTC),
        };
        if !delivered {
            tracing::error!(recipient = recipient.name, id = record.id, attempts, "brain bundle delivery given up");
        }
        if let Err(e) = ledger.record(&record) {
            tracing::error!(error = %e, "cannot write the brain audit log");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_or_delay_is_refused() {
        let body = br#"{"date":"2026-04-20"}"#;
        let header = sign(b"k3y", 1_776_000_000, body);
        assert!(header.starts_with("t=1776000000,v1="));
        assert_eq!(verify(b"k3y", &header, body, 1_776_000_100, 300), Ok(1_776_000_000));
        assert_eq!(
            verify(b"k3y", &header, b"{\"date\":\"2026-04-21\"}", 1_776_000_100, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(b"other", &header, body, 1_776_000_100, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"k3y", &header, body, 1_776_000_400, 300), Err(SignatureError::Stale { age_s: 400 }));
        // The timestamp is signed too: moving it forward breaks the MAC.
        let moved = header.replace("t=1776000000", "t=1776000300");
        assert_eq!(verify(b"k3y", &moved, body, 1_776_000_400, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(b"k3y", "v1=00", body, 0, 300), Err(SignatureError::Malformed));
        assert_eq!(verify(b"k3y", "t=1,v1=zz", body, 1, 300), Err(SignatureError::Malformed));
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let header = sign(b"Jefe", 0, b"what do ya want for nothing?");
        // The signed data is "0." + body, so recompute by hand with ring for the expected value.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"Jefe");
        let expected = hex(hmac::sign(&key, b"0.what do ya want for nothing?").as_ref());
        assert_eq!(header, format!("t=0,v1={expected}"));
        let rfc = hex(hmac::sign(&key, b"what do ya want for nothing?").as_ref());
        assert_eq!(rfc, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
