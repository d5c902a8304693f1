//! Throughput of the onset detector ([`OnsetDetector`]) on one NAB-like series, against a
//! plain rolling z-score computed the same way: one iteration builds a fresh detector and
//! scores 100 000 five-minute readings (a machine-temperature-like series: a daily cycle,
//! a slow wander, noise, a few spikes, a level drop and a flat stretch), so criterion's
//! elements/s is readings per second on one core, warm-up included.

#![allow(clippy::unwrap_used)] // a test or bench stops at the first surprise

use std::collections::VecDeque;

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use fieldline_analytics::anomaly::onset::{OnsetConfig, OnsetDetector};

const POINTS: usize = 100_000;
const T0: i64 = 1_386_000_000;

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
            let t = T0 + i as i64 * 300;
            wander = 0.998 * wander + 0.3 * rng.next();
            let day = (t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU;
            (t, 85.0 + 5.0 * day.sin() + wander + rng.next())
        })
        .collect();
    for i in [20_000, 45_000, 70_000] {
        out[i].1 += 25.0;
    }
    for reading in &mut out[55_000..56_000] {
        reading.1 -= 30.0;
    }
    let held = out[80_000].1;
    for reading in &mut out[80_000..80_300] {
        reading.1 = held;
    }
    out
}

/// The baseline: z of the mean of the last 10 values against the mean and standard deviation
/// of a rolling window (running sums, O(1) per reading), mapped to [0, 1].
struct RollingZ {
    window: VecDeque<f64>,
    recent: VecDeque<f64>,
    sum: f64,
    sum_sq: f64,
    recent_sum: f64,
    capacity: usize,
}

impl RollingZ {
    fn new(capacity: usize) -> Self {
        RollingZ {
            window: VecDeque::with_capacity(capacity),
            recent: VecDeque::with_capacity(10),
            sum: 0.0,
            sum_sq: 0.0,
            recent_sum: 0.0,
            capacity,
        }
    }

    fn update(&mut self, value: f64) -> f64 {
        if self.recent.len() == 10 {
            self.recent_sum -= self.recent.pop_front().unwrap_or(0.0);
        }
        self.recent.push_back(value);
        self.recent_sum += value;
        let n = self.window.len() as f64;
        let score = if n >= 2.0 {
            let mean = self.sum / n;
            let sd = (self.sum_sq / n - mean * mean).max(0.0).sqrt();
            let z = (self.recent_sum / self.recent.len() as f64 - mean).abs() / sd.max(1e-12);
            1.0 - (-0.5 * z * z).exp()
        } else {
            0.0
        };
        if self.window.len() == self.capacity
            && let Some(old) = self.window.pop_front()
        {
            self.sum -= old;
            self.sum_sq -= old * old;
        }
        self.window.push_back(value);
        self.sum += value;
        self.sum_sq += value * value;
        score
    }
}

fn bench_onset(c: &mut Criterion) {
    let data = series();
    let mut group = c.benchmark_group("onset");
    group.throughput(Throughput::Elements(POINTS as u64));
    group.bench_function("onset_detector", |b| {
        b.iter(|| {
            let mut detector = OnsetDetector::new(OnsetConfig::default()).unwrap();
            let mut sum = 0.0;
            for &(t, v) in &data {
                sum += detector.update(black_box(t), black_box(v));
            }
            sum
        })
    });
    group.bench_function("rolling_z_baseline", |b| {
        b.iter(|| {
            let mut z = RollingZ::new(6400);
            let mut sum = 0.0;
            for &(_, v) in &data {
                sum += z.update(black_box(v));
            }
            sum
        })
    });
    group.finish();
}

criterion_group!(benches, bench_onset);
criterion_main!(benches);
