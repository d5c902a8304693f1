//! `fieldline agro bloom`: a plot's stage-date (bloom) forecast as it would have been issued on
//! a given day, read from a fieldline data dir — the forecast `GET /api/v1/farm/plots/{plot}`
//! serves, for an agronomist replaying a season at the command line. Only readings and weather
//! forecast runs up to the end of the issue day are used; the season's own `stage` readings
//! never are (they are what the forecast is scored against).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::Value;

use crate::api::farm::plots;
use crate::config::Config;

#[derive(Debug, Args)]
#[command(after_help = "Example, after `fieldline demo --start 2026-03-01 --data-dir heze-spring` was stopped:\n  \
                  fieldline agro bloom --data heze-spring --plot plot1 --issued 2026-03-15")]
pub struct BloomArgs {
    /// The fieldline data dir (the server's `data_dir`); no server may be running on it.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The plot's device id.
    #[arg(long)]
    plot: String,
    /// The issue day (local date, YYYY-MM-DD).
    #[arg(long, value_name = "YYYY-MM-DD")]
    issued: String,
    /// fieldline.toml: the plot's crop and soil (`[agro]`), latitude, altitude and time zone
    /// (`[forecast]`). Default: the embedded defaults (peony; Heze; UTC+8).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the plot view's JSON instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: BloomArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::defaults(),
    };
    config.agro.check().map_err(anyhow::Error::msg)?;
    let issued = fieldline_core::time::parse_date(&args.issued).map_err(|e| anyhow::anyhow!("--issued: {}", e.0))?;
    let offset = fieldline_core::time::parse_offset(&config.forecast.utc_offset)
        .map_err(|e| anyhow::anyhow!("[forecast] utc_offset: {}", e.0))?;
    let store = fieldline_store::Store::open(&args.data, config.store.clone())
        .with_context(|| format!("cannot open the data dir {}", args.data.display()))?;
    let view = plots::view(&store, &config.agro, &config.forecast, &args.plot, issued, offset)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
    } else {
        print!("{}", table(&view));
    }
    Ok(())
}

/// The forecast as a table, with what it rests on.
fn table(view: &Value) -> String {
    use std::fmt::Write;
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "plot {} ({} {}, site {}), issued {}",
        text(&view["plot"]),
        text(&view["crop"]),
        text(&view["crop_zh"]),
        text(&view["site"]),
        text(&view["date"])
    );
    let stage = &view["stage"];
    let _ = writeln!(
        out,
        "degree days {:.1} since {}; stage {} {}",
        view["gdd"].as_f64().unwrap_or(0.0),
        text(&view["gdd_start"]),
        text(&stage["code"]),
        text(&stage["name_zh"])
    );
    let ph = &view["phenology"];
    let basis = if ph["fitted"].as_bool() == Some(true) {
        format!(
            "fitted to past springs' stages (base {:.2} °C, start {}, RMSE {:.1} days)",
            ph["base_c"].as_f64().unwrap_or(f64::NAN),
            start_text(&ph["start"]),
            ph["rmse_days"].as_f64().unwrap_or(f64::NAN)
        )
    } else {
        format!(
            "the crop table's heat sums (base {:.2} °C, start {})",
            ph["base_c"].as_f64().unwrap_or(f64::NAN),
            start_text(&ph["start"])
        )
    };
    let _ = writeln!(out, "phenology: {basis}");
    let _ = writeln!(
        out,
        "weather after the issue day: {} days of the latest forecast run, then {} past springs as members",
        ph["forecast_days_used"].as_u64().unwrap_or(0),
        ph["past_seasons"].as_u64().unwrap_or(0)
    );
    match view["bloom"].as_array() {
        Some(stages) => {
            let _ = writeln!(out, "{:<16} {:<11} {:<11} {:<11} {:<11}", "stage", "reached", "P10", "P50", "P90");
            for s in stages {
                let _ = writeln!(
                    out,
                    "{:<16} {:<11} {:<11} {:<11} {:<11}",
                    text(&s["stage"]),
                    text(&s["reached"]),
                    text(&s["p10"]),
                    text(&s["p50"]),
                    text(&s["p90"])
                );
            }
        }
        None => {
            let _ = writeln!(out, "no bloom-date forecast");
        }
    }
    for note in view["notes"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "note: {}", text(note));
    }
    out
}

/// A start rule as the API gives it (`{"first_five_day_mean_at_least": 3.0}`,
/// `{"fixed_day_of_year": 1}`) in words.
fn start_text(rule: &Value) -> String {
    if let Some(t) = rule["first_five_day_mean_at_least"].as_f64() {
        format!("first 5-day mean ≥ {t} °C")
    } else if let Some(d) = rule["fixed_day_of_year"].as_u64() {
        format!("day {d} of the year")
    } else {
        rule.as_str().map_or_else(|| rule.to_string(), str::to_string)
    }
}
