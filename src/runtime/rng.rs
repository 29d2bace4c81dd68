//! xorshift64*: one small seeded generator for retry and reconnect jitter and for the
//! property tests. No cryptographic use.

/// The generator's state (never zero).
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// A generator seeded from the clock and `salt` (e.g. a stream id), so that the
    /// jitter of several streams or workers does not line up.
    pub fn from_clock(salt: &[u8]) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let mut seed = nanos as u64 ^ 0x9E37_79B9_7F4A_7C15;
        for b in salt {
            seed = (seed ^ *b as u64).wrapping_mul(0x100_0000_01B3);
        }
        Self::new(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [0, n) (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_in_range_and_seeds_repeat() {
        let mut a = XorShift::new(42);
        let mut b = XorShift::new(42);
        for _ in 0..1000 {
            let u = a.unit();
            assert!((0.0..1.0).contains(&u));
            assert_eq!(u, b.unit());
            assert!(a.below(7) < 7);
            b.below(7);
        }
    }
}
