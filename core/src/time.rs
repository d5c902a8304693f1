//! Time everywhere in fieldline: timestamps are `i64` nanoseconds since the Unix epoch (UTC),
//! as in line protocol. Here are the clock ([`now_ns`]), the unit constants, and the one parser
//! of what people type: RFC 3339 and dates, relative times (`-2h`, `now`), durations (`15m`,
//! `1h30m`, `7d`) and fixed UTC offsets (`+08:00`).

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

/// Nanoseconds in a second, minute, hour and day.
pub const NS_PER_SEC: i64 = 1_000_000_000;
pub const NS_PER_MINUTE: i64 = 60 * NS_PER_SEC;
pub const NS_PER_HOUR: i64 = 3_600 * NS_PER_SEC;
pub const NS_PER_DAY: i64 = 86_400 * NS_PER_SEC;
/// Seconds in an hour and a day (for code that counts in seconds).
pub const SECS_PER_HOUR: i64 = 3_600;
pub const SECS_PER_DAY: i64 = 86_400;

/// Current wall-clock time in nanoseconds since the Unix epoch.
pub fn now_ns() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(now.as_nanos()).unwrap_or(i64::MAX)
}

/// Why a time, duration or offset did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TimeError(pub String);

/// Parses a duration such as `15m`, `1h30m`, `90s`, `7d`, `2w`, `500ms` into nanoseconds.
pub fn parse_duration(s: &str) -> Result<i64, TimeError> {
    let err = || TimeError(format!("invalid duration {s:?}: use e.g. 15m, 1h, 1h30m, 7d"));
    let mut total: i64 = 0;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(err());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            "w" => 604_800_000_000_000,
            _ => return Err(err()),
        };
        rest = &rest[unit_len..];
        total = n.checked_mul(unit).and_then(|v| total.checked_add(v)).ok_or_else(err)?;
    }
    Ok(total)
}

/// Parses a UTC offset `+08:00`, `-03:30`, `Z` or `UTC`.
pub fn parse_offset(s: &str) -> Result<UtcOffset, TimeError> {
    let err = || TimeError(format!("invalid time zone offset {s:?}: use e.g. +08:00 or Z"));
    if s.eq_ignore_ascii_case("z") || s.eq_ignore_ascii_case("utc") {
        return Ok(UtcOffset::UTC);
    }
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1i8, &s[1..]),
        Some(b'-') => (-1i8, &s[1..]),
        _ => return Err(err()),
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i8 = h.parse().map_err(|_| err())?;
    let m: i8 = m.parse().map_err(|_| err())?;
    UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| err())
}

/// Parses a point in time: RFC 3339, a date `YYYY-MM-DD` (midnight at `offset`), `now`, or
/// a time relative to now (`-2h`, `+1d`). Returns ns since the epoch.
pub fn parse_time(s: &str, now_ns: i64, offset: UtcOffset) -> Result<i64, TimeError> {
    let s = s.trim();
    if s == "now" || s == "now()" {
        return Ok(now_ns);
    }
    if let Some(rel) = s.strip_prefix('-') {
        return Ok(now_ns.saturating_sub(parse_duration(rel)?));
    }
    if let Some(rel) = s.strip_prefix('+') {
        return Ok(now_ns.saturating_add(parse_duration(rel)?));
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos()).map_err(|_| TimeError(format!("time {s:?} out of range")));
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &date_format) {
        let t = d.midnight().assume_offset(offset);
        return i64::try_from(t.unix_timestamp_nanos()).map_err(|_| TimeError(format!("time {s:?} out of range")));
    }
    Err(TimeError(format!(
        "invalid time {s:?}: use RFC 3339 (2026-11-23T08:00:00+08:00), a date (2026-11-23), now, or -2h"
    )))
}

/// Formats ns since the epoch as RFC 3339 at `offset` (seconds precision unless the time
/// has a fraction).
pub fn format_time(ns: i64, offset: UtcOffset) -> String {
    match OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)) {
        Ok(t) => t.to_offset(offset).format(&Rfc3339).unwrap_or_else(|_| ns.to_string()),
        Err(_) => ns.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m").unwrap(), 900_000_000_000);
        assert_eq!(parse_duration("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse_duration("1d").unwrap(), 86_400_000_000_000);
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn times_and_offsets() {
        let cst = parse_offset("+08:00").unwrap();
        assert_eq!(cst.whole_hours(), 8);
        assert_eq!(parse_offset("-03:30").unwrap().whole_minutes(), -210);
        let t = parse_time("2026-11-23T08:00:00+08:00", 0, UtcOffset::UTC).unwrap();
        assert_eq!(format_time(t, UtcOffset::UTC), "2026-11-23T00:00:00Z");
        assert_eq!(format_time(t, cst), "2026-11-23T08:00:00+08:00");
        let local_midnight = parse_time("2026-11-23", 0, cst).unwrap();
        assert_eq!(format_time(local_midnight, UtcOffset::UTC), "2026-11-22T16:00:00Z");
        assert_eq!(parse_time("-1h", 3_600_000_000_000, UtcOffset::UTC).unwrap(), 0);
        assert!(parse_time("yesterday", 0, UtcOffset::UTC).is_err());
    }
}
