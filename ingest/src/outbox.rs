//! Outgoing MQTT messages (alerts, forecasts): the server publishes into an [`Outbox`]; the
//! MQTT endpoint forwards each message to the sessions subscribed to a matching filter, and
//! the broker source forwards it to the external broker.

use bytes::Bytes;
use tokio::sync::broadcast;

/// One outgoing message.
#[derive(Debug, Clone)]
pub struct OutMessage {
    pub topic: String,
    pub payload: Bytes,
}

/// Fan-out of outgoing messages. A slow subscriber that falls more than `capacity` messages
/// behind misses the oldest ones (and the endpoint logs how many): alerts and forecasts are
/// also stored and served over HTTP, so the MQTT copy is best-effort by design.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: broadcast::Sender<OutMessage>,
}

impl Outbox {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Outbox { tx }
    }

    /// Publishes to every current listener; returns how many received it.
    pub fn publish(&self, topic: impl Into<String>, payload: impl Into<Bytes>) -> usize {
        self.tx.send(OutMessage { topic: topic.into(), payload: payload.into() }).unwrap_or(0)
    }

    /// A new listener that sees messages published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<OutMessage> {
        self.tx.subscribe()
    }
}

impl Default for Outbox {
    fn default() -> Self {
        Outbox::new(1024)
    }
}
