//! What a deployment runs on which fields: the generic checks per (kind, field) with the
//! physical limits of the table of kinds (what ingest dead-letters), and the peer groups — the
//! same quantity measured by several devices of the region — whose members are checked for
//! drift against each other.
//!
//! `serve`'s detection job ([`crate::jobs::detect`]) and `fieldline detect --data` both take
//! their configuration from here, so the evaluation measures what the server runs.

use fieldline_analytics::anomaly::generic::{DetectorName, RangeConfig, SeriesConfig, SpikeConfig, StuckConfig};
use fieldline_analytics::anomaly::peer::{PeerDrift, PeerDriftConfig, PeerMode, median_of};
use fieldline_analytics::anomaly::{EventChange, Result, Tracked};
use serde::{Deserialize, Serialize};

/// Daylight's luminous efficacy (lm/W): illuminance (lux) per W/m² of global irradiance.
pub const LUX_PER_WM2: f64 = 120.0;
/// Peer groups compare each member's latest reading of the last this many seconds, on a grid
/// of the same step.
pub const PEER_GRID_S: i64 = 600;

/// Physical limits of a field in the table of kinds (what ingest dead-letters beyond them),
/// for the range check and so the stuck check knows where a flat line is saturation.
pub fn limits(kind: &str, field: &str) -> Option<(Option<f64>, Option<f64>)> {
    let field = fieldline_core::kinds::field(kind, field)?;
    (field.min.is_some() || field.max.is_some()).then_some((field.min, field.max))
}

/// The generic detectors a deployment runs on a field: range, stuck and spike on measured
/// environmental quantities; stuck on trap counters; only the range check on the rest.
/// Irradiance jumps at every cloud edge and directions wrap around, so they get no spike
/// check; intermittent rain gets range only; production fields are the domain detectors'
/// business; status, flags and stage codes get nothing. A field the table of kinds does not
/// know — of a kind nobody modelled, or new on a known kind — gets the `unusual` onset score,
/// which learns what is normal from the series itself.
pub fn generic_config(kind: &str, field: &str) -> Option<SeriesConfig> {
    if fieldline_core::kinds::field(kind, field).is_none() {
        return Some(SeriesConfig::only(DetectorName::Unusual));
    }
    let sensor = matches!(
        (kind, field),
        (
            "met_station",
            "ghi_wm2" | "poa_wm2" | "air_temp_c" | "rh_pct" | "wind_speed_ms" | "pressure_hpa" | "module_temp_c"
        ) | ("peony_plot", "air_temp_c" | "air_rh_pct" | "soil_temp_c" | "soil_vwc_pct" | "soil_ec_ds_m" | "light_lux")
            | ("wind_turbine", "wind_speed_ms" | "ambient_temp_c")
            | ("pv_inverter", "temp_c")
    );
    let none = SeriesConfig {
        range: None,
        stuck: None,
        spike: None,
        gap: None,
        level_shift: None,
        unusual: None,
        ..SeriesConfig::auto()
    };
    // Production and status fields have rating-dependent limits the domain detectors know.
    let ranged = sensor || matches!((kind, field), ("pest_trap", "count") | (_, "rain_mm"));
    let range = ranged.then(|| limits(kind, field)).flatten().map(|(min, max)| RangeConfig {
        min,
        max,
        ..RangeConfig::default()
    });
    let cloud_driven = matches!(field, "ghi_wm2" | "poa_wm2" | "light_lux");
    if sensor {
        return Some(SeriesConfig {
            range,
            stuck: Some(StuckConfig::default()),
            spike: (!cloud_driven).then(SpikeConfig::default),
            ..none
        });
    }
    if kind == "pest_trap" && field == "count" {
        return Some(SeriesConfig { range, stuck: Some(StuckConfig::default()), ..none });
    }
    range.map(|range| SeriesConfig { range: Some(range), ..none })
}

/// A peer group: the same quantity at several devices, possibly of different kinds.
#[derive(Debug, Clone)]
pub struct PeerGroup {
    pub label: &'static str,
    pub mode: PeerMode,
    pub min_peer_level: f64,
    /// The sensors' accuracy: departures smaller than this are never significant.
    pub min_sigma: f64,
    /// Compare daily means rather than hourly ones: sites a few tens of km apart see
    /// different clouds within the hour, much less over a day.
    pub daily: bool,
    /// (kind, field, factor to the group's unit).
    pub members: Vec<(&'static str, &'static str, f64)>,
}

impl PeerGroup {
    /// The drift detector configuration of each member.
    pub fn config(&self) -> PeerDriftConfig {
        let hourly = PeerDriftConfig {
            mode: self.mode,
            min_peer_level: self.min_peer_level,
            min_sigma: self.min_sigma,
            ..PeerDriftConfig::default()
        };
        if self.daily {
            PeerDriftConfig { block_s: 86_400, bins_per_day: 1, k: 0.5, h: 4.0, warmup_blocks: 7, ..hourly }
        } else {
            hourly
        }
    }

    /// The factor to the group's unit of `field` of `kind`, if it belongs to the group.
    pub fn factor(&self, kind: &str, field: &str) -> Option<f64> {
        self.members.iter().find(|(k, f, _)| *k == kind && *f == field).map(|m| m.2)
    }
}

/// The peer groups: air temperature and humidity at met stations and plots, irradiance
/// (plots' illuminance converted), soil temperature across plots. Soil moisture and
/// conductivity are not compared across plots: soils and irrigation differ too much; they
/// are checked against each other within a plot instead (`relation`).
pub fn peer_groups() -> Vec<PeerGroup> {
    vec![
        PeerGroup {
            label: "air temperature",
            daily: false,
            min_sigma: 0.2,
            mode: PeerMode::Difference,
            min_peer_level: 0.0,
            members: vec![("met_station", "air_temp_c", 1.0), ("peony_plot", "air_temp_c", 1.0)],
        },
        PeerGroup {
            label: "relative humidity",
            daily: false,
            min_sigma: 2.0,
            mode: PeerMode::Difference,
            min_peer_level: 0.0,
            members: vec![("met_station", "rh_pct", 1.0), ("peony_plot", "air_rh_pct", 1.0)],
        },
        PeerGroup {
            label: "irradiance",
            daily: true,
            min_sigma: 0.05,
            mode: PeerMode::Ratio,
            min_peer_level: 100.0,
            members: vec![("met_station", "ghi_wm2", 1.0), ("peony_plot", "light_lux", 1.0 / LUX_PER_WM2)],
        },
        PeerGroup {
            label: "soil temperature",
            daily: false,
            min_sigma: 0.2,
            mode: PeerMode::Difference,
            min_peer_level: 0.0,
            members: vec![("peony_plot", "soil_temp_c", 1.0)],
        },
    ]
}

/// The drift detectors of a peer group's members, stepped together on a common grid: each
/// member against the median of the group's estimates, i.e. every member's reading less its
/// usual offset ([`PeerDrift::group_estimate`]), so a drifting member that is usually the
/// middle of the group does not drag the reference and its healthy peers along.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupDrift {
    config: PeerDriftConfig,
    detectors: Vec<PeerDrift>,
}

impl GroupDrift {
    pub fn new(config: PeerDriftConfig) -> Self {
        GroupDrift { config, detectors: Vec::new() }
    }

    /// Adds a member whose events carry `field`; returns its index.
    pub fn add_member(&mut self, field: &str) -> Result<usize> {
        self.detectors.push(PeerDrift::new(field, self.config.clone())?);
        Ok(self.detectors.len() - 1)
    }

    /// With two members a drift cannot be told apart from its peer's.
    pub fn can_judge(&self) -> bool {
        self.detectors.len() >= 3
    }

    /// One grid step: every member's value in the group's unit at `t` (NaN when it has
    /// none). Returns each member's event changes (index, change).
    pub fn step(&mut self, t: i64, values: &[f64]) -> Vec<(usize, EventChange)> {
        let mut out = Vec::new();
        if !self.can_judge() {
            return out;
        }
        let value = |m: usize| values.get(m).copied().unwrap_or(f64::NAN);
        let estimates: Vec<f64> =
            self.detectors.iter().enumerate().map(|(m, d)| d.group_estimate(t, value(m))).collect();
        let median = median_of(estimates, &mut Vec::new()).unwrap_or(f64::NAN);
        for (m, detector) in self.detectors.iter_mut().enumerate() {
            detector.update(t, value(m), median);
            out.extend(detector.drain_events().into_iter().map(|c| (m, c)));
        }
        out
    }

    /// The members' detectors, in member order.
    pub fn detectors(&self) -> &[PeerDrift] {
        &self.detectors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_come_from_the_table_of_kinds() {
        assert_eq!(limits("met_station", "rh_pct"), Some((Some(0.0), Some(100.0))));
        assert_eq!(limits("pest_trap", "count"), Some((Some(0.0), None)));
        assert_eq!(limits("met_station", "no_such_field"), None);
        assert_eq!(limits("wind_turbine", "status"), None);
    }

    #[test]
    fn peer_group_members_are_fields_of_their_kinds() {
        for group in peer_groups() {
            for (kind, field, _) in &group.members {
                assert!(fieldline_core::kinds::field(kind, field).is_some(), "{}: {kind}.{field}", group.label);
            }
        }
    }

    /// Deterministic noise in [-0.5, 0.5).
    fn noise(i: i64) -> f64 {
        let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        x ^= x >> 31;
        x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
        (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }

    #[test]
    fn a_drifting_member_is_flagged_and_its_healthy_peers_are_not() {
        // Soil temperature at three plots, 10-minute grid, 40 days: a shared diurnal and
        // synoptic cycle, an offset per plot and noise. Plot 0, usually the middle one,
        // drifts by −3 °C over 6 days from day 25.
        let group = peer_groups().into_iter().find(|g| g.label == "soil temperature").unwrap();
        let mut drift = GroupDrift::new(group.config());
        for _ in 0..3 {
            drift.add_member("soil_temp_c").unwrap();
        }
        let offsets = [0.0, 0.8, -0.7];
        let (from, t0) = (25 * 86_400, 1_772_323_200);
        let mut flagged = Vec::new();
        for step in 0..40 * 144 {
            let s = step * PEER_GRID_S;
            let day = s as f64 / 86_400.0;
            let regional = 10.0 + 4.0 * (day * std::f64::consts::TAU).sin() + 3.0 * (day / 5.0).sin();
            let off = if s < from { 0.0 } else { (-3.0 * (s - from) as f64 / (6.0 * 86_400.0)).max(-3.0) };
            let values: Vec<f64> = (0..3)
                .map(|i| regional + offsets[i] + 0.3 * noise(step * 3 + i as i64) + if i == 0 { off } else { 0.0 })
                .collect();
            for (m, change) in drift.step(t0 + s, &values) {
                if let EventChange::Opened(e) = change {
                    flagged.push((m, e.start_s - t0));
                }
            }
        }
        assert!(!flagged.is_empty(), "the drift was missed");
        assert!(flagged.iter().all(|(m, _)| *m == 0), "{flagged:?}");
        assert!(flagged.iter().all(|(_, t)| *t >= from), "{flagged:?}");
    }

    #[test]
    fn every_group_config_is_valid() {
        for group in peer_groups() {
            assert!(group.config().check().is_ok(), "{}", group.label);
            let mut drift = GroupDrift::new(group.config());
            for (_, field, _) in &group.members {
                drift.add_member(field).unwrap();
            }
        }
    }
}
