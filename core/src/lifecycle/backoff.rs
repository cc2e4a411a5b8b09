//! Retry delays after failed fetches, and the jitter that spreads them.

/// First retry delay after a failure, ms.
pub const BACKOFF_BASE_MS: u64 = 1_000;

/// Delay before the next attempt after `failures` consecutive failures: exponential from 1 s,
/// capped at the refresh interval, with "equal jitter" (half fixed, half random).
pub fn backoff_ms(failures: u32, refresh_ms: u64, rand: u64) -> u64 {
    let exp = BACKOFF_BASE_MS.saturating_mul(1u64 << failures.saturating_sub(1).min(30));
    let d = exp.min(refresh_ms.max(BACKOFF_BASE_MS));
    d / 2 + rand % (d / 2 + 1)
}

/// xorshift64: jitter only, not security.
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }

    /// The next pseudo-random value.
    pub fn draw(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
