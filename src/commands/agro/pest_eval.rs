//! `fieldline agro pest-eval`: the traps' warning levels against simulated outbreaks. Each
//! seed is one season (1 April to 31 October) of the scenario's pest traps with migrant
//! outbreaks planned by the simulator (and no other faults); the level is computed each trap
//! day from the counter as `GET /api/v1/farm/traps` computes it, and for every outbreak in the
//! ground truth the report gives the day the level first reached 3 relative to the outbreak's
//! first night (negative: before it), and how often level 3 or more was shown outside any
//! outbreak.

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

/// Counter readings per trap device.
struct TrapSink {
    count: usize,
    readings: BTreeMap<usize, Vec<(i64, f64)>>,
}

impl RowSink for TrapSink {
    fn row(&mut self, devices: &[DeviceInfo], row: &Row<'_>) -> Result<(), fieldline_sim::Error> {
        if devices.get(row.device).is_some_and(|d| d.kind == Kind::PestTrap)
            && let Some(count) = row.values.get(self.count).and_then(|v| v.as_f64())
        {
            self.readings.entry(row.device).or_default().push((row.ts, count));
        }
        Ok(())
    }
}

pub fn run(args: PestEvalArgs) -> anyhow::Result<()> {
    if args.seeds == 0 || !(2..=5).contains(&args.warning_level) {
        bail!("need --seeds ≥ 1 and --warning-level 2..=5");
    }
    let mut scenario = Scenario::load(&args.scenario)?;
    super::farm_only(&mut scenario, super::Keep::Traps);
    if scenario.sites.is_empty() {
        bail!("scenario {} has no pest traps", args.scenario);
    }
    // Outbreaks only: the other faults would test the detectors, not the levels.
    let f = &mut scenario.faults;
    (f.stuck, f.spike, f.dropout, f.drift, f.pitch_fault) = (0.0, 0.0, 0.0, 0.0, 0.0);
    (f.inverter_outage, f.string_outage, f.soiling, f.drought) = (0.0, 0.0, 0.0, 0.0);
    f.enabled = true;
    let offset = fieldline_core::time::parse_offset(&scenario.timezone)?;
    let offset_s = i64::from(offset.whole_seconds());
    let start = time::Date::from_calendar_date(args.year, time::Month::April, 1)?.midnight().assume_offset(offset);
    let end = time::Date::from_calendar_date(args.year, time::Month::November, 1)?.midnight().assume_offset(offset);
    let table = SpeciesTable::built_in();
    let bar = crate::commands::progress(args.seeds, "simulating seasons");
    let mut leads: Vec<i64> = Vec::new();
    let mut missed = 0usize;
    let (mut warning_days, mut false_warning_days, mut trap_days) = (0usize, 0usize, 0usize);
    for seed in 1..=args.seeds {
        let options = SimOptions { seed, start: start.unix_timestamp(), end: Some(end.unix_timestamp()), faults: true };
        let mut sim = Simulation::new(&scenario, &options)?;
        let devices = sim.devices().to_vec();
        let mut sink = TrapSink {
            count: Kind::PestTrap.field_index("count").context("pest_trap has no count")?,
            readings: BTreeMap::new(),
        };
        sim.run_until(end.unix_timestamp(), &mut sink)?;
        let truth = sim.finish();
        for (device, readings) in &sink.readings {
            let info = &devices[*device];
            let tag = |key: &str| info.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
            let Some(species) = tag("species").and_then(|s| table.get(s)) else { continue };
            let trap = if tag("trap_type") == Some("pheromone") { TrapType::Pheromone } else { TrapType::Light };
            let daily = pests::daily_catches(readings, offset_s, TRAP_DAY_START_HOUR);
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
        "\nPest warning levels against simulated outbreaks: {} seasons (1 April – 31 October {}), level ≥ {}",
        args.seeds, args.year, args.warning_level
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
    if let Some(path) = &args.json {
        let body = json!({"seeds": args.seeds, "year": args.year, "warning_level": args.warning_level,
            "lead_days": leads, "missed": missed, "warning_days": warning_days,
            "warning_days_away_from_outbreaks": false_warning_days, "trap_days": trap_days});
        std::fs::write(path, serde_json::to_vec_pretty(&body)?)?;
    }
    Ok(())
}
