//! The store against the simplest model of what it promises: a map from (series, field,
//! timestamp) to the last value written. Random writes (with duplicate timestamps, over
//! several UTC days), explicit snapshots, automatic ones (a tiny `snapshot_values`),
//! compactions (explicit, and the background one after every snapshot) and restarts in any
//! order; after every step, every query must agree with the model. The second property kills
//! the store's process (SIGKILL) at any point of a write, snapshot or compaction.

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
    /// Merge every day's files into one.
    Compact,
    /// Shut down and open the data directory again.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    let reading = (0..DEVICES.len(), 0..FIELDS.len(), 0i64..3, 0i64..90, -1000i32..1000);
    prop_oneof![
        6 => proptest::collection::vec(reading, 1..12).prop_map(Op::Write),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
        1 => Just(Op::Restart),
    ]
}

/// Slot `minute` (0..90) of `day`: 16 minutes apart, so a day's slots cross UTC midnight and
/// the UTC+8 day boundary (BASE is 20:26 UTC), and windows span two day files.
fn timestamp(day: i64, minute: i64) -> i64 {
    BASE + day * NS_PER_DAY + minute * 16 * 60 * NS_PER_SEC
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

    // The series listing: each series field's first and last timestamp, and at least as many
    // values as the model (a value overwritten after a snapshot counts twice until compacted).
    let mut spans: BTreeMap<(String, String), (i64, i64, u64)> = BTreeMap::new();
    for (d, f, t) in model.keys() {
        let e = spans.entry((DEVICES[*d].to_string(), FIELDS[*f].to_string())).or_insert((i64::MAX, i64::MIN, 0));
        *e = (e.0.min(*t), e.1.max(*t), e.2 + 1);
    }
    let listed: BTreeMap<(String, String), (i64, i64, u64)> = store
        .series(Some("wind_turbine"), &[])
        .into_iter()
        .map(|s| ((s.tags["device"].clone(), s.field), (s.first_ns, s.last_ns, s.count)))
        .collect();
    prop_assert_eq!(listed.keys().collect::<Vec<_>>(), spans.keys().collect::<Vec<_>>());
    for (key, (first, last, count)) in &spans {
        let (lf, ll, lc) = listed[key];
        prop_assert_eq!((lf, ll), (*first, *last), "{:?}", key);
        prop_assert!(lc >= *count, "{:?}: listed {} values, model {}", key, lc, count);
    }

    // Heze days (UTC+8): every window spans two UTC day files, aggregated per file and merged.
    let offset = 8 * NS_PER_HOUR;
    for agg in [Agg::Count, Agg::Sum, Agg::Min, Agg::Max, Agg::First, Agg::Last, Agg::Mean] {
        let window = Window { every_ns: NS_PER_DAY, offset_ns: offset, agg };
        let got: Vec<(String, Vec<(i64, f64)>)> = store
            .query(&Query::new("wind_turbine").fields(["power_kw"]).window(window))
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .into_iter()
            .map(|s| {
                let points = s.points.iter().map(|(t, v)| (*t, v.as_f64().unwrap_or(f64::NAN))).collect();
                (s.tag("device").unwrap_or_default().to_string(), points)
            })
            .collect();
        let mut windows: BTreeMap<(usize, i64), Vec<f64>> = BTreeMap::new();
        for ((d, _, t), v) in model.iter().filter(|((_, f, _), _)| *f == 0) {
            let start = (t - offset).div_euclid(NS_PER_DAY) * NS_PER_DAY + offset;
            windows.entry((*d, start)).or_default().push(*v);
        }
        let mut want: BTreeMap<usize, Vec<(i64, f64)>> = BTreeMap::new();
        for ((d, start), values) in windows {
            let v = match agg {
                Agg::Count => values.len() as f64,
                Agg::Sum => values.iter().sum(),
                Agg::Mean => values.iter().sum::<f64>() / values.len() as f64,
                Agg::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
                Agg::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                Agg::First => values[0],
                Agg::Last => values[values.len() - 1],
            };
            want.entry(d).or_default().push((start, v));
        }
        let want: Vec<(String, Vec<(i64, f64)>)> =
            want.into_iter().map(|(d, points)| (DEVICES[d].to_string(), points)).collect();
        prop_assert_eq!(&got, &want, "{:?}", agg);
    }
    Ok(())
}

/// Names of the Parquet files in `dir`, sorted.
fn day_files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
        .unwrap_or_default();
    names.retain(|n| n.ends_with(".parquet"));
    names.sort();
    names
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    runtime.block_on(async {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
        let mut store = Store::open(dir.path(), config()).map_err(|e| fail(&format!("open: {e}")))?;
        let mut model = Model::new();
        for op in ops {
            match op {
                Op::Write(readings) => {
                    store.write_points(points(&readings)).await.map_err(|e| fail(&format!("write: {e}")))?;
                    for (d, f, day, minute, v) in readings {
                        model.insert((d, f, timestamp(day, minute)), f64::from(v));
                    }
                }
                Op::Flush => store.flush().await.map_err(|e| fail(&format!("flush: {e}")))?,
                Op::Compact => store.compact().await.map_err(|e| fail(&format!("compact: {e}")))?,
                Op::Restart => {
                    store.shutdown().await.map_err(|e| fail(&format!("shutdown: {e}")))?;
                    drop(store);
                    store = Store::open(dir.path(), config()).map_err(|e| fail(&format!("open: {e}")))?;
                }
            }
            agrees(&store, &model)?;
        }
        // Compacted, every day is one file again, and the answers are the same.
        store.flush().await.map_err(|e| fail(&format!("flush: {e}")))?;
        store.compact().await.map_err(|e| fail(&format!("compact: {e}")))?;
        agrees(&store, &model)?;
        // Nothing counted twice any more.
        for s in store.series(Some("wind_turbine"), &[]) {
            let device = DEVICES.iter().position(|d| *d == s.tags["device"]).unwrap();
            let field = FIELDS.iter().position(|f| *f == s.field).unwrap();
            let want = model.keys().filter(|(d, f, _)| *d == device && *f == field).count() as u64;
            prop_assert_eq!(s.count, want, "{:?} {}", s.tags, s.field);
        }
        let files = day_files(&dir.path().join("parquet/wind_turbine"));
        let days: std::collections::BTreeSet<&str> = files.iter().map(|f| &f[..10]).collect();
        prop_assert_eq!(days.len(), files.len(), "one file per day after compaction: {:?}", files);
        store.shutdown().await.map_err(|e| fail(&format!("shutdown: {e}")))?;
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

// ---------------------------------------------------------------------------------------------
// Kill at any point: a child process (this test binary, running `crash_child`) applies the
// operations one at a time with `FIELDLINE_CRASH_AT` set, printing each write before and after
// its acknowledgement, and is killed at the chosen point (or exits after the last operation,
// as if killed then). Reopened, the store must hold every acknowledged write and, of the one
// write in flight, all of it or none of it; and it must go on working.

/// Every crash point of the store (see `fieldline_store::crash`).
const CRASH_POINTS: [&str; 8] = [
    "wal-appended",
    "wal-synced",
    "snapshot-sealed",
    "snapshot-tmp-written",
    "snapshot-renamed",
    "snapshot-persisted",
    "snapshot-segments-removed",
    "compaction-renamed",
];

const CHILD_OPS: &str = "FIELDLINE_MODEL_CHILD_OPS";
const CHILD_DIR: &str = "FIELDLINE_MODEL_CHILD_DIR";

/// One operation per line: `w d,f,day,minute,value;...`, `flush` or `compact`.
fn encode(ops: &[Op]) -> String {
    let mut out = String::new();
    for op in ops {
        match op {
            Op::Write(readings) => {
                let items: Vec<String> =
                    readings.iter().map(|(d, f, day, m, v)| format!("{d},{f},{day},{m},{v}")).collect();
                out.push_str(&format!("w {}\n", items.join(";")));
            }
            Op::Flush => out.push_str("flush\n"),
            Op::Compact => out.push_str("compact\n"),
            Op::Restart => {}
        }
    }
    out
}

fn decode(text: &str) -> Vec<Op> {
    text.lines()
        .filter_map(|line| match line {
            "flush" => Some(Op::Flush),
            "compact" => Some(Op::Compact),
            _ => {
                let readings = line.strip_prefix("w ")?.split(';').map(|item| {
                    let n: Vec<i64> = item.split(',').map(|x| x.parse().unwrap()).collect();
                    (n[0] as usize, n[1] as usize, n[2], n[3], n[4] as i32)
                });
                Some(Op::Write(readings.collect()))
            }
        })
        .collect()
}

fn points(readings: &[(usize, usize, i64, i64, i32)]) -> Vec<Point> {
    readings
        .iter()
        .map(|&(d, f, day, minute, v)| {
            Point::new(
                "wind_turbine",
                vec![("device".into(), DEVICES[d].into()), ("site".into(), "heze-wind".into())],
                vec![(FIELDS[f].into(), FieldValue::Float(f64::from(v)))],
                timestamp(day, minute),
            )
        })
        .collect()
}

/// The child's side; does nothing unless the parent set `FIELDLINE_MODEL_CHILD_OPS`.
#[test]
#[ignore = "the child process of kill_9_at_any_point_loses_no_acknowledged_write"]
fn crash_child() {
    let (Ok(ops), Ok(dir)) = (std::env::var(CHILD_OPS), std::env::var(CHILD_DIR)) else { return };
    let ops = decode(&std::fs::read_to_string(ops).unwrap());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(std::path::Path::new(&dir), config()).unwrap();
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Write(readings) => {
                    println!("@write {i}");
                    store.write_points(points(readings)).await.unwrap();
                    println!("@acked {i}");
                }
                Op::Flush => store.flush().await.unwrap(),
                Op::Compact => store.compact().await.unwrap(),
                Op::Restart => {}
            }
        }
    });
    // Not shut down: as if killed right after the last operation.
    std::process::exit(0);
}

/// The number after `marker` in a line of the child's output (libtest may start the line).
fn marked(line: &str, marker: &str) -> Option<usize> {
    let at = line.find(marker)? + marker.len();
    line[at..].split_whitespace().next()?.parse().ok()
}

/// Runs `ops` in a child killed at the `nth` time it reaches `point`, then checks the store;
/// Ok(true) if the child was killed (not every sequence reaches every point).
fn kill_at(ops: Vec<Op>, point: &str, nth: u32) -> Result<bool, TestCaseError> {
    let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
    let dir = tempfile::tempdir().map_err(|e| fail(&e))?;
    let ops_file = dir.path().join("ops.txt");
    std::fs::write(&ops_file, encode(&ops)).map_err(|e| fail(&e))?;
    let data = dir.path().join("data");
    let output = std::process::Command::new(std::env::current_exe().map_err(|e| fail(&e))?)
        .args(["--exact", "crash_child", "--ignored", "--nocapture", "--test-threads", "1"])
        .env(CHILD_OPS, &ops_file)
        .env(CHILD_DIR, &data)
        .env("FIELDLINE_CRASH_AT", format!("{point}:{nth}"))
        .output()
        .map_err(|e| fail(&e))?;
    use std::os::unix::process::ExitStatusExt;
    let killed = output.status.signal() == Some(libc::SIGKILL);
    prop_assert!(
        killed || output.status.success(),
        "the child failed: {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let acked: std::collections::BTreeSet<usize> = stdout.lines().filter_map(|l| marked(l, "@acked ")).collect();
    let in_flight: Option<usize> =
        stdout.lines().filter_map(|l| marked(l, "@write ")).find(|i: &usize| !acked.contains(i));

    // The model without and with the write that was in flight.
    let mut without = Model::new();
    let mut with = Model::new();
    for (i, op) in ops.iter().enumerate() {
        let Op::Write(readings) = op else { continue };
        for &(d, f, day, minute, v) in readings {
            if acked.contains(&i) {
                without.insert((d, f, timestamp(day, minute)), f64::from(v));
            }
            if acked.contains(&i) || in_flight == Some(i) {
                with.insert((d, f, timestamp(day, minute)), f64::from(v));
            }
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| fail(&e))?;
    runtime.block_on(async {
        let store = Store::open(&data, config()).map_err(|e| fail(&e))?;
        let mut model = match agrees(&store, &without) {
            Ok(()) => without,
            Err(first) => {
                agrees(&store, &with).map_err(|second| {
                    TestCaseError::fail(format!(
                        "killed at {point}:{nth} (killed: {killed}): neither without nor with the write in \
                         flight ({in_flight:?}):\n{first}\n{second}"
                    ))
                })?;
                with
            }
        };
        // And it goes on working: a write, a snapshot, a compaction, a restart.
        store.write_points(points(&[(0, 0, 1, 7, 4242)])).await.map_err(|e| fail(&e))?;
        model.insert((0, 0, timestamp(1, 7)), 4242.0);
        store.flush().await.map_err(|e| fail(&e))?;
        store.compact().await.map_err(|e| fail(&e))?;
        store.shutdown().await.map_err(|e| fail(&e))?;
        drop(store);
        let store = Store::open(&data, config()).map_err(|e| fail(&e))?;
        agrees(&store, &model)?;
        store.shutdown().await.map_err(|e| fail(&e))?;
        Ok(killed)
    })
}

fn child_op() -> impl Strategy<Value = Op> {
    let reading = (0..DEVICES.len(), 0..FIELDS.len(), 0i64..3, 0i64..90, -1000i32..1000);
    prop_oneof![
        8 => proptest::collection::vec(reading, 1..12).prop_map(Op::Write),
        1 => Just(Op::Flush),
        1 => Just(Op::Compact),
    ]
}

#[test]
fn kill_9_at_any_point_loses_no_acknowledged_write() {
    use proptest::test_runner::{Config, TestRunner};
    for point in CRASH_POINTS {
        // Deterministic per point; a failure prints the shrunk operations.
        let mut runner = TestRunner::new_with_rng(
            Config { cases: 6, failure_persistence: None, ..Config::default() },
            proptest::test_runner::TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
        );
        let kills = std::sync::atomic::AtomicUsize::new(0);
        let strategy = (proptest::collection::vec(child_op(), 4..30), 1u32..4);
        let result = runner.run(&strategy, |(ops, nth)| {
            if kill_at(ops, point, nth)? {
                kills.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("kill -9 at {point}: {e}");
        }
        // Otherwise the property held vacuously.
        assert!(kills.into_inner() > 0, "no sequence reached {point}");
    }
}
