//! `fieldline detect` end to end: a NAB-format series scored row by row without look-ahead,
//! and the evaluation mode on a small hand-made simulator directory.

use std::path::Path;
use std::process::{Command, Output};

const T0: i64 = 1_396_310_400; // 2014-04-01T00:00:00Z, as in the NAB corpus
const STEP: i64 = 300;
const ROWS: usize = 6 * 288;
const SPIKE_ROW: usize = 5 * 288 + 100;

fn fieldline() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fieldline"))
}

fn run(args: &[&str]) -> Output {
    let out = fieldline().args(args).output().expect("run fieldline");
    assert!(
        out.status.success(),
        "fieldline {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `YYYY-MM-DD HH:MM:SS` for unix seconds (the NAB timestamp format), via the time crate.
fn nab_time(t: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::OffsetDateTime::from_unix_timestamp(t).unwrap().format(&format).unwrap()
}

/// Six days of a 5-minute machine-temperature-like series: a daily cycle, deterministic
/// pseudo-noise, one spike, one empty and one NaN cell.
fn nab_rows() -> Vec<(String, String)> {
    let mut state: u64 = 7;
    (0..ROWS)
        .map(|i| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let noise = ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5;
            let t = T0 + i as i64 * STEP;
            let day = (i as f64 / 288.0) * std::f64::consts::TAU;
            let mut value = 80.0 + 5.0 * day.sin() + noise;
            if i == SPIKE_ROW {
                value += 25.0;
            }
            let text = match i {
                400 => String::new(),
                401 => "NaN".to_string(),
                _ => format!("{value:.4}"),
            };
            (nab_time(t), text)
        })
        .collect()
}

fn write_csv(path: &Path, rows: &[(String, String)]) {
    let mut text = String::from("timestamp,value\n");
    for (t, v) in rows {
        text.push_str(&format!("{t},{v}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// The scored rows: (timestamp, value, score text).
fn read_scores(path: &Path) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("timestamp,value,anomaly_score"));
    lines
        .map(|line| {
            let mut cells = line.split(',');
            let cell = |c: Option<&str>| c.unwrap_or_default().to_string();
            (cell(cells.next()), cell(cells.next()), cell(cells.next()))
        })
        .collect()
}

#[test]
fn a_nab_series_gets_one_score_per_row_and_the_spike_stands_out() {
    let dir = tempfile::tempdir().unwrap();
    let (input, output, events) = (dir.path().join("in.csv"), dir.path().join("out.csv"), dir.path().join("ev.jsonl"));
    let rows = nab_rows();
    write_csv(&input, &rows);
    run(&[
        "detect",
        "--input",
        input.to_str().unwrap(),
        "--output",
        output.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ]);
    let scored = read_scores(&output);
    assert_eq!(scored.len(), rows.len());
    let scores: Vec<f64> = scored.iter().map(|(_, _, s)| s.parse().unwrap()).collect();
    for ((t, v, _), (t_in, v_in)) in scored.iter().zip(&rows) {
        assert_eq!((t, v), (t_in, v_in), "rows are echoed in order");
    }
    assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)));
    assert_eq!((scores[400], scores[401]), (0.0, 0.0), "missing values score 0");
    let top = scores.iter().copied().enumerate().fold((0, 0.0), |best, (i, s)| if s > best.1 { (i, s) } else { best });
    assert_eq!(top.0, SPIKE_ROW, "the spike has the highest score");
    assert!(top.1 >= 0.5);
    let events = std::fs::read_to_string(&events).unwrap();
    assert!(events.lines().any(|l| l.contains("\"spike\"")), "{events}");
}

#[test]
fn scores_of_the_past_do_not_depend_on_the_future() {
    let dir = tempfile::tempdir().unwrap();
    let rows = nab_rows();
    let k = 5 * 288;
    let mut altered = rows.clone();
    for (i, row) in altered.iter_mut().enumerate().skip(k + 1) {
        row.1 = if i % 3 == 0 { "1e9".to_string() } else { "-40".to_string() };
    }
    let mut scores = Vec::new();
    for (name, series) in [("a", &rows), ("b", &altered)] {
        let (input, output) = (dir.path().join(format!("{name}.csv")), dir.path().join(format!("{name}.out")));
        write_csv(&input, series);
        run(&["detect", "--input", input.to_str().unwrap(), "--output", output.to_str().unwrap()]);
        scores.push(read_scores(&output));
    }
    assert_eq!(scores[0][..=k], scores[1][..=k]);
    assert_ne!(scores[0][k + 1..], scores[1][k + 1..], "the altered future is scored differently");
}

#[test]
fn help_explains_every_detector_and_bad_input_is_a_clear_error() {
    let help = String::from_utf8(run(&["detect", "--help"]).stdout).unwrap();
    for name in ["auto", "range", "stuck", "spike", "gap", "level_shift", "unusual"] {
        assert!(help.contains(name), "--help does not mention {name}");
    }
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.csv");
    std::fs::write(&input, "timestamp,value\nnot a time,1\n").unwrap();
    let out = fieldline()
        .args(["detect", "--input", input.to_str().unwrap(), "--output", dir.path().join("o").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = fieldline()
        .args(["detect", "--input", input.to_str().unwrap(), "--output", "o.csv", "--value-col", "v"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no column \"v\""));
}

#[test]
fn evaluation_scores_detections_against_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    // Six days of one met station, a reading a minute; a spike on day 5 and a two-hour
    // dropout on day 5 — the simulator's file layout and ground-truth format.
    let start = 1_772_323_200; // 2026-03-01T00:00:00Z
    let spike_at = start + 5 * 86_400 + 3600;
    let (gap_from, gap_to) = (start + 5 * 86_400 + 6 * 3600, start + 5 * 86_400 + 8 * 3600);
    let rfc3339 = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let mut csv = String::from("time,site,device,air_temp_c,pressure_hpa\n");
    for m in 0..6 * 1440 {
        let t = start + m * 60;
        if (gap_from..gap_to).contains(&t) {
            continue;
        }
        let day = (m as f64 / 1440.0) * std::f64::consts::TAU;
        let wiggle = ((m * 7919) % 13) as f64 / 100.0;
        let temp = 10.0 + 6.0 * day.sin() + wiggle + if t == spike_at { 15.0 } else { 0.0 };
        csv.push_str(&format!("{},s,met,{temp:.2},{:.2}\n", rfc3339(t), 1010.0 + wiggle));
    }
    std::fs::write(dir.path().join("met_station.csv"), csv).unwrap();
    let truth = [("spike", "air_temp_c", spike_at, spike_at), ("dropout", "*", gap_from, gap_to)]
        .iter()
        .map(|(kind, field, from, to)| {
            format!(
                "{{\"start\":\"{}\",\"device\":\"s/met\",\"kind\":\"{kind}\",\"field\":\"{field}\",\"end\":\"{}\",\"description\":\"\"}}\n",
                rfc3339(*from),
                rfc3339(*to)
            )
        })
        .collect::<String>();
    std::fs::write(dir.path().join("ground_truth.jsonl"), truth).unwrap();
    let report = dir.path().join("report.json");
    let out = run(&[
        "detect",
        "--data",
        dir.path().to_str().unwrap(),
        "--warmup-days",
        "3",
        "--report",
        report.to_str().unwrap(),
    ]);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("fault kind") && table.contains("false alerts"), "{table}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(report).unwrap()).unwrap();
    let kinds = report["kinds"].as_array().unwrap();
    for kind in ["spike", "dropout"] {
        let k = kinds.iter().find(|k| k["kind"] == kind).unwrap_or_else(|| panic!("{kind} missing: {report}"));
        assert_eq!(k["recall"], 1.0, "{kind}: {k}");
        assert_eq!(k["precision"], 1.0, "{kind}: {k}");
    }
    assert_eq!(report["false_alerts"], 0);
}
