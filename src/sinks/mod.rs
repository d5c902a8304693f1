//! Sinks: where stored points go besides the embedded store. Each reads the store's WAL
//! behind its own durable cursor ([`fieldline_store::follow`]), so it sees every point the
//! store acknowledged, in order, and a slow or unreachable destination holds a bounded
//! backlog instead of losing points or slowing ingest until that bound.

pub mod influx;
