//! The `farview` command line as users and scripts meet it: the security policy, error
//! lines, and the frame logs benchmarks rely on.

mod support;

use std::time::Duration;

use sha2::{Digest, Sha256};
use support::{FarviewServer, TempDir};

/// SHA-256 of an image as RGBA with alpha 255: the frame-log hash.
fn rgba_sha256(image: &support::Image) -> String {
    let mut hasher = Sha256::new();
    for pixel in image.rgb.chunks_exact(3) {
        hasher.update([pixel[0], pixel[1], pixel[2], 255]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn json_field<'a>(line: &'a str, field: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{field}\":"))? + field.len() + 3;
    let rest = line[start..].trim_start_matches('"');
    let end = rest.find(['"', ',', '}'])?;
    Some(&rest[..end])
}

#[test]
fn serving_off_loopback_without_authentication_is_refused() {
    let output = support::run(
        support::farview().args(["serve", "--listen", "0.0.0.0:0"]),
        Duration::from_secs(20),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to serve 0.0.0.0:0 without authentication"),
        "{stderr}"
    );
    assert!(stderr.contains("--insecure-no-auth"), "{stderr}");
}

#[test]
fn serving_off_loopback_is_allowed_with_a_password_tls_or_an_explicit_opt_out() {
    let dir = TempDir::new("cli-off-loopback");
    let password = dir.write("password.txt", b"secret\n");
    for extra in [
        vec!["--password-file", password.to_str().unwrap()],
        vec!["--tls-self-signed"],
        vec!["--insecure-no-auth"],
    ] {
        let mut command = support::farview();
        command
            // Where --tls-self-signed keeps its certificate.
            .env("XDG_CONFIG_HOME", dir.join("config"))
            .args(["serve", "--listen", "0.0.0.0:0"])
            .args(&extra);
        let mut server = support::Proc::spawn("farview-serve", &mut command, &dir);
        std::thread::sleep(Duration::from_millis(700));
        assert!(
            server.exited().is_none(),
            "{extra:?}: the server stopped:\n{}",
            server.logs()
        );
        server.stop();
    }
}

#[test]
fn a_refused_connection_is_one_clear_error_line() {
    let port = support::free_port();
    let output = support::run(
        support::farview().args(["view", &format!("127.0.0.1::{port}"), "--headless"]),
        Duration::from_secs(20),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("farview: error: "))
        .collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(errors[0].contains("refused"), "{stderr}");
}

#[test]
fn frame_logs_of_server_and_viewer_agree_on_the_frames() {
    check_frame_logs("cli-frame-logs", &[]);
}

#[test]
fn preloaded_replay_logs_the_same_frames() {
    check_frame_logs("cli-frame-logs-preload", &["--preload"]);
}

fn check_frame_logs(name: &str, extra_args: &[&str]) {
    let dir = TempDir::new(name);
    let frames = support::fixture("sequence");
    let server_log = dir.join("frames.jsonl");
    let mut args = vec!["--fps", "4", "--frame-log", server_log.to_str().unwrap()];
    args.extend_from_slice(extra_args);
    let server = FarviewServer::replay(&dir, &frames, None, &args);
    let result = support::view_headless(&dir, "view", &server.target(), None, 3.0);
    assert!(result.output.status.success(), "{}", result.stderr());

    let expected: Vec<String> = (0..2)
        .map(|i| rgba_sha256(&support::fixture_frame("sequence", i)))
        .collect();
    let frame_lines = std::fs::read_to_string(&server_log).unwrap();
    let logged: Vec<(String, String)> = frame_lines
        .lines()
        .map(|line| {
            assert_eq!(json_field(line, "event"), Some("frame"), "{line}");
            assert!(
                json_field(line, "t_ms").is_some_and(|t| t.parse::<u64>().is_ok()),
                "{line}"
            );
            (
                json_field(line, "index").unwrap().to_string(),
                json_field(line, "sha256").unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        logged,
        vec![
            ("0".into(), expected[0].clone()),
            ("1".into(), expected[1].clone())
        ]
    );

    let update_lines = std::fs::read_to_string(dir.join("view-updates.jsonl")).unwrap();
    let last = update_lines.lines().last().expect("at least one update");
    assert_eq!(json_field(last, "event"), Some("update"));
    assert_eq!(
        json_field(last, "sha256"),
        Some(expected[1].as_str()),
        "the viewer ends on the last frame"
    );
    for line in update_lines.lines() {
        let bytes: usize = json_field(line, "bytes").unwrap().parse().unwrap();
        let rects: usize = json_field(line, "rects").unwrap().parse().unwrap();
        assert!(bytes >= 4 + 12 * rects, "{line}");
    }
    let snapshot = result.snapshot.expect("a snapshot");
    assert_eq!(rgba_sha256(&snapshot), expected[1]);
}
