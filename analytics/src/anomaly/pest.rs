//! Pest outbreaks: a trap's daily catch surging over its recent baseline, in the manner of
//! the CDC's Early Aberration Reporting System (EARS).
//!
//! Traps report a cumulative `count` that returns to 0 when the trap is serviced. The catch
//! since the previous reading is the increase of the counter, or — when the counter dropped,
//! i.e. the trap was emptied — the new value itself. Catches are summed per *trap day*, which
//! starts at local noon so one night's flight falls in one day.
//!
//! The statistic is EARS's `(x − μ)/σ` with μ and σ from a 7-day baseline: C1 uses the 7
//! days before today, C2 skips a 2-day guard band first (so the first days of a surge do not
//! raise their own baseline), C3 sums the positive excesses `max(0, C2 − 1)` of today and
//! the two previous days. Counts are overdispersed Poisson-like data, so σ is never taken
//! below `√(φμ)` (quasi-Poisson) nor below `min_sigma`, and a day needs at least `min_catch`
//! insects to count as a surge. Baseline days are *flight* days: a night too cold, wet or
//! windy for anything to fly (a catch below `min_flight_catch`) says nothing about the
//! population and would only drag μ down and inflate σ, so such days are skipped, looking
//! back at most four baselines. Today's partial catch is scored as it grows, so an outbreak
//! night is flagged during the night, not the next day.

use serde::{Deserialize, Serialize};

use super::event::{EventKind, EventTracker, Hysteresis, tracked};
use super::stats::{ramp, sane};
use super::{Result, require};

/// Which EARS statistic is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ears {
    C1,
    C2,
    C3,
}

/// Configuration of [`PestOutbreak`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PestConfig {
    pub method: Ears,
    /// Local time zone offset (s) and the local hour a trap day starts.
    pub utc_offset_s: i64,
    pub day_start_hour_local: u32,
    /// Days in the baseline.
    pub baseline_days: usize,
    /// The statistic where the score starts rising and where it reaches 1 (0.5 half way).
    pub low: f64,
    pub high: f64,
    /// A day with fewer insects than this is never a surge (the first flights of a season
    /// go from nothing to a dozen every year).
    pub min_catch: f64,
    /// Quasi-Poisson overdispersion: σ is at least √(overdispersion × μ).
    pub overdispersion: f64,
    /// Smallest σ of the daily catch.
    pub min_sigma: f64,
    /// A day with a smaller catch was no flight night and is left out of the baseline.
    pub min_flight_catch: f64,
    pub hysteresis: Hysteresis,
}

impl Default for PestConfig {
    fn default() -> Self {
        PestConfig {
            method: Ears::C2,
            utc_offset_s: 8 * 3600,
            day_start_hour_local: 12,
            baseline_days: 7,
            low: 3.0,
            high: 6.0,
            min_catch: 15.0,
            overdispersion: 3.0,
            min_sigma: 1.0,
            min_flight_catch: 1.0,
            // One outbreak spans several nights: a quiet day in between does not end it.
            hysteresis: Hysteresis::with_durations(0, 36 * 3600),
        }
    }
}

impl PestConfig {
    /// Days of the guard band between today and the baseline.
    fn guard_days(&self) -> usize {
        match self.method {
            Ears::C1 => 0,
            Ears::C2 | Ears::C3 => 2,
        }
    }

    pub fn check(&self) -> Result<()> {
        self.hysteresis.check()?;
        require(self.day_start_hour_local < 24, || "day_start_hour_local must be 0..=23".into())?;
        require((2..=60).contains(&self.baseline_days), || "baseline_days must be 2..=60".into())?;
        require(self.high > self.low, || "pest needs low < high".into())?;
        require(self.min_flight_catch >= 0.0, || "min_flight_catch must be >= 0".into())?;
        require(self.min_catch >= 0.0 && self.min_sigma > 0.0 && self.overdispersion >= 0.0, || {
            "pest needs min_catch >= 0, min_sigma > 0, overdispersion >= 0".into()
        })
    }
}

/// Outbreak detection on one trap's counter (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PestOutbreak {
    config: PestConfig,
    tracker: EventTracker,
    last_count: Option<f64>,
    day: Option<i64>,
    today: f64,
    /// Catches of the finished days, oldest first (baseline + guard days at most).
    history: Vec<f64>,
    /// C2 of the two previous days (for C3), most recent last.
    previous_c2: Vec<f64>,
    score: f64,
}

impl PestOutbreak {
    /// For the counter field `field` (the name events carry).
    pub fn new(field: &str, config: PestConfig) -> Result<Self> {
        config.check()?;
        Ok(PestOutbreak {
            tracker: EventTracker::new(EventKind::PestOutbreak, field, config.hysteresis),
            config,
            last_count: None,
            day: None,
            today: 0.0,
            history: Vec::new(),
            previous_c2: Vec::new(),
            score: 0.0,
        })
    }

    fn trap_day(&self, t: i64) -> i64 {
        crate::pests::trap_day(t, self.config.utc_offset_s, self.config.day_start_hour_local)
    }

    /// One counter reading. Returns the score of today's catch so far.
    pub fn update(&mut self, t: i64, count: f64) -> f64 {
        let day = self.trap_day(t);
        match self.day {
            Some(current) if day > current => {
                let finished_c2 = self.c2(self.today);
                self.history.push(self.today);
                // Days without any reading are unknown, not zero: they are skipped.
                let keep = 4 * self.config.baseline_days + self.config.guard_days();
                if self.history.len() > keep {
                    self.history.remove(0);
                }
                if let Some(c2) = finished_c2 {
                    self.previous_c2.push(c2);
                    if self.previous_c2.len() > 2 {
                        self.previous_c2.remove(0);
                    }
                }
                self.today = 0.0;
                self.day = Some(day);
            }
            None => self.day = Some(day),
            _ => {}
        }
        let Some(count) = sane(count).filter(|c| *c >= 0.0) else { return self.score };
        let catch = crate::pests::catch_since(self.last_count, count);
        self.last_count = Some(count);
        // Out-of-order readings of an earlier day still count towards today.
        self.today += catch;
        let (statistic, expected) = self.statistic(self.today);
        self.score =
            if self.today >= self.config.min_catch { ramp(statistic, self.config.low, self.config.high) } else { 0.0 };
        self.tracker.observe(t, self.score, self.today, expected);
        self.score
    }

    /// Mean and σ of the baseline days, once there are enough.
    fn baseline(&self) -> Option<(f64, f64)> {
        let c = &self.config;
        let guard = c.guard_days();
        let end = self.history.len().checked_sub(guard)?;
        let days: Vec<f64> = self
            .history
            .get(..end)?
            .iter()
            .rev()
            .copied()
            .filter(|&x| x >= c.min_flight_catch)
            .take(c.baseline_days)
            .collect();
        if days.len() < c.baseline_days {
            return None;
        }
        let n = days.len() as f64;
        let mean = days.iter().sum::<f64>() / n;
        let var = days.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        let sigma = var.sqrt().max((c.overdispersion * mean.max(0.0)).sqrt()).max(c.min_sigma);
        Some((mean, sigma))
    }

    fn c2(&self, catch: f64) -> Option<f64> {
        self.baseline().map(|(mean, sigma)| (catch - mean) / sigma)
    }

    /// The configured EARS statistic of `catch` and the baseline mean.
    fn statistic(&self, catch: f64) -> (f64, f64) {
        let Some((mean, sigma)) = self.baseline() else { return (0.0, f64::NAN) };
        let c2 = (catch - mean) / sigma;
        let statistic = match self.config.method {
            Ears::C1 | Ears::C2 => c2,
            Ears::C3 => std::iter::once(c2).chain(self.previous_c2.iter().copied()).map(|x| (x - 1.0).max(0.0)).sum(),
        };
        (statistic, mean)
    }

    /// Insects caught so far in the current trap day.
    pub fn catch_today(&self) -> f64 {
        self.today
    }
}

tracked!(PestOutbreak);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anomaly::testutil::{Noise, opened};
    use crate::anomaly::{EventChange, Tracked};

    /// 2026-05-01T00:00:00+08:00.
    const T0: i64 = 1_777_564_800;
    const HOUR: i64 = 3600;

    /// Hourly counter readings of a light trap: nightly catches around a slowly rising
    /// seasonal level (20:00–06:00 local), `extra` more on outbreak nights, and a service
    /// reset every 7 days at 08:00 local.
    fn trap(days: i64, extra: impl Fn(i64) -> f64) -> Vec<(i64, f64)> {
        let mut noise = Noise::new(31);
        let mut count = 0.0;
        (0..days * 24)
            .map(|h| {
                let t = T0 + h * HOUR;
                let local_hour = (h + 24) % 24; // T0 is local midnight
                let day = h / 24;
                let flying = !(6..20).contains(&local_hour);
                if flying {
                    let night = if local_hour >= 20 { day } else { day - 1 };
                    let level = 8.0 + 0.4 * night as f64 + extra(night);
                    count += noise.poisson(level / 10.0);
                }
                if local_hour == 8 && day % 7 == 3 {
                    count = 0.0;
                }
                (t, count)
            })
            .collect()
    }

    fn run(series: &[(i64, f64)]) -> (PestOutbreak, Vec<EventChange>) {
        let mut detector = PestOutbreak::new("count", PestConfig::default()).unwrap();
        let mut changes = Vec::new();
        for &(t, c) in series {
            detector.update(t, c);
            changes.extend(detector.drain_events());
        }
        (detector, changes)
    }

    #[test]
    fn a_rising_season_with_service_resets_is_not_an_outbreak() {
        let (_, changes) = run(&trap(40, |_| 0.0));
        assert!(changes.is_empty(), "{changes:#?}");
    }

    #[test]
    fn a_surge_across_a_service_reset_is_one_event_on_its_first_night() {
        // Outbreak nights 20..25; the trap is serviced on day 24 (24 % 7 == 3) mid-surge.
        let series = trap(32, |night| if (20..25).contains(&night) { 60.0 } else { 0.0 });
        let (_, changes) = run(&series);
        let events = opened(&changes, EventKind::PestOutbreak);
        assert_eq!(events.len(), 1, "{changes:#?}");
        let first_night = T0 + 20 * 24 * HOUR + 20 * HOUR;
        assert!(events[0].0 >= first_night && events[0].0 <= first_night + 10 * HOUR, "{}", events[0].0 - first_night);
        let closed = changes.iter().filter(|c| matches!(c, EventChange::Closed(_))).count();
        assert_eq!(closed, 1, "the outbreak ended and closed once");
    }

    #[test]
    fn catches_come_from_counter_increases_and_resets() {
        let mut detector = PestOutbreak::new("count", PestConfig::default()).unwrap();
        // Local 14:00, 15:00 ... within one trap day (which starts at local noon).
        let t = T0 + 14 * HOUR;
        for (i, count) in [5.0, 9.0, 12.0, 2.0, 4.0, f64::NAN, 4.0].into_iter().enumerate() {
            detector.update(t + i as i64 * HOUR, count);
        }
        // 0 (first reading) + 4 + 3 + 2 (reset: new value) + 2 + 0.
        assert_eq!(detector.catch_today(), 11.0);
        detector.update(t + 23 * HOUR, 6.0);
        assert_eq!(detector.catch_today(), 2.0, "a new trap day starts at local noon");
    }
}
