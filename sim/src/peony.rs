//! A peony plot: root-zone water balance (rain, irrigation, FAO-56 ET = Kc·Ks·ET0 from the
//! hourly Penman–Monteith equation, drainage above field capacity), soil temperature at
//! 10 cm lagging the air, bulk soil EC following moisture, illuminance from GHI, and the
//! phenology stage advancing with growing degree days.
//!
//! Stage codes: 0 dormant, 1 bud break, 2 leaf expansion, 3 flower bud, 4 bloom,
//! 5 post-bloom, 6 senescence. Degree days accumulate from 1 January (single sine above
//! `peony.base_temp_c`); thresholds are scaled by the plot's cultivar factor. Leaves senesce
//! once the 7-day mean temperature falls below `senescence_mean_temp_c` late in the year and
//! the plant goes dormant below `dormancy_mean_temp_c`.
//!
//! A plot reports two kinds of ground truth from its own readings. `frost_night`: every
//! night (local noon to noon) on which a reading of the air is at or below 0 °C while the
//! plot is in a frost-sensitive stage (`peony.frost_sensitive_stages`), from the first such
//! reading to one reporting interval after the last. `drought`: during a planned drought
//! spell, the water stress it causes — true soil moisture below the FAO-56 stress point
//! `fc − p·(fc − wp)` (p = 0.5, where the crop starts to close its stomata) — from the first
//! stressed reading to the first reading after water has brought the soil back above it.

use std::collections::VecDeque;

use rand::rngs::StdRng;

use fieldline_analytics::agronomy::{self, DegreeDayMethod, HourlyWeather};
use fieldline_analytics::solar;

use super::engine::Emit;
use super::faults::{FaultKind, FaultPlan};
use super::random::{normal, round_to, stream};
use super::scenario::{Phenology, Plot};
use super::weather::{ClimateModel, SiteState, rh_from_dewpoint, year_fraction};
use super::{Error, Value};
use fieldline_core::time::SECS_PER_DAY;

/// Time constant of the 10 cm soil temperature's response to air temperature (s).
const SOIL_TEMP_TAU_S: f64 = 6.0 * 3600.0;
/// Drainage time constant above field capacity (s).
const DRAINAGE_TAU_S: f64 = 1.5 * 86_400.0;
/// FAO-56 depletion fraction p before water stress.
const STRESS_FRACTION: f64 = 0.5;
/// Illuminance per W/m² of daylight (luminous efficacy, lm/W).
const LUX_PER_WM2: f64 = 110.0;
/// Irrigation runs over this many minutes.
const IRRIGATION_MINUTES: f64 = 180.0;
/// Rain per gauge tip (mm).
const TIP_MM: f64 = 0.2;
/// Air at or below this (°C) kills swollen flower buds.
const FROST_C: f64 = 0.0;

/// A frost night being watched: its ground-truth handle, the night, the last reading at or
/// below 0 °C, and the night's minimum.
#[derive(Debug, Clone, Copy)]
struct FrostWatch {
    handle: usize,
    night: i64,
    last_cold: i64,
    min_c: f64,
}

/// Phenology state, advanced once a day.
#[derive(Debug, Clone)]
pub struct PhenologyState {
    config: Phenology,
    factor: f64,
    pub gdd: f64,
    pub stage: u8,
    season_done: bool,
    recent_means: VecDeque<f64>,
}

impl PhenologyState {
    pub fn new(config: &Phenology, factor: f64) -> Self {
        PhenologyState {
            config: config.clone(),
            factor,
            gdd: 0.0,
            stage: 0,
            season_done: false,
            recent_means: VecDeque::new(),
        }
    }

    /// One finished local day with its extremes; `doy` is the day's day of year.
    pub fn day(&mut self, doy: u32, tmin: f64, tmax: f64) {
        if doy == 1 {
            self.gdd = 0.0;
            self.stage = 0;
            self.season_done = false;
        }
        let dd = agronomy::degree_days(tmin, tmax, self.config.base_temp_c, None, DegreeDayMethod::SingleSine);
        if dd.is_finite() {
            self.gdd += dd;
        }
        self.recent_means.push_back((tmin + tmax) / 2.0);
        if self.recent_means.len() > 7 {
            self.recent_means.pop_front();
        }
        let mean7 = self.recent_means.iter().sum::<f64>() / self.recent_means.len().max(1) as f64;
        let c = &self.config;
        let thresholds = [c.bud_break_gdd, c.leaf_expansion_gdd, c.flower_bud_gdd, c.bloom_gdd, c.post_bloom_gdd];
        if !self.season_done && self.stage < 5 {
            let reached = thresholds.iter().filter(|th| self.gdd >= **th * self.factor).count() as u8;
            self.stage = self.stage.max(reached);
        }
        if self.stage == 5 && doy >= c.senescence_after_doy && mean7 < c.senescence_mean_temp_c {
            self.stage = 6;
        } else if self.stage == 6 && mean7 < c.dormancy_mean_temp_c {
            self.stage = 0;
            self.season_done = true;
        }
    }

    pub fn crop_coefficient(&self) -> f64 {
        self.config.crop_coefficient.get(usize::from(self.stage)).copied().unwrap_or(0.5)
    }
}

/// A simulated peony plot.
#[derive(Debug)]
pub struct PlotSim {
    device: usize,
    config: Plot,
    rng: StdRng,
    latitude: f64,
    longitude: f64,
    altitude_m: f64,
    utc_offset_s: i64,
    pub phenology: PhenologyState,
    /// Volumetric water content (fraction).
    theta: f64,
    soil_temp_c: f64,
    day_index: i64,
    day_min: f64,
    day_max: f64,
    /// Crop ET of the current hour (mm/min), from the previous hour's weather.
    et_mm_per_min: f64,
    hour: HourSums,
    irrigation_left_mm: f64,
    irrigation_mm_per_min: f64,
    rain_since_report_mm: f64,
    gauge_mm: f64,
    values: Vec<Value>,
    frost: Option<FrostWatch>,
    /// The scenario's forced frost night, and how to describe it.
    forced_frost: Option<(i64, i64, String)>,
    /// Ground-truth handle of the water stress under way.
    stress: Option<usize>,
}

#[derive(Debug, Default, Clone, Copy)]
struct HourSums {
    temp: f64,
    rh: f64,
    wind2: f64,
    radiation_mj: f64,
    minutes: u32,
}

impl PlotSim {
    #[allow(clippy::too_many_arguments)] // a plot's fixed description and the run's start
    pub fn new(
        config: &Plot,
        phenology: &Phenology,
        climate: &ClimateModel,
        seed: u64,
        site: &str,
        device: usize,
        (latitude, longitude, altitude_m): (f64, f64, f64),
        utc_offset_s: i64,
        start: i64,
    ) -> Self {
        let mut pheno = PhenologyState::new(phenology, config.gdd_factor);
        // Spin-up: the days from 1 January to the start under the normals.
        let local_day = (start + utc_offset_s).div_euclid(SECS_PER_DAY);
        let doy_start = solar::day_of_year_utc((local_day * SECS_PER_DAY) as f64).unwrap_or(1);
        for back in (1..doy_start).rev() {
            let day_t = local_day * SECS_PER_DAY - utc_offset_s - i64::from(back) * SECS_PER_DAY + SECS_PER_DAY / 2;
            let x = year_fraction(day_t);
            let (mean, half) = (climate.temp_mean.at(x) + config.temp_offset_c, climate.half_range.at(x));
            pheno.day(doy_start - back, mean - half, mean + half);
        }
        let fc = config.field_capacity_pct / 100.0;
        let wp = config.wilting_point_pct / 100.0;
        let soil_temp_c = climate.temp_mean.at(year_fraction(start)) + config.temp_offset_c;
        PlotSim {
            device,
            config: config.clone(),
            rng: stream(seed, &format!("device/{site}/{}", config.device)),
            latitude,
            longitude,
            altitude_m,
            utc_offset_s,
            phenology: pheno,
            theta: fc - 0.3 * (fc - wp),
            soil_temp_c,
            day_index: local_day,
            day_min: f64::INFINITY,
            day_max: f64::NEG_INFINITY,
            et_mm_per_min: 0.0,
            hour: HourSums::default(),
            irrigation_left_mm: 0.0,
            irrigation_mm_per_min: 0.0,
            rain_since_report_mm: 0.0,
            gauge_mm: 0.0,
            values: Vec::with_capacity(8),
            frost: None,
            forced_frost: None,
            stress: None,
        }
    }

    /// The weather forces a frost night over `[start, end)`; `description` names it.
    pub fn forced_frost(&mut self, start: i64, end: i64, description: &str) {
        self.forced_frost = Some((start, end, description.to_string()));
    }

    /// Soil moisture (%) below which the crop is water-stressed (FAO-56: Ks < 1).
    fn stress_point_pct(&self) -> f64 {
        let (fc, wp) = (self.config.field_capacity_pct, self.config.wilting_point_pct);
        fc - STRESS_FRACTION * (fc - wp)
    }

    /// Ground truth of frost: opens, extends or closes this night's frost from a reading
    /// (the air temperature as reported, before any sensor fault).
    fn watch_frost(&mut self, t: i64, air_temp_c: f64, plan: &mut FaultPlan) {
        let cadence = i64::from(self.config.cadence_minutes) * 60;
        let night = (t + self.utc_offset_s - SECS_PER_DAY / 2).div_euclid(SECS_PER_DAY);
        if let Some(frost) = self.frost.filter(|f| f.night != night) {
            plan.close(frost.handle, frost.last_cold + cadence, &format!("; minimum {:.1} °C", frost.min_c));
            self.frost = None;
        }
        let stage = self.phenology.stage;
        if air_temp_c > FROST_C || !self.phenology.config.frost_sensitive_stages.contains(&stage) {
            return;
        }
        match self.frost.as_mut() {
            Some(frost) => {
                frost.last_cold = t;
                frost.min_c = frost.min_c.min(air_temp_c);
            }
            None => {
                let forced = self.forced_frost.as_ref().filter(|(s, e, _)| t >= *s && t < *e);
                let cause = forced.map_or_else(|| "a natural radiative frost".to_string(), |(_, _, d)| d.clone());
                let description = format!(
                    "air at or below 0 °C with the peony in stage {stage} (frost-sensitive flower buds): {cause}"
                );
                let field = super::Kind::PeonyPlot.field_index("air_temp_c");
                let handle = plan.open(FaultKind::FrostNight, self.device, field, t, 0.0, description);
                self.frost = Some(FrostWatch { handle, night, last_cold: t, min_c: air_temp_c });
            }
        }
    }

    /// Ground truth of drought stress: opens when a planned drought has dried the soil below
    /// the stress point, closes when water brings it back.
    fn watch_stress(&mut self, t: i64, drought: bool, plan: &mut FaultPlan) {
        let moisture = self.theta * 100.0;
        let stressed = moisture < self.stress_point_pct();
        match self.stress {
            None if stressed && drought => {
                let description = format!(
                    "drought spell (no rain, dry air, no irrigation water): soil moisture below the stress point of {:.1} %",
                    self.stress_point_pct()
                );
                let field = super::Kind::PeonyPlot.field_index("soil_vwc_pct");
                self.stress = Some(plan.open(FaultKind::Drought, self.device, field, t, 0.0, description));
            }
            Some(handle) if !stressed => {
                plan.close(handle, t, "; water back");
                self.stress = None;
            }
            _ => {}
        }
    }

    /// Ends open ground-truth events at `t` (end of run).
    pub fn close_open_events(&mut self, t: i64, plan: &mut FaultPlan) {
        if let Some(frost) = self.frost.take() {
            let cadence = i64::from(self.config.cadence_minutes) * 60;
            plan.close(frost.handle, (frost.last_cold + cadence).min(t), &format!("; minimum {:.1} °C", frost.min_c));
        }
        if let Some(handle) = self.stress.take() {
            plan.close(handle, t, "; still stressed when the run ended");
        }
    }

    /// One minute at `site` weather; reports on the plot's cadence.
    pub fn step(&mut self, site: &SiteState, emit: &mut Emit<'_>) -> Result<(), Error> {
        let t = site.t;
        let air_temp = site.temp_c + self.config.temp_offset_c + 0.15 * normal(&mut self.rng);
        let air_rh = rh_from_dewpoint(air_temp, site.dewpoint_c);
        let drought = emit.plan.active(self.device, FaultKind::Drought, t).is_some();

        // Phenology, once per local day.
        let day = (t + self.utc_offset_s).div_euclid(SECS_PER_DAY);
        if day != self.day_index {
            if self.day_min.is_finite() {
                let doy = solar::day_of_year_utc((self.day_index * SECS_PER_DAY) as f64).unwrap_or(1);
                self.phenology.day(doy, self.day_min, self.day_max);
            }
            self.day_index = day;
            self.day_min = f64::INFINITY;
            self.day_max = f64::NEG_INFINITY;
        }
        self.day_min = self.day_min.min(air_temp);
        self.day_max = self.day_max.max(air_temp);

        // Crop ET: each hour's rate comes from the previous hour's weather.
        self.hour.temp += air_temp;
        self.hour.rh += air_rh;
        self.hour.wind2 += agronomy::wind_2m(site.wind_at(10.0), 10.0);
        self.hour.radiation_mj += site.ghi.max(0.0) * 60.0 / 1e6;
        self.hour.minutes += 1;
        if t.rem_euclid(3600) == 0 && self.hour.minutes > 0 {
            self.et_mm_per_min = self.crop_et_mm(t) / 60.0;
            self.hour = HourSums::default();
        }

        // Irrigation: checked each morning; no water during a drought.
        let local_seconds = (t + self.utc_offset_s).rem_euclid(SECS_PER_DAY);
        if self.config.irrigation
            && !drought
            && local_seconds == i64::from(self.config.irrigation_hour_local) * 3600
            && self.phenology.stage != 0
        {
            let (fc, wp) = (self.config.field_capacity_pct / 100.0, self.config.wilting_point_pct / 100.0);
            let depletion = (fc - self.theta) / (fc - wp);
            if depletion >= self.config.irrigation_trigger {
                self.irrigation_left_mm = self.config.irrigation_mm;
                self.irrigation_mm_per_min = self.config.irrigation_mm / IRRIGATION_MINUTES;
            }
        }
        let irrigation = if drought { 0.0 } else { self.irrigation_mm_per_min.min(self.irrigation_left_mm) };
        self.irrigation_left_mm -= irrigation;

        // Water balance of the root zone (mm).
        let root = self.config.root_depth_mm;
        let (fc, sat) = (self.config.field_capacity_pct / 100.0, self.config.saturation_pct / 100.0);
        let mut water = self.theta * root + site.rain_mm + irrigation - self.et_mm_per_min;
        let excess = water - fc * root;
        if excess > 0.0 {
            water -= excess * (1.0 - (-60.0 / DRAINAGE_TAU_S).exp());
        }
        let floor = 0.5 * self.config.wilting_point_pct / 100.0 * root;
        self.theta = water.clamp(floor, sat * root) / root;

        self.soil_temp_c += (air_temp - self.soil_temp_c) * (1.0 - (-60.0 / SOIL_TEMP_TAU_S).exp());
        self.rain_since_report_mm += site.rain_mm;

        let cadence = i64::from(self.config.cadence_minutes) * 60;
        if t.rem_euclid(cadence) != 0 {
            return Ok(());
        }
        self.gauge_mm += self.rain_since_report_mm;
        self.rain_since_report_mm = 0.0;
        let tips = (self.gauge_mm / TIP_MM).floor();
        self.gauge_mm -= tips * TIP_MM;
        let reported_air_temp = round_to(air_temp, 2);
        self.watch_frost(t, reported_air_temp, emit.plan);
        self.watch_stress(t, drought, emit.plan);
        let rng = &mut self.rng;
        let lux = if site.ghi > 0.0 { site.ghi * LUX_PER_WM2 * (1.0 + 0.02 * normal(rng)) } else { 0.0 };
        let pore_ec = self.config.pore_water_ec_ds_m * (fc / self.theta.max(0.01)).sqrt();
        let ec = 0.05 + pore_ec * (self.theta / sat).powf(1.5);
        self.values.clear();
        self.values.extend([
            Value::Num(reported_air_temp),
            Value::Num(round_to(air_rh, 1)),
            Value::Num(round_to(self.soil_temp_c + 0.05 * normal(rng), 2)),
            Value::Num(round_to((self.theta * 100.0 + 0.2 * normal(rng)).clamp(0.0, 100.0), 2)),
            Value::Num(round_to((ec * (1.0 + 0.01 * normal(rng))).max(0.0), 3)),
            Value::Num(lux.max(0.0).round().min(200_000.0)),
            Value::Num(round_to(tips * TIP_MM, 1)),
            Value::Num(f64::from(self.phenology.stage)),
        ]);
        emit.row(self.device, t, &mut self.values)
    }

    /// Crop evapotranspiration (mm) of the hour ending at `t`: Kc·Ks·ET0.
    fn crop_et_mm(&self, t: i64) -> f64 {
        let n = f64::from(self.hour.minutes.max(1));
        let mid = t - 1800;
        let weather = HourlyWeather {
            temp_c: self.hour.temp / n,
            rh_pct: (self.hour.rh / n).clamp(0.0, 100.0),
            wind_2m_ms: (self.hour.wind2 / n).max(0.0),
            solar_rad_mj_m2: self.hour.radiation_mj.max(0.0),
            latitude_deg: self.latitude,
            longitude_deg: self.longitude,
            elevation_m: self.altitude_m,
            day_of_year: solar::day_of_year_utc(mid as f64).unwrap_or(1),
            utc_hour_mid: mid.rem_euclid(SECS_PER_DAY) as f64 / 3600.0,
            night_relative_shortwave: 0.8,
        };
        let et0 = agronomy::et0_hourly(&weather);
        if !et0.is_finite() {
            return 0.0;
        }
        let (fc, wp) = (self.config.field_capacity_pct / 100.0, self.config.wilting_point_pct / 100.0);
        let total = (fc - wp) * self.config.root_depth_mm;
        let depletion = ((fc - self.theta) * self.config.root_depth_mm).max(0.0);
        let readily = STRESS_FRACTION * total;
        let ks = if depletion <= readily {
            1.0
        } else {
            ((total - depletion) / ((1.0 - STRESS_FRACTION) * total)).clamp(0.0, 1.0)
        };
        self.phenology.crop_coefficient() * ks * et0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_follow_degree_days_through_a_normal_year() {
        let scenario = crate::Scenario::load("heze").unwrap();
        let model = ClimateModel::new(&scenario.climate, scenario.latitude);
        let mut pheno = PhenologyState::new(&scenario.peony, 1.0);
        let mut first_day_of_stage = [None; 7];
        let jan1_local = 1_767_196_800; // 2026-01-01T00:00:00+08:00
        for d in 0..365u32 {
            let x = year_fraction(jan1_local + i64::from(d) * SECS_PER_DAY + SECS_PER_DAY / 2);
            let (mean, half) = (model.temp_mean.at(x), model.half_range.at(x));
            pheno.day(d + 1, mean - half, mean + half);
            let s = usize::from(pheno.stage);
            if first_day_of_stage[s].is_none() {
                first_day_of_stage[s] = Some(d + 1);
            }
        }
        let day = |s: usize| first_day_of_stage[s].unwrap();
        // Bud break in February, bloom in mid-April (Heze's peony festival), senescence in autumn.
        assert!((32..=60).contains(&day(1)), "bud break on day {}", day(1));
        assert!((95..=115).contains(&day(4)), "bloom on day {}", day(4));
        assert!(day(6) > 250, "senescence on day {}", day(6));
        assert_eq!(pheno.stage, 0, "dormant at the end of the year");
    }
}
