//! What an operator reads: how urgent each detector kind's events are, and the sentence that
//! says what happened, in the field's units, with the evidence.

use fieldline_analytics::anomaly::peer::PeerMode;
use std::collections::BTreeMap;

use fieldline_analytics::anomaly::{Event, EventKind};
use serde::{Deserialize, Serialize};

use super::Origin;

/// How urgent an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub(super) fn parse(s: &str) -> Self {
        match s {
            "critical" => Severity::Critical,
            "info" => Severity::Info,
            _ => Severity::Warning,
        }
    }

    /// Crop and production losses are critical; sensor trouble is a warning.
    pub fn of(kind: EventKind, score: f64) -> Self {
        match kind {
            EventKind::Frost => Severity::Critical,
            EventKind::PowerCurve | EventKind::PvPeer | EventKind::PvPerformance | EventKind::PestOutbreak
                if score >= 0.9 =>
            {
                Severity::Critical
            }
            EventKind::Spike => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

/// A sentence an operator understands (English: webhooks, MQTT, logs). The dashboard renders
/// the same sentence in the reader's language from [`message_key`] and [`message_params`].
pub(super) fn describe(origin: &Origin<'_>, event: &Event) -> String {
    let params = message_params(
        event.kind.name(),
        origin.site,
        origin.device,
        &event.field,
        event.peak.value,
        event.peak.expected,
    );
    english(event.kind.name(), &params)
}

/// The translation key of an alert kind's sentence: `alert.msg.{kind}`.
pub fn message_key(kind: &str) -> String {
    format!("alert.msg.{kind}")
}

/// The sentence's parameters, formatted in the field's units: `who` (site/device), `field`,
/// `value`, `expected` (durations for gaps, percentages against the group for ratio peers).
pub fn message_params(
    kind: &str,
    site: &str,
    device: &str,
    field: &str,
    value: Option<f64>,
    expected: Option<f64>,
) -> BTreeMap<&'static str, String> {
    let num = |x: Option<f64>| x.map_or_else(|| "?".to_string(), |x| format!("{x:.1}"));
    let (value, expected) = match kind {
        "gap" => (duration(value), duration(expected)),
        "peer_drift" => {
            // The evidence is the difference from the group (a log ratio for irradiance).
            let ratio = crate::detectors::peer_groups()
                .iter()
                .any(|g| g.mode == PeerMode::Ratio && g.members.iter().any(|m| m.1 == field));
            let show = |x: Option<f64>| match x {
                Some(x) if ratio => format!("{:+.0} %", (x.exp() - 1.0) * 100.0),
                Some(x) => format!("{x:+.1}"),
                None => "?".to_string(),
            };
            (show(value), show(expected))
        }
        _ => (num(value), num(expected)),
    };
    BTreeMap::from([
        ("who", format!("{site}/{device}")),
        ("field", field.to_string()),
        ("value", value),
        ("expected", expected),
    ])
}

/// The Chinese sentence of `kind` for the robots (WeCom, DingTalk, Feishu): the dashboard's
/// `alert.msg.*` text in `dashboards/web/i18n.js`, kept equal by a test.
pub fn chinese(kind: &str, who: &str, field: &str, value: &str, expected: &str) -> String {
    chinese_template(kind)
        .replace("{who}", who)
        .replace("{field}", field)
        .replace("{value}", value)
        .replace("{expected}", expected)
}

fn chinese_template(kind: &str) -> &'static str {
    match kind {
        "out_of_range" => "{who}：{field} = {value}，超出物理量程",
        "stuck" => "{who}：{field} 长时间停在 {value}（传感器故障？）",
        "spike" => "{who}：{field} 突变到 {value}（预期约 {expected}）",
        "gap" => "{who}：已 {value} 没有数据（静默 {expected} 后告警）",
        "level_shift" => "{who}：{field} 从通常的 {expected} 偏移到 {value}",
        "unusual" => "{who}：{field} = {value}，对此时段不寻常（通常 {expected}）",
        "peer_drift" => "{who}：{field} 偏离邻近设备：相差 {value}，通常 {expected}",
        "relation" => "{who}：{field} 与设备其他读数不再相符（{value} 对 {expected}）",
        "power_curve" => "{who}：出力 {value} kW，低于功率曲线（应为 {expected} kW）：变桨故障或覆冰？",
        "pv_performance" => "{who}：性能比 {value}，低于通常的 {expected}",
        "pv_peer" => "{who}：{value} kW，而同类逆变器为 {expected} kW（停机或组串故障？）",
        "pest_outbreak" => "{who}：日诱虫量 {value}，基线 {expected}：虫口激增",
        "frost" => "{who}：霜冻风险，气温 {value} °C，正处于怕冻的生育期",
        "drought" => "{who}：土壤含水量 {value} %，低于灌溉起始点 {expected} %",
        _ => "{who}：{field} = {value}（预期 {expected}）",
    }
}

/// The English sentence of `kind` with `params` filled in.
fn english(kind: &str, p: &BTreeMap<&'static str, String>) -> String {
    let get = |k: &str| p.get(k).map_or("?", String::as_str);
    let (who, f, v, e) = (get("who"), get("field"), get("value"), get("expected"));
    match kind {
        "out_of_range" => format!("{who}: {f} = {v} is outside its physical range"),
        "stuck" => format!("{who}: {f} has been stuck at {v} (sensor fault?)"),
        "spike" => format!("{who}: {f} spiked to {v} (expected about {e})"),
        "gap" => format!("{who}: no readings for {v} (alert after {e} of silence)"),
        "level_shift" => format!("{who}: {f} shifted to {v} from a usual {e}"),
        "unusual" => format!("{who}: {f} = {v} is unusual for this time of day (usually {e})"),
        "peer_drift" => format!("{who}: {f} drifting away from its neighbours: {v} against them, usually {e}"),
        "relation" => format!("{who}: {f} no longer matches the device's other readings ({v} vs {e})"),
        "power_curve" => {
            format!("{who}: producing {v} kW, below its power curve ({e} kW expected): pitch fault, icing?")
        }
        "pv_performance" => format!("{who}: performance ratio {v} below its usual {e}"),
        "pv_peer" => format!("{who}: {v} kW while its peers make {e} kW (outage, string fault?)"),
        "pest_outbreak" => format!("{who}: daily catch {v} over a baseline of {e}: pest surge"),
        "frost" => format!("{who}: frost risk, air {v} °C during a frost-sensitive stage"),
        "drought" => format!("{who}: soil moisture {v} % below the refill point {e} %"),
        other => format!("{who}: {other} on {f} ({v}, expected {e})"),
    }
}

/// Seconds as `45 min` or `3.5 h`.
fn duration(seconds: Option<f64>) -> String {
    match seconds {
        Some(s) if s >= 5400.0 => format!("{:.1} h", s / 3600.0),
        Some(s) => format!("{:.0} min", s / 60.0),
        None => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dashboard translates every alert sentence and kind, in both languages, and every
    /// dead-letter category the server can name.
    #[test]
    fn every_message_key_has_chinese_and_english_text_in_the_dashboard() {
        let i18n = include_str!("../../dashboards/web/i18n.js");
        let (zh, en) = i18n.split_once("\n  en: {").expect("zh block, then en block");
        for kind in EventKind::ALL {
            for key in [message_key(kind.name()), format!("alert.kind.{}", kind.name())] {
                assert!(zh.contains(&format!("\"{key}\":")), "no Chinese text for {key}");
                assert!(en.contains(&format!("\"{key}\":")), "no English text for {key}");
            }
        }
        for key in ["dl.decode", "dl.reserved", "dl.future", "dl.too_old", "dl.range", "dl.unknown", "dl.type"]
            .into_iter()
            .chain(["dl.limit", "dl.name", "dl.topic", "dl.other"])
        {
            assert!(zh.contains(&format!("\"{key}\":")) && en.contains(&format!("\"{key}\":")), "{key}");
        }
    }

    /// The robots' Chinese is the dashboard's Chinese, word for word.
    #[test]
    fn chinese_sentences_match_the_dashboard() {
        let i18n = include_str!("../../dashboards/web/i18n.js");
        let (zh, _) = i18n.split_once("\n  en: {").expect("zh block, then en block");
        for kind in EventKind::ALL {
            let key = format!("\"{}\": \"", message_key(kind.name()));
            let start = zh.find(&key).map(|i| i + key.len()).unwrap_or_else(|| panic!("{key} not in i18n.js"));
            let end = zh[start..].find('"').map(|i| start + i).unwrap_or(start);
            assert_eq!(chinese_template(kind.name()), &zh[start..end], "{}", kind.name());
        }
    }

    #[test]
    fn parameters_carry_the_evidence_in_the_fields_units() {
        let p = message_params("gap", "s", "d", "", Some(7200.0), Some(1800.0));
        assert_eq!((p["who"].as_str(), p["value"].as_str(), p["expected"].as_str()), ("s/d", "2.0 h", "30 min"));
        let p = message_params("drought", "heze-peony", "plot1", "soil_vwc_pct", Some(14.26), Some(20.0));
        assert_eq!(english("drought", &p), "heze-peony/plot1: soil moisture 14.3 % below the refill point 20.0 %");
    }
}
