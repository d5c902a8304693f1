//! What a forecast model sees: the plant's meter, met station and (wind) turbines as 15-min
//! slot means, and the site's NWP runs, each slot given the weather of the newest run that had
//! arrived by the model's cutoff (4 h before the slot for the ultra-short model, the previous
//! day's issue time for the short-term one), the same in training and issuing.

use std::collections::BTreeMap;

use fieldline_analytics::forecast::PlantKind;
use fieldline_analytics::forecast::series::{Column, FeatureSelection, SeriesOptions, Table};
use fieldline_core::time::{NS_PER_SEC, SECS_PER_DAY};
use fieldline_store::Query;

use super::{Error, ForecastConfig, Plant, SLOT, ULTRA_SHORT_LEADS, floor_slot, local_day, parse_issued};
use crate::jobs::JobContext;

/// The NWP fields a model uses.
const NWP_FIELDS: [&str; 7] =
    ["wind_speed_100m_ms", "wind_dir_100m_deg", "ghi_wm2", "air_temp_c", "rh_pct", "cloud_cover_pct", "pressure_hpa"];
/// Fields also given as the mean of the newest three available runs (a lagged ensemble: older
/// runs' errors partly cancel the newest run's, notably its timing errors).
const LAGGED_NWP_FIELDS: [&str; 3] = ["wind_speed_100m_ms", "ghi_wm2", "cloud_cover_pct"];
/// The met station's fields (measured).
const MET_FIELDS: [&str; 3] = ["ghi_wm2", "poa_wm2", "wind_speed_ms"];

/// How the plant's table becomes a model's series: its target, the NWP features, the measured
/// columns and the curtailment flag.
pub(super) fn series_options(offset_s: i32, plant: &Plant) -> SeriesOptions {
    SeriesOptions {
        kind: plant.kind,
        capacity: plant.capacity_mw,
        target: "power_mw".into(),
        features: FeatureSelection::Named(
            NWP_FIELDS
                .iter()
                .map(|f| format!("nwp_{f}"))
                .chain(LAGGED_NWP_FIELDS.iter().map(|f| format!("nwp_lag3_{f}")))
                .collect(),
        ),
        measured: measured_columns(plant.kind),
        curtailed: Some("curtailed".into()),
        location: (plant.kind == PlantKind::Pv).then_some(plant.location),
        utc_offset_seconds: offset_s,
        downtime_hours: 24.0,
    }
}

/// Measured inputs (known only up to each issue time): the met station, the plant's available
/// capacity (turbines or inverters out of service) and, for wind, the turbines' mean nacelle
/// wind speed.
fn measured_columns(kind: PlantKind) -> Vec<String> {
    let mut names: Vec<String> = MET_FIELDS.iter().map(|f| format!("met_{f}")).collect();
    names.push("plant_available_mw".into());
    if kind == PlantKind::Wind {
        names.push("turbines_wind_speed_ms".into());
    }
    names
}

/// Which NWP run a slot's weather comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum NwpAsOf {
    /// The newest run available 4 h before the slot (known at every ultra-short issue).
    UltraShort,
    /// The newest run available at the short-term issue time of the day before the slot.
    ShortTerm,
}

/// The plant's data on a 15-min grid (slot ends), plus its NWP runs.
pub(super) struct Inputs {
    pub(super) times: Vec<i64>,
    pub(super) power: Vec<f64>,
    pub(super) curtailed: Vec<f64>,
    met: Vec<(String, Vec<f64>)>,
    /// NWP runs by arrival time: valid time → field values.
    runs: BTreeMap<i64, BTreeMap<i64, [f64; 7]>>,
    offset_s: i32,
    issue_hour: u32,
}

impl Inputs {
    pub(super) fn load(
        ctx: &JobContext,
        config: &ForecastConfig,
        offset_s: i32,
        plant: &Plant,
        from: i64,
        to: i64,
    ) -> Result<Self, Error> {
        let from = floor_slot(from);
        let to = floor_slot(to) + SLOT;
        let times: Vec<i64> = (from + SLOT..=to).step_by(SLOT as usize).collect();
        let slot_means = |measurement: &str, fields: &[&str]| -> Result<Vec<(String, Vec<f64>)>, Error> {
            let query = Query::new(measurement)
                .range(from * NS_PER_SEC, to * NS_PER_SEC)
                .tag("site", plant.site.as_str())
                .fields(fields.iter().copied());
            let series = ctx.store.query(&query)?;
            let mut out = Vec::new();
            for name in fields {
                let mut sum = vec![0.0; times.len()];
                let mut n = vec![0u32; times.len()];
                for s in series.iter().filter(|s| s.field == *name) {
                    for (ts, v) in &s.points {
                        let Some(x) = v.as_f64().filter(|x| x.is_finite()) else { continue };
                        // A reading stamped t belongs to the slot ending at or after t.
                        let end = (ts.div_euclid(NS_PER_SEC) + SLOT - 1).div_euclid(SLOT) * SLOT;
                        let idx = (end - from - SLOT).div_euclid(SLOT);
                        if let Some(i) = usize::try_from(idx).ok().filter(|i| *i < times.len()) {
                            sum[i] += x;
                            n[i] += 1;
                        }
                    }
                }
                out.push((
                    name.to_string(),
                    sum.iter().zip(&n).map(|(s, &k)| if k == 0 { f64::NAN } else { s / f64::from(k) }).collect(),
                ));
            }
            Ok(out)
        };
        let mut meter = slot_means("plant", &["power_mw", "curtailed", "available_mw"])?.into_iter();
        let power = meter.next().map(|(_, v)| v).unwrap_or_default();
        // Any curtailed reading flags the slot.
        let curtailed = meter
            .next()
            .map(|(_, v)| v.into_iter().map(|x| if x > 0.0 { 1.0 } else { 0.0 }).collect())
            .unwrap_or_default();
        let mut met: Vec<(String, Vec<f64>)> =
            slot_means("met_station", &MET_FIELDS)?.into_iter().map(|(name, v)| (format!("met_{name}"), v)).collect();
        met.extend(meter.next().map(|(_, v)| ("plant_available_mw".to_string(), v)));
        if plant.kind == PlantKind::Wind {
            let turbines = slot_means("wind_turbine", &["wind_speed_ms"])?;
            met.extend(turbines.into_iter().map(|(_, v)| ("turbines_wind_speed_ms".to_string(), v)));
        }

        // NWP runs that can matter: issued up to 4 days before the window.
        let query = Query::new("nwp")
            .range((from - 4 * SECS_PER_DAY) * NS_PER_SEC, to * NS_PER_SEC)
            .tag("site", plant.site.as_str())
            .fields(NWP_FIELDS);
        let nwp = ctx.store.query(&query)?;
        let delay = i64::from(config.nwp_delay_minutes) * 60;
        let mut runs: BTreeMap<i64, BTreeMap<i64, [f64; 7]>> = BTreeMap::new();
        for series in &nwp {
            let Some(issued) = series.tag("issued").and_then(parse_issued) else { continue };
            let Some(k) = NWP_FIELDS.iter().position(|f| *f == series.field) else { continue };
            let run = runs.entry(issued + delay).or_default();
            for (ts, v) in &series.points {
                let row = run.entry(ts.div_euclid(NS_PER_SEC)).or_insert([f64::NAN; 7]);
                row[k] = v.as_f64().unwrap_or(f64::NAN);
            }
        }
        Ok(Inputs { times, power, curtailed, met, runs, offset_s, issue_hour: config.issue_hour })
    }

    /// Latest time a run may have arrived to be used for slot `t`.
    fn cutoff(&self, t: i64, asof: NwpAsOf) -> i64 {
        match asof {
            NwpAsOf::UltraShort => t - ULTRA_SHORT_LEADS * SLOT,
            NwpAsOf::ShortTerm => {
                // The slot ending at local midnight belongs to the day before.
                let day = local_day(t - 1, self.offset_s);
                (day - 1) * SECS_PER_DAY - i64::from(self.offset_s) + i64::from(self.issue_hour) * 3600
            }
        }
    }

    pub(super) fn table(&self, asof: NwpAsOf) -> Table {
        let mut nwp = vec![vec![f64::NAN; self.times.len()]; NWP_FIELDS.len()];
        let mut lagged = vec![vec![f64::NAN; self.times.len()]; LAGGED_NWP_FIELDS.len()];
        let lagged_index: Vec<usize> =
            LAGGED_NWP_FIELDS.iter().filter_map(|f| NWP_FIELDS.iter().position(|n| n == f)).collect();
        for (i, &t) in self.times.iter().enumerate() {
            let cutoff = self.cutoff(t, asof);
            let mid = t - SLOT / 2;
            // The newest runs that had arrived by the cutoff and cover the slot.
            let mut used = 0usize;
            let mut sums = vec![0.0; lagged_index.len()];
            for run in self.runs.range(..=cutoff).rev().map(|(_, r)| r).take(6) {
                let (Some((&t0, v0)), Some((&t1, v1))) = (run.range(..=mid).next_back(), run.range(mid..).next())
                else {
                    continue;
                };
                if used == 0 {
                    for (k, name) in NWP_FIELDS.iter().enumerate() {
                        nwp[k][i] = interpolate(t0, v0[k], t1, v1[k], mid, name.ends_with("_deg"));
                    }
                }
                for (j, &k) in lagged_index.iter().enumerate() {
                    sums[j] += interpolate(t0, v0[k], t1, v1[k], mid, false);
                }
                used += 1;
                if used == 3 {
                    break;
                }
            }
            if used > 0 {
                for (j, sum) in sums.iter().enumerate() {
                    lagged[j][i] = sum / used as f64;
                }
            }
        }
        let mut columns = vec![
            Column { name: "power_mw".into(), values: self.power.clone() },
            Column { name: "curtailed".into(), values: self.curtailed.clone() },
        ];
        for (k, name) in NWP_FIELDS.iter().enumerate() {
            columns.push(Column { name: format!("nwp_{name}"), values: std::mem::take(&mut nwp[k]) });
        }
        for (j, name) in LAGGED_NWP_FIELDS.iter().enumerate() {
            columns.push(Column { name: format!("nwp_lag3_{name}"), values: std::mem::take(&mut lagged[j]) });
        }
        for (name, values) in &self.met {
            columns.push(Column { name: name.clone(), values: values.clone() });
        }
        Table { times: self.times.clone(), columns }
    }
}

/// Linear interpolation (circular for directions).
fn interpolate(t0: i64, v0: f64, t1: i64, v1: f64, t: i64, circular: bool) -> f64 {
    if t1 == t0 {
        return v0;
    }
    let w = (t - t0) as f64 / (t1 - t0) as f64;
    if circular {
        let (a, b) = (v0.to_radians(), v1.to_radians());
        let (s, c) = ((1.0 - w) * a.sin() + w * b.sin(), (1.0 - w) * a.cos() + w * b.cos());
        s.atan2(c).to_degrees().rem_euclid(360.0)
    } else {
        v0 + w * (v1 - v0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_is_linear_and_circular_for_directions() {
        assert_eq!(interpolate(0, 0.0, 10, 10.0, 5, false), 5.0);
        let d = interpolate(0, 350.0, 10, 10.0, 5, true);
        assert!(d < 0.001 || (d - 360.0).abs() < 0.001, "{d}");
    }

    #[test]
    fn short_term_cutoff_is_the_issue_time_of_the_day_before() {
        let inputs = Inputs {
            times: vec![],
            power: vec![],
            curtailed: vec![],
            met: vec![],
            runs: BTreeMap::new(),
            offset_s: 8 * 3600,
            issue_hour: 8,
        };
        // Slot ending 2026-04-10T10:00+08:00 (02:00Z): day 2026-04-10 local; cutoff 2026-04-09T08:00+08:00 = 00:00Z.
        let t = 1_775_786_400; // 2026-04-10T02:00:00Z
        assert_eq!(inputs.cutoff(t, NwpAsOf::ShortTerm), 1_775_692_800); // 2026-04-09T00:00:00Z
        // The slot ending exactly at local midnight belongs to the day before.
        let midnight = 1_775_750_400; // 2026-04-10T00:00+08:00 = 2026-04-09T16:00Z
        assert_eq!(inputs.cutoff(midnight, NwpAsOf::ShortTerm), 1_775_692_800 - SECS_PER_DAY);
        assert_eq!(inputs.cutoff(t, NwpAsOf::UltraShort), t - 4 * 3600);
    }
}
