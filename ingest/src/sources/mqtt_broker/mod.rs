//! Client of an external MQTT broker (Mosquitto, EMQX) on rumqttc: subscribes to
//! `fl/v1/#` (or a shared subscription) and acknowledges each QoS 1 message only after its
//! points are durable.
//!
//! The known traps (DESIGN.md §4) shape it: manual acks are sent from a task other than the
//! one polling the event loop (acking from the poller froze the client, rumqttc #1025); the
//! session is persistent (`clean_session = false`, stable client id) so unacknowledged
//! messages are redelivered after a crash or reconnect; subscriptions are renewed on every
//! CONNACK because rumqttc does not restore them. Acks go out in the order the publishes
//! arrived (MQTT §4.6) while writes of later messages proceed concurrently, so one fsync
//! covers many messages.
//!
//! A failed write (disk full, I/O error) is retried in place with backoff until it succeeds
//! or fieldline shuts down: the broker does not resend an unacknowledged message within a
//! session, so giving up on it would lose it, and since acks are in arrival order every later
//! message would wait unacknowledged behind it. Retrying keeps everything on the same
//! connection, in order, and needs no broker behaviour beyond plain MQTT; while the store is
//! down the pending writes fill up and the client stops reading (backpressure).
//!
//! `mqtts://` URLs connect over TLS (rustls with ring), trusting `ca_file` or the OS store.

pub mod config;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Publish, QoS, TlsConfiguration, Transport};
use tokio::sync::{mpsc, watch};

pub use config::BrokerConfig;

use super::IngestContext;
use super::tls::{self, TlsError};
use crate::metrics::SourceLabels;
use crate::pipeline::Rights;
use crate::topic;
use fieldline_core::sink::SinkError;

const SOURCE: &str = "mqtt_broker";

/// Broker client errors (all found before connecting).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid broker URL {0:?}: expected mqtt://[user[:password]@]host[:port] or mqtts://...")]
    Url(String),
    #[error("cannot read the broker password file {path}: {source}")]
    PasswordFile { path: PathBuf, source: std::io::Error },
    #[error("[broker] credentials: {0}")]
    Credentials(String),
    #[error("{0}")]
    Tls(#[from] TlsError),
}

/// A publish together with the connection it arrived on, so an ack is never sent on a
/// later connection for a message the broker will redeliver anyway.
struct Received {
    publish: Publish,
    connection: u64,
}

/// A configured client, checked (URL, credentials, TLS files) but not yet connected.
pub struct Client {
    config: BrokerConfig,
    options: MqttOptions,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Client {
    /// Reads everything the connection needs, so a bad URL, password file or certificate is
    /// reported at start-up rather than in a reconnect loop.
    pub fn new(config: BrokerConfig) -> Result<Self, Error> {
        let target = config::parse_url(&config.url)?;
        let mut options = MqttOptions::new(config.client_id.clone(), target.host.clone(), target.port);
        options.set_clean_session(false);
        options.set_manual_acks(true);
        options.set_keep_alive(Duration::from_secs(config.keep_alive_secs.max(5)));
        options.set_max_packet_size(config.max_packet_bytes, config.max_packet_bytes);
        options.set_inflight(config.inflight.max(1));
        if let Some((user, password)) = config.credentials(&target)? {
            options.set_credentials(user, password);
        }
        if target.tls {
            let tls = tls_client_config(&config)?;
            options.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(Arc::new(tls))));
        } else if config.ca_file.is_some() || config.client_cert.is_some() || config.client_key.is_some() {
            return Err(
                TlsError::Config("[broker] ca_file, client_cert and client_key need an mqtts:// URL".into()).into()
            );
        }
        Ok(Client { config, options })
    }

    /// Runs the client until `shutdown` resolves. Returns after in-flight writes finished
    /// and their messages were acknowledged.
    pub async fn run(self, ctx: IngestContext, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
        let Client { config, options } = self;
        // Requests (acks, subscribes, outgoing publishes) must never block for long: leave room
        // for an ack per message the broker can have in flight plus everything queued.
        let request_capacity = config.queue_capacity + usize::from(u16::MAX);
        let (client, eventloop) = AsyncClient::new(options, request_capacity);
        let (received_tx, received_rx) = mpsc::channel::<Received>(config.queue_capacity.max(1));
        let (connection_tx, connection_rx) = watch::channel(0u64);

        tracing::info!(
            url = %config::redact_url(&config.url),
            client_id = %config.client_id,
            topics = ?config.topics,
            "connecting to MQTT broker"
        );
        let poller = tokio::spawn(poll_loop(eventloop, received_tx, connection_tx, shutdown.clone()));
        let subscriber =
            tokio::spawn(resubscribe_on_connect(client.clone(), config.topics.clone(), connection_rx.clone()));
        let forwarder = tokio::spawn(forward_outbox(client.clone(), ctx.clone(), shutdown.clone()));
        let processor = tokio::spawn(process(
            client.clone(),
            ctx,
            received_rx,
            connection_rx,
            config.max_pending_writes.max(1),
            shutdown.clone(),
        ));

        let _ = shutdown.wait_for(|stop| *stop).await;
        // The poller stops on the same signal and drops its sender; the processor then finishes
        // the writes it started and sends their acks before we disconnect.
        let _ = poller.await;
        let _ = processor.await;
        subscriber.abort();
        forwarder.abort();
        let _ = client.disconnect().await;
        tracing::info!("MQTT broker client stopped");
        Ok(())
    }
}

/// Checks `config` and runs the client until `shutdown` resolves (see [`Client::run`]).
pub async fn run(config: BrokerConfig, ctx: IngestContext, shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    Client::new(config)?.run(ctx, shutdown).await
}

/// rustls client configuration: `ca_file` (else the OS trust store) and an optional client
/// certificate.
fn tls_client_config(config: &BrokerConfig) -> Result<rustls::ClientConfig, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    match &config.ca_file {
        Some(path) => {
            for cert in tls::load_certs("[broker] ca_file", path)? {
                roots.add(cert).map_err(|e| TlsError::File {
                    key: "[broker] ca_file",
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "skipping part of the OS trust store");
            }
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(TlsError::Config(
                    "[broker] no CA certificates found in the OS trust store; set ca_file".into(),
                ));
            }
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots);
    match (&config.client_cert, &config.client_key) {
        (Some(cert), Some(key)) => {
            let certs = tls::load_certs("[broker] client_cert", cert)?;
            let key = tls::load_key("[broker] client_key", key)?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| TlsError::Config(format!("client_cert and client_key: {e}")))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err(TlsError::Config("[broker] set both client_cert and client_key, or neither".into())),
    }
}

/// Owns the event loop; forwards publishes and announces each new connection.
async fn poll_loop(
    mut eventloop: EventLoop,
    received: mpsc::Sender<Received>,
    connection: watch::Sender<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut current = 0u64;
    let mut backoff = Duration::from_millis(100);
    loop {
        let event = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Incoming::ConnAck(ack))) => {
                current += 1;
                backoff = Duration::from_millis(100);
                tracing::info!(session_present = ack.session_present, connection = current, "connected to MQTT broker");
                let _ = connection.send(current);
            }
            Ok(Event::Incoming(Incoming::Publish(publish))) => {
                // Backpressure: while the processor is full, stop reading from the socket.
                let item = Received { publish, connection: current };
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => break,
                    sent = received.send(item) => if sent.is_err() { break },
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "MQTT broker connection lost");
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn resubscribe_on_connect(client: AsyncClient, topics: Vec<String>, mut connection: watch::Receiver<u64>) {
    while connection.changed().await.is_ok() {
        for topic in &topics {
            if let Err(e) = client.subscribe(topic.clone(), QoS::AtLeastOnce).await {
                tracing::error!(topic, error = %e, "subscribe request failed");
            }
        }
    }
}

async fn forward_outbox(client: AsyncClient, ctx: IngestContext, mut shutdown: watch::Receiver<bool>) {
    let mut rx = ctx.outbox.subscribe();
    loop {
        let msg = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            msg = rx.recv() => msg,
        };
        match msg {
            Ok(m) => {
                if let Err(e) = client.publish(m.topic.clone(), QoS::AtLeastOnce, false, m.payload.to_vec()).await {
                    tracing::warn!(topic = m.topic, error = %e, "could not publish to broker");
                }
            }
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(skipped = n, "outgoing messages skipped: broker client too slow");
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
        }
    }
}

type PendingWrite = tokio::task::JoinHandle<Result<(), SinkError>>;

/// Writes messages concurrently (so they share group commits) and acks them in arrival order.
///
/// Acks never wait here: rumqttc's event loop takes one request (an ack) per turn and hands
/// out buffered incoming publishes first, so under a flood its request queue can fill up; an
/// awaited ack then blocked this task, the poller blocked handing it the next message, and
/// nobody polled the event loop again — fieldline stopped reading for good after ~70 000
/// queued messages (found by `bench pipelines --backlog`). Acks that do not fit go to a local
/// queue, in order, and are retried every few milliseconds; the broker holds those messages
/// as in flight meanwhile (and redelivers them after a reconnect, which only rewrites the same
/// points).
async fn process(
    client: AsyncClient,
    ctx: IngestContext,
    mut received: mpsc::Receiver<Received>,
    connection: watch::Receiver<u64>,
    max_pending: usize,
    shutdown: watch::Receiver<bool>,
) {
    let mut pending: VecDeque<(Received, PendingWrite)> = VecDeque::new();
    let mut unsent_acks: VecDeque<Received> = VecDeque::new();
    let mut open = true;
    while open || !pending.is_empty() {
        let can_take = open && pending.len() < max_pending;
        tokio::select! {
            biased;
            item = received.recv(), if can_take => match item {
                Some(item) => {
                    let ctx = ctx.clone();
                    let topic = item.publish.topic.clone();
                    let payload = item.publish.payload.clone();
                    let write = tokio::spawn(write_until_durable(ctx, topic, payload, shutdown.clone()));
                    pending.push_back((item, write));
                }
                None => open = false,
            },
            result = async {
                match pending.front_mut() {
                    Some((_, write)) => write.await,
                    None => std::future::pending().await,
                }
            }, if !pending.is_empty() => {
                let Some((item, _)) = pending.pop_front() else { continue };
                match result {
                    Ok(Ok(())) => {
                        if item.publish.qos != QoS::AtMostOnce {
                            unsent_acks.push_back(item);
                        }
                    }
                    Ok(Err(e)) => tracing::warn!(topic = item.publish.topic, error = %e, "write abandoned at shutdown; not acknowledged, the broker will redeliver"),
                    Err(e) => tracing::error!(error = %e, "write task failed; not acknowledged"),
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(5)), if !unsent_acks.is_empty() => {}
        }
        send_acks(&client, &mut unsent_acks, *connection.borrow());
    }
    // Shutting down: what still does not fit is redelivered to the next session.
    send_acks(&client, &mut unsent_acks, *connection.borrow());
    if !unsent_acks.is_empty() {
        tracing::info!(
            acks = unsent_acks.len(),
            "acks not sent before shutdown; the broker will redeliver those messages"
        );
    }
}

/// Hands acks to the event loop in arrival order until its queue is full. An ack for a
/// message of an earlier connection is dropped: the broker redelivers it on this one.
fn send_acks(client: &AsyncClient, unsent: &mut VecDeque<Received>, current: u64) {
    while let Some(item) = unsent.front() {
        if item.connection == current && client.try_ack(&item.publish).is_err() {
            return;
        }
        unsent.pop_front();
    }
}

/// Decodes one message, then writes it until the write succeeds; gives up (unacknowledged,
/// so the broker redelivers it to the next session) only when fieldline shuts down.
async fn write_until_durable(
    ctx: IngestContext,
    topic: String,
    payload: bytes::Bytes,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SinkError> {
    let processed = ctx.process(SOURCE, &topic, &payload, Rights::DEVICE).await;
    let format = topic::parse(&topic).map(|t| t.format_label()).unwrap_or("unknown");
    let labels = SourceLabels { source: SOURCE, format };
    let mut backoff = Duration::from_millis(100);
    loop {
        let error = match ctx.write(SOURCE, &topic, processed.points.clone()).await {
            Ok(()) => return Ok(()),
            Err(SinkError::ShuttingDown) => return Err(SinkError::ShuttingDown),
            Err(e) => e,
        };
        ctx.pipeline.metrics().write_retries.get_or_create(&labels).inc();
        tracing::warn!(topic, %error, retry_in_ms = backoff.as_millis() as u64, "write failed; retrying before acknowledging");
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return Err(error),
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}
