//! Resize requests through the server's sessions, in one process with a source that resizes
//! itself: the requesting viewer gets its answer (reason 1), the others the new size as
//! another viewer's change (reason 2), refusals reach only the requester, and everyone ends
//! with the new picture.

use std::sync::Arc;
use std::time::Duration;

use farview_client::{Target, Viewer, ViewerOptions};
use farview_protocol::encodings::extended_desktop_size::{
    DesktopSizeChange, ResizeReason, ResizeStatus,
};
use farview_protocol::{ClientConfig, ClientConnection, ClientEvent, EncodingType};
use farview_server::source::SourceFuture;
use farview_server::{Desktop, InputEvent, Server, ServerOptions, Source};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);
/// The source refuses anything wider, as out of resources.
const WIDEST: u16 = 1000;

/// A desktop whose pixels depend on their position and the size, resized on request.
struct ResizableSource;

fn paint(desktop: &Desktop) {
    desktop.draw(|canvas| {
        let (width, height) = (canvas.width(), canvas.height());
        let bounds = canvas.framebuffer().bounds();
        for (i, pixel) in canvas.framebuffer_mut().pixels_mut().iter_mut().enumerate() {
            *pixel = (i as u32 ^ u32::from(width) << 12 ^ u32::from(height)) & 0x00ff_ffff;
        }
        canvas.mark_changed(bounds);
    });
}

impl Source for ResizableSource {
    fn size(&self) -> (u16, u16) {
        (320, 200)
    }

    fn name(&self) -> String {
        "resizable test desktop".into()
    }

    fn run(
        self: Box<Self>,
        desktop: Arc<Desktop>,
        mut input: mpsc::Receiver<InputEvent>,
    ) -> SourceFuture {
        Box::pin(async move {
            paint(&desktop);
            while let Some(event) = input.recv().await {
                if let InputEvent::SetDesktopSize(request) = event {
                    if request.layout.width > WIDEST {
                        request.answer(ResizeStatus::OUT_OF_RESOURCES);
                        continue;
                    }
                    let (layout, viewer) = (request.layout.clone(), request.viewer);
                    desktop.draw(|canvas| canvas.resize_to(layout, Some(viewer)));
                    paint(&desktop);
                    request.answer(ResizeStatus::SUCCESS);
                }
            }
            Ok(())
        })
    }
}

async fn start() -> Target {
    let options = ServerOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..ServerOptions::default()
    };
    let server = Server::bind(options).await.unwrap();
    let target = Target {
        host: "127.0.0.1".into(),
        port: server.local_addr().port(),
    };
    tokio::spawn(server.run(Box::new(ResizableSource)));
    target
}

/// Connects and waits until the viewer knows the server takes resize requests.
async fn connect(target: &Target) -> Viewer {
    let mut viewer = Viewer::connect(target, &ViewerOptions::default())
        .await
        .unwrap();
    viewer
        .wait_for(WAIT, |event, _| {
            matches!(event, ClientEvent::DesktopSizeChange(change)
                if change.reason == ResizeReason::SERVER)
        })
        .await
        .unwrap();
    viewer
}

async fn next_change(viewer: &mut Viewer) -> DesktopSizeChange {
    match viewer
        .wait_for(WAIT, |event, _| {
            matches!(event, ClientEvent::DesktopSizeChange(_))
        })
        .await
        .unwrap()
    {
        ClientEvent::DesktopSizeChange(change) => change,
        _ => unreachable!(),
    }
}

/// Waits until the viewer shows exactly what the desktop `expected` shows.
async fn wait_for_picture(viewer: &mut Viewer, expected: &farview_protocol::Framebuffer) {
    if viewer.framebuffer() == expected {
        return;
    }
    viewer
        .wait_for(WAIT, |event, framebuffer| {
            matches!(event, ClientEvent::UpdateComplete { .. }) && framebuffer == expected
        })
        .await
        .unwrap_or_else(|e| panic!("the picture never matched: {e}"));
}

fn expected_picture(width: u16, height: u16) -> farview_protocol::Framebuffer {
    let (desktop, _input) = Desktop::new(width, height, "expected");
    paint(&desktop);
    desktop.with_framebuffer(Clone::clone)
}

#[tokio::test]
async fn the_requester_is_answered_and_other_viewers_follow() {
    let target = start().await;
    let mut asking = connect(&target).await;
    let mut watching = connect(&target).await;

    assert!(asking.request_desktop_size(400, 300));
    asking.flush().await.unwrap();
    let answer = next_change(&mut asking).await;
    assert_eq!(
        (answer.reason, answer.status),
        (ResizeReason::THIS_CLIENT, ResizeStatus::SUCCESS)
    );
    assert_eq!((answer.layout.width, answer.layout.height), (400, 300));
    let told = next_change(&mut watching).await;
    assert_eq!(
        (told.reason, told.status),
        (ResizeReason::OTHER_CLIENT, ResizeStatus::SUCCESS)
    );
    assert_eq!((told.layout.width, told.layout.height), (400, 300));
    let expected = expected_picture(400, 300);
    wait_for_picture(&mut asking, &expected).await;
    wait_for_picture(&mut watching, &expected).await;

    // A refusal goes to the requester only, and changes nothing.
    assert!(watching.request_desktop_size(WIDEST + 1, 300));
    watching.flush().await.unwrap();
    let refused = next_change(&mut watching).await;
    assert_eq!(
        (refused.reason, refused.status),
        (ResizeReason::THIS_CLIENT, ResizeStatus::OUT_OF_RESOURCES)
    );
    assert_eq!(watching.framebuffer(), &expected);
    // The next change the first viewer hears of is its own next request's answer.
    assert!(asking.request_desktop_size(200, 100));
    asking.flush().await.unwrap();
    let answer = next_change(&mut asking).await;
    assert_eq!(
        (answer.reason, answer.layout.width),
        (ResizeReason::THIS_CLIENT, 200)
    );
    wait_for_picture(&mut asking, &expected_picture(200, 100)).await;

    // An invalid layout is refused by the server itself.
    assert!(asking.request_desktop_size(0, 100));
    asking.flush().await.unwrap();
    let invalid = next_change(&mut asking).await;
    assert_eq!(invalid.status, ResizeStatus::INVALID_LAYOUT);
}

/// A viewer of the plain DesktopSize pseudo-encoding only, on the protocol crate directly.
struct PlainViewer {
    stream: TcpStream,
    connection: ClientConnection,
    input: Vec<u8>,
}

impl PlainViewer {
    async fn connect(target: &Target) -> PlainViewer {
        let stream = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .unwrap();
        let connection = ClientConnection::new(ClientConfig {
            encodings: vec![EncodingType::RAW, EncodingType::DESKTOP_SIZE],
            ..ClientConfig::default()
        });
        PlainViewer {
            stream,
            connection,
            input: Vec::new(),
        }
    }

    /// Runs the connection (asking for updates as a viewer does) until `wanted` accepts an
    /// event; returns every event seen.
    async fn run_until(
        &mut self,
        mut wanted: impl FnMut(&ClientEvent, &Self) -> bool,
    ) -> Vec<ClientEvent> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            while let Some(event) = self.connection.poll_event() {
                match &event {
                    ClientEvent::Connected { .. } | ClientEvent::Resized { .. } => {
                        self.connection.request_update(false, None);
                    }
                    ClientEvent::UpdateComplete { .. } => {
                        self.connection.request_update(true, None)
                    }
                    _ => {}
                }
                let done = wanted(&event, self);
                seen.push(event);
                if done {
                    return seen;
                }
            }
            let output = self.connection.take_output();
            self.stream.write_all(&output).await.unwrap();
            let mut buffer = [0u8; 65536];
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut buffer))
                .await
                .unwrap_or_else(|_| panic!("timed out; seen {seen:?}"))
                .unwrap();
            assert!(read > 0, "the server closed the connection; seen {seen:?}");
            self.input.extend_from_slice(&buffer[..read]);
            let used = self.connection.handle_input(&self.input).unwrap();
            self.input.drain(..used);
        }
    }
}

#[tokio::test]
async fn a_viewer_of_plain_desktop_size_gets_it_with_the_pixels() {
    let target = start().await;
    let mut plain = PlainViewer::connect(&target).await;
    let first = expected_picture(320, 200);
    plain
        .run_until(|event, viewer| {
            matches!(event, ClientEvent::UpdateComplete { .. })
                && viewer.connection.framebuffer() == &first
        })
        .await;
    let mut asking = connect(&target).await;
    assert!(asking.request_desktop_size(480, 240));
    asking.flush().await.unwrap();
    assert_eq!(next_change(&mut asking).await.status, ResizeStatus::SUCCESS);
    let expected = expected_picture(480, 240);
    let seen = plain
        .run_until(|event, viewer| {
            matches!(event, ClientEvent::UpdateComplete { .. })
                && viewer.connection.framebuffer() == &expected
        })
        .await;
    assert!(
        seen.contains(&ClientEvent::Resized {
            width: 480,
            height: 240
        }),
        "{seen:?}"
    );
    assert!(
        !seen
            .iter()
            .any(|event| matches!(event, ClientEvent::DesktopSizeChange(_))),
        "{seen:?}"
    );
}
