//! `fieldline serve`: run the MQTT endpoint (or the broker client), the store and the HTTP
//! API until SIGINT/SIGTERM, then shut down gracefully.

use std::path::PathBuf;

use clap::Args;
use fieldline_ingest::sources::mqtt_broker::BrokerConfig;

use crate::config::Config;
use crate::server;

/// Flags shared by `serve` and `demo`. Precedence: `--config` file, then `FIELDLINE_*`
/// environment variables, then these flags.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); every key has a default.
    #[arg(long, env = "FIELDLINE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Directory for the WAL and Parquet partitions [default: ./data].
    #[arg(long, env = "FIELDLINE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address of fieldline's own MQTT endpoint [default: 127.0.0.1:1883].
    #[arg(long, env = "FIELDLINE_MQTT_LISTEN", value_name = "ADDR")]
    pub mqtt_listen: Option<String>,
    /// Address of the HTTP API [default: 127.0.0.1:8080].
    #[arg(long, env = "FIELDLINE_HTTP_LISTEN", value_name = "ADDR")]
    pub http_listen: Option<String>,
    /// Read from an external broker (mqtt://[user:pass@]host:port) instead of running the
    /// endpoint; subscribes to fl/v1/# with a persistent session and acks after durable writes.
    #[arg(long, env = "FIELDLINE_BROKER", value_name = "URL")]
    pub broker: Option<String>,
    /// Client id at the external broker (keep it stable: the broker holds unacked messages for it).
    #[arg(long, env = "FIELDLINE_BROKER_CLIENT_ID", value_name = "ID")]
    pub broker_client_id: Option<String>,
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
        if let (Some(id), Some(broker)) = (&self.broker_client_id, config.broker.as_mut()) {
            broker.client_id = id.clone();
        }
        Ok(config)
    }
}

/// Prints the line scripts and tests wait for, then the URLs a person wants.
pub fn announce(running: &server::Running) {
    let mqtt = running.mqtt_addr.map_or_else(|| "external-broker".to_string(), |a| a.to_string());
    println!("fieldline listening http={} mqtt={}", running.http_addr, mqtt);
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.load_config()?;
    let running = server::start(config).await?;
    announce(&running);
    server::shutdown_signal().await;
    running.shutdown().await?;
    Ok(())
}
