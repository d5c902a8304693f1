//! Events: how a stream of scores becomes one event per ongoing condition.
//!
//! An [`EventTracker`] watches one detector's scores. A condition becomes *pending* when the
//! score reaches [`Hysteresis::open`], and the event opens once the score has stayed at or
//! above [`Hysteresis::close`] for [`Hysteresis::min_duration_s`] (its start is when the
//! score first reached `open`). While open, every score at or above `close` extends it and
//! the highest score is kept with its evidence; it closes once the score has stayed below
//! `close` for [`Hysteresis::close_after_s`], ending at the last time the condition was seen.
//! The gap between `open` and `close` and the two durations are what keep events from
//! flapping. Trackers report [`EventChange::Opened`] and [`EventChange::Closed`]; the event in
//! between is available from [`EventTracker::ongoing`] with its latest `last_s` and peak.

use serde::{Deserialize, Serialize};

use super::{Result, require};

/// What condition an event reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A value outside the physical range, or not a finite number.
    OutOfRange,
    /// The value has not changed for far longer than this series ever stays unchanged.
    Stuck,
    /// One reading far from its immediate neighbours.
    Spike,
    /// The device has been silent for several of its usual reporting intervals.
    Gap,
    /// A sustained shift of the series against its learned baseline.
    LevelShift,
    /// A value far from what this series usually shows at this time of day.
    Unusual,
    /// A slow drift away from the median of the series' peers.
    PeerDrift,
    /// A field no longer follows its learned relation with another field of the device.
    Relation,
    /// A turbine producing less than its own power curve at the same wind.
    PowerCurve,
    /// A PV inverter's performance ratio below normal for the irradiance.
    PvPerformance,
    /// A PV inverter producing well below its peers at the same time.
    PvPeer,
    /// A pest trap's daily catch surging over its recent baseline.
    PestOutbreak,
    /// Frost (observed or forecast) during a frost-sensitive crop stage.
    Frost,
    /// Soil moisture below the refill point for too long.
    Drought,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 14] = [
        EventKind::OutOfRange,
        EventKind::Stuck,
        EventKind::Spike,
        EventKind::Gap,
        EventKind::LevelShift,
        EventKind::Unusual,
        EventKind::PeerDrift,
        EventKind::Relation,
        EventKind::PowerCurve,
        EventKind::PvPerformance,
        EventKind::PvPeer,
        EventKind::PestOutbreak,
        EventKind::Frost,
        EventKind::Drought,
    ];

    /// The snake_case name used in JSON, CSV and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::OutOfRange => "out_of_range",
            EventKind::Stuck => "stuck",
            EventKind::Spike => "spike",
            EventKind::Gap => "gap",
            EventKind::LevelShift => "level_shift",
            EventKind::Unusual => "unusual",
            EventKind::PeerDrift => "peer_drift",
            EventKind::Relation => "relation",
            EventKind::PowerCurve => "power_curve",
            EventKind::PvPerformance => "pv_performance",
            EventKind::PvPeer => "pv_peer",
            EventKind::PestOutbreak => "pest_outbreak",
            EventKind::Frost => "frost",
            EventKind::Drought => "drought",
        }
    }
}

/// What a detector saw at one reading: the value, what it expected, and the score.
/// `value` and `expected` are `None` when not a finite number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub time_s: i64,
    pub value: Option<f64>,
    pub expected: Option<f64>,
    pub score: f64,
}

impl Evidence {
    pub fn new(time_s: i64, value: f64, expected: f64, score: f64) -> Self {
        let finite = |x: f64| x.is_finite().then_some(x);
        Evidence { time_s, value: finite(value), expected: finite(expected), score }
    }
}

/// One condition on one series, from when it was first seen to when it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    /// The field (series) the event is about, as named when the detector was built.
    pub field: String,
    /// When the score first reached the open threshold (unix seconds).
    pub start_s: i64,
    /// The last time the condition was seen (score at or above the close threshold).
    pub last_s: i64,
    /// `None` while ongoing; then equal to `last_s`.
    pub end_s: Option<i64>,
    /// The reading with the highest score: its value, the expected value and the score.
    pub peak: Evidence,
}

impl Event {
    /// Whether the event is still ongoing.
    pub fn is_open(&self) -> bool {
        self.end_s.is_none()
    }
}

/// A change of an event's lifecycle, to be turned into an alert by the caller.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventChange {
    Opened(Event),
    Closed(Event),
}

impl EventChange {
    pub fn event(&self) -> &Event {
        match self {
            EventChange::Opened(e) | EventChange::Closed(e) => e,
        }
    }
}

/// Thresholds and durations that turn scores into events without flapping.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Hysteresis {
    /// Score at which a condition starts (0..=1).
    pub open: f64,
    /// Score below which it is over (0..=open).
    pub close: f64,
    /// How long the score must stay at or above `close` before the event opens (s).
    pub min_duration_s: i64,
    /// How long the score must stay below `close` before the event closes (s).
    pub close_after_s: i64,
}

impl Default for Hysteresis {
    fn default() -> Self {
        Hysteresis { open: 0.5, close: 0.25, min_duration_s: 0, close_after_s: 0 }
    }
}

impl Hysteresis {
    /// The defaults with the given durations.
    pub fn with_durations(min_duration_s: i64, close_after_s: i64) -> Self {
        Hysteresis { min_duration_s, close_after_s, ..Hysteresis::default() }
    }

    pub fn check(&self) -> Result<()> {
        require(self.open > 0.0 && self.open <= 1.0, || format!("hysteresis open {} must be in (0, 1]", self.open))?;
        require(self.close >= 0.0 && self.close <= self.open, || {
            format!("hysteresis close {} must be in [0, open = {}]", self.close, self.open)
        })?;
        require(self.min_duration_s >= 0 && self.close_after_s >= 0, || {
            "hysteresis durations must not be negative".to_string()
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Pending {
    since: i64,
    peak: Evidence,
}

/// Turns one detector's scores into events (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventTracker {
    kind: EventKind,
    field: String,
    hysteresis: Hysteresis,
    pending: Option<Pending>,
    open: Option<Event>,
    quiet_since: Option<i64>,
    changes: Vec<EventChange>,
}

impl EventTracker {
    pub fn new(kind: EventKind, field: impl Into<String>, hysteresis: Hysteresis) -> Self {
        EventTracker {
            kind,
            field: field.into(),
            hysteresis,
            pending: None,
            open: None,
            quiet_since: None,
            changes: Vec::new(),
        }
    }

    /// Feeds the score of one reading at `t` with its value and expected value.
    pub fn observe(&mut self, t: i64, score: f64, value: f64, expected: f64) {
        let h = self.hysteresis;
        if self.open.is_some() {
            self.observe_open(t, score, value, expected);
            return;
        }
        if score >= h.open {
            let pending = self
                .pending
                .get_or_insert_with(|| Pending { since: t, peak: Evidence::new(t, value, expected, score) });
            if score > pending.peak.score {
                pending.peak = Evidence::new(t, value, expected, score);
            }
            if t.saturating_sub(pending.since) >= h.min_duration_s {
                let event = Event {
                    kind: self.kind,
                    field: self.field.clone(),
                    start_s: pending.since,
                    last_s: t.max(pending.since),
                    end_s: None,
                    peak: pending.peak.clone(),
                };
                self.pending = None;
                self.changes.push(EventChange::Opened(event.clone()));
                self.open = Some(event);
            }
        } else if score < h.close {
            self.pending = None;
        }
    }

    fn observe_open(&mut self, t: i64, score: f64, value: f64, expected: f64) {
        let Some(event) = self.open.as_mut() else { return };
        if score >= self.hysteresis.close {
            self.quiet_since = None;
            event.last_s = event.last_s.max(t);
            if score > event.peak.score {
                event.peak = Evidence::new(t, value, expected, score);
            }
            return;
        }
        let since = *self.quiet_since.get_or_insert(t);
        if t.saturating_sub(since) < self.hysteresis.close_after_s {
            return;
        }
        if let Some(mut event) = self.open.take() {
            event.end_s = Some(event.last_s.max(event.start_s));
            self.changes.push(EventChange::Closed(event));
        }
        self.quiet_since = None;
    }

    /// The ongoing event, with its latest `last_s` and peak.
    pub fn ongoing(&self) -> Option<&Event> {
        self.open.as_ref()
    }

    /// Whether an event is open.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Moves the changes since the last call into `out`.
    pub fn drain_into(&mut self, out: &mut Vec<EventChange>) {
        out.append(&mut self.changes);
    }

    /// Forgets the changes since the last call (used when replaying history).
    pub fn discard_changes(&mut self) {
        self.changes.clear();
    }
}

/// A detector that reports one condition through one [`EventTracker`] (the domain detectors
/// and peer drift): how its events are drained and its open event read is the same for all.
pub trait Tracked {
    fn tracker(&self) -> &EventTracker;
    fn tracker_mut(&mut self) -> &mut EventTracker;

    /// Event openings and closings since the last call.
    fn drain_events(&mut self) -> Vec<EventChange> {
        let mut out = Vec::new();
        self.tracker_mut().drain_into(&mut out);
        out
    }

    /// The condition under way, if any.
    fn ongoing(&self) -> Option<&Event> {
        self.tracker().ongoing()
    }
}

/// Implements [`Tracked`] for detectors holding their tracker in a field `tracker`.
macro_rules! tracked {
    ($($detector:ty),+) => {$(
        impl $crate::anomaly::event::Tracked for $detector {
            fn tracker(&self) -> &$crate::anomaly::event::EventTracker {
                &self.tracker
            }
            fn tracker_mut(&mut self) -> &mut $crate::anomaly::event::EventTracker {
                &mut self.tracker
            }
        }
    )+};
}
pub(crate) use tracked;

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(tracker: &mut EventTracker) -> Vec<EventChange> {
        let mut out = Vec::new();
        tracker.drain_into(&mut out);
        out
    }

    #[test]
    fn one_event_per_condition_with_hysteresis() {
        let mut tracker = EventTracker::new(EventKind::Spike, "f", Hysteresis::with_durations(120, 120));
        // Opens only after two minutes at or above `close`, starting when `open` was reached.
        for (t, score) in [(0, 0.1), (60, 0.6), (120, 0.4), (180, 0.9)] {
            tracker.observe(t, score, 1.0, 0.0);
        }
        let changes = drain(&mut tracker);
        assert_eq!(changes.len(), 1);
        let EventChange::Opened(opened) = &changes[0] else { panic!("expected an opening: {changes:?}") };
        assert_eq!((opened.start_s, opened.last_s, opened.peak.score), (60, 180, 0.9));
        // Dips below `close` shorter than close_after_s do not close it; scores between close
        // and open keep it alive.
        for (t, score) in [(240, 0.1), (300, 0.3), (360, 0.1), (420, 0.1)] {
            tracker.observe(t, score, 1.0, 0.0);
        }
        assert!(drain(&mut tracker).is_empty());
        assert_eq!(tracker.ongoing().map(|e| e.last_s), Some(300));
        tracker.observe(480, 0.0, 1.0, 0.0);
        let changes = drain(&mut tracker);
        let [EventChange::Closed(closed)] = changes.as_slice() else { panic!("expected a closing: {changes:?}") };
        assert_eq!((closed.start_s, closed.end_s), (60, Some(300)));
        assert!(tracker.ongoing().is_none());
    }

    #[test]
    fn a_blip_shorter_than_the_minimum_duration_is_not_an_event() {
        let mut tracker = EventTracker::new(EventKind::Stuck, "f", Hysteresis::with_durations(300, 0));
        for (t, score) in [(0, 0.9), (60, 0.9), (120, 0.1), (180, 0.9), (240, 0.1)] {
            tracker.observe(t, score, 1.0, 0.0);
        }
        assert!(drain(&mut tracker).is_empty());
    }

    #[test]
    fn hysteresis_is_validated() {
        assert!(Hysteresis::default().check().is_ok());
        assert!(Hysteresis { close: 0.6, ..Hysteresis::default() }.check().is_err());
        assert!(Hysteresis { open: 0.0, ..Hysteresis::default() }.check().is_err());
        assert!(Hysteresis::with_durations(-1, 0).check().is_err());
    }
}
