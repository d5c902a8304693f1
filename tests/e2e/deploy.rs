//! The deployment files in `deploy/`, checked as far as this machine can without a container
//! engine: every YAML parses; the fieldline commands of the compose file, the Kubernetes
//! StatefulSet, the Dockerfile and the systemd unit, with their configuration, pass
//! `fieldline serve --check`; the container runs as a non-root user with health probes on
//! endpoints that exist; the systemd unit passes `systemd-analyze verify` where systemd is.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Every YAML document in `file`, as JSON (Python's yaml, installed by scripts/test.sh).
fn yaml(file: &str) -> Vec<Value> {
    let script = "import json, sys, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))";
    let out = Command::new("python3").args(["-c", script, file]).output().unwrap();
    assert!(out.status.success(), "{file} does not parse: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs `fieldline ARGS --check`, with the container's config path replaced by `config` and a
/// temporary data dir; panics with the reason when the check refuses.
fn check(what: &str, args: &[String], config: &Path, env: &[(&str, &str)]) {
    let data = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = args
        .iter()
        .map(|a| if a == "/etc/fieldline/fieldline.toml" { config.display().to_string() } else { a.clone() })
        .collect();
    assert_eq!(args.first().map(String::as_str), Some("serve"), "{what}: {args:?}");
    args.extend(["--data-dir".into(), data.path().display().to_string(), "--check".into()]);
    let out = Command::new(env!("CARGO_BIN_EXE_fieldline")).args(&args).envs(env.iter().copied()).output().unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("configuration OK"),
        "{what}: fieldline {args:?} refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[test]
fn every_yaml_in_deploy_parses() {
    let mut files = Vec::new();
    let mut dirs = vec![PathBuf::from("deploy")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    for file in files {
        assert!(!yaml(file.to_str().unwrap()).is_empty(), "{}", file.display());
    }
}

#[test]
fn the_compose_services_start_with_their_commands_and_mounts() {
    let compose = &yaml("deploy/compose/compose.yaml")[0];
    let services = compose["services"].as_object().unwrap();
    let fieldline: Vec<_> = services.iter().filter(|(name, _)| name.starts_with("fieldline")).collect();
    assert_eq!(fieldline.len(), 2);
    for (name, service) in fieldline {
        check(name, &strings(&service["command"]), Path::new("deploy/compose/fieldline.toml"), &[]);
    }
    // Every file or directory a service mounts from the repository exists.
    for (name, service) in services {
        for volume in service["volumes"].as_array().into_iter().flatten() {
            let source = volume.as_str().unwrap().split(':').next().unwrap();
            if source.starts_with('.') {
                assert!(Path::new("deploy/compose").join(source).exists(), "{name} mounts missing {source}");
            }
        }
    }
    assert!(
        Path::new("deploy/compose")
            .join(compose["x-fieldline"]["build"]["context"].as_str().unwrap())
            .join("Cargo.toml")
            .exists()
    );
}

#[test]
fn the_kubernetes_statefulset_runs_non_root_with_probes_that_exist() {
    let docs = yaml("deploy/k8s/fieldline.yaml");
    let kind = |k: &str| docs.iter().find(|d| d["kind"] == k).unwrap_or_else(|| panic!("no {k}"));
    let set = kind("StatefulSet");
    assert_eq!(set["spec"]["replicas"], 3);
    let pod = &set["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let container = &pod["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/ping");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("fieldline.toml");
    std::fs::write(&config, kind("ConfigMap")["data"]["fieldline.toml"].as_str().unwrap()).unwrap();
    // The manifest's literal variables (the InfluxDB mirror's URL, org, bucket) are checked
    // too; those taken from the pod or a Secret get a stand-in.
    let literal: Vec<(String, String)> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| Some((e["name"].as_str()?.to_string(), e["value"].as_str()?.to_string())))
        .collect();
    assert!(literal.iter().any(|(k, _)| k == "FIELDLINE_INFLUX_URL"), "replicas mirror into InfluxDB");
    let mut env: Vec<(&str, &str)> = literal.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend([("FIELDLINE_BROKER_CLIENT_ID", "fieldline-0"), ("FIELDLINE_INFLUX_TOKEN", "stand-in")]);
    check("StatefulSet", &strings(&container["args"]), &config, &env);
}

#[test]
fn the_image_runs_as_a_user_and_its_default_command_passes_the_check() {
    let dockerfile = std::fs::read_to_string("deploy/docker/Dockerfile").unwrap();
    let stages: Vec<&str> = dockerfile.split("\nFROM ").collect();
    assert!(stages.len() >= 2, "multi-stage");
    let last = stages.last().unwrap();
    let user = last.lines().find_map(|l| l.strip_prefix("USER ")).expect("the runtime stage sets USER");
    assert!(!user.starts_with('0') && !user.starts_with("root"), "USER {user}");
    assert!(last.contains("COPY --from=build"));
    let cmd = last.lines().find_map(|l| l.strip_prefix("CMD ")).unwrap();
    let args: Vec<String> = serde_json::from_str(cmd).unwrap();
    check("Dockerfile CMD", &args, Path::new("deploy/fieldline.toml"), &[]);
}

#[test]
fn the_systemd_unit_verifies_and_its_commands_pass_the_check() {
    let unit = std::fs::read_to_string("deploy/systemd/fieldline.service").unwrap();
    for key in ["ExecStartPre=", "ExecStart="] {
        let line = unit.lines().find_map(|l| l.strip_prefix(key)).unwrap();
        let args: Vec<String> = line.split_whitespace().skip(1).map(str::to_string).collect();
        let args: Vec<String> = args.into_iter().filter(|a| a != "--check").collect();
        // The unit's --data-dir is replaced by a temporary one in `check`: drop it here.
        let mut kept = Vec::new();
        let mut skip = false;
        for a in args {
            if skip {
                skip = false;
            } else if a == "--data-dir" {
                skip = true;
            } else {
                kept.push(a);
            }
        }
        check(key, &kept, Path::new("deploy/fieldline.toml"), &[]);
    }
    let Some(analyze) =
        ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].into_iter().find(|p| Path::new(p).exists())
    else {
        eprintln!("systemd-analyze not installed: the unit's syntax is not verified");
        return;
    };
    // verify insists the binary exists: point the copy at the one under test.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("fieldline.service");
    std::fs::write(&copy, unit.replace("/usr/local/bin/fieldline", env!("CARGO_BIN_EXE_fieldline"))).unwrap();
    let out = Command::new(analyze).arg("verify").arg(&copy).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Without systemd as PID 1 verify may still complain about the host (no bus); only the
    // unit's own lines count.
    let about_unit: Vec<&str> = stderr.lines().filter(|l| l.contains("fieldline.service")).collect();
    assert!(about_unit.is_empty(), "systemd-analyze verify: {stderr}");
}
