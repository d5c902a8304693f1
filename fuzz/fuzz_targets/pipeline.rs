//! The whole per-message pipeline (topic, decoder, limits, schema, dead letter) on every
//! format: never panics, makes at most one dead letter per message, never lets a reserved
//! measurement or a reading from the far future through, and counts what it keeps. Line
//! protocol repeated as lines goes through at a linear rate (see `scale.rs`): a message full of
//! bad lines once took seconds because each error looked its line up from the start.

#![no_main]

#[path = "scale.rs"]
mod scale;

use fieldline_ingest::decode::Precision;
use fieldline_ingest::metrics::IngestMetrics;
use fieldline_ingest::pipeline::{Pipeline, Rights};
use fieldline_ingest::schema::Schema;

const NOW: i64 = 1_775_772_000_000_000_000;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    thread_local! {
        static PIPELINE: Pipeline = Pipeline::new(Schema::builtin(), IngestMetrics::default());
    }
    let Some((&selector, payload)) = data.split_first() else { return };
    PIPELINE.with(|pipeline| {
        let out = match selector % 4 {
            0 => pipeline.mqtt("fuzz", "fl/v1/heze-wind/wind_turbine/wt01/telemetry", payload, NOW, Rights::DEVICE),
            1 => pipeline.mqtt("fuzz", "fl/v1/heze-peony/peony_plot/plot1/senml", payload, NOW, Rights::DEVICE),
            2 => pipeline.mqtt("fuzz", "fl/v1/lp", payload, NOW, Rights::DEVICE),
            _ => pipeline.http_line_protocol(payload, Precision::Ns, NOW, Rights::DEVICE),
        };
        let dead = out.points.iter().filter(|p| p.measurement == "_deadletter").count();
        assert!(dead <= 1);
        assert_eq!(dead == 1, out.dead_letter.is_some());
        assert_eq!(out.points.len(), out.accepted + dead);
        let latest = pipeline.limits().latest_ns("nwp", NOW);
        for p in out.points.iter().filter(|p| p.measurement != "_deadletter") {
            assert!(!fieldline_ingest::limits::is_reserved(&p.measurement));
            assert!(p.timestamp_ns <= latest);
        }
        if selector % 4 >= 2 && scale::sampled(payload) {
            let big = scale::lines_of_copies(payload);
            scale::assert_linear(&big, |big| drop(pipeline.mqtt("fuzz", "fl/v1/lp", big, NOW, Rights::DEVICE)));
        }
    });
});
