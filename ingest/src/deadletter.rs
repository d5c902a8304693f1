//! Dead letters: what could not be decoded or failed validation, kept with its topic, the
//! start of its payload, the reason and the time it arrived. They are ordinary points of the
//! measurement [`MEASUREMENT`], so they go through the same durable write as readings and are
//! acknowledged only once stored; nothing is silently dropped.
//!
//! One message makes at most one dead letter, however many of its lines or values were
//! refused: the payload is kept once and the violations are listed (the first
//! [`MAX_VIOLATIONS`], with the total), so a hostile message cannot multiply itself in the
//! store.

use std::sync::atomic::{AtomicI64, Ordering};

use fieldline_core::point::{FieldValue, Point};

/// Measurement that holds dead letters.
pub const MEASUREMENT: &str = "_deadletter";

/// Payload bytes kept per dead letter; longer payloads are cut (at a UTF-8 boundary) and the
/// record says so with `payload_size`.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// Violations listed per dead letter; the rest are counted.
pub const MAX_VIOLATIONS: usize = 100;

/// A rejected message, or the rejected parts of one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeadLetter {
    /// Where it came from: `mqtt_endpoint`, `mqtt_broker` or `http`.
    pub source: String,
    /// MQTT topic, or `POST /api/v2/write` for HTTP writes.
    pub topic: String,
    /// The payload (lossy UTF-8), at most [`MAX_PAYLOAD_BYTES`].
    pub payload: String,
    /// Size of the original payload in bytes.
    pub payload_size: usize,
    /// One sentence: what was wrong (the first problem and how many there were).
    pub reason: String,
    /// Each problem, e.g. `line 17: ...` (at most [`MAX_VIOLATIONS`]); empty when `reason`
    /// says everything.
    pub violations: Vec<String>,
    /// How many problems the message had in all (at least `violations.len()`).
    pub violation_count: usize,
    /// Arrival time, ns since the epoch (unique per process, so records never overwrite).
    pub received_ns: i64,
}

static LAST_NS: AtomicI64 = AtomicI64::new(0);

/// `now_ns`, bumped so that two dead letters never share a timestamp (and so never replace
/// each other in the store, where series + timestamp is the identity).
fn unique_ns(now_ns: i64) -> i64 {
    let mut prev = LAST_NS.load(Ordering::Relaxed);
    loop {
        let next = now_ns.max(prev + 1);
        match LAST_NS.compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(actual) => prev = actual,
        }
    }
}

impl DeadLetter {
    pub fn new(source: &str, topic: &str, payload: &[u8], reason: impl Into<String>, now_ns: i64) -> Self {
        let mut cut = payload.len().min(MAX_PAYLOAD_BYTES);
        let text = loop {
            // Back off to a char boundary so a cut multi-byte character is not turned into U+FFFD.
            match std::str::from_utf8(&payload[..cut]) {
                Ok(s) => break s.to_string(),
                Err(e) if e.error_len().is_none() && cut > 0 && payload.len() > MAX_PAYLOAD_BYTES => {
                    cut = e.valid_up_to();
                }
                Err(_) => break String::from_utf8_lossy(&payload[..cut]).into_owned(),
            }
        };
        DeadLetter {
            source: source.to_string(),
            topic: topic.to_string(),
            payload: text,
            payload_size: payload.len(),
            reason: reason.into(),
            violations: Vec::new(),
            violation_count: 1,
            received_ns: unique_ns(now_ns),
        }
    }

    /// A dead letter for a message with several problems: `reason` names the first and the
    /// count, `violations` lists up to [`MAX_VIOLATIONS`] of them.
    pub fn with_violations(
        source: &str,
        topic: &str,
        payload: &[u8],
        mut violations: Vec<String>,
        violation_count: usize,
        now_ns: i64,
    ) -> Self {
        violations.truncate(MAX_VIOLATIONS);
        let first = violations.first().cloned().unwrap_or_default();
        let count = violation_count.max(violations.len());
        let reason = if count <= 1 { first } else { format!("{count} problems; the first: {first}") };
        let mut dl = DeadLetter::new(source, topic, payload, reason, now_ns);
        if count > 1 {
            dl.violations = violations;
        }
        dl.violation_count = count;
        dl
    }

    /// The record as a point of [`MEASUREMENT`].
    pub fn to_point(&self) -> Point {
        let mut fields = vec![
            ("topic".into(), FieldValue::Str(self.topic.clone())),
            ("payload".into(), FieldValue::Str(self.payload.clone())),
            ("payload_size".into(), FieldValue::Int(i64::try_from(self.payload_size).unwrap_or(i64::MAX))),
            ("reason".into(), FieldValue::Str(self.reason.clone())),
        ];
        if !self.violations.is_empty() {
            // One violation per line; a violation never contains a line break (reasons quote
            // input with {:?} or line_at, which stops at the line end).
            fields.push(("violations".into(), FieldValue::Str(self.violations.join("\n"))));
            fields.push((
                "violation_count".into(),
                FieldValue::Int(i64::try_from(self.violation_count).unwrap_or(i64::MAX)),
            ));
        }
        Point::new(MEASUREMENT, vec![("source".into(), self.source.clone())], fields, self.received_ns)
    }

    /// Reads a record back from a stored point; `None` if it is not a dead letter.
    pub fn from_point(point: &Point) -> Option<Self> {
        if point.measurement != MEASUREMENT {
            return None;
        }
        let text = |name: &str| match point.field(name) {
            Some(FieldValue::Str(s)) => s.clone(),
            _ => String::new(),
        };
        let payload_size = match point.field("payload_size") {
            Some(v) => v.as_f64().unwrap_or(0.0) as usize,
            None => 0,
        };
        let violations: Vec<String> = match point.field("violations") {
            Some(FieldValue::Str(s)) => s.lines().map(str::to_string).collect(),
            _ => Vec::new(),
        };
        let violation_count = match point.field("violation_count") {
            Some(v) => v.as_f64().unwrap_or(0.0) as usize,
            None => 1,
        };
        Some(DeadLetter {
            source: point.tag("source").unwrap_or_default().to_string(),
            topic: text("topic"),
            payload: text("payload"),
            payload_size,
            reason: text("reason"),
            violation_count: violation_count.max(violations.len()),
            violations,
            received_ns: point.timestamp_ns,
        })
    }
}

/// The category of a dead letter's reason, as a translation key for the dashboard
/// (`dl.decode`, `dl.reserved`, `dl.future`, `dl.too_old`, `dl.range`, `dl.unknown`, `dl.type`,
/// `dl.limit`, `dl.name`, `dl.topic`, `dl.other`). The reason itself stays the detail: it
/// quotes the offending input, which is not translated.
pub fn reason_key(reason: &str) -> &'static str {
    let first = reason.split_once("; the first: ").map_or(reason, |(_, first)| first);
    let has = |needles: &[&str]| needles.iter().any(|n| first.contains(n));
    if has(&["reserved measurement"]) {
        "dl.reserved"
    } else if has(&["ahead of its arrival", "in the future"]) {
        "dl.future"
    } else if has(&["before 1900", "before the earliest", "min_time"]) {
        "dl.too_old"
    } else if has(&["physical limit", "physical range"]) {
        "dl.range"
    } else if has(&["unknown kind", "unknown field", "unknown measurement", "not in the schema"]) {
        "dl.unknown"
    } else if has(&["must be a", "must be true or false", "not a whole number", "not a finite number", "got the"]) {
        "dl.type"
    } else if has(&["topic"]) {
        "dl.topic"
    } else if has(&["at most", "too many", "limit"]) {
        "dl.limit"
    } else if has(&["control character", "name", "empty field key", "empty tag key", "collide"]) {
        "dl.name"
    } else if has(&["JSON", "SenML", "UTF-8", "unterminated", "expected", "decod", "line protocol", "invalid"]) {
        "dl.decode"
    } else {
        "dl.other"
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reasons_fall_into_translatable_categories() {
        let cases = [
            ("reserved measurement \"forecast\"", "dl.reserved"),
            ("3 problems; the first: line 2: count = -1 is below the physical limit 0", "dl.range"),
            ("air_temp_c must be a number, got the string \"x\"", "dl.type"),
            ("line 1: time 2030-01-01T00:00:00Z is 4 years ahead of its arrival", "dl.future"),
            ("unknown kind (known: plant)", "dl.unknown"),
            ("a SenML pack is a JSON array of records, got an object", "dl.decode"),
            ("something nobody foresaw", "dl.other"),
        ];
        for (reason, key) in cases {
            assert_eq!(reason_key(reason), key, "{reason}");
        }
    }

    use super::*;

    #[test]
    fn truncates_long_payloads_on_a_char_boundary() {
        let payload = "é".repeat(MAX_PAYLOAD_BYTES); // 2 bytes each
        let dl = DeadLetter::new("http", "t", payload.as_bytes(), "bad", 1);
        assert!(dl.payload.len() <= MAX_PAYLOAD_BYTES);
        assert!(dl.payload.chars().all(|c| c == 'é'));
        assert_eq!(dl.payload_size, payload.len());
    }

    #[test]
    fn timestamps_are_unique_and_round_trip() {
        let a = DeadLetter::new("mqtt_endpoint", "fl/v1/x", b"{", "not JSON", 100);
        let b = DeadLetter::new("mqtt_endpoint", "fl/v1/x", b"{", "not JSON", 100);
        assert_ne!(a.received_ns, b.received_ns);
        assert_eq!(DeadLetter::from_point(&a.to_point()), Some(a));
    }

    #[test]
    fn many_violations_make_one_record_with_a_capped_list() {
        let violations: Vec<String> = (1..=500).map(|i| format!("line {i}: value out of range")).collect();
        let dl = DeadLetter::with_violations("http", "t", b"payload", violations, 500, 7);
        assert_eq!(dl.violations.len(), MAX_VIOLATIONS);
        assert_eq!(dl.violation_count, 500);
        assert_eq!(dl.reason, "500 problems; the first: line 1: value out of range");
        assert_eq!(DeadLetter::from_point(&dl.to_point()), Some(dl));
        let one = DeadLetter::with_violations("http", "t", b"p", vec!["line 2: bad".into()], 1, 7);
        assert_eq!((one.reason.as_str(), one.violations.len()), ("line 2: bad", 0));
    }
}
