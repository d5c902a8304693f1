//! The typed query API against a real store in a temporary directory: the same answers from
//! the in-memory buffer, from Parquet after a snapshot, and after a restart.

#![allow(clippy::unwrap_used)] // a test or bench stops at the first surprise

use fieldline_core::time::NS_PER_SEC;
use fieldline_core::{FieldValue, Point};
use fieldline_store::{Agg, Query, Row, Series, Store, StoreConfig, Window};

const T0: i64 = 1_780_000_000 * NS_PER_SEC;
const MINUTE: i64 = 60 * NS_PER_SEC;

fn reading(device: &str, ts: i64, fields: &[(&str, f64)]) -> Point {
    Point::new(
        "wind_turbine",
        vec![("site".into(), "heze-wind".into()), ("device".into(), device.into())],
        fields.iter().map(|(k, v)| (k.to_string(), FieldValue::Float(*v))).collect(),
        ts,
    )
}

fn tags(device: &str) -> Vec<(String, String)> {
    vec![("device".into(), device.into()), ("site".into(), "heze-wind".into())]
}

/// What every check below expects, whichever layer answers.
fn check(store: &Store) {
    // One field of one device: the duplicate timestamp kept its last write.
    let query = Query::new("wind_turbine").tag("device", "wt01").fields(["power_kw"]);
    let series = store.query(&query).unwrap();
    assert_eq!(
        series,
        vec![Series {
            tags: tags("wt01"),
            field: "power_kw".into(),
            points: vec![(T0, FieldValue::Float(1.5)), (T0 + MINUTE, FieldValue::Float(2.0))],
        }]
    );

    // Two-minute means, all fields, both devices: ordered by tags, then field.
    let window = Window { every_ns: 2 * MINUTE, offset_ns: 0, agg: Agg::Mean };
    let means = store.query(&Query::new("wind_turbine").range(T0, T0 + 2 * MINUTE).window(window)).unwrap();
    let start = T0.div_euclid(2 * MINUTE) * 2 * MINUTE;
    let mean = |device: &str, field: &str, v: f64| Series {
        tags: tags(device),
        field: field.into(),
        points: vec![(start, FieldValue::Float(v))],
    };
    assert_eq!(
        means,
        vec![mean("wt01", "power_kw", 1.75), mean("wt01", "wind_speed_ms", 5.0), mean("wt02", "power_kw", 10.0)]
    );

    // Rows: the fields of one series at one time, pivoted by the store.
    let rows = store.query_rows(&Query::new("wind_turbine").tag("device", "wt01")).unwrap();
    assert_eq!(
        rows,
        vec![
            Row {
                tags: tags("wt01"),
                timestamp_ns: T0,
                fields: vec![
                    ("power_kw".into(), FieldValue::Float(1.5)),
                    ("wind_speed_ms".into(), FieldValue::Float(5.0))
                ],
            },
            Row {
                tags: tags("wt01"),
                timestamp_ns: T0 + MINUTE,
                fields: vec![("power_kw".into(), FieldValue::Float(2.0))]
            },
        ]
    );
    assert_eq!(rows[0].f64("wind_speed_ms"), Some(5.0));

    // The newest two rows, newest first (ties by tags, descending).
    let newest = store.newest_rows(&Query::new("wind_turbine"), 2).unwrap();
    let got: Vec<(i64, &str)> = newest.iter().map(|r| (r.timestamp_ns, r.tag("device").unwrap())).collect();
    assert_eq!(got, vec![(T0 + MINUTE, "wt01"), (T0, "wt02")]);

    // Nothing outside the range, nothing for an unknown tag or measurement.
    assert!(store.query(&Query::new("wind_turbine").range(T0 + 2 * MINUTE, i64::MAX)).unwrap().is_empty());
    assert!(store.query(&Query::new("wind_turbine").tag("device", "wt99")).unwrap().is_empty());
    assert!(store.query_rows(&Query::new("nothing")).unwrap().is_empty());
}

#[tokio::test]
async fn buffer_parquet_and_restart_give_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    store
        .write_points(vec![
            reading("wt01", T0, &[("power_kw", 1.0), ("wind_speed_ms", 5.0)]),
            reading("wt01", T0 + MINUTE, &[("power_kw", 2.0)]),
            reading("wt02", T0, &[("power_kw", 10.0)]),
        ])
        .await
        .unwrap();
    store.write_points(vec![reading("wt01", T0, &[("power_kw", 1.5)])]).await.unwrap();
    check(&store);

    store.flush().await.unwrap();
    check(&store);

    store.shutdown().await.unwrap();
    drop(store);
    let reopened = Store::open(dir.path(), StoreConfig::default()).unwrap();
    check(&reopened);
    reopened.shutdown().await.unwrap();
}

#[tokio::test]
async fn one_store_per_data_dir_until_it_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let second = Store::open(dir.path(), StoreConfig::default()).unwrap_err();
    assert!(matches!(second, fieldline_store::Error::InUse { .. }), "{second}");
    assert!(second.to_string().contains("in use by another fieldline"), "{second}");
    store.shutdown().await.unwrap();
    // Free once the first one is shut down, even while handles to it remain.
    let again = Store::open(dir.path(), StoreConfig::default()).unwrap();
    again.shutdown().await.unwrap();
    drop(store);
}
