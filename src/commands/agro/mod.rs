//! `fieldline agro`: agronomy at the command line, for an agronomist checking numbers by hand.
//! `et0` works out one day's FAO-56 Penman–Monteith reference evapotranspiration and prints
//! every term of the equation beside the answer; `gdd` turns a CSV of daily minimum and
//! maximum temperatures into the season's degree days (and a crop's stages); `bloom` prints a
//! plot's stage-date forecast as issued on a day, from a data dir (`bloom.rs`); `bloom-eval`
//! scores the peony stage-date forecast on simulated springs (`bloom_eval.rs`), `pest-eval`
//! the traps' warning levels against simulated outbreaks (`pest_eval.rs`). The arithmetic
//! lives in `fieldline_analytics::{agronomy, crops}`; this module reads arguments and files
//! and prints.

mod bloom;
mod bloom_eval;
mod pest_eval;

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use fieldline_analytics::agronomy::{
    self, DailyHumidity, DailyWeather, DegreeDayMethod, StartRule, actual_vapour_pressure_kpa,
    atmospheric_pressure_kpa, clear_sky_radiation, daylight_hours, extraterrestrial_radiation_daily,
    mean_saturation_vapour_pressure_kpa, net_radiation_daily, psychrometric_constant_kpa_per_c,
    saturation_vapour_pressure_slope_kpa_per_c, solar_radiation_from_sunshine, wind_2m,
};
use fieldline_analytics::crops::{Crop, CropTable, DayTemps, Stage};
use serde_json::json;

#[derive(Debug, Args)]
pub struct AgroArgs {
    #[command(subcommand)]
    command: AgroCommand,
}

#[derive(Debug, Subcommand)]
enum AgroCommand {
    /// One day's FAO-56 Penman–Monteith reference evapotranspiration ET0, with the terms of the equation.
    Et0(Et0Args),
    /// A season's degree days from a CSV of daily minimum and maximum temperatures.
    Gdd(GddArgs),
    /// A plot's stage-date (bloom) forecast as issued on a day, from a fieldline data dir.
    Bloom(bloom::BloomArgs),
    /// The peony stage-date (bloom) forecast scored on simulated springs against the naive forecast.
    BloomEval(bloom_eval::BloomEvalArgs),
    /// The pest traps' warning levels against simulated outbreaks: when the level rises, and how often it warns of nothing.
    PestEval(pest_eval::PestEvalArgs),
}

#[derive(Debug, Args)]
#[command(
    group = clap::ArgGroup::new("radiation").required(true).args(["rs", "sunshine_hours"]),
    after_help = "Humidity: --rhmin with --rhmax (eq. 17), or --tdew (eq. 14); with neither, the dew point \
                  is taken as Tmin (FAO-56 eq. 48, for humid sites).\n\n\
                  Example (FAO-56 Example 18, Brussels, 6 July, ET0 3.9 mm/day):\n  \
                  fieldline agro et0 --date 2026-07-06 --lat 50.8 --elevation 100 --tmin 12.3 --tmax 21.5 \\\n    \
                  --rhmin 63 --rhmax 84 --sunshine-hours 9.25 --wind 2.778 --wind-height 10"
)]
struct Et0Args {
    /// Day (YYYY-MM-DD); only its day of the year matters.
    #[arg(long)]
    date: String,
    /// Latitude (degrees, north positive).
    #[arg(long, allow_hyphen_values = true)]
    lat: f64,
    /// Elevation above sea level (m).
    #[arg(long, allow_hyphen_values = true)]
    elevation: f64,
    /// Daily minimum air temperature (°C).
    #[arg(long, allow_hyphen_values = true)]
    tmin: f64,
    /// Daily maximum air temperature (°C).
    #[arg(long, allow_hyphen_values = true)]
    tmax: f64,
    /// Daily minimum relative humidity (%).
    #[arg(long, requires = "rhmax", conflicts_with = "tdew")]
    rhmin: Option<f64>,
    /// Daily maximum relative humidity (%).
    #[arg(long, requires = "rhmin")]
    rhmax: Option<f64>,
    /// Dew point temperature (°C).
    #[arg(long, allow_hyphen_values = true)]
    tdew: Option<f64>,
    /// Measured solar radiation Rs (MJ/m²/day).
    #[arg(long)]
    rs: Option<f64>,
    /// Hours of bright sunshine, when Rs is not measured (Angström, eq. 35).
    #[arg(long)]
    sunshine_hours: Option<f64>,
    /// Mean wind speed (m/s) at --wind-height.
    #[arg(long)]
    wind: f64,
    /// Height of the wind measurement (m); converted to 2 m with the log profile (eq. 47).
    #[arg(long, default_value_t = 2.0)]
    wind_height: f64,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MethodArg {
    /// Mean of Tmin and Tmax minus the base.
    Avg,
    /// Single sine through Tmin and Tmax (horizontal cutoffs).
    Sine,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StartArg {
    /// From 1 January (the first 1 January in the file; its first day if there is none).
    Jan1,
    /// From the first day whose 5-day mean temperature reaches 3 °C (the Luoyang rule for peony),
    /// within the first 120 days of the file.
    Luoyang,
}

#[derive(Debug, Args)]
#[command(after_help = "The CSV has a header and one row per day, in date order without gaps, with columns \
                  named date, tmin and tmax (also tmin_c/tmax_c, min/max). Empty or non-numeric \
                  temperatures count as missing: the day adds nothing.\n\n\
                  Output: CSV on stdout (date,tmin_c,tmax_c,gdd,cumulative[,stage,stage_zh]), a summary on \
                  stderr; --json prints one object instead.\n\n\
                  Examples:\n  fieldline agro gdd --input temps.csv --base 10 --upper 30 --method avg\n  \
                  fieldline agro gdd --input temps.csv --crop peony        # its base, method, start rule and stages")]
struct GddArgs {
    /// CSV of daily temperatures.
    #[arg(long)]
    input: PathBuf,
    /// A crop of the built-in table (peony, winter_wheat, summer_maize, chinese_cabbage): its
    /// base, cutoff, method and start rule (each can still be given), and a stage column.
    #[arg(long)]
    crop: Option<String>,
    /// Base temperature (°C); required without --crop.
    #[arg(long, allow_hyphen_values = true, required_unless_present = "crop")]
    base: Option<f64>,
    /// Upper cutoff (°C).
    #[arg(long, allow_hyphen_values = true)]
    upper: Option<f64>,
    /// How a day's degree days are computed [default: avg, or the crop's].
    #[arg(long, value_enum)]
    method: Option<MethodArg>,
    /// When the sum starts [default: jan1, or the crop's rule].
    #[arg(long, value_enum)]
    start: Option<StartArg>,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
}

/// The scenario reduced to the sites that have what `keep` asks for, with everything else
/// removed from them (wind, PV, met station, weather feed, and the plots or traps `keep` does
/// not want): an evaluation simulates only what it scores.
pub(crate) fn farm_only(scenario: &mut fieldline_sim::Scenario, keep: Keep) {
    scenario.sites.retain(|s| match keep {
        Keep::OnePlot | Keep::Plots => !s.plots.is_empty(),
        Keep::Traps => !s.traps.is_empty(),
    });
    if keep == Keep::OnePlot {
        scenario.sites.truncate(1);
    }
    for site in &mut scenario.sites {
        (site.wind_farm, site.pv_plant, site.met_station, site.nwp) = (None, None, None, None);
        match keep {
            Keep::OnePlot => {
                site.traps.clear();
                site.plots.truncate(1);
            }
            Keep::Plots => site.traps.clear(),
            Keep::Traps => site.plots.clear(),
        }
    }
}

/// What [`farm_only`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keep {
    /// The first peony plot.
    OnePlot,
    /// Every peony plot.
    Plots,
    /// Every pest trap.
    Traps,
}

pub fn run(args: AgroArgs) -> anyhow::Result<()> {
    match args.command {
        AgroCommand::Et0(args) => et0(args),
        AgroCommand::Gdd(args) => gdd(args),
        AgroCommand::Bloom(args) => bloom::run(args),
        AgroCommand::BloomEval(args) => bloom_eval::run(args),
        AgroCommand::PestEval(args) => pest_eval::run(args),
    }
}

fn et0(args: Et0Args) -> anyhow::Result<()> {
    let date = fieldline_core::time::parse_date(&args.date)?;
    let day = u32::from(date.ordinal());
    if !(-90.0..=90.0).contains(&args.lat) {
        bail!("--lat {} is not a latitude (-90 to 90)", args.lat);
    }
    if args.tmin > args.tmax {
        bail!("--tmin {} is above --tmax {}", args.tmin, args.tmax);
    }
    if args.wind < 0.0 || args.wind_height <= 0.0 {
        bail!("--wind must be ≥ 0 and --wind-height > 0");
    }
    let (humidity, humidity_note) = match (args.rhmin, args.rhmax, args.tdew) {
        (Some(rh_min_pct), Some(rh_max_pct), _) => {
            if !(0.0..=100.0).contains(&rh_min_pct) || !(0.0..=100.0).contains(&rh_max_pct) || rh_min_pct > rh_max_pct {
                bail!("--rhmin {rh_min_pct} and --rhmax {rh_max_pct} must be 0–100 % with rhmin ≤ rhmax");
            }
            (DailyHumidity::RelativeMinMax { rh_min_pct, rh_max_pct }, "from RHmin and RHmax (eq. 17)")
        }
        (_, _, Some(dew_point_c)) => (DailyHumidity::DewPoint { dew_point_c }, "from the dew point (eq. 14)"),
        _ => (DailyHumidity::DewPoint { dew_point_c: args.tmin }, "dew point taken as Tmin (eq. 48)"),
    };
    let ra = extraterrestrial_radiation_daily(args.lat, day);
    let n_max = daylight_hours(args.lat, day);
    let (rs, rs_note) = match (args.rs, args.sunshine_hours) {
        (Some(rs), _) => (rs, "measured".to_string()),
        (None, Some(n)) => {
            if !(0.0..=n_max + 1e-9).contains(&n) {
                bail!("--sunshine-hours {n} is outside 0 to the day's {n_max:.1} h of daylight");
            }
            (solar_radiation_from_sunshine(n, n_max, ra), format!("from {n} h of sunshine (eq. 35)"))
        }
        (None, None) => bail!("give --rs or --sunshine-hours"),
    };
    let u2 = wind_2m(args.wind, args.wind_height);
    let weather = DailyWeather {
        tmin_c: args.tmin,
        tmax_c: args.tmax,
        humidity,
        wind_2m_ms: u2,
        solar_rad_mj_m2: rs,
        latitude_deg: args.lat,
        elevation_m: args.elevation,
        day_of_year: day,
        soil_heat_flux_mj_m2: 0.0,
    };
    let et0 = agronomy::et0_daily(&weather);
    if !et0.is_finite() {
        bail!("ET0 is undefined for these inputs (check humidity, radiation and wind)");
    }
    let rso = clear_sky_radiation(ra, args.elevation);
    let ea = actual_vapour_pressure_kpa(humidity, args.tmin, args.tmax);
    let es = mean_saturation_vapour_pressure_kpa(args.tmin, args.tmax);
    let rn = net_radiation_daily(rs, rso, args.tmin, args.tmax, ea);
    let slope = saturation_vapour_pressure_slope_kpa_per_c((args.tmin + args.tmax) / 2.0);
    let pressure = atmospheric_pressure_kpa(args.elevation);
    let gamma = psychrometric_constant_kpa_per_c(pressure);
    if args.json {
        let out = json!({
            "date": args.date, "day_of_year": day, "et0_mm_per_day": et0,
            "ra_mj_m2": ra, "daylight_hours": n_max, "rs_mj_m2": rs, "rso_mj_m2": rso, "rn_mj_m2": rn,
            "es_kpa": es, "ea_kpa": ea, "slope_kpa_per_c": slope, "pressure_kpa": pressure,
            "gamma_kpa_per_c": gamma, "u2_ms": u2,
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "ET0 {et0:.2} mm/day  (FAO-56 Penman–Monteith; {} = day {day}, {:.2}°{}, {} m)",
        args.date,
        args.lat.abs(),
        if args.lat >= 0.0 { "N" } else { "S" },
        args.elevation
    );
    println!("  Ra   {ra:8.2} MJ/m²/day  extraterrestrial radiation (eq. 21)");
    println!("  N    {n_max:8.1} h          daylight hours (eq. 34)");
    println!("  Rs   {rs:8.2} MJ/m²/day  solar radiation, {rs_note}");
    println!("  Rso  {rso:8.2} MJ/m²/day  clear-sky radiation (eq. 37)");
    println!("  Rn   {rn:8.2} MJ/m²/day  net radiation (eqs. 38–40)");
    println!("  es   {es:8.3} kPa        mean saturation vapour pressure (eq. 12)");
    println!("  ea   {ea:8.3} kPa        actual vapour pressure, {humidity_note}");
    println!("  Δ    {slope:8.3} kPa/°C     slope of the vapour pressure curve (eq. 13)");
    println!("  γ    {gamma:8.4} kPa/°C     psychrometric constant at {pressure:.1} kPa (eqs. 7–8)");
    println!("  u2   {u2:8.3} m/s        wind at 2 m (eq. 47)");
    Ok(())
}

/// One row of the temperature CSV.
struct Row {
    date: time::Date,
    temps: DayTemps,
}

fn read_temperatures(path: &std::path::Path) -> anyhow::Result<(Vec<Row>, usize)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let headers = reader.headers().with_context(|| format!("{}: no header row", path.display()))?.clone();
    let column = |names: &[&str]| headers.iter().position(|h| names.iter().any(|n| h.eq_ignore_ascii_case(n)));
    let date_col = column(&["date", "day"]).context("no `date` column")?;
    let tmin_col = column(&["tmin", "tmin_c", "min"]).context("no `tmin` column")?;
    let tmax_col = column(&["tmax", "tmax_c", "max"]).context("no `tmax` column")?;
    let mut rows: Vec<Row> = Vec::new();
    let mut missing = 0;
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("{}: line {line}", path.display()))?;
        let date = fieldline_core::time::parse_date(record.get(date_col).unwrap_or_default())
            .with_context(|| format!("{}: line {line}", path.display()))?;
        if let Some(previous) = rows.last()
            && previous.date.next_day() != Some(date)
        {
            bail!(
                "{}: line {line}: {date} does not follow {} (one row per day, in order, no gaps)",
                path.display(),
                previous.date
            );
        }
        let value = |col: usize| record.get(col).and_then(|v| v.parse::<f64>().ok()).filter(|v| v.is_finite());
        let (tmin_c, tmax_c) = match (value(tmin_col), value(tmax_col)) {
            (Some(a), Some(b)) => (a, b),
            _ => {
                missing += 1;
                (f64::NAN, f64::NAN)
            }
        };
        rows.push(Row { date, temps: DayTemps { tmin_c, tmax_c } });
    }
    if rows.is_empty() {
        bail!("{}: no rows", path.display());
    }
    Ok((rows, missing))
}

fn gdd(args: GddArgs) -> anyhow::Result<()> {
    let table = CropTable::built_in();
    let crop_base: Option<Crop> = match &args.crop {
        Some(name) => Some(table.get(name).cloned().with_context(|| {
            format!("unknown crop {name:?}; the table has {}", table.0.keys().cloned().collect::<Vec<_>>().join(", "))
        })?),
        None => None,
    };
    let (rows, missing) = read_temperatures(&args.input)?;
    // The crop (or a one-stage stand-in) with the flags applied over its values.
    let mut crop = crop_base.clone().unwrap_or(Crop {
        name_zh: String::new(),
        base_c: 0.0,
        upper_c: None,
        method: DegreeDayMethod::SimpleAverage,
        start: StartRule::FixedDayOfYear(1),
        root_depth_m: 1.0,
        depletion_fraction: 0.5,
        frost_c: 0.0,
        stages: vec![Stage { code: String::new(), name_zh: String::new(), gdd: 0.0, kc: 1.0, frost_sensitive: false }],
    });
    if let Some(base) = args.base {
        crop.base_c = base;
    }
    if args.upper.is_some() {
        crop.upper_c = args.upper;
    }
    if crop.upper_c.is_some_and(|u| u <= crop.base_c) {
        bail!("--upper must be above the base temperature ({})", crop.base_c);
    }
    match args.method {
        Some(MethodArg::Avg) => crop.method = DegreeDayMethod::SimpleAverage,
        Some(MethodArg::Sine) => crop.method = DegreeDayMethod::SingleSine,
        None => {}
    }
    // Rules are relative to the file's first row.
    let first_jan1 = || rows.iter().position(|r| r.date.ordinal() == 1).unwrap_or(0);
    let start_rule = match (args.start, &crop_base) {
        (Some(StartArg::Jan1), _) | (None, None) => StartRule::FixedDayOfYear(first_jan1() as u32 + 1),
        (Some(StartArg::Luoyang), _) => StartRule::FirstFiveDayMeanAtLeast(3.0),
        (None, Some(c)) => match c.start {
            StartRule::FixedDayOfYear(doy) => {
                let at = rows.iter().position(|r| u32::from(r.date.ordinal()) == doy).unwrap_or(0);
                StartRule::FixedDayOfYear(at as u32 + 1)
            }
            rule => rule,
        },
    };
    crop.start = start_rule;
    let temps: Vec<DayTemps> = rows.iter().map(|r| r.temps).collect();
    let acc = crop.accumulate(&temps);
    let with_stages = crop_base.is_some();
    let total = acc.daily.last().map_or(0.0, |(_, sum)| *sum);
    let started = acc.start.map(|i| rows[i].date.to_string());
    if args.json {
        let days: Vec<serde_json::Value> = rows
            .iter()
            .zip(&acc.daily)
            .map(|(row, (dd, sum))| {
                let mut day = json!({"date": row.date.to_string(), "gdd": dd, "cumulative": sum});
                if with_stages && let Some(stage) = crop.stage(*sum) {
                    day["stage"] = json!(stage.code);
                    day["stage_zh"] = json!(stage.name_zh);
                }
                day
            })
            .collect();
        let out = json!({
            "base_c": crop.base_c, "upper_c": crop.upper_c, "method": crop.method, "crop": args.crop,
            "start": started, "total": total, "missing_days": missing, "days": days,
        });
        println!("{out}");
        return Ok(());
    }
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    let mut header = vec!["date", "tmin_c", "tmax_c", "gdd", "cumulative"];
    if with_stages {
        header.extend(["stage", "stage_zh"]);
    }
    out.write_record(&header)?;
    for (row, (dd, sum)) in rows.iter().zip(&acc.daily) {
        let number = |v: f64| if v.is_finite() { format!("{v:.2}") } else { String::new() };
        let mut record =
            vec![row.date.to_string(), number(row.temps.tmin_c), number(row.temps.tmax_c), number(*dd), number(*sum)];
        if with_stages && let Some(stage) = crop.stage(*sum) {
            record.extend([stage.code.clone(), stage.name_zh.clone()]);
        }
        out.write_record(&record)?;
    }
    out.flush()?;
    let stage_note = if with_stages {
        crop.stage(total).map(|s| format!("; stage {} ({})", s.code, s.name_zh)).unwrap_or_default()
    } else {
        String::new()
    };
    match started {
        Some(day) => eprintln!(
            "{} days; accumulation from {day}: {total:.1} °C·day by {} (base {} °C{}){stage_note}{}",
            rows.len(),
            rows[rows.len() - 1].date,
            crop.base_c,
            crop.upper_c.map(|u| format!(", cutoff {u} °C")).unwrap_or_default(),
            if missing > 0 { format!("; {missing} days without temperatures added nothing") } else { String::new() }
        ),
        None => eprintln!("{} days; the start rule was not met, so nothing accumulated", rows.len()),
    }
    Ok(())
}
