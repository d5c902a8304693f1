//! What an operator reads: how urgent each detector kind's events are, and the sentence that
//! says what happened, in the field's units, with the evidence.

use fieldline_analytics::anomaly::peer::PeerMode;
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

/// A sentence an operator understands.
pub(super) fn describe(origin: &Origin<'_>, event: &Event) -> String {
    let who = format!("{}/{}", origin.site, origin.device);
    let (v, e) = (event.peak.value, event.peak.expected);
    let num = |x: Option<f64>| x.map_or_else(|| "?".to_string(), |x| format!("{x:.1}"));
    let f = &event.field;
    match event.kind {
        EventKind::OutOfRange => format!("{who}: {f} = {} is outside its physical range", num(v)),
        EventKind::Stuck => format!("{who}: {f} has been stuck at {} (sensor fault?)", num(v)),
        EventKind::Spike => format!("{who}: {f} spiked to {} (expected about {})", num(v), num(e)),
        EventKind::Gap => {
            format!("{who}: no readings for {} (alert after {} of silence)", duration(v), duration(e))
        }
        EventKind::LevelShift => format!("{who}: {f} shifted to {} from a usual {}", num(v), num(e)),
        EventKind::Unusual => format!("{who}: {f} = {} is unusual for this time of day (usually {})", num(v), num(e)),
        EventKind::PeerDrift => {
            // The evidence is the difference from the group (a log ratio for irradiance).
            let ratio = crate::detectors::peer_groups()
                .iter()
                .any(|g| g.mode == PeerMode::Ratio && g.members.iter().any(|m| m.1 == f.as_str()));
            let show = |x: Option<f64>| match x {
                Some(x) if ratio => format!("{:+.0} %", (x.exp() - 1.0) * 100.0),
                Some(x) => format!("{x:+.1}"),
                None => "?".to_string(),
            };
            format!("{who}: {f} drifting away from its neighbours: {} against them, usually {}", show(v), show(e))
        }
        EventKind::Relation => {
            format!("{who}: {f} no longer matches the device's other readings ({} vs {})", num(v), num(e))
        }
        EventKind::PowerCurve => {
            format!(
                "{who}: producing {} kW, below its power curve ({} kW expected): pitch fault, icing?",
                num(v),
                num(e)
            )
        }
        EventKind::PvPerformance => format!("{who}: performance ratio {} below its usual {}", num(v), num(e)),
        EventKind::PvPeer => format!("{who}: {} kW while its peers make {} kW (outage, string fault?)", num(v), num(e)),
        EventKind::PestOutbreak => format!("{who}: daily catch {} over a baseline of {}: pest surge", num(v), num(e)),
        EventKind::Frost => format!("{who}: frost risk, air {} °C during a frost-sensitive stage", num(v)),
        EventKind::Drought => format!("{who}: soil moisture {} % below the refill point {} %", num(v), num(e)),
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
