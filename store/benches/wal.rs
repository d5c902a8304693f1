//! The WAL append path: framing + write per record, and what group commit buys when every
//! group ends in an fdatasync. Run: `cargo bench --bench wal`.

#![allow(clippy::unwrap_used)] // a test or bench stops at the first surprise

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fieldline_core::{FieldValue, Point};
use fieldline_store::wal::Wal;

/// One write request as the store encodes it: `points` readings of a turbine.
fn record(points: usize) -> Vec<u8> {
    let batch: Vec<Point> = (0..points)
        .map(|i| {
            Point::new(
                "wind_turbine",
                vec![("site".into(), "heze-wind".into()), ("device".into(), format!("wt{:02}", i % 20))],
                vec![
                    ("power_kw".into(), FieldValue::Float(1234.5 + i as f64)),
                    ("wind_speed_ms".into(), FieldValue::Float(9.1)),
                    ("pitch_deg".into(), FieldValue::Float(2.5)),
                ],
                1_775_772_000_000_000_000 + i as i64 * 60_000_000_000,
            )
        })
        .collect();
    postcard::to_stdvec(&batch).unwrap()
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("wal_encode");
    for points in [1usize, 100] {
        group.throughput(Throughput::Elements(points as u64));
        group.bench_with_input(BenchmarkId::new("postcard_points", points), &points, |b, &n| {
            b.iter(|| black_box(record(n)))
        });
    }
    group.finish();
}

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), |_| {}).unwrap();
    let rec = record(1);
    let mut group = c.benchmark_group("wal_append_no_sync");
    group.throughput(Throughput::Elements(64));
    group.bench_function("64_records_one_write", |b| {
        b.iter(|| wal.append_many(std::iter::repeat_n(rec.as_slice(), 64)).unwrap());
        wal.rotate().unwrap();
    });
    group.finish();
}

/// Records per second when each group of `n` records ends in one fdatasync: the ratio
/// between n = 1 and n = 64 is what group commit is worth on this disk.
fn group_commit(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path(), |_| {}).unwrap();
    let rec = record(1);
    let mut group = c.benchmark_group("wal_group_commit");
    group.sample_size(20);
    for n in [1usize, 8, 64] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("records_per_fsync", n), &n, |b, &n| {
            b.iter(|| {
                wal.append_many(std::iter::repeat_n(rec.as_slice(), n)).unwrap();
                wal.sync().unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, encode, append, group_commit);
criterion_main!(benches);
