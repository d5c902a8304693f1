//! The alert book and the lifecycle of an alert: a detector event opens one alert per
//! condition (or refreshes the open one), an operator acknowledges it, the event's close
//! resolves it. Open alerts are kept in memory (keyed by [`AlertKey`]) for deduplication;
//! every change is written durably first, then published and sent to the webhook.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use fieldline_analytics::anomaly::Event;
use fieldline_core::time::NS_PER_SEC;
use fieldline_ingest::outbox::Outbox;
use fieldline_store::Store;

use super::message::describe;
use super::record::load;
use super::webhook::spawn_webhook;
use super::{Alert, AlertKey, AlertMetrics, AlertsConfig, Error, KindLabel, Severity, State};

/// The alert book: open alerts in memory, every alert in the store.
#[derive(Clone)]
pub struct Alerts {
    inner: Arc<Mutex<BTreeMap<AlertKey, Alert>>>,
    store: Store,
    outbox: Outbox,
    webhooks: Vec<tokio::sync::mpsc::Sender<serde_json::Value>>,
    pub metrics: AlertMetrics,
}

/// Where a detector event happened.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub measurement: &'a str,
    pub site: &'a str,
    pub device: &'a str,
}

impl AlertKey {
    /// The condition of `event` on `origin`'s device.
    fn of(origin: &Origin<'_>, event: &Event) -> Self {
        AlertKey {
            kind: event.kind.name().to_string(),
            site: origin.site.to_string(),
            device: origin.device.to_string(),
            field: event.field.clone(),
        }
    }
}

impl Alerts {
    /// Loads the open alerts from the store and starts a sender per configured webhook.
    pub fn open(config: &AlertsConfig, store: Store, outbox: Outbox, metrics: AlertMetrics) -> Result<Self, Error> {
        let mut open = BTreeMap::new();
        for alert in load(&store, None)? {
            if alert.state != State::Resolved {
                open.insert(alert.key(), alert);
            }
        }
        metrics.open.set(open.len() as i64);
        let webhooks = config
            .all_webhooks()
            .into_iter()
            .map(|hook| spawn_webhook(hook, config, metrics.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Alerts { inner: Arc::new(Mutex::new(open)), store, outbox, webhooks, metrics })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<AlertKey, Alert>> {
        // A panic while holding the lock cannot leave the map half-updated in a way that
        // matters (entries are replaced whole), so carry on with its contents.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A detector event opened (or, for an ongoing one, was seen again).
    pub async fn event_seen(&self, origin: &Origin<'_>, event: &Event) -> Result<(), Error> {
        let key = AlertKey::of(origin, event);
        let (alert, new) = {
            let mut open = self.lock();
            match open.get_mut(&key) {
                Some(existing) => {
                    let last = event.last_s.saturating_mul(NS_PER_SEC);
                    // Refresh at most once a minute: an ongoing condition is seen every tick.
                    if last < existing.last_seen_ns.saturating_add(60 * NS_PER_SEC)
                        && event.peak.score <= existing.score
                    {
                        return Ok(());
                    }
                    existing.last_seen_ns = existing.last_seen_ns.max(last);
                    if event.peak.score > existing.score {
                        existing.score = event.peak.score;
                        existing.value = event.peak.value;
                        existing.expected = event.peak.expected;
                        existing.severity = existing.severity.max(Severity::of(event.kind, event.peak.score));
                    }
                    (existing.clone(), false)
                }
                None => {
                    let alert = new_alert(origin, event);
                    open.insert(key, alert.clone());
                    self.metrics.open.set(open.len() as i64);
                    (alert, true)
                }
            }
        };
        if new {
            self.metrics.opened.get_or_create(&KindLabel { kind: alert.kind.clone() }).inc();
            tracing::info!(
                id = alert.id,
                site = alert.site,
                device = alert.device,
                message = alert.message,
                "alert opened"
            );
        }
        self.save(&alert, new).await
    }

    /// An ongoing condition seen again: refreshes its alert's last-seen time, if it has one.
    /// (A condition already ongoing in the history a detector learned from has none: that
    /// history was before this server watched, and raising it now would be a burst of stale
    /// alerts after every restart.)
    pub async fn refresh(&self, origin: &Origin<'_>, event: &Event) -> Result<(), Error> {
        let key = AlertKey::of(origin, event);
        if !self.lock().contains_key(&key) {
            return Ok(());
        }
        self.event_seen(origin, event).await
    }

    /// A detector event closed: its alert is resolved.
    pub async fn event_closed(&self, origin: &Origin<'_>, event: &Event) -> Result<(), Error> {
        let key = AlertKey::of(origin, event);
        let alert = {
            let mut open = self.lock();
            let Some(mut alert) = open.remove(&key) else { return Ok(()) };
            self.metrics.open.set(open.len() as i64);
            let end = event.end_s.unwrap_or(event.last_s).saturating_mul(NS_PER_SEC);
            alert.state = State::Resolved;
            alert.last_seen_ns = alert.last_seen_ns.max(event.last_s.saturating_mul(NS_PER_SEC));
            alert.resolved_ns = Some(end);
            alert
        };
        self.metrics.resolved.get_or_create(&KindLabel { kind: alert.kind.clone() }).inc();
        tracing::info!(id = alert.id, site = alert.site, device = alert.device, "alert resolved");
        self.save(&alert, true).await
    }

    /// An operator acknowledges an alert.
    pub async fn acknowledge(&self, id: &str, by: Option<String>, now_ns: i64) -> Result<Alert, Error> {
        let alert = {
            let mut open = self.lock();
            match open.values_mut().find(|a| a.id == id) {
                Some(alert) => {
                    if alert.state == State::Open {
                        alert.state = State::Acknowledged;
                        alert.acknowledged_ns = Some(now_ns);
                        alert.acknowledged_by = by;
                    }
                    alert.clone()
                }
                None => {
                    drop(open);
                    return match self.get(id)? {
                        Some(_) => Err(Error::Resolved(id.to_string())),
                        None => Err(Error::NotFound(id.to_string())),
                    };
                }
            }
        };
        self.save(&alert, true).await?;
        Ok(alert)
    }

    /// One alert by id.
    pub fn get(&self, id: &str) -> Result<Option<Alert>, Error> {
        if let Some(a) = self.lock().values().find(|a| a.id == id) {
            return Ok(Some(a.clone()));
        }
        Ok(load(&self.store, Some(id))?.into_iter().next())
    }

    /// Every stored alert, newest first.
    pub fn list(&self) -> Result<Vec<Alert>, Error> {
        let mut all = load(&self.store, None)?;
        all.sort_by(|a, b| b.start_ns.cmp(&a.start_ns).then_with(|| a.id.cmp(&b.id)));
        Ok(all)
    }

    /// Open and acknowledged alerts per (site, device).
    pub fn open_by_device(&self) -> BTreeMap<(String, String), usize> {
        let mut out = BTreeMap::new();
        for a in self.lock().values() {
            *out.entry((a.site.clone(), a.device.clone())).or_insert(0) += 1;
        }
        out
    }

    /// Writes the alert durably, then tells subscribers (and the webhook) when `announce`.
    async fn save(&self, alert: &Alert, announce: bool) -> Result<(), Error> {
        self.store.write_points(vec![alert.to_point()]).await?;
        if announce {
            let body = alert.to_json();
            self.outbox.publish(format!("fl/v1/{}/alerts", alert.site), body.to_string());
            for tx in &self.webhooks {
                if tx.try_send(body.clone()).is_err() {
                    self.metrics.webhook_failures.inc();
                    tracing::error!(id = alert.id, "webhook queue full: alert not delivered to a webhook");
                }
            }
        }
        Ok(())
    }
}

fn new_alert(origin: &Origin<'_>, event: &Event) -> Alert {
    let kind = event.kind.name();
    let id = format!("{}-{}-{}-{}-{}", event.start_s, origin.site, origin.device, event.field, kind)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .collect();
    Alert {
        id,
        state: State::Open,
        severity: Severity::of(event.kind, event.peak.score),
        kind: kind.to_string(),
        measurement: origin.measurement.to_string(),
        site: origin.site.to_string(),
        device: origin.device.to_string(),
        field: event.field.clone(),
        start_ns: event.start_s.saturating_mul(NS_PER_SEC),
        last_seen_ns: event.last_s.saturating_mul(NS_PER_SEC),
        resolved_ns: None,
        acknowledged_ns: None,
        acknowledged_by: None,
        message: describe(origin, event),
        value: event.peak.value,
        expected: event.peak.expected,
        score: event.peak.score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fieldline_analytics::anomaly::{EventKind, Evidence};

    fn event(kind: EventKind, start: i64, end: Option<i64>) -> Event {
        Event {
            kind,
            field: "soil_vwc_pct".into(),
            start_s: start,
            last_s: end.unwrap_or(start + 600),
            end_s: end,
            peak: Evidence::new(start, 14.0, 20.0, 0.8),
        }
    }

    #[tokio::test]
    async fn one_alert_per_condition_through_its_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), Default::default()).unwrap();
        let alerts =
            Alerts::open(&AlertsConfig::default(), store.clone(), Outbox::default(), AlertMetrics::default()).unwrap();
        let origin = Origin { measurement: "peony_plot", site: "heze-peony", device: "plot1" };
        let start = 1_775_772_000;
        alerts.event_seen(&origin, &event(EventKind::Drought, start, None)).await.unwrap();
        // Seen again while ongoing: the same alert, not a second one.
        let mut again = event(EventKind::Drought, start, None);
        again.last_s = start + 7200;
        alerts.event_seen(&origin, &again).await.unwrap();
        let list = alerts.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].state, State::Open);
        assert_eq!(list[0].last_seen_ns, (start + 7200) * NS_PER_SEC);
        assert!(list[0].message.contains("refill point"), "{}", list[0].message);

        let acked = alerts.acknowledge(&list[0].id, Some("technician".into()), 5).await.unwrap();
        assert_eq!(acked.state, State::Acknowledged);
        alerts.event_closed(&origin, &event(EventKind::Drought, start, Some(start + 9000))).await.unwrap();
        let done = alerts.get(&list[0].id).unwrap().unwrap();
        assert_eq!(done.state, State::Resolved);
        assert_eq!(done.resolved_ns, Some((start + 9000) * NS_PER_SEC));
        assert_eq!(done.acknowledged_by.as_deref(), Some("technician"));
        assert!(matches!(alerts.acknowledge(&done.id, None, 6).await, Err(Error::Resolved(_))));
        assert!(matches!(alerts.acknowledge("nope", None, 6).await, Err(Error::NotFound(_))));

        // A new occurrence after resolution is a new alert; state survives a reopen of the store.
        alerts.event_seen(&origin, &event(EventKind::Drought, start + 86_400, None)).await.unwrap();
        store.shutdown().await.unwrap();
        let store = Store::open(dir.path(), Default::default()).unwrap();
        let reopened =
            Alerts::open(&AlertsConfig::default(), store.clone(), Outbox::default(), AlertMetrics::default()).unwrap();
        let list = reopened.list().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].state, State::Open);
        assert_eq!(reopened.open_by_device().get(&("heze-peony".into(), "plot1".into())), Some(&1));
        store.shutdown().await.unwrap();
    }
}
