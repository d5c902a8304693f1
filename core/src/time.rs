//! Time everywhere in fieldline: timestamps are `i64` nanoseconds since the Unix epoch (UTC),
//! as in line protocol. Here are the clock ([`now_ns`]), the unit constants, and the one parser
//! of what people type: RFC 3339 and dates, relative times (`-2h`, `now`), durations (`15m`,
//! `1h30m`, `7d`) and fixed UTC offsets (`+08:00`); and the one parser of the times found in
//! data files ([`parse_data_time`]: CSV time columns, ground-truth records, `issued` tags).

use std::sync::atomic::{AtomicI64, Ordering};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

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
    i64::try_from(now.as_nanos()).unwrap_or(i64::MAX).saturating_add(CLOCK_OFFSET_NS.load(Ordering::Relaxed))
}

/// What [`now_ns`] adds to the system clock; 0 unless [`set_clock_offset_ns`] was called.
static CLOCK_OFFSET_NS: AtomicI64 = AtomicI64::new(0);

/// Moves this process's "now" by `offset_ns` from the system clock: `fieldline demo --start`
/// replays a past season as if it were happening, so ingest's future check, the jobs' clocks
/// and the views' "today" all agree with the simulated readings. Everything that asks the time
/// asks [`now_ns`]; set it before anything runs.
pub fn set_clock_offset_ns(offset_ns: i64) {
    CLOCK_OFFSET_NS.store(offset_ns, Ordering::Relaxed);
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

/// Parses a calendar date `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Result<time::Date, TimeError> {
    time::Date::parse(s.trim(), format_description!("[year]-[month]-[day]"))
        .map_err(|_| TimeError(format!("{s:?} is not a date (YYYY-MM-DD)")))
}

/// The calendar date at `offset` of an instant (ns since the epoch; out of range: 1970-01-01).
pub fn local_date(ns: i64, offset: UtcOffset) -> time::Date {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset)
        .date()
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
    if let Ok(d) = parse_date(s) {
        let t = d.midnight().assume_offset(offset);
        return i64::try_from(t.unix_timestamp_nanos()).map_err(|_| TimeError(format!("time {s:?} out of range")));
    }
    Err(TimeError(format!(
        "invalid time {s:?}: use RFC 3339 (2026-11-23T08:00:00+08:00), a date (2026-11-23), now, or -2h"
    )))
}

/// How [`parse_data_time`] reads a bare number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochNumbers {
    /// Unix seconds whatever the size (an integer exactly, a fraction rounded down): for
    /// values fieldline itself writes as seconds, such as an NWP run's `issued` tag.
    Seconds,
    /// Unix seconds, or milli-, micro- or nanoseconds recognized by size (|n| ≥ 1e11 is
    /// milliseconds, ≥ 1e14 microseconds, ≥ 1e17 nanoseconds): for foreign files, where the
    /// unit is not known. Read as `f64`, so the result is exact to the second up to ~2^53.
    BySize,
}

/// Parses a time found in a data file — a CSV time column, a ground-truth record, a tag — to
/// unix seconds, rounded down. Accepts, around optional whitespace:
///
/// - RFC 3339: `2026-04-10T06:00:00+08:00`, `2026-04-10T06:00:00.5Z`;
/// - a naive date and time, `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DDTHH:MM[:SS]`, optionally
///   with a fraction of a second (dropped), read at `naive_offset`;
/// - a date `YYYY-MM-DD`: its midnight at `naive_offset`;
/// - a number: epoch time, read as `numbers` says (`NaN` and infinities are refused).
///
/// Anything else is `None` (no error text: this runs once per row, and the caller knows the
/// file and line to report).
pub fn parse_data_time(text: &str, naive_offset: UtcOffset, numbers: EpochNumbers) -> Option<i64> {
    let t = text.trim();
    if let Ok(dt) = OffsetDateTime::parse(t, &Rfc3339) {
        return Some(dt.unix_timestamp());
    }
    if numbers == EpochNumbers::Seconds
        && let Ok(seconds) = t.parse::<i64>()
    {
        return Some(seconds);
    }
    if let Ok(number) = t.parse::<f64>() {
        if !number.is_finite() {
            return None;
        }
        let magnitude = number.abs();
        let seconds = match numbers {
            EpochNumbers::Seconds => number,
            EpochNumbers::BySize if magnitude >= 1e17 => number / 1e9,
            EpochNumbers::BySize if magnitude >= 1e14 => number / 1e6,
            EpochNumbers::BySize if magnitude >= 1e11 => number / 1e3,
            EpochNumbers::BySize => number,
        };
        return Some(seconds.floor() as i64);
    }
    // A fraction of a second is dropped (the result is whole seconds).
    let main = match t.split_once('.') {
        Some((main, fraction)) if fraction.bytes().all(|b| b.is_ascii_digit()) => main,
        _ => t,
    };
    let naive = PrimitiveDateTime::parse(main, format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
        .or_else(|_| {
            PrimitiveDateTime::parse(main, format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]"))
        })
        .or_else(|_| PrimitiveDateTime::parse(main, format_description!("[year]-[month]-[day] [hour]:[minute]")))
        .or_else(|_| PrimitiveDateTime::parse(main, format_description!("[year]-[month]-[day]T[hour]:[minute]")))
        .or_else(|_| time::Date::parse(main, format_description!("[year]-[month]-[day]")).map(|d| d.midnight()))
        .ok()?;
    Some(naive.assume_offset(naive_offset).unix_timestamp())
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

    #[test]
    fn data_times_in_every_accepted_form() {
        let t = 1_396_310_400; // 2014-04-01T00:00:00Z
        let utc = UtcOffset::UTC;
        for text in [
            "2014-04-01 00:00:00",
            "2014-04-01T00:00:00",
            "2014-04-01 00:00",
            "2014-04-01T00:00",
            "2014-04-01T08:00:00+08:00",
            "2014-04-01T00:00:00Z",
            "2014-04-01T00:00:00.999Z",
            "2014-04-01 00:00:00.750",
            " 2014-04-01 ",
            "2014-04-01",
            "1396310400",
            "1396310400.5",
            "1396310400000",
            "1396310400000000",
            "1396310400000000000",
        ] {
            assert_eq!(parse_data_time(text, utc, EpochNumbers::BySize), Some(t), "{text}");
        }
        for bad in ["yesterday", "NaN", "inf", "", "2014-04-01 25:00:00", "2014-04-01T00:00:00+8"] {
            assert_eq!(parse_data_time(bad, utc, EpochNumbers::BySize), None, "{bad}");
        }
        // Naive times and dates are read at the given offset; times with an offset keep theirs.
        let plus8 = UtcOffset::from_hms(8, 0, 0).unwrap();
        assert_eq!(parse_data_time("2014-04-01 08:00:00", plus8, EpochNumbers::BySize), Some(t));
        assert_eq!(parse_data_time("2014-04-02", plus8, EpochNumbers::BySize), Some(t + 16 * 3600));
        assert_eq!(parse_data_time("2014-04-01T00:00:00Z", plus8, EpochNumbers::BySize), Some(t));
        // Rounded down, before 1970 too.
        assert_eq!(parse_data_time("-1.5", utc, EpochNumbers::BySize), Some(-2));
        assert_eq!(parse_data_time("1969-12-31T23:59:59.5Z", utc, EpochNumbers::BySize), Some(-1));
    }

    #[test]
    fn numbers_are_seconds_or_recognized_by_size() {
        let utc = UtcOffset::UTC;
        // Seconds: exactly, whatever the size.
        assert_eq!(parse_data_time("100000000000", utc, EpochNumbers::Seconds), Some(100_000_000_000));
        assert_eq!(parse_data_time("9007199254740993", utc, EpochNumbers::Seconds), Some(9_007_199_254_740_993));
        assert_eq!(parse_data_time("-5", utc, EpochNumbers::Seconds), Some(-5));
        assert_eq!(parse_data_time("1775772000.9", utc, EpochNumbers::Seconds), Some(1_775_772_000));
        // By size: the same text is milliseconds.
        assert_eq!(parse_data_time("100000000000", utc, EpochNumbers::BySize), Some(100_000_000));
        assert_eq!(parse_data_time("99999999999", utc, EpochNumbers::BySize), Some(99_999_999_999));
        assert_eq!(parse_data_time("-1396310400000", utc, EpochNumbers::BySize), Some(-1_396_310_400));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Years 1..=9999 (what RFC 3339 and the naive forms can write), a day inside them so
        /// that any offset stays inside too.
        const FIRST: i64 = -62_135_596_800 + 86_400;
        const LAST: i64 = 253_402_300_799 - 86_400;

        fn offset() -> impl Strategy<Value = UtcOffset> {
            (-23i8..=23, 0i8..=59).prop_map(|(h, m)| UtcOffset::from_hms(h, if h < 0 { -m } else { m }, 0).unwrap())
        }

        fn numbers() -> impl Strategy<Value = EpochNumbers> {
            prop_oneof![Just(EpochNumbers::Seconds), Just(EpochNumbers::BySize)]
        }

        proptest! {
            /// Untrusted input (any file's time column, any tag): a time or `None`, never a panic.
            #[test]
            fn any_text_is_a_time_or_none(text in "\\PC{0,40}", numbers in numbers()) {
                let _ = parse_data_time(&text, UtcOffset::UTC, numbers);
            }

            #[test]
            fn time_like_text_is_a_time_or_none(text in "[0-9 .:TZe+-]{0,32}", numbers in numbers()) {
                let _ = parse_data_time(&text, UtcOffset::UTC, numbers);
            }

            #[test]
            fn written_times_read_back(
                secs in FIRST..LAST,
                nanos in 0u32..1_000_000_000,
                local in offset(),
                naive_offset in offset(),
                numbers in numbers(),
            ) {
                let t = OffsetDateTime::from_unix_timestamp(secs).unwrap().replace_nanosecond(nanos).unwrap();
                let rfc3339 = t.to_offset(local).format(&Rfc3339).unwrap();
                prop_assert_eq!(parse_data_time(&rfc3339, naive_offset, numbers), Some(secs));
                let naive = t.to_offset(naive_offset);
                let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]");
                let text = naive.format(format).unwrap();
                prop_assert_eq!(parse_data_time(&text, naive_offset, numbers), Some(secs));
                prop_assert_eq!(parse_data_time(&text.replace(' ', "T"), naive_offset, numbers), Some(secs));
            }

            #[test]
            fn epoch_numbers_read_back(
                secs in -99_999_999_999i64..100_000_000_000,
                ms in 100_000_000_000i64..100_000_000_000_000,
                any in any::<i64>(),
            ) {
                prop_assert_eq!(parse_data_time(&secs.to_string(), UtcOffset::UTC, EpochNumbers::BySize), Some(secs));
                prop_assert_eq!(parse_data_time(&ms.to_string(), UtcOffset::UTC, EpochNumbers::BySize), Some(ms.div_euclid(1000)));
                prop_assert_eq!(parse_data_time(&(-ms).to_string(), UtcOffset::UTC, EpochNumbers::BySize), Some((-ms).div_euclid(1000)));
                prop_assert_eq!(parse_data_time(&any.to_string(), UtcOffset::UTC, EpochNumbers::Seconds), Some(any));
            }
        }
    }
}
