//! The farm operator's pest view: `GET /api/v1/farm/traps/{trap}` — per species the trap
//! catches, the season's daily catch (from the cumulative counter, service resets handled),
//! its flights with onset, peak and end dates, the warning level 1–5, the next week's
//! expected catch and the species' degree days from the site's air temperature. The numbers
//! come from `fieldline_analytics::pests`; this module reads the store and dates the days.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use fieldline_analytics::agronomy::{DegreeDayMethod, degree_days};
use fieldline_analytics::crops::DayTemps;
use fieldline_analytics::pests::{self, SpeciesTable, TrapType};
use fieldline_core::time::{NS_PER_DAY, NS_PER_SEC};
use serde_json::{Value, json};
use time::{Date, UtcOffset};

use super::{DayParams, daily_min_max, midnight_ns, nearest_site, respond};
use crate::api::{ApiError, AppState};

/// Trap days start at local noon, so one night's flight is one day.
const TRAP_DAY_START_HOUR: u32 = 12;
/// A flight: days whose 7-day mean catch is at least this, gaps shorter than `FLIGHT_GAP_DAYS`
/// bridged.
const FLIGHT_MIN_DAILY: f64 = 0.5;
const FLIGHT_GAP_DAYS: usize = 5;
/// Days ahead the next flight is looked for.
const FLIGHT_HORIZON_DAYS: usize = 90;

pub async fn trap(
    State(state): State<AppState>,
    Path(trap): Path<String>,
    Query(params): Query<DayParams>,
) -> Result<Response, ApiError> {
    let store = state.store.clone();
    respond(&state, &params, move |date, offset| report(&store, &trap, date, offset)).await
}

/// The season (1 January to `date`, local) of every species `trap` catches: the view the API
/// serves and the 产业大脑 bundle curates.
pub(crate) fn report(
    store: &fieldline_store::Store,
    trap: &str,
    date: Date,
    offset: UtcOffset,
) -> Result<Value, ApiError> {
    let season_start = Date::from_calendar_date(date.year(), time::Month::January, 1).map_err(ApiError::internal)?;
    let start_ns = midnight_ns(season_start, offset);
    // Trap day `date` runs to noon the next day.
    let stop_ns =
        midnight_ns(date, offset).saturating_add(NS_PER_DAY + i64::from(TRAP_DAY_START_HOUR) * 3600 * NS_PER_SEC);
    let query = fieldline_store::Query::new("pest_trap").range(start_ns, stop_ns).tag("device", trap).fields(["count"]);
    let series = store.query(&query)?;
    if series.is_empty() {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("no trap {trap:?} with readings this season (pest_trap, device={trap})"),
        ));
    }
    let site = series.first().and_then(|s| s.tag("site")).unwrap_or_default().to_string();
    // The site's met station, or the region's when the trap's site has none.
    let met_site = nearest_site(store, "met_station", &site);
    let temps = daily_air_temps(store, met_site.as_deref().unwrap_or(&site), start_ns, stop_ns, offset)?;
    let nwp_site = nearest_site(store, "nwp", &site);
    let forecast = super::plots::forecast_days(store, nwp_site.as_deref().unwrap_or(&site), date, offset)?;
    let table = SpeciesTable::built_in();
    let offset_s = i64::from(offset.whole_seconds());
    let first_day = pests::trap_day(start_ns / NS_PER_SEC, offset_s, TRAP_DAY_START_HOUR);
    let last_day = pests::trap_day(stop_ns / NS_PER_SEC - 1, offset_s, TRAP_DAY_START_HOUR);
    let day_date = |day: i64| day_as_date(day).map(|d| d.to_string()).unwrap_or_default();
    let mut out = Vec::new();
    for s in &series {
        let species_name = s.tag("species").unwrap_or("unknown").to_string();
        let trap_type = match s.tag("trap_type") {
            Some("pheromone") => TrapType::Pheromone,
            _ => TrapType::Light,
        };
        let readings: Vec<(i64, f64)> =
            s.points.iter().filter_map(|(t, v)| Some((t / NS_PER_SEC, v.as_f64()?))).collect();
        // Every trap day of the season, 0 where nothing was caught or read.
        let mut by_day: BTreeMap<i64, f64> = (first_day..=last_day).map(|d| (d, 0.0)).collect();
        for (day, catch) in pests::daily_catches(&readings, offset_s, TRAP_DAY_START_HOUR) {
            if let Some(slot) = by_day.get_mut(&day) {
                *slot += catch;
            }
        }
        let days: Vec<i64> = by_day.keys().copied().collect();
        let catches: Vec<f64> = by_day.values().copied().collect();
        let flights: Vec<Value> = pests::flights(&catches, FLIGHT_MIN_DAILY, FLIGHT_GAP_DAYS)
            .into_iter()
            .map(|f| {
                json!({
                    "onset": day_date(days[f.onset]), "peak": day_date(days[f.peak]), "end": day_date(days[f.end]),
                    "first": day_date(days[f.first]), "last": day_date(days[f.last]),
                    "total": f.total, "complete": f.complete,
                })
            })
            .collect();
        let species = table.get(&species_name);
        let window = species.map_or(3, |sp| sp.level_window_days);
        let mean = pests::recent_mean(&catches, window);
        let degree_days_so_far =
            species.map(|sp| temps.iter().map(|(d, t)| species_dd(sp, *d, t)).filter(|dd| dd.is_finite()).sum::<f64>());
        let season_flights = pests::flights(&catches, FLIGHT_MIN_DAILY, FLIGHT_GAP_DAYS);
        let next_flight = species.map(|sp| {
            // Each trap day's degree days (its calendar day's), then the weather forecast's
            // days, then the last week's rate carried on.
            let by_date: BTreeMap<Date, f64> = temps.iter().map(|(d, t)| (*d, species_dd(sp, *d, t))).collect();
            let observed: Vec<f64> = days
                .iter()
                .map(|d| day_as_date(*d).and_then(|date| by_date.get(&date).copied()).unwrap_or(0.0))
                .collect();
            let recent: Vec<f64> = temps.iter().rev().take(7).map(|(d, t)| species_dd(sp, *d, t)).collect();
            let rate = if recent.is_empty() { 0.0 } else { recent.iter().sum::<f64>() / recent.len() as f64 };
            let mut ahead: Vec<f64> = (1..)
                .zip(&forecast.temps)
                .map(|(k, t)| date.checked_add(time::Duration::days(k)).map_or(0.0, |d| species_dd(sp, d, t)))
                .collect();
            ahead.resize(ahead.len().max(FLIGHT_HORIZON_DAYS), rate);
            let f = sp.next_flight(&observed, season_flights.last().map(|f| f.peak), &ahead);
            let on = |i: Option<usize>| {
                i.and_then(|i| {
                    let first = *days.first()?;
                    Some(day_date(first + i as i64))
                })
            };
            json!({"expected_peak": on(f.peak), "early": on(f.early), "late": on(f.late), "due_dd": f.due_dd,
                   "dd_so_far": f.dd_so_far, "after_flight": f.after_flight, "forecast_days": forecast.temps.len()})
        });
        let season_total: f64 = catches.iter().sum();
        let note = (season_total == 0.0).then_some("no catches this season yet (moths fly from spring to autumn)");
        out.push(json!({
            "species": species_name,
            "name_zh": species.map(|sp| sp.name_zh.clone()),
            "common_name": species.map(|sp| sp.common_name.clone()),
            "trap_type": trap_type,
            "level": species.map(|sp| sp.level(mean, trap_type)),
            "level_mean_daily_catch": mean,
            "level_window_days": window,
            "next_week_forecast": pests::next_week_forecast(&catches),
            "degree_days": degree_days_so_far,
            "next_flight": next_flight,
            "season_total": season_total,
            "flights": flights,
            "daily": days.iter().zip(&catches).map(|(d, c)| json!([day_date(*d), c])).collect::<Vec<_>>(),
            "note": note,
        }));
    }
    // Degree days count only the days with temperatures: say from when they do.
    let temperatures_since = temps.first().map(|(d, _)| d.to_string());
    Ok(json!({ "trap": trap, "site": site, "date": date.to_string(), "temperatures_from": met_site,
               "temperatures_since": temperatures_since, "species": out }))
}

/// A day's degree days of `species` (single sine between its thresholds); 0 before a migrant's
/// arrival.
fn species_dd(species: &pests::Species, date: Date, t: &DayTemps) -> f64 {
    if u32::from(date.ordinal()) < species.arrival_doy.unwrap_or(1) {
        return 0.0;
    }
    degree_days(t.tmin_c, t.tmax_c, species.lower_c, Some(species.upper_c), DegreeDayMethod::SingleSine)
}

/// The calendar date of a trap day (days since the Unix epoch).
fn day_as_date(day: i64) -> Option<Date> {
    Date::from_julian_day(2_440_588 + i32::try_from(day).ok()?).ok()
}

/// Daily (local date) minimum and maximum air temperature of the site's met station, if it
/// has one.
fn daily_air_temps(
    store: &fieldline_store::Store,
    site: &str,
    start_ns: i64,
    stop_ns: i64,
    offset: UtcOffset,
) -> Result<Vec<(Date, DayTemps)>, ApiError> {
    let query =
        fieldline_store::Query::new("met_station").range(start_ns, stop_ns).tag("site", site).fields(["air_temp_c"]);
    Ok(daily_min_max(&store.query(&query)?, offset))
}
