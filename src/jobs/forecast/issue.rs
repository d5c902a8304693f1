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
