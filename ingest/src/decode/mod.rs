//! Payload decoders: pure functions from bytes to [`Point`]s, never panicking on any input
//! (property-tested). JSON telemetry ([`json`]), SenML JSON ([`senml`]) and InfluxDB line
//! protocol ([`lineproto`], which also holds the encoder the write-ahead log uses).

pub mod json;
pub mod lineproto;
pub mod senml;

use fieldline_core::point::Point;

/// Timestamp unit of line protocol input (`precision` on the HTTP write API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    Ns,
    Us,
    Ms,
    S,
    /// Minutes and hours: InfluxDB 1's `/write` accepts them.
    M,
    H,
}

impl Precision {
    /// Parses the InfluxDB `precision` query parameter value (v2: ns, us, ms, s; v1 also
    /// n, u, m, h).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ns" | "n" => Some(Precision::Ns),
            "us" | "u" => Some(Precision::Us),
            "ms" => Some(Precision::Ms),
            "s" => Some(Precision::S),
            "m" => Some(Precision::M),
            "h" => Some(Precision::H),
            _ => None,
        }
    }

    /// Nanoseconds in one unit.
    pub fn nanos(self) -> i64 {
        match self {
            Precision::Ns => 1,
            Precision::Us => 1_000,
            Precision::Ms => 1_000_000,
            Precision::S => 1_000_000_000,
            Precision::M => 60_000_000_000,
            Precision::H => 3_600_000_000_000,
        }
    }
}

/// Identity of the device a telemetry or SenML payload came from (from its topic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    pub site: &'a str,
    pub kind: &'a str,
    pub device: &'a str,
}

/// Why a whole payload could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("payload is not valid JSON: {0}")]
    Json(String),
    #[error("payload is not UTF-8")]
    NotUtf8,
    #[error("{0}")]
    Invalid(String),
}

/// A line of line protocol that could not be parsed; `line` counts from 1.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LineError {
    pub line: usize,
    pub reason: String,
    /// Byte offset of the line in the payload, so the line can be quoted without a search.
    #[serde(skip)]
    pub offset: usize,
}

/// Detailed errors kept per payload; the rest are only counted, so a body of a million bad
/// lines costs a counter, not a million messages.
pub const MAX_LINE_ERRORS: usize = 1000;

/// Result of decoding line protocol: the good lines' points and the bad lines' errors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineDecoded {
    pub points: Vec<Point>,
    /// 1-based line number of each entry of `points` (same length), so that later checks
    /// (schema validation) can report errors by line too.
    pub point_lines: Vec<usize>,
    /// Byte offset of each point's line in the payload (same length as `points`).
    pub point_offsets: Vec<usize>,
    /// The first [`MAX_LINE_ERRORS`] bad lines.
    pub errors: Vec<LineError>,
    /// Every bad line, including those not in `errors`.
    pub rejected_lines: usize,
}

/// The line of `payload` that starts at `offset`, cut to `max` bytes (at a character
/// boundary), for quoting in error messages.
pub fn line_at(payload: &[u8], offset: usize, max: usize) -> String {
    let rest = payload.get(offset..).unwrap_or_default();
    let end = rest.iter().take(max).position(|&b| b == b'\n').unwrap_or(rest.len().min(max));
    let line = rest.get(..end).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    if end == max && rest.len() > max { format!("{text}...") } else { text.into_owned() }
}

/// `text` in double quotes for an error message, with quotes, backslashes and control
/// characters escaped as `{:?}` would, but without `{:?}`'s Unicode table lookup for every
/// non-ASCII character: a message of bad binary lines spent three quarters of its decoding
/// time there.
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Checks a name (measurement, tag key or value, field name) that must survive a trip through
/// line protocol: non-empty and free of control characters, since line protocol has no escape
/// for a line break or tab and the write-ahead log stores points as line protocol.
/// `what` is only formatted when the check fails.
pub(crate) fn check_name(what: std::fmt::Arguments<'_>, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if name.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(format!("{what} {name:?} contains a control character (line break, tab, ...)"));
    }
    Ok(())
}

/// Checks the topic-derived names of a telemetry or SenML source (see [`check_name`]).
pub(crate) fn check_source(source: &Source<'_>) -> Result<(), String> {
    check_name(format_args!("kind"), source.kind)?;
    check_name(format_args!("site"), source.site)?;
    check_name(format_args!("device"), source.device)
}

/// Maps a serde_json error: syntax errors mean "not JSON", data errors (a wrong type for a
/// known key) mean "JSON, but not the expected shape".
pub(crate) fn json_error(err: serde_json::Error) -> DecodeError {
    match err.classify() {
        serde_json::error::Category::Data => DecodeError::Invalid(err.to_string()),
        _ => DecodeError::Json(err.to_string()),
    }
}

/// Converts a time given as a float number of units (`unit_ns` nanoseconds each) to
/// nanoseconds; `None` if not finite or out of the i64 nanosecond range.
///
/// The fraction is rounded to the decimal step the double can actually resolve at that
/// magnitude: epoch seconds such as `1.276020076001e9` resolve to about 240 ns, so they give
/// `...076_001_000_000` rather than the binary artefact `...076_000_999_928`.
pub(crate) fn float_time_to_ns(value: f64, unit_ns: i64) -> Option<i64> {
    if !value.is_finite() {
        return None;
    }
    let whole = value.floor();
    // i64::MAX as f64 rounds up to 2^63, so `<` keeps the cast exact.
    if whole < i64::MIN as f64 || whole >= i64::MAX as f64 {
        return None;
    }
    let resolution_ns = value.abs() * f64::EPSILON * unit_ns as f64;
    let step = if resolution_ns > 1.0 { 10f64.powi(resolution_ns.log10().ceil() as i32) } else { 1.0 };
    let fraction_ns = (((value - whole) * unit_ns as f64 / step).round() * step) as i64;
    (whole as i64).checked_mul(unit_ns)?.checked_add(fraction_ns)
}

/// A JSON string borrowed from the payload when it has no escapes (serde's `Cow<str>`
/// always copies).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Text<'a>(pub std::borrow::Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> serde::de::Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Property-test settings for the decoders: a fixed seed, so every run checks the same cases.
#[cfg(test)]
pub(crate) fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    proptest::test_runner::Config {
        cases,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x00f1_e1d1_1e5e_ed00),
        ..proptest::test_runner::Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_time_keeps_fractions_and_rejects_out_of_range() {
        assert_eq!(float_time_to_ns(1_732_345_678_123.5, 1_000_000), Some(1_732_345_678_123_500_000));
        assert_eq!(float_time_to_ns(1_732_345_678_123.1, 1_000_000), Some(1_732_345_678_123_100_000));
        assert_eq!(float_time_to_ns(1.276020076001e9, 1_000_000_000), Some(1_276_020_076_001_000_000));
        assert_eq!(float_time_to_ns(0.999_999_999_9, 1_000_000_000), Some(1_000_000_000));
        // Small (relative) times keep nanoseconds.
        assert_eq!(float_time_to_ns(-5.000_000_123, 1_000_000_000), Some(-5_000_000_123));
        assert_eq!(float_time_to_ns(-1.25, 1_000_000_000), Some(-1_250_000_000));
        assert_eq!(float_time_to_ns(f64::NAN, 1), None);
        assert_eq!(float_time_to_ns(1e30, 1), None);
        assert_eq!(float_time_to_ns(1e16, 1_000_000), None);
    }

    #[test]
    fn names_must_be_non_empty_and_without_control_characters() {
        assert!(check_name(format_args!("field name"), "power_kw").is_ok());
        assert!(check_name(format_args!("field name"), "温度 °C, a=b").is_ok());
        assert_eq!(check_name(format_args!("field name"), "").unwrap_err(), "field name is empty");
        assert!(check_name(format_args!("tag site"), "a\nb").unwrap_err().contains("control character"));
        assert!(check_name(format_args!("tag site"), "a\tb").is_err());
    }

    proptest::proptest! {
        #[test]
        fn quoted_matches_debug_formatting_for_ascii_and_keeps_the_rest(text in "[ -~\\t\\n\\r\\x00\\x1b\\x7f]{0,40}") {
            proptest::prop_assert_eq!(quoted(&text), format!("{text:?}"));
        }
    }

    #[test]
    fn quoted_keeps_non_ascii_text_readable() {
        assert_eq!(quoted("温度 °C"), "\"温度 °C\"");
        assert_eq!(quoted("a\u{FFFD}b\u{1b}"), "\"a\u{FFFD}b\\u{1b}\"");
    }
}
