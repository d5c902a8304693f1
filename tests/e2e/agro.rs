//! `fieldline agro` as an agronomist runs it: FAO-56's worked example through the command
//! line, degree days of a hand-made temperature file checked by hand, and bad input refused
//! with a reason.

use std::process::{Command, Output};

use serde_json::Value;

fn fieldline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fieldline")).args(args).output().unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

const EXAMPLE_18: [&str; 22] = [
    "agro",
    "et0",
    "--date",
    "2026-07-06",
    "--lat",
    "50.8",
    "--elevation",
    "100",
    "--tmin",
    "12.3",
    "--tmax",
    "21.5",
    "--rhmin",
    "63",
    "--rhmax",
    "84",
    "--sunshine-hours",
    "9.25",
    "--wind",
    "2.7778",
    "--wind-height",
    "10",
];

#[test]
fn et0_reproduces_fao56_example_18_and_shows_its_terms() {
    let mut args = EXAMPLE_18.to_vec();
    args.push("--json");
    let out = json_of(&fieldline(&args));
    let round = |key: &str, places: i32| {
        let scale = 10f64.powi(places);
        (out[key].as_f64().unwrap() * scale).round() / scale
    };
    // Brussels, 6 July: the published figures, to the published precision.
    assert_eq!(out["day_of_year"], 187);
    assert_eq!(round("ra_mj_m2", 2), 41.09);
    assert_eq!(round("daylight_hours", 1), 16.1);
    assert_eq!(round("rs_mj_m2", 2), 22.07);
    assert_eq!(round("rso_mj_m2", 2), 30.90);
    assert_eq!(round("rn_mj_m2", 2), 13.28);
    assert_eq!(round("ea_kpa", 3), 1.409);
    assert_eq!(round("es_kpa", 3), 1.997);
    assert_eq!(round("u2_ms", 3), 2.078);
    assert_eq!(round("et0_mm_per_day", 1), 3.9);

    // The table a person reads names every term.
    let text = fieldline(&EXAMPLE_18);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.starts_with("ET0 3.8") || text.starts_with("ET0 3.9"), "{text}");
    for term in ["Ra ", "Rs ", "Rso", "Rn ", "es ", "ea ", "u2 ", "from 9.25 h of sunshine"] {
        assert!(text.contains(term), "{term} missing from\n{text}");
    }
}

#[test]
fn et0_refuses_inputs_that_are_not_weather() {
    let mut swapped = EXAMPLE_18.to_vec();
    swapped[9] = "30"; // Tmin above Tmax
    let out = fieldline(&swapped);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tmin 30 is above --tmax 21.5"));

    let no_radiation: Vec<&str> =
        EXAMPLE_18.iter().copied().filter(|a| *a != "--sunshine-hours" && *a != "9.25").collect();
    let out = fieldline(&no_radiation);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rs"), "{}", String::from_utf8_lossy(&out.stderr));

    let mut too_sunny = EXAMPLE_18.to_vec();
    too_sunny[17] = "20"; // more sunshine than daylight
    let out = fieldline(&too_sunny);
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside 0 to the day's 16.1 h"));
}

fn write_csv(dir: &std::path::Path, rows: &[(&str, &str, &str)]) -> String {
    let mut text = String::from("date,tmin,tmax\n");
    for (d, lo, hi) in rows {
        text.push_str(&format!("{d},{lo},{hi}\n"));
    }
    let path = dir.join("temps.csv");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn gdd_of_a_hand_made_file_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_csv(
        dir.path(),
        &[
            ("2026-06-15", "18", "28"), // (18 + 28)/2 − 10 = 13
            ("2026-06-16", "22", "36"), // Tmax capped at 30: (22 + 30)/2 − 10 = 16
            ("2026-06-17", "", "31"),   // missing: adds nothing
            ("2026-06-18", "5", "9"),   // below the base: 0
            ("2026-06-19", "20", "24"), // 12
        ],
    );
    let out = json_of(&fieldline(&["agro", "gdd", "--input", &path, "--base", "10", "--upper", "30", "--json"]));
    let sums: Vec<f64> = out["days"].as_array().unwrap().iter().map(|d| d["cumulative"].as_f64().unwrap()).collect();
    assert_eq!(sums, vec![13.0, 29.0, 29.0, 29.0, 41.0]);
    assert_eq!(out["total"], 41.0);
    assert_eq!(out["missing_days"], 1);
    assert_eq!(out["start"], "2026-06-15");

    // CSV on stdout, summary on stderr.
    let out = fieldline(&["agro", "gdd", "--input", &path, "--base", "10", "--upper", "30"]);
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.starts_with("date,tmin_c,tmax_c,gdd,cumulative\n2026-06-15,18.00,28.00,13.00,13.00\n"), "{csv}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("41.0 °C·day by 2026-06-19"));
}

#[test]
fn gdd_with_a_crop_starts_on_its_rule_and_names_its_stages() {
    let dir = tempfile::tempdir().unwrap();
    // Five cold days (mean −4 °C), then warm ones (mean 5 °C): the Luoyang rule starts the
    // peony's sum on the first day whose 5-day mean reaches 3 °C, the fourth warm day
    // ((−4 + 4·5)/5 = 3.2); single sine above 0 °C with the whole day above it is the mean.
    let mut rows: Vec<(String, &str, &str)> = Vec::new();
    for d in 1..=5 {
        rows.push((format!("2026-02-{d:02}"), "-8", "0"));
    }
    for d in 6..=28 {
        rows.push((format!("2026-02-{d:02}"), "2", "8"));
    }
    let borrowed: Vec<(&str, &str, &str)> = rows.iter().map(|(d, a, b)| (d.as_str(), *a, *b)).collect();
    let path = write_csv(dir.path(), &borrowed);
    let out = json_of(&fieldline(&["agro", "gdd", "--input", &path, "--crop", "peony", "--json"]));
    assert_eq!(out["start"], "2026-02-09");
    assert_eq!(out["total"], 20.0 * 5.0);
    let last = out["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["stage"], "dormant");
    assert_eq!(last["stage_zh"], "休眠");

    // Four more such days reach bud break (120 °C·day).
    for d in 1..=31 {
        rows.push((format!("2026-03-{d:02}"), "2", "8"));
    }
    let borrowed: Vec<(&str, &str, &str)> = rows.iter().map(|(d, a, b)| (d.as_str(), *a, *b)).collect();
    let path = write_csv(dir.path(), &borrowed);
    let out = json_of(&fieldline(&["agro", "gdd", "--input", &path, "--crop", "peony", "--json"]));
    let first_bud_break = out["days"].as_array().unwrap().iter().find(|d| d["stage"] == "bud_break").unwrap().clone();
    assert_eq!(first_bud_break["date"], "2026-03-04");
    assert_eq!(first_bud_break["cumulative"], 120.0);
}

#[test]
fn gdd_refuses_gaps_and_unknown_crops() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_csv(dir.path(), &[("2026-06-15", "18", "28"), ("2026-06-17", "18", "28")]);
    let out = fieldline(&["agro", "gdd", "--input", &path, "--base", "10"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("does not follow 2026-06-15"), "{err}");

    let out = fieldline(&["agro", "gdd", "--input", &path, "--crop", "rice"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown crop \"rice\"") && err.contains("peony"), "{err}");
}
