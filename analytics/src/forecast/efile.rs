//! E-language (Q/GDW 215-2008 style) forecast files for grid dispatch.
//!
//! A file is one `DQYC` (short-term, 短期预测) or `CDQYC` (ultra-short-term, 超短期预测) block:
//!
//! ```text
//! <!System=OMS Version=1.0 Code=UTF-8 Data=1.0!>
//! <DQYC::HZ_PV1 Date=2024-05-01 Time=08:00:00>
//! @id<TAB>time<TAB>p_fcst_mw<TAB>p10_mw<TAB>p90_mw
//! #1<TAB>2024-05-02_00:00:00<TAB>12.345<TAB>10.100<TAB>14.000
//! </DQYC::HZ_PV1>
//! ```
//!
//! (`<TAB>` is a tab character.) `Date`/`Time` are the local issue time; rows are
//! tab-separated, numbered from 1, with the local valid time (`_` joins date and clock so whitespace-splitting readers see one field),
//! the P50 forecast in MW with three decimals and, when every point has them, P10 and P90.
//! Files are named `{site}_{YYYYMMDD}_{HHMM}_DQ.txt` (short-term) or `..._CDQ.txt`
//! (ultra-short-term), from the local issue time. Site names are limited to ASCII letters,
//! digits, `_` and `-` so they are safe both inside the tag and in a file name.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{CivilDate, Error, Result, SECS_PER_DAY, local_second_of_day};

/// Which forecast a file carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Horizon {
    /// 0–4 h ahead, 16 × 15 min, block tag `CDQYC`.
    UltraShort,
    /// From next midnight, 288 × 15 min, block tag `DQYC`.
    ShortTerm,
}

impl Horizon {
    /// The name used in topics, tags and the API: `ultra_short` or `short_term`.
    pub fn as_str(self) -> &'static str {
        match self {
            Horizon::UltraShort => "ultra_short",
            Horizon::ShortTerm => "short_term",
        }
    }

    /// Parses [`Horizon::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ultra_short" => Some(Horizon::UltraShort),
            "short_term" => Some(Horizon::ShortTerm),
            _ => None,
        }
    }

    /// The E-language block tag.
    pub fn tag(self) -> &'static str {
        match self {
            Horizon::UltraShort => "CDQYC",
            Horizon::ShortTerm => "DQYC",
        }
    }

    fn file_suffix(self) -> &'static str {
        match self {
            Horizon::UltraShort => "CDQ",
            Horizon::ShortTerm => "DQ",
        }
    }
}

/// One forecast point, power in MW.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EPoint {
    /// Valid time, unix seconds.
    pub time: i64,
    /// Central (P50) forecast.
    pub p50_mw: f64,
    /// Lower 10 % quantile, if produced.
    pub p10_mw: Option<f64>,
    /// Upper 90 % quantile, if produced.
    pub p90_mw: Option<f64>,
}

/// How a provincial dispatch template wants the file: the encoding named in its header line
/// (the bytes are encoded by whoever writes the file) and the column headers' language.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// `Code=GBK` instead of `Code=UTF-8` in the header line.
    pub gbk: bool,
    /// Chinese column headers (`@序号 时刻 预测功率 ...`).
    pub chinese_headers: bool,
}

/// Renders the E-language text of one issued forecast (issue time `issued`, unix seconds;
/// local times at `utc_offset_seconds`).
pub fn render(site: &str, horizon: Horizon, issued: i64, utc_offset_seconds: i32, points: &[EPoint]) -> Result<String> {
    render_styled(site, horizon, issued, utc_offset_seconds, points, Style::default())
}

/// [`render`] in a template's [`Style`].
pub fn render_styled(
    site: &str,
    horizon: Horizon,
    issued: i64,
    utc_offset_seconds: i32,
    points: &[EPoint],
    style: Style,
) -> Result<String> {
    check_site(site)?;
    if points.is_empty() {
        return Err(Error::InvalidInput("an E file needs at least one forecast point".into()));
    }
    let with_quantiles = points.iter().all(|p| p.p10_mw.is_some() && p.p90_mw.is_some());
    let tag = horizon.tag();
    let mut out = String::with_capacity(64 + points.len() * 48);
    let code = if style.gbk { "GBK" } else { "UTF-8" };
    let _ = writeln!(out, "<!System=OMS Version=1.0 Code={code} Data=1.0!>");
    let _ = writeln!(
        out,
        "<{tag}::{site} Date={} Time={}>",
        CivilDate::of_unix(issued, utc_offset_seconds),
        clock(issued, utc_offset_seconds)
    );
    out.push_str(match (style.chinese_headers, with_quantiles) {
        (false, true) => "@id\ttime\tp_fcst_mw\tp10_mw\tp90_mw\n",
        (false, false) => "@id\ttime\tp_fcst_mw\n",
        (true, true) => "@序号\t时刻\t预测功率(MW)\tP10功率(MW)\tP90功率(MW)\n",
        (true, false) => "@序号\t时刻\t预测功率(MW)\n",
    });
    for (i, p) in points.iter().enumerate() {
        let values = [Some(p.p50_mw), p.p10_mw, p.p90_mw];
        if values.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::InvalidInput(format!("forecast point {} has a non-finite value", i + 1)));
        }
        let _ = write!(
            out,
            "#{}\t{}_{}\t{:.3}",
            i + 1,
            CivilDate::of_unix(p.time, utc_offset_seconds),
            clock(p.time, utc_offset_seconds),
            p.p50_mw
        );
        if let (true, Some(p10), Some(p90)) = (with_quantiles, p.p10_mw, p.p90_mw) {
            let _ = write!(out, "\t{p10:.3}\t{p90:.3}");
        }
        out.push('\n');
    }
    let _ = writeln!(out, "</{tag}::{site}>");
    Ok(out)
}

/// The file name for a forecast issued at `issued`: `{site}_{YYYYMMDD}_{HHMM}_DQ.txt` or
/// `{site}_{YYYYMMDD}_{HHMM}_CDQ.txt`, local issue time.
pub fn file_name(site: &str, horizon: Horizon, issued: i64, utc_offset_seconds: i32) -> Result<String> {
    check_site(site)?;
    let date = CivilDate::of_unix(issued, utc_offset_seconds);
    let second = local_second_of_day(issued, utc_offset_seconds);
    Ok(format!(
        "{site}_{:04}{:02}{:02}_{:02}{:02}_{}.txt",
        date.year,
        date.month,
        date.day,
        second / 3600,
        second % 3600 / 60,
        horizon.file_suffix()
    ))
}

fn clock(unix: i64, utc_offset_seconds: i32) -> String {
    let s = local_second_of_day(unix, utc_offset_seconds) % SECS_PER_DAY;
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

fn check_site(site: &str) -> Result<()> {
    if site.is_empty() || !site.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(Error::InvalidInput(format!(
            "site name {site:?} must be non-empty ASCII letters, digits, '_' or '-' to go into an E file"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-05-01T00:00:00Z = 08:00 in Shandong (UTC+8).
    const ISSUED: i64 = 1_714_521_600;
    const SHANDONG: i32 = 8 * 3600;

    #[test]
    fn short_term_golden_sample() {
        // Next local midnight is 2024-05-01T16:00:00Z.
        let midnight = ISSUED + 16 * 3600;
        let points = [
            EPoint { time: midnight, p50_mw: 0.0, p10_mw: Some(0.0), p90_mw: Some(0.5) },
            EPoint { time: midnight + 900, p50_mw: 12.3456, p10_mw: Some(10.1), p90_mw: Some(14.0) },
        ];
        let text = render("HZ_PV1", Horizon::ShortTerm, ISSUED, SHANDONG, &points).unwrap();
        let expected = "<!System=OMS Version=1.0 Code=UTF-8 Data=1.0!>\n\
                        <DQYC::HZ_PV1 Date=2024-05-01 Time=08:00:00>\n\
                        @id\ttime\tp_fcst_mw\tp10_mw\tp90_mw\n\
                        #1\t2024-05-02_00:00:00\t0.000\t0.000\t0.500\n\
                        #2\t2024-05-02_00:15:00\t12.346\t10.100\t14.000\n\
                        </DQYC::HZ_PV1>\n";
        assert_eq!(text, expected);
        assert_eq!(file_name("HZ_PV1", Horizon::ShortTerm, ISSUED, SHANDONG).unwrap(), "HZ_PV1_20240501_0800_DQ.txt");
    }

    #[test]
    fn ultra_short_golden_sample_without_quantiles() {
        let issued = ISSUED + 6 * 3600 + 45 * 60; // 14:45 local
        let points = [
            EPoint { time: issued + 900, p50_mw: 48.0, p10_mw: None, p90_mw: None },
            EPoint { time: issued + 1800, p50_mw: 47.5, p10_mw: Some(40.0), p90_mw: Some(50.0) },
        ];
        let text = render("WF-2", Horizon::UltraShort, issued, SHANDONG, &points).unwrap();
        let expected = "<!System=OMS Version=1.0 Code=UTF-8 Data=1.0!>\n\
                        <CDQYC::WF-2 Date=2024-05-01 Time=14:45:00>\n\
                        @id\ttime\tp_fcst_mw\n\
                        #1\t2024-05-01_15:00:00\t48.000\n\
                        #2\t2024-05-01_15:15:00\t47.500\n\
                        </CDQYC::WF-2>\n";
        assert_eq!(text, expected);
        assert_eq!(file_name("WF-2", Horizon::UltraShort, issued, SHANDONG).unwrap(), "WF-2_20240501_1445_CDQ.txt");
    }

    #[test]
    fn bad_sites_and_values_are_errors() {
        let point = EPoint { time: ISSUED, p50_mw: 1.0, p10_mw: None, p90_mw: None };
        assert!(render("bad site", Horizon::ShortTerm, ISSUED, 0, &[point]).is_err());
        assert!(render("x>y", Horizon::ShortTerm, ISSUED, 0, &[point]).is_err());
        assert!(file_name("", Horizon::ShortTerm, ISSUED, 0).is_err());
        assert!(render("ok", Horizon::ShortTerm, ISSUED, 0, &[]).is_err());
        let nan = EPoint { p50_mw: f64::NAN, ..point };
        assert!(render("ok", Horizon::ShortTerm, ISSUED, 0, &[nan]).is_err());
    }
}
