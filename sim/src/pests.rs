//! Pest traps: catches from a degree-day flight model and a camera trap's counter.
//!
//! Each species' degree days (single sine between its thresholds, from 1 January, or from
//! its arrival day for migrants that do not overwinter locally) place the flights of
//! successive generations: Gaussian pulses `generation_dd` apart, whose sizes vary from
//! generation to generation and year to year. A night's expected catch at a trap is the sum
//! of the pulses times the species' peak catch for the trap type, spread over the flight
//! hours (20:00–06:00 local) and throttled by the hour's temperature (no flight below the
//! species' minimum), rain and wind. Hourly catches are Poisson draws; the trap reports the
//! cumulative `count`, which returns to 0 when the trap is serviced.
//!
//! A planned outbreak (a migrant influx) adds moths to the same flight model, so it shows
//! only on nights warm, dry and calm enough to fly. Its ground truth is therefore each trap's
//! influx nights — those on which the migrants expected in the trap came to at least a
//! quarter of a full night's influx — from the first such night's first flight hour to the end of the
//! last one's.

use rand::rngs::StdRng;

use fieldline_analytics::agronomy::{self, DegreeDayMethod};
use fieldline_analytics::solar;

use super::engine::Emit;
use super::faults::{FaultKind, FaultPlan};
use super::random::{normal, poisson, stream};
use super::scenario::{Species, Trap, TrapType};
use super::weather::{ClimateModel, SiteState};
use super::{Error, Value};
use fieldline_core::time::SECS_PER_DAY;

/// Share of a night's flight in each local hour (index = hour the catch interval starts).
const FLIGHT_HOURS: [(u32, f64); 10] =
    [(20, 0.06), (21, 0.12), (22, 0.16), (23, 0.16), (0, 0.15), (1, 0.12), (2, 0.09), (3, 0.07), (4, 0.05), (5, 0.02)];
/// A night counts as an influx night when its expected migrant catch reached this share of a
/// full night's (warm, dry, calm).
const INFLUX_NIGHT_SHARE: f64 = 0.25;

/// The influx of a planned outbreak, night by night.
#[derive(Debug, Clone, Copy, Default)]
struct Influx {
    /// Expected migrants in the trap tonight, the full-night figure, and tonight's first
    /// flight hour with migrants (its start).
    tonight: f64,
    full_night: f64,
    tonight_from: Option<i64>,
    /// The ground truth of this outbreak at this trap, once a night counted, and the end of
    /// the last influx night's flight.
    handle: Option<usize>,
    last_end: i64,
    nights: u32,
}

/// A simulated trap.
#[derive(Debug)]
pub struct TrapSim {
    device: usize,
    config: Trap,
    species: Species,
    seed: u64,
    site: String,
    rng: StdRng,
    utc_offset_s: i64,
    /// Degree days of the species this season.
    dd: f64,
    generation_sizes: Vec<f64>,
    day_index: i64,
    day_min: f64,
    day_max: f64,
    hour_temp_sum: f64,
    hour_wind_sum: f64,
    hour_rain_mm: f64,
    hour_minutes: u32,
    count: u64,
    influx: Influx,
}

impl TrapSim {
    #[allow(clippy::too_many_arguments)] // a trap's fixed description and the run's start
    pub fn new(
        config: &Trap,
        species: &Species,
        climate: &ClimateModel,
        seed: u64,
        site: &str,
        device: usize,
        utc_offset_s: i64,
        start: i64,
    ) -> Self {
        let upper = Some(species.upper_c);
        let mut dd = climate.normal_degree_days(start, utc_offset_s, species.lower_c, upper);
        if let Some(arrival) = species.arrival_doy {
            let local_day = (start + utc_offset_s).div_euclid(SECS_PER_DAY);
            let doy = solar::day_of_year_utc((local_day * SECS_PER_DAY) as f64).unwrap_or(1);
            if doy <= arrival {
                dd = 0.0;
            } else {
                let arrival_t = start - i64::from(doy - arrival) * SECS_PER_DAY;
                dd -= climate.normal_degree_days(arrival_t, utc_offset_s, species.lower_c, upper);
            }
        }
        let local_day = (start + utc_offset_s).div_euclid(SECS_PER_DAY);
        let mut trap = TrapSim {
            device,
            config: config.clone(),
            species: species.clone(),
            seed,
            site: site.to_string(),
            rng: stream(seed, &format!("device/{site}/{}", config.device)),
            utc_offset_s,
            dd: dd.max(0.0),
            generation_sizes: Vec::new(),
            day_index: local_day,
            day_min: f64::INFINITY,
            day_max: f64::NEG_INFINITY,
            hour_temp_sum: 0.0,
            hour_wind_sum: 0.0,
            hour_rain_mm: 0.0,
            hour_minutes: 0,
            count: 0,
            influx: Influx::default(),
        };
        trap.draw_generations(start);
        trap
    }

    /// This season's generation sizes: the same for every trap of a species (the population
    /// is regional), different each year.
    fn draw_generations(&mut self, t: i64) {
        let local_day = (t + self.utc_offset_s).div_euclid(SECS_PER_DAY);
        // Days since the epoch of the year's 1 January − 1: one number per year.
        let year = local_day - i64::from(solar::day_of_year_utc((local_day * SECS_PER_DAY) as f64).unwrap_or(1));
        let mut rng = stream(self.seed, &format!("species/{}/{}/{year}", self.site, self.species.name));
        let n = self.species.generations.max(1);
        self.generation_sizes = (0..n)
            .map(|g| {
                let shape = 0.6 + 0.4 * (std::f64::consts::PI * (f64::from(g) + 0.5) / f64::from(n)).sin();
                shape * (0.35 * normal(&mut rng)).exp()
            })
            .collect();
    }

    /// Expected catch per night at the current degree days.
    pub fn nightly_expected(&self) -> f64 {
        let s = &self.species;
        let peak = match self.config.trap_type {
            TrapType::Light => s.peak_catch_light,
            TrapType::Pheromone => s.peak_catch_pheromone,
        };
        let sd = (s.flight_spread * s.generation_dd).max(1.0);
        let pulses: f64 = self
            .generation_sizes
            .iter()
            .enumerate()
            .map(|(g, size)| {
                let centre = s.first_flight_dd + g as f64 * s.generation_dd;
                size * (-0.5 * ((self.dd - centre) / sd).powi(2)).exp()
            })
            .sum();
        peak * pulses * self.config.efficiency
    }

    /// Is `t` (an hour boundary) a service time of this trap?
    pub fn is_service_time(&self, t: i64) -> bool {
        let local = t + self.utc_offset_s;
        let day = local.div_euclid(SECS_PER_DAY);
        local.rem_euclid(SECS_PER_DAY) == i64::from(self.config.service_hour_local) * 3600
            && (day - i64::from(self.config.service_day_offset))
                .rem_euclid(i64::from(self.config.service_every_days.max(1)))
                == 0
    }

    pub fn step(&mut self, site: &SiteState, emit: &mut Emit<'_>) -> Result<(), Error> {
        let t = site.t;
        let day = (t + self.utc_offset_s).div_euclid(SECS_PER_DAY);
        if day != self.day_index {
            self.finish_day(t);
            self.day_index = day;
        }
        self.day_min = self.day_min.min(site.temp_c);
        self.day_max = self.day_max.max(site.temp_c);
        self.hour_temp_sum += site.temp_c;
        self.hour_wind_sum += site.wind_at(10.0);
        self.hour_rain_mm += site.rain_mm;
        self.hour_minutes += 1;
        if t.rem_euclid(3600) != 0 {
            return Ok(());
        }

        // The catch of the hour that just ended.
        let local_hour = ((t - 3600 + self.utc_offset_s).rem_euclid(SECS_PER_DAY) / 3600) as u32;
        let share = FLIGHT_HOURS.iter().find(|(h, _)| *h == local_hour).map_or(0.0, |(_, w)| *w);
        if share > 0.0 && self.hour_minutes > 0 {
            let n = f64::from(self.hour_minutes);
            let temp = self.hour_temp_sum / n;
            let activity = ((temp - self.species.flight_min_temp_c) / 4.0).clamp(0.0, 1.0);
            let rain = if self.hour_rain_mm > 0.5 { 0.3 } else { 1.0 };
            let wind = if self.hour_wind_sum / n > 5.0 { 0.5 } else { 1.0 };
            let outbreak = emit.plan.active(self.device, FaultKind::PestOutbreak, t).map_or(0.0, |(_, e)| {
                e.magnitude
                    * if self.config.trap_type == TrapType::Pheromone { 0.6 } else { 1.0 }
                    * self.config.efficiency
            });
            let weather = activity * rain * wind;
            let expected = (self.nightly_expected() + outbreak) * share * weather;
            self.count += poisson(&mut self.rng, expected);
            if outbreak > 0.0 {
                self.influx.full_night = outbreak;
                self.influx.tonight += outbreak * share * weather;
                if outbreak * share * weather > 0.0 {
                    self.influx.tonight_from.get_or_insert(t - 3600);
                }
            }
        }
        // The night's flight is over at 06:00 local.
        if local_hour == 5 {
            self.end_of_night(t, emit);
        }
        self.hour_temp_sum = 0.0;
        self.hour_wind_sum = 0.0;
        self.hour_rain_mm = 0.0;
        self.hour_minutes = 0;

        if self.is_service_time(t) {
            self.count = 0;
        }
        let mut values = [Value::Num(self.count as f64)];
        emit.row(self.device, t, &mut values)
    }

    /// Counts tonight as an influx night or not; closes the outbreak's ground truth once the
    /// planned influx is over.
    fn end_of_night(&mut self, t: i64, emit: &mut Emit<'_>) {
        let influx = &mut self.influx;
        if influx.full_night > 0.0 && influx.tonight >= INFLUX_NIGHT_SHARE * influx.full_night {
            influx.nights += 1;
            influx.last_end = t;
            if influx.handle.is_none() {
                let from = influx.tonight_from.unwrap_or(t - 10 * 3600);
                let description = format!(
                    "migrant influx of about {:.0} {} a night at this trap, on nights warm, dry and calm enough to fly",
                    influx.full_night, self.species.name
                );
                let field = super::Kind::PestTrap.field_index("count");
                influx.handle =
                    Some(emit.plan.open(FaultKind::PestOutbreak, self.device, field, from, 0.0, description));
            }
        }
        influx.tonight = 0.0;
        influx.tonight_from = None;
        if emit.plan.active(self.device, FaultKind::PestOutbreak, t).is_none() {
            if let Some(handle) = influx.handle.take() {
                emit.plan.close(handle, influx.last_end, &format!("; {} influx nights", influx.nights));
            }
            *influx = Influx::default();
        }
    }

    /// Ends an open ground-truth event at `t` (end of run).
    pub fn close_open_events(&mut self, t: i64, plan: &mut FaultPlan) {
        if let Some(handle) = self.influx.handle.take() {
            plan.close(handle, self.influx.last_end.min(t), &format!("; {} influx nights so far", self.influx.nights));
        }
    }

    fn finish_day(&mut self, t: i64) {
        if self.day_min.is_finite() {
            let s = &self.species;
            let doy = solar::day_of_year_utc((self.day_index * SECS_PER_DAY) as f64).unwrap_or(1);
            let counting = s.arrival_doy.is_none_or(|arrival| doy >= arrival);
            let dd = agronomy::degree_days(
                self.day_min,
                self.day_max,
                s.lower_c,
                Some(s.upper_c),
                DegreeDayMethod::SingleSine,
            );
            if counting && dd.is_finite() {
                self.dd += dd;
            }
        }
        self.day_min = f64::INFINITY;
        self.day_max = f64::NEG_INFINITY;
        // A new season on 1 January.
        let new_doy = solar::day_of_year_utc(((t + self.utc_offset_s).div_euclid(SECS_PER_DAY) * SECS_PER_DAY) as f64)
            .unwrap_or(1);
        if new_doy == 1 {
            self.dd = 0.0;
            self.draw_generations(t);
        }
    }
}
