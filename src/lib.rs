//! fieldline: the composition root. It wires the ingest crate (decoders, MQTT sources) to
//! the embedded store, serves the HTTP API, and runs the analytics jobs; `main.rs` only
//! parses the command line and calls into [`commands`].
//!
//! [`server::start`] is what `fieldline serve` runs and what the end-to-end tests start
//! in-process on `127.0.0.1:0`.

pub mod alerts;
pub mod api;
pub mod commands;
pub mod config;
pub mod detectors;
pub mod jobs;
pub mod server;

pub mod store;
