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
