//! What every transfer goes through, whatever the target: a rate cap (token
//! bucket), retries with exponential backoff, and progress reporting.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Parses a rate like `48KiB`, `1MiB`, `500KB`, `4Mbit`, `2048` (bytes/s).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim().trim_end_matches("/s");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a rate; write e.g. 48KiB, 1MiB, 4Mbit"))?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" => 1024.0,
        "kb" => 1000.0,
        "m" | "mib" => 1024.0 * 1024.0,
        "mb" => 1e6,
        "g" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "kbit" => 1000.0 / 8.0,
        "mbit" => 1e6 / 8.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?}; use B, KiB, MiB, KB, MB, kbit or Mbit"
            ));
        }
    };
    let v = (n * mult).round();
    if !(1.0..=1e12).contains(&v) {
        return Err(format!(
            "{s:?} is out of range (at least 1 byte per second)"
        ));
    }
    Ok(v as u64)
}

/// Parses a size like `8MiB`, `256KiB`, `1048576`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    if s.to_ascii_lowercase().contains("bit") {
        return Err(format!("{s:?}: give a size in bytes (KiB, MiB)"));
    }
    parse_rate(s)
}

/// A token bucket: `rate` bytes per second, bursts up to `burst` bytes.
/// Taking more than is available makes the caller wait for the debt.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: u64) -> TokenBucket {
        let rate = rate.max(1) as f64;
        // A quarter second of burst, at least one network piece.
        let burst = (rate / 4.0).max(PIECE as f64);
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes `n` tokens at time `now`; returns how long to wait before
    /// sending them.
    pub fn take_at(&mut self, n: u64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// The unit in which throttled bodies are sent.
pub const PIECE: usize = 8 * 1024;

/// A shared rate cap (none: unlimited).
#[derive(Clone, Default)]
pub struct Limiter(Option<Arc<Mutex<TokenBucket>>>);

impl Limiter {
    pub fn new(rate: Option<u64>) -> Limiter {
        Limiter(rate.map(|r| Arc::new(Mutex::new(TokenBucket::new(r)))))
    }

    pub fn rate(&self) -> Option<u64> {
        self.0.as_ref().map(|b| match b.lock() {
            Ok(b) => b.rate as u64,
            Err(p) => p.into_inner().rate as u64,
        })
    }

    /// Waits until `n` bytes may be sent.
    pub async fn take(&self, n: u64) {
        let Some(bucket) = &self.0 else { return };
        let wait = match bucket.lock() {
            Ok(mut b) => b.take_at(n, Instant::now()),
            Err(p) => p.into_inner().take_at(n, Instant::now()),
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// Reports progress of a backup or restore; the CLI draws a bar from it.
pub trait Progress: Send + Sync {
    /// The (estimated) total bytes to transfer changed.
    fn set_total(&self, _bytes: u64) {}
    /// `bytes` more were transferred (or, for a bar counted in objects, that
    /// many objects were done).
    fn advance(&self, _bytes: u64) {}
    /// `bytes` more were uploaded to a target. A bar counted in bytes
    /// advances (the default); a bar counted in objects (a repair) shows
    /// the bytes beside the count instead.
    fn sent(&self, bytes: u64) {
        self.advance(bytes);
    }
    /// What is being done now.
    fn message(&self, _msg: &str) {}
    /// A line for the operator (a retry, a warning).
    fn note(&self, _line: &str) {}
}

/// Progress that reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// How often and how patiently to retry a failed transfer.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        // 12 attempts: 0.5 s, 1 s, 2 s … capped at 30 s: about 4 minutes,
        // enough to ride out a router reboot or a short link cut.
        RetryPolicy {
            attempts: 12,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `n` (1-based; attempt 1 has none), with
    /// ±25 % jitter so that many clients do not retry in lockstep.
    pub fn delay(&self, attempt: u32) -> Duration {
        if attempt <= 1 {
            return Duration::ZERO;
        }
        let base = self
            .first_delay
            .saturating_mul(1u32 << (attempt - 2).min(20))
            .min(self.max_delay);
        let jitter = 0.75 + rand::random::<f64>() * 0.5;
        base.mul_f64(jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("48KiB"), Ok(48 * 1024));
        assert_eq!(parse_rate("48kbit"), Ok(6000));
        assert_eq!(parse_rate("1.5MiB"), Ok(1_572_864));
        assert_eq!(parse_rate("2048"), Ok(2048));
        assert_eq!(parse_size("8MiB"), Ok(8 << 20));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("3 parsecs").is_err());
        assert!(parse_size("4Mbit").is_err());
    }

    #[test]
    fn token_bucket_holds_the_average_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(48 * 1024);
        // Sending 480 KiB in pieces must be spread over ~10 s, less the burst.
        let mut now = t0;
        for _ in 0..60 {
            let wait = b.take_at(8 * 1024, now);
            now += wait;
        }
        let secs = now.duration_since(t0).as_secs_f64();
        let burst = (48.0 * 1024.0 / 4.0) / (48.0 * 1024.0);
        assert!((secs - (10.0 - burst)).abs() < 0.05, "took {secs}");
        // After a pause the burst is available again, but no more.
        now += Duration::from_secs(100);
        assert_eq!(b.take_at(8 * 1024, now), Duration::ZERO);
        assert!(b.take_at(8 * 1024, now) > Duration::ZERO);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::ZERO);
        let d2 = p.delay(2);
        assert!(d2 >= Duration::from_millis(375) && d2 <= Duration::from_millis(625));
        let d20 = p.delay(20);
        assert!(d20 <= Duration::from_secs_f64(37.5) && d20 >= Duration::from_secs_f64(22.5));
    }
}
