//! The super-linear check the decoder targets share. On one input in 16 (picked by a hash of
//! the input, so a finding reproduces) the target decodes a 64-fold copy of it and requires
//! at least 1 MB/s: a linear decoder runs at well over 50 MB/s even instrumented, while one
//! that is quadratic in lines, fields or records falls far below on a 64 KiB copy. Checking
//! every input would cost 20× more per run for no more coverage.

use std::time::Instant;

/// How many copies the scaled input holds.
pub const COPIES: usize = 64;

/// Whether this input gets the scaling check.
pub fn sampled(data: &[u8]) -> bool {
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    hash % 16 == 0
}

/// Runs `decode` on `scaled` and panics when it is slower than 1 MB/s (with a 50 ms floor).
/// A slow first run is measured twice more and the fastest counts, so a busy machine does
/// not make a finding; a super-linear decoder is slow every time.
pub fn assert_linear(scaled: &[u8], decode: impl Fn(&[u8])) {
    let allowed = (scaled.len() as f64 / 1e6).max(0.050);
    let mut fastest = f64::INFINITY;
    for _ in 0..3 {
        let started = Instant::now();
        decode(scaled);
        fastest = fastest.min(started.elapsed().as_secs_f64());
        if fastest <= allowed {
            return;
        }
    }
    panic!("{} bytes took {fastest:.3} s at best: super-linear decoding", scaled.len());
}
