//! Congestion control for continuous updates: how many bytes may be on their way to a viewer.
//!
//! With continuous updates the viewer no longer paces us with requests, and the socket is no
//! help either: kernel buffers (and any relay on the way) take far more than the path holds,
//! so a fast desktop would fill them and every update would wait behind stale ones. Instead we
//! keep about one bandwidth-delay product in flight, as TigerVNC's server does, measured with
//! fences (see `farview_protocol::messages::fence`): after each update goes a fence that the
//! viewer answers once it has handled everything before it. The answer says that everything
//! up to the fence's position in the stream has arrived, which gives
//!
//! - the round-trip time (fence sent to answer received); the smallest recent one is the
//!   path's delay without queueing;
//! - the delivery rate: bytes acknowledged over the time they took, as BBR measures it (from
//!   the previous answer, or from the moment the path was empty); the largest recent one is
//!   the path's bandwidth;
//! - between answers, an estimate of what has arrived since the last one, at that rate.
//!
//! The window is [`WINDOW_GAIN`] times bandwidth x delay, never below [`MIN_WINDOW`]; an
//! update goes out only while the estimated bytes in flight are below it. The gain above one
//! lets the rate estimate grow when the path is faster than measured. When the window is
//! closed, damage accumulates and leaves later as one fresher update: latest state wins.
//!
//! Pure: time is passed in (as the time since the session started), nothing reads a clock.

use std::collections::VecDeque;
use std::time::Duration;

/// The window never closes below this many bytes, whatever the estimates say.
pub const MIN_WINDOW: u64 = 16 * 1024;
/// The window before any answer has come back.
pub const INITIAL_WINDOW: u64 = 64 * 1024;
/// The window never opens beyond this many bytes.
pub const MAX_WINDOW: u64 = 16 * 1024 * 1024;
/// The window is this many bandwidth-delay products.
pub const WINDOW_GAIN: f64 = 1.25;
/// Fences awaiting their answer at once; beyond this no new one is sent (their answers are
/// what we wait for, so this only bounds memory against a viewer that never answers).
pub const MAX_PINGS_IN_FLIGHT: usize = 64;
/// How many recent delivery-rate samples the bandwidth estimate is the largest of.
pub const RATE_SAMPLES: usize = 16;
/// How long the smallest round-trip time stands before a newer sample replaces it (the path
/// may have changed).
pub const MIN_RTT_LIFETIME: Duration = Duration::from_secs(30);
/// The bytes of a ping's fence payload: its number.
pub const PING_PAYLOAD_LEN: usize = 4;

/// A fence sent and not yet answered.
#[derive(Debug, Clone, Copy)]
struct Ping {
    id: u32,
    /// The stream position just after the fence.
    position: u64,
    sent_at: Duration,
    /// What had been acknowledged when it was sent, and since when the path had been
    /// delivering: the start of its delivery-rate sample.
    delivered_before: u64,
    delivering_since: Duration,
}

#[derive(Debug)]
pub struct CongestionControl {
    /// Bytes handed to the viewer's stream so far.
    sent: u64,
    /// The stream position the viewer has confirmed.
    acknowledged: u64,
    /// Where the estimate of what has arrived since then starts (moved to "now" when data
    /// starts flowing on an empty path).
    estimate_base: (u64, Duration),
    pings: VecDeque<Ping>,
    next_id: u32,
    min_rtt: Option<(Duration, Duration)>,
    /// Delivery-rate samples in bytes per second, newest last.
    rates: VecDeque<f64>,
}

impl Default for CongestionControl {
    fn default() -> Self {
        Self::new()
    }
}

impl CongestionControl {
    pub fn new() -> Self {
        Self {
            sent: 0,
            acknowledged: 0,
            estimate_base: (0, Duration::ZERO),
            pings: VecDeque::new(),
            next_id: 0,
            min_rtt: None,
            rates: VecDeque::new(),
        }
    }

    /// Counts `bytes` more handed to the stream at `now`.
    pub fn sent(&mut self, bytes: usize, now: Duration) {
        if bytes == 0 {
            return;
        }
        if self.in_flight(now) == 0 {
            // The path was empty: what has arrived is known exactly, and the delivery that
            // starts now must not be credited with the idle time before it.
            self.estimate_base = (self.sent, now);
        }
        self.sent += bytes as u64;
    }

    /// Bytes handed to the stream so far.
    pub fn position(&self) -> u64 {
        self.sent
    }

    /// Registers a fence that will end at stream `position` (the bytes up to and including it
    /// are counted with [`CongestionControl::sent`] when they are handed over). Returns the
    /// payload to send in it, or `None` when too many fences are unanswered.
    pub fn ping(&mut self, position: u64, now: Duration) -> Option<[u8; PING_PAYLOAD_LEN]> {
        if self.pings.len() >= MAX_PINGS_IN_FLIGHT {
            return None;
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let (delivered_before, delivering_since) = if self.acknowledged >= self.sent {
            // Nothing was on the way: this delivery starts now.
            (self.acknowledged, now)
        } else {
            (
                self.estimate_base.0.max(self.acknowledged),
                self.estimate_base.1,
            )
        };
        self.pings.push_back(Ping {
            id,
            position,
            sent_at: now,
            delivered_before,
            delivering_since,
        });
        Some(id.to_be_bytes())
    }

    /// Takes in the viewer's answer to a fence with `payload`, received at `now`. Answers
    /// come in order; one that matches no unanswered ping is ignored.
    pub fn pong(&mut self, payload: &[u8], now: Duration) {
        let Ok(id) = <[u8; PING_PAYLOAD_LEN]>::try_from(payload).map(u32::from_be_bytes) else {
            return;
        };
        let Some(index) = self.pings.iter().position(|ping| ping.id == id) else {
            return;
        };
        let ping = self.pings[index];
        // Earlier pings without an answer never get one.
        self.pings.drain(..=index);
        let rtt = now.saturating_sub(ping.sent_at);
        match self.min_rtt {
            Some((min, at)) if rtt >= min && now.saturating_sub(at) < MIN_RTT_LIFETIME => {}
            _ => self.min_rtt = Some((rtt, now)),
        }
        let delivered = ping.position.saturating_sub(ping.delivered_before);
        let interval = now.saturating_sub(ping.delivering_since).as_secs_f64();
        if delivered > 0 && interval > 0.0 {
            if self.rates.len() == RATE_SAMPLES {
                self.rates.pop_front();
            }
            self.rates.push_back(delivered as f64 / interval);
        }
        if ping.position > self.acknowledged {
            self.acknowledged = ping.position;
        }
        self.estimate_base = (self.acknowledged, now);
    }

    /// Whether a fence is on its way whose answer will tell what arrived.
    pub fn awaiting_answer(&self) -> bool {
        !self.pings.is_empty()
    }

    /// The estimated bandwidth in bytes per second, once there is a sample.
    pub fn bandwidth(&self) -> Option<f64> {
        self.rates.iter().copied().reduce(f64::max)
    }

    /// The smallest recent round-trip time, once there is a sample.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.map(|(rtt, _)| rtt)
    }

    /// How many bytes may be in flight.
    pub fn window(&self) -> u64 {
        match (self.bandwidth(), self.min_rtt()) {
            (Some(rate), Some(rtt)) => {
                let bdp = rate * rtt.as_secs_f64() * WINDOW_GAIN;
                (bdp as u64).clamp(MIN_WINDOW, MAX_WINDOW)
            }
            _ => INITIAL_WINDOW,
        }
    }

    /// The bytes estimated to be on their way at `now`: sent, minus what the viewer confirmed,
    /// minus what has arrived since at the estimated bandwidth.
    pub fn in_flight(&self, now: Duration) -> u64 {
        let (base, since) = self.estimate_base;
        let arrived = match self.bandwidth() {
            Some(rate) => {
                base.max(self.acknowledged)
                    + (rate * now.saturating_sub(since).as_secs_f64()) as u64
            }
            None => self.acknowledged,
        };
        self.sent.saturating_sub(arrived)
    }

    /// Whether another update may go out at `now`.
    pub fn may_send(&self, now: Duration) -> bool {
        self.in_flight(now) < self.window()
    }

    /// When the window will have opened, if it is closed and will open without an answer
    /// (the bandwidth is known); `None` means "when an answer comes".
    pub fn opens_at(&self, now: Duration) -> Option<Duration> {
        let excess = (self.in_flight(now) + 1).saturating_sub(self.window());
        if excess == 0 {
            return Some(now);
        }
        let rate = self.bandwidth()?;
        Some(now + Duration::from_secs_f64(excess as f64 / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ping's fence on the wire.
    const FENCE_LEN: u64 = 9 + PING_PAYLOAD_LEN as u64;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Sends `bytes` at `at` followed by a fence, as the session does after an update, and
    /// returns the fence's payload.
    fn update(control: &mut CongestionControl, bytes: usize, at: Duration) -> [u8; 4] {
        control.sent(bytes, at);
        let payload = control.ping(control.position() + FENCE_LEN, at).unwrap();
        control.sent(FENCE_LEN as usize, at);
        payload
    }

    #[test]
    fn before_any_answer_the_initial_window_applies() {
        let mut control = CongestionControl::new();
        assert!(control.may_send(ms(0)));
        update(&mut control, INITIAL_WINDOW as usize - 100, ms(0));
        assert!(control.may_send(ms(0)));
        update(&mut control, 200, ms(0));
        assert!(!control.may_send(ms(0)));
        // Without a rate there is nothing to extrapolate: only an answer opens it.
        assert!(!control.may_send(ms(5_000)));
        assert_eq!(control.opens_at(ms(5_000)), None);
    }

    /// A simulated path: `rate` bytes per second, `delay` round trip. The sender sends an
    /// update of `size` bytes whenever the controller lets it (checked every millisecond) and
    /// the answers come back when the path has delivered the fence. Returns the controller and
    /// the most bytes that were sent and not yet delivered at any time in the second half of
    /// the run.
    fn simulate(
        rate: f64,
        delay: Duration,
        size: usize,
        run: Duration,
    ) -> (CongestionControl, u64) {
        let mut control = CongestionControl::new();
        // (payload, time the answer arrives)
        let mut answers: VecDeque<([u8; 4], Duration)> = VecDeque::new();
        let mut link_free_at = Duration::ZERO;
        // (position, time it has arrived at the viewer)
        let mut arrivals: VecDeque<(u64, Duration)> = VecDeque::new();
        let mut delivered = 0u64;
        let mut most_in_flight = 0;
        let mut now = Duration::ZERO;
        while now < run {
            while answers.front().is_some_and(|(_, at)| *at <= now) {
                let (payload, _) = answers.pop_front().unwrap();
                control.pong(&payload, now);
            }
            while arrivals.front().is_some_and(|(_, at)| *at <= now) {
                delivered = arrivals.pop_front().unwrap().0;
            }
            if control.may_send(now) {
                let payload = update(&mut control, size, now);
                let start = link_free_at.max(now);
                link_free_at =
                    start + Duration::from_secs_f64((size as u64 + FENCE_LEN) as f64 / rate);
                let arrival = link_free_at + delay / 2;
                arrivals.push_back((control.position(), arrival));
                answers.push_back((payload, arrival + delay / 2));
            }
            if now >= run / 2 {
                most_in_flight = most_in_flight.max(control.position() - delivered);
            }
            now += ms(1);
        }
        (control, most_in_flight)
    }

    #[test]
    fn learns_the_bandwidth_delay_product_of_a_slow_path() {
        // 1 Mbit/s, 200 ms: a BDP of 25 kB.
        let (control, most_in_flight) =
            simulate(125_000.0, ms(200), 4_000, Duration::from_secs(20));
        let rate = control.bandwidth().unwrap();
        assert!((110_000.0..=140_000.0).contains(&rate), "rate {rate}");
        let rtt = control.min_rtt().unwrap();
        assert!(rtt >= ms(200) && rtt < ms(260), "rtt {rtt:?}");
        let window = control.window();
        assert!((25_000..=45_000).contains(&window), "window {window}");
        // About a window, plus the update that was sent while it was just open.
        assert!(
            most_in_flight <= window + 4_000 + FENCE_LEN,
            "in flight {most_in_flight}"
        );
        assert!(
            most_in_flight >= 25_000,
            "the path is kept full: {most_in_flight}"
        );
    }

    #[test]
    fn keeps_about_one_bdp_in_flight_once_learned() {
        // 8 Mbit/s, 40 ms: a BDP of 40 kB; updates of 10 kB.
        let (control, most_in_flight) =
            simulate(1_000_000.0, ms(40), 10_000, Duration::from_secs(5));
        let window = control.window();
        assert!((40_000..=70_000).contains(&window), "window {window}");
        assert!(
            most_in_flight <= window + 10_000 + FENCE_LEN,
            "in flight {most_in_flight}"
        );
    }

    #[test]
    fn fills_a_fast_path() {
        // A path faster than the initial window allows per round trip: the rate estimate
        // climbs (the window's gain lets it) until the window covers the real BDP.
        let rate = 10_000_000.0; // 80 Mbit/s
        let (control, _) = simulate(rate, ms(40), 20_000, Duration::from_secs(10));
        let measured = control.bandwidth().unwrap();
        assert!(measured > 0.8 * rate, "measured {measured}");
        assert!(control.window() >= 400_000, "window {}", control.window());
    }

    #[test]
    fn the_window_never_drops_below_the_floor() {
        // A tiny, slow path: 10 kB/s, 1 ms.
        let (control, _) = simulate(10_000.0, ms(1), 500, Duration::from_secs(5));
        assert_eq!(control.window(), MIN_WINDOW);
    }

    #[test]
    fn an_idle_pause_is_not_credited_as_delivery() {
        let mut control = CongestionControl::new();
        let first = update(&mut control, 10_000, ms(0));
        control.pong(&first, ms(100));
        let second = update(&mut control, 10_000, ms(100));
        control.pong(&second, ms(200));
        // Idle for ten seconds, then a burst: in flight counts all of it.
        control.sent(50_000, ms(10_200));
        assert_eq!(control.in_flight(ms(10_200)), 50_000);
    }

    #[test]
    fn unknown_and_stale_answers_are_ignored() {
        let mut control = CongestionControl::new();
        let first = update(&mut control, 1_000, ms(0));
        let second = update(&mut control, 1_000, ms(10));
        control.pong(b"junk", ms(20));
        control.pong(&[], ms(20));
        assert_eq!(control.bandwidth(), None);
        // The second answer implies the first will never come.
        control.pong(&second, ms(50));
        control.pong(&first, ms(60));
        assert_eq!(control.min_rtt(), Some(ms(40)));
        assert_eq!(control.in_flight(ms(50)), 0);
    }

    #[test]
    fn unanswered_pings_are_bounded() {
        let mut control = CongestionControl::new();
        for i in 0..MAX_PINGS_IN_FLIGHT {
            assert!(control.ping(i as u64, ms(0)).is_some());
        }
        assert!(control.ping(0, ms(0)).is_none());
    }
}
