//! The kind schema (DESIGN.md §3) at the door: [`Schema::validate`] removes the fields a point
//! cannot physically have (humidity above 100 %, a negative trap count, a turbine at 5 × its
//! rating, a string where a number belongs, NaN) and says why. Unusual but possible values are
//! kept: judging them is the anomaly jobs' work, and they need the data. The kinds themselves —
//! fields, units, types, physical limits — are the one table in [`fieldline_core::kinds`].
//!
//! Power limits scale with the asset's rating when [`SchemaConfig`] gives one (turbine and
//! inverter `rated_kw`, plant `capacity_mw`; a plant point's own `capacity_mw` field serves
//! when the config has none). Unknown kinds and unknown fields are accepted as they are.

use std::collections::HashMap;
use std::fmt;

use fieldline_core::kinds::KINDS;
pub use fieldline_core::kinds::{FieldSchema, KindSchema, RatedLimits, Rating, ValueType};
use fieldline_core::point::{FieldValue, Point};

/// Asset ratings that scale the power limits (the `[schema]` config section).
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaConfig {
    pub assets: Vec<AssetConfig>,
}

/// The rating of one asset, or of every asset of a kind at a site (`device = "*"`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    pub site: String,
    pub kind: String,
    /// `"*"` = every device of that kind at the site; a device's own entry wins over it.
    #[serde(default = "star")]
    pub device: String,
    /// Rated power of a `wind_turbine` or `pv_inverter`, kW.
    #[serde(default)]
    pub rated_kw: Option<f64>,
    /// Installed capacity of a `plant`, MW.
    #[serde(default)]
    pub capacity_mw: Option<f64>,
}

fn star() -> String {
    "*".to_owned()
}

/// A mistake in [`SchemaConfig`], found by [`SchemaConfig::check`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("schema.assets[{index}] ({site}/{kind}/{device}): {reason}")]
pub struct SchemaConfigError {
    pub index: usize,
    pub site: String,
    pub kind: String,
    pub device: String,
    pub reason: String,
}

impl SchemaConfig {
    /// Rejects entries [`Schema::new`] would have to ignore: unknown kinds, a rating the kind
    /// does not use, ratings that are not positive numbers.
    pub fn check(&self) -> Result<(), SchemaConfigError> {
        for (index, asset) in self.assets.iter().enumerate() {
            let fail = |reason: String| SchemaConfigError {
                index,
                site: asset.site.clone(),
                kind: asset.kind.clone(),
                device: asset.device.clone(),
                reason,
            };
            if asset.site.is_empty() || asset.device.is_empty() {
                return Err(fail("site and device must not be empty".into()));
            }
            let Some(kind) = KINDS.iter().find(|k| k.kind == asset.kind) else {
                let known: Vec<&str> = KINDS.iter().map(|k| k.kind).collect();
                return Err(fail(format!("unknown kind (known: {})", known.join(", "))));
            };
            let uses = |rating: Rating| kind.fields.iter().any(|f| f.rated.is_some_and(|r| r.rating == rating));
            for (rating, value) in [(Rating::RatedKw, asset.rated_kw), (Rating::CapacityMw, asset.capacity_mw)] {
                let Some(value) = value else { continue };
                if !uses(rating) {
                    return Err(fail(format!("{} does not use {rating}", kind.kind)));
                }
                if !(value.is_finite() && value > 0.0) {
                    return Err(fail(format!("{rating} = {value} must be a positive number")));
                }
            }
            if asset.rated_kw.is_none() && asset.capacity_mw.is_none() {
                return Err(fail("gives neither rated_kw nor capacity_mw".into()));
            }
        }
        Ok(())
    }
}

/// A field removed by [`Schema::validate`], and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Violation {
    pub field: String,
    pub value: String,
    pub reason: String,
}

/// The builtin kinds with the configured asset ratings, ready to validate points.
#[derive(Debug, Clone)]
pub struct Schema {
    kinds: Vec<KindEntry>,
    by_name: HashMap<&'static str, usize>,
}

#[derive(Debug, Clone)]
struct KindEntry {
    schema: &'static KindSchema,
    /// Configured ratings by site.
    sites: HashMap<String, SiteRatings>,
    has_rated_fields: bool,
}

#[derive(Debug, Clone, Default)]
struct SiteRatings {
    every_device: Ratings,
    devices: HashMap<String, Ratings>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Ratings {
    rated_kw: Option<f64>,
    capacity_mw: Option<f64>,
}

impl Ratings {
    /// `self`'s values, falling back to `fallback`'s where `self` has none.
    fn or(self, fallback: Ratings) -> Ratings {
        Ratings {
            rated_kw: self.rated_kw.or(fallback.rated_kw),
            capacity_mw: self.capacity_mw.or(fallback.capacity_mw),
        }
    }

    fn get(&self, rating: Rating) -> Option<f64> {
        match rating {
            Rating::RatedKw => self.rated_kw,
            Rating::CapacityMw => self.capacity_mw,
        }
    }
}

fn positive(value: Option<f64>) -> Option<f64> {
    value.filter(|v| v.is_finite() && *v > 0.0)
}

impl Schema {
    /// The builtin kinds with `config`'s ratings. Entries [`SchemaConfig::check`] rejects are
    /// ignored here.
    pub fn new(config: &SchemaConfig) -> Schema {
        let mut kinds: Vec<KindEntry> = KINDS
            .iter()
            .copied()
            .map(|schema| KindEntry {
                schema,
                sites: HashMap::new(),
                has_rated_fields: schema.fields.iter().any(|f| f.rated.is_some()),
            })
            .collect();
        for asset in &config.assets {
            let Some(entry) = kinds.iter_mut().find(|e| e.schema.kind == asset.kind) else {
                continue;
            };
            let ratings = Ratings { rated_kw: positive(asset.rated_kw), capacity_mw: positive(asset.capacity_mw) };
            let site = entry.sites.entry(asset.site.clone()).or_default();
            if asset.device == "*" {
                site.every_device = ratings.or(site.every_device);
            } else {
                let device = site.devices.entry(asset.device.clone()).or_default();
                *device = ratings.or(*device);
            }
        }
        let by_name = kinds.iter().enumerate().map(|(i, e)| (e.schema.kind, i)).collect();
        Schema { kinds, by_name }
    }

    /// The rated power (kW) configured for a device of `kind` at `site` (its own entry, else
    /// the site's `device = "*"` entry), if any.
    pub fn rated_kw(&self, kind: &str, site: &str, device: &str) -> Option<f64> {
        let entry = self.kinds.get(*self.by_name.get(kind)?)?;
        let site = entry.sites.get(site)?;
        site.devices.get(device).copied().unwrap_or_default().or(site.every_device).rated_kw
    }

    /// The builtin kinds without asset ratings.
    pub fn builtin() -> Schema {
        Schema::new(&SchemaConfig::default())
    }

    /// The kinds, in a stable order (for the API and docs).
    pub fn kinds(&self) -> impl Iterator<Item = &KindSchema> {
        self.kinds.iter().map(|e| e.schema)
    }

    /// Removes every field of `point` that is physically impossible or of the wrong type and
    /// returns why; converts 0/1 to booleans where the schema wants one. Allocates nothing
    /// when every field is valid.
    pub fn validate(&self, point: &mut Point) -> Vec<Violation> {
        let mut violations = Vec::new();
        let entry = self.by_name.get(point.measurement.as_str()).and_then(|&i| self.kinds.get(i));
        let ratings = match entry {
            Some(entry) if entry.has_rated_fields => entry.ratings(point),
            _ => Ratings::default(),
        };
        // One pass that keeps the good fields (removing one at a time was quadratic in the
        // number of bad ones).
        point.fields.retain_mut(|(name, value)| {
            let spec = entry.and_then(|e| e.schema.field(name));
            let checked = match spec {
                Some(spec) => check_field(spec, name, value, ratings),
                None => check_finite(name, value),
            };
            match checked {
                Ok(()) => true,
                Err(reason) => {
                    violations.push(Violation { field: name.clone(), value: value.to_string(), reason });
                    false
                }
            }
        });
        violations
    }
}

impl KindEntry {
    /// The ratings configured for the point's site and device; a plant point's own valid
    /// `capacity_mw` serves when none is configured.
    fn ratings(&self, point: &Point) -> Ratings {
        let mut ratings = Ratings::default();
        if let Some(site) = point.tag("site").and_then(|site| self.sites.get(site)) {
            let device = point.tag("device").and_then(|device| site.devices.get(device)).copied();
            ratings = device.unwrap_or_default().or(site.every_device);
        }
        if ratings.capacity_mw.is_none() && self.schema.kind == "plant" {
            ratings.capacity_mw = positive(point.field("capacity_mw").and_then(numeric));
        }
        ratings
    }
}

/// The value of a numeric field; `None` for booleans and strings.
fn numeric(value: &FieldValue) -> Option<f64> {
    match value {
        FieldValue::Float(v) => Some(*v),
        FieldValue::Int(v) => Some(*v as f64),
        FieldValue::UInt(v) => Some(*v as f64),
        FieldValue::Bool(_) | FieldValue::Str(_) => None,
    }
}

fn check_finite(name: &str, value: &FieldValue) -> Result<(), String> {
    match value {
        FieldValue::Float(v) if !v.is_finite() => Err(format!("{name} = {v} is not a finite number")),
        _ => Ok(()),
    }
}

fn wrong_type(name: &str, expected: &str, value: &FieldValue) -> String {
    match value {
        FieldValue::Str(s) => format!("{name} must be {expected}, got the string {s:?}"),
        other => format!("{name} must be {expected}, got the {} {other}", other.type_name()),
    }
}

/// `" unit"`, or nothing for unitless fields.
struct Unit(&'static str);

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() { Ok(()) } else { write!(f, " {}", self.0) }
    }
}

fn check_field(spec: &FieldSchema, name: &str, value: &mut FieldValue, ratings: Ratings) -> Result<(), String> {
    match spec.value_type {
        ValueType::Boolean => match (&*value, numeric(value)) {
            (FieldValue::Bool(_), _) => Ok(()),
            (_, Some(v)) if v == 0.0 || v == 1.0 => {
                *value = FieldValue::Bool(v == 1.0);
                Ok(())
            }
            _ => Err(wrong_type(name, "true or false (or 0/1)", value)),
        },
        ValueType::NumberOrString => match value {
            FieldValue::Bool(_) => Err(wrong_type(name, "a number or a string", value)),
            other => check_finite(name, other),
        },
        ValueType::Number | ValueType::WholeNumber => {
            let Some(v) = numeric(value) else {
                return Err(wrong_type(name, "a number", value));
            };
            if !v.is_finite() {
                return Err(format!("{name} = {v} is not a finite number"));
            }
            if spec.value_type == ValueType::WholeNumber && v.fract() != 0.0 {
                return Err(format!("{name} = {v} is not a whole number"));
            }
            check_limits(spec, name, value, v, ratings)
        }
    }
}

fn check_limits(spec: &FieldSchema, name: &str, value: &FieldValue, v: f64, ratings: Ratings) -> Result<(), String> {
    let unit = Unit(spec.unit);
    let rated = spec.rated.and_then(|r| Some((r, ratings.get(r.rating)?)));
    let (min, max) = match rated {
        Some((r, rating)) => (Some(r.min_factor * rating), Some(r.max_factor * rating)),
        None => (spec.min, spec.max),
    };
    // Says where a limit comes from when it scales with the asset's rating.
    let because = |factor: fn(&RatedLimits) -> f64| match rated {
        Some((r, rating)) if factor(&r) != 0.0 => {
            let basis = match r.rating {
                Rating::RatedKw => "the rated power",
                Rating::CapacityMw => "the capacity",
            };
            format!(" ({} × {basis} {rating}{unit})", factor(&r))
        }
        _ => String::new(),
    };
    if let Some(min) = min
        && v < min
    {
        let because = because(|r| r.min_factor);
        return Err(format!("{name} = {value} is below the physical limit {min}{unit}{because}"));
    }
    if let Some(max) = max
        && v > max
    {
        let because = because(|r| r.max_factor);
        return Err(format!("{name} = {value} is above the physical limit {max}{unit}{because}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(kind: &str, fields: Vec<(&str, FieldValue)>) -> Point {
        Point::new(
            kind,
            vec![("site".into(), "heze-wind".into()), ("device".into(), "wt01".into())],
            fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            0,
        )
    }

    fn float(v: f64) -> FieldValue {
        FieldValue::Float(v)
    }

    fn reasons(schema: &Schema, p: &mut Point) -> Vec<String> {
        schema.validate(p).into_iter().map(|v| v.reason).collect()
    }

    fn rated(rated_kw: f64, device: &str) -> SchemaConfig {
        SchemaConfig {
            assets: vec![AssetConfig {
                site: "heze-wind".into(),
                kind: "wind_turbine".into(),
                device: device.into(),
                rated_kw: Some(rated_kw),
                capacity_mw: None,
            }],
        }
    }

    #[test]
    fn humidity_above_100_is_removed_with_a_clear_reason() {
        let schema = Schema::builtin();
        let mut p = point("met_station", vec![("rh_pct", float(120.0)), ("air_temp_c", float(12.5))]);
        let violations = schema.validate(&mut p);
        assert_eq!(
            violations,
            vec![Violation {
                field: "rh_pct".into(),
                value: "120".into(),
                reason: "rh_pct = 120 is above the physical limit 100 %".into(),
            }]
        );
        assert_eq!(p.fields, vec![("air_temp_c".into(), float(12.5))]);
    }

    #[test]
    fn negative_and_fractional_trap_counts_are_rejected() {
        let schema = Schema::builtin();
        let mut p = point("pest_trap", vec![("count", FieldValue::Int(-1)), ("catch", float(2.5))]);
        assert_eq!(
            reasons(&schema, &mut p),
            ["count = -1 is below the physical limit 0", "catch = 2.5 is not a whole number"]
        );
        assert!(p.fields.is_empty());
        let mut p = point("pest_trap", vec![("count", float(12.0)), ("catch", FieldValue::UInt(3))]);
        assert!(schema.validate(&mut p).is_empty());
        assert_eq!(p.fields.len(), 2);
    }

    #[test]
    fn turbine_power_is_limited_by_its_rating() {
        let schema = Schema::new(&rated(2000.0, "*"));
        let mut p = point("wind_turbine", vec![("power_kw", float(4500.0))]);
        assert_eq!(
            reasons(&schema, &mut p),
            ["power_kw = 4500 is above the physical limit 4000 kW (2 × the rated power 2000 kW)"]
        );
        let mut p = point("wind_turbine", vec![("power_kw", float(-500.0))]);
        assert_eq!(
            reasons(&schema, &mut p),
            ["power_kw = -500 is below the physical limit -400 kW (-0.2 × the rated power 2000 kW)"]
        );
        // 1.3 × rated is unusual but possible (a gust, a measurement spike): kept.
        let mut p = point("wind_turbine", vec![("power_kw", float(2600.0))]);
        assert!(schema.validate(&mut p).is_empty());
        // Without a rating the generic limits apply.
        let mut p = point("wind_turbine", vec![("power_kw", float(4500.0))]);
        assert!(Schema::builtin().validate(&mut p).is_empty());
    }

    #[test]
    fn device_rating_wins_over_site_wide_rating_and_other_sites_are_unrated() {
        let mut config = rated(2000.0, "*");
        config.assets.extend(rated(3000.0, "wt01").assets);
        let schema = Schema::new(&config);
        let mut p = point("wind_turbine", vec![("power_kw", float(5000.0))]);
        assert!(schema.validate(&mut p).is_empty(), "wt01 is rated 3000 kW");
        let mut p = point("wind_turbine", vec![("power_kw", float(5000.0))]);
        p.tags = vec![("device".into(), "wt02".into()), ("site".into(), "heze-wind".into())];
        assert_eq!(schema.validate(&mut p).len(), 1, "wt02 falls back to the site's 2000 kW");
        let mut p = point("wind_turbine", vec![("power_kw", float(5000.0))]);
        p.tags = vec![("device".into(), "wt01".into()), ("site".into(), "other".into())];
        assert!(schema.validate(&mut p).is_empty());
        assert_eq!(schema.rated_kw("wind_turbine", "heze-wind", "wt01"), Some(3000.0));
        assert_eq!(schema.rated_kw("wind_turbine", "heze-wind", "wt02"), Some(2000.0));
        assert_eq!(schema.rated_kw("wind_turbine", "other", "wt01"), None);
    }

    #[test]
    fn plant_power_uses_configured_or_reported_capacity() {
        let schema = Schema::builtin();
        let mut p = point("plant", vec![("power_mw", float(250.0)), ("capacity_mw", float(100.0))]);
        assert_eq!(
            reasons(&schema, &mut p),
            ["power_mw = 250 is above the physical limit 200 MW (2 × the capacity 100 MW)"]
        );
        let config = SchemaConfig {
            assets: vec![AssetConfig {
                site: "heze-wind".into(),
                kind: "plant".into(),
                device: star(),
                rated_kw: None,
                capacity_mw: Some(50.0),
            }],
        };
        let mut p = point(
            "plant",
            vec![("power_mw", float(150.0)), ("capacity_mw", float(100.0)), ("available_mw", float(-1.0))],
        );
        assert_eq!(
            reasons(&Schema::new(&config), &mut p),
            [
                "power_mw = 150 is above the physical limit 100 MW (2 × the capacity 50 MW)",
                "available_mw = -1 is below the physical limit 0 MW",
            ],
            "the configured 50 MW wins over the reported 100 MW"
        );
    }

    #[test]
    fn curtailed_accepts_booleans_and_converts_zero_and_one() {
        let schema = Schema::builtin();
        let mut p = point("plant", vec![("curtailed", float(1.0))]);
        assert!(schema.validate(&mut p).is_empty());
        assert_eq!(p.field("curtailed"), Some(&FieldValue::Bool(true)));
        let mut p = point("plant", vec![("curtailed", FieldValue::Int(0))]);
        assert!(schema.validate(&mut p).is_empty());
        assert_eq!(p.field("curtailed"), Some(&FieldValue::Bool(false)));
        let mut p = point("plant", vec![("curtailed", float(2.0)), ("available_mw", FieldValue::Bool(true))]);
        assert_eq!(
            reasons(&schema, &mut p),
            [
                "curtailed must be true or false (or 0/1), got the float 2",
                "available_mw must be a number, got the boolean true",
            ]
        );
    }

    #[test]
    fn type_and_finiteness_checks() {
        let schema = Schema::builtin();
        let mut p = point(
            "met_station",
            vec![
                ("air_temp_c", FieldValue::Str("warm".into())),
                ("rain_mm", float(f64::NAN)),
                ("ghi_wm2", float(f64::INFINITY)),
                ("custom_field", float(f64::NAN)),
            ],
        );
        assert_eq!(
            reasons(&schema, &mut p),
            [
                "air_temp_c must be a number, got the string \"warm\"",
                "rain_mm = NaN is not a finite number",
                "ghi_wm2 = inf is not a finite number",
                "custom_field = NaN is not a finite number",
            ]
        );
        let mut p = point(
            "wind_turbine",
            vec![("status", FieldValue::Str("fault 12".into())), ("status2", FieldValue::Bool(true))],
        );
        assert!(schema.validate(&mut p).is_empty());
        let mut p = point("wind_turbine", vec![("status", FieldValue::Bool(true))]);
        assert_eq!(reasons(&schema, &mut p), ["status must be a number or a string, got the boolean true"]);
    }

    #[test]
    fn unusual_but_possible_values_are_kept() {
        let schema = Schema::builtin();
        let mut points = [
            point(
                "met_station",
                vec![("air_temp_c", float(-35.0)), ("rh_pct", float(100.0)), ("ghi_wm2", float(-3.0))],
            ),
            point(
                "met_station",
                vec![("wind_speed_ms", float(48.0)), ("pressure_hpa", float(960.0)), ("rain_mm", float(250.0))],
            ),
            point(
                "peony_plot",
                vec![("soil_vwc_pct", float(0.0)), ("stage", FieldValue::Int(9)), ("light_lux", float(150_000.0))],
            ),
            point(
                "wind_turbine",
                vec![("power_kw", float(-30.0)), ("pitch_deg", float(92.0)), ("wind_dir_deg", float(360.0))],
            ),
            point("pest_trap", vec![("count", FieldValue::UInt(100_000))]),
        ];
        for p in &mut points {
            let before = p.clone();
            assert_eq!(schema.validate(p), vec![], "{before:?}");
            assert_eq!(*p, before);
        }
    }

    #[test]
    fn impossible_values_across_kinds() {
        let schema = Schema::builtin();
        let cases = [
            ("met_station", "wind_speed_ms", -0.5),
            ("met_station", "pressure_hpa", 1200.0),
            ("met_station", "ghi_wm2", 1700.0),
            ("met_station", "rain_mm", -1.0),
            ("nwp", "cloud_cover_pct", 101.0),
            ("nwp", "wind_dir_100m_deg", 361.0),
            ("peony_plot", "air_temp_c", 71.0),
            ("peony_plot", "soil_vwc_pct", -1.0),
            ("peony_plot", "stage", -1.0),
            ("pv_inverter", "dc_voltage_v", 2500.0),
        ];
        for (kind, field, value) in cases {
            let mut p = point(kind, vec![(field, float(value))]);
            let violations = schema.validate(&mut p);
            assert_eq!(violations.len(), 1, "{kind}.{field} = {value}");
            assert!(violations[0].reason.starts_with(&format!("{field} = {value} is ")), "{}", violations[0].reason);
        }
    }

    #[test]
    fn unknown_kinds_and_fields_are_kept() {
        let schema = Schema::builtin();
        let mut p = point("greenhouse", vec![("rh_pct", float(250.0)), ("note", FieldValue::Str("x".into()))]);
        let before = p.clone();
        assert!(schema.validate(&mut p).is_empty());
        assert_eq!(p, before);
        let mut p = point("met_station", vec![("leaf_wetness", float(-5.0))]);
        assert!(schema.validate(&mut p).is_empty());
    }

    #[test]
    fn kinds_are_listed_with_units_and_limits() {
        let schema = Schema::builtin();
        let names: Vec<&str> = schema.kinds().map(|k| k.kind).collect();
        assert_eq!(names, ["wind_turbine", "pv_inverter", "plant", "met_station", "nwp", "peony_plot", "pest_trap"]);
        let met = schema.kinds().find(|k| k.kind == "met_station").unwrap();
        let rh = met.field("rh_pct").unwrap();
        assert_eq!((rh.unit, rh.min, rh.max), ("%", Some(0.0), Some(100.0)));
        let json = serde_json::to_value(schema.kinds().next().unwrap()).unwrap();
        assert_eq!(json["fields"][0]["rated"]["rating"], "rated_kw");
        assert_eq!(json["fields"][0]["type"], "number");
        for kind in schema.kinds() {
            for field in kind.fields {
                if let (Some(min), Some(max)) = (field.min, field.max) {
                    assert!(min < max, "{}.{}", kind.kind, field.name);
                }
            }
        }
    }

    #[test]
    fn config_check_catches_mistakes() {
        assert_eq!(rated(2000.0, "*").check(), Ok(()));
        let reason = |config: SchemaConfig| config.check().unwrap_err().reason;
        let mut config = rated(2000.0, "*");
        config.assets[0].kind = "wind_turbin".into();
        assert!(reason(config).starts_with("unknown kind"));
        assert!(reason(rated(-5.0, "*")).contains("must be a positive number"));
        let mut config = rated(2000.0, "*");
        config.assets[0].kind = "plant".into();
        assert_eq!(reason(config), "plant does not use rated_kw");
        let mut config = rated(2000.0, "*");
        config.assets[0].rated_kw = None;
        assert_eq!(reason(config), "gives neither rated_kw nor capacity_mw");
    }

    #[test]
    fn config_deserializes_with_default_device_and_rejects_unknown_keys() {
        let config: SchemaConfig =
            serde_json::from_str(r#"{"assets": [{"site": "s", "kind": "wind_turbine", "rated_kw": 2000}]}"#).unwrap();
        assert_eq!(config.assets[0].device, "*");
        assert!(
            serde_json::from_str::<SchemaConfig>(r#"{"assets": [{"site": "s", "kind": "k", "rated": 1}]}"#).is_err()
        );
    }
}
