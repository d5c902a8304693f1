//! `fieldline agro bloom-eval`: the peony stage-date forecast scored on simulated seasons. Each
//! seed is one spring of one plot (its weather and, as ground truth, the stage the simulator
//! reports); for every season the forecast is issued on 1 March, 15 March and 1 April from that
//! season's own temperatures up to the issue day, with the other seasons as ensemble members
//! and phenology fitted on the three seasons before it (their observed stage dates) — never the
//! season's own stage readings. The naive forecast to beat is the other seasons' mean date.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use clap::Args;
use fieldline_analytics::agronomy::DegreeDayMethod;
use fieldline_analytics::bloom::{self, Phenology, Season};
use fieldline_analytics::crops::{CropTable, DayTemps};
use fieldline_sim::{DeviceInfo, Kind, Row, RowSink, Scenario, SimOptions, Simulation};
use serde_json::json;

#[derive(Debug, Args)]
pub struct BloomEvalArgs {
    /// Simulated seasons (seeds 1..=N).
    #[arg(long, default_value_t = 8)]
    seeds: u64,
    /// Year of the springs.
    #[arg(long, default_value_t = 2025)]
    year: i32,
    /// Scenario: `heze` or a scenario TOML file (its first peony plot is used).
    #[arg(long, default_value = "heze")]
    scenario: String,
    /// Year-to-year spread of temperature (°C, the simulator's `climate.seasonal_anomaly_sd_c`,
    /// persisting about a month): without it every simulated spring keeps to the monthly
    /// normals and blooms within a day or two of the others. Spring monthly means in the North
    /// China Plain vary by about 1.5 °C from year to year.
    #[arg(long, default_value_t = 1.5)]
    seasonal_anomaly_sd: f64,
    /// Past seasons the phenology is fitted on.
    #[arg(long, default_value_t = 3)]
    fit_seasons: usize,
    /// Also write the results as JSON to FILE.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// Stages scored: the simulator's stage codes 1, 4 and 5 (bud break, first flower, end of
/// bloom); it has no separate full-bloom stage.
const SCORED: [(&str, f64); 3] = [("bud_break", 1.0), ("bloom", 4.0), ("post_bloom", 5.0)];
/// Stages fitted (codes 1 to 5).
const FITTED: [(&str, f64); 5] =
    [("bud_break", 1.0), ("leaf_expansion", 2.0), ("flower_bud", 3.0), ("bloom", 4.0), ("post_bloom", 5.0)];
/// Issue days: 1 March, 15 March, 1 April (day index from 1 January, not a leap year).
const ISSUES: [(&str, usize); 3] = [("1 March", 59), ("15 March", 73), ("1 April", 90)];

/// How one stage's forecasts from one issue day did over the seasons.
#[derive(Default)]
struct Score {
    /// |P50 − observed| (days) per season.
    errors: Vec<f64>,
    /// |the other seasons' mean date − observed|.
    naive_errors: Vec<f64>,
    /// Seasons whose observed day lay within P10–P90.
    inside: usize,
}

/// One simulated spring: daily temperatures and the day each stage code was first reported.
struct Spring {
    days: Vec<DayTemps>,
    stage_days: BTreeMap<u8, usize>,
}

/// Collects one plot's air temperature (daily min/max by local day) and stage.
struct PlotSink {
    device: usize,
    jan1: i64,
    offset_s: i64,
    temps: Vec<(f64, f64)>,
    stage_days: BTreeMap<u8, usize>,
    air: usize,
    stage: usize,
}

impl RowSink for PlotSink {
    fn row(&mut self, _devices: &[DeviceInfo], row: &Row<'_>) -> Result<(), fieldline_sim::Error> {
        if row.device != self.device {
            return Ok(());
        }
        let Ok(day) = usize::try_from((row.ts + self.offset_s - self.jan1).div_euclid(86_400)) else { return Ok(()) };
        if self.temps.len() <= day {
            self.temps.resize(day + 1, (f64::INFINITY, f64::NEG_INFINITY));
        }
        if let Some(t) = row.values.get(self.air).and_then(|v| v.as_f64()).filter(|t| t.is_finite()) {
            let slot = &mut self.temps[day];
            *slot = (slot.0.min(t), slot.1.max(t));
        }
        if let Some(stage) = row.values.get(self.stage).and_then(|v| v.as_f64()).filter(|s| s.is_finite()) {
            for code in 1..=(stage.round().clamp(0.0, 6.0) as u8) {
                self.stage_days.entry(code).or_insert(day);
            }
        }
        Ok(())
    }
}

fn simulate(scenario: &Scenario, seed: u64, year: i32) -> anyhow::Result<(Spring, String)> {
    let offset = fieldline_core::time::parse_offset(&scenario.timezone)?;
    let jan1 = time::Date::from_calendar_date(year, time::Month::January, 1)?.midnight().assume_offset(offset);
    let start = jan1.unix_timestamp();
    let end = start + 181 * 86_400;
    let options = SimOptions { seed, start, end: Some(end), faults: false };
    let mut sim = Simulation::new(scenario, &options)?;
    let (device, name) = sim
        .devices()
        .iter()
        .enumerate()
        .find(|(_, d)| d.kind == Kind::PeonyPlot)
        .map(|(i, d)| (i, d.path()))
        .context("the scenario has no peony plot")?;
    let kind = Kind::PeonyPlot;
    let mut sink = PlotSink {
        device,
        jan1: start,
        offset_s: i64::from(offset.whole_seconds()),
        temps: Vec::new(),
        stage_days: BTreeMap::new(),
        air: kind.field_index("air_temp_c").context("peony_plot has no air_temp_c")?,
        stage: kind.field_index("stage").context("peony_plot has no stage")?,
    };
    sim.run_until(end, &mut sink)?;
    let days = sink
        .temps
        .into_iter()
        .take(181)
        .map(|(lo, hi)| {
            if lo.is_finite() {
                DayTemps { tmin_c: lo, tmax_c: hi }
            } else {
                DayTemps { tmin_c: f64::NAN, tmax_c: f64::NAN }
            }
        })
        .collect();
    Ok((Spring { days, stage_days: sink.stage_days }, name))
}

pub fn run(args: BloomEvalArgs) -> anyhow::Result<()> {
    if args.seeds < 3 || args.fit_seasons == 0 || args.fit_seasons >= args.seeds as usize {
        bail!("need --seeds of at least 3 and 0 < --fit-seasons < --seeds");
    }
    // One site, one peony plot, nothing else: the rest of Heze is not needed for a spring.
    let mut scenario = Scenario::load(&args.scenario)?;
    super::farm_only(&mut scenario, super::Keep::OnePlot);
    if scenario.sites.is_empty() {
        bail!("scenario {} has no peony plot", args.scenario);
    }
    scenario.climate.seasonal_anomaly_sd_c = args.seasonal_anomaly_sd;
    let truth_base = scenario.peony.base_temp_c;
    let bar = crate::commands::progress(args.seeds, "simulating springs");
    let mut springs = Vec::new();
    let mut plot = String::new();
    for seed in 1..=args.seeds {
        let (spring, name) = simulate(&scenario, seed, args.year)?;
        plot = name;
        springs.push(spring);
        bar.inc(1);
    }
    bar.finish_and_clear();

    let crop = CropTable::built_in().get("peony").cloned().context("no peony in the crop table")?;
    let default = Phenology::of_crop(&crop);
    let fitted_stages: Vec<String> = FITTED.iter().map(|(s, _)| s.to_string()).collect();
    let season_of = |s: &Spring| Season {
        days: s.days.clone(),
        observed: FITTED
            .iter()
            .filter_map(|(name, code)| Some((name.to_string(), *s.stage_days.get(&(*code as u8))?)))
            .collect(),
    };
    let n = springs.len();
    // scores[issue][stage]
    let mut scores: Vec<Vec<Score>> =
        ISSUES.iter().map(|_| SCORED.iter().map(|_| Score::default()).collect()).collect();
    let mut bases = Vec::new();
    for k in 0..n {
        let past: Vec<Season> = (1..=args.fit_seasons).map(|back| season_of(&springs[(k + n - back) % n])).collect();
        let phenology = match bloom::fit(&past, DegreeDayMethod::SingleSine, &fitted_stages) {
            Some(fit) => {
                bases.push(fit.phenology.base_c);
                fit.phenology
            }
            None => default.clone(),
        };
        let members: Vec<Vec<DayTemps>> = (0..n).filter(|j| *j != k).map(|j| springs[j].days.clone()).collect();
        for (i, (_, issue)) in ISSUES.iter().enumerate() {
            let forecast = bloom::forecast(&phenology, &springs[k].days, *issue, &[], &members);
            for (s, (stage, code)) in SCORED.iter().enumerate() {
                let Some(truth) = springs[k].stage_days.get(&(*code as u8)).copied() else { continue };
                let Some(f) = forecast.iter().find(|f| f.stage == *stage) else { continue };
                let Some(p50) = f.p50 else { continue };
                let slot = &mut scores[i][s];
                slot.errors.push((p50 as f64 - truth as f64).abs());
                if f.p10.is_some_and(|lo| lo <= truth) && f.p90.is_some_and(|hi| truth <= hi) {
                    slot.inside += 1;
                }
                let others: Vec<f64> = (0..n)
                    .filter(|j| *j != k)
                    .filter_map(|j| springs[j].stage_days.get(&(*code as u8)).map(|d| *d as f64))
                    .collect();
                if !others.is_empty() {
                    let naive = (others.iter().sum::<f64>() / others.len() as f64).round();
                    slot.naive_errors.push((naive - truth as f64).abs());
                }
            }
        }
    }
    let mean = |v: &[f64]| if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 };
    println!(
        "\nPeony stage dates, {} simulated springs of {} ({}, seeds 1–{}, year-to-year sd {} °C); phenology \
         fitted on the {} seasons before each, the others as ensemble members",
        n, plot, args.year, args.seeds, args.seasonal_anomaly_sd, args.fit_seasons
    );
    println!("{:<10} {:<12} {:>12} {:>12} {:>14}", "issued", "stage", "MAE (days)", "naive MAE", "in P10–P90");
    let mut rows = Vec::new();
    for (i, (issue, _)) in ISSUES.iter().enumerate() {
        for (s, (stage, _)) in SCORED.iter().enumerate() {
            let Score { errors: forecast, naive_errors: naive, inside } = &scores[i][s];
            println!(
                "{:<10} {:<12} {:>12.1} {:>12.1} {:>10}/{:<3}",
                issue,
                stage,
                mean(forecast),
                mean(naive),
                inside,
                forecast.len()
            );
            rows.push(
                json!({"issued": issue, "stage": stage, "mae_days": mean(forecast), "naive_mae_days": mean(naive),
                             "inside_p10_p90": inside, "seasons": forecast.len()}),
            );
        }
    }
    let (lo, hi) = bases.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(*x), b.max(*x)));
    println!(
        "fitted base temperature: mean {:.2} °C (from {lo:.2} to {hi:.2}) over {} fits; the simulator's is {truth_base} °C",
        mean(&bases),
        bases.len()
    );
    if let Some(path) = &args.json {
        let body = json!({"seeds": args.seeds, "year": args.year, "plot": plot, "rows": rows,
                          "seasonal_anomaly_sd_c": args.seasonal_anomaly_sd,
                          "fitted_bases": bases, "simulator_base_c": truth_base});
        std::fs::write(path, serde_json::to_vec_pretty(&body)?)?;
    }
    Ok(())
}
