//! Continuous updates for one viewer: whether an update may go now, and the fences that
//! measure the path for the [`CongestionControl`].
//!
//! While a viewer has continuous updates on, the session sends what changed inside the area
//! it asked for as soon as the congestion window is open, with no request. After each such
//! update goes a fence (Request and BlockBefore: the viewer answers once it has handled the
//! update); when the path is empty, one goes before the update too, so that its answer
//! measures the round trip without the update's own transmission time. A viewer that lists
//! ContinuousUpdates but not Fence cannot be measured: it is paced by its socket alone, as
//! with requests.

use std::time::Duration;

use farview_protocol::messages::{Fence, FenceFlags};
use farview_protocol::{Rect, ServerConnection};
use tokio::time::Instant;

use crate::congestion::{CongestionControl, PING_PAYLOAD_LEN};

#[derive(Debug)]
pub(crate) struct Pacing {
    start: Instant,
    control: CongestionControl,
}

impl Pacing {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            control: CongestionControl::new(),
        }
    }

    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// Counts bytes handed to the viewer's stream.
    pub(crate) fn sent(&mut self, bytes: usize) {
        let now = self.now();
        self.control.sent(bytes, now);
    }

    /// The area to send continuous updates of now, if they are on and the window is open.
    pub(crate) fn continuous_area(&self, connection: &ServerConnection) -> Option<Rect> {
        let area = connection.continuous_updates()?;
        let open = !connection.accepts_fence() || self.control.may_send(self.now());
        open.then_some(area)
    }

    /// Writes a fence measuring the path, to a viewer that answers them.
    fn ping(&mut self, connection: &mut ServerConnection) {
        if !connection.accepts_fence() {
            return;
        }
        let now = self.now();
        let end = connection.output_len() + Fence::HEADER_LEN + PING_PAYLOAD_LEN;
        let position = self.control.position() + end as u64;
        if let Some(payload) = self.control.ping(position, now) {
            connection.send_fence(&Fence {
                flags: FenceFlags::REQUEST | FenceFlags::BLOCK_BEFORE,
                payload: payload.to_vec(),
            });
        }
    }

    /// Call before writing an update: with continuous updates on and nothing on its way, a
    /// fence goes first, whose answer is a clean round-trip time.
    pub(crate) fn before_update(&mut self, connection: &mut ServerConnection) {
        if connection.continuous_updates().is_some() && self.control.in_flight(self.now()) == 0 {
            self.ping(connection);
        }
    }

    /// Call after writing an update: with continuous updates on, a fence follows it, whose
    /// answer says it has arrived.
    pub(crate) fn after_update(&mut self, connection: &mut ServerConnection) {
        if connection.continuous_updates().is_some() {
            self.ping(connection);
        }
    }

    /// Writes a fence if the window is closed and no answer is awaited: bytes sent before
    /// continuous updates were turned on (the first picture, say) would otherwise hold the
    /// window closed with nothing to open it.
    pub(crate) fn keep_measuring(&mut self, connection: &mut ServerConnection) {
        if connection.continuous_updates().is_some()
            && !self.control.awaiting_answer()
            && !self.control.may_send(self.now())
        {
            self.ping(connection);
        }
    }

    /// Takes in the viewer's answer to one of our fences.
    pub(crate) fn pong(&mut self, fence: &Fence) {
        let now = self.now();
        self.control.pong(&fence.payload, now);
    }

    /// When to look again because the window will have opened by itself; `None` if it is
    /// open, or only an answer can open it, or continuous updates are off.
    pub(crate) fn wake_at(&self, connection: &ServerConnection) -> Option<Instant> {
        if connection.continuous_updates().is_none() || !connection.accepts_fence() {
            return None;
        }
        let now = self.now();
        if self.control.may_send(now) {
            return None;
        }
        self.control.opens_at(now).map(|at| self.start + at)
    }

    /// The estimates, for the debug log.
    pub(crate) fn describe(&self) -> String {
        let now = self.now();
        format!(
            "in flight {} B, window {} B, bandwidth {}, min rtt {}",
            self.control.in_flight(now),
            self.control.window(),
            self.control
                .bandwidth()
                .map_or("unknown".into(), |rate| format!("{:.0} B/s", rate)),
            self.control
                .min_rtt()
                .map_or("unknown".into(), |rtt| format!("{} ms", rtt.as_millis())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use farview_protocol::loopback::connected_pair;
    use farview_protocol::{ClientConnection, EncodingType, PixelFormat, ServerEvent};

    use crate::congestion::INITIAL_WINDOW;

    /// A server and a viewer connected in memory, the viewer listing `encodings` and with
    /// continuous updates on.
    fn continuous_pair(encodings: &[EncodingType]) -> (ServerConnection, ClientConnection) {
        let mut list = vec![EncodingType::RAW];
        list.extend_from_slice(encodings);
        let (mut server, mut client) = connected_pair(64, 48, PixelFormat::NATIVE, list);
        assert!(client.enable_continuous_updates(true, None));
        server.handle_input(&client.take_output()).unwrap();
        while server.poll_event().is_some() {}
        (server, client)
    }

    #[test]
    fn without_fences_continuous_updates_are_not_held() {
        let (mut server, _client) = continuous_pair(&[EncodingType::CONTINUOUS_UPDATES]);
        let mut pacing = Pacing::new();
        pacing.sent(100 * INITIAL_WINDOW as usize);
        assert_eq!(
            pacing.continuous_area(&server),
            Some(Rect::new(0, 0, 64, 48))
        );
        pacing.keep_measuring(&mut server);
        pacing.after_update(&mut server);
        assert!(
            !server.has_output(),
            "no fence to a viewer that does not take them"
        );
        assert_eq!(pacing.wake_at(&server), None);
    }

    #[test]
    fn a_window_filled_before_continuous_updates_is_measured_open() {
        let (mut server, mut client) =
            continuous_pair(&[EncodingType::CONTINUOUS_UPDATES, EncodingType::FENCE]);
        let mut pacing = Pacing::new();
        // A big first picture, sent on request before continuous updates were on: no fence
        // went with it.
        pacing.sent(4 * INITIAL_WINDOW as usize);
        assert_eq!(pacing.continuous_area(&server), None, "the window is full");
        pacing.keep_measuring(&mut server);
        let fence = server.take_output();
        assert!(!fence.is_empty(), "a fence goes out to measure");
        pacing.sent(fence.len());
        // The viewer answers it: everything before it has arrived.
        client.handle_input(&fence).unwrap();
        server.handle_input(&client.take_output()).unwrap();
        let answer = std::iter::from_fn(|| server.poll_event())
            .find_map(|event| match event {
                ServerEvent::FenceResponse(fence) => Some(fence),
                _ => None,
            })
            .expect("the viewer answered");
        pacing.pong(&answer);
        assert_eq!(
            pacing.continuous_area(&server),
            Some(Rect::new(0, 0, 64, 48))
        );
    }
}
