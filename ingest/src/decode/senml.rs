//! SenML JSON packs (RFC 8428) from `fl/v1/{site}/{kind}/{device}/senml`.
//!
//! Base fields (`bn`, `bt`, `bu`, `bv`, `bs`) are resolved as the RFC says: each applies to its
//! own record and every later one until replaced. Time is `bt + t` in seconds; a resolved time
//! below 2^28 is relative to the receive time. Each record's `n` is the field name (the base
//! name identifies the device, which the topic already does); a record without `n` takes the
//! last segment of `bn`. Records with the same resolved time become one point; points come out
//! in time order. Measurement = the topic's kind, tags `site` and `device` from the topic.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::{DecodeError, Source, Text, check_name, check_source, float_time_to_ns, json_error};
use fieldline_core::point::{FieldValue, Point};

/// Resolved times below this many seconds are relative to "now" (RFC 8428 §4.5.3).
const RELATIVE_TIME_LIMIT_S: f64 = 268_435_456.0;

/// Decodes a SenML pack from the device `source`; relative times count from `received_ns`.
pub fn decode(source: Source<'_>, payload: &[u8], received_ns: i64) -> Result<Vec<Point>, DecodeError> {
    check_source(&source).map_err(DecodeError::Invalid)?;
    let text = std::str::from_utf8(payload).map_err(|_| DecodeError::NotUtf8)?;
    if text.trim_start().starts_with('{') {
        return Err(DecodeError::Invalid("a SenML pack is a JSON array of records, got an object".into()));
    }
    let records: Vec<Record<'_>> = serde_json::from_str(text).map_err(json_error)?;
    if records.is_empty() {
        return Err(DecodeError::Invalid("empty SenML pack: no records".into()));
    }
    resolve(&source, records, received_ns).map_err(DecodeError::Invalid)
}

/// One resolved reading before grouping into points.
struct Reading {
    timestamp_ns: i64,
    record: usize,
    name: String,
    value: FieldValue,
}

fn resolve(source: &Source<'_>, records: Vec<Record<'_>>, received_ns: i64) -> Result<Vec<Point>, String> {
    let mut base_name: Cow<'_, str> = Cow::Borrowed("");
    let mut base_time = 0.0;
    let mut base_value = 0.0;
    let mut base_sum = 0.0;
    let mut readings: Vec<Reading> = Vec::with_capacity(records.len());

    for (index, record) in records.into_iter().enumerate() {
        let number = index + 1;
        let fail = |reason: String| format!("record {number}: {reason}");
        if let Some(label) = record.must_understand {
            return Err(fail(format!("field {label:?} must be understood but is not supported")));
        }
        if let Some(bn) = record.bn {
            base_name = bn;
        }
        base_time = record.bt.unwrap_or(base_time);
        base_value = record.bv.unwrap_or(base_value);
        base_sum = record.bs.unwrap_or(base_sum);

        let name = match record.n.as_deref() {
            Some(n) if !n.is_empty() => n,
            _ => name_from_base(&base_name),
        };
        if name.is_empty() {
            return Err(fail("no name: give the record an n (or the pack a bn)".into()));
        }
        check_name(format_args!("name"), name).map_err(fail)?;

        let time_s = base_time + record.t.unwrap_or(0.0);
        let timestamp_ns = resolve_time(time_s, received_ns)
            .ok_or_else(|| fail(format!("time {time_s} s (bt + t) is outside the supported range 1970 to 2262")))?;

        let given = [record.v.is_some(), record.vs.is_some(), record.vb.is_some(), record.vd.is_some()];
        if given.iter().filter(|g| **g).count() > 1 {
            return Err(fail("more than one of v, vs, vb, vd: a record carries one value".into()));
        }
        let value = if let Some(v) = record.v {
            Some(FieldValue::Float(finite(base_value + v, "v + bv").map_err(fail)?))
        } else if let Some(vb) = record.vb {
            Some(FieldValue::Bool(vb))
        } else if let Some(Text(vs)) = record.vs {
            Some(FieldValue::Str(vs.into_owned()))
        } else {
            // vd is base64 text; it is stored as that text.
            record.vd.map(|Text(vd)| FieldValue::Str(vd.into_owned()))
        };
        let sum = match record.s {
            Some(s) => Some(FieldValue::Float(finite(base_sum + s, "s + bs").map_err(fail)?)),
            None => None,
        };
        if value.is_none() && sum.is_none() {
            return Err(fail(format!("{name} has no value (v, vs, vb, vd or s)")));
        }
        if let Some(value) = value {
            readings.push(Reading { timestamp_ns, record: number, name: name.to_owned(), value });
        }
        if let Some(sum) = sum {
            let name = format!("{name}_sum");
            readings.push(Reading { timestamp_ns, record: number, name, value: sum });
        }
    }

    // Stable: fields keep record order within a point.
    readings.sort_by_key(|r| r.timestamp_ns);
    let mut points: Vec<Point> = Vec::new();
    let mut fields: Vec<(String, FieldValue)> = Vec::new();
    // Field name -> the record that gave it, for the current instant (a hash map, so a pack of
    // 80 000 records at one time stays linear).
    let mut record_of_field: HashMap<String, usize> = HashMap::new();
    let mut readings = readings.into_iter().peekable();
    while let Some(reading) = readings.next() {
        // Two values for one sensor at one instant contradict each other; keeping either
        // would silently drop the other.
        if let Some(first) = record_of_field.insert(reading.name.clone(), reading.record) {
            return Err(format!(
                "records {first} and {} both give {} at the same time; give each record its own name (n)",
                reading.record, reading.name
            ));
        }
        fields.push((reading.name, reading.value));
        if readings.peek().is_none_or(|next| next.timestamp_ns != reading.timestamp_ns) {
            let tags =
                vec![("device".to_owned(), source.device.to_owned()), ("site".to_owned(), source.site.to_owned())];
            points.push(Point::new(source.kind, tags, std::mem::take(&mut fields), reading.timestamp_ns));
            record_of_field.clear();
        }
    }
    Ok(points)
}

/// The field name for a record without `n`: the last segment of the base name, so
/// `urn:dev:ow:10e2073a01080063:` gives `10e2073a01080063`.
fn name_from_base(base_name: &str) -> &str {
    let trimmed = base_name.strip_suffix([':', '/']).unwrap_or(base_name);
    match trimmed.rfind([':', '/']) {
        Some(i) => trimmed.get(i + 1..).unwrap_or(""),
        None => trimmed,
    }
}

fn resolve_time(time_s: f64, received_ns: i64) -> Option<i64> {
    if time_s < RELATIVE_TIME_LIMIT_S {
        received_ns.checked_add(float_time_to_ns(time_s, 1_000_000_000)?)
    } else {
        float_time_to_ns(time_s, 1_000_000_000)
    }
}

fn finite(value: f64, what: &str) -> Result<f64, String> {
    if value.is_finite() { Ok(value) } else { Err(format!("{what} overflows to {value}")) }
}

/// One SenML record as sent. Units (`u`, `bu`), `bver` and `ut` are read for their type
/// but not kept: field names carry their unit in fieldline.
#[derive(Debug, Default)]
struct Record<'a> {
    bn: Option<Cow<'a, str>>,
    bt: Option<f64>,
    bv: Option<f64>,
    bs: Option<f64>,
    n: Option<Cow<'a, str>>,
    v: Option<f64>,
    vs: Option<Text<'a>>,
    vb: Option<bool>,
    vd: Option<Text<'a>>,
    s: Option<f64>,
    t: Option<f64>,
    /// A label ending in `_` that this decoder does not know (RFC 8428 §4.4: must reject).
    must_understand: Option<String>,
}

impl<'de> Deserialize<'de> for Record<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RecordVisitor)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a SenML record (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record<'de>, A::Error> {
        let mut record = Record::default();
        while let Some(Text(label)) = map.next_key::<Text<'de>>()? {
            match label.as_ref() {
                "bn" => record.bn = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0),
                "bt" => record.bt = map.next_value()?,
                "bv" => record.bv = map.next_value()?,
                "bs" => record.bs = map.next_value()?,
                "n" => record.n = map.next_value::<Option<Text<'de>>>()?.map(|t| t.0),
                "v" => record.v = map.next_value()?,
                "vs" => record.vs = map.next_value()?,
                "vb" => record.vb = map.next_value()?,
                "vd" => record.vd = map.next_value()?,
                "s" => record.s = map.next_value()?,
                "t" => record.t = map.next_value()?,
                "bu" | "u" => {
                    map.next_value::<Option<Text<'de>>>()?;
                }
                "bver" | "ut" => {
                    map.next_value::<Option<f64>>()?;
                }
                other => {
                    if other.ends_with('_') && record.must_understand.is_none() {
                        record.must_understand = Some(other.to_owned());
                    }
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SOURCE: Source<'static> = Source { site: "plot1", kind: "peony_plot", device: "p1" };
    const NOW: i64 = 1_732_345_000_000_000_000;
    const S: i64 = 1_000_000_000;

    fn decode_str(payload: &str) -> Result<Vec<Point>, DecodeError> {
        decode(SOURCE, payload.as_bytes(), NOW)
    }

    fn invalid_reason(payload: &str) -> String {
        match decode_str(payload) {
            Err(DecodeError::Invalid(reason)) => reason,
            other => panic!("expected Invalid for {payload}, got {other:?}"),
        }
    }

    fn float(v: f64) -> FieldValue {
        FieldValue::Float(v)
    }

    #[test]
    fn single_datapoint_rfc8428_5_1_1_is_now() {
        let points = decode_str(r#"[{"n":"urn:dev:ow:10e2073a01080063","u":"Cel","v":23.1}]"#).unwrap();
        assert_eq!(
            points,
            vec![Point::new(
                "peony_plot",
                vec![("site".into(), "plot1".into()), ("device".into(), "p1".into())],
                vec![("urn:dev:ow:10e2073a01080063".into(), float(23.1))],
                NOW,
            )]
        );
    }

    #[test]
    fn multiple_datapoints_rfc8428_5_1_2_name_from_base_name() {
        // The first record has no n, so its name is the base name's last segment.
        let points =
            decode_str(r#"[{"bn":"urn:dev:ow:10e2073a01080063:","u":"V","v":120.1},{"n":"current","u":"A","v":1.2}]"#)
                .unwrap();
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].timestamp_ns, NOW);
        assert_eq!(points[0].fields, vec![("10e2073a01080063".into(), float(120.1)), ("current".into(), float(1.2))]);
    }

    #[test]
    fn base_time_with_relative_record_times_rfc8428_5_1_2() {
        let points = decode_str(
            r#"[{"bn":"urn:dev:ow:10e2073a01080063:","bt":1.276020076001e+09,"bu":"A","bver":5,"n":"voltage","u":"V","v":120.1},
                {"n":"current","t":-5,"v":1.2},{"n":"current","t":-4,"v":1.3},{"n":"current","t":-3,"v":1.4},
                {"n":"current","t":-2,"v":1.5},{"n":"current","t":-1,"v":1.6},{"n":"current","v":1.7}]"#,
        )
        .unwrap();
        // Tue Jun 8 18:01:16.001 UTC 2010, and each second for the 5 seconds before.
        let bt = 1_276_020_076_001_000_000;
        let times: Vec<i64> = points.iter().map(|p| p.timestamp_ns).collect();
        assert_eq!(times, (-5..=0).map(|k| bt + k * S).collect::<Vec<_>>());
        assert_eq!(points[0].fields, vec![("current".into(), float(1.2))]);
        assert_eq!(points[5].fields, vec![("voltage".into(), float(120.1)), ("current".into(), float(1.7))]);
    }

    #[test]
    fn multiple_data_types_rfc8428_5_1_6() {
        let points = decode_str(
            r#"[{"bn":"urn:dev:ow:10e2073a01080063:","n":"temp","u":"Cel","v":23.1},
                {"n":"label","vs":"Machine Room"},{"n":"open","vb":false},{"n":"nfv-reader","vd":"aGkgCg"}]"#,
        )
        .unwrap();
        assert_eq!(
            points[0].fields,
            vec![
                ("temp".into(), float(23.1)),
                ("label".into(), FieldValue::Str("Machine Room".into())),
                ("open".into(), FieldValue::Bool(false)),
                ("nfv-reader".into(), FieldValue::Str("aGkgCg".into())),
            ]
        );
    }

    #[test]
    fn collection_of_resources_rfc8428_5_1_7_base_name_changes_base_time_stays() {
        let points = decode_str(
            r#"[{"bn":"2001:db8::2/","bt":1.320078429e+09,"n":"temperature","u":"Cel","v":27.2},
                {"n":"humidity","u":"%RH","v":80},
                {"bn":"2001:db8::1/","n":"temperature","u":"Cel","t":-10,"v":26.5}]"#,
        )
        .unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].timestamp_ns, 1_320_078_419 * S);
        assert_eq!(points[0].fields, vec![("temperature".into(), float(26.5))]);
        assert_eq!(points[1].timestamp_ns, 1_320_078_429 * S);
        assert_eq!(points[1].fields, vec![("temperature".into(), float(27.2)), ("humidity".into(), float(80.0))]);
    }

    #[test]
    fn same_name_twice_at_one_time_is_an_error_rfc8428_5_1_4() {
        // The RFC's "multiple measurements" pack tells lon/lat apart only by unit; with one
        // name per record they would overwrite each other.
        let reason = invalid_reason(
            r#"[{"bn":"urn:dev:ow:10e2073a01080063","bt":1.320067464e+09,"bu":"%RH","v":20},
                {"u":"lon","v":24.30621},{"u":"lat","v":60.07965}]"#,
        );
        assert_eq!(
            reason,
            "records 1 and 2 both give 10e2073a01080063 at the same time; give each record its own name (n)"
        );
    }

    #[test]
    fn base_value_and_base_sum_are_added() {
        let points = decode_str(
            r#"[{"bv":100,"bs":5000,"n":"a","v":1.5,"s":20},{"n":"b","v":-2},{"bv":0,"n":"c","v":3},{"n":"d","s":1}]"#,
        )
        .unwrap();
        assert_eq!(
            points[0].fields,
            vec![
                ("a".into(), float(101.5)),
                ("a_sum".into(), float(5020.0)),
                ("b".into(), float(98.0)),
                ("c".into(), float(3.0)),
                ("d_sum".into(), float(5001.0)),
            ]
        );
    }

    #[test]
    fn relative_times_count_from_receive_time_and_points_are_time_ordered() {
        let points =
            decode_str(r#"[{"n":"x","t":-60,"v":1},{"n":"x","t":-120,"v":2},{"n":"y","t":-60,"v":3}]"#).unwrap();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].timestamp_ns, NOW - 120 * S);
        assert_eq!(points[0].fields, vec![("x".into(), float(2.0))]);
        assert_eq!(points[1].timestamp_ns, NOW - 60 * S);
        assert_eq!(points[1].fields, vec![("x".into(), float(1.0)), ("y".into(), float(3.0))]);
        // A small positive base time is relative too (the device has no clock).
        let points = decode_str(r#"[{"bt":10,"n":"x","t":0.5,"v":1}]"#).unwrap();
        assert_eq!(points[0].timestamp_ns, NOW + 10_500_000_000);
    }

    #[test]
    fn name_from_base_name_strips_separators() {
        assert_eq!(name_from_base("urn:dev:ow:10e2073a01080063:"), "10e2073a01080063");
        assert_eq!(name_from_base("http://[2001:db8::2]/soil_temp_c"), "soil_temp_c");
        assert_eq!(name_from_base("air_temp_c"), "air_temp_c");
        assert_eq!(name_from_base("/"), "");
    }

    #[test]
    fn bad_records_are_explained() {
        assert!(invalid_reason(r#"[{"n":"x"}]"#).contains("record 1: x has no value"));
        assert!(
            invalid_reason(r#"[{"n":"x","v":1},{"n":"y","v":1,"vs":"a"}]"#)
                .contains("record 2: more than one of v, vs")
        );
        assert!(invalid_reason(r#"[{"v":1}]"#).contains("record 1: no name"));
        assert!(invalid_reason(r#"[{"n":"x","v":1,"foo_":2}]"#).contains("\"foo_\" must be understood"));
        assert!(invalid_reason(r#"[{"n":"x","v":1e308,"bv":1e308}]"#).contains("overflows"));
        assert!(invalid_reason(r#"[{"n":"x","v":1,"t":1e12}]"#).contains("outside the supported range"));
        assert!(invalid_reason(r#"[{"n":"a\tb","v":1}]"#).contains("control character"));
        assert!(invalid_reason(r#"{"n":"x","v":1}"#).contains("array of records"));
        assert!(invalid_reason("[]").contains("empty"));
        // Wrong types are reported with serde's description.
        assert!(invalid_reason(r#"[{"n":"x","v":"1"}]"#).contains("invalid type"));
        assert!(matches!(decode_str("[{"), Err(DecodeError::Json(_))));
        assert_eq!(decode(SOURCE, b"[\xfe]", NOW), Err(DecodeError::NotUtf8));
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let (open, close) = ("[".repeat(100_000), "]".repeat(100_000));
        // An unknown label is skipped, however deep.
        let points = decode_str(&format!(r#"[{{"n":"x","v":1,"l":{open}{close}}}]"#)).unwrap();
        assert_eq!(points[0].fields, vec![("x".into(), float(1.0))]);
        assert!(decode_str(&format!(r#"[{{"n":"x","v":{open}{close}}}]"#)).is_err());
        assert!(decode_str(&format!("{open}{close}")).is_err());
    }

    #[test]
    fn unknown_labels_without_underscore_and_nulls_are_ignored() {
        let points = decode_str(r#"[{"n":"x","v":1,"l":"link","ut":60,"u":null,"vs":null}]"#).unwrap();
        assert_eq!(points[0].fields, vec![("x".into(), float(1.0))]);
    }

    proptest! {
        #![proptest_config(crate::decode::proptest_config(2000))]

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(SOURCE, &bytes, NOW);
        }

        #[test]
        fn never_panics_on_json_like_text(text in r#"[\[\]{}":, 0-9bnvstu.eE+\-\\_]{0,80}"#) {
            let _ = decode_str(&text);
        }

        #[test]
        fn never_panics_on_record_shaped_json(
            records in proptest::collection::vec(
                (proptest::option::of("[a-z:/]{0,6}"), proptest::option::of(any::<f64>()),
                 proptest::option::of("[a-z]{0,3}"), proptest::option::of(any::<f64>()),
                 proptest::option::of(any::<f64>()), proptest::option::of(any::<bool>())),
                0..6),
        ) {
            let json: Vec<String> = records.iter().map(|(bn, bt, n, t, v, vb)| {
                let mut members = Vec::new();
                if let Some(bn) = bn { members.push(format!(r#""bn":"{bn}""#)); }
                if let Some(bt) = bt { members.push(format!(r#""bt":{bt:e}"#)); }
                if let Some(n) = n { members.push(format!(r#""n":"{n}""#)); }
                if let Some(t) = t { members.push(format!(r#""t":{t:e}"#)); }
                if let Some(v) = v { members.push(format!(r#""v":{v:e}"#)); }
                if let Some(vb) = vb { members.push(format!(r#""vb":{vb}"#)); }
                format!("{{{}}}", members.join(","))
            }).collect();
            let payload = format!("[{}]", json.join(","));
            if let Ok(points) = decode_str(&payload) {
                prop_assert!(points.windows(2).all(|w| w[0].timestamp_ns < w[1].timestamp_ns));
                prop_assert!(points.iter().all(|p| !p.fields.is_empty()));
            }
        }
    }
}
