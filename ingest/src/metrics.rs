//! Ingest's internal telemetry as named counters (prometheus-client). The server registers
//! them on its `/metrics` registry; sources and the pipeline update them.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Labels of every ingest counter: where a message came from and how it was encoded.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SourceLabels {
    /// `mqtt_endpoint`, `mqtt_broker` or `http`.
    pub source: &'static str,
    /// `telemetry`, `senml`, `lp`, or `unknown` for topics that are not fieldline's.
    pub format: &'static str,
}

/// Counters for the ingest path. Cheap to clone (shared atomics).
#[derive(Debug, Clone, Default)]
pub struct IngestMetrics {
    /// Messages (MQTT publishes, HTTP write requests) received.
    pub messages_received: Family<SourceLabels, Counter>,
    /// Readings (points) accepted after decoding and validation.
    pub points_accepted: Family<SourceLabels, Counter>,
    /// Dead-letter records produced (undecodable payloads, bad lines, invalid values).
    pub dead_letters: Family<SourceLabels, Counter>,
    /// Messages acknowledged after their data was durable.
    pub messages_acked: Family<SourceLabels, Counter>,
    /// Messages whose write failed (not acknowledged; the client will retry).
    pub write_failures: Family<SourceLabels, Counter>,
    /// Failed writes retried in place (broker mode holds the message, unacknowledged, until
    /// its write succeeds, since the broker does not resend within a session).
    pub write_retries: Family<SourceLabels, Counter>,
}

impl IngestMetrics {
    /// Registers every counter under the `fieldline_ingest` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("fieldline_ingest");
        sub.register("messages_received", "Messages received", self.messages_received.clone());
        sub.register("points_accepted", "Readings accepted after validation", self.points_accepted.clone());
        sub.register("dead_letters", "Dead-letter records produced", self.dead_letters.clone());
        sub.register("messages_acked", "Messages acknowledged after a durable write", self.messages_acked.clone());
        sub.register("write_failures", "Messages whose durable write failed", self.write_failures.clone());
        sub.register("write_retries", "Failed durable writes retried in place", self.write_retries.clone());
    }
}
