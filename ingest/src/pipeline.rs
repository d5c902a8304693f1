//! The per-message pipeline every source shares: topic → decoder → schema validation →
//! points to write, with a dead letter for each thing rejected. Pure and synchronous, so the
//! MQTT endpoint, the broker client and the HTTP write handler all call the same code.

use crate::deadletter::DeadLetter;
use crate::decode::{self, LineError, Precision, Source};
use crate::metrics::{IngestMetrics, SourceLabels};
use crate::point::Point;
use crate::schema::Schema;
use crate::topic::{self, Topic};

/// What one message turned into.
#[derive(Debug, Default)]
pub struct Processed {
    /// Readings and dead-letter records, all to be written before acknowledging.
    pub points: Vec<Point>,
    /// Number of readings (excluding dead letters) in `points`.
    pub accepted: usize,
    /// The dead letters written for this message (also present in `points`).
    pub dead_letters: Vec<DeadLetter>,
    /// For line protocol: each rejected line or value, by line number.
    pub line_errors: Vec<LineError>,
}

/// What the sender of a message may write. Devices and ordinary tokens may not write the
/// measurements fieldline keeps for itself (forecasts, alerts, dead letters: see
/// [`crate::schema::is_reserved`]); a user or token configured with `write_reserved` may.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rights {
    pub write_reserved: bool,
}

impl Rights {
    /// A device or an ordinary API token.
    pub const DEVICE: Rights = Rights { write_reserved: false };
    /// fieldline itself, or a principal given the right explicitly.
    pub const ALL: Rights = Rights { write_reserved: true };
}

/// Decoding and validation, shared by all sources.
#[derive(Debug)]
pub struct Pipeline {
    schema: Schema,
    metrics: IngestMetrics,
}

impl Pipeline {
    pub fn new(schema: Schema, metrics: IngestMetrics) -> Self {
        Pipeline { schema, metrics }
    }

    pub fn metrics(&self) -> &IngestMetrics {
        &self.metrics
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Processes one MQTT publish received by `source` (`mqtt_endpoint` or `mqtt_broker`).
    pub fn mqtt(&self, source: &'static str, topic: &str, payload: &[u8], now_ns: i64, rights: Rights) -> Processed {
        let _ = rights;
        let parsed = topic::parse(topic);
        let format = parsed.as_ref().map(Topic::format_label).unwrap_or("unknown");
        let labels = SourceLabels { source, format };
        self.metrics.messages_received.get_or_create(&labels).inc();
        let mut out = Processed::default();
        match parsed {
            Err(e) => out.reject(source, topic, payload, e.to_string(), now_ns),
            Ok(Topic::Telemetry { site, kind, device }) => {
                let src = Source { site, kind, device };
                match decode::json::decode(src, payload, now_ns) {
                    Ok(points) => self.validate_all(&mut out, source, topic, payload, points, None, now_ns),
                    Err(e) => out.reject(source, topic, payload, e.to_string(), now_ns),
                }
            }
            Ok(Topic::Senml { site, kind, device }) => {
                let src = Source { site, kind, device };
                match decode::senml::decode(src, payload, now_ns) {
                    Ok(points) => self.validate_all(&mut out, source, topic, payload, points, None, now_ns),
                    Err(e) => out.reject(source, topic, payload, e.to_string(), now_ns),
                }
            }
            Ok(Topic::LineProtocol) => self.line_protocol_into(&mut out, source, topic, payload, Precision::Ns, now_ns),
        }
        self.count(&labels, &out);
        out
    }

    /// Processes the body of an InfluxDB v2 `POST /api/v2/write`.
    pub fn http_line_protocol(&self, body: &[u8], precision: Precision, now_ns: i64, rights: Rights) -> Processed {
        let _ = rights;
        let labels = SourceLabels { source: "http", format: "lp" };
        self.metrics.messages_received.get_or_create(&labels).inc();
        let mut out = Processed::default();
        self.line_protocol_into(&mut out, "http", "POST /api/v2/write", body, precision, now_ns);
        self.count(&labels, &out);
        out
    }

    fn line_protocol_into(
        &self,
        out: &mut Processed,
        source: &'static str,
        topic: &str,
        payload: &[u8],
        precision: Precision,
        now_ns: i64,
    ) {
        let decoded = decode::lineproto::decode(payload, precision, now_ns);
        for err in decoded.errors {
            let line = nth_line(payload, err.line);
            let reason = format!("line {}: {}", err.line, err.reason);
            out.reject(source, topic, line, reason, now_ns);
            out.line_errors.push(err);
        }
        self.validate_all(out, source, topic, payload, decoded.points, Some(&decoded.point_lines), now_ns);
    }

    /// Validates each point against the kind schema; invalid values become dead letters (with
    /// the message, or for line protocol the offending line, as payload) and the rest of the
    /// point is kept.
    #[allow(clippy::too_many_arguments)]
    fn validate_all(
        &self,
        out: &mut Processed,
        source: &'static str,
        topic: &str,
        payload: &[u8],
        points: Vec<Point>,
        lines: Option<&[usize]>,
        now_ns: i64,
    ) {
        out.points.reserve(points.len());
        for (i, mut point) in points.into_iter().enumerate() {
            let violations = self.schema.validate(&mut point);
            let line = lines.and_then(|l| l.get(i)).copied();
            for v in violations {
                let where_ = match line {
                    Some(n) => format!("line {n}: "),
                    None => String::new(),
                };
                let reason = format!("{where_}{} {}{}", point.measurement, device_label(&point), v.reason);
                let evidence = match line {
                    Some(n) => nth_line(payload, n),
                    None => payload,
                };
                out.reject(source, topic, evidence, reason.clone(), now_ns);
                if let Some(n) = line {
                    out.line_errors.push(LineError { line: n, reason });
                }
            }
            if !point.fields.is_empty() {
                out.accepted += 1;
                out.points.push(point);
            }
        }
    }

    fn count(&self, labels: &SourceLabels, out: &Processed) {
        self.metrics.points_accepted.get_or_create(labels).inc_by(out.accepted as u64);
        if !out.dead_letters.is_empty() {
            self.metrics.dead_letters.get_or_create(labels).inc_by(out.dead_letters.len() as u64);
        }
    }
}

impl Processed {
    fn reject(&mut self, source: &str, topic: &str, payload: &[u8], reason: String, now_ns: i64) {
        tracing::debug!(source, topic, %reason, "dead letter");
        let dl = DeadLetter::new(source, topic, payload, reason, now_ns);
        self.points.push(dl.to_point());
        self.dead_letters.push(dl);
    }
}

/// `site/device: ` for messages, when the point has those tags.
fn device_label(point: &Point) -> String {
    match (point.tag("site"), point.tag("device")) {
        (Some(s), Some(d)) => format!("{s}/{d}: "),
        _ => String::new(),
    }
}

/// Line `n` (1-based) of `payload`, for dead-letter evidence.
fn nth_line(payload: &[u8], n: usize) -> &[u8] {
    payload.split(|&b| b == b'\n').nth(n.saturating_sub(1)).unwrap_or(&[])
}
