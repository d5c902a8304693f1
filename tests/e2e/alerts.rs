//! Alerts end to end: readings written over HTTP run through the server's streaming
//! detectors; a stuck sensor and a silent device become alerts (stored, listed, published on
//! `fl/v1/{site}/alerts`, acknowledged over the API, shown in `/api/v1/devices`); a restart —
//! with the saved detector state, and again with it deleted so detectors relearn from stored
//! history — raises no burst of new alerts.

use crate::common;

use std::time::Duration;

use common::{TestServer, metric, wait_for};
use fieldline_core::time::NS_PER_SEC;
use serde_json::{Value, json};

/// Deterministic noise in [-0.5, 0.5).
fn noise(i: i64, salt: i64) -> f64 {
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (salt as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 31;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5
}

/// Minute readings of two met stations from `from` to `to` (unix s); `stuck_from`: station
/// m1's temperature freezes there; `m2_until`: station m2 stops reporting then.
fn readings(from: i64, to: i64, stuck_from: Option<i64>, m2_until: i64) -> String {
    let mut lp = String::new();
    let mut t = from - from % 60;
    while t < to {
        let i = t / 60;
        let temp = 10.0 + 6.0 * ((t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU).sin() + noise(i, 1);
        let m1 = match stuck_from {
            Some(s) if t >= s => 13.37,
            _ => temp,
        };
        lp.push_str(&format!(
            "met_station,site=t-met,device=m1 air_temp_c={m1:.3},rh_pct={:.2} {}\n",
            60.0 + 5.0 * noise(i, 2),
            t * NS_PER_SEC
        ));
        if t < m2_until {
            lp.push_str(&format!(
                "met_station,site=t-met,device=m2 air_temp_c={:.3} {}\n",
                temp + 0.3 + noise(i, 3),
                t * NS_PER_SEC
            ));
        }
        t += 60;
    }
    lp
}

async fn write(server: &TestServer, body: String) {
    let resp = server.http.post(server.url("/api/v2/write?bucket=b")).body(body).send().await.unwrap();
    assert_eq!(resp.status(), 204);
}

async fn alerts(server: &TestServer, query: &str) -> Vec<Value> {
    server.get_json(&format!("/api/v1/alerts{query}")).await["alerts"].as_array().unwrap().clone()
}

async fn wait_alerts(server: &TestServer, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let url = server.url("/api/v1/alerts");
    wait_for(what, Duration::from_secs(60), || {
        let (client, url) = (server.http.clone(), url.clone());
        let check = &check;
        async move {
            let v: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
            let list = v["alerts"].as_array()?.clone();
            check(&list).then_some(list)
        }
    })
    .await
}

/// The tests' "now": six days before the wall clock, so that every "live" reading the tests
/// write (up to four days after it) still lies in the past: the server refuses readings
/// stamped more than an hour after their arrival.
fn test_now() -> i64 {
    fieldline_core::time::now_ns() / NS_PER_SEC - 6 * 86_400
}

/// Quick ticks; readings from half an hour before the tests' `now` on count as live.
fn fast(now: i64) -> impl Fn(&mut fieldline::config::Config) {
    move |c| {
        c.alerts.tick_secs = 1;
        c.alerts.state_save_secs = 1;
        c.alerts.live_from_s = Some(now - 1800);
        c.forecast.enabled = false;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_and_silent_devices_raise_alerts_that_survive_restarts_without_bursts() {
    let dir = tempfile::tempdir().unwrap();
    let now = test_now();
    let server = TestServer::start_with(|c| {
        fast(now)(c);
        c.data_dir = dir.path().to_path_buf();
    })
    .await;
    let mut published = server.running.outbox.subscribe();

    // Five days of normal history: what the detectors learn from when they first see a device.
    write(&server, readings(now - 5 * 86_400, now - 1800, None, i64::MAX)).await;
    // Live: an hour of normal readings, then m1's temperature freezes and m2 falls silent.
    write(&server, readings(now - 1800, now + 3 * 3600, Some(now + 3600), now + 3600)).await;

    let list = wait_alerts(&server, "stuck and gap alerts", |l| {
        l.iter().any(|a| a["kind"] == "stuck" && a["device"] == "m1")
            && l.iter().any(|a| a["kind"] == "gap" && a["device"] == "m2")
    })
    .await;
    let stuck = list.iter().find(|a| a["kind"] == "stuck").unwrap().clone();
    assert_eq!(stuck["state"], "open");
    assert_eq!(stuck["field"], "air_temp_c");
    assert_eq!(stuck["evidence"]["value"], json!(13.37));
    assert!(stuck["message"].as_str().unwrap().contains("stuck"));
    // Nothing but the two faults: the learned history raised nothing.
    assert!(list.iter().all(|a| a["kind"] == "stuck" || a["kind"] == "gap"), "{list:#?}");
    assert_eq!(list.len(), 2, "one alert per condition: {list:#?}");

    let ack = server
        .http
        .post(server.url(&format!("/api/v1/alerts/{}/ack", stuck["id"].as_str().unwrap())))
        .json(&json!({"by": "farm technician"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 200);
    let acked: Value = ack.json().await.unwrap();
    assert_eq!(acked["state"], "acknowledged");
    assert_eq!(acked["acknowledged_by"], "farm technician");
    assert_eq!(alerts(&server, "?state=open").await.len(), 1);
    assert_eq!(alerts(&server, "?state=active&kind=stuck").await.len(), 1);
    let missing = server.http.post(server.url("/api/v1/alerts/nope/ack")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    let devices = server.get_json("/api/v1/devices").await;
    let m1 = devices["devices"].as_array().unwrap().iter().find(|d| d["device"] == "m1").unwrap().clone();
    assert_eq!(m1["open_alerts"], 1);
    assert!((55.0..65.0).contains(&m1["cadence_s"].as_f64().unwrap()), "{m1}");

    let msg = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(m) = published.recv().await
                && m.topic == "fl/v1/t-met/alerts"
            {
                return m;
            }
        }
    })
    .await
    .expect("alert published on fl/v1/t-met/alerts");
    let body: Value = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(body["site"], "t-met");

    // Restart with the saved detector state; readings resume normally after a pause.
    server.running.shutdown().await.unwrap();
    assert!(dir.path().join("detectors.state").exists());
    let server = TestServer::start_with(|c| {
        fast(now)(c);
        c.data_dir = dir.path().to_path_buf();
    })
    .await;
    write(&server, readings(now + 3 * 3600 + 1800, now + 5 * 3600, None, i64::MAX)).await;
    let list = wait_alerts(&server, "stuck and gap resolved after recovery", |l| {
        l.iter().all(|a| a["state"] == "resolved") && l.len() >= 2
    })
    .await;
    assert_eq!(list.len(), 2, "the restart and its pause raised nothing new: {list:#?}");

    // Lose the detector state: detectors relearn from stored history, again without a burst.
    server.running.shutdown().await.unwrap();
    std::fs::remove_file(dir.path().join("detectors.state")).unwrap();
    let server = TestServer::start_with(|c| {
        fast(now)(c);
        c.data_dir = dir.path().to_path_buf();
    })
    .await;
    write(&server, readings(now + 5 * 3600, now + 6 * 3600, None, i64::MAX)).await;
    wait_for("detector state saved again", Duration::from_secs(30), || {
        let path = dir.path().join("detectors.state");
        async move { path.exists().then_some(()) }
    })
    .await;
    let checked = wait_for("the new readings checked", Duration::from_secs(30), || {
        let (client, url) = (server.http.clone(), server.url("/metrics"));
        async move {
            let text = client.get(&url).send().await.ok()?.text().await.ok()?;
            let n = metric(&text, "fieldline_alerts_readings_checked_total")?;
            (n > 0.0).then_some(n)
        }
    })
    .await;
    assert!(checked >= 60.0, "{checked}");
    let list = alerts(&server, "").await;
    assert_eq!(list.len(), 2, "relearning from history raised no alerts: {list:#?}");
    server.running.shutdown().await.unwrap();
}

/// A webhook that refuses the first delivery: the alert arrives on the retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_a_webhook_with_retries() {
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<(u16, Value)>>> = Arc::default();
    let app = {
        let received = received.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let received = received.clone();
                async move {
                    let mut r = received.lock().unwrap();
                    // Refuse the very first delivery, accept the rest.
                    let status = if r.is_empty() { 503 } else { 200 };
                    r.push((status, body));
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let now = test_now();
    let server = TestServer::start_with(|c| {
        fast(now)(c);
        c.alerts.webhook_url = Some(hook);
    })
    .await;
    write(&server, readings(now - 4 * 86_400, now - 1800, None, i64::MAX)).await;
    write(&server, readings(now - 1800, now + 3 * 3600, Some(now + 3600), i64::MAX)).await;
    let delivered = wait_for("the alert delivered on retry", Duration::from_secs(60), || {
        let received = received.clone();
        async move {
            let r = received.lock().unwrap();
            let accepted = r.iter().find(|(status, body)| *status == 200 && body["kind"] == "stuck")?;
            Some((r.len(), accepted.1.clone()))
        }
    })
    .await;
    assert!(delivered.0 >= 2, "the refused delivery was retried");
    assert_eq!(delivered.1["device"], "m1");
    assert_eq!(delivered.1["state"], "open");
    server.running.shutdown().await.unwrap();
}

/// Ten-minute soil temperature of three plots from `from` to `to` (unix s): one regional
/// cycle, an offset per plot and noise; plot p1 drifts from `drift_from` to −3 °C over two days.
fn plot_readings(from: i64, to: i64, drift_from: i64) -> String {
    let mut lp = String::new();
    let mut t = from - from % 600;
    while t < to {
        let day = t as f64 / 86_400.0;
        let regional = 12.0 + 3.0 * (day * std::f64::consts::TAU).sin() + 2.0 * (day / 4.0).sin();
        for (i, (plot, offset)) in [("p1", 0.0), ("p2", 0.8), ("p3", -0.7)].into_iter().enumerate() {
            let drift = if plot == "p1" && t >= drift_from {
                (-3.0 * (t - drift_from) as f64 / (2.0 * 86_400.0)).max(-3.0)
            } else {
                0.0
            };
            let value = regional + offset + 0.3 * noise(t / 600, 10 + i as i64) + drift;
            lp.push_str(&format!("peony_plot,site=t-farm,device={plot} soil_temp_c={value:.3} {}\n", t * NS_PER_SEC));
        }
        t += 600;
    }
    lp
}

/// Peer-group drift runs in the server: the drifting plot raises a `peer_drift` alert, its
/// two healthy neighbours do not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_drifting_from_its_neighbours_raises_a_peer_drift_alert() {
    let now = test_now();
    let server = TestServer::start_with(fast(now)).await;
    // A week of history to learn from, then four live days in which p1 drifts.
    write(&server, plot_readings(now - 7 * 86_400, now - 1800, i64::MAX)).await;
    write(&server, plot_readings(now - 1800, now + 4 * 86_400, now + 3600)).await;
    let list = wait_alerts(&server, "a peer drift alert", |l| l.iter().any(|a| a["kind"] == "peer_drift")).await;
    let drift: Vec<&Value> = list.iter().filter(|a| a["kind"] == "peer_drift").collect();
    assert_eq!(drift.len(), 1, "{list:#?}");
    assert_eq!(drift[0]["device"], "p1");
    assert_eq!(drift[0]["field"], "soil_temp_c");
    let message = drift[0]["message"].as_str().unwrap();
    assert!(message.contains("drifting away from its neighbours") && message.contains("usually"), "{message}");
    assert!(list.iter().all(|a| a["device"] == "p1"), "healthy plots raised nothing: {list:#?}");
    server.running.shutdown().await.unwrap();
}

/// A reading stamped in 2262 that is already in the store (written before ingest refused
/// such times) must not drag the detection clock there: before the fix every device got a
/// "no readings for 2 063 080 h" gap alert and nothing new was checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_far_future_reading_in_the_store_does_not_blind_detection() {
    let now = test_now();
    let server = TestServer::start_with(fast(now)).await;
    write(&server, readings(now - 4 * 86_400, now - 1800, None, i64::MAX)).await;
    // Ingest refuses it now...
    let far = "met_station,site=t-met,device=m3 air_temp_c=1 9223372036854000000";
    let resp = server.http.post(server.url("/api/v2/write?bucket=b")).body(far).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["details"][0]["reason"].as_str().unwrap().contains("ahead of its arrival"), "{body}");
    // ... so put it in the store directly, as an old data directory would hold it.
    let point = fieldline_core::Point::new(
        "met_station",
        vec![("site".into(), "t-met".into()), ("device".into(), "m3".into())],
        vec![("air_temp_c".into(), fieldline_core::FieldValue::Float(1.0))],
        9_223_372_036_854_000_000,
    );
    server.running.store.write_points(vec![point]).await.unwrap();
    // Live readings in which m1 freezes: detection must still check them, and m2, which keeps
    // reporting, must not be called silent.
    write(&server, readings(now - 1800, now + 3 * 3600, Some(now + 3600), i64::MAX)).await;
    let list = wait_alerts(&server, "the stuck alert", |l| l.iter().any(|a| a["kind"] == "stuck")).await;
    let gaps: Vec<&Value> = list.iter().filter(|a| a["kind"] == "gap" && a["device"] != "m3").collect();
    assert!(gaps.is_empty(), "no false gap alerts: {gaps:#?}");
    assert_eq!(list.iter().filter(|a| a["kind"] == "stuck").count(), 1, "{list:#?}");
    server.running.shutdown().await.unwrap();
}

/// Five-minute CO₂ of two greenhouse controllers, a kind nobody modelled, from `from` to `to`
/// (unix s): a daily cycle and noise; g1 reads 300 ppm high from `jump_from` to `jump_to`
/// (a burner left on).
fn greenhouse_readings(from: i64, to: i64, jump_from: i64, jump_to: i64) -> String {
    let mut lp = String::new();
    let mut t = from - from % 300;
    while t < to {
        let cycle = 450.0 + 80.0 * ((t % 86_400) as f64 / 86_400.0 * std::f64::consts::TAU).cos();
        for (i, device) in ["g1", "g2"].into_iter().enumerate() {
            let burner = if device == "g1" && (jump_from..jump_to).contains(&t) { 300.0 } else { 0.0 };
            let co2 = cycle + 20.0 * noise(t / 300, 20 + i as i64) + burner;
            lp.push_str(&format!("greenhouse,site=t-gh,device={device} co2_ppm={co2:.1} {}\n", t * NS_PER_SEC));
        }
        t += 300;
    }
    lp
}

/// A device of a kind fieldline knows nothing about still gets the generic `unusual` onset
/// score: its history raises nothing, a sustained excursion on one device is one alert from
/// its start until the value returns, and its healthy twin stays quiet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmodelled_kind_gets_one_unusual_alert_per_excursion() {
    let now = test_now();
    let server = TestServer::start_with(fast(now)).await;
    write(&server, greenhouse_readings(now - 5 * 86_400, now - 1800, i64::MAX, i64::MAX)).await;
    let (jump_from, jump_to) = (now + 3600, now + 3 * 3600);
    write(&server, greenhouse_readings(now - 1800, now + 5 * 3600, jump_from, jump_to)).await;
    let list = wait_alerts(&server, "the unusual alert, resolved", |l| {
        l.iter().any(|a| a["kind"] == "unusual" && a["state"] == "resolved")
    })
    .await;
    assert_eq!(list.len(), 1, "one alert, none from history or from g2: {list:#?}");
    let alert = &list[0];
    assert_eq!((alert["site"].as_str(), alert["device"].as_str()), (Some("t-gh"), Some("g1")), "{alert:#?}");
    assert_eq!(alert["field"], "co2_ppm");
    let unix = |field: &str| {
        let text = alert[field].as_str().unwrap_or_default();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap().unix_timestamp()
    };
    let (start, resolved) = (unix("start"), unix("resolved"));
    assert!(
        (jump_from..=jump_from + 1800).contains(&start),
        "opened {} s after the burner: {alert:#?}",
        start - jump_from
    );
    assert!(
        (jump_to - 600..=jump_to + 3600).contains(&resolved),
        "resolved {} s after it: {alert:#?}",
        resolved - jump_to
    );
    server.running.shutdown().await.unwrap();
}
