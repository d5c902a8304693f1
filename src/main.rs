//! The `fieldline` command line. Parsing and logging set-up only; every subcommand lives in
//! `fieldline::commands`.

use clap::{Parser, Subcommand};
use fieldline::commands;
use tracing_subscriber::EnvFilter;

/// fieldline — telemetry pipeline for peony plots, pest traps, wind turbines and PV plants
/// around Heze.
#[derive(Debug, Parser)]
#[command(name = "fieldline", version, about, long_about = None)]
struct Cli {
    /// Log filter (tracing EnvFilter syntax), e.g. info, fieldline=debug.
    #[arg(long, env = "FIELDLINE_LOG", default_value = "info,ntex=warn,ntex_server=warn,ntex_io=warn", global = true)]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the MQTT endpoint (or broker client), the store and the HTTP API.
    Serve(commands::serve::ServeCommand),
    /// Serve, backfill 60 days of the simulated Heze sites and stream them live: the one-command demo.
    Demo(commands::demo::DemoArgs),
    /// Simulate the Heze field sites (wind, PV, met, peony plots, pest traps, NWP) with injected faults: to files, over HTTP or live over MQTT.
    Simulate(commands::simulate::SimulateArgs),
    /// Power forecasting for analysts: walk-forward backtests scored as the grid assesses.
    Forecast(commands::forecast::ForecastArgs),
    /// Anomaly scores for a CSV series (NAB format), or the detectors evaluated against simulator ground truth.
    Detect(commands::detect::DetectArgs),
    /// Agronomy: one day's FAO-56 ET0 with its terms, a season's degree days and crop stages, bloom and pest evaluations.
    Agro(commands::agro::AgroArgs),
    /// Load generators and end-to-end benchmarks.
    Bench(commands::bench::BenchArgs),
    /// InfluxDB: send a data dir's stored points to the database of record (`influx backfill`).
    Influx(commands::influx::InfluxArgs),
    /// Hash an MQTT user's password (read from stdin) for [[mqtt.users]] password_hash.
    Passwd(commands::passwd::PasswdArgs),
    /// Make a new API token and the [[http.tokens]] entry holding only its SHA-256.
    Token(commands::token::TokenArgs),
}

/// Ingest allocates and frees small strings per reading (tags, field names) on every core;
/// glibc's allocator spent about a fifth of a bulk load in malloc/free (perf, bench query).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&cli.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(args) => runtime.block_on(commands::serve::run(args)),
        Command::Demo(args) => runtime.block_on(commands::demo::run(args)),
        Command::Simulate(args) => runtime.block_on(commands::simulate::run(args)),
        Command::Forecast(args) => commands::forecast::run(args),
        Command::Detect(args) => commands::detect::run(args),
        Command::Agro(args) => commands::agro::run(args),
        Command::Bench(args) => runtime.block_on(commands::bench::run(args)),
        Command::Influx(args) => runtime.block_on(commands::influx::run(args)),
        Command::Passwd(args) => commands::passwd::run(args),
        Command::Token(args) => commands::token::run(args),
    }
}
