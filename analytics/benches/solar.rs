//! Throughput of the sun-position and clear-sky functions the PV simulator and the forecast
//! feature builder call in bulk: one iteration computes a day of 1-minute positions at Heze,
//! so criterion's elements/s is positions per second.

#![allow(clippy::unwrap_used)] // a test or bench stops at the first surprise

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use fieldline_analytics::solar;

const HEZE_LAT: f64 = 35.2;
const HEZE_LON: f64 = 115.4;
const DAY_START_UNIX: f64 = 1_718_899_200.0; // 2024-06-20T16:00:00Z, local midnight
const MINUTES_PER_DAY: u32 = 1440;

fn minute_times() -> impl Iterator<Item = f64> {
    (0..MINUTES_PER_DAY).map(|m| DAY_START_UNIX + 60.0 * f64::from(m))
}

fn bench_positions(c: &mut Criterion) {
    let mut group = c.benchmark_group("sun_position");
    group.throughput(Throughput::Elements(u64::from(MINUTES_PER_DAY)));
    group.bench_function("spa", |b| {
        b.iter(|| {
            minute_times()
                .map(|t| solar::position(black_box(t), HEZE_LAT, HEZE_LON, 50.0, 1007.0, 15.0).zenith_deg)
                .sum::<f64>()
        })
    });
    group.bench_function("fast", |b| {
        b.iter(|| {
            minute_times()
                .map(|t| solar::position_fast(black_box(t), HEZE_LAT, HEZE_LON, 1007.0, 15.0).zenith_deg)
                .sum::<f64>()
        })
    });
    group.bench_function("clearsky_ghi_at", |b| {
        b.iter(|| minute_times().map(|t| solar::clearsky_ghi_at(black_box(t), HEZE_LAT, HEZE_LON, 50.0)).sum::<f64>())
    });
    group.finish();
}

criterion_group!(benches, bench_positions);
criterion_main!(benches);
