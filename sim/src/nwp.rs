//! NWP feeds with honest errors. A forecast issued at time I (every `issue_every_hours`,
//! published `delay_minutes` later) gives values at valid times I, I + step, ... up to the
//! horizon. Each value is the simulated regional truth at (or, for issues with a timing
//! error, shifted from) its valid time plus an error that grows linearly with lead time and
//! is AR(1)-correlated along the lead axis. The errors come from a random stream of their
//! own, seeded by the feed and the issue time, so nothing else in the run depends on them and
//! the forecast never sees the truth except through this truth-plus-error construction.
//!
//! Precipitation per step is the truth's over the step, times a log-normal factor (its own
//! random stream, so the other variables of a seed are unchanged by it).
//!
//! A timing error (probability `timing_error_probability` per issue) samples the truth at
//! `valid + s(lead)`, with `s` growing over the first 24 h to up to `timing_error_max_hours`:
//! fronts, rain bands and wind ramps arrive early or late in that forecast.

use fieldline_analytics::solar;

use super::random::{Ar1, round_to, smooth_normal, stream, uniform};
use super::scenario::NwpModel;
use super::weather::{ClimateModel, WeatherBuffer, cloud_transmission, rh_from_dewpoint, year_fraction};
use super::{Error, Value};

/// Where an NWP feed forecasts for.
#[derive(Debug, Clone)]
pub struct NwpFeed {
    pub device: usize,
    pub site: String,
    pub latitude: f64,
    pub longitude: f64,
    pub altitude_m: f64,
    pub reference_altitude_m: f64,
    pub temp_offset_c: f64,
    pub wind_exposure: f64,
}

/// One forecast run: its rows are (valid time, values).
#[derive(Debug, Clone)]
pub struct Issue {
    pub device: usize,
    pub issued: i64,
    pub published: i64,
    pub rows: Vec<(i64, [Value; 8])>,
}

/// Computes the forecast `feed` issues at `issued`.
pub fn forecast(
    model: &NwpModel,
    climate: &ClimateModel,
    feed: &NwpFeed,
    seed: u64,
    issued: i64,
    weather: &WeatherBuffer,
) -> Result<Issue, Error> {
    let mut rng = stream(seed, &format!("nwp/{}/{}", feed.site, issued));
    let step = i64::from(model.step_minutes.max(1)) * 60;
    let horizon = i64::from(model.horizon_hours) * 3600;
    let tau = model.error_correlation_hours.max(0.1) * 3600.0;
    let dt = step as f64;
    let mut errors: Vec<Ar1> = (0..6).map(|_| Ar1::new(tau, dt, &mut rng)).collect();
    let timing_shift_s = if rand::Rng::random::<f64>(&mut rng) < model.timing_error_probability {
        let magnitude = uniform(&mut rng, 1.0, model.timing_error_max_hours.max(1.0)) * 3600.0;
        if rand::Rng::random::<bool>(&mut rng) { magnitude } else { -magnitude }
    } else {
        0.0
    };
    let sd = |pair: [f64; 2], lead: i64| pair[0] + (pair[1] - pair[0]) * lead as f64 / horizon.max(1) as f64;
    // Precipitation errors have a stream of their own, so adding them left every other
    // forecast value of a seed as it was.
    let mut rain_rng = stream(seed, &format!("nwp-precip/{}/{}", feed.site, issued));
    let mut rain_error = Ar1::new(tau, dt, &mut rain_rng);
    let mut rows = Vec::with_capacity((horizon / step) as usize);
    let mut lead = 0;
    while lead < horizon {
        let valid = issued + lead;
        let shift = (timing_shift_s * (lead as f64 / 86_400.0).min(1.0)) as i64;
        let sample_t = valid + shift - (valid + shift).rem_euclid(60);
        let truth = weather.at(sample_t).ok_or_else(|| {
            Error::Options(format!("internal: NWP truth at {sample_t} is outside the weather buffer"))
        })?;
        // Each error mixes a part every run shares for this valid time with this run's own part.
        let shared = model.shared_error_fraction.clamp(0.0, 1.0);
        let knot = (model.error_correlation_hours.max(0.1) * 3600.0) as i64;
        let z: Vec<f64> = errors
            .iter_mut()
            .enumerate()
            .map(|(k, e)| {
                let common = smooth_normal(seed, &format!("nwp-shared/{}/{k}", feed.site), valid, knot);
                shared.sqrt() * common + (1.0 - shared).sqrt() * e.step(&mut rng)
            })
            .collect();
        let wind =
            (truth.wind100_ms * feed.wind_exposure + model.wind_speed_bias_ms + sd(model.wind_speed_ms, lead) * z[0])
                .max(0.0);
        let direction = (truth.wind_dir_deg + sd(model.wind_dir_deg, lead) * z[1]).rem_euclid(360.0);
        let cloud = (truth.cloud + sd(model.cloud_cover_pct, lead) / 100.0 * z[2]).clamp(0.0, 1.0);
        let temp = truth.temp_c + feed.temp_offset_c + sd(model.air_temp_c, lead) * z[3];
        let truth_rh = rh_from_dewpoint(truth.temp_c + feed.temp_offset_c, truth.dewpoint_c);
        let rh = (truth_rh + sd(model.rh_pct, lead) * z[4]).clamp(3.0, 100.0);
        let pressure = truth.pressure_hpa - 0.12 * (feed.altitude_m - feed.reference_altitude_m)
            + sd(model.pressure_hpa, lead) * z[5];
        // Irradiance follows the forecast cloud through the same clear-sky model as the truth.
        let sun = solar::position_fast(valid as f64, feed.latitude, feed.longitude, pressure, temp);
        let doy = solar::day_of_year_utc(valid as f64).unwrap_or(1);
        let clear = solar::clearsky_ineichen(
            sun.zenith_deg,
            feed.altitude_m,
            climate.linke.at(year_fraction(valid)).max(1.0),
            doy,
        );
        let ghi = if clear.ghi.is_finite() { clear.ghi.max(0.0) * cloud_transmission(cloud) } else { 0.0 };
        // The rain of the (shifted) step ending at the valid time: the truth's minutes, times
        // a log-normal factor that widens with lead.
        let mut rain_mm = 0.0;
        for minute in (0..step).step_by(60) {
            rain_mm += weather.at(sample_t - step + 60 + minute).map_or(0.0, |w| w.rain_mm_h) / 60.0;
        }
        let (rain_z, rain_sd) = (rain_error.step(&mut rain_rng), sd(model.precip_log_sd, lead));
        // exp(σz − σ²/2) has mean 1: amounts scatter but do not drift wetter with lead.
        let precip = rain_mm * (rain_sd * rain_z - rain_sd * rain_sd / 2.0).exp();
        rows.push((
            valid,
            [
                Value::Num(round_to(wind, 2)),
                Value::Num(round_to(direction, 1)),
                Value::Num(round_to(ghi, 1)),
                Value::Num(round_to(temp, 2)),
                Value::Num(round_to(rh, 1)),
                Value::Num(round_to(cloud * 100.0, 1)),
                Value::Num(round_to(pressure, 1)),
                Value::Num(round_to(precip, 1)),
            ],
        ));
        lead += step;
    }
    Ok(Issue { device: feed.device, issued, published: issued + i64::from(model.delay_minutes) * 60, rows })
}
