//! The example scenario the README points at really runs.

use std::process::Command;

#[test]
fn small_farm_scenario_simulates() {
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_fieldline"))
        .args(["simulate", "--scenario", "sim/src/small-farm.toml", "--days", "1", "--out"])
        .arg(out.path())
        .env("FIELDLINE_LOG", "warn")
        .status()
        .unwrap();
    assert!(status.success());
    let inverters = std::fs::read_to_string(out.path().join("pv_inverter.csv")).unwrap();
    let devices: std::collections::BTreeSet<&str> =
        inverters.lines().skip(1).filter_map(|l| l.split(',').nth(2)).collect();
    assert_eq!(devices.len(), 4, "{devices:?}");
    for file in ["plant.csv", "peony_plot.csv", "pest_trap.csv", "met_station.csv", "nwp.csv", "ground_truth.jsonl"] {
        assert!(out.path().join(file).exists(), "{file}");
    }
}
