//! The webhook senders: alert changes POSTed in each receiver's format (`formats`), in order,
//! each retried with exponential backoff, over rustls with the operating system's trust store
//! plus `webhook_ca`.

use std::time::Duration;

use super::{AlertMetrics, AlertsConfig, Error, Severity, WebhookConfig, formats};

/// Delivers alert changes to one receiver in order, in its format, retrying each with
/// exponential backoff; changes below its severity floor are skipped. The HTTP client is built
/// here, before anything runs, so a bad `webhook_ca` (or a TLS set-up failure) stops start-up
/// instead of silently losing every delivery.
pub(super) fn spawn_webhook(
    hook: WebhookConfig,
    config: &AlertsConfig,
    metrics: AlertMetrics,
) -> Result<tokio::sync::mpsc::Sender<serde_json::Value>, Error> {
    let client = webhook_client(config.webhook_ca.as_deref())?;
    let secret = hook.signing_secret()?;
    let attempts = config.webhook_attempts;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<serde_json::Value>(1024);
    tokio::spawn(async move {
        while let Some(alert) = rx.recv().await {
            let severity = Severity::parse(alert["severity"].as_str().unwrap_or_default());
            if severity < hook.min_severity {
                continue;
            }
            let mut delay = Duration::from_millis(500);
            let mut delivered = false;
            for attempt in 1..=attempts.max(1) {
                // Rendered per attempt: the robots' signatures carry a timestamp they check.
                let now_ms = fieldline_core::time::now_ns() / 1_000_000;
                let request = formats::render(hook.format, &hook.url, secret.as_deref(), hook.language, &alert, now_ms);
                match client.post(&request.url).json(&request.body).send().await {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let body = resp.text().await.unwrap_or_default();
                        match formats::accepted(hook.format, status, &body) {
                            Ok(()) => {
                                delivered = true;
                                break;
                            }
                            Err(why) => tracing::warn!(attempt, format = ?hook.format, %why, "webhook refused alert"),
                        }
                    }
                    Err(e) => tracing::warn!(attempt, format = ?hook.format, error = %e, "webhook unreachable"),
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
            if !delivered {
                metrics.webhook_failures.inc();
                tracing::error!(id = %alert["id"], format = ?hook.format, "webhook delivery given up after {attempts} attempts");
            }
        }
    });
    Ok(tx)
}

/// The webhook's HTTP client: rustls with the OS trust store, plus the certificates in `ca`.
pub(crate) fn webhook_client(ca: Option<&std::path::Path>) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10)).use_rustls_tls();
    if let Some(path) = ca {
        let pem = std::fs::read(path)
            .map_err(|e| Error::Webhook(format!("cannot read webhook_ca {}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| Error::Webhook(format!("webhook_ca {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(Error::Webhook(format!("webhook_ca {}: no PEM certificate in it", path.display())));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| Error::Webhook(format!("cannot build the HTTP client: {e}")))
}
