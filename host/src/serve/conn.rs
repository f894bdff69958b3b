//! One connection's life: admitted by the [`Registry`], its socket's send buffer
//! bounded, the TLS handshake under a deadline, then HTTP/1.1 with the phase
//! deadlines of [`Limits`] enforced by a watchdog, until the peer closes, a deadline
//! passes, the registry evicts it, or the server stops.
//!
//! ```text
//! accept ─► admit (maybe evicting an idle one) ─► SO_SNDBUF ─► TLS (handshake_timeout)
//!        ─► Idle ─first byte─► Reading ─head─► Handling ─answer─► Writing ─written─► Idle …
//!            idle_timeout        header_timeout                  write_timeout (no progress)
//!                                                                response_timeout (in all)
//!        every phase: max_lifetime (closed after the current request)
//! ```

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::limits::{ConnState, Limits, Phase, Ticket};

/// Kernel send buffer per connection: enough for a scrape in a few round trips, little
/// for a peer that never reads (the kernel doubles it for its own bookkeeping).
pub const SEND_BUFFER_BYTES: usize = 128 * 1024;
/// How often the watchdog looks at the deadlines.
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// Time a connection gets to finish its request once it is asked to close.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A stream that tells the connection's [`ConnState`] when request bytes arrive and
/// when writes stall.
pub struct Watched<S> {
    inner: S,
    state: Arc<ConnState>,
}

impl<S> Watched<S> {
    /// Watches `inner` for `state`.
    pub fn new(inner: S, state: Arc<ConnState>) -> Self {
        Watched { inner, state }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.advance(Phase::Idle, Phase::Reading);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.note(&result);
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note(&result);
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.note(&result);
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<S> Watched<S> {
    fn note<T>(&self, result: &Poll<io::Result<T>>) {
        match result {
            Poll::Pending => self.state.write_blocked(),
            Poll::Ready(_) => self.state.write_progressed(),
        }
    }
}

/// Bounds the socket's send buffer. Failure is harmless (the kernel default stays).
pub fn bound_send_buffer(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_send_buffer_size(SEND_BUFFER_BYTES);
}

/// Why a connection ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The peer or hyper closed it.
    Done,
    /// A deadline passed (named).
    Deadline(&'static str),
    /// The registry evicted it for a newer connection.
    Evicted,
    /// The server is stopping.
    Stopping,
}

/// What the watchdog says about a connection now.
pub fn overdue(state: &ConnState, limits: &Limits) -> Option<&'static str> {
    let in_phase = state.in_phase();
    match state.phase() {
        Phase::Idle if in_phase > limits.idle_timeout => Some("idle"),
        Phase::Reading if in_phase > limits.header_timeout => Some("header"),
        Phase::Writing if in_phase > limits.response_timeout => Some("response"),
        _ if state.write_stalled() > limits.write_timeout => Some("write"),
        _ => None,
    }
}

/// Drives `connection` (hyper's, with `graceful` to ask it to finish) under the
/// ticket's deadlines, eviction and the server's `stopping`.
pub async fn supervise<C>(
    connection: C,
    graceful: impl FnOnce(Pin<&mut C>),
    ticket: &Ticket,
    limits: &Limits,
    mut stopping: tokio::sync::watch::Receiver<bool>,
    peer: SocketAddr,
) -> Ended
where
    C: Future,
{
    let mut connection = std::pin::pin!(connection);
    let lifetime = tokio::time::sleep(limits.max_lifetime);
    let mut lifetime = std::pin::pin!(lifetime);
    let mut watch = tokio::time::interval(WATCH_EVERY);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let why = loop {
        tokio::select! {
            _ = connection.as_mut() => return Ended::Done,
            _ = ticket.evicted() => {
                tracing::debug!(%peer, "Connection evicted to make room for a newer one.");
                return Ended::Evicted;
            }
            _ = &mut lifetime => break Ended::Deadline("lifetime"),
            changed = stopping.changed() => {
                if changed.is_err() || *stopping.borrow() {
                    break Ended::Stopping;
                }
            }
            _ = watch.tick() => {
                if let Some(which) = overdue(&ticket.state, limits) {
                    tracing::debug!(%peer, deadline = which, "Connection closed: deadline passed.");
                    return Ended::Deadline(which);
                }
            }
        }
    };
    // Lifetime or shutdown: finish the request in flight (an idle connection closes at
    // once), within a grace period.
    graceful(connection.as_mut());
    let _ = tokio::time::timeout(CLOSE_GRACE, connection).await;
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_names_the_deadline() {
        let limits = Limits {
            idle_timeout: Duration::ZERO,
            header_timeout: Duration::ZERO,
            response_timeout: Duration::ZERO,
            write_timeout: Duration::from_secs(3600),
            ..Limits::default()
        };
        let registry = super::super::limits::Registry::new(limits);
        let ticket = registry.admit("127.0.0.1".parse().unwrap()).unwrap();
        let state = &ticket.state;
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(overdue(state, &limits), Some("idle"));
        state.set(Phase::Reading);
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(overdue(state, &limits), Some("header"));
        state.set(Phase::Handling);
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(overdue(state, &limits), None, "a request being answered has no deadline here");
        state.set(Phase::Writing);
        std::thread::sleep(Duration::from_millis(3));
        assert_eq!(overdue(state, &limits), Some("response"));
    }
}
