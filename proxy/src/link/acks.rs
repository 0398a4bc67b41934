//! When the near side acknowledges the updates it applied. An acknowledgement costs about as
//! much as a small update on the wire (a TLS record of its own), so small updates are
//! acknowledged together, a little later; a large one at once, because the far side paces
//! large transfers by acknowledgements and measures the link's rate from them. Time is passed
//! in, never read here.

use std::time::{Duration, Instant};

/// Updates are acknowledged at once when those held reach this many bytes on the wire: so
/// a large one is at once, and those held stay far below the far side's smallest window
/// ([`super::pacing::MIN_WINDOW`]), so holding them never stalls it.
pub const ACK_AT_ONCE_BYTES: usize = 2048;
/// The longest a small update waits for its acknowledgement.
pub const ACK_DELAY: Duration = Duration::from_secs(1);
/// Small updates held unacknowledged, at most.
pub const MAX_HELD: usize = 8;

#[derive(Debug, Default)]
pub struct AckPolicy {
    held: usize,
    held_bytes: usize,
    due: Option<Instant>,
}

impl AckPolicy {
    /// An update of `wire_bytes` was applied at `now`: whether to acknowledge it (and every
    /// update held before it) now.
    pub fn applied(&mut self, wire_bytes: usize, now: Instant) -> bool {
        self.held += 1;
        self.held_bytes += wire_bytes;
        if self.held_bytes >= ACK_AT_ONCE_BYTES || self.held >= MAX_HELD {
            return true;
        }
        self.due.get_or_insert(now + ACK_DELAY);
        false
    }

    /// When the updates held are to be acknowledged, if any are.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// An acknowledgement of everything applied went out.
    pub fn sent(&mut self) {
        self.held = 0;
        self.held_bytes = 0;
        self.due = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_updates_wait_together_and_large_ones_go_at_once() {
        let start = Instant::now();
        let mut acks = AckPolicy::default();
        assert_eq!(acks.due(), None);
        assert!(!acks.applied(100, start));
        assert!(!acks.applied(100, start + Duration::from_millis(100)));
        // The first held update sets the time.
        assert_eq!(acks.due(), Some(start + ACK_DELAY));
        acks.sent();
        assert_eq!(acks.due(), None);

        assert!(
            acks.applied(ACK_AT_ONCE_BYTES, start),
            "a large one at once"
        );
        acks.sent();
        assert!(!acks.applied(ACK_AT_ONCE_BYTES / 2, start));
        assert!(
            acks.applied(ACK_AT_ONCE_BYTES / 2, start),
            "small ones adding up"
        );
        acks.sent();

        for held in 1..MAX_HELD {
            assert!(!acks.applied(10, start), "update {held} waits");
        }
        assert!(acks.applied(10, start), "the last one that may be held");
    }
}
