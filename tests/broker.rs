//! `fieldline serve --broker`: readings published to Debian's Mosquitto reach the store
//! through rumqttc with manual acks; kill -9 of fieldline and a Mosquitto restart in the
//! middle of a stream lose nothing Mosquitto acknowledged to the publisher.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Mosquitto, SeqPublisher, ServeProcess, mosquitto_pub, points, wait_for, wait_for_points};
use serde_json::{Value, json};

const BASE_MS: i64 = 1_775_772_000_000;

/// Waits until fieldline's subscription is in place, by publishing probes until one lands.
async fn wait_until_subscribed(client: &reqwest::Client, server: &ServeProcess, broker: &Mosquitto) {
    let url = format!("http://{}/api/v1/query?measurement=probe&field=ok", server.http_addr);
    let port = broker.port;
    wait_for("fieldline subscribed at the broker", Duration::from_secs(30), || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            mosquitto_pub(port, "fl/v1/lp", "probe ok=1", &[]);
            let v: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
            (!points(&v).is_empty()).then_some(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_flow_through_mosquitto() {
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let server = ServeProcess::start(dir.path(), &["--broker", &url, "--broker-client-id", "fl-test-flow"]);
    assert!(server.mqtt_addr.is_none(), "no MQTT endpoint in broker mode");
    let client = reqwest::Client::new();
    wait_until_subscribed(&client, &server, &broker).await;

    mosquitto_pub(
        broker.port,
        "fl/v1/heze-pv/pv_inverter/inv03/telemetry",
        r#"{"ts":1775772000000,"values":{"ac_power_kw":512.5}}"#,
        &[],
    );
    mosquitto_pub(
        broker.port,
        "fl/v1/heze-met/met_station/m1/senml",
        r#"[{"bt":1775772000,"n":"ghi_wm2","v":640}]"#,
        &[],
    );
    mosquitto_pub(broker.port, "fl/v1/lp", "plant,site=heze-pv power_mw=31.5,curtailed=false 1775772000000000000", &[]);
    mosquitto_pub(broker.port, "fl/v1/heze-pv/pv_inverter/inv03/telemetry", "garbage", &[]);

    let v =
        wait_for_points(&client, server.http_addr, "/api/v1/query?measurement=pv_inverter&field=ac_power_kw", 1).await;
    assert_eq!(points(&v), vec![("2026-04-09T22:00:00Z".to_string(), json!(512.5))]);
    wait_for_points(&client, server.http_addr, "/api/v1/query?measurement=met_station&field=ghi_wm2", 1).await;
    let v = wait_for_points(&client, server.http_addr, "/api/v1/query?measurement=plant&field=curtailed", 1).await;
    assert_eq!(points(&v)[0].1, json!(false));
    let dl_url = format!("http://{}/api/v1/deadletters", server.http_addr);
    let dl = wait_for("dead letter", Duration::from_secs(20), || {
        let (client, dl_url) = (client.clone(), dl_url.clone());
        async move {
            let v: Value = client.get(&dl_url).send().await.ok()?.json().await.ok()?;
            (!v["deadletters"].as_array()?.is_empty()).then_some(v)
        }
    })
    .await;
    assert_eq!(dl["deadletters"][0]["source"], json!("mqtt_broker"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_broker_restart_lose_nothing_acknowledged() {
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let args = ["--broker", url.as_str(), "--broker-client-id", "fl-test-crash"];
    let mut server = ServeProcess::start(dir.path(), &args);
    let client = reqwest::Client::new();
    wait_until_subscribed(&client, &server, &broker).await;

    // The publisher sees PUBACKs from Mosquitto; it retries a message until acknowledged.
    let mut publisher = SeqPublisher::new(broker.port, "crash-publisher");
    let mut acked = BTreeSet::new();
    let total = 900i64;
    for i in 0..total {
        let ts = BASE_MS + i * 1000;
        let payload = format!(r#"{{"ts":{ts},"values":{{"power_kw":{i}}}}}"#);
        while !publisher.publish("fl/v1/heze-wind/wind_turbine/wt01/telemetry", &payload, Duration::from_secs(2)).await
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        acked.insert(ts);
        match i {
            200 => server.kill9(),
            400 => server = ServeProcess::start(dir.path(), &args),
            600 => broker = broker.restart(),
            _ => {}
        }
    }

    let url = format!("http://{}/api/v1/query?measurement=wind_turbine&field=power_kw&device=wt01", server.http_addr);
    let mut stored = BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let v: Value = client.get(&url).send().await.unwrap().json().await.unwrap();
        stored.clear();
        for (t, _) in points(&v) {
            let t = time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).unwrap();
            assert!(stored.insert((t.unix_timestamp_nanos() / 1_000_000) as i64), "duplicate timestamp {t}");
        }
        if stored.is_superset(&acked) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing: Vec<i64> = acked.difference(&stored).map(|t| (t - BASE_MS) / 1000).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged readings missing (message numbers): {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    assert_eq!(stored, acked);
    drop(broker);
}
