//! JSON telemetry decoder: never panics, every point carries the topic's site and device, and
//! an object repeated as an array decodes at a linear rate (see `scale.rs`).

#![no_main]

#[path = "scale.rs"]
mod scale;

use fieldline_ingest::decode::{Source, json};

const SOURCE: Source<'static> = Source { site: "heze-wind", kind: "wind_turbine", device: "wt01" };

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(points) = json::decode(SOURCE, data, 1_700_000_000_000_000_000) {
        assert!(!points.is_empty());
        for p in &points {
            assert_eq!(p.tag("site"), Some("heze-wind"));
            assert_eq!(p.tag("device"), Some("wt01"));
            assert!(!p.fields.is_empty());
        }
    }
    let trimmed = data.trim_ascii();
    if trimmed.starts_with(b"{") && scale::sampled(data) {
        let big = scale::json_array_of_copies(trimmed);
        scale::assert_linear(&big, |big| drop(json::decode(SOURCE, big, 0)));
    }
});
