//! `fieldline agro pest-eval`: the traps' warning levels against simulated outbreaks. Each
//! seed is one season (1 April to 31 October) of the scenario's pest traps with migrant
//! outbreaks planned by the simulator (and no other faults); the level is computed each trap
//! day from the counter as `GET /api/v1/farm/traps` computes it, and for every outbreak in the
//! ground truth the report gives the day the level first reached 3 relative to the outbreak's
//! first night (negative: before it), and how often level 3 or more was shown outside any
//! outbreak.
//!
//! It also scores the degree-day flight forecast (`Species::next_flight`, as the trap view
//! issues it): each season runs from 1 January with a met station at the traps' site; every
//! week from 1 April a forecast is issued from the catches and temperatures up to that day (the
//! days ahead: the other seasons' mean degree days, as past years in the store serve the trap
//! view), and its expected
//! peak is compared with the peak of the flight that came next, by lead time, beside the naive
//! forecast "the same flight's mean peak date in the other seasons".

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use clap::Args;
use fieldline_analytics::pests::{self, SpeciesTable, TrapType};
use fieldline_sim::{DeviceInfo, Kind, Row, RowSink, Scenario, SimOptions, Simulation};
use serde_json::json;

#[derive(Debug, Args)]
pub struct PestEvalArgs {
    /// Simulated seasons (seeds 1..=N).
    #[arg(long, default_value_t = 4)]
    seeds: u64,
    /// Year of the seasons.
    #[arg(long, default_value_t = 2025)]
    year: i32,
    /// Scenario: `heze` or a scenario TOML file (its pest traps are used).
    #[arg(long, default_value = "heze")]
    scenario: String,
    /// Year-to-year spread of temperature (°C, the simulator's `climate.seasonal_anomaly_sd_c`):
    /// without it every season's flights come on nearly the same dates.
    #[arg(long, default_value_t = 1.5)]
    seasonal_anomaly_sd: f64,
    /// Level that counts as a warning.
    #[arg(long, default_value_t = 3)]
    warning_level: u8,
    /// Also write the results as JSON to FILE.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
}

/// Trap days start at local noon (as the API's).
const TRAP_DAY_START_HOUR: u32 = 12;
/// An outbreak counts as warned if the level reached the warning level within this many days
/// either side of its first night.
const WINDOW_DAYS: i64 = 7;

/// Counter readings per trap device, and the met station's air temperature.
struct TrapSink {
    count: usize,
    air: usize,
    readings: BTreeMap<usize, Vec<(i64, f64)>>,
    air_temps: Vec<(i64, f64)>,
}

impl RowSink for TrapSink {
    fn row(&mut self, devices: &[DeviceInfo], row: &Row<'_>) -> Result<(), fieldline_sim::Error> {
        match devices.get(row.device).map(|d| d.kind) {
            Some(Kind::PestTrap) => {
                if let Some(count) = row.values.get(self.count).and_then(|v| v.as_f64()) {
                    self.readings.entry(row.device).or_default().push((row.ts, count));
                }
            }
            Some(Kind::MetStation) => {
                if let Some(t) = row.values.get(self.air).and_then(|v| v.as_f64()) {
                    self.air_temps.push((row.ts, t));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// One flight forecast against the flight that came: (species, index of that flight in its
/// season, lead in days, forecast error in days, within the early–late range).
struct FlightScore {
    species: String,
    flight: usize,
    season: u64,
    peak_doy: i64,
    lead: i64,
    error: i64,
    within: bool,
}

/// One trap's season: its daily catches and its site's daily air temperatures.
struct TrapSeason {
    seed: u64,
    species: String,
    daily: Vec<(i64, f64)>,
    temps: BTreeMap<time::Date, (f64, f64)>,
}

/// Lead-time buckets of the flight forecast table (days, inclusive).
const LEAD_BUCKETS: [(i64, i64); 3] = [(7, 13), (14, 27), (28, 56)];
/// A flight forecast is issued every this many days from 1 April.
const ISSUE_EVERY_DAYS: usize = 7;

pub fn run(args: PestEvalArgs) -> anyhow::Result<()> {
    if args.seeds == 0 || !(2..=5).contains(&args.warning_level) {
        bail!("need --seeds ≥ 1 and --warning-level 2..=5");
    }
    let mut scenario = Scenario::load(&args.scenario)?;
    super::farm_only(&mut scenario, super::Keep::Traps);
    if scenario.sites.is_empty() {
        bail!("scenario {} has no pest traps", args.scenario);
    }
    scenario.climate.seasonal_anomaly_sd_c = args.seasonal_anomaly_sd;
    // The traps' degree days come from a met station at their site (the first site's).
    scenario.sites[0].met_station = Some(fieldline_sim::scenario::DeviceName { device: "met".into() });
    // Outbreaks only: the other faults would test the detectors, not the levels.
    let f = &mut scenario.faults;
    (f.stuck, f.spike, f.dropout, f.drift, f.pitch_fault) = (0.0, 0.0, 0.0, 0.0, 0.0);
    (f.inverter_outage, f.string_outage, f.soiling, f.drought) = (0.0, 0.0, 0.0, 0.0);
    f.enabled = true;
    let offset = fieldline_core::time::parse_offset(&scenario.timezone)?;
    let offset_s = i64::from(offset.whole_seconds());
    // From 1 January for the degree days; levels and forecasts are scored from 1 April.
    let start = time::Date::from_calendar_date(args.year, time::Month::January, 1)?.midnight().assume_offset(offset);
    let scored_from =
        time::Date::from_calendar_date(args.year, time::Month::April, 1)?.midnight().assume_offset(offset);
    let scored_from_day = pests::trap_day(scored_from.unix_timestamp(), offset_s, TRAP_DAY_START_HOUR);
    let end = time::Date::from_calendar_date(args.year, time::Month::November, 1)?.midnight().assume_offset(offset);
    let table = SpeciesTable::built_in();
    let bar = crate::commands::progress(2 * args.seeds, "simulating seasons");
    let mut leads: Vec<i64> = Vec::new();
    let mut missed = 0usize;
    let mut trap_seasons: Vec<TrapSeason> = Vec::new();
    let (mut warning_days, mut false_warning_days, mut trap_days) = (0usize, 0usize, 0usize);
    // Each seed twice: with the planned outbreaks for the levels, without them for the flight
    // forecast (it forecasts the resident generations; a migrant influx is what levels are for).
    for (seed, outbreaks) in (1..=args.seeds).flat_map(|seed| [(seed, true), (seed, false)]) {
        let options =
            SimOptions { seed, start: start.unix_timestamp(), end: Some(end.unix_timestamp()), faults: outbreaks };
        let mut sim = Simulation::new(&scenario, &options)?;
        let devices = sim.devices().to_vec();
        let mut sink = TrapSink {
            count: Kind::PestTrap.field_index("count").context("pest_trap has no count")?,
            air: Kind::MetStation.field_index("air_temp_c").context("met_station has no air_temp_c")?,
            readings: BTreeMap::new(),
            air_temps: Vec::new(),
        };
        sim.run_until(end.unix_timestamp(), &mut sink)?;
        let truth = sim.finish();
        // Daily min/max air temperature by local date.
        let mut temps: BTreeMap<time::Date, (f64, f64)> = BTreeMap::new();
        for (t, v) in &sink.air_temps {
            // Simulator times are seconds.
            let day = fieldline_core::time::local_date(t.saturating_mul(1_000_000_000), offset);
            let e = temps.entry(day).or_insert((f64::INFINITY, f64::NEG_INFINITY));
            *e = (e.0.min(*v), e.1.max(*v));
        }
        for (device, readings) in &sink.readings {
            let info = &devices[*device];
            let tag = |key: &str| info.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
            let Some(name) = tag("species") else { continue };
            let Some(species) = table.get(name) else { continue };
            let trap = if tag("trap_type") == Some("pheromone") { TrapType::Pheromone } else { TrapType::Light };
            let daily: Vec<(i64, f64)> = pests::daily_catches(readings, offset_s, TRAP_DAY_START_HOUR);
            if !outbreaks {
                trap_seasons.push(TrapSeason { seed, species: name.to_string(), daily, temps: temps.clone() });
                continue;
            }
            let daily: Vec<(i64, f64)> = daily.into_iter().filter(|(day, _)| *day >= scored_from_day).collect();
            let catches: Vec<f64> = daily.iter().map(|(_, c)| *c).collect();
            // The level shown each trap day, from the days up to it.
            let levels: Vec<(i64, u8)> = daily
                .iter()
                .enumerate()
                .map(|(i, (day, _))| {
                    (*day, species.level(pests::recent_mean(&catches[..=i], species.level_window_days), trap))
                })
                .collect();
            // Outbreak nights of this trap, as trap days.
            let outbreaks: Vec<(i64, i64)> = truth
                .iter()
                .filter(|g| g.kind == "pest_outbreak" && g.device == info.path())
                .filter_map(|g| {
                    let parse = |s: &str| fieldline_core::time::parse_time(s, 0, offset).ok();
                    let (from, to) = (parse(&g.start)?, parse(&g.end)?);
                    let day = |ns: i64| pests::trap_day(ns / 1_000_000_000, offset_s, TRAP_DAY_START_HOUR);
                    Some((day(from), day(to)))
                })
                .collect();
            for &(first, _) in &outbreaks {
                let warned = levels
                    .iter()
                    .find(|(day, level)| (day - first).abs() <= WINDOW_DAYS && *level >= args.warning_level)
                    .map(|(day, _)| day - first);
                match warned {
                    Some(lead) => leads.push(lead),
                    None => missed += 1,
                }
            }
            for (day, level) in &levels {
                trap_days += 1;
                if *level >= args.warning_level {
                    warning_days += 1;
                    let near = outbreaks.iter().any(|(a, b)| *day >= a - WINDOW_DAYS && *day <= b + WINDOW_DAYS);
                    if !near {
                        false_warning_days += 1;
                    }
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    leads.sort_unstable();
    let median = leads.get(leads.len() / 2).copied();
    let early = leads.iter().filter(|l| **l < 0).count();
    println!(
        "\nPest warning levels against simulated outbreaks: {} seasons (1 April – 31 October {}, seasonal anomaly sd {} °C), level ≥ {}",
        args.seeds, args.year, args.seasonal_anomaly_sd, args.warning_level
    );
    println!(
        "outbreaks: {} warned within ±{WINDOW_DAYS} days, {missed} not; day the level reached {} relative to the first \
         outbreak night: median {}, {early} before it, range {} to {}",
        leads.len(),
        args.warning_level,
        median.map_or("—".into(), |m| format!("{m:+}")),
        leads.first().map_or("—".into(), |l| format!("{l:+}")),
        leads.last().map_or("—".into(), |l| format!("{l:+}")),
    );
    println!(
        "trap days at level ≥ {}: {warning_days} of {trap_days}; {false_warning_days} of them more than {WINDOW_DAYS} days \
         from any outbreak (normal flights)",
        args.warning_level
    );
    let mut flight_scores: Vec<FlightScore> = Vec::new();
    // One site's temperatures per season; the other seasons' are the climate of the days ahead.
    let climate: BTreeMap<u64, &BTreeMap<time::Date, (f64, f64)>> =
        trap_seasons.iter().map(|t| (t.seed, &t.temps)).collect();
    for season in &trap_seasons {
        let Some(species) = table.get(&season.species) else { continue };
        let others: Vec<_> = climate.iter().filter(|(seed, _)| **seed != season.seed).map(|(_, t)| *t).collect();
        score_flight_forecasts(&season.species, species, season, &others, scored_from_day, &mut flight_scores);
    }
    let flight_table = report_flight_forecasts(&flight_scores);
    if let Some(path) = &args.json {
        let body = json!({"seeds": args.seeds, "year": args.year, "warning_level": args.warning_level,
            "lead_days": leads, "missed": missed, "warning_days": warning_days,
            "warning_days_away_from_outbreaks": false_warning_days, "trap_days": trap_days,
            "flight_forecast": flight_table});
        std::fs::write(path, serde_json::to_vec_pretty(&body)?)?;
    }
    Ok(())
}

/// Scores the flight forecasts of one trap's season: every `ISSUE_EVERY_DAYS` from
/// `scored_from_day`, the next flight's expected peak from what was known that day, against the
/// peak of the first flight (in the whole season's catches) after the last flight seen then.
fn score_flight_forecasts(
    name: &str,
    species: &pests::Species,
    season: &TrapSeason,
    others: &[&BTreeMap<time::Date, (f64, f64)>],
    scored_from_day: i64,
    out: &mut Vec<FlightScore>,
) {
    use fieldline_analytics::agronomy::{DegreeDayMethod, degree_days};
    let as_date = |day: i64| time::Date::from_julian_day(2_440_588 + day as i32).ok();
    let day_dd = |temps: &BTreeMap<time::Date, (f64, f64)>, day: i64| -> Option<f64> {
        let date = as_date(day)?;
        if u32::from(date.ordinal()) < species.arrival_doy.unwrap_or(1) {
            return Some(0.0);
        }
        let (lo, hi) = temps.get(&date)?;
        Some(degree_days(*lo, *hi, species.lower_c, Some(species.upper_c), DegreeDayMethod::SingleSine))
    };
    let daily = &season.daily;
    let dd: Vec<f64> = daily.iter().map(|(day, _)| day_dd(&season.temps, *day).unwrap_or(0.0)).collect();
    let catches: Vec<f64> = daily.iter().map(|(_, c)| *c).collect();
    let season_flights = pests::flights(&catches, 0.5, 5);
    let Some(first_scored) = daily.iter().position(|(day, _)| *day >= scored_from_day) else { return };
    for issue in (first_scored..daily.len()).step_by(ISSUE_EVERY_DAYS) {
        let seen = pests::flights(&catches[..=issue], 0.5, 5);
        let last_complete = seen.iter().rev().find(|f| f.complete).map(|f| f.peak);
        // The flight the forecast is about: the first after the last complete one seen.
        let cumulative = |day: usize| dd[..=day].iter().sum::<f64>();
        let Some((index, target)) = season_flights
            .iter()
            .enumerate()
            .find(|(_, f)| last_complete.is_none_or(|p| f.peak > p + 10) && species.is_generation(cumulative(f.peak)))
        else {
            continue;
        };
        if target.peak <= issue || !target.complete {
            continue;
        }
        // The days ahead: the other seasons' mean degree days of each day.
        let ahead: Vec<f64> = (1..=120)
            .map(|k| {
                let day = daily[issue].0 + k;
                let values: Vec<f64> = others.iter().filter_map(|t| day_dd(t, day)).collect();
                values.iter().sum::<f64>() / values.len().max(1) as f64
            })
            .collect();
        let forecast = species.next_flight(&dd[..=issue], last_complete, &ahead);
        let Some(peak) = forecast.peak else { continue };
        let within = forecast.early.is_some_and(|e| e <= target.peak) && forecast.late.is_none_or(|l| l >= target.peak);
        let peak_doy = as_date(daily[target.peak].0).map_or(0, |d| i64::from(d.ordinal()));
        out.push(FlightScore {
            species: name.to_string(),
            // Generations, not flights: strays before the first would shift the count.
            flight: season_flights[..index].iter().filter(|f| species.is_generation(cumulative(f.peak))).count(),
            season: season.seed,
            peak_doy,
            lead: (target.peak - issue) as i64,
            error: peak as i64 - target.peak as i64,
            within,
        });
    }
}

/// Prints the flight forecast's error by lead beside the naive forecast (the same species'
/// same flight's mean peak date in the other seasons), and returns it as JSON.
fn report_flight_forecasts(scores: &[FlightScore]) -> serde_json::Value {
    println!("\nDegree-day flight forecast (issued weekly from 1 April; peak of the next flight):");
    println!("{:<12} {:>5} {:>12} {:>12} {:>16}", "lead (days)", "n", "DD MAE (d)", "naive MAE", "within range");
    let mut rows = Vec::new();
    for (from, to) in LEAD_BUCKETS {
        let bucket: Vec<&FlightScore> = scores.iter().filter(|s| (from..=to).contains(&s.lead)).collect();
        if bucket.is_empty() {
            continue;
        }
        let mae = bucket.iter().map(|s| s.error.abs() as f64).sum::<f64>() / bucket.len() as f64;
        let naive: Vec<f64> = bucket
            .iter()
            .filter_map(|s| {
                let others: Vec<i64> = scores
                    .iter()
                    .filter(|o| o.species == s.species && o.flight == s.flight && o.season != s.season)
                    .map(|o| o.peak_doy)
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                if others.is_empty() {
                    return None;
                }
                let mean = others.iter().sum::<i64>() as f64 / others.len() as f64;
                Some((mean - s.peak_doy as f64).abs())
            })
            .collect();
        let naive_mae = if naive.is_empty() { f64::NAN } else { naive.iter().sum::<f64>() / naive.len() as f64 };
        let within = bucket.iter().filter(|s| s.within).count();
        println!(
            "{:<12} {:>5} {:>12.1} {:>12.1} {:>10} of {}",
            format!("{from}–{to}"),
            bucket.len(),
            mae,
            naive_mae,
            within,
            bucket.len()
        );
        rows.push(json!({"lead_from": from, "lead_to": to, "n": bucket.len(), "mae_days": mae,
                         "naive_mae_days": naive_mae, "within_range": within}));
    }
    serde_json::Value::Array(rows)
}
