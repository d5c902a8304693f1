//! Walk-forward backtest: train on the first part of a table, then issue forecasts through the
//! rest exactly as a plant would and score them with the grid's rules against persistence.
//!
//! The first `1 − test_fraction` of the slot grid is history: both models train on targets in it.
//! Through the test part an ultra-short forecast is issued at every slot (every 15 min, or every
//! slot on a coarser grid) for the leads of [`ultra_short_leads`], and a day-ahead forecast at the
//! issue hour of every day for the whole next local day. Every feature is built from data known at
//! the issue time. Persistence baselines are scored on the same points: ultra-short persistence is
//! the last known power; day-ahead persistence is the newest known value of the same clock slot
//! ("same slot yesterday" where yesterday's slot is already measured at the issue hour, otherwise
//! the day before). Headline accuracies are the mean of daily accuracies, as in the monthly
//! assessment; qualification rates are pooled over all points.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::features::Context;
use super::model::{ForecastPoint, ModelOptions, PlantModels, day_ahead_issue, ultra_short_leads};
use super::scoring::{Assessment, ScoringRules, assess, skill};
use super::series::{SeriesOptions, Table, prepare};
use super::{Error, Result, local_day};

/// Everything a backtest needs besides the table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestOptions {
    /// How to read the table.
    pub series: SeriesOptions,
    /// How to train.
    #[serde(default)]
    pub model: ModelOptions,
    /// Share of the slot grid (the newest) walked forward and scored.
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Assessment rules.
    #[serde(default)]
    pub scoring: ScoringRules,
}

fn default_test_fraction() -> f64 {
    0.2
}

/// Model and persistence scores of one ultra-short lead.
#[derive(Clone, Debug, Serialize)]
pub struct LeadReport {
    /// Lead, minutes after the issue time.
    pub lead_minutes: i64,
    /// Points scored.
    pub n: usize,
    /// Mean daily accuracy of the model.
    pub accuracy: f64,
    /// Mean daily accuracy of persistence.
    pub persistence_accuracy: f64,
    /// Pooled qualification rate of the model.
    pub qualified_rate: f64,
    /// Pooled qualification rate of persistence.
    pub persistence_qualified_rate: f64,
    /// `1 − RMSE/RMSE_persistence`.
    pub skill: f64,
    /// Share of measurements inside the P10–P90 band (0.8 when calibrated).
    pub p10_p90_coverage: f64,
}

/// Ultra-short-term results.
#[derive(Clone, Debug, Serialize)]
pub struct UltraShortReport {
    /// Forecasts issued.
    pub issues: usize,
    /// Accuracy at the lead closest to 1 h.
    pub accuracy_1h: f64,
    /// Accuracy at the 4-h lead (the last one), the figure dispatch assesses.
    pub accuracy_4h: f64,
    /// Qualification rate at the 4-h lead.
    pub qualified_rate_4h: f64,
    /// Persistence accuracy at the lead closest to 1 h.
    pub persistence_accuracy_1h: f64,
    /// Persistence accuracy at the 4-h lead.
    pub persistence_accuracy_4h: f64,
    /// Persistence qualification rate at the 4-h lead.
    pub persistence_qualified_rate_4h: f64,
    /// Every lead.
    pub leads: Vec<LeadReport>,
    /// Boosting rounds kept per lead.
    pub rounds: Vec<usize>,
    /// Validated weight of the trees' correction to persistence, per lead.
    pub correction_weights: Vec<f64>,
    /// Most important features at the last lead.
    pub top_features: Vec<String>,
}

/// Day-ahead results.
#[derive(Clone, Debug, Serialize)]
pub struct DayAheadReport {
    /// Forecasts issued (days).
    pub issues: usize,
    /// Points scored.
    pub n: usize,
    /// Mean daily accuracy of the model.
    pub accuracy: f64,
    /// Pooled qualification rate of the model.
    pub qualified_rate: f64,
    /// Mean daily accuracy of same-slot persistence.
    pub persistence_accuracy: f64,
    /// Pooled qualification rate of persistence.
    pub persistence_qualified_rate: f64,
    /// `1 − RMSE/RMSE_persistence`.
    pub skill: f64,
    /// Share of measurements inside the P10–P90 band.
    pub p10_p90_coverage: f64,
    /// Model accuracy per month (mean of daily accuracies).
    pub months: Vec<MonthReport>,
    /// Boosting rounds kept.
    pub rounds: usize,
    /// Most important features.
    pub top_features: Vec<String>,
}

/// One month of day-ahead scores.
#[derive(Clone, Debug, Serialize)]
pub struct MonthReport {
    /// `YYYY-MM`.
    pub month: String,
    /// Mean daily accuracy of the model.
    pub accuracy: f64,
    /// Mean daily accuracy of persistence.
    pub persistence_accuracy: f64,
    /// Mean daily qualification rate of the model.
    pub qualified_rate: f64,
}

/// Where the time went, milliseconds.
#[derive(Clone, Debug, Serialize)]
pub struct Timing {
    /// Building the slot grid and features' running sums.
    pub prepare_ms: f64,
    /// Training all models.
    pub train_ms: f64,
    /// Issuing and scoring every forecast of the test part.
    pub walk_forward_ms: f64,
}

/// The backtest's findings.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Slots on the grid.
    pub n_points: usize,
    /// Slots with a measured target.
    pub n_measured: usize,
    /// Input cadence, seconds.
    pub cadence_seconds: i64,
    /// Slot length, seconds.
    pub step_seconds: i64,
    /// Training slots (first part).
    pub train_slots: usize,
    /// Test slots (walked forward).
    pub test_slots: usize,
    /// First test slot's end time, unix seconds.
    pub test_start: i64,
    /// Slots left out as downtime.
    pub downtime_slots: usize,
    /// What was done to the data.
    pub notes: Vec<String>,
    /// The models, in words.
    pub model: String,
    /// Ultra-short feature names.
    pub ultra_short_features: Vec<String>,
    /// Day-ahead feature names.
    pub day_ahead_features: Vec<String>,
    /// 0–4 h results.
    pub ultra_short: UltraShortReport,
    /// Next-day results.
    pub day_ahead: DayAheadReport,
    /// Run time.
    pub timing: Timing,
}

/// Scored points of one horizon or lead.
#[derive(Default)]
struct Points {
    times: Vec<i64>,
    measured: Vec<f64>,
    model: Vec<f64>,
    persistence: Vec<f64>,
    excluded: Vec<bool>,
    inside_band: usize,
}

impl Points {
    fn push(&mut self, forecast: &ForecastPoint, measured: f64, persistence: f64, excluded: bool) {
        // Points without a persistence value are left out for both, so both score the same points.
        let excluded = excluded || !persistence.is_finite();
        if !excluded && measured.is_finite() && forecast.p10 <= measured && measured <= forecast.p90 {
            self.inside_band += 1;
        }
        self.times.push(forecast.time);
        self.measured.push(measured);
        self.model.push(forecast.p50);
        self.persistence.push(persistence);
        self.excluded.push(excluded);
    }

    fn assess(&self, capacity: f64, rules: &ScoringRules, offset: i32) -> Result<(Assessment, Assessment)> {
        let model = assess(&self.times, &self.measured, &self.model, Some(&self.excluded), capacity, rules, offset)?;
        let persistence =
            assess(&self.times, &self.measured, &self.persistence, Some(&self.excluded), capacity, rules, offset)?;
        Ok((model, persistence))
    }

    fn coverage(&self, scored: usize) -> f64 {
        if scored == 0 { f64::NAN } else { self.inside_band as f64 / scored as f64 }
    }
}

/// Runs the backtest on `table`.
pub fn run(table: &Table, options: &BacktestOptions) -> Result<Report> {
    if !(options.test_fraction > 0.0 && options.test_fraction < 1.0) {
        return Err(Error::InvalidInput(format!(
            "test fraction must be between 0 and 1, got {}",
            options.test_fraction
        )));
    }
    if options.model.issue_hour > 23 {
        return Err(Error::InvalidInput(format!("issue hour must be 0–23, got {}", options.model.issue_hour)));
    }
    let started = Instant::now();
    let series = prepare(table, &options.series)?;
    let ctx = Context::new(&series);
    let test_start = ((series.len() as f64) * (1.0 - options.test_fraction)).floor() as usize;
    if test_start < 2 * ctx.slots_per_day() || series.len() - test_start < ctx.slots_per_day() {
        return Err(Error::InvalidInput(format!(
            "{} slots of {} s are too few: need at least two days of history and a day of test",
            series.len(),
            series.step
        )));
    }
    let prepared = Instant::now();
    let models = PlantModels::fit(&ctx, test_start, &options.model)?;
    let trained = Instant::now();

    let (capacity, rules, offset) = (series.capacity, &options.scoring, series.utc_offset_seconds);
    let n_leads = ultra_short_leads(series.step, options.model.ultra_short_hours);
    let mut leads: Vec<Points> = (0..n_leads).map(|_| Points::default()).collect();
    let mut issues = 0;
    for issue in test_start..series.len() - 1 {
        let persistence = ctx.persistence(issue);
        for (k, point) in models.ultra_short.forecast(&ctx, issue).iter().enumerate() {
            let j = issue + k + 1;
            leads[k].push(point, series.target[j], persistence, series.excluded[j]);
        }
        issues += 1;
    }
    let mut day_ahead = Points::default();
    let mut day_issues = 0;
    let first_day = local_day(series.time(test_start), offset);
    let last_day = local_day(series.time(series.len() - 1), offset);
    for day in first_day..last_day {
        let Some(issue) = day_ahead_issue(&ctx, day, options.model.issue_hour) else {
            continue;
        };
        if issue < test_start {
            continue;
        }
        for point in models.day_ahead.forecast(&ctx, day, 1) {
            let Some(j) = series.index_of(point.time) else {
                continue;
            };
            day_ahead.push(&point, series.target[j], ctx.same_slot_persistence(issue, j), series.excluded[j]);
        }
        day_issues += 1;
    }

    let mut lead_reports = Vec::with_capacity(n_leads);
    for (k, points) in leads.iter().enumerate() {
        let (model, persistence) = points.assess(capacity, rules, offset)?;
        lead_reports.push(LeadReport {
            lead_minutes: (k as i64 + 1) * series.step / 60,
            n: model.overall.n,
            accuracy: model.mean_daily_accuracy,
            persistence_accuracy: persistence.mean_daily_accuracy,
            qualified_rate: model.overall.qualified_rate,
            persistence_qualified_rate: persistence.overall.qualified_rate,
            skill: skill(&model.overall, &persistence.overall),
            p10_p90_coverage: points.coverage(model.overall.n),
        });
    }
    let hour_lead = ((3600 / series.step).max(1) as usize).min(n_leads) - 1;
    let last = n_leads - 1;
    let pick = |i: usize, f: fn(&LeadReport) -> f64| lead_reports.get(i).map_or(f64::NAN, f);
    let ultra_short = UltraShortReport {
        issues,
        accuracy_1h: pick(hour_lead, |l| l.accuracy),
        accuracy_4h: pick(last, |l| l.accuracy),
        qualified_rate_4h: pick(last, |l| l.qualified_rate),
        persistence_accuracy_1h: pick(hour_lead, |l| l.persistence_accuracy),
        persistence_accuracy_4h: pick(last, |l| l.persistence_accuracy),
        persistence_qualified_rate_4h: pick(last, |l| l.persistence_qualified_rate),
        leads: lead_reports,
        rounds: models.ultra_short.rounds(),
        correction_weights: models.ultra_short.weights(),
        top_features: models.ultra_short.top_features(),
    };
    let (da_model, da_persistence) = day_ahead.assess(capacity, rules, offset)?;
    let months = da_model
        .months
        .iter()
        .zip(&da_persistence.months)
        .map(|(m, p)| MonthReport {
            month: m.period.clone(),
            accuracy: m.mean_daily_accuracy,
            persistence_accuracy: p.mean_daily_accuracy,
            qualified_rate: m.mean_daily_qualified_rate,
        })
        .collect();
    let day_ahead_report = DayAheadReport {
        issues: day_issues,
        n: da_model.overall.n,
        accuracy: da_model.mean_daily_accuracy,
        qualified_rate: da_model.overall.qualified_rate,
        persistence_accuracy: da_persistence.mean_daily_accuracy,
        persistence_qualified_rate: da_persistence.overall.qualified_rate,
        skill: skill(&da_model.overall, &da_persistence.overall),
        p10_p90_coverage: day_ahead.coverage(da_model.overall.n),
        months,
        rounds: models.day_ahead.rounds(),
        top_features: models.day_ahead.top_features(),
    };
    let walked = Instant::now();
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
    Ok(Report {
        n_points: series.len(),
        n_measured: series.target.iter().filter(|v| v.is_finite()).count(),
        cadence_seconds: series.cadence,
        step_seconds: series.step,
        train_slots: test_start,
        test_slots: series.len() - test_start,
        test_start: series.time(test_start),
        downtime_slots: series.downtime_slots,
        notes: series.notes.clone(),
        model: describe(&options.model, n_leads, series.step),
        ultra_short_features: models.ultra_short.feature_names().to_vec(),
        day_ahead_features: models.day_ahead.feature_names().to_vec(),
        ultra_short,
        day_ahead: day_ahead_report,
        timing: Timing {
            prepare_ms: ms(started, prepared),
            train_ms: ms(prepared, trained),
            walk_forward_ms: ms(trained, walked),
        },
    })
}

fn describe(options: &ModelOptions, n_leads: usize, step: i64) -> String {
    let g = &options.gbdt;
    format!(
        "fieldline histogram GBDT (L2 loss, leaf-wise, {} leaves, depth ≤ {}, {} bins, shrinkage {}, early stopping after {} rounds on the newest {:.0} % of training rows). \
         Ultra-short: {n_leads} per-lead models ({} min apart) learning the correction to persistence from recent power, measured data up to the issue time, NWP at the target time and clear-sky geometry. \
         Day-ahead: one model issued at {:02}:00 local for the next local day from NWP, clear-sky geometry, time of day and what is known at the issue hour. \
         P10/P90 from validation residual quantiles per forecast-level band.",
        g.max_leaves,
        g.max_depth,
        g.max_bins,
        g.learning_rate,
        g.early_stopping_rounds,
        options.validation_fraction * 100.0,
        step / 60,
        options.issue_hour
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::PlantKind;
    use crate::forecast::series::{Column, FeatureSelection};

    struct Rng(u64);

    impl Rng {
        fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u, v) = (self.uniform().max(1e-12), self.uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    fn power_curve(speed: f64) -> f64 {
        if !(3.0..25.0).contains(&speed) { 0.0 } else { (((speed - 3.0) / 9.0).powi(3)).min(1.0) * 10.0 }
    }

    /// A 15-min wind plant (capacity 10): AR(1) wind with a diurnal cycle, an NWP forecast of it,
    /// the measured wind, gaps, a duplicated row and three days of downtime.
    fn wind_table(days: usize, seed: u64) -> Table {
        let mut rng = Rng(seed);
        let n = days * 96;
        let mut wind = 7.0;
        let (mut times, mut power, mut nwp, mut measured) = (vec![], vec![], vec![], vec![]);
        for i in 0..n {
            let hour = (i % 96) as f64 / 4.0;
            let mean = 7.0 + 2.0 * (std::f64::consts::TAU * hour / 24.0).sin();
            wind = (mean + 0.97 * (wind - mean) + 0.5 * rng.normal()).max(0.0);
            let p = (power_curve(wind) + 0.2 * rng.normal()).clamp(0.0, 10.0);
            times.push(1_700_000_000 - 1_700_000_000 % 900 + i as i64 * 900);
            power.push(if i % 500 == 7 { f64::NAN } else { p });
            nwp.push(wind + 0.8 * rng.normal());
            measured.push(wind);
        }
        if days > 23 {
            power[20 * 96..23 * 96].iter_mut().for_each(|v| *v = 0.0);
        }
        // Duplicate row (the later value wins) and a gap.
        times.push(times[100]);
        power.push(power[100]);
        nwp.push(nwp[100]);
        measured.push(measured[100]);
        if n > 3010 {
            times.drain(3000..3010);
            for col in [&mut power, &mut nwp, &mut measured] {
                col.drain(3000..3010);
            }
        }
        Table {
            times,
            columns: vec![
                Column { name: "power_mw".into(), values: power },
                Column { name: "wind_speed_100m_ms".into(), values: nwp },
                Column { name: "wind_speed_ms".into(), values: measured },
            ],
        }
    }

    fn options() -> BacktestOptions {
        BacktestOptions {
            series: SeriesOptions {
                kind: PlantKind::Wind,
                capacity: 10.0,
                target: "power_mw".into(),
                features: FeatureSelection::Auto,
                measured: vec!["wind_speed_ms".into()],
                curtailed: None,
                location: None,
                utc_offset_seconds: 8 * 3600,
                downtime_hours: 24.0,
            },
            model: ModelOptions { threads: 2, ..ModelOptions::default() },
            test_fraction: 0.25,
            scoring: ScoringRules::default(),
        }
    }

    #[test]
    fn end_to_end_on_a_generated_wind_plant() {
        let report = run(&wind_table(60, 11), &options()).unwrap();
        assert_eq!(report.step_seconds, 900);
        assert_eq!(report.ultra_short.leads.len(), 16);
        // Three days of zeros, plus any calm slots that happen to touch them.
        assert!((3 * 96..3 * 96 + 8).contains(&report.downtime_slots), "{}", report.downtime_slots);
        assert!(report.notes.iter().any(|n| n.contains("duplicated")));
        let us = &report.ultra_short;
        for lead in &us.leads {
            assert!(lead.n > 0);
            assert!(lead.accuracy >= lead.persistence_accuracy - 0.005, "lead {} min: {lead:?}", lead.lead_minutes);
            assert!(lead.p10_p90_coverage > 0.6 && lead.p10_p90_coverage < 0.95, "{lead:?}");
        }
        assert!(us.accuracy_4h > us.persistence_accuracy_4h + 0.02, "{us:?}");
        assert!(us.accuracy_1h >= us.accuracy_4h);
        let da = &report.day_ahead;
        assert!(da.issues >= 14);
        assert!(da.n > 0 && da.n <= da.issues * 96);
        assert!(da.accuracy > da.persistence_accuracy + 0.05, "{da:?}");
    }

    #[test]
    fn forecasts_do_not_change_when_data_after_the_issue_time_changes() {
        let table = wind_table(40, 5);
        let opts = options();
        let series = prepare(&table, &opts.series).unwrap();
        let train_end = 30 * 96;
        let models = PlantModels::fit(&Context::new(&series), train_end, &opts.model).unwrap();
        // Replace every measured value after the issue time with noise; keep the NWP (known in advance).
        let issue = 35 * 96 + 37;
        let mut tampered = series.clone();
        let mut rng = Rng(99);
        for j in issue + 1..tampered.len() {
            tampered.target[j] = 10.0 * rng.uniform();
            tampered.measured[0].values[j] = 30.0 * rng.uniform();
        }
        let (a, b) = (Context::new(&series), Context::new(&tampered));
        assert_eq!(models.ultra_short.forecast(&a, issue), models.ultra_short.forecast(&b, issue));
        let day = local_day(series.time(issue), series.utc_offset_seconds);
        let day_issue = day_ahead_issue(&a, day, 8).unwrap();
        let mut tampered = series.clone();
        for j in day_issue + 1..tampered.len() {
            tampered.target[j] = 10.0 * rng.uniform();
            tampered.measured[0].values[j] = 30.0 * rng.uniform();
        }
        let b = Context::new(&tampered);
        let (fa, fb) = (models.day_ahead.forecast(&a, day, 1), models.day_ahead.forecast(&b, day, 1));
        assert_eq!(fa.len(), 96);
        assert_eq!(fa, fb);
    }

    #[test]
    fn a_measured_copy_of_a_noise_target_does_not_help() {
        // Pure noise power, and a "measured" column equal to it: usable only up to the issue time,
        // it must not make the noise predictable.
        let mut rng = Rng(3);
        let n = 40 * 96;
        let noise: Vec<f64> = (0..n).map(|_| 10.0 * rng.uniform()).collect();
        let table = Table {
            times: (0..n as i64).map(|i| i * 900).collect(),
            columns: vec![
                Column { name: "power_mw".into(), values: noise.clone() },
                Column { name: "wind_speed_ms".into(), values: noise },
            ],
        };
        let report = run(&table, &options()).unwrap();
        // Uniform(0, 10) noise against its mean has RMSE 10/sqrt(12) ≈ 2.89, accuracy ≈ 0.711;
        // any look-ahead would push the accuracy towards 1.
        for lead in &report.ultra_short.leads {
            assert!(lead.accuracy < 0.73, "{lead:?}");
        }
        assert!(report.day_ahead.accuracy < 0.73, "{:?}", report.day_ahead);
    }

    #[test]
    fn too_little_data_and_bad_options_are_errors() {
        let table = wind_table(2, 1);
        assert!(run(&table, &options()).is_err());
        let mut opts = options();
        opts.test_fraction = 1.5;
        assert!(run(&wind_table(30, 1), &opts).is_err());
        let mut opts = options();
        opts.model.issue_hour = 24;
        assert!(run(&wind_table(30, 1), &opts).is_err());
    }
}
