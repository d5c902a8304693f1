//! FAO-56 daily Penman–Monteith ET0 of `fieldline agro et0` against the PyPI package `pyet`
//! (`pm_fao56`) on a simulated year of Heze met-station weather: `scripts/et0_vs_pyet.py`
//! must find every day within 0.05 mm/day. Needs `python3` with `venv` and, once, PyPI: the
//! script installs pyet (with pandas and numpy) into ~/.cache/fieldline/pyet-venv on its
//! first run and reuses it afterwards. In the slow group (`.config/nextest.toml`).

use std::path::Path;
use std::process::Command;

#[test]
fn fieldline_et0_agrees_with_pyet_over_a_simulated_year() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new("python3")
        .arg(root.join("scripts").join("et0_vs_pyet.py"))
        .arg("--fieldline")
        .arg(env!("CARGO_BIN_EXE_fieldline"))
        .current_dir(root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "scripts/et0_vs_pyet.py failed ({}: 1 = ET0 differs, 2 = setup):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("days compared: 365"), "{stdout}");
}
