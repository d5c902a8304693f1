//! Feature rows a plant can build at an issue time, and nothing later.
//!
//! At issue slot `i` the newest known slot is `a = i − delay_slots` (see [`Series::delay_slots`]).
//! Power and measured columns are read only at or before `a`; weather-forecast columns and
//! solar geometry are read at (and next to) the target slot, as NWP is known in advance.
//!
//! Ultra-short row (issue `i`, target `j = i + lead`): local hour of `j` (no day of year: with a
//! year or less of history it only lets trees extrapolate one season into the next); power
//! now, its change over the last slot, its means over the last 1, 4 and 24 hours, power an hour
//! ago and at the same slot a day before `j`; each measured column now and its 1-h mean (24-h
//! means of measured columns, e.g. wind direction, acted as season proxies and hurt on T1);
//! each forecast column at `j − 1`, `j`, `j + 1`; for PV with a location the clear-sky GHI
//! and sun elevation at `j`, the clear-sky index of the last hour's output, the clear-sky
//! persistence forecast, and each irradiance-like forecast column divided by clear-sky GHI.
//! Day-ahead row (issue `i`, target `j` on a later day): local hour of `j`, hours ahead, power
//! now and its 24-h mean, the same-slot persistence value, each measured column now and its 24-h
//! mean, and the same target-time columns.

use super::PlantKind;
use super::series::Series;
use super::{SECS_PER_DAY, local_second_of_day};

/// Name fragments that mark a forecast column as irradiance (divided by clear sky for PV).
const IRRADIANCE_HINTS: [&str; 6] = ["ssrd", "ghi", "irradiance", "radiation", "poa", "dswrf"];

/// Precomputed running values over one [`Series`].
pub struct Context<'a> {
    series: &'a Series,
    filled: Vec<f64>,
    sums: Prefix,
    measured_filled: Vec<Vec<f64>>,
    measured_sums: Vec<Prefix>,
    slots_per_hour: usize,
    slots_per_day: usize,
    irradiance: Vec<usize>,
}

/// Prefix sums and counts of the finite values of a column.
struct Prefix {
    sum: Vec<f64>,
    count: Vec<u32>,
}

impl Prefix {
    fn new(values: &[f64]) -> Self {
        let mut sum = Vec::with_capacity(values.len() + 1);
        let mut count = Vec::with_capacity(values.len() + 1);
        sum.push(0.0);
        count.push(0);
        for v in values {
            let (s, c) = (sum[sum.len() - 1], count[count.len() - 1]);
            if v.is_finite() {
                sum.push(s + v);
                count.push(c + 1);
            } else {
                sum.push(s);
                count.push(c);
            }
        }
        Self { sum, count }
    }

    /// Mean of the finite values in the `len` slots ending at `end` (inclusive).
    fn mean(&self, end: usize, len: usize) -> f64 {
        let hi = end + 1;
        let lo = hi.saturating_sub(len.max(1));
        let n = self.count[hi] - self.count[lo];
        if n == 0 { f64::NAN } else { (self.sum[hi] - self.sum[lo]) / f64::from(n) }
    }
}

fn forward_fill(values: &[f64]) -> Vec<f64> {
    let mut last = f64::NAN;
    values
        .iter()
        .map(|v| {
            if v.is_finite() {
                last = *v;
            }
            last
        })
        .collect()
}

impl<'a> Context<'a> {
    /// Precomputes fills and running sums for `series`.
    pub fn new(series: &'a Series) -> Self {
        let slots_per_hour = ((3600 / series.step).max(1)) as usize;
        let slots_per_day = ((SECS_PER_DAY / series.step).max(1)) as usize;
        let irradiance = series
            .forecasts
            .iter()
            .enumerate()
            .filter(|(_, c)| IRRADIANCE_HINTS.iter().any(|h| c.name.to_ascii_lowercase().contains(h)))
            .map(|(k, _)| k)
            .collect();
        Self {
            series,
            filled: forward_fill(&series.target),
            sums: Prefix::new(&series.target),
            measured_filled: series.measured.iter().map(|c| forward_fill(&c.values)).collect(),
            measured_sums: series.measured.iter().map(|c| Prefix::new(&c.values)).collect(),
            slots_per_hour,
            slots_per_day,
            irradiance,
        }
    }

    /// The series the context reads.
    pub fn series(&self) -> &Series {
        self.series
    }

    /// Slots per day.
    pub fn slots_per_day(&self) -> usize {
        self.slots_per_day
    }

    /// The newest slot known at issue slot `issue`.
    pub fn known(&self, issue: usize) -> Option<usize> {
        issue.checked_sub(self.series.delay_slots)
    }

    /// Persistence: the last measured power known at `issue`.
    pub fn persistence(&self, issue: usize) -> f64 {
        self.known(issue).map_or(f64::NAN, |a| self.filled[a])
    }

    /// Day-ahead persistence: the newest known value of the same clock slot as `target`.
    pub fn same_slot_persistence(&self, issue: usize, target: usize) -> f64 {
        let Some(a) = self.known(issue) else {
            return f64::NAN;
        };
        let mut slot = target;
        while slot > a {
            match slot.checked_sub(self.slots_per_day) {
                Some(s) => slot = s,
                None => return f64::NAN,
            }
        }
        self.filled[slot]
    }

    fn has_clear_sky(&self) -> bool {
        self.series.kind == PlantKind::Pv && self.series.clear_sky.is_some()
    }

    /// PV clear-sky persistence: the last hour's clear-sky index times clear-sky power at `target`.
    pub fn clear_sky_persistence(&self, issue: usize, target: usize) -> f64 {
        let (Some(cs), Some(a)) = (self.series.clear_sky.as_ref(), self.known(issue)) else {
            return f64::NAN;
        };
        let k = self.clear_sky_index(cs, a);
        let cs_target = cs.get(target).copied().unwrap_or(f64::NAN);
        if k.is_nan() { f64::NAN } else { k * self.series.capacity * cs_target / 1000.0 }
    }

    fn clear_sky_index(&self, cs: &[f64], a: usize) -> f64 {
        let lo = (a + 1).saturating_sub(self.slots_per_hour.max(2));
        let (mut power, mut clear) = (0.0, 0.0);
        for (p, c) in self.series.target[lo..=a].iter().zip(&cs[lo..=a]) {
            if p.is_finite() {
                power += p;
                clear += self.series.capacity * c / 1000.0;
            }
        }
        if clear > 0.02 * self.series.capacity * (a + 1 - lo) as f64 {
            (power / clear).clamp(0.0, 1.5)
        } else {
            f64::NAN
        }
    }

    fn time_names(names: &mut Vec<String>) {
        names.push("hour_of_day".into());
    }

    fn time_values(&self, target: usize, row: &mut Vec<f64>) {
        let t = self.series.time(target) - self.series.step / 2;
        let offset = self.series.utc_offset_seconds;
        row.push(local_second_of_day(t, offset) as f64 / 3600.0);
    }

    fn target_time_names(&self, names: &mut Vec<String>) {
        for c in &self.series.forecasts {
            names.extend([format!("{}@t-1", c.name), format!("{}@t", c.name), format!("{}@t+1", c.name)]);
        }
        if self.has_clear_sky() {
            names.extend(["clear_sky_ghi@t", "sun_elevation@t"].map(String::from));
            for &k in &self.irradiance {
                names.push(format!("{}/clear_sky@t", self.series.forecasts[k].name));
            }
        }
    }

    fn target_time_values(&self, target: usize, row: &mut Vec<f64>) {
        let at = |v: &[f64], k: Option<usize>| k.and_then(|k| v.get(k)).copied().unwrap_or(f64::NAN);
        for c in &self.series.forecasts {
            row.push(at(&c.values, target.checked_sub(1)));
            row.push(at(&c.values, Some(target)));
            row.push(at(&c.values, Some(target + 1)));
        }
        if let (true, Some(cs), Some(elevation)) =
            (self.has_clear_sky(), &self.series.clear_sky, &self.series.sun_elevation)
        {
            let cs_t = at(cs, Some(target));
            row.push(cs_t);
            row.push(at(elevation, Some(target)));
            for &k in &self.irradiance {
                let v = at(&self.series.forecasts[k].values, Some(target));
                row.push(if cs_t > 10.0 { v / cs_t } else { f64::NAN });
            }
        }
    }

    /// Column names of [`Context::ultra_short_row`].
    pub fn ultra_short_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        Self::time_names(&mut names);
        names.extend(
            [
                "power_now",
                "power_change_1slot",
                "power_mean_1h",
                "power_mean_4h",
                "power_mean_24h",
                "power_1h_ago",
                "power_day_before_target",
            ]
            .map(String::from),
        );
        for c in &self.series.measured {
            names.extend([format!("{}_now", c.name), format!("{}_mean_1h", c.name)]);
        }
        self.target_time_names(&mut names);
        if self.has_clear_sky() {
            names.extend(["clear_sky_ghi_now", "clear_sky_index_1h", "clear_sky_persistence"].map(String::from));
        }
        names
    }

    /// Fills `row` with the ultra-short features for issue slot `issue` and target `issue + lead`.
    pub fn ultra_short_row(&self, issue: usize, lead: usize, row: &mut Vec<f64>) {
        row.clear();
        let target = issue + lead;
        self.time_values(target, row);
        let known = self.known(issue);
        let filled = |k: Option<usize>| k.map_or(f64::NAN, |k| self.filled[k]);
        let now = filled(known);
        row.push(now);
        row.push(now - filled(known.and_then(|a| a.checked_sub(1))));
        let h = self.slots_per_hour;
        for len in [h, 4 * h, 24 * h] {
            row.push(known.map_or(f64::NAN, |a| self.sums.mean(a, len)));
        }
        row.push(filled(known.and_then(|a| a.checked_sub(h))));
        // Same slot a day before the target: known for every lead shorter than a day.
        let day_before = target.checked_sub(self.slots_per_day).filter(|d| known.is_some_and(|a| *d <= a));
        row.push(filled(day_before));
        for (filled_m, sums) in self.measured_filled.iter().zip(&self.measured_sums) {
            match known {
                Some(a) => row.extend([filled_m[a], sums.mean(a, h)]),
                None => row.extend([f64::NAN; 2]),
            }
        }
        self.target_time_values(target, row);
        if let (true, Some(cs)) = (self.has_clear_sky(), &self.series.clear_sky) {
            row.push(known.map_or(f64::NAN, |a| cs[a]));
            row.push(known.map_or(f64::NAN, |a| self.clear_sky_index(cs, a)));
            row.push(self.clear_sky_persistence(issue, target));
        }
    }

    /// Column names of [`Context::day_ahead_row`].
    pub fn day_ahead_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        Self::time_names(&mut names);
        names.extend(["hours_ahead", "power_now", "power_mean_24h", "power_same_slot_last_known"].map(String::from));
        for c in &self.series.measured {
            names.extend([format!("{}_now", c.name), format!("{}_mean_24h", c.name)]);
        }
        self.target_time_names(&mut names);
        names
    }

    /// Fills `row` with the day-ahead features for issue slot `issue` and target slot `target`.
    pub fn day_ahead_row(&self, issue: usize, target: usize, row: &mut Vec<f64>) {
        row.clear();
        self.time_values(target, row);
        row.push((target as f64 - issue as f64) * self.series.step as f64 / 3600.0);
        let known = self.known(issue);
        row.push(known.map_or(f64::NAN, |a| self.filled[a]));
        row.push(known.map_or(f64::NAN, |a| self.sums.mean(a, self.slots_per_day)));
        row.push(self.same_slot_persistence(issue, target));
        for (filled_m, sums) in self.measured_filled.iter().zip(&self.measured_sums) {
            match known {
                Some(a) => row.extend([filled_m[a], sums.mean(a, self.slots_per_day)]),
                None => row.extend([f64::NAN; 2]),
            }
        }
        self.target_time_values(target, row);
    }
}
