//! Matching detections to the ground truth, and the report: which fault kinds each detector
//! stands for and which fields its events are computed from; recall, precision and delay per
//! fault kind, precision per detector, false alerts per device-week, and what was missed.

use std::path::Path;

use fieldline_analytics::anomaly::EventKind;
use fieldline_analytics::anomaly::peer::median_of;
use fieldline_core::time::format_time;
use serde::Serialize;

use super::evaluate::Detection;
use super::truth::TruthEvent;

/// Which fault kinds a detector's events stand for.
fn targets(kind: EventKind) -> &'static [&'static str] {
    match kind {
        EventKind::OutOfRange => &["spike"],
        EventKind::Stuck => &["stuck"],
        EventKind::Spike => &["spike"],
        EventKind::Gap => &["dropout"],
        EventKind::LevelShift | EventKind::Unusual | EventKind::PeerDrift | EventKind::Relation => &["drift"],
        EventKind::PowerCurve => &["pitch_fault", "icing", "turbine_outage"],
        EventKind::PvPerformance | EventKind::PvPeer => &["inverter_outage", "string_outage", "soiling"],
        EventKind::PestOutbreak => &["pest_outbreak"],
        EventKind::Frost => &["frost_night"],
        EventKind::Drought => &["drought"],
    }
}

/// How late a detector can see a condition by design: the daily PR and the daily catch are
/// judged when the day is complete. The match tolerance is at least this.
fn resolution_s(kind: EventKind) -> i64 {
    match kind {
        EventKind::PvPerformance | EventKind::PestOutbreak => 86_400,
        _ => 0,
    }
}

/// Operational events the plant flags itself: not detected, not scored.
const NOT_SCORED: [&str; 1] = ["curtailment"];

/// The fields a detector's event on `field` is computed from: a turbine's power curve
/// from power, wind and temperature; PV from AC (and so DC) power; soil conductivity
/// against moisture from both.
fn inputs(kind: EventKind, field: &str) -> Vec<&str> {
    match kind {
        EventKind::PowerCurve => vec![field, "wind_speed_ms", "ambient_temp_c"],
        EventKind::PvPeer | EventKind::PvPerformance => vec![field, "ac_power_kw", "dc_power_kw"],
        EventKind::Relation if field == "soil_ec_ds_m" => vec![field, "soil_vwc_pct"],
        _ => vec![field],
    }
}

/// Whether a detection of `kind` on `field` concerns the ground-truth `truth_field`.
fn same_field(kind: EventKind, field: &str, truth_field: &str) -> bool {
    field == "*" || truth_field == "*" || inputs(kind, field).contains(&truth_field)
}

#[derive(Debug, Default, Clone, Serialize)]
struct KindScore {
    kind: String,
    events: usize,
    detected: usize,
    recall: Option<f64>,
    /// Detections matched to events of this kind.
    true_detections: usize,
    /// Unmatched detections of the detectors meant for this kind.
    false_detections: usize,
    precision: Option<f64>,
    median_delay_s: Option<f64>,
}

#[derive(Debug, Default, Clone, Serialize)]
struct DetectorScore {
    detector: String,
    detections: usize,
    matched: usize,
    precision: Option<f64>,
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    data: String,
    scored_from: String,
    scored_until: String,
    tolerance_s: i64,
    devices: usize,
    /// Ground-truth events on devices without data (NWP feeds), not scored.
    out_of_scope: usize,
    /// Events the data cannot show (a stuck value that never differed from the truth, a
    /// turbine fault in winds below production), not counted in recall.
    unobservable: usize,
    weeks: f64,
    false_alerts: usize,
    false_alerts_per_device_week: f64,
    kinds: Vec<KindScore>,
    detectors: Vec<DetectorScore>,
    missed: Vec<String>,
    detections: Vec<Detection>,
}

fn median(values: &mut [f64]) -> Option<f64> {
    median_of(values.iter().copied(), &mut Vec::new())
}

pub(super) struct Period {
    pub(super) from: i64,
    pub(super) until: i64,
    pub(super) tolerance_s: i64,
    /// The devices with data (`site/device`): ground truth elsewhere (NWP feeds) is out of
    /// scope.
    pub(super) devices: Vec<String>,
}

pub(super) fn score(dir: &Path, truth: Vec<TruthEvent>, detections: Vec<Detection>, period: Period) -> Report {
    let in_period = |start: i64| start >= period.from && start <= period.until;
    // Events of the warm-up still explain detections after it; only those starting in the
    // scored period count for recall.
    let (truth, out_of_scope): (Vec<TruthEvent>, Vec<TruthEvent>) = truth
        .into_iter()
        .filter(|e| !NOT_SCORED.contains(&e.kind.as_str()))
        .partition(|e| period.devices.contains(&e.device));
    let mut detections: Vec<Detection> = detections.into_iter().filter(|d| in_period(d.start_s)).collect();
    detections.sort_by(|a, b| (a.start_s, &a.device, a.kind).cmp(&(b.start_s, &b.device, b.kind)));

    let matches = |d: &Detection, e: &TruthEvent| {
        d.device == e.device
            && same_field(d.kind, &d.field, &e.field)
            && d.start_s <= e.end_s.saturating_add(period.tolerance_s.max(resolution_s(d.kind)))
            && d.end_s >= e.start_s
    };
    // First detection of each truth event (detections are in start order).
    let mut first_detection: Vec<Option<i64>> = vec![None; truth.len()];
    for d in &mut detections {
        // Prefer an event this detector is meant for, then any overlapping event.
        let meant = truth.iter().position(|e| matches(d, e) && targets(d.kind).contains(&e.kind.as_str()));
        let Some(i) = meant.or_else(|| truth.iter().position(|e| matches(d, e))) else { continue };
        let Some(e) = truth.get(i) else { continue };
        d.matched = Some(format!(
            "{} on {} from {}",
            e.kind,
            e.device,
            format_time(e.start_s * 1_000_000_000, time::UtcOffset::UTC)
        ));
        if let Some(slot) = first_detection.get_mut(i) {
            slot.get_or_insert(d.start_s);
        }
    }

    let mut kind_names: Vec<String> = truth.iter().map(|e| e.kind.clone()).collect();
    for d in &detections {
        kind_names.extend(targets(d.kind).iter().map(|k| k.to_string()));
    }
    kind_names.sort();
    kind_names.dedup();
    let matched_kind = |d: &Detection| -> Option<&str> {
        let meant = truth.iter().find(|e| matches(d, e) && targets(d.kind).contains(&e.kind.as_str()));
        meant.or_else(|| truth.iter().find(|e| matches(d, e))).map(|e| e.kind.as_str())
    };
    let mut kinds = Vec::new();
    for name in &kind_names {
        let indices: Vec<usize> = (0..truth.len())
            .filter(|&i| truth.get(i).is_some_and(|e| &e.kind == name && in_period(e.start_s) && e.observable))
            .collect();
        let detected: Vec<usize> =
            indices.iter().copied().filter(|&i| first_detection.get(i).is_some_and(Option::is_some)).collect();
        let mut delays: Vec<f64> = detected
            .iter()
            .filter_map(|&i| Some((first_detection.get(i).copied()?? - truth.get(i)?.start_s) as f64))
            .collect();
        let true_detections = detections.iter().filter(|d| matched_kind(d) == Some(name.as_str())).count();
        let false_detections =
            detections.iter().filter(|d| d.matched.is_none() && targets(d.kind).contains(&name.as_str())).count();
        let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        kinds.push(KindScore {
            kind: name.clone(),
            events: indices.len(),
            detected: detected.len(),
            recall: ratio(detected.len(), indices.len()),
            true_detections,
            false_detections,
            precision: ratio(true_detections, true_detections + false_detections),
            median_delay_s: median(&mut delays),
        });
    }
    let mut detectors = Vec::new();
    for kind in EventKind::ALL {
        let of_kind: Vec<&Detection> = detections.iter().filter(|d| d.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let matched = of_kind.iter().filter(|d| d.matched.is_some()).count();
        detectors.push(DetectorScore {
            detector: kind.name().to_string(),
            detections: of_kind.len(),
            matched,
            precision: Some(matched as f64 / of_kind.len() as f64),
        });
    }
    let unobservable = truth.iter().filter(|e| in_period(e.start_s) && !e.observable).count();
    let missed = (0..truth.len())
        .filter(|&i| first_detection.get(i).is_some_and(Option::is_none))
        .filter(|&i| truth.get(i).is_some_and(|e| in_period(e.start_s) && e.observable))
        .filter_map(|i| truth.get(i))
        .map(|e| {
            format!(
                "{} on {} {} from {} to {}",
                e.kind,
                e.device,
                e.field,
                format_time(e.start_s * 1_000_000_000, time::UtcOffset::UTC),
                format_time(e.end_s * 1_000_000_000, time::UtcOffset::UTC)
            )
        })
        .collect();
    let weeks = (period.until - period.from).max(0) as f64 / (7.0 * 86_400.0);
    let false_alerts = detections.iter().filter(|d| d.matched.is_none()).count();
    let devices = period.devices.len();
    Report {
        data: dir.display().to_string(),
        scored_from: format_time(period.from * 1_000_000_000, time::UtcOffset::UTC),
        scored_until: format_time(period.until * 1_000_000_000, time::UtcOffset::UTC),
        tolerance_s: period.tolerance_s,
        devices,
        out_of_scope: out_of_scope.iter().filter(|e| in_period(e.start_s)).count(),
        unobservable,
        weeks,
        false_alerts,
        false_alerts_per_device_week: if weeks > 0.0 && devices > 0 {
            false_alerts as f64 / devices as f64 / weeks
        } else {
            0.0
        },
        kinds,
        detectors,
        missed,
        detections,
    }
}

pub(super) fn print_report(r: &Report) {
    let num = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
    let hours = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |s| format!("{:.1} h", s / 3600.0));
    println!(
        "scored {} to {} ({:.1} weeks, {} devices); not scored: {} ground-truth events on devices without \
         data, {} the data cannot show",
        r.scored_from, r.scored_until, r.weeks, r.devices, r.out_of_scope, r.unobservable
    );
    println!();
    println!(
        "{:<16} {:>6} {:>8} {:>7} {:>9} {:>13}",
        "fault kind", "events", "detected", "recall", "precision", "median delay"
    );
    for k in &r.kinds {
        println!(
            "{:<16} {:>6} {:>8} {:>7} {:>9} {:>13}",
            k.kind,
            k.events,
            k.detected,
            num(k.recall),
            num(k.precision),
            hours(k.median_delay_s)
        );
    }
    println!();
    println!("{:<16} {:>10} {:>8} {:>9}", "detector", "detections", "matched", "precision");
    for d in &r.detectors {
        println!("{:<16} {:>10} {:>8} {:>9}", d.detector, d.detections, d.matched, num(d.precision));
    }
    println!();
    println!(
        "false alerts: {} ({:.3} per device per week, {:.2} per device per month)",
        r.false_alerts,
        r.false_alerts_per_device_week,
        r.false_alerts_per_device_week * 30.0 / 7.0
    );
    if !r.missed.is_empty() {
        println!();
        println!("missed:");
        for m in &r.missed {
            println!("  {m}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detections_match_the_fields_they_are_computed_from() {
        assert!(same_field(EventKind::Spike, "air_temp_c", "air_temp_c"));
        assert!(same_field(EventKind::Gap, "*", "soil_vwc_pct"));
        assert!(same_field(EventKind::PvPeer, "ac_power_kw", "dc_power_kw"));
        assert!(same_field(EventKind::PowerCurve, "power_kw", "wind_speed_ms"));
        assert!(!same_field(EventKind::Spike, "wind_speed_ms", "power_kw"));
    }
}
