//! The link between the near and the far proxy, without I/O: its framing, its messages and
//! the tile cache both ends keep in step.

pub mod acks;
pub mod auth;
pub mod codec;
pub mod compress;
pub mod frame;
pub mod fuzzing;
pub mod message;
pub mod outgoing;
pub mod pacing;
pub mod tile_cache;
pub mod tiles;

/// Something the peer sent that breaks the link protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("link frame of {length} bytes is larger than the limit of {limit}")]
    FrameTooLarge { length: usize, limit: usize },
    #[error("link message {kind}: unknown message kind")]
    UnknownKind { kind: u8 },
    #[error("link message {what}: {problem}")]
    Malformed { what: &'static str, problem: String },
    /// What a near side hears first from a far side before link version 9.
    #[error(
        "the far proxy speaks an older link protocol (it sent a challenge, as before link \
         version 9): run the same farview version at both ends"
    )]
    OlderFarSide,
}

impl LinkError {
    pub(crate) fn malformed(what: &'static str, problem: impl Into<String>) -> Self {
        LinkError::Malformed {
            what,
            problem: problem.into(),
        }
    }
}
