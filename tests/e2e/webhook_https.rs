//! Alert webhooks over HTTPS: a stuck sensor's alert is POSTed to a webhook receiver served
//! with rustls and a private CA that fieldline trusts through `[alerts] webhook_ca`; the
//! receiver gets the alert's JSON. A `webhook_ca` that cannot be read stops start-up.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestServer, wait_for};
use fieldline_core::time::NS_PER_SEC;
use serde_json::Value;
use tower::ServiceExt;

/// An HTTPS server (rustls, the test CA's server certificate) recording every JSON POSTed to `/hook`.
async fn https_receiver(files: &common::tls::TlsFiles) -> (String, Arc<Mutex<Vec<Value>>>) {
    use rustls_pki_types::pem::PemObject;
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(&files.server_cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_file(&files.server_key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let app = {
        let received = received.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let received = received.clone();
                async move {
                    received.lock().unwrap().push(body);
                    axum::http::StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    app.clone().oneshot(request.map(axum::body::Body::new))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (url, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_an_https_webhook_trusted_through_webhook_ca() {
    let certs = tempfile::tempdir().unwrap();
    let files = common::tls::make_certificates(certs.path());
    let (url, received) = https_receiver(&files).await;
    // Six days in the past, because readings more than an hour ahead of the clock are refused;
    // `live_from_s` makes the alert job treat that window as live.
    let now = fieldline_core::time::now_ns() / NS_PER_SEC - 6 * 86_400;
    let server = TestServer::start_with(|c| {
        c.alerts.live_from_s = Some(now - 1800);
        c.alerts.tick_secs = 1;
        c.alerts.state_save_secs = 1;
        c.forecast.enabled = false;
        c.alerts.webhook_url = Some(url);
        c.alerts.webhook_ca = Some(files.ca_cert.clone());
    })
    .await;
    for body in [
        common::stuck_met_station(now - 4 * 86_400, now - 1800, i64::MAX),
        common::stuck_met_station(now - 1800, now + 3 * 3600, now + 3600),
    ] {
        let resp = server.http.post(server.url("/api/v2/write?bucket=b")).body(body).send().await.unwrap();
        assert_eq!(resp.status(), 204);
    }
    let alert = wait_for("the stuck alert at the HTTPS webhook", Duration::from_secs(60), || {
        let received = received.clone();
        async move { received.lock().unwrap().iter().find(|a| a["kind"] == "stuck").cloned() }
    })
    .await;
    assert_eq!(alert["device"], "m1");
    assert_eq!(alert["site"], "t-met");
    assert_eq!(alert["state"], "open");
    assert_eq!(alert["field"], "air_temp_c");
    server.running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_webhook_ca_stops_start_up_naming_the_file() {
    let data = tempfile::tempdir().unwrap();
    let mut config = common::test_config(data.path());
    let missing = data.path().join("no-such-ca.pem");
    config.alerts.webhook_url = Some("https://127.0.0.1:9/hook".into());
    config.alerts.webhook_ca = Some(missing.clone());
    let error = fieldline::server::start(config).await.expect_err("start-up refused").to_string();
    assert!(error.contains("webhook_ca") && error.contains(&missing.display().to_string()), "{error}");

    let not_pem = data.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    let mut config = common::test_config(data.path());
    config.alerts.webhook_url = Some("https://127.0.0.1:9/hook".into());
    config.alerts.webhook_ca = Some(not_pem.clone());
    let error = fieldline::server::start(config).await.expect_err("start-up refused").to_string();
    assert!(error.contains(&not_pem.display().to_string()), "{error}");
}
