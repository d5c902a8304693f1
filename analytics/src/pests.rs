//! Pest intelligence for the farm side: a trap's daily catch from its cumulative counter (the
//! one function the outbreak detector uses too), the flights of a season and their onset,
//! peak and end dates (16 %, 50 % and 84 % of each flight's cumulative catch), a warning
//! level 1–5 per species from configurable thresholds, a next-week catch forecast, and the
//! species table (`pests.toml`, compiled in) with each species' development thresholds.
//! Days in, indicators out: no clock, no I/O.

use std::collections::BTreeMap;

use fieldline_core::time::SECS_PER_DAY;
use serde::{Deserialize, Serialize};

/// The built-in species table.
const BUILT_IN: &str = include_str!("pests.toml");

/// Species table errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("pest table: {0}")]
    Parse(String),
    #[error("species {species}: {problem}")]
    Invalid { species: String, problem: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A pest species: its development thresholds and warning levels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Species {
    pub name_zh: String,
    pub common_name: String,
    /// Lower and upper development thresholds (°C).
    pub lower_c: f64,
    pub upper_c: f64,
    /// Migrants: degree days count from this day of the year instead of 1 January.
    #[serde(default)]
    pub arrival_doy: Option<u32>,
    /// Degree days from the start to the season's first flight peak, and from one flight peak
    /// to the next (one generation).
    pub first_flight_dd: f64,
    pub generation_dd: f64,
    /// Mean daily catch per trap at which levels 2, 3, 4 and 5 begin.
    pub levels_light: [f64; 4],
    pub levels_pheromone: [f64; 4],
    /// Days the level's mean daily catch is taken over.
    #[serde(default = "default_level_window")]
    pub level_window_days: usize,
}

fn default_level_window() -> usize {
    3
}

/// Trap type (the thresholds differ: a light trap catches every moth that flies to it, a
/// pheromone trap only males of one species).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrapType {
    Light,
    Pheromone,
}

/// Species by name (the `species` tag: `helicoverpa_armigera`, ...).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SpeciesTable(pub BTreeMap<String, Species>);

impl SpeciesTable {
    /// The compiled-in table.
    pub fn built_in() -> &'static Self {
        // Parsed once; checked by a unit test (an empty table rather than a panic if that ever
        // failed).
        static TABLE: std::sync::LazyLock<SpeciesTable> =
            std::sync::LazyLock::new(|| SpeciesTable::parse(BUILT_IN).unwrap_or_default());
        &TABLE
    }

    pub fn parse(text: &str) -> Result<Self> {
        let table: SpeciesTable = toml::from_str(text).map_err(|e| Error::Parse(e.to_string()))?;
        for (name, species) in &table.0 {
            species.check().map_err(|problem| Error::Invalid { species: name.clone(), problem })?;
        }
        Ok(table)
    }

    pub fn get(&self, name: &str) -> Option<&Species> {
        self.0.get(name)
    }
}

impl Species {
    fn check(&self) -> Result<(), String> {
        if !(self.lower_c.is_finite() && self.upper_c.is_finite() && self.lower_c < self.upper_c) {
            return Err(format!("lower_c {} must be below upper_c {}", self.lower_c, self.upper_c));
        }
        for levels in [&self.levels_light, &self.levels_pheromone] {
            if levels.iter().any(|l| !l.is_finite() || *l < 0.0) || levels.windows(2).any(|w| w[1] <= w[0]) {
                return Err(format!("warning levels {levels:?} must be rising, non-negative numbers"));
            }
        }
        if self.level_window_days == 0 {
            return Err("level_window_days must be at least 1".into());
        }
        if self.arrival_doy.is_some_and(|d| !(1..=366).contains(&d)) {
            return Err("arrival_doy must be 1..=366".into());
        }
        Ok(())
    }

    /// Warning level 1–5 of a mean daily catch per trap.
    pub fn level(&self, mean_daily_catch: f64, trap: TrapType) -> u8 {
        let thresholds = match trap {
            TrapType::Light => &self.levels_light,
            TrapType::Pheromone => &self.levels_pheromone,
        };
        1 + thresholds.iter().filter(|t| mean_daily_catch >= **t).count() as u8
    }
}

/// Insects caught since the previous reading of a cumulative trap counter: its increase, or,
/// when it dropped (the trap was serviced and counts from zero again), the new value. The
/// first reading (`last` = None) starts the count and catches nothing.
pub fn catch_since(last: Option<f64>, count: f64) -> f64 {
    match last {
        Some(last) if count >= last => count - last,
        Some(_) => count,
        None => 0.0,
    }
}

/// The trap day of a reading at `t` (Unix seconds): days start at `day_start_hour_local` local
/// time (noon by default, so one night's flight falls in one day), numbered like Unix days.
pub fn trap_day(t: i64, utc_offset_s: i64, day_start_hour_local: u32) -> i64 {
    let shift = utc_offset_s - i64::from(day_start_hour_local) * 3600;
    t.saturating_add(shift).div_euclid(SECS_PER_DAY)
}

/// Daily catches of one trap from its counter readings `(t, count)` (any order; negative or
/// non-finite counts are skipped): (trap day, insects), every day from the first reading's to
/// the last's, days without readings as 0.
pub fn daily_catches(readings: &[(i64, f64)], utc_offset_s: i64, day_start_hour_local: u32) -> Vec<(i64, f64)> {
    let mut sorted: Vec<(i64, f64)> = readings.iter().copied().filter(|(_, c)| c.is_finite() && *c >= 0.0).collect();
    sorted.sort_by_key(|(t, _)| *t);
    let (Some(first), Some(last)) = (sorted.first(), sorted.last()) else { return Vec::new() };
    let first_day = trap_day(first.0, utc_offset_s, day_start_hour_local);
    let last_day = trap_day(last.0, utc_offset_s, day_start_hour_local);
    let mut days: Vec<(i64, f64)> = (first_day..=last_day).map(|d| (d, 0.0)).collect();
    let mut previous = None;
    for (t, count) in sorted {
        let day = trap_day(t, utc_offset_s, day_start_hour_local);
        if let Some(slot) = usize::try_from(day - first_day).ok().and_then(|i| days.get_mut(i)) {
            slot.1 += catch_since(previous, count);
        }
        previous = Some(count);
    }
    days
}

/// One flight (a generation's adults on the wing) within a season's daily catches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flight {
    /// Indexes into the daily series of the days its cumulative catch reached 16 %, 50 % and
    /// 84 % of the flight's total.
    pub onset: usize,
    pub peak: usize,
    pub end: usize,
    /// First and last day counted in the flight.
    pub first: usize,
    pub last: usize,
    pub total: f64,
    /// False while the flight may still be going on (it reaches the series' last day).
    pub complete: bool,
}

/// Flights in a season's daily catches (in day order). A flight is a stretch of days whose
/// 7-day centred mean catch is at least `min_daily` insects; two stretches less than
/// `min_gap_days` apart are one flight; a stretch is split where its 7-day mean falls to half
/// the lower of the peaks either side (overlapping generations); fewer than 3 insects are
/// strays. Within each, onset, peak and end are the days the
/// cumulative catch reaches 16 %, 50 % and 84 % of the flight's total (the percentiles of a
/// normal flight curve one standard deviation either side of its median).
pub fn flights(daily: &[f64], min_daily: f64, min_gap_days: usize) -> Vec<Flight> {
    let n = daily.len();
    let clean: Vec<f64> = daily.iter().map(|c| if c.is_finite() && *c > 0.0 { *c } else { 0.0 }).collect();
    let smoothed: Vec<f64> = (0..n)
        .map(|i| {
            let (from, to) = (i.saturating_sub(3), (i + 4).min(n));
            clean[from..to].iter().sum::<f64>() / (to - from) as f64
        })
        .collect();
    // Stretches of flight days, merged across short gaps.
    let mut stretches: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < n {
        if smoothed[i] < min_daily {
            i += 1;
            continue;
        }
        let start = i;
        while i < n && smoothed[i] >= min_daily {
            i += 1;
        }
        match stretches.last_mut() {
            Some(last) if start - last.1 <= min_gap_days => last.1 = i - 1,
            _ => stretches.push((start, i - 1)),
        }
    }
    // A stretch may hold several generations whose flights overlap: split it at each valley
    // that falls to half the lower of the peaks either side.
    let stretches: Vec<(usize, usize)> =
        stretches.into_iter().flat_map(|(first, last)| split_at_valleys(&smoothed, first, last)).collect();
    stretches
        .into_iter()
        .filter_map(|(first, last)| {
            let days = &clean[first..=last];
            let total: f64 = days.iter().sum();
            // A moth or two is not a flight.
            if total < MIN_FLIGHT_TOTAL {
                return None;
            }
            let reach = |share: f64| {
                let mut sum = 0.0;
                days.iter().position(|c| {
                    sum += c;
                    sum >= share * total - 1e-9
                })
            };
            Some(Flight {
                onset: first + reach(0.16)?,
                peak: first + reach(0.50)?,
                end: first + reach(0.84)?,
                first,
                last,
                total,
                complete: last + min_gap_days < n.saturating_sub(1),
            })
        })
        .collect()
}

/// Fewer insects than this in a stretch are strays, not a flight.
const MIN_FLIGHT_TOTAL: f64 = 3.0;
/// A valley splits two flights when it falls to this share of the lower peak beside it.
const VALLEY_SHARE: f64 = 0.5;

/// `first..=last` split at its deepest valley (a local minimum of `smoothed` at most
/// `VALLEY_SHARE` of the lower of the highest days either side), recursively.
fn split_at_valleys(smoothed: &[f64], first: usize, last: usize) -> Vec<(usize, usize)> {
    let mut best: Option<(f64, usize)> = None;
    for v in first + 1..last {
        if !(smoothed[v] <= smoothed[v - 1] && smoothed[v] <= smoothed[v + 1]) {
            continue;
        }
        let left = smoothed[first..v].iter().copied().fold(0.0, f64::max);
        let right = smoothed[v + 1..=last].iter().copied().fold(0.0, f64::max);
        let lower = left.min(right);
        if lower <= 0.0 {
            continue;
        }
        let ratio = smoothed[v] / lower;
        if ratio <= VALLEY_SHARE && best.is_none_or(|(r, _)| ratio < r) {
            best = Some((ratio, v));
        }
    }
    match best {
        Some((_, v)) => {
            let mut out = split_at_valleys(smoothed, first, v);
            out.extend(split_at_valleys(smoothed, v + 1, last));
            out
        }
        None => vec![(first, last)],
    }
}

/// Mean daily catch over the last `window` days of `daily` (fewer if the series is shorter).
pub fn recent_mean(daily: &[f64], window: usize) -> f64 {
    let recent = &daily[daily.len().saturating_sub(window.max(1))..];
    if recent.is_empty() {
        return 0.0;
    }
    recent.iter().filter(|c| c.is_finite()).sum::<f64>() / recent.len() as f64
}

/// Expected catch over the next 7 days: the last 7 days' catch carried forward with its trend
/// (the ratio of the last 7 days to the 7 before, a log-linear growth kept within ×0.25–×4, as
/// flights rarely more than quadruple or fall by more than three quarters in a week). With
/// less than two weeks of data, the last week's catch as it is.
pub fn next_week_forecast(daily: &[f64]) -> f64 {
    let sum = |days: &[f64]| days.iter().filter(|c| c.is_finite()).sum::<f64>();
    let n = daily.len();
    let last_week = sum(&daily[n.saturating_sub(7)..]);
    if n < 14 {
        return last_week;
    }
    let week_before = sum(&daily[n - 14..n - 7]);
    // One insect added to both weeks keeps an empty week from making the ratio infinite.
    let growth = ((last_week + 1.0) / (week_before + 1.0)).clamp(0.25, 4.0);
    last_week * growth
}

/// A flight counts as a generation (the biofix of the next) once the season's degree days at
/// its peak reached this share of the first flight's.
const BIOFIX_SHARE: f64 = 0.5;
/// Share of a flight's heat sum by which its peak may come early or late.
const FLIGHT_DD_SPREAD: f64 = 0.1;
/// Share by which the days ahead may be warmer or cooler than expected.
const AHEAD_RATE_SPREAD: f64 = 0.2;

/// The next flight's expected peak, from degree days.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FlightForecast {
    /// The degree days (from the species' start) at which the flight peaks: `first_flight_dd`,
    /// or the last flight's peak plus `generation_dd`.
    pub due_dd: f64,
    /// Degree days accumulated by the last observed day.
    pub dd_so_far: f64,
    /// Day index (observed days first, then the days ahead) the peak is expected on; the early
    /// and late bounds take the heat sum a tenth lower or higher and the days ahead a fifth
    /// warmer or cooler. `None`: not within the days ahead.
    pub peak: Option<usize>,
    pub early: Option<usize>,
    pub late: Option<usize>,
    /// Whether `due_dd` counts from a flight seen this season (the biofix) or from the start
    /// (no flight yet, or only strays well before the first flight is due).
    pub after_flight: bool,
}

impl Species {
    /// Whether a flight peaking at `dd_at_peak` season degree days is a generation, not strays
    /// long before the first flight is due.
    pub fn is_generation(&self, dd_at_peak: f64) -> bool {
        dd_at_peak >= BIOFIX_SHARE * self.first_flight_dd
    }

    /// The next flight's expected peak. `daily_dd` holds each observed day's degree days (0
    /// before the species' start), `last_peak` the day of the last flight's peak this season,
    /// `ahead_dd` the expected degree days of the days after the observed ones (the weather
    /// forecast's, then the recent rate carried on).
    pub fn next_flight(&self, daily_dd: &[f64], last_peak: Option<usize>, ahead_dd: &[f64]) -> FlightForecast {
        let cumulative: Vec<f64> = daily_dd
            .iter()
            .scan(0.0, |sum, dd| {
                *sum += if dd.is_finite() { dd.max(0.0) } else { 0.0 };
                Some(*sum)
            })
            .collect();
        let dd_so_far = cumulative.last().copied().unwrap_or(0.0);
        // A flight long before the first flight is due (strays, a migrant's early arrivals)
        // is not a generation to count from.
        let biofix = last_peak.and_then(|p| cumulative.get(p)).filter(|dd| self.is_generation(**dd));
        let due_dd = match biofix {
            Some(at_peak) => at_peak + self.generation_dd,
            None => self.first_flight_dd,
        };
        let reached = |due: f64, rate: f64| -> Option<usize> {
            if let Some(day) = cumulative.iter().position(|c| *c >= due) {
                return Some(day);
            }
            let mut sum = dd_so_far;
            for (k, dd) in ahead_dd.iter().enumerate() {
                sum += dd.max(0.0) * rate;
                if sum >= due {
                    return Some(daily_dd.len() + k);
                }
            }
            None
        };
        // The range: a generation's heat sum varies by about a tenth, the days ahead by a fifth.
        let spread = FLIGHT_DD_SPREAD * if biofix.is_some() { self.generation_dd } else { self.first_flight_dd };
        FlightForecast {
            due_dd,
            dd_so_far,
            peak: reached(due_dd, 1.0),
            early: reached(due_dd - spread, 1.0 + AHEAD_RATE_SPREAD),
            late: reached(due_dd + spread, 1.0 - AHEAD_RATE_SPREAD),
            after_flight: biofix.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-05-01T00:00:00+08:00.
    const T0: i64 = 1_777_564_800;
    const HOUR: i64 = 3600;
    const OFFSET: i64 = 8 * HOUR;

    #[test]
    fn the_built_in_species_parse_with_rising_levels() {
        let table = SpeciesTable::parse(BUILT_IN).unwrap();
        for name in ["helicoverpa_armigera", "spodoptera_frugiperda", "agrotis_ipsilon"] {
            assert!(table.get(name).is_some(), "{name}");
        }
        let bollworm = table.get("helicoverpa_armigera").unwrap();
        assert_eq!((bollworm.lower_c, bollworm.upper_c), (11.0, 33.0));
        assert_eq!(table.get("spodoptera_frugiperda").unwrap().arrival_doy, Some(170));
        assert_eq!(SpeciesTable::built_in(), &table);
        let bad = BUILT_IN.replace("levels_light = [2.0, 8.0, 20.0, 40.0]", "levels_light = [2.0, 8.0, 8.0, 40.0]");
        assert!(SpeciesTable::parse(&bad).unwrap_err().to_string().contains("helicoverpa_armigera"));
    }

    #[test]
    fn levels_by_hand() {
        let bollworm = SpeciesTable::built_in().get("helicoverpa_armigera").cloned().unwrap();
        // Light: [2, 8, 20, 40].
        assert_eq!(bollworm.level(0.0, TrapType::Light), 1);
        assert_eq!(bollworm.level(1.99, TrapType::Light), 1);
        assert_eq!(bollworm.level(2.0, TrapType::Light), 2);
        assert_eq!(bollworm.level(19.9, TrapType::Light), 3);
        assert_eq!(bollworm.level(20.0, TrapType::Light), 4);
        assert_eq!(bollworm.level(400.0, TrapType::Light), 5);
        // Pheromone: [1, 5, 12, 25].
        assert_eq!(bollworm.level(12.0, TrapType::Pheromone), 4);
    }

    #[test]
    fn daily_catch_from_a_counter_with_service_resets_by_hand() {
        // Trap days start at local noon. Readings (local time, count):
        let at = |day: i64, hour: i64| T0 + day * 86_400 + hour * HOUR;
        let readings = [
            (at(0, 13), 0.0), // day 0 (from 1 May noon): the first reading catches nothing
            (at(0, 22), 4.0), // +4
            (at(1, 2), 7.0),  // +3, still the night of 1 May
            (at(1, 9), 2.0),  // serviced at 08:00 and 2 caught since: +2
            (at(1, 14), 5.0), // day 1: +3
            (at(2, 3), 5.0),  // +0
            // day 2 has no reading after noon; day 3:
            (at(3, 21), 1.0),      // day 3 (from 4 May noon): dropped, serviced, +1
            (at(3, 23), f64::NAN), // a broken reading is skipped
        ];
        let daily = daily_catches(&readings, OFFSET, 12);
        let first = trap_day(at(0, 13), OFFSET, 12);
        let got: Vec<(i64, f64)> = daily.iter().map(|(d, c)| (d - first, *c)).collect();
        assert_eq!(got, vec![(0, 9.0), (1, 3.0), (2, 0.0), (3, 1.0)]);
        // Order of arrival does not matter.
        let mut shuffled = readings.to_vec();
        shuffled.reverse();
        assert_eq!(daily_catches(&shuffled, OFFSET, 12), daily);
    }

    #[test]
    fn flight_dates_by_hand() {
        // Two flights: days 10–14 catch 1, 2, 4, 2, 1 (total 10); days 40–44 catch 5 each.
        let mut daily = vec![0.0; 60];
        for (i, c) in [1.0, 2.0, 4.0, 2.0, 1.0].into_iter().enumerate() {
            daily[10 + i] = c;
        }
        for d in &mut daily[40..45] {
            *d = 5.0;
        }
        let found = flights(&daily, 0.5, 3);
        assert_eq!(found.len(), 2, "{found:?}");
        // First flight: cumulative 1, 3, 7, 9, 10 → 16 % (1.6) on day 11, 50 % (5) on day 12,
        // 84 % (8.4) on day 13.
        assert_eq!((found[0].onset, found[0].peak, found[0].end), (11, 12, 13));
        assert_eq!(found[0].total, 10.0);
        // Second: 5, 10, 15, 20, 25 → 4 (day 40), 12.5 (day 42), 21 (day 44).
        assert_eq!((found[1].onset, found[1].peak, found[1].end), (40, 42, 44));
        assert!(found[0].complete && found[1].complete);
        // A flight still on the wing at the end of the data is not complete.
        let ongoing = flights(&daily[..43], 0.5, 3);
        assert!(!ongoing[1].complete);
        // An empty season has no flights.
        assert!(flights(&[0.0; 30], 0.5, 3).is_empty());
    }

    #[test]
    fn next_week_follows_the_trend_within_bounds() {
        // 14 days: 7 of 2 insects, then 7 of 4: ratio (28 + 1)/(14 + 1), forecast 28 × 1.93.
        let mut daily = vec![2.0; 7];
        daily.extend(vec![4.0; 7]);
        let expected = 28.0 * (29.0 / 15.0);
        assert!((next_week_forecast(&daily) - expected).abs() < 1e-9);
        // From nothing to a surge: growth capped at ×4.
        let mut surge = vec![0.0; 7];
        surge.extend(vec![10.0; 7]);
        assert_eq!(next_week_forecast(&surge), 280.0);
        // Short series: last week as it is.
        assert_eq!(next_week_forecast(&[1.0, 2.0, 3.0]), 6.0);
        assert_eq!(recent_mean(&[1.0, 2.0, 3.0, 6.0], 3), 11.0 / 3.0);
    }

    #[test]
    fn the_next_flight_is_a_generation_after_the_last_peak() {
        let table = SpeciesTable::built_in();
        let bollworm = table.get("helicoverpa_armigera").unwrap();
        // 10 °C·d a day for 60 days: the first flight (350) would be due on day 34 (sum 350).
        let observed = vec![10.0; 60];
        let first = bollworm.next_flight(&observed, None, &[]);
        assert_eq!((first.due_dd, first.peak, first.after_flight), (350.0, Some(34), false));
        // A flight peaked on day 40 (410 °C·d): the next is due at 910, 500 later; 600 so far,
        // 310 to go at 10 a day ahead: the 31st day ahead, day 90. Early: 50 less (260) at 12 a
        // day, the 22nd day (81); late: 360 at 8 a day, the 45th (104).
        let next = bollworm.next_flight(&observed, Some(40), &[10.0; 60]);
        assert_eq!(next.due_dd, 910.0);
        assert_eq!(next.dd_so_far, 600.0);
        assert_eq!((next.peak, next.early, next.late), (Some(90), Some(81), Some(104)));
        // Not within the days ahead.
        assert_eq!(bollworm.next_flight(&observed, Some(40), &[10.0; 5]).peak, None);
        // A flight at 100 °C·d (under half the first flight's 350) is strays: still the first.
        let strays = bollworm.next_flight(&observed, Some(9), &[]);
        assert_eq!((strays.due_dd, strays.after_flight), (350.0, false));
    }
}
