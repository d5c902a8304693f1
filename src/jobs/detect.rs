//! Streaming anomaly detection in `serve`: every tick the readings that arrived since the
//! last one (by data time, with `lag_secs` of slack for late arrivals) run through each
//! device's detectors — the generic ones per field, the device's gap timer and the domain
//! detectors of its kind (turbine power curve, PV peers and performance ratio, pest
//! outbreaks, peony frost and drought) — and their events become alerts ([`crate::alerts`]).
//!
//! Detectors are incremental; a device seen for the first time first learns from
//! `warmup_days` of stored history without raising anything. Their state is saved to
//! `{data_dir}/detectors.state` every `state_save_secs` and at shutdown, and loaded at start,
//! so a restart continues where it stopped instead of re-learning (and a lost state file is
//! rebuilt from history the same way). Gap timers count silence on the data clock (the newest
//! reading of any device) and are resumed after a restart, so server downtime is not
//! mistaken for silent devices.
//!
//! Peer groups ([`crate::detectors::peer_groups`]: air temperature, humidity, irradiance and
//! soil temperature across the region's stations and plots) are judged together on a
//! 10-minute grid that trails the data clock by the lag, each member against the others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use fieldline_analytics::anomaly::peony::{DroughtConfig, DroughtStress, FrostConfig, FrostRisk};
use fieldline_analytics::anomaly::pest::{PestConfig, PestOutbreak};
use fieldline_analytics::anomaly::power_curve::{PowerCurve, PowerCurveConfig, TurbineReading};
use fieldline_analytics::anomaly::pv::{PvPeer, PvPeerConfig, PvPerformance, PvPerformanceConfig, PvReading};
use fieldline_analytics::anomaly::relation::{Relation, RelationConfig};
use fieldline_analytics::anomaly::{DetectorName, Event, EventChange, SeriesConfig, SeriesDetector, Tracked};
use fieldline_core::FieldValue;
use fieldline_ingest::schema::Schema;
use serde::{Deserialize, Serialize};

use crate::alerts::{Alerts, AlertsConfig, Origin};
use crate::detectors::{GroupDrift, PEER_GRID_S, generic_config, peer_groups};
use fieldline_core::time::{NS_PER_SEC, parse_offset};
use fieldline_store::{Query, Store};

/// Device kinds with detectors: every kind of the table but forecast feeds (NWP), in table order.
pub(crate) fn detected_kinds() -> impl Iterator<Item = &'static str> {
    fieldline_core::kinds::KINDS.iter().filter(|k| !k.forecast).map(|k| k.kind)
}

/// The measurements in `store` the detection job watches: the kinds of [`detected_kinds`]
/// and every kind nobody modelled (its fields get the generic `unusual` score); not forecast
/// feeds, and not what fieldline writes itself — nor another fieldline's alerts and dead
/// letters mirrored here (the InfluxDB mirror names `_alert` `fl_alert`).
fn detected_measurements(store: &Store) -> Vec<String> {
    store
        .measurements()
        .into_iter()
        .filter(|m| {
            !fieldline_ingest::limits::is_reserved(m)
                && !m.starts_with("fl_")
                && m != crate::brain::bundle::MARKET_MEASUREMENT
                && fieldline_core::kinds::kind(m).is_none_or(|k| !k.forecast)
        })
        .collect()
}

/// A reading of another device (met station, plant meter) counts as "at the same time" within this.
const CONTEXT_WINDOW_S: i64 = 600;

/// `measurement/site/device`.
type DeviceKey = String;

/// The detectors of one device.
#[derive(Serialize, Deserialize)]
struct DeviceState {
    measurement: String,
    site: String,
    device: String,
    /// Newest reading processed (unix s); older arrivals are stored but not scored.
    last_s: i64,
    /// Conditions that began before this (unix s) were in the history the detectors learned
    /// from: they raise no alert.
    live_from_s: i64,
    gap: SeriesDetector,
    generic: BTreeMap<String, SeriesDetector>,
    domain: Domain,
}

#[derive(Serialize, Deserialize)]
enum Domain {
    None,
    Turbine(Box<PowerCurve>),
    Inverter { peer: Box<PvPeer>, performance: Box<PvPerformance> },
    Trap(Box<PestOutbreak>),
    Plot { frost: Box<FrostRisk>, drought: Box<DroughtStress>, conductivity: Box<Relation> },
}

#[derive(Serialize, Deserialize, Default)]
struct EngineState {
    /// Data time up to which readings were processed (ns).
    cursor_ns: Option<i64>,
    devices: BTreeMap<DeviceKey, DeviceState>,
    /// (A state file from before peer groups does not decode: detectors relearn from history.)
    groups: Vec<GroupState>,
}

/// A peer group ([`peer_groups`]) of the devices seen so far, judged on a grid that trails
/// the data clock by the lag (so late readings are in).
#[derive(Serialize, Deserialize)]
struct GroupState {
    label: String,
    members: Vec<GroupMember>,
    drift: GroupDrift,
    /// Next grid time to judge (unix s).
    next_t: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct GroupMember {
    key: DeviceKey,
    measurement: String,
    field: String,
    /// To the group's unit.
    factor: f64,
    /// Readings (group unit) the grid has not passed yet.
    recent: BTreeMap<i64, f64>,
}

/// One device's readings in a window: time → field → value (numbers and text).
pub(crate) type Rows = BTreeMap<i64, BTreeMap<String, FieldValue>>;

/// One device's readings in a window, with the device's site and name.
pub(crate) struct DeviceRows {
    pub(crate) site: String,
    pub(crate) device: String,
    pub(crate) rows: Rows,
}

/// Readings of one measurement in a window, by device key (`measurement/site/device`).
#[derive(Default)]
pub(crate) struct KindRows {
    pub(crate) devices: BTreeMap<DeviceKey, DeviceRows>,
}

/// Readings of every kind in a window, by measurement.
pub(crate) type Window = BTreeMap<String, KindRows>;

/// The device an event is about: the owned form of [`Origin`], which alerts borrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) measurement: String,
    pub(crate) site: String,
    pub(crate) device: String,
}

impl Owner {
    fn of(d: &DeviceState) -> Self {
        Owner { measurement: d.measurement.clone(), site: d.site.clone(), device: d.device.clone() }
    }

    fn origin(&self) -> Origin<'_> {
        Origin { measurement: &self.measurement, site: &self.site, device: &self.device }
    }
}

/// What [`DetectionEngine::replay`] found: every event change from live on, and the events
/// still open at the end, each with its device.
pub(crate) struct Replayed {
    pub(crate) changes: Vec<(Owner, EventChange)>,
    pub(crate) open: Vec<(Owner, Event)>,
}

/// The detection engine: every device's detectors and the peer groups, their state, and the
/// cursor of the readings already checked. `serve`'s detection job ticks it
/// ([`DetectionEngine::tick`]); `fieldline detect --data` replays files through it
/// ([`DetectionEngine::replay`]).
pub struct DetectionEngine {
    config: AlertsConfig,
    /// Configured asset ratings (`[schema]`): an inverter's rating, where given, is its
    /// capacity for the PV detectors.
    ratings: Schema,
    offset_s: i64,
    state: EngineState,
    path: PathBuf,
    last_save: Instant,
    /// Set after loading saved state: gap timers resume at the first data clock seen.
    resume_pending: bool,
}

fn num(v: Option<&FieldValue>) -> f64 {
    v.and_then(FieldValue::as_f64).unwrap_or(f64::NAN)
}

impl DetectionEngine {
    /// Loads saved detector state from the data dir. Without one, everything already stored
    /// counts as history: devices learn from it when next seen, and only newer readings are
    /// checked (so a lost state file does not re-raise old conditions).
    /// `clock_limit_ns`: see [`crate::jobs::JobContext::clock_limit_ns`].
    pub fn new(
        config: AlertsConfig,
        ratings: Schema,
        data_dir: &std::path::Path,
        store: &Store,
        clock_limit_ns: i64,
    ) -> Self {
        let offset_s = parse_offset(&config.utc_offset).map(|o| i64::from(o.whole_seconds())).unwrap_or(8 * 3600);
        let path = data_dir.join("detectors.state");
        let (state, resume_pending) = match std::fs::read(&path) {
            Ok(bytes) => match postcard::from_bytes::<EngineState>(&bytes) {
                Ok(state) => {
                    tracing::info!(devices = state.devices.len(), "detector state loaded");
                    (state, true)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "detector state unreadable; relearning from stored history");
                    (EngineState::default(), false)
                }
            },
            Err(_) => (EngineState::default(), false),
        };
        let mut state = state;
        if state.cursor_ns.is_none() {
            let watched = detected_measurements(store);
            state.cursor_ns = store
                .series(None, &[])
                .iter()
                .filter(|s| watched.contains(&s.measurement))
                .map(|s| s.last_ns.min(clock_limit_ns))
                .max()
                // Readings within `lag` of the newest are re-checked: push the cursor past them.
                .map(|newest| newest.saturating_add(config.lag_secs.max(0) * NS_PER_SEC));
        }
        DetectionEngine { config, ratings, offset_s, state, path, last_save: Instant::now(), resume_pending }
    }

    /// Saves detector state atomically.
    pub fn save(&mut self) {
        self.last_save = Instant::now();
        let result = postcard::to_stdvec(&self.state).map_err(std::io::Error::other).and_then(|bytes| {
            let tmp = self.path.with_extension("state.tmp");
            std::fs::write(&tmp, bytes)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        });
        if let Err(e) = result {
            tracing::error!(error = %e, "could not save detector state");
        }
    }

    /// The engine without a data dir or state file, for `fieldline detect --data`.
    pub(crate) fn offline(config: AlertsConfig) -> Self {
        let offset_s = parse_offset(&config.utc_offset).map(|o| i64::from(o.whole_seconds())).unwrap_or(8 * 3600);
        DetectionEngine {
            config,
            ratings: Schema::builtin(),
            offset_s,
            state: EngineState::default(),
            path: PathBuf::new(),
            last_save: Instant::now(),
            resume_pending: false,
        }
    }

    /// Runs readings through the engine as `serve` runs them as they arrive, with a tick every
    /// `tick_s` of data time. `windows` yields `(end, readings)` in time order, the readings
    /// of `[previous end − lag, end)` (the overlap gives context lookups their recent past).
    /// Readings before `live_from` are the history the detectors learn from; the event
    /// changes from `live_from` on are returned with their device, then the events still open
    /// at the end. `capacity_kw` gives inverter ratings where known.
    pub(crate) fn replay(
        &mut self,
        windows: impl IntoIterator<Item = (i64, Window)>,
        live_from: i64,
        tick_s: i64,
        capacity_kw: &BTreeMap<DeviceKey, f64>,
    ) -> Replayed {
        let tick_s = tick_s.max(1);
        let mut out = Vec::new();
        let mut next_tick: Option<i64> = None;
        for (end, window) in windows {
            let new = self.unseen(&window);
            if !new.is_empty() {
                self.create_devices(&new, &Window::new(), &window, capacity_kw);
                for key in &new {
                    if let Some(d) = self.state.devices.get_mut(key) {
                        d.live_from_s = d.live_from_s.max(live_from);
                    }
                }
                self.join_groups();
            }
            let first = window.values().flat_map(|k| k.devices.values()).filter_map(|d| d.rows.keys().next()).min();
            let Some(mut t) = next_tick.or_else(|| first.map(|f| f.div_euclid(tick_s) * tick_s + tick_s)) else {
                continue;
            };
            while t < end {
                let mut changes = Vec::new();
                self.advance(&window, t, t, &mut changes);
                if t >= live_from {
                    out.extend(changes);
                }
                t += tick_s;
            }
            next_tick = Some(t);
        }
        let open = self.open_events().into_iter().map(|(d, e)| (Owner::of(d), e.clone())).collect();
        Replayed { changes: out, open }
    }

    /// Runs the readings that arrived since the last tick through the detectors and turns
    /// their events into alerts.
    /// Readings stamped after `clock_limit_ns` (the wall clock plus ingest's skew) are left
    /// for later ticks, so the data clock never runs ahead of real time.
    pub fn tick(&mut self, store: &Store, alerts: &Alerts, clock_limit_ns: i64) {
        let lag = self.config.lag_secs.max(0) * NS_PER_SEC;
        let start = match self.state.cursor_ns {
            Some(c) => c - lag,
            // First run: only what is current; history is learned per device at first sight.
            None => self.config.live_from_s.map_or_else(fieldline_core::time::now_ns, |s| s * NS_PER_SEC) - lag,
        };
        let window = match scan_window(store, start, clock_limit_ns.saturating_add(1)) {
            Ok(w) => w,
            Err(e) => {
                tracing::error!(error = %e, "detection: reading new data failed");
                return;
            }
        };
        let newest =
            window.values().flat_map(|k| k.devices.values()).filter_map(|d| d.rows.keys().next_back()).max().copied();
        let Some(data_clock) = newest else { return };
        if self.resume_pending {
            // The first reading after a restart: silence before it was the server's downtime.
            let first_new = window
                .values()
                .flat_map(|k| k.devices.iter())
                .filter_map(|(key, d)| {
                    let after = self.state.devices.get(key).map_or(i64::MIN, |d| d.last_s.saturating_add(1));
                    d.rows.range(after..).next().map(|(t, _)| *t)
                })
                .min();
            // Until new readings arrive there is nothing to resume at.
            if let Some(first_new) = first_new {
                for d in self.state.devices.values_mut() {
                    d.gap.resume_at(first_new);
                }
                self.resume_pending = false;
            }
        }

        // Devices seen for the first time learn from their stored history first.
        let new = self.unseen(&window);
        if !new.is_empty() {
            let first = window
                .values()
                .flat_map(|k| k.devices.iter())
                .filter(|(key, _)| new.contains(*key))
                .filter_map(|(_, d)| d.rows.keys().next())
                .min()
                .copied()
                .unwrap_or(data_clock);
            let from = (first - i64::from(self.config.warmup_days) * 86_400) * NS_PER_SEC;
            match scan_window(store, from, first * NS_PER_SEC) {
                Ok(history) => {
                    self.create_devices(&new, &history, &window, &BTreeMap::new());
                    let mut discard = Vec::new();
                    self.process(&history, Some(&new), &mut discard, i64::MAX);
                    if self.join_groups() {
                        // Groups that gained members start afresh and learn from the history.
                        self.step_groups(&history, first - 1, None, i64::MAX);
                    }
                    tracing::info!(devices = new.len(), "new devices: detectors learned from stored history");
                }
                Err(e) => tracing::error!(error = %e, "detection: reading history failed"),
            }
        }

        let mut changes = Vec::new();
        let checked = self.advance(&window, i64::MAX, data_clock, &mut changes);
        alerts.metrics.readings_checked.inc_by(checked);
        self.state.cursor_ns = Some(self.state.cursor_ns.unwrap_or(i64::MIN).max(data_clock * NS_PER_SEC));

        let handle = tokio::runtime::Handle::current();
        for (owner, change) in &changes {
            let origin = owner.origin();
            let result = handle.block_on(async {
                match change {
                    EventChange::Opened(e) => alerts.event_seen(&origin, e).await,
                    EventChange::Closed(e) => alerts.event_closed(&origin, e).await,
                }
            });
            if let Err(e) = result {
                tracing::error!(error = %e, "could not record alert");
            }
        }
        // Ongoing conditions refresh their alert's last-seen time.
        for (d, event) in self.open_events() {
            let origin = Origin { measurement: &d.measurement, site: &d.site, device: &d.device };
            if let Err(e) = handle.block_on(alerts.refresh(&origin, event)) {
                tracing::error!(error = %e, "could not refresh alert");
            }
        }
        if self.last_save.elapsed().as_secs() >= self.config.state_save_secs {
            self.save();
        }
    }

    /// The devices of `window` the engine has not seen yet.
    fn unseen(&self, window: &Window) -> BTreeSet<DeviceKey> {
        window
            .values()
            .flat_map(|k| k.devices.keys())
            .filter(|key| !self.state.devices.contains_key(*key))
            .cloned()
            .collect()
    }

    /// One tick: the readings of `window` up to `until` through their devices' detectors, the
    /// peer groups up to the lag behind `clock` (the data clock), and every gap timer at
    /// `clock`. Returns how many readings were checked.
    fn advance(&mut self, window: &Window, until: i64, clock: i64, out: &mut Vec<(Owner, EventChange)>) -> u64 {
        let checked = self.process(window, None, out, until);
        self.step_groups(window, clock - self.config.lag_secs.max(PEER_GRID_S), Some(out), until);
        for d in self.state.devices.values_mut() {
            d.gap.check(clock);
            push_changes(out, d, |d| d.gap.drain_events());
        }
        checked
    }

    /// Every condition under way, with its device: the devices' own and the peer groups'.
    fn open_events(&self) -> Vec<(&DeviceState, &Event)> {
        let own = self.state.devices.values().flat_map(|d| ongoing(d).into_iter().map(move |e| (d, e)));
        let groups = self.state.groups.iter().flat_map(|g| {
            g.members
                .iter()
                .zip(g.drift.detectors())
                .filter_map(|(m, detector)| Some((self.state.devices.get(&m.key)?, detector.ongoing()?)))
        });
        own.chain(groups).collect()
    }

    fn create_devices(
        &mut self,
        keys: &BTreeSet<DeviceKey>,
        history: &BTreeMap<String, KindRows>,
        window: &BTreeMap<String, KindRows>,
        capacity_kw: &BTreeMap<DeviceKey, f64>,
    ) {
        for (measurement, kind) in window {
            for (key, DeviceRows { site, device, rows }) in &kind.devices {
                if !keys.contains(key) {
                    continue;
                }
                let fields: BTreeSet<&String> = rows.values().flat_map(|r| r.keys()).collect();
                let mut generic = BTreeMap::new();
                for field in fields {
                    if let Some(config) = generic_config(measurement, field)
                        && let Ok(d) = SeriesDetector::new(field, config)
                    {
                        generic.insert(field.clone(), d);
                    }
                }
                // Capacity of an inverter: its rating when known, else the largest output it
                // has shown.
                let shown = |rows: &Rows| {
                    rows.values().map(|r| num(r.get("ac_power_kw"))).filter(|x| x.is_finite()).fold(0.0, f64::max)
                };
                let capacity = capacity_kw
                    .get(key)
                    .copied()
                    .or_else(|| self.ratings.rated_kw(measurement, site, device))
                    .unwrap_or_else(|| {
                        let past =
                            history.get(measurement).and_then(|k| k.devices.get(key)).map_or(0.0, |d| shown(&d.rows));
                        past.max(shown(rows))
                    })
                    .max(1.0);
                let domain = match measurement.as_str() {
                    "wind_turbine" => PowerCurve::new("power_kw", PowerCurveConfig::default())
                        .map(|c| Domain::Turbine(Box::new(c)))
                        .ok(),
                    "pv_inverter" => {
                        let config =
                            PvPerformanceConfig { ac_limit_kw: Some(capacity), ..PvPerformanceConfig::default() };
                        match (
                            PvPeer::new("ac_power_kw", capacity, PvPeerConfig::default()),
                            PvPerformance::new("ac_power_kw", capacity, config),
                        ) {
                            (Ok(peer), Ok(performance)) => {
                                Some(Domain::Inverter { peer: Box::new(peer), performance: Box::new(performance) })
                            }
                            _ => None,
                        }
                    }
                    "pest_trap" => {
                        PestOutbreak::new("count", PestConfig { utc_offset_s: self.offset_s, ..PestConfig::default() })
                            .map(|p| Domain::Trap(Box::new(p)))
                            .ok()
                    }
                    "peony_plot" => {
                        let drought = DroughtConfig {
                            refill_point_pct: self.config.refill_point_pct,
                            ..DroughtConfig::default()
                        };
                        match (
                            FrostRisk::new("air_temp_c", FrostConfig::default()),
                            DroughtStress::new("soil_vwc_pct", drought),
                            Relation::new("soil_ec_ds_m", RelationConfig::default()),
                        ) {
                            (Ok(frost), Ok(drought), Ok(conductivity)) => Some(Domain::Plot {
                                frost: Box::new(frost),
                                drought: Box::new(drought),
                                conductivity: Box::new(conductivity),
                            }),
                            _ => None,
                        }
                    }
                    _ => None,
                };
                let Ok(gap) = SeriesDetector::new("*", SeriesConfig::only(DetectorName::Gap)) else { continue };
                self.state.devices.insert(
                    key.clone(),
                    DeviceState {
                        measurement: measurement.clone(),
                        site: site.clone(),
                        device: device.clone(),
                        last_s: i64::MIN,
                        live_from_s: rows.keys().next().copied().unwrap_or(i64::MIN),
                        gap,
                        generic,
                        domain: domain.unwrap_or(Domain::None),
                    },
                );
            }
        }
    }

    /// Adds the devices that measure a peer group's quantity to the group. A group that
    /// gained members starts afresh (its offsets are relative to the whole group); returns
    /// whether any did.
    fn join_groups(&mut self) -> bool {
        let mut changed = false;
        for group in peer_groups() {
            let index = match self.state.groups.iter().position(|g| g.label == group.label) {
                Some(i) => i,
                None => {
                    self.state.groups.push(GroupState {
                        label: group.label.to_string(),
                        members: Vec::new(),
                        drift: GroupDrift::new(group.config()),
                        next_t: None,
                    });
                    self.state.groups.len() - 1
                }
            };
            let Some(state) = self.state.groups.get_mut(index) else { continue };
            let mut joined = false;
            for (key, d) in &self.state.devices {
                for field in d.generic.keys() {
                    let Some(factor) = group.factor(&d.measurement, field) else { continue };
                    if !state.members.iter().any(|m| m.key == *key && m.field == *field) {
                        state.members.push(GroupMember {
                            key: key.clone(),
                            measurement: d.measurement.clone(),
                            field: field.clone(),
                            factor,
                            recent: BTreeMap::new(),
                        });
                        joined = true;
                    }
                }
            }
            if joined {
                state.drift = GroupDrift::new(group.config());
                for m in &state.members {
                    if let Err(e) = state.drift.add_member(&m.field) {
                        tracing::error!(error = %e, group = group.label, "peer group detector");
                    }
                }
                state.next_t = None;
                for m in &mut state.members {
                    m.recent.clear();
                }
                tracing::info!(group = group.label, members = state.members.len(), "peer group formed");
                changed = true;
            }
        }
        changed
    }

    /// Judges the peer groups on their grid up to `until` (unix s), each member by its latest
    /// reading of the last grid step; event changes go to `out` (none while learning).
    fn step_groups(
        &mut self,
        data: &BTreeMap<String, KindRows>,
        until: i64,
        mut out: Option<&mut Vec<(Owner, EventChange)>>,
        data_until: i64,
    ) {
        let EngineState { groups, devices, .. } = &mut self.state;
        for group in groups.iter_mut() {
            let floor = group.next_t.map_or(i64::MIN, |t| t - PEER_GRID_S);
            for m in &mut group.members {
                let Some(DeviceRows { rows, .. }) = data.get(&m.measurement).and_then(|k| k.devices.get(&m.key)) else {
                    continue;
                };
                let from = floor.saturating_add(1);
                if from > data_until {
                    continue;
                }
                for (&t, fields) in rows.range(from..=data_until) {
                    let v = num(fields.get(&m.field));
                    if v.is_finite() {
                        m.recent.insert(t, v * m.factor);
                    }
                }
            }
            let first = group.next_t.or_else(|| {
                let earliest = group.members.iter().filter_map(|m| m.recent.keys().next()).min()?;
                Some(earliest.div_euclid(PEER_GRID_S) * PEER_GRID_S + PEER_GRID_S)
            });
            let Some(mut t) = first else { continue };
            let mut values = vec![f64::NAN; group.members.len()];
            while t <= until {
                for (value, m) in values.iter_mut().zip(&group.members) {
                    *value = m.recent.range(t - PEER_GRID_S + 1..=t).next_back().map_or(f64::NAN, |(_, v)| *v);
                }
                for (i, change) in group.drift.step(t, &values) {
                    let (Some(out), Some(d)) =
                        (out.as_deref_mut(), group.members.get(i).and_then(|m| devices.get(&m.key)))
                    else {
                        continue;
                    };
                    if matches!(&change, EventChange::Opened(e) if e.start_s < d.live_from_s) {
                        continue;
                    }
                    out.push((Owner::of(d), change));
                }
                t += PEER_GRID_S;
            }
            group.next_t = Some(t);
            for m in &mut group.members {
                m.recent = m.recent.split_off(&(t - PEER_GRID_S + 1));
            }
        }
    }

    /// Runs `data` through the detectors of the devices in `only` (or all), in time order per
    /// device; returns how many readings were checked.
    fn process(
        &mut self,
        data: &BTreeMap<String, KindRows>,
        only: Option<&BTreeSet<DeviceKey>>,
        out: &mut Vec<(Owner, EventChange)>,
        until: i64,
    ) -> u64 {
        let mut checked = 0;
        let site_rows = |measurement: &str, site: &str| -> Option<&Rows> {
            data.get(measurement)?.devices.values().find(|d| d.site == site).map(|d| &d.rows)
        };
        let as_of = |rows: Option<&Rows>, t: i64, field: &str| -> f64 {
            rows.and_then(|r| r.range(t - CONTEXT_WINDOW_S..=t).next_back())
                .map_or(f64::NAN, |(_, fields)| num(fields.get(field)))
        };
        // PV peers need every inverter of the site at the same instant.
        let mut peer_medians: BTreeMap<(String, i64), Vec<(DeviceKey, f64)>> = BTreeMap::new();
        if let Some(inverters) = data.get("pv_inverter") {
            // Only the instants some inverter has not been judged at yet.
            let from = inverters
                .devices
                .keys()
                .map(|key| self.state.devices.get(key).map_or(i64::MIN, |d| d.last_s.saturating_add(1)))
                .min()
                .unwrap_or(i64::MIN);
            for (key, DeviceRows { site, rows, .. }) in &inverters.devices {
                for (t, fields) in rows.range(from..=until) {
                    peer_medians
                        .entry((site.clone(), *t))
                        .or_default()
                        .push((key.clone(), num(fields.get("ac_power_kw"))));
                }
            }
        }
        for (measurement, kind) in data {
            for (key, DeviceRows { site, rows, .. }) in &kind.devices {
                if only.is_some_and(|o| !o.contains(key)) {
                    continue;
                }
                let Some(d) = self.state.devices.get_mut(key) else { continue };
                let met = site_rows("met_station", site);
                let plant = site_rows("plant", site);
                let from = d.last_s.saturating_add(1);
                if from > until {
                    continue;
                }
                for (&t, fields) in rows.range(from..=until) {
                    checked += 1;
                    d.gap.update(t, 0.0);
                    for (name, det) in d.generic.iter_mut() {
                        det.update(t, num(fields.get(name)));
                    }
                    let curtailed = as_of(plant, t, "curtailed") > 0.5;
                    match &mut d.domain {
                        Domain::Turbine(curve) => {
                            // Pitched to a dispatch limit or stopped above cut-out: operation as
                            // designed, not underperformance.
                            let status_held_back = matches!(fields.get("status"),
                                Some(FieldValue::Str(s)) if s == "curtailed" || s == "storm");
                            curve.update(&TurbineReading {
                                t,
                                wind_speed_ms: num(fields.get("wind_speed_ms")),
                                power_kw: num(fields.get("power_kw")),
                                air_temp_c: num(fields.get("ambient_temp_c")),
                                pressure_hpa: as_of(met, t, "pressure_hpa"),
                                relative_humidity_pct: as_of(met, t, "rh_pct"),
                                curtailed: curtailed || status_held_back,
                            });
                        }
                        Domain::Inverter { peer, performance } => {
                            let own = num(fields.get("ac_power_kw"));
                            let mut others: Vec<f64> = peer_medians
                                .get(&(site.clone(), t))
                                .map(|v| v.iter().filter(|(k, x)| k != key && x.is_finite()).map(|(_, x)| *x).collect())
                                .unwrap_or_default();
                            others.sort_by(f64::total_cmp);
                            let median = match others.len() {
                                0 => f64::NAN,
                                n if n % 2 == 1 => others[n / 2],
                                n => (others[n / 2 - 1] + others[n / 2]) / 2.0,
                            };
                            peer.update(t, own, median, curtailed);
                            let poa = as_of(met, t, "poa_wm2");
                            performance.update(&PvReading {
                                t,
                                ac_power_kw: own,
                                irradiance_wm2: if poa.is_finite() { poa } else { as_of(met, t, "ghi_wm2") },
                                module_temp_c: as_of(met, t, "module_temp_c"),
                                curtailed,
                            });
                        }
                        Domain::Trap(pest) => {
                            pest.update(t, num(fields.get("count")));
                        }
                        Domain::Plot { frost, drought, conductivity } => {
                            frost.observe(t, num(fields.get("air_temp_c")), num(fields.get("stage")));
                            drought.update(t, num(fields.get("soil_vwc_pct")));
                            conductivity.update(t, num(fields.get("soil_vwc_pct")), num(fields.get("soil_ec_ds_m")));
                        }
                        Domain::None => {}
                    }
                    push_changes(out, d, drain_all);
                }
                if let Some((&last, _)) = rows.range(..=until).next_back() {
                    d.last_s = d.last_s.max(last);
                }
                let _ = measurement;
            }
        }
        checked
    }
}

fn push_changes(
    out: &mut Vec<(Owner, EventChange)>,
    d: &mut DeviceState,
    drain: impl FnOnce(&mut DeviceState) -> Vec<EventChange>,
) {
    let owner = Owner::of(d);
    for change in drain(d) {
        if matches!(&change, EventChange::Opened(e) if e.start_s < d.live_from_s) {
            continue;
        }
        out.push((owner.clone(), change));
    }
}

fn drain_all(d: &mut DeviceState) -> Vec<EventChange> {
    let mut out: Vec<EventChange> = d.generic.values_mut().flat_map(|g| g.drain_events()).collect();
    match &mut d.domain {
        Domain::Turbine(c) => out.extend(c.drain_events()),
        Domain::Inverter { peer, performance } => {
            out.extend(peer.drain_events());
            out.extend(performance.drain_events());
        }
        Domain::Trap(p) => out.extend(p.drain_events()),
        Domain::Plot { frost, drought, conductivity } => {
            out.extend(frost.drain_events());
            out.extend(drought.drain_events());
            out.extend(conductivity.drain_events());
        }
        Domain::None => {}
    }
    out
}

fn ongoing(d: &DeviceState) -> Vec<&Event> {
    let mut out: Vec<&Event> = d.gap.ongoing();
    out.extend(d.generic.values().flat_map(|g| g.ongoing()));
    match &d.domain {
        Domain::Turbine(c) => out.extend(c.ongoing()),
        Domain::Inverter { peer, performance } => out.extend(peer.ongoing().into_iter().chain(performance.ongoing())),
        Domain::Trap(p) => out.extend(p.ongoing()),
        Domain::Plot { frost, drought, conductivity } => {
            out.extend(frost.ongoing().into_iter().chain(drought.ongoing()).chain(conductivity.ongoing()))
        }
        Domain::None => {}
    }
    out
}

/// Every device kind's readings in `[start_ns, stop_ns)`, by device.
fn scan_window(
    store: &Store,
    start_ns: i64,
    stop_ns: i64,
) -> Result<BTreeMap<String, KindRows>, fieldline_store::Error> {
    let mut out = BTreeMap::new();
    for measurement in detected_measurements(store) {
        let rows = store.query_rows(&Query::new(&measurement).range(start_ns, stop_ns))?;
        let mut devices: BTreeMap<DeviceKey, DeviceRows> = BTreeMap::new();
        for row in rows {
            let (Some(site), Some(device)) = (row.tag("site"), row.tag("device")) else { continue };
            let key = format!("{measurement}/{site}/{device}");
            let (site, device) = (site.to_string(), device.to_string());
            let entry = devices.entry(key).or_insert_with(|| DeviceRows { site, device, rows: Rows::new() });
            entry.rows.entry(row.timestamp_ns.div_euclid(NS_PER_SEC)).or_default().extend(row.fields);
        }
        out.insert(measurement.to_string(), KindRows { devices });
    }
    Ok(out)
}
