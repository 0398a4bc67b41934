//! The far side's record of what the near side shows, and the updates that bring it to the
//! mirror of the server. Latest state wins: an update is made only when the link can take
//! one, from the difference between the mirror as it is then and what the near side has, so
//! frames that came and went in between never cross.
//!
//! Sent updates are kept until acknowledged, so that when the link drops and the near side
//! comes back saying which update it applied last, the rest are sent again and the tile
//! caches stay in step.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use farview_protocol::diff::TileDiff;
use farview_protocol::{Framebuffer, Rect, Region, moves};

use super::message::LinkUpdate;
use super::tile_cache::InventoryEntry;
use super::tiles::{Arrival, KnownRows, TileCounts, TileSender, UpdateTarget, grid_tiles};

/// Updates sent and not yet acknowledged, at most.
pub const MAX_UNACKED_UPDATES: usize = 64;
/// A value no real pixel has (pixels are `0x00RRGGBB`): what the near side shows is unknown
/// there, so every tile differs until sent.
const UNKNOWN_PIXEL: u32 = 0xff00_0000;

#[derive(Debug)]
pub struct Outgoing {
    shown: Framebuffer,
    /// Where the mirror may differ from `shown`: the damage handed in since an update last
    /// sent everything that differed. Elsewhere the two are equal, so only this is compared.
    pending: Region,
    sender: TileSender,
    sequence: u64,
    /// Shared with the caller, which sends them: an update can be hundreds of KB.
    unacked: VecDeque<Arc<LinkUpdate>>,
    size_changed: bool,
}

impl Outgoing {
    /// For a near side whose picture is unknown and whose cache holds `inventory` under
    /// `cache_limit` bytes, with the rows of those tiles as far as `known`.
    pub fn new(
        width: u16,
        height: u16,
        cache_limit: usize,
        inventory: &[InventoryEntry],
        known: &KnownRows,
    ) -> Self {
        let mut shown = Framebuffer::new(width, height);
        shown.pixels_mut().fill(UNKNOWN_PIXEL);
        Self {
            pending: Region::from_rect(shown.bounds()),
            shown,
            sender: TileSender::new(cache_limit, inventory, known),
            sequence: 0,
            unacked: VecDeque::new(),
            // The near side learns the size from the first update.
            size_changed: true,
        }
    }

    /// The new tiles sent since the last call, in order ([`TileSender::take_arrivals`]).
    pub fn take_arrivals(&mut self) -> Vec<Arrival> {
        self.sender.take_arrivals()
    }

    /// The last update made.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    pub fn unacked(&self) -> usize {
        self.unacked.len()
    }

    /// The near side applied every update up to `sequence`.
    pub fn acknowledge(&mut self, sequence: u64) {
        while self.unacked.front().is_some_and(|u| u.sequence <= sequence) {
            self.unacked.pop_front();
        }
    }

    /// The near side comes back having applied updates up to `applied`: the ones after it,
    /// to send again in order, or `None` if they are no longer known (start afresh).
    pub fn resume(&mut self, applied: u64) -> Option<Vec<Arc<LinkUpdate>>> {
        if applied > self.sequence {
            return None;
        }
        self.acknowledge(applied);
        let missing = (self.sequence - applied) as usize;
        if self.unacked.len() != missing {
            return None;
        }
        Some(self.unacked.iter().cloned().collect())
    }

    /// The next update towards `mirror`, which changed inside `damage` since the last call
    /// (a new size counts as all of it), with new pixels worth about `budget` bytes at most
    /// (at least one tile, so that it always makes progress); `None` when the near side
    /// already shows the mirror or too many updates await acknowledgement.
    pub fn next_update(
        &mut self,
        mirror: &Framebuffer,
        damage: &Region,
        budget: usize,
    ) -> Option<(Arc<LinkUpdate>, TileCounts)> {
        self.pending.add_region(damage);
        if self.unacked.len() >= MAX_UNACKED_UPDATES {
            return None;
        }
        let mut update = LinkUpdate::default();
        if (mirror.width(), mirror.height()) != (self.shown.width(), self.shown.height()) {
            self.shown.resize(mirror.width(), mirror.height());
            self.sender.forget_layers();
            self.size_changed = true;
        }
        if self.size_changed {
            self.pending = Region::from_rect(mirror.bounds());
        }
        let mut changed =
            TileDiff::compare_within(&self.shown, mirror, self.pending.rects()).areas();
        if self.size_changed {
            update.size = Some((mirror.width(), mirror.height()));
        } else {
            for area in &changed {
                if let Some(copy) = moves::detect_move(&self.shown, mirror, area) {
                    self.shown.copy(copy);
                    update.moves.push(copy);
                }
            }
            // What is left to send after the moves (comparing again only if there were any).
            if !update.moves.is_empty() {
                changed =
                    TileDiff::compare_within(&self.shown, mirror, self.pending.rects()).areas();
            }
        }
        let mut counts = TileCounts::default();
        let mut spent = 0;
        let mut everything_sent = true;
        for rect in tiles_smallest_change_first(changed, mirror) {
            if spent >= budget {
                everything_sent = false;
                break;
            }
            if (0..rect.height).all(|row| self.shown.row(&rect, row) == mirror.row(&rect, row)) {
                // Inside a changed area but not changed itself (or moved into place).
                continue;
            }
            let now = mirror.read_rect(&rect);
            let before = self.shown.read_rect(&rect);
            self.shown.put_pixels(&rect, &now);
            let tile = self.sender.tile(rect, now, Some(&before), &mut counts);
            spent += tile.content.pixel_bytes();
            update.tiles.push(tile);
        }
        if everything_sent {
            self.pending.clear();
        }
        if update.size.is_none() && update.moves.is_empty() && update.tiles.is_empty() {
            return None;
        }
        self.size_changed = false;
        self.sequence += 1;
        update.sequence = self.sequence;
        let update = Arc::new(update);
        self.unacked.push_back(Arc::clone(&update));
        Some((update, counts))
    }
}

/// The grid tiles of the `changed` areas of `mirror`, those of small changes (a typed
/// character, a pointer) before those of large ones (a new window), so that what a user
/// waits for is not held back behind a large transfer.
fn tiles_smallest_change_first(mut areas: Vec<Rect>, mirror: &Framebuffer) -> Vec<Rect> {
    areas.sort_by_key(Rect::area);
    let mut seen = BTreeSet::new();
    let mut tiles = Vec::new();
    for area in areas {
        for tile in grid_tiles(mirror, &Region::from_rect(area)) {
            if seen.insert((tile.y, tile.x)) {
                tiles.push(tile);
            }
        }
    }
    tiles
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::message::TileContent;
    use crate::link::tiles::TileReceiver;

    const LIMIT: usize = 64 * 1024 * 1024;

    fn picture(width: u16, height: u16, seed: u32) -> Framebuffer {
        let pixels = (0..u32::from(width) * u32::from(height))
            .map(|i| (i / 5).wrapping_mul(2_654_435_761).wrapping_add(seed) & 0x00ff_ffff)
            .collect();
        Framebuffer::from_pixels(width, height, pixels).unwrap()
    }

    /// Sends updates with `budget` until there are none; the near side applies each.
    fn converge(
        outgoing: &mut Outgoing,
        receiver: &mut TileReceiver,
        near: &mut Framebuffer,
        mirror: &Framebuffer,
        budget: usize,
    ) -> Vec<(Arc<LinkUpdate>, TileCounts)> {
        let mut sent = Vec::new();
        let damage = Region::from_rect(mirror.bounds());
        while let Some((update, counts)) = outgoing.next_update(mirror, &damage, budget) {
            receiver.apply(&update, near).unwrap();
            outgoing.acknowledge(update.sequence);
            sent.push((update, counts));
        }
        sent
    }

    fn all(width: u16, height: u16) -> Region {
        Region::from_rect(Rect::new(0, 0, width, height))
    }

    /// An outgoing side and a near side that both show `first`.
    fn in_step(first: &Framebuffer) -> (Outgoing, TileReceiver, Framebuffer) {
        let (width, height) = (first.width(), first.height());
        let mut outgoing = Outgoing::new(width, height, LIMIT, &[], &KnownRows::new());
        let mut receiver = TileReceiver::new(LIMIT);
        let mut near = Framebuffer::new(width, height);
        converge(&mut outgoing, &mut receiver, &mut near, first, usize::MAX);
        (outgoing, receiver, near)
    }

    /// A window of size `window` over a wallpaper of size `screen`, opened at `from` once
    /// the wallpaper is shown, then moved to `to`: the update that shows the move.
    fn window_moved(
        screen: (u16, u16),
        window: (u16, u16),
        from: (u16, u16),
        to: (u16, u16),
    ) -> (Arc<LinkUpdate>, TileCounts) {
        let wallpaper = picture(screen.0, screen.1, 1);
        let window = picture(window.0, window.1, 2);
        let with_window_at = |(x, y): (u16, u16)| {
            let mut frame = wallpaper.clone();
            let place = Rect::new(x, y, window.width(), window.height());
            frame.put_pixels(&place, window.pixels());
            frame
        };
        let (mut outgoing, mut receiver, mut near) = in_step(&wallpaper);
        let opened = with_window_at(from);
        converge(&mut outgoing, &mut receiver, &mut near, &opened, usize::MAX);
        let moved = with_window_at(to);
        let mut sent = converge(&mut outgoing, &mut receiver, &mut near, &moved, usize::MAX);
        assert!(near == moved);
        let (update, counts) = sent.remove(0);
        assert_eq!(update.moves.len(), 1, "the window moves as a move");
        (update, counts)
    }

    /// How `update` gives the tile at `rect`, which it must carry.
    fn tile_at(update: &LinkUpdate, rect: Rect) -> &TileContent {
        let tile = update.tiles.iter().find(|tile| tile.rect == rect);
        &tile
            .unwrap_or_else(|| panic!("no tile at {rect:?}"))
            .content
    }

    #[test]
    fn the_first_update_paints_everything_even_black_areas() {
        let mut outgoing = Outgoing::new(100, 70, LIMIT, &[], &KnownRows::new());
        let mut receiver = TileReceiver::new(LIMIT);
        let mut near = picture(100, 70, 9); // stale content from an earlier session
        let mirror = Framebuffer::new(100, 70);
        let sent = converge(&mut outgoing, &mut receiver, &mut near, &mirror, usize::MAX);
        assert_eq!(sent.len(), 1);
        assert!(near == mirror);
    }

    #[test]
    fn a_small_budget_sends_progressively_and_small_changes_first() {
        let first = picture(256, 256, 1);
        let (mut outgoing, mut receiver, mut near) = in_step(&first);
        let mut next = first.clone();
        next.put_pixels(&Rect::new(0, 0, 256, 192), picture(256, 192, 2).pixels());
        next.put_pixels(&Rect::new(200, 230, 3, 3), &[0x123456; 9]);
        let sent = converge(&mut outgoing, &mut receiver, &mut near, &next, 1);
        assert!(near == next);
        assert_eq!(sent.len(), 13, "one tile per update");
        assert_eq!(
            sent[0].0.tiles[0].rect,
            Rect::new(192, 192, 64, 64),
            "the small change first"
        );
    }

    #[test]
    fn only_damage_is_compared_and_what_a_budget_cuts_off_stays_pending() {
        let first = picture(256, 256, 1);
        let (mut outgoing, mut receiver, mut near) = in_step(&first);
        let mut next = first.clone();
        let (left, right) = (Rect::new(0, 0, 128, 256), Rect::new(128, 0, 128, 256));
        next.put_pixels(&Rect::new(0, 0, 256, 256), picture(256, 256, 2).pixels());
        // Told of the left half only, the right half (changed too) stays as it was.
        let (update, _) = outgoing
            .next_update(&next, &Region::from_rect(left), usize::MAX)
            .unwrap();
        assert!(update.tiles.iter().all(|t| left.contains(&t.rect)));
        receiver.apply(&update, &mut near).unwrap();
        assert_eq!(near.read_rect(&left), next.read_rect(&left));
        assert_eq!(near.read_rect(&right), first.read_rect(&right));
        // Then the right half, one tile at a time: what the budget cut off goes later
        // without being named again.
        let mut damage = Region::from_rect(right);
        while let Some((update, _)) = outgoing.next_update(&next, &damage, 1) {
            assert_eq!(update.tiles.len(), 1);
            receiver.apply(&update, &mut near).unwrap();
            outgoing.acknowledge(update.sequence);
            damage = Region::new();
        }
        assert!(near == next);
    }

    #[test]
    fn a_small_change_crosses_as_the_pixels_it_changed() {
        let mut first = Framebuffer::new(128, 128);
        first.fill_rect(&Rect::new(0, 0, 128, 128), 0xffffff);
        for line in 0..6u16 {
            first.fill_rect(
                &Rect::new(4, 4 + line * 20, 100, 9),
                0x202020 + u32::from(line),
            );
        }
        let (mut outgoing, mut receiver, mut near) = in_step(&first);
        let mut typed = first.clone();
        typed.fill_rect(&Rect::new(110, 10, 6, 9), 0x000000);
        let sent = converge(&mut outgoing, &mut receiver, &mut near, &typed, usize::MAX);
        assert!(near == typed);
        let tiles = &sent[0].0.tiles;
        assert_eq!(tiles.len(), 1);
        // The other pixels are what the near side shows there already.
        let TileContent::Composed(composed) = &tiles[0].content else {
            panic!("{:?}: {:?}", tiles[0].rect, tiles[0].content);
        };
        assert_eq!(composed.new_pixels, vec![0; 6 * 9], "{:?}", composed.runs);
        assert!(composed.layers.is_empty());
    }

    #[test]
    fn a_moved_window_leaves_tiles_made_of_rows_held_and_rows_shown() {
        use crate::link::message::RowSource;
        // A window opens, then it moves right and down.
        let (update, counts) = window_moved((256, 256), (100, 100), (40, 40), (50, 57));
        // The tile above the window's middle: wallpaper uncovered (rows of the tile held
        // from before the window came) over the window's moved top (rows the move showed).
        let TileContent::Stitched(stitched) = tile_at(&update, Rect::new(64, 0, 64, 64)) else {
            panic!("{update:?}");
        };
        assert!(stitched.new_rows.is_empty(), "{:?}", stitched.spans);
        let sources: Vec<_> = stitched.spans.iter().map(|span| span.source).collect();
        assert!(
            matches!(sources[..], [RowSource::Held { .. }, RowSource::Shown]),
            "{sources:?}"
        );
        assert!(counts.stitched >= 2, "{counts:?}");
    }

    #[test]
    fn a_window_dragged_sideways_leaves_tiles_of_what_is_shown_and_what_was_there() {
        use crate::link::message::PixelSource;
        // A window opens at 40, then it moves right by 20: the tile of its left edge is
        // wallpaper on the left of each row (20 columns of it uncovered) and the window
        // (brought by the move) on the right.
        let (update, _) = window_moved((256, 192), (100, 120), (40, 40), (60, 40));
        let TileContent::Composed(composed) = tile_at(&update, Rect::new(0, 64, 64, 64)) else {
            panic!("{update:?}");
        };
        assert!(composed.new_pixels.is_empty(), "{:?}", composed.runs);
        assert_eq!(
            composed.layers.len(),
            1,
            "the wallpaper tile held before the window"
        );
        let sources: Vec<_> = composed.runs.iter().map(|run| run.source).collect();
        assert!(sources.contains(&PixelSource::Shown), "{sources:?}");
        assert!(sources.contains(&PixelSource::Layer(0)), "{sources:?}");
    }

    #[test]
    fn unchanged_tiles_of_a_changed_area_stay_home() {
        let first = picture(128, 128, 1);
        let (mut outgoing, mut receiver, mut near) = in_step(&first);
        // A diagonal: one area from corner to corner, through two of its four grid tiles.
        let mut next = first.clone();
        for i in 0..128 {
            next.fill_rect(&Rect::new(i, i, 1, 1), 0x00ff00);
        }
        let sent = converge(&mut outgoing, &mut receiver, &mut near, &next, usize::MAX);
        assert!(near == next);
        let rects: Vec<Rect> = sent[0].0.tiles.iter().map(|t| t.rect).collect();
        assert_eq!(
            rects,
            [Rect::new(0, 0, 64, 64), Rect::new(64, 64, 64, 64)],
            "only the tiles that changed"
        );
    }

    #[test]
    fn moves_cross_as_moves() {
        let first = picture(320, 240, 1);
        let (mut outgoing, mut receiver, mut near) = in_step(&first);
        let mut scrolled = first.clone();
        scrolled.copy_rect(&Rect::new(0, 0, 320, 200), 0, 40);
        scrolled.put_pixels(&Rect::new(0, 200, 320, 40), picture(320, 40, 3).pixels());
        let sent = converge(
            &mut outgoing,
            &mut receiver,
            &mut near,
            &scrolled,
            usize::MAX,
        );
        assert!(near == scrolled);
        assert_eq!(sent[0].0.moves.len(), 1, "{:?}", sent[0].0.moves);
    }

    #[test]
    fn a_resumed_link_gets_what_it_missed_and_stays_in_step() {
        let mut outgoing = Outgoing::new(128, 128, LIMIT, &[], &KnownRows::new());
        let mut receiver = TileReceiver::new(LIMIT);
        let mut near = Framebuffer::new(128, 128);
        converge(
            &mut outgoing,
            &mut receiver,
            &mut near,
            &picture(128, 128, 1),
            usize::MAX,
        );
        let applied = outgoing.sequence();
        // Two updates go out and are lost with the link.
        outgoing
            .next_update(&picture(128, 128, 2), &all(128, 128), usize::MAX)
            .unwrap();
        outgoing
            .next_update(&picture(128, 128, 1), &all(128, 128), usize::MAX)
            .unwrap();
        let missed = outgoing.resume(applied).expect("still known");
        assert_eq!(missed.len(), 2);
        for update in &missed {
            receiver.apply(update, &mut near).unwrap();
        }
        assert!(near == picture(128, 128, 1));
        assert!(
            outgoing.resume(applied + 5).is_none(),
            "a future sequence cannot resume"
        );
    }

    proptest::proptest! {
        /// Whatever the mirror does (windows drawn and moved, areas scrolled), with small
        /// caches and budgets, the near side ends with the mirror's picture.
        #[test]
        fn the_near_side_ends_with_the_mirror(
            steps in proptest::collection::vec(
                (0u8..3, 0u16..200, 0u16..150, 1u16..120, 1u16..90, 0u32..6), 1..10),
            limit_tiles in 1usize..12,
            budget in 1usize..40_000,
        ) {
            let limit = limit_tiles * 64 * 64 * 4;
            let mut mirror = picture(200, 150, 1);
            let mut outgoing = Outgoing::new(200, 150, limit, &[], &KnownRows::new());
            let mut receiver = TileReceiver::new(limit);
            let mut near = Framebuffer::new(200, 150);
            for (kind, x, y, width, height, seed) in steps {
                let Some(rect) = Rect::new(x, y, width, height).clip(200, 150) else { continue };
                match kind {
                    // A window drawn.
                    0 => mirror.put_pixels(&rect, picture(rect.width, rect.height, seed).pixels()),
                    // An area moved by a few pixels (a window dragged, a page scrolled).
                    _ => {
                        let (dx, dy) = ((seed % 3) as i32 * 7 - 7, seed as i32 * 5 - 12);
                        let to_x = (i32::from(rect.x) + dx).clamp(0, i32::from(200 - rect.width));
                        let to_y = (i32::from(rect.y) + dy).clamp(0, i32::from(150 - rect.height));
                        let to = Rect::new(to_x as u16, to_y as u16, rect.width, rect.height);
                        mirror.copy_rect(&to, rect.x, rect.y);
                    }
                }
                converge(&mut outgoing, &mut receiver, &mut near, &mirror, budget);
                proptest::prop_assert!(near == mirror);
            }
        }
    }
}
