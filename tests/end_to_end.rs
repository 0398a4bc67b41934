//! Server and viewer crates together in one process: handshakes with and without a
//! password, several viewers, and a viewer that stops reading.

use std::sync::Arc;
use std::time::Duration;

use farview_client::{Target, Viewer, ViewerError, ViewerOptions};
use farview_protocol::{ClientEvent, Rect};
use farview_server::source::SourceFuture;
use farview_server::{Desktop, InputEvent, Server, ServerOptions, Source};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

/// A desktop that repaints all of itself with a new pattern every `interval`, and echoes
/// input back as the colour of a small square (so tests can see input arrive).
struct BusySource {
    width: u16,
    height: u16,
    interval: Duration,
}

impl Source for BusySource {
    fn size(&self) -> (u16, u16) {
        (self.width, self.height)
    }

    fn name(&self) -> String {
        "busy test desktop".into()
    }

    fn run(
        self: Box<Self>,
        desktop: Arc<Desktop>,
        mut input: mpsc::Receiver<InputEvent>,
    ) -> SourceFuture {
        Box::pin(async move {
            let repaint = |frame: u32| {
                desktop.draw(|canvas| {
                    let bounds = canvas.framebuffer().bounds();
                    for (i, pixel) in canvas.framebuffer_mut().pixels_mut().iter_mut().enumerate() {
                        *pixel = (i as u32).wrapping_mul(frame.wrapping_mul(2_654_435_761)) >> 8;
                    }
                    canvas.mark_changed(bounds);
                });
            };
            // The first picture is there before any input can arrive.
            let mut frame = 1u32;
            repaint(frame);
            let start = tokio::time::Instant::now() + self.interval;
            let mut ticks = tokio::time::interval_at(start, self.interval);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        frame += 1;
                        repaint(frame);
                    }
                    Some(event) = input.recv() => {
                        if let InputEvent::Key { down: true, keysym } = event {
                            desktop.draw(|canvas| canvas.fill_rect(Rect::new(0, 0, 8, 8), keysym & 0xffffff));
                        }
                        if let InputEvent::CutText(text) = event {
                            desktop.set_clipboard(&format!("echo: {text}"));
                        }
                    }
                }
            }
        })
    }
}

/// Starts a server for `source` on a free loopback port.
async fn start(source: Box<dyn Source>, password: Option<&str>) -> Target {
    let options = ServerOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        password: password.map(|p| p.as_bytes().to_vec()),
        ..ServerOptions::default()
    };
    let server = Server::bind(options).await.unwrap();
    let target = Target {
        host: "127.0.0.1".into(),
        port: server.local_addr().port(),
    };
    tokio::spawn(server.run(source));
    target
}

fn static_source() -> Box<dyn Source> {
    Box::new(BusySource {
        width: 320,
        height: 200,
        interval: Duration::from_secs(3600),
    })
}

fn with_password(password: &str) -> ViewerOptions {
    ViewerOptions {
        password: Some(password.as_bytes().to_vec()),
        ..ViewerOptions::default()
    }
}

async fn first_update(viewer: &mut Viewer) {
    viewer
        .wait_for(WAIT, |event, _| {
            matches!(event, ClientEvent::UpdateComplete { .. })
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn viewer_gets_the_desktop_and_input_reaches_the_source() {
    let target = start(static_source(), None).await;
    let mut viewer = Viewer::connect(&target, &ViewerOptions::default())
        .await
        .unwrap();
    assert_eq!(viewer.name(), "busy test desktop");
    first_update(&mut viewer).await;
    assert_eq!(
        (viewer.framebuffer().width(), viewer.framebuffer().height()),
        (320, 200)
    );

    viewer.key_event(true, 0x00ff_8040);
    viewer.key_event(false, 0x00ff_8040);
    viewer
        .wait_for(WAIT, |_, framebuffer| {
            framebuffer.pixel(3, 3) == 0x00ff_8040
        })
        .await
        .unwrap();

    viewer.cut_text("ping");
    let event = viewer
        .wait_for(WAIT, |event, _| matches!(event, ClientEvent::CutText(_)))
        .await
        .unwrap();
    assert_eq!(event, ClientEvent::CutText("echo: ping".into()));
}

#[tokio::test]
async fn right_password_connects_and_wrong_password_is_refused() {
    let target = start(static_source(), Some("s3cret")).await;
    let mut viewer = Viewer::connect(&target, &with_password("s3cret"))
        .await
        .unwrap();
    first_update(&mut viewer).await;

    let error = Viewer::connect(&target, &with_password("wrong"))
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ViewerError::Protocol(e) if e.to_string().contains("authentication failed")),
        "{error}"
    );
    let error = Viewer::connect(&target, &ViewerOptions::default())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("requires a password"), "{error}");
    // The server is unharmed by the failures.
    let mut again = Viewer::connect(&target, &with_password("s3cret"))
        .await
        .unwrap();
    first_update(&mut again).await;
}

#[tokio::test]
async fn two_viewers_see_the_same_changes() {
    let source = Box::new(BusySource {
        width: 200,
        height: 100,
        interval: Duration::from_millis(20),
    });
    let target = start(source, None).await;
    let mut first = Viewer::connect(&target, &ViewerOptions::default())
        .await
        .unwrap();
    let mut second = Viewer::connect(&target, &ViewerOptions::default())
        .await
        .unwrap();
    for viewer in [&mut first, &mut second] {
        for _ in 0..5 {
            first_update(viewer).await;
        }
    }
    assert!(first.updates() >= 5 && second.updates() >= 5);
}

#[tokio::test]
async fn a_viewer_that_does_not_share_sends_the_others_away() {
    let source = Box::new(BusySource {
        width: 200,
        height: 100,
        interval: Duration::from_millis(20),
    });
    let target = start(source, None).await;
    let mut shared = Viewer::connect(&target, &ViewerOptions::default())
        .await
        .unwrap();
    first_update(&mut shared).await;
    let sole = ViewerOptions {
        exclusive: true,
        ..ViewerOptions::default()
    };
    let mut exclusive = Viewer::connect(&target, &sole).await.unwrap();
    first_update(&mut exclusive).await;
    let ended = shared.wait_for(WAIT, |_, _| false).await;
    assert!(
        matches!(ended, Err(ViewerError::Closed)),
        "the shared viewer should have been sent away: {ended:?}"
    );
    // A viewer that shares, connecting afterwards, joins the one that asked for sole access.
    let mut later = Viewer::connect(&target, &ViewerOptions::default())
        .await
        .unwrap();
    for viewer in [&mut later, &mut exclusive] {
        for _ in 0..3 {
            first_update(viewer).await;
        }
    }
}

/// Completes a handshake by hand and then never reads again: the worst viewer there is.
async fn stalled_viewer(target: &Target) -> TcpStream {
    let mut stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .unwrap();
    let mut version = [0u8; 12];
    stream.read_exact(&mut version).await.unwrap();
    stream.write_all(b"RFB 003.008\n").await.unwrap();
    let mut types = [0u8; 2];
    stream.read_exact(&mut types).await.unwrap();
    stream.write_all(&[1]).await.unwrap();
    let mut result = [0u8; 4];
    stream.read_exact(&mut result).await.unwrap();
    stream.write_all(&[1]).await.unwrap();
    let mut init = [0u8; 24];
    stream.read_exact(&mut init).await.unwrap();
    let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]);
    let mut name = vec![0; name_len as usize];
    stream.read_exact(&mut name).await.unwrap();
    stream
}

const UPDATE_REQUEST: [u8; 10] = [3, 1, 0, 0, 0, 0, 0x7f, 0xff, 0x7f, 0xff];

#[tokio::test]
async fn a_viewer_that_stops_reading_stalls_nobody_and_costs_bounded_memory() {
    // Full-screen changes of 640x480x4 = 1.2 MB each, 50 times a second.
    let source = Box::new(BusySource {
        width: 640,
        height: 480,
        interval: Duration::from_millis(20),
    });
    let target = start(source, None).await;
    let stalled = stalled_viewer(&target).await;
    // It keeps asking for updates (a server that queued one per request would grow without
    // bound) but never reads them.
    let (mut stalled_reader, mut stalled_writer) = stalled.into_split();
    let keep_asking = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let asking = tokio::spawn({
        let keep_asking = keep_asking.clone();
        async move {
            while keep_asking.load(std::sync::atomic::Ordering::Relaxed) {
                stalled_writer.write_all(&UPDATE_REQUEST).await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            // Returned, not dropped: dropping a write half shuts the connection down.
            stalled_writer
        }
    });
    let mut healthy = Viewer::connect(&target, &ViewerOptions::default())
        .await
        .unwrap();

    // The healthy viewer keeps getting fresh updates while the other is stuck: 2 s of
    // changes is ~100 frames, ~120 MB that would pile up if anything queued for the stalled one.
    let start = tokio::time::Instant::now();
    let mut updates = 0;
    while start.elapsed() < Duration::from_secs(2) {
        first_update(&mut healthy).await;
        updates += 1;
    }
    assert!(
        updates >= 5,
        "the healthy viewer got only {updates} updates"
    );

    keep_asking.store(false, std::sync::atomic::Ordering::Relaxed);
    let _writer = asking.await.unwrap();
    // What the server pushed at the stalled viewer is bounded by one update plus the socket
    // buffers, not by the number of frames it missed.
    let mut received = 0usize;
    let mut buffer = vec![0u8; 1 << 20];
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(300), stalled_reader.read(&mut buffer)).await
    {
        if n == 0 {
            break;
        }
        received += n;
    }
    // Draining lets the server send the one update still asked for: allow two, plus the
    // socket buffers of both ends.
    let one_update = 640 * 480 * 4;
    assert!(
        received >= one_update / 2,
        "the stalled viewer got almost nothing: {received} bytes"
    );
    assert!(
        received <= 2 * one_update + 16 * 1024 * 1024,
        "{received} bytes queued for a viewer that was not reading"
    );
}

#[tokio::test]
async fn the_demo_desktop_reacts_to_a_viewer() {
    let target = start(
        Box::new(farview_server::source::demo::DemoSource::new()),
        None,
    )
    .await;
    let mut viewer = Viewer::connect(&target, &ViewerOptions::default())
        .await
        .unwrap();
    assert_eq!(viewer.name(), "farview demo");
    first_update(&mut viewer).await;
    let before = viewer.framebuffer().clone();

    // Typed keys land in the text box and come back as the server's clipboard.
    for keysym in [u32::from(b'H'), u32::from(b'i')] {
        viewer.key_event(true, keysym);
        viewer.key_event(false, keysym);
    }
    let event = viewer
        .wait_for(
            WAIT,
            |event, _| matches!(event, ClientEvent::CutText(text) if text == "Hi"),
        )
        .await
        .unwrap();
    assert_eq!(event, ClientEvent::CutText("Hi".into()));
    viewer
        .wait_for(WAIT, |event, framebuffer| {
            matches!(event, ClientEvent::UpdateComplete { .. }) && framebuffer != &before
        })
        .await
        .unwrap();

    // Escape rings the bell.
    viewer.key_event(true, 0xff1b);
    viewer.key_event(false, 0xff1b);
    viewer
        .wait_for(WAIT, |event, _| *event == ClientEvent::Bell)
        .await
        .unwrap();

    // A wheel notch over the list scrolls it: the picture there changes.
    let list = Rect::new(30, 430, 260, 280);
    let list_before = viewer.framebuffer().read_rect(&list);
    viewer.pointer_event(0, 150, 550);
    viewer.pointer_event(1 << 4, 150, 550);
    viewer.pointer_event(0, 150, 550);
    viewer
        .wait_for(WAIT, |_, framebuffer| {
            framebuffer.read_rect(&list) != list_before
        })
        .await
        .unwrap();
}

/// A still, photo-like picture: JPEG material for a viewer that allows lossy.
struct PhotoSource;

fn photo() -> farview_protocol::Framebuffer {
    let mut picture = farview_protocol::Framebuffer::new(320, 240);
    for (i, pixel) in picture.pixels_mut().iter_mut().enumerate() {
        let (x, y) = ((i % 320) as u32, (i / 320) as u32);
        *pixel =
            (((x + y / 3) & 0xff) << 16) | (((y + x / 5) & 0xff) << 8) | ((x * y / 300) & 0xff);
    }
    picture
}

impl Source for PhotoSource {
    fn size(&self) -> (u16, u16) {
        (320, 240)
    }

    fn name(&self) -> String {
        "photo".into()
    }

    fn run(
        self: Box<Self>,
        desktop: Arc<Desktop>,
        _input: mpsc::Receiver<InputEvent>,
    ) -> SourceFuture {
        Box::pin(async move {
            desktop.draw(|canvas| canvas.replace_with(&photo()));
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

#[tokio::test]
async fn lossy_areas_are_refreshed_losslessly_once_the_screen_is_quiet() {
    let target = start(Box::new(PhotoSource), None).await;
    let options = ViewerOptions {
        encodings: vec![farview_protocol::EncodingType::TIGHT],
        quality: Some(5),
        ..ViewerOptions::default()
    };
    let mut viewer = Viewer::connect(&target, &options).await.unwrap();
    let expected = photo();
    // The first picture is JPEG, close but not exact...
    viewer
        .wait_for(WAIT, |event, framebuffer| {
            matches!(event, ClientEvent::UpdateComplete { .. }) && framebuffer.pixel(100, 100) != 0
        })
        .await
        .unwrap();
    assert!(
        viewer.framebuffer() != &expected,
        "the first update should have been lossy"
    );
    // ...and then, with nothing changing, the refresh makes it exact.
    viewer
        .wait_for(WAIT, |_, framebuffer| framebuffer == &expected)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_viewer_gets_the_demo_pointer_shape_and_follows_renames() {
    use farview_server::source::demo;
    let target = start(Box::new(demo::DemoSource::new()), None).await;
    let mut viewer = Viewer::connect(&target, &ViewerOptions::default())
        .await
        .unwrap();
    let event = viewer
        .wait_for(WAIT, |event, _| matches!(event, ClientEvent::Cursor(_)))
        .await
        .unwrap();
    let ClientEvent::Cursor(cursor) = event else {
        unreachable!()
    };
    assert_eq!(
        (cursor.width, cursor.height),
        (demo::ARROW_WIDTH, demo::ARROW_HEIGHT)
    );
    assert_eq!((cursor.hotspot_x, cursor.hotspot_y), demo::ARROW_HOTSPOT);
    // Cursor With Alpha carries premultiplied RGBA losslessly.
    assert_eq!(cursor, demo::arrow_cursor());
    assert_eq!(viewer.cursor(), Some(&cursor));

    // A source that renames its desktop when a key is pressed.
    struct RenamingSource;
    impl Source for RenamingSource {
        fn size(&self) -> (u16, u16) {
            (64, 48)
        }
        fn name(&self) -> String {
            "before".into()
        }
        fn run(
            self: Box<Self>,
            desktop: Arc<Desktop>,
            mut input: mpsc::Receiver<InputEvent>,
        ) -> SourceFuture {
            Box::pin(async move {
                while let Some(event) = input.recv().await {
                    if let InputEvent::Key { down: true, keysym } = event {
                        desktop.set_name(&format!("after {keysym}"));
                    }
                }
                Ok(())
            })
        }
    }
    let target = start(Box::new(RenamingSource), None).await;
    let mut viewer = Viewer::connect(&target, &ViewerOptions::default())
        .await
        .unwrap();
    assert_eq!(viewer.name(), "before");
    first_update(&mut viewer).await;
    viewer.key_event(true, 0x61);
    let event = viewer
        .wait_for(WAIT, |event, _| {
            matches!(event, ClientEvent::DesktopName(_))
        })
        .await
        .unwrap();
    assert_eq!(event, ClientEvent::DesktopName("after 97".into()));
    assert_eq!(viewer.name(), "after 97");
}

/// Shows the first frame of a fixture, then the second when told, as the replay source does
/// (moves found by comparing the frames).
struct TwoFrames {
    frames: [farview_protocol::Framebuffer; 2],
    next: tokio::sync::oneshot::Receiver<()>,
}

impl Source for TwoFrames {
    fn size(&self) -> (u16, u16) {
        (self.frames[0].width(), self.frames[0].height())
    }

    fn name(&self) -> String {
        "two frames".into()
    }

    fn run(
        self: Box<Self>,
        desktop: Arc<Desktop>,
        _input: mpsc::Receiver<InputEvent>,
    ) -> SourceFuture {
        Box::pin(async move {
            let [first, second] = self.frames;
            desktop.draw(|canvas| canvas.replace_with(&first));
            let _ = self.next.await;
            desktop.draw(|canvas| canvas.replace_with(&second));
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

#[tokio::test]
async fn moves_reach_viewers_with_and_without_copyrect() {
    use farview_protocol::EncodingType;
    for fixture in ["scroll", "window-move"] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture);
        let frame = |index: usize| {
            farview_server::source::replay::decode_png(&dir.join(format!("frame-{index:05}.png")))
                .unwrap()
        };
        let (before, after) = (frame(0), frame(1));
        let (next, wait) = tokio::sync::oneshot::channel();
        let source = TwoFrames {
            frames: [before.clone(), after.clone()],
            next: wait,
        };
        let target = start(Box::new(source), None).await;
        // One viewer takes moves as CopyRect; the other gets the pixels that differ.
        let mut viewers = Vec::new();
        for encodings in [
            vec![EncodingType::COPY_RECT, EncodingType::ZRLE],
            vec![EncodingType::ZRLE],
        ] {
            let options = ViewerOptions {
                encodings,
                ..ViewerOptions::default()
            };
            let mut viewer = Viewer::connect(&target, &options).await.unwrap();
            viewer
                .wait_for(WAIT, |_, framebuffer| framebuffer == &before)
                .await
                .unwrap_or_else(|e| panic!("{fixture}: the first frame never arrived: {e}"));
            viewers.push(viewer);
        }
        next.send(()).unwrap();
        for (index, viewer) in viewers.iter_mut().enumerate() {
            viewer
                .wait_for(WAIT, |_, framebuffer| framebuffer == &after)
                .await
                .unwrap_or_else(|e| {
                    panic!("{fixture}, viewer {index}: the moved frame never arrived: {e}")
                });
        }
    }
}
