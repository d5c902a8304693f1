//! fieldline-sim: the field simulator behind `fieldline simulate` and `fieldline demo`:
//! physically plausible telemetry of the Heze sites — a 50 MW wind farm, a 40 MWp PV plant, met stations, peony
//! plots, pest traps and NWP feeds — with injected faults and a ground-truth record of them.
//!
//! # How it works
//!
//! Weather comes first ([`weather`]): one regional generator fitted to the scenario's monthly
//! climate normals, seen by every site through local offsets and minute-scale turbulence.
//! Devices are physical models driven by it: turbines from a manufacturer power curve with
//! air density, wakes, cut-out, availability and curtailment ([`wind`]); PV inverters from
//! NREL-accurate sun positions, Ineichen clear sky, cloud attenuation, isotropic
//! transposition, Faiman module temperature and PVWatts inverters with clipping ([`pv`]);
//! peony plots from a FAO-56 water balance and degree-day phenology ([`peony`]); pest traps
//! from degree-day flights of successive generations with weekly service resets ([`pests`]).
//! NWP forecasts are the simulated truth plus lead-time-growing, time-correlated errors
//! and occasional timing errors, drawn from their own random streams ([`nwp`]). Faults are
//! planned from the seed and applied to the physics (outages, icing, soiling...) or to the
//! readings (stuck, spike, drift, dropout) ([`faults`]). [`Simulation`] steps all of it one
//! minute at a time and hands each reading to a [`RowSink`]; [`output`] has the sinks (CSV,
//! Parquet, line protocol, MQTT JSON) and [`live`] the HTTP backfill and MQTT streaming.
//!
//! Every random number comes from a stream derived from the seed and a label
//! ([`random::stream`]), and nothing iterates a hash map, so the same seed, start and
//! scenario give byte-identical output.
//!
//! # Scenario format
//!
//! A TOML file (unknown keys are errors; most keys have defaults). The built-in `heze`
//! scenario (`sim/src/heze.toml`) is the annotated reference. Top level:
//!
//! ```toml
//! name = "heze"
//! timezone = "+08:00"        # local time of farm and dispatch routines
//! latitude = 35.25           # reference point of the regional weather
//! longitude = 115.44
//! altitude_m = 51
//!
//! [climate]                  # monthly normals, Jan..Dec, and generator parameters
//! source = "..."
//! temp_mean_c = [0.2, 3.6, ...]          # also temp_max_c, temp_min_c
//! precip_mm = [...]                      # and precip_days (≥ 0.1 mm)
//! rh_pct = [...]
//! sunshine_hours = [...]                 # sets the mean cloud cover
//! pressure_hpa = [...]                   # station level
//! wind_weibull_c_100m = [...]            # and wind_weibull_k = 2.0
//! wind_dir_prevailing_deg = [...]
//! linke_turbidity = [...]
//! front_interval_days = [...]            # cold fronts: spacing and temperature drop
//! front_drop_c = [...]
//! temp_anomaly_sd_c = [...]
//!
//! [nwp]      # error model of every NWP feed (defaults exist for all keys)
//! [faults]   # enabled, ensure_each_kind, rates per kind per device per 30 days, icing, frost_night
//! [peony]    # phenology: stage thresholds in degree days, crop coefficients
//! [[species]]  # pest species: thresholds, degree days of flights, peak catches
//!
//! [[sites]]
//! name = "heze-wind"
//! latitude = 35.38           # optional: defaults to the reference point
//! met_station = { device = "met" }
//! nwp = { device = "nwp" }
//! [sites.wind_farm]          # turbines, power curve, layout, outages, curtailment
//! # or [sites.pv_plant]      # inverters, DC/AC sizing, tilt, thermal and inverter model
//! # [[sites.plots]]          # peony plots: soil, irrigation, cultivar
//! # [[sites.traps]]          # pest traps: species, trap_type = "light" | "pheromone", service
//! ```
//!
//! # Device kinds and cadences
//!
//! Names, fields (in row and column order), units and physical limits come from the one table
//! of kinds, [`fieldline_core::kinds`], which ingest validates against (DESIGN.md §3):
//! `wind_turbine`, `pv_inverter`, `plant`, `met_station` every minute; `peony_plot` every 10
//! minutes; `pest_trap` hourly (tags `species`, `trap_type`; `count` is the cumulative catch
//! since the last service — the simulated traps are counters and do not send the interval
//! `catch` the table also knows); `nwp` as issued (tag `issued` = the run's nominal time,
//! RFC 3339; timestamp = valid time). Peony `stage` codes: 0 dormant, 1 bud break, 2 leaf
//! expansion, 3 flower bud, 4 bloom, 5 post-bloom, 6 senescence.

pub mod engine;
pub mod faults;
pub mod live;
pub mod met;
pub mod nwp;
pub mod output;
pub mod peony;
pub mod pests;
pub mod pv;
pub mod random;
pub mod scenario;
pub mod weather;
pub mod wind;

use std::sync::LazyLock;

use fieldline_core::kinds::{self, KindSchema};

pub use engine::{SimOptions, Simulation};
pub use scenario::Scenario;

/// Simulator errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("scenario: {0}")]
    Scenario(String),
    #[error("{0}")]
    Options(String),
    #[error("I/O on {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("parquet: {0}")]
    Parquet(String),
    #[error("HTTP write to {url}: {message}")]
    Http { url: String, message: String },
    #[error("MQTT: {0}")]
    Mqtt(String),
}

/// The device kinds of DESIGN.md §3 the simulator produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    WindTurbine,
    PvInverter,
    Plant,
    MetStation,
    Nwp,
    PeonyPlot,
    PestTrap,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::WindTurbine,
        Kind::PvInverter,
        Kind::Plant,
        Kind::MetStation,
        Kind::Nwp,
        Kind::PeonyPlot,
        Kind::PestTrap,
    ];

    /// The kind's entry in the one table of kinds: fields, units, physical limits, tags.
    pub fn schema(self) -> &'static KindSchema {
        match self {
            Kind::WindTurbine => &kinds::WIND_TURBINE,
            Kind::PvInverter => &kinds::PV_INVERTER,
            Kind::Plant => &kinds::PLANT,
            Kind::MetStation => &kinds::MET_STATION,
            Kind::Nwp => &kinds::NWP,
            Kind::PeonyPlot => &kinds::PEONY_PLOT,
            Kind::PestTrap => &kinds::PEST_TRAP,
        }
    }

    /// The measurement name.
    pub fn name(self) -> &'static str {
        self.schema().kind
    }

    /// Names of the fields the simulator produces ([`KindSchema::simulated_fields`]), in the
    /// order of a row's values.
    pub fn fields(self) -> &'static [&'static str] {
        static FIELDS: LazyLock<[Vec<&'static str>; 7]> =
            LazyLock::new(|| Kind::ALL.map(|kind| kind.schema().simulated_fields().map(|f| f.name).collect()));
        FIELDS.get(self as usize).map_or(&[], Vec::as_slice)
    }

    /// Index of field `name`.
    pub fn field_index(self, name: &str) -> Option<usize> {
        self.fields().iter().position(|f| *f == name)
    }

    /// Tag keys besides `site` and `device`, in output column order.
    pub fn extra_tags(self) -> &'static [&'static str] {
        self.schema().extra_tags
    }
}

/// One field value of a reading.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Num(f64),
    Bool(bool),
    Text(&'static str),
    /// The device does not report this field (e.g. a wind farm's met mast has no POA sensor).
    Missing,
}

impl Value {
    pub fn as_f64(self) -> Option<f64> {
        match self {
            Value::Num(v) => Some(v),
            Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            Value::Text(_) | Value::Missing => None,
        }
    }
}

/// A simulated device: where it is, what it is, and its fixed extra tags.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceInfo {
    pub site: String,
    pub device: String,
    pub kind: Kind,
    /// Fixed tags besides site and device (`species`, `trap_type`), in [`Kind::extra_tags`] order.
    pub tags: Vec<(String, String)>,
    /// Reporting interval (s); for NWP feeds the issue interval.
    pub cadence_s: i64,
}

impl DeviceInfo {
    /// `site/device`, as the ground truth names devices.
    pub fn path(&self) -> String {
        format!("{}/{}", self.site, self.device)
    }
}

/// One reading: device (index into [`Simulation::devices`]), time, and values in
/// [`Kind::fields`] order. NWP rows carry their issue time.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    pub device: usize,
    /// Unix seconds (UTC).
    pub ts: i64,
    pub issued: Option<i64>,
    pub values: &'a [Value],
}

/// Where readings go.
pub trait RowSink {
    fn row(&mut self, devices: &[DeviceInfo], row: &Row<'_>) -> Result<(), Error>;
}

/// Collects rows in memory (tests, small runs).
#[derive(Debug, Default, Clone)]
pub struct Collected {
    pub rows: Vec<OwnedRow>,
}

/// A row that owns its values.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedRow {
    pub device: usize,
    pub ts: i64,
    pub issued: Option<i64>,
    pub values: Vec<Value>,
}

impl RowSink for Collected {
    fn row(&mut self, _devices: &[DeviceInfo], row: &Row<'_>) -> Result<(), Error> {
        self.rows.push(OwnedRow { device: row.device, ts: row.ts, issued: row.issued, values: row.values.to_vec() });
        Ok(())
    }
}

/// Formats unix seconds as RFC 3339 UTC (`2026-03-01T00:00:00Z`).
pub fn rfc3339(t: i64) -> String {
    fieldline_core::time::format_time(t.saturating_mul(1_000_000_000), time::UtcOffset::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_the_table_is_simulated_in_table_order() {
        let simulated: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        let table: Vec<&str> = kinds::KINDS.iter().map(|k| k.kind).collect();
        assert_eq!(simulated, table);
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i, "Kind::fields indexes by discriminant");
            let fields: Vec<&str> = kind.schema().simulated_fields().map(|f| f.name).collect();
            assert_eq!(kind.fields(), fields);
            assert_eq!(kind.field_index(fields[0]), Some(0));
        }
        assert_eq!(Kind::PestTrap.fields(), ["count"], "the simulated traps are counters");
        assert_eq!(Kind::PestTrap.field_index("catch"), None);
    }
}
