//! vncsnapshot (TightVNC 1.2.8 / RealVNC 3.3.7 code) saves a snapshot of the frame that
//! `farview serve` replays, forced to each encoding it decodes.
//!
//! Its protocol is RFB 3.3 only: the server picks the security type, and there is no
//! SecurityResult reason string, so these tests also cover our 3.3 path. `-encodings "NAME"`
//! makes its SetEncodings list exactly that encoding (plus cursor pseudo-encodings; with Tight
//! or Zlib also CompressLevel, and QualityLevel unless `-nojpeg`). It decodes Raw, CopyRect,
//! RRE, CoRRE, Hextile, Zlib, Tight (with JPEG) and ZRLE. It saves the first complete
//! FramebufferUpdate, so the whole frame must come in one update.
//!
//! It can only write JPEG. It sets libjpeg to quality 100 in the RGB colour space (no YCbCr,
//! no subsampling), and libjpeg is deterministic, so the snapshot of a correctly decoded
//! frame decodes to exactly what `cjpeg -rgb -quality 100` makes of the PNG: that is the
//! comparison, pixel for pixel. (Quality 100 in RGB keeps every pixel within 2 of the
//! original, so a decoder error of more than a unit or two in a channel always shows.)

mod support;

use std::process::{Command, Output};

use support::{COMMAND_TIMEOUT, FarviewServer, Image, TempDir};

/// The frames: `desktop` is busy (anti-aliased text, gradients), `htop` has 12 colours and an
/// odd size (448x706), so RRE and CoRRE get used and tiles are cut at the edges.
const FIXTURES: &[&str] = &["desktop", "htop"];

fn tools_present() -> bool {
    support::require_all(&["vncsnapshot", "cjpeg", "djpeg", "vncpasswd"])
}

/// Runs vncsnapshot against `server` into `label.jpg`.
fn snapshot(
    dir: &TempDir,
    server: &FarviewServer,
    label: &str,
    encoding: &str,
    password_file: Option<&std::path::Path>,
) -> Output {
    let mut command = Command::new("vncsnapshot");
    command
        .args([
            "-quiet",
            "-nojpeg",
            "-quality",
            "100",
            "-encodings",
            encoding,
        ])
        // Without it, an all-black first update would be skipped and waited past.
        .arg("-allowblank");
    if let Some(file) = password_file {
        command.arg("-passwd").arg(file);
    }
    command
        .arg(server.target())
        .arg(dir.join(&format!("{label}.jpg")));
    support::run(&mut command, COMMAND_TIMEOUT)
}

/// vncsnapshot forced to `encoding` captures each fixture; the server must have used
/// `must_use` (per fixture) and spoken RFB 3.3.
fn check_encoding(encoding: &str, must_use: &[(&str, &[&str])]) {
    if !tools_present() {
        return;
    }
    let dir = TempDir::new(&format!("vncsnapshot-{encoding}"));
    for fixture in FIXTURES {
        let label = format!("{encoding}-{fixture}");
        let server = FarviewServer::replay_debug(&dir, &support::fixture(fixture), None, &[]);
        let expected = support::fixture_frame(fixture, 0);
        let output = snapshot(&dir, &server, &label, encoding, None);
        let log = server.log();
        let id = log.last_viewer();
        let context = format!(
            "vncsnapshot ({}):\n{}{}\nserver, for this viewer:\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            id.map(|id| log.updates(id)).unwrap_or_default(),
            server.process.logs()
        );
        assert!(
            output.status.success(),
            "{label}: vncsnapshot failed\n{context}"
        );
        let id = id.unwrap_or_else(|| panic!("{label}: the server logged no viewer\n{context}"));
        assert_eq!(
            log.protocol(id).as_deref(),
            Some("3.3"),
            "{label}: vncsnapshot speaks RFB 3.3 only\n{context}"
        );
        let wanted = must_use
            .iter()
            .find(|(name, _)| name == fixture)
            .map_or(&[][..], |(_, names)| names);
        log.assert_sent(Some(id), &label, wanted, &context);
        let captured = support::decode_jpeg(&dir.join(&format!("{label}.jpg")));
        let reference = support::libjpeg_rgb_q100(&dir, &label, &expected);
        support::assert_same_image(&dir, &label, &reference, &captured, &context);
    }
}

#[test]
fn vncsnapshot_decodes_raw() {
    check_encoding("raw", &[("desktop", &["raw"]), ("htop", &["raw"])]);
}

#[test]
fn vncsnapshot_decodes_rre() {
    // Busy pieces are never sent as RRE: with nothing else offered they go as Raw.
    check_encoding("rre", &[("desktop", &["raw"]), ("htop", &["rre"])]);
}

#[test]
fn vncsnapshot_decodes_corre() {
    check_encoding("corre", &[("htop", &["corre"])]);
}

#[test]
fn vncsnapshot_decodes_hextile() {
    check_encoding(
        "hextile",
        &[("desktop", &["hextile"]), ("htop", &["hextile"])],
    );
}

#[test]
fn vncsnapshot_decodes_zlib() {
    check_encoding("zlib", &[("desktop", &["zlib"]), ("htop", &["zlib"])]);
}

#[test]
fn vncsnapshot_decodes_lossless_tight() {
    check_encoding("tight", &[("desktop", &["tight"]), ("htop", &["tight"])]);
}

#[test]
fn vncsnapshot_decodes_zrle() {
    check_encoding("zrle", &[("desktop", &["zrle"]), ("htop", &["zrle"])]);
}

#[test]
fn vncsnapshot_authenticates_over_rfb_3_3() {
    if !tools_present() {
        return;
    }
    let dir = TempDir::new("vncsnapshot-password");
    let password = "3.3-auth";
    let server = FarviewServer::replay(&dir, &support::fixture("htop"), Some(password), &[]);
    let good = support::vnc_password_file(&dir, password);
    let output = snapshot(&dir, &server, "password", "zrle", Some(&good));
    let context = format!(
        "vncsnapshot ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr),
        server.process.logs()
    );
    assert!(output.status.success(), "vncsnapshot failed\n{context}");
    let expected = support::fixture_frame("htop", 0);
    let captured = support::decode_jpeg(&dir.join("password.jpg"));
    let reference = support::libjpeg_rgb_q100(&dir, "password", &expected);
    support::assert_same_image(&dir, "password", &reference, &captured, &context);

    let wrong_dir = TempDir::new("vncsnapshot-wrong-password");
    let wrong = support::vnc_password_file(&wrong_dir, "not-it");
    let output = snapshot(&wrong_dir, &server, "refused", "zrle", Some(&wrong));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && !wrong_dir.join("refused.jpg").exists(),
        "a wrong password must be refused, but vncsnapshot exited {}:\n{stderr}",
        output.status
    );
    assert!(
        stderr.contains("VNC authentication failed"),
        "vncsnapshot should report the failed authentication (RFB 3.3 has no reason \
         string):\n{stderr}\n{}",
        server.process.logs()
    );
}

/// Sanity check of the comparison itself: the reference of a frame is not the frame (JPEG
/// loses a little even at quality 100), but close, and differs from another frame's.
#[test]
fn the_jpeg_reference_is_close_but_distinguishing() {
    if !support::require_all(&["cjpeg", "djpeg"]) {
        return;
    }
    let dir = TempDir::new("vncsnapshot-reference");
    let frame = support::fixture_frame("htop", 0);
    let reference = support::libjpeg_rgb_q100(&dir, "htop", &frame);
    assert_eq!(
        (reference.width, reference.height),
        (frame.width, frame.height)
    );
    let worst = frame
        .rgb
        .iter()
        .zip(&reference.rgb)
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0);
    assert!(
        worst <= 4,
        "quality 100 in RGB should stay within a few units, got {worst}"
    );
    // One pixel changed by a visible amount changes the reference.
    let mut changed = frame.clone();
    changed.rgb[3 * (100 * frame.width as usize + 100)] ^= 0x80;
    let changed_reference: Image = support::libjpeg_rgb_q100(&dir, "changed", &changed);
    assert_ne!(reference, changed_reference);
}
