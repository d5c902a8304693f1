//! Feeding a running fieldline: history over HTTP line protocol ([`backfill_http`]) and live
//! readings over MQTT ([`stream_mqtt`]).
//!
//! **Backfill**: a blocking thread steps the simulation and encodes line protocol into
//! batches of a few MiB; several concurrent `POST /api/v2/write?precision=ns` requests
//! upload them (optionally gzip'd), retrying connection errors and 429/503 answers.
//!
//! **Live**: each minute of simulated time is published when its wall-clock moment comes.
//! The simulated clock runs `speed` times faster than the wall clock from where it starts
//! (`--speed 60`: one simulated minute per second); with `max_ahead` it never runs further
//! than that ahead of the wall clock, so a run that starts in the past catches up at `speed`
//! and then continues in real time (what `fieldline demo` does). Each device publishes its
//! own readings on its own cadence to `fl/v1/{site}/{kind}/{device}/telemetry` as JSON
//! `{"ts": <ms>, "values": {...}, "tags": {...}}` (QoS 1); an NWP issue goes out as one array.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Map, Value as Json};
use tokio::task::JoinSet;

use super::engine::Simulation;
use super::faults::GroundTruth;
use super::output::{LineProtocolSink, append_ground_truth};
use super::{DeviceInfo, Error, Row, RowSink, Value};

/// How the backfill talks to the server.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// API token with write scope, if the server requires one.
    pub token: Option<String>,
    pub concurrency: usize,
    pub batch_bytes: usize,
    pub gzip: bool,
}

/// What a backfill did.
#[derive(Debug, Clone, Copy)]
pub struct BackfillReport {
    pub points: u64,
    pub requests: u64,
    pub bytes: u64,
    pub seconds: f64,
}

fn write_url(base: &str) -> String {
    format!("{}/api/v2/write?bucket=fieldline&precision=ns", base.trim_end_matches('/'))
}

/// Simulates up to `end` and writes it to the server at `options.url`; returns the
/// simulation, ready to continue.
pub async fn backfill_http(
    mut sim: Simulation,
    end: i64,
    options: &HttpOptions,
) -> Result<(Simulation, BackfillReport), Error> {
    let started = Instant::now();
    let url = write_url(&options.url);
    let concurrency = options.concurrency.max(1);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(concurrency * 2);
    let generator_url = url.clone();
    let batch_bytes = options.batch_bytes.max(64 << 10);
    let generator = tokio::task::spawn_blocking(move || {
        let mut sink = LineProtocolSink::new(batch_bytes, |batch| {
            tx.blocking_send(batch)
                .map_err(|_| Error::Http { url: generator_url.clone(), message: "upload stopped".into() })
        });
        let result = sim.run_until(end, &mut sink);
        let lines = sink.finish();
        (sim, result.and(lines))
    });

    let client = reqwest::Client::new();
    let mut uploads: JoinSet<Result<u64, Error>> = JoinSet::new();
    let (mut requests, mut bytes) = (0u64, 0u64);
    let mut failure = None;
    while let Some(batch) = rx.recv().await {
        while uploads.len() >= concurrency {
            if let Some(done) = uploads.join_next().await {
                match flatten(done, &url) {
                    Ok(n) => bytes += n,
                    Err(e) => failure = failure.or(Some(e)),
                }
            }
        }
        if failure.is_some() {
            break;
        }
        requests += 1;
        uploads.spawn(post(client.clone(), url.clone(), options.token.clone(), batch, options.gzip));
    }
    drop(rx);
    while let Some(done) = uploads.join_next().await {
        match flatten(done, &url) {
            Ok(n) => bytes += n,
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    let (sim, generated) =
        generator.await.map_err(|e| Error::Http { url: url.clone(), message: format!("generator failed: {e}") })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let points = generated?;
    Ok((sim, BackfillReport { points, requests, bytes, seconds: started.elapsed().as_secs_f64() }))
}

fn flatten(done: Result<Result<u64, Error>, tokio::task::JoinError>, url: &str) -> Result<u64, Error> {
    done.map_err(|e| Error::Http { url: url.to_string(), message: format!("upload task failed: {e}") })?
}

/// Posts one batch; retries connection failures and 429/503 with backoff.
async fn post(
    client: reqwest::Client,
    url: String,
    token: Option<String>,
    body: String,
    gzip: bool,
) -> Result<u64, Error> {
    let fail = |message: String| Error::Http { url: url.clone(), message };
    let payload: Vec<u8> = if gzip {
        tokio::task::spawn_blocking(move || {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(body.as_bytes()).and_then(|_| encoder.finish())
        })
        .await
        .map_err(|e| fail(e.to_string()))?
        .map_err(|e| fail(format!("gzip: {e}")))?
    } else {
        body.into_bytes()
    };
    let size = payload.len() as u64;
    let payload = bytes::Bytes::from(payload);
    let mut delay = Duration::from_millis(200);
    for attempt in 0..6 {
        let mut request = client.post(&url).header("Content-Type", "text/plain; charset=utf-8").body(payload.clone());
        if gzip {
            request = request.header("Content-Encoding", "gzip");
        }
        if let Some(token) = &token {
            request = request.header("Authorization", format!("Token {token}"));
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => return Ok(size),
            Ok(response) => {
                let status = response.status();
                let retry = status.as_u16() == 429 || status.as_u16() == 503;
                let text = response.text().await.unwrap_or_default();
                if !retry || attempt == 5 {
                    return Err(fail(format!("{status}: {}", text.chars().take(500).collect::<String>())));
                }
            }
            Err(e) if attempt == 5 || !(e.is_connect() || e.is_timeout()) => return Err(fail(e.to_string())),
            Err(_) => {}
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
    Err(fail("gave up".into()))
}

/// Where and how fast to stream.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// `mqtt://[user:password@]host[:port]`.
    pub broker: String,
    pub client_id: String,
    /// Simulated seconds per wall-clock second.
    pub speed: f64,
    /// Never run more than this far (s) ahead of the wall clock; `None` = no limit.
    pub max_ahead_s: Option<i64>,
    /// Stop when the simulated clock reaches this instant.
    pub until: Option<i64>,
}

/// What a live run did.
#[derive(Debug, Clone, Copy)]
pub struct LiveReport {
    pub messages: u64,
    pub acknowledged: u64,
    pub readings: u64,
    pub simulated_until: i64,
}

/// Where an MQTT broker is and who to be there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddress {
    pub host: String,
    pub port: u16,
    /// Username and password.
    pub credentials: Option<(String, String)>,
}

/// Parses `mqtt://[user:password@]host[:port]` (also `tcp://` or a bare `host:port`).
pub fn parse_broker_url(url: &str) -> Result<BrokerAddress, Error> {
    let bad = || Error::Options(format!("MQTT URL {url:?}: use mqtt://[user:password@]host:port"));
    let rest = url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://")).unwrap_or(url);
    let (credentials, address) = match rest.rsplit_once('@') {
        Some((c, a)) => {
            let (user, pass) = c.split_once(':').unwrap_or((c, ""));
            (Some((user.to_string(), pass.to_string())), a)
        }
        None => (None, rest),
    };
    let address = address.trim_end_matches('/');
    let (host, port) = match address.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (address, 1883),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok(BrokerAddress { host: host.trim_start_matches('[').trim_end_matches(']').to_string(), port, credentials })
}

/// Collects one step's readings as MQTT messages.
#[derive(Default)]
struct Messages {
    out: Vec<(String, Vec<Json>)>,
    readings: u64,
}

fn json_values(devices: &[DeviceInfo], row: &Row<'_>) -> Json {
    let mut values = Map::new();
    if let Some(info) = devices.get(row.device) {
        for (name, value) in info.kind.fields().iter().zip(row.values) {
            let v = match value {
                Value::Num(v) => serde_json::Number::from_f64(*v).map(Json::Number),
                Value::Bool(b) => Some(Json::Bool(*b)),
                Value::Text(s) => Some(Json::String((*s).to_string())),
                Value::Missing => None,
            };
            if let Some(v) = v {
                values.insert((*name).to_string(), v);
            }
        }
    }
    Json::Object(values)
}

impl RowSink for Messages {
    fn row(&mut self, devices: &[DeviceInfo], row: &Row<'_>) -> Result<(), Error> {
        let Some(info) = devices.get(row.device) else { return Ok(()) };
        let topic = format!("fl/v1/{}/{}/{}/telemetry", info.site, info.kind.name(), info.device);
        let mut reading = Map::new();
        reading.insert("ts".into(), Json::from(row.ts.saturating_mul(1000)));
        reading.insert("values".into(), json_values(devices, row));
        let mut tags = Map::new();
        for (k, v) in &info.tags {
            tags.insert(k.clone(), Json::String(v.clone()));
        }
        if let Some(issued) = row.issued {
            tags.insert("issued".into(), Json::String(super::rfc3339(issued)));
        }
        if !tags.is_empty() {
            reading.insert("tags".into(), Json::Object(tags));
        }
        self.readings += 1;
        // An NWP issue is one message: consecutive rows of one device and issue share it.
        match self.out.last_mut() {
            Some((last_topic, batch))
                if row.issued.is_some()
                    && *last_topic == topic
                    && batch.first().is_some_and(|r| r.get("tags") == reading.get("tags")) =>
            {
                batch.push(Json::Object(reading));
            }
            _ => self.out.push((topic, vec![Json::Object(reading)])),
        }
        Ok(())
    }
}

/// Now, as the process sees it (`fieldline demo --start` moves it to a past season).
fn unix_now() -> f64 {
    fieldline_core::time::now_ns() as f64 / 1e9
}

/// Streams `sim` live to the broker until `until`, or until `stop` resolves. Ground truth of
/// finished events is appended to `ground_truth` as it becomes known.
pub async fn stream_mqtt(
    mut sim: Simulation,
    options: &LiveOptions,
    mut ground_truth: Option<&mut (dyn std::io::Write + Send)>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(Simulation, LiveReport), Error> {
    if !(options.speed.is_finite() && options.speed > 0.0) {
        return Err(Error::Options("--speed must be a positive number".into()));
    }
    let BrokerAddress { host, port, credentials } = parse_broker_url(&options.broker)?;
    let mut mqtt = MqttOptions::new(options.client_id.clone(), host, port);
    mqtt.set_keep_alive(Duration::from_secs(30));
    mqtt.set_max_packet_size(1 << 20, 1 << 20);
    mqtt.set_inflight(200);
    if let Some((user, pass)) = credentials {
        mqtt.set_credentials(user, pass);
    }
    let (client, mut eventloop) = AsyncClient::new(mqtt, 512);
    let acked = Arc::new(AtomicU64::new(0));
    let (error_tx, mut error_rx) = tokio::sync::watch::channel(None::<String>);
    let poller = tokio::spawn({
        let acked = acked.clone();
        async move {
            let mut failures = 0u32;
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Event::Incoming(Packet::ConnAck(_))) => failures = 0,
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => break,
                    Ok(_) => {}
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(error = %e, "MQTT connection problem; reconnecting");
                        if failures >= 20 {
                            let _ = error_tx.send(Some(e.to_string()));
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }
    });

    let wall0 = Instant::now();
    let sim0 = sim.clock();
    let mut published = 0u64;
    let mut readings = 0u64;
    tokio::pin!(stop);
    let result: Result<(), Error> = loop {
        let t = sim.clock();
        if options.until.is_some_and(|until| t >= until) {
            break Ok(());
        }
        // Capped at a year so absurd speeds cannot overflow the clock arithmetic.
        let wait_s = |s: f64| Duration::from_secs_f64(s.clamp(0.0, 3.2e7));
        let mut due = wall0 + wait_s((t - sim0) as f64 / options.speed);
        if let Some(ahead) = options.max_ahead_s {
            let wait = (t - ahead) as f64 - unix_now();
            if wait > 0.0 {
                due = due.max(Instant::now() + wait_s(wait));
            }
        }
        tokio::select! {
            _ = &mut stop => break Ok(()),
            changed = error_rx.changed() => {
                let message = if changed.is_ok() { error_rx.borrow().clone() } else { None };
                break Err(Error::Mqtt(message.unwrap_or_else(|| "connection lost".into())));
            }
            _ = tokio::time::sleep_until(due.into()) => {}
        }
        let mut messages = Messages::default();
        if let Err(e) = sim.step(&mut messages) {
            break Err(e);
        }
        readings += messages.readings;
        let mut failed = None;
        for (topic, batch) in messages.out {
            let payload = if batch.len() == 1 { serde_json::to_vec(&batch[0]) } else { serde_json::to_vec(&batch) };
            let payload = match payload {
                Ok(p) => p,
                Err(e) => {
                    failed = Some(Error::Mqtt(e.to_string()));
                    break;
                }
            };
            if let Err(e) = client.publish(topic, QoS::AtLeastOnce, false, payload).await {
                failed = Some(Error::Mqtt(e.to_string()));
                break;
            }
            published += 1;
        }
        if let Some(e) = failed {
            break Err(e);
        }
        write_truth(&mut ground_truth, &sim.take_ground_truth())?;
    };

    // Let the acknowledgements arrive (QoS 1: acked = durable on fieldline's endpoint).
    let deadline = Instant::now() + Duration::from_secs(15);
    while acked.load(Ordering::Relaxed) < published && Instant::now() < deadline && !poller.is_finished() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), poller).await;
    result?;
    write_truth(&mut ground_truth, &sim.take_ground_truth())?;
    let report = LiveReport {
        messages: published,
        acknowledged: acked.load(Ordering::Relaxed),
        readings,
        simulated_until: sim.clock(),
    };
    Ok((sim, report))
}

fn write_truth(out: &mut Option<&mut (dyn std::io::Write + Send)>, truth: &[GroundTruth]) -> Result<(), Error> {
    if let Some(out) = out.as_mut() {
        append_ground_truth(out, truth)
            .and_then(|_| out.flush())
            .map_err(|source| Error::Io { path: "ground truth".into(), source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let address = |host: &str, port, credentials| BrokerAddress { host: host.into(), port, credentials };
        assert_eq!(parse_broker_url("mqtt://127.0.0.1:1883").unwrap(), address("127.0.0.1", 1883, None));
        assert_eq!(
            parse_broker_url("mqtt://u:p@broker").unwrap(),
            address("broker", 1883, Some(("u".into(), "p".into())))
        );
        assert_eq!(parse_broker_url("localhost:1884").unwrap().port, 1884);
        assert!(parse_broker_url("mqtt://host:notaport").is_err());
        assert!(parse_broker_url("mqtt://").is_err());
    }
}
