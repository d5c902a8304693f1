//! Wind-turbine underperformance against the turbine's own power curve.
//!
//! The curve is learned from the turbine's history the way IEC 61400-12-1 bins a measured
//! power curve: wind speed normalized to the reference air density
//! (`V_n = V·(ρ/1.225)^(1/3)`, ρ from the ambient temperature and the station pressure, or
//! the standard pressure at the site's altitude), then averaged per 0.5 m/s bin centred on
//! multiples of 0.5 m/s. Only normal operation teaches the curve: curtailed readings,
//! stops at production wind speeds, outliers (beyond `outlier_z` of a trained bin) and
//! anything while an underperformance event is open are left out.
//!
//! Each reading where the curve expects real power is scored by its standardized deficit
//! `z = (expected − actual)/σ_bin`, and a one-sided CUSUM `S = max(0, S + z − k)` (capped)
//! accumulates it: a gust or a single bad minute does not move `S` far, a pitch fault or
//! icing (a deficit of 10–45 % sustained for hours) does, and a stop in good wind (a 100 %
//! deficit) crosses within minutes. The score is 0.5 at `S = h`. In icing-prone air (cold
//! and humid, when the humidity is known) a smaller allowance and interval apply, since
//! rime starts with a loss of a few percent.

use serde::{Deserialize, Serialize};

use super::event::{EventKind, EventTracker, Hysteresis, tracked};
use super::stats::{SIGMA_PER_MEAN_ABS_DEV, ratio_score, sane};
use super::{Result, require};
use crate::solar;

/// IEC reference air density (kg/m³).
const REFERENCE_DENSITY: f64 = 1.225;
/// Gas constant of dry air (J/(kg·K)).
const R_DRY_AIR: f64 = 287.05;

/// Configuration of [`PowerCurve`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PowerCurveConfig {
    /// Rated power (kW); default: the highest learned bin.
    pub rated_kw: Option<f64>,
    pub bin_width_ms: f64,
    pub max_wind_ms: f64,
    /// Site altitude (m), for the air density when no pressure is measured.
    pub altitude_m: f64,
    /// Readings a bin needs before it is trusted.
    pub min_bin_samples: u64,
    /// Readings a trained bin averages over (its memory).
    pub bin_memory: f64,
    /// Readings where the curve expects less than this share of rated power are not scored.
    pub min_expected_fraction: f64,
    /// Readings beyond this many σ of a trained bin do not teach the curve.
    pub outlier_z: f64,
    /// Smallest σ, as a share of rated power.
    pub min_sigma_fraction: f64,
    /// CUSUM allowance (σ) and decision interval, and the clip of one reading's z.
    pub k: f64,
    pub h: f64,
    pub z_clip: f64,
    /// In icing-prone air (at or below `icing_temp_c` with relative humidity at or above
    /// `icing_rh_pct`) the CUSUM uses `icing_k` and `icing_h`: rime builds up slowly, so its
    /// early loss of a few percent matters there and nowhere else.
    pub icing_temp_c: f64,
    pub icing_rh_pct: f64,
    pub icing_k: f64,
    pub icing_h: f64,
    pub hysteresis: Hysteresis,
}

impl Default for PowerCurveConfig {
    fn default() -> Self {
        PowerCurveConfig {
            rated_kw: None,
            bin_width_ms: 0.5,
            max_wind_ms: 30.0,
            altitude_m: 0.0,
            min_bin_samples: 30,
            bin_memory: 3000.0,
            min_expected_fraction: 0.05,
            outlier_z: 4.0,
            min_sigma_fraction: 0.002,
            k: 1.0,
            h: 60.0,
            z_clip: 10.0,
            // Nacelle thermometers read a degree or so warm (the nacelle's heat).
            icing_temp_c: 2.5,
            icing_rh_pct: 90.0,
            icing_k: 0.5,
            icing_h: 20.0,
            hysteresis: Hysteresis::with_durations(0, 3600),
        }
    }
}

impl PowerCurveConfig {
    pub fn check(&self) -> Result<()> {
        self.hysteresis.check()?;
        require(self.bin_width_ms > 0.0 && self.max_wind_ms > self.bin_width_ms, || {
            "power curve needs 0 < bin_width_ms < max_wind_ms".into()
        })?;
        require(self.max_wind_ms / self.bin_width_ms <= 1000.0, || "power curve has too many bins".into())?;
        require(self.rated_kw.is_none_or(|r| r > 0.0), || "rated_kw must be positive".into())?;
        require(self.bin_memory >= 1.0 && self.outlier_z > 0.0 && self.h > 0.0 && self.k >= 0.0, || {
            "power curve needs bin_memory >= 1, outlier_z > 0, h > 0, k >= 0".into()
        })?;
        require(self.min_sigma_fraction > 0.0 && self.z_clip > 0.0, || {
            "power curve needs min_sigma_fraction > 0 and z_clip > 0".into()
        })?;
        require(self.icing_k >= 0.0 && self.icing_h > 0.0 && self.icing_h <= self.h, || {
            "power curve needs icing_k >= 0 and 0 < icing_h <= h".into()
        })
    }
}

/// One SCADA reading. NaN marks what was not measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TurbineReading {
    pub t: i64,
    pub wind_speed_ms: f64,
    pub power_kw: f64,
    pub air_temp_c: f64,
    pub pressure_hpa: f64,
    pub relative_humidity_pct: f64,
    /// Under a dispatch limit (限电) or otherwise not free to follow the wind.
    pub curtailed: bool,
}

/// One point of the learned curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Bin centre (m/s at reference density).
    pub wind_ms: f64,
    pub power_kw: f64,
    pub samples: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CurveBin {
    mean_kw: f64,
    mean_abs_residual: f64,
    n: u64,
}

/// A turbine's learned curve and underperformance CUSUM (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerCurve {
    config: PowerCurveConfig,
    tracker: EventTracker,
    bins: Vec<CurveBin>,
    cusum: f64,
    score: f64,
}

impl PowerCurve {
    /// A curve for the power field `field` (the name events carry), learned from scratch.
    pub fn new(field: &str, config: PowerCurveConfig) -> Result<Self> {
        config.check()?;
        let n = (config.max_wind_ms / config.bin_width_ms).ceil() as usize + 1;
        Ok(PowerCurve {
            tracker: EventTracker::new(EventKind::PowerCurve, field, config.hysteresis),
            bins: vec![CurveBin { mean_kw: 0.0, mean_abs_residual: 0.0, n: 0 }; n],
            config,
            cusum: 0.0,
            score: 0.0,
        })
    }

    /// Air density (kg/m³) from temperature and pressure; the reference density when the
    /// temperature is unknown.
    pub fn air_density(&self, air_temp_c: f64, pressure_hpa: f64) -> f64 {
        let pressure = if pressure_hpa.is_finite() && pressure_hpa > 0.0 {
            pressure_hpa
        } else {
            solar::pressure_from_altitude_hpa(self.config.altitude_m)
        };
        let kelvin = air_temp_c + 273.15;
        if !(air_temp_c.is_finite() && kelvin > 150.0 && kelvin < 400.0) {
            return REFERENCE_DENSITY;
        }
        pressure * 100.0 / (R_DRY_AIR * kelvin)
    }

    /// Wind speed normalized to the reference density.
    fn normalized_wind(&self, wind_ms: f64, air_temp_c: f64, pressure_hpa: f64) -> f64 {
        wind_ms * (self.air_density(air_temp_c, pressure_hpa) / REFERENCE_DENSITY).cbrt()
    }

    fn trained(&self, i: usize) -> Option<&CurveBin> {
        self.bins.get(i).filter(|b| b.n >= self.config.min_bin_samples)
    }

    /// Rated power: configured, or the highest trained bin.
    pub fn rated_kw(&self) -> f64 {
        self.config.rated_kw.unwrap_or_else(|| {
            self.bins.iter().filter(|b| b.n >= self.config.min_bin_samples).map(|b| b.mean_kw).fold(0.0, f64::max)
        })
    }

    /// Expected power and its σ at normalized wind `v`, from the trained bins around it.
    fn expected_at(&self, v: f64) -> Option<(f64, f64)> {
        let w = self.config.bin_width_ms;
        let position = v / w;
        if position.is_nan() || position < 0.0 || position > self.bins.len() as f64 {
            return None;
        }
        let lower = position.floor() as usize;
        let nearest = position.round() as usize;
        let sigma_of = |b: &CurveBin| SIGMA_PER_MEAN_ABS_DEV * b.mean_abs_residual;
        let expected = match (self.trained(lower), self.trained(lower + 1)) {
            (Some(a), Some(b)) => {
                let f = position - lower as f64;
                a.mean_kw + f * (b.mean_kw - a.mean_kw)
            }
            _ => self.trained(nearest)?.mean_kw,
        };
        let sigma = self.trained(nearest).map(sigma_of).or_else(|| self.trained(lower).map(sigma_of))?;
        let rated = self.rated_kw();
        Some((expected, sigma.max(self.config.min_sigma_fraction * rated).max(1e-6)))
    }

    /// The power the turbine should make at this wind and air (kW), once that bin is learned.
    pub fn expected_kw(&self, wind_speed_ms: f64, air_temp_c: f64, pressure_hpa: f64) -> Option<f64> {
        self.expected_at(self.normalized_wind(wind_speed_ms, air_temp_c, pressure_hpa)).map(|(e, _)| e)
    }

    /// The learned curve (trained bins only).
    pub fn curve(&self) -> Vec<CurvePoint> {
        let w = self.config.bin_width_ms;
        (0..self.bins.len())
            .filter_map(|i| {
                let b = self.trained(i)?;
                Some(CurvePoint { wind_ms: i as f64 * w, power_kw: b.mean_kw, samples: b.n })
            })
            .collect()
    }

    /// Scores one reading and learns from it when it is normal operation.
    pub fn update(&mut self, r: &TurbineReading) -> f64 {
        let (Some(wind), Some(power)) = (sane(r.wind_speed_ms), sane(r.power_kw)) else { return self.score };
        if r.curtailed || wind < 0.0 {
            return self.score;
        }
        let v = self.normalized_wind(wind, r.air_temp_c, r.pressure_hpa);
        let rated = self.rated_kw();
        let c = &self.config;
        let mut scored_z = None;
        if let Some((expected, sigma)) = self.expected_at(v)
            && expected >= c.min_expected_fraction * rated
        {
            let z = ((expected - power) / sigma).clamp(-c.z_clip, c.z_clip);
            let icing_air = r.air_temp_c <= c.icing_temp_c && r.relative_humidity_pct >= c.icing_rh_pct;
            let (k, h) = if icing_air { (c.icing_k, c.icing_h) } else { (c.k, c.h) };
            self.cusum = (self.cusum + z - k).clamp(0.0, 2.0 * c.h);
            self.score = ratio_score(self.cusum, h);
            self.tracker.observe(r.t, self.score, power, expected);
            scored_z = Some(z);
        }
        let quiet = !self.tracker.is_open() && self.cusum < 0.5 * c.h;
        let plausible = scored_z.is_none_or(|z| z.abs() < c.outlier_z);
        if quiet && plausible {
            self.learn(v, power, rated);
        }
        self.score
    }

    fn learn(&mut self, v: f64, power: f64, rated: f64) {
        let c = &self.config;
        let index = (v / c.bin_width_ms).round();
        if !(index >= 0.0 && index < self.bins.len() as f64) {
            return;
        }
        let (min_samples, memory, outlier_z, min_fraction) =
            (c.min_bin_samples, c.bin_memory, c.outlier_z, c.min_expected_fraction);
        let min_sigma = c.min_sigma_fraction * rated;
        let Some(bin) = self.bins.get_mut(index as usize) else { return };
        let residual = power - bin.mean_kw;
        if bin.n >= min_samples {
            let sigma = (SIGMA_PER_MEAN_ABS_DEV * bin.mean_abs_residual).max(min_sigma).max(1e-6);
            // A stop where the curve makes power, or a wild reading, is not the curve.
            let stopped = power <= 0.0 && bin.mean_kw > min_fraction * rated;
            if stopped || residual.abs() > outlier_z * sigma {
                return;
            }
        }
        let alpha = (1.0 / (bin.n as f64 + 1.0)).max(1.0 / memory);
        if bin.n > 0 {
            bin.mean_abs_residual += alpha * (residual.abs() - bin.mean_abs_residual);
        }
        bin.mean_kw += alpha * residual;
        bin.n = bin.n.saturating_add(1);
    }
}

tracked!(PowerCurve);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::testutil::{Noise, opened};
    use crate::anomaly::{EventChange, Tracked};

    const T0: i64 = 1_772_323_200;
    const DAY: i64 = 86_400;
    const RATED: f64 = 2500.0;

    /// A 2.5 MW turbine's true curve at reference density.
    fn true_curve(v: f64) -> f64 {
        if !(3.0..25.0).contains(&v) { 0.0 } else { RATED * ((v - 3.0) / 9.0).clamp(0.0, 1.0).powi(3) }
    }

    struct Farm {
        noise: Noise,
        wind: f64,
    }

    impl Farm {
        /// One minute: wind wandering around 7 m/s, a daily temperature cycle, and the
        /// power the turbine makes with `efficiency` of its normal output.
        fn reading(&mut self, minute: i64, efficiency: f64) -> TurbineReading {
            let n = &mut self.noise;
            self.wind = (0.995 * self.wind + 0.005 * 7.5 + 0.25 * n.normal()).clamp(0.0, 30.0);
            let t = T0 + minute * 60;
            let temp = 12.0 + 8.0 * ((t % DAY) as f64 / DAY as f64 * std::f64::consts::TAU).sin();
            let density = 1013.0 * 100.0 / (R_DRY_AIR * (temp + 273.15));
            let equivalent = self.wind * (density / REFERENCE_DENSITY).cbrt();
            let power = true_curve(equivalent) * efficiency * (1.0 + 0.005 * n.normal());
            TurbineReading {
                t,
                wind_speed_ms: self.wind * (1.0 + 0.01 * n.normal()),
                power_kw: power,
                air_temp_c: temp,
                pressure_hpa: 1013.0,
                relative_humidity_pct: f64::NAN,
                curtailed: false,
            }
        }
    }

    fn curve() -> PowerCurve {
        PowerCurve::new("power_kw", PowerCurveConfig { rated_kw: Some(RATED), ..PowerCurveConfig::default() }).unwrap()
    }

    #[test]
    fn normal_operation_with_gusts_and_curtailment_raises_nothing_and_learns_the_curve() {
        let mut farm = Farm { noise: Noise::new(11), wind: 7.0 };
        let mut pc = curve();
        let mut changes = Vec::new();
        for minute in 0..20 * 1440 {
            let mut r = farm.reading(minute, 1.0);
            // A lull the rotor has not caught up with, now and then.
            if minute % 487 == 0 {
                r.power_kw *= 0.5;
            }
            // Six hours a day at a 40 % dispatch limit, flagged.
            if (minute % 1440) < 360 && minute > 5 * 1440 {
                r.curtailed = true;
                r.power_kw = r.power_kw.min(0.4 * RATED);
            }
            pc.update(&r);
            changes.extend(pc.drain_events());
        }
        assert!(changes.is_empty(), "{changes:#?}");
        for v in [6.0, 9.0, 11.0] {
            let expected = pc.expected_kw(v, 15.0, 1013.0).unwrap();
            let density = 1013.0 * 100.0 / (R_DRY_AIR * 288.15);
            let truth = true_curve(v * (density / REFERENCE_DENSITY).cbrt());
            assert!((expected - truth).abs() < 0.03 * RATED, "at {v} m/s: {expected} vs {truth}");
        }
        assert!(pc.curve().len() > 10);
    }

    #[test]
    fn a_pitch_fault_is_caught_within_hours_of_wind_and_closes_after_repair() {
        let mut farm = Farm { noise: Noise::new(12), wind: 7.0 };
        let mut pc = curve();
        let mut changes = Vec::new();
        let (from, to) = (10 * 1440, 12 * 1440);
        for minute in 0..14 * 1440 {
            let efficiency = if (from..to).contains(&minute) { 0.85 } else { 1.0 };
            pc.update(&farm.reading(minute, efficiency));
            changes.extend(pc.drain_events());
        }
        let events = opened(&changes, EventKind::PowerCurve);
        assert_eq!(events.len(), 1, "{changes:#?}");
        let fault_start = T0 + from * 60;
        // Within hours of production: light winds (below ~5 % of rated) say nothing.
        assert!(events[0].0 >= fault_start && events[0].0 < fault_start + 8 * 3600, "{}", events[0].0 - fault_start);
        let end = changes.iter().find_map(|c| match c {
            EventChange::Closed(e) => e.end_s,
            _ => None,
        });
        let fault_end = T0 + to * 60;
        assert!(end.is_some_and(|e| e >= fault_end - 3600 && e < fault_end + 6 * 3600), "{end:?}");
    }

    #[test]
    fn a_stop_in_good_wind_is_caught_in_minutes() {
        let mut farm = Farm { noise: Noise::new(13), wind: 7.0 };
        let mut pc = curve();
        let mut first = None;
        for minute in 0..12 * 1440 {
            let mut r = farm.reading(minute, 1.0);
            if minute >= 10 * 1440 {
                r.wind_speed_ms = 9.0;
                r.power_kw = -4.0;
            }
            pc.update(&r);
            if first.is_none() && !pc.drain_events().is_empty() {
                first = Some(minute - 10 * 1440);
            }
        }
        assert!(first.is_some_and(|m| m <= 15), "{first:?}");
    }
}
