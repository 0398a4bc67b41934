//! `farview view --headless` against third-party servers: TigerVNC's Xvnc, and x11vnc sharing
//! an Xvfb. The snapshot must equal the X server's own `xwd -root` dump pixel for pixel, with
//! and without a VNC password, and over TLS (Xvnc's VeNCrypt X509None and X509Vnc; from
//! anonymous TLSVnc the viewer falls back to VncAuth); a wrong password must fail with one
//! clear error line.

mod support;

use std::time::{Duration, Instant};

use support::certificate::Certificate;
use support::{Proc, TempDir, XServer};

const WIDTH: u32 = 800;
const HEIGHT: u32 = 600;
const PASSWORD: &str = "pa55word";

/// Puts something worth comparing on the screen: a coloured root window (red, green and blue
/// all different, so a swapped channel shows) and two xterms with text. Returns the xterms,
/// which must live as long as the test; waits until the screen is static.
fn paint_desktop(dir: &TempDir, x: &XServer) -> Vec<Proc> {
    x.plain_root(dir, "#336699");
    let xterms = vec![
        x.show_xterm(
            dir,
            "farview-interop-1",
            "64x8+24+32",
            ("black", "white"),
            "hello from xterm\nfarview interop test: 0123456789 ABCDEF abcdef\n",
        ),
        x.show_xterm(
            dir,
            "farview-interop-2",
            "40x6+400+320",
            ("#f0c040", "#402010"),
            "a second terminal,\nin other colours\n",
        ),
    ];
    let screen = x.wait_static();
    assert!(
        screen.colour_count() >= 5,
        "the screen should show the xterms, but has only {} colours",
        screen.colour_count()
    );
    xterms
}

/// Snapshots `target` with our viewer until the snapshot equals the X screen dumped right after
/// it (x11vnc polls the screen, so it may lag at first); fails after a deadline.
fn assert_snapshot_matches_screen(
    dir: &TempDir,
    x: &XServer,
    target: &str,
    password: Option<&str>,
    logs: &dyn Fn() -> String,
) {
    assert_snapshot_matches_screen_with(dir, x, target, password, &[], logs);
}

/// [`assert_snapshot_matches_screen`] with extra viewer arguments.
fn assert_snapshot_matches_screen_with(
    dir: &TempDir,
    x: &XServer,
    target: &str,
    password: Option<&str>,
    extra: &[&str],
    logs: &dyn Fn() -> String,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let name = extra.join("-").replace("--", "");
    for attempt in 1.. {
        let label = format!("view{name}-{attempt}");
        // Long enough for a loaded machine: x11vnc polls the screen before its first update.
        let result = support::view_headless_with(dir, &label, target, password, 3.0, extra);
        let Some(snapshot) = &result.snapshot else {
            panic!(
                "farview view failed ({}):\n{}\n{}",
                result.output.status,
                result.stderr(),
                logs()
            );
        };
        let screen = x.xwd();
        let Some(difference) = support::image_difference(&screen, snapshot) else {
            return;
        };
        if Instant::now() >= deadline {
            let saved = support::save_mismatch(dir, &label, &screen, snapshot);
            panic!(
                "{extra:?}: snapshot differs from xwd -root after {attempt} attempts: {difference}\n\
                 {saved}\nupdates received in the last attempt: {}\nviewer stderr:\n{}\n{}",
                result.updates,
                result.stderr(),
                logs()
            );
        }
        eprintln!("attempt {attempt}: {difference}; trying again");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A wrong password: our viewer must exit non-zero with exactly one error line, about
/// authentication.
fn assert_wrong_password_refused(dir: &TempDir, target: &str, logs: &dyn Fn() -> String) {
    let result = support::view_headless(dir, "wrong-password", target, Some("not-it!"), 5.0);
    let stderr = result.stderr();
    assert!(
        !result.output.status.success(),
        "a wrong password should fail, but the viewer exited {}\n{stderr}\n{}",
        result.output.status,
        logs()
    );
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("farview: error: "))
        .collect();
    assert!(
        errors.len() == 1 && errors[0].to_lowercase().contains("authentication"),
        "expected one \"farview: error: ...\" line about authentication, got:\n{stderr}"
    );
}

/// Xvnc with the given security options, showing the test desktop.
fn start_xvnc(dir: &TempDir, security: &[&str]) -> (XServer, u16, Vec<Proc>) {
    let port = support::free_port();
    // A rejected password must not get 127.0.0.1 blacklisted for the next attempt.
    let mut options = vec!["-BlacklistThreshold", "1000"];
    options.extend_from_slice(security);
    let x = XServer::xvnc(dir, WIDTH, HEIGHT, port, &options);
    if let Err(error) = support::wait_for_rfb(port, &x.process, support::STARTUP_TIMEOUT) {
        panic!("Xvnc RFB port: {error}\n{}", x.process.logs());
    }
    let xterms = paint_desktop(dir, &x);
    (x, port, xterms)
}

/// x11vnc sharing a fresh Xvfb that shows the test desktop.
fn start_x11vnc(dir: &TempDir, password: Option<&str>) -> (XServer, Proc, u16, Vec<Proc>) {
    let x = XServer::xvfb(dir, WIDTH, HEIGHT);
    let xterms = paint_desktop(dir, &x);
    let (x11vnc, port) = support::spawn_x11vnc(dir, &x, password);
    (x, x11vnc, port, xterms)
}

#[test]
fn farview_views_xvnc_without_authentication() {
    if !support::require_all(&["Xvnc", "xterm", "xsetroot", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("xvnc-none");
    let (x, port, _xterms) = start_xvnc(&dir, &["-SecurityTypes", "None"]);
    let logs = || x.process.logs();
    assert_snapshot_matches_screen(&dir, &x, &format!("127.0.0.1::{port}"), None, &logs);
}

#[test]
fn farview_views_xvnc_with_a_password() {
    if !support::require_all(&["Xvnc", "vncpasswd", "xterm", "xsetroot", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("xvnc-password");
    let file = support::vnc_password_file(&dir, PASSWORD);
    let file = file.to_str().expect("a UTF-8 temp path");
    let (x, port, _xterms) =
        start_xvnc(&dir, &["-SecurityTypes", "VncAuth", "-PasswordFile", file]);
    let logs = || x.process.logs();
    let target = format!("127.0.0.1::{port}");
    assert_snapshot_matches_screen(&dir, &x, &target, Some(PASSWORD), &logs);
    assert_wrong_password_refused(&dir, &target, &logs);
}

/// Xvnc with a certificate farview made; our viewer pins its fingerprint. X509Plain is
/// offered too, but Xvnc checks Plain passwords against the system's accounts (PAM), so our
/// viewer, given no username, takes X509Vnc.
#[test]
fn farview_views_xvnc_over_tls() {
    if !support::require_all(&["Xvnc", "vncpasswd", "xterm", "xsetroot", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("xvnc-tls");
    let certificate = Certificate::new(&dir, "certificate");
    let cert = certificate.cert.display().to_string();
    let key = certificate.key.display().to_string();
    let pin = ["--tls-fingerprint", certificate.fingerprint.as_str()];
    let tls_options = ["-X509Cert", cert.as_str(), "-X509Key", key.as_str()];

    let (x, port, _xterms) = start_xvnc(
        &dir,
        &[&["-SecurityTypes", "X509None"], &tls_options[..]].concat(),
    );
    let logs = || x.process.logs();
    let target = format!("127.0.0.1::{port}");
    assert_snapshot_matches_screen_with(&dir, &x, &target, None, &pin, &logs);
    drop(x);

    let file = support::vnc_password_file(&dir, PASSWORD);
    let file = file.to_str().expect("a UTF-8 temp path");
    let security = ["-SecurityTypes", "X509Vnc,X509Plain", "-PasswordFile", file];
    let (x, port, _xterms) = start_xvnc(&dir, &[&security[..], &tls_options[..]].concat());
    let logs = || x.process.logs();
    let target = format!("127.0.0.1::{port}");
    assert_snapshot_matches_screen_with(&dir, &x, &target, Some(PASSWORD), &pin, &logs);
    let wrong = support::view_headless_with(&dir, "tls-wrong", &target, Some("not-it!"), 5.0, &pin);
    assert!(!wrong.output.status.success(), "{}", wrong.stderr());
    assert!(
        wrong.stderr().to_lowercase().contains("authentication"),
        "{}",
        wrong.stderr()
    );
    drop(x);

    // TigerVNC's usual choice: anonymous TLS, which farview cannot speak, or a password.
    let security = ["-SecurityTypes", "TLSVnc,VncAuth", "-PasswordFile", file];
    let (x, port, _xterms) = start_xvnc(&dir, &security);
    let logs = || x.process.logs();
    let target = format!("127.0.0.1::{port}");
    assert_snapshot_matches_screen(&dir, &x, &target, Some(PASSWORD), &logs);
    let again = support::view_headless(&dir, "fallback", &target, Some(PASSWORD), 0.5);
    assert!(
        again.stderr().contains("only TLSVnc") && again.stderr().contains("without VeNCrypt"),
        "{}",
        again.stderr()
    );
}

#[test]
fn farview_views_x11vnc_without_authentication() {
    if !support::require_all(&["x11vnc", "Xvfb", "xterm", "xsetroot", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("x11vnc-none");
    let (x, x11vnc, port, _xterms) = start_x11vnc(&dir, None);
    let logs = || format!("{}{}", x11vnc.logs(), x.process.logs());
    assert_snapshot_matches_screen(&dir, &x, &format!("127.0.0.1::{port}"), None, &logs);
}

#[test]
fn farview_views_x11vnc_with_a_password() {
    if !support::require_all(&["x11vnc", "Xvfb", "xterm", "xsetroot", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("x11vnc-password");
    let (x, x11vnc, port, _xterms) = start_x11vnc(&dir, Some(PASSWORD));
    let logs = || format!("{}{}", x11vnc.logs(), x.process.logs());
    let target = format!("127.0.0.1::{port}");
    assert_snapshot_matches_screen(&dir, &x, &target, Some(PASSWORD), &logs);
    assert_wrong_password_refused(&dir, &target, &logs);
}

/// Every lossless encoding Xvnc offers, decoded by our viewer, pixel-exact.
#[test]
fn farview_decodes_every_xvnc_encoding() {
    if !support::require_all(&["Xvnc", "xterm", "xsetroot", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("xvnc-encodings");
    let (x, port, _xterms) = start_xvnc(&dir, &["-SecurityTypes", "None"]);
    let logs = || x.process.logs();
    let target = format!("127.0.0.1::{port}");
    for encoding in ["raw", "rre", "hextile", "tight", "zrle"] {
        if farview_protocol::EncodingType::from_name(encoding)
            .is_none_or(|e| !farview_protocol::encodings::DECODABLE.contains(&e))
        {
            continue;
        }
        let extra = ["--encodings", encoding];
        assert_snapshot_matches_screen_with(&dir, &x, &target, None, &extra, &logs);
    }
}

/// Every lossless encoding x11vnc (libvncserver) offers, decoded by our viewer, pixel-exact.
#[test]
fn farview_decodes_every_x11vnc_encoding() {
    if !support::require_all(&["x11vnc", "Xvfb", "xterm", "xsetroot", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("x11vnc-encodings");
    let (x, x11vnc, port, _xterms) = start_x11vnc(&dir, None);
    let logs = || format!("{}{}", x11vnc.logs(), x.process.logs());
    let target = format!("127.0.0.1::{port}");
    for encoding in [
        "raw", "rre", "corre", "hextile", "zlib", "tight", "zrle", "trle",
    ] {
        if farview_protocol::EncodingType::from_name(encoding)
            .is_none_or(|e| !farview_protocol::encodings::DECODABLE.contains(&e))
        {
            continue;
        }
        let extra = ["--encodings", encoding];
        assert_snapshot_matches_screen_with(&dir, &x, &target, None, &extra, &logs);
    }
}

/// The XWD reader on hand-made dumps of both byte orders, so a parser bug cannot hide behind
/// the same bug on both sides of a comparison.
#[test]
fn xwd_parser_reads_both_byte_orders() {
    for byte_order in [0u32, 1] {
        let (width, height) = (3u32, 2u32);
        let bytes_per_line = 16; // padded past the 12 bytes of three pixels
        let ncolors = 2;
        let name = b"test\0";
        let header_size = 100 + name.len() as u32;
        let fields: [u32; 25] = [
            header_size,
            7,
            2,
            24,
            width,
            height,
            0,
            byte_order,
            32,
            byte_order,
            32,
            32,
            bytes_per_line,
            4,
            0xff0000,
            0x00ff00,
            0x0000ff,
            8,
            256,
            ncolors,
            width,
            height,
            0,
            0,
            0,
        ];
        let mut data: Vec<u8> = fields.iter().flat_map(|f| f.to_be_bytes()).collect();
        data.extend_from_slice(name);
        data.extend(std::iter::repeat_n(0xee, ncolors as usize * 12));
        let pixels: [[u32; 3]; 2] = [
            [0x00112233, 0x00ff0000, 0x0000ff00],
            [0x000000ff, 0x00abcdef, 0x00ffffff],
        ];
        for row in pixels {
            for pixel in row {
                let bytes = if byte_order == 0 {
                    pixel.to_le_bytes()
                } else {
                    pixel.to_be_bytes()
                };
                data.extend_from_slice(&bytes);
            }
            data.extend_from_slice(&[0x55; 4]); // row padding
        }
        let image = support::parse_xwd(&data).expect("a valid dump");
        assert_eq!((image.width, image.height), (width, height));
        assert_eq!(
            image.pixel(0, 0),
            [0x11, 0x22, 0x33],
            "byte order {byte_order}"
        );
        assert_eq!(image.pixel(1, 0), [0xff, 0, 0]);
        assert_eq!(image.pixel(2, 0), [0, 0xff, 0]);
        assert_eq!(image.pixel(0, 1), [0, 0, 0xff]);
        assert_eq!(image.pixel(1, 1), [0xab, 0xcd, 0xef]);
        assert_eq!(image.pixel(2, 1), [0xff, 0xff, 0xff]);

        // Fields the parser does not handle are refused by name, not misread.
        let mut paletted = data.clone();
        paletted[13 * 4..14 * 4].copy_from_slice(&3u32.to_be_bytes()); // PseudoColor
        let error = support::parse_xwd(&paletted).expect_err("PseudoColor is refused");
        assert!(error.contains("visual_class"), "{error}");
        let error = support::parse_xwd(&data[..data.len() - 1]).expect_err("truncated");
        assert!(error.contains("truncated"), "{error}");
    }
}

/// A photo-like picture (smooth gradients with fine texture): what JPEG is for.
fn photo(width: u32, height: u32) -> support::Image {
    let mut rgb = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            let texture = (x * 7 + y * 13) % 9;
            rgb.push(((x * 255 / width) + texture) as u8);
            rgb.push(((y * 255 / height) + texture / 2) as u8);
            rgb.push((((x + y) * 127 / (width + height)) + 64 + texture) as u8);
        }
    }
    support::Image { width, height, rgb }
}

/// Mean and 99th-percentile absolute channel error between two images of one size.
fn error_stats(expected: &support::Image, actual: &support::Image) -> (f64, u8) {
    let mut errors: Vec<u8> = expected
        .rgb
        .iter()
        .zip(&actual.rgb)
        .map(|(a, b)| a.abs_diff(*b))
        .collect();
    let mean = errors.iter().map(|&e| f64::from(e)).sum::<f64>() / errors.len() as f64;
    errors.sort_unstable();
    (mean, errors[errors.len() * 99 / 100])
}

/// Xvnc's Tight JPEG, decoded by our viewer, within a stated tolerance of the X screen: mean
/// channel error below 3 and 99% of channel values within 40 at quality level 6.
#[test]
fn farview_decodes_xvnc_tight_jpeg_within_tolerance() {
    if !support::require_all(&["Xvnc", "xterm", "xsetroot", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("xvnc-jpeg");
    // The photo reaches the Xvnc screen through our own viewer's window.
    let frames = dir.join("photo");
    std::fs::create_dir_all(&frames).unwrap();
    photo(480, 360).write_png(&frames.join("frame-00000.png"));
    let source = support::FarviewServer::replay(&dir, &frames, None, &[]);
    let (x, port, _xterms) = start_xvnc(&dir, &["-SecurityTypes", "None"]);
    let mut window = x.client(env!("CARGO_BIN_EXE_farview"));
    window.args(["view", &source.target()]);
    let _window = support::Proc::spawn("farview-window", &mut window, &dir);
    let deadline = Instant::now() + Duration::from_secs(20);
    while x.xwd().colour_count() < 1000 {
        assert!(
            Instant::now() < deadline,
            "the photo never showed up on the Xvnc screen"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let screen = x.wait_static();

    let target = format!("127.0.0.1::{port}");
    let extra = ["--encodings", "tight", "--quality", "6"];
    let result = support::view_headless_with(&dir, "jpeg", &target, None, 2.0, &extra);
    let Some(snapshot) = &result.snapshot else {
        panic!("viewer failed:\n{}", result.stderr());
    };
    assert_eq!(
        (snapshot.width, snapshot.height),
        (screen.width, screen.height)
    );
    let (mean, p99) = error_stats(&screen, snapshot);
    assert!(
        mean < 3.0 && p99 <= 40,
        "JPEG too far from the screen: mean {mean:.2}, 99th percentile {p99}\n{}",
        support::save_mismatch(&dir, "jpeg", &screen, snapshot)
    );
    eprintln!("Xvnc JPEG decoded: mean channel error {mean:.2}, 99th percentile {p99}");
}
