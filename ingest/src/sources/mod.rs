//! MQTT sources: fieldline's own endpoint (a server devices connect to) and a client of an
//! external broker. Both run every message through [`Pipeline`] and acknowledge QoS 1 only
//! after the [`PointSink`] write resolved, i.e. once the data is durable.

pub mod mqtt_broker;
pub mod mqtt_endpoint;

use std::sync::Arc;

use crate::metrics::SourceLabels;
use crate::outbox::Outbox;
use crate::pipeline::{Pipeline, Rights};
use crate::point::now_ns;
use crate::sink::{PointSink, SinkError};
use crate::topic;

/// What every source needs: the shared pipeline, the durable sink, and the outbox of
/// outgoing messages (alerts, forecasts) to relay to MQTT subscribers.
#[derive(Clone)]
pub struct IngestContext {
    pub pipeline: Arc<Pipeline>,
    pub sink: Arc<dyn PointSink>,
    pub outbox: Outbox,
}

impl std::fmt::Debug for IngestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestContext").finish_non_exhaustive()
    }
}

impl IngestContext {
    /// Decodes, validates and durably writes one MQTT message. `Ok` means it may be
    /// acknowledged: its readings and any dead letters are in the WAL.
    pub async fn ingest(
        &self,
        source: &'static str,
        topic: &str,
        payload: &[u8],
        rights: Rights,
    ) -> Result<(), SinkError> {
        let processed = self.pipeline.mqtt(source, topic, payload, now_ns(), rights);
        let format = topic::parse(topic).map(|t| t.format_label()).unwrap_or("unknown");
        let labels = SourceLabels { source, format };
        let metrics = self.pipeline.metrics();
        match self.sink.write(processed.points).await {
            Ok(()) => {
                metrics.messages_acked.get_or_create(&labels).inc();
                Ok(())
            }
            Err(e) => {
                metrics.write_failures.get_or_create(&labels).inc();
                Err(e)
            }
        }
    }

    /// Stores a dead letter for a message refused before decoding (e.g. not authorised).
    pub async fn reject(
        &self,
        source: &'static str,
        topic: &str,
        payload: &[u8],
        reason: &str,
    ) -> Result<(), SinkError> {
        let dl = crate::deadletter::DeadLetter::new(source, topic, payload, reason, now_ns());
        let labels = SourceLabels { source, format: "unknown" };
        self.pipeline.metrics().messages_received.get_or_create(&labels).inc();
        self.pipeline.metrics().dead_letters.get_or_create(&labels).inc();
        self.sink.write(vec![dl.to_point()]).await
    }
}
