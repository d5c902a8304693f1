//! What one message may hold and when its readings may be: the `[ingest]` configuration and
//! the checks every decoded point passes before schema validation, on every path (MQTT JSON,
//! SenML, line protocol, HTTP).
//!
//! - **Names**: non-empty, no control characters, capped lengths (an escaped measurement
//!   name must fit a file name), `time` is not a tag or field key, and a field may not share
//!   its name with a tag of the same point (both would become one Parquet column).
//! - **Reserved measurements**: what fieldline writes itself (forecasts, their accuracy,
//!   alerts, dead letters, anything starting with `_`) can only be written by fieldline, or by
//!   a user or token given `write_reserved`.
//! - **Time**: a reading more than `max_future_secs` ahead of its arrival (NWP runs and
//!   forecasts have their own, longer allowance) or before `min_time` is refused, so one bad
//!   clock cannot drag the jobs' clocks into the year 2262.
//! - **Size**: lines or readings per message, fields and tags per point, and the UTC days and
//!   series one message may touch, so no message can make unbounded work downstream.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::pipeline::Rights;
use fieldline_core::point::Point;
use fieldline_core::time::{NS_PER_DAY, NS_PER_SEC};

/// Measurements fieldline writes itself, beside every name starting with `_` (`_alert`,
/// `_deadletter`).
pub const RESERVED_MEASUREMENTS: &[&str] = &["forecast", "forecast_accuracy"];

/// Longest measurement name, bytes. Escaped for the file system (up to 3 bytes per byte) it
/// still fits a 255-byte file name.
pub const MAX_MEASUREMENT_BYTES: usize = 64;
/// Longest tag key or field name, bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// Longest tag value, bytes.
pub const MAX_TAG_VALUE_BYTES: usize = 256;
/// The key no tag or field may have: it names the time column.
pub const TIME_KEY: &str = "time";

/// True for measurements only fieldline (or a principal with `write_reserved`) may write.
pub fn is_reserved(measurement: &str) -> bool {
    measurement.starts_with('_') || RESERVED_MEASUREMENTS.contains(&measurement)
}

/// `[ingest]` section of `fieldline.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Readings stamped more than this many seconds after their arrival are refused.
    pub max_future_secs: i64,
    /// A longer allowance for measurements whose time is a valid time in the future (NWP
    /// runs, forecasts), seconds.
    pub future_secs_by_measurement: BTreeMap<String, i64>,
    /// Readings stamped before this RFC 3339 time are refused.
    pub min_time: String,
    /// Lines of line protocol (or readings of a JSON array, records of a SenML pack) in one
    /// message or request; a bigger one is refused whole: split it.
    pub max_lines: usize,
    /// Fields in one point.
    pub max_fields: usize,
    /// Tags in one point.
    pub max_tags: usize,
    /// UTC days one message may write to (each is a Parquet partition to rewrite).
    pub max_days: usize,
    /// Series (measurement and tag set) one message may write to.
    pub max_series: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_future_secs: 3600,
            future_secs_by_measurement: BTreeMap::from([
                ("nwp".to_string(), 16 * 86_400),
                ("forecast".to_string(), 16 * 86_400),
            ]),
            min_time: "1900-01-01T00:00:00Z".to_string(),
            max_lines: 200_000,
            max_fields: 1000,
            max_tags: 64,
            max_days: 400,
            max_series: 100_000,
        }
    }
}

/// A mistake in [`IngestConfig`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("[ingest] {0}")]
pub struct IngestConfigError(String);

/// [`IngestConfig`] checked and ready to apply.
#[derive(Debug, Clone)]
pub struct Limits {
    pub config: IngestConfig,
    min_ns: i64,
}

impl Default for Limits {
    fn default() -> Self {
        // The default configuration is valid by construction.
        Limits { config: IngestConfig::default(), min_ns: -2_208_988_800 * NS_PER_SEC }
    }
}

impl Limits {
    pub fn new(config: IngestConfig) -> Result<Limits, IngestConfigError> {
        let min = time::OffsetDateTime::parse(&config.min_time, &time::format_description::well_known::Rfc3339)
            .map_err(|e| IngestConfigError(format!("min_time {:?} is not an RFC 3339 time: {e}", config.min_time)))?;
        let min_ns = i64::try_from(min.unix_timestamp_nanos())
            .map_err(|_| IngestConfigError(format!("min_time {:?} is outside 1677..2262", config.min_time)))?;
        if config.max_future_secs < 0 || config.future_secs_by_measurement.values().any(|s| *s < 0) {
            return Err(IngestConfigError("future allowances must not be negative".into()));
        }
        let sizes = [config.max_lines, config.max_fields, config.max_tags, config.max_days, config.max_series];
        if sizes.contains(&0) {
            return Err(IngestConfigError("max_lines, max_fields, max_tags, max_days, max_series must be > 0".into()));
        }
        Ok(Limits { config, min_ns })
    }

    /// The latest timestamp a reading of `measurement` arriving at `now_ns` may carry.
    pub fn latest_ns(&self, measurement: &str, now_ns: i64) -> i64 {
        let secs =
            self.config.future_secs_by_measurement.get(measurement).copied().unwrap_or(self.config.max_future_secs);
        now_ns.saturating_add(secs.saturating_mul(NS_PER_SEC))
    }

    /// Checks one decoded point: names, reserved measurements, sizes and time. `Err` says
    /// why the whole point is refused.
    pub fn check_point(&self, point: &Point, now_ns: i64, rights: Rights) -> Result<(), String> {
        check_name("measurement", &point.measurement, MAX_MEASUREMENT_BYTES)?;
        if is_reserved(&point.measurement) && !rights.write_reserved {
            return Err(format!(
                "measurement {:?} is written by fieldline itself; only a user or token with write_reserved may write it",
                point.measurement
            ));
        }
        if point.tags.len() > self.config.max_tags {
            return Err(format!("{} tags, more than the {} allowed per point", point.tags.len(), self.config.max_tags));
        }
        if point.fields.len() > self.config.max_fields {
            return Err(format!(
                "{} fields, more than the {} allowed per point",
                point.fields.len(),
                self.config.max_fields
            ));
        }
        for (key, value) in &point.tags {
            check_name("tag key", key, MAX_KEY_BYTES)?;
            check_name("tag value", value, MAX_TAG_VALUE_BYTES)?;
            if key == TIME_KEY {
                return Err("tag key \"time\" is reserved for the time column".into());
            }
        }
        for (name, _) in &point.fields {
            check_name("field name", name, MAX_KEY_BYTES)?;
            if name == TIME_KEY {
                return Err("field name \"time\" is reserved for the time column".into());
            }
            // Tags are sorted by key (Point::new).
            if point.tags.binary_search_by(|(k, _)| k.as_str().cmp(name)).is_ok() {
                return Err(format!("field {name:?} has the name of a tag of the same point; rename one of them"));
            }
        }
        let latest = self.latest_ns(&point.measurement, now_ns);
        if point.timestamp_ns > latest {
            let ahead_s = (i128::from(point.timestamp_ns) - i128::from(now_ns)) / i128::from(NS_PER_SEC);
            return Err(format!(
                "timestamp {} is {} ahead of its arrival; readings may be at most {} ahead (is the device clock or the precision wrong?)",
                format_ns(point.timestamp_ns),
                human_secs(ahead_s),
                human_secs(i128::from((latest - now_ns) / NS_PER_SEC)),
            ));
        }
        if point.timestamp_ns < self.min_ns {
            return Err(format!(
                "timestamp {} is before {}, the earliest time accepted (is the precision wrong?)",
                format_ns(point.timestamp_ns),
                self.config.min_time
            ));
        }
        Ok(())
    }

    /// Checks the points one message would write as a whole: the days and series it touches.
    pub fn check_message(&self, points: &[Point]) -> Result<(), String> {
        let mut days = HashSet::new();
        for p in points {
            days.insert(p.timestamp_ns.div_euclid(NS_PER_DAY));
            if days.len() > self.config.max_days {
                return Err(format!(
                    "the message writes to more than {} UTC days; send history in smaller, time-ordered batches",
                    self.config.max_days
                ));
            }
        }
        let mut series: HashSet<(&str, &[(String, String)])> = HashSet::new();
        for p in points {
            series.insert((p.measurement.as_str(), p.tags.as_slice()));
            if series.len() > self.config.max_series {
                return Err(format!("the message writes to more than {} series; split it", self.config.max_series));
            }
        }
        Ok(())
    }
}

/// Non-empty, no control characters (line protocol cannot escape them), at most `max` bytes.
fn check_name(what: &str, name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if name.bytes().any(|b| b < 0x20 || b == 0x7f) {
        let shown: String = name.chars().take(40).collect();
        return Err(format!("{what} {shown:?} contains a control character (NUL, line break, tab, ...)"));
    }
    if name.len() > max {
        let shown: String = name.chars().take(40).collect();
        return Err(format!("{what} {shown:?}... is {} bytes long; at most {max} are allowed", name.len()));
    }
    Ok(())
}

/// RFC 3339 for a message.
fn format_ns(ns: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| format!("{ns} ns"))
}

/// `90 s`, `3 h`, `2 063 080 h`, `16 d` for a message.
fn human_secs(secs: i128) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 2 * 3600 => format!("{} min", s / 60),
        s if s < 3 * 86_400 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldline_core::point::FieldValue;

    const NOW: i64 = 1_775_772_000 * NS_PER_SEC;

    fn point(measurement: &str, tags: &[(&str, &str)], fields: &[&str], ts: i64) -> Point {
        Point::new(
            measurement,
            tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            fields.iter().map(|f| (f.to_string(), FieldValue::Float(1.0))).collect(),
            ts,
        )
    }

    #[test]
    fn time_sanity() {
        let limits = Limits::default();
        let ok = |ts| limits.check_point(&point("wind_turbine", &[], &["power_kw"], ts), NOW, Rights::DEVICE);
        assert!(ok(NOW).is_ok());
        assert!(ok(NOW + 3600 * NS_PER_SEC).is_ok());
        let far = ok(9_223_372_036_854 * 1_000_000).unwrap_err();
        assert!(far.contains("2262-04-11") && far.contains("ahead of its arrival"), "{far}");
        assert!(ok(NOW + 86_400 * NS_PER_SEC).unwrap_err().contains("24 h ahead"));
        assert!(ok(i64::MIN).unwrap_err().contains("before 1900-01-01"));
        // NWP valid times lie days ahead.
        let nwp = point("nwp", &[("issued", "x")], &["ghi_wm2"], NOW + 10 * 86_400 * NS_PER_SEC);
        assert!(limits.check_point(&nwp, NOW, Rights::DEVICE).is_ok());
    }

    #[test]
    fn reserved_measurements_need_the_right() {
        let limits = Limits::default();
        for m in ["forecast", "forecast_accuracy", "_alert", "_deadletter", "_anything"] {
            let p = point(m, &[], &["x"], NOW);
            assert!(limits.check_point(&p, NOW, Rights::DEVICE).unwrap_err().contains("written by fieldline"), "{m}");
            assert!(limits.check_point(&p, NOW, Rights::ALL).is_ok(), "{m}");
        }
        assert!(!is_reserved("wind_turbine"));
    }

    #[test]
    fn names_that_would_collide_or_break_files_are_refused() {
        let limits = Limits::default();
        let check = |p: Point| limits.check_point(&p, NOW, Rights::DEVICE);
        assert!(check(point("m", &[], &["time"], NOW)).unwrap_err().contains("reserved for the time column"));
        assert!(check(point("m", &[("time", "x")], &["f"], NOW)).unwrap_err().contains("reserved"));
        assert!(check(point("m", &[("k", "x")], &["k"], NOW)).unwrap_err().contains("name of a tag"));
        assert!(check(point(&"m".repeat(300), &[], &["f"], NOW)).unwrap_err().contains("at most 64"));
        assert!(check(point("m\0x", &[], &["f"], NOW)).unwrap_err().contains("control character"));
        assert!(check(point("m", &[("site", "a\u{1}")], &["f"], NOW)).unwrap_err().contains("control character"));
        assert!(check(point("m", &[], &["a\tb"], NOW)).unwrap_err().contains("control character"));
        assert!(check(point("温度", &[("站点", "菏泽")], &["值"], NOW)).is_ok());
    }

    #[test]
    fn sizes_per_point_and_message() {
        let limits =
            Limits::new(IngestConfig { max_fields: 3, max_tags: 1, max_days: 2, max_series: 2, ..Default::default() })
                .unwrap();
        let check = |p: Point| limits.check_point(&p, NOW, Rights::DEVICE);
        assert!(check(point("m", &[], &["a", "b", "c", "d"], NOW)).unwrap_err().contains("4 fields"));
        assert!(check(point("m", &[("a", "1"), ("b", "2")], &["f"], NOW)).unwrap_err().contains("2 tags"));
        let day = 86_400 * NS_PER_SEC;
        let two_days = [point("m", &[], &["f"], NOW), point("m", &[], &["f"], NOW + day)];
        assert!(limits.check_message(&two_days).is_ok());
        let three_days =
            [point("m", &[], &["f"], NOW), point("m", &[], &["f"], NOW + day), point("m", &[], &["f"], NOW - day)];
        assert!(limits.check_message(&three_days).unwrap_err().contains("more than 2 UTC days"));
        let series = [
            point("m", &[("a", "1")], &["f"], NOW),
            point("m", &[("a", "2")], &["f"], NOW),
            point("n", &[], &["f"], NOW),
        ];
        assert!(limits.check_message(&series).unwrap_err().contains("more than 2 series"));
    }

    #[test]
    fn config_is_checked() {
        assert!(Limits::new(IngestConfig { min_time: "yesterday".into(), ..Default::default() }).is_err());
        assert!(Limits::new(IngestConfig { max_days: 0, ..Default::default() }).is_err());
        assert_eq!(Limits::new(IngestConfig::default()).unwrap().min_ns, Limits::default().min_ns);
    }
}
