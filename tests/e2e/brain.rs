//! The 产业大脑 feed end to end: yesterday's readings of a peony farm (plot, trap, met station,
//! market prices) and a PV plant (meter with a curtailed spell) go in over HTTP; the daily job
//! builds the bundle, stores it, POSTs it signed to three recipients — one that refuses twice
//! before accepting, one allowed only two groups of one site, one unreachable — and publishes
//! it per site on MQTT. Every bundle seen anywhere validates against the versioned schema; the
//! audit log lists every delivery with the hash of what left; a delivery cut short by a
//! restart is made after it.

use crate::common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{test_config, wait_for};
use fieldline::brain::{self, BrainConfig, Group, Recipient};
use fieldline::config::Config;
use fieldline::server;
use serde_json::Value;
use time::{Date, UtcOffset};

const HEZE: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(o) => o,
    Err(_) => panic!("offset"),
};

/// An MQTT message: topic and payload.
type Message = (String, Vec<u8>);

/// What one test recipient saw.
#[derive(Default)]
struct Seen {
    requests: usize,
    /// (delivery id, body, signature header) of each accepted request.
    accepted: Vec<(String, Vec<u8>, String)>,
    refused_signatures: usize,
}

#[derive(Clone)]
struct Receiver {
    key: Vec<u8>,
    /// Answer 500 to this many requests first.
    fail_first: usize,
    seen: Arc<Mutex<Seen>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut seen = r.seen.lock().unwrap();
    seen.requests += 1;
    if seen.requests <= r.fail_first {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let signature = headers.get(brain::SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if brain::verify(&r.key, signature, &body, now, 300).is_err() {
        seen.refused_signatures += 1;
        return StatusCode::UNAUTHORIZED;
    }
    let id = headers.get("x-fieldline-delivery").and_then(|v| v.to_str().ok()).unwrap_or_default();
    seen.accepted.push((id.to_string(), body.to_vec(), signature.to_string()));
    StatusCode::OK
}

async fn start_receiver(listener: tokio::net::TcpListener, key: &str, fail_first: usize) -> Receiver {
    let receiver = Receiver { key: key.as_bytes().to_vec(), fail_first, seen: Arc::default() };
    let app = axum::Router::new().route("/in", axum::routing::post(receive)).with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    receiver
}

fn recipient(name: &str, addr: SocketAddr, key: &str, groups: &[Group], sites: &[&str]) -> Recipient {
    Recipient {
        name: name.into(),
        url: format!("http://{addr}/in"),
        groups: groups.to_vec(),
        sites: sites.iter().map(|s| s.to_string()).collect(),
        secret: Some(key.into()),
        secret_env: None,
    }
}

fn brain_config(recipients: Vec<Recipient>) -> BrainConfig {
    BrainConfig {
        build_after: "00:00".into(),
        catch_up_days: 1,
        tick_secs: 1,
        attempts: 4,
        retry_initial_ms: 50,
        recipients,
        ..BrainConfig::default()
    }
}

fn config_in(dir: &Path, brain: BrainConfig) -> Config {
    let mut config = test_config(dir);
    config.brain = brain;
    config.forecast.enabled = false;
    config
}

/// Local (UTC+8) yesterday, and unix seconds of its midnight.
fn yesterday() -> (Date, i64) {
    let today = time::OffsetDateTime::now_utc().to_offset(HEZE).date();
    let date = today.previous_day().unwrap();
    (date, date.midnight().assume_offset(HEZE).unix_timestamp())
}

/// Yesterday at two sites, plus one reading just after midnight that tells the job the day is
/// over. The plant meter reads 10 MW every 5 min all day; from 10:00 to 12:00 dispatch
/// curtails it, with 15 MW available.
fn yesterdays_readings(midnight: i64) -> String {
    let mut lines = Vec::new();
    for i in 0..288 {
        let t = midnight + i * 300;
        let curtailed = (10 * 3600..12 * 3600).contains(&(t - midnight));
        lines.push(format!(
            "plant,site=solar,device=meter power_mw=10.0,available_mw={},capacity_mw=40.0,curtailed={curtailed} {t}",
            if curtailed { 15.0 } else { 10.0 }
        ));
    }
    for h in 0..24 {
        let t = midnight + h * 3600;
        let air = 8.0 + 6.0 * ((h as f64 - 9.0) / 24.0 * std::f64::consts::TAU).sin();
        lines.push(format!("peony_plot,site=farm,device=p1 air_temp_c={air:.2},soil_vwc_pct=27.5 {t}"));
        lines.push(format!("met_station,site=farm,device=met air_temp_c={air:.2},rh_pct=60.0,wind_speed_ms=2.0 {t}"));
    }
    // The trap counter: 3 at 22:00 the night before yesterday (no catch yet), 7 at 22:00.
    lines.push(format!(
        "pest_trap,site=farm,device=lt01,species=helicoverpa_armigera,trap_type=light count=3i {}",
        midnight - 2 * 3600
    ));
    lines.push(format!(
        "pest_trap,site=farm,device=lt01,species=helicoverpa_armigera,trap_type=light count=7i {}",
        midnight + 22 * 3600
    ));
    lines.push(format!(
        "market_price,site=farm,device=heze-flower-market,item=peony_cut_flower,unit=CNY/stem price=2.5 {}",
        midnight + 9 * 3600
    ));
    // Past midnight: the day is over.
    lines.push(format!("met_station,site=farm,device=met air_temp_c=5.0 {}", midnight + 86_400 + 1));
    lines.join("\n")
}

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(brain::SCHEMA).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

/// Fails with every schema violation of `bundle`, and if any array holds arrays — the shape of
/// a raw series of (time, value) pairs.
fn assert_valid(validator: &jsonschema::Validator, bundle: &Value, what: &str) {
    let errors: Vec<String> =
        validator.iter_errors(bundle).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "{what} does not match the schema:\n{}\n{bundle:#}", errors.join("\n"));
    fn no_series(v: &Value, path: &str) {
        match v {
            Value::Array(items) => {
                assert!(!items.iter().any(Value::is_array), "a series-shaped array at {path}");
                items.iter().enumerate().for_each(|(i, x)| no_series(x, &format!("{path}/{i}")));
            }
            Value::Object(map) => map.iter().for_each(|(k, x)| no_series(x, &format!("{path}/{k}"))),
            _ => {}
        }
    }
    no_series(bundle, what);
}

async fn deliveries(http: &reqwest::Client, addr: SocketAddr) -> Vec<Value> {
    let body = common::get_json(http, &format!("http://{addr}/api/v1/brain/deliveries")).await;
    body["deliveries"].as_array().unwrap().clone()
}

/// Writes yesterday's readings over HTTP; the server answers 204 once they are durable.
async fn write_yesterday(http: &reqwest::Client, addr: SocketAddr, midnight: i64) {
    let resp = http
        .post(format!("http://{addr}/api/v2/write?bucket=heze&precision=s"))
        .body(yesterdays_readings(midnight))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_bundle_is_built_signed_delivered_and_audited() {
    let _ = tracing_subscriber::fmt().with_env_filter("warn").with_test_writer().try_init();
    let validator = validator();
    let (date, midnight) = yesterday();
    let listeners = [
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    ];
    let (addr_all, addr_some) = (listeners[0].local_addr().unwrap(), listeners[1].local_addr().unwrap());
    let [listen_all, listen_some] = listeners;
    let all = start_receiver(listen_all, "alpha-key", 2).await;
    let some = start_receiver(listen_some, "beta-key", 0).await;
    // Nobody listens here.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let config = config_in(
        dir.path(),
        brain_config(vec![
            recipient("brain-all", addr_all, "alpha-key", &Group::ALL, &[]),
            recipient("county", addr_some, "beta-key", &[Group::Sites, Group::Market], &["farm"]),
            recipient("offline", dead, "gamma-key", &[Group::Plants], &[]),
        ]),
    );
    let running = server::start(config).await.unwrap();
    let http = reqwest::Client::new();

    // An MQTT subscriber for the per-site bundles, before anything is built.
    let mut options = rumqttc::MqttOptions::new("brain-sub", "127.0.0.1", running.mqtt_addr.unwrap().port());
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut events) = rumqttc::AsyncClient::new(options, 16);
    client.subscribe("fl/v1/+/brain", rumqttc::QoS::AtLeastOnce).await.unwrap();
    let mqtt: Arc<Mutex<Vec<Message>>> = Arc::default();
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    let collected = mqtt.clone();
    tokio::spawn(async move {
        let mut subscribed = Some(subscribed_tx);
        while let Ok(event) = events.poll().await {
            match event {
                rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) => {
                    if let Some(tx) = subscribed.take() {
                        let _ = tx.send(());
                    }
                }
                rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) => {
                    collected.lock().unwrap().push((p.topic.clone(), p.payload.to_vec()));
                }
                _ => {}
            }
        }
    });
    subscribed_rx.await.unwrap();

    write_yesterday(&http, running.http_addr, midnight).await;

    // Two webhooks end delivered, one failed, and one MQTT bundle per site is published.
    let records = wait_for("every delivery in the audit log", Duration::from_secs(60), || async {
        let records = deliveries(&http, running.http_addr).await;
        (records.len() >= 5).then_some(records)
    })
    .await;
    let record = |recipient: &str| records.iter().find(|r| r["recipient"] == recipient).unwrap().clone();
    assert_eq!(records.len(), 5, "{records:#?}");
    for r in &records {
        assert_eq!(r["date"], date.to_string());
    }

    // The stored bundle is the day's whole bundle.
    let resp =
        http.get(format!("http://{}/api/v1/brain/indicators?date={date}", running.http_addr)).send().await.unwrap();
    assert_eq!(resp.headers()["x-fieldline-bundle"], "stored");
    let stored: Value = resp.json().await.unwrap();
    assert_valid(&validator, &stored, "the stored bundle");
    assert_eq!(stored["covers_sites"], serde_json::json!(["farm", "solar"]));
    let plant = &stored["plants"][0];
    assert_eq!(plant["site"], "solar");
    assert!((plant["energy_mwh"].as_f64().unwrap() - 240.0).abs() < 1e-9, "{plant}");
    assert!((plant["hours_metered"].as_f64().unwrap() - 24.0).abs() < 1e-9);
    assert!((plant["curtailment"]["hours"].as_f64().unwrap() - 2.0).abs() < 1e-9, "{plant}");
    assert!((plant["curtailment"]["energy_mwh"].as_f64().unwrap() - 10.0).abs() < 1e-9, "{plant}");
    let trap = &stored["traps"][0]["species"][0];
    assert_eq!(trap["species"], "helicoverpa_armigera");
    assert_eq!(trap["daily_catch"], 4.0, "{trap}");
    let plot = &stored["plots"][0];
    assert_eq!(plot["plot"], "p1");
    assert_eq!(plot["crop"], "peony");
    let farm = stored["sites"].as_array().unwrap().iter().find(|s| s["site"] == "farm").unwrap();
    assert_eq!(farm["completeness"]["by_kind"]["peony_plot"]["completeness"], 1.0, "{farm}");
    let solar = stored["sites"].as_array().unwrap().iter().find(|s| s["site"] == "solar").unwrap();
    assert_eq!(solar["completeness"]["by_kind"]["plant"]["completeness"], 1.0, "{solar}");
    assert_eq!(stored["market"][0]["price"], 2.5);
    assert_eq!(stored["market"][0]["unit"], "CNY/stem");

    // The recipient that refused twice got it on the third attempt, signed, whole.
    let r = record("brain-all");
    assert_eq!((r["status"].as_str(), r["attempts"].as_u64()), (Some("delivered"), Some(3)), "{r}");
    let (id, body, signature) = {
        let seen = all.seen.lock().unwrap();
        assert_eq!(seen.requests, 3);
        assert_eq!(seen.refused_signatures, 0);
        assert_eq!(seen.accepted.len(), 1);
        seen.accepted[0].clone()
    };
    assert_eq!(id, format!("{date}/brain-all"));
    assert_eq!(r["sha256"], brain::deliver::sha256_hex(&body), "the audit log hashes what left");
    assert_eq!(r["bytes"].as_u64(), Some(body.len() as u64));
    let received: Value = serde_json::from_slice(&body).unwrap();
    assert_valid(&validator, &received, "brain-all's bundle");
    assert_eq!(received, stored, "a recipient allowed everything gets the whole bundle");
    // The same request replayed later is refused: the signed timestamp is stale.
    let later = time::OffsetDateTime::now_utc().unix_timestamp() + 301;
    assert!(matches!(
        brain::verify(b"alpha-key", &signature, &body, later, 300),
        Err(brain::SignatureError::Stale { .. })
    ));
    assert_eq!(brain::verify(b"wrong-key", &signature, &body, later - 301, 300), Err(brain::SignatureError::Mismatch));

    // The county sees two groups of one site, nothing else.
    let r = record("county");
    assert_eq!(r["status"], "delivered");
    let body = some.seen.lock().unwrap().accepted[0].1.clone();
    assert_eq!(r["sha256"], brain::deliver::sha256_hex(&body));
    let received: Value = serde_json::from_slice(&body).unwrap();
    assert_valid(&validator, &received, "county's bundle");
    let mut keys: Vec<&str> = received.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        ["covers_sites", "date", "generated_at", "groups", "market", "schema_version", "sites", "utc_offset"]
    );
    assert_eq!(received["groups"], serde_json::json!(["sites", "market"]));
    assert_eq!(received["covers_sites"], serde_json::json!(["farm"]));
    assert!(received["sites"].as_array().unwrap().iter().all(|s| s["site"] == "farm"));

    // The unreachable one: every attempt made, then logged as failed.
    let r = record("offline");
    assert_eq!((r["status"].as_str(), r["attempts"].as_u64()), (Some("failed"), Some(4)), "{r}");
    assert!(r["error"].as_str().unwrap().starts_with("unreachable"), "{r}");

    // MQTT: one bundle per site, on its topic, holding only that site.
    let published = wait_for("both MQTT bundles", Duration::from_secs(10), || async {
        let got = mqtt.lock().unwrap().clone();
        (got.len() >= 2).then_some(got)
    })
    .await;
    let mut topics: Vec<&str> = published.iter().map(|(t, _)| t.as_str()).collect();
    topics.sort();
    assert_eq!(topics, ["fl/v1/farm/brain", "fl/v1/solar/brain"]);
    for (topic, body) in &published {
        let bundle: Value = serde_json::from_slice(body).unwrap();
        assert_valid(&validator, &bundle, topic);
        let site = topic.split('/').nth(2).unwrap();
        assert_eq!(bundle["covers_sites"], serde_json::json!([site]));
        let r = records.iter().find(|r| r["target"] == topic.as_str()).unwrap();
        assert_eq!(r["sha256"], brain::deliver::sha256_hex(body));
    }

    // Built now rather than stored: one site's, the same shape.
    let resp = http
        .get(format!("http://{}/api/v1/brain/indicators?date={date}&site=farm", running.http_addr))
        .send()
        .await
        .unwrap();
    let live: Value = resp.json().await.unwrap();
    assert_valid(&validator, &live, "the farm's bundle");
    assert_eq!(live["covers_sites"], serde_json::json!(["farm"]));
    let earlier = date.previous_day().unwrap();
    let resp =
        http.get(format!("http://{}/api/v1/brain/indicators?date={earlier}", running.http_addr)).send().await.unwrap();
    assert_eq!(resp.headers()["x-fieldline-bundle"], "live");
    assert_valid(&validator, &resp.json().await.unwrap(), "a day before any reading");
    let schema = common::get_json(&http, &format!("http://{}/api/v1/brain/schema", running.http_addr)).await;
    assert_eq!(schema["$id"], "https://fieldline.example/schemas/brain-bundle.v1.json");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_short_by_a_restart_is_made_after_it() {
    let _ = tracing_subscriber::fmt().with_env_filter("warn").with_test_writer().try_init();
    let (date, midnight) = yesterday();
    // The recipient's port, reserved now, listened on only after the restart.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = reserved.local_addr().unwrap();
    drop(reserved);
    let dir = tempfile::tempdir().unwrap();
    let patient = || BrainConfig {
        attempts: 1000,
        retry_initial_ms: 100,
        ..brain_config(vec![recipient("brain", addr, "k", &Group::ALL, &[])])
    };
    let running = server::start(config_in(dir.path(), patient())).await.unwrap();
    let http = reqwest::Client::new();
    write_yesterday(&http, running.http_addr, midnight).await;
    // Built and stored (the MQTT records say so), the webhook still retrying.
    wait_for("the bundle", Duration::from_secs(60), || async {
        deliveries(&http, running.http_addr).await.iter().any(|r| r["channel"] == "mqtt").then_some(())
    })
    .await;
    assert!(deliveries(&http, running.http_addr).await.iter().all(|r| r["channel"] == "mqtt"));
    running.shutdown().await.unwrap();

    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let receiver = start_receiver(listener, "k", 0).await;
    let running = server::start(config_in(dir.path(), patient())).await.unwrap();
    let records = wait_for("the webhook delivery", Duration::from_secs(60), || async {
        let records = deliveries(&http, running.http_addr).await;
        records.iter().any(|r| r["channel"] == "webhook").then_some(records)
    })
    .await;
    let webhook: Vec<&Value> = records.iter().filter(|r| r["channel"] == "webhook").collect();
    assert_eq!(webhook.len(), 1);
    assert_eq!(webhook[0]["status"], "delivered");
    assert_eq!(webhook[0]["id"], format!("{date}/brain"));
    // MQTT was published once, before the restart, and not again.
    assert_eq!(records.iter().filter(|r| r["channel"] == "mqtt").count(), 2);
    let accepted = receiver.seen.lock().unwrap().accepted.clone();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].0, format!("{date}/brain"));
    running.shutdown().await.unwrap();
}

#[test]
fn recipients_that_cannot_work_are_refused_at_start() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let bad = |r: Recipient| brain_config(vec![r]).check().unwrap_err().to_string();
    let ok = recipient("a", addr, "k", &[Group::Plots], &[]);
    assert!(brain_config(vec![ok.clone()]).check().is_ok());
    assert!(bad(Recipient { secret: None, ..ok.clone() }).contains("secret"));
    assert!(bad(Recipient { groups: vec![], ..ok.clone() }).contains("groups"));
    assert!(bad(Recipient { url: "ftp://x".into(), ..ok.clone() }).contains("https://"));
    assert!(
        bad(Recipient { secret: None, secret_env: Some("FIELDLINE_TEST_UNSET_BRAIN_KEY".into()), ..ok.clone() })
            .contains("FIELDLINE_TEST_UNSET_BRAIN_KEY")
    );
    let twice = BrainConfig { recipients: vec![ok.clone(), ok.clone()], ..BrainConfig::default() };
    assert!(twice.check().unwrap_err().to_string().contains("twice"));
    let late = BrainConfig { build_after: "25:00".into(), ..BrainConfig::default() };
    assert!(late.check().is_err());
    // Unknown keys in the section are refused too.
    let toml = "[brain]\nenabled = true\nrecipients_typo = []\n";
    assert!(Config::parse(toml).is_err());
}

/// Six simulated days of the `heze` scenario in late April (wind, PV, met, peony plots in
/// bloom, pest traps, NWP, injected faults): each day's bundle, for every site and for each
/// site alone, matches the schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bundle_of_simulated_days_matches_the_schema() {
    let validator = validator();
    let dir = tempfile::tempdir().unwrap();
    let running =
        server::start(config_in(dir.path(), BrainConfig { enabled: false, ..BrainConfig::default() })).await.unwrap();
    let start = Date::from_calendar_date(2026, time::Month::April, 20).unwrap();
    let start_s = start.midnight().assume_offset(HEZE).unix_timestamp();
    let end_s = start_s + 6 * 86_400;
    let scenario = fieldline_sim::Scenario::load("heze").unwrap();
    let options = fieldline_sim::SimOptions { seed: 7, start: start_s, end: Some(end_s), faults: true };
    let sim = fieldline_sim::Simulation::new(&scenario, &options).unwrap();
    let http_options = fieldline_sim::live::HttpOptions {
        url: format!("http://{}", running.http_addr),
        token: None,
        concurrency: 2,
        batch_bytes: 4 << 20,
        gzip: false,
    };
    fieldline_sim::live::backfill_http(sim, end_s, &http_options).await.unwrap();
    let http = reqwest::Client::new();
    let get = |path: String| {
        let http = http.clone();
        async move { http.get(path).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let mut kinds_seen = std::collections::BTreeSet::new();
    for day in 1..6 {
        let date = start.checked_add(time::Duration::days(day)).unwrap();
        let whole = get(format!("http://{}/api/v1/brain/indicators?date={date}", running.http_addr)).await;
        assert_valid(&validator, &whole, &format!("the bundle of {date}"));
        for group in Group::ALL {
            if whole[group.key()].as_array().is_some_and(|a| !a.is_empty()) {
                kinds_seen.insert(group.key());
            }
        }
        for site in whole["covers_sites"].as_array().unwrap() {
            let site = site.as_str().unwrap();
            let one =
                get(format!("http://{}/api/v1/brain/indicators?date={date}&site={site}", running.http_addr)).await;
            assert_valid(&validator, &one, &format!("{site}'s bundle of {date}"));
            assert_eq!(one["covers_sites"], serde_json::json!([site]));
        }
    }
    // The simulator has plots, traps, plants and sites; market prices are not simulated.
    assert_eq!(kinds_seen.into_iter().collect::<Vec<_>>(), ["plants", "plots", "sites", "traps"]);
    running.shutdown().await.unwrap();
}
