//! A WebSocket as a byte stream: [`WebSocketStream`] implements tokio's `AsyncRead` and
//! `AsyncWrite` over the frames of [`WebSocket`], so an RFB session runs over it unchanged.
//!
//! Writes are framed into a buffer of at most [`MAX_BUFFERED_OUTPUT`] bytes (plus one frame)
//! and go out as the socket takes them; `flush` sends the rest. A write waits while the buffer
//! is full, so a slow browser slows the session down as a slow TCP viewer does. Answers to
//! pings go out on reads too, so a viewer that only pings is still answered.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::websocket::{CLOSE_NORMAL, FrameError, MAX_SENT_PAYLOAD, WebSocket};

/// Framed bytes held for the socket before a write waits.
pub const MAX_BUFFERED_OUTPUT: usize = 64 * 1024;
/// How much to read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

#[derive(Debug)]
pub struct WebSocketStream<S> {
    inner: S,
    socket: WebSocket,
    /// Bytes from the socket the codec has not used yet (a partial header or control frame).
    received: Vec<u8>,
    /// Stream bytes decoded and not yet read, from `data_read` on.
    data: Vec<u8>,
    data_read: usize,
    failed: Option<FrameError>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// Wraps `inner` after the handshake; `early` holds bytes read past the request head.
    pub fn new(inner: S, early: &[u8]) -> WebSocketStream<S> {
        WebSocketStream {
            inner,
            socket: WebSocket::new(),
            received: early.to_vec(),
            data: Vec::new(),
            data_read: 0,
            failed: None,
        }
    }

    /// Writes framed output until at most `keep` bytes are left.
    fn poll_send(&mut self, cx: &mut Context<'_>, keep: usize) -> Poll<io::Result<()>> {
        while self.socket.output().len() > keep {
            let sent = ready!(Pin::new(&mut self.inner).poll_write(cx, self.socket.output()))?;
            if sent == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.socket.advance_output(sent);
        }
        Poll::Ready(Ok(()))
    }

    /// Decodes what has been received into `data`.
    fn decode(&mut self) {
        self.data.clear();
        self.data_read = 0;
        match self.socket.handle_input(&self.received, &mut self.data) {
            Ok(used) => {
                self.received.drain(..used);
            }
            Err(error) => {
                self.received.clear();
                self.failed = Some(error);
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for WebSocketStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.received.is_empty() && this.data_read == this.data.len() {
            this.decode();
        }
        loop {
            // Pongs and closes go out as soon as the socket takes them; a pending write
            // wakes this task when it can go on.
            if let Poll::Ready(Err(error)) = this.poll_send(cx, 0) {
                return Poll::Ready(Err(error));
            }
            if this.data_read < this.data.len() {
                let count = buf.remaining().min(this.data.len() - this.data_read);
                buf.put_slice(&this.data[this.data_read..this.data_read + count]);
                this.data_read += count;
                return Poll::Ready(Ok(()));
            }
            if let Some(error) = &this.failed {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("WebSocket: {error}"),
                )));
            }
            if this.socket.is_closed() {
                return Poll::Ready(Ok(()));
            }
            // A client that pings faster than it reads the answers is not read further.
            if this.socket.output().len() >= MAX_BUFFERED_OUTPUT {
                return Poll::Pending;
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut chunk = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut chunk))?;
            if chunk.filled().is_empty() {
                return Poll::Ready(Ok(()));
            }
            this.received.extend_from_slice(chunk.filled());
            this.decode();
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for WebSocketStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.socket.close_sent() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the WebSocket is closed",
            )));
        }
        ready!(this.poll_send(cx, MAX_BUFFERED_OUTPUT - 1))?;
        let count = buf.len().min(MAX_SENT_PAYLOAD);
        this.socket.send_binary(&buf[..count]);
        // Start sending now; what the socket cannot take yet goes on the next write or flush.
        if let Poll::Ready(Err(error)) = this.poll_send(cx, 0) {
            return Poll::Ready(Err(error));
        }
        Poll::Ready(Ok(count))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx, 0))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.socket.send_close(CLOSE_NORMAL);
        ready!(this.poll_send(cx, 0))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::transport::websocket::tests::{client_frame, server_frames};
    use crate::transport::websocket::{
        CLOSE_PROTOCOL_ERROR, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG,
    };

    /// A WebSocketStream over an in-memory pipe of `capacity` bytes, and the client's end.
    fn pair(capacity: usize) -> (WebSocketStream<DuplexStream>, DuplexStream) {
        let (server, client) = tokio::io::duplex(capacity);
        (WebSocketStream::new(server, &[]), client)
    }

    /// Reads frames from the client's end until `count` have come.
    async fn read_frames(client: &mut DuplexStream, count: usize) -> Vec<(u8, Vec<u8>)> {
        let mut received = Vec::new();
        loop {
            let mut chunk = [0u8; 4096];
            let read = client.read(&mut chunk).await.unwrap();
            received.extend_from_slice(&chunk[..read]);
            let frames = server_frames(&received);
            if frames.len() >= count {
                return frames;
            }
            assert!(read > 0, "the stream ended early");
        }
    }

    #[tokio::test]
    async fn bytes_cross_both_ways_and_pings_are_answered_while_reading() {
        let (mut stream, mut client) = pair(1024);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let mut frames = client_frame(true, OPCODE_PING, b"ping", [1, 2, 3, 4]);
        frames.extend(client_frame(true, OPCODE_BINARY, &data, [9, 9, 8, 8]));
        let writer = tokio::spawn(async move {
            client.write_all(&frames).await.unwrap();
            client
        });
        let mut received = vec![0u8; data.len()];
        stream.read_exact(&mut received).await.unwrap();
        assert!(received == data, "the bytes read differ from those sent");
        let mut client = writer.await.unwrap();
        assert_eq!(
            read_frames(&mut client, 1).await,
            vec![(OPCODE_PONG, b"ping".to_vec())]
        );

        let reader = tokio::spawn(async move {
            let frames = read_frames(&mut client, 2).await;
            frames
                .into_iter()
                .flat_map(|(_, payload)| payload)
                .collect::<Vec<u8>>()
        });
        stream.write_all(&data).await.unwrap();
        stream.flush().await.unwrap();
        assert!(reader.await.unwrap() == data, "the client got other bytes");
    }

    #[test]
    fn a_client_that_does_not_read_holds_back_writes() {
        let (mut stream, _client) = pair(4096);
        let mut context = Context::from_waker(Waker::noop());
        let chunk = vec![7u8; 10_000];
        let mut accepted = 0;
        while let Poll::Ready(written) = Pin::new(&mut stream).poll_write(&mut context, &chunk) {
            accepted += written.unwrap();
            assert!(accepted < 10 * MAX_BUFFERED_OUTPUT, "writes never wait");
        }
        assert!(
            accepted <= MAX_BUFFERED_OUTPUT + MAX_SENT_PAYLOAD + 4096,
            "{accepted} bytes"
        );
    }

    #[tokio::test]
    async fn a_broken_frame_fails_the_read_and_closes_with_1002() {
        let (mut stream, mut client) = pair(1024);
        let mut text = client_frame(true, OPCODE_BINARY, b"ok", [1, 2, 3, 4]);
        text.extend_from_slice(&[0x82, 0x05, b'x']);
        client.write_all(&text).await.unwrap();
        let mut start = [0u8; 2];
        stream.read_exact(&mut start).await.unwrap();
        assert_eq!(&start, b"ok");
        let error = stream.read(&mut start).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("unmasked"), "{error}");
        let close = (OPCODE_CLOSE, CLOSE_PROTOCOL_ERROR.to_be_bytes().to_vec());
        assert_eq!(read_frames(&mut client, 1).await, vec![close]);
    }

    #[tokio::test]
    async fn shutdown_sends_a_close() {
        let (mut stream, mut client) = pair(1024);
        stream.shutdown().await.unwrap();
        let close = (OPCODE_CLOSE, CLOSE_NORMAL.to_be_bytes().to_vec());
        assert_eq!(read_frames(&mut client, 1).await, vec![close]);
        assert!(stream.write(b"late").await.is_err());
    }
}
