//! fieldline: the composition root. It wires `fieldline-ingest` (decoders, MQTT sources) to
//! `fieldline-store`, serves the HTTP API, runs the analytics jobs (`fieldline-analytics`)
//! and drives the simulator (`fieldline-sim`); `main.rs` only parses the command line and
//! calls into [`commands`]. The data model and time come from `fieldline-core`.
//!
//! [`server::start`] is what `fieldline serve` runs and what the end-to-end tests start
//! in-process on `127.0.0.1:0`.

pub mod alerts;
pub mod api;
pub mod brain;
pub mod commands;
pub mod config;
pub mod detectors;
pub mod jobs;
pub mod server;
pub mod sinks;
