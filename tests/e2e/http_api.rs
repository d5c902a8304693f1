//! The HTTP API end to end: InfluxDB v2 line-protocol writes (precision, gzip, partial
//! failure), queries with aggregation windows checked against a hand-computed example,
//! CSV output, error bodies and API tokens.

use crate::common;

use std::io::Write;

use common::{TestServer, points};
use fieldline::config::{Scope, TokenConfig};
use serde_json::{Value, json};

async fn write(server: &TestServer, query: &str, body: &str) -> reqwest::Response {
    server.http.post(server.url(&format!("/api/v2/write?{query}"))).body(body.to_string()).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_protocol_write_with_precision_and_gzip() {
    let server = TestServer::start().await;
    let resp = write(
        &server,
        "bucket=heze&precision=s",
        "met_station,site=heze-met,device=m1 air_temp_c=3.5,rh_pct=71 1767225600\n",
    )
    .await;
    assert_eq!(resp.status(), 204);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"met_station,site=heze-met,device=m1 air_temp_c=4.0 1767229200000\n").unwrap();
    let resp = server
        .http
        .post(server.url("/api/v2/write?bucket=heze&precision=ms"))
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    let v = server.get_json("/api/v1/query?measurement=met_station&field=air_temp_c").await;
    assert_eq!(
        points(&v),
        vec![("2026-01-01T00:00:00Z".to_string(), json!(3.5)), ("2026-01-01T01:00:00Z".to_string(), json!(4.0))]
    );
    let resp = server.http.post(server.url("/api/v2/write?precision=fortnights")).body("m f=1").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("precision"));
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_lines_get_400_with_line_numbers_and_good_lines_are_kept() {
    let server = TestServer::start().await;
    let body = "\
peony_plot,site=p,device=d1 soil_vwc_pct=30 1767225600000000000
peony_plot,site=p,device=d1 soil_vwc_pct= 1767225660000000000
# a comment line is fine
peony_plot,site=p,device=d1 soil_vwc_pct=140 1767225720000000000
peony_plot,site=p,device=d1 soil_vwc_pct=29.5 1767225780000000000
";
    let resp = write(&server, "bucket=b", body).await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    let lines: Vec<u64> = err["details"].as_array().unwrap().iter().map(|d| d["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![2, 4], "{err:#}");
    assert!(err["details"][1]["reason"].as_str().unwrap().contains("soil_vwc_pct"));
    let v = server.get_json("/api/v1/query?measurement=peony_plot&field=soil_vwc_pct").await;
    let values: Vec<Value> = points(&v).into_iter().map(|(_, v)| v).collect();
    assert_eq!(values, vec![json!(30.0), json!(29.5)]);
    // One dead letter for the request, listing both lines.
    let dl = server.get_json("/api/v1/deadletters?source=http").await;
    let letters = dl["deadletters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{dl:#}");
    assert_eq!(letters[0]["violation_count"], 2);
    let violations = letters[0]["violations"].as_array().unwrap();
    assert!(violations[0].as_str().unwrap().starts_with("line 2: "), "{violations:?}");
    assert!(violations[1].as_str().unwrap().starts_with("line 4: "), "{violations:?}");
    assert!(violations[1].as_str().unwrap().contains("soil_vwc_pct=140"), "the line is quoted: {violations:?}");
    server.running.shutdown().await.unwrap();
}

/// A hand-computed example: 1-minute power readings 0..=44 kW between 00:00 and 00:44 UTC.
/// 15-minute windows: [0..14] mean 7, max 14, sum 105, count 15; [15..29] mean 22;
/// [30..44] mean 37. One extra reading at 01:00 makes a fourth window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregation_windows_match_a_hand_computed_example() {
    let server = TestServer::start().await;
    let base: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
    let mut body = String::new();
    for minute in 0..45 {
        body.push_str(&format!("plant,site=heze-pv power_mw={minute} {}\n", base + minute * 60));
    }
    body.push_str(&format!("plant,site=heze-pv power_mw=100 {}\n", base + 3600));
    assert_eq!(write(&server, "bucket=b&precision=s", &body).await.status(), 204);

    let q = |agg: &str| {
        format!(
            "/api/v1/query?measurement=plant&field=power_mw&start=2026-01-01T00:00:00Z&stop=2026-01-01T02:00:00Z&every=15m&agg={agg}"
        )
    };
    let mean = points(&server.get_json(&q("mean")).await);
    assert_eq!(
        mean,
        vec![
            ("2026-01-01T00:00:00Z".to_string(), json!(7.0)),
            ("2026-01-01T00:15:00Z".to_string(), json!(22.0)),
            ("2026-01-01T00:30:00Z".to_string(), json!(37.0)),
            ("2026-01-01T01:00:00Z".to_string(), json!(100.0)),
        ]
    );
    let first_window = |agg: &str| {
        let q = q(agg);
        let server = &server;
        async move { points(&server.get_json(&q).await)[0].1.clone() }
    };
    assert_eq!(first_window("max").await, json!(14.0));
    assert_eq!(first_window("min").await, json!(0.0));
    assert_eq!(first_window("sum").await, json!(105.0));
    assert_eq!(first_window("count").await, json!(15));
    assert_eq!(first_window("last").await, json!(14.0));

    // Hourly windows in Heze time: 08:00 local holds minutes 0..44 (mean 22), 09:00 the 100.
    let local =
        points(&server.get_json("/api/v1/query?measurement=plant&field=power_mw&every=1h&agg=mean&tz=%2B08:00").await);
    assert_eq!(
        local,
        vec![
            ("2026-01-01T08:00:00+08:00".to_string(), json!(22.0)),
            ("2026-01-01T09:00:00+08:00".to_string(), json!(100.0))
        ]
    );
    // stop is exclusive and start inclusive.
    let raw = points(
        &server
            .get_json(
                "/api/v1/query?measurement=plant&field=power_mw&start=2026-01-01T00:10:00Z&stop=2026-01-01T00:12:00Z",
            )
            .await,
    );
    assert_eq!(
        raw,
        vec![("2026-01-01T00:10:00Z".to_string(), json!(10.0)), ("2026-01-01T00:11:00Z".to_string(), json!(11.0))]
    );
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_output_and_clear_errors() {
    let server = TestServer::start().await;
    let body = "pest_trap,site=heze-pests,device=t1,species=helicoverpa_armigera count=3 1767225600000000000\n";
    assert_eq!(write(&server, "bucket=b", body).await.status(), 204);
    let csv =
        server.http.get(server.url("/api/v1/query?measurement=pest_trap&field=count&format=csv")).send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        csv.text().await.unwrap(),
        "time,measurement,field,device,site,species,value\n2026-01-01T00:00:00Z,pest_trap,count,t1,heze-pests,helicoverpa_armigera,3\n"
    );
    for (path, needle) in [
        ("/api/v1/query?field=count", "measurement"),
        ("/api/v1/query?measurement=pest_trap&evry=15m", "unknown parameter"),
        ("/api/v1/query?measurement=pest_trap&every=15m&agg=median", "agg"),
        ("/api/v1/query?measurement=pest_trap&start=yesterday", "invalid time"),
        ("/api/v1/nope", "no such endpoint"),
    ] {
        let resp = server.http.get(server.url(path)).send().await.unwrap();
        assert!(resp.status().is_client_error(), "{path}: {}", resp.status());
        let body: Value = resp.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains(needle), "{path}: {body}");
    }
    let health = server.get_json("/health").await;
    assert_eq!(health["status"], "pass");
    let openapi = server.get_json("/api/v1/openapi.json").await;
    assert!(openapi["paths"]["/api/v1/query"].is_object());
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_have_read_and_write_scopes() {
    let server = TestServer::start_with(|c| {
        c.http.tokens = vec![
            TokenConfig {
                token: "reader-token".into(),
                scope: Scope::Read,
                name: "analyst".into(),
                ..Default::default()
            },
            TokenConfig {
                token: "writer-token".into(),
                scope: Scope::Write,
                name: "gateway".into(),
                ..Default::default()
            },
        ];
    })
    .await;
    let url = server.url("/api/v2/write?bucket=b");
    let send = |token: Option<&str>| {
        let mut req = server.http.post(&url).body("m f=1 1");
        if let Some(t) = token {
            req = req.header("Authorization", format!("Token {t}"));
        }
        req.send()
    };
    assert_eq!(send(None).await.unwrap().status(), 401);
    assert_eq!(send(Some("reader-token")).await.unwrap().status(), 403);
    assert_eq!(send(Some("writer-token")).await.unwrap().status(), 204);
    let q = server.url("/api/v1/query?measurement=m");
    assert_eq!(server.http.get(&q).send().await.unwrap().status(), 401);
    let ok = server.http.get(&q).header("Authorization", "Bearer reader-token").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    // Health and metrics stay open for probes.
    assert_eq!(server.http.get(server.url("/health")).send().await.unwrap().status(), 200);
    server.running.shutdown().await.unwrap();
}
