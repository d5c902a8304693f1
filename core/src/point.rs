//! The data model every part of fieldline shares: a [`Point`] is
//! `(measurement, tags, fields, timestamp_ns)`, InfluxDB's model, so line protocol maps to
//! it one to one. A *series* is measurement + tag set + one field.

use std::fmt;

/// One field value. Line protocol's five types; JSON numbers become `Float` unless they
/// carry an explicit integer suffix in line protocol.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FieldValue {
    Float(f64),
    Int(i64),
    UInt(u64),
    Bool(bool),
    Str(String),
}

impl FieldValue {
    /// The value as a float where that is meaningful (bools as 0/1); `None` for strings.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            FieldValue::Float(v) => Some(*v),
            FieldValue::Int(v) => Some(*v as f64),
            FieldValue::UInt(v) => Some(*v as f64),
            FieldValue::Bool(v) => Some(if *v { 1.0 } else { 0.0 }),
            FieldValue::Str(_) => None,
        }
    }

    /// Short type name used in error messages and the series listing.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Float(_) => "float",
            FieldValue::Int(_) => "integer",
            FieldValue::UInt(_) => "unsigned",
            FieldValue::Bool(_) => "boolean",
            FieldValue::Str(_) => "string",
        }
    }
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Float(v) => write!(f, "{v}"),
            FieldValue::Int(v) => write!(f, "{v}"),
            FieldValue::UInt(v) => write!(f, "{v}"),
            FieldValue::Bool(v) => write!(f, "{v}"),
            FieldValue::Str(v) => f.write_str(v),
        }
    }
}

/// A set of readings of one thing at one instant.
///
/// `tags` are kept sorted by key with unique keys (see [`Point::new`]), so two points of the
/// same series always have equal tag vectors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    pub measurement: String,
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, FieldValue)>,
    pub timestamp_ns: i64,
}

impl Point {
    /// Builds a point, sorting tags by key (the last value wins for a repeated key) and
    /// keeping the last value of a repeated field name.
    pub fn new(
        measurement: impl Into<String>,
        mut tags: Vec<(String, String)>,
        fields: Vec<(String, FieldValue)>,
        timestamp_ns: i64,
    ) -> Self {
        // Stable sort keeps input order among equal keys; keep the last of each run.
        tags.sort_by(|a, b| a.0.cmp(&b.0));
        let mut deduped: Vec<(String, String)> = Vec::with_capacity(tags.len());
        for (k, v) in tags {
            match deduped.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => deduped.push((k, v)),
            }
        }
        Point { measurement: measurement.into(), tags: deduped, fields: dedup_fields(fields), timestamp_ns }
    }

    /// Value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Value of field `name`, if present.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// Keeps the last value of each field name, in first-seen order. A linear scan for the usual
/// handful of fields; a hash index past that, so a reading with 80 000 fields costs
/// milliseconds, not the half a minute a quadratic scan took.
fn dedup_fields(fields: Vec<(String, FieldValue)>) -> Vec<(String, FieldValue)> {
    const LINEAR_UP_TO: usize = 16;
    let mut unique: Vec<(String, FieldValue)> = Vec::with_capacity(fields.len());
    if fields.len() <= LINEAR_UP_TO {
        for (k, v) in fields {
            match unique.iter_mut().find(|(name, _)| *name == k) {
                Some(existing) => existing.1 = v,
                None => unique.push((k, v)),
            }
        }
        return unique;
    }
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::with_capacity(fields.len());
    for (k, v) in fields {
        match index.get(&k) {
            Some(&i) => {
                if let Some(existing) = unique.get_mut(i) {
                    existing.1 = v;
                }
            }
            None => {
                index.insert(k.clone(), unique.len());
                unique.push((k, v));
            }
        }
    }
    unique
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_sorts_tags_and_keeps_last_duplicate() {
        let p = Point::new(
            "m",
            vec![("site".into(), "a".into()), ("device".into(), "d".into()), ("site".into(), "b".into())],
            vec![("x".into(), FieldValue::Float(1.0)), ("x".into(), FieldValue::Float(2.0))],
            5,
        );
        assert_eq!(p.tags, vec![("device".into(), "d".into()), ("site".into(), "b".into())]);
        assert_eq!(p.fields, vec![("x".into(), FieldValue::Float(2.0))]);
        assert_eq!(p.tag("site"), Some("b"));
    }

    #[test]
    fn many_fields_keep_first_seen_order_and_last_value() {
        let mut fields: Vec<(String, FieldValue)> =
            (0..1000).map(|i| (format!("f{i}"), FieldValue::Float(f64::from(i)))).collect();
        fields.push(("f3".into(), FieldValue::Float(-1.0)));
        let p = Point::new("m", vec![], fields, 0);
        assert_eq!(p.fields.len(), 1000);
        assert_eq!(p.fields[3], ("f3".into(), FieldValue::Float(-1.0)));
        assert_eq!(p.fields[999].0, "f999");
    }
}
