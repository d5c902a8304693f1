//! `fieldline bench ingest`: the end-to-end load generator. M simulated devices (one MQTT
//! connection each, rumqttc, QoS 1) publish N readings in messages of B readings; it
//! measures publish→PUBACK latency (PUBACK = durable), overall readings/s until the last
//! PUBACK and until every reading is queryable, and the server's peak RSS.
//!
//! By default it starts `fieldline serve` as a child process on a temporary data dir (so the
//! RSS is the server's alone); `--mqtt`/`--http` point it at a running server instead.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::Value;
use tokio::sync::Mutex;

use super::Server;

#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// Readings to publish in total.
    #[arg(long, default_value_t = 200_000)]
    pub readings: usize,
    /// Simulated devices (one MQTT connection each).
    #[arg(long, default_value_t = 8)]
    pub devices: usize,
    /// Readings per MQTT message (a JSON array).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// QoS 1 messages each device keeps in flight.
    #[arg(long, default_value_t = 100)]
    pub inflight: u16,
    /// MQTT endpoint of a running server (host:port); default: start one.
    #[arg(long, requires = "http")]
    pub mqtt: Option<String>,
    /// HTTP address of that server (host:port).
    #[arg(long, requires = "mqtt")]
    pub http: Option<String>,
    /// Data dir for the server this command starts (default: a temporary directory).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Print the result as one JSON object (for scripts).
    #[arg(long)]
    pub json: bool,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub async fn run(args: IngestArgs) -> anyhow::Result<()> {
    if args.devices == 0 || args.batch == 0 || args.readings == 0 {
        bail!("--readings, --devices and --batch must be positive");
    }
    let server = match (&args.mqtt, &args.http) {
        (Some(_), Some(_)) => None,
        _ => Some(Server::start(args.data_dir.clone(), None)?),
    };
    let mqtt = args.mqtt.clone().or_else(|| server.as_ref().map(|s| s.mqtt.clone())).context("no MQTT address")?;
    let http = args.http.clone().or_else(|| server.as_ref().map(|s| s.http.clone())).context("no HTTP address")?;
    let (host, port) = mqtt.rsplit_once(':').context("--mqtt is host:port")?;
    let port: u16 = port.parse().context("--mqtt port")?;

    let messages_total = args.readings.div_ceil(args.batch);
    let per_device = messages_total.div_ceil(args.devices);
    // Distinct timestamps per device: readings are never deduplicated away.
    let base_ns: i64 = 1_700_000_000_000_000_000;
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(messages_total)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let mut published = 0usize;
    for d in 0..args.devices {
        let messages = per_device.min(messages_total.saturating_sub(d * per_device));
        if messages == 0 {
            break;
        }
        let readings_here = (messages * args.batch).min(args.readings - published);
        published += readings_here;
        let (host, latencies, inflight, batch) = (host.to_string(), latencies.clone(), args.inflight, args.batch);
        tasks.push(tokio::spawn(async move {
            device(d, host, port, messages, readings_here, batch, inflight, base_ns, latencies).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let acked_after = started.elapsed();

    // Readable through the API: the sum of counts over the bench series reaches N.
    let client = reqwest::Client::new();
    let url = format!("http://{http}/api/v1/series?measurement=bench_device&field=value");
    loop {
        let v: Value = client.get(&url).send().await?.json().await?;
        let count: u64 = v["series"].as_array().into_iter().flatten().filter_map(|s| s["count"].as_u64()).sum();
        if count as usize >= published {
            break;
        }
        if started.elapsed() > acked_after + Duration::from_secs(60) {
            bail!("only {count} of {published} readings queryable after 60 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let queryable_after = started.elapsed();
    let mut lat = std::mem::take(&mut *latencies.lock().await);
    lat.sort_by(f64::total_cmp);
    let rss = server.as_ref().and_then(Server::peak_rss_mib);
    let result = serde_json::json!({
        "readings": published,
        "messages": messages_total,
        "devices": args.devices,
        "batch": args.batch,
        "readings_per_s_acked": published as f64 / acked_after.as_secs_f64(),
        "messages_per_s_acked": messages_total as f64 / acked_after.as_secs_f64(),
        "readings_per_s_queryable": published as f64 / queryable_after.as_secs_f64(),
        "latency_ms_p50": percentile(&lat, 0.50),
        "latency_ms_p99": percentile(&lat, 0.99),
        "latency_ms_max": lat.last().copied().unwrap_or(f64::NAN),
        "server_peak_rss_mib": rss,
    });
    if args.json {
        println!("{result}");
    } else {
        println!(
            "{} readings in {} messages from {} devices (batch {}):\n  {:.0} readings/s ({:.0} messages/s) until the last PUBACK, {:.0} readings/s until all queryable\n  publish->PUBACK (durable) latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n  server peak RSS {}",
            published,
            messages_total,
            args.devices,
            args.batch,
            result["readings_per_s_acked"].as_f64().unwrap_or(0.0),
            result["messages_per_s_acked"].as_f64().unwrap_or(0.0),
            result["readings_per_s_queryable"].as_f64().unwrap_or(0.0),
            result["latency_ms_p50"].as_f64().unwrap_or(f64::NAN),
            result["latency_ms_p99"].as_f64().unwrap_or(f64::NAN),
            result["latency_ms_max"].as_f64().unwrap_or(f64::NAN),
            rss.map_or("n/a (external server)".to_string(), |r| format!("{r:.0} MiB")),
        );
    }
    Ok(())
}

/// One simulated device: publishes `messages` messages of `batch` readings (the last one
/// possibly shorter) and records each publish→PUBACK latency.
#[allow(clippy::too_many_arguments)]
async fn device(
    id: usize,
    host: String,
    port: u16,
    messages: usize,
    readings: usize,
    batch: usize,
    inflight: u16,
    base_ns: i64,
    latencies: Arc<Mutex<Vec<f64>>>,
) -> anyhow::Result<()> {
    let mut options = MqttOptions::new(format!("bench-{id}-{}", std::process::id()), host, port);
    options.set_inflight(inflight);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut eventloop) = AsyncClient::new(options, usize::from(inflight) * 2);
    let topic = format!("fl/v1/bench/bench_device/dev{id:04}/telemetry");
    let publisher = tokio::spawn({
        let client = client.clone();
        async move {
            let mut sent = 0usize;
            for m in 0..messages {
                let n = batch.min(readings - sent);
                let mut payload = String::with_capacity(n * 48 + 2);
                payload.push('[');
                for r in 0..n {
                    if r > 0 {
                        payload.push(',');
                    }
                    let ts_ms = (base_ns / 1_000_000) + (sent + r) as i64;
                    payload.push_str(&format!("{{\"ts\":{ts_ms},\"values\":{{\"value\":{}.5}}}}", (m + r) % 1000));
                }
                payload.push(']');
                sent += n;
                client.publish(topic.clone(), QoS::AtLeastOnce, false, payload).await?;
            }
            anyhow::Ok(())
        }
    });
    // pkid -> when the PUBLISH left; FIFO per pkid because rumqttc reuses ids.
    let mut sent_at: HashMap<u16, Instant> = HashMap::new();
    let mut acked = 0usize;
    let mut local = Vec::with_capacity(messages);
    while acked < messages {
        match eventloop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                sent_at.insert(pkid, Instant::now());
            }
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                if let Some(t) = sent_at.remove(&ack.pkid) {
                    local.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                acked += 1;
            }
            Ok(_) => {}
            Err(e) => bail!("device {id}: MQTT connection failed: {e}"),
        }
    }
    publisher.await??;
    let _ = client.disconnect().await;
    latencies.lock().await.extend(local);
    Ok(())
}
