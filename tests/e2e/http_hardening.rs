//! The HTTP server under hostile or careless clients (issue 9): slow and idle connections are
//! cut off after their timeouts, the connection limit holds, HTTPS works with a private CA
//! (and plain HTTP on its port does not), pages of other origins cannot make a browser write,
//! concurrent writes are bounded, `/metrics` needs a token when tokens are on, and the
//! dashboard's session cookie works for reads but not for cross-origin writes; a token from
//! `fieldline token` works while the configuration holds only its SHA-256.

use crate::common;

use std::time::Duration;

use common::{TestServer, metric, points, wait_for};
use fieldline::config::{Config, HttpTlsConfig, Scope, TokenConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Far above every timeout configured here: only a broken server waits this long.
const UPPER_BOUND: Duration = Duration::from_secs(20);

fn tokens() -> Vec<TokenConfig> {
    vec![
        TokenConfig { token: "reader-token".into(), scope: Scope::Read, name: "analyst".into(), ..Default::default() },
        TokenConfig { token: "writer-token".into(), scope: Scope::Write, name: "gateway".into(), ..Default::default() },
    ]
}

/// Waits until the server closes `stream` (a read returns 0 or fails), at most `UPPER_BOUND`;
/// returns what was read before the close.
async fn closed_by_server(stream: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(UPPER_BOUND, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server kept the connection open; it sent {:?}", String::from_utf8_lossy(&seen));
    seen
}

/// Sends one HTTP/1.1 request on a kept-alive connection and reads its response; the status.
async fn exchange(stream: &mut TcpStream, request: &str) -> u16 {
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    let (head_end, content_length) = loop {
        let n = tokio::time::timeout(UPPER_BOUND, stream.read(&mut buf)).await.expect("a response").unwrap();
        assert!(n > 0, "connection closed before a response to {request:?}");
        response.extend_from_slice(&buf[..n]);
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap());
            break (end + 4, length);
        }
    };
    while response.len() < head_end + content_length {
        let n = tokio::time::timeout(UPPER_BOUND, stream.read(&mut buf)).await.expect("the body").unwrap();
        assert!(n > 0, "connection closed in the middle of a response");
        response.extend_from_slice(&buf[..n]);
    }
    let status_line = String::from_utf8_lossy(&response[..head_end]).lines().next().unwrap_or_default().to_string();
    status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{status_line}"))
}

const HEALTH: &str = "GET /health HTTP/1.1\r\nHost: test\r\n\r\n";

async fn metrics_text(server: &TestServer) -> String {
    server.http.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_are_cut_off_after_the_header_read_timeout() {
    let server = TestServer::start_with(|c| c.http.header_read_timeout_secs = 1).await;
    let addr = server.running.http_addr;
    // A slowloris: half a request head, then nothing.
    let mut partial = TcpStream::connect(addr).await.unwrap();
    partial.write_all(b"POST /api/v2/write HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\n").await.unwrap();
    // A connection that never sends anything.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    let sent = closed_by_server(&mut partial).await;
    assert!(!String::from_utf8_lossy(&sent).contains("204"), "the partial request was not served");
    closed_by_server(&mut silent).await;
    let text = metrics_text(&server).await;
    assert!(metric(&text, "fieldline_http_connections_timed_out_total").unwrap() >= 2.0, "{text}");
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_is_allowed_longer_than_the_header_timeout_then_closed() {
    let server = TestServer::start_with(|c| {
        c.http.header_read_timeout_secs = 1;
        c.http.idle_timeout_secs = 6;
    })
    .await;
    let mut conn = TcpStream::connect(server.running.http_addr).await.unwrap();
    assert_eq!(exchange(&mut conn, HEALTH).await, 200);
    // The scenario itself, not synchronisation: idle past the header timeout, within the idle one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(exchange(&mut conn, HEALTH).await, 200, "a kept-alive connection survives a pause between requests");
    // Then idle for good: the server closes it.
    closed_by_server(&mut conn).await;
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_limit_holds() {
    let server = TestServer::start_with(|c| c.http.max_connections = 2).await;
    let addr = server.running.http_addr;
    let mut first = TcpStream::connect(addr).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    // Each answered once, so both are accepted and held open (kept alive).
    assert_eq!(exchange(&mut first, HEALTH).await, 200);
    assert_eq!(exchange(&mut second, HEALTH).await, 200);
    // A third is closed at once, unanswered.
    let mut third = TcpStream::connect(addr).await.unwrap();
    let _ = third.write_all(HEALTH.as_bytes()).await;
    let answer = closed_by_server(&mut third).await;
    assert!(answer.is_empty(), "the third connection was served: {:?}", String::from_utf8_lossy(&answer));
    assert_eq!(
        exchange(&mut second, "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").await,
        200,
        "held connections keep working"
    );
    // A freed slot is available again.
    drop(first);
    wait_for("a connection slot freed by closing one", UPPER_BOUND, || async move {
        let mut conn = TcpStream::connect(addr).await.ok()?;
        conn.write_all(HEALTH.as_bytes()).await.ok()?;
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).await.ok()?;
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200").then_some(())
    })
    .await;
    let metrics = "GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n";
    second.write_all(metrics.as_bytes()).await.unwrap();
    let mut text = Vec::new();
    let mut buf = [0u8; 8192];
    while !String::from_utf8_lossy(&text).contains("# EOF") {
        let n = tokio::time::timeout(UPPER_BOUND, second.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0);
        text.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&text);
    assert!(metric(&text, "fieldline_http_connections_refused_total").unwrap() >= 1.0, "{text}");
    drop(second);
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_works_with_the_test_ca_and_plain_http_to_the_tls_port_fails() {
    let certs_dir = tempfile::tempdir().unwrap();
    let files = common::tls::make_certificates(certs_dir.path());
    let server = TestServer::start_with(|c| {
        c.http.tls = Some(HttpTlsConfig { cert: files.server_cert.clone(), key: files.server_key.clone() });
        c.http.header_read_timeout_secs = 1;
        c.http.tokens = tokens();
    })
    .await;
    let addr = server.running.http_addr;
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(files.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let write = https
        .post(format!("https://{addr}/api/v2/write?bucket=b&precision=s"))
        .header("Authorization", "Token writer-token")
        .header("Content-Type", "text/plain; charset=utf-8")
        .body("met_station,site=tls,device=m1 air_temp_c=7.5 1767225600\n")
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), 204);
    let query: Value = https
        .get(format!("https://{addr}/api/v1/query?measurement=met_station&field=air_temp_c"))
        .header("Authorization", "Token reader-token")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(points(&query), vec![("2026-01-01T00:00:00Z".to_string(), json!(7.5))]);
    // The session cookie is Secure over HTTPS.
    let signed_in = https
        .post(format!("https://{addr}/api/v1/session"))
        .json(&json!({"token": "reader-token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new().get(format!("http://{addr}/health")).send().await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    // A client that never starts the handshake is cut off by the header-read timeout.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    closed_by_server(&mut stalled).await;
    // A client that does not trust the CA refuses the server.
    assert!(reqwest::Client::new().get(format!("https://{addr}/health")).send().await.is_err());
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_or_bad_tls_files_stop_start_up_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = common::tls::make_certificates(dir.path());
    let start = |cert: std::path::PathBuf, key: std::path::PathBuf| {
        let data = tempfile::tempdir().unwrap();
        async move {
            let mut config: Config = common::test_config(data.path());
            config.http.tls = Some(HttpTlsConfig { cert, key });
            let result = fieldline::server::start(config).await;
            match result {
                Ok(running) => {
                    running.shutdown().await.unwrap();
                    panic!("started with bad TLS files");
                }
                Err(e) => e.to_string(),
            }
        }
    };
    let missing = dir.path().join("nope.pem");
    let e = start(missing.clone(), files.server_key.clone()).await;
    assert!(e.contains(&missing.display().to_string()) && e.contains("cert"), "{e}");
    let e = start(files.server_cert.clone(), missing.clone()).await;
    assert!(e.contains(&missing.display().to_string()) && e.contains("key"), "{e}");
    // The key file given as the certificate: no certificate in it.
    let e = start(files.server_key.clone(), files.server_key.clone()).await;
    assert!(e.contains(&files.server_key.display().to_string()) && e.contains("no PEM"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_origin_and_form_writes_are_refused_while_influxdb_writes_work() {
    let server = TestServer::start_with(|c| c.http.allowed_origins = vec!["https://ops.farm.example".into()]).await;
    let own_origin = format!("http://{}", server.running.http_addr);
    let url = server.url("/api/v2/write?bucket=b&precision=s");
    let post = |line: &str| server.http.post(&url).body(format!("{line}\n"));

    let refused = [
        (post("m,site=x f=1 1").header("Origin", "http://evil.example"), 403),
        (post("m,site=x f=2 2").header("Origin", "null"), 403),
        (post("m,site=x f=3 3").header("Sec-Fetch-Site", "cross-site"), 403),
        (post("m,site=x f=4 4").header("Content-Type", "application/x-www-form-urlencoded"), 415),
        (post("m,site=x f=5 5").header("Content-Type", "multipart/form-data; boundary=x"), 415),
        (post("m,site=x f=6 6").header("Content-Type", "text/plain").header("Origin", "http://127.0.0.1:1"), 403),
    ];
    for (request, status) in refused {
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), status);
        let body: Value = resp.json().await.unwrap();
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    }
    // Every state-changing endpoint, not only writes.
    let ack = server.http.post(server.url("/api/v1/alerts/x/ack")).header("Origin", "http://evil.example");
    assert_eq!(ack.send().await.unwrap().status(), 403);

    let accepted = [
        post("m,site=x f=10 10").header("Content-Type", "text/plain; charset=utf-8"),
        post("m,site=x f=11 11"),
        post("m,site=x f=12 12").header("Content-Type", "application/octet-stream"),
        post("m,site=x f=13 13").header("Origin", own_origin.as_str()),
        post("m,site=x f=14 14").header("Origin", "https://ops.farm.example").header("Sec-Fetch-Site", "same-site"),
    ];
    for request in accepted {
        assert_eq!(request.send().await.unwrap().status(), 204);
    }
    let stored = points(&server.get_json("/api/v1/query?measurement=m&field=f").await);
    let values: Vec<Value> = stored.into_iter().map(|(_, v)| v).collect();
    assert_eq!(values, [10.0, 11.0, 12.0, 13.0, 14.0].map(|v| json!(v)), "refused writes stored nothing");
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn influxdb_client_writes_with_a_token_and_metrics_need_one() {
    let server = TestServer::start_with(|c| c.http.tokens = tokens()).await;
    let write = server
        .http
        .post(server.url("/api/v2/write?bucket=b&org=o&precision=s"))
        .header("Authorization", "Token writer-token")
        .header("Content-Type", "text/plain; charset=utf-8")
        .header("User-Agent", "influxdb-client-go/2.14.0")
        .body("m,site=x f=1 1\n");
    assert_eq!(write.send().await.unwrap().status(), 204);
    // Constant-time comparison still tells tokens apart: near misses are refused.
    for wrong in ["writer-toke", "writer-tokenX", "Writer-token", "reader-token"] {
        let resp = server
            .http
            .post(server.url("/api/v2/write?bucket=b"))
            .header("Authorization", format!("Token {wrong}"))
            .body("m,site=x f=2 2\n")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), if wrong == "reader-token" { 403 } else { 401 }, "{wrong}");
    }
    assert_eq!(server.http.get(server.url("/metrics")).send().await.unwrap().status(), 401);
    let with_token = server.http.get(server.url("/metrics")).header("Authorization", "Bearer reader-token");
    let text = with_token.send().await.unwrap().text().await.unwrap();
    assert!(metric(&text, "fieldline_http_connections_open").is_some(), "{text}");
    assert_eq!(server.http.get(server.url("/health")).send().await.unwrap().status(), 200);
    server.running.shutdown().await.unwrap();

    let public = TestServer::start_with(|c| {
        c.http.tokens = tokens();
        c.http.public_metrics = true;
    })
    .await;
    assert_eq!(public.http.get(public.url("/metrics")).send().await.unwrap().status(), 200);
    assert_eq!(public.http.get(public.url("/api/v1/series")).send().await.unwrap().status(), 401);
    public.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_sessions_sign_in_read_write_same_origin_and_sign_out() {
    let server = TestServer::start_with(|c| c.http.tokens = tokens()).await;
    let own_origin = format!("http://{}", server.running.http_addr);
    let sign_in = |token: &str| server.http.post(server.url("/api/v1/session")).json(&json!({ "token": token })).send();

    assert_eq!(sign_in("not-a-token").await.unwrap().status(), 401);
    let reader = sign_in("reader-token").await.unwrap();
    assert_eq!(reader.status(), 200);
    let set_cookie = reader.headers()["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie} lacks {attribute}");
    }
    assert!(!set_cookie.contains("Secure"), "no Secure cookie over plain HTTP: {set_cookie}");
    assert!(!set_cookie.contains("reader-token"), "the token itself never goes in the cookie");
    let reader_cookie = set_cookie.split(';').next().unwrap().to_string();

    let get = |path: &str, cookie: &str| server.http.get(server.url(path)).header("Cookie", cookie).send();
    assert_eq!(get("/api/v1/series", &reader_cookie).await.unwrap().status(), 200);
    assert_eq!(get("/metrics", &reader_cookie).await.unwrap().status(), 200);
    let who: Value = get("/api/v1/session", &reader_cookie).await.unwrap().json().await.unwrap();
    assert_eq!((who["name"].as_str(), who["via"].as_str()), (Some("analyst"), Some("session")));
    assert_eq!(get("/api/v1/series", "fieldline_session=forged").await.unwrap().status(), 401);

    let write = |cookie: &str, origin: Option<&str>| {
        let mut request = server.http.post(server.url("/api/v2/write?bucket=b")).header("Cookie", cookie);
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        request.body("m,site=x f=1 1\n").send()
    };
    // A read session cannot write.
    assert_eq!(write(&reader_cookie, Some(&own_origin)).await.unwrap().status(), 403);
    let writer = sign_in("writer-token").await.unwrap();
    let writer_cookie = writer.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    // CSRF: the cookie is not accepted for writes from another origin, nor without an origin.
    assert_eq!(write(&writer_cookie, Some("http://evil.example")).await.unwrap().status(), 403);
    assert_eq!(write(&writer_cookie, None).await.unwrap().status(), 403);
    assert_eq!(write(&writer_cookie, Some(&own_origin)).await.unwrap().status(), 204);

    // Sign out: the cookie stops working.
    let out = server
        .http
        .delete(server.url("/api/v1/session"))
        .header("Cookie", &reader_cookie)
        .header("Origin", &own_origin)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(get("/api/v1/series", &reader_cookie).await.unwrap().status(), 401);
    assert_eq!(get("/api/v1/series", &writer_cookie).await.unwrap().status(), 200, "other sessions go on");
    server.running.shutdown().await.unwrap();
}

/// Starts a write whose body (`len` bytes declared) is sent only in part, so the request holds
/// whatever it holds while its body arrives.
async fn partial_write(addr: std::net::SocketAddr, len: usize) -> TcpStream {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /api/v2/write?bucket=b&precision=s HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: {len}\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.write_all(b"m,site=held f=1 ").await.unwrap();
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_wait_for_a_slot_before_their_body_is_read() {
    let server = TestServer::start_with(|c| c.http.max_concurrent_writes = 1).await;
    let addr = server.running.http_addr;
    let rest = b"1\n";
    let mut held = partial_write(addr, "m,site=held f=1 ".len() + rest.len()).await;
    // The slot is taken by the held write (its body is being read) before a second write
    // starts (else the second could take it first and the held one be the one waiting).
    let s = &server;
    wait_for("the held write holding the write slot", UPPER_BOUND, || async move {
        let text = metrics_text(s).await;
        (metric(&text, "fieldline_http_writes_in_progress") == Some(1.0)).then_some(())
    })
    .await;
    // A second write waits.
    let second = {
        let (client, url) = (server.http.clone(), server.url("/api/v2/write?bucket=b&precision=s"));
        tokio::spawn(async move { client.post(url).body("m,site=second f=2 2\n").send().await.unwrap().status() })
    };
    let s = &server;
    wait_for("the second write waiting for the write slot", UPPER_BOUND, || async move {
        let text = metrics_text(s).await;
        (metric(&text, "fieldline_http_writes_waiting") == Some(1.0)).then_some(())
    })
    .await;
    assert!(!second.is_finished());
    held.write_all(rest).await.unwrap();
    let mut response = [0u8; 12];
    held.read_exact(&mut response).await.unwrap();
    assert_eq!(&response, b"HTTP/1.1 204");
    assert_eq!(second.await.unwrap(), 204);
    let stored = server.get_json("/api/v1/query?measurement=m&field=f").await;
    assert_eq!(points(&stored).len(), 2);
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_body_gets_408_and_frees_its_write_slot() {
    let server = TestServer::start_with(|c| {
        c.http.max_concurrent_writes = 1;
        c.http.body_read_timeout_secs = 1;
    })
    .await;
    let mut held = partial_write(server.running.http_addr, 1000).await;
    let answer = String::from_utf8_lossy(&closed_by_server(&mut held).await).to_string();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let resp = server.http.post(server.url("/api/v2/write?bucket=b&precision=s")).body("m,site=x f=1 1\n");
    assert_eq!(resp.send().await.unwrap().status(), 204, "the slot is free again");
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_accepting_and_answers_the_writes_in_flight() {
    let server = TestServer::start_with(|c| c.http.max_concurrent_writes = 1).await;
    let addr = server.running.http_addr;
    let rest = b"1\n";
    let mut held = partial_write(addr, "m,site=held f=1 ".len() + rest.len()).await;
    // A second write waiting for the slot shows the first is in flight (reading its body).
    let second = {
        let (client, url) = (server.http.clone(), server.url("/api/v2/write?bucket=b&precision=s"));
        tokio::spawn(async move { client.post(url).body("m,site=second f=2 2\n").send().await.unwrap().status() })
    };
    let s = &server;
    wait_for("a write in flight and one waiting", UPPER_BOUND, || async move {
        let text = metrics_text(s).await;
        (metric(&text, "fieldline_http_writes_waiting") == Some(1.0)).then_some(())
    })
    .await;
    let TestServer { running, dir, .. } = server;
    let shutdown = tokio::spawn(running.shutdown());
    wait_for("the listener closed", UPPER_BOUND, || async move { TcpStream::connect(addr).await.err().map(|_| ()) })
        .await;
    held.write_all(rest).await.unwrap();
    let answer = String::from_utf8_lossy(&closed_by_server(&mut held).await).to_string();
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    assert_eq!(second.await.unwrap(), 204, "the waiting write is answered too");
    shutdown.await.unwrap().unwrap();
    // Durable: both are in the files the shutdown wrote, read by a fresh server.
    let again = TestServer::start_with(|c| c.data_dir = dir.path().to_path_buf()).await;
    let stored = again.get_json("/api/v1/query?measurement=m&field=f").await;
    assert_eq!(points(&stored).len(), 2);
    again.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_made_by_fieldline_token_works_while_the_config_holds_only_its_hash() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fieldline"))
        .args(["token", "--name", "scada-bridge", "--scope", "write"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    let token = printed.lines().find(|l| !l.starts_with('#')).unwrap().trim().to_string();
    assert_eq!(token.len(), 64, "{printed}");
    let toml_start = printed.find("tokens = [").unwrap();
    let section = format!("[http]\n{}", &printed[toml_start..]);
    assert!(!section.contains(&token), "the config entry must not hold the token: {section}");
    let parsed = Config::parse(&section).unwrap();
    assert_eq!(parsed.http.tokens[0].name, "scada-bridge");
    assert_eq!(parsed.http.tokens[0].scope, Scope::Write);

    let server = TestServer::start_with(|c| c.http.tokens = parsed.http.tokens.clone()).await;
    let write = |auth: String| {
        server
            .http
            .post(server.url("/api/v2/write?bucket=b&precision=s"))
            .header("Authorization", auth)
            .body("m,site=x f=1 1\n")
            .send()
    };
    assert_eq!(write(format!("Token {token}")).await.unwrap().status(), 204);
    let digest = parsed.http.tokens[0].token_sha256.clone().unwrap();
    assert_eq!(write(format!("Token {digest}")).await.unwrap().status(), 401, "the hash is not the token");
    server.running.shutdown().await.unwrap();

    let mut both = Config::default();
    both.http.tokens = vec![TokenConfig {
        token: "x".into(),
        token_sha256: Some(digest.clone()),
        scope: Scope::Read,
        ..Default::default()
    }];
    assert!(both.http.check().unwrap_err().contains("both"));
    both.http.tokens[0].token.clear();
    both.http.tokens[0].token_sha256 = Some("abc".into());
    assert!(both.http.check().unwrap_err().contains("64 hex digits"));
}
