//! One day's bundle of curated indicators, and its cut for one recipient.
//!
//! Built from what fieldline already computes: the farm views (`crate::api::farm`, curated to
//! a plot's or a trap's day — never its daily series), the plant meter integrated over the day,
//! the forecast scores the forecast job wrote (`forecast_accuracy`), the alerts open at the
//! end of the day, each device's reading cadence for completeness, and `market_price` series.
//! Every number is a summary of a day or a season; the schema
//! (`schemas/brain-bundle.v1.json`, `additionalProperties: false` throughout) keeps it so.

use std::collections::{BTreeMap, BTreeSet};

use fieldline_core::time::{NS_PER_DAY, NS_PER_SEC, format_time, now_ns};
use fieldline_store::{Query, Series, Store};
use serde_json::{Map, Value, json};
use time::{Date, UtcOffset};

use super::{Error, Group, SCHEMA_VERSION};
use crate::alerts::{Alerts, State};
use crate::api::ApiError;
use crate::api::farm::{midnight_ns, plots, traps};
use crate::config::AgroConfig;
use crate::jobs::forecast::{ACCURACY_MEASUREMENT, ForecastConfig};

/// The measurement market prices are written to (`item`, `unit` tags; `price` field).
pub const MARKET_MEASUREMENT: &str = "market_price";
/// Days of readings a device's cadence is learned from for completeness.
const CADENCE_DAYS: i64 = 7;
/// A meter reading stands for at most this long (s) when the day's energy is integrated.
const MAX_READING_SPAN_S: f64 = 900.0;

/// What a bundle is built from.
pub struct Sources<'a> {
    pub store: &'a Store,
    pub agro: &'a AgroConfig,
    pub forecast: &'a ForecastConfig,
    pub alerts: &'a Alerts,
}

/// The bundle of local day `date` with every group, for `site` only when given.
pub fn build(src: &Sources<'_>, date: Date, offset: UtcOffset, site: Option<&str>) -> Result<Value, Error> {
    let (start, end) = (midnight_ns(date, offset), midnight_ns(date, offset).saturating_add(NS_PER_DAY));
    let wanted = |s: &str| site.is_none_or(|w| w == s);
    let mut bundle = Map::new();
    bundle.insert("schema_version".into(), json!(SCHEMA_VERSION));
    bundle.insert("date".into(), json!(date.to_string()));
    bundle.insert("utc_offset".into(), json!(format_offset(offset)));
    bundle.insert("generated_at".into(), json!(format_time(now_ns(), offset)));
    bundle.insert("groups".into(), json!(Group::ALL));
    bundle.insert("plots".into(), Value::Array(plot_indicators(src, date, offset, &wanted)?));
    bundle.insert("traps".into(), Value::Array(trap_indicators(src, date, offset, &wanted)?));
    bundle.insert("plants".into(), Value::Array(plant_indicators(src.store, start, end, &wanted)?));
    bundle.insert("sites".into(), Value::Array(site_indicators(src, start, end, &wanted)?));
    bundle.insert("market".into(), Value::Array(market_indicators(src.store, start, end, offset)?));
    let mut bundle = Value::Object(bundle);
    let covers = sites_of(&bundle);
    bundle["covers_sites"] = json!(covers);
    Ok(bundle)
}

/// `whole` with only `groups` (in its `groups` list too) and, when `sites` is not empty, only
/// those sites' entries. Market prices are regional: they are kept whenever `market` is.
pub fn cut(whole: &Value, groups: &[Group], sites: &[String]) -> Value {
    let mut out = whole.clone();
    let Some(map) = out.as_object_mut() else { return out };
    let allowed: BTreeSet<Group> = groups.iter().copied().collect();
    for group in Group::ALL {
        if !allowed.contains(&group) {
            map.remove(group.key());
        } else if !sites.is_empty()
            && group != Group::Market
            && let Some(Value::Array(entries)) = map.get_mut(group.key())
        {
            entries.retain(|e| e["site"].as_str().is_some_and(|s| sites.iter().any(|w| w == s)));
        }
    }
    map.insert("groups".into(), json!(allowed));
    let covers = sites_of(&out);
    out["covers_sites"] = json!(covers);
    out
}

/// The sites a bundle holds indicators of.
pub fn sites_of(bundle: &Value) -> Vec<String> {
    let mut sites = BTreeSet::new();
    for group in [Group::Plots, Group::Traps, Group::Plants, Group::Sites] {
        for entry in bundle[group.key()].as_array().into_iter().flatten() {
            if let Some(s) = entry["site"].as_str() {
                sites.insert(s.to_string());
            }
        }
    }
    sites.into_iter().collect()
}

fn format_offset(offset: UtcOffset) -> String {
    let (h, m, _) = offset.as_hms();
    format!("{}{:02}:{:02}", if offset.is_negative() { '-' } else { '+' }, h.unsigned_abs(), m.unsigned_abs())
}

/// (site, device) of every device of `measurement`.
fn devices(store: &Store, measurement: &str) -> BTreeSet<(String, String)> {
    store
        .series(Some(measurement), &[])
        .into_iter()
        .filter_map(|s| Some((s.tags.get("site")?.clone(), s.tags.get("device")?.clone())))
        .collect()
}

/// A farm view's error: "no readings this season" means the device has nothing to report.
fn view_error(e: ApiError) -> Option<Error> {
    (e.status != axum::http::StatusCode::NOT_FOUND).then_some(Error::Build(e.message))
}

fn plot_indicators(
    src: &Sources<'_>,
    date: Date,
    offset: UtcOffset,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    for (site, plot) in devices(src.store, "peony_plot").into_iter().filter(|(s, _)| wanted(s)) {
        let view = match plots::view(src.store, src.agro, src.forecast, &plot, date, offset) {
            Ok(v) => v,
            Err(e) => match view_error(e) {
                Some(e) => return Err(e),
                None => continue,
            },
        };
        let stage = view["stage"].as_object().map(|s| json!({"code": s["code"], "name_zh": s["name_zh"]}));
        let observed = view["stage_observed"]["code"].as_str();
        let source = match (observed, stage.as_ref().and_then(|s| s["code"].as_str())) {
            (Some(o), Some(shown)) if o == shown => "observed",
            _ => "model",
        };
        let bloom = view["bloom"].as_array().map(|stages| {
            stages
                .iter()
                .map(|b| json!({"stage": b["stage"], "reached": b["reached"], "p10": b["p10"], "p50": b["p50"], "p90": b["p90"]}))
                .collect::<Vec<_>>()
        });
        let water = view["water"].as_object().map(|w| {
            json!({"taw_mm": w["taw_mm"], "raw_mm": w["raw_mm"], "depletion_mm": w["depletion_mm"], "advice": w["advice"]})
        });
        let frost = &view["frost"];
        out.push(json!({
            "plot": plot, "site": site, "crop": view["crop"], "crop_zh": view["crop_zh"],
            "gdd": view["gdd"], "gdd_start": view["gdd_start"],
            "stage": stage, "stage_source": source,
            "bloom": bloom, "et0_mm": view["et0_mm"], "water": water,
            "frost": {"level": frost["level"], "min_temp_c": frost.get("min_temp_c").unwrap_or(&Value::Null),
                      "threshold_c": frost.get("threshold_c").unwrap_or(&Value::Null)},
        }));
    }
    Ok(out)
}

fn trap_indicators(
    src: &Sources<'_>,
    date: Date,
    offset: UtcOffset,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<Value>, Error> {
    let mut out = Vec::new();
    let traps: BTreeSet<(String, String)> = devices(src.store, "pest_trap");
    for (site, trap) in traps.into_iter().filter(|(s, _)| wanted(s)) {
        let view = match traps::report(src.store, &trap, date, offset) {
            Ok(v) => v,
            Err(e) => match view_error(e) {
                Some(e) => return Err(e),
                None => continue,
            },
        };
        let species: Vec<Value> = view["species"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|sp| {
                let daily: Vec<f64> = sp["daily"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|d| d[0].as_str() <= Some(date.to_string().as_str()))
                    .filter_map(|d| d[1].as_f64())
                    .collect();
                let flight = sp["flights"].as_array().and_then(|f| f.last()).map(|f| {
                    json!({"onset": f["onset"], "peak": f["peak"], "end": f["end"], "complete": f["complete"], "total": f["total"]})
                });
                json!({
                    "species": sp["species"], "name_zh": sp["name_zh"], "trap_type": sp["trap_type"],
                    "daily_catch": daily.last().copied().unwrap_or(0.0),
                    "level": sp["level"], "trend": trend(&daily),
                    "flight": flight, "next_week_forecast": sp["next_week_forecast"],
                    "next_flight": sp["next_flight"].as_object().map(|n| json!({
                        "expected_peak": n["expected_peak"], "early": n["early"], "late": n["late"]})),
                    "season_total": sp["season_total"], "degree_days": sp["degree_days"],
                })
            })
            .collect();
        out.push(json!({"trap": trap, "site": site, "species": species}));
    }
    Ok(out)
}

/// Whether catches are rising: the last 3 days' mean against the 3 days before.
fn trend(daily: &[f64]) -> &'static str {
    let n = daily.len();
    if n < 6 {
        return "steady";
    }
    let mean = |d: &[f64]| d.iter().sum::<f64>() / d.len() as f64;
    let (before, recent) = (mean(&daily[n - 6..n - 3]), mean(&daily[n - 3..]));
    if recent > before * 1.25 + 0.5 {
        "rising"
    } else if recent < before * 0.8 - 0.5 {
        "falling"
    } else {
        "steady"
    }
}

/// The points of `field` among `series`, in time order.
fn points(series: &[Series], field: &str) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = series
        .iter()
        .filter(|s| s.field == field)
        .flat_map(|s| s.points.iter().filter_map(|(t, v)| Some((*t, v.as_f64().filter(|v| v.is_finite())?))))
        .collect();
    out.sort_by_key(|(t, _)| *t);
    out
}

/// Seconds each reading stands for: until the next one, at most `MAX_READING_SPAN_S`; the last
/// one as long as the one before it.
fn spans_s(times: &[i64]) -> Vec<f64> {
    let gap = |a: i64, b: i64| ((b - a) as f64 / NS_PER_SEC as f64).clamp(0.0, MAX_READING_SPAN_S);
    let mut spans: Vec<f64> = times.windows(2).map(|w| gap(w[0], w[1])).collect();
    spans.push(spans.last().copied().unwrap_or(0.0));
    spans
}

fn plant_indicators(store: &Store, start: i64, end: i64, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<Value>, Error> {
    let sites: BTreeSet<String> =
        store.series(Some("plant"), &[]).into_iter().filter_map(|s| s.tags.get("site").cloned()).collect();
    let mut out = Vec::new();
    for site in sites.into_iter().filter(|s| wanted(s)) {
        let query = Query::new("plant").range(start, end).tag("site", &site).fields([
            "power_mw",
            "available_mw",
            "curtailed",
            "capacity_mw",
        ]);
        let series = store.query(&query)?;
        let power = points(&series, "power_mw");
        let available: BTreeMap<i64, f64> = points(&series, "available_mw").into_iter().collect();
        let curtailed: BTreeMap<i64, f64> = points(&series, "curtailed").into_iter().collect();
        let spans = spans_s(&power.iter().map(|(t, _)| *t).collect::<Vec<_>>());
        let (mut energy, mut covered, mut curtailed_s, mut curtailed_mwh) = (0.0, 0.0, 0.0, 0.0);
        for ((t, p), dt) in power.iter().zip(&spans) {
            energy += p * dt / 3600.0;
            covered += dt;
            if curtailed.get(t).is_some_and(|c| *c > 0.0) {
                curtailed_s += dt;
                if let Some(a) = available.get(t) {
                    curtailed_mwh += (a - p).max(0.0) * dt / 3600.0;
                }
            }
        }
        let capacity = points(&series, "capacity_mw").last().map(|(_, c)| *c);
        let scores = store.query(
            &Query::new(ACCURACY_MEASUREMENT)
                .range(start, end)
                .tag("site", &site)
                .fields(["accuracy", "qualified_rate"]),
        )?;
        let mut accuracy = Map::new();
        for horizon in ["short_term", "ultra_short"] {
            let of = |field: &str| {
                scores
                    .iter()
                    .filter(|s| s.field == field && s.tag("horizon") == Some(horizon))
                    .flat_map(|s| s.points.iter())
                    .filter_map(|(_, v)| v.as_f64())
                    .next_back()
            };
            let value = match (of("accuracy"), of("qualified_rate")) {
                (Some(a), q) => json!({"accuracy": a, "qualified_rate": q}),
                _ => Value::Null,
            };
            accuracy.insert(horizon.into(), value);
        }
        let has_data = !power.is_empty();
        out.push(json!({
            "site": site,
            "capacity_mw": capacity,
            "energy_mwh": has_data.then_some(energy),
            "hours_metered": covered / 3600.0,
            "accuracy": accuracy,
            "curtailment": {"hours": curtailed_s / 3600.0, "energy_mwh": curtailed_mwh},
        }));
    }
    Ok(out)
}

/// Device kinds whose completeness is reported: readings of devices, not forecasts.
fn reading_kinds() -> impl Iterator<Item = &'static fieldline_core::kinds::KindSchema> {
    fieldline_core::kinds::KINDS.iter().copied().filter(|k| !k.forecast)
}

/// Completeness of one device on the day: the share of its reading slots (its cadence, the
/// median gap of its last week) with a reading. `None` if it sent nothing all week.
fn device_completeness(times: &[i64], start: i64, end: i64) -> Option<f64> {
    if times.is_empty() {
        return None;
    }
    let Some(cadence) = cadence(times) else {
        // One reading all week: the day has it or not.
        return Some(if times.iter().any(|t| (start..end).contains(t)) { 1.0 } else { 0.0 });
    };
    let cadence = cadence.clamp(NS_PER_SEC, NS_PER_DAY);
    let expected = ((end - start) as f64 / cadence as f64).round().max(1.0);
    let slots: BTreeSet<i64> =
        times.iter().filter(|t| (start..end).contains(*t)).map(|t| (t - start) / cadence).collect();
    Some((slots.len() as f64 / expected).min(1.0))
}

/// A device's reading interval: the median gap between its (sorted) reading times.
fn cadence(times: &[i64]) -> Option<i64> {
    let mut gaps: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).filter(|g| *g > 0).collect();
    gaps.sort_unstable();
    gaps.get(gaps.len() / 2).copied()
}

/// What [`completeness`] finds for one device kind at one site.
#[derive(Debug, Default)]
pub(crate) struct KindReadings {
    /// Each device's completeness over the window.
    pub shares: Vec<f64>,
    /// Each device's reading interval (ns), where it has one.
    pub cadences_ns: Vec<i64>,
    /// The times of every reading of the kind's first field, all devices.
    pub times: Vec<i64>,
}

/// Per site and device kind: see [`KindReadings`].
pub(crate) type SiteKinds = BTreeMap<String, BTreeMap<&'static str, KindReadings>>;

/// Completeness per site, kind and device over `start..end`, the cadence learned from
/// `cadence_days` before `end`; sites filtered by `wanted`.
pub(crate) fn completeness(
    store: &Store,
    start: i64,
    end: i64,
    cadence_days: i64,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<SiteKinds, fieldline_store::Error> {
    let mut by_site: SiteKinds = BTreeMap::new();
    for kind in reading_kinds() {
        let Some(first) = kind.fields.first() else { continue };
        let sites: BTreeSet<String> = store
            .series(Some(kind.kind), &[])
            .into_iter()
            .filter_map(|s| s.tags.get("site").cloned())
            .filter(|s| wanted(s))
            .collect();
        for site in sites {
            let from = end.saturating_sub(cadence_days * NS_PER_DAY).min(start);
            let query = Query::new(kind.kind).range(from, end).tag("site", &site).fields([first.name]);
            let mut per_device: BTreeMap<String, Vec<i64>> = BTreeMap::new();
            for s in store.query(&query)? {
                let device = s.tag("device").unwrap_or_default().to_string();
                per_device.entry(device).or_default().extend(s.points.iter().map(|(t, _)| *t));
            }
            let found = by_site.entry(site).or_default().entry(kind.kind).or_default();
            for times in per_device.values_mut() {
                times.sort_unstable();
                found.shares.extend(device_completeness(times, start, end));
                found.cadences_ns.extend(cadence(times));
                found.times.extend(times.iter().copied());
            }
        }
    }
    Ok(by_site)
}

fn site_indicators(
    src: &Sources<'_>,
    start: i64,
    end: i64,
    wanted: &dyn Fn(&str) -> bool,
) -> Result<Vec<Value>, Error> {
    let by_site: BTreeMap<String, BTreeMap<&'static str, Vec<f64>>> =
        completeness(src.store, start, end, CADENCE_DAYS, wanted)?
            .into_iter()
            .map(|(site, kinds)| (site, kinds.into_iter().map(|(k, found)| (k, found.shares)).collect()))
            .collect();
    let alerts = src.alerts.list().map_err(|e| Error::Build(e.to_string()))?;
    let mut out = Vec::new();
    for (site, kinds) in by_site {
        let all: Vec<f64> = kinds.values().flatten().copied().collect();
        let mean = |v: &[f64]| if v.is_empty() { None } else { Some(v.iter().sum::<f64>() / v.len() as f64) };
        let by_kind: Map<String, Value> = kinds
            .iter()
            .map(|(kind, shares)| {
                let silent = shares.iter().filter(|s| **s == 0.0).count();
                (
                    (*kind).to_string(),
                    json!({"devices": shares.len(), "completeness": mean(shares), "silent_devices": silent}),
                )
            })
            .collect();
        // Open at the end of the day: started by then, not resolved by then.
        let open: Vec<_> = alerts
            .iter()
            .filter(|a| a.site == site && a.start_ns < end)
            .filter(|a| a.state != State::Resolved || a.resolved_ns.is_some_and(|r| r >= end))
            .collect();
        let mut by_kind_alerts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_severity: BTreeMap<&str, usize> = BTreeMap::new();
        for a in &open {
            *by_kind_alerts.entry(a.kind.as_str()).or_default() += 1;
            *by_severity.entry(a.severity.as_str()).or_default() += 1;
        }
        out.push(json!({
            "site": site,
            "completeness": {"overall": mean(&all), "by_kind": by_kind},
            "open_alerts": {"total": open.len(), "by_kind": by_kind_alerts, "by_severity": by_severity},
        }));
    }
    Ok(out)
}

fn market_indicators(store: &Store, start: i64, end: i64, offset: UtcOffset) -> Result<Vec<Value>, Error> {
    let week_before = end.saturating_sub(7 * NS_PER_DAY);
    let query = Query::new(MARKET_MEASUREMENT).range(week_before.saturating_sub(7 * NS_PER_DAY), end).fields(["price"]);
    let mut out = Vec::new();
    for s in store.query(&query)? {
        let prices: Vec<(i64, f64)> =
            s.points.iter().filter_map(|(t, v)| Some((*t, v.as_f64().filter(|v| v.is_finite())?))).collect();
        // The day's price is its last one; a price from before the day is still the price,
        // unless it is over a week old.
        let Some((at, price)) = prices.iter().rev().find(|(t, _)| *t < end).copied() else { continue };
        if at < week_before {
            continue;
        }
        let before = prices.iter().rev().find(|(t, _)| *t < week_before).map(|(_, p)| *p);
        let change = before.filter(|b| *b != 0.0).map(|b| (price - b) / b * 100.0);
        out.push(json!({
            "item": s.tag("item").unwrap_or("unknown"),
            "unit": s.tag("unit").unwrap_or(""),
            "market": s.tag("device").unwrap_or(""),
            "site": s.tag("site"),
            "price": price,
            "at": format_time(at, offset),
            "updated_today": at >= start,
            "change_7d_pct": change,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completeness_counts_the_slots_of_the_devices_own_cadence() {
        let min = 60 * NS_PER_SEC;
        let (start, end) = (10 * NS_PER_DAY, 11 * NS_PER_DAY);
        // Every 15 min for a week, the day's afternoon missing.
        let times: Vec<i64> = (0..7 * 96)
            .map(|i| start - 6 * NS_PER_DAY + i * 15 * min)
            .filter(|t| !(start + 12 * 60 * min..start + 18 * 60 * min).contains(t))
            .collect();
        let share = device_completeness(&times, start, end).unwrap();
        assert!((share - 72.0 / 96.0).abs() < 1e-9, "{share}");
        // Silent on the day.
        let before: Vec<i64> = times.iter().copied().filter(|t| *t < start).collect();
        assert_eq!(device_completeness(&before, start, end), Some(0.0));
        assert_eq!(device_completeness(&[], start, end), None);
        // Duplicates in one slot count once.
        let doubled: Vec<i64> = (0..96).flat_map(|i| [start + i * 15 * min, start + i * 15 * min + 1]).collect();
        assert!(device_completeness(&doubled, start, end).unwrap() <= 1.0);
    }

    #[test]
    fn trend_compares_the_last_three_days_with_the_three_before() {
        assert_eq!(trend(&[0.0, 0.0, 0.0, 1.0, 3.0, 6.0]), "rising");
        assert_eq!(trend(&[9.0, 8.0, 7.0, 2.0, 1.0, 0.0]), "falling");
        assert_eq!(trend(&[2.0, 2.0, 2.0, 2.0, 3.0, 2.0]), "steady");
        assert_eq!(trend(&[5.0]), "steady");
    }

    #[test]
    fn a_cut_holds_only_the_allowed_groups_and_sites() {
        let whole = json!({
            "schema_version": "1", "date": "2026-04-20", "groups": Group::ALL,
            "plots": [{"plot": "p1", "site": "a"}, {"plot": "p2", "site": "b"}],
            "traps": [{"trap": "t1", "site": "a"}],
            "plants": [{"site": "b"}], "sites": [{"site": "a"}, {"site": "b"}],
            "market": [{"item": "peony_seed_oil", "site": "b"}],
        });
        let cut = cut(&whole, &[Group::Plots, Group::Market], &["a".to_string()]);
        assert_eq!(cut["groups"], json!(["plots", "market"]));
        assert!(cut.get("traps").is_none() && cut.get("plants").is_none() && cut.get("sites").is_none());
        assert_eq!(cut["plots"], json!([{"plot": "p1", "site": "a"}]));
        assert_eq!(cut["market"].as_array().unwrap().len(), 1, "market prices are regional");
        assert_eq!(cut["covers_sites"], json!(["a"]));
    }

    #[test]
    fn offsets_print_as_iso() {
        assert_eq!(format_offset(UtcOffset::from_hms(8, 0, 0).unwrap()), "+08:00");
        assert_eq!(format_offset(UtcOffset::from_hms(-3, -30, 0).unwrap()), "-03:30");
    }
}
