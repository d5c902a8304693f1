//! `fieldline serve --check`: every configuration the repository ships is accepted, and a bad
//! one is refused with the reason, without opening a data dir or binding a port.

use std::process::{Command, Output};

fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fieldline")).arg("serve").args(args).arg("--check").output().unwrap()
}

#[test]
fn every_shipped_configuration_passes_the_check() {
    let shipped = ["deploy", "deploy/compose"]
        .into_iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect::<Vec<_>>();
    assert!(shipped.len() >= 2, "{shipped:?}");
    let data = tempfile::tempdir().unwrap();
    let never_created = data.path().join("not-created");
    for config in shipped {
        let out = check(&["--config", config.to_str().unwrap(), "--data-dir", never_created.to_str().unwrap()]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{}: {}", config.display(), String::from_utf8_lossy(&out.stderr));
        assert!(stdout.starts_with("configuration OK"), "{stdout}");
    }
    assert!(!never_created.exists(), "the check opened the data dir");
}

#[test]
fn a_bad_configuration_is_refused_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(&unknown, "[http]\nlisten = \"127.0.0.1:0\"\nlistne = \"typo\"\n").unwrap();
    let out = check(&["--config", unknown.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("listne"), "{}", String::from_utf8_lossy(&out.stderr));

    let missing_cert = dir.path().join("tls.toml");
    let cert = dir.path().join("no-such-cert.pem");
    let key = dir.path().join("no-such-key.pem");
    std::fs::write(&missing_cert, format!("[http.tls]\ncert = {:?}\nkey = {:?}\n", cert.display(), key.display()))
        .unwrap();
    let out = check(&["--config", missing_cert.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("no-such-cert.pem"), "{stderr}");

    let out = check(&["--broker", "http://broker:1883"]);
    assert!(!out.status.success(), "an http:// broker URL passed");
}
