//! JSON telemetry from `fl/v1/{site}/{kind}/{device}/telemetry` (DESIGN.md §3).
//!
//! A payload is one reading object, an array of them, or a flat object of values:
//!
//! ```json
//! {"ts": 1732345678123, "values": {"power_kw": 812.5, "status": "run"}, "tags": {"unit": "A"}}
//! [{"ts": "2024-11-23T08:00:00+08:00", "values": {"rh_pct": 61}}, ...]
//! {"rh_pct": 61, "air_temp_c": 12.5}
//! ```
//!
//! `ts` (epoch milliseconds or RFC 3339, optional: missing means the receive time) and `tags`
//! are recognised in the flat form too. Measurement = the topic's kind; tags `site` and
//! `device` come from the topic and win over payload tags. Numbers become floats, `null`
//! values are skipped, nested values are an error.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{DecodeError, Source, Text, check_name, check_source, float_time_to_ns, json_error};
use fieldline_core::point::{FieldValue, Point};

/// Decodes a telemetry payload from the device `source`; `received_ns` is the time for
/// readings without `ts`.
pub fn decode(source: Source<'_>, payload: &[u8], received_ns: i64) -> Result<Vec<Point>, DecodeError> {
    check_source(&source).map_err(DecodeError::Invalid)?;
    let text = std::str::from_utf8(payload).map_err(|_| DecodeError::NotUtf8)?;
    let document: Json<'_> = serde_json::from_str(text).map_err(json_error)?;
    match document {
        Json::Object(members) => {
            let point = reading_to_point(&source, members, received_ns).map_err(DecodeError::Invalid)?;
            Ok(vec![point])
        }
        Json::Array(items) if items.is_empty() => Err(DecodeError::Invalid("empty array: no readings".into())),
        Json::Array(items) => {
            let mut points = Vec::with_capacity(items.len());
            for (index, item) in items.into_iter().enumerate() {
                let reading = index + 1;
                let Json::Object(members) = item else {
                    return Err(DecodeError::Invalid(format!(
                        "reading {reading}: expected an object, got {}",
                        item.type_name()
                    )));
                };
                let point = reading_to_point(&source, members, received_ns)
                    .map_err(|reason| DecodeError::Invalid(format!("reading {reading}: {reason}")))?;
                points.push(point);
            }
            Ok(points)
        }
        other => Err(DecodeError::Invalid(format!(
            "expected a JSON object or an array of objects, got {}",
            other.type_name()
        ))),
    }
}

/// Turns one reading object (either `{"ts", "values", "tags"}` or flat) into a point.
fn reading_to_point(source: &Source<'_>, members: Members<'_>, received_ns: i64) -> Result<Point, String> {
    let mut ts = None;
    let mut tags = None;
    let mut values = None;
    let mut flat: Members<'_> = Vec::new();
    for (key, value) in members {
        match key.as_ref() {
            "ts" => ts = Some(value),
            "tags" => tags = Some(value),
            "values" => values = Some(value),
            _ => flat.push((key, value)),
        }
    }
    let values = match values {
        None => flat,
        Some(Json::Object(values)) => {
            if let Some((key, _)) = flat.first() {
                return Err(format!("unexpected key {key:?} next to \"values\" (a reading has ts, values and tags)"));
            }
            values
        }
        Some(other) => {
            return Err(format!("values must be an object, got {}", other.type_name()));
        }
    };

    let timestamp_ns = match ts {
        None | Some(Json::Null) => received_ns,
        Some(ts) => parse_ts(&ts)?,
    };

    let mut fields = Vec::with_capacity(values.len());
    for (name, value) in values {
        let value = match value {
            Json::Null => continue,
            Json::Bool(b) => FieldValue::Bool(b),
            Json::Number(n) => FieldValue::Float(n.as_f64()),
            Json::Str(s) => FieldValue::Str(s.into_owned()),
            Json::Array(_) | Json::Object(_) => {
                return Err(format!("field {name}: nested values are not supported"));
            }
        };
        check_name(format_args!("field name"), &name)?;
        fields.push((name.into_owned(), value));
    }
    if fields.is_empty() {
        return Err("no values: a reading needs at least one non-null value".into());
    }

    let mut point_tags = Vec::new();
    match tags {
        None | Some(Json::Null) => {}
        Some(Json::Object(members)) => {
            point_tags.reserve(members.len() + 2);
            for (key, value) in members {
                let value = match value {
                    Json::Null => continue,
                    Json::Str(s) => s.into_owned(),
                    Json::Number(n) => n.to_string(),
                    other => {
                        return Err(format!(
                            "tag {key}: tag values must be strings or numbers, got {}",
                            other.type_name()
                        ));
                    }
                };
                // An empty tag value is the same as no tag (InfluxDB drops them too).
                if value.is_empty() {
                    continue;
                }
                check_name(format_args!("tag key"), &key)?;
                check_name(format_args!("tag {key} value"), &value)?;
                point_tags.push((key.into_owned(), value));
            }
        }
        Some(other) => return Err(format!("tags must be an object, got {}", other.type_name())),
    }
    // Pushed last so that Point::new keeps them over payload tags of the same name.
    point_tags.push(("site".to_owned(), source.site.to_owned()));
    point_tags.push(("device".to_owned(), source.device.to_owned()));

    Ok(Point::new(source.kind, point_tags, fields, timestamp_ns))
}

/// Epoch milliseconds (1970 up to the end of i64 nanoseconds, 2262) or an RFC 3339 string.
fn parse_ts(ts: &Json<'_>) -> Result<i64, String> {
    let out_of_range = || format!("ts = {ts} is outside the supported range (epoch milliseconds from 1970 to 2262)");
    match ts {
        Json::Number(Number::UInt(ms)) => {
            i64::try_from(*ms).ok().and_then(|ms| ms.checked_mul(1_000_000)).ok_or_else(out_of_range)
        }
        Json::Number(Number::Int(_)) => Err(out_of_range()),
        Json::Number(Number::Float(ms)) => {
            float_time_to_ns(*ms, 1_000_000).filter(|ns| *ns >= 0).ok_or_else(out_of_range)
        }
        Json::Str(text) => {
            let time = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|e| format!("ts {text:?} is not an RFC 3339 time such as 2024-11-23T08:00:00+08:00 ({e})"))?;
            i64::try_from(time.unix_timestamp_nanos())
                .ok()
                .filter(|ns| *ns >= 0)
                .ok_or_else(|| format!("ts {text:?} is outside the supported range (1970 to 2262)"))
        }
        other => Err(format!("ts must be epoch milliseconds or an RFC 3339 string, got {}", other.type_name())),
    }
}

type Members<'a> = Vec<(Cow<'a, str>, Json<'a>)>;

/// A JSON document borrowing its strings from the payload and keeping object members in
/// order (serde_json's `Value` copies every string and sorts keys).
#[derive(Debug, Clone, PartialEq)]
enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Str(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    Object(Members<'a>),
}

/// A JSON number as serde_json reports it, so integers render back exactly as tag values.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    UInt(u64),
    Int(i64),
    Float(f64),
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::UInt(v) => v as f64,
            Number::Int(v) => v as f64,
            Number::Float(v) => v,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::UInt(v) => write!(f, "{v}"),
            Number::Int(v) => write!(f, "{v}"),
            Number::Float(v) => write!(f, "{v}"),
        }
    }
}

impl Json<'_> {
    fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

impl fmt::Display for Json<'_> {
    /// Short rendering for error messages (scalars only; containers by type).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Number(n) => write!(f, "{n}"),
            Json::Str(s) => write!(f, "{s:?}"),
            Json::Bool(b) => write!(f, "{b}"),
            other => f.write_str(other.type_name()),
        }
    }
}

impl<'de> Deserialize<'de> for Json<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_none<E>(self) -> Result<Json<'de>, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json<'de>, E> {
        Ok(Json::Bool(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json<'de>, E> {
        Ok(Json::Number(Number::UInt(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json<'de>, E> {
        Ok(Json::Number(Number::Int(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json<'de>, E> {
        Ok(Json::Number(Number::Float(v)))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Json<'de>, E> {
        Ok(Json::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some((Text(key), value)) = map.next_entry::<Text<'de>, Json<'de>>()? {
            members.push((key, value));
        }
        Ok(Json::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SOURCE: Source<'static> = Source { site: "heze-wind", kind: "wind_turbine", device: "wt01" };
    const NOW: i64 = 1_732_345_000_000_000_000;

    fn decode_str(payload: &str) -> Result<Vec<Point>, DecodeError> {
        decode(SOURCE, payload.as_bytes(), NOW)
    }

    fn invalid_reason(payload: &str) -> String {
        match decode_str(payload) {
            Err(DecodeError::Invalid(reason)) => reason,
            other => panic!("expected Invalid for {payload}, got {other:?}"),
        }
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn single_reading_with_epoch_ms_values_and_tags() {
        let points = decode_str(
            r#"{"ts": 1732345678123, "values": {"power_kw": 812.5, "rotor_rpm": 14, "ok": true, "status": "run"},
                "tags": {"unit": "A", "row": 3}}"#,
        )
        .unwrap();
        assert_eq!(
            points,
            vec![Point {
                measurement: "wind_turbine".into(),
                tags: tags(&[("device", "wt01"), ("row", "3"), ("site", "heze-wind"), ("unit", "A")]),
                fields: vec![
                    ("power_kw".into(), FieldValue::Float(812.5)),
                    ("rotor_rpm".into(), FieldValue::Float(14.0)),
                    ("ok".into(), FieldValue::Bool(true)),
                    ("status".into(), FieldValue::Str("run".into())),
                ],
                timestamp_ns: 1_732_345_678_123_000_000,
            }]
        );
    }

    #[test]
    fn rfc3339_timestamps_with_offsets_and_fractions() {
        let points = decode_str(r#"{"ts": "2024-11-23T08:00:00.250+08:00", "values": {"x": 1}}"#).unwrap();
        // 2024-11-23T00:00:00Z = 1732320000 s.
        assert_eq!(points[0].timestamp_ns, 1_732_320_000_250_000_000);
        let points = decode_str(r#"{"ts": "2024-11-23T00:00:00Z", "values": {"x": 1}}"#).unwrap();
        assert_eq!(points[0].timestamp_ns, 1_732_320_000_000_000_000);
        assert!(invalid_reason(r#"{"ts": "yesterday", "values": {"x": 1}}"#).contains("RFC 3339"));
    }

    #[test]
    fn fractional_milliseconds_become_nanoseconds() {
        let points = decode_str(r#"{"ts": 1732345678123.5, "values": {"x": 1}}"#).unwrap();
        assert_eq!(points[0].timestamp_ns, 1_732_345_678_123_500_000);
    }

    #[test]
    fn missing_or_null_ts_uses_receive_time() {
        assert_eq!(decode_str(r#"{"values": {"x": 1}}"#).unwrap()[0].timestamp_ns, NOW);
        assert_eq!(decode_str(r#"{"ts": null, "values": {"x": 1}}"#).unwrap()[0].timestamp_ns, NOW);
    }

    #[test]
    fn out_of_range_timestamps_are_rejected() {
        for ts in ["-1", "1e300", "9223372036855", "18446744073709551615", "true", "[1]"] {
            let reason = invalid_reason(&format!(r#"{{"ts": {ts}, "values": {{"x": 1}}}}"#));
            assert!(reason.starts_with("ts"), "{ts}: {reason}");
        }
        // The last representable millisecond of 2262 is accepted.
        assert!(decode_str(r#"{"ts": 9223372036854, "values": {"x": 1}}"#).is_ok());
        assert!(invalid_reason(r#"{"ts": "1969-12-31T23:59:59Z", "values": {"x": 1}}"#).contains("range"));
    }

    #[test]
    fn array_of_readings() {
        let points =
            decode_str(r#"[{"ts": 1000, "values": {"a": 1}}, {"ts": 2000, "values": {"a": 2, "b": null}}, {"a": 3}]"#)
                .unwrap();
        let times: Vec<i64> = points.iter().map(|p| p.timestamp_ns).collect();
        assert_eq!(times, vec![1_000_000_000, 2_000_000_000, NOW]);
        assert_eq!(points[1].fields, vec![("a".into(), FieldValue::Float(2.0))]);
        assert_eq!(points[2].field("a"), Some(&FieldValue::Float(3.0)));
    }

    #[test]
    fn flat_object_of_values_uses_receive_time_and_recognises_ts_and_tags() {
        let points = decode_str(r#"{"rh_pct": 61, "wet": false}"#).unwrap();
        assert_eq!(points[0].timestamp_ns, NOW);
        assert_eq!(
            points[0].fields,
            vec![("rh_pct".into(), FieldValue::Float(61.0)), ("wet".into(), FieldValue::Bool(false))]
        );
        let points = decode_str(r#"{"ts": 5, "tags": {"unit": "b"}, "rh_pct": 61}"#).unwrap();
        assert_eq!(points[0].timestamp_ns, 5_000_000);
        assert_eq!(points[0].tag("unit"), Some("b"));
        assert_eq!(points[0].fields.len(), 1);
    }

    #[test]
    fn topic_site_and_device_win_over_payload_tags() {
        let points =
            decode_str(r#"{"values": {"x": 1}, "tags": {"site": "elsewhere", "device": "other", "k": "v"}}"#).unwrap();
        assert_eq!(points[0].tags, tags(&[("device", "wt01"), ("k", "v"), ("site", "heze-wind")]));
    }

    #[test]
    fn escaped_strings_are_unescaped() {
        let points = decode_str(r#"{"values": {"note": "a \"quote\" \u00e9\n"}, "tags": {"t": "x\/y"}}"#).unwrap();
        assert_eq!(points[0].field("note"), Some(&FieldValue::Str("a \"quote\" é\n".into())));
        assert_eq!(points[0].tag("t"), Some("x/y"));
    }

    #[test]
    fn nested_values_are_an_error_naming_the_field() {
        assert_eq!(
            invalid_reason(r#"{"values": {"ok": 1, "pos": {"lat": 35.2}}}"#),
            "field pos: nested values are not supported"
        );
        assert_eq!(invalid_reason(r#"{"pos": [1, 2]}"#), "field pos: nested values are not supported");
        assert_eq!(
            invalid_reason(r#"[{"a": 1}, {"values": {"b": [1]}}]"#),
            "reading 2: field b: nested values are not supported"
        );
    }

    #[test]
    fn readings_without_values_are_an_error() {
        for payload in [r#"{}"#, r#"{"values": {}}"#, r#"{"values": {"a": null}}"#, r#"{"ts": 1}"#] {
            assert!(invalid_reason(payload).contains("no values"), "{payload}");
        }
        assert!(invalid_reason("[]").contains("no readings"));
    }

    #[test]
    fn wrong_shapes_are_explained() {
        assert!(invalid_reason("42").contains("got a number"));
        assert!(invalid_reason(r#"[1]"#).contains("reading 1: expected an object"));
        assert!(invalid_reason(r#"{"values": 3}"#).contains("values must be an object"));
        assert!(invalid_reason(r#"{"values": {"a": 1}, "b": 2}"#).contains("unexpected key \"b\""));
        assert!(
            invalid_reason(r#"{"values": {"a": 1}, "tags": {"t": true}}"#)
                .contains("tag t: tag values must be strings or numbers")
        );
        assert!(invalid_reason(r#"{"values": {"a": 1}, "tags": [1]}"#).contains("tags must be an object"));
        assert!(invalid_reason(r#"{"values": {"a\nb": 1}}"#).contains("control character"));
        assert!(invalid_reason(r#"{"values": {"": 1}}"#).contains("empty"));
    }

    #[test]
    fn syntax_errors_and_bad_utf8() {
        assert!(matches!(decode_str(r#"{"values": "#), Err(DecodeError::Json(_))));
        assert!(matches!(decode_str("not json"), Err(DecodeError::Json(_))));
        assert_eq!(decode(SOURCE, b"{\"a\": \"\xff\"}", NOW), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(decode_str(&deep), Err(DecodeError::Json(_))));
        let deep = format!(r#"{{"values": {{"a": {}1{}}}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        assert!(decode_str(&deep).is_err());
    }

    #[test]
    fn empty_payload_tag_values_are_dropped() {
        let points = decode_str(r#"{"values": {"a": 1}, "tags": {"t": "", "u": null}}"#).unwrap();
        assert_eq!(points[0].tags, tags(&[("device", "wt01"), ("site", "heze-wind")]));
    }

    proptest! {
        #![proptest_config(crate::decode::proptest_config(2000))]

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(SOURCE, &bytes, NOW);
        }

        #[test]
        fn never_panics_on_json_like_text(text in r#"[\[\]{}":, 0-9a-z.eE+\-\\]{0,80}"#) {
            let _ = decode_str(&text);
        }

        #[test]
        fn never_panics_on_reading_shaped_json(
            ts in prop_oneof![Just("null".to_string()), any::<f64>().prop_map(|f| format!("{f:e}")),
                              any::<i64>().prop_map(|i| i.to_string()), "\"[0-9T:Z+.-]{0,30}\""],
            key in "[a-z\\\\\"]{0,4}",
            value in prop_oneof![Just("null".to_string()), Just("{}".to_string()), Just("[]".to_string()),
                                 any::<f64>().prop_map(|f| format!("{f:e}")), "\"[a-z]{0,4}\""],
        ) {
            let payload = format!(r#"{{"ts": {ts}, "values": {{"{key}": {value}}}, "tags": {{"{key}": {value}}}}}"#);
            if let Ok(points) = decode_str(&payload) {
                prop_assert_eq!(points.len(), 1);
                prop_assert_eq!(points[0].tag("site"), Some("heze-wind"));
                prop_assert!(!points[0].fields.is_empty());
            }
        }
    }
}
