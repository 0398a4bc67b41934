//! Behaviour tests of the demo desktop, driven through a real [`Desktop`].

use std::sync::Arc;
use std::time::Duration;

use farview_protocol::{Framebuffer, Rect};

use super::keys::keysym_char;
use super::scene::{self, Demo, clock_text};
use super::*;
use crate::desktop::{Catchup, DesktopEvent};
use farview_protocol::encodings::extended_desktop_size::{DesktopLayout, ResizeStatus, Screen};

/// 2001-09-09 01:46:40 UTC.
const T0: u64 = 1_000_000_000;

fn demo_desktop() -> (Arc<Desktop>, Demo) {
    let (desktop, _input) = Desktop::new(scene::MIN_WIDTH, scene::MIN_HEIGHT, "demo");
    let mut demo = Demo::new();
    desktop.draw(|c| demo.draw_all(c, T0));
    (desktop, demo)
}

fn key(desktop: &Desktop, demo: &mut Demo, keysym: u32) {
    apply(
        desktop,
        demo,
        &InputEvent::Key {
            down: true,
            keysym,
            scancode: None,
        },
    );
    apply(
        desktop,
        demo,
        &InputEvent::Key {
            down: false,
            keysym,
            scancode: None,
        },
    );
}

fn typing(desktop: &Desktop, demo: &mut Demo, text: &str) {
    for c in text.chars() {
        key(desktop, demo, if c == '\n' { 0xff0d } else { u32::from(c) });
    }
}

fn pointer(desktop: &Desktop, demo: &mut Demo, buttons: u8, x: u16, y: u16) {
    apply(desktop, demo, &InputEvent::Pointer { buttons, x, y });
}

fn events_since(desktop: &Desktop, since: u64) -> Vec<DesktopEvent> {
    match desktop.catch_up(since).0 {
        Catchup::Events(events) => events,
        Catchup::Lagged => panic!("lagged"),
    }
}

fn pixels(desktop: &Desktop, rect: Rect) -> Vec<u32> {
    desktop.with_framebuffer(|fb| fb.read_rect(&rect))
}

/// The notes text area, and the sketch pad (see the layout in scene.rs).
const NOTES_TEXT: Rect = Rect::new(31, 107, 456, 236);
const PAD: Rect = Rect::new(530, 88, 468, 272);

#[test]
fn typed_text_is_drawn_and_put_on_the_clipboard() {
    let (desktop, mut demo) = demo_desktop();
    let empty = pixels(&desktop, NOTES_TEXT);
    typing(&desktop, &mut demo, "Hi");
    assert_ne!(pixels(&desktop, NOTES_TEXT), empty);
    assert_eq!(&*desktop.clipboard(), "Hi");
    key(&desktop, &mut demo, 0xff08);
    assert_eq!(&*desktop.clipboard(), "H");
    key(&desktop, &mut demo, 0xff08);
    assert_eq!(&*desktop.clipboard(), "");
    assert_eq!(pixels(&desktop, NOTES_TEXT), empty);
    typing(&desktop, &mut demo, "a\nb\u{e9}");
    assert_eq!(&*desktop.clipboard(), "a\nb\u{e9}");
}

#[test]
fn modifiers_and_odd_keysyms_type_nothing() {
    let (desktop, mut demo) = demo_desktop();
    let start = desktop.sequence();
    for keysym in [
        0xffe1,
        0xffbe,
        0x7f,
        0x9f,
        0x1234_5678,
        0x0100_0007,
        u32::MAX,
    ] {
        key(&desktop, &mut demo, keysym);
    }
    let events = events_since(&desktop, start);
    assert!(!events.contains(&DesktopEvent::ClipboardChanged));
    assert!(!events.contains(&DesktopEvent::Bell));
    assert_eq!(demo.notes_text(), "");
    assert_eq!(keysym_char(0xffb7), Some('7'));
    assert_eq!(keysym_char(0x0100_20ac), Some('\u{20ac}'));
}

#[test]
fn escape_and_ctrl_g_ring_the_bell() {
    let (desktop, mut demo) = demo_desktop();
    let start = desktop.sequence();
    key(&desktop, &mut demo, 0xff1b);
    assert_eq!(
        events_since(&desktop, start)
            .iter()
            .filter(|e| **e == DesktopEvent::Bell)
            .count(),
        1
    );
    let start = desktop.sequence();
    apply(
        &desktop,
        &mut demo,
        &InputEvent::Key {
            down: true,
            keysym: 0xffe4,
            scancode: None,
        },
    );
    key(&desktop, &mut demo, u32::from('g'));
    apply(
        &desktop,
        &mut demo,
        &InputEvent::Key {
            down: false,
            keysym: 0xffe4,
            scancode: None,
        },
    );
    key(&desktop, &mut demo, u32::from('g'));
    let events = events_since(&desktop, start);
    assert_eq!(
        events.iter().filter(|e| **e == DesktopEvent::Bell).count(),
        1
    );
    assert_eq!(
        demo.notes_text(),
        "g",
        "only the g typed after Control was released"
    );
}

#[test]
fn the_wheel_scrolls_the_list_with_a_copy() {
    let (desktop, mut demo) = demo_desktop();
    let start = desktop.sequence();
    pointer(&desktop, &mut demo, 1 << 4, 100, 500);
    pointer(&desktop, &mut demo, 0, 100, 500);
    assert_eq!(demo.list_first(), 3);
    let events = events_since(&desktop, start);
    let copies: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, DesktopEvent::Copied { .. }))
        .collect();
    assert_eq!(copies.len(), 1);
    // Scrolling up restores exactly the first picture.
    let list = Rect::new(16, 386, 300, 342);
    let after_down = pixels(&desktop, list);
    pointer(&desktop, &mut demo, 1 << 3, 100, 500);
    pointer(&desktop, &mut demo, 0, 100, 500);
    assert_eq!(demo.list_first(), 0);
    let (fresh, mut fresh_demo) = demo_desktop();
    fresh.draw(|c| {
        fresh_demo.handle(
            c,
            &InputEvent::Pointer {
                buttons: 0,
                x: 100,
                y: 500,
            },
        )
    });
    assert_eq!(pixels(&desktop, list), pixels(&fresh, list));
    assert_ne!(pixels(&desktop, list), after_down);
    // Wheeling elsewhere, or past the top, does nothing.
    let start = desktop.sequence();
    pointer(&desktop, &mut demo, 1 << 4, 700, 500);
    pointer(&desktop, &mut demo, 1 << 3, 100, 500);
    assert!(
        !events_since(&desktop, start)
            .iter()
            .any(|e| matches!(e, DesktopEvent::Copied { .. }))
    );
}

#[test]
fn scrolling_to_the_end_stops_at_the_last_item() {
    let (desktop, mut demo) = demo_desktop();
    for _ in 0..50 {
        pointer(&desktop, &mut demo, 1 << 4, 100, 500);
        pointer(&desktop, &mut demo, 0, 100, 500);
    }
    assert_eq!(demo.list_first(), 100 - 19);
}

#[test]
fn dragging_draws_and_button_3_clears() {
    let (desktop, mut demo) = demo_desktop();
    let blank = pixels(&desktop, PAD);
    let start = desktop.sequence();
    pointer(&desktop, &mut demo, 1, 600, 150);
    pointer(&desktop, &mut demo, 1, 700, 200);
    pointer(&desktop, &mut demo, 1, 5000, 9000);
    pointer(&desktop, &mut demo, 0, 5000, 9000);
    assert_ne!(pixels(&desktop, PAD), blank);
    // The damage stays on the pad (and the status bar), not the whole screen.
    for event in events_since(&desktop, start) {
        if let DesktopEvent::Changed(rect) = event {
            assert!(PAD.contains(&rect) || rect.y >= 744, "{rect:?}");
        }
    }
    pointer(&desktop, &mut demo, 4, 650, 250);
    assert_eq!(pixels(&desktop, PAD), blank);
    // A drag that starts off the pad draws nothing on it.
    pointer(&desktop, &mut demo, 1, 100, 100);
    pointer(&desktop, &mut demo, 1, 700, 200);
    assert_eq!(pixels(&desktop, PAD), blank);
}

#[test]
fn the_clock_changes_only_its_own_cells() {
    let (desktop, mut demo) = demo_desktop();
    assert_eq!(clock_text(T0), "01:46:40");
    let start = desktop.sequence();
    desktop.draw(|c| demo.tick(c, T0));
    assert!(events_since(&desktop, start).is_empty());
    desktop.draw(|c| demo.tick(c, T0 + 1));
    let events = events_since(&desktop, start);
    assert_eq!(events.len(), 1);
    let DesktopEvent::Changed(rect) = events[0] else {
        panic!("{events:?}")
    };
    assert!(rect.area() <= 12 * 6 * 14, "{rect:?}");
}

#[test]
fn cut_text_is_shown_and_huge_or_odd_text_is_clipped() {
    let (desktop, mut demo) = demo_desktop();
    let view = Rect::new(346, 546, 650, 160);
    let before = pixels(&desktop, view);
    apply(
        &desktop,
        &mut demo,
        &InputEvent::CutText("pasted\r\nline two\u{0}\u{263a}".into()),
    );
    let shown = pixels(&desktop, view);
    assert_ne!(shown, before);
    apply(
        &desktop,
        &mut demo,
        &InputEvent::CutText("x".repeat(5_000_000)),
    );
    apply(
        &desktop,
        &mut demo,
        &InputEvent::CutText("\n".repeat(100_000)),
    );
    apply(&desktop, &mut demo, &InputEvent::CutText(String::new()));
    assert_eq!(demo.notes_text(), "", "pasting does not type");
}

#[test]
fn a_small_desktop_and_wild_input_do_not_panic() {
    let (desktop, _input) = Desktop::new(300, 200, "small");
    let mut demo = Demo::new();
    desktop.draw(|c| demo.draw_all(c, u64::MAX));
    typing(&desktop, &mut demo, &"long text ".repeat(600));
    for (buttons, x, y) in [
        (0xff, u16::MAX, u16::MAX),
        (1, 0, 0),
        (0x18, 100, 500),
        (1, 700, 200),
    ] {
        pointer(&desktop, &mut demo, buttons, x, y);
    }
    pointer(&desktop, &mut demo, 0, 0, 0);
    pointer(&desktop, &mut demo, 1, 600, 150);
    pointer(&desktop, &mut demo, 1, u16::MAX, 0);
    desktop.draw(|c| demo.tick(c, 12345));
}

fn resize(desktop: &Desktop, demo: &mut Demo, layout: &DesktopLayout) -> ResizeStatus {
    desktop.draw(|c| demo.resize(c, layout, 7, T0))
}

#[test]
fn resizing_keeps_the_windows_and_stretches_the_bars() {
    let (desktop, mut demo) = demo_desktop();
    typing(&desktop, &mut demo, "kept");
    pointer(&desktop, &mut demo, 1, 600, 150);
    pointer(&desktop, &mut demo, 1, 700, 200);
    pointer(&desktop, &mut demo, 0, 700, 200);
    let notes = pixels(&desktop, NOTES_TEXT);
    let pad = pixels(&desktop, PAD);
    let start = desktop.sequence();
    let layout = DesktopLayout::single(1600, 1000);
    assert_eq!(resize(&desktop, &mut demo, &layout), ResizeStatus::SUCCESS);
    assert!(
        events_since(&desktop, start).contains(&DesktopEvent::Resized {
            width: 1600,
            height: 1000,
            requested_by: Some(7),
        })
    );
    assert_eq!(desktop.layout(), layout);
    assert_eq!(pixels(&desktop, NOTES_TEXT), notes);
    assert_eq!(pixels(&desktop, PAD), pad);
    assert_eq!(demo.notes_text(), "kept");
    // Both bars reach the right edge, the status bar lies along the new bottom, and the
    // clock moved to the new right end of the top bar.
    let (bar, background) = desktop.with_framebuffer(|fb| (fb.pixel(0, 0), fb.pixel(1200, 900)));
    assert_ne!(bar, background);
    desktop.with_framebuffer(|fb| {
        assert_eq!(fb.pixel(1599, 0), bar);
        assert_eq!(fb.pixel(1599, 999), bar);
        assert_eq!(fb.pixel(0, 976), bar);
        assert_ne!(fb.pixel(0, 975), bar);
    });
    let clock = pixels(&desktop, Rect::new(1600 - 12 - 12 * 8, 0, 12 * 8, 24));
    assert!(
        clock.iter().any(|&p| p != bar),
        "the clock is drawn at the right"
    );
    // Typing still works where the notes were.
    typing(&desktop, &mut demo, "!");
    assert_eq!(&*desktop.clipboard(), "kept!");
}

#[test]
fn sizes_and_layouts_the_demo_cannot_take_are_refused_with_their_status() {
    let (desktop, mut demo) = demo_desktop();
    let start = desktop.sequence();
    let whole = DesktopLayout::single(1280, 1024);
    let two = DesktopLayout {
        screens: vec![
            Screen {
                width: 640,
                ..Screen::whole(0, 1280, 1024)
            },
            Screen {
                id: 1,
                x: 640,
                width: 640,
                ..Screen::whole(1, 1280, 1024)
            },
        ],
        ..whole.clone()
    };
    let partial = DesktopLayout {
        screens: vec![Screen {
            width: 1000,
            ..Screen::whole(0, 1280, 1024)
        }],
        ..whole.clone()
    };
    for (layout, status) in [
        (
            DesktopLayout::single(800, 600),
            ResizeStatus::INVALID_LAYOUT,
        ),
        (
            DesktopLayout::single(1024, 767),
            ResizeStatus::INVALID_LAYOUT,
        ),
        (
            DesktopLayout::single(4097, 768),
            ResizeStatus::OUT_OF_RESOURCES,
        ),
        (
            DesktopLayout::single(1024, 8000),
            ResizeStatus::OUT_OF_RESOURCES,
        ),
        (two, ResizeStatus::INVALID_LAYOUT),
        (partial, ResizeStatus::INVALID_LAYOUT),
    ] {
        assert_eq!(resize(&desktop, &mut demo, &layout), status, "{layout:?}");
    }
    assert_eq!(desktop.sequence(), start, "nothing changed");
    assert_eq!(desktop.size(), (1024, 768));
    let largest = DesktopLayout::single(scene::MAX_WIDTH, scene::MAX_HEIGHT);
    assert_eq!(resize(&desktop, &mut demo, &largest), ResizeStatus::SUCCESS);
    let smallest = DesktopLayout::single(scene::MIN_WIDTH, scene::MIN_HEIGHT);
    assert_eq!(
        resize(&desktop, &mut demo, &smallest),
        ResizeStatus::SUCCESS
    );
}

#[tokio::test]
async fn the_source_runs_and_reacts_to_input() {
    let (desktop, input) = Desktop::new(scene::MIN_WIDTH, scene::MIN_HEIGHT, "demo");
    let source = Box::new(DemoSource::new());
    assert_eq!(source.size(), (1024, 768));
    assert_eq!(source.name(), "farview demo");
    let task = tokio::spawn(source.run(desktop.clone(), input));
    desktop
        .send_input(InputEvent::Key {
            down: true,
            keysym: u32::from('!'),
            scancode: None,
        })
        .await;
    let waited = tokio::time::timeout(Duration::from_secs(5), async {
        while &*desktop.clipboard() != "!" {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    assert!(
        waited.await.is_ok(),
        "the typed key never reached the clipboard"
    );
    task.abort();
}

/// Renders the desktop after some input to a PNG for a look by eye:
/// `cargo test -p farview-server demo_screenshot -- --ignored` writes it to the temp folder.
#[test]
#[ignore]
fn demo_screenshot() {
    let (desktop, mut demo) = demo_desktop();
    typing(
        &desktop,
        &mut demo,
        "Hello from farview! The quick brown fox jumps over the lazy dog.\n",
    );
    typing(
        &desktop,
        &mut demo,
        "THE QUICK BROWN FOX 0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\n",
    );
    typing(
        &desktop,
        &mut demo,
        "jumpy glyphs: gjpqy, il1|I, O0o, caf\u{e9}",
    );
    for (index, &(x, y)) in [(560, 300), (600, 150), (660, 280), (720, 130), (800, 300)]
        .iter()
        .enumerate()
    {
        pointer(&desktop, &mut demo, if index == 0 { 0 } else { 1 }, x, y);
        pointer(&desktop, &mut demo, 1, x, y);
    }
    pointer(&desktop, &mut demo, 0, 820, 320);
    for _ in 0..2 {
        pointer(&desktop, &mut demo, 1 << 4, 100, 500);
        pointer(&desktop, &mut demo, 0, 100, 500);
    }
    apply(
        &desktop,
        &mut demo,
        &InputEvent::CutText("Pasted from a viewer:\nfoo bar baz".into()),
    );
    key(&desktop, &mut demo, 0xff1b);
    let path = std::env::temp_dir().join("farview-demo.png");
    desktop.with_framebuffer(|fb: &Framebuffer| {
        let file = std::fs::File::create(&path).expect("create the PNG");
        let mut encoder = png::Encoder::new(
            std::io::BufWriter::new(file),
            u32::from(fb.width()),
            u32::from(fb.height()),
        );
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("PNG header");
        writer.write_image_data(&fb.to_rgb()).expect("PNG data");
    });
    eprintln!("wrote {}", path.display());
}
