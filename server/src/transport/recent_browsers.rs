//! The addresses that spoke HTTP or TLS to us a moment ago. Browsers open sockets before they
//! need them (Chromium preconnects while it loads a page) and send their request on them
//! later, so a silent connection from such an address may well be a browser's: it is given
//! longer to speak before it is taken for an RFB viewer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an address that spoke HTTP or TLS is remembered.
pub const BROWSER_MEMORY: Duration = Duration::from_secs(10);
/// The most addresses remembered; past it the oldest are forgotten first.
pub const MAX_REMEMBERED: usize = 1024;

#[derive(Debug, Default)]
pub struct RecentBrowsers {
    seen: Mutex<HashMap<IpAddr, Instant>>,
}

impl RecentBrowsers {
    /// `address` spoke HTTP or TLS at `now`.
    pub fn note(&self, address: IpAddr, now: Instant) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.retain(|_, at| now.saturating_duration_since(*at) < BROWSER_MEMORY);
        if seen.len() >= MAX_REMEMBERED && !seen.contains_key(&address) {
            let oldest = seen
                .iter()
                .min_by_key(|(_, at)| **at)
                .map(|(address, _)| *address);
            if let Some(oldest) = oldest {
                seen.remove(&oldest);
            }
        }
        seen.insert(address, now);
    }

    /// Whether `address` spoke HTTP or TLS within [`BROWSER_MEMORY`] before `now`.
    pub fn contains(&self, address: IpAddr, now: Instant) -> bool {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        seen.get(&address)
            .is_some_and(|at| now.saturating_duration_since(*at) < BROWSER_MEMORY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn an_address_is_remembered_for_a_while() {
        let recent = RecentBrowsers::default();
        let start = Instant::now();
        recent.note(address(1), start);
        assert!(recent.contains(address(1), start + BROWSER_MEMORY / 2));
        assert!(!recent.contains(address(2), start));
        assert!(!recent.contains(address(1), start + BROWSER_MEMORY));
    }

    #[test]
    fn memory_is_bounded_and_forgets_the_oldest() {
        let recent = RecentBrowsers::default();
        let start = Instant::now();
        for n in 0..=MAX_REMEMBERED as u32 {
            recent.note(address(n), start + Duration::from_micros(u64::from(n)));
        }
        let now = start + Duration::from_secs(1);
        assert!(!recent.contains(address(0), now));
        assert!(recent.contains(address(1), now));
        assert!(recent.contains(address(MAX_REMEMBERED as u32), now));
        assert_eq!(recent.seen.lock().unwrap().len(), MAX_REMEMBERED);
    }
}
