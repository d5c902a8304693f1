//! MQTT topic grammar (DESIGN.md §3): `fl/v1/{site}/{kind}/{device}/telemetry`,
//! `fl/v1/{site}/{kind}/{device}/senml` and `fl/v1/lp`, plus matching of subscription filters
//! (`+`, `#`) for the outgoing topics.

/// What a device topic says about its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic<'a> {
    /// JSON telemetry from one device.
    Telemetry { site: &'a str, kind: &'a str, device: &'a str },
    /// A SenML JSON pack from one device.
    Senml { site: &'a str, kind: &'a str, device: &'a str },
    /// InfluxDB line protocol; measurement and tags come from each line.
    LineProtocol,
}

impl Topic<'_> {
    /// Label used in metrics: `telemetry`, `senml` or `lp`.
    pub fn format_label(&self) -> &'static str {
        match self {
            Topic::Telemetry { .. } => "telemetry",
            Topic::Senml { .. } => "senml",
            Topic::LineProtocol => "lp",
        }
    }

    /// The site segment, when the topic has one.
    pub fn site(&self) -> Option<&str> {
        match self {
            Topic::Telemetry { site, .. } | Topic::Senml { site, .. } => Some(site),
            Topic::LineProtocol => None,
        }
    }
}

/// Why a topic is not one fieldline accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("topic {topic:?} is not fl/v1/{{site}}/{{kind}}/{{device}}/telemetry|senml or fl/v1/lp")]
pub struct TopicError {
    pub topic: String,
}

/// Parses a device topic.
pub fn parse(topic: &str) -> Result<Topic<'_>, TopicError> {
    let err = || TopicError { topic: topic.to_string() };
    let rest = topic.strip_prefix("fl/v1/").ok_or_else(err)?;
    if rest == "lp" {
        return Ok(Topic::LineProtocol);
    }
    let mut parts = rest.split('/');
    let (Some(site), Some(kind), Some(device), Some(format), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(err());
    };
    let valid = |s: &str| !s.is_empty() && !s.contains(['+', '#']);
    if !(valid(site) && valid(kind) && valid(device)) {
        return Err(err());
    }
    match format {
        "telemetry" => Ok(Topic::Telemetry { site, kind, device }),
        "senml" => Ok(Topic::Senml { site, kind, device }),
        _ => Err(err()),
    }
}

/// True if `topic` matches the MQTT subscription `filter` (`+` one level, `#` the rest).
pub fn matches_filter(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_topics() {
        assert_eq!(
            parse("fl/v1/heze-wind/wind_turbine/wt01/telemetry"),
            Ok(Topic::Telemetry { site: "heze-wind", kind: "wind_turbine", device: "wt01" })
        );
        assert_eq!(
            parse("fl/v1/plot1/peony_plot/p1/senml"),
            Ok(Topic::Senml { site: "plot1", kind: "peony_plot", device: "p1" })
        );
        assert_eq!(parse("fl/v1/lp"), Ok(Topic::LineProtocol));
        for bad in [
            "fl/v1/a/b/telemetry",
            "fl/v2/a/b/c/telemetry",
            "fl/v1/a/b/c/other",
            "fl/v1//b/c/senml",
            "fl/v1/a/b/c/telemetry/x",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filter_matching() {
        assert!(matches_filter("fl/v1/+/alerts", "fl/v1/heze/alerts"));
        assert!(matches_filter("fl/v1/#", "fl/v1/heze/forecasts/short_term"));
        assert!(matches_filter("#", "a"));
        assert!(!matches_filter("fl/v1/+/alerts", "fl/v1/heze/forecasts/x"));
        assert!(!matches_filter("fl/v1/heze", "fl/v1/heze/alerts"));
    }
}
