//! VeNCrypt (security type 19): the negotiation that comes before TLS, for both sides.
//!
//! After security type 19 is chosen, the server sends its VeNCrypt version (0.2), the viewer
//! answers with the version it speaks, and the server acknowledges it (0: accepted). The server
//! then lists its subtypes (a count, then each as a U32), the viewer picks one, and the server
//! acknowledges the choice (1: go on, 0: refused, followed by a failure code and a reason, as
//! in SecurityResult). For the TLS subtypes, the TLS handshake starts right after that ack; the
//! subtype's authentication (none, VNC Authentication or Plain) then runs inside TLS, ending
//! with SecurityResult. Farview offers only the X509 subtypes: rustls has no anonymous TLS.
//!
//! This module only parses and writes the negotiation; the TLS layer is I/O and lives in the
//! server and viewer crates. The handshake state machines drive these negotiations.

use crate::error::ProtocolError;
use crate::handshake::read_reason;
use crate::wire::{Reader, Writer};

/// The only VeNCrypt version farview speaks (major, minor).
pub const VERSION: [u8; 2] = [0, 2];
/// The acknowledgement of an accepted version.
const VERSION_ACCEPTED: u8 = 0;
/// The acknowledgement of a refused version.
const VERSION_REFUSED: u8 = 0xff;
/// The acknowledgement of an accepted subtype.
const SUBTYPE_ACCEPTED: u8 = 1;
/// The acknowledgement of a refused subtype (a failure code and reason follow).
const SUBTYPE_REFUSED: u8 = 0;
/// The failure code after a refused subtype, as SecurityResult's "failed".
const FAILED: u32 = 1;

/// A VeNCrypt subtype. Open: unknown numbers from a peer survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubType(pub u32);

impl SubType {
    pub const PLAIN: Self = Self(256);
    pub const TLS_NONE: Self = Self(257);
    pub const TLS_VNC: Self = Self(258);
    pub const TLS_PLAIN: Self = Self(259);
    pub const X509_NONE: Self = Self(260);
    pub const X509_VNC: Self = Self(261);
    pub const X509_PLAIN: Self = Self(262);

    /// Anonymous TLS (no certificate), which rustls cannot do.
    pub fn is_anonymous_tls(self) -> bool {
        matches!(self, Self::TLS_NONE | Self::TLS_VNC | Self::TLS_PLAIN)
    }

    /// The subtypes farview speaks, both sides.
    pub fn is_supported(self) -> bool {
        matches!(self, Self::X509_NONE | Self::X509_VNC | Self::X509_PLAIN)
    }
}

impl std::fmt::Display for SubType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match *self {
            Self::PLAIN => "Plain",
            Self::TLS_NONE => "TLSNone",
            Self::TLS_VNC => "TLSVnc",
            Self::TLS_PLAIN => "TLSPlain",
            Self::X509_NONE => "X509None",
            Self::X509_VNC => "X509Vnc",
            Self::X509_PLAIN => "X509Plain",
            Self(n) => return write!(f, "VeNCrypt subtype {n}"),
        };
        write!(f, "{name}")
    }
}

/// Names a list of subtypes for messages: "X509Vnc, X509None".
pub fn names(subtypes: &[SubType]) -> String {
    let names: Vec<String> = subtypes.iter().map(SubType::to_string).collect();
    names.join(", ")
}

/// Why a viewer's choice of `chosen` was refused, given what was `offered`.
fn refusal_reason(chosen: SubType, offered: &[SubType]) -> String {
    if chosen.is_anonymous_tls() {
        format!(
            "{chosen} (anonymous TLS) is not supported by this server; it offers {} \
             (TLS with a certificate)",
            names(offered)
        )
    } else {
        format!(
            "{chosen} was not offered; this server offers {}",
            names(offered)
        )
    }
}

/// What one step of a negotiation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Input bytes used.
    pub consumed: usize,
    /// Set once the subtype is agreed and acknowledged: TLS starts now.
    pub agreed: Option<SubType>,
}

/// What a refused negotiation said, once the refusal is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub consumed: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerState {
    ExpectVersion,
    ExpectSubType,
    Done,
}

/// The server's side: offers `subtypes` and waits for the viewer's choice.
#[derive(Debug, Clone)]
pub struct ServerNegotiation {
    offered: Vec<SubType>,
    state: ServerState,
}

impl ServerNegotiation {
    /// Starts the negotiation; the server's version goes into `output` at once.
    pub fn new(offered: Vec<SubType>, output: &mut Vec<u8>) -> Self {
        output.extend_from_slice(&VERSION);
        Self {
            offered,
            state: ServerState::ExpectVersion,
        }
    }

    /// Feeds the viewer's bytes. `Ok(None)` needs more input (nothing was consumed);
    /// `Err(refusal)` means a refusal was written to `output` and the connection is to close.
    pub fn step(&mut self, input: &[u8], output: &mut Vec<u8>) -> Result<Option<Step>, Refusal> {
        let mut reader = Reader::new(input);
        match self.state {
            ServerState::ExpectVersion => {
                let Some(version) = reader.take(2) else {
                    return Ok(None);
                };
                if version != VERSION {
                    output.push(VERSION_REFUSED);
                    self.state = ServerState::Done;
                    return Err(Refusal {
                        consumed: 2,
                        reason: format!(
                            "VeNCrypt version {}.{} is not supported (only 0.2)",
                            version[0], version[1]
                        ),
                    });
                }
                output.push(VERSION_ACCEPTED);
                // At most a few subtypes: the count always fits its byte.
                output.push(self.offered.len() as u8);
                for subtype in &self.offered {
                    output.put_u32(subtype.0);
                }
                self.state = ServerState::ExpectSubType;
                Ok(Some(Step {
                    consumed: 2,
                    agreed: None,
                }))
            }
            ServerState::ExpectSubType => {
                let Some(chosen) = reader.u32().map(SubType) else {
                    return Ok(None);
                };
                self.state = ServerState::Done;
                if !self.offered.contains(&chosen) {
                    let reason = refusal_reason(chosen, &self.offered);
                    output.push(SUBTYPE_REFUSED);
                    output.put_u32(FAILED);
                    output.put_u32(reason.len() as u32);
                    output.extend_from_slice(reason.as_bytes());
                    return Err(Refusal {
                        consumed: 4,
                        reason,
                    });
                }
                output.push(SUBTYPE_ACCEPTED);
                Ok(Some(Step {
                    consumed: 4,
                    agreed: Some(chosen),
                }))
            }
            ServerState::Done => Ok(None),
        }
    }
}

/// What the viewer is able to authenticate with, to choose a subtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ViewerCredentials {
    /// A password is known (VNC Authentication, or Plain with a username).
    pub password: bool,
    /// A username is known (Plain).
    pub username: bool,
}

/// Picks the subtype to use among `offered`: Plain when we have a username and password,
/// else VNC Authentication when we have a password, else none.
pub fn choose_subtype(
    offered: &[SubType],
    credentials: ViewerCredentials,
) -> Result<SubType, ProtocolError> {
    let has = |subtype| offered.contains(&subtype);
    if credentials.username && credentials.password && has(SubType::X509_PLAIN) {
        return Ok(SubType::X509_PLAIN);
    }
    if credentials.password && has(SubType::X509_VNC) {
        return Ok(SubType::X509_VNC);
    }
    if has(SubType::X509_NONE) {
        return Ok(SubType::X509_NONE);
    }
    if has(SubType::X509_VNC) {
        return Err(ProtocolError::PasswordRequired);
    }
    if has(SubType::X509_PLAIN) {
        return Err(if credentials.username {
            ProtocolError::PasswordRequired
        } else {
            ProtocolError::UsernameRequired
        });
    }
    if offered.iter().any(|subtype| subtype.is_anonymous_tls()) {
        return Err(ProtocolError::NoUsableSubtype(format!(
            "the server offers only {} (anonymous TLS or no TLS), which farview does not \
             speak: it needs a server certificate (X509None, X509Vnc or X509Plain)",
            names(offered)
        )));
    }
    Err(ProtocolError::NoUsableSubtype(format!(
        "the server offers no VeNCrypt subtype farview speaks (offered: {})",
        names(offered)
    )))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientState {
    ExpectVersion,
    ExpectVersionAck,
    ExpectSubTypes,
    ExpectSubTypeAck(SubType),
    Done,
}

/// The viewer's side: answers the version, chooses a subtype with [`choose_subtype`].
#[derive(Debug, Clone)]
pub struct ClientNegotiation {
    credentials: ViewerCredentials,
    state: ClientState,
}

impl ClientNegotiation {
    pub fn new(credentials: ViewerCredentials) -> Self {
        Self {
            credentials,
            state: ClientState::ExpectVersion,
        }
    }

    /// Feeds the server's bytes. `Ok(None)` needs more input (nothing was consumed).
    pub fn step(
        &mut self,
        input: &[u8],
        output: &mut Vec<u8>,
    ) -> Result<Option<Step>, ProtocolError> {
        let mut reader = Reader::new(input);
        match self.state {
            ClientState::ExpectVersion => {
                let Some(version) = reader.take(2) else {
                    return Ok(None);
                };
                // A server that speaks a later minor version must also accept 0.2.
                if version[0] != VERSION[0] || version[1] < VERSION[1] {
                    return Err(ProtocolError::Vencrypt(format!(
                        "the server speaks VeNCrypt {}.{}, farview needs 0.2",
                        version[0], version[1]
                    )));
                }
                output.extend_from_slice(&VERSION);
                self.state = ClientState::ExpectVersionAck;
            }
            ClientState::ExpectVersionAck => {
                let Some(ack) = reader.u8() else {
                    return Ok(None);
                };
                if ack != VERSION_ACCEPTED {
                    return Err(ProtocolError::Vencrypt(
                        "the server refused VeNCrypt version 0.2".into(),
                    ));
                }
                self.state = ClientState::ExpectSubTypes;
            }
            ClientState::ExpectSubTypes => {
                let Some(count) = reader.u8() else {
                    return Ok(None);
                };
                // The count is a byte, so the list is bounded by 255 subtypes.
                let Some(bytes) = reader.take(usize::from(count) * 4) else {
                    return Ok(None);
                };
                let offered: Vec<SubType> = bytes
                    .chunks_exact(4)
                    .map(|b| SubType(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
                    .collect();
                let chosen = choose_subtype(&offered, self.credentials)?;
                output.put_u32(chosen.0);
                self.state = ClientState::ExpectSubTypeAck(chosen);
            }
            ClientState::ExpectSubTypeAck(chosen) => {
                let Some(ack) = reader.u8() else {
                    return Ok(None);
                };
                if ack == SUBTYPE_ACCEPTED {
                    self.state = ClientState::Done;
                    return Ok(Some(Step {
                        consumed: 1,
                        agreed: Some(chosen),
                    }));
                }
                // A refusal carries a failure code and a reason, as SecurityResult.
                let Some(_code) = reader.u32() else {
                    return Ok(None);
                };
                let Some(reason) = read_reason(&mut reader)? else {
                    return Ok(None);
                };
                return Err(ProtocolError::AuthenticationFailed(format!(
                    "the server refused {chosen}: {reason}"
                )));
            }
            ClientState::Done => return Ok(None),
        }
        Ok(Some(Step {
            consumed: reader.consumed(),
            agreed: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFERED: [SubType; 2] = [SubType::X509_VNC, SubType::X509_NONE];

    #[test]
    fn server_offers_and_accepts() {
        let mut output = Vec::new();
        let mut server = ServerNegotiation::new(OFFERED.to_vec(), &mut output);
        assert_eq!(output, [0, 2]);
        output.clear();
        assert_eq!(server.step(&[0], &mut output), Ok(None));
        let step = server.step(&[0, 2, 0], &mut output).unwrap().unwrap();
        assert_eq!(step.consumed, 2);
        assert_eq!(output, [0, 2, 0, 0, 1, 5, 0, 0, 1, 4]);
        output.clear();
        assert_eq!(server.step(&[0, 0, 1], &mut output), Ok(None));
        let step = server.step(&[0, 0, 1, 4], &mut output).unwrap().unwrap();
        assert_eq!(step.agreed, Some(SubType::X509_NONE));
        assert_eq!(output, [1]);
    }

    #[test]
    fn server_refuses_anonymous_tls_with_a_reason() {
        let mut output = Vec::new();
        let mut server = ServerNegotiation::new(OFFERED.to_vec(), &mut output);
        server.step(&[0, 2], &mut output).unwrap();
        output.clear();
        let refusal = server.step(&257u32.to_be_bytes(), &mut output).unwrap_err();
        assert!(
            refusal.reason.contains("TLSNone (anonymous TLS)"),
            "{refusal:?}"
        );
        assert!(refusal.reason.contains("X509Vnc, X509None"), "{refusal:?}");
        assert_eq!(&output[..5], [0, 0, 0, 0, 1]);
        assert_eq!(&output[9..], refusal.reason.as_bytes());
    }

    #[test]
    fn server_refuses_another_version() {
        let mut output = Vec::new();
        let mut server = ServerNegotiation::new(OFFERED.to_vec(), &mut output);
        output.clear();
        let refusal = server.step(&[0, 1], &mut output).unwrap_err();
        assert!(refusal.reason.contains("0.1"), "{refusal:?}");
        assert_eq!(output, [0xff]);
    }

    #[test]
    fn client_choice_follows_credentials() {
        let all = [SubType::X509_PLAIN, SubType::X509_VNC, SubType::X509_NONE];
        let none = ViewerCredentials::default();
        let password = ViewerCredentials {
            password: true,
            username: false,
        };
        let both = ViewerCredentials {
            password: true,
            username: true,
        };
        assert_eq!(choose_subtype(&all, both), Ok(SubType::X509_PLAIN));
        assert_eq!(choose_subtype(&all, password), Ok(SubType::X509_VNC));
        assert_eq!(choose_subtype(&all, none), Ok(SubType::X509_NONE));
        assert_eq!(
            choose_subtype(&[SubType::X509_VNC], none),
            Err(ProtocolError::PasswordRequired)
        );
        assert_eq!(
            choose_subtype(&[SubType::X509_PLAIN], password),
            Err(ProtocolError::UsernameRequired)
        );
        let error = choose_subtype(&[SubType::TLS_NONE, SubType::TLS_VNC], both).unwrap_err();
        assert!(error.to_string().contains("anonymous TLS"), "{error}");
    }

    #[test]
    fn client_reports_the_refusal_reason() {
        let mut client = ClientNegotiation::new(ViewerCredentials::default());
        let mut output = Vec::new();
        let mut input = vec![0, 2, 0, 1, 0, 0, 1, 4, 0, 0, 0, 0, 1, 0, 0, 0, 3];
        input.extend_from_slice(b"no!");
        let mut offset = 0;
        let error = loop {
            match client.step(&input[offset..], &mut output) {
                Ok(Some(step)) => offset += step.consumed,
                Ok(None) => panic!("stalled at {offset}"),
                Err(error) => break error,
            }
        };
        assert_eq!(output, [0, 2, 0, 0, 1, 4]);
        assert!(
            error.to_string().contains("refused X509None: no!"),
            "{error}"
        );
    }
}
