//! The farm operator's pest view over HTTP, on a hand-made trap counter whose answers are
//! worked out by hand: daily catch across a service reset, flight dates, warning level,
//! next-week forecast, degree days from the site's air temperature, an empty season, an
//! unknown trap.

use crate::common;

use common::TestServer;
use serde_json::Value;

/// Unix seconds of a local (UTC+8) time in May 2026.
fn may(day: i64, hour: i64) -> i64 {
    // 2026-05-01T00:00:00+08:00
    1_777_564_800 + (day - 1) * 86_400 + hour * 3600
}

async fn write_lines(server: &TestServer, lines: &[String]) {
    let resp = server
        .http
        .post(server.url("/api/v2/write?bucket=heze&precision=s"))
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());
}

async fn get(server: &TestServer, path: &str) -> (u16, Value) {
    let resp = server.http.get(server.url(path)).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

fn daily_of(species: &Value) -> Vec<(String, f64)> {
    species["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d[0].as_str().unwrap().to_string(), d[1].as_f64().unwrap()))
        .filter(|(_, c)| *c > 0.0)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traps_season_by_hand() {
    let server = TestServer::start().await;
    let trap = |t: i64, count: i64| {
        format!("pest_trap,site=heze-farm,device=lt01,species=helicoverpa_armigera,trap_type=light count={count}i {t}")
    };
    // Cumulative counter, read at 22:00 each flight night; serviced (back to 0) on 7 May 08:00.
    let mut lines = vec![
        trap(may(1, 22), 0), // first reading: catches nothing
        trap(may(5, 22), 1), // +1 (trap day 5 May)
        trap(may(6, 22), 3), // +2
        trap(may(7, 8), 0),  // serviced: +0, still the night of 6 May
        trap(may(7, 22), 4), // +4
        trap(may(8, 22), 6), // +2
        trap(may(9, 22), 7), // +1
        trap(may(20, 22), 7),
    ];
    // Air temperature on 1 May: 15 °C at dawn, 25 °C in the afternoon. Single sine between
    // 11 and 33 °C with the whole day above 11: (15 + 25)/2 − 11 = 9 degree days.
    lines.push(format!("met_station,site=heze-farm,device=met air_temp_c=15.0 {}", may(1, 6)));
    lines.push(format!("met_station,site=heze-farm,device=met air_temp_c=25.0 {}", may(1, 14)));
    // A second trap that has caught nothing yet.
    lines.push(format!(
        "pest_trap,site=heze-farm,device=pt02,species=agrotis_ipsilon,trap_type=pheromone count=0i {}",
        may(3, 22)
    ));
    write_lines(&server, &lines).await;

    // On 8 May, mid-flight.
    let (status, body) = get(&server, "/api/v1/farm/traps/lt01?date=2026-05-08").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["site"], "heze-farm");
    let species = &body["species"][0];
    assert_eq!(species["species"], "helicoverpa_armigera");
    assert_eq!(species["name_zh"], "棉铃虫");
    assert_eq!(
        daily_of(species),
        vec![
            ("2026-05-05".into(), 1.0),
            ("2026-05-06".into(), 2.0),
            ("2026-05-07".into(), 4.0),
            ("2026-05-08".into(), 2.0)
        ]
    );
    // Level: mean of the last 3 trap days (2 + 4 + 2)/3 = 2.67 per night, light-trap
    // thresholds [2, 8, 20, 40] → level 2.
    assert_eq!(species["level"], 2);
    assert!((species["level_mean_daily_catch"].as_f64().unwrap() - 8.0 / 3.0).abs() < 1e-9);
    // Next week: the last 7 days caught 9, the 7 before none: growth (9 + 1)/(0 + 1) capped
    // at ×4 → 36.
    assert_eq!(species["next_week_forecast"], 36.0);
    assert_eq!(species["degree_days"], 9.0);
    // The flight so far: cumulative 1, 3, 7, 9 of 9 → 16 % on 6 May, 50 % on 7 May, 84 % on
    // 8 May; still on the wing.
    let flight = &species["flights"][0];
    assert_eq!(
        (flight["onset"].as_str(), flight["peak"].as_str(), flight["end"].as_str()),
        (Some("2026-05-06"), Some("2026-05-07"), Some("2026-05-08"))
    );
    assert_eq!(flight["complete"], false);
    // The next flight: this one peaked at 9 °C·d, long before the first flight is due (half
    // of 350 °C·d), so it is strays, not a generation to count from: the first flight is still
    // due at 350. The days ahead at the last week's rate (9 a day: only 1 May has
    // temperatures) reach it on the 38th day from 9 May, 15 June; early (315 °C·d, a fifth
    // faster) 6 June, late (385 °C·d, a fifth slower) 30 June.
    let next = &species["next_flight"];
    assert_eq!((next["due_dd"].as_f64(), next["after_flight"].as_bool()), (Some(350.0), Some(false)), "{next}");
    assert_eq!(
        (next["expected_peak"].as_str(), next["early"].as_str(), next["late"].as_str()),
        (Some("2026-06-15"), Some("2026-06-06"), Some("2026-06-30"))
    );

    // On 20 May the flight is over: 10 insects, 16 % (1.6) on 6 May, 50 % on 7 May, 84 %
    // (8.4) on 8 May; the last 3 nights caught nothing → level 1.
    let (_, body) = get(&server, "/api/v1/farm/traps/lt01?date=2026-05-20").await;
    let species = &body["species"][0];
    let flight = &species["flights"][0];
    assert_eq!(flight["total"], 10.0);
    assert_eq!(
        (flight["onset"].as_str(), flight["peak"].as_str(), flight["end"].as_str()),
        (Some("2026-05-06"), Some("2026-05-07"), Some("2026-05-08"))
    );
    assert_eq!(flight["complete"], true);
    assert_eq!(species["level"], 1);
    assert_eq!(species["season_total"], 10.0);

    // A trap with an empty season says so instead of showing an empty chart.
    let (status, body) = get(&server, "/api/v1/farm/traps/pt02?date=2026-05-08").await;
    assert_eq!(status, 200, "{body}");
    let species = &body["species"][0];
    assert_eq!(species["trap_type"], "pheromone");
    assert_eq!(species["flights"].as_array().unwrap().len(), 0);
    assert!(species["note"].as_str().unwrap().contains("no catches this season"));
    assert_eq!(species["level"], 1);
    // Its first flight (black cutworm: 120 °C·d above 10 °C from 1 January): 10 by 1 May, then
    // 10 a day from 9 May → the 11th day, 19 May.
    let next = &species["next_flight"];
    assert_eq!((next["due_dd"].as_f64(), next["after_flight"].as_bool()), (Some(120.0), Some(false)), "{next}");
    assert_eq!(next["expected_peak"], "2026-05-19", "{next}");

    // Errors name the problem.
    let (status, body) = get(&server, "/api/v1/farm/traps/nope?date=2026-05-08").await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("no trap \"nope\""), "{body}");
    let (status, body) = get(&server, "/api/v1/farm/traps/lt01?date=8-5-2026").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("YYYY-MM-DD"), "{body}");
}

/// Unix seconds of a local (UTC+8) time in March 2026.
fn march(day: i64, hour: f64) -> i64 {
    // 2026-03-01T00:00:00+08:00
    1_772_294_400 + (day - 1) * 86_400 + (hour * 3600.0) as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plots_degree_days_water_and_frost_by_hand() {
    let server = TestServer::start().await;
    let mut lines = Vec::new();
    // Six days of 2 °C at dawn and 12 °C in the afternoon: the Luoyang rule (5-day mean ≥ 3 °C)
    // starts the sum on 5 March; single sine above 0 °C with the day above it: 7 a day → 14.
    for day in 1..=6 {
        lines.push(format!("peony_plot,site=farm,device=p1 air_temp_c=2.0 {}", march(day, 6.0)));
        lines.push(format!("peony_plot,site=farm,device=p1 air_temp_c=12.0 {}", march(day, 14.0)));
    }
    // Soil moisture 26 % on 6 March: 10 × (32 − 26) × 0.8 m = 48 mm below field capacity.
    lines.push(format!("peony_plot,site=farm,device=p1 soil_vwc_pct=26.0 {}", march(6, 9.0)));
    // A full day of met-station readings on 6 March, every 15 minutes, for ET0.
    for q in 0..96 {
        let hour = q as f64 / 4.0;
        let sun = ((hour - 6.0) / 12.0 * std::f64::consts::PI).sin().max(0.0);
        lines.push(format!(
            "met_station,site=farm,device=met air_temp_c={:.2},rh_pct={:.1},wind_speed_ms=2.0,ghi_wm2={:.1} {}",
            2.0 + 10.0 * sun,
            80.0 - 40.0 * sun,
            700.0 * sun,
            march(6, hour)
        ));
    }
    // The weather forecast issued on 6 March: −1.5 °C at dawn on 8 March.
    for (day, hour, t) in [(7, 6.0, 1.0), (8, 6.0, -1.5), (9, 6.0, 3.0)] {
        lines.push(format!("nwp,site=farm,device=nwp,issued=2026-03-06T08:00:00Z air_temp_c={t} {}", march(day, hour)));
    }
    write_lines(&server, &lines).await;

    let (status, body) = get(&server, "/api/v1/farm/plots/p1?date=2026-03-06").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["crop_zh"], "牡丹");
    assert_eq!(body["gdd_start"], "2026-03-05");
    assert_eq!(body["gdd"], 14.0);
    assert_eq!(body["stage"]["code"], "dormant");
    assert_eq!(body["stage"]["name_zh"], "休眠");
    // The crop table travels with the view (the dashboard marks its heat sums).
    let bloom = body["crop_stages"].as_array().unwrap().iter().find(|s| s["code"] == "bloom").unwrap();
    assert_eq!((bloom["gdd"].as_f64(), bloom["name_zh"].as_str()), (Some(680.0), Some("开花")), "{body}");
    assert_eq!(body["crop_base_c"], 0.0);
    // ET0 of an early-spring day; the balance starts from the sensor.
    let et0 = body["et0_mm"].as_f64().unwrap();
    assert!(et0 > 0.5 && et0 < 4.0, "{et0}");
    let water = &body["water"];
    assert_eq!(water["taw_mm"], 160.0);
    assert_eq!(water["raw_mm"], 80.0);
    assert_eq!(water["depletion_mm"], 48.0);
    assert_eq!(water["advice"]["action"], "none");
    // Dormant buds are not frost-sensitive: low risk, though the forecast goes below 0 °C.
    assert_eq!(body["frost"]["level"], "low");
    assert_eq!(body["frost"]["min_temp_c"], -1.5);
    // No past spring of this plot: no bloom range, and it says why.
    assert!(body["bloom"].is_null());
    assert!(body["notes"].to_string().contains("past spring"), "{body}");

    // A technician sees swollen flower buds: the observation wins over the model (it is later),
    // and flower buds are frost-sensitive: −1.5 °C forecast is a high risk. A name that is not a
    // stage of the crop is left out.
    write_lines(
        &server,
        &[
            format!("peony_plot,site=farm,device=p1 stage_observed=\"flower_bud\" {}", march(6, 10.0)),
            format!("peony_plot,site=farm,device=p1 stage_observed=\"rice\" {}", march(6, 8.0)),
        ],
    )
    .await;
    let (_, body) = get(&server, "/api/v1/farm/plots/p1?date=2026-03-06").await;
    assert_eq!(body["stage"]["code"], "flower_bud", "{body}");
    assert_eq!(body["stage_modelled"], "dormant");
    assert_eq!(body["stage_observed"]["name_zh"], "现蕾");
    assert_eq!(body["frost"]["level"], "high");

    let (status, _) = get(&server, "/api/v1/farm/plots/nope?date=2026-03-06").await;
    assert_eq!(status, 404);
}

/// Unix seconds of local (UTC+8) noon on day `ordinal` (1 = 1 January) of `year`.
/// A dry plot on 6 March and the weather forecast's rain: wait for it when it comes before the
/// root zone passes RAW; irrigate when a later run takes the rain away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_irrigation_advice_waits_for_forecast_rain() {
    let server = TestServer::start().await;
    let mut lines = Vec::new();
    for day in 1..=6 {
        lines.push(format!("peony_plot,site=dry,device=p3 air_temp_c=2.0 {}", march(day, 6.0)));
        lines.push(format!("peony_plot,site=dry,device=p3 air_temp_c=12.0 {}", march(day, 14.0)));
    }
    // 22.125 % on a loam of FC 32 %, 0.8 m of roots: 10 × 9.875 × 0.8 = 79 mm depleted, RAW 80.
    lines.push(format!("peony_plot,site=dry,device=p3 soil_vwc_pct=22.125 {}", march(6, 9.0)));
    for q in 0..96 {
        let hour = q as f64 / 4.0;
        let sun = ((hour - 6.0) / 12.0 * std::f64::consts::PI).sin().max(0.0);
        lines.push(format!(
            "met_station,site=dry,device=met air_temp_c={:.2},rh_pct={:.1},wind_speed_ms=2.0,ghi_wm2={:.1} {}",
            2.0 + 10.0 * sun,
            80.0 - 40.0 * sun,
            700.0 * sun,
            march(6, hour)
        ));
    }
    // Run 1 (08:00 UTC): 6 mm of rain on 7 March, 4 + 2 mm in two steps.
    let run = |issued: &str, rain: [f64; 2]| -> Vec<String> {
        let mut out = Vec::new();
        for day in 7..=9 {
            for hour in [6.0, 14.0] {
                out.push(format!(
                    "nwp,site=dry,device=nwp,issued={issued} air_temp_c=5.0,precip_mm=0.0 {}",
                    march(day, hour)
                ));
            }
        }
        out.push(format!("nwp,site=dry,device=nwp,issued={issued} precip_mm={} {}", rain[0], march(7, 10.0)));
        out.push(format!("nwp,site=dry,device=nwp,issued={issued} precip_mm={} {}", rain[1], march(7, 11.0)));
        out
    };
    lines.extend(run("2026-03-06T08:00:00Z", [4.0, 2.0]));
    write_lines(&server, &lines).await;

    let (status, body) = get(&server, "/api/v1/farm/plots/p3?date=2026-03-06").await;
    assert_eq!(status, 200, "{body}");
    let water = &body["water"];
    assert_eq!(water["depletion_mm"], 79.0, "{body}");
    assert_eq!(water["forecast_rain_mm"], serde_json::json!([6.0, 0.0]), "{body}");
    assert_eq!(water["advice"]["action"], "wait_for_rain", "{body}");
    assert_eq!(water["advice"]["rain_on"], "2026-03-07");
    assert_eq!(water["advice"]["rain_mm"], 6.0);

    // Run 2 (14:00 UTC, still 6 March in Heze) drops the rain: irrigate before RAW is passed.
    write_lines(&server, &run("2026-03-06T14:00:00Z", [0.0, 0.0])).await;
    let (_, body) = get(&server, "/api/v1/farm/plots/p3?date=2026-03-06").await;
    let water = &body["water"];
    assert_eq!(water["forecast_rain_mm"], serde_json::json!([0.0, 0.0]), "{body}");
    assert_eq!(water["advice"]["action"], "irrigate", "{body}");
    let by = water["advice"]["by"].as_str().unwrap();
    assert!(("2026-03-07"..="2026-03-12").contains(&by), "{body}");
    assert!(water["advice"]["amount_mm"].as_f64().unwrap() >= 79.0, "{body}");
}

fn noon(year: i32, ordinal: u16) -> i64 {
    let date = time::Date::from_ordinal_date(year, ordinal).unwrap();
    date.midnight().assume_offset(time::UtcOffset::from_hms(8, 0, 0).unwrap()).unix_timestamp() + 12 * 3600
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plot_with_a_past_spring_gets_a_bloom_range() {
    let server = TestServer::start().await;
    // A spring's temperatures by day of year: cold in January, warming through spring.
    let temp = |ordinal: u16, warmer: f64| -> (f64, f64) {
        let mean = -2.0 + 24.0 * ((f64::from(ordinal) - 15.0) / 180.0).clamp(0.0, 1.0) + warmer;
        (mean - 5.0, mean + 5.0)
    };
    let mut lines = Vec::new();
    // Last year: 1 January to 31 July, a degree warmer than this year.
    for ordinal in 1..=212u16 {
        let (lo, hi) = temp(ordinal, 1.0);
        let t = noon(2025, ordinal);
        lines.push(format!("peony_plot,site=farm,device=p2 air_temp_c={lo} {}", t - 6 * 3600));
        lines.push(format!("peony_plot,site=farm,device=p2 air_temp_c={hi} {}", t + 2 * 3600));
    }
    // This year up to 1 March (day 60).
    for ordinal in 1..=60u16 {
        let (lo, hi) = temp(ordinal, 0.0);
        let t = noon(2026, ordinal);
        lines.push(format!("peony_plot,site=farm,device=p2 air_temp_c={lo} {}", t - 6 * 3600));
        lines.push(format!("peony_plot,site=farm,device=p2 air_temp_c={hi} {}", t + 2 * 3600));
    }
    write_lines(&server, &lines).await;

    let (status, body) = get(&server, "/api/v1/farm/plots/p2?date=2026-03-01").await;
    assert_eq!(status, 200, "{body}");
    let bloom = body["bloom"].as_array().unwrap_or_else(|| panic!("no bloom range: {body}"));
    let stage = |code: &str| bloom.iter().find(|s| s["stage"] == code).unwrap().clone();
    let flowering = stage("bloom");
    assert_eq!(flowering["members"], 1);
    assert!(flowering["reached"].is_null());
    // One member: P10 = P50 = P90, a date in spring after the issue day, and end of bloom after it.
    let p50 = flowering["p50"].as_str().unwrap().to_string();
    assert_eq!(flowering["p10"], flowering["p50"]);
    assert!(p50.as_str() > "2026-03-01" && p50.as_str() < "2026-07-01", "{p50}");
    assert!(stage("post_bloom")["p50"].as_str().unwrap() > p50.as_str());
    assert!(!body["notes"].to_string().contains("past spring"), "{body}");
    assert_eq!(body["phenology"]["fitted"], false);

    // Last spring's stages as a stage sensor reported them (index codes): bud break on day 60,
    // flower bud on day 90, bloom on day 105 (15 April), end of bloom on day 120. Fitted on
    // them, the forecast for a spring like it puts bloom near 15 April.
    let stages = [(60u16, 1), (90, 3), (105, 4), (120, 5)];
    let lines: Vec<String> = stages
        .iter()
        .map(|(ordinal, code)| format!("peony_plot,site=farm,device=p2 stage={code} {}", noon(2025, *ordinal)))
        .collect();
    write_lines(&server, &lines).await;
    let (_, body) = get(&server, "/api/v1/farm/plots/p2?date=2026-03-01").await;
    assert_eq!(body["phenology"]["fitted"], true, "{body}");
    let bloom = body["bloom"].as_array().unwrap();
    let flowering = bloom.iter().find(|s| s["stage"] == "bloom").unwrap();
    let p50 = flowering["p50"].as_str().unwrap();
    assert!(("2026-04-10"..="2026-04-25").contains(&p50), "{body}");

    // The same forecast at the command line, from the data dir once the server has stopped
    // (while it runs, the data dir is refused as in use).
    let bloom_cli = |dir: &std::path::Path, json: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fieldline"));
        cmd.args(["agro", "bloom", "--plot", "p2", "--issued", "2026-03-01", "--data"]).arg(dir);
        if json {
            cmd.arg("--json");
        }
        cmd.output().unwrap()
    };
    let common::TestServer { running, dir, .. } = server;
    let refused = bloom_cli(dir.path(), true);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("in use by another fieldline"), "{refused:?}");
    running.shutdown().await.unwrap();
    let out = bloom_cli(dir.path(), true);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cli["bloom"], body["bloom"]);
    assert_eq!(cli["phenology"], body["phenology"]);
    let out = bloom_cli(dir.path(), false);
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("fitted to past springs' stages"), "{table}");
    let row = table.lines().find(|l| l.starts_with("bloom ")).unwrap();
    assert!(row.contains(p50), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_plot_uses_its_own_soil_and_crop() {
    let server = TestServer::start_with(|c| {
        c.agro.plots.push(fieldline::config::PlotConfig {
            device: "w1".into(),
            crop: "winter_wheat".into(),
            field_capacity_pct: 30.0,
            wilting_point_pct: 10.0,
            root_depth_m: Some(0.5),
        })
    })
    .await;
    let lines = vec![
        format!("peony_plot,site=farm,device=w1 air_temp_c=5.0 {}", march(6, 6.0)),
        // 26 %: 10 × (30 − 26) × 0.5 m = 20 mm below field capacity.
        format!("peony_plot,site=farm,device=w1 soil_vwc_pct=26.0 {}", march(6, 9.0)),
    ];
    write_lines(&server, &lines).await;
    let (status, body) = get(&server, "/api/v1/farm/plots/w1?date=2026-03-06").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["crop"], "winter_wheat");
    assert_eq!(body["crop_zh"], "冬小麦");
    // TAW = 10 × (30 − 10) × 0.5 = 100 mm; RAW = 0.55 × 100 (wheat's p).
    assert_eq!(body["water"]["taw_mm"], 100.0);
    assert!((body["water"]["raw_mm"].as_f64().unwrap() - 55.0).abs() < 1e-9, "{body}");
    assert_eq!(body["water"]["depletion_mm"], 20.0);
}

#[test]
fn agro_settings_that_cannot_work_are_refused() {
    let bad_crop = fieldline::config::Config::parse("[[agro.plots]]\ndevice = \"p\"\ncrop = \"rice\"\n").unwrap();
    let err = bad_crop.agro.check().unwrap_err();
    assert!(err.contains("unknown crop \"rice\"") && err.contains("peony"), "{err}");
    let bad_soil = fieldline::config::Config::parse(
        "[[agro.plots]]\ndevice = \"p\"\nfield_capacity_pct = 10\nwilting_point_pct = 20\n",
    )
    .unwrap();
    assert!(bad_soil.agro.check().unwrap_err().contains("wilting_point_pct < field_capacity_pct"));
    assert!(fieldline::config::Config::parse("[agro]\nplotz = []\n").is_err());
}
