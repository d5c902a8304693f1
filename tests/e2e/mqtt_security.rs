//! Who may connect to fieldline's MQTT endpoint and what a session may do, with real clients
//! (`mosquitto_pub` over v3.1.1 and v5, rumqttc v4 and v5): anonymous sessions once users
//! exist, client ids that try to widen `%c` ACL filters, argon2id password hashes made by
//! `fieldline passwd`, and the cap on subscriptions per session.

use crate::common;
use crate::mqtt_support;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{TestServer, points};
use fieldline_ingest::sources::mqtt_endpoint::{AnonymousConfig, UserConfig};
use mqtt_support::newest_dead_letter;

fn mosquitto_pub_output(port: u16, version: &str, args: &[&str]) -> Output {
    Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-V", version])
        .args(args)
        .output()
        .expect("mosquitto_pub is installed by scripts/test.sh")
}

async fn stored_points(server: &TestServer, query: &str) -> usize {
    points(&server.get_json(&format!("/api/v1/query?{query}")).await).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_sessions_are_refused_once_users_exist_unless_allowed() {
    let device = UserConfig {
        username: "wt01".into(),
        password: Some("s3cret".into()),
        publish: vec!["fl/v1/+/wind_turbine/%u/#".into()],
        ..Default::default()
    };
    // Users configured, allow_anonymous unset: anonymous is off, over both protocol versions.
    let closed = TestServer::start_with(|c| c.mqtt.users = vec![device.clone()]).await;
    for version in ["mqttv311", "mqttv5"] {
        let out = mosquitto_pub_output(
            closed.mqtt_port(),
            version,
            &["-t", "fl/v1/s/wind_turbine/wt01/telemetry", "-m", r#"{"values":{"power_kw":1}}"#],
        );
        assert!(!out.status.success(), "{version}: anonymous session accepted");
    }
    assert_eq!(stored_points(&closed, "measurement=wind_turbine&field=power_kw").await, 0);
    closed.running.shutdown().await.unwrap();

    // Allowed explicitly: anonymous sessions get the [mqtt.anonymous] ACL, not the users' rules.
    let open = TestServer::start_with(|c| {
        c.mqtt.users = vec![device];
        c.mqtt.allow_anonymous = Some(true);
        c.mqtt.anonymous =
            AnonymousConfig { publish: vec!["fl/v1/+/pest_trap/%c/telemetry".into()], subscribe: vec![] };
    })
    .await;
    let port = open.mqtt_port();
    let own = mosquitto_pub_output(
        port,
        "mqttv311",
        &["-i", "trap07", "-t", "fl/v1/heze-pests/pest_trap/trap07/telemetry", "-m", r#"{"values":{"count":3}}"#],
    );
    assert!(own.status.success(), "{}", String::from_utf8_lossy(&own.stderr));
    assert_eq!(stored_points(&open, "measurement=pest_trap&field=count").await, 1);
    let turbine = mosquitto_pub_output(
        port,
        "mqttv311",
        &["-i", "trap07", "-t", "fl/v1/heze-wind/wind_turbine/wt01/telemetry", "-m", r#"{"values":{"power_kw":9}}"#],
    );
    assert!(turbine.status.success(), "v3.1.1 acknowledges a refused publish (and dead-letters it)");
    assert_eq!(stored_points(&open, "measurement=wind_turbine&field=power_kw").await, 0);
    let (_, reason) = newest_dead_letter(&open.http, open.running.http_addr).await.unwrap();
    assert!(reason.contains("\"anonymous\" is not allowed to publish"), "{reason}");
    open.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_ids_with_wildcards_or_slashes_grant_nothing() {
    // A gateway user whose ACL names the device by client id.
    let server = TestServer::start_with(|c| {
        c.mqtt.users = vec![UserConfig {
            username: "gateway".into(),
            password: Some("gw-pass".into()),
            publish: vec!["fl/v1/+/wind_turbine/%c/telemetry".into()],
            ..Default::default()
        }];
    })
    .await;
    let port = server.mqtt_port();
    let auth = ["-u", "gateway", "-P", "gw-pass"];
    let mut refused = 0;
    for version in ["mqttv311", "mqttv5"] {
        for client_id in ["#", "+", "a/b"] {
            // Another turbine's topic, and for `a/b` the topic its substituted filter would name
            // (a topic cannot contain `+` or `#`).
            let mut topics = vec!["fl/v1/heze-wind/wind_turbine/wt02/telemetry".to_string()];
            if client_id == "a/b" {
                topics.push("fl/v1/heze-wind/wind_turbine/a/b/telemetry".to_string());
            }
            for topic in &topics {
                let mut args = vec!["-i", client_id, "-t", topic, "-m", r#"{"values":{"power_kw":1}}"#];
                args.extend(auth);
                let out = mosquitto_pub_output(port, version, &args);
                // v3.1.1 acknowledges and dead-letters; v5 answers PUBACK 0x87 (not authorised).
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    out.status.success() || stderr.contains("authori"),
                    "{version} client id {client_id:?}: {stderr}"
                );
                refused += 1;
                let (count, reason) = newest_dead_letter(&server.http, server.running.http_addr).await.unwrap();
                assert_eq!(count, refused, "{version} client id {client_id:?} on {topic}: no dead letter");
                assert!(reason.contains("not allowed to publish"), "{version} {client_id:?} {topic}: {reason}");
            }
        }
    }
    assert_eq!(stored_points(&server, "measurement=wind_turbine&field=power_kw").await, 0);
    // The same ACL still works for a well-formed client id.
    for version in ["mqttv311", "mqttv5"] {
        let mut args = vec!["-i", "wt03", "-t", "fl/v1/heze-wind/wind_turbine/wt03/telemetry"];
        args.extend(["-m", r#"{"values":{"power_kw":2}}"#]);
        args.extend(auth);
        let out = mosquitto_pub_output(port, version, &args);
        assert!(out.status.success(), "{version}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(stored_points(&server, "measurement=wind_turbine&field=power_kw&device=wt03").await, 2);
    server.running.shutdown().await.unwrap();
}

/// `fieldline passwd` with the password on stdin; the PHC string it prints.
fn fieldline_passwd(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_fieldline"))
        .arg("passwd")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "fieldline passwd: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_passwords_from_fieldline_passwd() {
    let help = Command::new(env!("CARGO_BIN_EXE_fieldline")).args(["passwd", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("password_hash") && help.contains("argon2id"), "{help}");

    let hash = fieldline_passwd("correct horse");
    assert!(hash.starts_with("$argon2id$v=19$"), "{hash}");
    assert!(!hash.contains("correct horse"));
    assert_ne!(hash, fieldline_passwd("correct horse"), "a fresh salt every time");

    let server = TestServer::start_with(|c| {
        c.mqtt.users = vec![UserConfig {
            username: "met01".into(),
            password_hash: Some(hash.clone()),
            publish: vec!["fl/v1/+/met_station/%u/telemetry".into()],
            ..Default::default()
        }];
    })
    .await;
    let port = server.mqtt_port();
    let topic = "fl/v1/heze-met/met_station/met01/telemetry";
    for (i, version) in ["mqttv311", "mqttv5"].iter().enumerate() {
        let payload = format!(r#"{{"ts":{},"values":{{"air_temp_c":{i}}}}}"#, 1_775_772_000_000i64 + i as i64 * 60_000);
        let ok =
            mosquitto_pub_output(port, version, &["-u", "met01", "-P", "correct horse", "-t", topic, "-m", &payload]);
        assert!(ok.status.success(), "{version}: {}", String::from_utf8_lossy(&ok.stderr));
        let wrong =
            mosquitto_pub_output(port, version, &["-u", "met01", "-P", "correct hors", "-t", topic, "-m", "{}"]);
        assert!(!wrong.status.success(), "{version}: wrong password accepted");
        let hash_as_password =
            mosquitto_pub_output(port, version, &["-u", "met01", "-P", &hash, "-t", topic, "-m", "{}"]);
        assert!(!hash_as_password.status.success(), "{version}: the hash itself is no password");
    }
    assert_eq!(stored_points(&server, "measurement=met_station&field=air_temp_c").await, 2);
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_per_session_are_capped() {
    let server = TestServer::start_with(|c| c.mqtt.max_subscriptions = 4).await;
    let port = server.mqtt_port();
    let filters: Vec<String> = (0..6).map(|i| format!("fl/v1/site{i}/alerts")).collect();

    // v3.1.1: four granted, the rest get the failure code; re-subscribing a held filter is
    // a replacement, not a fifth subscription.
    let mut options = rumqttc::MqttOptions::new("many-subs-v3", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    let subscribe_v3 = |filters: &[String]| {
        let batch: Vec<_> =
            filters.iter().map(|f| rumqttc::SubscribeFilter::new(f.clone(), rumqttc::QoS::AtLeastOnce)).collect();
        let client = client.clone();
        async move { client.subscribe_many(batch).await.unwrap() }
    };
    let mut next_suback = async || loop {
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await.expect("SUBACK") {
            Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(ack))) => return ack.return_codes,
            Ok(_) => {}
            Err(e) => panic!("connection failed: {e}"),
        }
    };
    subscribe_v3(&filters).await;
    let codes = next_suback().await;
    let granted = rumqttc::SubscribeReasonCode::Success(rumqttc::QoS::AtLeastOnce);
    assert_eq!(codes[..4], [granted; 4]);
    assert_eq!(codes[4..], [rumqttc::SubscribeReasonCode::Failure; 2]);
    subscribe_v3(&filters[..1]).await;
    assert_eq!(next_suback().await, vec![granted]);

    // v5: the refusal says why (quota exceeded).
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::{Filter, Packet, SubscribeReasonCode};
    let mut options = rumqttc::v5::MqttOptions::new("many-subs-v5", "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    let (client, mut eventloop) = rumqttc::v5::AsyncClient::new(options, 10);
    client.subscribe_many(filters.iter().map(|f| Filter::new(f.clone(), QoS::AtMostOnce))).await.unwrap();
    let codes = loop {
        match tokio::time::timeout(Duration::from_secs(10), eventloop.poll()).await.expect("v5 SUBACK") {
            Ok(rumqttc::v5::Event::Incoming(Packet::SubAck(ack))) => break ack.return_codes,
            Ok(_) => {}
            Err(e) => panic!("v5 connection failed: {e}"),
        }
    };
    assert_eq!(codes[..4], [SubscribeReasonCode::Success(QoS::AtMostOnce); 4]);
    assert_eq!(codes[4..], [SubscribeReasonCode::QuotaExceeded; 2]);
    server.running.shutdown().await.unwrap();
}
