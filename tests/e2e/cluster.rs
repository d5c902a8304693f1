//! Several fieldline instances behind one Debian Mosquitto. With `--share-group` the broker
//! hands each message to one instance: the instances store disjoint sets whose union is
//! everything published, and their jobs stay off (each holds part of every site); both mirror
//! into one VictoriaMetrics, the database of record, which holds the site whole. With
//! `--broker-topic` filters per site, each site lives whole on one instance, whose detection
//! job checks every one of its readings. A share group can also feed one jobs instance: every
//! member mirrors what it stored into that fieldline's InfluxDB-compatible write API, where
//! the sites are whole again and the jobs run.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::vm::Vm;
use common::{Mosquitto, SeqPublisher, ServeProcess, metric, mosquitto_pub, points, wait_for};
use serde_json::Value;

/// Publishes probes on `topic` until `server` has stored one (its subscription is in place).
async fn wait_subscribed(client: &reqwest::Client, server: &ServeProcess, port: u16, topic: &str) {
    let url = format!("http://{}/api/v1/query?measurement=probe&field=ok", server.http_addr);
    wait_for("the instance subscribed at the broker", Duration::from_secs(30), || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            mosquitto_pub(port, topic, r#"{"values":{"ok":1}}"#, &[]);
            let v: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
            (!points(&v).is_empty()).then_some(())
        }
    })
    .await;
}

/// `n` turbine readings of `site`, one a second ending now, each PUBACKed by Mosquitto.
async fn publish(port: u16, site: &str, kind: &str, field: &str, n: i64) -> BTreeSet<String> {
    let mut publisher = SeqPublisher::new(port, &format!("dev-{site}"));
    let now_ms = fieldline_core::time::now_ns() / 1_000_000;
    let mut times = BTreeSet::new();
    for i in 0..n {
        let ts = now_ms - (n - i) * 1000;
        let payload = format!(r#"{{"ts":{ts},"values":{{"{field}":{i}}}}}"#);
        let topic = format!("fl/v1/{site}/{kind}/d1/telemetry");
        assert!(publisher.publish(&topic, &payload, Duration::from_secs(10)).await, "PUBACK for {i}");
        let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts) * 1_000_000).unwrap();
        times.insert(time.format(&time::format_description::well_known::Rfc3339).unwrap());
    }
    times
}

async fn stored(client: &reqwest::Client, server: &ServeProcess, kind: &str, field: &str) -> BTreeSet<String> {
    let url = format!("http://{}/api/v1/query?measurement={kind}&field={field}&start=-1h", server.http_addr);
    let v: Value = client.get(url).send().await.unwrap().json().await.unwrap();
    points(&v).into_iter().map(|(t, _)| t).collect()
}

async fn checked(client: &reqwest::Client, server: &ServeProcess) -> f64 {
    let text = client.get(format!("http://{}/metrics", server.http_addr)).send().await.unwrap().text().await.unwrap();
    metric(&text, "fieldline_alerts_readings_checked_total").unwrap_or(0.0)
}

/// Waits until `server`'s detectors have checked at least `n` readings.
async fn wait_checked(client: &reqwest::Client, server: &ServeProcess, n: f64) {
    wait_for("the instance's detectors checking its readings", Duration::from_secs(60), || async move {
        (checked(client, server).await >= n).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_group_splits_the_load_with_nothing_stored_twice_or_lost() {
    let broker = Mosquitto::start();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let client = reqwest::Client::new();
    let vm_dir = tempfile::tempdir().unwrap();
    let vm = Vm::start(vm_dir.path());
    vm.wait_healthy(&client).await;
    let vm_url = vm.url();
    let share = ["--share-group", "ingest", "--influx-url", &vm_url];
    let a =
        ServeProcess::start(dir_a.path(), &[&["--broker", &url, "--broker-client-id", "fl-a"][..], &share].concat());
    let b =
        ServeProcess::start(dir_b.path(), &[&["--broker", &url, "--broker-client-id", "fl-b"][..], &share].concat());
    for server in [&a, &b] {
        wait_subscribed(&client, server, broker.port, "fl/v1/probe-site/probe/p1/telemetry").await;
    }
    let published = publish(broker.port, "heze-wind", "wind_turbine", "power_kw", 300).await;
    let (in_a, in_b) = wait_for("every reading stored by one instance or the other", Duration::from_secs(60), || {
        let client = client.clone();
        let (a, b, published) = (&a, &b, &published);
        async move {
            let (in_a, in_b) = (
                stored(&client, a, "wind_turbine", "power_kw").await,
                stored(&client, b, "wind_turbine", "power_kw").await,
            );
            (in_a.len() + in_b.len() >= published.len()).then_some((in_a, in_b))
        }
    })
    .await;
    assert!(in_a.is_disjoint(&in_b), "a reading stored twice");
    assert_eq!(in_a.union(&in_b).cloned().collect::<BTreeSet<_>>(), published, "a reading lost");
    assert!(!in_a.is_empty() && !in_b.is_empty(), "the load was not split: {} / {}", in_a.len(), in_b.len());
    // Part of a site is no basis for forecasts or detection: the jobs are off on both, and
    // /health says so.
    for server in [&a, &b] {
        let health: Value =
            client.get(format!("http://{}/health", server.http_addr)).send().await.unwrap().json().await.unwrap();
        assert_eq!(
            health["jobs"],
            serde_json::json!({"forecast": false, "detection": false, "brain": false}),
            "{health}"
        );
        assert_eq!(checked(&client, server).await, 0.0);
    }
    // The database of record has the site whole: both halves, each reading once.
    let in_vm = vm.wait_for_samples(&client, "wind_turbine_power_kw", published.len()).await;
    assert_eq!(in_vm.len(), published.len(), "a reading mirrored twice");
    let values: BTreeSet<i64> = in_vm.iter().map(|&(_, v)| v as i64).collect();
    assert_eq!(values, (0..published.len() as i64).collect(), "every reading, from both instances");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_by_site_each_site_lives_whole_on_one_instance() {
    let broker = Mosquitto::start();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = ServeProcess::start(
        dir_a.path(),
        &["--broker", &url, "--broker-client-id", "fl-wind", "--broker-topic", "fl/v1/heze-wind/#"],
    );
    let b = ServeProcess::start(
        dir_b.path(),
        &["--broker", &url, "--broker-client-id", "fl-pv", "--broker-topic", "fl/v1/heze-pv/#,fl/v1/lp"],
    );
    let client = reqwest::Client::new();
    wait_subscribed(&client, &a, broker.port, "fl/v1/heze-wind/probe/p1/telemetry").await;
    wait_subscribed(&client, &b, broker.port, "fl/v1/heze-pv/probe/p1/telemetry").await;
    let wind = publish(broker.port, "heze-wind", "wind_turbine", "power_kw", 120).await;
    let pv = publish(broker.port, "heze-pv", "pv_inverter", "ac_power_kw", 120).await;
    wait_for("each site whole on its instance", Duration::from_secs(60), || {
        let client = client.clone();
        let (a, b, wind, pv) = (&a, &b, &wind, &pv);
        async move {
            let a_wind = stored(&client, a, "wind_turbine", "power_kw").await;
            let b_pv = stored(&client, b, "pv_inverter", "ac_power_kw").await;
            (&a_wind == wind && &b_pv == pv).then_some(())
        }
    })
    .await;
    assert!(stored(&client, &a, "pv_inverter", "ac_power_kw").await.is_empty());
    assert!(stored(&client, &b, "wind_turbine", "power_kw").await.is_empty());
    // The detection job runs where the site lives and checks its live readings.
    wait_checked(&client, &a, 100.0).await;
    let health: Value =
        client.get(format!("http://{}/health", a.http_addr)).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["jobs"]["detection"], true, "{health}");
}

/// A share group for the MQTT load and one instance for the jobs: both members mirror into
/// the jobs instance's `/api/v2/write` (as they would into InfluxDB), so it holds every
/// reading of the site once and its detectors check them all, while the members run none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_group_feeds_one_jobs_instance_that_sees_each_site_whole() {
    let broker = Mosquitto::start();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let client = reqwest::Client::new();
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let jobs = ServeProcess::start(dirs[0].path(), &[]);
    let jobs_url = format!("http://{}", jobs.http_addr);
    let share = ["--share-group", "ingest", "--influx-url", &jobs_url];
    let a =
        ServeProcess::start(dirs[1].path(), &[&["--broker", &url, "--broker-client-id", "fl-a"][..], &share].concat());
    let b =
        ServeProcess::start(dirs[2].path(), &[&["--broker", &url, "--broker-client-id", "fl-b"][..], &share].concat());
    for server in [&a, &b] {
        wait_subscribed(&client, server, broker.port, "fl/v1/probe-site/probe/p1/telemetry").await;
    }
    let published = publish(broker.port, "heze-wind", "wind_turbine", "power_kw", 300).await;
    let whole = wait_for("every reading in the jobs instance", Duration::from_secs(60), || {
        let (client, jobs, published) = (client.clone(), &jobs, &published);
        async move {
            let whole = stored(&client, jobs, "wind_turbine", "power_kw").await;
            (&whole == published).then_some(whole)
        }
    })
    .await;
    let (in_a, in_b) =
        (stored(&client, &a, "wind_turbine", "power_kw").await, stored(&client, &b, "wind_turbine", "power_kw").await);
    assert!(in_a.is_disjoint(&in_b) && !in_a.is_empty() && !in_b.is_empty(), "{} / {}", in_a.len(), in_b.len());
    assert_eq!(in_a.union(&in_b).cloned().collect::<BTreeSet<_>>(), whole, "the jobs instance holds both halves");
    // The jobs run there, on the whole site, and not on the members.
    wait_checked(&client, &jobs, 250.0).await;
    for member in [&a, &b] {
        assert_eq!(checked(&client, member).await, 0.0);
    }
}
