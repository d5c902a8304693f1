//! fieldline's end-to-end tests, one module per area, all in one test binary.
//!
//! One binary instead of one per file: each debug test binary links every dependency
//! (~0.5 GB with debug info), and 33 of them filled a CI machine's disk mid-link. nextest
//! still runs every test in its own process; `cargo nextest run -E 'test(/^broker::/)'`
//! selects one area. Helpers shared by the areas live in `common` and `mqtt_support`.

// A test stops at the first surprise.
#![allow(clippy::unwrap_used)]

mod common;
mod mqtt_support;

mod agro;
mod agro_eval;
mod alerts;
mod bench_query;
mod brain;
mod broker;
mod cluster;
mod dashboard;
mod demo;
mod deploy;
mod detect;
mod detect_nab;
mod durability;
mod efile_sftp;
mod endpoint;
mod et0_pyet;
mod farm_api;
mod faults;
mod forecast_jobs;
mod grafana;
mod http_api;
mod http_hardening;
mod influx_compat;
mod influx_sink;
mod mqtt_offload;
mod mqtt_security;
mod mqtt_tls;
mod reserved;
mod scenario_example;
mod serve_check;
mod simulate;
mod webhook_formats;
mod webhook_https;
