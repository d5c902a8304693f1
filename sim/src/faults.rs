//! Injected faults and operational events, with their ground truth.
//!
//! A [`FaultPlan`] is drawn from the seed for a window of time: for every eligible device
//! and kind, a Poisson number of events (rate per 30 days from the scenario), each with a
//! start, a duration and a magnitude; events on one device never overlap, so each stays
//! visible. Some kinds change the readings after the physics ([`FaultPlan::apply`]):
//!
//! | kind | what the data shows |
//! |---|---|
//! | `stuck` | one field repeats its value at the window's start until the window ends |
//! | `spike` | one reading of one field jumps (within physical limits) |
//! | `drift` | one field drifts linearly away from the truth; recalibrated at the end |
//! | `dropout` | the device sends nothing during the window |
//!
//! Others change the physics, and the device models ask [`FaultPlan::active`]: `pitch_fault`
//! (a blade-pitch offset: lower power at the same wind, pitch reads high), `turbine_outage`
//! (availability: stopped, status `fault`), `inverter_outage` (a trip while producing, by
//! day: no AC or DC), `string_outage` (part of an inverter's DC array lost), `soiling` (a
//! growing loss washed off by rain), `curtailment` (dispatch limit on a plant, flagged
//! `curtailed`).
//!
//! Two planned kinds are causes whose effect depends on the weather, so the models report
//! what they did instead of the plan ([`Role::Cause`]): a `pest_outbreak` (migrant moths
//! added to a species' catches — only on nights warm enough to fly; the ground truth is
//! each trap's nights with a real influx) and a `drought` (no rain and no irrigation water,
//! in the growing season; the ground truth is each plot's water stress, soil moisture below
//! the FAO-56 stress point, from its onset until water returns). Weather events are opened
//! by the models as they happen ([`Role::Observed`]): `icing` (rime while the turbine
//! produces) and `frost_night` (every night a plot's air reaches 0 °C in a frost-sensitive
//! stage, the forced radiative frost among them).
//!
//! Every reported event ends up in the ground truth ([`GroundTruth`], JSON lines): `kind`,
//! `device` (`site/device`), `field` (`*` for the whole device), `start`, `end` (RFC 3339,
//! the window is `[start, end)`; a spike's start equals its end) and a `description`.

use rand::Rng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::random::{normal, poisson, stream, uniform};
use super::{DeviceInfo, Kind, Value, rfc3339};
use fieldline_core::time::{SECS_PER_DAY, SECS_PER_HOUR};

const MONTH_S: f64 = 30.0 * 86_400.0;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    Stuck,
    Spike,
    Drift,
    Dropout,
    PitchFault,
    Icing,
    TurbineOutage,
    InverterOutage,
    StringOutage,
    Soiling,
    PestOutbreak,
    FrostNight,
    Drought,
    Curtailment,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Stuck => "stuck",
            FaultKind::Spike => "spike",
            FaultKind::Drift => "drift",
            FaultKind::Dropout => "dropout",
            FaultKind::PitchFault => "pitch_fault",
            FaultKind::Icing => "icing",
            FaultKind::TurbineOutage => "turbine_outage",
            FaultKind::InverterOutage => "inverter_outage",
            FaultKind::StringOutage => "string_outage",
            FaultKind::Soiling => "soiling",
            FaultKind::PestOutbreak => "pest_outbreak",
            FaultKind::FrostNight => "frost_night",
            FaultKind::Drought => "drought",
            FaultKind::Curtailment => "curtailment",
        }
    }
}

/// How an event relates to the data and to the ground truth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Planned and applied; its window is the ground truth.
    Fault,
    /// Planned and applied, but its effect depends on the weather: the models report what
    /// it did as [`Role::Observed`] events, and the plan itself is not ground truth.
    Cause,
    /// What a model saw happen (icing, a frost night, drought stress, an influx): ground
    /// truth only, never applied.
    Observed,
}

/// One planned or observed event on one device.
#[derive(Debug, Clone)]
pub struct Event {
    pub kind: FaultKind,
    pub role: Role,
    pub device: usize,
    /// Index into the device kind's fields; `None` for the whole device.
    pub field: Option<usize>,
    pub start: i64,
    /// Exclusive end; equals `start` for a spike. `i64::MAX` while a weather event is open.
    pub end: i64,
    /// Kind-specific size: spike/drift offset (drift of GHI: relative), pitch offset (°),
    /// string or soiling loss (fraction), curtailment limit (fraction of capacity), extra
    /// nightly catch of an outbreak.
    pub magnitude: f64,
    pub description: String,
    held: Option<f64>,
    reported: bool,
}

impl Event {
    pub fn contains(&self, t: i64) -> bool {
        t >= self.start && t < self.end
    }
}

/// A ground-truth record (one JSON line).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct GroundTruth {
    pub start: String,
    pub device: String,
    pub kind: String,
    pub field: String,
    pub end: String,
    pub description: String,
}

/// Who may get an event of a kind, and how often (per 30 days). `devices` share one event
/// (a drought hits every plot, an outbreak every trap of the species).
#[derive(Debug, Clone)]
pub struct Candidate {
    pub kind: FaultKind,
    pub devices: Vec<usize>,
    pub rate_per_30_days: f64,
    /// Outbreaks only where the species can fly: the lowest normal night temperature (°C).
    pub min_night_temp_c: Option<f64>,
    /// Droughts only in the growing season: the lowest normal daily mean temperature at the
    /// window's start (°C).
    pub min_mean_temp_c: Option<f64>,
    /// Curtailment of a PV plant comes at midday, of a wind farm mostly at night.
    pub solar: bool,
    pub label: String,
}

/// Inputs of planning that are not events.
pub struct PlanContext<'a> {
    pub devices: &'a [DeviceInfo],
    pub candidates: &'a [Candidate],
    pub utc_offset_s: i64,
    /// Normal air temperature (°C) at a given time, to place outbreaks on flight nights and
    /// droughts in the growing season.
    pub normal_temp: &'a dyn Fn(i64) -> f64,
}

/// All events of a run.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    seed: u64,
    events: Vec<Event>,
    by_device: Vec<Vec<usize>>,
}

impl FaultPlan {
    pub fn new(seed: u64, devices: usize) -> Self {
        FaultPlan { seed, events: Vec::new(), by_device: vec![Vec::new(); devices] }
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Plans `[w0, w1)`; with `ensure`, every kind with a positive rate gets at least one event.
    /// Returns the drought windows (the weather needs them).
    pub fn plan_window(&mut self, ctx: &PlanContext<'_>, w0: i64, w1: i64, ensure: bool) -> Vec<(i64, i64)> {
        let mut droughts = Vec::new();
        let mut kinds: Vec<FaultKind> = ctx.candidates.iter().map(|c| c.kind).collect();
        // Site-wide events first: the device-level faults then fit around them.
        let order = |k: &FaultKind| match k {
            FaultKind::Drought => 0,
            FaultKind::PestOutbreak => 1,
            _ => 2,
        };
        kinds.sort_by_key(|k| (order(k), *k));
        kinds.dedup();
        let months = (w1 - w0) as f64 / MONTH_S;
        for kind in kinds {
            let group: Vec<&Candidate> =
                ctx.candidates.iter().filter(|c| c.kind == kind && c.rate_per_30_days > 0.0).collect();
            let mut placed = 0;
            for candidate in &group {
                let mut rng = stream(self.seed, &format!("faults/{w0}/{}/{}", kind.name(), candidate.label));
                let n = poisson(&mut rng, candidate.rate_per_30_days * months);
                for _ in 0..n {
                    if let Some(window) = self.place(ctx, candidate, &mut rng, w0, w1) {
                        placed += 1;
                        if kind == FaultKind::Drought {
                            droughts.push(window);
                        }
                    }
                }
            }
            if ensure && placed == 0 && !group.is_empty() {
                let mut rng = stream(self.seed, &format!("faults/{w0}/{}/ensure", kind.name()));
                // A few tries: the first choice may be busy or unable to host the event.
                for _ in 0..8 {
                    let index = rng.random_range(0..group.len());
                    if let Some(window) = self.place(ctx, group[index], &mut rng, w0, w1) {
                        if kind == FaultKind::Drought {
                            droughts.push(window);
                        }
                        break;
                    }
                }
            }
        }
        droughts
    }

    /// Places one event of `candidate` in `[w0, w1)` if a free slot is found.
    fn place(
        &mut self,
        ctx: &PlanContext<'_>,
        candidate: &Candidate,
        rng: &mut StdRng,
        w0: i64,
        w1: i64,
    ) -> Option<(i64, i64)> {
        let first = *candidate.devices.first()?;
        let info = ctx.devices.get(first)?;
        let span = w1 - w0;
        if span <= 0 {
            return None;
        }
        for _ in 0..6 {
            let Some(draft) = draft_event(candidate, info, rng, w0, w1, ctx.utc_offset_s) else {
                continue;
            };
            if let Some(min_temp) = candidate.min_night_temp_c {
                let mid_night = night_time(draft.start + (draft.end - draft.start) / 2, ctx.utc_offset_s);
                if (ctx.normal_temp)(mid_night) < min_temp {
                    continue;
                }
            }
            if let Some(min_mean) = candidate.min_mean_temp_c {
                let daily_mean =
                    (0..24).map(|h| (ctx.normal_temp)(draft.start + h * SECS_PER_HOUR)).sum::<f64>() / 24.0;
                if daily_mean < min_mean {
                    continue;
                }
            }
            let busy = candidate.devices.iter().any(|&d| self.overlaps(d, draft.start, draft.end.max(draft.start + 1)));
            if busy {
                continue;
            }
            let window = (draft.start, draft.end);
            for &device in &candidate.devices {
                let mut event = draft.clone();
                event.device = device;
                self.push(event);
            }
            return Some(window);
        }
        None
    }

    /// Whether a planned event on `device` overlaps `[start, end)` (with an hour between).
    fn overlaps(&self, device: usize, start: i64, end: i64) -> bool {
        self.by_device.get(device).is_some_and(|list| {
            list.iter()
                .filter_map(|&i| self.events.get(i))
                .filter(|e| e.role != Role::Observed)
                .any(|e| start < e.end.max(e.start + 1) + SECS_PER_HOUR && e.start < end + SECS_PER_HOUR)
        })
    }

    fn push(&mut self, event: Event) -> usize {
        let index = self.events.len();
        if let Some(list) = self.by_device.get_mut(event.device) {
            list.push(index);
        }
        self.events.push(event);
        index
    }

    /// Opens an observed event (end unknown yet); returns its handle.
    pub fn open(
        &mut self,
        kind: FaultKind,
        device: usize,
        field: Option<usize>,
        start: i64,
        magnitude: f64,
        description: String,
    ) -> usize {
        self.push(Event {
            kind,
            role: Role::Observed,
            device,
            field,
            start,
            end: i64::MAX,
            magnitude,
            description,
            held: None,
            reported: false,
        })
    }

    /// Ends an event at `end`, adding `note` to its description.
    pub fn close(&mut self, handle: usize, end: i64, note: &str) {
        if let Some(e) = self.events.get_mut(handle) {
            e.end = end.max(e.start);
            if !note.is_empty() {
                e.description.push_str(note);
            }
        }
    }

    /// The planned event of `kind` on `device` in force at `t`, with its handle.
    pub fn active(&self, device: usize, kind: FaultKind, t: i64) -> Option<(usize, &Event)> {
        self.by_device.get(device)?.iter().find_map(|&i| {
            let e = self.events.get(i)?;
            (e.kind == kind && e.role != Role::Observed && e.contains(t)).then_some((i, e))
        })
    }

    /// The event with handle `handle`.
    pub fn event(&self, handle: usize) -> Option<&Event> {
        self.events.get(handle)
    }

    /// Applies reading faults to `values` of `device` at `ts`; `false` = the device is silent.
    pub fn apply(&mut self, devices: &[DeviceInfo], device: usize, ts: i64, values: &mut [Value]) -> bool {
        let Some(list) = self.by_device.get(device) else {
            return true;
        };
        let kind = devices.get(device).map(|d| d.kind);
        for &i in list {
            let Some(e) = self.events.get_mut(i) else { continue };
            let in_window = e.contains(ts);
            match e.kind {
                FaultKind::Dropout if in_window => return false,
                FaultKind::Drift if in_window => {
                    let progress = (ts - e.start) as f64 / (e.end - e.start).max(1) as f64;
                    if let (Some(f), Some(kind)) = (e.field, kind)
                        && let Some(Value::Num(v)) = values.get(f).copied()
                    {
                        let name = kind.fields().get(f).copied().unwrap_or("");
                        let drifted = if name == "ghi_wm2" {
                            v * (1.0 + e.magnitude * progress)
                        } else {
                            v + e.magnitude * progress
                        };
                        values[f] = Value::Num(clamp_field(kind, name, drifted));
                    }
                }
                FaultKind::Stuck if in_window => {
                    if let Some(f) = e.field
                        && let Some(current) = values.get(f).and_then(|v| v.as_f64())
                    {
                        let held = *e.held.get_or_insert(current);
                        values[f] = Value::Num(held);
                    }
                }
                FaultKind::Spike if ts == e.start => {
                    if let (Some(f), Some(kind)) = (e.field, kind)
                        && let Some(Value::Num(v)) = values.get(f).copied()
                    {
                        let name = kind.fields().get(f).copied().unwrap_or("");
                        values[f] = Value::Num(clamp_field(kind, name, v + e.magnitude));
                    }
                }
                _ => {}
            }
        }
        true
    }

    /// Ground truth of the events that ended before `t` and were not reported yet.
    pub fn finished(&mut self, devices: &[DeviceInfo], t: i64) -> Vec<GroundTruth> {
        let mut out = Vec::new();
        for e in &mut self.events {
            let done = if e.kind == FaultKind::Spike { e.start < t } else { e.end <= t };
            if !e.reported && done && e.role != Role::Cause {
                e.reported = true;
                out.push(ground_truth(devices, e, e.end));
            }
        }
        out
    }

    /// Ground truth of every unreported event that started before `run_end`, with windows
    /// clipped to the run.
    pub fn flush(&mut self, devices: &[DeviceInfo], run_end: i64) -> Vec<GroundTruth> {
        let mut out = Vec::new();
        for e in &mut self.events {
            if !e.reported && e.start < run_end && e.role != Role::Cause {
                e.reported = true;
                let end = if e.kind == FaultKind::Spike { e.start } else { e.end.min(run_end) };
                out.push(ground_truth(devices, e, end));
            }
        }
        out
    }
}

fn ground_truth(devices: &[DeviceInfo], e: &Event, end: i64) -> GroundTruth {
    let info = devices.get(e.device);
    let field = match (e.field, info) {
        (Some(f), Some(info)) => info.kind.fields().get(f).copied().unwrap_or("*").to_string(),
        _ => "*".to_string(),
    };
    GroundTruth {
        kind: e.kind.name().to_string(),
        device: info.map_or_else(|| e.device.to_string(), DeviceInfo::path),
        field,
        start: rfc3339(e.start),
        end: rfc3339(end),
        description: e.description.clone(),
    }
}

/// 22:00 local on the day of `t`: when moths fly.
fn night_time(t: i64, utc_offset_s: i64) -> i64 {
    let local_day = (t + utc_offset_s).div_euclid(SECS_PER_DAY);
    local_day * SECS_PER_DAY - utc_offset_s + 22 * SECS_PER_HOUR
}

/// `v` within the physical limits of field `name` of `kind` (the table of kinds ingest
/// validates against), so injected values stay storable; unbounded for a field it lacks.
pub fn clamp_field(kind: Kind, name: &str, v: f64) -> f64 {
    kind.schema().field(name).map_or(v, |field| field.clamp(v))
}

/// Fields a reading fault of `kind` may hit on a device of `device_kind`.
pub fn candidate_fields(kind: FaultKind, device_kind: Kind) -> &'static [&'static str] {
    match (kind, device_kind) {
        (FaultKind::Stuck, Kind::MetStation) => &["air_temp_c", "rh_pct", "wind_speed_ms", "ghi_wm2"],
        (FaultKind::Stuck, Kind::PeonyPlot) => &["soil_vwc_pct", "soil_temp_c", "air_temp_c", "air_rh_pct"],
        (FaultKind::Stuck, Kind::WindTurbine) => &["wind_speed_ms"],
        (FaultKind::Stuck, Kind::PvInverter) => &["temp_c"],
        (FaultKind::Stuck, Kind::PestTrap) => &["count"],
        (FaultKind::Spike, Kind::MetStation) => &["air_temp_c", "wind_speed_ms", "rh_pct", "pressure_hpa"],
        (FaultKind::Spike, Kind::PeonyPlot) => &["soil_vwc_pct", "soil_temp_c", "air_temp_c"],
        (FaultKind::Spike, Kind::WindTurbine) => &["wind_speed_ms", "ambient_temp_c"],
        (FaultKind::Spike, Kind::PvInverter) => &["temp_c"],
        (FaultKind::Drift, Kind::MetStation) => &["air_temp_c", "rh_pct", "ghi_wm2"],
        (FaultKind::Drift, Kind::PeonyPlot) => &["soil_vwc_pct", "soil_ec_ds_m", "soil_temp_c"],
        _ => &[],
    }
}

fn sign(rng: &mut StdRng) -> f64 {
    if rng.random::<bool>() { 1.0 } else { -1.0 }
}

/// A log-normal duration (s) with median `median_h` hours, clamped to `[min_h, max_h]`.
fn lognormal_hours(rng: &mut StdRng, median_h: f64, min_h: f64, max_h: f64) -> i64 {
    let hours = (median_h * (0.9 * normal(rng)).exp()).clamp(min_h, max_h);
    (hours * 3600.0) as i64
}

/// Draws one event of `kind` for `info` in `[w0, w1)` (device index filled in by the caller).
fn draft_event(
    candidate: &Candidate,
    info: &DeviceInfo,
    rng: &mut StdRng,
    w0: i64,
    w1: i64,
    utc_offset_s: i64,
) -> Option<Event> {
    let kind = candidate.kind;
    let span = w1 - w0;
    let pick_field = |rng: &mut StdRng| -> Option<(usize, &'static str)> {
        let fields = candidate_fields(kind, info.kind);
        if fields.is_empty() {
            return None;
        }
        let name = fields[rng.random_range(0..fields.len())];
        info.kind.field_index(name).map(|i| (i, name))
    };
    let place = |rng: &mut StdRng, duration: i64| -> (i64, i64) {
        // At most half the window, so a short run still shows the device before and after.
        let duration = duration.min(span / 2).max(60);
        let duration = duration - duration.rem_euclid(60);
        let start = w0 + (uniform(rng, 0.0, (span - duration).max(0) as f64) as i64);
        let start = start - start.rem_euclid(60);
        (start, (start + duration).min(w1))
    };
    let mut field = None;
    let magnitude;
    let description;
    let (start, end);
    match kind {
        FaultKind::Stuck => {
            let (f, name) = pick_field(rng)?;
            field = Some(f);
            (start, end) = {
                let duration = (uniform(rng, 6.0, 72.0) * 3600.0) as i64;
                place(rng, duration)
            };
            magnitude = 0.0;
            description = format!("{name} stuck at its last good value");
        }
        FaultKind::Spike => {
            let (f, name) = pick_field(rng)?;
            field = Some(f);
            let cadence = info.cadence_s.max(60);
            let t = w0 + uniform(rng, 0.0, span as f64) as i64;
            let t = t - t.rem_euclid(cadence) + if t.rem_euclid(cadence) > 0 { cadence } else { 0 };
            if t >= w1 {
                return None;
            }
            (start, end) = (t, t);
            magnitude = match name {
                "air_temp_c" | "ambient_temp_c" => sign(rng) * uniform(rng, 10.0, 20.0),
                "wind_speed_ms" => uniform(rng, 12.0, 25.0),
                "rh_pct" | "air_rh_pct" => -uniform(rng, 30.0, 50.0),
                "pressure_hpa" => sign(rng) * uniform(rng, 15.0, 40.0),
                "soil_vwc_pct" => sign(rng) * uniform(rng, 15.0, 30.0),
                "soil_temp_c" => sign(rng) * uniform(rng, 8.0, 15.0),
                _ => uniform(rng, 30.0, 50.0),
            };
            description = format!("single {name} reading off by {magnitude:+.1}");
        }
        FaultKind::Drift => {
            let (f, name) = pick_field(rng)?;
            field = Some(f);
            (start, end) = {
                let duration = (uniform(rng, 10.0, 30.0) * 86_400.0) as i64;
                place(rng, duration)
            };
            magnitude = match name {
                "ghi_wm2" => -uniform(rng, 0.1, 0.2),
                "rh_pct" => sign(rng) * uniform(rng, 6.0, 12.0),
                "soil_vwc_pct" => sign(rng) * uniform(rng, 4.0, 8.0),
                "soil_ec_ds_m" => uniform(rng, 0.3, 0.8),
                _ => sign(rng) * uniform(rng, 1.5, 3.0),
            };
            description = if name == "ghi_wm2" {
                format!(
                    "pyranometer reading drifts to {:+.0} % (dirty dome), recalibrated at the end",
                    magnitude * 100.0
                )
            } else {
                format!("{name} drifts linearly to {magnitude:+.2} off the truth, recalibrated at the end")
            };
        }
        FaultKind::Dropout => {
            (start, end) = {
                let duration = lognormal_hours(rng, 3.0, 0.34, 36.0);
                // A silence of one or two reports is a lost message, not a dropout: a device
                // is silent for at least three of its reporting intervals (NWP feeds, which
                // issue every few hours, may miss a single run).
                let floor = if info.kind == Kind::Nwp { 0 } else { 3 * info.cadence_s };
                place(rng, duration.max(floor))
            };
            magnitude = 0.0;
            description = "device silent (communication loss)".into();
        }
        FaultKind::PitchFault => {
            field = info.kind.field_index("power_kw");
            (start, end) = {
                let duration = (uniform(rng, 3.0, 14.0) * 86_400.0) as i64;
                place(rng, duration)
            };
            magnitude = uniform(rng, 3.0, 6.0);
            description = format!(
                "blade pitch offset of {magnitude:.1}°: less power than the curve at the same wind, pitch reads high"
            );
        }
        FaultKind::TurbineOutage => {
            field = info.kind.field_index("power_kw");
            (start, end) = {
                let duration = lognormal_hours(rng, 10.0, 2.0, 96.0);
                place(rng, duration)
            };
            magnitude = 0.0;
            description = "turbine stopped by a fault (availability), status fault".into();
        }
        FaultKind::InverterOutage => {
            field = info.kind.field_index("ac_power_kw");
            // An inverter trips while it converts (a grid disturbance, over-temperature, an
            // insulation fault at wake-up): between 08:00 and 14:00 local, so the trip is
            // followed by daylight in which the inverter should have produced.
            let duration = lognormal_hours(rng, 8.0, 2.0, 48.0).min(span / 2);
            let days = (span / SECS_PER_DAY).max(1);
            let day = rng.random_range(0..days);
            let local_midnight =
                (w0 + utc_offset_s).div_euclid(SECS_PER_DAY) * SECS_PER_DAY - utc_offset_s + day * SECS_PER_DAY;
            let s = local_midnight + (uniform(rng, 8.0, 14.0) * 3600.0) as i64;
            let s = s - s.rem_euclid(60);
            if s < w0 || s + 2 * SECS_PER_HOUR > w1 {
                return None;
            }
            (start, end) = (s, (s + duration - duration.rem_euclid(60)).min(w1));
            magnitude = 0.0;
            description = "inverter tripped: no AC or DC power, status fault".into();
        }
        FaultKind::StringOutage => {
            field = info.kind.field_index("dc_power_kw");
            (start, end) = {
                let duration = (uniform(rng, 2.0, 10.0) * 86_400.0) as i64;
                place(rng, duration)
            };
            let lost = rng.random_range(1..=3);
            magnitude = f64::from(lost) / 16.0;
            description =
                format!("{lost} of 16 combiner boxes open: {:.1} % of the inverter's DC array lost", magnitude * 100.0);
        }
        FaultKind::Soiling => {
            field = info.kind.field_index("ac_power_kw");
            (start, end) = {
                let duration = (uniform(rng, 10.0, 40.0) * 86_400.0) as i64;
                place(rng, duration)
            };
            magnitude = uniform(rng, 0.03, 0.08);
            description = format!("dust builds up to a {:.1} % irradiance loss, then cleaned", magnitude * 100.0);
        }
        FaultKind::PestOutbreak => {
            field = info.kind.field_index("count");
            (start, end) = {
                let duration = (uniform(rng, 5.0, 12.0) * 86_400.0) as i64;
                place(rng, duration)
            };
            magnitude = uniform(rng, 40.0, 80.0);
            description =
                format!("migrant influx: about {magnitude:.0} extra moths a night at a light trap on warm nights");
        }
        FaultKind::Drought => {
            field = info.kind.field_index("soil_vwc_pct");
            (start, end) = {
                let duration = (uniform(rng, 18.0, 30.0) * 86_400.0) as i64;
                place(rng, duration)
            };
            magnitude = 0.0;
            description =
                "drought spell: no rain, dry air, irrigation water unavailable; soil moisture runs down".into();
        }
        FaultKind::Curtailment => {
            field = info.kind.field_index("power_mw");
            let days = (span / SECS_PER_DAY).max(1);
            let day = rng.random_range(0..days);
            let local_midnight =
                (w0 + utc_offset_s).div_euclid(SECS_PER_DAY) * SECS_PER_DAY - utc_offset_s + day * SECS_PER_DAY;
            let (hour, hours, limit) = if candidate.solar {
                (uniform(rng, 10.5, 12.5), uniform(rng, 1.5, 4.0), uniform(rng, 0.45, 0.75))
            } else {
                (uniform(rng, 21.0, 27.0), uniform(rng, 2.0, 8.0), uniform(rng, 0.4, 0.7))
            };
            let s = local_midnight + (hour * 3600.0) as i64;
            let s = s - s.rem_euclid(60);
            let e = s + (hours * 3600.0) as i64;
            if s < w0 || e > w1 {
                return None;
            }
            (start, end) = (s, e);
            magnitude = limit;
            description = format!("dispatch limit (限电) at {:.0} % of capacity", limit * 100.0);
        }
        FaultKind::Icing | FaultKind::FrostNight => return None,
    }
    // Outbreaks and droughts act through the weather; the traps and plots report their effect.
    let role = if matches!(kind, FaultKind::PestOutbreak | FaultKind::Drought) { Role::Cause } else { Role::Fault };
    Some(Event { kind, role, device: 0, field, start, end, magnitude, description, held: None, reported: false })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(kind: Kind, name: &str) -> DeviceInfo {
        DeviceInfo { site: "s".into(), device: name.into(), kind, tags: Vec::new(), cadence_s: 60 }
    }

    #[test]
    fn reading_faults_hit_simulated_fields_and_stay_within_their_limits() {
        for fault in [FaultKind::Stuck, FaultKind::Spike, FaultKind::Drift] {
            for kind in Kind::ALL {
                for name in candidate_fields(fault, kind) {
                    assert!(kind.field_index(name).is_some(), "{} on {}.{name}", fault.name(), kind.name());
                }
            }
        }
        assert_eq!(clamp_field(Kind::MetStation, "rh_pct", 130.0), 100.0);
        assert_eq!(clamp_field(Kind::PeonyPlot, "soil_vwc_pct", -4.0), 0.0);
        assert_eq!(clamp_field(Kind::PvInverter, "temp_c", 170.0), 150.0);
        assert_eq!(clamp_field(Kind::MetStation, "rain_mm", 1e6), 1e6, "no upper limit");
        assert_eq!(clamp_field(Kind::MetStation, "no_such_field", -1e6), -1e6);
    }

    #[test]
    fn planning_is_reproducible_non_overlapping_and_ensures_each_kind() {
        let devices = vec![device(Kind::MetStation, "met"), device(Kind::PeonyPlot, "plot1")];
        let candidates: Vec<Candidate> = [FaultKind::Stuck, FaultKind::Spike, FaultKind::Drift, FaultKind::Dropout]
            .into_iter()
            .flat_map(|kind| {
                (0..2).map(move |d| Candidate {
                    kind,
                    devices: vec![d],
                    rate_per_30_days: 0.01,
                    min_night_temp_c: None,
                    min_mean_temp_c: None,
                    solar: false,
                    label: format!("{d}"),
                })
            })
            .collect();
        let normal_temp = |_t: i64| 10.0;
        let ctx = PlanContext {
            devices: &devices,
            candidates: &candidates,
            utc_offset_s: 8 * 3600,
            normal_temp: &normal_temp,
        };
        let plan = |seed| {
            let mut p = FaultPlan::new(seed, devices.len());
            p.plan_window(&ctx, 0, 40 * SECS_PER_DAY, true);
            p.events().iter().map(|e| (e.kind, e.device, e.start, e.end)).collect::<Vec<_>>()
        };
        let a = plan(3);
        assert_eq!(a, plan(3));
        for kind in [FaultKind::Stuck, FaultKind::Spike, FaultKind::Drift, FaultKind::Dropout] {
            assert!(a.iter().any(|e| e.0 == kind), "{kind:?} missing from {a:?}");
        }
        for (i, x) in a.iter().enumerate() {
            for y in &a[i + 1..] {
                if x.1 == y.1 {
                    assert!(x.3.max(x.2 + 1) <= y.2 || y.3.max(y.2 + 1) <= x.2, "overlap {x:?} {y:?}");
                }
            }
        }
    }

    #[test]
    fn reading_faults_change_readings_as_documented() {
        let devices = vec![device(Kind::MetStation, "met")];
        let mut plan = FaultPlan::new(1, 1);
        let temp = Kind::MetStation.field_index("air_temp_c");
        plan.push(Event {
            kind: FaultKind::Stuck,
            role: Role::Fault,
            device: 0,
            field: temp,
            start: 100,
            end: 200,
            magnitude: 0.0,
            description: String::new(),
            held: None,
            reported: false,
        });
        plan.push(Event {
            kind: FaultKind::Dropout,
            role: Role::Fault,
            device: 0,
            field: None,
            start: 300,
            end: 400,
            magnitude: 0.0,
            description: String::new(),
            held: None,
            reported: false,
        });
        plan.push(Event {
            kind: FaultKind::Spike,
            role: Role::Fault,
            device: 0,
            field: temp,
            start: 500,
            end: 500,
            magnitude: 150.0,
            description: String::new(),
            held: None,
            reported: false,
        });
        let mut row = |t: i64, v: f64| {
            let mut values = vec![Value::Missing; 9];
            values[2] = Value::Num(v);
            plan.apply(&devices, 0, t, &mut values).then_some(values[2])
        };
        assert_eq!(row(100, 5.0), Some(Value::Num(5.0)));
        assert_eq!(row(160, 9.0), Some(Value::Num(5.0)));
        assert_eq!(row(200, 9.0), Some(Value::Num(9.0)));
        assert_eq!(row(300, 9.0), None);
        assert_eq!(row(500, 9.0), Some(Value::Num(70.0)), "spikes stay within the physical limit");
        let truth = plan.flush(&devices, 1000);
        assert_eq!(truth.len(), 3);
        assert_eq!(truth[0].field, "air_temp_c");
        assert_eq!(truth[1].field, "*");
    }
}
