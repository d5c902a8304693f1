//! What InfluxDB clients and gateways expect of a server, over real HTTP: `/ping` (204 with
//! version headers), `/health` and `/ready` in InfluxDB's shapes, InfluxDB 1's `/write?db=`
//! with Basic or `u`/`p` credentials and v1 precisions, parameters meant for another server
//! tolerated, and errors carrying InfluxDB's `{"code","message"}`.

use crate::common;

use common::TestServer;
use serde_json::Value;

async fn stored(server: &TestServer, field: &str) -> Vec<Value> {
    let url = server.url(&format!("/api/v1/query?measurement=plant&field={field}"));
    let v: Value = server.http.get(url).send().await.unwrap().json().await.unwrap();
    v["series"].as_array().unwrap().iter().flat_map(|s| s["points"].as_array().unwrap().clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_health_and_ready_look_like_influxdb() {
    let server = TestServer::start().await;
    for method in [reqwest::Method::GET, reqwest::Method::HEAD] {
        let r = server.http.request(method, server.url("/ping")).send().await.unwrap();
        assert_eq!(r.status(), 204);
        assert_eq!(r.headers()["x-influxdb-build"], "fieldline");
        assert!(r.headers().contains_key("x-influxdb-version"));
    }
    let health: Value = server.http.get(server.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!((health["name"].as_str(), health["status"].as_str()), (Some("fieldline"), Some("pass")), "{health}");
    assert!(health["checks"].is_array() && health["message"].is_string(), "{health}");
    let r = server.http.get(server.url("/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ready: Value = r.json().await.unwrap();
    assert_eq!(ready["status"], "ready", "{ready}");
    assert!(ready["started"].as_str().unwrap().ends_with('Z') && ready["up"].as_str().unwrap().ends_with('s'));
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_write_takes_db_rp_and_v1_precisions_and_ignores_foreign_parameters() {
    let server = TestServer::start().await;
    // Telegraf's v1 output: db, rp, precision, consistency; minutes are a v1 precision.
    let r = server
        .http
        .post(server.url("/write?db=heze&rp=autogen&precision=m&consistency=any"))
        .body("plant,site=s,device=meter power_mw=12.5 29627160\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    assert_eq!(stored(&server, "power_mw").await, vec![serde_json::json!(["2026-05-01T10:00:00Z", 12.5])]);
    // v2 with parameters of some other server's dialect.
    let r = server
        .http
        .post(server.url("/api/v2/write?bucket=b&org=o&orgID=1&precision=s&unknown_flag=1"))
        .body("plant,site=s,device=meter capacity_mw=50 1777629600\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(stored(&server, "capacity_mw").await.len(), 1);
    // A bad line: 400 with InfluxDB's code and message, and fieldline's details.
    let r = server.http.post(server.url("/write?db=heze")).body("plant,site=s power_mw=\n").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "invalid", "{body}");
    assert!(body["message"].as_str().unwrap().contains("rejected") && body["details"][0]["line"] == 1, "{body}");
    let r = server.http.post(server.url("/write?precision=d")).body("plant,site=s v=1 1\n").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("precision"), "{body}");
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_credentials_are_basic_auth_or_u_and_p_with_the_token_as_password() {
    let server = TestServer::start_with(|c| {
        c.http.tokens = vec![
            fieldline::config::TokenConfig {
                token: "gateway-token".into(),
                scope: fieldline::config::Scope::Write,
                name: "gateway".into(),
                ..Default::default()
            },
            fieldline::config::TokenConfig {
                token: "analyst-token".into(),
                scope: fieldline::config::Scope::Read,
                name: "analyst".into(),
                ..Default::default()
            },
        ];
    })
    .await;
    let line = "plant,site=s,device=meter power_mw=1 1777629600\n";
    let post = |path: &str| server.http.post(server.url(path)).body(line);

    let r = post("/write?db=heze&precision=s").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unauthorized", "{body}");
    let r = post("/write?db=heze&precision=s").basic_auth("telegraf", Some("gateway-token")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = post("/write?db=heze&precision=s&u=nodered&p=gateway-token").send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = post("/write?db=heze&precision=s&u=nodered&p=wrong").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = post("/write?db=heze&precision=s").basic_auth("x", Some("analyst-token")).send().await.unwrap();
    assert_eq!(r.status(), 403, "a read token cannot write");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "forbidden", "{body}");
    // The v2 path takes the same Basic credentials (some gateways only do Basic).
    let r = post("/api/v2/write?bucket=b&precision=s").basic_auth("gw", Some("gateway-token")).send().await.unwrap();
    assert_eq!(r.status(), 204);
    // Health checks need no token: load balancers probe them.
    assert_eq!(server.http.get(server.url("/ping")).send().await.unwrap().status(), 204);
    server.running.shutdown().await.unwrap();
}
