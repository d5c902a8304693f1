//! The wind farm: turbines from the manufacturer power curve with air-density correction
//! (IEC 61400-12: equivalent wind speed u·(ρ/1.225)^⅓), Jensen wakes from the layout,
//! cut-in and cut-out with hysteresis, variable-speed rotor and pitch control, yaw tracking,
//! availability (random outages), pitch faults and icing, dispatch curtailment (限电), and
//! the plant meter.
//!
//! Icing: rime or glaze accretes on the blades while the air at hub height is at −8..+1 °C
//! and carries supercooled water: the hub inside the fog or low stratus (RH ≥ 95 %,
//! sometimes with freezing drizzle) of the weather's freezing-fog spells. A clear night's
//! saturation near the ground is a shallow fog below the hub, and winter precipitation
//! without such a cloud falls as snow, which hardly sticks. Accretion grows with the water the blades sweep, so with their speed: a
//! turning rotor (about eight times the wind at the tips) ices in a few hours, a parked one
//! barely. The power loss against the curve grows with the ice to a maximum of 15–45 %
//! (drawn per episode) and stays, whatever the humidity, until the air at the hub has been
//! above +1 °C for an hour; then the ice sheds within half an hour. The air at hub height is
//! the 2 m air less the standard lapse, without the surface cooling of a radiative frost
//! night (an inversion). Each turbine's episode is ground truth for the minutes it produced
//! with a loss: from the first to the last.

use rand::rngs::StdRng;

use super::engine::Emit;
use super::faults::FaultKind;
use super::random::{Ar1, normal, round_to, stream, uniform};
use super::scenario::WindFarm;
use super::weather::{SiteState, rh_from_dewpoint};
use super::{Error, Value};

/// Standard air density of power curves (kg/m³).
const RHO0: f64 = 1.225;
const R_DRY_AIR: f64 = 287.05;
/// Optimal tip-speed ratio of the variable-speed region.
const TIP_SPEED_RATIO: f64 = 8.0;
/// Air temperature at hub height (°C) in which supercooled water freezes on the blades.
const ICING_TEMP_C: (f64, f64) = (-8.0, 1.0);
/// Relative humidity (%) of fog or low cloud at the hub.
const ICING_FOG_RH_PCT: f64 = 95.0;
/// Ice sheds once the air at the hub has been above this (°C) ...
const SHEDDING_TEMP_C: f64 = 1.0;
/// ... for this many minutes, and is gone this many minutes later.
const SHEDDING_AFTER_MINUTES: u32 = 60;
const SHEDDING_MINUTES: f64 = 30.0;
/// Blade speed of a turning rotor relative to the wind (the tip-speed ratio, rounded).
const TURNING_SWEEP: f64 = 8.0;

/// A tabulated power curve, linear between points, zero outside.
#[derive(Debug, Clone)]
pub struct PowerCurve {
    speeds: Vec<f64>,
    powers: Vec<f64>,
    pub rated_kw: f64,
    /// Lowest wind speed with power, and the lowest at rated power.
    pub cut_in_ms: f64,
    pub rated_ms: f64,
}

impl PowerCurve {
    pub fn new(speeds: &[f64], powers: &[f64], rated_kw: f64) -> Self {
        let first_power = powers.iter().position(|p| *p > 0.0).unwrap_or(0);
        let cut_in_ms = speeds.get(first_power.saturating_sub(1)).copied().unwrap_or(3.0);
        let rated_ms = speeds.iter().zip(powers).find(|(_, p)| **p >= rated_kw * 0.999).map_or(12.0, |(s, _)| *s);
        PowerCurve { speeds: speeds.to_vec(), powers: powers.to_vec(), rated_kw, cut_in_ms, rated_ms }
    }

    /// Power (kW) at equivalent wind speed `u` (m/s).
    pub fn power_kw(&self, u: f64) -> f64 {
        if !u.is_finite() {
            return 0.0;
        }
        let i = self.speeds.partition_point(|s| *s <= u);
        if i == 0 || i >= self.speeds.len() {
            return if i >= self.speeds.len() && self.speeds.last().is_some_and(|last| u <= *last) {
                self.powers.last().copied().unwrap_or(0.0)
            } else {
                0.0
            };
        }
        let (s0, s1) = (self.speeds[i - 1], self.speeds[i]);
        let (p0, p1) = (self.powers[i - 1], self.powers[i]);
        p0 + (p1 - p0) * (u - s0) / (s1 - s0)
    }
}

/// Air density (kg/m³) at hub height from the station's pressure and temperature.
pub fn air_density(pressure_hpa: f64, temp_c: f64, height_above_station_m: f64) -> f64 {
    let t_k = temp_c + 273.15;
    let p = pressure_hpa * 100.0 * (-9.80665 * height_above_station_m / (R_DRY_AIR * t_k)).exp();
    p / (R_DRY_AIR * (t_k - 0.0065 * height_above_station_m))
}

/// Speed factor (1 − deficit) of every turbine for every whole-degree wind direction, from
/// Jensen's top-hat wake model with root-sum-square superposition.
fn wake_table(farm: &WindFarm) -> Vec<[f32; 360]> {
    let n = farm.turbines;
    let per_row = n.div_ceil(farm.rows.max(1));
    let positions: Vec<(f64, f64)> = (0..n)
        .map(|k| ((k % per_row) as f64 * farm.turbine_spacing_m, (k / per_row) as f64 * farm.row_spacing_m))
        .collect();
    let radius = farm.rotor_diameter_m / 2.0;
    let initial_deficit = 1.0 - (1.0 - farm.thrust_coefficient).sqrt();
    let mut table = vec![[1.0f32; 360]; n];
    for (i, factors) in table.iter_mut().enumerate() {
        let here = positions[i];
        for (dir, factor) in factors.iter_mut().enumerate() {
            let theta = (dir as f64).to_radians();
            // The wind blows from `dir`, i.e. toward (−sin θ, −cos θ) in (east, north).
            let (dx, dy) = (-theta.sin(), -theta.cos());
            let mut sum_sq = 0.0;
            for (j, upstream) in positions.iter().enumerate() {
                if i == j {
                    continue;
                }
                let (vx, vy) = (here.0 - upstream.0, here.1 - upstream.1);
                let downstream = vx * dx + vy * dy;
                if downstream <= 0.0 {
                    continue;
                }
                let lateral = (vx * dy - vy * dx).abs();
                let wake_radius = radius + farm.wake_decay * downstream;
                let overlap = ((wake_radius + radius - lateral) / (2.0 * radius)).clamp(0.0, 1.0);
                let deficit = initial_deficit * (radius / wake_radius).powi(2) * overlap;
                sum_sq += deficit * deficit;
            }
            *factor = (1.0 - sum_sq.sqrt()).max(0.3) as f32;
        }
    }
    table
}

#[derive(Debug)]
struct Turbine {
    device: usize,
    rng: StdRng,
    turbulence: Ar1,
    anemometer_factor: f64,
    vane_bias_deg: f64,
    /// `None` until the first reading: the nacelle starts facing the wind.
    nacelle_dir_deg: Option<f64>,
    storm_stopped: bool,
    /// Accreted ice, 0..1 of what causes `max_loss`.
    ice: f64,
    /// Accretion per minute of a rotor turning in an 8 m/s wind.
    ice_rate_per_min: f64,
    /// Power loss at full ice in this episode.
    max_loss: f64,
    /// Minutes the air at the hub has been above the shedding temperature.
    thaw_minutes: u32,
    /// Ground truth of the episode, and the last minute the turbine produced with ice.
    icing_event: Option<usize>,
    iced_production_until: i64,
}

/// A simulated wind farm and its meter.
#[derive(Debug)]
pub struct WindFarmSim {
    config: WindFarm,
    curve: PowerCurve,
    wake: Vec<[f32; 360]>,
    turbines: Vec<Turbine>,
    meter: usize,
    capacity_mw: f64,
    icing_enabled: bool,
    values: Vec<Value>,
}

/// What one turbine did this minute.
struct TurbineOutput {
    power_kw: f64,
    available_kw: f64,
    producing: bool,
}

impl WindFarmSim {
    /// `devices`: the turbines' device indices, then the meter's.
    pub fn new(config: &WindFarm, seed: u64, site: &str, turbine_devices: &[usize], meter: usize, icing: bool) -> Self {
        let curve = PowerCurve::new(&config.power_curve_ms, &config.power_curve_kw, config.rated_kw);
        let turbines = turbine_devices
            .iter()
            .enumerate()
            .map(|(i, &device)| {
                let mut rng = stream(seed, &format!("device/{site}/turbine/{i}"));
                let turbulence = Ar1::new(120.0, 60.0, &mut rng);
                Turbine {
                    device,
                    anemometer_factor: uniform(&mut rng, 0.97, 1.03),
                    vane_bias_deg: uniform(&mut rng, -3.0, 3.0),
                    nacelle_dir_deg: None,
                    storm_stopped: false,
                    ice: 0.0,
                    ice_rate_per_min: uniform(&mut rng, 1.0 / 300.0, 1.0 / 180.0),
                    max_loss: 0.0,
                    thaw_minutes: 0,
                    icing_event: None,
                    iced_production_until: 0,
                    turbulence,
                    rng,
                }
            })
            .collect();
        WindFarmSim {
            wake: wake_table(config),
            curve,
            turbines,
            meter,
            capacity_mw: config.turbines as f64 * config.rated_kw / 1000.0,
            icing_enabled: icing,
            config: config.clone(),
            values: vec![Value::Missing; 8],
        }
    }

    /// One minute of the farm at `site` weather.
    pub fn step(&mut self, site: &SiteState, emit: &mut Emit<'_>) -> Result<(), Error> {
        let t = site.t;
        let hub = self.config.hub_height_m;
        let free_wind = site.wind_at(hub);
        let hub_temp = site.temp_c + site.surface_cooling_c - 0.0065 * (hub - 2.0);
        let rho = air_density(site.pressure_hpa, site.temp_c, hub);
        let density_factor = (rho / RHO0).cbrt();
        let dir_index = (site.wind_dir_deg.rem_euclid(360.0) as usize).min(359);
        let hub_rh = rh_from_dewpoint(hub_temp, site.dewpoint_c);
        let supercooled_water = site.fog >= 0.5 && hub_rh >= ICING_FOG_RH_PCT;
        let icing_air =
            self.icing_enabled && (ICING_TEMP_C.0..=ICING_TEMP_C.1).contains(&hub_temp) && supercooled_water;

        // First pass: what each turbine can do; second: dispatch shares and readings.
        let mut available = Vec::with_capacity(self.turbines.len());
        for (i, turbine) in self.turbines.iter_mut().enumerate() {
            let local = free_wind
                * f64::from(self.wake[i][dir_index])
                * (1.0 + 0.05 * turbine.turbulence.step(&mut turbine.rng));
            let equivalent = local.max(0.0) * density_factor;
            if turbine.storm_stopped && equivalent < self.config.cut_out_resume_ms {
                turbine.storm_stopped = false;
            } else if !turbine.storm_stopped && equivalent >= self.config.cut_out_ms {
                turbine.storm_stopped = true;
            }
            let outage = emit.plan.active(turbine.device, FaultKind::TurbineOutage, t).is_some();
            let pitch_offset =
                emit.plan.active(turbine.device, FaultKind::PitchFault, t).map_or(0.0, |(_, e)| e.magnitude);
            if self.icing_enabled {
                let turning = !outage && !turbine.storm_stopped && equivalent >= self.curve.cut_in_ms;
                turbine.accrete(icing_air, turning, local.max(0.0), hub_temp);
            }
            // A pitch offset lowers the captured power like a slower wind would.
            let pitch_speed_factor = 1.0 - 0.015 * pitch_offset;
            let raw = self.curve.power_kw(equivalent * pitch_speed_factor);
            let iced = raw * (1.0 - turbine.max_loss * turbine.ice);
            let can = if outage || turbine.storm_stopped { 0.0 } else { iced };
            available.push((local, equivalent, can, outage, pitch_offset));
        }
        let total_available: f64 = available.iter().map(|a| a.2).sum();
        let curtailment = emit.plan.active(self.meter, FaultKind::Curtailment, t).map(|(_, e)| e.magnitude);
        let limit_kw =
            curtailment.map(|fraction| fraction * self.capacity_mw * 1000.0 / (1.0 - self.config.electrical_losses));
        let share = match limit_kw {
            Some(limit) if total_available > limit => limit / total_available,
            _ => 1.0,
        };

        let mut farm_power_kw = 0.0;
        let mut farm_available_kw = 0.0;
        for (i, (local, equivalent, can, outage, pitch_offset)) in available.into_iter().enumerate() {
            let out = self.turbine_reading(
                i,
                t,
                local,
                equivalent,
                can,
                outage,
                pitch_offset,
                share,
                hub_temp,
                site.wind_dir_deg,
            );
            farm_power_kw += out.power_kw;
            farm_available_kw += out.available_kw;
            let device = self.turbines[i].device;
            self.turbines[i].icing_truth(t, out.producing, hub_temp, emit);
            emit.row(device, t, &mut self.values)?;
        }
        let losses = 1.0 - self.config.electrical_losses;
        let power_mw = farm_power_kw * losses / 1000.0;
        // Measurement noise must not make the output exceed what was available.
        let available_mw = (farm_available_kw * losses / 1000.0).max(power_mw).max(0.0);
        let mut meter = [
            Value::Num(round_to(power_mw, 3)),
            Value::Num(round_to(self.capacity_mw, 3)),
            Value::Num(round_to(available_mw, 3)),
            Value::Bool(curtailment.is_some()),
        ];
        emit.row(self.meter, t, &mut meter)
    }

    /// Fills `self.values` with turbine `i`'s SCADA reading.
    #[allow(clippy::too_many_arguments)] // one turbine's minute: the values computed in `step`
    fn turbine_reading(
        &mut self,
        i: usize,
        _t: i64,
        local_wind: f64,
        equivalent: f64,
        available_kw: f64,
        outage: bool,
        pitch_offset: f64,
        share: f64,
        hub_temp: f64,
        wind_dir: f64,
    ) -> TurbineOutput {
        let curve = &self.curve;
        let turbine = &mut self.turbines[i];
        let rng = &mut turbine.rng;
        let radius = self.config.rotor_diameter_m / 2.0;
        let (rpm_min, rpm_max) = (self.config.rotor_rpm_min, self.config.rotor_rpm_max);
        let running = !outage && !turbine.storm_stopped && equivalent >= curve.cut_in_ms && available_kw > 0.0;
        let (power_kw, rpm, pitch, status) = if outage {
            (-uniform(rng, 3.0, 6.0), 0.0, 89.0, "fault")
        } else if turbine.storm_stopped {
            (-uniform(rng, 3.0, 6.0), uniform(rng, 0.2, 1.0), 89.0, "storm")
        } else if !running {
            // Idling below cut-in: the rotor turns slowly, the turbine draws auxiliary power.
            (-uniform(rng, 2.0, 4.0), (equivalent / curve.cut_in_ms.max(0.1) * 2.0).min(3.0), 2.0, "idle")
        } else {
            let produced = (available_kw * share * (1.0 + 0.004 * normal(rng))).clamp(0.0, curve.rated_kw);
            let rpm = (TIP_SPEED_RATIO * equivalent / radius * 60.0 / std::f64::consts::TAU).clamp(rpm_min, rpm_max);
            let mut pitch =
                if equivalent > curve.rated_ms { 2.2 * (equivalent - curve.rated_ms).powf(0.85) } else { 0.0 };
            let status = if share < 1.0 {
                // Pitching out to follow the dispatch set-point.
                pitch += 12.0 * (1.0 - share);
                "curtailed"
            } else {
                "run"
            };
            (produced, rpm * (1.0 + 0.005 * normal(rng)), pitch + pitch_offset, status)
        };
        // Yaw: follow the wind when misaligned by more than the dead band (not while stopped).
        let vane = (wind_dir + turbine.vane_bias_deg + 3.0 * normal(rng)).rem_euclid(360.0);
        let mut nacelle = turbine.nacelle_dir_deg.unwrap_or(wind_dir);
        if !outage {
            let misalignment = (wind_dir - nacelle + 540.0).rem_euclid(360.0) - 180.0;
            if misalignment.abs() > 8.0 {
                nacelle += misalignment.signum() * misalignment.abs().min(20.0);
            }
            nacelle = nacelle.rem_euclid(360.0);
        }
        turbine.nacelle_dir_deg = Some(nacelle);
        let anemometer = (local_wind * turbine.anemometer_factor * (1.0 + 0.01 * normal(rng))).max(0.0);
        self.values.clear();
        self.values.extend([
            Value::Num(round_to(power_kw, 1)),
            Value::Num(round_to(anemometer, 2)),
            Value::Num(round_to(vane, 1)),
            Value::Num(round_to(nacelle, 1)),
            Value::Num(round_to(rpm.max(0.0), 2)),
            Value::Num(round_to(pitch, 2)),
            Value::Num(round_to(hub_temp + 0.8 + 0.2 * normal(rng), 2)),
            Value::Text(status),
        ]);
        TurbineOutput { power_kw, available_kw, producing: running }
    }

    /// Ends open icing events at `t` (end of run).
    pub fn close_open_events(&mut self, t: i64, emit_plan: &mut super::faults::FaultPlan) {
        for turbine in &mut self.turbines {
            if let Some(handle) = turbine.icing_event.take() {
                emit_plan.close(handle, (turbine.iced_production_until + 60).min(t), "; still iced when the run ended");
            }
        }
    }
}

impl Turbine {
    /// One minute of ice: accretion in icing air (faster on a turning rotor, which sweeps
    /// more water), shedding after an hour of thaw.
    fn accrete(&mut self, icing_air: bool, turning: bool, wind_ms: f64, hub_temp: f64) {
        if icing_air {
            if self.ice <= 0.0 {
                self.max_loss = uniform(&mut self.rng, 0.15, 0.45);
            }
            let blade_speed = if turning { TURNING_SWEEP * wind_ms } else { wind_ms };
            let sweep = (blade_speed / (TURNING_SWEEP * 8.0)).min(2.0);
            self.ice = (self.ice + self.ice_rate_per_min * sweep).min(1.0);
        }
        if hub_temp > SHEDDING_TEMP_C {
            self.thaw_minutes = self.thaw_minutes.saturating_add(1);
        } else {
            self.thaw_minutes = 0;
        }
        if self.thaw_minutes >= SHEDDING_AFTER_MINUTES {
            self.ice = (self.ice - 1.0 / SHEDDING_MINUTES).max(0.0);
        }
    }

    /// Ground truth of icing: the minutes the turbine produced with ice, first to last.
    fn icing_truth(&mut self, t: i64, producing: bool, hub_temp: f64, emit: &mut Emit<'_>) {
        if self.ice > 0.0 && producing {
            self.iced_production_until = t;
            if self.icing_event.is_none() {
                let description = format!(
                    "rime icing in saturated air at {hub_temp:.1} °C at the hub: power below the curve, the loss growing with the ice to about {:.0} %",
                    self.max_loss * 100.0
                );
                let field = super::Kind::WindTurbine.field_index("power_kw");
                self.icing_event =
                    Some(emit.plan.open(FaultKind::Icing, self.device, field, t, self.max_loss, description));
            }
        }
        if self.ice <= 0.0
            && let Some(handle) = self.icing_event.take()
        {
            emit.plan.close(handle, self.iced_production_until + 60, "; ice shed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    fn farm() -> WindFarm {
        Scenario::load("heze").unwrap().sites.iter().find_map(|s| s.wind_farm.clone()).unwrap()
    }

    #[test]
    fn power_curve_interpolates_and_stops_outside_its_range() {
        let f = farm();
        let curve = PowerCurve::new(&f.power_curve_ms, &f.power_curve_kw, f.rated_kw);
        assert_eq!(curve.power_kw(2.0), 0.0);
        assert!((curve.power_kw(4.5) - (154.2 + 315.9) / 2.0).abs() < 1e-9);
        assert_eq!(curve.power_kw(15.0), 2500.0);
        assert_eq!(curve.power_kw(25.0), 2500.0);
        assert_eq!(curve.power_kw(26.0), 0.0);
        assert_eq!(curve.power_kw(f64::NAN), 0.0);
        assert_eq!((curve.cut_in_ms, curve.rated_ms), (3.0, 12.0));
    }

    #[test]
    fn density_is_standard_at_standard_conditions_and_lower_when_hot() {
        assert!((air_density(1013.25, 15.0, 0.0) - 1.225).abs() < 0.002);
        assert!(air_density(1000.0, 35.0, 90.0) < 1.13);
        assert!(air_density(1030.0, -10.0, 90.0) > 1.33);
    }

    #[test]
    fn wakes_shadow_downstream_turbines_only() {
        let f = farm();
        let table = wake_table(&f);
        // Wind from the west (270°): the westmost turbine of a row is free, the next one waked.
        assert_eq!(table[0][270], 1.0);
        assert!(table[1][270] < 0.85 && table[1][270] > 0.6, "second in row: {}", table[1][270]);
        assert!(table[4][270] < table[1][270], "the last in a row sees the most wakes");
        // From the east it is the other way round.
        assert_eq!(table[4][90], 1.0);
        assert!(table.iter().flatten().all(|v| *v > 0.0 && *v <= 1.0));
    }
}
