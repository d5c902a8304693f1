//! A plant's met station: pyranometer (with its small night-time thermal offset), a
//! plane-of-array reference and a module back-sheet sensor when the site has a PV plant,
//! air temperature and humidity, a 10 m anemometer and vane, a barometer, and a
//! tipping-bucket rain gauge (0.2 mm per tip).

use rand::rngs::StdRng;

use super::engine::Emit;
use super::pv::{module_temperature, plane_of_array};
use super::random::{normal, round_to, stream};
use super::scenario::PvPlant;
use super::weather::SiteState;
use super::{Error, Value};

/// Rain per bucket tip (mm).
const TIP_MM: f64 = 0.2;

#[derive(Debug)]
pub struct MetStationSim {
    device: usize,
    rng: StdRng,
    /// The PV array's geometry and thermal model, when the station serves a PV plant.
    pv: Option<PvPlant>,
    bucket_mm: f64,
    values: Vec<Value>,
}

impl MetStationSim {
    pub fn new(seed: u64, site: &str, device: usize, pv: Option<&PvPlant>) -> Self {
        MetStationSim {
            device,
            rng: stream(seed, &format!("device/{site}/met")),
            pv: pv.cloned(),
            bucket_mm: 0.0,
            values: Vec::with_capacity(9),
        }
    }

    pub fn step(&mut self, site: &SiteState, emit: &mut Emit<'_>) -> Result<(), Error> {
        let rng = &mut self.rng;
        self.bucket_mm += site.rain_mm;
        let tips = (self.bucket_mm / TIP_MM).floor();
        self.bucket_mm -= tips * TIP_MM;
        let ghi = if site.ghi > 0.0 { site.ghi * (1.0 + 0.005 * normal(rng)) } else { -1.5 + 0.5 * normal(rng) };
        let wind10 = site.wind_at(10.0) * (1.0 + 0.03 * normal(rng));
        let (poa, module) = match &self.pv {
            Some(pv) => {
                let poa = plane_of_array(site, pv.tilt_deg, pv.azimuth_deg, pv.albedo);
                let module = module_temperature(poa, site.temp_c, site.wind_at(3.0), pv.faiman_u0, pv.faiman_u1);
                (
                    Value::Num(round_to(poa * (1.0 + 0.005 * normal(rng)), 1)),
                    Value::Num(round_to(module + 0.3 * normal(rng), 2)),
                )
            }
            None => (Value::Missing, Value::Missing),
        };
        self.values.clear();
        self.values.extend([
            Value::Num(round_to(ghi, 1)),
            poa,
            Value::Num(round_to(site.temp_c + 0.1 * normal(rng), 2)),
            Value::Num(round_to((site.rh_pct + 1.0 * normal(rng)).clamp(0.0, 100.0), 1)),
            Value::Num(round_to(wind10.max(0.0), 2)),
            Value::Num(round_to((site.wind_dir_deg + 3.0 * normal(rng)).rem_euclid(360.0), 1)),
            Value::Num(round_to(site.pressure_hpa + 0.1 * normal(rng), 2)),
            Value::Num(round_to(tips * TIP_MM, 1)),
            module,
        ]);
        emit.row(self.device, site.t, &mut self.values)
    }
}
