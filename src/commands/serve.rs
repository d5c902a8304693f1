//! `fieldline serve`: run the MQTT endpoint (or the broker client), the store and the HTTP
//! API until SIGINT/SIGTERM, then shut down gracefully.

use std::path::PathBuf;

use clap::Args;
use fieldline_ingest::sources::mqtt_broker::BrokerConfig;
use fieldline_ingest::sources::mqtt_broker::config::redact_url;

use crate::config::Config;
use crate::server;
use crate::sinks::influx::InfluxConfig;
use crate::sinks::influx::config::TOKEN_ENV as INFLUX_TOKEN_ENV;

/// Environment variable holding the external broker's password (kept out of the URL, the
/// command line and the configuration file).
pub const BROKER_PASSWORD_ENV: &str = "FIELDLINE_BROKER_PASSWORD";

/// Flags shared by `serve` and `demo`. Precedence: `--config` file, then `FIELDLINE_*`
/// environment variables, then these flags.
#[derive(Clone, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); every key has a default.
    #[arg(long, env = "FIELDLINE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the WAL and Parquet partitions [default: ./data].
    #[arg(long, env = "FIELDLINE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of fieldline's own MQTT endpoint (plain listener) [default: 127.0.0.1:1883].
    /// A TLS listener is configured in the file: [mqtt.tls] listen, cert, key.
    #[arg(long, env = "FIELDLINE_MQTT_LISTEN", value_name = "ADDR")]
    pub mqtt_listen: Option<String>,
    /// Address of the HTTP API [default: 127.0.0.1:8080].
    #[arg(long, env = "FIELDLINE_HTTP_LISTEN", value_name = "ADDR")]
    pub http_listen: Option<String>,
    /// Read from an external broker (mqtt://[user@]host:port, or mqtts:// for TLS) instead of
    /// running the endpoint; subscribes to fl/v1/# with a persistent session and acks after
    /// durable writes. Give the password in FIELDLINE_BROKER_PASSWORD or
    /// --broker-password-file rather than in the URL.
    #[arg(long, env = "FIELDLINE_BROKER", value_name = "URL")]
    pub broker: Option<String>,
    /// Client id at the external broker (keep it stable: the broker holds unacked messages for it).
    #[arg(long, env = "FIELDLINE_BROKER_CLIENT_ID", value_name = "ID")]
    pub broker_client_id: Option<String>,
    /// File holding the external broker's password (trailing newline ignored).
    #[arg(long, env = "FIELDLINE_BROKER_PASSWORD_FILE", value_name = "FILE")]
    pub broker_password_file: Option<PathBuf>,
    /// Subscribe to these filters instead of fl/v1/# (repeat the flag, or comma-separate in
    /// the variable): e.g. `fl/v1/heze-wind/#` so that each site lives whole on one instance
    /// (ingest partitioned by site: the forecast and detection jobs see all of its readings).
    #[arg(long = "broker-topic", env = "FIELDLINE_BROKER_TOPICS", value_delimiter = ',', value_name = "FILTER")]
    pub broker_topics: Vec<String>,
    /// Join the MQTT shared subscription `$share/NAME/<filter>`: the broker gives each message
    /// to one instance of the group, so N instances split the load. Each then holds part of
    /// every site, so its forecast, detection and brain jobs are off (see README, "Several
    /// instances").
    #[arg(long, env = "FIELDLINE_SHARE_GROUP", value_name = "NAME")]
    pub share_group: Option<String>,
    /// Mirror every stored point to this InfluxDB v2 write API (InfluxDB 2/3, Cloud,
    /// VictoriaMetrics), e.g. http://influxdb:8086: batches of line protocol read from the
    /// WAL behind a durable cursor, retried until they land. Token in FIELDLINE_INFLUX_TOKEN;
    /// more settings in [influxdb].
    #[arg(long, env = "FIELDLINE_INFLUX_URL", value_name = "URL")]
    pub influx_url: Option<String>,
    /// InfluxDB organisation [default: fieldline].
    #[arg(long, env = "FIELDLINE_INFLUX_ORG", value_name = "ORG")]
    pub influx_org: Option<String>,
    /// InfluxDB bucket (VictoriaMetrics ignores it) [default: fieldline].
    #[arg(long, env = "FIELDLINE_INFLUX_BUCKET", value_name = "BUCKET")]
    pub influx_bucket: Option<String>,
}

impl std::fmt::Debug for ServeArgs {
    // The broker URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("config", &self.config)
            .field("data_dir", &self.data_dir)
            .field("mqtt_listen", &self.mqtt_listen)
            .field("http_listen", &self.http_listen)
            .field("broker", &self.broker.as_deref().map(redact_url))
            .field("broker_client_id", &self.broker_client_id)
            .field("broker_password_file", &self.broker_password_file)
            .field("broker_topics", &self.broker_topics)
            .field("share_group", &self.share_group)
            .field("influx_url", &self.influx_url)
            .field("influx_org", &self.influx_org)
            .field("influx_bucket", &self.influx_bucket)
            .finish()
    }
}

impl ServeArgs {
    /// The configuration: file (or defaults), then environment and flags on top.
    pub fn load_config(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::load(path)?,
            None => Config::defaults(),
        };
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(addr) = &self.mqtt_listen {
            config.mqtt.listen = addr.clone();
        }
        if let Some(addr) = &self.http_listen {
            config.http.listen = addr.clone();
        }
        if let Some(url) = &self.broker {
            let broker = config.broker.get_or_insert_with(BrokerConfig::default);
            broker.url = url.clone();
        }
        if let Some(broker) = config.broker.as_mut() {
            if let Some(id) = &self.broker_client_id {
                broker.client_id = id.clone();
            }
            // The environment and the flag replace the file's password settings.
            if let Some(path) = &self.broker_password_file {
                broker.password_file = Some(path.clone());
                broker.password = None;
            }
            if !self.broker_topics.is_empty() {
                broker.topics = self.broker_topics.clone();
            }
            if let Some(group) = &self.share_group {
                if group.is_empty() || group.contains(['/', '+', '#']) {
                    anyhow::bail!("--share-group {group:?}: a name without '/', '+' or '#'");
                }
                broker.topics = broker.topics.iter().map(|t| format!("$share/{group}/{t}")).collect();
            }
            if let Some(password) = std::env::var_os(BROKER_PASSWORD_ENV) {
                let password =
                    password.into_string().map_err(|_| anyhow::anyhow!("{BROKER_PASSWORD_ENV} is not valid UTF-8"))?;
                broker.password = Some(password);
                broker.password_file = None;
            }
        }
        if let Some(url) = &self.influx_url {
            config.influxdb.get_or_insert_with(InfluxConfig::default).url = url.clone();
        }
        if let Some(influx) = config.influxdb.as_mut() {
            if let Some(org) = &self.influx_org {
                influx.org = org.clone();
            }
            if let Some(bucket) = &self.influx_bucket {
                influx.bucket = bucket.clone();
            }
            if let Some(token) = std::env::var_os(INFLUX_TOKEN_ENV) {
                let token =
                    token.into_string().map_err(|_| anyhow::anyhow!("{INFLUX_TOKEN_ENV} is not valid UTF-8"))?;
                influx.token = Some(token);
                influx.token_file = None;
            }
        } else if self.influx_org.is_some() || self.influx_bucket.is_some() {
            anyhow::bail!("--influx-org and --influx-bucket need --influx-url (or an [influxdb] section)");
        }
        if config.broker.is_none() && (self.share_group.is_some() || !self.broker_topics.is_empty()) {
            anyhow::bail!("--share-group and --broker-topic need an external broker (--broker URL)");
        }
        Ok(config)
    }
}

/// Prints the line scripts and tests wait for: `mqtt=` is the plain listener (`off` when
/// only TLS is served, `external-broker` in broker mode), `mqtts=` the TLS one if any.
pub fn announce(running: &server::Running) {
    let mqtt = match (running.mqtt_addr, running.mqtt_tls_addr) {
        (Some(addr), _) => addr.to_string(),
        (None, Some(_)) => "off".to_string(),
        (None, None) => "external-broker".to_string(),
    };
    let mqtts = running.mqtt_tls_addr.map(|a| format!(" mqtts={a}")).unwrap_or_default();
    println!("fieldline listening http={} mqtt={mqtt}{mqtts}", running.http_addr);
}

/// `fieldline serve`: the shared flags plus `--check`.
#[derive(Debug, Clone, Args)]
pub struct ServeCommand {
    #[command(flatten)]
    pub args: ServeArgs,
    /// Check the configuration (file, environment, flags: settings, certificates, broker
    /// settings) and exit: 0 and "configuration OK" when it would start, else the reason.
    /// Opens no data dir and binds no port, so it runs beside a live server (deployments
    /// validate their files with it).
    #[arg(long)]
    pub check: bool,
}

pub async fn run(command: ServeCommand) -> anyhow::Result<()> {
    let ServeCommand { args, check } = command;
    let config = args.load_config()?;
    if check {
        server::check(&config)?;
        println!("configuration OK: http {}, data dir {}", config.http.listen, config.data_dir.display());
        return Ok(());
    }
    let running = server::start(config).await?;
    announce(&running);
    server::shutdown_signal().await;
    running.shutdown().await?;
    Ok(())
}
