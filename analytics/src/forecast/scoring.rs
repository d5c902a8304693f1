//! Forecast scoring exactly as grid dispatch assesses it.
//!
//! Accuracy is `1 − sqrt(mean(((P_meas − P_fcst)/N)²))` and a point is *qualified* when
//! `1 − |P_meas − P_fcst|/N ≥ threshold` (0.75 by default), where the normaliser `N` is the
//! operating capacity `C` ([`RuleSet::Capacity`], the Shandong/northern rule) or
//! `max(P_meas, 0.2·C)` ([`RuleSet::Southern`], the southern grid's rule). Points flagged
//! curtailed (限电) and points whose measurement or forecast is missing (NaN) are left out.
//! MAE, RMSE and bias are reported both in plant units and divided by `C`, whatever the rule.
//! Scores aggregate per issue, per local day and per month; the grid's daily figure is the
//! pooled score of the day and its monthly figure the mean of the daily ones.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CivilDate, Error, Result, local_day};

/// How the error of a point is normalised for accuracy and qualification.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleSet {
    /// Divide by the operating capacity `C` (Shandong and the northern grids).
    #[default]
    Capacity,
    /// Divide by `max(P_meas, floor·C)` with `floor` = 0.2 (the southern grid's rule).
    Southern,
}

/// The assessment rules of one plant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScoringRules {
    /// Which normaliser the accuracy and qualification use.
    pub rule_set: RuleSet,
    /// A point is qualified when `1 − |err|/N` reaches this (0.75 by default).
    pub qualified_threshold: f64,
    /// The `0.2` in `max(P_meas, 0.2·C)` of the southern rule.
    pub southern_floor_fraction: f64,
}

impl Default for ScoringRules {
    fn default() -> Self {
        Self { rule_set: RuleSet::Capacity, qualified_threshold: 0.75, southern_floor_fraction: 0.2 }
    }
}

impl ScoringRules {
    fn validate(&self) -> Result<()> {
        if !self.qualified_threshold.is_finite()
            || !self.southern_floor_fraction.is_finite()
            || self.southern_floor_fraction <= 0.0
        {
            return Err(Error::InvalidInput(format!(
                "scoring rules need a finite threshold and a positive floor fraction, got {self:?}"
            )));
        }
        Ok(())
    }
}

/// Scores of a set of points. Fields are NaN when no point could be scored (`n == 0`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Score {
    /// Points scored.
    pub n: usize,
    /// Points left out: curtailed, or measurement/forecast missing.
    pub excluded: usize,
    /// `1 − sqrt(mean((err/N)²))` under the rule set.
    pub accuracy: f64,
    /// Share of points with `1 − |err|/N ≥ threshold`.
    pub qualified_rate: f64,
    /// Mean absolute error, plant units.
    pub mae: f64,
    /// Root mean square error, plant units.
    pub rmse: f64,
    /// Mean of `forecast − measured`, plant units (positive = over-forecast).
    pub bias: f64,
    /// MAE divided by capacity.
    pub nmae: f64,
    /// RMSE divided by capacity.
    pub nrmse: f64,
    /// Bias divided by capacity.
    pub nbias: f64,
}

/// Running sums for one group of points; feed with [`ScoreAccumulator::add`].
#[derive(Clone, Debug)]
pub struct ScoreAccumulator {
    capacity: f64,
    rules: ScoringRules,
    n: usize,
    excluded: usize,
    sum_sq_rule: f64,
    qualified: usize,
    sum_abs: f64,
    sum_sq: f64,
    sum_err: f64,
}

impl ScoreAccumulator {
    /// An empty accumulator for a plant of operating capacity `capacity` (plant units).
    pub fn new(capacity: f64, rules: &ScoringRules) -> Result<Self> {
        if !(capacity.is_finite() && capacity > 0.0) {
            return Err(Error::InvalidInput(format!("capacity must be a positive number, got {capacity}")));
        }
        rules.validate()?;
        Ok(Self {
            capacity,
            rules: rules.clone(),
            n: 0,
            excluded: 0,
            sum_sq_rule: 0.0,
            qualified: 0,
            sum_abs: 0.0,
            sum_sq: 0.0,
            sum_err: 0.0,
        })
    }

    /// Adds one point; curtailed points and NaN values are counted as excluded.
    pub fn add(&mut self, measured: f64, forecast: f64, curtailed: bool) {
        if curtailed || !measured.is_finite() || !forecast.is_finite() {
            self.excluded += 1;
            return;
        }
        let err = measured - forecast;
        let normaliser = match self.rules.rule_set {
            RuleSet::Capacity => self.capacity,
            RuleSet::Southern => measured.max(self.rules.southern_floor_fraction * self.capacity),
        };
        let relative = err / normaliser;
        self.n += 1;
        self.sum_sq_rule += relative * relative;
        if 1.0 - relative.abs() >= self.rules.qualified_threshold {
            self.qualified += 1;
        }
        self.sum_abs += err.abs();
        self.sum_sq += err * err;
        self.sum_err -= err;
    }

    /// The scores of the points added so far.
    pub fn finish(&self) -> Score {
        let n = self.n as f64;
        let (mae, rmse, bias) = if self.n == 0 {
            (f64::NAN, f64::NAN, f64::NAN)
        } else {
            (self.sum_abs / n, (self.sum_sq / n).sqrt(), self.sum_err / n)
        };
        Score {
            n: self.n,
            excluded: self.excluded,
            accuracy: if self.n == 0 { f64::NAN } else { 1.0 - (self.sum_sq_rule / n).sqrt() },
            qualified_rate: if self.n == 0 { f64::NAN } else { self.qualified as f64 / n },
            mae,
            rmse,
            bias,
            nmae: mae / self.capacity,
            nrmse: rmse / self.capacity,
            nbias: bias / self.capacity,
        }
    }
}

/// Scores `forecast` against `measured` (same length), leaving out points flagged in `curtailed`.
pub fn score(
    measured: &[f64],
    forecast: &[f64],
    curtailed: Option<&[bool]>,
    capacity: f64,
    rules: &ScoringRules,
) -> Result<Score> {
    check_lengths(measured.len(), forecast.len(), curtailed, None)?;
    let mut acc = ScoreAccumulator::new(capacity, rules)?;
    for i in 0..measured.len() {
        acc.add(measured[i], forecast[i], curtailed.is_some_and(|c| c[i]));
    }
    Ok(acc.finish())
}

/// Skill against a reference forecast scored on the same points: `1 − RMSE/RMSE_ref`
/// (positive = better than the reference, e.g. persistence).
pub fn skill(model: &Score, reference: &Score) -> f64 {
    1.0 - model.rmse / reference.rmse
}

/// The score of one local day or month.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeriodScore {
    /// `YYYY-MM-DD` for a day, `YYYY-MM` for a month.
    pub period: String,
    /// Pooled score of the period's points.
    pub score: Score,
    /// Mean of the daily accuracies inside the period (the grid's monthly figure).
    pub mean_daily_accuracy: f64,
    /// Mean of the daily qualification rates inside the period.
    pub mean_daily_qualified_rate: f64,
    /// Days with at least one scored point.
    pub days: usize,
}

/// The score of one issued forecast.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IssueScore {
    /// Issue time, unix seconds.
    pub issued: i64,
    /// Score of that issue's points.
    pub score: Score,
}

/// Everything the grid's assessment reports for one plant and horizon.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    /// All points pooled.
    pub overall: Score,
    /// Mean of the daily accuracies: the figure the monthly assessment uses.
    pub mean_daily_accuracy: f64,
    /// Mean of the daily qualification rates.
    pub mean_daily_qualified_rate: f64,
    /// Per local day, in date order.
    pub days: Vec<PeriodScore>,
    /// Per local month, in date order.
    pub months: Vec<PeriodScore>,
}

/// Scores points with valid times `times` (unix seconds), grouped by the local day and month
/// at `utc_offset_seconds` (Shandong: `8 * 3600`).
pub fn assess(
    times: &[i64],
    measured: &[f64],
    forecast: &[f64],
    curtailed: Option<&[bool]>,
    capacity: f64,
    rules: &ScoringRules,
    utc_offset_seconds: i32,
) -> Result<Assessment> {
    check_lengths(measured.len(), forecast.len(), curtailed, Some(times.len()))?;
    let mut overall = ScoreAccumulator::new(capacity, rules)?;
    let mut by_day: BTreeMap<i64, ScoreAccumulator> = BTreeMap::new();
    for i in 0..times.len() {
        let flagged = curtailed.is_some_and(|c| c[i]);
        overall.add(measured[i], forecast[i], flagged);
        by_day.entry(local_day(times[i], utc_offset_seconds)).or_insert_with(|| overall_like(&overall)).add(
            measured[i],
            forecast[i],
            flagged,
        );
    }
    let mut days: Vec<(CivilDate, Score)> = Vec::with_capacity(by_day.len());
    let mut month_sums: BTreeMap<(i64, u32), (ScoreAccumulator, Vec<usize>)> = BTreeMap::new();
    for (day, acc) in &by_day {
        let date = CivilDate::from_days(*day);
        let entry = month_sums.entry((date.year, date.month)).or_insert_with(|| (overall_like(&overall), Vec::new()));
        merge(&mut entry.0, acc);
        entry.1.push(days.len());
        days.push((date, acc.finish()));
    }
    let day_scores: Vec<&Score> = days.iter().map(|(_, s)| s).collect();
    let (mean_daily_accuracy, mean_daily_qualified_rate, _) = daily_means(&day_scores);
    let months = month_sums
        .into_iter()
        .map(|((year, month), (acc, day_indices))| {
            let scores: Vec<&Score> = day_indices.iter().map(|&i| &days[i].1).collect();
            let (acc_mean, qual_mean, n_days) = daily_means(&scores);
            PeriodScore {
                period: format!("{year:04}-{month:02}"),
                score: acc.finish(),
                mean_daily_accuracy: acc_mean,
                mean_daily_qualified_rate: qual_mean,
                days: n_days,
            }
        })
        .collect();
    let days = days
        .into_iter()
        .map(|(date, score)| PeriodScore {
            period: date.to_string(),
            mean_daily_accuracy: score.accuracy,
            mean_daily_qualified_rate: score.qualified_rate,
            days: usize::from(score.n > 0),
            score,
        })
        .collect();
    Ok(Assessment { overall: overall.finish(), mean_daily_accuracy, mean_daily_qualified_rate, days, months })
}

/// Scores each issued forecast separately; `issued[i]` is the issue time of point `i`.
pub fn score_by_issue(
    issued: &[i64],
    measured: &[f64],
    forecast: &[f64],
    curtailed: Option<&[bool]>,
    capacity: f64,
    rules: &ScoringRules,
) -> Result<Vec<IssueScore>> {
    check_lengths(measured.len(), forecast.len(), curtailed, Some(issued.len()))?;
    let template = ScoreAccumulator::new(capacity, rules)?;
    let mut groups: BTreeMap<i64, ScoreAccumulator> = BTreeMap::new();
    for i in 0..issued.len() {
        groups.entry(issued[i]).or_insert_with(|| overall_like(&template)).add(
            measured[i],
            forecast[i],
            curtailed.is_some_and(|c| c[i]),
        );
    }
    Ok(groups.into_iter().map(|(issued, acc)| IssueScore { issued, score: acc.finish() }).collect())
}

fn overall_like(template: &ScoreAccumulator) -> ScoreAccumulator {
    ScoreAccumulator {
        n: 0,
        excluded: 0,
        sum_sq_rule: 0.0,
        qualified: 0,
        sum_abs: 0.0,
        sum_sq: 0.0,
        sum_err: 0.0,
        ..template.clone()
    }
}

fn merge(into: &mut ScoreAccumulator, from: &ScoreAccumulator) {
    into.n += from.n;
    into.excluded += from.excluded;
    into.sum_sq_rule += from.sum_sq_rule;
    into.qualified += from.qualified;
    into.sum_abs += from.sum_abs;
    into.sum_sq += from.sum_sq;
    into.sum_err += from.sum_err;
}

/// Means of the daily accuracy and qualification rate over days that scored any point.
fn daily_means(days: &[&Score]) -> (f64, f64, usize) {
    let scored: Vec<&&Score> = days.iter().filter(|s| s.n > 0).collect();
    if scored.is_empty() {
        return (f64::NAN, f64::NAN, 0);
    }
    let n = scored.len() as f64;
    (
        scored.iter().map(|s| s.accuracy).sum::<f64>() / n,
        scored.iter().map(|s| s.qualified_rate).sum::<f64>() / n,
        scored.len(),
    )
}

fn check_lengths(measured: usize, forecast: usize, curtailed: Option<&[bool]>, keys: Option<usize>) -> Result<()> {
    let curtailed_ok = curtailed.is_none_or(|c| c.len() == measured);
    if measured != forecast || !curtailed_ok || keys.is_some_and(|k| k != measured) {
        return Err(Error::InvalidInput(format!(
            "scoring needs equally long inputs: {measured} measured, {forecast} forecast{}{}",
            curtailed.map(|c| format!(", {} curtailment flags", c.len())).unwrap_or_default(),
            keys.map(|k| format!(", {k} times")).unwrap_or_default()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn capacity_rule_matches_hand_computation() {
        // C = 100: errors 10, -20, 0, 30 → (err/C)² = 0.01, 0.04, 0, 0.09; mean 0.035.
        let measured = [50.0, 20.0, 0.0, 90.0];
        let forecast = [40.0, 40.0, 0.0, 60.0];
        let s = score(&measured, &forecast, None, 100.0, &ScoringRules::default()).unwrap();
        assert_eq!(s.n, 4);
        assert!(close(s.accuracy, 1.0 - 0.035_f64.sqrt()));
        // 1 − |err|/C = 0.9, 0.8, 1.0, 0.7 → three of four reach 0.75.
        assert!(close(s.qualified_rate, 0.75));
        assert!(close(s.mae, 15.0));
        assert!(close(s.rmse, 350.0_f64.sqrt()));
        // forecast − measured = -10, 20, 0, -30 → mean -5.
        assert!(close(s.bias, -5.0));
        assert!(close(s.nbias, -0.05));
        assert!(close(s.nmae, 0.15));
    }

    #[test]
    fn threshold_is_configurable() {
        let rules = ScoringRules { qualified_threshold: 0.85, ..ScoringRules::default() };
        let s = score(&[50.0, 20.0, 0.0, 90.0], &[40.0, 40.0, 0.0, 60.0], None, 100.0, &rules).unwrap();
        // Only 0.9 and 1.0 reach 0.85.
        assert!(close(s.qualified_rate, 0.5));
    }

    #[test]
    fn southern_rule_divides_by_measured_or_a_fifth_of_capacity() {
        let rules = ScoringRules { rule_set: RuleSet::Southern, ..ScoringRules::default() };
        // C = 100, floor 20. Point 1: P=50, err 10 → 10/50 = 0.2. Point 2: P=5, err -15 → -15/20 = -0.75.
        let s = score(&[50.0, 5.0], &[40.0, 20.0], None, 100.0, &rules).unwrap();
        let expected = 1.0 - ((0.04 + 0.5625) / 2.0_f64).sqrt();
        assert!(close(s.accuracy, expected), "{} vs {expected}", s.accuracy);
        // 1 − 0.2 = 0.8 qualifies, 1 − 0.75 = 0.25 does not.
        assert!(close(s.qualified_rate, 0.5));
        // MAE stays in plant units and per capacity whatever the rule.
        assert!(close(s.mae, 12.5));
        assert!(close(s.nmae, 0.125));
    }

    #[test]
    fn curtailed_and_missing_points_are_excluded() {
        let measured = [50.0, 0.0, f64::NAN, 30.0];
        let forecast = [40.0, 80.0, 10.0, f64::NAN];
        let curtailed = [false, true, false, false];
        let s = score(&measured, &forecast, Some(&curtailed), 100.0, &ScoringRules::default()).unwrap();
        assert_eq!(s.n, 1);
        assert_eq!(s.excluded, 3);
        assert!(close(s.accuracy, 0.9));
        assert!(close(s.qualified_rate, 1.0));
        let none = score(&[f64::NAN], &[1.0], None, 100.0, &ScoringRules::default()).unwrap();
        assert_eq!(none.n, 0);
        assert!(none.accuracy.is_nan());
    }

    #[test]
    fn skill_against_persistence() {
        let rules = ScoringRules::default();
        let model = score(&[10.0, 20.0], &[12.0, 18.0], None, 100.0, &rules).unwrap();
        let persistence = score(&[10.0, 20.0], &[14.0, 16.0], None, 100.0, &rules).unwrap();
        assert!(close(skill(&model, &persistence), 0.5));
    }

    #[test]
    fn assessment_groups_by_local_day_and_month() {
        // UTC+8: 2024-05-31T15:00Z is 23:00 local on 31 May; 16:00Z is 00:00 local on 1 June.
        let base = 1_717_167_600; // 2024-05-31T15:00:00Z
        let times = [base, base + 3600, base + 7200];
        let measured = [50.0, 50.0, 50.0];
        let forecast = [40.0, 30.0, 50.0];
        let a = assess(&times, &measured, &forecast, None, 100.0, &ScoringRules::default(), 8 * 3600).unwrap();
        assert_eq!(a.days.len(), 2);
        assert_eq!(a.days[0].period, "2024-05-31");
        assert!(close(a.days[0].score.accuracy, 0.9));
        assert_eq!(a.days[1].period, "2024-06-01");
        // June 1: errors 20 and 0 → 1 − sqrt(0.02).
        let june1 = 1.0 - 0.02_f64.sqrt();
        assert!(close(a.days[1].score.accuracy, june1));
        assert!(close(a.mean_daily_accuracy, (0.9 + june1) / 2.0));
        assert_eq!(a.months.iter().map(|m| m.period.as_str()).collect::<Vec<_>>(), ["2024-05", "2024-06"]);
        assert_eq!(a.months[1].score.n, 2);
        assert!(close(a.months[1].mean_daily_accuracy, june1));
        // In UTC all three fall on 31 May.
        let utc = assess(&times, &measured, &forecast, None, 100.0, &ScoringRules::default(), 0).unwrap();
        assert_eq!(utc.days.len(), 1);
    }

    #[test]
    fn per_issue_scores() {
        let issued = [0, 0, 900, 900];
        let s = score_by_issue(
            &issued,
            &[10.0, 10.0, 10.0, 10.0],
            &[10.0, 10.0, 0.0, 20.0],
            None,
            100.0,
            &ScoringRules::default(),
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert!(close(s[0].score.accuracy, 1.0));
        assert!(close(s[1].score.accuracy, 0.9));
    }

    #[test]
    fn bad_inputs_are_errors() {
        let rules = ScoringRules::default();
        assert!(score(&[1.0], &[1.0, 2.0], None, 1.0, &rules).is_err());
        assert!(score(&[1.0], &[1.0], Some(&[]), 1.0, &rules).is_err());
        assert!(score(&[1.0], &[1.0], None, 0.0, &rules).is_err());
        assert!(score(&[1.0], &[1.0], None, f64::NAN, &rules).is_err());
        assert!(assess(&[0, 1], &[1.0], &[1.0], None, 1.0, &rules, 0).is_err());
    }
}
