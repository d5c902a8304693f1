//! Crops as data: the table in `crops.toml` (compiled in; a deployment overrides or adds
//! entries) and what follows from a crop and a season's daily temperatures — the day its heat
//! sum starts, the daily and accumulated degree days, the stage reached and its crop
//! coefficient. Temperatures in, days out: no clock, no I/O.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::agronomy::{DegreeDayMethod, StartRule, degree_days, season_start};

/// The built-in table.
const BUILT_IN: &str = include_str!("crops.toml");

/// Crop table errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("crop table: {0}")]
    Parse(String),
    #[error("crop {crop}: {problem}")]
    Invalid { crop: String, problem: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One crop's development, water use and frost sensitivity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crop {
    /// Chinese name, as operators say it.
    pub name_zh: String,
    /// Base temperature of development (°C).
    pub base_c: f64,
    /// Upper cutoff (°C): above it, a day counts as if at the cutoff.
    #[serde(default)]
    pub upper_c: Option<f64>,
    pub method: DegreeDayMethod,
    /// When the season's heat sum starts.
    pub start: StartRule,
    /// Effective rooting depth at full cover (m).
    pub root_depth_m: f64,
    /// FAO-56 p: share of the plant-available water used before stress.
    pub depletion_fraction: f64,
    /// Air at or below this (°C) damages the crop in a frost-sensitive stage.
    pub frost_c: f64,
    /// Stages in order of the heat sum at which each begins (the first at 0).
    pub stages: Vec<Stage>,
}

/// A development stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Stable identifier (`bud_break`), what the API and the feed carry.
    pub code: String,
    pub name_zh: String,
    /// Heat sum (°C·day since the season start) at which the stage begins.
    pub gdd: f64,
    /// FAO-56 crop coefficient during the stage.
    pub kc: f64,
    #[serde(default)]
    pub frost_sensitive: bool,
}

/// Crops by name (`peony`, `winter_wheat`, ...).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CropTable(pub BTreeMap<String, Crop>);

impl CropTable {
    /// The compiled-in table.
    pub fn built_in() -> &'static Self {
        // Parsed once; checked by a unit test (an empty table rather than a panic if that ever
        // failed).
        static TABLE: std::sync::LazyLock<CropTable> =
            std::sync::LazyLock::new(|| CropTable::parse(BUILT_IN).unwrap_or_default());
        &TABLE
    }

    /// Parses and checks a table in the built-in's TOML format.
    pub fn parse(text: &str) -> Result<Self> {
        let table: CropTable = toml::from_str(text).map_err(|e| Error::Parse(e.to_string()))?;
        for (name, crop) in &table.0 {
            crop.check().map_err(|problem| Error::Invalid { crop: name.clone(), problem })?;
        }
        Ok(table)
    }

    /// The built-in table with `overrides` replacing or adding whole crops.
    pub fn with_overrides(overrides: &BTreeMap<String, Crop>) -> Result<Self> {
        let mut table = CropTable::built_in().clone();
        for (name, crop) in overrides {
            crop.check().map_err(|problem| Error::Invalid { crop: name.clone(), problem })?;
            table.0.insert(name.clone(), crop.clone());
        }
        Ok(table)
    }

    pub fn get(&self, name: &str) -> Option<&Crop> {
        self.0.get(name)
    }
}

impl Crop {
    fn check(&self) -> Result<(), String> {
        let finite = [self.base_c, self.root_depth_m, self.depletion_fraction, self.frost_c];
        if finite.iter().any(|v| !v.is_finite()) {
            return Err("base_c, root_depth_m, depletion_fraction and frost_c must be numbers".into());
        }
        if self.upper_c.is_some_and(|u| u.is_nan() || u <= self.base_c) {
            return Err(format!("upper_c must be above base_c ({})", self.base_c));
        }
        if !(self.root_depth_m > 0.0 && self.root_depth_m <= 5.0) {
            return Err(format!("root_depth_m {} is not a rooting depth (0–5 m)", self.root_depth_m));
        }
        if !(0.0..=1.0).contains(&self.depletion_fraction) {
            return Err(format!("depletion_fraction {} must be within 0–1", self.depletion_fraction));
        }
        let Some(first) = self.stages.first() else { return Err("no stages".into()) };
        if first.gdd != 0.0 {
            return Err(format!("the first stage ({}) must begin at gdd = 0", first.code));
        }
        for pair in self.stages.windows(2) {
            if pair[1].gdd.is_nan() || pair[1].gdd <= pair[0].gdd {
                return Err(format!(
                    "stage {} must begin after {} (gdd {} ≤ {})",
                    pair[1].code, pair[0].code, pair[1].gdd, pair[0].gdd
                ));
            }
        }
        if let Some(s) = self.stages.iter().find(|s| !(s.kc.is_finite() && (0.0..=2.0).contains(&s.kc))) {
            return Err(format!("stage {}: kc {} must be within 0–2", s.code, s.kc));
        }
        Ok(())
    }

    /// Degree days of one day with this crop's thresholds and method.
    pub fn degree_days(&self, tmin_c: f64, tmax_c: f64) -> f64 {
        degree_days(tmin_c, tmax_c, self.base_c, self.upper_c, self.method)
    }

    /// Index of the stage a heat sum has reached.
    pub fn stage_index(&self, gdd: f64) -> usize {
        self.stages.iter().rposition(|s| gdd >= s.gdd).unwrap_or(0)
    }

    /// The stage a heat sum has reached.
    pub fn stage(&self, gdd: f64) -> Option<&Stage> {
        self.stages.get(self.stage_index(gdd))
    }

    /// The season's heat sum over `days` (in date order, index 0 = the first day of the
    /// season year: 1 January for spring crops, the sowing year's for autumn-sown ones): the
    /// start day by the crop's rule, then each day's degree days and the running sum.
    pub fn accumulate(&self, days: &[DayTemps]) -> Accumulation {
        let start = spring_start(days, self.start);
        let mut total = 0.0;
        let daily = days
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let dd = match start {
                    Some(s) if i >= s => self.degree_days(d.tmin_c, d.tmax_c),
                    _ => 0.0,
                };
                // A day without a reading adds nothing rather than poisoning the sum.
                if dd.is_finite() {
                    total += dd;
                }
                (dd, total)
            })
            .collect();
        Accumulation { start, daily }
    }
}

/// Latest day (index from 1 January) a warmth rule may start a season: a first warm spell
/// after April is an autumn or a gap in the data, not the end of winter.
pub const SPRING_START_LATEST_DAY: usize = 120;

/// The day a season's heat sum starts: `rule` on the days' mean temperatures, where a warmth
/// rule counts only if it is met by [`SPRING_START_LATEST_DAY`].
pub fn spring_start(days: &[DayTemps], rule: StartRule) -> Option<usize> {
    let means: Vec<f64> = days.iter().map(|d| (d.tmin_c + d.tmax_c) / 2.0).collect();
    let start = season_start(&means, rule)?;
    match rule {
        StartRule::FirstFiveDayMeanAtLeast(_) if start > SPRING_START_LATEST_DAY => None,
        _ => Some(start),
    }
}

/// One day's minimum and maximum air temperature (°C).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DayTemps {
    pub tmin_c: f64,
    pub tmax_c: f64,
}

/// A season's heat sum, day by day.
#[derive(Debug, Clone, PartialEq)]
pub struct Accumulation {
    /// Index of the day accumulation started (`None`: the start rule was not met).
    pub start: Option<usize>,
    /// Per day: (degree days, sum so far).
    pub daily: Vec<(f64, f64)>,
}

/// Chilling hours: hours with the air at or above `low_c` and below `high_c` — Weinberger's
/// (1950) model counts 0 ≤ T < 7.2 °C. NaN readings count as nothing.
pub fn chilling_hours(hourly_temps_c: &[f64], low_c: f64, high_c: f64) -> usize {
    hourly_temps_c.iter().filter(|t| **t >= low_c && **t < high_c).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_holds_the_crops_heze_grows() {
        let table = CropTable::parse(BUILT_IN).unwrap();
        for name in ["peony", "winter_wheat", "summer_maize", "chinese_cabbage"] {
            let crop = table.get(name).unwrap();
            assert!(!crop.name_zh.is_empty() && crop.stages.len() >= 4, "{name}");
        }
        let peony = table.get("peony").unwrap();
        assert_eq!(peony.start, StartRule::FirstFiveDayMeanAtLeast(3.0));
        assert_eq!(peony.stage(0.0).unwrap().name_zh, "休眠");
        assert_eq!(peony.stage(700.0).unwrap().code, "bloom");
        assert!(peony.stage(700.0).unwrap().frost_sensitive);
        assert_eq!(CropTable::built_in(), &table);
    }

    #[test]
    fn a_bad_crop_is_refused_with_the_reason() {
        let bad = BUILT_IN.replace("gdd = 120.0", "gdd = 500.0");
        let err = CropTable::parse(&bad).unwrap_err().to_string();
        assert!(err.contains("peony") && err.contains("leaf_expansion"), "{err}");
        let unknown = format!("{BUILT_IN}\n[rice]\nname_zh = \"水稻\"\nbase = 10\n");
        assert!(CropTable::parse(&unknown).is_err());
    }

    #[test]
    fn overrides_replace_whole_crops() {
        let mut peony = CropTable::built_in().get("peony").cloned().unwrap();
        peony.base_c = 2.0;
        let table = CropTable::with_overrides(&BTreeMap::from([("peony".to_string(), peony)])).unwrap();
        assert_eq!(table.get("peony").unwrap().base_c, 2.0);
        assert!(table.get("winter_wheat").is_some());
    }

    #[test]
    fn accumulation_starts_on_the_luoyang_rule_and_sums_by_hand() {
        let peony = CropTable::built_in().get("peony").cloned().unwrap();
        // Ten days at a mean of −2 °C, then days at 2..8 °C (mean 5): the trailing 5-day mean
        // first reaches 3 °C with four warm days in it ((−2 + 4·5)/5 = 3.6), index 13.
        let mut days = vec![DayTemps { tmin_c: -6.0, tmax_c: 2.0 }; 10];
        days.extend(vec![DayTemps { tmin_c: 2.0, tmax_c: 8.0 }; 10]);
        let acc = peony.accumulate(&days);
        assert_eq!(acc.start, Some(13));
        // Single sine above 0 °C with Tmin 2 and Tmax 8 entirely above the base: mean − base = 5.
        assert_eq!(acc.daily[12], (0.0, 0.0));
        assert_eq!(acc.daily[13], (5.0, 5.0));
        assert_eq!(acc.daily[19], (5.0, 35.0));
        // A missing day adds nothing.
        days[16] = DayTemps { tmin_c: f64::NAN, tmax_c: 8.0 };
        assert_eq!(peony.accumulate(&days).daily[19].1, 30.0);
    }

    #[test]
    fn maize_caps_hot_days_at_its_upper_cutoff() {
        let maize = CropTable::built_in().get("summer_maize").cloned().unwrap();
        // Simple average with both temperatures capped at 30: (30 + 22)/2 − 10 = 16.
        assert_eq!(maize.degree_days(22.0, 36.0), 16.0);
        assert_eq!(maize.degree_days(4.0, 9.0), 0.0);
    }

    #[test]
    fn chilling_hours_count_the_weinberger_band() {
        let temps = [-1.0, 0.0, 3.5, 7.1, 7.2, 12.0, f64::NAN];
        assert_eq!(chilling_hours(&temps, 0.0, 7.2), 3);
    }
}
