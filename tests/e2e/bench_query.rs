//! `fieldline bench query` end to end: two simulated days loaded into a real `fieldline serve`
//! and into Debian's VictoriaMetrics over /api/v2/write, the five queries asked of both, and
//! every answer compared point by point (the command fails if any disagree). DuckDB is left
//! out here: it needs PyPI; `fieldline bench query` with its default peers covers it.

use std::process::Command;

#[test]
fn fieldline_and_victoria_metrics_give_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("result.json");
    let output = Command::new(env!("CARGO_BIN_EXE_fieldline"))
        .args(["bench", "query", "--days", "2", "--rounds", "1", "--peers", "victoria-metrics", "--work-dir"])
        .arg(dir.path().join("work"))
        .arg("--json")
        .arg(&json)
        .env("FIELDLINE_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "bench query failed:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("skipped"), "VictoriaMetrics must run here (scripts/test.sh installs it):\n{stdout}");

    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let queries = result["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 5, "{result}");
    for q in queries {
        assert!(q["fieldline_ms"].as_f64().unwrap() > 0.0, "{q}");
        assert_eq!(q["peers"]["VictoriaMetrics"]["agrees"], true, "{q}");
    }
    // Non-empty answers: one turbine's 2 days raw is 2 880 minutes, less the simulated outages.
    let raw = queries[1]["answer"].as_str().unwrap();
    let points: usize = raw.split(", ").nth(1).unwrap().trim_end_matches(" points").parse().unwrap();
    assert!(points > 2_000 && points <= 2_880, "{raw}");
    assert!(result["readings"].as_u64().unwrap() > 100_000, "{result}");
    let engines = result["engines"].as_array().unwrap();
    assert!(
        engines.iter().all(|e| e["readings_per_s"].as_f64().unwrap() > 0.0 && e["disk_bytes"].as_u64().unwrap() > 0)
    );
}
