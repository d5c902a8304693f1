//! A plot's season: `GET /api/v1/farm/plots/{plot}` — degree days and the stage reached (of
//! the crop `[[agro.plots]]` names; peony on a loam when the plot is not listed), the
//! bloom-date forecast with its
//! P10–P90 range when past seasons of the plot are in the store (they are the ensemble), daily
//! FAO-56 ET0 from the site's met station, the root-zone water balance from ET0 × Kc, the
//! plot's rain gauge and its soil-moisture sensor, the irrigation advice, and the frost risk
//! of the next 72 h from the latest weather forecast.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use fieldline_analytics::agronomy::{self, DailyHumidity, DailyWeather};
use fieldline_analytics::bloom::{self, Phenology};
use fieldline_analytics::crops::{Crop, DayTemps};
use fieldline_analytics::water::{self, RootZone, WaterDay};
use fieldline_core::time::{NS_PER_DAY, NS_PER_HOUR, NS_PER_SEC, local_date, now_ns};
use fieldline_store::{Query as StoreQuery, Series, Store};
use serde_json::{Value, json};
use time::{Date, UtcOffset};

use super::{DayParams, daily_min_max, midnight_ns, nearest_site, respond};
use crate::api::{ApiError, AppState};
use crate::config::{AgroConfig, PlotConfig};
use crate::jobs::forecast::ForecastConfig;

/// Height of the met station's anemometer (m); converted to 2 m for ET0.
const WIND_HEIGHT_M: f64 = 10.0;
/// Past seasons looked for in the store as bloom-forecast ensemble members.
const PAST_SEASONS: i32 = 10;
/// Days ahead the irrigation advice looks.
const ADVICE_DAYS: usize = 7;

pub async fn plot(
    State(state): State<AppState>,
    Path(plot): Path<String>,
    Query(params): Query<DayParams>,
) -> Result<Response, ApiError> {
    let (store, agro, forecast) = (state.store.clone(), state.agro.clone(), state.forecast.clone());
    respond(&state, &params, move |date, offset| view(&store, &agro, &forecast, &plot, date, offset)).await
}

/// The view of `plot` on `date` as the API serves it (the 产业大脑 bundle curates it): its
/// crop and soil from `[agro]`, its place from `[forecast]`.
pub(crate) fn view(
    store: &Store,
    agro: &AgroConfig,
    forecast: &ForecastConfig,
    plot: &str,
    date: Date,
    offset: UtcOffset,
) -> Result<Value, ApiError> {
    let settings = agro.plot(plot);
    let crop = agro
        .crop_table()
        .map_err(ApiError::internal)?
        .get(&settings.crop)
        .cloned()
        .ok_or_else(|| ApiError::internal(format!("plot {plot}: crop {} is not in the table", settings.crop)))?;
    report(store, plot, &settings, &crop, date, offset, (forecast.latitude, forecast.altitude_m))
}

/// Daily values of `series` from `first` (local dates) on, dense: a day without a value is
/// `None`.
fn dense<T: Copy>(by_date: &BTreeMap<Date, T>, first: Date, last: Date) -> Vec<Option<T>> {
    let mut out = Vec::new();
    let mut day = first;
    while day <= last {
        out.push(by_date.get(&day).copied());
        match day.next_day() {
            Some(next) => day = next,
            None => break,
        }
    }
    out
}

/// Daily temperatures from `first` to `last`, a day without any as NaN (it adds no degree days).
fn dense_temps(by_date: &BTreeMap<Date, DayTemps>, first: Date, last: Date) -> Vec<DayTemps> {
    dense(by_date, first, last)
        .into_iter()
        .map(|d| d.unwrap_or(DayTemps { tmin_c: f64::NAN, tmax_c: f64::NAN }))
        .collect()
}

/// The stage of `crop` a stage reading names: its code, or its index as a whole number.
fn stage_index(crop: &Crop, value: &fieldline_core::FieldValue) -> Option<usize> {
    let index = match value {
        fieldline_core::FieldValue::Str(code) => crop.stages.iter().position(|st| st.code == code.trim()),
        other => other.as_f64().filter(|x| x.fract() == 0.0 && *x >= 0.0).map(|x| x as usize),
    };
    index.filter(|i| *i < crop.stages.len())
}

/// The latest weather-forecast run (one series per `issued` tag) issued by `by` (ns): a later
/// run would be hindsight for a past day.
fn latest_run(runs: &[Series], by: i64) -> Option<&Series> {
    let issued_at = |s: &Series| s.tag("issued").and_then(crate::jobs::forecast::parse_issued);
    runs.iter().filter(|s| !s.points.is_empty() && issued_at(s).is_some_and(|i| i <= by)).max_by_key(|s| issued_at(s))
}

fn field<'a>(series: &'a [Series], name: &str) -> Vec<&'a Series> {
    series.iter().filter(|s| s.field == name).collect()
}

fn report(
    store: &Store,
    plot: &str,
    settings: &PlotConfig,
    crop: &Crop,
    date: Date,
    offset: UtcOffset,
    (latitude, elevation): (f64, f64),
) -> Result<Value, ApiError> {
    let jan1 = Date::from_calendar_date(date.year(), time::Month::January, 1).map_err(ApiError::internal)?;
    let (start_ns, stop_ns) = (midnight_ns(jan1, offset), midnight_ns(date, offset).saturating_add(NS_PER_DAY));
    let fields = ["air_temp_c", "soil_vwc_pct", "rain_mm", "stage_observed"];
    let series =
        store.query(&StoreQuery::new("peony_plot").range(start_ns, stop_ns).tag("device", plot).fields(fields))?;
    if series.is_empty() {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("no plot {plot:?} with readings this season (peony_plot, device={plot})"),
        ));
    }
    let site = series[0].tag("site").unwrap_or_default().to_string();
    let mut notes: Vec<&str> = Vec::new();

    // Degree days and stage, from the plot's own air temperature.
    let temps: BTreeMap<Date, DayTemps> =
        daily_min_max(&series.iter().filter(|s| s.field == "air_temp_c").cloned().collect::<Vec<_>>(), offset)
            .into_iter()
            .collect();
    let days = dense_temps(&temps, jan1, date);
    let acc = crop.accumulate(&days);
    let gdd = acc.daily.last().map_or(0.0, |(_, sum)| *sum);
    let modelled = crop.stage_index(gdd);
    // A technician's latest observation this season (a stage code, or its index), when it
    // names a stage of this crop; the stage shown is the later of it and the model's.
    let observed: Option<(usize, i64)> = series
        .iter()
        .filter(|s| s.field == "stage_observed")
        .flat_map(|s| s.points.iter())
        .filter_map(|(t, v)| Some((stage_index(crop, v)?, *t)))
        .max_by_key(|(_, t)| *t);
    let shown = observed.map_or(modelled, |(i, _)| i.max(modelled));
    let stage = crop.stages.get(shown);
    let day_date = |i: usize| jan1.checked_add(time::Duration::days(i as i64)).map(|d| d.to_string());

    // Bloom forecast: this season's temperatures, then the weather forecast's days, then each
    // past season's temperatures as a member; phenology fitted on the past seasons' stages
    // when they were observed.
    let mut seasons: Vec<bloom::Season> = Vec::new();
    for year in (date.year() - PAST_SEASONS)..date.year() {
        let Ok(first) = Date::from_calendar_date(year, time::Month::January, 1) else { continue };
        let Ok(last) = Date::from_calendar_date(year, time::Month::July, 31) else { continue };
        let query = StoreQuery::new("peony_plot")
            .range(midnight_ns(first, offset), midnight_ns(last, offset))
            .tag("device", plot)
            .fields(["air_temp_c", "stage", "stage_observed"]);
        let past_series = store.query(&query)?;
        let temps: Vec<Series> = past_series.iter().filter(|s| s.field == "air_temp_c").cloned().collect();
        let past: BTreeMap<Date, DayTemps> = daily_min_max(&temps, offset).into_iter().collect();
        // A member needs most of its spring.
        if past.len() >= 150 {
            let days = dense_temps(&past, first, last);
            let observed = observed_stage_days(&past_series, crop, first, offset);
            seasons.push(bloom::Season { days, observed });
        }
    }
    let members: Vec<Vec<DayTemps>> = seasons.iter().map(|s| s.days.clone()).collect();
    let stage_codes: Vec<String> = crop.stages.iter().skip(1).map(|s| s.code.clone()).collect();
    // Three seasons with stages or more: base, start rule and heat sums; fewer: the heat sums
    // only (one or two springs cannot tell base temperatures apart).
    let observed_seasons = seasons.iter().filter(|s| !s.observed.is_empty()).count();
    let fitted = match observed_seasons {
        0 => None,
        1 | 2 => bloom::fit_heat_sums(&seasons, Phenology::of_crop(crop), &stage_codes),
        _ => bloom::fit(&seasons, crop.method, &stage_codes),
    }
    // Stages no past season observed keep the crop table's heat sums.
    .map(|mut fit| {
        for (code, gdd) in Phenology::of_crop(crop).thresholds {
            if !fit.phenology.thresholds.iter().any(|(c, _)| *c == code) {
                fit.phenology.thresholds.push((code, gdd));
            }
        }
        fit.phenology.thresholds.sort_by(|a, b| a.1.total_cmp(&b.1));
        fit
    });
    let phenology = fitted.as_ref().map_or_else(|| Phenology::of_crop(crop), |f| f.phenology.clone());
    let nwp_site = nearest_site(store, "nwp", &site);
    let nwp_days = forecast_days(store, nwp_site.as_deref().unwrap_or(&site), date, offset)?;
    let bloom = if members.is_empty() {
        notes.push("no bloom-date range yet: it needs at least one past spring of this plot's temperatures");
        Value::Null
    } else {
        let forecast = bloom::forecast(&phenology, &days, days.len(), &nwp_days.temps, &members);
        Value::Array(
            forecast
                .iter()
                .map(|f| {
                    json!({"stage": f.stage, "reached": f.reached.and_then(day_date),
                       "p10": f.p10.and_then(day_date), "p50": f.p50.and_then(day_date), "p90": f.p90.and_then(day_date),
                       "members": members.len(), "members_reaching": f.members_reaching})
                })
                .collect(),
        )
    };

    // ET0 per day from the site's met station, or the region's when the plot's site has none.
    let met_site = nearest_site(store, "met_station", &site);
    let met = store.query(
        &StoreQuery::new("met_station")
            .range(start_ns, stop_ns)
            .tag("site", met_site.as_deref().unwrap_or(&site))
            .fields(["air_temp_c", "rh_pct", "wind_speed_ms", "ghi_wm2"]),
    )?;
    let et0 = daily_et0(&met, offset, latitude, elevation);
    if et0.is_empty() {
        notes.push("no ET0: the site has no met station readings (air temperature, humidity, wind, irradiance)");
    }

    // Water balance from the first soil-moisture reading of the season.
    let zone = RootZone {
        field_capacity_pct: settings.field_capacity_pct,
        wilting_point_pct: settings.wilting_point_pct,
        root_depth_m: settings.root_depth_m.unwrap_or(crop.root_depth_m),
        depletion_fraction: crop.depletion_fraction,
    };
    let vwc: BTreeMap<Date, f64> = last_per_day(&field(&series, "soil_vwc_pct"), offset);
    let rain: BTreeMap<Date, f64> = sum_per_day(&field(&series, "rain_mm"), offset);
    let water_days: Vec<(Date, WaterDay)> = dense(&et0, jan1, date)
        .into_iter()
        .zip(acc.daily.iter())
        .enumerate()
        .filter_map(|(i, (et0, (_, sum)))| {
            let day = jan1.checked_add(time::Duration::days(i as i64))?;
            let kc = crop.stage(*sum).map_or(0.3, |s| s.kc);
            Some((
                day,
                WaterDay {
                    et0_mm: et0.unwrap_or(0.0),
                    kc,
                    rain_mm: rain.get(&day).copied().unwrap_or(0.0),
                    irrigation_mm: 0.0,
                    measured_vwc_pct: vwc.get(&day).copied(),
                },
            ))
        })
        .collect();
    let first_measured = water_days.iter().position(|(_, d)| d.measured_vwc_pct.is_some());
    let water = match first_measured {
        None => {
            notes.push("no water balance: the plot has no soil-moisture readings this season");
            Value::Null
        }
        Some(from) => {
            let states = water::balance(&zone, 0.0, &water_days[from..].iter().map(|(_, d)| *d).collect::<Vec<_>>());
            let today = states.last().map_or(0.0, |s| s.depletion_mm);
            // The coming week: ET0 as the last week's mean, today's Kc, and the rain of the
            // latest weather forecast (none after its last whole day).
            let recent: Vec<f64> =
                water_days.iter().rev().take(7).map(|(_, d)| d.et0_mm).filter(|e| *e > 0.0).collect();
            let et0_ahead = if recent.is_empty() { 0.0 } else { recent.iter().sum::<f64>() / recent.len() as f64 };
            let kc = stage.map_or(0.3, |s| s.kc);
            let ahead: Vec<WaterDay> = (0..ADVICE_DAYS)
                .map(|i| WaterDay {
                    et0_mm: et0_ahead,
                    kc,
                    rain_mm: nwp_days.rain_mm.get(i).copied().unwrap_or(0.0),
                    ..WaterDay::default()
                })
                .collect();
            let advice = water::advise(&zone, today, &ahead);
            // `ahead[0]` is tomorrow: the balance already holds today. Stressed now means today.
            let day_after = |i: usize| date.checked_add(time::Duration::days(i as i64 + 1)).map(|d| d.to_string());
            let advice = match advice {
                water::Advice::Irrigate { amount_mm, .. } if today > zone.raw_mm() => {
                    json!({"action": "irrigate", "amount_mm": amount_mm, "by": date.to_string()})
                }
                water::Advice::Irrigate { by_day, amount_mm } => {
                    json!({"action": "irrigate", "amount_mm": amount_mm, "by": day_after(by_day)})
                }
                water::Advice::WaitForRain { rain_day, rain_mm } => {
                    json!({"action": "wait_for_rain", "rain_mm": rain_mm, "rain_on": day_after(rain_day)})
                }
                water::Advice::None => json!({"action": "none"}),
            };
            let daily: Vec<Value> = water_days[from..]
                .iter()
                .zip(&states)
                .rev()
                .take(30)
                .rev()
                .map(|((day, d), s)| {
                    json!({"date": day.to_string(), "et0_mm": d.et0_mm, "etc_mm": s.etc_mm,
                    "rain_mm": d.rain_mm, "depletion_mm": s.depletion_mm, "measured": s.measured})
                })
                .collect();
            json!({"taw_mm": zone.taw_mm(), "raw_mm": zone.raw_mm(), "depletion_mm": today, "advice": advice,
                   "et0_ahead_mm_per_day": et0_ahead, "days": daily,
                   "forecast_rain_mm": nwp_days.rain_mm.iter().take(ADVICE_DAYS).collect::<Vec<_>>(),
                   "soil": {"field_capacity_pct": zone.field_capacity_pct, "wilting_point_pct": zone.wilting_point_pct,
                            "root_depth_m": zone.root_depth_m, "depletion_fraction": zone.depletion_fraction}})
        }
    };

    let frost = frost_risk(
        store,
        nwp_site.as_deref().unwrap_or(&site),
        date,
        offset,
        crop.frost_c,
        stage.is_some_and(|s| s.frost_sensitive),
    )?;
    if acc.start.is_none() {
        notes.push("no degree days yet: the sum starts with the spring's warming (the Luoyang rule), and this season's spring temperatures are not in the store");
    }
    Ok(json!({
        "plot": plot, "site": site, "date": date.to_string(), "crop": settings.crop, "crop_zh": crop.name_zh,
        "weather_from": {"met_station": met_site, "forecast": nwp_site},
        "gdd": gdd, "gdd_start": acc.start.and_then(day_date),
        "stage": stage.map(|s| json!({"code": s.code, "name_zh": s.name_zh, "kc": s.kc, "frost_sensitive": s.frost_sensitive})),
        "stage_modelled": crop.stages.get(modelled).map(|s| &s.code),
        // The crop table's stages and base: the dashboard marks the heat sums on its chart.
        "crop_base_c": crop.base_c,
        "crop_stages": crop.stages.iter().map(|s| json!({"code": s.code, "name_zh": s.name_zh, "gdd": s.gdd,
            "frost_sensitive": s.frost_sensitive})).collect::<Vec<_>>(),
        "stage_observed": observed.and_then(|(i, t)| Some(json!({"code": crop.stages.get(i)?.code,
            "name_zh": crop.stages.get(i)?.name_zh, "at": fieldline_core::time::format_time(t, offset)}))),
        "bloom": bloom,
        "phenology": json!({"fitted": fitted.is_some(), "base_c": phenology.base_c, "start": phenology.start,
            "rmse_days": fitted.as_ref().map(|f| f.rmse_days), "past_seasons": seasons.len(),
            "forecast_days_used": nwp_days.temps.len()}),
        "et0_mm": et0.get(&date).copied(),
        "water": water,
        "frost": frost,
        "notes": notes,
    }))
}

/// Days (index from `first`) each stage of `crop` was first reported in a past season: the
/// plot's `stage` (a stage index, as the simulator and stage sensors send) or a technician's
/// `stage_observed` (a code or an index).
fn observed_stage_days(series: &[Series], crop: &Crop, first: Date, offset: UtcOffset) -> Vec<(String, usize)> {
    let mut reached: BTreeMap<usize, usize> = BTreeMap::new();
    for s in series.iter().filter(|s| s.field == "stage" || s.field == "stage_observed") {
        for (t, v) in &s.points {
            let Some(index) = stage_index(crop, v) else { continue };
            let day = (local_date(*t, offset) - first).whole_days();
            let Ok(day) = usize::try_from(day) else { continue };
            // Reaching a stage means having reached every one before it.
            for i in 1..=index {
                let slot = reached.entry(i).or_insert(day);
                *slot = (*slot).min(day);
            }
        }
    }
    reached.into_iter().filter_map(|(i, day)| Some((crop.stages.get(i)?.code.clone(), day))).collect()
}

/// The days after `date` in the latest weather-forecast run issued by the end of `date`:
/// daily minimum and maximum air temperature, and the day's forecast rain.
pub(super) struct ForecastDays {
    pub temps: Vec<DayTemps>,
    pub rain_mm: Vec<f64>,
}

pub(super) fn forecast_days(
    store: &Store,
    site: &str,
    date: Date,
    offset: UtcOffset,
) -> Result<ForecastDays, ApiError> {
    let from = midnight_ns(date, offset).saturating_add(NS_PER_DAY);
    let to = from.saturating_add(10 * NS_PER_DAY);
    let fields = ["air_temp_c", "precip_mm"];
    let series = store.query(&StoreQuery::new("nwp").range(from, to).tag("site", site).fields(fields))?;
    let temp_runs: Vec<Series> = series.iter().filter(|s| s.field == "air_temp_c").cloned().collect();
    let Some(run) = latest_run(&temp_runs, from) else {
        return Ok(ForecastDays { temps: Vec::new(), rain_mm: Vec::new() });
    };
    let rain_run: Vec<&Series> =
        series.iter().filter(|s| s.field == "precip_mm" && s.tag("issued") == run.tag("issued")).collect();
    let rain = sum_per_day(&rain_run, offset);
    let by_day: BTreeMap<Date, DayTemps> = daily_min_max(std::slice::from_ref(run), offset).into_iter().collect();
    // Whole days only, in a row from the day after `date`.
    let mut out = ForecastDays { temps: Vec::new(), rain_mm: Vec::new() };
    let mut day = date.next_day();
    while let Some(d) = day {
        match by_day.get(&d) {
            Some(t) => {
                out.temps.push(*t);
                out.rain_mm.push(rain.get(&d).copied().unwrap_or(0.0));
            }
            None => break,
        }
        day = d.next_day();
    }
    // The last day of a run is usually partial (it ends mid-day): leave it out.
    out.temps.pop();
    out.rain_mm.pop();
    Ok(out)
}

/// Last value of each local day.
fn last_per_day(series: &[&Series], offset: UtcOffset) -> BTreeMap<Date, f64> {
    let mut out = BTreeMap::new();
    for s in series {
        for (t, v) in &s.points {
            if let Some(v) = v.as_f64().filter(|v| v.is_finite()) {
                out.insert(local_date(*t, offset), v);
            }
        }
    }
    out
}

/// Sum of each local day's values.
fn sum_per_day(series: &[&Series], offset: UtcOffset) -> BTreeMap<Date, f64> {
    let mut out: BTreeMap<Date, f64> = BTreeMap::new();
    for s in series {
        for (t, v) in &s.points {
            if let Some(v) = v.as_f64().filter(|v| v.is_finite() && *v >= 0.0) {
                *out.entry(local_date(*t, offset)).or_default() += v;
            }
        }
    }
    out
}

/// FAO-56 daily ET0 (mm) per local day from met-station readings: Tmin/Tmax and RHmin/RHmax
/// of the day, mean wind (at `WIND_HEIGHT_M`), Rs integrated from irradiance. Days without
/// all four, or with under 20 h of irradiance readings, have none.
fn daily_et0(met: &[Series], offset: UtcOffset, latitude: f64, elevation: f64) -> BTreeMap<Date, f64> {
    #[derive(Default)]
    struct Day {
        t: Option<(f64, f64)>,
        rh: Option<(f64, f64)>,
        wind: (f64, usize),
        rs_j: f64,
        rs_covered_s: i64,
    }
    let mut days: BTreeMap<Date, Day> = BTreeMap::new();
    let range = |r: &mut Option<(f64, f64)>, v: f64| *r = Some(r.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))));
    for s in met {
        let mut previous: Option<i64> = None;
        for (t, v) in &s.points {
            let Some(v) = v.as_f64().filter(|v| v.is_finite()) else { continue };
            let day = days.entry(local_date(*t, offset)).or_default();
            match s.field.as_str() {
                "air_temp_c" => range(&mut day.t, v),
                "rh_pct" => range(&mut day.rh, v),
                "wind_speed_ms" => day.wind = (day.wind.0 + v, day.wind.1 + 1),
                "ghi_wm2" => {
                    // Each reading stands for the time since the previous one (at most 15 min).
                    let dt_s = previous.map_or(60, |p| ((t - p) / NS_PER_SEC).clamp(0, 900));
                    day.rs_j += v.max(0.0) * dt_s as f64;
                    day.rs_covered_s += dt_s;
                    previous = Some(*t);
                }
                _ => {}
            }
        }
    }
    days.into_iter()
        .filter_map(|(date, d)| {
            let ((tmin, tmax), (rh_min, rh_max)) = (d.t?, d.rh?);
            if d.wind.1 == 0 || d.rs_covered_s < 20 * 3600 {
                return None;
            }
            let weather = DailyWeather {
                tmin_c: tmin,
                tmax_c: tmax,
                humidity: DailyHumidity::RelativeMinMax { rh_min_pct: rh_min, rh_max_pct: rh_max },
                wind_2m_ms: agronomy::wind_2m(d.wind.0 / d.wind.1 as f64, WIND_HEIGHT_M),
                solar_rad_mj_m2: d.rs_j / 1e6,
                latitude_deg: latitude,
                elevation_m: elevation,
                day_of_year: u32::from(date.ordinal()),
                soil_heat_flux_mj_m2: 0.0,
            };
            let et0 = agronomy::et0_daily(&weather);
            et0.is_finite().then_some((date, et0))
        })
        .collect()
}

/// Frost risk of the next 72 h from the latest weather-forecast run for the site: the lowest
/// forecast air temperature against the crop's frost threshold, and whether the stage reached
/// is frost-sensitive.
fn frost_risk(
    store: &Store,
    site: &str,
    date: Date,
    offset: UtcOffset,
    frost_c: f64,
    sensitive: bool,
) -> Result<Value, ApiError> {
    // From the end of `date` (or now, if that is earlier) on.
    let from = midnight_ns(date, offset).saturating_add(NS_PER_DAY).min(now_ns().max(midnight_ns(date, offset)));
    let to = from.saturating_add(72 * NS_PER_HOUR);
    let runs = store.query(&StoreQuery::new("nwp").range(from, to).tag("site", site).fields(["air_temp_c"]))?;
    let Some(run) = latest_run(&runs, from) else {
        return Ok(json!({"level": null, "note": "no weather forecast for the site covers the next 72 h"}));
    };
    let (min_t, min_at) = run
        .points
        .iter()
        .filter_map(|(t, v)| Some((v.as_f64()?, *t)))
        .fold((f64::INFINITY, 0), |acc, (v, t)| if v < acc.0 { (v, t) } else { acc });
    let level = if !sensitive {
        "low"
    } else if min_t <= frost_c {
        "high"
    } else if min_t <= frost_c + 2.0 {
        "moderate"
    } else {
        "low"
    };
    Ok(json!({
        "level": level, "min_temp_c": min_t, "at": fieldline_core::time::format_time(min_at, offset),
        "threshold_c": frost_c, "stage_frost_sensitive": sensitive, "issued": run.tag("issued"),
    }))
}
