//! VeNCrypt through the whole handshake: server and client connections in memory, TLS taken as
//! started when they ask for it (the TLS layer itself is I/O, tested in the server and viewer).

use super::client::{ClientConfig, ClientConnection, ClientEvent};
use super::connection_tests::{PLAIN_USER, Pair};
use super::server::{ServerConfig, ServerConnection, ServerEvent};
use crate::error::ProtocolError;
use crate::security::vencrypt::SubType;

const CHALLENGE: [u8; 16] = *b"challenge-bytes!";

fn tls_server(password: Option<&str>, plain_users: bool) -> ServerConnection {
    ServerConnection::new(ServerConfig {
        tls: true,
        plain_users,
        ..ServerConfig::new(password.map(|p| p.as_bytes().to_vec()), CHALLENGE)
    })
}

fn tls_client(username: Option<&str>, password: Option<&[u8]>) -> ClientConnection {
    ClientConnection::new(ClientConfig {
        tls: true,
        username: username.map(str::to_string),
        password: password.map(<[u8]>::to_vec),
        ..ClientConfig::default()
    })
}

/// Runs the handshake in pieces of `chunk` bytes; returns the server's events.
fn connect(
    server: ServerConnection,
    client: ClientConnection,
    chunk: usize,
) -> Result<Vec<ServerEvent>, (ProtocolError, Vec<ServerEvent>)> {
    let mut pair = Pair::new(server, client, chunk);
    match pair.pump() {
        Ok(()) => {
            let connected = pair.client_events();
            assert!(
                matches!(connected[..], [ClientEvent::Connected { .. }]),
                "{connected:?}"
            );
            Ok(pair.server_events())
        }
        Err(error) => Err((error, pair.server_events())),
    }
}

#[test]
fn every_subtype_connects_in_any_split() {
    for chunk in [1, 3, 64] {
        let none = connect(tls_server(None, false), tls_client(None, None), chunk).unwrap();
        assert!(
            none.contains(&ServerEvent::StartTls(SubType::X509_NONE)),
            "{none:?}"
        );

        let vnc = connect(
            tls_server(Some("pw"), false),
            tls_client(None, Some(b"pw")),
            chunk,
        )
        .unwrap();
        assert!(
            vnc.contains(&ServerEvent::StartTls(SubType::X509_VNC)),
            "{vnc:?}"
        );

        let (user, password) = PLAIN_USER;
        let plain = connect(
            tls_server(Some("pw"), true),
            tls_client(Some(user), Some(password)),
            chunk,
        )
        .unwrap();
        let asked: Vec<_> = plain
            .iter()
            .filter_map(|event| match event {
                ServerEvent::CheckCredentials(credentials) => Some(credentials.username.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(asked, [user]);
    }
}

#[test]
fn wrong_plain_password_is_refused_with_the_reason() {
    let (error, events) = connect(
        tls_server(None, true),
        tls_client(Some(PLAIN_USER.0), Some(b"guess")),
        7,
    )
    .unwrap_err();
    assert_eq!(
        error,
        ProtocolError::AuthenticationFailed(
            "authentication failed: wrong username or password".into()
        )
    );
    assert!(
        matches!(
            events.last(),
            Some(ServerEvent::AuthenticationFailed { .. })
        ),
        "{events:?}"
    );
}

#[test]
fn wrong_vnc_password_inside_tls_is_refused() {
    let (error, events) = connect(
        tls_server(Some("pw"), false),
        tls_client(None, Some(b"nope")),
        64,
    )
    .unwrap_err();
    assert!(
        matches!(error, ProtocolError::AuthenticationFailed(_)),
        "{error}"
    );
    assert!(
        events.contains(&ServerEvent::StartTls(SubType::X509_VNC)),
        "{events:?}"
    );
}

#[test]
fn a_viewer_without_the_right_credentials_says_what_is_missing() {
    let (error, _) =
        connect(tls_server(None, true), tls_client(None, Some(b"pw")), 64).unwrap_err();
    assert_eq!(error, ProtocolError::UsernameRequired);
    let (error, _) =
        connect(tls_server(Some("pw"), false), tls_client(None, None), 64).unwrap_err();
    assert_eq!(error, ProtocolError::PasswordRequired);
}

#[test]
fn a_viewer_that_expects_tls_refuses_a_server_without() {
    let client = ClientConnection::new(ClientConfig {
        tls: true,
        require_tls: true,
        ..ClientConfig::default()
    });
    let server = ServerConnection::new(ServerConfig::new(None, CHALLENGE));
    let (error, _) = connect(server, client, 64).unwrap_err();
    assert_eq!(error, ProtocolError::TlsRequired(vec![1]));
}

#[test]
fn a_viewer_without_tls_finds_nothing_in_common() {
    let (error, _) = connect(
        tls_server(None, false),
        ClientConnection::new(ClientConfig::default()),
        64,
    )
    .unwrap_err();
    assert_eq!(error, ProtocolError::NoCommonSecurityType(vec![19]));
}

/// A scripted viewer that insists on TLSNone is told why it cannot have it.
#[test]
fn anonymous_tls_is_refused_with_a_reason() {
    let mut server = tls_server(None, false);
    server.take_output();
    let mut input = b"RFB 003.008\n".to_vec();
    input.extend_from_slice(&[19, 0, 2]);
    input.extend_from_slice(&SubType::TLS_NONE.0.to_be_bytes());
    assert_eq!(server.handle_input(&input), Ok(input.len()));
    let output = server.take_output();
    // Types [19]; version 0.2; accepted; subtypes [X509None]; refused, failed, reason.
    assert_eq!(&output[..14], [1, 19, 0, 2, 0, 1, 0, 0, 1, 4, 0, 0, 0, 0]);
    let reason = String::from_utf8_lossy(&output[19..]);
    assert!(
        reason.contains("TLSNone (anonymous TLS) is not supported"),
        "{reason}"
    );
    assert!(server.is_closed());
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::SecurityRefused {
            reason: reason.into_owned()
        })
    );
}

/// Nothing after the subtype is consumed until TLS is up: those bytes belong to TLS.
#[test]
fn nothing_is_consumed_while_tls_starts() {
    let mut server = tls_server(None, false);
    let mut input = b"RFB 003.008\n".to_vec();
    input.extend_from_slice(&[19, 0, 2]);
    input.extend_from_slice(&SubType::X509_NONE.0.to_be_bytes());
    let handshake = input.len();
    input.extend_from_slice(&[22, 3, 1]);
    assert_eq!(server.handle_input(&input), Ok(handshake));
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::StartTls(SubType::X509_NONE))
    );
    assert_eq!(server.handle_input(&input[handshake..]), Ok(0));
    server.take_output();
    server.tls_started();
    assert_eq!(server.take_output(), [0, 0, 0, 0], "SecurityResult OK");
}

#[test]
fn an_old_viewer_is_told_tls_needs_3_7() {
    let mut server = tls_server(None, false);
    server.take_output();
    server.handle_input(b"RFB 003.003\n").unwrap();
    let output = server.take_output();
    assert_eq!(&output[..4], [0, 0, 0, 0]);
    assert!(String::from_utf8_lossy(&output[8..]).contains("needs RFB 3.7"));
}

#[test]
fn a_refused_viewer_gets_the_reason() {
    let server = ServerConnection::new(ServerConfig {
        refusal: Some("too many authentication failures".into()),
        ..ServerConfig::new(None, CHALLENGE)
    });
    let (error, events) = connect(server, tls_client(None, None), 64).unwrap_err();
    assert_eq!(
        error,
        ProtocolError::ConnectionRefused("too many authentication failures".into())
    );
    assert!(
        matches!(events[..], [ServerEvent::SecurityRefused { .. }]),
        "{events:?}"
    );
}
