//! `fieldline serve` as a library: [`start`] opens the store, starts the MQTT endpoint (or
//! the external-broker client), the HTTP API and the background jobs, and returns a
//! [`Running`] server; [`Running::shutdown`] stops the frontends first (no new input), lets
//! in-flight writes finish and be acknowledged, then drains the store to Parquet.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use fieldline_ingest::limits::Limits;
use fieldline_ingest::metrics::IngestMetrics;
use fieldline_ingest::outbox::Outbox;
use fieldline_ingest::pipeline::Pipeline;
use fieldline_ingest::schema::Schema;
use fieldline_ingest::sources::IngestContext;
use fieldline_ingest::sources::mqtt_broker;
use fieldline_ingest::sources::mqtt_endpoint::{self, EndpointHandle};
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::alerts::{AlertMetrics, Alerts};
use crate::api::{self, AppState};
use crate::config::Config;
use crate::jobs::forecast::ForecastMetrics;
use crate::jobs::{self, JobContext};
use crate::sinks::influx::{FOLLOWER, InfluxMetrics, InfluxSink};
use fieldline_store::FollowerConfig;
use fieldline_store::{self as store, Store};

/// Server start-up and shutdown errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store: {0}")]
    Store(#[from] store::Error),
    #[error("cannot listen for HTTP on {addr}: {source}")]
    HttpBind { addr: String, source: std::io::Error },
    #[error("{0}")]
    HttpTls(#[from] api::TlsError),
    #[error("{0}")]
    HttpConfig(String),
    #[error("{0}")]
    AgroConfig(String),
    #[error("[brain] {0}")]
    Brain(#[from] crate::brain::Error),
    #[error("cannot start the MQTT endpoint on {addr}: {source}")]
    MqttBind { addr: String, source: std::io::Error },
    #[error("broker: {0}")]
    Broker(#[from] mqtt_broker::Error),
    #[error("alerts: {0}")]
    Alerts(#[from] crate::alerts::Error),
    #[error("[schema] section: {0}")]
    Schema(#[from] fieldline_ingest::schema::SchemaConfigError),
    #[error("{0}")]
    Ingest(#[from] fieldline_ingest::limits::IngestConfigError),
    #[error("{0}")]
    Influx(#[from] crate::sinks::influx::config::ConfigError),
    #[error("[forecast.efile] {0}")]
    Efile(String),
    #[error("{0}")]
    InfluxStart(#[from] crate::sinks::influx::sink::StartError),
}

/// A running server.
pub struct Running {
    pub http_addr: SocketAddr,
    /// The MQTT endpoint's plain listener; `None` in broker mode or with `[mqtt] plain = false`.
    pub mqtt_addr: Option<SocketAddr>,
    /// The MQTT endpoint's TLS listener, when `[mqtt.tls]` is configured.
    pub mqtt_tls_addr: Option<SocketAddr>,
    pub store: Store,
    pub outbox: Outbox,
    stop: watch::Sender<bool>,
    http: JoinHandle<std::io::Result<()>>,
    endpoint: Option<EndpointHandle>,
    broker: Option<JoinHandle<Result<(), mqtt_broker::Error>>>,
    jobs: JoinHandle<()>,
    influx: Option<InfluxSink>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("http_addr", &self.http_addr)
            .field("mqtt_addr", &self.mqtt_addr)
            .field("mqtt_tls_addr", &self.mqtt_tls_addr)
            .finish_non_exhaustive()
    }
}

/// Checks what can be checked without opening the data dir or binding a port: the schema,
/// HTTP, crop, brain and alert settings, the HTTP certificate (returned, loaded) and the
/// broker settings. `serve --check` stops here.
pub fn check(config: &Config) -> Result<Option<tokio_rustls::TlsAcceptor>, Error> {
    config.schema.check()?;
    config.http.check().map_err(Error::HttpConfig)?;
    config.agro.check().map_err(Error::AgroConfig)?;
    config.brain.check()?;
    config.alerts.check()?;
    if let Some(influx) = &config.influxdb {
        influx.check()?;
    }
    config.forecast.efile.sftp_target().map_err(Error::Efile)?;
    if let Some(broker) = &config.broker {
        mqtt_broker::Client::new(broker.clone())?;
    }
    Ok(config.http.tls.as_ref().map(api::load_tls).transpose()?)
}

/// Starts everything `config` describes.
pub async fn start(mut config: Config) -> Result<Running, Error> {
    let started = Instant::now();
    if config.broker.as_ref().is_some_and(|b| b.topics.iter().any(|t| t.starts_with("$share/"))) {
        // A shared subscription hands each message to one instance of the group: this one
        // holds part of every site, and jobs on part of a site would forecast and alert wrong.
        tracing::warn!(
            "shared subscription: this instance stores part of each site's readings; \
             forecast, detection and brain jobs are off here (partition by site to run them)"
        );
        config.forecast.enabled = false;
        config.alerts.enabled = false;
        config.brain.enabled = false;
    }
    // Before anything opens: a bad setting or a missing certificate is a start-up error.
    let http_tls = check(&config)?;
    let data_dir = config.data_dir.clone();
    let store_config = config.store.clone();
    let followers: Vec<FollowerConfig> = config
        .influxdb
        .iter()
        .map(|i| FollowerConfig { name: FOLLOWER.into(), max_backlog_bytes: i.max_backlog_bytes })
        .collect();
    warn_about_abandoned_backlog(&config);
    let store = tokio::task::spawn_blocking(move || Store::open_with_followers(&data_dir, store_config, followers))
        .await
        .map_err(|e| store::Error::Other(e.to_string()))??;

    let mut registry = Registry::default();
    let ingest_metrics = IngestMetrics::default();
    ingest_metrics.register(&mut registry);
    store.metrics().register(&mut registry);
    let forecast_metrics = ForecastMetrics::default();
    forecast_metrics.register(&mut registry);
    let influx = match &config.influxdb {
        Some(influx_config) => {
            let metrics = InfluxMetrics::default();
            metrics.register(&mut registry);
            Some(InfluxSink::start(influx_config.clone(), &store, metrics)?)
        }
        None => None,
    };
    let limits = Limits::new(config.ingest.clone())?;
    let pipeline = Arc::new(Pipeline::new(Schema::new(&config.schema), ingest_metrics).with_limits(limits));
    let outbox = Outbox::default();
    let ctx = IngestContext::new(pipeline.clone(), Arc::new(store.clone()), outbox.clone());
    let (stop, stop_rx) = watch::channel(false);

    let (endpoint, broker) = match &config.broker {
        Some(broker_config) => {
            let client = mqtt_broker::Client::new(broker_config.clone())?;
            let task = tokio::spawn(client.run(ctx.clone(), stop_rx.clone()));
            (None, Some(task))
        }
        None => {
            let addr = config.mqtt.listen.clone();
            let handle = mqtt_endpoint::start(config.mqtt.clone(), ctx.clone())
                .map_err(|e| Error::MqttBind { addr, source: e.into() })?;
            (Some(handle), None)
        }
    };
    let mqtt_addr = endpoint.as_ref().and_then(|e| e.local_addr);
    let mqtt_tls_addr = endpoint.as_ref().and_then(|e| e.tls_addr);

    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .map_err(|source| Error::HttpBind { addr: config.http.listen.clone(), source })?;
    let http_addr =
        listener.local_addr().map_err(|source| Error::HttpBind { addr: config.http.listen.clone(), source })?;
    let alert_metrics = AlertMetrics::default();
    alert_metrics.register(&mut registry);
    let http_metrics = api::HttpMetrics::default();
    http_metrics.register(&mut registry);
    let alerts = {
        let (config, store, outbox) = (config.alerts.clone(), store.clone(), outbox.clone());
        tokio::task::spawn_blocking(move || Alerts::open(&config, store, outbox, alert_metrics))
            .await
            .map_err(|e| store::Error::Other(e.to_string()))??
    };
    let brain = crate::brain::Brain::start(config.brain.clone(), &config.data_dir, outbox.clone(), stop_rx.clone())?;
    let agro = Arc::new(config.agro.clone());
    let job_ctx = JobContext {
        store: store.clone(),
        outbox: outbox.clone(),
        metrics: forecast_metrics,
        alerts: alerts.clone(),
        data_dir: config.data_dir.clone(),
        max_future_secs: config.ingest.max_future_secs,
        brain: brain.clone(),
        agro: agro.clone(),
    };
    let jobs =
        jobs::spawn(config.forecast.clone(), config.alerts.clone(), config.schema.clone(), job_ctx, stop_rx.clone());
    let state = AppState {
        store: store.clone(),
        pipeline,
        registry: Arc::new(registry),
        http: Arc::new(config.http.clone()),
        outbox: outbox.clone(),
        started,
        forecast: Arc::new(config.forecast.clone()),
        agro,
        brain,
        alerts,
        tls: http_tls,
        sessions: api::Sessions::default(),
        write_slots: Arc::new(tokio::sync::Semaphore::new(config.http.max_concurrent_writes)),
        http_metrics,
        influx: influx.as_ref().map(|i| i.status.clone()),
        jobs: api::JobsRunning {
            forecast: config.forecast.enabled,
            detection: config.alerts.enabled,
            brain: config.brain.enabled,
        },
    };
    let mut http_stop = stop_rx.clone();
    let http = tokio::spawn(api::run(listener, state, async move {
        let _ = http_stop.wait_for(|s| *s).await;
    }));
    let scheme = if config.http.tls.is_some() { "https" } else { "http" };
    tracing::info!(%http_addr, scheme, ?mqtt_addr, ?mqtt_tls_addr, elapsed_ms = started.elapsed().as_millis() as u64, "fieldline serving");
    Ok(Running { http_addr, mqtt_addr, mqtt_tls_addr, store, outbox, stop, http, endpoint, broker, jobs, influx })
}

impl Running {
    /// Graceful shutdown: stop taking input, finish in-flight writes, flush to Parquet.
    pub async fn shutdown(self) -> Result<(), Error> {
        tracing::info!("shutting down: closing MQTT and HTTP");
        let _ = self.stop.send(true);
        if let Some(endpoint) = self.endpoint {
            endpoint.stop().await;
        }
        if let Some(broker) = self.broker {
            match broker.await {
                Ok(Err(e)) => tracing::error!(error = %e, "broker client ended with an error"),
                Err(e) => tracing::error!(error = %e, "broker client task failed"),
                Ok(Ok(())) => {}
            }
        }
        if let Err(e) = self.jobs.await {
            tracing::error!(error = %e, "job scheduler failed");
        }
        match self.http.await {
            Ok(Err(e)) => tracing::error!(error = %e, "HTTP server ended with an error"),
            Err(e) => tracing::error!(error = %e, "HTTP server task failed"),
            Ok(Ok(())) => {}
        }
        tracing::info!("flushing store");
        let stored = self.store.shutdown().await;
        // After the store: every acknowledged write is in the WAL the mirror reads.
        if let Some(influx) = self.influx {
            influx.shutdown().await;
        }
        stored?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// A mirror's backlog left in the data dir by an earlier configuration is never sent: say so.
fn warn_about_abandoned_backlog(config: &Config) {
    if config.influxdb.is_some() {
        return;
    }
    let dir = fieldline_store::follow::follower_dir(&config.data_dir, FOLLOWER);
    let bytes: u64 = std::fs::read_dir(&dir)
        .map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0);
    if bytes > 0 {
        tracing::warn!(
            dir = %dir.display(),
            bytes,
            "an InfluxDB mirror backlog is left from an earlier configuration and [influxdb] is off: \
             it is not sent; configure [influxdb] again to send it, or delete the directory"
        );
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}
