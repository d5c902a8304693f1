//! The InfluxDB mirror: every point fieldline stores (readings, forecasts, alerts, brain
//! indicators, dead letters) is also written to an InfluxDB v2 write API (InfluxDB 2.x and
//! 3.x, InfluxDB Cloud, VictoriaMetrics) in batches of line protocol.
//!
//! [`config`] is `[influxdb]`; [`sink`] is the task that reads the WAL from the cursor,
//! posts, and moves the cursor only after a 2xx. Names InfluxDB reserves (a leading `_`,
//! as in `_alert`) are written with an `fl` prefix (`fl_alert`).

pub mod config;
pub mod sink;

pub use config::InfluxConfig;
pub use sink::{InfluxMetrics, InfluxSink, InfluxStatus, influx_name};

/// The follower's name: its files are in `data/sinks/influx/`.
pub const FOLLOWER: &str = "influx";
