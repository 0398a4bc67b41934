//! Backing off from guessers: after [`FAILURES_BEFORE_BLOCK`] authentication failures in a
//! row from one IP address, that address is refused for a time that doubles with each further
//! failure (from [`FIRST_BLOCK`] up to [`LONGEST_BLOCK`]). A success clears the address; other
//! addresses are never affected. Time is passed in, so the rules are tested without waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures in a row an address may have before it is blocked.
pub const FAILURES_BEFORE_BLOCK: u32 = 3;
/// How long the first block lasts.
pub const FIRST_BLOCK: Duration = Duration::from_secs(5);
/// The longest block.
pub const LONGEST_BLOCK: Duration = Duration::from_secs(30 * 60);
/// Addresses remembered at once; past that, the stalest is forgotten.
pub const MAX_TRACKED_ADDRESSES: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last_failure: Instant,
    blocked_until: Option<Instant>,
}

impl Record {
    /// Whether the record no longer matters: not blocked, and quiet for a long block's time.
    fn is_stale(&self, now: Instant) -> bool {
        self.blocked_until.is_none_or(|until| until <= now)
            && now.duration_since(self.last_failure) >= LONGEST_BLOCK
    }
}

/// The failures of every address, shared by all sessions.
#[derive(Debug, Default)]
pub struct AuthBackoff {
    records: Mutex<HashMap<IpAddr, Record>>,
}

impl AuthBackoff {
    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Record>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How much longer `address` is blocked, if it is.
    pub fn blocked_for(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.records().get(&address)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failure; returns how long `address` is now blocked, if it is.
    pub fn failed(&self, address: IpAddr, now: Instant) -> Option<Duration> {
        let mut records = self.records();
        if !records.contains_key(&address) && records.len() >= MAX_TRACKED_ADDRESSES {
            records.retain(|_, record| !record.is_stale(now));
            if records.len() >= MAX_TRACKED_ADDRESSES
                && let Some(stalest) = records
                    .iter()
                    .min_by_key(|(_, record)| record.last_failure)
                    .map(|(address, _)| *address)
            {
                records.remove(&stalest);
            }
        }
        let record = records.entry(address).or_insert(Record {
            failures: 0,
            last_failure: now,
            blocked_until: None,
        });
        if record.is_stale(now) {
            record.failures = 0;
        }
        record.failures += 1;
        record.last_failure = now;
        let beyond = record.failures.checked_sub(FAILURES_BEFORE_BLOCK)?;
        let block = FIRST_BLOCK
            .saturating_mul(1u32 << beyond.min(16))
            .min(LONGEST_BLOCK);
        record.blocked_until = Some(now + block);
        Some(block)
    }

    /// Records a success: the address starts afresh.
    pub fn succeeded(&self, address: IpAddr) {
        self.records().remove(&address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUESSER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn blocks_grow_and_a_success_clears() {
        let backoff = AuthBackoff::default();
        let start = Instant::now();
        for _ in 1..FAILURES_BEFORE_BLOCK {
            assert_eq!(backoff.failed(GUESSER, start), None);
        }
        assert_eq!(backoff.failed(GUESSER, start), Some(FIRST_BLOCK));
        assert_eq!(backoff.blocked_for(GUESSER, start), Some(FIRST_BLOCK));
        assert_eq!(backoff.blocked_for(OTHER, start), None);
        // The block runs out; the next failure blocks twice as long.
        let later = start + FIRST_BLOCK;
        assert_eq!(backoff.blocked_for(GUESSER, later), None);
        assert_eq!(backoff.failed(GUESSER, later), Some(FIRST_BLOCK * 2));
        assert_eq!(backoff.failed(GUESSER, later), Some(FIRST_BLOCK * 4));
        for _ in 0..40 {
            backoff.failed(GUESSER, later);
        }
        assert_eq!(backoff.blocked_for(GUESSER, later), Some(LONGEST_BLOCK));
        backoff.succeeded(GUESSER);
        assert_eq!(backoff.blocked_for(GUESSER, later), None);
        assert_eq!(backoff.failed(GUESSER, later), None);
    }

    #[test]
    fn old_failures_are_forgotten() {
        let backoff = AuthBackoff::default();
        let start = Instant::now();
        for _ in 1..FAILURES_BEFORE_BLOCK {
            backoff.failed(GUESSER, start);
        }
        let much_later = start + LONGEST_BLOCK;
        assert_eq!(backoff.failed(GUESSER, much_later), None);
    }

    #[test]
    fn memory_is_bounded() {
        let backoff = AuthBackoff::default();
        let start = Instant::now();
        for n in 0..(MAX_TRACKED_ADDRESSES as u32 + 10) {
            backoff.failed(
                IpAddr::V4(n.into()),
                start + Duration::from_millis(n.into()),
            );
        }
        assert_eq!(backoff.records().len(), MAX_TRACKED_ADDRESSES);
    }
}
