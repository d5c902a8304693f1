//! The mirror task: read records from the WAL follower's cursor, turn their points into line
//! protocol, post them in batches of `batch_points` lines, and move the durable cursor past
//! a batch only once the server answered 2xx.
//!
//! Failures are told apart by what retrying can change:
//! - unreachable, timeouts, 5xx, 429, and 401/403/404 (a token or bucket an operator will
//!   fix): retried with backoff (1 s doubling to `retry_max_secs`), the backlog waiting in
//!   the WAL; at `max_backlog_bytes` the store refuses writes until the mirror catches up;
//! - 413 (batch too large): the batch is split in halves and each half posted;
//! - other 4xx (400 malformed, 422 outside the bucket's retention): the server will never
//!   take these lines; they are counted as rejected and logged, and the mirror goes on (the
//!   points stay in fieldline's own store).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use fieldline_core::{FieldValue, Point};
use fieldline_ingest::decode::lineproto;
use fieldline_store::follow::{Cursor, Gate};
use fieldline_store::{Follower, Store};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::config::{ConfigError, InfluxConfig};

/// WAL payload read per pass (about 10 000 points).
const READ_BYTES: usize = 1 << 20;
/// How often an idle mirror looks for new records.
const POLL: Duration = Duration::from_millis(100);

/// The mirror's counters (`fieldline_influx_*` on /metrics). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct InfluxMetrics {
    /// Points read from the WAL and queued for delivery.
    pub points_queued: Counter,
    /// Points the server accepted (2xx).
    pub points_written: Counter,
    /// Points the server refused for good (400, 422): not retried.
    pub points_rejected: Counter,
    /// Write requests retried after a failure.
    pub retries: Counter,
    /// WAL bytes not yet delivered.
    pub backlog_bytes: Gauge,
    /// Age of the oldest point not yet delivered, roughly: seconds since the start of the
    /// last pass that delivered everything written before it (0 when nothing waits).
    pub lag_seconds: Gauge,
}

impl InfluxMetrics {
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("fieldline_influx");
        r.register("points_queued", "Points read from the WAL and queued for InfluxDB", self.points_queued.clone());
        r.register("points_written", "Points InfluxDB accepted", self.points_written.clone());
        r.register(
            "points_rejected",
            "Points InfluxDB refused for good (400, 422); they stay in fieldline's store",
            self.points_rejected.clone(),
        );
        r.register("retries", "InfluxDB write requests retried after a failure", self.retries.clone());
        r.register("backlog_bytes", "WAL bytes not yet delivered to InfluxDB", self.backlog_bytes.clone());
        r.register(
            "lag_seconds",
            "Seconds the InfluxDB mirror is behind: since the last pass that delivered everything written before it began (0 when nothing waits)",
            self.lag_seconds.clone(),
        );
    }
}

/// What `/health` says about the mirror.
#[derive(Debug)]
pub struct InfluxStatus {
    /// The last failure while it lasts (cleared by the next success), and when failures began.
    failure: Mutex<Option<(String, SystemTime)>>,
    backlog_bytes: AtomicU64,
    /// The store's gate for this follower: closed (with its reason) while writes are refused.
    gate: Arc<Gate>,
}

impl InfluxStatus {
    /// `{"name":"influxdb","status":"pass"|"fail","message":...}`, InfluxDB's check shape.
    pub fn check(&self) -> serde_json::Value {
        let backlog = self.backlog_bytes.load(Ordering::Relaxed);
        let failure = self.failure.lock().ok().and_then(|f| f.clone());
        let refusing = self.gate.refusal();
        let message = match (&refusing, &failure) {
            (Some(refusal), _) => refusal.clone(),
            (None, Some((error, since))) => format!(
                "failing since {}: {error}; {backlog} bytes wait in the WAL and are sent when it answers",
                fieldline_core::time::format_time(
                    since.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64),
                    time::UtcOffset::UTC
                )
            ),
            (None, None) => format!("delivering; {backlog} bytes behind"),
        };
        serde_json::json!({
            "name": "influxdb",
            "status": if refusing.is_some() { "fail" } else { "pass" },
            "message": message,
            "backlog_bytes": backlog,
        })
    }

    /// The problem `/health` lists while writes are refused.
    pub fn problem(&self) -> Option<String> {
        self.gate.refusal()
    }

    fn failed(&self, error: String) {
        if let Ok(mut f) = self.failure.lock() {
            let since = f.as_ref().map_or_else(SystemTime::now, |(_, since)| *since);
            *f = Some((error, since));
        }
    }

    fn succeeded(&self) {
        if let Ok(mut f) = self.failure.lock() {
            *f = None;
        }
    }
}

/// A running mirror.
#[derive(Debug)]
pub struct InfluxSink {
    pub status: Arc<InfluxStatus>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    drain: Duration,
}

/// One InfluxDB write endpoint: the client, the URL with org, bucket and precision, the token.
/// Shared by the mirror and `fieldline influx backfill`.
#[derive(Debug, Clone)]
pub struct Writer {
    client: reqwest::Client,
    url: reqwest::Url,
    token: Option<String>,
    /// For messages: the configured base URL.
    server: String,
}

impl Writer {
    pub fn new(config: &InfluxConfig) -> Result<Writer, ConfigError> {
        Ok(Writer {
            client: config.client()?,
            url: config.write_url()?,
            token: config.resolved_token()?,
            server: config.url.clone(),
        })
    }

    /// POSTs `body` (line protocol, ns timestamps).
    pub async fn post(&self, body: &str) -> Result<(), PostError> {
        let mut request = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(body.to_string());
        if let Some(token) = &self.token {
            request = request.header(reqwest::header::AUTHORIZATION, format!("Token {token}"));
        }
        let response = request.send().await.map_err(|e| PostError::Retry(format!("{}: {e}", self.server)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(500).collect();
        let why = format!("{} answered {status}: {text}", self.server);
        Err(match status.as_u16() {
            413 => PostError::TooLarge,
            400 | 422 => PostError::Rejected(why),
            _ => PostError::Retry(why),
        })
    }
}

/// Why a post did not succeed.
#[derive(Debug)]
pub enum PostError {
    /// Worth retrying: the server or the network may recover, or an operator fix a token.
    Retry(String),
    /// The batch is too large for the server.
    TooLarge,
    /// The server will never take these lines.
    Rejected(String),
}

impl InfluxSink {
    /// Starts the mirror of `store`'s follower `influx` (the store must have been opened with
    /// it, see [`super::FOLLOWER`]).
    pub fn start(config: InfluxConfig, store: &Store, metrics: InfluxMetrics) -> Result<InfluxSink, StartError> {
        let follower = store.follower(super::FOLLOWER)?;
        let writer = Writer::new(&config)?;
        let status = Arc::new(InfluxStatus {
            failure: Mutex::new(None),
            backlog_bytes: AtomicU64::new(0),
            gate: follower.gate(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let drain = Duration::from_secs(config.drain_secs);
        let mirror = Mirror {
            follower: Arc::new(Mutex::new(follower)),
            writer,
            config,
            metrics,
            status: status.clone(),
            stop: stop_rx,
            caught_up_at: Instant::now(),
        };
        tracing::info!(url = %mirror.writer.url, "InfluxDB mirror started");
        let task = tokio::spawn(mirror.run());
        Ok(InfluxSink { status, stop, task, drain })
    }

    /// Call after the store has shut down: delivers what is left for up to `drain_secs`,
    /// then stops (the rest is sent after the next start).
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let mut task = self.task;
        if tokio::time::timeout(self.drain + Duration::from_secs(5), &mut task).await.is_err() {
            tracing::warn!(
                "InfluxDB mirror did not stop in time; the rest of its backlog is sent after the next start"
            );
            task.abort();
        }
    }
}

/// Why the mirror could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    #[error("InfluxDB mirror: {0}")]
    Store(#[from] fieldline_store::Error),
}

struct Mirror {
    follower: Arc<Mutex<Follower>>,
    writer: Writer,
    config: InfluxConfig,
    metrics: InfluxMetrics,
    status: Arc<InfluxStatus>,
    stop: watch::Receiver<bool>,
    caught_up_at: Instant,
}

/// One write request: its lines, how many, and the cursor after its last record.
struct Post {
    body: String,
    points: u64,
    end: Cursor,
}

impl Mirror {
    async fn run(mut self) {
        let mut draining_until: Option<Instant> = None;
        loop {
            if draining_until.is_none() && *self.stop.borrow() {
                draining_until = Some(Instant::now() + Duration::from_secs(self.config.drain_secs));
            }
            if draining_until.is_some_and(|d| Instant::now() >= d) {
                tracing::info!("InfluxDB mirror stopped before catching up; the rest is sent after the next start");
                return;
            }
            let read_at = Instant::now();
            let (posts, end, reached_head) = match self.next_posts().await {
                Ok(read) => read,
                Err(e) => {
                    tracing::error!(error = %e, "InfluxDB mirror cannot read the WAL; retrying");
                    self.pause(Duration::from_secs(1), draining_until).await;
                    continue;
                }
            };
            let Some(end) = end else {
                self.caught_up_at = Instant::now();
                self.refresh().await;
                if draining_until.is_some() {
                    tracing::info!("InfluxDB mirror caught up");
                    return;
                }
                self.pause(POLL, None).await;
                continue;
            };
            let mut delivered_all = true;
            for post in posts {
                if !self.deliver(post, draining_until).await {
                    delivered_all = false;
                    break;
                }
            }
            // Past records without points, skipped damage or a torn tail after the last post.
            let committed = self.follower.lock().map(|f| f.cursor()).ok();
            if delivered_all && committed.is_some_and(|c| c < end) {
                self.commit(end).await;
            }
            if delivered_all && reached_head {
                // Everything written before this pass began is delivered.
                self.caught_up_at = read_at;
            }
            self.refresh().await;
        }
    }

    /// The posts from the next records, the cursor after them (`None`: nothing new), and
    /// whether the read reached the head of the WAL. Reading, decoding and encoding run on a
    /// blocking thread: a pass is about 1 MiB of WAL.
    async fn next_posts(&mut self) -> std::io::Result<(Vec<Post>, Option<Cursor>, bool)> {
        let follower = self.follower.clone();
        let batch_points = self.config.batch_points as u64;
        let queued = self.metrics.points_queued.clone();
        tokio::task::spawn_blocking(move || {
            let batch =
                follower.lock().map_err(|_| std::io::Error::other("follower lock poisoned"))?.read(READ_BYTES)?;
            let read_bytes: usize = batch.records.iter().map(|r| r.payload.len()).sum();
            let mut posts = Vec::new();
            let mut current = Post { body: String::new(), points: 0, end: Cursor { segment: 0, offset: 0 } };
            for record in batch.records {
                match postcard::from_bytes::<Vec<Point>>(&record.payload) {
                    Ok(points) => {
                        for point in &points {
                            encode(point, &mut current.body);
                        }
                        current.points += points.len() as u64;
                        queued.inc_by(points.len() as u64);
                    }
                    Err(e) => tracing::error!(error = %e, "a WAL record did not decode; its points are not mirrored"),
                }
                current.end = record.end;
                if current.points >= batch_points {
                    posts.push(std::mem::replace(
                        &mut current,
                        Post { body: String::new(), points: 0, end: record.end },
                    ));
                }
            }
            if current.points > 0 {
                posts.push(current);
            }
            Ok((posts, batch.end, read_bytes < READ_BYTES))
        })
        .await
        .map_err(std::io::Error::other)?
    }

    /// Posts until the server takes the batch (or rejects it for good); then commits its
    /// end. False when it stopped trying (shutdown deadline).
    async fn deliver(&mut self, post: Post, draining_until: Option<Instant>) -> bool {
        let mut pending = vec![(post.body, post.points)];
        let mut delay = Duration::from_secs(1);
        while let Some((body, points)) = pending.pop() {
            loop {
                match self.post(&body).await {
                    Ok(()) => {
                        self.metrics.points_written.inc_by(points);
                        self.status.succeeded();
                        delay = Duration::from_secs(1);
                        break;
                    }
                    Err(PostError::TooLarge) if points > 1 => {
                        let (a, b) = split_lines(&body);
                        tracing::warn!(points, "InfluxDB: batch too large (413); splitting it");
                        pending.push((b.to_string(), count_lines(b)));
                        pending.push((a.to_string(), count_lines(a)));
                        break;
                    }
                    Err(PostError::TooLarge) => {
                        self.reject(points, "a single line is larger than the server accepts (413)".into());
                        break;
                    }
                    Err(PostError::Rejected(why)) => {
                        self.reject(points, why);
                        break;
                    }
                    Err(PostError::Retry(why)) => {
                        self.metrics.retries.inc();
                        tracing::warn!(error = %why, retry_in_s = delay.as_secs(), "InfluxDB write failed; retrying");
                        self.status.failed(why);
                        if !self.pause(delay, draining_until).await {
                            return false;
                        }
                        delay = (delay * 2).min(Duration::from_secs(self.config.retry_max_secs.max(1)));
                    }
                }
            }
        }
        self.commit(post.end).await;
        true
    }

    fn reject(&self, points: u64, why: String) {
        self.metrics.points_rejected.inc_by(points);
        tracing::error!(points, error = %why, "InfluxDB refused a batch for good; those points are only in fieldline's store");
    }

    async fn post(&self, body: &str) -> Result<(), PostError> {
        self.writer.post(body).await
    }

    async fn commit(&self, end: Cursor) {
        let follower = self.follower.clone();
        let result = tokio::task::spawn_blocking(move || {
            follower.lock().map_err(|_| std::io::Error::other("follower lock poisoned"))?.commit(end)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        if let Err(e) = result {
            // The points were delivered; they will be sent again after a restart (harmless).
            tracing::error!(error = %e, "cannot save the InfluxDB mirror's cursor");
        }
    }

    /// Recomputes the backlog, the store's gate, and the gauges.
    async fn refresh(&self) {
        let was_refusing = self.status.gate.refusal().is_some();
        let follower = self.follower.clone();
        let backlog = tokio::task::spawn_blocking(move || {
            follower.lock().map_err(|_| std::io::Error::other("follower lock poisoned"))?.update_gate()
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
        match backlog {
            Ok(bytes) => {
                self.status.backlog_bytes.store(bytes, Ordering::Relaxed);
                self.metrics.backlog_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
                let refusing = self.status.gate.refusal().is_some();
                if refusing && !was_refusing {
                    tracing::error!(bytes, "InfluxDB mirror backlog full: refusing writes until it catches up");
                } else if !refusing && was_refusing {
                    tracing::info!(bytes, "InfluxDB mirror backlog below its limit again: accepting writes");
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot measure the InfluxDB mirror's backlog"),
        }
        let lag = if self.status.backlog_bytes.load(Ordering::Relaxed) == 0 {
            0
        } else {
            self.caught_up_at.elapsed().as_secs() as i64
        };
        self.metrics.lag_seconds.set(lag);
    }

    /// Waits `delay` (refreshing the backlog every second, so the store's gate closes in
    /// time while the server is down). False if the shutdown deadline passed.
    async fn pause(&mut self, delay: Duration, draining_until: Option<Instant>) -> bool {
        let until = Instant::now() + delay;
        loop {
            let now = Instant::now();
            if draining_until.is_some_and(|d| now >= d) {
                return false;
            }
            if now >= until {
                return true;
            }
            let step = (until - now).min(Duration::from_secs(1));
            let stop_now = draining_until.is_none() && !*self.stop.borrow();
            if stop_now {
                // Wake for the shutdown signal too: draining starts at once.
                let _ = tokio::time::timeout(step, self.stop.changed()).await;
                if *self.stop.borrow() {
                    return true;
                }
            } else {
                tokio::time::sleep(step).await;
            }
            self.refresh().await;
        }
    }
}

/// Appends `point` as line protocol in the form every InfluxDB-compatible server takes:
/// a measurement, tag key or field key beginning with `_` (which InfluxDB reserves) gets an
/// `fl` prefix (`_alert` → `fl_alert`), and a line break inside a tag or string value (line
/// protocol has no escape for it; VictoriaMetrics drops such lines) is written as `\n`.
pub fn encode(point: &Point, out: &mut String) {
    let reserved = |s: &str| s.starts_with('_');
    let broken = |s: &str| s.contains(['\n', '\r']);
    let needs_rewrite = reserved(&point.measurement)
        || point.tags.iter().any(|(k, v)| reserved(k) || broken(v))
        || point.fields.iter().any(|(k, v)| reserved(k) || matches!(v, FieldValue::Str(s) if broken(s)));
    if !needs_rewrite {
        lineproto::encode(point, out);
        return;
    }
    let rename = |s: &str| influx_name(s).into_owned();
    let one_line = |s: &str| s.replace('\r', "\\r").replace('\n', "\\n");
    let renamed = Point {
        measurement: rename(&point.measurement),
        tags: point.tags.iter().map(|(k, v)| (rename(k), one_line(v))).collect(),
        fields: point
            .fields
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    FieldValue::Str(s) => FieldValue::Str(one_line(s)),
                    other => other.clone(),
                };
                (rename(k), v)
            })
            .collect(),
        timestamp_ns: point.timestamp_ns,
    };
    lineproto::encode(&renamed, out);
}

/// The name InfluxDB gets for a measurement, tag key or field key: `fl` before a leading `_`
/// (InfluxDB reserves those), otherwise the name itself.
pub fn influx_name(name: &str) -> std::borrow::Cow<'_, str> {
    if name.starts_with('_') { format!("fl{name}").into() } else { name.into() }
}

/// Splits line protocol at the newline nearest its middle.
fn split_lines(body: &str) -> (&str, &str) {
    let middle = body.len() / 2;
    let at = body[..middle].rfind('\n').map(|i| i + 1).or_else(|| body[middle..].find('\n').map(|i| middle + i + 1));
    match at {
        Some(i) if i < body.len() => body.split_at(i),
        _ => (body, ""),
    }
}

fn count_lines(body: &str) -> u64 {
    body.lines().filter(|l| !l.is_empty()).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_get_a_prefix_and_others_pass_unchanged() {
        let alert = Point::new(
            "_alert",
            vec![("id".into(), "a1".into())],
            vec![("state".into(), FieldValue::Str("open".into())), ("_n".into(), FieldValue::Int(1))],
            5,
        );
        let mut out = String::new();
        encode(&alert, &mut out);
        assert_eq!(out, "fl_alert,id=a1 state=\"open\",fl_n=1i 5\n");
        let reading =
            Point::new("wind", vec![("site".into(), "s 1".into())], vec![("p".into(), FieldValue::Float(1.5))], 7);
        out.clear();
        encode(&reading, &mut out);
        assert_eq!(out, "wind,site=s\\ 1 p=1.5 7\n");
        let dead = Point::new("_deadletter", vec![], vec![("payload".into(), FieldValue::Str("a=\nb\r\n".into()))], 9);
        out.clear();
        encode(&dead, &mut out);
        // The backslash is escaped as line protocol wants: the server stores `a=\nb\r\n` literally.
        assert_eq!(out, "fl_deadletter payload=\"a=\\\\nb\\\\r\\\\n\" 9\n");
        assert_eq!(out.lines().count(), 1);
    }

    #[test]
    fn a_batch_splits_at_a_line_boundary() {
        let body = "a x=1 1\nb x=2 2\nc x=3 3\n";
        let (a, b) = split_lines(body);
        assert_eq!(format!("{a}{b}"), body);
        assert!(a.ends_with('\n') && !a.is_empty() && !b.is_empty());
        assert_eq!(count_lines(a) + count_lines(b), 3);
        assert_eq!(split_lines("one x=1 1\n"), ("one x=1 1\n", ""));
    }
}
