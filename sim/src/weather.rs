//! Weather, generated first and shared by every device: a regional generator
//! ([`RegionalWeather`]) driven by the scenario's monthly climate normals, and the per-site
//! minute-scale view of it ([`SiteWeather`]) with local offsets, turbulence and sunshine.
//!
//! The regional generator produces, at any step size:
//! - **temperature** = seasonal mean (a Fourier curve that reproduces the monthly means) + a
//!   synoptic anomaly (AR(1), τ = 2.5 d, high-passed by subtracting its 10-day running mean so
//!   monthly means stay on the normals) + optionally a slow anomaly that is not (AR(1),
//!   `climate.seasonal_anomaly_sd_c` over `seasonal_anomaly_days`: year-to-year spread, off by
//!   default) + cold fronts (warm sector, sharp drop, recovery over
//!   two days) + a diurnal cycle whose range follows the normals and shrinks under cloud;
//! - **humidity** from a dew-point depression fitted to the monthly RH normals;
//! - **pressure**: seasonal mean, AR(1) synoptic swings, the front's dip and rise, the
//!   semidiurnal tide;
//! - **wind at 100 m** from an AR(1) Gaussian mapped through Φ onto the month's Weibull
//!   distribution, a night-time maximum (low-level jet), post-frontal gusts; shear exponent
//!   α from stability (≈0.1 on sunny afternoons, ≈0.3 on calm clear nights); direction
//!   around the monsoon's prevailing direction, veering to north-west behind fronts;
//! - **cloud cover** (AR(1) with 8 h persistence, monthly mean from sunshine hours), rain
//!   events (rate and amounts from the precipitation normals, more likely at fronts).
//!
//! Forced events sit on top: a frost night (triggered once a year when the peony degree days
//! reach mid flower-bud: clear and calm, the air near the ground cooled below 0 °C — a
//! surface inversion the air at hub height does not share), drought spells (no rain, drier,
//! warmer, eased in and out over half a day) and, when icing is on, winter freezing-fog
//! spells: a few times a season, on a day one is due, the first hour with the air at
//! −6..+1 °C and at least 6 m/s of wind at 100 m starts 6–30 h of saturated air (fog or low
//! stratus, sometimes freezing drizzle) under an overcast sky, advected on a steady breeze
//! of 6.5–10 m/s at 100 m.

use rand::rngs::StdRng;
use rand_distr::{Distribution, Exp, Gamma};

use fieldline_analytics::agronomy::{DegreeDayMethod, daylight_hours, degree_days, saturation_vapour_pressure_kpa};
use fieldline_analytics::solar;

use super::random::{Ar1, normal_cdf, stream, uniform};
use super::scenario::{Climate, Monthly, Phenology, Scenario};
use fieldline_core::time::{SECS_PER_DAY, SECS_PER_HOUR};

/// An hour in seconds as a float, for the diurnal and frontal-passage shapes below.
const HOUR_SECS: f64 = SECS_PER_HOUR as f64;

/// Harmonics of the seasonal curves (4 of the 6 a 12-month series holds: smooth, and within
/// ~0.1 °C of the monthly means).
const HARMONICS: usize = 4;
/// Target minimum air temperature of a forced frost night (°C) and the safety margin below it.
const FROST_TARGET_C: f64 = -3.0;
const FROST_MARGIN_C: f64 = 1.0;
/// A freezing-fog spell starts only in air (2 m) within this range (°C) ...
const FOG_SPELL_TEMP_C: (f64, f64) = (-6.0, 1.0);
/// ... and with at least this wind at 100 m (m/s): icing weather in which rotors turn.
const FOG_SPELL_MIN_WIND_MS: f64 = 6.0;
/// Drought spells ease in and out over this long (s).
const DROUGHT_RAMP_S: f64 = 12.0 * 3_600.0;

/// A smooth annual cycle through twelve monthly means: a Fourier series whose monthly
/// averages (not mid-month values) equal the inputs, up to the dropped harmonics.
#[derive(Debug, Clone)]
pub struct SeasonalCurve {
    mean: f64,
    cos: [f64; HARMONICS],
    sin: [f64; HARMONICS],
}

impl SeasonalCurve {
    pub fn fit(monthly: &Monthly) -> Self {
        let mean = monthly.iter().sum::<f64>() / 12.0;
        let mut cos = [0.0; HARMONICS];
        let mut sin = [0.0; HARMONICS];
        for k in 1..=HARMONICS {
            let kf = k as f64;
            // Averaging cos(kωt) over a month multiplies it by sinc(πk/12); divide it back out.
            let x = std::f64::consts::PI * kf / 12.0;
            let sinc = x.sin() / x;
            let (mut a, mut b) = (0.0, 0.0);
            for (m, v) in monthly.iter().enumerate() {
                let phase = std::f64::consts::TAU * kf * (m as f64 + 0.5) / 12.0;
                a += v * phase.cos();
                b += v * phase.sin();
            }
            cos[k - 1] = a * 2.0 / 12.0 / sinc;
            sin[k - 1] = b * 2.0 / 12.0 / sinc;
        }
        SeasonalCurve { mean, cos, sin }
    }

    /// Value at `year_fraction` (0 = 1 January 00:00, 1 = the next one).
    pub fn at(&self, year_fraction: f64) -> f64 {
        let mut v = self.mean;
        for k in 0..HARMONICS {
            let phase = std::f64::consts::TAU * (k + 1) as f64 * year_fraction;
            let (s, c) = phase.sin_cos();
            v += self.cos[k] * c + self.sin[k] * s;
        }
        v
    }
}

/// Fraction of the (UTC) year elapsed at `t`.
pub fn year_fraction(t: i64) -> f64 {
    let doy = solar::day_of_year_utc(t as f64).unwrap_or(1);
    let seconds_of_day = t.rem_euclid(SECS_PER_DAY) as f64;
    ((f64::from(doy) - 1.0 + seconds_of_day / SECS_PER_DAY as f64) / 365.25).fract()
}

/// The normalised diurnal temperature shape by local solar hour: minimum near sunrise,
/// maximum mid-afternoon, zero mean, range 2 (so ±1 × half the daily range).
#[derive(Debug, Clone)]
struct DiurnalShape {
    hourly: [f64; 24],
}

impl DiurnalShape {
    fn new() -> Self {
        // A typical clear continental day (relative units), hours 0..23 solar time.
        let raw = [
            -0.55, -0.65, -0.74, -0.82, -0.89, -0.95, -1.0, -0.85, -0.55, -0.2, 0.15, 0.45, 0.7, 0.88, 0.98, 1.0, 0.92,
            0.75, 0.5, 0.25, 0.05, -0.12, -0.28, -0.42,
        ];
        let mean = raw.iter().sum::<f64>() / 24.0;
        let max = raw.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = raw.iter().copied().fold(f64::INFINITY, f64::min);
        let half_range = (max - min) / 2.0;
        let mut hourly = [0.0; 24];
        for (h, v) in raw.iter().enumerate() {
            hourly[h] = (v - mean) / half_range;
        }
        DiurnalShape { hourly }
    }

    fn at(&self, solar_hour: f64) -> f64 {
        let h = solar_hour.rem_euclid(24.0);
        let i = h.floor() as usize % 24;
        let frac = h - h.floor();
        self.hourly[i] * (1.0 - frac) + self.hourly[(i + 1) % 24] * frac
    }

    fn min(&self) -> f64 {
        self.hourly.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// Magnus saturation vapour pressure (kPa), FAO-56 eq. 11.
fn es(t_c: f64) -> f64 {
    saturation_vapour_pressure_kpa(t_c)
}

/// Dew point (°C) of vapour pressure `e_kpa` (inverse of eq. 11).
fn dewpoint_from_vapour_pressure(e_kpa: f64) -> f64 {
    let x = (e_kpa.max(1e-6) / 0.6108).ln();
    237.3 * x / (17.27 - x)
}

/// Relative humidity (%) of air at `t_c` with dew point `td_c`.
pub fn rh_from_dewpoint(t_c: f64, td_c: f64) -> f64 {
    (100.0 * es(td_c) / es(t_c)).clamp(3.0, 100.0)
}

/// The climate normals turned into smooth seasonal curves and derived generator inputs.
#[derive(Debug, Clone)]
pub struct ClimateModel {
    pub temp_mean: SeasonalCurve,
    pub half_range: SeasonalCurve,
    rain_events_per_day: SeasonalCurve,
    rain_event_mm: SeasonalCurve,
    dew_depression: SeasonalCurve,
    pub cloud_mean: SeasonalCurve,
    pressure: SeasonalCurve,
    wind_c: SeasonalCurve,
    wind_k: f64,
    dir_sin: SeasonalCurve,
    dir_cos: SeasonalCurve,
    pub linke: SeasonalCurve,
    front_interval_days: SeasonalCurve,
    front_drop: SeasonalCurve,
    anomaly_sd: SeasonalCurve,
    shape: DiurnalShape,
}

/// Share of rain events started by fronts rather than by the background process.
const FRONT_RAIN_PROBABILITY: f64 = 0.4;

impl ClimateModel {
    pub fn new(climate: &Climate, latitude: f64) -> Self {
        let shape = DiurnalShape::new();
        let month_days = [31.0, 28.25, 31.0, 30.0, 31.0, 30.0, 31.0, 31.0, 30.0, 31.0, 30.0, 31.0];
        let mid_doy = [16, 46, 75, 105, 136, 166, 197, 228, 258, 289, 319, 350];
        let mut half_range = [0.0; 12];
        let mut events_per_day = [0.0; 12];
        let mut event_mm = [0.0; 12];
        let mut depression = [0.0; 12];
        let mut cloud = [0.0; 12];
        let mut dir_sin = [0.0; 12];
        let mut dir_cos = [0.0; 12];
        for m in 0..12 {
            half_range[m] = (climate.temp_max_c[m] - climate.temp_min_c[m]) / 2.0;
            // Events spanning midnight wet two days; ~15 % do.
            let events = climate.precip_days[m] * 0.85;
            events_per_day[m] = events / month_days[m];
            event_mm[m] = if events > 0.0 { climate.precip_mm[m] / events } else { 0.0 };
            depression[m] = solve_dew_depression(climate.temp_mean_c[m], half_range[m], climate.rh_pct[m], &shape);
            let possible = daylight_hours(latitude, mid_doy[m]) * month_days[m];
            cloud[m] = (1.0 - climate.sunshine_hours[m] / possible.max(1.0)).clamp(0.1, 0.9);
            let (s, c) = climate.wind_dir_prevailing_deg[m].to_radians().sin_cos();
            dir_sin[m] = s;
            dir_cos[m] = c;
        }
        let front_interval = climate.front_interval_days;
        let mut background_events = [0.0; 12];
        for m in 0..12 {
            // Fronts bring some of the month's rain events; the rest arrive on their own.
            background_events[m] =
                (events_per_day[m] - FRONT_RAIN_PROBABILITY / front_interval[m]).max(events_per_day[m] * 0.2);
        }
        ClimateModel {
            temp_mean: SeasonalCurve::fit(&climate.temp_mean_c),
            half_range: SeasonalCurve::fit(&half_range),
            rain_events_per_day: SeasonalCurve::fit(&background_events),
            rain_event_mm: SeasonalCurve::fit(&event_mm),
            dew_depression: SeasonalCurve::fit(&depression),
            cloud_mean: SeasonalCurve::fit(&cloud),
            pressure: SeasonalCurve::fit(&climate.pressure_hpa),
            wind_c: SeasonalCurve::fit(&climate.wind_weibull_c_100m),
            wind_k: climate.wind_weibull_k,
            dir_sin: SeasonalCurve::fit(&dir_sin),
            dir_cos: SeasonalCurve::fit(&dir_cos),
            linke: SeasonalCurve::fit(&climate.linke_turbidity),
            front_interval_days: SeasonalCurve::fit(&climate.front_interval_days),
            front_drop: SeasonalCurve::fit(&climate.front_drop_c),
            anomaly_sd: SeasonalCurve::fit(&climate.temp_anomaly_sd_c),
            shape,
        }
    }

    /// Degree days accumulated from 1 January of `t`'s local year to the start of `t`'s local
    /// day, had every day followed the normals (the spin-up of phenology and pest models).
    pub fn normal_degree_days(&self, t: i64, utc_offset_s: i64, base_c: f64, upper_c: Option<f64>) -> f64 {
        let local_day = (t + utc_offset_s).div_euclid(SECS_PER_DAY);
        let local_midnight_utc = local_day * SECS_PER_DAY - utc_offset_s;
        let doy = solar::day_of_year_utc((local_day * SECS_PER_DAY) as f64).unwrap_or(1);
        let mut acc = 0.0;
        for back in (1..doy).rev() {
            let day_t = local_midnight_utc - i64::from(back) * SECS_PER_DAY + SECS_PER_DAY / 2;
            let x = year_fraction(day_t);
            let (mean, half) = (self.temp_mean.at(x), self.half_range.at(x));
            let dd = degree_days(mean - half, mean + half, base_c, upper_c, DegreeDayMethod::SingleSine);
            if dd.is_finite() {
                acc += dd;
            }
        }
        acc
    }

    /// Expected air temperature (°C) at `t` under the normals (no weather), for spin-up.
    pub fn normal_temperature(&self, t: i64, longitude: f64) -> f64 {
        let x = year_fraction(t);
        self.temp_mean.at(x) + self.half_range.at(x) * self.shape.at(solar_hour(t, longitude))
    }
}

/// Dew-point depression (below the daily mean temperature) that gives the month's mean RH
/// over a typical diurnal cycle.
fn solve_dew_depression(mean_c: f64, half_range: f64, rh_pct: f64, shape: &DiurnalShape) -> f64 {
    let mean_rh = |depression: f64| {
        let td = mean_c - depression;
        (0..24).map(|h| rh_from_dewpoint(mean_c + half_range * shape.at(h as f64 + 0.5), td)).sum::<f64>() / 24.0
    };
    let (mut lo, mut hi) = (0.0, 30.0);
    for _ in 0..50 {
        let mid = (lo + hi) / 2.0;
        if mean_rh(mid) > rh_pct { lo = mid } else { hi = mid }
    }
    (lo + hi) / 2.0
}

/// Local solar hour at longitude `lon` (mean solar time; the equation of time is ignored).
pub fn solar_hour(t: i64, longitude: f64) -> f64 {
    ((t as f64 + longitude / 15.0 * HOUR_SECS).rem_euclid(SECS_PER_DAY as f64)) / HOUR_SECS
}

/// The regional weather at one instant: the truth every site and the NWP feed derive from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegionalState {
    pub t: i64,
    pub temp_c: f64,
    pub dewpoint_c: f64,
    pub rh_pct: f64,
    pub pressure_hpa: f64,
    pub wind100_ms: f64,
    pub wind_dir_deg: f64,
    pub shear_alpha: f64,
    /// Cloud cover, 0..1.
    pub cloud: f64,
    pub rain_mm_h: f64,
    /// Radiative cooling of the air near the ground (°C, ≥ 0): most of a stable night's
    /// diurnal cooling and all of a forced frost night's. A surface inversion: the air at hub
    /// height is this much warmer than `temp_c` and the lapse rate say.
    pub surface_cooling_c: f64,
    /// How far a freezing-fog spell is under way (0..1): fog or low stratus reaching above
    /// hub height. The humidity model is one of air near the ground; a cloud at 100 m is
    /// this weather type.
    pub fog: f64,
}

impl RegionalState {
    /// Wind speed at height `z_m` by the power law.
    pub fn wind_at(&self, z_m: f64) -> f64 {
        self.wind100_ms * (z_m.max(1.0) / 100.0).powf(self.shear_alpha)
    }
}

/// Cloud attenuation of clear-sky GHI, Kasten & Czeplak (1980).
pub fn cloud_transmission(cloud: f64) -> f64 {
    1.0 - 0.75 * cloud.clamp(0.0, 1.0).powf(3.4)
}

#[derive(Debug, Clone, Copy)]
struct Front {
    t: i64,
    drop_c: f64,
    wind_boost_ms: f64,
}

impl Front {
    /// Temperature effect (°C) at `tau` seconds after passage.
    fn temperature(&self, tau: f64) -> f64 {
        let d = self.drop_c;
        if tau < -24.0 * HOUR_SECS {
            0.0
        } else if tau < 0.0 {
            0.4 * d * (1.0 + tau / (24.0 * HOUR_SECS))
        } else {
            -d * (1.0 - (-tau / (2.0 * HOUR_SECS)).exp()) * (-tau / (48.0 * HOUR_SECS)).exp()
                + 0.4 * d * (-tau / (2.0 * HOUR_SECS)).exp()
        }
    }

    fn pressure(&self, tau: f64) -> f64 {
        let dp = 1.3 * self.drop_c;
        if tau < -24.0 * HOUR_SECS {
            0.0
        } else if tau < 0.0 {
            -0.25 * dp * (1.0 + tau / (24.0 * HOUR_SECS))
        } else {
            dp * (-0.25 + 1.25 * (1.0 - (-tau / (4.0 * HOUR_SECS)).exp())) * (-tau / (48.0 * HOUR_SECS)).exp()
        }
    }

    fn wind(&self, tau: f64) -> f64 {
        let x = (tau - 2.0 * HOUR_SECS) / (8.0 * HOUR_SECS);
        self.wind_boost_ms * (-x * x).exp()
    }

    /// Latent cloud boost: a band at the front, clearing behind it.
    fn cloud(&self, tau: f64) -> f64 {
        let band = 1.5 * (-(tau / (6.0 * HOUR_SECS)).powi(2)).exp();
        let clearing = if tau > 6.0 * HOUR_SECS && tau < 48.0 * HOUR_SECS {
            -0.8 * (-(tau - 6.0 * HOUR_SECS) / (24.0 * HOUR_SECS)).exp()
        } else {
            0.0
        };
        band + clearing
    }

    /// Extra dew-point depression behind the front (dry polar air).
    fn dryness(&self, tau: f64) -> f64 {
        if tau > 0.0 { 0.7 * self.drop_c * (-tau / (36.0 * HOUR_SECS)).exp() } else { 0.0 }
    }

    /// Direction the wind is pulled toward and how strongly (0..1).
    fn direction_pull(&self, tau: f64) -> Option<(f64, f64)> {
        if (-12.0 * HOUR_SECS..0.0).contains(&tau) {
            Some((200.0, 0.5 * (1.0 + tau / (12.0 * HOUR_SECS))))
        } else if (0.0..48.0 * HOUR_SECS).contains(&tau) {
            Some((330.0, (-tau / (18.0 * HOUR_SECS)).exp()))
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct RainEvent {
    end: i64,
    rate_mm_h: f64,
}

/// A forced frost night: clear, calm, and cooled toward a target minimum.
#[derive(Debug, Clone, Copy)]
struct FrostNight {
    start: i64,
    end: i64,
    announced: bool,
}

impl FrostNight {
    /// Weight 0..1 of the cooling: ramps in from dusk, full from 03:00 to 06:30, gone by 10:00.
    fn weight(&self, t: i64) -> f64 {
        let hours = (t - self.start) as f64 / HOUR_SECS; // start = 18:00 local
        let smooth = |x: f64| {
            let x = x.clamp(0.0, 1.0);
            x * x * (3.0 - 2.0 * x)
        };
        if hours < 0.0 || t >= self.end {
            0.0
        } else if hours < 9.0 {
            smooth(hours / 9.0)
        } else if hours < 12.5 {
            1.0
        } else {
            1.0 - smooth((hours - 12.5) / 3.5)
        }
    }
}

/// A forced weather event, reported to the simulator (which tells the models about it).
#[derive(Debug, Clone, PartialEq)]
pub enum WeatherEvent {
    FrostNight { start: i64, end: i64, min_target_c: f64, cooling_c: f64 },
}

/// A freezing-fog spell: saturated air under an overcast sky.
#[derive(Debug, Clone, Copy)]
struct FogSpell {
    start: i64,
    end: i64,
    /// Dew-point depression in the fog (°C), below the actual air temperature.
    depression_c: f64,
    drizzle_mm_h: f64,
    /// Wind at 100 m the spell keeps up (m/s): the moist air is advected in on a steady
    /// breeze (a calm night's fog is radiation fog below the hub, not this).
    wind100_ms: f64,
}

impl FogSpell {
    /// Weight 0..1: fades in over the first hour and out over the last.
    fn weight(&self, t: i64) -> f64 {
        if t < self.start || t >= self.end {
            return 0.0;
        }
        let edge = ((t - self.start).min(self.end - t) as f64 / HOUR_SECS).min(1.0);
        edge * edge * (3.0 - 2.0 * edge)
    }
}

/// When freezing-fog spells come (icing on).
#[derive(Debug, Clone)]
struct FogSpells {
    months: Vec<u32>,
    /// Chance that a day of the icing season is due a spell.
    due_per_day: f64,
    rng: StdRng,
    /// A spell is due within this window (the first suitable minute starts it).
    due_until: Option<(i64, i64)>,
    spell: Option<FogSpell>,
    /// `ensure_each_kind`: from this time, if no spell has started in `[from, until)` yet,
    /// one is due until `until`.
    ensure: Option<(i64, i64, i64)>,
    started: Vec<i64>,
}

/// The regional weather generator.
#[derive(Debug, Clone)]
pub struct RegionalWeather {
    model: ClimateModel,
    longitude: f64,
    utc_offset_s: i64,
    rng: StdRng,
    step_s: i64,
    /// Time of the next state.
    t: i64,
    temp: Ar1,
    temp_mean_removed: f64,
    /// The slow anomaly (`climate.seasonal_anomaly_sd_c`), its own random stream and sd (°C);
    /// `None` when the sd is 0, so no random number is drawn and other outputs are unchanged.
    seasonal: Option<(Ar1, StdRng, f64)>,
    dew: Ar1,
    pressure: Ar1,
    wind: Ar1,
    direction: Ar1,
    cloud: Ar1,
    rain_wobble: Ar1,
    raining: f64,
    fronts: Vec<Front>,
    next_front: i64,
    rain: Option<RainEvent>,
    droughts: Vec<(i64, i64)>,
    fog: Option<FogSpells>,
    /// The previous state's air temperature and 100 m wind (a fog spell starts from them).
    last_temp_c: f64,
    last_wind100_ms: f64,
    // Frost trigger: peony degree days from the regional temperature.
    frost_enabled: bool,
    frost_trigger_gdd: f64,
    gdd_base_c: f64,
    gdd: f64,
    gdd_year_done: Option<i64>,
    day_index: i64,
    day_min: f64,
    day_max: f64,
    frost: Option<FrostNight>,
    events: Vec<WeatherEvent>,
}

/// Running-mean time scale of the anomaly high-pass (keeps monthly means on the normals).
const ANOMALY_HIGH_PASS_S: f64 = 10.0 * 86_400.0;

impl RegionalWeather {
    /// A generator whose first state is at `start` (unix seconds), stepping `step_s`.
    /// `frost`: the phenology whose mid flower-bud stage triggers the frost night, if any.
    pub fn new(
        scenario: &Scenario,
        utc_offset_s: i64,
        seed: u64,
        start: i64,
        step_s: i64,
        frost: Option<&Phenology>,
    ) -> Self {
        let model = ClimateModel::new(&scenario.climate, scenario.latitude);
        let longitude = scenario.longitude;
        let mut rng = stream(seed, "weather/regional");
        let dt = step_s as f64;
        let temp = Ar1::new(2.5 * 86_400.0, dt, &mut rng);
        let dew = Ar1::new(1.5 * 86_400.0, dt, &mut rng);
        let pressure = Ar1::new(2.0 * 86_400.0, dt, &mut rng);
        let wind = Ar1::new(10.0 * HOUR_SECS, dt, &mut rng);
        let direction = Ar1::new(14.0 * HOUR_SECS, dt, &mut rng);
        let cloud = Ar1::new(8.0 * HOUR_SECS, dt, &mut rng);
        let rain_wobble = Ar1::new(1200.0, dt, &mut rng);
        let first_interval = model.front_interval_days.at(year_fraction(start)).max(1.5) * 86_400.0;
        let next_front = start + (uniform(&mut rng, 0.2, 1.0) * first_interval) as i64;
        let (frost_enabled, frost_trigger_gdd, gdd_base_c) = match frost {
            Some(p) => (true, (p.flower_bud_gdd + p.bloom_gdd) / 2.0, p.base_temp_c),
            None => (false, f64::INFINITY, 0.0),
        };
        let gdd = model.normal_degree_days(start, utc_offset_s, gdd_base_c, None);
        let seasonal = (scenario.climate.seasonal_anomaly_sd_c > 0.0).then(|| {
            let mut stream = stream(seed, "weather/seasonal");
            let tau = scenario.climate.seasonal_anomaly_days * 86_400.0;
            (Ar1::new(tau, dt, &mut stream), stream, scenario.climate.seasonal_anomaly_sd_c)
        });
        let day_index = (start + utc_offset_s).div_euclid(SECS_PER_DAY);
        let mut weather = RegionalWeather {
            model,
            longitude,
            utc_offset_s,
            rng,
            step_s: step_s.max(1),
            t: start,
            temp,
            temp_mean_removed: 0.0,
            seasonal,
            dew,
            pressure,
            wind,
            direction,
            cloud,
            rain_wobble,
            raining: 0.0,
            fronts: Vec::new(),
            next_front,
            rain: None,
            droughts: Vec::new(),
            fog: None,
            last_temp_c: f64::NAN,
            last_wind100_ms: f64::NAN,
            frost_enabled,
            frost_trigger_gdd,
            gdd_base_c,
            gdd,
            gdd_year_done: None,
            day_index,
            day_min: f64::INFINITY,
            day_max: f64::NEG_INFINITY,
            frost: None,
            events: Vec::new(),
        };
        // Already past the trigger at the start: this year's frost is not simulated.
        if weather.gdd >= weather.frost_trigger_gdd {
            weather.gdd_year_done = Some(weather.local_year_index(start));
        }
        weather
    }

    /// Time of the next state.
    pub fn next_time(&self) -> i64 {
        self.t
    }

    /// Adds a drought spell (no rain, drier and warmer air) over `[start, end)`.
    pub fn add_drought(&mut self, start: i64, end: i64) {
        self.droughts.push((start, end));
    }

    /// Turns on winter freezing-fog spells: `per_winter` expected in the `months` (1..=12).
    pub fn enable_fog_spells(&mut self, seed: u64, per_winter: f64, months: &[u32]) {
        let mut months: Vec<u32> = months.iter().copied().filter(|m| (1..=12).contains(m)).collect();
        months.sort_unstable();
        months.dedup();
        let days =
            months.iter().map(|m| [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][(*m - 1) as usize]).sum::<u32>();
        let due_per_day = if days > 0 { (per_winter.max(0.0) / f64::from(days)).min(1.0) } else { 0.0 };
        self.fog = Some(FogSpells {
            months,
            due_per_day,
            // Its own stream: turning icing on changes the weather only inside the spells.
            rng: stream(seed, "weather/fog"),
            due_until: None,
            spell: None,
            ensure: None,
            started: Vec::new(),
        });
    }

    /// With fog spells on: makes sure one starts in `[start, end)` if that reaches into the
    /// icing season. If none has come by the middle of the run's icing-season days, one is
    /// due from then on (it still waits for suitable air and wind).
    pub fn ensure_fog_spell(&mut self, start: i64, end: i64) {
        let utc_offset_s = self.utc_offset_s;
        let Some(fog) = self.fog.as_mut() else { return };
        let season_days: Vec<i64> = (0..)
            .map(|d| start + d * SECS_PER_DAY)
            .take_while(|t| *t < end)
            .filter(|t| fog.months.contains(&local_month(*t, utc_offset_s)))
            .collect();
        if let (Some(first), Some(last)) = (season_days.first(), season_days.last()) {
            let from = first + (last + SECS_PER_DAY - first) / 2;
            fog.ensure = Some((start, from, (last + SECS_PER_DAY).min(end)));
        }
    }

    /// Decides and advances the fog spell at `t`; returns its weight.
    fn fog_spell_at(&mut self, t: i64, dt: f64) -> Option<(FogSpell, f64)> {
        let utc_offset_s = self.utc_offset_s;
        let (last_temp, last_wind) = (self.last_temp_c, self.last_wind100_ms);
        let fog = self.fog.as_mut()?;
        if fog.spell.is_some_and(|s| t >= s.end) {
            fog.spell = None;
        }
        // Once a day at local midnight: is a spell due today?
        let local = t + utc_offset_s;
        if local.rem_euclid(SECS_PER_DAY) < dt as i64 && fog.months.contains(&local_month(t, utc_offset_s)) {
            let due = rand::Rng::random::<f64>(&mut fog.rng) < fog.due_per_day;
            // Due from a random hour of the day, for a day.
            let from = t + (uniform(&mut fog.rng, 0.0, 24.0) * HOUR_SECS) as i64;
            if due && fog.due_until.is_none_or(|(_, u)| u < t) {
                fog.due_until = Some((from, from + SECS_PER_DAY));
            }
        }
        if let Some((from, arm, until)) = fog.ensure
            && t >= arm
            && t < until
            && !fog.started.iter().any(|s| *s >= from && *s < until)
        {
            fog.due_until = Some((t, until));
        }
        let suitable =
            (FOG_SPELL_TEMP_C.0..=FOG_SPELL_TEMP_C.1).contains(&last_temp) && last_wind >= FOG_SPELL_MIN_WIND_MS;
        if fog.spell.is_none() && fog.due_until.is_some_and(|(from, until)| t >= from && t < until) && suitable {
            let hours = (14.0 * (0.5 * super::random::normal(&mut fog.rng)).exp()).clamp(6.0, 30.0);
            let drizzle = rand::Rng::random::<f64>(&mut fog.rng) < 0.5;
            fog.spell = Some(FogSpell {
                start: t,
                end: t + (hours * HOUR_SECS) as i64,
                depression_c: uniform(&mut fog.rng, 0.05, 0.3),
                drizzle_mm_h: if drizzle { uniform(&mut fog.rng, 0.05, 0.3) } else { 0.0 },
                wind100_ms: uniform(&mut fog.rng, 6.5, 10.0),
            });
            fog.due_until = None;
            fog.started.push(t);
        }
        fog.spell.map(|s| (s, s.weight(t)))
    }

    /// How far into a drought spell `t` is: 0 outside, easing to 1 over half a day.
    fn drought_weight(&self, t: i64) -> f64 {
        self.droughts
            .iter()
            .filter(|&&(s, e)| t >= s && t < e)
            .map(|&(s, e)| ((t - s).min(e - t) as f64 / DROUGHT_RAMP_S).min(1.0))
            .fold(0.0, f64::max)
    }

    /// Weather events that have been decided since the last call.
    pub fn take_events(&mut self) -> Vec<WeatherEvent> {
        std::mem::take(&mut self.events)
    }

    fn in_drought(&self, t: i64) -> bool {
        self.droughts.iter().any(|&(s, e)| t >= s && t < e)
    }

    /// Index of the local calendar year (days since epoch of its 1 January would do; the
    /// year number is enough to tell years apart).
    fn local_year_index(&self, t: i64) -> i64 {
        let local = t + self.utc_offset_s;
        // Years since 1970, via the day of year: subtracting it lands on 1 January.
        let doy = solar::day_of_year_utc(local as f64).unwrap_or(1);
        local.div_euclid(SECS_PER_DAY) - i64::from(doy)
    }

    /// The state at the current time, then advances one step.
    pub fn next_state(&mut self) -> RegionalState {
        let t = self.t;
        let dt = self.step_s as f64;
        let x = year_fraction(t);
        let hour = solar_hour(t, self.longitude);
        let drought = self.in_drought(t);
        let drought_weight = self.drought_weight(t);
        let fog = self.fog_spell_at(t, dt);
        let fog_weight = fog.map_or(0.0, |(_, w)| w);

        // Fronts: schedule the next one, drop the ones long past.
        while t >= self.next_front - 24 * 3600 && self.fronts.iter().all(|f| f.t != self.next_front) {
            let drop = self.model.front_drop.at(x).max(0.0) * uniform(&mut self.rng, 0.5, 1.5);
            let boost = uniform(&mut self.rng, 1.0, 4.5);
            self.fronts.push(Front { t: self.next_front, drop_c: drop, wind_boost_ms: boost });
            let mean_interval = self.model.front_interval_days.at(x).max(1.5) * 86_400.0;
            let exp = Exp::new(1.0 / mean_interval).ok();
            let gap = exp.map_or(mean_interval, |e| e.sample(&mut self.rng)).max(1.5 * 86_400.0);
            self.next_front += gap as i64;
        }
        self.fronts.retain(|f| t - f.t < 6 * SECS_PER_DAY);

        let (mut front_temp, mut front_pressure, mut front_wind, mut front_cloud, mut front_dry) =
            (0.0, 0.0, 0.0, 0.0, 0.0);
        let mut pull: Option<(f64, f64)> = None;
        let mut front_passing = false;
        for f in &self.fronts {
            let tau = (t - f.t) as f64;
            front_temp += f.temperature(tau);
            front_pressure += f.pressure(tau);
            front_wind += f.wind(tau);
            front_cloud += f.cloud(tau);
            front_dry += f.dryness(tau);
            if let Some(p) = f.direction_pull(tau) {
                pull = Some(p);
            }
            if tau >= 0.0 && tau < dt {
                front_passing = true;
            }
        }

        // Rain events.
        if let Some(r) = self.rain
            && t >= r.end
        {
            self.rain = None;
        }
        if self.rain.is_none() && !drought {
            let background = self.model.rain_events_per_day.at(x).max(0.0) / 86_400.0 * dt;
            let starts = front_passing && rand::Rng::random::<f64>(&mut self.rng) < FRONT_RAIN_PROBABILITY
                || rand::Rng::random::<f64>(&mut self.rng) < background;
            if starts {
                let summerness = ((self.model.temp_mean.at(x) - 5.0) / 20.0).clamp(0.0, 1.0);
                let mean_hours = 8.0 - 5.0 * summerness;
                let hours = Exp::new(1.0 / mean_hours).map_or(mean_hours, |e| e.sample(&mut self.rng)).clamp(0.5, 36.0);
                let mean_mm = self.model.rain_event_mm.at(x).max(0.2);
                let amount = Gamma::new(0.7, mean_mm / 0.7).map_or(mean_mm, |g| g.sample(&mut self.rng)).max(0.2);
                self.rain = Some(RainEvent { end: t + (hours * HOUR_SECS) as i64, rate_mm_h: amount / hours });
            }
        }
        if drought {
            self.rain = None;
        }
        let wobble = self.rain_wobble.step(&mut self.rng);
        let mut rain_mm_h = self.rain.map_or(0.0, |r| r.rate_mm_h * (0.5 * wobble - 0.125).exp());
        if let Some((spell, w)) = fog
            && w > 0.5
        {
            rain_mm_h = rain_mm_h.max(spell.drizzle_mm_h);
        }
        let rain_indicator = if rain_mm_h > 0.0 { 1.0 } else { 0.0 };
        // Smooth the rain's effect on temperature and humidity over ~30 min.
        let k = 1.0 - (-dt / 1800.0).exp();
        self.raining += (rain_indicator - self.raining) * k;

        // Cloud.
        let cloud_mean = (self.model.cloud_mean.at(x) * (1.0 - 0.3 * drought_weight)).clamp(0.05, 0.95);
        let gamma = 1.0 / cloud_mean - 1.0;
        let z_cloud = self.cloud.step(&mut self.rng) + front_cloud;
        let mut cloud = normal_cdf(z_cloud).powf(gamma);
        if rain_mm_h > 0.0 {
            cloud = cloud.max(0.9 + 0.1 * normal_cdf(z_cloud));
        }
        // Fog or low stratus: overcast.
        cloud = cloud.max(0.97 * fog_weight);

        // Frost night: decided at local midnight; clear and calm from dusk.
        self.track_degree_days(t);
        let mut frost_weight = 0.0;
        let mut frost_starting = false;
        if let Some(frost) = self.frost.as_mut() {
            if t >= frost.start && t < frost.end {
                cloud = 0.0;
                frost_weight = frost.weight(t);
                frost_starting = !frost.announced;
                frost.announced = true;
            }
            if t >= frost.end {
                self.frost = None;
            }
        }

        // Temperature: high-passed synoptic anomaly + fronts + rain cooling, then forcing.
        let sd = self.model.anomaly_sd.at(x).max(0.0);
        let raw = self.temp.step(&mut self.rng) * sd + front_temp - 1.5 * self.raining;
        self.temp_mean_removed += (raw - self.temp_mean_removed) * (1.0 - (-dt / ANOMALY_HIGH_PASS_S).exp());
        let anomaly = raw - self.temp_mean_removed;
        let half = self.model.half_range.at(x).max(0.0);
        let seasonal = match self.seasonal.as_mut() {
            Some((ar, rng, sd)) => ar.step(rng) * *sd,
            None => 0.0,
        };
        let unforced = self.model.temp_mean.at(x) + anomaly + seasonal + drought_weight;
        // The cooling that puts tonight's minimum (at the diurnal cycle's low) on the target,
        // re-evaluated every step so the synoptic drift overnight cannot undo it.
        let clear_night_min =
            unforced + half * diurnal_factor(0.0, self.model.cloud_mean.at(x)) * self.model.shape.min();
        let frost_cooling = (clear_night_min - FROST_TARGET_C).max(0.0) + FROST_MARGIN_C;
        if frost_starting && let Some(frost) = self.frost {
            self.events.push(WeatherEvent::FrostNight {
                start: frost.start,
                end: frost.end,
                min_target_c: FROST_TARGET_C - FROST_MARGIN_C,
                cooling_c: frost_cooling,
            });
        }
        let synoptic = unforced - frost_weight * frost_cooling;
        // Fog damps the diurnal cycle to a degree or two.
        let diurnal = half
            * diurnal_factor(cloud, self.model.cloud_mean.at(x))
            * (1.0 - 0.7 * fog_weight)
            * self.model.shape.at(hour);
        let temp_c = synoptic + diurnal;
        self.day_min = self.day_min.min(temp_c);
        self.day_max = self.day_max.max(temp_c);

        // Humidity via the dew point.
        let mut depression =
            self.model.dew_depression.at(x) + 2.0 * self.dew.step(&mut self.rng) + front_dry + 2.5 * drought_weight;
        depression = depression.max(0.3) * (1.0 - 0.85 * self.raining);
        let mut dewpoint_c = synoptic - depression;
        if let Some((spell, w)) = fog {
            // In fog the air stays within a fraction of a degree of saturation at every hour.
            dewpoint_c += w * (temp_c - spell.depression_c - dewpoint_c);
        }
        let rh_pct = rh_from_dewpoint(temp_c, dewpoint_c);
        let dewpoint_c = dewpoint_from_vapour_pressure(es(temp_c) * rh_pct / 100.0);

        // Pressure.
        let tide = 0.7 * (std::f64::consts::TAU * 2.0 * (hour - 10.0) / 24.0).cos();
        let pressure_hpa =
            self.model.pressure.at(x) + 4.0 * self.pressure.step(&mut self.rng) - 0.8 * anomaly + front_pressure + tide;

        // Wind at 100 m.
        let u = normal_cdf(self.wind.step(&mut self.rng)).clamp(1e-9, 1.0 - 1e-9);
        let weibull = self.model.wind_c.at(x).max(0.1) * (-(1.0 - u).ln()).powf(1.0 / self.model.wind_k);
        let night_jet = 1.0 + 0.12 * (std::f64::consts::TAU * (hour - 1.0) / 24.0).cos();
        let calm_frost = 1.0 - 0.5 * frost_weight;
        let mut wind100_ms = ((weibull * night_jet + front_wind) * calm_frost).max(0.0);
        if let Some((spell, w)) = fog {
            wind100_ms = wind100_ms.max(w * spell.wind100_ms);
        }
        let mut alpha = 0.20 + 0.08 * (std::f64::consts::TAU * (hour - 2.0) / 24.0).cos() * (1.0 - 0.7 * cloud);
        alpha = 0.16 + (alpha - 0.16) * (-(wind100_ms - 8.0).max(0.0) / 5.0).exp();
        // A stable night keeps its cooling near the ground (an inversion): the air at hub
        // height loses much less of the day's warmth than the air at 2 m.
        let stability = ((alpha - 0.16) / 0.12).clamp(0.0, 1.0);
        let surface_cooling_c = frost_weight * frost_cooling + 0.7 * stability * (-diurnal).max(0.0);

        // Direction around the prevailing one, pulled by fronts.
        let prevailing = self.model.dir_sin.at(x).atan2(self.model.dir_cos.at(x)).to_degrees();
        let mut direction = prevailing + 55.0 * self.direction.step(&mut self.rng);
        if let Some((toward, weight)) = pull {
            let (s1, c1) = direction.to_radians().sin_cos();
            let (s2, c2) = toward.to_radians().sin_cos();
            direction = ((1.0 - weight) * s1 + weight * s2).atan2((1.0 - weight) * c1 + weight * c2).to_degrees();
        }

        self.t += self.step_s;
        self.last_temp_c = temp_c;
        self.last_wind100_ms = wind100_ms;
        RegionalState {
            t,
            temp_c,
            dewpoint_c,
            rh_pct,
            pressure_hpa,
            wind100_ms,
            wind_dir_deg: direction.rem_euclid(360.0),
            shear_alpha: alpha,
            cloud,
            rain_mm_h,
            surface_cooling_c,
            fog: fog_weight,
        }
    }

    /// Daily degree days from the regional temperature; schedules the frost night on the
    /// day they first reach mid flower-bud.
    fn track_degree_days(&mut self, t: i64) {
        let day = (t + self.utc_offset_s).div_euclid(SECS_PER_DAY);
        if day == self.day_index {
            return;
        }
        if self.day_min.is_finite() {
            let dd = degree_days(self.day_min, self.day_max, self.gdd_base_c, None, DegreeDayMethod::SingleSine);
            if dd.is_finite() {
                self.gdd += dd;
            }
        }
        let doy = solar::day_of_year_utc((day * SECS_PER_DAY) as f64).unwrap_or(1);
        if doy == 1 {
            self.gdd = 0.0;
        }
        self.day_index = day;
        self.day_min = f64::INFINITY;
        self.day_max = f64::NEG_INFINITY;
        let year = self.local_year_index(t);
        if self.frost_enabled && self.gdd >= self.frost_trigger_gdd && self.gdd_year_done != Some(year) {
            self.gdd_year_done = Some(year);
            let midnight = day * SECS_PER_DAY - self.utc_offset_s;
            self.frost = Some(FrostNight { start: midnight + 18 * 3600, end: midnight + 34 * 3600, announced: false });
        }
    }
}

/// Local calendar month (1..=12) of `t`.
fn local_month(t: i64, utc_offset_s: i64) -> u32 {
    let doy = solar::day_of_year_utc(((t + utc_offset_s).div_euclid(SECS_PER_DAY) * SECS_PER_DAY) as f64).unwrap_or(1);
    // Day of year of each month's first day in a common year; 29 February counts as March
    // in leap years, which is close enough for a season.
    let firsts = [1, 32, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335];
    firsts.iter().filter(|f| **f <= doy).count() as u32
}

/// How much the diurnal range opens (clear) or closes (overcast) relative to the normals'
/// average sky.
fn diurnal_factor(cloud: f64, cloud_mean: f64) -> f64 {
    (1.0 + 0.8 * (cloud_mean - cloud)).clamp(0.4, 1.6)
}

/// Generates regional states and keeps the ones the simulator still needs: a few hours of
/// history (NWP timing errors look back) and a lookahead for the NWP horizon.
#[derive(Debug)]
pub struct WeatherBuffer {
    generator: RegionalWeather,
    states: std::collections::VecDeque<RegionalState>,
}

impl WeatherBuffer {
    pub fn new(generator: RegionalWeather) -> Self {
        WeatherBuffer { generator, states: std::collections::VecDeque::new() }
    }

    pub fn generator_mut(&mut self) -> &mut RegionalWeather {
        &mut self.generator
    }

    /// Generates states up to and including `t`.
    pub fn fill_to(&mut self, t: i64) {
        while self.generator.next_time() <= t {
            let state = self.generator.next_state();
            self.states.push_back(state);
        }
    }

    /// Drops states before `t`.
    pub fn forget_before(&mut self, t: i64) {
        while self.states.front().is_some_and(|s| s.t < t) {
            self.states.pop_front();
        }
    }

    /// The state at `t` (rounded down to the step), if generated and kept.
    pub fn at(&self, t: i64) -> Option<&RegionalState> {
        let first = self.states.front()?;
        let step = self.generator.step_s;
        let index = usize::try_from((t - first.t).div_euclid(step)).ok()?;
        self.states.get(index)
    }
}

/// Minute-scale weather at one site.
#[derive(Debug, Clone, Copy, Default)]
pub struct SiteState {
    pub t: i64,
    pub temp_c: f64,
    pub rh_pct: f64,
    pub dewpoint_c: f64,
    pub pressure_hpa: f64,
    /// Free-stream wind at 100 m including minute turbulence.
    pub wind100_ms: f64,
    pub shear_alpha: f64,
    pub wind_dir_deg: f64,
    pub cloud: f64,
    /// Rain during this step (mm).
    pub rain_mm: f64,
    /// See [`RegionalState::surface_cooling_c`].
    pub surface_cooling_c: f64,
    /// See [`RegionalState::fog`].
    pub fog: f64,
    pub zenith_deg: f64,
    pub azimuth_deg: f64,
    pub day_of_year: u32,
    pub clearsky_ghi: f64,
    pub ghi: f64,
    pub dni: f64,
    pub dhi: f64,
}

impl SiteState {
    pub fn wind_at(&self, z_m: f64) -> f64 {
        self.wind100_ms * (z_m.max(1.0) / 100.0).powf(self.shear_alpha)
    }

    pub fn sun_up(&self) -> bool {
        self.zenith_deg < 90.0
    }
}

/// Turns regional states into one site's minute weather.
#[derive(Debug, Clone)]
pub struct SiteWeather {
    pub latitude: f64,
    pub longitude: f64,
    pub altitude_m: f64,
    reference_altitude_m: f64,
    temp_offset_c: f64,
    wind_exposure: f64,
    rng: StdRng,
    temp_noise: Ar1,
    turbulence: Ar1,
    sunshine: Ar1,
    step_s: f64,
}

impl SiteWeather {
    #[allow(clippy::too_many_arguments)] // a site's fixed description; a struct would only rename it
    pub fn new(
        seed: u64,
        site: &str,
        latitude: f64,
        longitude: f64,
        altitude_m: f64,
        reference_altitude_m: f64,
        temp_offset_c: f64,
        wind_exposure: f64,
        step_s: f64,
    ) -> Self {
        let mut rng = stream(seed, &format!("weather/site/{site}"));
        let temp_noise = Ar1::new(1200.0, step_s, &mut rng);
        let turbulence = Ar1::new(120.0, step_s, &mut rng);
        let sunshine = Ar1::new(240.0, step_s, &mut rng);
        SiteWeather {
            latitude,
            longitude,
            altitude_m,
            reference_altitude_m,
            temp_offset_c,
            wind_exposure,
            rng,
            temp_noise,
            turbulence,
            sunshine,
            step_s,
        }
    }

    pub fn step(&mut self, regional: &RegionalState, model: &ClimateModel) -> SiteState {
        let t = regional.t;
        let temp_c = regional.temp_c + self.temp_offset_c + 0.25 * self.temp_noise.step(&mut self.rng);
        let rh_pct = rh_from_dewpoint(temp_c, regional.dewpoint_c);
        let pressure_hpa = regional.pressure_hpa - 0.12 * (self.altitude_m - self.reference_altitude_m);
        let wind100_ms =
            (regional.wind100_ms * self.wind_exposure * (1.0 + 0.06 * self.turbulence.step(&mut self.rng))).max(0.0);
        let sun = solar::position_fast(t as f64, self.latitude, self.longitude, pressure_hpa, temp_c);
        let day_of_year = solar::day_of_year_utc(t as f64).unwrap_or(1);
        let linke = model.linke.at(year_fraction(t)).max(1.0);
        let clear = solar::clearsky_ineichen(sun.zenith_deg, self.altitude_m, linke, day_of_year);
        let clearsky_ghi = if clear.ghi.is_finite() { clear.ghi.max(0.0) } else { 0.0 };
        // Broken clouds flicker; overcast and clear skies are steady.
        let c = regional.cloud;
        let flicker = 0.25 * 4.0 * c * (1.0 - c) * self.sunshine.step(&mut self.rng);
        let mut kt = (cloud_transmission(c) * (1.0 + flicker)).clamp(0.03, 1.2);
        if regional.rain_mm_h > 0.0 {
            kt = kt.min(0.3);
        }
        let ghi = clearsky_ghi * kt;
        let (dni, dhi) = if ghi > 0.0 {
            let (dni, dhi) = solar::erbs(ghi, sun.zenith_deg, day_of_year);
            (dni.max(0.0), dhi.max(0.0))
        } else {
            (0.0, 0.0)
        };
        SiteState {
            t,
            temp_c,
            rh_pct,
            dewpoint_c: regional.dewpoint_c,
            pressure_hpa,
            wind100_ms,
            shear_alpha: regional.shear_alpha,
            wind_dir_deg: regional.wind_dir_deg,
            cloud: c,
            rain_mm: regional.rain_mm_h * self.step_s / HOUR_SECS,
            surface_cooling_c: regional.surface_cooling_c,
            fog: regional.fog,
            zenith_deg: sun.zenith_deg,
            azimuth_deg: sun.azimuth_deg,
            day_of_year,
            clearsky_ghi,
            ghi,
            dni,
            dhi,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn heze() -> Scenario {
        Scenario::load("heze").unwrap()
    }

    #[test]
    fn seasonal_curve_reproduces_monthly_means() {
        let s = heze();
        let curve = SeasonalCurve::fit(&s.climate.temp_mean_c);
        for (m, want) in s.climate.temp_mean_c.iter().enumerate() {
            let n = 200;
            let got = (0..n).map(|i| curve.at((m as f64 + (i as f64 + 0.5) / n as f64) / 12.0)).sum::<f64>() / n as f64;
            assert!((got - want).abs() < 0.2, "month {}: curve mean {got:.2} vs normal {want}", m + 1);
        }
    }

    /// Mean monthly temperature of a simulated year against the Heze normals (issue #3).
    #[test]
    fn a_simulated_year_matches_the_monthly_normals() {
        let s = heze();
        let start = 1_767_196_800; // 2026-01-01T00:00:00+08:00
        let mut weather = RegionalWeather::new(&s, 8 * 3600, 42, start, 900, None);
        let mut sums = [0.0; 12];
        let mut counts = [0usize; 12];
        let mut rain = [0.0; 12];
        let mut rh = [0.0; 12];
        for _ in 0..(365 * 96) {
            let state = weather.next_state();
            let month = ((year_fraction(state.t + 8 * 3600) * 12.0).floor() as usize).min(11);
            sums[month] += state.temp_c;
            rh[month] += state.rh_pct;
            rain[month] += state.rain_mm_h * 0.25;
            counts[month] += 1;
        }
        let mut total_rain = 0.0;
        for m in 0..12 {
            let mean = sums[m] / counts[m] as f64;
            let want = s.climate.temp_mean_c[m];
            assert!((mean - want).abs() < 1.5, "month {}: simulated mean {mean:.2} °C vs normal {want} °C", m + 1);
            let mean_rh = rh[m] / counts[m] as f64;
            assert!(
                (mean_rh - s.climate.rh_pct[m]).abs() < 12.0,
                "month {}: RH {mean_rh:.0} vs {}",
                m + 1,
                s.climate.rh_pct[m]
            );
            total_rain += rain[m];
        }
        let normal: f64 = s.climate.precip_mm.iter().sum();
        assert!(
            total_rain > 0.4 * normal && total_rain < 1.8 * normal,
            "annual rain {total_rain:.0} mm vs normal {normal:.0} mm"
        );
        let summer = rain[5] + rain[6] + rain[7];
        let winter = rain[11] + rain[0] + rain[1];
        assert!(summer > 3.0 * winter, "monsoon: summer {summer:.0} mm vs winter {winter:.0} mm");
    }

    #[test]
    fn hub_wind_follows_a_weibull_with_the_scenario_scale() {
        let s = heze();
        let mut weather = RegionalWeather::new(&s, 8 * 3600, 7, 1_767_196_800, 1800, None);
        let speeds: Vec<f64> = (0..(365 * 48)).map(|_| weather.next_state().wind100_ms).collect();
        let mean = speeds.iter().sum::<f64>() / speeds.len() as f64;
        let c_mean = s.climate.wind_weibull_c_100m.iter().sum::<f64>() / 12.0;
        let weibull_mean = c_mean * 0.886; // Γ(1 + 1/2)
        assert!((mean - weibull_mean).abs() < 0.8, "annual mean {mean:.2} m/s vs Weibull mean {weibull_mean:.2} m/s");
        let calm = speeds.iter().filter(|v| **v < 3.0).count() as f64 / speeds.len() as f64;
        assert!(calm > 0.08 && calm < 0.35, "share below cut-in {calm:.2}");
        // Lag-1 h autocorrelation: a persistent, not white, process.
        let m = mean;
        let var = speeds.iter().map(|v| (v - m).powi(2)).sum::<f64>();
        let lag2 = speeds.windows(3).map(|w| (w[0] - m) * (w[2] - m)).sum::<f64>() / var;
        assert!(lag2 > 0.7, "1 h autocorrelation {lag2:.2}");
    }
}
