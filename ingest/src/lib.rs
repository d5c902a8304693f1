//! fieldline-ingest: everything between a device and the store.
//!
//! Payload decoders ([`decode`]: JSON telemetry, SenML, InfluxDB line protocol), the kind
//! schema and its validation ([`schema`]), per-message limits and time sanity ([`limits`]),
//! dead letters ([`deadletter`]), the per-message pipeline that ties them together
//! ([`pipeline`]), and the two MQTT sources
//! ([`sources::mqtt_endpoint`], fieldline's own MQTT server on ntex-mqtt, and
//! [`sources::mqtt_broker`], a rumqttc client of an external broker). This crate knows nothing
//! of the store: it writes through `fieldline_core`'s `PointSink` trait and acknowledges a message
//! only once that write has resolved, i.e. once the data is durable.

pub mod deadletter;
pub mod decode;
pub mod limits;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod schema;
pub mod sources;
pub mod topic;
