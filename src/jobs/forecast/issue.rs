//! Training the plant's models and issuing forecasts: each issue stored as series tagged with
//! its issue time (measurement `forecast`) and, when live, published on
//! `fl/v1/{site}/forecasts/{horizon}`.

use std::collections::BTreeSet;

use fieldline_analytics::forecast::features::Context;
use fieldline_analytics::forecast::model::{DayAheadModel, ForecastPoint, ModelOptions, PlantModels, UltraShortModel};
use fieldline_analytics::forecast::series::prepare;
use fieldline_core::time::{NS_PER_SEC, SECS_PER_DAY, format_time};
use fieldline_core::{FieldValue, Point};
use time::UtcOffset;

use super::inputs::{Inputs, NwpAsOf, series_options};
use super::{Error, FORECAST_MEASUREMENT, ForecastConfig, Horizon, Plant, PlantLabels, parse_issued};
use crate::jobs::JobContext;

/// Trains both models on data before `train_to`.
pub(super) fn train(
    ctx: &JobContext,
    config: &ForecastConfig,
    offset_s: i32,
    plant: &Plant,
    train_to: i64,
) -> Result<(UltraShortModel, DayAheadModel), Error> {
    let from = train_to - i64::from(config.history_days) * SECS_PER_DAY;
    let inputs = Inputs::load(ctx, config, offset_s, plant, from, train_to)?;
    let options =
        ModelOptions { issue_hour: config.issue_hour, threads: config.train_threads, ..ModelOptions::default() };
    let fit = |asof: NwpAsOf| -> Result<PlantModels, Error> {
        let series = prepare(&inputs.table(asof), &series_options(offset_s, plant))?;
        let fctx = Context::new(&series);
        Ok(PlantModels::fit(&fctx, series.len(), &options)?)
    };
    let ultra_short = fit(NwpAsOf::UltraShort)?.ultra_short;
    let day_ahead = fit(NwpAsOf::ShortTerm)?.day_ahead;
    Ok((ultra_short, day_ahead))
}

/// Issue times (unix s) of stored forecasts of `horizon` with valid times from `from` on.
pub(super) fn issued_times(ctx: &JobContext, site: &str, horizon: Horizon, from: i64) -> Result<BTreeSet<i64>, Error> {
    let tags = [("site".to_string(), site.to_string()), ("horizon".to_string(), horizon.as_str().to_string())];
    Ok(ctx
        .store
        .series(Some(FORECAST_MEASUREMENT), &tags)
        .into_iter()
        .filter(|s| s.last_ns >= from * NS_PER_SEC)
        .filter_map(|s| s.tags.get("issued").and_then(|i| parse_issued(i)))
        .collect())
}

/// Stores one issued forecast and, if it is a live issue, publishes it.
pub(super) fn store_forecast(
    ctx: &JobContext,
    plant: &Plant,
    horizon: Horizon,
    issue: i64,
    points: &[ForecastPoint],
    live: bool,
) -> Result<(), Error> {
    if points.is_empty() {
        return Ok(());
    }
    let issued = format_time(issue * NS_PER_SEC, UtcOffset::UTC);
    let tags = vec![
        ("horizon".to_string(), horizon.as_str().to_string()),
        ("issued".to_string(), issued.clone()),
        ("site".to_string(), plant.site.clone()),
    ];
    let rows: Vec<Point> = points
        .iter()
        .map(|p| {
            Point::new(
                FORECAST_MEASUREMENT,
                tags.clone(),
                vec![
                    ("p50_mw".into(), FieldValue::Float(round3(p.p50))),
                    ("p10_mw".into(), FieldValue::Float(round3(p.p10))),
                    ("p90_mw".into(), FieldValue::Float(round3(p.p90))),
                ],
                p.time * NS_PER_SEC,
            )
        })
        .collect();
    block_on_write(ctx, rows)?;
    ctx.metrics.issued.get_or_create(&PlantLabels { site: plant.site.clone(), horizon: horizon.as_str() }).inc();
    if live {
        let body = serde_json::json!({
            "site": plant.site,
            "horizon": horizon.as_str(),
            "issued": issued,
            "capacity_mw": plant.capacity_mw,
            "points": points.iter().map(|p| serde_json::json!({
                "time": format_time(p.time * NS_PER_SEC, UtcOffset::UTC),
                "p50_mw": round3(p.p50), "p10_mw": round3(p.p10), "p90_mw": round3(p.p90),
            })).collect::<Vec<_>>(),
        });
        ctx.outbox.publish(format!("fl/v1/{}/forecasts/{}", plant.site, horizon.as_str()), body.to_string());
        tracing::info!(site = plant.site, horizon = horizon.as_str(), issued, points = points.len(), "forecast issued");
    }
    Ok(())
}

/// Writes a live issue's E file into `[forecast.efile] dir`, if set. A failure is logged and
/// counted, never fatal: the forecast is stored and served whatever the directory does.
pub(super) fn drop_efile(
    drop: &super::EfileDrop,
    uploader: Option<&super::sftp::SftpUploader>,
    plant: &Plant,
    horizon: Horizon,
    issue: i64,
    offset_s: i32,
    points: &[ForecastPoint],
) {
    let Some(dir) = &drop.dir else { return };
    match write_efile(dir, drop, &plant.site, horizon, issue, offset_s, points) {
        Ok(path) => {
            if let Some(uploader) = uploader {
                uploader.queue(path);
            }
        }
        Err(e) => {
            tracing::error!(site = plant.site, horizon = horizon.as_str(), dir = %dir.display(), error = %e, "E file not written");
        }
    }
}

/// The E file of one issue, encoded and written atomically into `dir`; returns its path.
pub(crate) fn write_efile(
    dir: &std::path::Path,
    drop: &super::EfileDrop,
    site: &str,
    horizon: Horizon,
    issue: i64,
    offset_s: i32,
    points: &[ForecastPoint],
) -> Result<std::path::PathBuf, Error> {
    use fieldline_analytics::forecast::efile::{self, EPoint, Style};
    use std::io::Write;
    let style = Style {
        gbk: drop.encoding == super::EfileEncoding::Gbk,
        chinese_headers: drop.headers == super::EfileHeaders::Zh,
    };
    let rows: Vec<EPoint> = points
        .iter()
        .map(|p| EPoint {
            time: p.time,
            p50_mw: round3(p.p50),
            p10_mw: Some(round3(p.p10)),
            p90_mw: Some(round3(p.p90)),
        })
        .collect();
    let text = efile::render_styled(site, horizon, issue, offset_s, &rows, style)?;
    let bytes = if style.gbk {
        let (bytes, _, unmappable) = encoding_rs::GBK.encode(&text);
        if unmappable {
            return Err(Error::Other(format!("E file of {site}: characters GBK cannot encode")));
        }
        bytes.into_owned()
    } else {
        text.into_bytes()
    };
    let name = efile::file_name(site, horizon, issue, offset_s)?;
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let io = |source| Error::Efile { path: path.clone(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Writes from the blocking pool through the async store API.
pub(super) fn block_on_write(ctx: &JobContext, points: Vec<Point>) -> Result<(), Error> {
    let store = ctx.store.clone();
    tokio::runtime::Handle::current()
        .block_on(store.write_points(points))
        .map_err(|e| Error::Other(format!("writing forecasts: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::forecast::{EfileDrop, EfileEncoding, EfileHeaders};

    #[test]
    fn a_gbk_e_file_with_chinese_headers_is_written_whole() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let drop = EfileDrop {
            dir: Some(dir.path().into()),
            encoding: EfileEncoding::Gbk,
            headers: EfileHeaders::Zh,
            ..Default::default()
        };
        let points: Vec<ForecastPoint> = (1..=4)
            .map(|i| ForecastPoint { time: 1_714_521_600 + i * 900, p50: 10.0 + i as f64, p10: 9.0, p90: 20.0 })
            .collect();
        let path = write_efile(dir.path(), &drop, "HZ_PV1", Horizon::UltraShort, 1_714_521_600, 8 * 3600, &points)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(path.file_name().and_then(|n| n.to_str()), Some("HZ_PV1_20240501_0800_CDQ.txt"));
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(std::str::from_utf8(&bytes).is_err(), "GBK Chinese is not UTF-8");
        let (text, _, bad) = encoding_rs::GBK.decode(&bytes);
        assert!(!bad);
        assert!(text.starts_with(
            "<!System=OMS Version=1.0 Code=GBK Data=1.0!>\n<CDQYC::HZ_PV1 Date=2024-05-01 Time=08:00:00>\n"
        ));
        assert!(
            text.contains(
                "@序号\t时刻\t预测功率(MW)\tP10功率(MW)\tP90功率(MW)\n#1\t2024-05-01_08:15:00\t11.000\t9.000\t20.000\n"
            ),
            "{text}"
        );
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["HZ_PV1_20240501_0800_CDQ.txt".to_string()], "no temporary file left behind");
    }
}
