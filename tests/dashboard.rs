//! The web dashboard in a real browser: Debian's Chromium, headless, loads each page from an
//! in-process server with data and must finish rendering it (the page marks `data-ready`)
//! with charts drawn from the API, not an error.

#![allow(clippy::unwrap_used)] // a test or bench stops at the first surprise

mod common;

use std::process::Command;

use common::TestServer;

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("chromium is installed by scripts/test.sh")
}

/// The DOM after the page's scripts ran.
fn render(url: &str) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
        ])
        .args(["--no-first-run", "--disable-sync", "--virtual-time-budget=10000", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_render_charts_from_the_api() {
    let server = TestServer::start().await;
    let now = fieldline_core::time::now_ns() / 1_000_000_000;
    let mut lp = String::new();
    for i in 0..48 {
        let t = now - (48 - i) * 1800;
        lp.push_str(&format!(
            "plant,site=t-wind,device=meter power_mw={},capacity_mw=50,curtailed=false {t}\n",
            10 + i % 7
        ));
        lp.push_str(&format!(
            "peony_plot,site=t-peony,device=plot1 soil_vwc_pct={},air_temp_c=12,soil_temp_c=10,stage=3 {t}\n",
            25 + i % 3
        ));
        lp.push_str(&format!("pest_trap,site=t-pests,device=trap1,species=helicoverpa_armigera count={} {t}\n", i / 4));
    }
    let resp = server.http.post(server.url("/api/v2/write?bucket=b&precision=s")).body(lp).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let bad = server
        .http
        .post(server.url("/api/v2/write?bucket=b"))
        .body("peony_plot,site=t-peony,device=plot1 soil_vwc_pct=150")
        .send();
    assert_eq!(bad.await.unwrap().status(), 400);

    let base = format!("http://{}", server.running.http_addr);
    let pages = [
        ("", "overview", vec!["t-wind", "t-peony", "series stored"]),
        ("energy", "energy", vec!["<svg class=\"chart\"", "t-wind", "measured (15-min mean)"]),
        ("farm", "farm", vec!["<svg class=\"chart\"", "plot1 soil VWC", "trap1 helicoverpa_armigera"]),
        ("deadletters", "deadletters", vec!["soil_vwc_pct = 150"]),
    ];
    for (hash, ready, needles) in pages {
        let url = format!("{base}/#/{hash}");
        let dom = tokio::task::spawn_blocking(move || render(&url)).await.unwrap();
        assert!(dom.contains(&format!("data-ready=\"{ready}\"")), "page {hash:?} did not finish rendering:\n{dom}");
        for needle in needles {
            assert!(dom.contains(needle), "page {hash:?} lacks {needle:?}:\n{dom}");
        }
    }
    server.running.shutdown().await.unwrap();
}

/// With API tokens on, the dashboard's API calls answer 401 until the browser signs in: every
/// page shows the sign-in form (a token field), not an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tokens_pages_show_the_sign_in_form_instead_of_an_error() {
    let server = TestServer::start_with(|c| {
        c.http.tokens = vec![fieldline::config::TokenConfig {
            token: "operator-token".into(),
            scope: fieldline::config::Scope::Write,
            name: "operator".into(),
            ..Default::default()
        }];
    })
    .await;
    let base = format!("http://{}", server.running.http_addr);
    for hash in ["", "farm", "alerts"] {
        let url = format!("{base}/#/{hash}");
        let dom = tokio::task::spawn_blocking(move || render(&url)).await.unwrap();
        assert!(dom.contains("data-ready=\"signin\""), "page {hash:?} did not ask to sign in:\n{dom}");
        assert!(dom.contains("name=\"token\"") && dom.contains("Sign in"), "page {hash:?} lacks the form:\n{dom}");
        assert!(!dom.contains("Could not load"), "page {hash:?} shows an error:\n{dom}");
    }
    server.running.shutdown().await.unwrap();
}
