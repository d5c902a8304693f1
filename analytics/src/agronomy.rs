//! Agronomy: growing and pest degree days, season start rules, and FAO-56 Penman–Monteith
//! reference evapotranspiration (daily and hourly) with the FAO-56 helper equations.
//!
//! Equation numbers refer to Allen, Pereira, Raes & Smith (1998), *Crop evapotranspiration*,
//! FAO Irrigation and Drainage Paper 56; its worked examples are the unit tests. Pest
//! development degree days are [`degree_days`] with the species' lower and upper thresholds.
//!
//! The functions are numeric kernels: NaN inputs give NaN, and physically impossible inputs
//! (negative wind or radiation, relative humidity outside 0–100 %) give NaN rather than a
//! number that looks plausible. Nothing panics.

use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// Solar constant in FAO-56 units (MJ m⁻² min⁻¹).
const SOLAR_CONSTANT_MJ_M2_MIN: f64 = 0.0820;
/// Stefan–Boltzmann constant per day and per hour (MJ K⁻⁴ m⁻²).
const STEFAN_BOLTZMANN_DAY: f64 = 4.903e-9;
const STEFAN_BOLTZMANN_HOUR: f64 = 2.043e-10;
/// Albedo of the grass reference crop.
const REFERENCE_ALBEDO: f64 = 0.23;
/// Bounds on the relative shortwave radiation Rs/Rso in the longwave term. FAO-56 caps it at
/// 1.0; the floor of 0.3 follows ASCE-EWRI (2005) so a very dark hour near sunrise cannot turn
/// the cloudiness factor (1.35 Rs/Rso − 0.35) negative.
const RELATIVE_SHORTWAVE_MIN: f64 = 0.3;
const RELATIVE_SHORTWAVE_MAX: f64 = 1.0;
/// Days in the running mean of [`StartRule::FirstFiveDayMeanAtLeast`].
const START_RULE_WINDOW_DAYS: usize = 5;

/// How daily degree days are computed from the day's minimum and maximum temperature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DegreeDayMethod {
    /// Mean of Tmin and Tmax (each first capped at the upper threshold) minus the base,
    /// floored at 0 (McMaster & Wilhelm 1997, method 1, with a horizontal cutoff).
    SimpleAverage,
    /// Single sine through Tmin and Tmax with horizontal cutoffs at the base and upper
    /// thresholds (Baskerville & Emin 1969), the usual method for insect development.
    SingleSine,
}

/// Degree days (°C·day) accumulated in one day.
///
/// `upper_c` is the horizontal upper cutoff (development stops growing above it), if any.
/// Tmin and Tmax are taken in whichever order they come. NaN if any temperature is NaN or the
/// upper threshold is not above the base.
pub fn degree_days(tmin_c: f64, tmax_c: f64, base_c: f64, upper_c: Option<f64>, method: DegreeDayMethod) -> f64 {
    let upper = upper_c.unwrap_or(f64::INFINITY);
    if tmin_c.is_nan() || tmax_c.is_nan() || base_c.is_nan() || upper.is_nan() || upper <= base_c {
        return f64::NAN;
    }
    let (low, high) = if tmin_c <= tmax_c { (tmin_c, tmax_c) } else { (tmax_c, tmin_c) };
    match method {
        DegreeDayMethod::SimpleAverage => ((low.min(upper) + high.min(upper)) / 2.0 - base_c).max(0.0),
        DegreeDayMethod::SingleSine => single_sine(low, high, base_c, upper),
    }
}

/// Area under T(t) = mean + amplitude·sin(t) between the thresholds, per day (Baskerville &
/// Emin 1969, horizontal cutoff), for `low` ≤ `high` and `base` < `upper`.
fn single_sine(low: f64, high: f64, base: f64, upper: f64) -> f64 {
    if high <= base {
        return 0.0;
    }
    if low >= upper {
        return upper - base;
    }
    if low >= base && high <= upper {
        return (low + high) / 2.0 - base;
    }
    let mean = (low + high) / 2.0;
    let amplitude = (high - low) / 2.0; // > 0 here: a threshold lies strictly between low and high
    // Phase at which the curve crosses a threshold; −π/2 when the threshold is at or below Tmin,
    // +π/2 when it is at or above Tmax.
    let crossing = |threshold: f64| ((threshold - mean) / amplitude).clamp(-1.0, 1.0).asin();
    let at_base = if base > low { crossing(base) } else { -PI / 2.0 };
    let (at_upper, above) = if upper < high {
        let at_upper = crossing(upper);
        // (upper − base) for the part of the day spent above the upper threshold.
        (at_upper, (upper - base) * (PI / 2.0 - at_upper))
    } else {
        (PI / 2.0, 0.0)
    };
    // ∫ from the base crossing to the upper crossing of (T − base), over the half-period π.
    let between = (mean - base) * (at_upper - at_base) + amplitude * (at_base.cos() - at_upper.cos());
    (between + above) / PI
}

/// When degree-day accumulation starts in a season.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartRule {
    /// A fixed day of the year (1 = 1 January).
    FixedDayOfYear(u32),
    /// The first day on which the mean temperature of that day and the four before it
    /// reaches the threshold (°C), e.g. 3.0 for peony.
    FirstFiveDayMeanAtLeast(f64),
}

/// Index into `daily_mean_temps` (index 0 = 1 January) of the day accumulation starts.
///
/// For [`StartRule::FirstFiveDayMeanAtLeast`] the running mean is the trailing one, so the
/// start is known on the day itself (it is the fifth day of the first warm window); windows
/// containing a NaN day do not qualify. `None` if the rule is not met within the slice.
pub fn season_start(daily_mean_temps: &[f64], rule: StartRule) -> Option<usize> {
    match rule {
        StartRule::FixedDayOfYear(day) => {
            let index = usize::try_from(day.checked_sub(1)?).ok()?;
            (index < daily_mean_temps.len()).then_some(index)
        }
        StartRule::FirstFiveDayMeanAtLeast(threshold) => daily_mean_temps
            .windows(START_RULE_WINDOW_DAYS)
            .position(|window| window.iter().sum::<f64>() / START_RULE_WINDOW_DAYS as f64 >= threshold)
            .map(|first_window| first_window + START_RULE_WINDOW_DAYS - 1),
    }
}

/// Saturation vapour pressure e°(T) (kPa) at air temperature `t_c` (eq. 11).
pub fn saturation_vapour_pressure_kpa(t_c: f64) -> f64 {
    0.6108 * (17.27 * t_c / (t_c + 237.3)).exp()
}

/// Slope Δ of the saturation vapour pressure curve (kPa/°C) at `t_c` (eq. 13).
pub fn saturation_vapour_pressure_slope_kpa_per_c(t_c: f64) -> f64 {
    4098.0 * saturation_vapour_pressure_kpa(t_c) / (t_c + 237.3).powi(2)
}

/// Atmospheric pressure (kPa) at `elevation_m` above sea level (eq. 7).
pub fn atmospheric_pressure_kpa(elevation_m: f64) -> f64 {
    101.3 * ((293.0 - 0.0065 * elevation_m) / 293.0).powf(5.26)
}

/// Psychrometric constant γ (kPa/°C) at atmospheric pressure `pressure_kpa` (eq. 8).
pub fn psychrometric_constant_kpa_per_c(pressure_kpa: f64) -> f64 {
    0.665e-3 * pressure_kpa
}

/// Wind speed at 2 m (m/s) from `u_z` measured `z_m` metres above a grass surface (eq. 47).
/// NaN for heights at or below ~0.1 m, where the log profile has no meaning.
pub fn wind_2m(u_z: f64, z_m: f64) -> f64 {
    let log_term = (67.8 * z_m - 5.42).ln();
    if log_term > 0.0 { u_z * 4.87 / log_term } else { f64::NAN }
}

/// Inverse relative Earth–sun distance dr and solar declination δ (rad) (eqs. 23, 24).
fn earth_sun_geometry(day_of_year: u32) -> (f64, f64) {
    let day_angle = 2.0 * PI * f64::from(day_of_year) / 365.0;
    (1.0 + 0.033 * day_angle.cos(), 0.409 * (day_angle - 1.39).sin())
}

/// Sunset hour angle ωs (rad) (eq. 25); 0 in polar night, π in polar day.
fn sunset_hour_angle(latitude: f64, declination: f64) -> f64 {
    (-latitude.tan() * declination.tan()).clamp(-1.0, 1.0).acos()
}

/// Daily extraterrestrial radiation Ra (MJ m⁻² day⁻¹) at `latitude_deg` on `day_of_year` (eq. 21).
pub fn extraterrestrial_radiation_daily(latitude_deg: f64, day_of_year: u32) -> f64 {
    let latitude = latitude_deg.to_radians();
    let (inverse_distance, declination) = earth_sun_geometry(day_of_year);
    let sunset = sunset_hour_angle(latitude, declination);
    24.0 * 60.0 / PI
        * SOLAR_CONSTANT_MJ_M2_MIN
        * inverse_distance
        * (sunset * latitude.sin() * declination.sin() + latitude.cos() * declination.cos() * sunset.sin())
}

/// Extraterrestrial radiation Ra (MJ m⁻² hour⁻¹) over the hour centred on `utc_hour_mid`
/// (e.g. 14.5 for 14:00–15:00 UTC) at a site (eqs. 28–33, `longitude_deg` east-positive).
///
/// FAO-56 expresses the solar time through local standard time and the time-zone meridian;
/// in UTC that reduces to UTC + longitude/15 + Sc. The hour's ends are clipped to sunrise
/// and sunset, so Ra is 0 for an hour wholly in the night.
pub fn extraterrestrial_radiation_hourly(
    latitude_deg: f64,
    longitude_deg: f64,
    day_of_year: u32,
    utc_hour_mid: f64,
) -> f64 {
    let latitude = latitude_deg.to_radians();
    let (inverse_distance, declination) = earth_sun_geometry(day_of_year);
    let b = 2.0 * PI * (f64::from(day_of_year) - 81.0) / 364.0;
    let seasonal_correction_h = 0.1645 * (2.0 * b).sin() - 0.1255 * b.cos() - 0.025 * b.sin();
    let solar_time_h = utc_hour_mid + longitude_deg / 15.0 + seasonal_correction_h;
    // Hour angle at the middle of the period, wrapped into [−π, π).
    let mid = (PI / 12.0 * (solar_time_h - 12.0) + PI).rem_euclid(2.0 * PI) - PI;
    let sunset = sunset_hour_angle(latitude, declination);
    let (sin_lat, cos_lat) = latitude.sin_cos();
    let (sin_dec, cos_dec) = declination.sin_cos();
    // The hour, clipped to the daylight arc [−ωs, ωs]; shifted copies catch an hour that
    // straddles midnight (±π) during polar or near-polar day.
    let daylight_part = |shift: f64| {
        let start = (mid - PI / 24.0 + shift).clamp(-sunset, sunset);
        let end = (mid + PI / 24.0 + shift).clamp(-sunset, sunset);
        (end - start) * sin_lat * sin_dec + cos_lat * cos_dec * (end.sin() - start.sin())
    };
    let ra = 12.0 * 60.0 / PI
        * SOLAR_CONSTANT_MJ_M2_MIN
        * inverse_distance
        * (daylight_part(-2.0 * PI) + daylight_part(0.0) + daylight_part(2.0 * PI));
    // Rounding can leave a hair below zero at the edges of the daylight arc.
    if ra < 0.0 { 0.0 } else { ra }
}

/// Maximum possible sunshine duration N (hours) (eq. 34).
pub fn daylight_hours(latitude_deg: f64, day_of_year: u32) -> f64 {
    let (_, declination) = earth_sun_geometry(day_of_year);
    24.0 / PI * sunset_hour_angle(latitude_deg.to_radians(), declination)
}

/// Solar radiation Rs (MJ m⁻²) from measured sunshine hours `n` and daylight hours `N` with
/// the Ångström coefficients FAO-56 recommends without calibration, 0.25 and 0.50 (eq. 35).
pub fn solar_radiation_from_sunshine(sunshine_hours: f64, daylight_hours: f64, ra: f64) -> f64 {
    (0.25 + 0.50 * sunshine_hours / daylight_hours) * ra
}

/// Clear-sky solar radiation Rso (same units as `ra`) at `elevation_m` (eq. 37).
pub fn clear_sky_radiation(ra: f64, elevation_m: f64) -> f64 {
    (0.75 + 2e-5 * elevation_m) * ra
}

/// Net radiation Rn = Rns − Rnl (MJ m⁻² day⁻¹) over grass (eqs. 38–40): `rs` and `rso`
/// measured and clear-sky solar radiation, `ea_kpa` the actual vapour pressure.
pub fn net_radiation_daily(rs: f64, rso: f64, tmin_c: f64, tmax_c: f64, ea_kpa: f64) -> f64 {
    let mean_fourth_power = (kelvin(tmax_c).powi(4) + kelvin(tmin_c).powi(4)) / 2.0;
    let longwave = STEFAN_BOLTZMANN_DAY * mean_fourth_power * humidity_factor(ea_kpa) * cloudiness_factor(rs / rso);
    (1.0 - REFERENCE_ALBEDO) * rs - longwave
}

fn kelvin(t_c: f64) -> f64 {
    t_c + 273.16
}

/// (0.34 − 0.14 √ea), the air's emissivity term of eq. 39.
fn humidity_factor(ea_kpa: f64) -> f64 {
    0.34 - 0.14 * ea_kpa.sqrt()
}

/// (1.35 Rs/Rso − 0.35), the cloudiness term of eq. 39, with Rs/Rso bounded.
fn cloudiness_factor(relative_shortwave: f64) -> f64 {
    1.35 * relative_shortwave.clamp(RELATIVE_SHORTWAVE_MIN, RELATIVE_SHORTWAVE_MAX) - 0.35
}

/// What a day's humidity record holds, in FAO-56's order of preference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DailyHumidity {
    /// Actual vapour pressure measured or derived elsewhere (kPa).
    VapourPressure { ea_kpa: f64 },
    /// Dew point temperature (°C) (eq. 14).
    DewPoint { dew_point_c: f64 },
    /// Daily minimum and maximum relative humidity (%) (eq. 17).
    RelativeMinMax { rh_min_pct: f64, rh_max_pct: f64 },
    /// Only the daily mean relative humidity (%) (eq. 19, less reliable).
    RelativeMean { rh_mean_pct: f64 },
}

/// One day of weather at a site, as FAO-56's daily Penman–Monteith equation needs it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DailyWeather {
    pub tmin_c: f64,
    pub tmax_c: f64,
    pub humidity: DailyHumidity,
    /// Mean wind speed at 2 m (m/s); see [`wind_2m`] for other heights.
    pub wind_2m_ms: f64,
    /// Incoming solar (shortwave) radiation Rs (MJ m⁻² day⁻¹); from sunshine hours see
    /// [`solar_radiation_from_sunshine`].
    pub solar_rad_mj_m2: f64,
    pub latitude_deg: f64,
    pub elevation_m: f64,
    /// Day of the year, 1..=366.
    pub day_of_year: u32,
    /// Soil heat flux G (MJ m⁻² day⁻¹): 0 for daily steps (eq. 42); for monthly steps
    /// 0.14 (T_month − T_previous_month) (eq. 44).
    pub soil_heat_flux_mj_m2: f64,
}

/// Actual vapour pressure ea (kPa) from a day's humidity record; NaN for RH outside 0–100 %.
pub fn actual_vapour_pressure_kpa(humidity: DailyHumidity, tmin_c: f64, tmax_c: f64) -> f64 {
    let valid_rh = |rh: f64| (0.0..=100.0).contains(&rh);
    match humidity {
        DailyHumidity::VapourPressure { ea_kpa } => ea_kpa,
        DailyHumidity::DewPoint { dew_point_c } => saturation_vapour_pressure_kpa(dew_point_c),
        DailyHumidity::RelativeMinMax { rh_min_pct, rh_max_pct } if valid_rh(rh_min_pct) && valid_rh(rh_max_pct) => {
            (saturation_vapour_pressure_kpa(tmin_c) * rh_max_pct / 100.0
                + saturation_vapour_pressure_kpa(tmax_c) * rh_min_pct / 100.0)
                / 2.0
        }
        DailyHumidity::RelativeMean { rh_mean_pct } if valid_rh(rh_mean_pct) => {
            rh_mean_pct / 100.0 * mean_saturation_vapour_pressure_kpa(tmin_c, tmax_c)
        }
        DailyHumidity::RelativeMinMax { .. } | DailyHumidity::RelativeMean { .. } => f64::NAN,
    }
}

/// Mean saturation vapour pressure es (kPa) of a day (eq. 12).
pub fn mean_saturation_vapour_pressure_kpa(tmin_c: f64, tmax_c: f64) -> f64 {
    (saturation_vapour_pressure_kpa(tmin_c) + saturation_vapour_pressure_kpa(tmax_c)) / 2.0
}

/// FAO-56 Penman–Monteith grass reference evapotranspiration ET0 (mm/day) (eq. 6).
///
/// Negative results (dew-forming conditions) are reported as 0, since downstream water
/// balances treat ET0 as a loss. NaN for NaN or physically impossible inputs (negative wind
/// or radiation, RH outside 0–100 %, vapour pressure ≤ 0).
pub fn et0_daily(input: &DailyWeather) -> f64 {
    let ea = actual_vapour_pressure_kpa(input.humidity, input.tmin_c, input.tmax_c);
    if !(input.wind_2m_ms >= 0.0 && input.solar_rad_mj_m2 >= 0.0 && ea > 0.0) {
        return f64::NAN;
    }
    let t_mean = (input.tmin_c + input.tmax_c) / 2.0;
    let ra = extraterrestrial_radiation_daily(input.latitude_deg, input.day_of_year);
    let rso = clear_sky_radiation(ra, input.elevation_m);
    let rn = net_radiation_daily(input.solar_rad_mj_m2, rso, input.tmin_c, input.tmax_c, ea);
    let vapour_pressure_deficit = mean_saturation_vapour_pressure_kpa(input.tmin_c, input.tmax_c) - ea;
    penman_monteith(
        t_mean,
        rn - input.soil_heat_flux_mj_m2,
        vapour_pressure_deficit,
        input.wind_2m_ms,
        input.elevation_m,
        900.0,
    )
}

/// One hour of weather at a site for FAO-56's hourly Penman–Monteith equation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HourlyWeather {
    /// Mean air temperature over the hour (°C).
    pub temp_c: f64,
    /// Mean relative humidity over the hour (%).
    pub rh_pct: f64,
    /// Mean wind speed at 2 m (m/s).
    pub wind_2m_ms: f64,
    /// Solar radiation received during the hour (MJ m⁻² hour⁻¹; 1 MJ/h = 277.8 W/m² mean).
    pub solar_rad_mj_m2: f64,
    pub latitude_deg: f64,
    /// East-positive longitude (degrees).
    pub longitude_deg: f64,
    pub elevation_m: f64,
    /// Day of the year (1..=366) of the hour, in UTC; see [`crate::solar::day_of_year_utc`].
    pub day_of_year: u32,
    /// Middle of the hour in UTC hours (14.5 for 14:00–15:00 UTC).
    pub utc_hour_mid: f64,
    /// Rs/Rso to use while the sun is below the horizon, where it cannot be measured: FAO-56
    /// takes the value of the hours 2–3 h before sunset; 0.8 (its Example 19) when unknown.
    pub night_relative_shortwave: f64,
}

/// FAO-56 Penman–Monteith grass reference ET0 for one hour (mm/hour) (eq. 53), with
/// G = 0.1 Rn by day and 0.5 Rn by night (eqs. 45, 46) and the hourly longwave balance.
///
/// Negative results (dew) are reported as 0; NaN for NaN or physically impossible inputs, as
/// [`et0_daily`].
pub fn et0_hourly(input: &HourlyWeather) -> f64 {
    if !((0.0..=100.0).contains(&input.rh_pct) && input.wind_2m_ms >= 0.0 && input.solar_rad_mj_m2 >= 0.0) {
        return f64::NAN;
    }
    let saturation = saturation_vapour_pressure_kpa(input.temp_c);
    let ea = saturation * input.rh_pct / 100.0;
    let ra = extraterrestrial_radiation_hourly(
        input.latitude_deg,
        input.longitude_deg,
        input.day_of_year,
        input.utc_hour_mid,
    );
    let rso = clear_sky_radiation(ra, input.elevation_m);
    let is_day = rso > 0.0;
    let relative_shortwave = if is_day { input.solar_rad_mj_m2 / rso } else { input.night_relative_shortwave };
    let longwave = STEFAN_BOLTZMANN_HOUR
        * kelvin(input.temp_c).powi(4)
        * humidity_factor(ea)
        * cloudiness_factor(relative_shortwave);
    let rn = (1.0 - REFERENCE_ALBEDO) * input.solar_rad_mj_m2 - longwave;
    let soil_heat_flux = if is_day { 0.1 * rn } else { 0.5 * rn };
    penman_monteith(input.temp_c, rn - soil_heat_flux, saturation - ea, input.wind_2m_ms, input.elevation_m, 37.0)
}

/// The Penman–Monteith combination shared by eqs. 6 and 53; `aerodynamic_coefficient` is 900
/// for days and 37 for hours. Negative evapotranspiration is reported as 0 (NaN stays NaN).
fn penman_monteith(
    t_c: f64,
    available_energy: f64,
    vapour_pressure_deficit: f64,
    wind_2m_ms: f64,
    elevation_m: f64,
    aerodynamic_coefficient: f64,
) -> f64 {
    let slope = saturation_vapour_pressure_slope_kpa_per_c(t_c);
    let gamma = psychrometric_constant_kpa_per_c(atmospheric_pressure_kpa(elevation_m));
    let radiation_term = 0.408 * slope * available_energy;
    let aerodynamic_term = gamma * aerodynamic_coefficient / (t_c + 273.0) * wind_2m_ms * vapour_pressure_deficit;
    let et0 = (radiation_term + aerodynamic_term) / (slope + gamma * (1.0 + 0.34 * wind_2m_ms));
    if et0 < 0.0 { 0.0 } else { et0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// FAO-56 prints its worked examples rounded; a value matches when it rounds the same way.
    fn assert_rounds_to(actual: f64, published: f64, decimals: i32, what: &str) {
        let half_unit = 0.5 * 10f64.powi(-decimals);
        assert!(
            (actual - published).abs() <= half_unit + 1e-12,
            "{what}: computed {actual}, FAO-56 prints {published}"
        );
    }

    #[test]
    fn fao56_examples_2_3_5_14_atmosphere_and_humidity() {
        // Example 2: 1800 m.
        let pressure = atmospheric_pressure_kpa(1800.0);
        assert_rounds_to(pressure, 81.8, 1, "P at 1800 m");
        assert_rounds_to(psychrometric_constant_kpa_per_c(pressure), 0.054, 3, "γ at 1800 m");
        // Example 3: Tmax 24.5 °C, Tmin 15 °C.
        assert_rounds_to(saturation_vapour_pressure_kpa(24.5), 3.075, 3, "e°(24.5)");
        assert_rounds_to(saturation_vapour_pressure_kpa(15.0), 1.705, 3, "e°(15)");
        assert_rounds_to(mean_saturation_vapour_pressure_kpa(15.0, 24.5), 2.39, 2, "es");
        // Annex 2, Table 2.4 at 20 °C.
        assert_rounds_to(saturation_vapour_pressure_kpa(20.0), 2.338, 3, "e°(20)");
        assert_rounds_to(saturation_vapour_pressure_slope_kpa_per_c(20.0), 0.145, 3, "Δ(20)");
        // Example 5: Tmin 18, Tmax 25, RHmax 82 %, RHmin 54 %.
        let humidity = DailyHumidity::RelativeMinMax { rh_min_pct: 54.0, rh_max_pct: 82.0 };
        assert_rounds_to(actual_vapour_pressure_kpa(humidity, 18.0, 25.0), 1.70, 2, "ea");
        // Dew point equals the temperature at which the air saturates (eq. 14).
        let dew = DailyHumidity::DewPoint { dew_point_c: 15.0 };
        assert_eq!(actual_vapour_pressure_kpa(dew, 0.0, 40.0), saturation_vapour_pressure_kpa(15.0));
        // Example 14: 3.2 m/s at 10 m.
        assert_rounds_to(wind_2m(3.2, 10.0), 2.4, 1, "u2");
        assert!(wind_2m(3.0, 0.05).is_nan());
    }

    #[test]
    fn fao56_examples_8_to_11_radiation() {
        // Examples 8 and 9: 3 September (J = 246) at 20°S.
        assert_rounds_to(extraterrestrial_radiation_daily(-20.0, 246), 32.2, 1, "Ra");
        assert_rounds_to(daylight_hours(-20.0, 246), 11.7, 1, "N");
        // Example 10: Rio de Janeiro (22°54'S), May (J = 135), 220 sunshine hours in 31 days.
        let latitude = -(22.0 + 54.0 / 60.0);
        let ra = extraterrestrial_radiation_daily(latitude, 135);
        let daylight = daylight_hours(latitude, 135);
        assert_rounds_to(ra, 25.1, 1, "Ra Rio");
        assert_rounds_to(daylight, 10.9, 1, "N Rio");
        assert_rounds_to(solar_radiation_from_sunshine(220.0 / 31.0, daylight, ra), 14.5, 1, "Rs Rio");
        // Example 11: Rs 14.5, Ra 25.1 at sea level, Tmax 25.1, Tmin 19.1, ea 2.1 kPa.
        let rso = clear_sky_radiation(25.1, 0.0);
        assert_rounds_to(rso, 18.8, 1, "Rso");
        assert_rounds_to(net_radiation_daily(14.5, rso, 19.1, 25.1, 2.1), 7.6, 1, "Rn");
    }

    /// Example 18: Brussels (50°48'N, 100 m), 6 July (J = 187): Tmax 21.5, Tmin 12.3, RHmax 84,
    /// RHmin 63, 10 km/h wind at 10 m, 9.25 h of sunshine.
    #[test]
    fn fao56_example_18_daily_et0_brussels() {
        let (latitude, elevation, day) = (50.0 + 48.0 / 60.0, 100.0, 187);
        let wind = wind_2m(10.0 / 3.6, 10.0);
        assert_rounds_to(wind, 2.078, 3, "u2");
        let ra = extraterrestrial_radiation_daily(latitude, day);
        assert_rounds_to(ra, 41.09, 2, "Ra");
        let daylight = daylight_hours(latitude, day);
        assert_rounds_to(daylight, 16.1, 1, "N");
        let rs = solar_radiation_from_sunshine(9.25, daylight, ra);
        assert_rounds_to(rs, 22.07, 2, "Rs");
        let humidity = DailyHumidity::RelativeMinMax { rh_min_pct: 63.0, rh_max_pct: 84.0 };
        let ea = actual_vapour_pressure_kpa(humidity, 12.3, 21.5);
        assert_rounds_to(ea, 1.409, 3, "ea");
        assert_rounds_to(mean_saturation_vapour_pressure_kpa(12.3, 21.5), 1.997, 3, "es");
        let rso = clear_sky_radiation(ra, elevation);
        assert_rounds_to(rso, 30.90, 2, "Rso");
        assert_rounds_to(net_radiation_daily(rs, rso, 12.3, 21.5, ea), 13.28, 2, "Rn");
        let weather = DailyWeather {
            tmin_c: 12.3,
            tmax_c: 21.5,
            humidity,
            wind_2m_ms: wind,
            solar_rad_mj_m2: rs,
            latitude_deg: latitude,
            elevation_m: elevation,
            day_of_year: day,
            soil_heat_flux_mj_m2: 0.0,
        };
        assert_rounds_to(et0_daily(&weather), 3.9, 1, "ET0");
    }

    /// Example 17: Bangkok (13°44'N, 2 m), April (J = 105) monthly means: Tmax 34.8, Tmin 25.6,
    /// ea 2.85 kPa, u2 2 m/s, 8.5 h sunshine; G = 0.14 (30.2 − 29.2) MJ m⁻² day⁻¹.
    #[test]
    fn fao56_example_17_monthly_et0_bangkok() {
        let (latitude, day) = (13.0 + 44.0 / 60.0, 105);
        let ra = extraterrestrial_radiation_daily(latitude, day);
        assert_rounds_to(ra, 38.06, 2, "Ra");
        let daylight = daylight_hours(latitude, day);
        assert_rounds_to(daylight, 12.31, 2, "N");
        let rs = solar_radiation_from_sunshine(8.5, daylight, ra);
        assert_rounds_to(rs, 22.65, 2, "Rs");
        let weather = DailyWeather {
            tmin_c: 25.6,
            tmax_c: 34.8,
            humidity: DailyHumidity::VapourPressure { ea_kpa: 2.85 },
            wind_2m_ms: 2.0,
            solar_rad_mj_m2: rs,
            latitude_deg: latitude,
            elevation_m: 2.0,
            day_of_year: day,
            soil_heat_flux_mj_m2: 0.14 * (30.2 - 29.2),
        };
        assert_rounds_to(et0_daily(&weather), 5.72, 2, "ET0");
    }

    /// Example 19: N'Diaye, Senegal (16°13'N, 16°15'W, 8 m), 1 October (J = 274). FAO-56 keeps
    /// time on the 15°W meridian (Lz = 15, i.e. UTC−1), so its 14:00–15:00 is 15:00–16:00 UTC.
    #[test]
    fn fao56_example_19_hourly_et0_senegal() {
        let site = |utc_hour_mid: f64, temp_c: f64, rh_pct: f64, wind_2m_ms: f64, solar_rad_mj_m2: f64| HourlyWeather {
            temp_c,
            rh_pct,
            wind_2m_ms,
            solar_rad_mj_m2,
            latitude_deg: 16.0 + 13.0 / 60.0,
            longitude_deg: -(16.0 + 15.0 / 60.0),
            elevation_m: 8.0,
            day_of_year: 274,
            utc_hour_mid,
            night_relative_shortwave: 0.8,
        };
        let afternoon = site(15.5, 38.0, 52.0, 3.3, 2.450);
        let ra = extraterrestrial_radiation_hourly(afternoon.latitude_deg, afternoon.longitude_deg, 274, 15.5);
        assert_rounds_to(ra, 3.543, 3, "Ra 14-15 h");
        assert_rounds_to(clear_sky_radiation(ra, 8.0), 2.658, 3, "Rso 14-15 h");
        assert_rounds_to(saturation_vapour_pressure_kpa(38.0), 6.625, 3, "e°(38)");
        assert_rounds_to(saturation_vapour_pressure_slope_kpa_per_c(38.0), 0.358, 3, "Δ(38)");
        assert_rounds_to(psychrometric_constant_kpa_per_c(atmospheric_pressure_kpa(8.0)), 0.0673, 4, "γ");
        assert_rounds_to(et0_hourly(&afternoon), 0.63, 2, "ET0 14-15 h");

        let night = site(3.5, 28.0, 90.0, 1.9, 0.0);
        assert_eq!(extraterrestrial_radiation_hourly(night.latitude_deg, night.longitude_deg, 274, 3.5), 0.0);
        assert_rounds_to(et0_hourly(&night), 0.0, 2, "ET0 02-03 h");
    }

    #[test]
    fn degree_days_worked_values() {
        use DegreeDayMethod::{SimpleAverage, SingleSine};
        // Tmin 5, Tmax 25, base 10: the sine is above the base for 2/3 of the day;
        // (5·(π/2 + π/6) + 10·cos(π/6)) / π.
        let expected = (5.0 * (PI / 2.0 + PI / 6.0) + 10.0 * (PI / 6.0).cos()) / PI;
        assert!((degree_days(5.0, 25.0, 10.0, None, SingleSine) - expected).abs() < 1e-12);
        assert!((degree_days(25.0, 5.0, 10.0, None, SingleSine) - expected).abs() < 1e-12);
        // Mean at the base: amplitude / π.
        assert!((degree_days(0.0, 20.0, 10.0, None, SingleSine) - 10.0 / PI).abs() < 1e-12);
        assert_eq!(degree_days(12.0, 24.0, 10.0, Some(30.0), SingleSine), 8.0);
        assert_eq!(degree_days(32.0, 40.0, 10.0, Some(30.0), SingleSine), 20.0);
        assert_eq!(degree_days(-5.0, 9.0, 10.0, Some(30.0), SingleSine), 0.0);

        assert_eq!(degree_days(5.0, 25.0, 10.0, None, SimpleAverage), 5.0);
        assert_eq!(degree_days(5.0, 25.0, 10.0, Some(20.0), SimpleAverage), 2.5);
        assert_eq!(degree_days(-10.0, 14.0, 10.0, None, SimpleAverage), 0.0);

        assert!(degree_days(f64::NAN, 25.0, 10.0, None, SingleSine).is_nan());
        assert!(degree_days(5.0, 25.0, 10.0, Some(10.0), SimpleAverage).is_nan());
        assert!(degree_days(5.0, 25.0, 10.0, Some(f64::NAN), SingleSine).is_nan());
    }

    #[test]
    fn season_start_rules() {
        let temps = [0.0, 1.0, 6.0, -2.0, 2.0, 2.0, 4.0, 3.0, 5.0, 1.0];
        assert_eq!(season_start(&temps, StartRule::FixedDayOfYear(1)), Some(0));
        assert_eq!(season_start(&temps, StartRule::FixedDayOfYear(10)), Some(9));
        assert_eq!(season_start(&temps, StartRule::FixedDayOfYear(11)), None);
        assert_eq!(season_start(&temps, StartRule::FixedDayOfYear(0)), None);
        // Trailing 5-day means from day index 4: 1.4, 1.8, 2.4, 1.8, 3.2 → first ≥ 3 on day 8.
        assert_eq!(season_start(&temps, StartRule::FirstFiveDayMeanAtLeast(3.0)), Some(8));
        assert_eq!(season_start(&temps, StartRule::FirstFiveDayMeanAtLeast(2.4)), Some(6));
        assert_eq!(season_start(&temps, StartRule::FirstFiveDayMeanAtLeast(9.0)), None);
        assert_eq!(season_start(&temps[..4], StartRule::FirstFiveDayMeanAtLeast(-50.0)), None);
        let gap = [5.0, 5.0, f64::NAN, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0];
        assert_eq!(season_start(&gap, StartRule::FirstFiveDayMeanAtLeast(3.0)), Some(7));
    }

    #[test]
    fn hourly_extraterrestrial_radiation_sums_to_daily() {
        for (latitude, day) in [(35.2, 172), (35.2, 355), (-20.0, 246), (75.0, 172), (75.0, 355), (0.0, 80)] {
            let hourly: f64 =
                (0..24).map(|h| extraterrestrial_radiation_hourly(latitude, 115.4, day, f64::from(h) + 0.5)).sum();
            let daily = extraterrestrial_radiation_daily(latitude, day);
            assert!((hourly - daily).abs() < 1e-9 * daily.max(1.0), "{latitude}° day {day}: {hourly} vs {daily}");
        }
    }

    /// Single-sine degree days by brute-force averaging of the clamped sine over a day.
    fn numeric_single_sine(tmin: f64, tmax: f64, base: f64, upper: f64) -> f64 {
        let steps = 20_000;
        let (mean, amplitude) = ((tmin + tmax) / 2.0, (tmax - tmin) / 2.0);
        (0..steps)
            .map(|i| {
                let phase = 2.0 * PI * (f64::from(i) + 0.5) / f64::from(steps);
                (mean + amplitude * phase.sin()).clamp(base, upper) - base
            })
            .sum::<f64>()
            / f64::from(steps)
    }

    proptest! {
        #[test]
        fn single_sine_integrates_the_clamped_sine(
            tmin in -20.0..40.0_f64,
            range in 0.0..30.0_f64,
            base in -5.0..20.0_f64,
            span in 1.0..30.0_f64,
        ) {
            let (tmax, upper) = (tmin + range, base + span);
            let analytic = degree_days(tmin, tmax, base, Some(upper), DegreeDayMethod::SingleSine);
            let numeric = numeric_single_sine(tmin, tmax, base, upper);
            prop_assert!((analytic - numeric).abs() < 1e-3, "{} vs {}", analytic, numeric);
            // Without an upper cutoff the sine method never counts less than the average method
            // (Jensen's inequality), and both stay within [0, max(0, Tmax − base)].
            let sine = degree_days(tmin, tmax, base, None, DegreeDayMethod::SingleSine);
            let average = degree_days(tmin, tmax, base, None, DegreeDayMethod::SimpleAverage);
            prop_assert!(sine + 1e-12 >= average && average >= 0.0);
            prop_assert!(sine <= (tmax - base).max(0.0) + 1e-12);
        }

        #[test]
        fn degree_days_never_panic(
            a in any::<f64>(), b in any::<f64>(), base in any::<f64>(), upper in any::<Option<f64>>(),
        ) {
            for method in [DegreeDayMethod::SimpleAverage, DegreeDayMethod::SingleSine] {
                let dd = degree_days(a, b, base, upper, method);
                prop_assert!(dd.is_nan() || dd >= 0.0);
            }
        }

        #[test]
        fn daily_et0_is_sane(
            tmin in -20.0..35.0_f64,
            range in 0.0..20.0_f64,
            rh_min in 5.0..100.0_f64,
            rh_extra in 0.0..60.0_f64,
            wind in 0.0..15.0_f64,
            sunshine_fraction in 0.0..=1.0_f64,
            latitude in -60.0..60.0_f64,
            elevation in -100.0..4000.0_f64,
            day in 1..=366_u32,
        ) {
            let ra = extraterrestrial_radiation_daily(latitude, day);
            let weather = DailyWeather {
                tmin_c: tmin,
                tmax_c: tmin + range,
                humidity: DailyHumidity::RelativeMinMax { rh_min_pct: rh_min, rh_max_pct: (rh_min + rh_extra).min(100.0) },
                wind_2m_ms: wind,
                solar_rad_mj_m2: solar_radiation_from_sunshine(sunshine_fraction, 1.0, ra),
                latitude_deg: latitude,
                elevation_m: elevation,
                day_of_year: day,
                soil_heat_flux_mj_m2: 0.0,
            };
            let et0 = et0_daily(&weather);
            // 51 °C, 5 % RH and a 15 m/s wind give ~31 mm/day: extreme but physical.
            prop_assert!((0.0..40.0).contains(&et0), "{} for {:?}", et0, weather);
        }

        #[test]
        fn hourly_et0_is_sane(
            temp in -10.0..45.0_f64,
            rh in 1.0..=100.0_f64,
            wind in 0.0..15.0_f64,
            rs in 0.0..4.0_f64,
            latitude in -60.0..60.0_f64,
            longitude in -180.0..180.0_f64,
            day in 1..=366_u32,
            hour in 0.0..24.0_f64,
        ) {
            let weather = HourlyWeather {
                temp_c: temp,
                rh_pct: rh,
                wind_2m_ms: wind,
                solar_rad_mj_m2: rs,
                latitude_deg: latitude,
                longitude_deg: longitude,
                elevation_m: 50.0,
                day_of_year: day,
                utc_hour_mid: hour,
                night_relative_shortwave: 0.8,
            };
            let et0 = et0_hourly(&weather);
            prop_assert!((0.0..2.5).contains(&et0), "{} for {:?}", et0, weather);
        }

        #[test]
        fn et0_never_panics_and_nan_propagates(
            values in proptest::collection::vec(any::<f64>(), 9),
            day in any::<u32>(),
        ) {
            let daily = DailyWeather {
                tmin_c: values[0],
                tmax_c: values[1],
                humidity: DailyHumidity::RelativeMinMax { rh_min_pct: values[2], rh_max_pct: values[3] },
                wind_2m_ms: values[4],
                solar_rad_mj_m2: values[5],
                latitude_deg: values[6],
                elevation_m: values[7],
                day_of_year: day,
                soil_heat_flux_mj_m2: values[8],
            };
            let et0 = et0_daily(&daily);
            prop_assert!(et0.is_nan() || et0 >= 0.0);
            let nan_temperature = DailyWeather { tmin_c: f64::NAN, ..daily };
            prop_assert!(et0_daily(&nan_temperature).is_nan());
            let hourly = HourlyWeather {
                temp_c: values[0],
                rh_pct: values[2],
                wind_2m_ms: values[4],
                solar_rad_mj_m2: values[5],
                latitude_deg: values[6],
                longitude_deg: values[1],
                elevation_m: values[7],
                day_of_year: day,
                utc_hour_mid: values[3],
                night_relative_shortwave: values[8],
            };
            let et0 = et0_hourly(&hourly);
            prop_assert!(et0.is_nan() || et0 >= 0.0);
            let nan_temperature = HourlyWeather { temp_c: f64::NAN, ..hourly };
            prop_assert!(et0_hourly(&nan_temperature).is_nan());
        }
    }
}
