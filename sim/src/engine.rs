//! [`Simulation`]: builds every model from a scenario and steps them one minute at a time.
//!
//! Each step: extend the fault plan and the regional weather ahead of the clock (the NWP
//! horizon needs the truth 72 h ahead), issue and publish NWP forecasts, then for each site
//! (in scenario order) derive the site's weather and run its met station, wind farm, PV plant,
//! plots and traps, which hand their readings through the fault plan to the sink. Events that
//! have ended become ground truth: planned faults as planned, and what the models saw
//! (icing, frost nights, drought stress, pest influxes) as it happened.

use std::collections::VecDeque;

use super::faults::{Candidate, FaultKind, FaultPlan, GroundTruth, PlanContext, candidate_fields};
use super::met::MetStationSim;
use super::nwp::{self, Issue, NwpFeed};
use super::peony::PlotSim;
use super::pests::TrapSim;
use super::pv::PvPlantSim;
use super::scenario::Scenario;
use super::weather::{ClimateModel, RegionalWeather, SiteWeather, WeatherBuffer, WeatherEvent};
use super::wind::WindFarmSim;
use super::{DeviceInfo, Error, Kind, Row, RowSink, Value, rfc3339};
use fieldline_core::time::SECS_PER_DAY;

const STEP_S: i64 = 60;
/// Length of the fault-planning windows after the first.
const PLAN_WINDOW_S: i64 = 30 * SECS_PER_DAY;
/// A drought starts only where the normal daily mean temperature is at least this (°C).
const DROUGHT_MIN_MEAN_TEMP_C: f64 = 8.0;

/// How to run a scenario.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub seed: u64,
    /// First simulated instant (unix seconds; rounded down to a whole minute).
    pub start: i64,
    /// End of a run of fixed length: the first fault-planning window covers `[start, end)`
    /// and, with `faults.ensure_each_kind`, holds every kind. `None` for open-ended runs.
    pub end: Option<i64>,
    /// `false` overrides the scenario and injects no faults.
    pub faults: bool,
}

/// Passes readings through the fault plan to the sink.
pub struct Emit<'a> {
    pub devices: &'a [DeviceInfo],
    pub plan: &'a mut FaultPlan,
    pub sink: &'a mut dyn RowSink,
    pub rows: u64,
}

impl Emit<'_> {
    /// Emits a reading of `device` at `ts` unless a fault silences it.
    pub fn row(&mut self, device: usize, ts: i64, values: &mut [Value]) -> Result<(), Error> {
        if !self.plan.apply(self.devices, device, ts, values) {
            return Ok(());
        }
        self.rows += 1;
        self.sink.row(self.devices, &Row { device, ts, issued: None, values })
    }
}

#[derive(Debug)]
struct SiteSim {
    weather: SiteWeather,
    met: Option<MetStationSim>,
    wind: Option<WindFarmSim>,
    pv: Option<PvPlantSim>,
    plots: Vec<PlotSim>,
    traps: Vec<TrapSim>,
}

/// A running simulation.
#[derive(Debug)]
pub struct Simulation {
    scenario: Scenario,
    devices: Vec<DeviceInfo>,
    seed: u64,
    utc_offset_s: i64,
    clock: i64,
    weather: WeatherBuffer,
    climate: ClimateModel,
    sites: Vec<SiteSim>,
    feeds: Vec<NwpFeed>,
    pending: VecDeque<Issue>,
    plan: FaultPlan,
    candidates: Vec<Candidate>,
    planned_until: i64,
    lookahead_s: i64,
    history_s: i64,
    finished: Vec<GroundTruth>,
    rows: u64,
}

impl Simulation {
    pub fn new(scenario: &Scenario, options: &SimOptions) -> Result<Simulation, Error> {
        let utc_offset_s = scenario.utc_offset_s().map_err(Error::Scenario)?;
        let seed = options.seed;
        let start = options.start - options.start.rem_euclid(STEP_S);
        if let Some(end) = options.end
            && end <= start
        {
            return Err(Error::Options("the run must end after it starts".into()));
        }
        let faults_on = options.faults && scenario.faults.enabled;
        let climate = ClimateModel::new(&scenario.climate, scenario.latitude);
        let nwp_model = &scenario.nwp;
        let timing_s = (nwp_model.timing_error_max_hours.max(0.0) * 3600.0).ceil() as i64;
        let horizon_s = i64::from(nwp_model.horizon_hours) * 3600;
        let delay_s = i64::from(nwp_model.delay_minutes) * 60;
        let lookahead_s = horizon_s + timing_s + 3600;
        let history_s = timing_s + 3600;

        let mut devices = Vec::new();
        let mut sites = Vec::new();
        let mut feeds = Vec::new();
        let mut plots = Vec::new();
        let add = |devices: &mut Vec<DeviceInfo>,
                   site: &str,
                   device: &str,
                   kind: Kind,
                   tags: Vec<(String, String)>,
                   cadence_s: i64| {
            devices.push(DeviceInfo { site: site.into(), device: device.into(), kind, tags, cadence_s });
            devices.len() - 1
        };
        for site in &scenario.sites {
            let lat = site.latitude.unwrap_or(scenario.latitude);
            let lon = site.longitude.unwrap_or(scenario.longitude);
            let alt = site.altitude_m.unwrap_or(scenario.altitude_m);
            let name = site.name.as_str();
            let met = site.met_station.as_ref().map(|m| {
                let device = add(&mut devices, name, &m.device, Kind::MetStation, Vec::new(), STEP_S);
                MetStationSim::new(seed, name, device, site.pv_plant.as_ref())
            });
            if let Some(n) = &site.nwp {
                let issue_s = i64::from(nwp_model.issue_every_hours) * 3600;
                let device = add(&mut devices, name, &n.device, Kind::Nwp, Vec::new(), issue_s);
                feeds.push(NwpFeed {
                    device,
                    site: name.to_string(),
                    latitude: lat,
                    longitude: lon,
                    altitude_m: alt,
                    reference_altitude_m: scenario.altitude_m,
                    temp_offset_c: site.temp_offset_c,
                    wind_exposure: site.wind_exposure,
                });
            }
            let wind = site.wind_farm.as_ref().map(|farm| {
                let turbines: Vec<usize> = (1..=farm.turbines)
                    .map(|i| {
                        add(
                            &mut devices,
                            name,
                            &format!("{}{i:02}", farm.device_prefix),
                            Kind::WindTurbine,
                            Vec::new(),
                            STEP_S,
                        )
                    })
                    .collect();
                let meter = add(&mut devices, name, &farm.meter_device, Kind::Plant, Vec::new(), STEP_S);
                WindFarmSim::new(farm, seed, name, &turbines, meter, faults_on && scenario.faults.icing)
            });
            let pv = site.pv_plant.as_ref().map(|plant| {
                let inverters: Vec<usize> = (1..=plant.inverters)
                    .map(|i| {
                        add(
                            &mut devices,
                            name,
                            &format!("{}{i:02}", plant.device_prefix),
                            Kind::PvInverter,
                            Vec::new(),
                            STEP_S,
                        )
                    })
                    .collect();
                let meter = add(&mut devices, name, &plant.meter_device, Kind::Plant, Vec::new(), STEP_S);
                PvPlantSim::new(plant, seed, name, &inverters, meter)
            });
            let mut site_plots = Vec::new();
            for plot in &site.plots {
                let device = add(
                    &mut devices,
                    name,
                    &plot.device,
                    Kind::PeonyPlot,
                    Vec::new(),
                    i64::from(plot.cadence_minutes) * 60,
                );
                plots.push(device);
                site_plots.push(PlotSim::new(
                    plot,
                    &scenario.peony,
                    &climate,
                    seed,
                    name,
                    device,
                    (lat, lon, alt),
                    utc_offset_s,
                    start,
                ));
            }
            let mut traps = Vec::new();
            for trap in &site.traps {
                let Some(species) = scenario.species.iter().find(|s| s.name == trap.species) else {
                    return Err(Error::Scenario(format!("trap {}: unknown species {}", trap.device, trap.species)));
                };
                let tags = vec![
                    ("species".to_string(), species.name.clone()),
                    ("trap_type".to_string(), trap.trap_type.as_str().to_string()),
                ];
                let device = add(&mut devices, name, &trap.device, Kind::PestTrap, tags, 3600);
                traps.push(TrapSim::new(trap, species, &climate, seed, name, device, utc_offset_s, start));
            }
            let weather = SiteWeather::new(
                seed,
                name,
                lat,
                lon,
                alt,
                scenario.altitude_m,
                site.temp_offset_c,
                site.wind_exposure,
                STEP_S as f64,
            );
            sites.push(SiteSim { weather, met, wind, pv, plots: site_plots, traps });
        }

        let candidates = build_candidates(scenario, &devices, faults_on);
        let device_count = devices.len();
        let frost = (faults_on && scenario.faults.frost_night && !plots.is_empty()).then_some(&scenario.peony);
        let weather_start = start - horizon_s - delay_s - history_s - 3600;
        let weather_start = weather_start - weather_start.rem_euclid(STEP_S);
        let mut generator = RegionalWeather::new(scenario, utc_offset_s, seed, weather_start, STEP_S, frost);
        if faults_on && scenario.faults.icing {
            generator.enable_fog_spells(seed, scenario.faults.icing_spells_per_winter, &scenario.faults.icing_months);
            if let Some(end) = options.end
                && scenario.faults.ensure_each_kind
            {
                generator.ensure_fog_spell(start, end);
            }
        }
        let mut sim = Simulation {
            scenario: scenario.clone(),
            devices,
            seed,
            utc_offset_s,
            clock: start,
            weather: WeatherBuffer::new(generator),
            climate,
            sites,
            feeds,
            pending: VecDeque::new(),
            plan: FaultPlan::new(seed, device_count),
            candidates,
            planned_until: start,
            lookahead_s,
            history_s,
            finished: Vec::new(),
            rows: 0,
        };
        let first_end = options.end.unwrap_or(start + PLAN_WINDOW_S);
        sim.plan_window(start, first_end, options.end.is_some() && scenario.faults.ensure_each_kind);
        sim.prepare(start);

        // Forecasts issued before the start whose horizon reaches into the run.
        let issue_s = i64::from(nwp_model.issue_every_hours) * 3600;
        let first_issue = start - horizon_s - delay_s;
        let mut issued = first_issue - first_issue.rem_euclid(issue_s) + issue_s;
        while issued < start {
            sim.issue_forecasts(issued)?;
            issued += issue_s;
        }
        Ok(sim)
    }

    /// All devices, in the order readings are emitted within a step.
    pub fn devices(&self) -> &[DeviceInfo] {
        &self.devices
    }

    /// Index of `site/device`.
    pub fn device_index(&self, site: &str, device: &str) -> Option<usize> {
        self.devices.iter().position(|d| d.site == site && d.device == device)
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The next instant to be simulated.
    pub fn clock(&self) -> i64 {
        self.clock
    }

    /// Readings emitted so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The events planned or observed so far (tests, reports).
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Plans `[w0, w1)` and hands its drought windows to the weather.
    fn plan_window(&mut self, w0: i64, w1: i64, ensure: bool) {
        let climate = &self.climate;
        let longitude = self.scenario.longitude;
        let normal_temp = |t: i64| climate.normal_temperature(t, longitude);
        let ctx = PlanContext {
            devices: &self.devices,
            candidates: &self.candidates,
            utc_offset_s: self.utc_offset_s,
            normal_temp: &normal_temp,
        };
        let droughts = self.plan.plan_window(&ctx, w0, w1, ensure);
        for (s, e) in droughts {
            self.weather.generator_mut().add_drought(s, e);
        }
        self.planned_until = w1;
    }

    /// Makes sure plan and weather reach `t + lookahead`.
    fn prepare(&mut self, t: i64) {
        let horizon = t + self.lookahead_s;
        while self.planned_until <= horizon {
            let w0 = self.planned_until;
            self.plan_window(w0, w0 + PLAN_WINDOW_S, false);
        }
        self.weather.fill_to(horizon);
        for event in self.weather.generator_mut().take_events() {
            match event {
                WeatherEvent::FrostNight { start, end, min_target_c, cooling_c } => {
                    // The plots report the frost they feel; they name the forcing.
                    let forcing = format!(
                        "the scenario's forced radiative frost night (clear, calm, cooled by about {cooling_c:.1} °C toward {min_target_c:.0} °C)"
                    );
                    for plot in self.sites.iter_mut().flat_map(|s| s.plots.iter_mut()) {
                        plot.forced_frost(start, end, &forcing);
                    }
                }
            }
        }
    }

    fn issue_forecasts(&mut self, issued: i64) -> Result<(), Error> {
        for feed in &self.feeds {
            let issue = nwp::forecast(&self.scenario.nwp, &self.climate, feed, self.seed, issued, &self.weather)?;
            self.pending.push_back(issue);
        }
        Ok(())
    }

    /// Simulates the minute at [`Simulation::clock`] and advances it.
    pub fn step(&mut self, sink: &mut dyn RowSink) -> Result<(), Error> {
        let t = self.clock;
        self.prepare(t);
        let issue_s = i64::from(self.scenario.nwp.issue_every_hours) * 3600;
        if t.rem_euclid(issue_s) == 0 {
            self.issue_forecasts(t)?;
        }
        let regional =
            *self.weather.at(t).ok_or_else(|| Error::Options(format!("internal: no weather at {}", rfc3339(t))))?;
        let mut emit = Emit { devices: &self.devices, plan: &mut self.plan, sink, rows: 0 };
        while self.pending.front().is_some_and(|issue| issue.published <= t) {
            let Some(issue) = self.pending.pop_front() else { break };
            if emit.plan.active(issue.device, FaultKind::Dropout, issue.published).is_some() {
                continue;
            }
            for (valid, values) in &issue.rows {
                emit.rows += 1;
                emit.sink
                    .row(emit.devices, &Row { device: issue.device, ts: *valid, issued: Some(issue.issued), values })?;
            }
        }
        for site in &mut self.sites {
            let state = site.weather.step(&regional, &self.climate);
            if let Some(met) = site.met.as_mut() {
                met.step(&state, &mut emit)?;
            }
            if let Some(wind) = site.wind.as_mut() {
                wind.step(&state, &mut emit)?;
            }
            if let Some(pv) = site.pv.as_mut() {
                pv.step(&state, &mut emit)?;
            }
            for plot in &mut site.plots {
                plot.step(&state, &mut emit)?;
            }
            for trap in &mut site.traps {
                trap.step(&state, &mut emit)?;
            }
        }
        self.rows += emit.rows;
        self.weather.forget_before(t - self.history_s);
        self.clock = t + STEP_S;
        let done = self.plan.finished(&self.devices, self.clock);
        self.finished.extend(done);
        Ok(())
    }

    /// Steps until the clock reaches `end`.
    pub fn run_until(&mut self, end: i64, sink: &mut dyn RowSink) -> Result<(), Error> {
        while self.clock < end {
            self.step(sink)?;
        }
        Ok(())
    }

    /// Ground truth of the events that have ended since the last call.
    pub fn take_ground_truth(&mut self) -> Vec<GroundTruth> {
        std::mem::take(&mut self.finished)
    }

    /// Ends the run at the clock: closes open weather events and returns the ground truth of
    /// every event not yet taken, windows clipped to the run.
    pub fn finish(&mut self) -> Vec<GroundTruth> {
        let end = self.clock;
        for site in &mut self.sites {
            if let Some(wind) = site.wind.as_mut() {
                wind.close_open_events(end, &mut self.plan);
            }
            for plot in &mut site.plots {
                plot.close_open_events(end, &mut self.plan);
            }
            for trap in &mut site.traps {
                trap.close_open_events(end, &mut self.plan);
            }
        }
        let mut out = std::mem::take(&mut self.finished);
        out.extend(self.plan.flush(&self.devices, end));
        out
    }
}

/// Who may get which event, from the scenario's rates.
fn build_candidates(scenario: &Scenario, devices: &[DeviceInfo], faults_on: bool) -> Vec<Candidate> {
    let f = &scenario.faults;
    let mut out = Vec::new();
    let one = |kind: FaultKind, device: usize, rate: f64, solar: bool| Candidate {
        kind,
        devices: vec![device],
        rate_per_30_days: rate,
        min_night_temp_c: None,
        min_mean_temp_c: None,
        solar,
        label: devices.get(device).map_or_else(String::new, DeviceInfo::path),
    };
    for (i, d) in devices.iter().enumerate() {
        if faults_on {
            for (kind, rate) in [(FaultKind::Stuck, f.stuck), (FaultKind::Spike, f.spike), (FaultKind::Drift, f.drift)]
            {
                if !candidate_fields(kind, d.kind).is_empty() {
                    out.push(one(kind, i, rate, false));
                }
            }
            out.push(one(FaultKind::Dropout, i, f.dropout, false));
            match d.kind {
                Kind::WindTurbine => out.push(one(FaultKind::PitchFault, i, f.pitch_fault, false)),
                Kind::PvInverter => {
                    out.push(one(FaultKind::InverterOutage, i, f.inverter_outage, false));
                    out.push(one(FaultKind::StringOutage, i, f.string_outage, false));
                    out.push(one(FaultKind::Soiling, i, f.soiling, false));
                }
                _ => {}
            }
        }
        let site = scenario.sites.iter().find(|s| s.name == d.site);
        if d.kind == Kind::WindTurbine
            && let Some(farm) = site.and_then(|s| s.wind_farm.as_ref())
        {
            out.push(one(FaultKind::TurbineOutage, i, farm.outages_per_30_days, false));
        }
        if d.kind == Kind::Plant {
            if let Some(farm) = site.and_then(|s| s.wind_farm.as_ref()) {
                out.push(one(FaultKind::Curtailment, i, farm.curtailment_per_30_days, false));
            }
            if let Some(plant) = site.and_then(|s| s.pv_plant.as_ref()) {
                out.push(one(FaultKind::Curtailment, i, plant.curtailment_per_30_days, true));
            }
        }
    }
    if faults_on {
        for species in &scenario.species {
            let traps: Vec<usize> = devices
                .iter()
                .enumerate()
                .filter(|(_, d)| {
                    d.kind == Kind::PestTrap && d.tags.iter().any(|(k, v)| k == "species" && *v == species.name)
                })
                .map(|(i, _)| i)
                .collect();
            if !traps.is_empty() {
                out.push(Candidate {
                    kind: FaultKind::PestOutbreak,
                    devices: traps,
                    rate_per_30_days: f.pest_outbreak,
                    min_night_temp_c: Some(species.flight_min_temp_c + 2.0),
                    min_mean_temp_c: None,
                    solar: false,
                    label: species.name.clone(),
                });
            }
        }
        let plots: Vec<usize> =
            devices.iter().enumerate().filter(|(_, d)| d.kind == Kind::PeonyPlot).map(|(i, _)| i).collect();
        if !plots.is_empty() {
            out.push(Candidate {
                kind: FaultKind::Drought,
                devices: plots,
                rate_per_30_days: f.drought,
                min_night_temp_c: None,
                // Dormant plants in cold soil use almost no water: a dry spell then stresses
                // nothing. Droughts come in the growing season.
                min_mean_temp_c: Some(DROUGHT_MIN_MEAN_TEMP_C),
                solar: false,
                label: "region".into(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Collected, OwnedRow};
    use fieldline_analytics::solar;
    use proptest::prelude::*;

    /// 2026-04-01T00:00:00+08:00.
    const APRIL_1: i64 = 1_774_972_800;

    fn run(start: i64, days: i64, faults: bool) -> (Simulation, Vec<OwnedRow>) {
        let scenario = Scenario::load("heze").unwrap();
        let end = start + days * SECS_PER_DAY;
        let mut sim = Simulation::new(&scenario, &SimOptions { seed: 11, start, end: Some(end), faults }).unwrap();
        let mut rows = Collected::default();
        sim.run_until(end, &mut rows).unwrap();
        (sim, rows.rows)
    }

    fn num(row: &OwnedRow, kind: Kind, field: &str) -> f64 {
        row.values[kind.field_index(field).unwrap()].as_f64().unwrap()
    }

    /// A TOML number: any float (NaN and infinities in TOML spelling), any integer, 0 or −1.
    fn toml_number() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<f64>().prop_map(|v| match v {
                v if v.is_nan() => "nan".to_string(),
                v if v.is_infinite() => if v < 0.0 { "-inf" } else { "inf" }.to_string(),
                v => format!("{v:?}"),
            }),
            any::<i32>().prop_map(|v| v.to_string()),
            Just("0".to_string()),
            Just("-1".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Any value in any numeric key of the scenario is either refused with an error or
        /// simulated without a panic.
        #[test]
        fn no_scenario_value_panics_the_simulator(line_pick in 0usize..1000, value in toml_number()) {
            let text = crate::scenario::HEZE_TOML;
            let numeric: Vec<&str> = text
                .lines()
                .filter(|l| {
                    l.split_once(" = ").is_some_and(|(k, v)| {
                        !k.starts_with('#') && v.trim_start().starts_with(|c: char| c.is_ascii_digit() || c == '-')
                    })
                })
                .collect();
            let line = numeric[line_pick % numeric.len()];
            let (key, _) = line.split_once(" = ").unwrap();
            let changed = text.replacen(line, &format!("{key} = {value}"), 1);
            if let Ok(scenario) = Scenario::from_toml(&changed, "proptest") {
                let options = SimOptions { seed: 1, start: APRIL_1, end: Some(APRIL_1 + 3600), faults: true };
                if let Ok(mut sim) = Simulation::new(&scenario, &options) {
                    let mut rows = Collected::default();
                    for _ in 0..3 {
                        let _ = sim.step(&mut rows);
                    }
                }
            }
        }
    }

    #[test]
    fn pv_is_zero_at_night_and_peaks_within_30_minutes_of_solar_noon_on_clear_days() {
        let (sim, rows) = run(APRIL_1, 8, false);
        let plant = sim.device_index("heze-pv", "plant").unwrap();
        let met = sim.device_index("heze-pv", "met").unwrap();
        let site = sim.scenario().sites.iter().find(|s| s.name == "heze-pv").unwrap();
        let (lat, lon, alt) = (site.latitude.unwrap(), site.longitude.unwrap(), site.altitude_m.unwrap());
        let model = ClimateModel::new(&sim.scenario().climate, sim.scenario().latitude);
        let mut clear_days = 0;
        for day in 0..8 {
            let day_start = APRIL_1 + day * SECS_PER_DAY;
            let in_day = |r: &&OwnedRow| r.ts >= day_start && r.ts < day_start + SECS_PER_DAY;
            let power: Vec<(i64, f64)> = rows
                .iter()
                .filter(|r| r.device == plant)
                .filter(in_day)
                .map(|r| (r.ts, num(r, Kind::Plant, "power_mw")))
                .collect();
            // Night (sun more than 1° below the horizon): exactly zero.
            for &(t, p) in &power {
                let sun = solar::position(t as f64, lat, lon, alt, 1010.0, 15.0);
                if sun.elevation_deg < -1.0 {
                    assert_eq!(p, 0.0, "PV power {p} MW at night, {}", rfc3339(t));
                }
            }
            // A clear day: measured GHI energy close to the clear-sky energy.
            let (mut measured, mut clear) = (0.0, 0.0);
            for r in rows.iter().filter(|r| r.device == met).filter(in_day) {
                let sun = solar::position_fast(r.ts as f64, lat, lon, 1010.0, 15.0);
                let doy = solar::day_of_year_utc(r.ts as f64).unwrap();
                let linke = model.linke.at(crate::weather::year_fraction(r.ts));
                clear += solar::clearsky_ineichen(sun.zenith_deg, alt, linke, doy).ghi;
                measured += num(r, Kind::MetStation, "ghi_wm2").max(0.0);
            }
            if measured < 0.9 * clear {
                continue;
            }
            clear_days += 1;
            let noon = (day_start..day_start + SECS_PER_DAY)
                .step_by(60)
                .min_by(|a, b| {
                    let za = solar::position(*a as f64, lat, lon, alt, 1010.0, 15.0).zenith_deg;
                    let zb = solar::position(*b as f64, lat, lon, alt, 1010.0, 15.0).zenith_deg;
                    za.total_cmp(&zb)
                })
                .unwrap();
            // The peak, as the middle of the top of the curve (clipping makes a plateau).
            let max = power.iter().map(|p| p.1).fold(0.0, f64::max);
            let top: Vec<i64> = power.iter().filter(|p| p.1 >= 0.98 * max).map(|p| p.0).collect();
            let peak = (top[0] + top[top.len() - 1]) / 2;
            assert!((peak - noon).abs() <= 30 * 60, "peak at {} vs solar noon {}", rfc3339(peak), rfc3339(noon));
        }
        assert!(clear_days >= 2, "only {clear_days} clear days in the test period");
    }

    #[test]
    fn turbines_never_exceed_rating_and_follow_the_power_curve() {
        let (sim, rows) = run(APRIL_1, 3, false);
        let farm = sim.scenario().sites.iter().find_map(|s| s.wind_farm.clone()).unwrap();
        let curve = crate::wind::PowerCurve::new(&farm.power_curve_ms, &farm.power_curve_kw, farm.rated_kw);
        let status = Kind::WindTurbine.field_index("status").unwrap();
        let mut bins: Vec<(f64, usize)> = vec![(0.0, 0); 30];
        for row in rows.iter().filter(|r| sim.devices()[r.device].kind == Kind::WindTurbine) {
            let power = num(row, Kind::WindTurbine, "power_kw");
            assert!(power <= farm.rated_kw, "{power} kW above the rating");
            if row.values[status] == Value::Text("run") {
                let bin = num(row, Kind::WindTurbine, "wind_speed_ms").round() as usize;
                if let Some(b) = bins.get_mut(bin) {
                    b.0 += power;
                    b.1 += 1;
                }
            }
        }
        let mut checked = 0;
        for (speed, (sum, n)) in bins.iter().enumerate().skip(5).take(20) {
            if *n < 100 {
                continue;
            }
            let mean = sum / *n as f64;
            let expected = curve.power_kw(speed as f64);
            // Noise: anemometer calibration (±3 %), air density (±5 %), turbulence within a bin.
            assert!(
                (mean - expected).abs() < 0.12 * expected + 40.0,
                "at {speed} m/s mean {mean:.0} kW vs curve {expected:.0} kW"
            );
            checked += 1;
        }
        assert!(checked >= 5, "only {checked} wind-speed bins had data");
    }

    #[test]
    fn trap_counters_are_non_negative_and_only_drop_at_service() {
        let (sim, rows) = run(APRIL_1, 10, false);
        let offset = 8 * 3600;
        let mut last: Vec<Option<f64>> = vec![None; sim.devices().len()];
        let mut increases = 0;
        for row in rows.iter().filter(|r| sim.devices()[r.device].kind == Kind::PestTrap) {
            let count = num(row, Kind::PestTrap, "count");
            assert!(count >= 0.0 && count.fract() == 0.0, "count {count}");
            let device = &sim.devices()[row.device];
            let trap = sim.scenario().sites.iter().flat_map(|s| &s.traps).find(|t| t.device == device.device).unwrap();
            if let Some(previous) = last[row.device] {
                let local = row.ts + offset;
                let service = local.rem_euclid(SECS_PER_DAY) == i64::from(trap.service_hour_local) * 3600
                    && (local.div_euclid(SECS_PER_DAY) - i64::from(trap.service_day_offset))
                        .rem_euclid(i64::from(trap.service_every_days))
                        == 0;
                if count < previous {
                    assert!(
                        service,
                        "{} dropped from {previous} to {count} at {}, not a service time",
                        device.device,
                        rfc3339(row.ts)
                    );
                }
                if count > previous {
                    increases += 1;
                }
            }
            last[row.device] = Some(count);
        }
        assert!(increases > 10, "the traps caught almost nothing ({increases} increases)");
    }

    #[test]
    fn peony_soil_dries_during_a_drought_and_the_plant_meters_flag_curtailment() {
        let (sim, rows) = run(APRIL_1, 6, true);
        let end = APRIL_1 + 6 * SECS_PER_DAY;
        for event in sim.plan().events().iter().filter(|e| e.start < end) {
            let device = &sim.devices()[event.device];
            match event.kind {
                FaultKind::Drought => {
                    let vwc: Vec<f64> = rows
                        .iter()
                        .filter(|r| r.device == event.device && event.contains(r.ts))
                        .map(|r| num(r, Kind::PeonyPlot, "soil_vwc_pct"))
                        .collect();
                    let (first, last) =
                        (vwc[..6].iter().sum::<f64>() / 6.0, vwc[vwc.len() - 6..].iter().sum::<f64>() / 6.0);
                    assert!(
                        last < first - 1.0,
                        "{}: soil moisture {first:.1} → {last:.1} % in a drought",
                        device.device
                    );
                }
                FaultKind::Curtailment => {
                    let flags: Vec<bool> = rows
                        .iter()
                        .filter(|r| r.device == event.device && r.ts >= event.start - 600 && r.ts < event.end + 600)
                        .map(|r| r.values[Kind::Plant.field_index("curtailed").unwrap()] == Value::Bool(true))
                        .collect();
                    assert!(
                        flags.iter().any(|f| *f) && !flags[0] && !flags[flags.len() - 1],
                        "{}: curtailment flag",
                        device.path()
                    );
                }
                _ => {}
            }
        }
        assert!(
            sim.plan().events().iter().any(|e| e.kind == FaultKind::Drought && e.start < end),
            "no drought planned"
        );
    }
}
