//! The super-linear check the decoder targets share. On one input in 16 (picked by a hash of
//! the input, so a finding reproduces) the target decodes a 64-fold copy of it and requires
//! at least 1 MB/s: a linear decoder runs at well over 50 MB/s even instrumented, while one
//! that is quadratic in lines, fields or records falls far below on a 64 KiB copy. Checking
//! every input would cost 20× more per run for no more coverage.

// Each target uses part of this module.
#![allow(dead_code)]

use std::time::Instant;

/// How many copies the scaled input holds.
pub const COPIES: usize = 64;

/// Whether this input gets the scaling check.
pub fn sampled(data: &[u8]) -> bool {
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    hash % 16 == 0
}

/// [`COPIES`] copies of `lines`, each ended by a newline (line protocol).
pub fn lines_of_copies(lines: &[u8]) -> Vec<u8> {
    let mut big = Vec::with_capacity((lines.len() + 1) * COPIES);
    for _ in 0..COPIES {
        big.extend_from_slice(lines);
        big.push(b'\n');
    }
    big
}

/// A JSON array holding [`COPIES`] copies of `item` (an object, or a pack's records).
pub fn json_array_of_copies(item: &[u8]) -> Vec<u8> {
    let mut big = Vec::with_capacity((item.len() + 1) * COPIES + 2);
    big.push(b'[');
    for i in 0..COPIES {
        if i > 0 {
            big.push(b',');
        }
        big.extend_from_slice(item);
    }
    big.push(b']');
    big
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
