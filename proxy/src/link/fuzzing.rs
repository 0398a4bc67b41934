//! Entry points for fuzzing the link (cargo-fuzz target `link` in fuzz/, and a proptest here
//! on stable): whatever bytes arrive, the link gives messages or errors, never a panic.

use farview_protocol::Framebuffer;

use super::codec::LinkCodec;
use super::message::{FarMessage, NearMessage};
use super::tiles::{StoredTile, TileReceiver};

/// `data`'s first byte is a message kind and the rest its payload, decoded both ways; an
/// update that decodes is applied to a small desktop whose cache holds a few tiles (numbers
/// 0-2), so that references and stitched rows find something. Then all of `data` goes
/// through a link codec as if read from the wire, with a shared history agreed.
pub fn link(data: &[u8]) {
    if let Some((&kind, payload)) = data.split_first() {
        let _ = NearMessage::decode(kind, payload);
        if let Ok(FarMessage::Update(update)) = FarMessage::decode(kind, payload) {
            let mut receiver = TileReceiver::new(1 << 20);
            for (seed, (width, height)) in [(64, 64), (32, 16), (64, 7)].into_iter().enumerate() {
                let pixels = (0..u32::from(width) * u32::from(height))
                    .map(|i| i.wrapping_mul(seed as u32 + 7) & 0x00ff_ffff)
                    .collect();
                receiver.preload(StoredTile {
                    width,
                    height,
                    pixels,
                });
            }
            receiver.renumber();
            let mut desktop = Framebuffer::new(200, 100);
            let _ = receiver.apply(&update, &mut desktop);
        }
    }
    if let Ok(mut codec) = LinkCodec::new(super::compress::DEFAULT_LEVEL) {
        // A frame's end in the data makes the codec take up this history.
        codec.receive_with_history(crate::history::dictionary_of(b"an agreed history"));
        codec.feed(data);
        while let Ok(Some(_)) = codec.next_message() {}
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_link_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            super::link(&data);
        }

        /// Update-shaped payloads reach the tile code, not just the first length check.
        #[test]
        fn arbitrary_updates_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut data = vec![65u8]; // an update
            data.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            data.extend_from_slice(&tail);
            super::link(&data);
        }
    }
}
