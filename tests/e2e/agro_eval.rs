//! The farm evaluations on simulated seasons. The peony bloom forecast (`fieldline agro
//! bloom-eval`, seeds 1–8, a year-to-year spread of 1.5 °C) beats the naive forecast (the other
//! springs' mean date), its error shrinks from 1 March to 1 April, and fitting on three past
//! springs finds the simulator's base temperature on average. The trap warning levels
//! (`fieldline agro pest-eval`, two seasons) reach level 5 around every simulated outbreak and
//! hardly anywhere else, and their degree-day flight forecast a week or two ahead is within a
//! few days and beats the other season's date. In the slow group (about a minute in a debug build).

use std::process::Command;

use serde_json::Value;

#[test]
fn bloom_forecasts_beat_the_naive_date_and_improve_through_march() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("bloom.json");
    let out = Command::new(env!("CARGO_BIN_EXE_fieldline"))
        .args(["agro", "bloom-eval", "--seeds", "8", "--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let row = |issued: &str, stage: &str| {
        body["rows"].as_array().unwrap().iter().find(|r| r["issued"] == issued && r["stage"] == stage).unwrap().clone()
    };
    let mae = |issued: &str| row(issued, "bloom")["mae_days"].as_f64().unwrap();
    assert!(mae("1 March") >= mae("15 March") && mae("15 March") >= mae("1 April"), "{body}");
    for issued in ["1 March", "15 March", "1 April"] {
        let r = row(issued, "bloom");
        assert_eq!(r["seasons"], 8);
        assert!(r["mae_days"].as_f64().unwrap() < r["naive_mae_days"].as_f64().unwrap(), "{r}");
    }
    let bases: Vec<f64> = body["fitted_bases"].as_array().unwrap().iter().map(|b| b.as_f64().unwrap()).collect();
    let mean = bases.iter().sum::<f64>() / bases.len() as f64;
    let truth = body["simulator_base_c"].as_f64().unwrap();
    assert!((mean - truth).abs() <= 1.0, "fitted bases {bases:?}, simulator {truth}");
}

#[test]
fn level_five_marks_the_simulated_outbreaks_and_little_else() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("pests.json");
    let out = Command::new(env!("CARGO_BIN_EXE_fieldline"))
        .args(["agro", "pest-eval", "--seeds", "2", "--warning-level", "5", "--json", json.to_str().unwrap()])
        .output()
        .unwrap();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let warned = body["lead_days"].as_array().unwrap().len();
    let missed = body["missed"].as_u64().unwrap() as usize;
    assert!(warned >= 10 && missed * 10 <= warned + missed, "{body}");
    let away = body["warning_days_away_from_outbreaks"].as_u64().unwrap();
    let trap_days = body["trap_days"].as_u64().unwrap();
    assert!(away * 50 <= trap_days, "level 5 on {away} of {trap_days} trap days away from outbreaks");
    // The degree-day flight forecast, a week or two ahead: within a few days, and better than
    // the other season's date of the same generation.
    let short = &body["flight_forecast"][0];
    assert_eq!(short["lead_from"], 7, "{body}");
    let (mae, naive) = (short["mae_days"].as_f64().unwrap(), short["naive_mae_days"].as_f64().unwrap());
    assert!(mae <= 5.0 && mae < naive, "flight forecast MAE {mae} days, naive {naive}: {body}");
    let within = short["within_range"].as_u64().unwrap() as f64 / short["n"].as_u64().unwrap() as f64;
    assert!(within >= 0.7, "{body}");
}
