//! A plot's root-zone water balance (FAO-56 chapter 8, single crop coefficient) and the
//! irrigation advice that follows from it. Each day the root-zone depletion
//! `Dr = Dr(yesterday) − (rain − runoff) − irrigation + ETc + deep percolation` is bounded by
//! 0 (field capacity) and TAW (wilting point); `ETc = Ks · Kc · ET0`, where the stress factor
//! `Ks` falls linearly from 1 at RAW = p·TAW to 0 at TAW (eqs. 82–86). A soil-moisture
//! reading, when there is one, replaces the modelled depletion for that day: the sensors
//! correct the model, not the other way round. Advice looks ahead with the forecast's ET0 and
//! rain before telling anyone to irrigate. Numbers in, numbers out: no clock, no I/O.

use serde::Serialize;

/// The soil and crop a plot's balance needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RootZone {
    /// Volumetric water content at field capacity and at the wilting point (%).
    pub field_capacity_pct: f64,
    pub wilting_point_pct: f64,
    /// Effective rooting depth (m).
    pub root_depth_m: f64,
    /// FAO-56 p: share of TAW the crop uses before stress.
    pub depletion_fraction: f64,
}

impl RootZone {
    /// Total available water TAW = 1000 (θFC − θWP) Zr (mm, eq. 82).
    pub fn taw_mm(&self) -> f64 {
        10.0 * (self.field_capacity_pct - self.wilting_point_pct).max(0.0) * self.root_depth_m
    }

    /// Readily available water RAW = p · TAW (mm, eq. 83).
    pub fn raw_mm(&self) -> f64 {
        self.depletion_fraction * self.taw_mm()
    }

    /// Depletion (mm) at a measured water content (%): 1000 (θFC − θ) Zr, within 0..TAW.
    pub fn depletion_at(&self, vwc_pct: f64) -> f64 {
        (10.0 * (self.field_capacity_pct - vwc_pct) * self.root_depth_m).clamp(0.0, self.taw_mm())
    }

    /// Water stress coefficient Ks at depletion `dr` (eq. 84).
    pub fn ks(&self, dr: f64) -> f64 {
        let (taw, raw) = (self.taw_mm(), self.raw_mm());
        if dr <= raw || taw <= raw { 1.0 } else { ((taw - dr) / (taw - raw)).clamp(0.0, 1.0) }
    }
}

/// One day's inputs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WaterDay {
    pub et0_mm: f64,
    pub kc: f64,
    pub rain_mm: f64,
    pub irrigation_mm: f64,
    /// The day's soil-moisture reading (%), if any.
    pub measured_vwc_pct: Option<f64>,
}

/// One day of the balance, at its end.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct WaterState {
    /// Root-zone depletion (mm below field capacity).
    pub depletion_mm: f64,
    pub etc_mm: f64,
    pub ks: f64,
    pub deep_percolation_mm: f64,
    /// The depletion came from a soil-moisture reading.
    pub measured: bool,
}

/// Rain that runs off rather than soaking in: FAO-56 counts small daily amounts as fully
/// effective; above 40 mm in a day a fifth of the excess runs off here (a flat plot).
fn effective_rain(rain_mm: f64) -> f64 {
    let rain = rain_mm.max(0.0);
    if rain > 40.0 { 40.0 + 0.8 * (rain - 40.0) } else { rain }
}

/// The balance over `days`, starting from depletion `initial_mm` (0 = field capacity).
pub fn balance(zone: &RootZone, initial_mm: f64, days: &[WaterDay]) -> Vec<WaterState> {
    let taw = zone.taw_mm();
    let mut dr = initial_mm.clamp(0.0, taw);
    days.iter()
        .map(|day| {
            let ks = zone.ks(dr);
            let etc = (ks * day.kc.max(0.0) * day.et0_mm.max(0.0)).max(0.0);
            let water_in = effective_rain(day.rain_mm) + day.irrigation_mm.max(0.0);
            let next = dr - water_in + etc;
            let deep_percolation = (-next).max(0.0);
            dr = next.clamp(0.0, taw);
            let measured = match day.measured_vwc_pct.filter(|v| v.is_finite()) {
                Some(vwc) => {
                    dr = zone.depletion_at(vwc);
                    true
                }
                None => false,
            };
            WaterState { depletion_mm: dr, etc_mm: etc, ks, deep_percolation_mm: deep_percolation, measured }
        })
        .collect()
}

/// What to tell the farm technician.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Advice {
    /// Nothing to do within the forecast.
    None,
    /// Forecast rain brings the soil back before the crop would be stressed.
    WaitForRain { rain_day: usize, rain_mm: f64 },
    /// Irrigate this much (to refill to field capacity) by this day (index into the
    /// forecast: 0 = today).
    Irrigate { by_day: usize, amount_mm: f64 },
}

/// Advice from today's depletion and the coming days' forecast (`forecast[0]` = today): the
/// first day the depletion would pass RAW without rain or irrigation is the day to irrigate by
/// (the day before it), the amount what refills the root zone then. When the forecast rain
/// keeps the depletion within RAW up to that day, the advice is to wait for the rain (and it
/// is issued again tomorrow with the next forecast).
pub fn advise(zone: &RootZone, depletion_today_mm: f64, forecast: &[WaterDay]) -> Advice {
    let raw = zone.raw_mm();
    if depletion_today_mm > raw {
        // Already stressed: irrigate today, whatever the forecast.
        return Advice::Irrigate { by_day: 0, amount_mm: depletion_today_mm.round() };
    }
    let dry: Vec<WaterDay> =
        forecast.iter().map(|d| WaterDay { rain_mm: 0.0, irrigation_mm: 0.0, measured_vwc_pct: None, ..*d }).collect();
    let without_rain = balance(zone, depletion_today_mm, &dry);
    let Some(by_day) = without_rain.iter().position(|s| s.depletion_mm > raw) else { return Advice::None };
    let with_rain = balance(zone, depletion_today_mm, forecast);
    if with_rain.iter().take(by_day + 1).all(|s| s.depletion_mm <= raw) {
        let (rain_day, rain_mm) = forecast
            .iter()
            .enumerate()
            .take(by_day + 1)
            .max_by(|a, b| a.1.rain_mm.total_cmp(&b.1.rain_mm))
            .map(|(i, d)| (i, d.rain_mm))
            .unwrap_or((0, 0.0));
        return Advice::WaitForRain { rain_day, rain_mm };
    }
    // Refill on the day before the threshold is crossed: what is depleted by then.
    let before = by_day.checked_sub(1).map_or(depletion_today_mm, |d| with_rain[d].depletion_mm);
    Advice::Irrigate { by_day: by_day.saturating_sub(1), amount_mm: before.max(0.0).round() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loam: FC 30 %, WP 15 %, 0.8 m of roots, p 0.5 → TAW 120 mm, RAW 60 mm.
    const LOAM: RootZone =
        RootZone { field_capacity_pct: 30.0, wilting_point_pct: 15.0, root_depth_m: 0.8, depletion_fraction: 0.5 };

    fn day(et0: f64, rain: f64) -> WaterDay {
        WaterDay { et0_mm: et0, kc: 1.0, rain_mm: rain, ..WaterDay::default() }
    }

    #[test]
    fn taw_raw_and_ks_by_hand() {
        assert!((LOAM.taw_mm() - 120.0).abs() < 1e-9);
        assert!((LOAM.raw_mm() - 60.0).abs() < 1e-9);
        assert_eq!(LOAM.ks(30.0), 1.0);
        // Half way from RAW (60) to TAW (120): Ks 0.5 (eq. 84).
        assert!((LOAM.ks(90.0) - 0.5).abs() < 1e-12);
        assert_eq!(LOAM.ks(120.0), 0.0);
        // 25 % measured: 10 × (30 − 25) × 0.8 = 40 mm below field capacity.
        assert!((LOAM.depletion_at(25.0) - 40.0).abs() < 1e-9);
        assert_eq!(LOAM.depletion_at(35.0), 0.0);
    }

    #[test]
    fn the_balance_by_hand() {
        let days = [
            day(5.0, 0.0),                                              // Dr 10 + 5 = 15
            day(5.0, 20.0),                                             // 15 − 20 + 5 = 0
            day(5.0, 30.0),                                             // 0 − 30 + 5 < 0: 0, 25 mm percolate
            WaterDay { measured_vwc_pct: Some(27.5), ..day(4.0, 0.0) }, // the sensor says 20 mm
            WaterDay { irrigation_mm: 15.0, ..day(5.0, 0.0) },          // 20 − 15 + 5 = 10
        ];
        let got = balance(&LOAM, 10.0, &days);
        let dr: Vec<f64> = got.iter().map(|s| s.depletion_mm).collect();
        assert_eq!(dr, vec![15.0, 0.0, 0.0, 20.0, 10.0]);
        assert_eq!(got[2].deep_percolation_mm, 25.0);
        assert!(got[3].measured && !got[4].measured);
        // Past RAW the crop transpires less: at Dr 90 (Ks 0.5), ETc = 0.5 × 6.
        let stressed = balance(&LOAM, 90.0, &[day(6.0, 0.0)]);
        assert!((stressed[0].etc_mm - 3.0).abs() < 1e-12);
        assert!((stressed[0].depletion_mm - 93.0).abs() < 1e-12);
    }

    #[test]
    fn advice_looks_at_the_forecast_rain_first() {
        // Dr 45, 5 mm a day: RAW (60) would be passed on day 3 (45 + 20 = 65).
        let dry = [day(5.0, 0.0); 7];
        assert_eq!(advise(&LOAM, 45.0, &dry), Advice::Irrigate { by_day: 2, amount_mm: 60.0 });
        // 25 mm of rain forecast on day 1 keeps it below RAW all week: wait.
        let mut wet = dry;
        wet[1].rain_mm = 25.0;
        assert_eq!(advise(&LOAM, 45.0, &wet), Advice::WaitForRain { rain_day: 1, rain_mm: 25.0 });
        // A drizzle is not enough.
        let mut drizzle = dry;
        drizzle[1].rain_mm = 2.0;
        assert!(matches!(advise(&LOAM, 45.0, &drizzle), Advice::Irrigate { .. }));
        // Wet soil and a mild week: nothing to do.
        assert_eq!(advise(&LOAM, 5.0, &[day(3.0, 0.0); 7]), Advice::None);
        // Already past RAW: today.
        assert_eq!(advise(&LOAM, 70.0, &wet), Advice::Irrigate { by_day: 0, amount_mm: 70.0 });
    }
}
