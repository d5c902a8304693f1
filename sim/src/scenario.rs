//! The scenario file: what exists (sites and their devices), the climate it lives in, the
//! NWP error model, the peony and pest biology and the fault rates. TOML, read with serde
//! (`deny_unknown_fields`, defaults wherever a sensible one exists). The built-in `heze`
//! scenario (`heze.toml`, compiled in) documents every key with comments; the format is
//! summarised in the [module docs](super).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Error;

/// The built-in scenario `heze`.
pub const HEZE_TOML: &str = include_str!("heze.toml");

/// Twelve monthly values, January first.
pub type Monthly = [f64; 12];

/// A whole scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    /// Local time zone as a fixed UTC offset (`+08:00`); farm and dispatch routines (trap
    /// service, irrigation, curtailment windows) run on local time.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Reference point of the regional weather (degrees, east positive).
    pub latitude: f64,
    pub longitude: f64,
    #[serde(default)]
    pub altitude_m: f64,
    pub climate: Climate,
    #[serde(default)]
    pub nwp: NwpModel,
    #[serde(default)]
    pub faults: Faults,
    #[serde(default)]
    pub peony: Phenology,
    #[serde(default)]
    pub species: Vec<Species>,
    pub sites: Vec<Site>,
}

fn default_timezone() -> String {
    "+08:00".into()
}

/// Monthly climate normals and the parameters of the weather generator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Climate {
    /// Where the normals come from (free text, carried for the record).
    #[serde(default)]
    pub source: String,
    pub temp_mean_c: Monthly,
    pub temp_max_c: Monthly,
    pub temp_min_c: Monthly,
    pub precip_mm: Monthly,
    /// Days with ≥ 0.1 mm.
    pub precip_days: Monthly,
    pub rh_pct: Monthly,
    pub sunshine_hours: Monthly,
    /// Station-level mean pressure (hPa) at the scenario altitude.
    pub pressure_hpa: Monthly,
    /// Weibull scale (m/s) of the 100 m wind speed.
    pub wind_weibull_c_100m: Monthly,
    #[serde(default = "default_weibull_k")]
    pub wind_weibull_k: f64,
    /// Prevailing wind direction (degrees from north).
    pub wind_dir_prevailing_deg: Monthly,
    /// Linke turbidity for the Ineichen clear-sky model.
    pub linke_turbidity: Monthly,
    /// Mean days between cold-front passages.
    pub front_interval_days: Monthly,
    /// Typical temperature drop behind a cold front (°C).
    pub front_drop_c: Monthly,
    /// Standard deviation of the day-to-day (synoptic) temperature anomaly (°C).
    pub temp_anomaly_sd_c: Monthly,
    /// Standard deviation (°C) of a slow temperature anomaly that is *not* held to the monthly
    /// normals: a warm or cold spring, one year against another. 0 (the default) leaves it out
    /// and every other output unchanged; `fieldline agro bloom-eval` turns it on, since bloom
    /// dates vary between years only through it.
    #[serde(default)]
    pub seasonal_anomaly_sd_c: f64,
    /// Persistence of that anomaly (days, AR(1) time constant).
    #[serde(default = "default_seasonal_anomaly_days")]
    pub seasonal_anomaly_days: f64,
}

fn default_seasonal_anomaly_days() -> f64 {
    30.0
}

fn default_weibull_k() -> f64 {
    2.0
}

/// Where the NWP feed's errors come from: `[sd at lead 0, sd at the horizon]` per variable,
/// growing linearly with lead time, AR(1)-correlated along the lead axis.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NwpModel {
    pub issue_every_hours: u32,
    pub horizon_hours: u32,
    pub step_minutes: u32,
    /// How long after the nominal issue time (model run) the forecast is published.
    pub delay_minutes: u32,
    pub error_correlation_hours: f64,
    /// Correlation between two runs' errors for the same valid time (0 = independent runs,
    /// 1 = every run makes the same error): real consecutive runs share most of their error.
    pub shared_error_fraction: f64,
    /// Share of issues that place fronts (and everything else) early or late.
    pub timing_error_probability: f64,
    pub timing_error_max_hours: f64,
    pub wind_speed_bias_ms: f64,
    pub wind_speed_ms: [f64; 2],
    pub wind_dir_deg: [f64; 2],
    pub cloud_cover_pct: [f64; 2],
    pub air_temp_c: [f64; 2],
    pub rh_pct: [f64; 2],
    pub pressure_hpa: [f64; 2],
    /// Precipitation: the sd of the log of the forecast amount's ratio to the truth (a wet
    /// step stays wet, its amount is off by a factor), at lead 0 and at the horizon. Rain bands
    /// also move with the run's timing error.
    pub precip_log_sd: [f64; 2],
}

impl Default for NwpModel {
    fn default() -> Self {
        NwpModel {
            issue_every_hours: 6,
            horizon_hours: 72,
            step_minutes: 15,
            delay_minutes: 240,
            error_correlation_hours: 6.0,
            shared_error_fraction: 0.6,
            timing_error_probability: 0.3,
            timing_error_max_hours: 4.0,
            wind_speed_bias_ms: 0.3,
            wind_speed_ms: [0.7, 2.6],
            wind_dir_deg: [12.0, 40.0],
            cloud_cover_pct: [10.0, 35.0],
            air_temp_c: [0.7, 2.4],
            rh_pct: [5.0, 14.0],
            pressure_hpa: [0.6, 3.0],
            precip_log_sd: [0.4, 1.0],
        }
    }
}

/// Fault injection. Rates are expected events per device (per site for `drought`, per
/// species for `pest_outbreak`, per plant for curtailment — see the plant sections) per 30
/// days; 0 disables a kind.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Faults {
    /// `false` gives a fault-free run (curtailment and outages of the availability model
    /// still happen: they are operations, not sensor faults).
    pub enabled: bool,
    /// In a run of fixed length, place at least one event of every kind whose rate is
    /// positive (on a randomly chosen eligible device), so short runs still exercise every
    /// detector.
    pub ensure_each_kind: bool,
    pub stuck: f64,
    pub spike: f64,
    pub dropout: f64,
    pub drift: f64,
    pub pitch_fault: f64,
    pub inverter_outage: f64,
    pub string_outage: f64,
    pub soiling: f64,
    pub pest_outbreak: f64,
    pub drought: f64,
    /// Rime icing of turbine blades whenever the air at hub height is freezing and
    /// saturated (fog, low cloud, freezing drizzle) while the rotor turns; with it, winter
    /// freezing-fog spells in the weather.
    pub icing: bool,
    /// Expected freezing-fog or freezing-drizzle spells per icing season (fewer when the
    /// wind or the temperature does not allow one on the day it is due).
    pub icing_spells_per_winter: f64,
    /// Months (1..=12) of the icing season.
    pub icing_months: Vec<u32>,
    /// A radiative frost on the night the peony plots are mid flower-bud (every frost night
    /// of a sensitive stage is ground truth whether forced or not).
    pub frost_night: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            enabled: true,
            ensure_each_kind: true,
            stuck: 0.15,
            spike: 1.0,
            dropout: 0.3,
            drift: 0.05,
            pitch_fault: 0.03,
            inverter_outage: 0.1,
            string_outage: 0.08,
            soiling: 0.1,
            pest_outbreak: 0.5,
            drought: 0.3,
            icing: true,
            icing_spells_per_winter: 3.0,
            icing_months: vec![12, 1, 2],
            frost_night: true,
        }
    }
}

/// Peony phenology: growing degree days (single sine, from 1 January) at which each stage
/// begins, and the FAO-56 crop coefficient of each stage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Phenology {
    pub base_temp_c: f64,
    pub bud_break_gdd: f64,
    pub leaf_expansion_gdd: f64,
    pub flower_bud_gdd: f64,
    pub bloom_gdd: f64,
    pub post_bloom_gdd: f64,
    /// Leaves senesce once the 7-day mean temperature falls below this after `senescence_after_doy`.
    pub senescence_after_doy: u32,
    pub senescence_mean_temp_c: f64,
    pub dormancy_mean_temp_c: f64,
    /// Crop coefficient by stage code 0..=6.
    pub crop_coefficient: [f64; 7],
    /// Stage codes in which flower buds are killed by air at or below 0 °C; the nights they
    /// meet such air are `frost_night` ground truth. The same set as the frost detector's
    /// default (`FrostConfig::sensitive_stages`).
    pub frost_sensitive_stages: Vec<u8>,
}

impl Default for Phenology {
    fn default() -> Self {
        Phenology {
            base_temp_c: 0.0,
            bud_break_gdd: 120.0,
            leaf_expansion_gdd: 300.0,
            flower_bud_gdd: 420.0,
            bloom_gdd: 680.0,
            post_bloom_gdd: 900.0,
            senescence_after_doy: 250,
            senescence_mean_temp_c: 15.0,
            dormancy_mean_temp_c: 7.0,
            crop_coefficient: [0.3, 0.4, 0.7, 0.85, 1.0, 0.9, 0.5],
            frost_sensitive_stages: vec![3, 4],
        }
    }
}

/// An insect species caught in traps: degree-day flights of successive generations.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Species {
    /// Identifier used in the `species` tag, e.g. `helicoverpa_armigera`.
    pub name: String,
    #[serde(default)]
    pub common_name: String,
    /// Lower and upper development thresholds (°C).
    pub lower_c: f64,
    pub upper_c: f64,
    /// Degree days (from 1 January, or from arrival for migrants) at the first flight's peak.
    pub first_flight_dd: f64,
    /// Degree days from one flight peak to the next.
    pub generation_dd: f64,
    pub generations: u32,
    /// Flight spread (standard deviation) as a fraction of `generation_dd`.
    #[serde(default = "default_flight_spread")]
    pub flight_spread: f64,
    /// Expected catch per night at a flight peak, by trap type.
    pub peak_catch_light: f64,
    pub peak_catch_pheromone: f64,
    /// Moths do not fly below this air temperature (°C).
    pub flight_min_temp_c: f64,
    /// Migrants that do not overwinter locally: degree days count from this day of year.
    #[serde(default)]
    pub arrival_doy: Option<u32>,
}

fn default_flight_spread() -> f64 {
    0.16
}

/// One site: a place with shared weather and some devices.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub name: String,
    /// Defaults: the scenario's reference point.
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
    #[serde(default)]
    pub altitude_m: Option<f64>,
    /// Local offset of air temperature from the regional value (°C).
    #[serde(default)]
    pub temp_offset_c: f64,
    /// Multiplier on the regional wind speed (terrain, roughness).
    #[serde(default = "one")]
    pub wind_exposure: f64,
    #[serde(default)]
    pub met_station: Option<DeviceName>,
    #[serde(default)]
    pub nwp: Option<DeviceName>,
    #[serde(default)]
    pub wind_farm: Option<WindFarm>,
    #[serde(default)]
    pub pv_plant: Option<PvPlant>,
    #[serde(default)]
    pub plots: Vec<Plot>,
    #[serde(default)]
    pub traps: Vec<Trap>,
}

fn one() -> f64 {
    1.0
}

/// A device that needs nothing but a name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceName {
    pub device: String,
}

/// A wind farm: identical turbines on a grid of rows, and the plant meter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindFarm {
    #[serde(default = "plant_device")]
    pub meter_device: String,
    pub turbines: usize,
    /// Turbine device names are the prefix and a two-digit number: wt01, wt02, ...
    #[serde(default = "turbine_prefix")]
    pub device_prefix: String,
    /// Turbine type and where its power curve comes from.
    pub turbine_model: String,
    pub rated_kw: f64,
    pub rotor_diameter_m: f64,
    pub hub_height_m: f64,
    pub rotor_rpm_min: f64,
    pub rotor_rpm_max: f64,
    /// Power curve at air density 1.225 kg/m³.
    pub power_curve_ms: Vec<f64>,
    pub power_curve_kw: Vec<f64>,
    #[serde(default = "default_cut_out")]
    pub cut_out_ms: f64,
    /// A turbine stopped by high wind restarts below this (hysteresis).
    #[serde(default = "default_cut_out_resume")]
    pub cut_out_resume_ms: f64,
    /// Layout: turbines fill `rows` east–west rows, `turbine_spacing_m` apart within a row,
    /// `row_spacing_m` between rows. Wakes follow Jensen's model.
    #[serde(default = "default_rows")]
    pub rows: usize,
    pub turbine_spacing_m: f64,
    pub row_spacing_m: f64,
    #[serde(default = "default_wake_decay")]
    pub wake_decay: f64,
    #[serde(default = "default_thrust")]
    pub thrust_coefficient: f64,
    /// Collection and transformer losses between turbines and the meter.
    #[serde(default = "default_wind_losses")]
    pub electrical_losses: f64,
    /// Unplanned turbine stops per turbine per 30 days (the availability model).
    #[serde(default = "default_outages")]
    pub outages_per_30_days: f64,
    /// Dispatch curtailment (限电) periods per 30 days, mostly at night.
    #[serde(default = "default_wind_curtailment")]
    pub curtailment_per_30_days: f64,
}

fn plant_device() -> String {
    "plant".into()
}
fn turbine_prefix() -> String {
    "wt".into()
}
fn default_cut_out() -> f64 {
    25.0
}
fn default_cut_out_resume() -> f64 {
    20.0
}
fn default_rows() -> usize {
    4
}
fn default_wake_decay() -> f64 {
    0.075
}
fn default_thrust() -> f64 {
    0.8
}
fn default_wind_losses() -> f64 {
    0.02
}
fn default_outages() -> f64 {
    0.15
}
fn default_wind_curtailment() -> f64 {
    3.0
}

/// A PV plant: central inverters, each with its own DC array, and the plant meter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PvPlant {
    #[serde(default = "plant_device")]
    pub meter_device: String,
    pub inverters: usize,
    #[serde(default = "inverter_prefix")]
    pub device_prefix: String,
    pub dc_kwp_per_inverter: f64,
    pub ac_kw_per_inverter: f64,
    pub tilt_deg: f64,
    /// Degrees from north; 180 faces south.
    #[serde(default = "south")]
    pub azimuth_deg: f64,
    #[serde(default = "default_albedo")]
    pub albedo: f64,
    /// Power temperature coefficient (1/°C).
    #[serde(default = "default_gamma")]
    pub temp_coefficient_per_c: f64,
    /// Faiman module temperature model: U0 (W/m²K) and U1 (W s/m³K).
    #[serde(default = "default_faiman_u0")]
    pub faiman_u0: f64,
    #[serde(default = "default_faiman_u1")]
    pub faiman_u1: f64,
    /// DC wiring and mismatch losses.
    #[serde(default = "default_dc_losses")]
    pub dc_losses: f64,
    /// PVWatts inverter model's nominal efficiency.
    #[serde(default = "default_inverter_eff")]
    pub inverter_efficiency: f64,
    /// Array maximum-power voltage at STC (V) and its temperature coefficient (1/°C).
    #[serde(default = "default_vmp")]
    pub vmp_stc_v: f64,
    #[serde(default = "default_beta_v")]
    pub voltage_temp_coefficient_per_c: f64,
    /// AC collection and transformer losses between inverters and the meter.
    #[serde(default = "default_ac_losses")]
    pub ac_losses: f64,
    /// Installed capacity reported by the meter (MW); default the DC rating, as Chinese
    /// dispatch rates PV plants by MWp.
    #[serde(default)]
    pub capacity_mw: Option<f64>,
    #[serde(default = "default_pv_curtailment")]
    pub curtailment_per_30_days: f64,
}

fn inverter_prefix() -> String {
    "inv".into()
}
fn south() -> f64 {
    180.0
}
fn default_albedo() -> f64 {
    0.2
}
fn default_gamma() -> f64 {
    -0.0037
}
fn default_faiman_u0() -> f64 {
    25.0
}
fn default_faiman_u1() -> f64 {
    6.84
}
fn default_dc_losses() -> f64 {
    0.04
}
fn default_inverter_eff() -> f64 {
    0.985
}
fn default_vmp() -> f64 {
    1100.0
}
fn default_beta_v() -> f64 {
    -0.0032
}
fn default_ac_losses() -> f64 {
    0.015
}
fn default_pv_curtailment() -> f64 {
    2.0
}

/// A peony plot with its soil and irrigation routine.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plot {
    pub device: String,
    #[serde(default)]
    pub cultivar: String,
    /// Multiplier on the stage thresholds (early cultivars < 1).
    #[serde(default = "one")]
    pub gdd_factor: f64,
    #[serde(default)]
    pub temp_offset_c: f64,
    #[serde(default = "default_fc")]
    pub field_capacity_pct: f64,
    #[serde(default = "default_wp")]
    pub wilting_point_pct: f64,
    #[serde(default = "default_sat")]
    pub saturation_pct: f64,
    #[serde(default = "default_root")]
    pub root_depth_mm: f64,
    /// Pore-water electrical conductivity at field capacity (dS/m).
    #[serde(default = "default_ec")]
    pub pore_water_ec_ds_m: f64,
    #[serde(default = "yes")]
    pub irrigation: bool,
    /// Irrigate when this share of the plant-available water is used up.
    #[serde(default = "default_trigger")]
    pub irrigation_trigger: f64,
    #[serde(default = "default_irrigation_mm")]
    pub irrigation_mm: f64,
    #[serde(default = "default_irrigation_hour")]
    pub irrigation_hour_local: u32,
    #[serde(default = "default_plot_cadence")]
    pub cadence_minutes: u32,
}

fn yes() -> bool {
    true
}
fn default_fc() -> f64 {
    32.0
}
fn default_wp() -> f64 {
    12.0
}
fn default_sat() -> f64 {
    45.0
}
fn default_root() -> f64 {
    400.0
}
fn default_ec() -> f64 {
    1.2
}
fn default_trigger() -> f64 {
    0.5
}
fn default_irrigation_mm() -> f64 {
    30.0
}
fn default_irrigation_hour() -> u32 {
    7
}
fn default_plot_cadence() -> u32 {
    10
}

/// A pest trap: one species, light or pheromone, serviced (emptied, counter reset) on a
/// fixed rhythm.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trap {
    pub device: String,
    pub species: String,
    pub trap_type: TrapType,
    #[serde(default = "default_service_days")]
    pub service_every_days: u32,
    /// Which day of the cycle (counted from 1970-01-01 local) the service falls on.
    #[serde(default)]
    pub service_day_offset: u32,
    #[serde(default = "default_service_hour")]
    pub service_hour_local: u32,
    /// Relative catch efficiency of this trap (placement, lamp power).
    #[serde(default = "one")]
    pub efficiency: f64,
}

fn default_service_days() -> u32 {
    7
}
fn default_service_hour() -> u32 {
    9
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrapType {
    Light,
    Pheromone,
}

impl TrapType {
    pub fn as_str(self) -> &'static str {
        match self {
            TrapType::Light => "light",
            TrapType::Pheromone => "pheromone",
        }
    }
}

/// Checks that each named value lies within its inclusive range (NaN never does).
fn within(checks: &[(&str, f64, f64, f64)]) -> Result<(), String> {
    for (name, value, low, high) in checks {
        if !(*value >= *low && *value <= *high) {
            return Err(format!("{name} = {value} must be within {low}..={high}"));
        }
    }
    Ok(())
}

impl Scenario {
    /// `heze` (built in) or a path to a scenario file.
    pub fn load(name_or_path: &str) -> Result<Scenario, Error> {
        if name_or_path == "heze" {
            return Scenario::from_toml(HEZE_TOML, "built-in heze");
        }
        let path = Path::new(name_or_path);
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Scenario(format!("cannot read scenario {}: {e} (built-in scenarios: heze)", path.display()))
        })?;
        Scenario::from_toml(&text, &path.display().to_string())
    }

    /// Parses and validates scenario TOML; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Scenario, Error> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| Error::Scenario(format!("{origin}: {e}")))?;
        scenario.validate().map_err(|e| Error::Scenario(format!("{origin}: {e}")))?;
        Ok(scenario)
    }

    /// The local UTC offset in seconds.
    pub fn utc_offset_s(&self) -> Result<i64, String> {
        fieldline_core::time::parse_offset(&self.timezone)
            .map(|o| i64::from(o.whole_seconds()))
            .map_err(|e| format!("timezone: {e}"))
    }

    fn validate(&self) -> Result<(), String> {
        self.utc_offset_s()?;
        if !(-90.0..=90.0).contains(&self.latitude)
            || !(-180.0..=180.0).contains(&self.longitude)
            || !(-500.0..=5000.0).contains(&self.altitude_m)
        {
            return Err("latitude, longitude or altitude_m (−500..5000) out of range".into());
        }
        let c = &self.climate;
        for (name, values) in [
            ("temp_mean_c", &c.temp_mean_c),
            ("temp_max_c", &c.temp_max_c),
            ("temp_min_c", &c.temp_min_c),
            ("precip_mm", &c.precip_mm),
            ("precip_days", &c.precip_days),
            ("rh_pct", &c.rh_pct),
            ("sunshine_hours", &c.sunshine_hours),
            ("pressure_hpa", &c.pressure_hpa),
            ("wind_weibull_c_100m", &c.wind_weibull_c_100m),
            ("wind_dir_prevailing_deg", &c.wind_dir_prevailing_deg),
            ("linke_turbidity", &c.linke_turbidity),
            ("front_interval_days", &c.front_interval_days),
            ("front_drop_c", &c.front_drop_c),
            ("temp_anomaly_sd_c", &c.temp_anomaly_sd_c),
        ] {
            if values.iter().any(|v| !v.is_finite()) {
                return Err(format!("climate.{name} has a non-finite value"));
            }
        }
        for m in 0..12 {
            if !(c.temp_min_c[m] <= c.temp_mean_c[m] && c.temp_mean_c[m] <= c.temp_max_c[m]) {
                return Err(format!("climate: month {} needs temp_min_c ≤ temp_mean_c ≤ temp_max_c", m + 1));
            }
            if !(c.rh_pct[m] > 5.0 && c.rh_pct[m] < 100.0) {
                return Err(format!("climate.rh_pct month {} must be within 5..100", m + 1));
            }
            if c.precip_mm[m] < 0.0 || c.precip_days[m] < 0.0 || c.precip_days[m] > 31.0 {
                return Err(format!("climate: precipitation of month {} out of range", m + 1));
            }
            if c.wind_weibull_c_100m[m] <= 0.0 || c.front_interval_days[m] < 1.5 || c.linke_turbidity[m] < 1.0 {
                return Err(format!(
                    "climate: month {} needs wind_weibull_c_100m > 0, front_interval_days ≥ 1.5, linke_turbidity ≥ 1",
                    m + 1
                ));
            }
            if !(800.0..=1100.0).contains(&c.pressure_hpa[m]) || c.temp_anomaly_sd_c[m] < 0.0 || c.front_drop_c[m] < 0.0
            {
                return Err(format!("climate: pressure, front drop or anomaly sd of month {} out of range", m + 1));
            }
        }
        within(&[
            ("climate.seasonal_anomaly_sd_c", c.seasonal_anomaly_sd_c, 0.0, 10.0),
            ("climate.seasonal_anomaly_days", c.seasonal_anomaly_days, 1.0, 365.0),
        ])?;
        if !(c.wind_weibull_k >= 1.0 && c.wind_weibull_k <= 5.0) {
            return Err("climate.wind_weibull_k must be within 1..5".into());
        }
        for m in 0..12 {
            within(&[
                ("climate.temp_mean_c", c.temp_mean_c[m], -80.0, 60.0),
                ("climate.precip_mm", c.precip_mm[m], 0.0, 3000.0),
                ("climate.sunshine_hours", c.sunshine_hours[m], 0.0, 744.0),
                ("climate.wind_weibull_c_100m", c.wind_weibull_c_100m[m], 0.1, 50.0),
                ("climate.linke_turbidity", c.linke_turbidity[m], 1.0, 10.0),
                ("climate.front_interval_days", c.front_interval_days[m], 1.5, 365.0),
                ("climate.front_drop_c", c.front_drop_c[m], 0.0, 30.0),
                ("climate.temp_anomaly_sd_c", c.temp_anomaly_sd_c[m], 0.0, 20.0),
            ])?;
        }
        let f = &self.faults;
        within(&[
            ("faults.stuck", f.stuck, 0.0, 100.0),
            ("faults.spike", f.spike, 0.0, 100.0),
            ("faults.dropout", f.dropout, 0.0, 100.0),
            ("faults.drift", f.drift, 0.0, 100.0),
            ("faults.pitch_fault", f.pitch_fault, 0.0, 100.0),
            ("faults.inverter_outage", f.inverter_outage, 0.0, 100.0),
            ("faults.string_outage", f.string_outage, 0.0, 100.0),
            ("faults.soiling", f.soiling, 0.0, 100.0),
            ("faults.pest_outbreak", f.pest_outbreak, 0.0, 100.0),
            ("faults.drought", f.drought, 0.0, 100.0),
            ("faults.icing_spells_per_winter", f.icing_spells_per_winter, 0.0, 100.0),
        ])?;
        if f.icing_months.iter().any(|m| !(1..=12).contains(m)) {
            return Err("faults.icing_months must be month numbers 1..=12".into());
        }
        let n = &self.nwp;
        within(&[
            ("nwp.error_correlation_hours", n.error_correlation_hours, 0.0, 1000.0),
            ("nwp.shared_error_fraction", n.shared_error_fraction, 0.0, 1.0),
            ("nwp.timing_error_max_hours", n.timing_error_max_hours, 0.0, 12.0),
            ("nwp.wind_speed_bias_ms", n.wind_speed_bias_ms, -20.0, 20.0),
        ])?;
        for (name, pair) in [
            ("nwp.wind_speed_ms", n.wind_speed_ms),
            ("nwp.wind_dir_deg", n.wind_dir_deg),
            ("nwp.cloud_cover_pct", n.cloud_cover_pct),
            ("nwp.air_temp_c", n.air_temp_c),
            ("nwp.rh_pct", n.rh_pct),
            ("nwp.pressure_hpa", n.pressure_hpa),
        ] {
            within(&[(name, pair[0], 0.0, 1000.0), (name, pair[1], 0.0, 1000.0)])?;
        }
        let p = &self.peony;
        within(&[
            ("peony.base_temp_c", p.base_temp_c, -20.0, 40.0),
            ("peony.post_bloom_gdd", p.post_bloom_gdd, 0.0, 1e5),
            ("peony.senescence_mean_temp_c", p.senescence_mean_temp_c, -30.0, 40.0),
            ("peony.dormancy_mean_temp_c", p.dormancy_mean_temp_c, -30.0, 40.0),
        ])?;
        for kc in p.crop_coefficient {
            within(&[("peony.crop_coefficient", kc, 0.0, 3.0)])?;
        }
        if p.frost_sensitive_stages.iter().any(|s| *s > 6) {
            return Err("peony.frost_sensitive_stages must be stage codes 0..=6".into());
        }
        for sp in &self.species {
            within(&[
                ("species.lower_c", sp.lower_c, -20.0, 60.0),
                ("species.upper_c", sp.upper_c, -20.0, 60.0),
                ("species.first_flight_dd", sp.first_flight_dd, 0.0, 1e5),
                ("species.generation_dd", sp.generation_dd, 0.0, 1e5),
                ("species.generations", f64::from(sp.generations), 1.0, 20.0),
                ("species.flight_spread", sp.flight_spread, 0.0, 5.0),
                ("species.peak_catch_light", sp.peak_catch_light, 0.0, 1e5),
                ("species.peak_catch_pheromone", sp.peak_catch_pheromone, 0.0, 1e5),
                ("species.flight_min_temp_c", sp.flight_min_temp_c, -20.0, 50.0),
                ("species.arrival_doy", f64::from(sp.arrival_doy.unwrap_or(1)), 1.0, 366.0),
            ])?;
        }
        if n.issue_every_hours == 0 || 24 % n.issue_every_hours != 0 {
            return Err("nwp.issue_every_hours must divide 24".into());
        }
        if n.step_minutes == 0 || 60 % n.step_minutes != 0 || n.horizon_hours == 0 || n.horizon_hours > 240 {
            return Err("nwp.step_minutes must divide 60 and horizon_hours be 1..=240".into());
        }
        if n.delay_minutes > 24 * 60
            || !(0.0..=1.0).contains(&n.timing_error_probability)
            || n.timing_error_max_hours > 12.0
        {
            return Err(
                "nwp: delay_minutes ≤ 1440, timing_error_probability in 0..1, timing_error_max_hours ≤ 12".into()
            );
        }
        let p = &self.peony;
        let thresholds = [p.bud_break_gdd, p.leaf_expansion_gdd, p.flower_bud_gdd, p.bloom_gdd, p.post_bloom_gdd];
        if thresholds.windows(2).any(|w| w[0] >= w[1]) || thresholds[0] <= 0.0 {
            return Err("peony stage thresholds must be positive and increasing".into());
        }
        for species in &self.species {
            if species.name.is_empty()
                || !species.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(format!("species name {:?} must be ASCII letters, digits, _ or -", species.name));
            }
            if !(species.upper_c > species.lower_c && species.generation_dd > 0.0 && species.first_flight_dd > 0.0) {
                return Err(format!("species {}: needs upper_c > lower_c and positive degree days", species.name));
            }
            if species.generations == 0 || species.flight_spread <= 0.0 {
                return Err(format!("species {}: generations and flight_spread must be positive", species.name));
            }
        }
        if self.sites.is_empty() {
            return Err("no sites".into());
        }
        let mut names = std::collections::BTreeSet::new();
        for site in &self.sites {
            if site.name.is_empty() || site.name.contains(['/', '+', '#', ' ', ',', '=']) {
                return Err(format!("site name {:?} must be non-empty without / + # space , =", site.name));
            }
            if !names.insert(site.name.clone()) {
                return Err(format!("site {} appears twice", site.name));
            }
            site.validate(self).map_err(|e| format!("site {}: {e}", site.name))?;
        }
        Ok(())
    }
}

impl Site {
    /// Device names in the order the simulator numbers them.
    pub fn device_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        names.extend(self.met_station.iter().map(|m| m.device.clone()));
        names.extend(self.nwp.iter().map(|m| m.device.clone()));
        if let Some(farm) = &self.wind_farm {
            names.extend((1..=farm.turbines).map(|i| format!("{}{i:02}", farm.device_prefix)));
            names.push(farm.meter_device.clone());
        }
        if let Some(plant) = &self.pv_plant {
            names.extend((1..=plant.inverters).map(|i| format!("{}{i:02}", plant.device_prefix)));
            names.push(plant.meter_device.clone());
        }
        names.extend(self.plots.iter().map(|p| p.device.clone()));
        names.extend(self.traps.iter().map(|t| t.device.clone()));
        names
    }

    fn validate(&self, scenario: &Scenario) -> Result<(), String> {
        if self.latitude.is_some_and(|v| !(-90.0..=90.0).contains(&v))
            || self.longitude.is_some_and(|v| !(-180.0..=180.0).contains(&v))
            || self.altitude_m.is_some_and(|v| !(-500.0..=5000.0).contains(&v))
            || !(-20.0..=20.0).contains(&self.temp_offset_c)
        {
            return Err("latitude, longitude, altitude_m (−500..5000) or temp_offset_c (±20) out of range".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for name in self.device_names() {
            if name.is_empty() || name.contains(['/', '+', '#', ' ', ',', '=']) {
                return Err(format!("device name {name:?} must be non-empty without / + # space , ="));
            }
            if !seen.insert(name.clone()) {
                return Err(format!("device {name} appears twice"));
            }
        }
        if let Some(farm) = &self.wind_farm {
            within(&[
                ("wind_farm.rated_kw", farm.rated_kw, 0.0, 20_000.0),
                ("wind_farm.rotor_diameter_m", farm.rotor_diameter_m, 0.0, 300.0),
                ("wind_farm.hub_height_m", farm.hub_height_m, 0.0, 300.0),
                ("wind_farm.rotor_rpm_max", farm.rotor_rpm_max, 0.0, 100.0),
                ("wind_farm.cut_out_ms", farm.cut_out_ms, 0.0, 60.0),
                ("wind_farm.turbine_spacing_m", farm.turbine_spacing_m, 0.0, 1e5),
                ("wind_farm.row_spacing_m", farm.row_spacing_m, 0.0, 1e5),
                ("wind_farm.outages_per_30_days", farm.outages_per_30_days, 0.0, 100.0),
                ("wind_farm.curtailment_per_30_days", farm.curtailment_per_30_days, 0.0, 100.0),
            ])?;
            for speed in &farm.power_curve_ms {
                within(&[("wind_farm.power_curve_ms", *speed, 0.0, 60.0)])?;
            }
        }
        if let Some(plant) = &self.pv_plant {
            within(&[
                ("pv_plant.dc_kwp_per_inverter", plant.dc_kwp_per_inverter, 0.0, 1e5),
                ("pv_plant.ac_kw_per_inverter", plant.ac_kw_per_inverter, 0.0, 1e5),
                ("pv_plant.azimuth_deg", plant.azimuth_deg, 0.0, 360.0),
                ("pv_plant.temp_coefficient_per_c", plant.temp_coefficient_per_c, -0.1, 0.1),
                ("pv_plant.faiman_u0", plant.faiman_u0, 0.0, 1000.0),
                ("pv_plant.faiman_u1", plant.faiman_u1, 0.0, 1000.0),
                ("pv_plant.vmp_stc_v", plant.vmp_stc_v, 0.0, 5000.0),
                ("pv_plant.voltage_temp_coefficient_per_c", plant.voltage_temp_coefficient_per_c, -0.1, 0.1),
                ("pv_plant.curtailment_per_30_days", plant.curtailment_per_30_days, 0.0, 100.0),
            ])?;
        }
        for plot in &self.plots {
            within(&[
                ("plot.root_depth_mm", plot.root_depth_mm, 1.0, 5000.0),
                ("plot.gdd_factor", plot.gdd_factor, 0.1, 5.0),
                ("plot.temp_offset_c", plot.temp_offset_c, -20.0, 20.0),
                ("plot.pore_water_ec_ds_m", plot.pore_water_ec_ds_m, 0.0, 50.0),
                ("plot.wilting_point_pct", plot.wilting_point_pct, 0.0, 70.0),
            ])?;
        }
        for trap in &self.traps {
            within(&[
                ("trap.efficiency", trap.efficiency, 0.0, 100.0),
                ("trap.service_every_days", f64::from(trap.service_every_days), 1.0, 366.0),
            ])?;
        }
        if self.wind_farm.is_some() && self.pv_plant.is_some() {
            return Err("a site holds a wind farm or a PV plant, not both (each has one plant meter)".into());
        }
        if !(self.wind_exposure > 0.0 && self.wind_exposure < 3.0) {
            return Err("wind_exposure must be within 0..3".into());
        }
        if let Some(farm) = &self.wind_farm {
            farm.validate()?;
        }
        if let Some(plant) = &self.pv_plant {
            if plant.inverters == 0 || plant.inverters > 999 {
                return Err("pv_plant.inverters must be 1..=999".into());
            }
            if !(plant.dc_kwp_per_inverter > 0.0 && plant.ac_kw_per_inverter > 0.0) {
                return Err("pv_plant: dc_kwp_per_inverter and ac_kw_per_inverter must be positive".into());
            }
            if !(0.0..=90.0).contains(&plant.tilt_deg) || !(0.0..=1.0).contains(&plant.albedo) {
                return Err("pv_plant: tilt_deg within 0..90, albedo within 0..1".into());
            }
            if !(0.5..=1.0).contains(&plant.inverter_efficiency) || plant.vmp_stc_v <= 0.0 {
                return Err("pv_plant: inverter_efficiency within 0.5..1 and vmp_stc_v positive".into());
            }
            if !(plant.faiman_u0 > 0.0 && plant.faiman_u1 >= 0.0) {
                return Err("pv_plant: faiman_u0 must be positive and faiman_u1 non-negative".into());
            }
            if !((0.0..0.5).contains(&plant.dc_losses) && (0.0..0.5).contains(&plant.ac_losses)) {
                return Err("pv_plant: dc_losses and ac_losses within 0..0.5".into());
            }
            if plant.capacity_mw.is_some_and(|c| !(c > 0.0 && c.is_finite())) {
                return Err("pv_plant.capacity_mw must be positive".into());
            }
        }
        for plot in &self.plots {
            if !(plot.wilting_point_pct < plot.field_capacity_pct
                && plot.field_capacity_pct < plot.saturation_pct
                && plot.saturation_pct < 70.0)
            {
                return Err(format!("plot {}: needs wilting point < field capacity < saturation < 70 %", plot.device));
            }
            if plot.root_depth_mm <= 0.0
                || plot.gdd_factor <= 0.0
                || plot.cadence_minutes == 0
                || 60 % plot.cadence_minutes.min(60) != 0
            {
                return Err(format!(
                    "plot {}: root depth and gdd_factor positive, cadence_minutes divides 60",
                    plot.device
                ));
            }
            if plot.irrigation_hour_local > 23
                || !(0.0..1.0).contains(&plot.irrigation_trigger)
                || !(0.0..=200.0).contains(&plot.irrigation_mm)
            {
                return Err(format!(
                    "plot {}: irrigation_hour_local 0..23, irrigation_trigger within 0..1, irrigation_mm 0..200",
                    plot.device
                ));
            }
        }
        for trap in &self.traps {
            if !scenario.species.iter().any(|s| s.name == trap.species) {
                return Err(format!(
                    "trap {}: unknown species {:?} (add it under [[species]])",
                    trap.device, trap.species
                ));
            }
            if trap.service_every_days == 0 || trap.service_hour_local > 23 || trap.efficiency < 0.0 {
                return Err(format!(
                    "trap {}: service_every_days ≥ 1, service_hour_local 0..23, efficiency ≥ 0",
                    trap.device
                ));
            }
        }
        Ok(())
    }
}

impl WindFarm {
    fn validate(&self) -> Result<(), String> {
        if self.turbines == 0 || self.turbines > 99 {
            return Err("wind_farm.turbines must be 1..=99".into());
        }
        if self.power_curve_ms.len() != self.power_curve_kw.len() || self.power_curve_ms.len() < 3 {
            return Err("wind_farm: power_curve_ms and power_curve_kw need the same length (≥ 3)".into());
        }
        if self.power_curve_ms.windows(2).any(|w| w[0] >= w[1]) {
            return Err("wind_farm.power_curve_ms must increase".into());
        }
        if self.power_curve_kw.iter().any(|p| !(*p >= 0.0 && *p <= self.rated_kw * 1.001)) {
            return Err("wind_farm.power_curve_kw must lie within 0..=rated_kw".into());
        }
        if !(self.rated_kw > 0.0 && self.rotor_diameter_m > 0.0 && self.hub_height_m > self.rotor_diameter_m / 2.0) {
            return Err("wind_farm: rated_kw, rotor_diameter_m positive and hub above the blade tips".into());
        }
        if !(self.rotor_rpm_min > 0.0 && self.rotor_rpm_max > self.rotor_rpm_min) {
            return Err("wind_farm: 0 < rotor_rpm_min < rotor_rpm_max".into());
        }
        if self.cut_out_resume_ms >= self.cut_out_ms || self.rows == 0 {
            return Err("wind_farm: cut_out_resume_ms < cut_out_ms and rows ≥ 1".into());
        }
        if !(self.turbine_spacing_m > 0.0 && self.row_spacing_m > 0.0 && (0.0..1.0).contains(&self.thrust_coefficient))
        {
            return Err("wind_farm: spacings positive, thrust_coefficient within 0..1".into());
        }
        if !((0.0..=0.5).contains(&self.wake_decay) && (0.0..0.5).contains(&self.electrical_losses)) {
            return Err("wind_farm: wake_decay within 0..0.5, electrical_losses within 0..0.5".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_heze_parses_and_validates() {
        let s = Scenario::load("heze").unwrap();
        assert_eq!(s.name, "heze");
        assert_eq!(s.utc_offset_s().unwrap(), 8 * 3600);
        let wind = s.sites.iter().find_map(|s| s.wind_farm.as_ref()).unwrap();
        assert_eq!(wind.turbines as f64 * wind.rated_kw, 50_000.0);
        let pv = s.sites.iter().find_map(|s| s.pv_plant.as_ref()).unwrap();
        assert_eq!(pv.inverters as f64 * pv.dc_kwp_per_inverter, 40_000.0);
        let plots: usize = s.sites.iter().map(|s| s.plots.len()).sum();
        let traps: usize = s.sites.iter().map(|s| s.traps.len()).sum();
        assert_eq!((plots, traps), (3, 6));
        assert_eq!(s.sites.iter().filter(|s| s.nwp.is_some()).count(), 2);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_clear_errors() {
        let bad = HEZE_TOML.replacen("name = \"heze\"", "name = \"heze\"\ncolour = \"red\"", 1);
        let err = Scenario::from_toml(&bad, "test").unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
        let bad = HEZE_TOML.replacen("timezone = \"+08:00\"", "timezone = \"Mars\"", 1);
        let err = Scenario::from_toml(&bad, "test").unwrap_err().to_string();
        assert!(err.contains("timezone"), "{err}");
        let err = Scenario::load("/nonexistent/scenario.toml").unwrap_err().to_string();
        assert!(err.contains("cannot read"), "{err}");
    }
}
