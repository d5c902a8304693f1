//! Throughput of the anomaly detectors on one series, the way `fieldline detect` runs them:
//! one iteration builds a fresh detector and scores 50 000 one-minute readings (a month of
//! a temperature-like series with noise, two spikes and a stuck hour), so criterion's
//! elements/s is readings per second on one core, warm-up included.

#![allow(clippy::unwrap_used)] // a test or bench stops at the first surprise

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use fieldline_analytics::anomaly::peer::{PeerDrift, PeerDriftConfig};
use fieldline_analytics::anomaly::pest::{PestConfig, PestOutbreak};
use fieldline_analytics::anomaly::power_curve::{PowerCurve, PowerCurveConfig, TurbineReading};
use fieldline_analytics::anomaly::pv::{PvPeer, PvPeerConfig};
use fieldline_analytics::anomaly::{DetectorName, SeriesConfig, SeriesDetector};

const POINTS: usize = 50_000;
const T0: i64 = 1_772_323_200;

/// A deterministic xorshift for the bench data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    }
}

fn series() -> Vec<(i64, f64)> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut wander = 0.0;
    let mut out: Vec<(i64, f64)> = (0..POINTS)
        .map(|i| {
            let t = T0 + i as i64 * 60;
            wander = 0.999 * wander + 0.1 * rng.next();
            let day = (t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
            (t, ((15.0 + 6.0 * day.sin() + wander + 0.2 * rng.next()) * 100.0).round() / 100.0)
        })
        .collect();
    out[20_000].1 += 8.0;
    out[35_000].1 -= 8.0;
    let held = out[40_000].1;
    for reading in &mut out[40_000..40_060] {
        reading.1 = held;
    }
    out
}

fn bench_series(c: &mut Criterion) {
    let data = series();
    let mut group = c.benchmark_group("series_detector");
    group.throughput(Throughput::Elements(POINTS as u64));
    for name in DetectorName::ALL {
        group.bench_function(name.name(), |b| {
            b.iter(|| {
                let mut detector = SeriesDetector::new("air_temp_c", SeriesConfig::only(name)).unwrap();
                let mut sum = 0.0;
                for &(t, v) in &data {
                    sum += detector.update(black_box(t), black_box(v));
                }
                sum
            })
        });
    }
    group.finish();
}

fn bench_domain(c: &mut Criterion) {
    let data = series();
    let mut group = c.benchmark_group("domain_detector");
    group.throughput(Throughput::Elements(POINTS as u64));
    group.bench_function("power_curve", |b| {
        b.iter(|| {
            let mut curve = PowerCurve::new("power_kw", PowerCurveConfig::default()).unwrap();
            let mut sum = 0.0;
            for &(t, v) in &data {
                let wind = v / 2.0;
                let reading = TurbineReading {
                    t,
                    wind_speed_ms: wind,
                    power_kw: 2500.0 * ((wind - 3.0) / 9.0).clamp(0.0, 1.0).powi(3),
                    air_temp_c: v,
                    pressure_hpa: 1010.0,
                    relative_humidity_pct: 60.0,
                    curtailed: false,
                };
                sum += curve.update(black_box(&reading));
            }
            sum
        })
    });
    group.bench_function("pv_peer", |b| {
        b.iter(|| {
            let mut peer = PvPeer::new("ac_power_kw", 2175.0, PvPeerConfig::default()).unwrap();
            let mut sum = 0.0;
            for &(t, v) in &data {
                sum += peer.update(black_box(t), v * 50.0, 1000.0, false);
            }
            sum
        })
    });
    group.bench_function("peer_drift", |b| {
        b.iter(|| {
            let mut drift = PeerDrift::new("air_temp_c", PeerDriftConfig::default()).unwrap();
            let mut sum = 0.0;
            for &(t, v) in &data {
                sum += drift.update(black_box(t), v, 15.0);
            }
            sum
        })
    });
    group.bench_function("pest", |b| {
        b.iter(|| {
            let mut pest = PestOutbreak::new("count", PestConfig::default()).unwrap();
            let mut sum = 0.0;
            for &(t, v) in &data {
                sum += pest.update(black_box(t), v.floor());
            }
            sum
        })
    });
    group.finish();
}

criterion_group!(benches, bench_series, bench_domain);
criterion_main!(benches);
