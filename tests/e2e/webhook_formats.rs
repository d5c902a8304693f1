//! Alerts delivered where operators live: a stuck met-station sensor's alert reaches a WeCom,
//! a DingTalk and a Feishu group robot and an Alertmanager, each emulated over real HTTP by a
//! receiver that checks what the real one checks (DingTalk's and Feishu's signatures) and
//! answers as the real one does. DingTalk refuses the first request the way it does (HTTP 200,
//! `errcode` 310000), so the alert must be sent again; a receiver whose severity floor is above
//! the alert's gets nothing.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Query;
use axum::routing::post;
use base64::Engine;
use common::{TestServer, wait_for};
use fieldline::alerts::formats::{Language, WebhookFormat};
use fieldline::alerts::{Severity, WebhookConfig};
use serde_json::{Value, json};

type Log = Arc<Mutex<Vec<(String, Value)>>>;

fn hmac_b64(key: &[u8], message: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    base64::engine::general_purpose::STANDARD.encode(ring::hmac::sign(&key, message).as_ref())
}

/// The four receivers on one port; every request they accept is logged as (path, body).
async fn receivers() -> (String, Log) {
    let log: Log = Arc::default();
    let dingtalk_calls = Arc::new(Mutex::new(0));
    let app = axum::Router::new()
        .route(
            "/wecom/send",
            post({
                let log = log.clone();
                move |axum::Json(body): axum::Json<Value>| async move {
                    log.lock().unwrap().push(("wecom".into(), body));
                    axum::Json(json!({"errcode": 0, "errmsg": "ok"}))
                }
            }),
        )
        .route(
            "/dingtalk/robot/send",
            post({
                let log = log.clone();
                move |Query(q): Query<HashMap<String, String>>, axum::Json(body): axum::Json<Value>| async move {
                    let mut calls = dingtalk_calls.lock().unwrap();
                    *calls += 1;
                    if *calls == 1 {
                        return axum::Json(json!({"errcode": 310000, "errmsg": "sign not match (first call refused)"}));
                    }
                    let ts = q.get("timestamp").cloned().unwrap_or_default();
                    let expected = hmac_b64(b"SEC-ding", format!("{ts}\nSEC-ding").as_bytes());
                    if q.get("sign") != Some(&expected) || q.get("access_token").map(String::as_str) != Some("tok") {
                        return axum::Json(json!({"errcode": 310000, "errmsg": "sign not match"}));
                    }
                    log.lock().unwrap().push(("dingtalk".into(), body));
                    axum::Json(json!({"errcode": 0, "errmsg": "ok"}))
                }
            }),
        )
        .route(
            "/feishu/hook",
            post({
                let log = log.clone();
                move |axum::Json(body): axum::Json<Value>| async move {
                    let ts = body["timestamp"].as_str().unwrap_or_default().to_string();
                    let expected = hmac_b64(format!("{ts}\nSEC-fei").as_bytes(), b"");
                    if body["sign"].as_str() != Some(expected.as_str()) {
                        return axum::Json(
                            json!({"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}),
                        );
                    }
                    log.lock().unwrap().push(("feishu".into(), body));
                    axum::Json(json!({"code": 0, "msg": "success"}))
                }
            }),
        )
        .route(
            "/am/api/v2/alerts",
            post({
                let log = log.clone();
                move |axum::Json(body): axum::Json<Value>| async move {
                    log.lock().unwrap().push(("alertmanager".into(), body));
                    axum::http::StatusCode::OK
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, log)
}

fn hook(url: String, format: WebhookFormat, secret: Option<&str>, min_severity: Severity) -> WebhookConfig {
    WebhookConfig {
        url,
        format,
        secret: secret.map(str::to_string),
        secret_env: None,
        language: Language::Zh,
        min_severity,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_sensor_reaches_wecom_dingtalk_feishu_and_alertmanager() {
    let (base, log) = receivers().await;
    let now = fieldline_core::time::now_ns() / 1_000_000_000 - 6 * 86_400;
    let server = TestServer::start_with(|c| {
        c.alerts.live_from_s = Some(now - 1800);
        c.alerts.tick_secs = 1;
        c.alerts.state_save_secs = 1;
        c.forecast.enabled = false;
        c.alerts.webhooks = vec![
            hook(format!("{base}/wecom/send?key=k"), WebhookFormat::Wecom, None, Severity::Info),
            hook(
                format!("{base}/dingtalk/robot/send?access_token=tok"),
                WebhookFormat::Dingtalk,
                Some("SEC-ding"),
                Severity::Info,
            ),
            hook(format!("{base}/feishu/hook"), WebhookFormat::Feishu, Some("SEC-fei"), Severity::Info),
            hook(format!("{base}/am/api/v2/alerts"), WebhookFormat::Alertmanager, None, Severity::Info),
            // Stuck sensors are warnings: this receiver wants critical only.
            hook(format!("{base}/wecom/send?key=critical-only"), WebhookFormat::Wecom, None, Severity::Critical),
        ];
    })
    .await;
    for body in [
        common::stuck_met_station(now - 4 * 86_400, now - 1800, i64::MAX),
        common::stuck_met_station(now - 1800, now + 3 * 3600, now + 3600),
    ] {
        let resp = server.http.post(server.url("/api/v2/write?bucket=b")).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 204);
    }
    let got = wait_for("the stuck alert at all four receivers", Duration::from_secs(60), || {
        let log = log.clone();
        async move {
            let log = log.lock().unwrap().clone();
            let kinds: std::collections::BTreeSet<&str> = log.iter().map(|(k, _)| k.as_str()).collect();
            (kinds.len() == 4).then_some(log)
        }
    })
    .await;
    let first = |kind: &str| got.iter().find(|(k, _)| k == kind).map(|(_, b)| b.clone()).unwrap();
    let wecom = first("wecom");
    let text = wecom["markdown"]["content"].as_str().unwrap();
    assert_eq!(wecom["msgtype"], "markdown");
    assert!(
        text.contains("t-met/m1：air_temp_c 长时间停在 13.4（传感器故障？）") && text.contains("[告警·警告]"),
        "{text}"
    );
    let ding = first("dingtalk");
    assert!(ding["markdown"]["title"].as_str().unwrap().contains("t-met/m1"), "{ding}");
    assert!(first("feishu")["content"]["text"].as_str().unwrap().contains("长时间停在"));
    let am = first("alertmanager");
    assert_eq!(am[0]["labels"]["alertname"], "fieldline_stuck");
    assert_eq!(
        (am[0]["labels"]["site"].as_str(), am[0]["labels"]["severity"].as_str()),
        (Some("t-met"), Some("warning"))
    );
    // One WeCom delivery: the critical-only receiver (same path, other key) got nothing.
    assert_eq!(got.iter().filter(|(k, _)| k == "wecom").count(), 1, "{got:?}");
    server.running.shutdown().await.unwrap();
}

/// A robot that must sign without its secret stops start-up, naming the variable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_robot_secret_stops_start_up() {
    let data = tempfile::tempdir().unwrap();
    let mut config = common::test_config(data.path());
    let mut dingtalk = hook(
        "https://oapi.dingtalk.com/robot/send?access_token=t".into(),
        WebhookFormat::Dingtalk,
        None,
        Severity::Info,
    );
    dingtalk.secret_env = Some("FIELDLINE_TEST_NO_SUCH_SECRET".into());
    config.alerts.webhooks = vec![dingtalk];
    let error = fieldline::server::start(config).await.expect_err("start-up refused").to_string();
    assert!(error.contains("FIELDLINE_TEST_NO_SUCH_SECRET"), "{error}");
}
