//! The simulator end to end: reproducible files from the `fieldline simulate` binary, ground
//! truth that the data visibly bears out, NWP errors that grow with lead time, and a
//! backfill over HTTP followed by live MQTT into an in-process server.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::{TestServer, points};
use fieldline_core::time::SECS_PER_DAY;
use fieldline_sim::live::{HttpOptions, LiveOptions, backfill_http, stream_mqtt};
use fieldline_sim::output::{Format, write_history};
use fieldline_sim::{Scenario, SimOptions, Simulation};
use serde_json::Value;

/// 2026-04-01T00:00:00+08:00.
const APRIL_1: i64 = 1_774_972_800;
/// 2026-03-30T00:00:00+08:00: the two weeks from here hold the peony flower-bud stage, so
/// the frost night falls in the run.
const MARCH_30: i64 = APRIL_1 - 2 * SECS_PER_DAY;

fn fieldline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fieldline"))
}

fn simulate_into(dir: &Path, seed: &str, extra: &[&str]) {
    let out = fieldline()
        .args(["simulate", "--out"])
        .arg(dir)
        .args(["--start", "2026-04-01", "--days", "1", "--seed", seed])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "simulate failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn the_same_seed_writes_byte_identical_files() {
    let (a, b, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    simulate_into(a.path(), "5", &[]);
    simulate_into(b.path(), "5", &[]);
    let (fa, fb) = (files(a.path()), files(b.path()));
    let names: BTreeSet<&str> = fa.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "wind_turbine.csv",
        "pv_inverter.csv",
        "plant.csv",
        "met_station.csv",
        "nwp.csv",
        "peony_plot.csv",
        "pest_trap.csv",
        "ground_truth.jsonl",
    ]
    .into();
    assert_eq!(names, expected);
    for (name, bytes) in &fa {
        assert!(bytes.len() > 100, "{name} is nearly empty");
        assert!(fb[name] == *bytes, "{name} differs between two runs with the same seed");
    }
    simulate_into(c.path(), "6", &[]);
    assert_ne!(files(c.path())["wind_turbine.csv"], fa["wind_turbine.csv"], "another seed, other data");

    let (p, q) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    simulate_into(p.path(), "5", &["--format", "parquet"]);
    simulate_into(q.path(), "5", &["--format", "parquet"]);
    let (fp, fq) = (files(p.path()), files(q.path()));
    assert!(fp.contains_key("plant.parquet"));
    assert_eq!(fp, fq, "Parquet output differs between two runs with the same seed");
}

/// One CSV row: column → value.
type CsvRow = BTreeMap<String, String>;

/// A CSV file as rows.
fn read_csv(path: &Path) -> Vec<CsvRow> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let headers = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| headers.iter().zip(r.unwrap().iter()).map(|(h, v)| (h.to_string(), v.to_string())).collect())
        .collect()
}

fn unix(rfc3339: &str) -> i64 {
    fieldline_core::time::parse_time(rfc3339, 0, time::UtcOffset::UTC).unwrap() / 1_000_000_000
}

/// Two weeks of heze (a smaller wind farm and PV plant, to keep the test quick) with some
/// fault kinds more frequent; returns the end of the run.
fn faulty_run(dir: &Path) -> i64 {
    let text = fieldline_sim::scenario::HEZE_TOML
        .replace("turbines = 20 ", "turbines = 6 ")
        .replace("inverters = 16 ", "inverters = 4 ")
        .replace("stuck = 0.15", "stuck = 1.0")
        .replace("drift = 0.05", "drift = 0.3")
        .replace("inverter_outage = 0.1", "inverter_outage = 0.6");
    let scenario = Scenario::from_toml(&text, "test").unwrap();
    let options = SimOptions { seed: 21, start: MARCH_30, end: None, faults: true };
    let end = MARCH_30 + 14 * SECS_PER_DAY;
    write_history(&scenario, &options, end, dir, Format::Csv).unwrap();
    end
}

#[test]
fn ground_truth_lists_the_injected_faults_and_the_data_shows_them() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let run_end = faulty_run(dir);
    let truth: Vec<Value> = std::fs::read_to_string(dir.join("ground_truth.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: BTreeSet<&str> = truth.iter().map(|t| t["kind"].as_str().unwrap()).collect();
    for kind in [
        "stuck",
        "spike",
        "drift",
        "dropout",
        "pitch_fault",
        "turbine_outage",
        "inverter_outage",
        "string_outage",
        "soiling",
        "pest_outbreak",
        "frost_night",
        "drought",
        "curtailment",
    ] {
        assert!(kinds.contains(kind), "no {kind} in the ground truth: {kinds:?}");
    }
    let tables: BTreeMap<&str, Vec<CsvRow>> =
        ["wind_turbine", "pv_inverter", "plant", "met_station", "peony_plot", "pest_trap"]
            .into_iter()
            .map(|k| (k, read_csv(&dir.join(format!("{k}.csv")))))
            .collect();
    let mut by_device: BTreeMap<String, Vec<(i64, &CsvRow)>> = BTreeMap::new();
    for row in tables.values().flatten() {
        by_device.entry(format!("{}/{}", row["site"], row["device"])).or_default().push((unix(&row["time"]), row));
    }
    let rows_of = |device: &str, start: i64, end: i64| -> Vec<&CsvRow> {
        by_device.get(device).map_or_else(Vec::new, |rows| {
            rows.iter().filter(|(t, _)| (start..end).contains(t)).map(|(_, r)| *r).collect()
        })
    };
    let mut checked = BTreeSet::new();
    for event in &truth {
        let (kind, device, field) =
            (event["kind"].as_str().unwrap(), event["device"].as_str().unwrap(), event["field"].as_str().unwrap());
        let (start, end) = (unix(event["start"].as_str().unwrap()), unix(event["end"].as_str().unwrap()));
        match kind {
            "stuck" => {
                let values: BTreeSet<&str> = rows_of(device, start, end).iter().map(|r| r[field].as_str()).collect();
                assert_eq!(values.len(), 1, "{device} {field} should be constant while stuck: {values:?}");
            }
            "dropout" if !device.ends_with("/nwp") => {
                assert!(rows_of(device, start, end).is_empty(), "{device} reported during its dropout");
                assert!(!rows_of(device, end, end + 3600).is_empty(), "{device} never came back after its dropout");
            }
            "inverter_outage" => {
                let rows = rows_of(device, start, end);
                assert!(
                    rows.iter().all(|r| r["ac_power_kw"] == "0" && r["status"] == "fault"),
                    "{device} produced while tripped"
                );
                // Its neighbour produced in daylight during the outage, so the zeros are the fault.
                let neighbour = if device.ends_with("inv01") { "heze-pv/inv02" } else { "heze-pv/inv01" };
                let daylight = rows_of(neighbour, start, end)
                    .iter()
                    .filter(|r| r["ac_power_kw"].parse::<f64>().unwrap() > 100.0)
                    .count();
                if daylight == 0 {
                    continue;
                }
            }
            // A frost night cut short by the end of the run has not reached its minimum yet.
            "frost_night" if end < run_end => {
                let min = rows_of(device, start, end)
                    .iter()
                    .map(|r| r["air_temp_c"].parse::<f64>().unwrap())
                    .fold(f64::INFINITY, f64::min);
                assert!(min <= 0.0, "{device}: frost night minimum {min} °C");
            }
            "spike" => {
                let around = rows_of(device, start - 3600, start + 3601);
                let values: Vec<(i64, f64)> =
                    around.iter().map(|r| (unix(&r["time"]), r[field].parse::<f64>().unwrap())).collect();
                let Some(&(_, at)) = values.iter().find(|(t, _)| *t == start) else { continue };
                let others: Vec<f64> = values.iter().filter(|(t, _)| *t != start).map(|(_, v)| *v).collect();
                let median = {
                    let mut s = others.clone();
                    s.sort_by(f64::total_cmp);
                    s[s.len() / 2]
                };
                let description = event["description"].as_str().unwrap();
                let size: f64 = description.rsplit(' ').next().unwrap().parse().unwrap();
                // Clamping at a physical limit may cut a spike short; most stand out clearly.
                if (at - median).abs() < 0.5 * size.abs() {
                    continue;
                }
            }
            // The ground truth is the stress a drought causes: soil moisture below the plot's
            // FAO-56 stress point fc − 0.5·(fc − wp) until water returns.
            "drought" => {
                let heze = Scenario::load("heze").unwrap();
                let plot = heze
                    .sites
                    .iter()
                    .flat_map(|s| s.plots.iter().map(move |p| (format!("{}/{}", s.name, p.device), p)))
                    .find(|(name, _)| name == device)
                    .map(|(_, p)| p.clone())
                    .unwrap();
                let stress_point = plot.field_capacity_pct - 0.5 * (plot.field_capacity_pct - plot.wilting_point_pct);
                let mut vwc: Vec<f64> =
                    rows_of(device, start, end).iter().map(|r| r["soil_vwc_pct"].parse::<f64>().unwrap()).collect();
                assert!(!vwc.is_empty(), "{device}: no soil moisture during the drought");
                vwc.sort_by(f64::total_cmp);
                let median = vwc[vwc.len() / 2];
                assert!(
                    median < stress_point,
                    "{device}: soil moisture {median} % not below {stress_point} % in the drought"
                );
            }
            "curtailment" => {
                let rows = rows_of(device, start, end);
                assert!(
                    !rows.is_empty() && rows.iter().all(|r| r["curtailed"] == "true"),
                    "{device} not flagged while curtailed"
                );
            }
            _ => continue,
        }
        checked.insert(kind);
    }
    for kind in ["stuck", "dropout", "inverter_outage", "frost_night", "spike", "drought", "curtailment"] {
        assert!(checked.contains(kind), "no {kind} event could be checked against the data ({checked:?})");
    }
}

#[test]
fn nwp_errors_grow_with_lead_time() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let scenario = Scenario::load("heze").unwrap();
    let options = SimOptions { seed: 8, start: APRIL_1, end: None, faults: false };
    write_history(&scenario, &options, APRIL_1 + 5 * SECS_PER_DAY, dir, Format::Csv).unwrap();
    let met: BTreeMap<(String, i64), f64> = read_csv(&dir.join("met_station.csv"))
        .into_iter()
        .map(|r| ((r["site"].clone(), unix(&r["time"])), r["air_temp_c"].parse::<f64>().unwrap()))
        .collect();
    let mut squares: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
    for r in read_csv(&dir.join("nwp.csv")) {
        let (valid, issued) = (unix(&r["time"]), unix(&r["issued"]));
        assert!(valid >= issued, "a forecast valid before it was issued");
        let Some(observed) = met.get(&(r["site"].clone(), valid)) else { continue };
        let error = r["air_temp_c"].parse::<f64>().unwrap() - observed;
        let bucket = (valid - issued) / (6 * 3600);
        let e = squares.entry(bucket).or_default();
        e.0 += error * error;
        e.1 += 1;
    }
    let rmse = |buckets: std::ops::RangeInclusive<i64>| {
        let (s, n) = buckets.filter_map(|b| squares.get(&b)).fold((0.0, 0), |acc, (s, n)| (acc.0 + s, acc.1 + n));
        assert!(n > 100, "too few forecast/observation pairs");
        (s / n as f64).sqrt()
    };
    let (early, late) = (rmse(0..=0), rmse(8..=11));
    assert!(late > 1.5 * early, "temperature RMSE 0–6 h {early:.2} °C vs 48–72 h {late:.2} °C");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_over_http_then_live_over_mqtt_lands_in_the_store() {
    let server = TestServer::start().await;
    let scenario = Scenario::load("heze").unwrap();
    let live_start = APRIL_1 + SECS_PER_DAY;
    let sim = Simulation::new(&scenario, &SimOptions { seed: 3, start: APRIL_1, end: Some(live_start), faults: false })
        .unwrap();
    let http = HttpOptions {
        url: format!("http://{}", server.running.http_addr),
        token: None,
        concurrency: 3,
        batch_bytes: 1 << 20,
        gzip: false,
    };
    let (sim, backfill) = backfill_http(sim, live_start, &http).await.unwrap();
    assert!(backfill.points > 50_000 && backfill.requests > 3, "{backfill:?}");

    let live = LiveOptions {
        broker: format!("mqtt://127.0.0.1:{}", server.mqtt_port()),
        client_id: "simulate-test".into(),
        speed: 36_000.0,
        max_ahead_s: None,
        until: Some(live_start + 1800),
    };
    let (sim, report) = stream_mqtt(sim, &live, None, std::future::pending()).await.unwrap();
    assert_eq!(sim.clock(), live_start + 1800);
    assert!(report.messages > 30 * 40, "{report:?}");
    assert_eq!(report.acknowledged, report.messages, "every QoS 1 publish acknowledged (durable)");

    // The wind farm meter: every minute of the backfill and of the live half hour, one series.
    let v = server.get_json("/api/v1/query?measurement=plant&field=power_mw&site=heze-wind").await;
    assert_eq!(v["series"].as_array().unwrap().len(), 1);
    let times: Vec<i64> = points(&v).iter().map(|(t, _)| unix(t)).collect();
    assert_eq!(times.len(), 1440 + 30);
    assert_eq!((times[0], *times.last().unwrap()), (APRIL_1, live_start + 29 * 60));
    // Traps keep their species tags whichever way the data came.
    let v = server.get_json("/api/v1/query?measurement=pest_trap&field=count&device=trap5").await;
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "one series for trap5: {series:?}");
    assert_eq!(series[0]["tags"]["species"], "agrotis_ipsilon");
    // Forecasts carry their issue time.
    let v = server
        .get_json(
            "/api/v1/query?measurement=nwp&field=wind_speed_100m_ms&site=heze-wind&tag=issued:2026-04-01T00:00:00Z",
        )
        .await;
    assert_eq!(points(&v).len(), 288, "a 72 h forecast at 15 min steps");
    server.running.shutdown().await.unwrap();
}
