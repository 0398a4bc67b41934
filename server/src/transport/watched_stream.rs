//! An RFB viewer's stream that watches what the viewer says first: a browser that was too slow
//! for [`super::DETECT_WAIT`] sends an HTTP request where a viewer sends its version. Its
//! address is then remembered, so that its next try (a reload) is waited for long enough.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{Protocol, RecentBrowsers, detect};

#[derive(Debug)]
pub struct WatchedStream<S> {
    inner: S,
    /// Until the first bytes have come: who to tell, and about which address.
    watch: Option<(Arc<RecentBrowsers>, IpAddr)>,
}

impl<S> WatchedStream<S> {
    pub fn new(inner: S, recent_browsers: Arc<RecentBrowsers>, address: IpAddr) -> Self {
        WatchedStream {
            inner,
            watch: Some((recent_browsers, address)),
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WatchedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        let first = &buf.filled()[before..];
        if !first.is_empty()
            && let Some((recent_browsers, address)) = this.watch.take()
            && detect(first) == Some(Protocol::Http)
        {
            recent_browsers.note(address, Instant::now());
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WatchedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
