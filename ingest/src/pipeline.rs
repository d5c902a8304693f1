//! The per-message pipeline every source shares: topic → decoder → per-point checks (names,
//! reserved measurements, time, sizes: [`crate::limits`]) → schema validation → points to
//! write, with at most one dead letter per message listing what was refused. Pure and
//! synchronous, and linear in the size of the message, so the MQTT endpoint, the broker
//! client and the HTTP write handler all call the same code.

use crate::deadletter::DeadLetter;
use crate::decode::{self, LineError, MAX_LINE_ERRORS, Precision, Source};
use crate::limits::Limits;
use crate::metrics::{IngestMetrics, SourceLabels};
use crate::schema::Schema;
use crate::topic::{self, Topic};
use fieldline_core::point::Point;

/// Bytes of an offending line quoted in a violation.
const QUOTE_BYTES: usize = 120;

/// What one message turned into.
#[derive(Debug, Default)]
pub struct Processed {
    /// Readings and the dead-letter record, all to be written before acknowledging.
    pub points: Vec<Point>,
    /// Number of readings (excluding the dead letter) in `points`.
    pub accepted: usize,
    /// The dead letter written for this message, if anything was refused (also in `points`).
    pub dead_letter: Option<DeadLetter>,
    /// For line protocol: the first [`MAX_LINE_ERRORS`] rejected lines or values, by line.
    pub line_errors: Vec<LineError>,
    /// Everything refused: whole messages, lines, readings and values.
    pub rejected: usize,
    /// What was refused, in order (becomes the dead letter).
    violations: Vec<String>,
}

/// What the sender of a message may write. Devices and ordinary tokens may not write the
/// measurements fieldline keeps for itself (forecasts, alerts, dead letters: see
/// [`crate::limits::is_reserved`]); a user or token configured with `write_reserved` may.
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
    limits: Limits,
}

impl Pipeline {
    /// A pipeline with the default `[ingest]` limits.
    pub fn new(schema: Schema, metrics: IngestMetrics) -> Self {
        Pipeline { schema, metrics, limits: Limits::default() }
    }

    /// Applies configured `[ingest]` limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn metrics(&self) -> &IngestMetrics {
        &self.metrics
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Processes one MQTT publish received by `source` (`mqtt_endpoint` or `mqtt_broker`).
    pub fn mqtt(&self, source: &'static str, topic: &str, payload: &[u8], now_ns: i64, rights: Rights) -> Processed {
        let parsed = topic::parse(topic);
        let format = parsed.as_ref().map(Topic::format_label).unwrap_or("unknown");
        let labels = SourceLabels { source, format };
        self.metrics.messages_received.get_or_create(&labels).inc();
        let mut out = Processed::default();
        match parsed {
            Err(e) => out.refuse(e.to_string()),
            Ok(Topic::Telemetry { site, kind, device }) => {
                let src = Source { site, kind, device };
                match decode::json::decode(src, payload, now_ns) {
                    Ok(points) => self.accept_readings(&mut out, points, now_ns, rights),
                    Err(e) => out.refuse(e.to_string()),
                }
            }
            Ok(Topic::Senml { site, kind, device }) => {
                let src = Source { site, kind, device };
                match decode::senml::decode(src, payload, now_ns) {
                    Ok(points) => self.accept_readings(&mut out, points, now_ns, rights),
                    Err(e) => out.refuse(e.to_string()),
                }
            }
            Ok(Topic::LineProtocol) => self.line_protocol_into(&mut out, payload, Precision::Ns, now_ns, rights),
        }
        out.finish(source, topic, payload, now_ns);
        self.count(&labels, &out);
        out
    }

    /// Processes the body of an InfluxDB v2 `POST /api/v2/write`.
    pub fn http_line_protocol(&self, body: &[u8], precision: Precision, now_ns: i64, rights: Rights) -> Processed {
        let labels = SourceLabels { source: "http", format: "lp" };
        self.metrics.messages_received.get_or_create(&labels).inc();
        let mut out = Processed::default();
        self.line_protocol_into(&mut out, body, precision, now_ns, rights);
        out.finish("http", "POST /api/v2/write", body, now_ns);
        self.count(&labels, &out);
        out
    }

    fn line_protocol_into(
        &self,
        out: &mut Processed,
        payload: &[u8],
        precision: Precision,
        now_ns: i64,
        rights: Rights,
    ) {
        // Counting line breaks is one fast pass; refusing before decoding keeps a body of a
        // million tiny lines from becoming a million points in memory.
        let lines = payload.iter().filter(|&&b| b == b'\n').count() + usize::from(!payload.ends_with(b"\n"));
        if lines > self.limits.config.max_lines {
            out.refuse(format!(
                "{lines} lines, more than the {} accepted per message; split the write",
                self.limits.config.max_lines
            ));
            return;
        }
        let decoded = decode::lineproto::decode(payload, precision, now_ns);
        out.rejected += decoded.rejected_lines;
        for err in decoded.errors {
            if out.violations.len() < crate::deadletter::MAX_VIOLATIONS {
                out.violations.push(format!("line {}: {} ({})", err.line, err.reason, quote(payload, err.offset)));
            }
            out.line_errors.push(err);
        }
        let refs =
            decoded.point_lines.into_iter().zip(decoded.point_offsets).map(|(line, offset)| LineRef { line, offset });
        self.accept(out, decoded.points, refs.map(Some), Some(payload), now_ns, rights);
    }

    /// JSON and SenML readings: refused whole when there are more than `max_lines`.
    fn accept_readings(&self, out: &mut Processed, points: Vec<Point>, now_ns: i64, rights: Rights) {
        if points.len() > self.limits.config.max_lines {
            out.refuse(format!(
                "{} readings, more than the {} accepted per message; split it",
                points.len(),
                self.limits.config.max_lines
            ));
            return;
        }
        let n = points.len();
        let refs = (0..n).map(|i| (n > 1).then_some(LineRef { line: i + 1, offset: usize::MAX }));
        self.accept(out, points, refs, None, now_ns, rights);
    }

    /// Checks each point (limits, then the kind schema): a point that fails a limit is
    /// refused whole; a value outside its physical limits is removed and the rest of the
    /// point kept. Then the message as a whole (days, series).
    fn accept(
        &self,
        out: &mut Processed,
        points: Vec<Point>,
        refs: impl Iterator<Item = Option<LineRef>>,
        payload: Option<&[u8]>,
        now_ns: i64,
        rights: Rights,
    ) {
        let mut kept = Vec::with_capacity(points.len());
        for (mut point, at) in points.into_iter().zip(refs) {
            if let Err(reason) = self.limits.check_point(&point, now_ns, rights) {
                out.reject_part(at, payload, format!("{}{reason}", device_label(&point)));
                continue;
            }
            for v in self.schema.validate(&mut point) {
                out.reject_part(at, payload, format!("{} {}{}", point.measurement, device_label(&point), v.reason));
            }
            if !point.fields.is_empty() {
                kept.push(point);
            }
        }
        if let Err(reason) = self.limits.check_message(&kept) {
            out.rejected += kept.len();
            out.refuse(reason);
            return;
        }
        out.accepted += kept.len();
        out.points.extend(kept);
    }

    fn count(&self, labels: &SourceLabels, out: &Processed) {
        self.metrics.points_accepted.get_or_create(labels).inc_by(out.accepted as u64);
        if out.dead_letter.is_some() {
            self.metrics.dead_letters.get_or_create(labels).inc();
        }
    }
}

/// Where a point came from in its message: a line of line protocol (with its byte offset) or
/// the n-th reading of a JSON array or SenML pack (offset `usize::MAX`).
#[derive(Debug, Clone, Copy)]
struct LineRef {
    line: usize,
    offset: usize,
}

impl Processed {
    /// A message refused as a whole for `reason`, with its dead letter made.
    pub fn refused(source: &str, topic: &str, payload: &[u8], reason: String, now_ns: i64) -> Processed {
        let mut processed = Processed::default();
        processed.refuse(reason);
        processed.finish(source, topic, payload, now_ns);
        processed
    }

    /// The whole message is refused.
    fn refuse(&mut self, reason: String) {
        self.rejected += 1;
        self.violations.push(reason);
    }

    /// One line, reading or value of the message is refused.
    fn reject_part(&mut self, at: Option<LineRef>, payload: Option<&[u8]>, reason: String) {
        self.rejected += 1;
        let Some(at) = at else {
            self.violations.push(reason);
            return;
        };
        match payload {
            Some(payload) if at.offset != usize::MAX => {
                if self.line_errors.len() < MAX_LINE_ERRORS {
                    self.line_errors.push(LineError { line: at.line, reason: reason.clone(), offset: at.offset });
                }
                if self.violations.len() < crate::deadletter::MAX_VIOLATIONS {
                    self.violations.push(format!("line {}: {reason} ({})", at.line, quote(payload, at.offset)));
                }
            }
            _ => {
                if self.violations.len() < crate::deadletter::MAX_VIOLATIONS {
                    self.violations.push(format!("reading {}: {reason}", at.line));
                }
            }
        }
    }

    /// Makes the one dead letter of this message, if anything was refused.
    fn finish(&mut self, source: &str, topic: &str, payload: &[u8], now_ns: i64) {
        if self.rejected == 0 && self.violations.is_empty() {
            return;
        }
        let violations = std::mem::take(&mut self.violations);
        tracing::debug!(source, topic, rejected = self.rejected, "dead letter");
        let dl = DeadLetter::with_violations(source, topic, payload, violations, self.rejected, now_ns);
        self.points.push(dl.to_point());
        self.dead_letter = Some(dl);
    }
}

/// `site/device: ` for messages, when the point has those tags.
fn device_label(point: &Point) -> String {
    match (point.tag("site"), point.tag("device")) {
        (Some(s), Some(d)) => format!("{s}/{d}: "),
        _ => String::new(),
    }
}

/// The line at `offset`, quoted and cut short, for a violation.
fn quote(payload: &[u8], offset: usize) -> String {
    decode::quoted(&decode::line_at(payload, offset, QUOTE_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadletter::MAX_PAYLOAD_BYTES;

    const NOW: i64 = 1_775_772_000_000_000_000;

    fn pipeline() -> Pipeline {
        Pipeline::new(Schema::builtin(), IngestMetrics::default())
    }

    #[test]
    fn reserved_measurements_are_refused_on_every_path() {
        let p = pipeline();
        let lp = b"forecast,site=heze-wind,horizon=short_term,issued=2099-01-01T00:00:00Z p50_mw=999";
        let out = p.mqtt("mqtt_endpoint", "fl/v1/lp", lp, NOW, Rights::DEVICE);
        assert_eq!(out.accepted, 0);
        assert!(out.dead_letter.as_ref().unwrap().reason.contains("written by fieldline itself"));
        assert!(out.points.iter().all(|pt| pt.measurement == "_deadletter"));
        let out = p.http_line_protocol(b"_alert,id=x state=\"open\"", Precision::Ns, NOW, Rights::DEVICE);
        assert_eq!((out.accepted, out.rejected), (0, 1));
        let out = p.mqtt("mqtt_endpoint", "fl/v1/s/_deadletter/d/telemetry", br#"{"x":1}"#, NOW, Rights::DEVICE);
        assert_eq!(out.accepted, 0);
        let out =
            p.mqtt("mqtt_endpoint", "fl/v1/s/forecast_accuracy/d/senml", br#"[{"n":"x","v":1}]"#, NOW, Rights::DEVICE);
        assert_eq!(out.accepted, 0);
        // A principal given the right may.
        let out = p.http_line_protocol(lp, Precision::Ns, NOW, Rights::ALL);
        assert_eq!((out.accepted, out.rejected), (1, 0));
    }

    #[test]
    fn far_future_and_ancient_readings_are_dead_lettered_on_every_path() {
        let p = pipeline();
        let topic = "fl/v1/heze-pv/pv_inverter/inv01/telemetry";
        let out = p.mqtt(
            "mqtt_endpoint",
            topic,
            br#"{"ts": 9223372036854, "values": {"ac_power_kw": 1}}"#,
            NOW,
            Rights::DEVICE,
        );
        assert_eq!(out.accepted, 0);
        assert!(out.dead_letter.unwrap().reason.contains("ahead of its arrival"));
        // One day ahead is refused too; half an hour is fine.
        let day_ms = (NOW / 1_000_000) + 86_400_000;
        let body = format!(
            r#"[{{"ts": {day_ms}, "values": {{"ac_power_kw": 1}}}}, {{"ts": {}, "values": {{"ac_power_kw": 2}}}}]"#,
            NOW / 1_000_000 + 1_800_000
        );
        let out = p.mqtt("mqtt_endpoint", topic, body.as_bytes(), NOW, Rights::DEVICE);
        assert_eq!(out.accepted, 1);
        assert!(out.dead_letter.unwrap().reason.starts_with("reading 1: heze-pv/inv01: timestamp"));
        let senml = format!(r#"[{{"bt": {}, "n": "ac_power_kw", "v": 1}}]"#, NOW / 1_000_000_000 + 7200);
        let out =
            p.mqtt("mqtt_endpoint", "fl/v1/heze-pv/pv_inverter/inv01/senml", senml.as_bytes(), NOW, Rights::DEVICE);
        assert_eq!(out.accepted, 0);
        let out = p.http_line_protocol(b"m f=1 -9223372036854775807\nm f=2", Precision::Ns, NOW, Rights::DEVICE);
        assert_eq!((out.accepted, out.rejected), (1, 1));
        assert!(out.line_errors[0].reason.contains("before 1900-01-01"));
        // NWP valid times may lie days ahead.
        let nwp = format!("nwp,site=s,device=ec,issued=x ghi_wm2=300 {}", NOW + 5 * 86_400 * 1_000_000_000);
        assert_eq!(p.http_line_protocol(nwp.as_bytes(), Precision::Ns, NOW, Rights::DEVICE).accepted, 1);
    }

    #[test]
    fn many_bad_lines_make_one_bounded_dead_letter() {
        let p = pipeline();
        let body = "m f= 1\n".repeat(100_000);
        let out = p.http_line_protocol(body.as_bytes(), Precision::Ns, NOW, Rights::DEVICE);
        assert_eq!((out.accepted, out.rejected), (0, 100_000));
        assert_eq!(out.line_errors.len(), MAX_LINE_ERRORS);
        assert_eq!(out.points.len(), 1);
        let dl = out.dead_letter.unwrap();
        assert_eq!(dl.violation_count, 100_000);
        assert_eq!(dl.violations.len(), crate::deadletter::MAX_VIOLATIONS);
        assert!(dl.payload.len() <= MAX_PAYLOAD_BYTES);
        assert!(dl.violations[0].starts_with("line 1: "), "{:?}", dl.violations[0]);
    }

    #[test]
    fn out_of_range_values_of_a_big_message_make_one_dead_letter() {
        let p = pipeline();
        let readings: Vec<String> = (0..5000)
            .map(|i| {
                format!(
                    r#"{{"ts": {}, "values": {{"air_rh_pct": 150, "air_temp_c": 12}}}}"#,
                    NOW / 1_000_000 - i * 60_000
                )
            })
            .collect();
        let body = format!("[{}]", readings.join(","));
        let out = p.mqtt(
            "mqtt_endpoint",
            "fl/v1/heze-peony/peony_plot/plot1/telemetry",
            body.as_bytes(),
            NOW,
            Rights::DEVICE,
        );
        assert_eq!(out.accepted, 5000, "the good field of every reading is kept");
        assert_eq!(out.points.len(), 5001);
        let dl = out.dead_letter.unwrap();
        assert_eq!(dl.violation_count, 5000);
        let stored: usize = match dl.to_point().field("violations") {
            Some(fieldline_core::point::FieldValue::Str(s)) => s.len(),
            _ => 0,
        };
        assert!(stored < 20_000, "violations stored: {stored} bytes");
    }

    #[test]
    fn whole_message_limits() {
        let limits =
            Limits::new(crate::limits::IngestConfig { max_lines: 10, max_days: 2, ..Default::default() }).unwrap();
        let p = pipeline().with_limits(limits);
        let body = "m f=1\n".repeat(11);
        let out = p.http_line_protocol(body.as_bytes(), Precision::Ns, NOW, Rights::DEVICE);
        assert_eq!(out.accepted, 0);
        assert!(out.dead_letter.unwrap().reason.contains("11 lines, more than the 10"));
        let day = 86_400_000_000_000i64;
        let body: String = (0..3).map(|d| format!("m f=1 {}\n", NOW - d * day)).collect();
        let out = p.http_line_protocol(body.as_bytes(), Precision::Ns, NOW, Rights::DEVICE);
        assert_eq!(out.accepted, 0);
        assert!(out.dead_letter.unwrap().reason.contains("more than 2 UTC days"));
        // Control characters and colliding names, on the line-protocol path too.
        let out = p.http_line_protocol(b"m\x00x f=1\nm,k=v k=1\nm time=1\nm f=1", Precision::Ns, NOW, Rights::DEVICE);
        assert_eq!((out.accepted, out.rejected), (1, 3));
        let lines: Vec<usize> = out.line_errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [1, 2, 3]);
    }
}
