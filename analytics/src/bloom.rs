//! Stage-date forecasts for a plot (peony bloom first of all): from the season's observed
//! daily temperatures up to the issue day, then each past season's temperatures from that day
//! on as one ensemble member (the spread of what the rest of the spring may bring), the day
//! each member's heat sum reaches a stage's threshold; the members' P10/P50/P90 are the
//! forecast. [`fit`] finds a plot's base temperature, start rule and stage heat sums from past
//! seasons' observed stage dates (grid search minimising the RMSE in days); without any, the
//! crop table's values are used. No clock, no I/O: seasons are day-indexed from 1 January.

use serde::Serialize;

use crate::agronomy::{DegreeDayMethod, StartRule, degree_days};
use crate::crops::{Crop, DayTemps, spring_start};

/// What determines a plot's stage dates.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phenology {
    pub base_c: f64,
    pub method: DegreeDayMethod,
    pub start: StartRule,
    /// (stage code, heat sum at which it begins), in order.
    pub thresholds: Vec<(String, f64)>,
}

impl Phenology {
    /// The crop table's values.
    pub fn of_crop(crop: &Crop) -> Self {
        Phenology {
            base_c: crop.base_c,
            method: crop.method,
            start: crop.start,
            thresholds: crop.stages.iter().skip(1).map(|s| (s.code.clone(), s.gdd)).collect(),
        }
    }

    /// Running heat sum per day (0 before the start rule is met).
    pub fn heat_sums(&self, days: &[DayTemps]) -> Vec<f64> {
        let start = spring_start(days, self.start);
        let mut sum = 0.0;
        days.iter()
            .enumerate()
            .map(|(i, d)| {
                if start.is_some_and(|s| i >= s) {
                    let dd = degree_days(d.tmin_c, d.tmax_c, self.base_c, None, self.method);
                    if dd.is_finite() {
                        sum += dd;
                    }
                }
                sum
            })
            .collect()
    }

    /// Day index on which each stage is reached in `days` (None: not within them).
    pub fn stage_days(&self, days: &[DayTemps]) -> Vec<Option<usize>> {
        let sums = self.heat_sums(days);
        self.thresholds.iter().map(|(_, g)| sums.iter().position(|s| *s >= *g)).collect()
    }
}

/// A past season of a plot: daily temperatures from 1 January and the days (indexes) its
/// stages were observed to begin.
#[derive(Debug, Clone)]
pub struct Season {
    pub days: Vec<DayTemps>,
    /// (stage code, day index) as observed.
    pub observed: Vec<(String, usize)>,
}

/// Result of [`fit`].
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    pub phenology: Phenology,
    /// Root mean square error (days) of the fitted dates on the seasons fitted.
    pub rmse_days: f64,
}

/// Base temperatures tried by [`fit`] (°C).
pub const BASE_GRID: (f64, f64, f64) = (-3.0, 8.0, 0.25);

/// Fits base temperature, start rule (1 January or the Luoyang rule) and each stage's heat
/// sum to past seasons' observed dates: for every base on [`BASE_GRID`] and each rule, a
/// stage's heat sum is the mean of the seasons' heat sums on its observed day, and the
/// candidate scores the RMSE (days) of the dates those sums give; the lowest wins. `None`
/// without observations.
pub fn fit(seasons: &[Season], method: DegreeDayMethod, stages: &[String]) -> Option<Fit> {
    let (from, to, step) = BASE_GRID;
    let mut best: Option<Fit> = None;
    let steps = ((to - from) / step).round() as usize;
    for rule in [StartRule::FixedDayOfYear(1), StartRule::FirstFiveDayMeanAtLeast(3.0)] {
        for i in 0..=steps {
            let base = Phenology { base_c: from + step * i as f64, method, start: rule, thresholds: Vec::new() };
            let candidate = fit_heat_sums(seasons, base, stages)?;
            if best.as_ref().is_none_or(|b| candidate.rmse_days < b.rmse_days - 1e-9) {
                best = Some(candidate);
            }
        }
    }
    best
}

/// Fits only the stage heat sums, keeping `base`'s base temperature, method and start rule:
/// what one or two seasons of observations can support (they cannot tell bases apart).
/// `None` without observations.
pub fn fit_heat_sums(seasons: &[Season], base: Phenology, stages: &[String]) -> Option<Fit> {
    let mut candidate = Phenology { thresholds: Vec::new(), ..base };
    let sums: Vec<Vec<f64>> = seasons.iter().map(|s| candidate.heat_sums(&s.days)).collect();
    for stage in stages {
        // The sum half way through the observed day: the stage began some time in it.
        let at: Vec<f64> = seasons
            .iter()
            .zip(&sums)
            .filter_map(|(s, sum)| {
                let (_, d) = s.observed.iter().find(|(c, _)| c == stage)?;
                let end = *sum.get(*d)?;
                let before = d.checked_sub(1).and_then(|p| sum.get(p)).copied().unwrap_or(0.0);
                Some((before + end) / 2.0)
            })
            .collect();
        if !at.is_empty() {
            candidate.thresholds.push((stage.clone(), at.iter().sum::<f64>() / at.len() as f64));
        }
    }
    let mut squared = 0.0;
    let mut n = 0usize;
    for (season, sum) in seasons.iter().zip(&sums) {
        for (stage, gdd) in &candidate.thresholds {
            let Some((_, observed)) = season.observed.iter().find(|(c, _)| c == stage) else { continue };
            // Both as fractional days, so the score does not move in whole-day steps (which left
            // many bases tied).
            let predicted = crossing(sum, *gdd);
            squared += (predicted - (*observed as f64 + 0.5)).powi(2);
            n += 1;
        }
    }
    (n > 0).then(|| Fit { phenology: candidate, rmse_days: (squared / n as f64).sqrt() })
}

/// When (in fractional days from the start of day 0) a running sum first reaches `target`,
/// interpolating within the day; past the end if never.
fn crossing(sums: &[f64], target: f64) -> f64 {
    match sums.iter().position(|s| *s >= target) {
        Some(i) => {
            let before = i.checked_sub(1).map_or(0.0, |p| sums[p]);
            let gained = sums[i] - before;
            let within = if gained > 0.0 { ((target - before) / gained).clamp(0.0, 1.0) } else { 1.0 };
            i as f64 + within
        }
        None => sums.len() as f64 + 1.0,
    }
}

/// One stage's forecast.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageForecast {
    pub stage: String,
    /// Already reached by the issue day: the day it was reached.
    pub reached: Option<usize>,
    /// Day indexes (from 1 January) of the members' 10th, 50th and 90th percentiles.
    pub p10: Option<usize>,
    pub p50: Option<usize>,
    pub p90: Option<usize>,
    /// Members that reach the stage within their season.
    pub members_reaching: usize,
}

/// Forecasts each stage of `phenology` on day `issue` (index from 1 January; days before it
/// are observed): `observed` holds at least the days before `issue`, then `nwp` the forecast
/// days from `issue` on (may be empty), then each member continues with its own season's days.
pub fn forecast(
    phenology: &Phenology,
    observed: &[DayTemps],
    issue: usize,
    nwp: &[DayTemps],
    members: &[Vec<DayTemps>],
) -> Vec<StageForecast> {
    let known = &observed[..issue.min(observed.len())];
    let reached = phenology.stage_days(known);
    let member_days: Vec<Vec<Option<usize>>> = members
        .iter()
        .map(|member| {
            let mut days = known.to_vec();
            days.extend_from_slice(nwp);
            days.extend(member.iter().skip(days.len()).copied());
            phenology.stage_days(&days)
        })
        .collect();
    phenology
        .thresholds
        .iter()
        .enumerate()
        .map(|(i, (stage, _))| {
            let mut dates: Vec<usize> = member_days.iter().filter_map(|d| d[i]).collect();
            dates.sort_unstable();
            let quantile = |q: f64| {
                // Nearest rank: members that never reach the stage count as beyond the season.
                let rank = ((q * members.len() as f64).ceil() as usize).clamp(1, members.len().max(1));
                dates.get(rank - 1).copied()
            };
            match reached[i] {
                Some(day) => StageForecast {
                    stage: stage.clone(),
                    reached: Some(day),
                    p10: Some(day),
                    p50: Some(day),
                    p90: Some(day),
                    members_reaching: members.len(),
                },
                None => StageForecast {
                    stage: stage.clone(),
                    reached: None,
                    p10: quantile(0.1),
                    p50: quantile(0.5),
                    p90: quantile(0.9),
                    members_reaching: dates.len(),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spring: a cosine seasonal cycle (coldest mid-January) with a year-specific warm or
    /// cold anomaly and day-to-day weather (±4 °C, a fixed pseudo-random sequence per year),
    /// 181 days from 1 January.
    fn spring(anomaly_c: f64, phase: f64) -> Vec<DayTemps> {
        let mut state = (phase * 1e6) as u64 + 12_345;
        (0..181)
            .map(|d| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let noise = ((state >> 33) as f64 / (1u64 << 31) as f64) * 8.0 - 4.0;
                let x = d as f64;
                let mean = 13.0 - 14.0 * (2.0 * std::f64::consts::PI * (x - 15.0) / 365.0).cos()
                    + anomaly_c * (x / 181.0)
                    + noise;
                DayTemps { tmin_c: mean - 5.0, tmax_c: mean + 5.0 }
            })
            .collect()
    }

    fn truth() -> Phenology {
        Phenology {
            base_c: 2.0,
            method: DegreeDayMethod::SingleSine,
            start: StartRule::FixedDayOfYear(1),
            thresholds: vec![("bud_break".into(), 120.0), ("bloom".into(), 600.0)],
        }
    }

    fn observed_season(days: Vec<DayTemps>) -> Season {
        let truth = truth();
        let observed = truth
            .thresholds
            .iter()
            .zip(truth.stage_days(&days))
            .filter_map(|((c, _), d)| Some((c.clone(), d?)))
            .collect();
        Season { days, observed }
    }

    #[test]
    fn fitting_recovers_the_base_temperature_of_a_known_model() {
        let seasons: Vec<Season> = [(-2.0, 0.0), (1.5, 1.0), (3.0, 2.0), (-3.5, 3.0)]
            .iter()
            .map(|(a, p)| observed_season(spring(*a, *p)))
            .collect();
        let stages = vec!["bud_break".to_string(), "bloom".to_string()];
        let fitted = fit(&seasons, DegreeDayMethod::SingleSine, &stages).unwrap();
        assert!((fitted.phenology.base_c - 2.0).abs() <= 1.0, "{fitted:?}");
        assert!(fitted.rmse_days <= 1.0, "{fitted:?}");
        assert_eq!(fitted.phenology.start, StartRule::FixedDayOfYear(1));
        assert!(fit(&[], DegreeDayMethod::SingleSine, &stages).is_none());
    }

    #[test]
    fn forecasts_narrow_as_the_season_is_observed_and_are_exact_once_reached() {
        let this_year = spring(0.5, 0.7);
        let members: Vec<Vec<DayTemps>> = [(-3.0, 0.1), (-1.0, 1.3), (1.0, 2.2), (3.0, 0.9), (2.0, 2.8)]
            .iter()
            .map(|(a, p)| spring(*a, *p))
            .collect();
        let truth = truth();
        let actual = truth.stage_days(&this_year);
        let bloom = actual[1].unwrap();
        let spread = |issue: usize| {
            let f = forecast(&truth, &this_year, issue, &[], &members);
            let b = &f[1];
            (b.p90.unwrap() - b.p10.unwrap(), b.p50.unwrap().abs_diff(bloom))
        };
        let (early_spread, _) = spread(40);
        let (late_spread, late_error) = spread(bloom - 5);
        assert!(late_spread <= early_spread, "{late_spread} vs {early_spread}");
        assert!(late_error <= 3, "{late_error}");
        // After bloom the forecast is the observed day.
        let after = forecast(&truth, &this_year, bloom + 3, &[], &members);
        assert_eq!(after[1].reached, Some(bloom));
        assert_eq!(after[1].p50, Some(bloom));
        // A perfect NWP covering the rest of the season leaves no spread.
        let rest: Vec<DayTemps> = this_year[40..].to_vec();
        let f = forecast(&truth, &this_year, 40, &rest, &members);
        assert_eq!((f[1].p10, f[1].p50, f[1].p90), (Some(bloom), Some(bloom), Some(bloom)));
    }
}
