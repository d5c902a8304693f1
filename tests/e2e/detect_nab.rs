//! `fieldline detect --nab` end to end on the NAB series in `../shared/data/nab-dev` (or
//! `$FIELDLINE_NAB_DIR`): a three-series subset copied to a temporary corpus (results layout,
//! report, what is detected), and the whole corpus against the figure in the README. Both
//! are skipped, with a note, where the corpus is not checked out.

use std::path::{Path, PathBuf};
use std::process::Command;

fn nab_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("FIELDLINE_NAB_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nab-dev"));
    if dir.join("labels/combined_windows.json").is_file() {
        Some(dir)
    } else {
        eprintln!("skipped: no NAB corpus at {} (set FIELDLINE_NAB_DIR)", dir.display());
        None
    }
}

fn run_nab(corpus: &Path, out: &Path, report: &Path) -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_fieldline"))
        .args(["detect", "--nab"])
        .arg(corpus)
        .arg("--output")
        .arg(out)
        .arg("--report")
        .arg(report)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "detect --nab failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("| standard |") && stdout.contains("| reward_low_FN_rate |"), "{stdout}");
    serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap()
}

fn normalized(report: &serde_json::Value, profile: &str) -> f64 {
    report["profiles"][profile]["normalized"].as_f64().unwrap()
}

#[test]
fn a_subset_is_scored_in_nab_layout() {
    let Some(nab) = nab_dir() else { return };
    let files = [
        "artificialNoAnomaly/art_daily_no_noise.csv",
        "artificialWithAnomaly/art_daily_jumpsup.csv",
        "realAdExchange/exchange-3_cpc_results.csv",
    ];
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("nab");
    let all: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(nab.join("labels/combined_windows.json")).unwrap()).unwrap();
    let mut labels = serde_json::Map::new();
    for rel in files {
        let to = corpus.join("data").join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(nab.join("data").join(rel), &to).unwrap();
        labels.insert(rel.to_string(), all[rel].clone());
    }
    std::fs::create_dir_all(corpus.join("labels")).unwrap();
    std::fs::write(corpus.join("labels/combined_windows.json"), serde_json::to_string(&labels).unwrap()).unwrap();
    std::fs::create_dir_all(corpus.join("config")).unwrap();
    std::fs::copy(nab.join("config/profiles.json"), corpus.join("config/profiles.json")).unwrap();

    let out = tmp.path().join("results");
    let report = run_nab(&corpus, &out, &tmp.path().join("report.json"));

    // NAB's results layout: one file per series, one score per row, in [0, 1].
    for rel in files {
        let (category, name) = rel.split_once('/').unwrap();
        let results = std::fs::read_to_string(out.join(category).join(format!("fieldline_{name}"))).unwrap();
        let data = std::fs::read_to_string(corpus.join("data").join(rel)).unwrap();
        let mut lines = results.lines();
        assert_eq!(lines.next(), Some("timestamp,value,anomaly_score"));
        let scores: Vec<f64> = lines.map(|l| l.rsplit(',').next().unwrap().parse().unwrap()).collect();
        assert_eq!(scores.len(), data.lines().count() - 1, "{rel}");
        assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{rel}");
    }
    // The jump and the three spikes are found, the noiseless cycle raises nothing.
    let file = |rel: &str| report["files"].as_array().unwrap().iter().find(|f| f["file"] == rel).unwrap().clone();
    assert_eq!(file(files[0])["false_positive_rows"], 0);
    assert_eq!(file(files[1])["windows_detected"], 1);
    assert_eq!(file(files[2])["windows_detected"], 3);
    for profile in ["standard", "reward_low_FP_rate", "reward_low_FN_rate"] {
        let score = normalized(&report, profile);
        assert!((50.0..=100.0).contains(&score), "{profile}: {score}");
    }
}

/// The README's figure (standard 68.0, low FP 61.0, low FN 72.7), with a little slack.
#[test]
fn the_whole_corpus_scores_as_documented() {
    let Some(nab) = nab_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let report = run_nab(&nab, &tmp.path().join("results"), &tmp.path().join("report.json"));
    assert!(normalized(&report, "standard") >= 67.5, "{}", report["profiles"]);
    assert!(normalized(&report, "reward_low_FP_rate") >= 60.0, "{}", report["profiles"]);
    assert!(normalized(&report, "reward_low_FN_rate") >= 72.0, "{}", report["profiles"]);
}
