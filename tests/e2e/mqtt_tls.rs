//! TLS on both MQTT paths: fieldline's endpoint with a `[mqtt.tls]` listener (rumqttc and
//! `mosquitto_pub --cafile` trusting the test CA, the same ACLs, plain clients refused on the
//! TLS port, clear errors for bad files), and the broker client reading from Debian's
//! Mosquitto over `mqtts://` with a client certificate.

use crate::common;
use crate::mqtt_support;

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::tls::{TlsFiles, make_certificates};
use common::{TestServer, free_port, mosquitto_pub, points, test_config, wait_for_points};
use fieldline_ingest::sources::mqtt_broker::BrokerConfig;
use fieldline_ingest::sources::mqtt_endpoint::{EndpointTlsConfig, UserConfig};
use mqtt_support::{Broker, make_client_certificate, newest_dead_letter, wait_until_subscribed};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

fn tls_listener(files: &TlsFiles) -> Option<EndpointTlsConfig> {
    Some(EndpointTlsConfig {
        listen: "127.0.0.1:0".into(),
        cert: files.server_cert.clone(),
        key: files.server_key.clone(),
    })
}

/// rumqttc over TLS trusting only the test CA.
fn rumqttc_tls_options(client_id: &str, port: u16, ca_pem: &str) -> rumqttc::MqttOptions {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut options = rumqttc::MqttOptions::new(client_id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(5));
    options.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(Arc::new(config))));
    options
}

/// Publishes one QoS 1 message; true once its PUBACK arrived.
async fn publish_and_wait_puback(options: rumqttc::MqttOptions, topic: &str, payload: &str) -> bool {
    let (client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    client.publish(topic, rumqttc::QoS::AtLeastOnce, false, payload.as_bytes().to_vec()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match eventloop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => return true,
                Ok(_) => {}
                Err(e) => {
                    eprintln!("rumqttc: {e}");
                    return false;
                }
            }
        }
    })
    .await
    .unwrap_or(false)
}

fn mosquitto_pub_status(port: u16, args: &[&str]) -> std::process::Output {
    Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1"])
        .args(args)
        .output()
        .expect("mosquitto_pub is installed by scripts/test.sh")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_serves_tls_beside_plain_with_the_same_acls() {
    let certs_dir = tempfile::tempdir().unwrap();
    let files = make_certificates(certs_dir.path());
    let server = TestServer::start_with(|c| {
        c.mqtt.tls = tls_listener(&files);
        c.mqtt.users = vec![UserConfig {
            username: "wt01".into(),
            password: Some("s3cret".into()),
            publish: vec!["fl/v1/+/wind_turbine/%u/#".into()],
            ..Default::default()
        }];
    })
    .await;
    let tls_port = server.running.mqtt_tls_addr.expect("TLS listener").port();
    let plain_port = server.mqtt_port();
    assert_ne!(tls_port, plain_port);
    let topic = "fl/v1/heze-wind/wind_turbine/wt01/telemetry";

    // rumqttc trusting the test CA: PUBACK, and the reading is stored.
    let mut options = rumqttc_tls_options("wt01-tls", tls_port, &files.ca_pem);
    options.set_credentials("wt01", "s3cret");
    assert!(publish_and_wait_puback(options, topic, r#"{"ts":1775772000000,"values":{"power_kw":1}}"#).await);
    let query = "/api/v1/query?measurement=wind_turbine&field=power_kw";
    assert_eq!(points(&server.get_json(query).await).len(), 1);

    // mosquitto_pub --cafile, v3.1.1 and v5.
    let ca = files.ca_cert.to_str().unwrap();
    for (i, version) in ["mqttv311", "mqttv5"].iter().enumerate() {
        let payload = format!(r#"{{"ts":{},"values":{{"power_kw":2}}}}"#, 1_775_772_060_000i64 + i as i64 * 60_000);
        let out = mosquitto_pub_status(
            tls_port,
            &["--cafile", ca, "-V", version, "-u", "wt01", "-P", "s3cret", "-t", topic, "-m", &payload],
        );
        assert!(out.status.success(), "{version}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(points(&server.get_json(query).await).len(), 3);

    // The same ACL and credentials rules over TLS.
    let other = "fl/v1/heze-wind/wind_turbine/wt02/telemetry";
    let out = mosquitto_pub_status(tls_port, &["--cafile", ca, "-u", "wt01", "-P", "s3cret", "-t", other, "-m", "{}"]);
    assert!(out.status.success(), "v3.1.1 acknowledges a refused publish");
    let (_, reason) = newest_dead_letter(&server.http, server.running.http_addr).await.unwrap();
    assert!(reason.contains("not allowed to publish"), "{reason}");
    let anonymous = mosquitto_pub_status(tls_port, &["--cafile", ca, "-t", topic, "-m", "{}"]);
    assert!(!anonymous.status.success(), "anonymous session accepted over TLS");

    // A plain client on the TLS port gets nowhere; the plain port still works.
    let plain_on_tls = mosquitto_pub_status(tls_port, &["-u", "wt01", "-P", "s3cret", "-t", topic, "-m", "{}"]);
    assert!(!plain_on_tls.status.success(), "a plain MQTT client was served on the TLS port");
    let mut options = rumqttc::MqttOptions::new("wt01-plain-on-tls", "127.0.0.1", tls_port);
    options.set_credentials("wt01", "s3cret").set_keep_alive(Duration::from_secs(5));
    assert!(!publish_and_wait_puback(options, topic, "{}").await, "rumqttc without TLS got a PUBACK on the TLS port");
    mosquitto_pub(
        plain_port,
        topic,
        r#"{"ts":1775772600000,"values":{"power_kw":4}}"#,
        &["-u", "wt01", "-P", "s3cret"],
    );
    assert_eq!(points(&server.get_json(query).await).len(), 4);
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_only_and_clear_errors_for_bad_files() {
    let certs_dir = tempfile::tempdir().unwrap();
    let files = make_certificates(certs_dir.path());

    // plain = false: only the TLS listener.
    let server = TestServer::start_with(|c| {
        c.mqtt.plain = false;
        c.mqtt.tls = tls_listener(&files);
    })
    .await;
    assert!(server.running.mqtt_addr.is_none(), "plain listener started despite plain = false");
    let tls_port = server.running.mqtt_tls_addr.unwrap().port();
    let topic = "fl/v1/heze-pv/pv_inverter/inv01/telemetry";
    let ca = files.ca_cert.to_str().unwrap();
    let out = mosquitto_pub_status(tls_port, &["--cafile", ca, "-t", topic, "-m", r#"{"values":{"ac_power_kw":5}}"#]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for_points(
        &server.http,
        server.running.http_addr,
        "/api/v1/query?measurement=pv_inverter&field=ac_power_kw",
        1,
    )
    .await;
    server.running.shutdown().await.unwrap();

    // Bad files stop the start with an error naming the setting and the file.
    let data = tempfile::tempdir().unwrap();
    let start_error = |cert: &std::path::Path, key: &std::path::Path| {
        let mut config = test_config(data.path());
        config.mqtt.tls = Some(EndpointTlsConfig { listen: "127.0.0.1:0".into(), cert: cert.into(), key: key.into() });
        async move { fieldline::server::start(config).await.expect_err("start must fail").to_string() }
    };
    let missing = certs_dir.path().join("no-such.pem");
    let e = start_error(&missing, &files.server_key).await;
    assert!(e.contains("[mqtt.tls] cert") && e.contains("no-such.pem") && e.contains("cannot read"), "{e}");
    let e = start_error(&files.server_cert, &files.server_cert).await;
    assert!(e.contains("[mqtt.tls] key") && e.contains("no PEM private key"), "{e}");
    // A key that does not belong to the certificate.
    let other = tempfile::tempdir().unwrap();
    let other_files = make_certificates(other.path());
    let e = start_error(&files.server_cert, &other_files.server_key).await;
    assert!(e.contains("[mqtt.tls] cert") && e.contains("does not belong to the certificate"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_client_reads_mosquitto_over_tls_with_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let server_files = make_certificates(dir.path());
    let client = make_client_certificate(dir.path(), "fieldline-ingest");
    // Mosquitto trusts the client CA for client certificates; devices publish on plain 1883-style.
    let client_ca = dir.path().join("client-ca.pem");
    std::fs::write(&client_ca, &client.ca_pem).unwrap();
    let (plain_port, tls_port) = (free_port(), free_port());
    let broker_dir = tempfile::tempdir().unwrap();
    let conf = format!(
        "allow_anonymous true\nlistener {plain_port} 127.0.0.1\nlistener {tls_port} 127.0.0.1\n\
         certfile {}\nkeyfile {}\ncafile {}\nrequire_certificate true\n",
        server_files.server_cert.display(),
        server_files.server_key.display(),
        client_ca.display()
    );
    let broker = Broker::start(broker_dir, &conf, &[plain_port, tls_port]);

    let server = TestServer::start_with(|c| {
        c.broker = Some(BrokerConfig {
            url: format!("mqtts://127.0.0.1:{tls_port}"),
            client_id: "fl-test-tls".into(),
            ca_file: Some(server_files.ca_cert.clone()),
            client_cert: Some(client.cert.clone()),
            client_key: Some(client.key.clone()),
            ..Default::default()
        });
    })
    .await;
    wait_until_subscribed(server.running.http_addr, plain_port, &[]).await;
    mosquitto_pub(
        plain_port,
        "fl/v1/heze-wind/wind_turbine/wt05/telemetry",
        r#"{"ts":1775772000000,"values":{"power_kw":812.5}}"#,
        &[],
    );
    let v = wait_for_points(
        &server.http,
        server.running.http_addr,
        "/api/v1/query?measurement=wind_turbine&field=power_kw&device=wt05",
        1,
    )
    .await;
    assert_eq!(points(&v)[0].1, serde_json::json!(812.5), "{}", broker.log());
    server.running.shutdown().await.unwrap();

    // A client certificate without its key, or a CA file that is not PEM, is refused at start.
    let data = tempfile::tempdir().unwrap();
    let mut config = test_config(data.path());
    config.broker = Some(BrokerConfig {
        url: format!("mqtts://127.0.0.1:{tls_port}"),
        client_cert: Some(client.cert.clone()),
        ..Default::default()
    });
    let e = fieldline::server::start(config).await.expect_err("start must fail").to_string();
    assert!(e.contains("client_cert and client_key"), "{e}");
    let mut config = test_config(data.path());
    config.broker = Some(BrokerConfig {
        url: format!("mqtts://127.0.0.1:{tls_port}"),
        ca_file: Some(client.key.clone()),
        ..Default::default()
    });
    let e = fieldline::server::start(config).await.expect_err("start must fail").to_string();
    assert!(e.contains("[broker] ca_file") && e.contains("client.key"), "{e}");
}
