//! Reading and writing link messages on a stream, for the steps of the link's start where
//! one side waits for one message (the main loops read and write as things come).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::ProxyError;
use crate::link::codec::LinkCodec;

/// A link's byte stream: TLS over TCP.
pub trait LinkStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> LinkStream for S {}

/// Bytes read from the link at a time.
pub const READ_CHUNK: usize = 256 * 1024;

/// The next message's kind and payload, reading as needed.
pub async fn read_message(
    stream: &mut (impl AsyncRead + Unpin),
    codec: &mut LinkCodec,
) -> Result<(u8, Vec<u8>), ProxyError> {
    let mut buffer = vec![0u8; READ_CHUNK];
    loop {
        if let Some(message) = codec.next_message()? {
            return Ok(message);
        }
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Err(ProxyError::LinkClosed);
        }
        codec.feed(&buffer[..read]);
    }
}

/// Writes `output` whole and pushes it out of TLS's buffer, then empties it.
pub async fn send(
    stream: &mut (impl AsyncWrite + Unpin),
    output: &mut Vec<u8>,
) -> Result<(), ProxyError> {
    stream.write_all(output).await?;
    stream.flush().await?;
    output.clear();
    Ok(())
}
