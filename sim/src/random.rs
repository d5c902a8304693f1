//! Reproducible randomness for the simulator: independent random streams derived from the
//! run's seed and a label (so adding a device never changes another device's numbers),
//! unit-variance AR(1) processes for correlated noise, and the few distribution helpers the
//! models need (normal CDF, Poisson counts, uniform ranges).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Poisson, StandardNormal};

/// SplitMix64 finaliser: spreads nearby seeds over the whole 64-bit space.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a: a stable hash of a label (std's hashers are randomised per process).
fn label_hash(label: &str) -> u64 {
    label.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The random stream named `label` of the run seeded with `seed`. The same pair always gives
/// the same stream.
pub fn stream(seed: u64, label: &str) -> StdRng {
    StdRng::seed_from_u64(mix(seed ^ mix(label_hash(label))))
}

/// One standard normal draw.
pub fn normal(rng: &mut StdRng) -> f64 {
    rng.sample(StandardNormal)
}

/// A smooth random function of time with unit variance everywhere: standard normals at knots
/// every `knot_s` seconds, blended linearly and rescaled. Deterministic in (seed, label, t), so
/// independent callers (e.g. successive NWP runs) see the same value for the same time.
pub fn smooth_normal(seed: u64, label: &str, t: i64, knot_s: i64) -> f64 {
    let knot_s = knot_s.max(1);
    let k = t.div_euclid(knot_s);
    let w = (t - k * knot_s) as f64 / knot_s as f64;
    let a = normal(&mut stream(seed, &format!("{label}/{k}")));
    let b = normal(&mut stream(seed, &format!("{label}/{}", k + 1)));
    ((1.0 - w) * a + w * b) / ((1.0 - w).powi(2) + w.powi(2)).sqrt()
}

/// A uniform draw in `[low, high)` (`low` when the range is empty).
pub fn uniform(rng: &mut StdRng, low: f64, high: f64) -> f64 {
    if high > low { low + (high - low) * rng.random::<f64>() } else { low }
}

/// A Poisson count with mean `mean` (0 for a non-positive or non-finite mean).
pub fn poisson(rng: &mut StdRng, mean: f64) -> u64 {
    if !(mean.is_finite() && mean > 0.0) {
        return 0;
    }
    // Poisson::new only fails for non-positive or non-finite means, excluded above.
    Poisson::new(mean).map_or(0, |d| d.sample(rng) as u64)
}

/// An AR(1) process with unit stationary variance and correlation time `tau_s`, sampled every
/// `dt_s`: x ← φ·x + √(1−φ²)·ε with φ = exp(−dt/τ). Starts in its stationary distribution, so
/// the statistics do not depend on the step size.
#[derive(Debug, Clone)]
pub struct Ar1 {
    value: f64,
    phi: f64,
    innovation: f64,
}

impl Ar1 {
    pub fn new(tau_s: f64, dt_s: f64, rng: &mut StdRng) -> Self {
        let phi = (-dt_s / tau_s.max(1e-9)).exp();
        Ar1 { value: normal(rng), phi, innovation: (1.0 - phi * phi).sqrt() }
    }

    pub fn value(&self) -> f64 {
        self.value
    }

    /// Advances one step and returns the new value.
    pub fn step(&mut self, rng: &mut StdRng) -> f64 {
        self.value = self.phi * self.value + self.innovation * normal(rng);
        self.value
    }
}

/// Standard normal CDF Φ(z), from the complementary error function (W. J. Cody's rational
/// approximation via Numerical Recipes' erfc, |error| < 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Rounds to `decimals` decimal places so outputs print short and identically everywhere
/// (multiply–round–divide by a power of ten yields the double nearest the decimal).
pub fn round_to(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    let r = (x * scale).round() / scale;
    // No "-0" in the output.
    if r == 0.0 { 0.0 } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_normal_is_deterministic_continuous_and_unit_variance() {
        let a: Vec<f64> = (0..2000).map(|i| smooth_normal(3, "x", i * 3600, 6 * 3600)).collect();
        let b: Vec<f64> = (0..2000).map(|i| smooth_normal(3, "x", i * 3600, 6 * 3600)).collect();
        assert_eq!(a, b);
        let var = a.iter().map(|v| v * v).sum::<f64>() / a.len() as f64;
        assert!((0.8..1.2).contains(&var), "variance {var}");
        let max_step = a.windows(2).map(|w| (w[1] - w[0]).abs()).fold(0.0, f64::max);
        assert!(max_step < 1.5, "jumps of {max_step} between hours");
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let mut s1 = stream(7, "device/a");
        let mut s2 = stream(7, "device/a");
        let mut s3 = stream(7, "device/b");
        let mut s4 = stream(8, "device/a");
        let x1: u64 = s1.random();
        assert_eq!(x1, s2.random::<u64>());
        assert_ne!(x1, s3.random::<u64>());
        assert_ne!(x1, s4.random::<u64>());
    }

    #[test]
    fn ar1_has_unit_variance_and_the_requested_correlation() {
        let mut rng = stream(1, "ar");
        let mut ar = Ar1::new(600.0, 60.0, &mut rng);
        let xs: Vec<f64> = (0..200_000).map(|_| ar.step(&mut rng)).collect();
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
        let lag1 = xs.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum::<f64>() / (n - 1.0) / var;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "variance {var}");
        assert!((lag1 - (-0.1f64).exp()).abs() < 0.01, "lag-1 correlation {lag1}");
    }

    #[test]
    fn normal_cdf_matches_tables() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.0) - 0.841_344_746).abs() < 1e-6);
        assert!((normal_cdf(-1.959_964) - 0.025).abs() < 1e-6);
        assert!(normal_cdf(-40.0) >= 0.0 && normal_cdf(40.0) <= 1.0);
    }

    #[test]
    fn rounding_prints_short() {
        assert_eq!(round_to(0.1 + 0.2, 2).to_string(), "0.3");
        assert_eq!(round_to(-1.23456, 3), -1.235);
    }
}
