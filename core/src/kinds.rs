//! The device kinds (DESIGN.md §3), written once: for each kind its measurement name, its
//! extra tags, and its fields in a fixed order with unit, value type and PHYSICAL limits (what
//! no sensor of that kind can read: humidity above 100 %, a negative trap count). The ingest
//! schema validates and dead-letters against these limits and serves them on
//! `/api/v1/schema`, the simulator takes its rows' field order, file columns and the bounds of
//! injected faults from here, and the detectors their range checks. Unusual but possible values
//! are inside the limits on purpose: judging those is the detectors' work.
//!
//! Power limits can scale with an asset's rating ([`RatedLimits`]); which rating applies to a
//! device is configuration, so that part stays in the ingest schema. Measurements not listed
//! here are accepted as they are.

use std::fmt;

/// One device kind: its fields and what they may hold.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KindSchema {
    /// The measurement name, also the kind segment of MQTT topics.
    pub kind: &'static str,
    pub description: &'static str,
    /// In the order of the simulator's rows and file columns.
    pub fields: &'static [FieldSchema],
    /// Tag keys besides `site` and `device`, in the simulator's column order.
    #[serde(skip)]
    pub extra_tags: &'static [&'static str],
    /// Forecasts of a feed (`nwp`) rather than readings of a device: the detectors leave it out.
    #[serde(skip)]
    pub forecast: bool,
}

impl KindSchema {
    /// The field named `name`.
    pub fn field(&self, name: &str) -> Option<&'static FieldSchema> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields the simulator produces, in row order.
    pub fn simulated_fields(&self) -> impl Iterator<Item = &'static FieldSchema> + use<> {
        self.fields.iter().filter(|f| f.simulated)
    }
}

/// One field of a kind.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct FieldSchema {
    pub name: &'static str,
    /// Empty for codes and counts.
    pub unit: &'static str,
    #[serde(rename = "type")]
    pub value_type: ValueType,
    /// Physical limits, inclusive; `None` = unbounded on that side.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// When the asset has this rating configured, the limits become multiples of it instead.
    pub rated: Option<RatedLimits>,
    pub description: &'static str,
    /// The simulator produces this field. Only pest traps' `catch` is not: the simulated traps
    /// are counters that report the cumulative `count`, as most deployed traps do.
    #[serde(skip)]
    pub simulated: bool,
}

impl FieldSchema {
    /// `v` moved into the field's physical limits (not the rated ones), so an injected fault
    /// stays a value the schema accepts.
    pub fn clamp(&self, v: f64) -> f64 {
        v.clamp(self.min.unwrap_or(f64::NEG_INFINITY), self.max.unwrap_or(f64::INFINITY))
    }
}

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// Float, integer or unsigned.
    Number,
    /// A number with no fractional part (counts).
    WholeNumber,
    /// true/false; the numbers 0 and 1 are converted.
    Boolean,
    /// A status code: any number or string.
    NumberOrString,
}

/// Limits as multiples of an asset rating.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct RatedLimits {
    pub rating: Rating,
    pub min_factor: f64,
    pub max_factor: f64,
}

/// Which asset rating a limit scales with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    /// Rated power of a turbine or inverter, kW.
    RatedKw,
    /// Installed capacity of a plant, MW.
    CapacityMw,
}

impl fmt::Display for Rating {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rating::RatedKw => "rated_kw",
            Rating::CapacityMw => "capacity_mw",
        })
    }
}

/// The kind named `name`.
pub fn kind(name: &str) -> Option<&'static KindSchema> {
    KINDS.iter().copied().find(|k| k.kind == name)
}

/// Field `field` of the kind named `kind`.
pub fn field(kind: &str, field: &str) -> Option<&'static FieldSchema> {
    self::kind(kind)?.field(field)
}

/// Every kind, in a stable order (the API's, the simulator's files').
pub static KINDS: &[&KindSchema] = &[&WIND_TURBINE, &PV_INVERTER, &PLANT, &MET_STATION, &NWP, &PEONY_PLOT, &PEST_TRAP];

const fn number(name: &'static str, unit: &'static str, min: f64, max: f64, description: &'static str) -> FieldSchema {
    FieldSchema {
        name,
        unit,
        value_type: ValueType::Number,
        min: Some(min),
        max: Some(max),
        rated: None,
        description,
        simulated: true,
    }
}

const fn at_least(name: &'static str, unit: &'static str, min: f64, description: &'static str) -> FieldSchema {
    FieldSchema { max: None, ..number(name, unit, min, 0.0, description) }
}

const fn count(name: &'static str, description: &'static str) -> FieldSchema {
    FieldSchema { value_type: ValueType::WholeNumber, ..at_least(name, "", 0.0, description) }
}

/// A power field: generic limits without a rating, `min_factor ×` to `2 ×` the rating with one.
const fn power(
    name: &'static str,
    unit: &'static str,
    min: f64,
    max: f64,
    rating: Rating,
    min_factor: f64,
    description: &'static str,
) -> FieldSchema {
    FieldSchema {
        rated: Some(RatedLimits { rating, min_factor, max_factor: 2.0 }),
        ..number(name, unit, min, max, description)
    }
}

const fn status(description: &'static str) -> FieldSchema {
    FieldSchema {
        value_type: ValueType::NumberOrString,
        min: None,
        max: None,
        ..number("status", "", 0.0, 0.0, description)
    }
}

/// A field people write by hand (a stage name or code), not a sensor's number.
const fn observation(name: &'static str, description: &'static str) -> FieldSchema {
    FieldSchema {
        value_type: ValueType::NumberOrString,
        min: None,
        max: None,
        ..number(name, "", 0.0, 0.0, description)
    }
}

/// A field real devices may send but the simulator does not produce.
const fn not_simulated(field: FieldSchema) -> FieldSchema {
    FieldSchema { simulated: false, ..field }
}

const AIR_TEMP: (f64, f64) = (-60.0, 70.0);
const WIND_SPEED_MAX: f64 = 75.0;
// Thermopile pyranometers read a few W/m² below zero at night (BSRN's physically possible
// minimum is -4 W/m²); those readings are real and must not be dropped.
const IRRADIANCE_MIN: f64 = -10.0;

pub static WIND_TURBINE: KindSchema = KindSchema {
    kind: "wind_turbine",
    description: "A wind turbine's SCADA readings",
    fields: &[
        power(
            "power_kw",
            "kW",
            -2000.0,
            40000.0,
            Rating::RatedKw,
            -0.2,
            "Active power; negative while idling on grid power",
        ),
        number("wind_speed_ms", "m/s", 0.0, WIND_SPEED_MAX, "Nacelle anemometer wind speed"),
        number("wind_dir_deg", "°", 0.0, 360.0, "Wind direction, clockwise from north"),
        number("nacelle_dir_deg", "°", 0.0, 360.0, "Nacelle heading, clockwise from north"),
        number("rotor_rpm", "rpm", -100.0, 1000.0, "Rotor speed; slightly negative when idling backwards"),
        number("pitch_deg", "°", -180.0, 180.0, "Blade pitch angle (about 90 when feathered)"),
        number("ambient_temp_c", "°C", AIR_TEMP.0, AIR_TEMP.1, "Ambient air temperature at the nacelle"),
        status("Turbine state or fault code"),
    ],
    extra_tags: &[],
    forecast: false,
};

pub static PV_INVERTER: KindSchema = KindSchema {
    kind: "pv_inverter",
    description: "A PV inverter",
    fields: &[
        power(
            "ac_power_kw",
            "kW",
            -2000.0,
            40000.0,
            Rating::RatedKw,
            -0.2,
            "AC output power; slightly negative at night",
        ),
        power("dc_power_kw", "kW", -2000.0, 40000.0, Rating::RatedKw, -0.2, "DC input power"),
        number("dc_voltage_v", "V", -10.0, 2000.0, "DC input voltage; small negative offsets at night"),
        number("temp_c", "°C", -60.0, 150.0, "Inverter internal or heat-sink temperature"),
        status("Inverter state or fault code"),
    ],
    extra_tags: &[],
    forecast: false,
};

pub static PLANT: KindSchema = KindSchema {
    kind: "plant",
    description: "A wind or PV plant's grid meter",
    fields: &[
        power("power_mw", "MW", -1000.0, 30000.0, Rating::CapacityMw, -0.2, "Active power at the grid connection"),
        number("capacity_mw", "MW", 0.0, 30000.0, "Operating capacity"),
        power("available_mw", "MW", 0.0, 30000.0, Rating::CapacityMw, 0.0, "Available power"),
        FieldSchema {
            value_type: ValueType::Boolean,
            min: None,
            max: None,
            ..number("curtailed", "", 0.0, 0.0, "Output limited by dispatch (限电)")
        },
    ],
    extra_tags: &[],
    forecast: false,
};

pub static MET_STATION: KindSchema = KindSchema {
    kind: "met_station",
    description: "A plant's weather station",
    fields: &[
        number("ghi_wm2", "W/m²", IRRADIANCE_MIN, 1600.0, "Global horizontal irradiance"),
        number("poa_wm2", "W/m²", IRRADIANCE_MIN, 2000.0, "Plane-of-array irradiance"),
        number("air_temp_c", "°C", AIR_TEMP.0, AIR_TEMP.1, "Air temperature"),
        number("rh_pct", "%", 0.0, 100.0, "Relative humidity"),
        number("wind_speed_ms", "m/s", 0.0, WIND_SPEED_MAX, "Wind speed"),
        number("wind_dir_deg", "°", 0.0, 360.0, "Wind direction, clockwise from north"),
        number("pressure_hpa", "hPa", 300.0, 1100.0, "Station air pressure"),
        at_least("rain_mm", "mm", 0.0, "Precipitation"),
        number("module_temp_c", "°C", -60.0, 100.0, "PV module back-sheet temperature"),
    ],
    extra_tags: &[],
    forecast: false,
};

pub static NWP: KindSchema = KindSchema {
    kind: "nwp",
    description: "A weather forecast feed (tag issued = issue time; ts = valid time)",
    fields: &[
        number("wind_speed_100m_ms", "m/s", 0.0, WIND_SPEED_MAX, "Wind speed at 100 m"),
        number("wind_dir_100m_deg", "°", 0.0, 360.0, "Wind direction at 100 m"),
        number("ghi_wm2", "W/m²", IRRADIANCE_MIN, 1600.0, "Global horizontal irradiance"),
        number("air_temp_c", "°C", AIR_TEMP.0, AIR_TEMP.1, "Air temperature at 2 m"),
        number("rh_pct", "%", 0.0, 100.0, "Relative humidity at 2 m"),
        number("cloud_cover_pct", "%", 0.0, 100.0, "Total cloud cover"),
        number("pressure_hpa", "hPa", 300.0, 1100.0, "Air pressure"),
        at_least("precip_mm", "mm", 0.0, "Precipitation over the step ending at the valid time"),
    ],
    extra_tags: &["issued"],
    forecast: true,
};

pub static PEONY_PLOT: KindSchema = KindSchema {
    kind: "peony_plot",
    description: "A peony growth plot",
    fields: &[
        number("air_temp_c", "°C", AIR_TEMP.0, AIR_TEMP.1, "Air temperature"),
        number("air_rh_pct", "%", 0.0, 100.0, "Air relative humidity"),
        number("soil_temp_c", "°C", -50.0, 80.0, "Soil temperature"),
        number("soil_vwc_pct", "%", 0.0, 100.0, "Soil volumetric water content"),
        number("soil_ec_ds_m", "dS/m", 0.0, 250.0, "Soil electrical conductivity"),
        number("light_lux", "lx", 0.0, 200_000.0, "Illuminance (full sun is about 100 000 lx)"),
        at_least("rain_mm", "mm", 0.0, "Precipitation"),
        at_least("stage", "", 0.0, "Observed phenology stage code"),
        not_simulated(observation(
            "stage_observed",
            "Phenology stage a technician observed: a stage code of the plot's crop (e.g. bloom)",
        )),
    ],
    extra_tags: &[],
    forecast: false,
};

pub static PEST_TRAP: KindSchema = KindSchema {
    kind: "pest_trap",
    description: "An insect pest trap (tags species, trap_type)",
    fields: &[
        count("count", "Cumulative catch since the trap was last serviced"),
        not_simulated(count("catch", "Catch in the reporting interval")),
    ],
    extra_tags: &["species", "trap_type"],
    forecast: false,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn kind_names_and_field_names_are_unique() {
        let names: HashSet<&str> = KINDS.iter().map(|k| k.kind).collect();
        assert_eq!(names.len(), KINDS.len());
        for kind in KINDS {
            let fields: HashSet<&str> = kind.fields.iter().map(|f| f.name).collect();
            assert_eq!(fields.len(), kind.fields.len(), "{}", kind.kind);
            for tag in kind.extra_tags {
                assert!(!fields.contains(tag), "{}: tag {tag} is also a field", kind.kind);
                assert!(!["site", "device"].contains(tag), "{}: {tag} is always a tag", kind.kind);
            }
        }
    }

    #[test]
    fn limits_are_ordered_and_rated_limits_too() {
        for kind in KINDS {
            for field in kind.fields {
                let at = format!("{}.{}", kind.kind, field.name);
                if let (Some(min), Some(max)) = (field.min, field.max) {
                    assert!(min < max, "{at}");
                }
                if let Some(rated) = field.rated {
                    assert!(rated.min_factor < rated.max_factor, "{at}");
                    assert!(field.min.is_some() && field.max.is_some(), "{at}: rated fields have generic limits too");
                }
                let numeric = matches!(field.value_type, ValueType::Number | ValueType::WholeNumber);
                assert!(numeric || (field.min.is_none() && field.max.is_none() && field.rated.is_none()), "{at}");
            }
        }
    }

    #[test]
    fn clamp_uses_the_physical_limits_and_leaves_open_sides_open() {
        let rh = field("met_station", "rh_pct").unwrap();
        assert_eq!((rh.clamp(120.0), rh.clamp(-3.0), rh.clamp(55.5)), (100.0, 0.0, 55.5));
        let rain = field("met_station", "rain_mm").unwrap();
        assert_eq!((rain.clamp(1e9), rain.clamp(-1.0)), (1e9, 0.0));
        let status = field("wind_turbine", "status").unwrap();
        assert_eq!(status.clamp(-7.0), -7.0);
    }

    /// The simulator's rows and file columns follow the table: this pins what it writes, so a
    /// reordered or added field shows up here and not as a silent change of its output.
    #[test]
    fn simulated_fields_in_row_order() {
        let simulated =
            |kind: &str| -> Vec<&str> { self::kind(kind).unwrap().simulated_fields().map(|f| f.name).collect() };
        assert_eq!(
            simulated("wind_turbine"),
            [
                "power_kw",
                "wind_speed_ms",
                "wind_dir_deg",
                "nacelle_dir_deg",
                "rotor_rpm",
                "pitch_deg",
                "ambient_temp_c",
                "status"
            ]
        );
        assert_eq!(simulated("pv_inverter"), ["ac_power_kw", "dc_power_kw", "dc_voltage_v", "temp_c", "status"]);
        assert_eq!(simulated("plant"), ["power_mw", "capacity_mw", "available_mw", "curtailed"]);
        assert_eq!(
            simulated("met_station"),
            [
                "ghi_wm2",
                "poa_wm2",
                "air_temp_c",
                "rh_pct",
                "wind_speed_ms",
                "wind_dir_deg",
                "pressure_hpa",
                "rain_mm",
                "module_temp_c"
            ]
        );
        assert_eq!(
            simulated("nwp"),
            [
                "wind_speed_100m_ms",
                "wind_dir_100m_deg",
                "ghi_wm2",
                "air_temp_c",
                "rh_pct",
                "cloud_cover_pct",
                "pressure_hpa",
                "precip_mm"
            ]
        );
        assert_eq!(
            simulated("peony_plot"),
            [
                "air_temp_c",
                "air_rh_pct",
                "soil_temp_c",
                "soil_vwc_pct",
                "soil_ec_ds_m",
                "light_lux",
                "rain_mm",
                "stage"
            ]
        );
        assert_eq!(simulated("pest_trap"), ["count"]);
        // Every field but the trap's interval catch and the plot's observed stage is simulated, and the extra tags are the
        // simulator's columns too.
        let unsimulated: Vec<String> = KINDS
            .iter()
            .flat_map(|k| k.fields.iter().filter(|f| !f.simulated).map(|f| format!("{}.{}", k.kind, f.name)))
            .collect();
        assert_eq!(unsimulated, ["peony_plot.stage_observed", "pest_trap.catch"]);
        assert_eq!(kind("nwp").unwrap().extra_tags, ["issued"]);
        assert_eq!(kind("pest_trap").unwrap().extra_tags, ["species", "trap_type"]);
    }

    #[test]
    fn only_nwp_is_a_forecast_and_lookups_miss_unknown_names() {
        let forecasts: Vec<&str> = KINDS.iter().filter(|k| k.forecast).map(|k| k.kind).collect();
        assert_eq!(forecasts, ["nwp"]);
        assert!(kind("greenhouse").is_none());
        assert!(field("met_station", "leaf_wetness").is_none());
        assert_eq!(field("pest_trap", "count").map(|f| (f.min, f.max)), Some((Some(0.0), None)));
    }
}
