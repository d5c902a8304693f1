//! The store against the simplest model of what it promises: a map from (series, field,
//! timestamp) to the last value written. Random writes (with duplicate timestamps, over
//! several UTC days), explicit snapshots, automatic ones (a tiny `snapshot_values`) and
//! restarts in any order; after every step, every query must agree with the model.

#![allow(clippy::unwrap_used)] // a test or bench stops at the first surprise

use std::collections::BTreeMap;

use fieldline_core::time::{NS_PER_DAY, NS_PER_HOUR, NS_PER_SEC};
use fieldline_core::{FieldValue, Point};
use fieldline_store::{Agg, Query, Store, StoreConfig, Window};
use proptest::prelude::*;

const DEVICES: [&str; 3] = ["wt01", "wt02", "wt03"];
const FIELDS: [&str; 2] = ["power_kw", "wind_speed_ms"];
const BASE: i64 = 1_780_000_000 * NS_PER_SEC;

/// (device, field, timestamp) → value, last write wins.
type Model = BTreeMap<(usize, usize, i64), f64>;

/// A series as compared: device, field, (timestamp, value) in time order.
type Flat = (String, String, Vec<(i64, f64)>);

#[derive(Debug, Clone)]
enum Op {
    /// One write request: (device, field, day, minute, value) readings.
    Write(Vec<(usize, usize, i64, i64, i32)>),
    /// Snapshot everything buffered to Parquet and wait for it.
    Flush,
    /// Shut down and open the data directory again.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let reading = (0..DEVICES.len(), 0..FIELDS.len(), 0i64..3, 0i64..90, -1000i32..1000);
    prop_oneof![
        6 => proptest::collection::vec(reading, 1..12).prop_map(Op::Write),
        1 => Just(Op::Flush),
        1 => Just(Op::Restart),
    ]
}

fn timestamp(day: i64, minute: i64) -> i64 {
    BASE + day * NS_PER_DAY + minute * 60 * NS_PER_SEC
}

fn config() -> StoreConfig {
    // A handful of values per snapshot, so snapshots also run on their own, mid-sequence.
    StoreConfig { snapshot_values: 7, ..StoreConfig::default() }
}

/// Every query the model can answer, asked of the store.
fn agrees(store: &Store, model: &Model) -> Result<(), TestCaseError> {
    // Raw series, one per device and field, ordered by tags then field.
    let got: Vec<Flat> = store
        .query(&Query::new("wind_turbine"))
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .into_iter()
        .map(|s| {
            let device = s.tag("device").unwrap_or_default().to_string();
            (device, s.field, s.points.iter().map(|(t, v)| (*t, v.as_f64().unwrap_or(f64::NAN))).collect())
        })
        .collect();
    let mut want: BTreeMap<(usize, usize), Vec<(i64, f64)>> = BTreeMap::new();
    for ((d, f, t), v) in model {
        want.entry((*d, *f)).or_default().push((*t, *v));
    }
    let want: Vec<Flat> =
        want.into_iter().map(|((d, f), points)| (DEVICES[d].to_string(), FIELDS[f].to_string(), points)).collect();
    prop_assert_eq!(&got, &want);

    // Rows of one device, pivoted by the store.
    let rows = store
        .query_rows(&Query::new("wind_turbine").tag("device", "wt02"))
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut want_rows: BTreeMap<i64, Vec<(String, f64)>> = BTreeMap::new();
    for ((d, f, t), v) in model {
        if *d == 1 {
            want_rows.entry(*t).or_default().push((FIELDS[*f].to_string(), *v));
        }
    }
    let got_rows: BTreeMap<i64, Vec<(String, f64)>> = rows
        .into_iter()
        .map(|r| (r.timestamp_ns, r.fields.into_iter().map(|(k, v)| (k, v.as_f64().unwrap_or(f64::NAN))).collect()))
        .collect();
    prop_assert_eq!(got_rows, want_rows);

    // Hourly counts of one field over one day's range.
    let (start, stop) = (BASE + NS_PER_DAY, BASE + 2 * NS_PER_DAY);
    let window = Window { every_ns: NS_PER_HOUR, offset_ns: 0, agg: Agg::Count };
    let counts: Vec<(String, Vec<(i64, FieldValue)>)> = store
        .query(&Query::new("wind_turbine").range(start, stop).fields(["power_kw"]).window(window))
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .into_iter()
        .map(|s| (s.tag("device").unwrap_or_default().to_string(), s.points))
        .collect();
    let mut want_counts: BTreeMap<usize, BTreeMap<i64, i64>> = BTreeMap::new();
    for (d, _, t) in model.keys().filter(|(_, f, t)| *f == 0 && (start..stop).contains(t)) {
        *want_counts.entry(*d).or_default().entry(t.div_euclid(NS_PER_HOUR) * NS_PER_HOUR).or_default() += 1;
    }
    let want_counts: Vec<(String, Vec<(i64, FieldValue)>)> = want_counts
        .into_iter()
        .map(|(d, w)| (DEVICES[d].to_string(), w.into_iter().map(|(t, n)| (t, FieldValue::Int(n))).collect()))
        .collect();
    prop_assert_eq!(counts, want_counts);
    Ok(())
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    runtime.block_on(async {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
        let mut store = Store::open(dir.path(), config()).map_err(|e| fail(&e))?;
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Write(readings) => {
                    let points: Vec<Point> = readings
                        .iter()
                        .map(|&(d, f, day, minute, v)| {
                            Point::new(
                                "wind_turbine",
                                vec![("device".into(), DEVICES[d].into()), ("site".into(), "heze-wind".into())],
                                vec![(FIELDS[f].into(), FieldValue::Float(f64::from(v)))],
                                timestamp(day, minute),
                            )
                        })
                        .collect();
                    store.write_points(points).await.map_err(|e| fail(&e))?;
                    for (d, f, day, minute, v) in readings {
                        model.insert((d, f, timestamp(day, minute)), f64::from(v));
                    }
                }
                Op::Flush => store.flush().await.map_err(|e| fail(&e))?,
                Op::Restart => {
                    store.shutdown().await.map_err(|e| fail(&e))?;
                    drop(store);
                    store = Store::open(dir.path(), config()).map_err(|e| fail(&e))?;
                }
            }
            agrees(&store, &model)?;
        }
        store.shutdown().await.map_err(|e| fail(&e))?;
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn queries_agree_with_a_last_write_wins_map(ops in proptest::collection::vec(op(), 1..24)) {
        run(ops)?;
    }
}
