//! The live forecast jobs end to end: a PV plant's meter, inverter and NWP feed written over
//! HTTP; the server trains, hindcasts, issues ultra-short and short-term forecasts, scores the
//! finished days, serves them on `/api/v1/forecasts*` (JSON and E file) and publishes the
//! live issue to MQTT subscribers.

use crate::common;

use std::time::Duration;

use common::{TestServer, wait_for};
use fieldline_analytics::solar;
use fieldline_core::time::NS_PER_SEC;
use serde_json::Value;

/// Deterministic pseudo-random numbers in [0, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Ten days of a 40 MW PV plant (5-min meter) and an NWP feed issued every 6 h, ending now.
fn plant_history(end_s: i64) -> String {
    let (lat, lon) = (35.2, 115.4);
    let days = 10;
    let start = (end_s - days * 86_400) / 3600 * 3600;
    let mut rng = Lcg(7);
    // Cloudiness per hour, slowly varying.
    let hours = (days * 24 + 96) as usize;
    let mut cloud = Vec::with_capacity(hours);
    let mut c: f64 = 0.3;
    for _ in 0..hours {
        c = (c + (rng.next() - 0.5) * 0.3).clamp(0.0, 0.9);
        cloud.push(c);
    }
    let cloud_at = |t: i64| cloud[((t - start) / 3600).clamp(0, hours as i64 - 1) as usize];
    let mut lp = String::new();
    let mut t = start;
    while t <= end_s {
        let ghi = solar::clearsky_ghi_at(t as f64, lat, lon, 50.0) * (1.0 - 0.8 * cloud_at(t));
        let power = (40.0 * ghi / 1000.0 * 0.85).min(40.0);
        lp.push_str(&format!(
            "plant,site=t-pv,device=meter power_mw={power:.3},capacity_mw=40,curtailed=false {}\n\
             pv_inverter,site=t-pv,device=inv01 ac_power_kw={:.1} {}\n",
            t * NS_PER_SEC,
            power * 1000.0 / 16.0,
            t * NS_PER_SEC
        ));
        t += 300;
    }
    let mut issued = start;
    while issued <= end_s {
        for lead in 0..=72 {
            let valid = issued + lead * 3600;
            let err = (rng.next() - 0.5) * 0.02 * lead as f64;
            let cloud_fc = (cloud_at(valid) + err).clamp(0.0, 1.0);
            let ghi = solar::clearsky_ghi_at(valid as f64, lat, lon, 50.0) * (1.0 - 0.8 * cloud_fc);
            let issued_tag = fieldline_core::time::format_time(issued * NS_PER_SEC, time::UtcOffset::UTC);
            lp.push_str(&format!(
                "nwp,site=t-pv,device=nwp,issued={issued_tag} ghi_wm2={ghi:.1},cloud_cover_pct={:.1},air_temp_c=10 {}\n",
                cloud_fc * 100.0,
                valid * NS_PER_SEC
            ));
        }
        issued += 6 * 3600;
    }
    lp
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forecasts_are_issued_scored_served_and_published() {
    let efiles = tempfile::tempdir().unwrap();
    let efile_dir = efiles.path().join("to-dispatch");
    // Dispatch's SFTP server, where the live E files are pushed too.
    let sshd = common::sshd::Sshd::start();
    let server = TestServer::start_with(|c| {
        c.forecast.efile = fieldline::jobs::forecast::EfileDrop {
            dir: Some(efile_dir.clone()),
            encoding: fieldline::jobs::forecast::EfileEncoding::Gbk,
            headers: fieldline::jobs::forecast::EfileHeaders::Zh,
            sftp: Some(sshd.url()),
            sftp_identity: Some(sshd.identity.clone()),
            sftp_known_hosts: Some(sshd.known_hosts.clone()),
            ..Default::default()
        };
        c.forecast.tick_secs = 1;
        // Issued at local midnight, so today's live short-term issue is due whatever the hour.
        c.forecast.issue_hour = 0;
        c.forecast.min_history_days = 3;
        c.forecast.hindcast_days = 3;
        c.forecast.history_days = 8;
    })
    .await;
    let mut published = server.running.outbox.subscribe();
    let now = fieldline_core::time::now_ns() / NS_PER_SEC;
    let body = plant_history(now);
    let resp = server.http.post(server.url("/api/v2/write?bucket=b")).body(body).send().await.unwrap();
    assert_eq!(resp.status(), 204);

    let accuracy_url = server.url("/api/v1/forecasts/accuracy?site=t-pv");
    let accuracy = wait_for("daily accuracy of the hindcast days", Duration::from_secs(240), || {
        let (client, url) = (server.http.clone(), accuracy_url.clone());
        async move {
            let v: Value = client.get(&url).send().await.ok()?.json().await.ok()?;
            let days = v["days"].as_array()?;
            let both =
                days.iter().any(|d| d["short_term"].is_object()) && days.iter().any(|d| d["ultra_short"].is_object());
            both.then_some(v)
        }
    })
    .await;
    for day in accuracy["days"].as_array().unwrap() {
        for horizon in ["short_term", "ultra_short"] {
            if let Some(a) = day[horizon]["accuracy"].as_f64() {
                assert!((0.5..=1.0).contains(&a), "{horizon} accuracy {a} on {}", day["date"]);
            }
        }
    }
    assert!(!accuracy["months"].as_array().unwrap().is_empty());

    let us = server.get_json("/api/v1/forecasts?site=t-pv&horizon=ultra_short").await;
    let points = us["points"].as_array().unwrap();
    assert_eq!(points.len(), 16, "{us}");
    for p in points {
        let (p10, p50, p90) =
            (p["p10_mw"].as_f64().unwrap(), p["p50_mw"].as_f64().unwrap(), p["p90_mw"].as_f64().unwrap());
        assert!(p10 <= p50 && p50 <= p90 && (0.0..=40.0).contains(&p50), "{p}");
    }
    let st = server.get_json("/api/v1/forecasts?site=t-pv&horizon=short_term").await;
    assert_eq!(st["points"].as_array().unwrap().len(), 288, "short-term covers 3 days from next midnight");
    let first = st["points"][0]["time"].as_str().unwrap();
    assert!(first.ends_with("T00:15:00+08:00"), "first short-term slot ends 00:15 local: {first}");

    let efile =
        server.http.get(server.url("/api/v1/forecasts/efile?site=t-pv&horizon=short_term")).send().await.unwrap();
    assert_eq!(efile.status(), 200);
    let disposition = efile.headers()["content-disposition"].to_str().unwrap().to_string();
    assert!(disposition.contains("t-pv_") && disposition.ends_with("_DQ.txt\""), "{disposition}");
    let text = efile.text().await.unwrap();
    assert!(text.starts_with("<!System=OMS Version=1.0 Code=UTF-8 Data=1.0!>"));
    assert!(text.contains("<DQYC::t-pv") && text.trim_end().ends_with("</DQYC::t-pv>"));
    assert_eq!(text.lines().filter(|l| l.starts_with('#')).count(), 288);

    // The live issues were also dropped for dispatch's uploader, in GBK with Chinese headers
    // (hindcasts are not: dispatch wants today's files).
    let names = wait_for("the live E files in the drop directory", Duration::from_secs(30), || {
        let dir = efile_dir.clone();
        async move {
            let names: Vec<String> =
                std::fs::read_dir(&dir).ok()?.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
            (names.iter().any(|n| n.ends_with("_DQ.txt")) && names.iter().any(|n| n.ends_with("_CDQ.txt")))
                .then_some(names)
        }
    })
    .await;
    for name in names.iter().filter(|n| n.ends_with(".txt")) {
        let bytes = std::fs::read(efile_dir.join(name)).unwrap();
        let (text, _, bad) = encoding_rs::GBK.decode(&bytes);
        assert!(!bad && text.contains("Code=GBK") && text.contains("@序号\t时刻\t预测功率(MW)"), "{name}: {text}");
    }
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    // ... and pushed to dispatch's SFTP server, byte for byte.
    for name in names.iter().filter(|n| n.ends_with(".txt")) {
        let (local, remote) = (efile_dir.join(name), sshd.remote.join(name));
        wait_for(&format!("{name} on the SFTP server"), Duration::from_secs(30), || async {
            (std::fs::read(&remote).ok()? == std::fs::read(&local).ok()?).then_some(())
        })
        .await;
    }

    let missing =
        server.http.get(server.url("/api/v1/forecasts?site=nowhere&horizon=short_term")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // The live issues went out to MQTT subscribers (hindcasts do not).
    let msg = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(m) = published.recv().await
                && m.topic.starts_with("fl/v1/t-pv/forecasts/")
            {
                return m;
            }
        }
    })
    .await
    .expect("a forecast published on fl/v1/t-pv/forecasts/...");
    let body: Value = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(body["site"], "t-pv");
    server.running.shutdown().await.unwrap();
}
