//! The HTTP/1.1 listener: connections served by hyper with header-read timeouts, and a
//! graceful shutdown that stops accepting, lets in-flight requests finish within a bounded
//! drain time, and then returns.
//!
//! hyper is driven directly (rather than `axum::serve`) because the protections against slow
//! clients are connection options: hyper's header-read timeout (slow or idle senders) and a
//! write timeout on the socket (clients that do not read their responses).
//!
//! A response goes out in one vectored write (hyper's head and the body), which
//! [`ClientSocket`] sends as one buffer when it is small. A connection is polled through
//! [`ConnectionWake`], which spares it a wake-up per POST (`connection_wake`).

use std::future::Future;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_io_timeout::TimeoutStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::connection_wake::ConnectionWake;
use crate::frame::Frame;
use crate::timer::HeaderTimer;

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// A client must send a request's headers within this time, or its connection closes.
    pub header_read_timeout: Duration,
    /// A write to a client may stall this long (a client that does not read its response);
    /// then the connection closes.
    pub write_timeout: Duration,
    /// After shutdown starts, in-flight requests get this long to finish.
    pub drain: Duration,
}

/// How a shutdown ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drained {
    /// Every connection finished.
    Clean,
    /// The drain time ran out with connections still open; they were dropped.
    TimedOut { open: usize },
}

/// Serves `app` on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Frame,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> Drained {
    let stopping = CancellationToken::new();
    let connections = TaskTracker::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(ClientSocket::new(stream));
        stream.set_write_timeout(Some(options.write_timeout));
        let service = TowerToHyperService::new(app.for_connection());
        // Built per connection for the connection's own header-read timer (`timer`).
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(HeaderTimer::default())
            .header_read_timeout(options.header_read_timeout)
            .keep_alive(true)
            .serve_connection(TokioIo::new(Box::pin(stream)), service)
            .with_upgrades();
        let stopping = stopping.clone();
        connections.spawn(serve_connection(connection, stopping, peer));
    }
    drop(listener);
    tracing::info!(
        open = connections.len(),
        drain_ms = options.drain.as_millis() as u64,
        "shutting down: draining connections"
    );
    stopping.cancel();
    connections.close();
    match tokio::time::timeout(options.drain, connections.wait()).await {
        Ok(()) => Drained::Clean,
        Err(_) => Drained::TimedOut {
            open: connections.len(),
        },
    }
}

/// A client's TCP stream whose small vectored writes go out as one buffer. hyper writes a
/// response as its head and its body in one vectored write, which tokio sends with `writev`;
/// for a small response that costs the kernel more than copying both into one buffer and
/// sending that (`cargo run --release -p graft --example write_paths`: 5.7–8.6 % less CPU
/// per write at 2 KiB, 3.7–5.6 % at 5.7 KiB, nothing measurable from 8 KiB on;
/// docs/performance.md).
pub struct ClientSocket(TcpStream);

impl ClientSocket {
    pub fn new(stream: TcpStream) -> Self {
        ClientSocket(stream)
    }

    pub fn into_inner(self) -> TcpStream {
        self.0
    }
}

/// Vectored writes up to this many bytes are flattened; larger ones gain nothing from it.
const FLATTEN_MAX: usize = 8 << 10;

thread_local! {
    /// The flattening buffer, one per thread (a write is synchronous, so never shared).
    static FLAT: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl AsyncRead for ClientSocket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientSocket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if bufs.len() < 2 || len > FLATTEN_MAX {
            return Pin::new(&mut self.0).poll_write_vectored(cx, bufs);
        }
        // A partial write reports how many bytes went out, as `writev` would.
        FLAT.with_borrow_mut(|flat| {
            flat.clear();
            bufs.iter().for_each(|b| flat.extend_from_slice(b));
            Pin::new(&mut self.0).poll_write(cx, flat)
        })
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

type Connection = hyper::server::conn::http1::UpgradeableConnection<
    TokioIo<Pin<Box<TimeoutStream<ClientSocket>>>>,
    TowerToHyperService<Frame>,
>;

async fn serve_connection(connection: Connection, stopping: CancellationToken, peer: SocketAddr) {
    tokio::pin!(connection);
    let wake = ConnectionWake::default();
    let mut cancelled = std::pin::pin!(stopping.cancelled());
    let mut registered = false;
    // The connection's task is polled several times per request. The shutdown's wake-up is
    // registered on the first poll only (a re-polled `Notified` takes its lock every time,
    // a measured share of a request); later polls read the flag, and the registered waker,
    // this task's, wakes them when it is set.
    let served = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = wake.poll(connection.as_mut(), cx) {
            return Poll::Ready(Some(result));
        }
        if stopping.is_cancelled() {
            return Poll::Ready(None);
        }
        if !registered {
            registered = true;
            if cancelled.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
        }
        Poll::Pending
    })
    .await;
    let result = match served {
        Some(result) => result,
        None => {
            // Finish the request in progress (if any), then close instead of keeping alive.
            connection.as_mut().graceful_shutdown();
            std::future::poll_fn(|cx| wake.poll(connection.as_mut(), cx)).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl+C).
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received"),
        () = terminate => tracing::info!("SIGTERM received"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::Router;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Sends `slices` through a `ClientSocket` in vectored writes (`write_all_buf` writes a
    /// chain of buffers as hyper does, advancing past partial writes) while the peer reads
    /// slowly; returns what the peer read.
    async fn sent_through_client_socket(slices: Vec<Vec<u8>>) -> Vec<u8> {
        use bytes::Buf;

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap());
        let ((server, _), mut peer) = tokio::try_join!(listener.accept(), peer).unwrap();
        let reader = tokio::spawn(async move {
            let (mut read, mut chunk) = (Vec::new(), vec![0u8; 4096]);
            loop {
                let n = peer.read(&mut chunk).await.unwrap();
                if n == 0 {
                    return read;
                }
                read.extend_from_slice(&chunk[..n]);
                tokio::time::sleep(Duration::from_micros(50)).await;
            }
        });
        let mut socket = ClientSocket(server);
        let mut chain: Box<dyn Buf + Send> = Box::new(&[][..]);
        for slice in &slices {
            chain = Box::new(chain.chain(&slice[..]));
        }
        socket.write_all_buf(&mut chain).await.unwrap();
        socket.shutdown().await.unwrap();
        drop(socket);
        reader.await.unwrap()
    }

    #[tokio::test]
    async fn client_socket_writes_small_and_large_vectored_writes_whole_and_in_order() {
        let pattern = |len: usize, seed: u8| -> Vec<u8> {
            (0..len)
                .map(|i| (i as u8).wrapping_mul(31) ^ seed)
                .collect()
        };
        // A response's head and body under the flattening bound, at it, and far above it (the
        // socket's buffer fills, so writes are partial and wait for room).
        for slices in [
            vec![pattern(160, 1), pattern(5_700, 2)],
            vec![pattern(100, 3), pattern(FLATTEN_MAX - 100, 4)],
            vec![pattern(200, 5), pattern(3 << 20, 6), pattern(70_000, 7)],
        ] {
            let expected = slices.concat();
            let read = sent_through_client_socket(slices).await;
            assert_eq!(read.len(), expected.len());
            assert!(
                read == expected,
                "the bytes arrived changed or out of order"
            );
        }
    }

    #[tokio::test]
    async fn a_shutdown_closes_idle_keep_alive_connections_at_once() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Frame::new(
            Router::new().route("/", get(|| async { "ok" })),
            None,
            false,
        );
        let options = ServeOptions {
            header_read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            drain: Duration::from_secs(30),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, app, options, async {
            let _ = stopped.await;
        }));
        // One request answered on a keep-alive connection, which then sits idle: its task
        // is woken only by the shutdown.
        let mut client = TcpStream::connect(addr).await.unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: graft\r\n\r\n")
            .await
            .unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.ends_with(b"ok") {
            let n = client.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before answering");
            answer.extend_from_slice(&buf[..n]);
        }
        let signalled = Instant::now();
        stop.send(()).unwrap();
        let drained = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the idle connection held the drain open")
            .unwrap();
        assert_eq!(drained, Drained::Clean);
        assert!(signalled.elapsed() < Duration::from_secs(2));
        assert_eq!(client.read(&mut buf).await.unwrap(), 0, "left open");
    }
}
