//! Query latency on day partitions, the shape the dashboard and analysts ask for: 20 turbines
//! at one reading a minute for 30 days (864 000 rows, 3 fields), snapshotted to Parquet, then
//! one turbine's power raw and as 15-minute means, and 20 turbines' hourly means.
//! Run: `cargo bench -p fieldline-store --bench query`.

#![allow(clippy::unwrap_used)] // a test or bench stops at the first surprise

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use fieldline_core::time::{NS_PER_DAY, NS_PER_HOUR, NS_PER_MINUTE};
use fieldline_core::{FieldValue, Point};
use fieldline_store::{Agg, Query, Store, StoreConfig, Window};

const TURBINES: usize = 20;
const DAYS: i64 = 30;
/// 2026-04-01T00:00:00Z.
const START: i64 = 1_775_001_600 * 1_000_000_000;

fn build(dir: &std::path::Path) -> Store {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let config =
        StoreConfig { snapshot_values: usize::MAX / 2, snapshot_interval_secs: 1 << 30, ..StoreConfig::default() };
    let store = Store::open(dir, config).unwrap();
    runtime.block_on(async {
        for day in 0..DAYS {
            let mut points = Vec::with_capacity(TURBINES * 1440);
            for minute in 0..1440 {
                let ts = START + day * NS_PER_DAY + minute * NS_PER_MINUTE;
                for t in 0..TURBINES {
                    let x = (day * 1440 + minute) as f64 + t as f64;
                    points.push(Point::new(
                        "wind_turbine",
                        vec![("site".into(), "heze-wind".into()), ("device".into(), format!("wt{t:02}"))],
                        vec![
                            ("power_kw".into(), FieldValue::Float(x.sin().abs() * 2500.0)),
                            ("wind_speed_ms".into(), FieldValue::Float(8.0 + x.cos())),
                            ("pitch_deg".into(), FieldValue::Float(2.5)),
                        ],
                        ts,
                    ));
                }
            }
            store.write_points(points).await.unwrap();
        }
        store.flush().await.unwrap();
    });
    store
}

fn queries(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = build(dir.path());
    let stop = START + DAYS * NS_PER_DAY;
    let one = Query::new("wind_turbine").range(START, stop).tag("device", "wt07").fields(["power_kw"]);
    assert_eq!(store.query(&one).unwrap()[0].points.len(), (DAYS * 1440) as usize);

    let mut group = c.benchmark_group("query_30_days");
    group.sample_size(10);
    group.bench_function("one_turbine_raw", |b| b.iter(|| black_box(store.query(&one).unwrap())));
    let mean15 = one.clone().window(Window { every_ns: 15 * NS_PER_MINUTE, offset_ns: 0, agg: Agg::Mean });
    group.bench_function("one_turbine_15min_mean", |b| b.iter(|| black_box(store.query(&mean15).unwrap())));
    let all_hourly = Query::new("wind_turbine").range(START, stop).fields(["power_kw"]).window(Window {
        every_ns: NS_PER_HOUR,
        offset_ns: 0,
        agg: Agg::Mean,
    });
    group.bench_function("twenty_turbines_1h_mean", |b| b.iter(|| black_box(store.query(&all_hourly).unwrap())));
    group.finish();
}

criterion_group!(benches, queries);
criterion_main!(benches);
