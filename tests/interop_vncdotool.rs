//! vncdotool (a Python RFB client) captures the screen of `farview serve --source replay:`, and
//! the capture must equal the replayed PNG pixel for pixel.

mod support;

use std::process::{Command, Output};
use std::time::Duration;

use support::{COMMAND_TIMEOUT, FarviewServer, Image, TempDir, image_difference};

/// `vncdo capture` of the server into `label.png`.
fn capture(dir: &TempDir, server: &FarviewServer, password: Option<&str>, label: &str) -> Output {
    let path = dir.join(&format!("{label}.png"));
    let mut command = Command::new("vncdo");
    command.arg("-s").arg(server.target());
    if let Some(password) = password {
        command.arg("-p").arg(password);
    }
    command.arg("capture").arg(&path);
    support::run(&mut command, COMMAND_TIMEOUT)
}

/// Captures once and checks the picture against `expected`.
fn assert_capture(dir: &TempDir, server: &FarviewServer, password: Option<&str>, expected: &Image) {
    let output = capture(dir, server, password, "capture");
    let context = format!(
        "vncdo stderr:\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.process.logs()
    );
    assert!(
        output.status.success(),
        "vncdo failed: {}\n{context}",
        output.status
    );
    let captured = Image::read_png(&dir.join("capture.png"));
    support::assert_same_image(dir, "vncdotool", expected, &captured, &context);
}

#[test]
fn vncdotool_captures_the_replayed_frame() {
    if !support::require("vncdo") {
        return;
    }
    let dir = TempDir::new("vncdo-plain");
    let server = FarviewServer::replay(&dir, &support::fixture("terminal"), None, &[]);
    let expected = support::fixture_frame("terminal", 0);
    assert_capture(&dir, &server, None, &expected);
}

#[test]
fn vncdotool_captures_with_a_password() {
    if !support::require("vncdo") {
        return;
    }
    let dir = TempDir::new("vncdo-password");
    let password = "Tr0ub4dor";
    let server = FarviewServer::replay(&dir, &support::fixture("desktop"), Some(password), &[]);
    let expected = support::fixture_frame("desktop", 0);
    assert_capture(&dir, &server, Some(password), &expected);
}

#[test]
fn vncdotool_with_a_wrong_password_is_refused() {
    if !support::require("vncdo") {
        return;
    }
    let dir = TempDir::new("vncdo-wrong");
    let server = FarviewServer::replay(&dir, &support::fixture("desktop"), Some("right-one"), &[]);
    let output = capture(&dir, &server, Some("wrong-one"), "refused");
    assert!(
        !output.status.success() && !dir.join("refused.png").exists(),
        "vncdo should fail with a wrong password, but exited {} and captured {}\n{}",
        output.status,
        dir.join("refused.png").exists(),
        server.process.logs()
    );
    let log = server.process.stderr();
    assert!(
        log.contains("authentication failed"),
        "the server should log the failed authentication:\n{log}"
    );
}

#[test]
fn vncdotool_sees_the_held_last_frame_of_a_sequence() {
    if !support::require("vncdo") {
        return;
    }
    let dir = TempDir::new("vncdo-sequence");
    // Two frames at 20 fps: the server shows the second after 50 ms and holds it.
    let server = FarviewServer::replay(&dir, &support::fixture("sequence"), None, &["--fps", "20"]);
    let last = support::fixture_frame("sequence", 1);
    support::poll(
        "vncdotool capture of the last frame",
        Duration::from_secs(15),
        Duration::from_millis(200),
        || {
            let output = capture(&dir, &server, None, "sequence");
            if !output.status.success() {
                return Err(format!(
                    "vncdo failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr)
                ));
            }
            let captured = Image::read_png(&dir.join("sequence.png"));
            match image_difference(&last, &captured) {
                None => Ok(()),
                Some(difference) => Err(format!(
                    "{difference}\n{}",
                    support::save_mismatch(&dir, "sequence", &last, &captured)
                )),
            }
        },
        || server.process.logs(),
    );
}
