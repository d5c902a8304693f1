//! SenML decoder: never panics, points come out in time order, and a pack's records repeated
//! decode at a linear rate (see `scale.rs`).

#![no_main]

#[path = "scale.rs"]
mod scale;

use fieldline_ingest::decode::{Source, senml};

const SOURCE: Source<'static> = Source { site: "heze-peony", kind: "peony_plot", device: "plot1" };

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(points) = senml::decode(SOURCE, data, 1_700_000_000_000_000_000) {
        assert!(points.windows(2).all(|w| w[0].timestamp_ns < w[1].timestamp_ns));
        assert!(points.iter().all(|p| !p.fields.is_empty()));
    }
    let trimmed = data.trim_ascii();
    if let Some(inner) = trimmed.strip_prefix(b"[").and_then(|r| r.strip_suffix(b"]"))
        && scale::sampled(data)
    {
        let big = scale::json_array_of_copies(inner);
        scale::assert_linear(&big, |big| drop(senml::decode(SOURCE, big, 0)));
    }
});
