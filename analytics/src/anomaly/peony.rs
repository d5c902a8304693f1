//! Peony plot risks: frost during the frost-sensitive stages ([`FrostRisk`]) and drought
//! stress ([`DroughtStress`]).
//!
//! Tree peony flower buds are killed by air temperatures at or below about 0 °C once they
//! have swollen (Heze's late-frost risk falls in the flower-bud stage of early April). Stage
//! codes are the plots' observed phenology: 0 dormant, 1 bud break, 2 leaf expansion,
//! 3 flower bud, 4 bloom, 5 post-bloom, 6 senescence; which codes are sensitive is
//! configurable. A frost event opens on an observed reading or on a forecast minimum at or
//! below the threshold, so a forecast frost is one event that continues through the night
//! it was forecast for.
//!
//! Drought stress is the root-zone moisture (`soil_vwc_pct`) staying below the refill point
//! (the moisture at which irrigation is due) for longer than a configured time; a small
//! recovery margin keeps readings hovering at the refill point from restarting the clock.

use serde::{Deserialize, Serialize};

use super::event::{EventKind, EventTracker, Hysteresis, tracked};
use super::stats::{ramp, ratio_score, sane};
use super::{Result, require};

/// Configuration of [`FrostRisk`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FrostConfig {
    /// Air temperature at or below which buds are damaged (°C): the score is 0.5 there.
    pub threshold_c: f64,
    /// The score rises from 0 at `threshold_c + margin_c` to 1 at `threshold_c - margin_c`.
    pub margin_c: f64,
    /// Stage codes in which frost matters.
    pub sensitive_stages: Vec<u8>,
    /// Whether to warn when the stage is unknown.
    pub warn_without_stage: bool,
    pub hysteresis: Hysteresis,
}

impl Default for FrostConfig {
    fn default() -> Self {
        FrostConfig {
            threshold_c: 0.0,
            margin_c: 1.0,
            sensitive_stages: vec![3, 4],
            warn_without_stage: false,
            hysteresis: Hysteresis::with_durations(0, 3 * 3600),
        }
    }
}

/// Frost risk of one plot (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrostRisk {
    config: FrostConfig,
    tracker: EventTracker,
    stage: Option<u8>,
    /// The forecast minimum (°C) and until when it applies (unix s).
    forecast: Option<(f64, i64)>,
    score: f64,
}

impl FrostRisk {
    /// For the temperature field `field` (the name events carry).
    pub fn new(field: &str, config: FrostConfig) -> Result<Self> {
        config.hysteresis.check()?;
        require(config.margin_c > 0.0 && config.threshold_c.is_finite(), || {
            "frost needs a finite threshold_c and margin_c > 0".into()
        })?;
        Ok(FrostRisk {
            tracker: EventTracker::new(EventKind::Frost, field, config.hysteresis),
            config,
            stage: None,
            forecast: None,
            score: 0.0,
        })
    }

    fn sensitive(&self) -> bool {
        match self.stage {
            Some(stage) => self.config.sensitive_stages.contains(&stage),
            None => self.config.warn_without_stage,
        }
    }

    fn temperature_score(&self, temp_c: f64) -> f64 {
        let c = &self.config;
        ramp(c.threshold_c + c.margin_c - temp_c, 0.0, 2.0 * c.margin_c)
    }

    /// An observed reading: air temperature (°C) and stage code (NaN when not reported;
    /// the last known stage is kept).
    pub fn observe(&mut self, t: i64, air_temp_c: f64, stage: f64) -> f64 {
        if let Some(s) = sane(stage).filter(|s| (0.0..=255.0).contains(s)) {
            self.stage = Some(s.round() as u8);
        }
        let Some(temp) = sane(air_temp_c) else { return self.score };
        let observed = self.temperature_score(temp);
        let (forecast, forecast_min) = match self.forecast {
            Some((min, until)) if t <= until => (self.temperature_score(min), min),
            _ => (0.0, f64::NAN),
        };
        self.score = if self.sensitive() { observed.max(forecast) } else { 0.0 };
        let expected = if forecast > observed { forecast_min } else { self.config.threshold_c };
        self.tracker.observe(t, self.score, temp, expected);
        self.score
    }

    /// A forecast issued at `t`: the lowest air temperature expected until `valid_until`.
    pub fn forecast(&mut self, t: i64, min_temp_c: f64, valid_until: i64) -> f64 {
        let Some(min) = sane(min_temp_c) else { return self.score };
        self.forecast = Some((min, valid_until));
        let forecast = self.temperature_score(min);
        if self.sensitive() && forecast > self.score {
            self.score = forecast;
            self.tracker.observe(t, forecast, min, self.config.threshold_c);
        }
        self.score
    }
}

/// Configuration of [`DroughtStress`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DroughtConfig {
    /// Volumetric water content at which irrigation is due (%).
    pub refill_point_pct: f64,
    /// Below the refill point this long is drought stress (s): the score is 0.5 there.
    pub min_duration_s: i64,
    /// Moisture must rise this far above the refill point to end a dry spell (%).
    pub recovery_margin_pct: f64,
    pub hysteresis: Hysteresis,
}

impl Default for DroughtConfig {
    fn default() -> Self {
        DroughtConfig {
            refill_point_pct: 20.0,
            min_duration_s: 2 * 86_400,
            recovery_margin_pct: 1.0,
            hysteresis: Hysteresis::with_durations(0, 6 * 3600),
        }
    }
}

/// Drought stress of one plot (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DroughtStress {
    config: DroughtConfig,
    tracker: EventTracker,
    dry_since: Option<i64>,
    score: f64,
}

impl DroughtStress {
    /// For the moisture field `field` (the name events carry).
    pub fn new(field: &str, config: DroughtConfig) -> Result<Self> {
        config.hysteresis.check()?;
        require(config.refill_point_pct.is_finite() && config.min_duration_s > 0, || {
            "drought needs a finite refill_point_pct and min_duration_s > 0".into()
        })?;
        require(config.recovery_margin_pct >= 0.0, || "recovery_margin_pct must not be negative".into())?;
        Ok(DroughtStress {
            tracker: EventTracker::new(EventKind::Drought, field, config.hysteresis),
            config,
            dry_since: None,
            score: 0.0,
        })
    }

    /// One soil moisture reading (%).
    pub fn update(&mut self, t: i64, soil_vwc_pct: f64) -> f64 {
        let Some(vwc) = sane(soil_vwc_pct) else { return self.score };
        let c = &self.config;
        if vwc < c.refill_point_pct {
            self.dry_since.get_or_insert(t);
        } else if vwc > c.refill_point_pct + c.recovery_margin_pct {
            self.dry_since = None;
        }
        let dry_for = self.dry_since.map_or(0, |since| t.saturating_sub(since).max(0));
        self.score = if self.dry_since.is_some() { ratio_score(dry_for as f64, c.min_duration_s as f64) } else { 0.0 };
        self.tracker.observe(t, self.score, vwc, c.refill_point_pct);
        self.score
    }
}

tracked!(FrostRisk, DroughtStress);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::testutil::opened;
    use crate::anomaly::{EventChange, Tracked};

    /// 2026-04-01T00:00:00+08:00.
    const T0: i64 = 1_774_972_800;
    const HOUR: i64 = 3600;

    /// Air temperature on a daily cosine: `max` at 14:00 local, `min` at 02:00.
    fn night_temperature(t: i64, min: f64, max: f64) -> f64 {
        let hour = ((t - T0).rem_euclid(86_400)) as f64 / 3600.0;
        let mid = (min + max) / 2.0;
        mid + (max - mid) * ((hour - 14.0) / 24.0 * std::f64::consts::TAU).cos()
    }

    fn run_frost(stage: f64, min: f64) -> Vec<EventChange> {
        let mut frost = FrostRisk::new("air_temp_c", FrostConfig::default()).unwrap();
        let mut changes = Vec::new();
        for i in 0..3 * 144 {
            let t = T0 + 12 * HOUR + i * 600;
            frost.observe(t, night_temperature(t, min, 14.0), stage);
            changes.extend(frost.drain_events());
        }
        changes
    }

    #[test]
    fn a_frost_night_in_the_flower_bud_stage_is_one_event_per_night() {
        let changes = run_frost(3.0, -2.0);
        let events = opened(&changes, EventKind::Frost);
        assert_eq!(events.len(), 3, "{changes:#?}");
        for (start, _) in &events {
            let hour = ((start - T0).rem_euclid(86_400)) as f64 / 3600.0;
            assert!((0.0..2.0).contains(&hour) || hour > 18.0, "opened at {hour} h local");
        }
        assert!(run_frost(1.0, -2.0).is_empty(), "bud break is not a sensitive stage by default");
        assert!(run_frost(3.0, 2.0).is_empty(), "2 °C is not frost");
    }

    #[test]
    fn a_forecast_frost_opens_the_event_before_the_night() {
        let mut frost = FrostRisk::new("air_temp_c", FrostConfig::default()).unwrap();
        let evening = T0 + 18 * HOUR;
        frost.observe(evening - 600, 8.0, 3.0);
        frost.forecast(evening, -1.5, evening + 14 * HOUR);
        let changes = frost.drain_events();
        assert_eq!(opened(&changes, EventKind::Frost), vec![(evening, evening)]);
        // The night then comes: still the same event.
        for i in 0..84 {
            let t = evening + i * 600;
            frost.observe(t, night_temperature(t, -1.0, 14.0), 3.0);
        }
        assert!(opened(&frost.drain_events(), EventKind::Frost).is_empty());
        assert!(frost.ongoing().is_some());
    }

    #[test]
    fn drought_is_a_long_dry_spell_and_hovering_does_not_flap() {
        let mut drought = DroughtStress::new("soil_vwc_pct", DroughtConfig::default()).unwrap();
        let mut changes = Vec::new();
        let mut vwc: f64 = 28.0;
        // Ten days of drying and irrigation refills: never below the refill point.
        for i in 0..10 * 144 {
            vwc -= 0.5 / 144.0;
            if vwc < 22.0 {
                vwc = 29.0;
            }
            drought.update(T0 + i * 600, vwc);
        }
        changes.extend(drought.drain_events());
        assert!(changes.is_empty());
        // Then six days hovering around and below 20 %, then irrigation.
        let start = T0 + 10 * 86_400;
        for i in 0..6 * 144 {
            let wobble = if i % 2 == 0 { 0.4 } else { -0.4 };
            drought.update(start + i * 600, 20.0 - i as f64 * 0.003 + wobble);
        }
        drought.update(start + 6 * 86_400, 28.0);
        drought.update(start + 6 * 86_400 + 7 * HOUR, 28.0);
        changes.extend(drought.drain_events());
        let events = opened(&changes, EventKind::Drought);
        assert_eq!(events.len(), 1, "{changes:#?}");
        assert!((events[0].0 - start - 2 * 86_400).abs() <= 600, "opens two days into the dry spell");
        assert_eq!(changes.len(), 2, "and closes once");
    }
}
