//! How much the far side may have in flight on the link: about two bandwidth-delay products,
//! so that the link stays busy while acknowledgements travel back, but no queue of stale
//! updates builds up in front of a slow link. The round-trip time is the smallest a ping has
//! seen lately (pings are tiny, so the least queued one tells the path's own delay); the
//! bandwidth is the fastest delivery rate acknowledgements have shown lately. Time is passed
//! in, never read here.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The window before anything is measured.
pub const INITIAL_WINDOW: usize = 64 * 1024;
/// The window never shrinks below this, so that one ordinary update can always go.
pub const MIN_WINDOW: usize = 16 * 1024;
/// Samples kept for the round-trip time and for the delivery rate.
const SAMPLES: usize = 10;

#[derive(Debug)]
struct InFlight {
    sequence: u64,
    bytes: usize,
    sent_at: Instant,
    /// Bytes delivered (acknowledged) when this update was sent.
    delivered_before: u64,
}

#[derive(Debug, Default)]
pub struct Pacer {
    in_flight: VecDeque<InFlight>,
    in_flight_bytes: usize,
    delivered: u64,
    rtt_samples: VecDeque<Duration>,
    rate_samples: VecDeque<f64>,
}

impl Pacer {
    pub fn on_sent(&mut self, sequence: u64, bytes: usize, now: Instant) {
        self.in_flight.push_back(InFlight {
            sequence,
            bytes,
            sent_at: now,
            delivered_before: self.delivered,
        });
        self.in_flight_bytes += bytes;
    }

    /// Updates up to `sequence` arrived.
    pub fn on_ack(&mut self, sequence: u64, now: Instant) {
        while let Some(oldest) = self.in_flight.front() {
            if oldest.sequence > sequence {
                break;
            }
            let Some(done) = self.in_flight.pop_front() else {
                break;
            };
            self.in_flight_bytes -= done.bytes;
            self.delivered += done.bytes as u64;
            let elapsed = now.saturating_duration_since(done.sent_at).as_secs_f64();
            if elapsed > 0.0 {
                let rate = (self.delivered - done.delivered_before) as f64 / elapsed;
                push_sample(&mut self.rate_samples, rate);
            }
        }
    }

    pub fn on_rtt_sample(&mut self, rtt: Duration) {
        push_sample(&mut self.rtt_samples, rtt);
    }

    /// Everything in flight is forgotten (the link dropped).
    pub fn reset_in_flight(&mut self) {
        self.in_flight.clear();
        self.in_flight_bytes = 0;
    }

    pub fn rtt(&self) -> Option<Duration> {
        self.rtt_samples.iter().min().copied()
    }

    /// Bytes per second.
    pub fn bandwidth(&self) -> Option<f64> {
        self.rate_samples.iter().copied().reduce(f64::max)
    }

    pub fn in_flight_bytes(&self) -> usize {
        self.in_flight_bytes
    }

    pub fn window(&self) -> usize {
        match (self.rtt(), self.bandwidth()) {
            (Some(rtt), Some(rate)) => {
                let bdp = rate * rtt.as_secs_f64();
                ((2.0 * bdp) as usize).max(MIN_WINDOW)
            }
            _ => INITIAL_WINDOW,
        }
    }

    /// Whether another update may go now.
    pub fn can_send(&self) -> bool {
        self.in_flight_bytes < self.window()
    }

    /// Bytes the window has room for (at least [`MIN_WINDOW`], so an update is never empty).
    pub fn room(&self) -> usize {
        self.window()
            .saturating_sub(self.in_flight_bytes)
            .max(MIN_WINDOW)
    }
}

/// Idle ticks of the ping clock between pings on a quiet link.
pub const IDLE_TICKS_PER_PING: u32 = 5;

/// When the far side pings, on a clock that ticks every ping interval. A ping and its answer
/// are two TLS records (about 60 bytes). While updates flow, every tick: the window needs a
/// fresh round-trip time. On a quiet link, every [`IDLE_TICKS_PER_PING`] ticks: often enough
/// for both ends to tell a dead link within their silence limits, for a fifth of the bytes.
#[derive(Debug, Default)]
pub struct PingSchedule {
    pinged: bool,
    idle_ticks: u32,
    updates_since_ping: bool,
}

impl PingSchedule {
    pub fn update_sent(&mut self) {
        self.updates_since_ping = true;
    }

    /// The clock ticked: whether to ping now (the first tick always does).
    pub fn tick(&mut self) -> bool {
        self.idle_ticks += 1;
        let due = !self.pinged || self.updates_since_ping || self.idle_ticks >= IDLE_TICKS_PER_PING;
        if due {
            self.pinged = true;
            self.idle_ticks = 0;
            self.updates_since_ping = false;
        }
        due
    }
}

fn push_sample<T>(samples: &mut VecDeque<T>, sample: T) {
    if samples.len() == SAMPLES {
        samples.pop_front();
    }
    samples.push_back(sample);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link of `rate` bytes/s and `rtt`: each update's ack comes back after its
    /// serialization behind what is queued, plus the round trip.
    #[test]
    fn the_window_settles_near_two_bandwidth_delay_products() {
        let start = Instant::now();
        let rate = 125_000.0; // 1 Mbit/s
        let rtt = Duration::from_millis(200);
        let mut pacer = Pacer::default();
        pacer.on_rtt_sample(rtt);
        let mut link_free_at = start;
        let mut acks: VecDeque<(u64, Instant)> = VecDeque::new();
        let mut now = start;
        for sequence in 1..400u64 {
            // Send whenever the window allows; otherwise wait for the next ack.
            while !pacer.can_send() {
                let (acked, at) = acks.pop_front().expect("something is in flight");
                now = now.max(at);
                pacer.on_ack(acked, now);
            }
            let bytes = 8_000;
            pacer.on_sent(sequence, bytes, now);
            let serialized = link_free_at.max(now) + Duration::from_secs_f64(bytes as f64 / rate);
            link_free_at = serialized;
            acks.push_back((sequence, serialized + rtt));
        }
        let bdp = rate * rtt.as_secs_f64();
        let window = pacer.window() as f64;
        assert!(
            window >= 1.5 * bdp && window <= 2.5 * bdp,
            "window {window}, BDP {bdp}"
        );
        let bandwidth = pacer.bandwidth().unwrap();
        assert!(
            (bandwidth - rate).abs() < rate * 0.1,
            "bandwidth {bandwidth}"
        );
    }

    #[test]
    fn nothing_measured_means_the_initial_window() {
        let mut pacer = Pacer::default();
        assert_eq!(pacer.window(), INITIAL_WINDOW);
        pacer.on_sent(1, INITIAL_WINDOW, Instant::now());
        assert!(!pacer.can_send());
        pacer.on_ack(1, Instant::now());
        assert!(pacer.can_send());
    }

    #[test]
    fn pings_follow_the_updates_and_keep_a_quiet_link_alive() {
        let mut schedule = PingSchedule::default();
        assert!(schedule.tick(), "the first tick measures the link");
        // Busy: every tick.
        for _ in 0..3 {
            schedule.update_sent();
            assert!(schedule.tick());
        }
        // Quiet: every fifth tick.
        let quiet: Vec<bool> = (0..10).map(|_| schedule.tick()).collect();
        let mut expected = [false; 10];
        expected[4] = true;
        expected[9] = true;
        assert_eq!(quiet, expected);
        // An update wakes it up again at the next tick.
        assert!(!schedule.tick());
        schedule.update_sent();
        assert!(schedule.tick());
    }
}
