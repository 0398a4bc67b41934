//! The NX-style proxy pair end to end: viewers -> `farview proxy near` -> link ->
//! `farview proxy far` -> a real VNC server (farview's replay, TigerVNC's Xvnc, x11vnc), with
//! the link through a relay the test can cut.

mod support;

use std::io::Write as _;
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, SystemTime};

use support::desktop_peers::wait_for_log;
use support::relay::CuttableRelay;
use support::{
    FarviewServer, Proc, STARTUP_TIMEOUT, TempDir, TestViewer, VIEWER_TIMEOUT, XServer,
    assert_viewer_matches_screen, farview, fixture, fixture_frame, image_difference, logged_port,
    poll, save_mismatch,
};

/// A far and a near proxy; the near one links to `link_port` (the far one's, or a relay's).
struct ProxyPair {
    far: Proc,
    near: Option<Proc>,
    far_port: u16,
    near_port: u16,
    /// The far proxy's certificate, which the near one pins.
    fingerprint: String,
    key_file: String,
}

/// The link key both proxies of a test share.
const LINK_KEY: &str = "a link key for the tests, long enough";

fn link_key_file(dir: &TempDir, key: &str) -> String {
    dir.write(&format!("link-key-{}.txt", key.len()), key.as_bytes())
        .display()
        .to_string()
}

/// `farview proxy far` for the server on `server_port`, listening on `listen_port` (0: any),
/// its state in the test's `far-cert`; returns it and the port it listens on.
fn spawn_far(
    dir: &TempDir,
    server_port: u16,
    listen_port: u16,
    key_file: &str,
    extra: &[&str],
) -> (Proc, u16) {
    let mut command = farview();
    command.args(["proxy", "far", "--listen"]);
    command.arg(format!("127.0.0.1:{listen_port}"));
    command
        .arg("--server")
        .arg(format!("127.0.0.1::{server_port}"));
    command.args(["--link-key-file", key_file, "--link-cert-dir"]);
    command.arg(dir.join("far-cert"));
    command.args(extra);
    let far = Proc::spawn("proxy-far", &mut command, dir);
    let port = logged_port(&far, "far: waiting for the near proxy");
    (far, port)
}

impl ProxyPair {
    /// Starts the far proxy for the server on `server_port`.
    fn far(dir: &TempDir, server_port: u16) -> ProxyPair {
        Self::far_with(dir, server_port, &[])
    }

    /// [`ProxyPair::far`] with more arguments for the far proxy.
    fn far_with(dir: &TempDir, server_port: u16, extra: &[&str]) -> ProxyPair {
        let key_file = link_key_file(dir, LINK_KEY);
        let (far, far_port) = spawn_far(dir, server_port, 0, &key_file, extra);
        let log = far.stderr();
        let fingerprint = log
            .split("SHA-256 fingerprint ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("the far proxy logs its fingerprint\n{log}"))
            .to_string();
        ProxyPair {
            far,
            near: None,
            far_port,
            near_port: 0,
            fingerprint,
            key_file,
        }
    }

    /// Stops the far proxy and starts another on the same port, with the same state
    /// directory (certificate, record of what it sent each near cache).
    fn restart_far(&mut self, dir: &TempDir, server_port: u16) {
        self.far.stop();
        let (far, _) = spawn_far(dir, server_port, self.far_port, &self.key_file, &[]);
        self.far = far;
    }

    /// Starts the near proxy, linking to `link_port`.
    fn near(&mut self, dir: &TempDir, link_port: u16) {
        self.near_with(dir, link_port, &[]);
    }

    fn near_with(&mut self, dir: &TempDir, link_port: u16, extra: &[&str]) {
        let mut command = self.near_command(link_port, &self.key_file, &self.fingerprint);
        command.args(extra);
        let near = Proc::spawn("proxy-near", &mut command, dir);
        self.near_port = logged_port(&near, "serving ");
        self.near = Some(near);
    }

    /// `farview proxy near` linking to `link_port` with the key in `key_file`, pinning the
    /// certificate `fingerprint`.
    fn near_command(&self, link_port: u16, key_file: &str, fingerprint: &str) -> Command {
        let mut command = farview();
        command.args(["proxy", "near", "--listen", "127.0.0.1:0", "--link"]);
        command.arg(format!("127.0.0.1:{link_port}"));
        command.args([
            "--link-key-file",
            key_file,
            "--link-fingerprint",
            fingerprint,
        ]);
        command
    }

    fn logs(&self) -> String {
        let near = self.near.as_ref().map(Proc::logs).unwrap_or_default();
        format!("{}{near}", self.far.logs())
    }
}

#[test]
fn our_viewer_through_the_proxies_sees_the_replay_pixel_exact() {
    let dir = TempDir::new("proxy-replay");
    let server = FarviewServer::replay(&dir, &fixture("scroll"), None, &["--fps", "5"]);
    let mut pair = ProxyPair::far(&dir, server.port);
    pair.near(&dir, pair.far_port);
    let mut viewer = TestViewer::connect(pair.near_port);
    let last = fixture_frame("scroll", 2);
    if let Err(difference) = viewer.wait_for_picture(VIEWER_TIMEOUT, |image| {
        image_difference(&last, image).map_or(Ok(()), Err)
    }) {
        let saved = save_mismatch(&dir, "proxy-replay", &last, &viewer.image());
        panic!(
            "the viewer does not show the last frame: {difference}\n{saved}\n{}",
            pair.logs()
        );
    }
}

/// What the far proxy logs when the near side holds the link history it sent.
const HISTORY_SHARED: &str = "they start the compression";

#[test]
fn a_cut_link_resumes_and_the_viewer_stays_connected() {
    let dir = TempDir::new("proxy-resume");
    let frame_log = dir.join("frames.jsonl");
    let frame_log_arg = frame_log.display().to_string();
    // A frame every 2.5 s: one is lost on the way before the cut, the last is shown while
    // the link is down. The link swallows what is sent while cut, so the near side's
    // attempts to connect then get no answer, and it must give them up.
    let server = FarviewServer::replay(
        &dir,
        &fixture("scroll"),
        None,
        &["--fps", "0.4", "--frame-log", &frame_log_arg],
    );
    let shown_at_server = |index: u32| {
        std::fs::read_to_string(&frame_log)
            .unwrap_or_default()
            .contains(&format!("\"index\":{index}"))
    };
    let wait_for_frame = |index: u32| {
        poll(
            &format!("the server to show frame {index}"),
            STARTUP_TIMEOUT,
            Duration::from_millis(100),
            || shown_at_server(index).then_some(()).ok_or_else(String::new),
            || server.process.logs(),
        )
    };
    let mut pair = ProxyPair::far(&dir, server.port);
    let relay = CuttableRelay::start(pair.far_port);
    pair.near(&dir, relay.port);
    let mut viewer = TestViewer::connect(pair.near_port);
    let first = fixture_frame("scroll", 0);
    viewer
        .wait_for_picture(VIEWER_TIMEOUT, |image| {
            image_difference(&first, image).map_or(Ok(()), Err)
        })
        .unwrap_or_else(|difference| panic!("the first frame: {difference}\n{}", pair.logs()));
    // The next frame's update leaves the far side and never arrives.
    relay.lose_what_the_target_sends();
    assert!(
        !shown_at_server(2),
        "the replay ended before the test could lose a frame"
    );
    wait_for_frame(if shown_at_server(1) { 2 } else { 1 });
    thread::sleep(Duration::from_millis(500));
    relay.cut_silently();
    let near = pair.near.as_ref().expect("near started");
    wait_for_log(near, "link lost", || pair.logs());
    wait_for_frame(2);
    poll(
        "the near side to try the link again",
        STARTUP_TIMEOUT,
        Duration::from_millis(100),
        || {
            (relay.unanswered() > 0)
                .then_some(())
                .ok_or_else(String::new)
        },
        || pair.logs(),
    );
    relay.restore();
    let last = fixture_frame("scroll", 2);
    // Its attempt into the silence ends at its connection timeout (10 s), then it retries.
    let resumed_within = VIEWER_TIMEOUT + Duration::from_secs(10);
    if let Err(difference) = viewer.wait_for_picture(resumed_within, |image| {
        image_difference(&last, image).map_or(Ok(()), Err)
    }) {
        let saved = save_mismatch(&dir, "proxy-resume", &last, &viewer.image());
        panic!(
            "after the link came back: {difference}\n{saved}\n{}",
            pair.logs()
        );
    }
    wait_for_log(&pair.far, "link resumed session", || pair.logs());
    wait_for_log(near, "near: link resumed", || pair.logs());
    let far_log = pair.far.logs();
    let sent_again: u32 = far_log
        .split(" update(s) sent again")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no count of updates sent again\n{far_log}"));
    assert!(sent_again >= 1, "an update was lost on the way\n{far_log}");
    // What arrived before the cut starts the compression of the new connection, with an
    // encoder made ready for it while the link was down.
    assert!(far_log.contains(HISTORY_SHARED), "{}", pair.logs());
    assert!(far_log.contains("(made ready ahead)"), "{}", pair.logs());
    assert!(relay.connections() >= 2, "the link was made again");
    assert!(
        pair.far.exited().is_none() && near.exited().is_none(),
        "{}",
        pair.logs()
    );
}

#[test]
fn garbage_on_the_link_is_refused_with_a_reason_and_harms_nothing() {
    let dir = TempDir::new("proxy-garbage");
    let server = FarviewServer::replay(&dir, &fixture("desktop"), None, &[]);
    let mut pair = ProxyPair::far(&dir, server.port);
    // Not TLS: a link frame whose length is far over the limit, then one of an unknown kind.
    for garbage in [
        &b"\x01\xff\xff\xff\xffxxxx"[..],
        &b"\xee\x00\x00\x00\x01\x00"[..],
    ] {
        let mut stream = TcpStream::connect(("127.0.0.1", pair.far_port)).expect("far listens");
        stream.write_all(garbage).expect("write");
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    wait_for_log(&pair.far, "refused: TLS", String::new);
    assert!(pair.far.exited().is_none(), "{}", pair.far.logs());
    // A real near proxy is still served.
    pair.near(&dir, pair.far_port);
    let mut viewer = TestViewer::connect(pair.near_port);
    let frame = fixture_frame("desktop", 0);
    viewer
        .wait_for_picture(VIEWER_TIMEOUT, |image| {
            image_difference(&frame, image).map_or(Ok(()), Err)
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", pair.logs()));
}

/// The stats file as rewritten after `since` (the proxies rewrite it every few seconds).
fn stats_written_after(near: &Proc, path: &std::path::Path, since: SystemTime) -> String {
    poll(
        "the near proxy to rewrite its stats",
        STARTUP_TIMEOUT,
        Duration::from_millis(200),
        || {
            let written = std::fs::metadata(path).and_then(|m| m.modified());
            match written {
                Ok(written) if written > since => {
                    Ok(Ok(std::fs::read_to_string(path).unwrap_or_default()))
                }
                _ => Err("not yet".to_string()),
            }
        },
        String::new,
    )
    .unwrap_or_else(|e: String| panic!("{e}\n{}", near.logs()))
}

/// A number from the flat JSON the proxies write.
fn stat(stats: &str, name: &str) -> u64 {
    let pattern = format!("\"{name}\":");
    let start = stats.find(&pattern).map(|i| i + pattern.len()).expect(name);
    stats[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .expect(name)
}

#[test]
fn a_restarted_near_proxy_starts_warm_from_its_disk_cache() {
    let dir = TempDir::new("proxy-disk-cache");
    let server = FarviewServer::replay(&dir, &fixture("desktop"), None, &[]);
    let frame = fixture_frame("desktop", 0);
    let mut pair = ProxyPair::far(&dir, server.port);
    let cache = dir.join("cache").display().to_string();
    let mut tiles_new = Vec::new();
    for run in ["cold", "warm"] {
        let stats_path = dir.join(&format!("near-{run}.json"));
        let stats_arg = stats_path.display().to_string();
        pair.near_with(
            &dir,
            pair.far_port,
            &["--cache-dir", &cache, "--stats-json", &stats_arg],
        );
        let mut viewer = TestViewer::connect(pair.near_port);
        viewer
            .wait_for_picture(VIEWER_TIMEOUT, |image| {
                image_difference(&frame, image).map_or(Ok(()), Err)
            })
            .unwrap_or_else(|e| panic!("{run}: {e}\n{}", pair.logs()));
        let shown = SystemTime::now();
        let near = pair.near.as_mut().expect("near started");
        let stats = stats_written_after(near, &stats_path, shown);
        // Tiles stitched from rows of held tiles are new to the cache too.
        let sent = stat(&stats, "tiles_new") + stat(&stats, "tiles_stitched");
        tiles_new.push((sent, stat(&stats, "tiles_cached")));
        near.stop();
    }
    let ((cold_new, _), (warm_new, warm_cached)) = (tiles_new[0], tiles_new[1]);
    assert!(
        cold_new > 100,
        "the first run fills the cache: {tiles_new:?}"
    );
    assert!(
        warm_new == 0 && warm_cached > 100,
        "the second run gets only references: (new, cached) {tiles_new:?}\n{}",
        pair.logs()
    );
    // The far side remembered what it sent that cache, so the inventory did not cross,
    // and the link's compression started from what the first run sent.
    let far_log = pair.far.logs();
    assert!(
        far_log.contains(&format!("holds {cold_new} tile(s) (as remembered)")),
        "{far_log}"
    );
    assert!(far_log.contains(HISTORY_SHARED), "{far_log}");
    // Its encoder was made ready when the first link ended, before the second asked.
    assert!(far_log.contains("(made ready ahead)"), "{far_log}");
}

/// The far proxy restarted while the near proxy runs on: the link cannot resume, and the new
/// session starts from what the far side remembers of the near cache, without the
/// inventory crossing, even though the near side used its tiles in another order since.
#[test]
fn a_restarted_far_proxy_remembers_the_cache_of_a_near_proxy_that_ran_on() {
    let dir = TempDir::new("proxy-far-restart");
    // Two frames in turn: the first one's tiles are used again after the second's arrived.
    let server = FarviewServer::replay(&dir, &fixture("sequence"), None, &["--loop", "--fps", "4"]);
    let mut pair = ProxyPair::far(&dir, server.port);
    let cache = dir.join("cache").display().to_string();
    pair.near_with(&dir, pair.far_port, &["--cache-dir", &cache]);
    let mut viewer = TestViewer::connect(pair.near_port);
    let frames = [fixture_frame("sequence", 0), fixture_frame("sequence", 1)];
    let shows = |viewer: &mut TestViewer, which: usize| {
        viewer
            .wait_for_picture(VIEWER_TIMEOUT, |image| {
                image_difference(&frames[which], image).map_or(Ok(()), Err)
            })
            .unwrap_or_else(|e| panic!("frame {which}: {e}"));
    };
    shows(&mut viewer, 1);
    shows(&mut viewer, 0);
    pair.restart_far(&dir, server.port);
    let near = pair.near.as_ref().expect("near started");
    wait_for_log(near, "near: new link session", || pair.logs());
    wait_for_log(&pair.far, "new link session", || pair.logs());
    let far_log = pair.far.logs();
    assert!(far_log.contains("(as remembered)"), "{}", pair.logs());
    assert!(far_log.contains(HISTORY_SHARED), "{}", pair.logs());
    shows(&mut viewer, 1);
    shows(&mut viewer, 0);
}

#[test]
fn a_near_proxy_with_the_wrong_key_or_certificate_is_refused() {
    let dir = TempDir::new("proxy-wrong-key");
    let server = FarviewServer::replay(&dir, &fixture("desktop"), None, &[]);
    let pair = ProxyPair::far(&dir, server.port);
    let wrong_key = link_key_file(&dir, "another key, of another length");
    let mut command = pair.near_command(pair.far_port, &wrong_key, &pair.fingerprint);
    let near = Proc::spawn("near-wrong-key", &mut command, &dir);
    let status = near
        .wait_exit(STARTUP_TIMEOUT)
        .expect("the near proxy gives up");
    assert!(!status.success());
    assert!(near.stderr().contains("wrong link key"), "{}", near.logs());
    wait_for_log(&pair.far, "refused: wrong link key", String::new);
    // A far proxy with another certificate than the one pinned.
    let mut command = pair.near_command(pair.far_port, &pair.key_file, &"ab".repeat(32));
    let near = Proc::spawn("near-wrong-certificate", &mut command, &dir);
    let status = near
        .wait_exit(STARTUP_TIMEOUT)
        .expect("the near proxy gives up");
    assert!(!status.success());
    assert!(
        near.stderr().contains("is not the pinned one"),
        "{}",
        near.logs()
    );
    assert!(pair.far.exited().is_none(), "{}", pair.far.logs());
}

fn xvnc_tools_present() -> bool {
    support::require_all(&["Xvnc", "Xvfb", "vncviewer", "xterm", "xwd", "xwininfo"])
}

/// Xvnc with an xterm on it, served through the proxy pair.
fn xvnc_behind_proxies(dir: &TempDir) -> (XServer, Proc, ProxyPair) {
    let port = support::free_port();
    let x = XServer::xvnc(dir, 640, 400, port, &["-SecurityTypes", "None"]);
    // Xvnc draws the pointer into the pixels of a viewer that did not put it where it is: a
    // blank root cursor, and the xterm away from the pointer in the middle, keep it out.
    let xterm = x.xterm_desktop(
        dir,
        "#336699",
        "through-proxies",
        "40x8+20+30",
        "farview proxy: the near side serves what the far side mirrors",
    );
    let mut pair = ProxyPair::far(dir, port);
    pair.near(dir, pair.far_port);
    (x, xterm, pair)
}

#[test]
fn our_viewer_through_the_proxies_matches_tigervnc_xvnc() {
    if !xvnc_tools_present() {
        return;
    }
    let dir = TempDir::new("proxy-xvnc");
    let (x, _xterm, pair) = xvnc_behind_proxies(&dir);
    let mut viewer = TestViewer::connect(pair.near_port);
    assert_viewer_matches_screen(&dir, "proxy-xvnc", &x, &mut viewer);
}

#[test]
fn tigervnc_viewer_through_the_proxies_matches_tigervnc_xvnc() {
    if !xvnc_tools_present() {
        return;
    }
    let dir = TempDir::new("proxy-vncviewer");
    let (x, _xterm, pair) = xvnc_behind_proxies(&dir);
    let screen = x.wait_static();
    let viewer_x = XServer::xvfb(&dir, 640 + 64, 400 + 64);
    let mut command: Command = viewer_x.client("vncviewer");
    command
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .args(["-display", &viewer_x.name()])
        .args(["-AutoSelect=0", "-FullColor", "-SecurityTypes", "None"])
        .args([
            "-ReconnectOnError=0",
            "-AlertOnFatalError=0",
            "-RemoteResize=0",
        ])
        .arg(format!("127.0.0.1::{}", pair.near_port));
    let viewer = Proc::spawn("vncviewer", &mut command, &dir);
    viewer_x.wait_for_window(
        &dir,
        "proxy-vncviewer",
        "TigerVNC",
        &screen,
        &viewer,
        || format!("{}{}", viewer.logs(), pair.logs()),
    );
}

/// x11vnc (no ContinuousUpdates: the far side keeps a request outstanding), with a VNC
/// password the far side gives from its file.
#[test]
fn our_viewer_through_the_proxies_matches_x11vnc_with_a_password() {
    if !support::require_all(&["x11vnc", "Xvfb", "xterm", "xsetroot", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("proxy-x11vnc");
    let x = XServer::xvfb(&dir, 640, 400);
    let _xterm = x.xterm_desktop(
        &dir,
        "#663399",
        "x11vnc-through-proxies",
        "40x8+20+30",
        "farview proxy far, a viewer of x11vnc",
    );
    let (_x11vnc, port) = support::spawn_x11vnc(&dir, &x, Some("sesame12"));
    let password_file = dir.write("server-password.txt", b"sesame12\n");
    let password_arg = password_file.display().to_string();
    let mut pair = ProxyPair::far_with(&dir, port, &["--server-password-file", &password_arg]);
    pair.near(&dir, pair.far_port);
    let mut viewer = TestViewer::connect(pair.near_port);
    assert_viewer_matches_screen(&dir, "proxy-x11vnc", &x, &mut viewer);
    // A change on the screen reaches the viewer through both proxies.
    x.plain_root(&dir, "#226644");
    assert_viewer_matches_screen(&dir, "proxy-x11vnc-changed", &x, &mut viewer);
}
