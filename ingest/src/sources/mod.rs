//! MQTT sources: fieldline's own endpoint (a server devices connect to) and a client of an
//! external broker. Both run every message through [`Pipeline`] and acknowledge QoS 1 only
//! after the [`PointSink`] write resolved, i.e. once the data is durable.
//!
//! Decoding a large payload takes long enough to matter (a hostile 1 MiB line-protocol
//! message can take seconds), and the endpoint's ntex workers are single-threaded runtimes
//! serving many connections each: payloads of [`LARGE_PAYLOAD_BYTES`] or more are therefore
//! decoded on tokio's blocking pool (at most one per core at a time), small ones inline where
//! that costs nothing.

pub mod mqtt_broker;
pub mod mqtt_endpoint;
pub mod tls;

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::metrics::SourceLabels;
use crate::outbox::Outbox;
use crate::pipeline::{Pipeline, Processed, Rights};
use crate::topic;
use fieldline_core::Point;
use fieldline_core::sink::{PointSink, SinkError};
use fieldline_core::time::now_ns;

/// Payloads at least this large are decoded off the network thread.
pub const LARGE_PAYLOAD_BYTES: usize = 32 * 1024;

/// What every source needs: the shared pipeline, the durable sink, and the outbox of
/// outgoing messages (alerts, forecasts) to relay to MQTT subscribers.
#[derive(Clone)]
pub struct IngestContext {
    pub pipeline: Arc<Pipeline>,
    pub sink: Arc<dyn PointSink>,
    pub outbox: Outbox,
    /// Bounds the large payloads being decoded on the blocking pool at once.
    large_decodes: Arc<Semaphore>,
}

impl std::fmt::Debug for IngestContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestContext").finish_non_exhaustive()
    }
}

impl IngestContext {
    pub fn new(pipeline: Arc<Pipeline>, sink: Arc<dyn PointSink>, outbox: Outbox) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        IngestContext { pipeline, sink, outbox, large_decodes: Arc::new(Semaphore::new(cores)) }
    }

    /// Decodes, validates and durably writes one MQTT message. `Ok` means it may be
    /// acknowledged: its readings and any dead letters are in the WAL.
    pub async fn ingest(
        &self,
        source: &'static str,
        topic: &str,
        payload: &[u8],
        rights: Rights,
    ) -> Result<(), SinkError> {
        let processed = self.process(source, topic, payload, rights).await;
        self.write(source, topic, processed.points).await
    }

    /// Runs the pipeline on one message: inline when it is small, on the blocking pool when
    /// it is large (see the module docs).
    pub async fn process(&self, source: &'static str, topic: &str, payload: &[u8], rights: Rights) -> Processed {
        if payload.len() < LARGE_PAYLOAD_BYTES {
            return run_pipeline(&self.pipeline, source, topic, payload, rights);
        }
        // The semaphore is never closed; without a permit we still must not lose the message.
        let _permit = self.large_decodes.acquire().await.ok();
        let pipeline = self.pipeline.clone();
        let (owned_topic, owned_payload) = (topic.to_string(), payload.to_vec());
        let job = move || run_pipeline(&pipeline, source, &owned_topic, &owned_payload, rights);
        match tokio::task::spawn_blocking(job).await {
            Ok(processed) => processed,
            Err(e) => {
                // A decoder bug must not make the device resend the same message forever.
                tracing::error!(source, topic, error = %e, "decoding panicked; message dead-lettered");
                let reason = "internal error while decoding this message".to_string();
                Processed::refused(source, topic, payload, reason, now_ns())
            }
        }
    }

    /// Writes a message's points durably and counts the outcome.
    pub async fn write(&self, source: &'static str, topic: &str, points: Vec<Point>) -> Result<(), SinkError> {
        let format = topic::parse(topic).map(|t| t.format_label()).unwrap_or("unknown");
        let labels = SourceLabels { source, format };
        let metrics = self.pipeline.metrics();
        match self.sink.write(points).await {
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

/// The pipeline itself, on whichever thread [`IngestContext::process`] chose.
fn run_pipeline(pipeline: &Pipeline, source: &'static str, topic: &str, payload: &[u8], rights: Rights) -> Processed {
    // Tests use this to see on which thread a large message is decoded; small ones skip it.
    if payload.len() >= LARGE_PAYLOAD_BYTES {
        tracing::trace!(source, topic, bytes = payload.len(), "decoding message");
    }
    pipeline.mqtt(source, topic, payload, now_ns(), rights)
}
