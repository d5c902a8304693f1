//! Streaming anomaly detection: per-series detectors that score every reading in [0, 1]
//! and turn sustained high scores into events.
//!
//! Every detector is incremental and keeps constant memory per series: it sees each reading
//! once, in arrival order, and never looks ahead, so the score of a reading depends only on
//! the readings before it. Scores are calibrated so that 0.5 is where an event opens.
//!
//! - [`generic`]: [`SeriesDetector`] for any numeric series — physical range, stuck /
//!   flat-line, spikes, gaps (on a timer), level shift and slow drift (CUSUM), and an
//!   adaptive score against a learned time-of-day profile; `auto` runs them all and reports
//!   the largest score.
//! - [`onset`]: [`onset::OnsetDetector`] for any numeric series — the likelihood that an
//!   anomaly *begins* at this reading (several predictors, an anomaly-likelihood layer over
//!   their errors, spatial novelty, a refractory period after an alarm): it spikes at onset
//!   and falls back instead of holding a state; the score NAB-style benchmarks reward.
//! - [`peer`]: drift of a series against the median of its peers (the same quantity at
//!   other devices nearby).
//! - [`relation`]: drift of a field against what a related field of the same device
//!   predicts (soil conductivity against soil moisture).
//! - [`power_curve`]: wind-turbine underperformance against the turbine's own binned,
//!   density-corrected power curve (IEC 61400-12 style).
//! - [`pv`]: PV performance ratio against measured or clear-sky irradiance, and an
//!   inverter against the median of its peers.
//! - [`pest`]: pest-trap outbreaks (EARS C1–C3 on daily catches derived from the
//!   cumulative counter).
//! - [`peony`]: frost during the sensitive stages and drought stress.
//! - [`event`]: the event model shared by all of them: one [`Event`] per ongoing
//!   condition, opened and closed with hysteresis, reported as [`EventChange`]s.
//!
//! # State
//!
//! Every detector is `Serialize + Deserialize` (configuration included): persist it and
//! restore it after a restart to carry on exactly where it stopped, or build a fresh one and
//! `replay` stored history through it (events are not re-emitted). Detectors stay silent
//! until they have seen enough history to know what normal is (their warm-up).
//!
//! # Input hygiene
//!
//! NaN means "missing": it never changes what a detector has learned and scores 0. Infinite
//! values are out of range (scored by the range check, never learned). Timestamps are unix
//! seconds; duplicates and out-of-order readings are scored but do not advance the clock.

pub mod event;
pub mod generic;
pub mod onset;
pub mod peer;
pub mod peony;
pub mod pest;
pub mod power_curve;
pub mod pv;
pub mod relation;
mod stats;
#[cfg(test)]
mod testutil;

pub use event::{Event, EventChange, EventKind, EventTracker, Evidence, Hysteresis, Tracked};
pub use generic::{DetectorName, SeriesConfig, SeriesDetector};

/// Errors of the anomaly detectors: only configuration can be wrong; data never errors.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of its allowed range.
    #[error("invalid anomaly detector configuration: {0}")]
    InvalidConfig(String),
}

/// Result alias for this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Fails with [`Error::InvalidConfig`] unless `ok`.
fn require(ok: bool, message: impl FnOnce() -> String) -> Result<()> {
    if ok { Ok(()) } else { Err(Error::InvalidConfig(message())) }
}

/// Properties every detector must keep on any input: no panic, scores in [0, 1], and a
/// state that survives serialization (so no NaN or infinity hides in it).
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::peer::{PeerDrift, PeerDriftConfig, PeerMode};
    use super::peony::{DroughtConfig, DroughtStress, FrostConfig, FrostRisk};
    use super::pest::{Ears, PestConfig, PestOutbreak};
    use super::power_curve::{PowerCurve, PowerCurveConfig, TurbineReading};
    use super::pv::{IrradianceSource, PvPeer, PvPeerConfig, PvPerformance, PvPerformanceConfig, PvReading};
    use super::*;

    fn config(cases: u32) -> ProptestConfig {
        ProptestConfig {
            cases,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_a110_ca1e),
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// Ordinary values, the edge cases, and runs of one constant.
    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            6 => -50.0..3000.0f64,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(1e300),
            1 => Just(-1e300),
            1 => Just(f64::MIN_POSITIVE),
            2 => Just(0.0),
            2 => Just(7.25),
        ]
    }

    /// Steps between timestamps: regular, duplicate, backwards, long silences, and now and
    /// then an absurd clock.
    fn step() -> impl Strategy<Value = i64> {
        prop_oneof![
            6 => Just(60i64),
            2 => Just(0i64),
            2 => -7200..7200i64,
            1 => 0..40_000_000i64,
            1 => Just(i64::MAX / 2),
            1 => Just(i64::MIN / 2),
        ]
    }

    fn readings(max: usize) -> impl Strategy<Value = Vec<(i64, f64, f64, bool)>> {
        prop::collection::vec((step(), value(), value(), any::<bool>()), 0..max).prop_map(|steps| {
            let mut t: i64 = 1_772_323_200;
            steps
                .into_iter()
                .map(|(dt, a, b, flag)| {
                    t = t.saturating_add(dt);
                    (t, a, b, flag)
                })
                .collect()
        })
    }

    fn in_unit(score: f64) -> bool {
        (0.0..=1.0).contains(&score)
    }

    /// The state survives JSON (where NaN would not) and postcard, unchanged.
    fn survives<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(state: &T) {
        let json = serde_json::to_string(state).expect("serializes to JSON");
        let _: T = serde_json::from_str(&json).expect("JSON deserializes");
        let bytes = postcard::to_stdvec(state).expect("serializes to postcard");
        let back: T = postcard::from_bytes(&bytes).expect("postcard deserializes");
        assert_eq!(&back, state);
    }

    proptest! {
        #![proptest_config(config(200))]

        #[test]
        fn series_detectors_take_anything(input in readings(400), small_warmup in any::<bool>()) {
            let mut config = SeriesConfig::auto().with_limits(Some(-40.0), Some(2500.0));
            if small_warmup {
                config.warmup = generic::Warmup { points: 3, seconds: 0 };
            }
            let mut detector = SeriesDetector::new("f", config).unwrap();
            for &(t, v, _, timer) in &input {
                let score = if timer { detector.check(t) } else { detector.update(t, v) };
                prop_assert!(in_unit(score), "score {score}");
            }
            for change in detector.drain_events() {
                let e = change.event();
                prop_assert!(in_unit(e.peak.score) && e.end_s.is_none_or(|end| end >= e.start_s));
            }
            survives(&detector);
        }

        #[test]
        fn domain_detectors_take_anything(input in readings(300), mode in 0..3u8) {
            let mut curve = PowerCurve::new("power_kw", PowerCurveConfig { min_bin_samples: 2, ..PowerCurveConfig::default() }).unwrap();
            let mut peer = PvPeer::new("ac_power_kw", 2175.0, PvPeerConfig::default()).unwrap();
            let source = if mode == 0 {
                IrradianceSource::Measured
            } else {
                IrradianceSource::ClearSky { latitude: 35.1, longitude: 115.3, altitude_m: 50.0 }
            };
            let mut performance = PvPerformance::new("ac_power_kw", 2500.0, PvPerformanceConfig { source, ac_limit_kw: Some(2175.0), ..PvPerformanceConfig::default() }).unwrap();
            let method = [Ears::C1, Ears::C2, Ears::C3][usize::from(mode)];
            let mut pest = PestOutbreak::new("count", PestConfig { method, ..PestConfig::default() }).unwrap();
            let mut frost = FrostRisk::new("air_temp_c", FrostConfig { warn_without_stage: mode == 1, ..FrostConfig::default() }).unwrap();
            let mut drought = DroughtStress::new("soil_vwc_pct", DroughtConfig::default()).unwrap();
            let drift_mode = if mode == 2 { PeerMode::Ratio } else { PeerMode::Difference };
            let mut drift = PeerDrift::new("air_temp_c", PeerDriftConfig { mode: drift_mode, warmup_blocks: 2, ..PeerDriftConfig::default() }).unwrap();
            for &(t, a, b, flag) in &input {
                let reading = TurbineReading {
                    t,
                    wind_speed_ms: a / 100.0,
                    power_kw: b,
                    air_temp_c: a,
                    pressure_hpa: b,
                    relative_humidity_pct: a,
                    curtailed: flag,
                };
                let scores = [
                    curve.update(&reading),
                    peer.update(t, a, b, flag),
                    performance.update(&PvReading { t, ac_power_kw: a, irradiance_wm2: b, module_temp_c: a / 40.0, curtailed: flag }),
                    pest.update(t, a),
                    if flag { frost.forecast(t, a / 100.0, t.saturating_add(3600)) } else { frost.observe(t, a / 100.0, b / 500.0) },
                    drought.update(t, a / 50.0),
                    drift.update(t, a, b),
                ];
                prop_assert!(scores.iter().all(|s| in_unit(*s)), "{scores:?}");
            }
            survives(&curve);
            survives(&peer);
            survives(&performance);
            survives(&pest);
            survives(&frost);
            survives(&drought);
            survives(&drift);
        }
    }
}
