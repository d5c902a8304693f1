//! The web dashboard in a real browser: Debian's Chromium, headless. Hand-written data in an
//! in-process server (`--dump-dom`), and `fieldline demo` replaying a spring driven over the
//! DevTools protocol (`common/cdp.rs`): every page in both languages renders charts with data,
//! logs no console error and requests nothing from outside the host; an alert is acknowledged
//! by clicking; the language toggle switches and is remembered; screenshots are saved and each
//! page's time to its first complete render is printed.

use crate::common;
use crate::common::cdp;

use std::process::Command;
use std::time::Duration;

use cdp::{Browser, chromium};
use common::{ServeProcess, TestServer, terminate, wait_for};
use serde_json::Value;

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
        ("", "overview", vec!["t-wind", "t-peony", "data-points=\""]),
        ("grid", "grid", vec!["t-wind", "data-points=\""]),
        ("farm", "farm", vec!["plot1", "data-points=\""]),
        ("pests", "pests", vec!["trap1"]),
        ("deadletters", "deadletters", vec!["soil_vwc_pct = 150"]),
    ];
    for (hash, ready, needles) in pages {
        let url = format!("{base}/?lang=en#/{hash}");
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
        assert!(dom.contains("name=\"token\"") && dom.contains("登录"), "page {hash:?} lacks the form:\n{dom}");
        assert!(!dom.contains("加载失败"), "page {hash:?} shows an error:\n{dom}");
    }
    server.running.shutdown().await.unwrap();
}

/// Every page, in Chinese (the default) and English, against `fieldline demo` replaying mid-April
/// (peony flower buds, the frost-sensitive stage; black cutworm flights) with an open frost alert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_both_languages_from_a_demo_spring() {
    let days = std::env::var("FIELDLINE_BROWSER_DAYS").unwrap_or_else(|_| "25".into());
    let dir = tempfile::tempdir().unwrap();
    let args = ["--start", "2026-04-15", "--days", &days, "--past-springs", "1", "--catch-up", "1h", "--speed", "600"];
    let mut demo = ServeProcess::run("demo", dir.path(), &args);
    // 25 days of backfill in a debug build: ~1 min on an idle 2-core machine, 2+ when busy.
    demo.wait_line_within("backfilled ", Duration::from_secs(400));
    let http = demo.http_addr;
    let base = format!("http://{http}");
    let client = reqwest::Client::new();

    // The grid page needs the forecast job's first issue; the alerts page an alert to acknowledge:
    // a plot at -3 °C with its flower buds out (frost-sensitive) opens a frost alert.
    wait_for("the first short-term forecast", Duration::from_secs(180), || {
        let (client, url) = (client.clone(), format!("{base}/api/v1/forecasts?site=heze-wind&horizon=short_term"));
        async move { client.get(url).send().await.ok()?.status().is_success().then_some(()) }
    })
    .await;
    // The demo's clock, not the wall clock: `--start` moved the server's "now" to May.
    let overview = common::get_json(&client, &format!("{base}/api/v1/overview")).await;
    let now_s =
        time::OffsetDateTime::parse(overview["now"].as_str().unwrap(), &time::format_description::well_known::Rfc3339)
            .unwrap()
            .unix_timestamp();
    let frost: String = (0..3)
        .map(|i| format!("peony_plot,site=heze-peony,device=plot1 air_temp_c=-3.{i} {}\n", now_s - 60 * (2 - i)))
        .collect();
    let resp = client.post(format!("{base}/api/v2/write?bucket=b&precision=s")).body(frost).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    let alert_id = wait_for("an open frost alert", Duration::from_secs(120), || {
        let (client, url) = (client.clone(), format!("{base}/api/v1/alerts?state=open"));
        async move {
            let v: Value = client.get(url).send().await.ok()?.json().await.ok()?;
            let alerts = v["alerts"].as_array()?.clone();
            alerts.iter().find(|a| a["kind"] == "frost").and_then(|a| a["id"].as_str().map(str::to_string))
        }
    })
    .await;

    let shots = std::env::var_os("FIELDLINE_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&shots).unwrap();
    let mut browser = Browser::launch(1300, 900).await;
    // Acknowledge the frost alert by clicking its button, first: the stream's next mild reading
    // may end the frost and resolve it.
    browser.navigate(&format!("{base}/?lang=zh#/alerts?state=open")).await;
    browser
        .wait_for("alerts page", "document.getElementById('view').dataset.ready === 'alerts'", Duration::from_secs(30))
        .await;
    let clicked = browser
        .eval(&format!(
            "(() => {{ const b = document.querySelector('button.ack[data-id=\"{alert_id}\"]'); if (!b) return false; b.click(); return true }})()"
        ))
        .await;
    assert_eq!(clicked, Value::Bool(true), "no acknowledge button for {alert_id}");
    let url = format!("{base}/api/v1/alerts/{alert_id}");
    let acked = wait_for("the alert acknowledged", Duration::from_secs(20), || {
        let (client, url) = (client.clone(), url.clone());
        async move {
            let v: Value = client.get(url).send().await.ok()?.json().await.ok()?;
            (v["state"] == "acknowledged").then_some(v)
        }
    })
    .await;
    assert_eq!(acked["state"], "acknowledged");
    // The list re-renders without it (the filter shows open alerts only).
    browser
        .wait_for(
            "the acknowledged alert gone from the open list",
            &format!("document.getElementById('view').dataset.ready === 'alerts' && !document.querySelector('button.ack[data-id=\"{alert_id}\"]')"),
            Duration::from_secs(20),
        )
        .await;

    // Pages whose charts must have data in this season (brain and dead letters are tables).
    let charted = ["overview", "grid", "health", "farm", "pests", "alerts"];
    let timings = visit_every_page(&mut browser, &base, &shots, &charted).await;

    // The toggle switches to English and the choice is remembered without ?lang.
    browser.navigate(&format!("{base}/?lang=zh#/")).await;
    browser
        .wait_for("overview", "document.getElementById('view').dataset.ready === 'overview'", Duration::from_secs(30))
        .await;
    browser.eval("document.getElementById('lang').click()").await;
    browser
        .wait_for(
            "English navigation",
            "document.getElementById('nav').innerText.includes('Overview')",
            Duration::from_secs(20),
        )
        .await;
    browser.navigate(&format!("{base}/#/farm")).await;
    browser
        .wait_for(
            "the farm page in English after a reload",
            "document.getElementById('view').dataset.ready === 'farm' && document.getElementById('nav').innerText.includes('Plots')",
            Duration::from_secs(30),
        )
        .await;

    // A technician's phone.
    let mut phone = Browser::launch(390, 844).await;
    phone.navigate(&format!("{base}/?lang=zh#/farm")).await;
    phone
        .wait_for(
            "farm on a phone",
            "document.getElementById('view').dataset.ready === 'farm'",
            Duration::from_secs(30),
        )
        .await;
    phone.screenshot(&shots.join("farm-phone-zh.png")).await;

    for b in [&browser, &phone] {
        assert!(b.errors.is_empty(), "console errors: {:#?}", b.errors);
        let outside: Vec<&String> = b
            .requests
            .iter()
            .filter(|u| {
                !(u.starts_with(&format!("{base}/"))
                    || u.starts_with("blob:")
                    || u.starts_with("data:")
                    || u.as_str() == "about:blank")
            })
            .collect();
        assert!(outside.is_empty(), "requests outside the host: {outside:?}");
    }
    println!("first complete render after navigation, ms (debug build, {days} days of demo data):");
    for (page, lang, ms) in &timings {
        println!("  {page:<12} {lang}  {ms:>6.0}");
    }
    println!("screenshots in {}", shots.display());
    let status = terminate(&mut demo.child).expect("the demo exits");
    assert!(status.success(), "demo exited with {status}");
}

/// Loads every page in Chinese and English as a fresh document, checks it rendered (charts with
/// data where `charted` says so, each chart drawn, the navigation in the page's language, no
/// NaN), saves a screenshot, and returns (page, language, ms from navigation to the first
/// complete render).
async fn visit_every_page(
    browser: &mut Browser,
    base: &str,
    shots: &std::path::Path,
    charted: &[&str],
) -> Vec<(&'static str, &'static str, f64)> {
    let pages = ["overview", "grid", "health", "farm", "pests", "alerts", "brain", "deadletters"];
    let mut timings = Vec::new();
    for lang in ["zh", "en"] {
        for page in pages {
            let hash = if page == "overview" { String::new() } else { page.to_string() };
            // A fresh document each time (a hash change alone would not reload): the timing
            // is a whole page load, scripts and API calls included.
            browser.navigate("about:blank").await;
            browser.navigate(&format!("{base}/?lang={lang}#/{hash}")).await;
            let ready = browser
                .wait_for(
                    &format!("{page} ({lang}) rendered"),
                    "(() => { const v = document.getElementById('view'); \
                     return v && v.dataset.ready && window.flFirstReadyMs ? v.dataset.ready : null })()",
                    Duration::from_secs(30),
                )
                .await;
            assert_eq!(ready, page, "{page} ({lang}) ended as {ready}");
            let paint_ms = browser.eval("window.flFirstReadyMs").await.as_f64().unwrap();
            timings.push((page, lang, paint_ms));
            let points =
                browser.eval("[...document.querySelectorAll('#view .chart')].map(c => Number(c.dataset.points))").await;
            let points: Vec<f64> = points.as_array().unwrap().iter().filter_map(Value::as_f64).collect();
            if charted.contains(&page) {
                assert!(points.iter().any(|p| *p > 0.0), "{page} ({lang}): no chart with data: {points:?}");
            }
            // ECharts drew into every chart box (a canvas of the box's size).
            let drawn = browser
                .eval("[...document.querySelectorAll('#view .chart')].every(c => c.querySelector('canvas'))")
                .await;
            assert_eq!(drawn, Value::Bool(true), "{page} ({lang}): a chart box without a canvas");
            let nav = browser.eval("document.getElementById('nav').innerText").await;
            let nav = nav.as_str().unwrap_or_default().to_string();
            if lang == "zh" {
                assert!(nav.contains("总览") && nav.contains("告警") && !nav.contains("Overview"), "{nav}");
            } else {
                assert!(nav.contains("Overview") && nav.contains("Alerts") && !nav.contains("总览"), "{nav}");
            }
            let text = browser.eval("document.getElementById('view').innerText").await;
            let text = text.as_str().unwrap_or_default();
            assert!(
                !text.contains("NaN") && !text.contains("undefined"),
                "{page} ({lang}) shows NaN/undefined:\n{text}"
            );
            browser.screenshot(&shots.join(format!("{page}-{lang}.png"))).await;
        }
    }

    timings
}

/// The first-render figures of the README: against a running server (`fieldline demo`, release
/// build, 60 days), `FIELDLINE_DASHBOARD_URL=http://127.0.0.1:8080 cargo nextest run --test
/// dashboard --run-ignored only`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a running server: FIELDLINE_DASHBOARD_URL"]
async fn first_render_times_against_a_running_server() {
    let base = std::env::var("FIELDLINE_DASHBOARD_URL").expect("FIELDLINE_DASHBOARD_URL");
    let shots = std::env::var_os("FIELDLINE_SCREENSHOTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("screenshots-running"));
    std::fs::create_dir_all(&shots).unwrap();
    let mut browser = Browser::launch(1300, 900).await;
    let timings =
        visit_every_page(&mut browser, base.trim_end_matches('/'), &shots, &["overview", "grid", "health"]).await;
    assert!(browser.errors.is_empty(), "console errors: {:#?}", browser.errors);
    println!("first complete render after navigation, ms ({base}):");
    for (page, lang, ms) in &timings {
        println!("  {page:<12} {lang}  {ms:>6.0}");
    }
}
