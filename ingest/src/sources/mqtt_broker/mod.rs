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

pub mod config;

use std::collections::VecDeque;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, Incoming, MqttOptions, Publish, QoS};
use tokio::sync::{mpsc, watch};

pub use config::BrokerConfig;

use super::IngestContext;
use crate::pipeline::Rights;
use crate::sink::SinkError;

const SOURCE: &str = "mqtt_broker";

/// Broker client errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid broker URL {0:?}: expected mqtt://[user:password@]host[:port]")]
    Url(String),
}

/// A publish together with the connection it arrived on, so an ack is never sent on a
/// later connection for a message the broker will redeliver anyway.
struct Received {
    publish: Publish,
    connection: u64,
}

/// Runs the client until `shutdown` resolves. Returns after in-flight writes finished and
/// their messages were acknowledged.
pub async fn run(config: BrokerConfig, ctx: IngestContext, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
    let target = config::parse_url(&config.url)?;
    let mut options = MqttOptions::new(config.client_id.clone(), target.host.clone(), target.port);
    options.set_clean_session(false);
    options.set_manual_acks(true);
    options.set_keep_alive(Duration::from_secs(config.keep_alive_secs.max(5)));
    options.set_max_packet_size(config.max_packet_bytes, config.max_packet_bytes);
    options.set_inflight(config.inflight.max(1));
    if let Some((user, password)) = target.credentials.or_else(|| config.credentials()) {
        options.set_credentials(user, password);
    }
    // Requests (acks, subscribes, outgoing publishes) must never block for long: leave room for
    // an ack per message the broker can have in flight plus everything queued for processing.
    let request_capacity = config.queue_capacity + usize::from(u16::MAX);
    let (client, eventloop) = AsyncClient::new(options, request_capacity);
    let (received_tx, received_rx) = mpsc::channel::<Received>(config.queue_capacity.max(1));
    let (connection_tx, connection_rx) = watch::channel(0u64);

    tracing::info!(url = %config.url, client_id = %config.client_id, topics = ?config.topics, "connecting to MQTT broker");
    let poller = tokio::spawn(poll_loop(eventloop, received_tx, connection_tx, shutdown.clone()));
    let subscriber = tokio::spawn(resubscribe_on_connect(client.clone(), config.topics.clone(), connection_rx.clone()));
    let forwarder = tokio::spawn(forward_outbox(client.clone(), ctx.clone(), shutdown.clone()));
    let processor =
        tokio::spawn(process(client.clone(), ctx, received_rx, connection_rx, config.max_pending_writes.max(1)));

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
async fn process(
    client: AsyncClient,
    ctx: IngestContext,
    mut received: mpsc::Receiver<Received>,
    connection: watch::Receiver<u64>,
    max_pending: usize,
) {
    let mut pending: VecDeque<(Received, PendingWrite)> = VecDeque::new();
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
                    let write = tokio::spawn(async move { ctx.ingest(SOURCE, &topic, &payload, Rights::DEVICE).await });
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
                        let current = item.publish.qos != QoS::AtMostOnce && item.connection == *connection.borrow();
                        if current && let Err(e) = client.ack(&item.publish).await {
                            tracing::warn!(error = %e, "ack request failed; the broker will redeliver");
                        }
                    }
                    Ok(Err(e)) => tracing::warn!(topic = item.publish.topic, error = %e, "write failed; not acknowledged, the broker will redeliver"),
                    Err(e) => tracing::error!(error = %e, "write task failed; not acknowledged"),
                }
            }
        }
    }
}
