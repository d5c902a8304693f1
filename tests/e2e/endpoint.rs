//! Readings through fieldline's own MQTT endpoint, with real clients (`mosquitto_pub` for
//! v3.1.1 and v5, rumqttc), into the store and back out of `/api/v1/query`.

use crate::common;

use std::time::Duration;

use common::{SeqPublisher, TestServer, metric, mosquitto_pub, points, wait_for_points};
use fieldline_ingest::sources::mqtt_endpoint::UserConfig;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_senml_and_line_protocol_via_mosquitto_pub() {
    let server = TestServer::start().await;
    let port = server.mqtt_port();

    mosquitto_pub(
        port,
        "fl/v1/heze-plots/peony_plot/p1/telemetry",
        r#"{"ts":"2026-04-10T06:00:00+08:00","values":{"air_temp_c":14.5,"soil_vwc_pct":31.2}}"#,
        &[],
    );
    // SenML: base name, base time (seconds) and relative times resolved.
    mosquitto_pub(
        port,
        "fl/v1/heze-met/met_station/m1/senml",
        r#"[{"bn":"m1:","bt":1775772000,"n":"air_temp_c","u":"Cel","v":12.0},{"n":"air_temp_c","t":60,"v":12.5},{"n":"rh_pct","v":80}]"#,
        &["-V", "mqttv5"],
    );
    mosquitto_pub(
        port,
        "fl/v1/lp",
        "wind_turbine,site=heze-wind,device=wt07 power_kw=1234.5,wind_speed_ms=9.1 1775772000000000000\n\
         wind_turbine,site=heze-wind,device=wt08 power_kw=1100 1775772000000000000",
        &[],
    );

    let v = server.get_json("/api/v1/query?measurement=peony_plot&field=air_temp_c&site=heze-plots&device=p1").await;
    assert_eq!(points(&v), vec![("2026-04-09T22:00:00Z".to_string(), json!(14.5))]);
    assert_eq!(v["series"][0]["tags"], json!({"site": "heze-plots", "device": "p1"}));

    let v = server.get_json("/api/v1/query?measurement=met_station&field=air_temp_c").await;
    assert_eq!(
        points(&v),
        vec![("2026-04-09T22:00:00Z".to_string(), json!(12.0)), ("2026-04-09T22:01:00Z".to_string(), json!(12.5))]
    );
    let v = server.get_json("/api/v1/query?measurement=met_station&field=rh_pct").await;
    assert_eq!(points(&v).len(), 1);

    let v = server.get_json("/api/v1/query?measurement=wind_turbine&field=power_kw&tz=%2B08:00").await;
    let p = points(&v);
    assert_eq!(p.len(), 2);
    assert_eq!(p[0], ("2026-04-10T06:00:00+08:00".to_string(), json!(1234.5)));

    let series = server.get_json("/api/v1/series?measurement=wind_turbine").await;
    let fields: Vec<&str> = series["series"].as_array().unwrap().iter().map(|s| s["field"].as_str().unwrap()).collect();
    assert_eq!(fields, vec!["power_kw", "wind_speed_ms", "power_kw"]);
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_means_queryable_with_rumqttc() {
    let server = TestServer::start().await;
    let mut publisher = SeqPublisher::new(server.mqtt_port(), "rumqttc-device");
    for i in 0..20 {
        let payload = format!(r#"{{"ts":{},"values":{{"power_kw":{i}}}}}"#, 1_775_772_000_000i64 + i * 60_000);
        assert!(
            publisher.publish("fl/v1/heze-wind/wind_turbine/wt01/telemetry", &payload, Duration::from_secs(10)).await
        );
        // No waiting: a PUBACK is sent only once the reading is durable and visible.
        let v = server.get_json("/api/v1/query?measurement=wind_turbine&field=power_kw&device=wt01").await;
        assert_eq!(points(&v).len() as i64, i + 1, "reading {i} not visible right after its PUBACK");
    }
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_are_dead_lettered_and_the_connection_keeps_working() {
    let server = TestServer::start().await;
    let mut publisher = SeqPublisher::new(server.mqtt_port(), "flaky-gateway");
    let bad = [
        ("fl/v1/heze-plots/peony_plot/p1/telemetry", "{not json", "not valid JSON"),
        ("fl/v1/heze-plots/peony_plot/p1/senml", r#"[{"n":"x"}]"#, "value"),
        ("fl/v1/lp", "wind_turbine,site=a,device=b power_kw=", "line 1"),
        ("fl/v1/heze-plots/peony_plot/p1/telemetry", r#"{"values":{"air_rh_pct":120}}"#, "air_rh_pct"),
        ("fl/v1/heze-pests/pest_trap/t1/telemetry", r#"{"values":{"count":-3}}"#, "count"),
        ("fl/v1/not/a/fieldline/topic/at/all", "{}", "topic"),
    ];
    for (topic, payload, _) in &bad {
        assert!(
            publisher.publish(topic, payload, Duration::from_secs(10)).await,
            "no PUBACK for bad payload on {topic}"
        );
    }
    // The same connection still delivers good readings.
    assert!(
        publisher
            .publish(
                "fl/v1/heze-plots/peony_plot/p1/telemetry",
                r#"{"ts":1775772000000,"values":{"air_rh_pct":64}}"#,
                Duration::from_secs(10)
            )
            .await
    );
    let v = server.get_json("/api/v1/query?measurement=peony_plot&field=air_rh_pct").await;
    assert_eq!(points(&v), vec![("2026-04-09T22:00:00Z".to_string(), json!(64.0))]);

    let dl = server.get_json("/api/v1/deadletters").await;
    let letters = dl["deadletters"].as_array().unwrap();
    assert_eq!(letters.len(), bad.len(), "{dl:#}");
    // Newest first; each names its topic and a reason that points at the problem.
    for ((topic, _, needle), letter) in bad.iter().rev().zip(letters) {
        assert_eq!(letter["topic"], json!(topic));
        assert!(letter["reason"].as_str().unwrap().contains(needle), "reason {:?} lacks {needle:?}", letter["reason"]);
        assert_eq!(letter["source"], json!("mqtt_endpoint"));
    }
    let metrics = server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let dead = metric(&metrics, "fieldline_ingest_dead_letters_total").unwrap_or(0.0);
    assert_eq!(dead as usize, bad.len(), "{metrics}");
    assert!(metrics.contains("fieldline_store_wal_fsyncs_total"));
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_topic_acls_are_enforced() {
    let server = TestServer::start_with(|c| {
        // No allow_anonymous: configuring users turns anonymous sessions off by itself.
        c.mqtt.users = vec![UserConfig {
            username: "wt01".into(),
            password: Some("s3cret".into()),
            publish: vec!["fl/v1/+/wind_turbine/%u/#".into()],
            ..Default::default()
        }];
    })
    .await;
    let port = server.mqtt_port().to_string();
    let run = |args: &[&str]| {
        std::process::Command::new("mosquitto_pub")
            .args(["-h", "127.0.0.1", "-p", &port, "-q", "1"])
            .args(args)
            .output()
            .unwrap()
    };
    let anonymous = run(&["-t", "fl/v1/s/wind_turbine/wt01/telemetry", "-m", r#"{"power_kw":1}"#]);
    assert!(!anonymous.status.success(), "anonymous client was accepted");
    let wrong =
        run(&["-u", "wt01", "-P", "nope", "-t", "fl/v1/s/wind_turbine/wt01/telemetry", "-m", r#"{"power_kw":1}"#]);
    assert!(!wrong.status.success(), "wrong password was accepted");
    let own =
        run(&["-u", "wt01", "-P", "s3cret", "-t", "fl/v1/s/wind_turbine/wt01/telemetry", "-m", r#"{"power_kw":1}"#]);
    assert!(own.status.success());
    let other =
        run(&["-u", "wt01", "-P", "s3cret", "-t", "fl/v1/s/wind_turbine/wt02/telemetry", "-m", r#"{"power_kw":2}"#]);
    assert!(other.status.success(), "v3.1.1 cannot refuse a publish; it is acknowledged and dead-lettered");

    let v = server.get_json("/api/v1/query?measurement=wind_turbine&field=power_kw").await;
    assert_eq!(points(&v).len(), 1, "only the device's own topic is stored: {v}");
    let dl = server.get_json("/api/v1/deadletters").await;
    assert!(dl["deadletters"][0]["reason"].as_str().unwrap().contains("not allowed"));
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_can_subscribe_to_outgoing_topics() {
    let server = TestServer::start().await;
    let mut options = rumqttc::MqttOptions::new("dispatch-desk", "127.0.0.1", server.mqtt_port());
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    client.subscribe("fl/v1/+/forecasts/#", rumqttc::QoS::AtLeastOnce).await.unwrap();
    // Wait for the SUBACK, then publish from the server side until the client sees it.
    tokio::time::timeout(Duration::from_secs(10), async {
        while !matches!(eventloop.poll().await, Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)))) {}
    })
    .await
    .expect("SUBACK");
    server.running.outbox.publish("fl/v1/heze-pv/alerts", "not for this subscriber");
    server.running.outbox.publish("fl/v1/heze-pv/forecasts/short_term", r#"{"points":[]}"#);
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) = eventloop.poll().await {
                return p;
            }
        }
    })
    .await
    .expect("forecast delivered to the subscriber");
    assert_eq!(got.topic, "fl/v1/heze-pv/forecasts/short_term");
    assert_eq!(&got.payload[..], br#"{"points":[]}"#);
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_readings_in_one_message_and_restart_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    let readings: Vec<String> = (0..500)
        .map(|i| format!(r#"{{"ts":{},"values":{{"ac_power_kw":{}}}}}"#, 1_775_772_000_000i64 + i * 60_000, i))
        .collect();
    let payload = format!("[{}]", readings.join(","));
    {
        let server = TestServer::start_with(|c| c.data_dir = dir.path().to_path_buf()).await;
        mosquitto_pub(server.mqtt_port(), "fl/v1/heze-pv/pv_inverter/inv01/telemetry", &payload, &[]);
        wait_for_points(
            &server.http,
            server.running.http_addr,
            "/api/v1/query?measurement=pv_inverter&field=ac_power_kw",
            500,
        )
        .await;
        server.running.shutdown().await.unwrap();
    }
    assert!(dir.path().join("parquet/pv_inverter").exists(), "shutdown snapshots to Parquet");
    let server = TestServer::start_with(|c| c.data_dir = dir.path().to_path_buf()).await;
    let v = server.get_json("/api/v1/query?measurement=pv_inverter&field=ac_power_kw").await;
    assert_eq!(points(&v).len(), 500);
    // Rewriting a snapshotted reading replaces it (same series + timestamp keeps the last).
    mosquitto_pub(
        server.mqtt_port(),
        "fl/v1/heze-pv/pv_inverter/inv01/telemetry",
        r#"{"ts":1775772000000,"values":{"ac_power_kw":999}}"#,
        &[],
    );
    let v = server.get_json("/api/v1/query?measurement=pv_inverter&field=ac_power_kw&limit=1").await;
    assert_eq!(points(&v)[0].1, json!(999.0));
    let all = server.get_json("/api/v1/query?measurement=pv_inverter&field=ac_power_kw").await;
    assert_eq!(points(&all).len(), 500);
    server.running.shutdown().await.unwrap();
}
