//! Daily scoring: each finished local day's forecasts against the plant meter as the grid
//! assesses them (the short-term forecast issued the day before, each slot's 4th-hour
//! ultra-short value), written to `forecast_accuracy` and the daily-accuracy gauge.

use std::collections::BTreeMap;

use fieldline_analytics::forecast::scoring::score;
use fieldline_core::time::{NS_PER_SEC, SECS_PER_DAY, format_time};
use fieldline_core::{FieldValue, Point};
use fieldline_store::Query;
use time::UtcOffset;

use super::inputs::Inputs;
use super::issue::block_on_write;
use super::{
    ACCURACY_MEASUREMENT, Error, FORECAST_MEASUREMENT, ForecastConfig, Horizon, Plant, PlantLabels, SLOT,
    ULTRA_SHORT_LEADS, local_day, parse_issued,
};
use crate::jobs::JobContext;

/// Scores local day `day` for both horizons; false if the day has no forecasts yet.
pub(super) fn score_day(
    ctx: &JobContext,
    config: &ForecastConfig,
    offset_s: i32,
    plant: &Plant,
    day: i64,
) -> Result<bool, Error> {
    let start = day * SECS_PER_DAY - i64::from(offset_s);
    let end = start + SECS_PER_DAY;
    let inputs = Inputs::load(ctx, config, offset_s, plant, start, end - SLOT)?;
    let measured: BTreeMap<i64, (f64, bool)> = inputs
        .times
        .iter()
        .zip(inputs.power.iter().zip(&inputs.curtailed))
        .filter(|(t, _)| **t > start && **t <= end)
        .map(|(t, (p, c))| (*t, (*p, *c > 0.0)))
        .collect();
    let mut any = false;
    for horizon in [Horizon::ShortTerm, Horizon::UltraShort] {
        let forecast = forecast_for_day(ctx, &plant.site, horizon, start, end, offset_s)?;
        if forecast.is_empty() {
            continue;
        }
        any = true;
        let (mut m, mut f, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for (t, (p, curtailed)) in &measured {
            m.push(*p);
            f.push(forecast.get(t).copied().unwrap_or(f64::NAN));
            c.push(*curtailed);
        }
        let s = score(&m, &f, Some(&c), plant.capacity_mw, &plant.rules)?;
        if s.n == 0 {
            continue;
        }
        let point = Point::new(
            ACCURACY_MEASUREMENT,
            vec![("horizon".into(), horizon.as_str().into()), ("site".into(), plant.site.clone())],
            vec![
                ("accuracy".into(), FieldValue::Float(s.accuracy)),
                ("qualified_rate".into(), FieldValue::Float(s.qualified_rate)),
                ("n".into(), FieldValue::Int(s.n as i64)),
                ("excluded".into(), FieldValue::Int(s.excluded as i64)),
                ("mae_mw".into(), FieldValue::Float(s.mae)),
                ("rmse_mw".into(), FieldValue::Float(s.rmse)),
                ("bias_mw".into(), FieldValue::Float(s.bias)),
                ("capacity_mw".into(), FieldValue::Float(plant.capacity_mw)),
            ],
            start * NS_PER_SEC,
        );
        block_on_write(ctx, vec![point])?;
        ctx.metrics
            .daily_accuracy
            .get_or_create(&PlantLabels { site: plant.site.clone(), horizon: horizon.as_str() })
            .set(s.accuracy);
        tracing::info!(site = plant.site, horizon = horizon.as_str(), day = %format_time(start * NS_PER_SEC, UtcOffset::UTC),
            accuracy = s.accuracy, qualified_rate = s.qualified_rate, n = s.n, "day scored");
    }
    Ok(any)
}

/// The forecast values dispatch assesses for the slots in `(start, end]`: for the short term,
/// the forecast issued the day before; for the ultra-short term, each slot's 4th-hour value
/// (issued 4 h before it).
pub fn forecast_for_day(
    ctx: &JobContext,
    site: &str,
    horizon: Horizon,
    start: i64,
    end: i64,
    offset_s: i32,
) -> Result<BTreeMap<i64, f64>, Error> {
    let query = Query::new(FORECAST_MEASUREMENT)
        .range((start + 1) * NS_PER_SEC, (end + 1) * NS_PER_SEC)
        .tag("site", site)
        .tag("horizon", horizon.as_str())
        .fields(["p50_mw"]);
    let forecasts = ctx.store.query(&query)?;
    let day = local_day(start, offset_s);
    let mut out: BTreeMap<i64, (i64, f64)> = BTreeMap::new();
    for series in &forecasts {
        let Some(issued) = series.tag("issued").and_then(parse_issued) else { continue };
        for (ts, v) in &series.points {
            let t = ts.div_euclid(NS_PER_SEC);
            let wanted = match horizon {
                Horizon::ShortTerm => local_day(issued, offset_s) == day - 1,
                Horizon::UltraShort => t - issued == ULTRA_SHORT_LEADS * SLOT,
            };
            let Some(x) = v.as_f64() else { continue };
            // Of several qualifying issues, the latest wins.
            if wanted && out.get(&t).is_none_or(|(i, _)| *i < issued) {
                out.insert(t, (issued, x));
            }
        }
    }
    Ok(out.into_iter().map(|(t, (_, x))| (t, x)).collect())
}
