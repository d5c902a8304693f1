//! The PV plant: plane-of-array irradiance (isotropic transposition of the site's GHI split
//! by Erbs), Faiman module temperature, a DC array with temperature derating and losses,
//! PVWatts inverters (Dobos 2014) that clip at their AC rating and leave the maximum power
//! point when clipping or curtailed, per-inverter faults (trip, string loss, soiling), and
//! the plant meter.

use rand::rngs::StdRng;

use fieldline_analytics::solar;

use super::engine::Emit;
use super::faults::FaultKind;
use super::random::{Ar1, normal, round_to, stream, uniform};
use super::scenario::PvPlant;
use super::weather::SiteState;
use super::{Error, Value};

/// PVWatts' reference efficiency, which its nominal efficiency is scaled by.
const PVWATTS_REFERENCE_EFFICIENCY: f64 = 0.9637;
/// Rain (mm within 24 h) that washes soiling off.
const CLEANING_RAIN_MM: f64 = 5.0;

/// Plane-of-array irradiance (W/m²) at the site's current sun and sky; 0 at night.
pub fn plane_of_array(site: &SiteState, tilt_deg: f64, azimuth_deg: f64, albedo: f64) -> f64 {
    if !site.sun_up() || site.ghi <= 0.0 {
        return 0.0;
    }
    let poa = solar::poa_global(
        site.ghi,
        site.dni,
        site.dhi,
        site.zenith_deg,
        site.azimuth_deg,
        tilt_deg,
        azimuth_deg,
        albedo,
    );
    if poa.is_finite() { poa.max(0.0) } else { 0.0 }
}

/// Faiman (2008) module temperature (°C).
pub fn module_temperature(poa_wm2: f64, air_temp_c: f64, wind_ms: f64, u0: f64, u1: f64) -> f64 {
    air_temp_c + poa_wm2 / (u0 + u1 * wind_ms.max(0.0))
}

/// PVWatts inverter efficiency at DC input `pdc` for an inverter whose DC rating is `pdc0`.
pub fn pvwatts_efficiency(pdc: f64, pdc0: f64, nominal: f64) -> f64 {
    if pdc <= 0.0 || pdc0 <= 0.0 {
        return 0.0;
    }
    let zeta = pdc / pdc0;
    (nominal / PVWATTS_REFERENCE_EFFICIENCY * (-0.0162 * zeta - 0.0059 / zeta + 0.9858)).clamp(0.0, 1.0)
}

#[derive(Debug)]
struct Inverter {
    device: usize,
    rng: StdRng,
    mismatch: f64,
    heat: Ar1,
}

/// A simulated PV plant and its meter.
#[derive(Debug)]
pub struct PvPlantSim {
    config: PvPlant,
    inverters: Vec<Inverter>,
    meter: usize,
    capacity_mw: f64,
    /// Rain of the last 24 hours, by hour, for natural cleaning.
    rain_by_hour: [f64; 24],
    values: Vec<Value>,
}

struct Dc {
    power_kw: f64,
    mpp_voltage: f64,
    open_voltage: f64,
}

impl PvPlantSim {
    pub fn new(config: &PvPlant, seed: u64, site: &str, inverter_devices: &[usize], meter: usize) -> Self {
        let inverters = inverter_devices
            .iter()
            .enumerate()
            .map(|(i, &device)| {
                let mut rng = stream(seed, &format!("device/{site}/inverter/{i}"));
                let heat = Ar1::new(600.0, 60.0, &mut rng);
                Inverter { device, mismatch: uniform(&mut rng, -0.012, 0.012), heat, rng }
            })
            .collect();
        let dc_mw = config.inverters as f64 * config.dc_kwp_per_inverter / 1000.0;
        PvPlantSim {
            capacity_mw: config.capacity_mw.unwrap_or(dc_mw),
            config: config.clone(),
            inverters,
            meter,
            rain_by_hour: [0.0; 24],
            values: vec![Value::Missing; 5],
        }
    }

    /// Maximum-power-point DC output of an inverter's array.
    fn dc(&self, poa: f64, module_temp: f64, lost_fraction: f64) -> Dc {
        let c = &self.config;
        if poa < 2.0 {
            return Dc { power_kw: 0.0, mpp_voltage: 0.0, open_voltage: 0.0 };
        }
        let power_kw = c.dc_kwp_per_inverter * poa / 1000.0
            * (1.0 + c.temp_coefficient_per_c * (module_temp - 25.0))
            * (1.0 - c.dc_losses)
            * (1.0 - lost_fraction);
        let thermal = 1.0 + c.voltage_temp_coefficient_per_c * (module_temp - 25.0);
        let mpp_voltage = c.vmp_stc_v * thermal * (1.0 + 0.03 * (poa / 1000.0).ln()).max(0.5);
        Dc { power_kw: power_kw.max(0.0), mpp_voltage, open_voltage: 1.22 * c.vmp_stc_v * thermal }
    }

    /// One minute of the plant at `site` weather.
    pub fn step(&mut self, site: &SiteState, emit: &mut Emit<'_>) -> Result<(), Error> {
        let t = site.t;
        let c = &self.config;
        let hour_slot = (t.div_euclid(3600)).rem_euclid(24) as usize;
        if t.rem_euclid(3600) == 0 {
            self.rain_by_hour[hour_slot] = 0.0;
        }
        self.rain_by_hour[hour_slot] += site.rain_mm;
        let rain_24h: f64 = self.rain_by_hour.iter().sum();

        let poa = plane_of_array(site, c.tilt_deg, c.azimuth_deg, c.albedo);
        let wind = site.wind_at(3.0);
        let pac0 = c.ac_kw_per_inverter;
        let pdc0 = pac0 / c.inverter_efficiency;
        let startup_kw = 0.005 * pac0;

        // Available AC of each inverter before any dispatch limit.
        let mut plan = Vec::with_capacity(self.inverters.len());
        for inverter in &self.inverters {
            let device = inverter.device;
            let tripped = emit.plan.active(device, FaultKind::InverterOutage, t).is_some();
            let lost = emit.plan.active(device, FaultKind::StringOutage, t).map_or(0.0, |(_, e)| e.magnitude);
            let soiling = match emit.plan.active(device, FaultKind::Soiling, t) {
                Some((handle, e)) => {
                    let progress = (t - e.start) as f64 / (e.end - e.start).max(1) as f64;
                    Some((handle, e.magnitude * progress))
                }
                None => None,
            };
            let soiling_loss = soiling.map_or(0.0, |(_, loss)| loss);
            if let Some((handle, loss)) = soiling
                && rain_24h >= CLEANING_RAIN_MM
                && loss > 0.005
            {
                emit.plan.close(
                    handle,
                    t,
                    &format!("; washed off by {rain_24h:.0} mm of rain at {:.1} % loss", loss * 100.0),
                );
            }
            let poa_i = poa * (1.0 + inverter.mismatch) * (1.0 - soiling_loss);
            let module_temp = module_temperature(poa_i, site.temp_c, wind, c.faiman_u0, c.faiman_u1);
            let dc = self.dc(poa_i, module_temp, lost);
            let ac_available = if tripped || dc.power_kw < startup_kw {
                0.0
            } else {
                (dc.power_kw * pvwatts_efficiency(dc.power_kw, pdc0, c.inverter_efficiency)).min(pac0)
            };
            plan.push((dc, ac_available, tripped));
        }
        let total_available: f64 = plan.iter().map(|p| p.1).sum();
        let curtailment = emit.plan.active(self.meter, FaultKind::Curtailment, t).map(|(_, e)| e.magnitude);
        let limit_kw = curtailment.map(|fraction| fraction * self.capacity_mw * 1000.0 / (1.0 - c.ac_losses));
        let share = match limit_kw {
            Some(limit) if total_available > limit => limit / total_available,
            _ => 1.0,
        };

        let mut plant_kw = 0.0;
        for (i, (dc, ac_available, tripped)) in plan.iter().enumerate() {
            let inverter = &mut self.inverters[i];
            let ac = ac_available * share;
            let clipped = *ac_available >= pac0 * 0.999;
            let (dc_power, voltage, status) = if *tripped {
                (0.0, dc.open_voltage, "fault")
            } else if ac <= 0.0 {
                (0.0, dc.open_voltage, "standby")
            } else if share < 1.0 || clipped {
                // Off the maximum power point: less DC at a higher voltage.
                let dc_in = ac / pvwatts_efficiency(ac / c.inverter_efficiency, pdc0, c.inverter_efficiency).max(0.5);
                let shortfall = (1.0 - dc_in / dc.power_kw.max(1e-9)).clamp(0.0, 1.0);
                let v = (dc.mpp_voltage * (1.0 + 0.15 * shortfall)).min(dc.open_voltage);
                (dc_in, v, if share < 1.0 { "limited" } else { "run" })
            } else {
                (dc.power_kw, dc.mpp_voltage, "run")
            };
            let rng = &mut inverter.rng;
            let ac_reading = if ac > 0.0 { (ac * (1.0 + 0.002 * normal(rng))).min(pac0) } else { 0.0 };
            let dc_reading = if dc_power > 0.0 { dc_power * (1.0 + 0.002 * normal(rng)) } else { 0.0 };
            let voltage = if voltage > 0.0 { voltage * (1.0 + 0.002 * normal(rng)) } else { 0.0 };
            let temp = site.temp_c + 3.0 + 22.0 * ac / pac0 + 0.4 * inverter.heat.step(rng);
            plant_kw += ac_reading;
            self.values.clear();
            self.values.extend([
                Value::Num(round_to(ac_reading, 1)),
                Value::Num(round_to(dc_reading, 1)),
                Value::Num(round_to(voltage, 1)),
                Value::Num(round_to(temp, 1)),
                Value::Text(status),
            ]);
            emit.row(inverter.device, t, &mut self.values)?;
        }
        let losses = 1.0 - c.ac_losses;
        let mut meter = [
            Value::Num(round_to(plant_kw * losses / 1000.0, 3)),
            Value::Num(round_to(self.capacity_mw, 3)),
            Value::Num(round_to((total_available * losses).max(plant_kw * losses) / 1000.0, 3)),
            Value::Bool(curtailment.is_some()),
        ];
        emit.row(self.meter, t, &mut meter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvwatts_efficiency_peaks_near_nominal_and_falls_at_low_load() {
        let pdc0 = 2175.0 / 0.985;
        let full = pvwatts_efficiency(pdc0, pdc0, 0.985);
        let tenth = pvwatts_efficiency(0.1 * pdc0, pdc0, 0.985);
        assert!((full - 0.985).abs() < 0.01, "{full}");
        assert!(tenth < full && tenth > 0.9, "{tenth}");
        assert_eq!(pvwatts_efficiency(0.0, pdc0, 0.985), 0.0);
    }

    #[test]
    fn faiman_heats_modules_in_sun_and_wind_cools_them() {
        let still = module_temperature(1000.0, 25.0, 0.0, 25.0, 6.84);
        let windy = module_temperature(1000.0, 25.0, 5.0, 25.0, 6.84);
        assert!((still - 65.0).abs() < 1e-9);
        assert!(windy < still && windy > 40.0);
    }
}
