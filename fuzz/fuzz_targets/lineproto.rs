//! Line protocol decoder: never panics; error lines are real line numbers; what it accepts
//! encodes and decodes back to the same points; and the input repeated as lines decodes at a
//! linear rate (see `scale.rs`).

#![no_main]

#[path = "scale.rs"]
mod scale;

use fieldline_ingest::decode::{Precision, lineproto};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let precision = match data.first().map(|b| b % 4) {
        Some(0) => Precision::S,
        Some(1) => Precision::Ms,
        Some(2) => Precision::Us,
        _ => Precision::Ns,
    };
    let decoded = lineproto::decode(data, precision, 1_700_000_000_000_000_000);
    let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
    assert!(decoded.errors.iter().all(|e| e.line >= 1 && e.line <= lines && e.offset <= data.len()));
    assert_eq!(decoded.points.len(), decoded.point_lines.len());
    assert!(decoded.rejected_lines >= decoded.errors.len());

    let mut text = String::new();
    for p in &decoded.points {
        lineproto::encode(p, &mut text);
    }
    let again = lineproto::decode(text.as_bytes(), Precision::Ns, 0);
    assert_eq!(again.errors, vec![]);
    assert_eq!(again.points, decoded.points);

    if scale::sampled(data) {
        let big = scale::lines_of_copies(data);
        scale::assert_linear(&big, |big| drop(lineproto::decode(big, precision, 0)));
    }
});
