//! A large message is decoded off the MQTT network thread: while it is still being decoded,
//! a small publish from another device on the same ntex worker is acknowledged.
//!
//! Deterministic, without timing: a tracing layer holds the thread that decodes the large
//! message (at the `decoding message` trace event `IngestContext` emits on whichever thread
//! runs the pipeline) until the test opens the gate. Were the decoding on the ntex worker,
//! that worker would be held and the small publish could not be acknowledged at all. This
//! test owns its binary because it installs the process-wide tracing subscriber.

use crate::common;

use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use common::{SeqPublisher, TestServer, wait_for_points};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::{EnvFilter, Layer};

const BIG_TOPIC: &str = "fl/v1/heze-pv/pv_inverter/inv-big/telemetry";

/// Holds the thread that emits `decoding message` for [`BIG_TOPIC`] until released.
struct Gate {
    reached: Mutex<SyncSender<()>>,
    release: Mutex<Receiver<()>>,
}

#[derive(Default)]
struct Fields {
    message: String,
    topic: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "topic" {
            self.topic = value.to_string();
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "topic" => self.topic = format!("{value:?}").trim_matches('"').to_string(),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Gate {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if !event.metadata().target().starts_with("fieldline_ingest::sources") {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.message == "decoding message" && fields.topic == BIG_TOPIC {
            let _ = self.reached.lock().unwrap().send(());
            // Hold this thread until the test has seen the small publish acknowledged.
            let _ = self.release.lock().unwrap().recv_timeout(Duration::from_secs(120));
        }
    }
}

/// Installs the gate once; returns (reached, release).
fn install_gate() -> (Receiver<()>, SyncSender<()>) {
    static ONCE: OnceLock<()> = OnceLock::new();
    let (reached_tx, reached_rx) = std::sync::mpsc::sync_channel(1);
    let (release_tx, release_rx) = std::sync::mpsc::sync_channel(1);
    ONCE.get_or_init(|| {
        let gate = Gate { reached: Mutex::new(reached_tx), release: Mutex::new(release_rx) };
        // The gate sees every event; the log output only warnings.
        let log = tracing_subscriber::fmt::layer().with_test_writer().with_filter(EnvFilter::new("warn"));
        let subscriber = tracing_subscriber::registry().with(gate).with(log);
        tracing::subscriber::set_global_default(subscriber).expect("this binary's only subscriber");
    });
    (reached_rx, release_tx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_does_not_hold_up_other_devices() {
    let (reached, release) = install_gate();
    let server = TestServer::start_with(|c| c.mqtt.workers = 1).await;
    let port = server.mqtt_port();

    // ~60 KiB of JSON: 800 readings, well above the off-thread threshold.
    let readings: Vec<String> = (0..800)
        .map(|i| {
            format!(
                r#"{{"ts":{},"values":{{"ac_power_kw":{}.5,"dc_voltage_v":650.25}}}}"#,
                1_775_772_000_000i64 + i * 60_000,
                i
            )
        })
        .collect();
    let big = format!("[{}]", readings.join(","));
    assert!(big.len() > fieldline_ingest::sources::LARGE_PAYLOAD_BYTES);
    let mut big_options = rumqttc::MqttOptions::new("big-sender", "127.0.0.1", port);
    big_options.set_keep_alive(Duration::from_secs(30)).set_max_packet_size(1 << 20, 1 << 20);
    let (big_client, mut big_loop) = rumqttc::AsyncClient::new(big_options, 10);
    big_client.publish(BIG_TOPIC, rumqttc::QoS::AtLeastOnce, false, big.into_bytes()).await.unwrap();
    let big_acked = tokio::spawn(async move {
        loop {
            match big_loop.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::PubAck(_))) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    });
    let gate_reached = tokio::task::spawn_blocking(move || reached.recv_timeout(Duration::from_secs(60))).await;
    assert!(matches!(gate_reached, Ok(Ok(()))), "the large message was never decoded");

    // The large message is being decoded (held at the gate). Another device publishes.
    let mut small = SeqPublisher::new(port, "small-sender");
    let small_acked = small
        .publish(
            "fl/v1/heze-pv/pv_inverter/inv01/telemetry",
            r#"{"values":{"ac_power_kw":1.0}}"#,
            Duration::from_secs(30),
        )
        .await;
    let _ = release.send(());
    assert!(small_acked, "a small publish waited behind the large message's decoding");

    assert!(tokio::time::timeout(Duration::from_secs(30), big_acked).await.unwrap().unwrap(), "big PUBACK");
    wait_for_points(
        &server.http,
        server.running.http_addr,
        "/api/v1/query?measurement=pv_inverter&field=ac_power_kw&device=inv-big",
        800,
    )
    .await;
    server.running.shutdown().await.unwrap();
}
