//! Wind and PV power forecasting for grid dispatch.
//!
//! The pieces, in the order data flows through them:
//! - [`series`]: an input table (unix seconds + named columns) made into a regular slot grid
//!   (15-min, or the data's own cadence when coarser), with duplicates, gaps, accumulated NWP
//!   fields, downtime and curtailment handled;
//! - [`features`] and [`gbdt`]: the feature rows a plant can build at an issue time and a small
//!   histogram gradient-boosted tree learner;
//! - [`model`]: the ultra-short-term (0–4 h) and day-ahead (next local day) forecasters with
//!   P10/P50/P90 output;
//! - [`scoring`]: accuracy and qualification rate exactly as dispatch assesses them;
//! - [`backtest`]: train on the first part of a table, walk forward through the rest as a plant
//!   would, and score against persistence;
//! - [`efile`]: the E-language (Q/GDW 215-2008 style) text files dispatch ingests.

pub mod backtest;
pub mod efile;
pub mod features;
pub mod gbdt;
pub mod model;
pub mod scoring;
pub mod series;

use serde::{Deserialize, Serialize};

/// Errors from forecasting, scoring and export.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's input cannot be used (wrong lengths, unknown columns, too little data...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of plant a forecast is for; PV gets solar-geometry features.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlantKind {
    /// Wind turbine or wind farm.
    Wind,
    /// Photovoltaic plant.
    Pv,
}

use fieldline_core::time::SECS_PER_DAY;

/// Days since 1970-01-01 of the local calendar day holding `unix` at a fixed UTC offset.
pub(crate) fn local_day(unix: i64, utc_offset_seconds: i32) -> i64 {
    (unix + i64::from(utc_offset_seconds)).div_euclid(SECS_PER_DAY)
}

/// Seconds since local midnight of `unix` at a fixed UTC offset.
pub(crate) fn local_second_of_day(unix: i64, utc_offset_seconds: i32) -> i64 {
    (unix + i64::from(utc_offset_seconds)).rem_euclid(SECS_PER_DAY)
}

/// A proleptic Gregorian calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CivilDate {
    /// Year, e.g. 2024.
    pub year: i64,
    /// Month 1–12.
    pub month: u32,
    /// Day of month 1–31.
    pub day: u32,
}

impl CivilDate {
    /// The date `days` days after 1970-01-01 (H. Hinnant's `civil_from_days`).
    pub fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self { year, month, day }
    }

    /// Days since 1970-01-01 (inverse of [`CivilDate::from_days`]).
    pub fn to_days(self) -> i64 {
        let year = self.year - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let yoe = year.rem_euclid(400);
        let month = i64::from(self.month);
        let doy = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The local date of `unix` at a fixed UTC offset.
    pub fn of_unix(unix: i64, utc_offset_seconds: i32) -> Self {
        Self::from_days(local_day(unix, utc_offset_seconds))
    }
}

impl std::fmt::Display for CivilDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip_and_match_known_days() {
        assert_eq!(CivilDate::from_days(0), CivilDate { year: 1970, month: 1, day: 1 });
        // 2024-02-29 is day 19782 since the epoch.
        assert_eq!(CivilDate::from_days(19_782), CivilDate { year: 2024, month: 2, day: 29 });
        for days in (-800_000..800_000).step_by(997) {
            assert_eq!(CivilDate::from_days(days).to_days(), days);
        }
    }

    #[test]
    fn local_day_uses_the_offset() {
        // 2024-05-01T20:00:00Z is 2024-05-02 04:00 in UTC+8.
        let unix = 1_714_593_600;
        assert_eq!(CivilDate::of_unix(unix, 0).to_string(), "2024-05-01");
        assert_eq!(CivilDate::of_unix(unix, 8 * 3600).to_string(), "2024-05-02");
        assert_eq!(local_second_of_day(unix, 8 * 3600), 4 * 3600);
    }
}
