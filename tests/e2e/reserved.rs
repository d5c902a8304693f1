//! The measurements fieldline writes itself (`forecast`, `forecast_accuracy`, `_alert`,
//! `_deadletter`) cannot be forged (issue 9, finding 3): a forecast for dispatch published
//! anonymously on `fl/v1/lp`, by an ordinary MQTT user or with an ordinary write token is
//! dead-lettered and never served; a user or token given `write_reserved` may write it.

use crate::common;

use common::{TestServer, mosquitto_pub};
use fieldline::config::{Scope, TokenConfig};
use fieldline_core::time::NS_PER_SEC;
use fieldline_ingest::sources::mqtt_endpoint::UserConfig;
use serde_json::Value;

/// The forged forecast of the finding: issued "in 2099", for an hour from now, 999 MW.
fn forged_forecast(p50_mw: f64) -> String {
    let slot_ns = (fieldline_core::time::now_ns() / NS_PER_SEC + 3600) * NS_PER_SEC;
    format!(
        "forecast,site=t-wind,horizon=short_term,issued=2099-01-01T00:00:00Z \
         p50_mw={p50_mw},p10_mw={p50_mw},p90_mw={p50_mw} {slot_ns}"
    )
}

async fn served_forecast(server: &TestServer, token: &str) -> (u16, Value) {
    let resp = server
        .http
        .get(server.url("/api/v1/forecasts?site=t-wind&horizon=short_term"))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// GET `path` with the read token.
async fn get(server: &TestServer, path: &str) -> Value {
    let resp = server.http.get(server.url(path)).header("Authorization", "Token reader").send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

async fn dead_letters(server: &TestServer) -> Vec<Value> {
    get(server, "/api/v1/deadletters?limit=100").await["deadletters"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_forecasts_and_alerts_are_dead_lettered_unless_the_sender_has_the_right() {
    let token = |token: &str, scope, write_reserved| TokenConfig {
        token: token.into(),
        scope,
        name: token.into(),
        write_reserved,
        ..Default::default()
    };
    let user = |name: &str, write_reserved| UserConfig {
        username: name.into(),
        password: Some(format!("{name}-pw")),
        write_reserved,
        ..Default::default()
    };
    let server = TestServer::start_with(|c| {
        c.forecast.enabled = false;
        c.alerts.enabled = false;
        c.http.tokens = vec![
            token("reader", Scope::Read, false),
            token("writer", Scope::Write, false),
            token("importer", Scope::Write, true),
        ];
        c.mqtt.users = vec![user("gateway", false), user("forecaster", true)];
        c.mqtt.allow_anonymous = Some(true);
    })
    .await;
    let port = server.mqtt_port();

    // Anonymous and an ordinary user, over MQTT line protocol: acknowledged, dead-lettered.
    mosquitto_pub(port, "fl/v1/lp", &forged_forecast(999.0), &[]);
    mosquitto_pub(port, "fl/v1/lp", &forged_forecast(998.0), &["-u", "gateway", "-P", "gateway-pw"]);
    let alert = "_alert,site=t-wind,device=wt01,kind=gap state=\"resolved\"";
    mosquitto_pub(port, "fl/v1/lp", alert, &[]);
    // An ordinary write token over HTTP: 400 naming the reason, nothing written.
    let resp = server
        .http
        .post(server.url("/api/v2/write?bucket=b"))
        .header("Authorization", "Token writer")
        .body(forged_forecast(997.0))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body.to_string().contains("reserved"), "{body}");

    let (status, body) = served_forecast(&server, "reader").await;
    assert_eq!(status, 404, "a forged forecast was served: {body}");
    let letters = dead_letters(&server).await;
    let reserved = letters.iter().filter(|d| d["reason"].as_str().unwrap_or("").contains("reserved")).count();
    assert_eq!(reserved, 4, "{letters:#?}");
    let stored_alerts = get(&server, "/api/v1/series?measurement=_alert").await;
    assert_eq!(stored_alerts["series"].as_array().map(Vec::len), Some(0), "{stored_alerts}");

    // Given the right explicitly: a user over MQTT, then a token over HTTP.
    mosquitto_pub(port, "fl/v1/lp", &forged_forecast(42.0), &["-u", "forecaster", "-P", "forecaster-pw"]);
    let (status, body) = served_forecast(&server, "reader").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["points"][0]["p50_mw"], 42.0);
    let resp = server
        .http
        .post(server.url("/api/v2/write?bucket=b"))
        .header("Authorization", "Token importer")
        .body(forged_forecast(43.0))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let (_, body) = served_forecast(&server, "reader").await;
    assert_eq!(body["points"][0]["p50_mw"], 43.0);
    assert_eq!(dead_letters(&server).await.len(), letters.len(), "nothing more was refused");
    server.running.shutdown().await.unwrap();
}
