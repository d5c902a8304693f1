//! InfluxDB line protocol (v2 rules): the decoder behind `fl/v1/lp` and `POST /api/v2/write`,
//! and the encoder the write-ahead log stores points with.
//!
//! `measurement[,tag=value...] field=value[,field=value...] [timestamp]`, one point per line.
//! Escapes: `\,` and `\ ` in measurements; `\,`, `\=` and `\ ` in tag keys, tag values and
//! field keys; `\"` in string field values; `\\` is a backslash everywhere, and a backslash
//! before any other character is kept as is. A string field value may contain line breaks
//! (as in InfluxDB). Field values: floats (`1`, `-1.5`, `1e3`), integers `12i`, unsigned
//! `12u`, strings `"..."`, booleans `t`/`true`/`F`/`FALSE`.... Empty lines and `#` comments are
//! skipped; CRLF line ends are accepted. A bad line is reported with its 1-based line number
//! and the good lines around it are kept.

use std::fmt::Write as _;

use super::{LineDecoded, LineError, MAX_LINE_ERRORS, Precision};
use fieldline_core::point::{FieldValue, Point};

/// Decodes line protocol. Timestamps are integers in `precision` units; lines without one
/// get `default_ns`. Each point's `point_lines` entry and each error's `line` is the 1-based
/// line the point starts on.
pub fn decode(payload: &[u8], precision: Precision, default_ns: i64) -> LineDecoded {
    let mut parser = Parser { buf: payload, pos: 0, line: 1, precision, default_ns, string_spans_lines: false };
    let mut decoded = LineDecoded::default();
    while parser.pos < payload.len() {
        let record_start = parser.pos;
        let record_line = parser.line;
        parser.skip_blanks();
        if parser.at_line_end() {
            parser.skip_to_next_line();
            continue;
        }
        if parser.peek() == Some(b'#') {
            parser.skip_to_next_line();
            continue;
        }
        parser.string_spans_lines = false;
        match parser.point() {
            Ok(point) => {
                decoded.points.push(point);
                decoded.point_lines.push(record_line);
                decoded.point_offsets.push(record_start);
            }
            Err(mut reason) => {
                if parser.string_spans_lines {
                    reason.push_str(
                        " (a string value on this line runs onto the next line: is a closing quote missing?)",
                    );
                }
                decoded.rejected_lines += 1;
                if decoded.errors.len() < MAX_LINE_ERRORS {
                    decoded.errors.push(LineError { line: record_line, reason, offset: record_start });
                }
                // Resume on the next physical line, even if a bad string ran past it.
                parser.pos = record_start;
                parser.line = record_line;
                parser.skip_to_next_line();
            }
        }
    }
    decoded
}

/// Appends `point` as one line of line protocol with a nanosecond timestamp and a trailing
/// `\n`. Only `out` allocates. `decode(encode(p)) == p` for every point the decoders produce:
/// non-empty measurement not starting with `#`, non-empty tag keys and values and field keys
/// without control characters, at least one field, finite floats.
pub fn encode(point: &Point, out: &mut String) {
    push_escaped(out, &point.measurement, is_measurement_special);
    for (key, value) in &point.tags {
        out.push(',');
        push_escaped(out, key, is_key_special);
        out.push('=');
        push_escaped(out, value, is_key_special);
    }
    let mut separator = ' ';
    for (key, value) in &point.fields {
        out.push(separator);
        separator = ',';
        push_escaped(out, key, is_key_special);
        out.push('=');
        // Writing to a String cannot fail.
        let _ = match value {
            // Debug is the shortest form that parses back to the same f64, and uses an
            // exponent for very large or small magnitudes (1e300, not 301 digits).
            FieldValue::Float(v) => write!(out, "{v:?}"),
            FieldValue::Int(v) => write!(out, "{v}i"),
            FieldValue::UInt(v) => write!(out, "{v}u"),
            FieldValue::Bool(v) => {
                out.push_str(if *v { "true" } else { "false" });
                Ok(())
            }
            FieldValue::Str(v) => {
                out.push('"');
                push_escaped(out, v, is_string_special);
                out.push('"');
                Ok(())
            }
        };
    }
    let _ = writeln!(out, " {}", point.timestamp_ns);
}

fn is_measurement_special(b: u8) -> bool {
    matches!(b, b',' | b' ' | b'\\')
}

fn is_key_special(b: u8) -> bool {
    matches!(b, b',' | b'=' | b' ' | b'\\')
}

fn is_string_special(b: u8) -> bool {
    matches!(b, b'"' | b'\\')
}

/// Appends `text` with a backslash before every byte `special` selects (all ASCII).
fn push_escaped(out: &mut String, text: &str, special: impl Fn(u8) -> bool + Copy) {
    let mut rest = text;
    while let Some(i) = rest.bytes().position(special) {
        // `i` is at an ASCII byte, so both splits fall on char boundaries.
        let Some((before, after)) = rest.split_at_checked(i) else {
            break;
        };
        let Some((escaped, after)) = after.split_at_checked(1) else {
            break;
        };
        out.push_str(before);
        out.push('\\');
        out.push_str(escaped);
        rest = after;
    }
    out.push_str(rest);
}

/// Undoes `push_escaped`: a backslash before a byte `special` selects is dropped, any other
/// backslash is kept (InfluxDB reads `a\b` as `a\b`). `None` if the result is not UTF-8.
fn unescape(raw: &[u8], special: impl Fn(u8) -> bool) -> Option<String> {
    if !raw.contains(&b'\\') {
        return std::str::from_utf8(raw).ok().map(str::to_owned);
    }
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match raw.get(i + 1) {
            Some(&next) if b == b'\\' && special(next) => {
                bytes.push(next);
                i += 2;
            }
            _ => {
                bytes.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

/// Shows raw input in an error message, lossily and shortened.
fn show(raw: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(raw.get(..MAX).unwrap_or(raw));
    if raw.len() > MAX { format!("{}...", super::quoted(&text)) } else { super::quoted(&text) }
}

struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    /// 1-based number of the physical line `pos` is on.
    line: usize,
    precision: Precision,
    default_ns: i64,
    /// Set when a string value of the current point contained a line break.
    string_spans_lines: bool,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// True at the end of input, at `\n`, or at a `\r` that ends the line.
    fn at_line_end(&self) -> bool {
        match self.peek() {
            None | Some(b'\n') => true,
            Some(b'\r') => matches!(self.buf.get(self.pos + 1), None | Some(b'\n')),
            Some(_) => false,
        }
    }

    fn skip_blanks(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn skip_to_next_line(&mut self) {
        match self.buf.get(self.pos..).and_then(|rest| rest.iter().position(|&b| b == b'\n')) {
            Some(offset) => {
                self.pos += offset + 1;
                self.line += 1;
            }
            None => self.pos = self.buf.len(),
        }
    }

    /// Advances to the first unescaped byte `stop` selects (or the line end) and returns the
    /// bytes passed over, still escaped.
    fn scan(&mut self, stop: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b == b'\\' && !matches!(self.buf.get(self.pos + 1), None | Some(b'\n')) {
                self.pos += 2;
                continue;
            }
            if stop(b) || b == b'\n' || (b == b'\r' && self.at_line_end()) {
                break;
            }
            self.pos += 1;
        }
        self.buf.get(start..self.pos).unwrap_or_default()
    }

    fn point(&mut self) -> Result<Point, String> {
        let raw = self.scan(|b| b == b',' || b == b' ');
        let measurement = unescape(raw, is_measurement_special).ok_or("measurement is not valid UTF-8")?;
        if measurement.is_empty() {
            return Err("missing measurement".into());
        }

        let mut tags = Vec::new();
        while self.peek() == Some(b',') {
            self.pos += 1;
            let raw_key = self.scan(|b| matches!(b, b'=' | b',' | b' '));
            if self.peek() != Some(b'=') {
                return Err(format!("tag {} has no value (expected tag=value)", show(raw_key)));
            }
            self.pos += 1;
            let key = unescape(raw_key, is_key_special).ok_or("tag key is not valid UTF-8")?;
            if key.is_empty() {
                return Err("empty tag key".into());
            }
            let raw_value = self.scan(|b| matches!(b, b'=' | b',' | b' '));
            if self.peek() == Some(b'=') {
                return Err(format!("tag {key}: unescaped '=' in the value (write \\=)"));
            }
            if raw_value.is_empty() {
                return Err(format!("tag {key} has an empty value"));
            }
            let value = unescape(raw_value, is_key_special).ok_or("tag value is not valid UTF-8")?;
            tags.push((key, value));
        }

        self.skip_spaces();
        if self.at_line_end() {
            return Err(format!("{measurement}: missing fields (expected a space, then field=value)"));
        }

        let mut fields = Vec::new();
        loop {
            let raw_key = self.scan(|b| matches!(b, b'=' | b',' | b' '));
            if self.peek() != Some(b'=') {
                return Err(format!("field {} has no value (expected field=value)", show(raw_key)));
            }
            self.pos += 1;
            let key = unescape(raw_key, is_key_special).ok_or("field key is not valid UTF-8")?;
            if key.is_empty() {
                return Err("empty field key".into());
            }
            let value = self.field_value(&key)?;
            fields.push((key, value));
            match self.peek() {
                Some(b',') => self.pos += 1,
                _ => break,
            }
        }

        let timestamp_ns = if self.at_line_end() {
            self.default_ns
        } else if self.peek() == Some(b' ') {
            self.skip_spaces();
            if self.at_line_end() { self.default_ns } else { self.timestamp()? }
        } else {
            return Err(format!("unexpected {} after the field values", show(self.rest_of_line())));
        };
        if !self.at_line_end() {
            return Err(format!("unexpected {} after the timestamp", show(self.rest_of_line())));
        }
        if self.peek() == Some(b'\r') {
            self.pos += 1;
        }
        if self.peek() == Some(b'\n') {
            self.pos += 1;
            self.line += 1;
        }
        Ok(Point::new(measurement, tags, fields, timestamp_ns))
    }

    fn rest_of_line(&self) -> &'a [u8] {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        rest.get(..end).unwrap_or_default()
    }

    fn field_value(&mut self, key: &str) -> Result<FieldValue, String> {
        if self.peek() == Some(b'"') {
            return self.string_value(key);
        }
        let raw = self.scan(|b| b == b',' || b == b' ');
        parse_scalar(raw).ok_or_else(|| {
            if raw.is_empty() {
                format!("field {key} has no value")
            } else {
                format!(
                    "field {key}: invalid value {} (expected a number such as 1.5, 12i, 12u, true/false or a \"string\")",
                    show(raw)
                )
            }
        })
        .and_then(|value| match value {
            FieldValue::Float(v) if !v.is_finite() => Err(format!("field {key}: {} is out of range for a float", show(raw))),
            other => Ok(other),
        })
    }

    /// A `"..."` value; line breaks inside are part of it.
    fn string_value(&mut self, key: &str) -> Result<FieldValue, String> {
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.peek() {
                None => {
                    return Err(format!("field {key}: unterminated string (missing closing \")"));
                }
                Some(b'"') => break,
                Some(b'\\') if matches!(self.buf.get(self.pos + 1), Some(b'"' | b'\\')) => self.pos += 2,
                Some(b'\n') => {
                    self.string_spans_lines = true;
                    self.line += 1;
                    self.pos += 1;
                }
                Some(_) => self.pos += 1,
            }
        }
        let raw = self.buf.get(start..self.pos).unwrap_or_default();
        self.pos += 1;
        if !(self.at_line_end() || matches!(self.peek(), Some(b',' | b' '))) {
            return Err(format!("field {key}: unexpected {} after the closing quote", show(self.rest_of_line())));
        }
        unescape(raw, is_string_special).map(FieldValue::Str).ok_or_else(|| format!("field {key} is not valid UTF-8"))
    }

    fn timestamp(&mut self) -> Result<i64, String> {
        let raw = self.scan(|b| b == b' ');
        let digits = raw.strip_prefix(b"-").unwrap_or(raw);
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(format!("invalid timestamp {} (expected an integer)", show(raw)));
        }
        let out_of_range = || format!("timestamp {} is out of range", show(raw));
        let value: i64 = std::str::from_utf8(raw).ok().and_then(|text| text.parse().ok()).ok_or_else(out_of_range)?;
        let timestamp_ns = value.checked_mul(self.precision.nanos()).ok_or_else(out_of_range)?;
        self.skip_spaces();
        Ok(timestamp_ns)
    }
}

/// A non-string field value, or `None` if it is none of the forms line protocol allows.
fn parse_scalar(raw: &[u8]) -> Option<FieldValue> {
    match raw {
        b"t" | b"T" | b"true" | b"True" | b"TRUE" => return Some(FieldValue::Bool(true)),
        b"f" | b"F" | b"false" | b"False" | b"FALSE" => return Some(FieldValue::Bool(false)),
        _ => {}
    }
    let (&last, body) = raw.split_last()?;
    let text = std::str::from_utf8(raw).ok()?;
    match last {
        b'i' if is_integer(body.strip_prefix(b"-").unwrap_or(body)) => {
            text.get(..text.len() - 1)?.parse().ok().map(FieldValue::Int)
        }
        b'u' if is_integer(body) => text.get(..text.len() - 1)?.parse().ok().map(FieldValue::UInt),
        _ if is_float(raw) => text.parse().ok().map(FieldValue::Float),
        _ => None,
    }
}

fn is_integer(digits: &[u8]) -> bool {
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// `-?(digits[.digits]|.digits)([eE][+-]?digits)?`: what InfluxDB accepts, and not Rust's
/// extras (`inf`, `NaN`, a leading `+`).
fn is_float(raw: &[u8]) -> bool {
    let raw = raw.strip_prefix(b"-").unwrap_or(raw);
    let (mantissa, exponent) = match raw.iter().position(|&b| b == b'e' || b == b'E') {
        Some(i) => (raw.get(..i).unwrap_or_default(), Some(raw.get(i + 1..).unwrap_or_default())),
        None => (raw, None),
    };
    let (whole, fraction) = match mantissa.iter().position(|&b| b == b'.') {
        Some(i) => (mantissa.get(..i).unwrap_or_default(), mantissa.get(i + 1..).unwrap_or_default()),
        None => (mantissa, &[][..]),
    };
    let digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
    let mantissa_ok = digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    let exponent_ok = match exponent {
        None => true,
        Some(e) => is_integer(e.strip_prefix(b"-").or_else(|| e.strip_prefix(b"+")).unwrap_or(e)),
    };
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEFAULT_NS: i64 = 1_700_000_000_000_000_000;

    fn decode_ns(text: &str) -> LineDecoded {
        decode(text.as_bytes(), Precision::Ns, DEFAULT_NS)
    }

    fn one(text: &str) -> Point {
        let decoded = decode_ns(text);
        assert_eq!(decoded.errors, vec![], "{text}");
        assert_eq!(decoded.points.len(), 1, "{text}");
        decoded.points.into_iter().next().unwrap()
    }

    fn error(text: &str) -> LineError {
        let decoded = decode_ns(text);
        assert_eq!(decoded.points, vec![], "{text}");
        assert_eq!(decoded.errors.len(), 1, "{text}");
        decoded.errors.into_iter().next().unwrap()
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn full_line() {
        let p = one(
            "wind_turbine,site=heze,device=wt01 power_kw=812.5,rotor_rpm=14i,ok=t,status=\"run\" 1732345678123000000",
        );
        assert_eq!(
            p,
            Point {
                measurement: "wind_turbine".into(),
                tags: tags(&[("device", "wt01"), ("site", "heze")]),
                fields: vec![
                    ("power_kw".into(), FieldValue::Float(812.5)),
                    ("rotor_rpm".into(), FieldValue::Int(14)),
                    ("ok".into(), FieldValue::Bool(true)),
                    ("status".into(), FieldValue::Str("run".into())),
                ],
                timestamp_ns: 1_732_345_678_123_000_000,
            }
        );
    }

    #[test]
    fn field_value_types() {
        let p =
            one("m a=1,b=-1.5,c=1e3,d=1.5E-2,e=.5,f=12i,g=-12i,h=12u,i=9223372036854775807i,j=18446744073709551615u");
        let expected = [
            FieldValue::Float(1.0),
            FieldValue::Float(-1.5),
            FieldValue::Float(1000.0),
            FieldValue::Float(0.015),
            FieldValue::Float(0.5),
            FieldValue::Int(12),
            FieldValue::Int(-12),
            FieldValue::UInt(12),
            FieldValue::Int(i64::MAX),
            FieldValue::UInt(u64::MAX),
        ];
        let values: Vec<FieldValue> = p.fields.into_iter().map(|(_, v)| v).collect();
        assert_eq!(values, expected);
    }

    #[test]
    fn booleans() {
        for (text, value) in [
            ("t", true),
            ("T", true),
            ("true", true),
            ("True", true),
            ("TRUE", true),
            ("f", false),
            ("F", false),
            ("false", false),
            ("False", false),
            ("FALSE", false),
        ] {
            assert_eq!(one(&format!("m b={text}")).fields[0].1, FieldValue::Bool(value), "{text}");
        }
        assert!(error("m b=tRUE").reason.contains("invalid value"));
    }

    #[test]
    fn invalid_field_values_are_rejected() {
        for value in ["inf", "-inf", "NaN", "+1", "1.2.3", "1e", "e3", "-", "12x", "1_000", "-12u", "12.5i", "abc"] {
            let e = error(&format!("m f={value} 1"));
            assert!(e.reason.contains("field f: invalid value"), "{value}: {}", e.reason);
        }
        assert!(error("m f=1e400").reason.contains("out of range"));
        assert!(error("m f=99999999999999999999i").reason.contains("invalid value"));
        assert!(error("m f=").reason.contains("field f has no value"));
        assert!(error("m f=1,").reason.contains("has no value"));
    }

    #[test]
    fn escaping_examples_from_the_influxdb_docs() {
        // Measurement: commas and spaces.
        assert_eq!(one(r"my\,measurement fieldKey=1").measurement, "my,measurement");
        assert_eq!(one(r"my\ measurement fieldKey=1").measurement, "my measurement");
        // Tag keys and values: commas, equals signs, spaces.
        let p = one(r"m,tag\ Key1=tag\ Value1,tag\,Key2=tag\,Value2,tag\=Key3=tag\=Value3 f=1");
        assert_eq!(p.tags, tags(&[("tag Key1", "tag Value1"), ("tag,Key2", "tag,Value2"), ("tag=Key3", "tag=Value3")]));
        // Field keys: commas, equals signs, spaces.
        let p = one(r"m field\ Key=1,field\,Key2=2,field\=Key3=3");
        let keys: Vec<&str> = p.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["field Key", "field,Key2", "field=Key3"]);
        // String field values: double quotes and backslashes; other characters as is.
        let p = one(r#"m s="too hot!",t="\"quoted\"",u="back\\slash",v="a\b, c=d e""#);
        let values: Vec<&FieldValue> = p.fields.iter().map(|(_, v)| v).collect();
        assert_eq!(
            values,
            [
                &FieldValue::Str("too hot!".into()),
                &FieldValue::Str("\"quoted\"".into()),
                &FieldValue::Str("back\\slash".into()),
                &FieldValue::Str("a\\b, c=d e".into()),
            ]
        );
        // Backslashes: `\\` is one backslash; a backslash before anything else stays.
        assert_eq!(one(r"m\\x f=1").measurement, r"m\x");
        assert_eq!(one(r"m\x f=1").measurement, r"m\x");
        assert_eq!(one(r"m,t=a\\\ b f=1").tag("t"), Some(r"a\ b"));
        // Unicode and quotes are literal outside string values.
        let p = one("温度,站点=菏泽 \"f\"=1");
        assert_eq!((p.measurement.as_str(), p.tag("站点")), ("温度", Some("菏泽")));
        assert_eq!(p.fields[0].0, "\"f\"");
    }

    #[test]
    fn timestamps_use_precision_and_default() {
        assert_eq!(one("m f=1").timestamp_ns, DEFAULT_NS);
        assert_eq!(one("m f=1 ").timestamp_ns, DEFAULT_NS);
        assert_eq!(one("m f=1 -5").timestamp_ns, -5);
        for (precision, expected) in [
            (Precision::Ns, 1_732_345_678),
            (Precision::Us, 1_732_345_678_000),
            (Precision::Ms, 1_732_345_678_000_000),
            (Precision::S, 1_732_345_678_000_000_000),
        ] {
            let decoded = decode(b"m f=1 1732345678", precision, 0);
            assert_eq!(decoded.points[0].timestamp_ns, expected, "{precision:?}");
        }
        let decoded = decode(b"m f=1 9223372036855", Precision::Ms, 0);
        assert!(decoded.errors[0].reason.contains("out of range"));
        assert!(error("m f=1 99999999999999999999").reason.contains("out of range"));
        assert!(error("m f=1 12:00").reason.contains("invalid timestamp"));
        assert!(error("m f=1 123 456").reason.contains("after the timestamp"));
        assert!(error("m f=1x 123").reason.contains("invalid value"));
    }

    #[test]
    fn comments_blank_lines_crlf_and_leading_whitespace() {
        let decoded = decode_ns("# a comment\r\n\r\n  m f=1 1\r\n\t m f=2 2\r\n   \n#m f=3 3\nm s=\"x\" 4\r\nm f=5\r");
        assert_eq!(decoded.errors, vec![]);
        let times: Vec<i64> = decoded.points.iter().map(|p| p.timestamp_ns).collect();
        assert_eq!(times, [1, 2, 4, DEFAULT_NS]);
        assert_eq!(decoded.points[2].field("s"), Some(&FieldValue::Str("x".into())));
        // A carriage return inside a line is an ordinary character.
        assert_eq!(one("m\rx f=1").measurement, "m\rx");
    }

    #[test]
    fn bad_lines_are_numbered_and_good_lines_kept() {
        let text =
            "m f=1 1\nm f 2\nm,t f=1 3\n\nm f=4 4\nm  \nm,t= f=1\nm,=v f=1\nm f=\"open 5\nm f=6 6\n,t=1 f=1\nm f=7 7";
        let decoded = decode_ns(text);
        let times: Vec<i64> = decoded.points.iter().map(|p| p.timestamp_ns).collect();
        assert_eq!(times, [1, 4, 6, 7]);
        assert_eq!(decoded.point_lines, [1, 5, 10, 12]);
        let errors: Vec<(usize, &str)> = decoded.errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
        assert_eq!(
            errors,
            [
                (2, "field \"f\" has no value (expected field=value)"),
                (3, "tag \"t\" has no value (expected tag=value)"),
                (6, "m: missing fields (expected a space, then field=value)"),
                (7, "tag t has an empty value"),
                (8, "empty tag key"),
                (
                    9,
                    "field f: unterminated string (missing closing \") (a string value on this line runs onto the next line: is a closing quote missing?)"
                ),
                (11, "missing measurement"),
            ]
        );
    }

    #[test]
    fn strings_may_span_lines_and_line_numbers_follow() {
        let decoded = decode_ns("m s=\"line one\nline two\" 1\nm f=bad 2\nm f=3 3");
        assert_eq!(decoded.points.len(), 2);
        assert_eq!(decoded.points[0].field("s"), Some(&FieldValue::Str("line one\nline two".into())));
        assert_eq!(decoded.point_lines, [1, 4]);
        assert_eq!(decoded.errors.len(), 1);
        assert_eq!(decoded.errors[0].line, 3);
        // A broken multi-line string costs only its first line.
        let decoded = decode_ns("m s=\"a\nm f=2 2\" x\nm f=3 3");
        assert_eq!(decoded.errors.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(decoded.points.iter().map(|p| p.timestamp_ns).collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn other_malformed_lines() {
        assert!(error("m,t=a=b f=1").reason.contains("unescaped '='"));
        assert!(error("m s=\"x\"y").reason.contains("after the closing quote"));
        assert!(error("m =1").reason.contains("empty field key"));
        assert!(error("m f=1,g").reason.contains("field \"g\" has no value"));
        assert!(error("m f=1\tg=2").reason.contains("invalid value"));
    }

    #[test]
    fn invalid_utf8_only_fails_its_line() {
        let decoded = decode(b"m f=1 1\nm\xff f=1 2\nm s=\"\xc3\x28\" 3\nm,t=\xe2 f=1 4\nm f=5 5", Precision::Ns, 0);
        assert_eq!(decoded.points.iter().map(|p| p.timestamp_ns).collect::<Vec<_>>(), [1, 5]);
        let errors: Vec<(usize, &str)> = decoded.errors.iter().map(|e| (e.line, e.reason.as_str())).collect();
        assert_eq!(
            errors,
            [
                (2, "measurement is not valid UTF-8"),
                (3, "field s is not valid UTF-8"),
                (4, "tag value is not valid UTF-8")
            ]
        );
    }

    #[test]
    fn duplicate_tags_and_fields_keep_the_last() {
        let p = one("m,a=1,b=2,a=3 f=1,f=2");
        assert_eq!(p.tags, tags(&[("a", "3"), ("b", "2")]));
        assert_eq!(p.fields, vec![("f".into(), FieldValue::Float(2.0))]);
    }

    #[test]
    fn encode_writes_escaped_line_with_ns_timestamp() {
        let p = Point::new(
            "my measurement,x",
            tags(&[("site", "菏泽 a,b=c"), ("d\\", "e")]),
            vec![
                ("power kw".into(), FieldValue::Float(812.5)),
                ("whole".into(), FieldValue::Float(3.0)),
                ("big".into(), FieldValue::Float(1e300)),
                ("n".into(), FieldValue::Int(-7)),
                ("u".into(), FieldValue::UInt(7)),
                ("ok".into(), FieldValue::Bool(false)),
                ("s".into(), FieldValue::Str("say \"hi\"\\\nbye".into())),
            ],
            -42,
        );
        let mut out = String::new();
        encode(&p, &mut out);
        assert_eq!(
            out,
            "my\\ measurement\\,x,d\\\\=e,site=菏泽\\ a\\,b\\=c power\\ kw=812.5,whole=3.0,big=1e300,n=-7i,u=7u,ok=false,s=\"say \\\"hi\\\"\\\\\nbye\" -42\n"
        );
        let decoded = decode(out.as_bytes(), Precision::Ns, 0);
        assert_eq!(
            decoded,
            LineDecoded {
                points: vec![p],
                point_lines: vec![1],
                point_offsets: vec![0],
                errors: vec![],
                rejected_lines: 0
            }
        );
    }

    /// Names as the decoders produce them: no control characters; the measurement does not
    /// start with `#`. Special characters are over-represented.
    fn name() -> impl Strategy<Value = String> {
        proptest::string::string_regex(r#"([ ,="\\#a-zé菏]|\PC){1,8}"#).unwrap()
    }

    fn measurement() -> impl Strategy<Value = String> {
        name().prop_filter("comment line", |m| !m.starts_with('#'))
    }

    fn field_value() -> impl Strategy<Value = FieldValue> {
        prop_oneof![
            any::<f64>().prop_filter("finite", |v| v.is_finite()).prop_map(FieldValue::Float),
            any::<i64>().prop_map(FieldValue::Int),
            any::<u64>().prop_map(FieldValue::UInt),
            any::<bool>().prop_map(FieldValue::Bool),
            proptest::string::string_regex(r#"([ ,="\\\n\r\ta-z]|.){0,12}"#).unwrap().prop_map(FieldValue::Str),
        ]
    }

    fn point() -> impl Strategy<Value = Point> {
        (
            measurement(),
            proptest::collection::vec((name(), name()), 0..4),
            proptest::collection::vec((name(), field_value()), 1..5),
            any::<i64>(),
        )
            .prop_map(|(m, tags, fields, ts)| Point::new(m, tags, fields, ts))
    }

    proptest! {
        #![proptest_config(crate::decode::proptest_config(3000))]

        #[test]
        fn encode_then_decode_round_trips(points in proptest::collection::vec(point(), 1..4)) {
            let mut out = String::new();
            for p in &points {
                encode(p, &mut out);
            }
            let decoded = decode(out.as_bytes(), Precision::Ns, 0);
            prop_assert_eq!(decoded.errors, vec![]);
            prop_assert_eq!(decoded.points, points);
        }

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let decoded = decode(&bytes, Precision::Ms, 0);
            let lines = bytes.iter().filter(|&&b| b == b'\n').count() + 1;
            prop_assert!(decoded.errors.iter().all(|e| e.line >= 1 && e.line <= lines));
        }

        #[test]
        fn never_panics_on_line_protocol_like_text(text in r#"[a-z0-9 ,=\\"\n\r#.\-+eiutf]{0,120}"#) {
            let decoded = decode(text.as_bytes(), Precision::S, 0);
            let lines = text.matches('\n').count() + 1;
            prop_assert!(decoded.errors.iter().all(|e| e.line >= 1 && e.line <= lines));
            prop_assert!(decoded.errors.windows(2).all(|w| w[0].line < w[1].line));
            prop_assert!(decoded.points.iter().all(|p| !p.measurement.is_empty() && !p.fields.is_empty()));
        }
    }
}
