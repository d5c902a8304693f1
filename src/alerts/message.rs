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
    sentence(event.kind.name(), Language::En, &params)
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

/// The language of a sentence: the dashboard's two.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    #[default]
    Zh,
    En,
}

/// The sentence of `kind` in `lang` with `params` (from [`message_params`]) filled in. The
/// templates are the dashboard's `alert.msg.*` texts in `dashboards/web/i18n.js`, kept equal by
/// a test, so webhooks, MQTT, robots and the dashboard say the same thing.
pub fn sentence(kind: &str, lang: Language, params: &BTreeMap<&'static str, String>) -> String {
    let get = |k: &str| params.get(k).map_or("?", String::as_str);
    template(kind, lang)
        .replace("{who}", get("who"))
        .replace("{field}", get("field"))
        .replace("{value}", get("value"))
        .replace("{expected}", get("expected"))
}

fn template(kind: &str, lang: Language) -> &'static str {
    match (kind, lang) {
        ("out_of_range", Language::Zh) => "{who}：{field} = {value}，超出物理量程",
        ("out_of_range", Language::En) => "{who}: {field} = {value} is outside its physical range",
        ("stuck", Language::Zh) => "{who}：{field} 长时间停在 {value}（传感器故障？）",
        ("stuck", Language::En) => "{who}: {field} has been stuck at {value} (sensor fault?)",
        ("spike", Language::Zh) => "{who}：{field} 突变到 {value}（预期约 {expected}）",
        ("spike", Language::En) => "{who}: {field} spiked to {value} (expected about {expected})",
        ("gap", Language::Zh) => "{who}：已 {value} 没有数据（静默 {expected} 后告警）",
        ("gap", Language::En) => "{who}: no readings for {value} (alert after {expected} of silence)",
        ("level_shift", Language::Zh) => "{who}：{field} 从通常的 {expected} 偏移到 {value}",
        ("level_shift", Language::En) => "{who}: {field} shifted to {value} from a usual {expected}",
        ("unusual", Language::Zh) => "{who}：{field} = {value}，对此时段不寻常（通常 {expected}）",
        ("unusual", Language::En) => "{who}: {field} = {value} is unusual for this time of day (usually {expected})",
        ("peer_drift", Language::Zh) => "{who}：{field} 偏离邻近设备：相差 {value}，通常 {expected}",
        ("peer_drift", Language::En) => {
            "{who}: {field} drifting away from its neighbours: {value} against them, usually {expected}"
        }
        ("relation", Language::Zh) => "{who}：{field} 与设备其他读数不再相符（{value} 对 {expected}）",
        ("relation", Language::En) => {
            "{who}: {field} no longer matches the device's other readings ({value} vs {expected})"
        }
        ("power_curve", Language::Zh) => "{who}：出力 {value} kW，低于功率曲线（应为 {expected} kW）：变桨故障或覆冰？",
        ("power_curve", Language::En) => {
            "{who}: producing {value} kW, below its power curve ({expected} kW expected): pitch fault, icing?"
        }
        ("pv_performance", Language::Zh) => "{who}：性能比 {value}，低于通常的 {expected}",
        ("pv_performance", Language::En) => "{who}: performance ratio {value} below its usual {expected}",
        ("pv_peer", Language::Zh) => "{who}：{value} kW，而同类逆变器为 {expected} kW（停机或组串故障？）",
        ("pv_peer", Language::En) => "{who}: {value} kW while its peers make {expected} kW (outage, string fault?)",
        ("pest_outbreak", Language::Zh) => "{who}：日诱虫量 {value}，基线 {expected}：虫口激增",
        ("pest_outbreak", Language::En) => "{who}: daily catch {value} over a baseline of {expected}: pest surge",
        ("frost", Language::Zh) => "{who}：霜冻风险，气温 {value} °C，正处于怕冻的生育期",
        ("frost", Language::En) => "{who}: frost risk, air {value} °C during a frost-sensitive stage",
        ("drought", Language::Zh) => "{who}：土壤含水量 {value} %，低于灌溉起始点 {expected} %",
        ("drought", Language::En) => "{who}: soil moisture {value} % below the refill point {expected} %",
        (_, Language::Zh) => "{who}：{field} = {value}（预期 {expected}）",
        (_, Language::En) => "{who}: {field} = {value} (expected {expected})",
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

    /// Webhooks, robots and the dashboard say the same thing, word for word, in both languages.
    #[test]
    fn sentences_match_the_dashboard_in_both_languages() {
        let i18n = include_str!("../../dashboards/web/i18n.js");
        let (zh, en) = i18n.split_once("\n  en: {").expect("zh block, then en block");
        for kind in EventKind::ALL {
            for (block, lang) in [(zh, Language::Zh), (en, Language::En)] {
                let key = format!("\"{}\": \"", message_key(kind.name()));
                let start = block.find(&key).map(|i| i + key.len()).unwrap_or_else(|| panic!("{key} not in i18n.js"));
                let end = block[start..].find('"').map(|i| start + i).unwrap_or(start);
                assert_eq!(template(kind.name(), lang), &block[start..end], "{} {lang:?}", kind.name());
            }
        }
    }

    #[test]
    fn parameters_carry_the_evidence_in_the_fields_units() {
        let p = message_params("gap", "s", "d", "", Some(7200.0), Some(1800.0));
        assert_eq!((p["who"].as_str(), p["value"].as_str(), p["expected"].as_str()), ("s/d", "2.0 h", "30 min"));
        let p = message_params("drought", "heze-peony", "plot1", "soil_vwc_pct", Some(14.26), Some(20.0));
        assert_eq!(
            sentence("drought", Language::En, &p),
            "heze-peony/plot1: soil moisture 14.3 % below the refill point 20.0 %"
        );
    }
}
