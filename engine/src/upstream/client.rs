//! The one HTTP client of upstream calls and spec fetches: plain-HTTP/1.1 connections pooled
//! and driven by the task that awaits the answer; HTTPS, and every target while a proxy is
//! configured, through reqwest (rustls, system proxies).
//!
//! Why plain HTTP does not go through reqwest: a pooled reqwest (hyper-util) connection runs
//! in a task of its own, so a request handed to it leaves only when the scheduler reaches
//! that task, behind every client connection that is ready at that moment. Under load
//! that is one queue of waiting per upstream call; the in-cluster services a gateway fronts
//! speak plain HTTP, and driving their connection from the awaiting task sends at once
//! (docs/performance.md measures the difference).

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{ACCEPT, HOST};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use http_body_util::Full;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::{BodyError, read_limited};
use crate::error::ErrorKind;

/// Idle connections older than this are closed rather than reused. Servers close theirs
/// sooner or later (Node.js after 5 s, nginx after 75 s); one the server already closed is
/// caught by the check before each reuse. Every host's idle connections are also expired
/// this often, so those of a host no longer called (an upstream that discovery removed) are
/// closed too.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Idle connections kept per host; more are closed when they come back.
const MAX_IDLE_PER_HOST: usize = 256;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One request to send.
pub struct Outgoing<'a> {
    pub method: Method,
    pub url: &'a url::Url,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl<'a> Outgoing<'a> {
    /// A GET of `url` without headers.
    pub fn get(url: &'a url::Url) -> Self {
        Outgoing {
            method: Method::GET,
            url,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        }
    }
}

/// One answer, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why an exchange failed: `kind` is `Timeout`, `Unreachable`, `Transport` or
/// `ResponseTooLarge`; `detail` says why, with its causes; `status` is known when the answer's
/// head arrived.
#[derive(Debug, Clone)]
pub struct SendError {
    pub kind: ErrorKind,
    pub detail: String,
    pub status: Option<u16>,
}

impl SendError {
    fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        SendError {
            kind,
            detail: detail.into(),
            status: None,
        }
    }
}

/// The process-wide client: connections are shared by every field and survive reloads.
#[derive(Clone)]
pub struct HttpClient {
    tls: reqwest::Client,
    /// `None` while a proxy is configured: reqwest then applies it (and `NO_PROXY`) to
    /// plain-HTTP targets too.
    plain: Option<Arc<Pool>>,
}

static CLIENT: OnceLock<HttpClient> = OnceLock::new();

/// The shared client.
pub fn client() -> Result<HttpClient, String> {
    if let Some(client) = CLIENT.get() {
        return Ok(client.clone());
    }
    let tls = reqwest::Client::builder()
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot create the HTTP client: {e}"))?;
    let proxied = ["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    let built = HttpClient {
        tls,
        plain: (!proxied).then(|| Arc::new(Pool::new(IDLE_TIMEOUT))),
    };
    Ok(CLIENT.get_or_init(|| built).clone())
}

impl HttpClient {
    /// Sends one request and reads its whole answer, refusing answers over `limit` bytes.
    pub async fn send(&self, out: Outgoing<'_>, limit: usize) -> Result<Answer, SendError> {
        match &self.plain {
            Some(pool) if out.url.scheme() == "http" => pool.send(out, limit).await,
            _ => self.send_reqwest(out, limit).await,
        }
    }

    async fn send_reqwest(&self, out: Outgoing<'_>, limit: usize) -> Result<Answer, SendError> {
        let Outgoing {
            method,
            url,
            headers,
            body,
        } = out;
        let mut request = self.tls.request(method, url.clone()).headers(headers);
        if !body.is_empty() {
            request = request.body(body);
        }
        let response = request.send().await.map_err(|e| reqwest_error(&e))?;
        let (head, body) = http::Response::from(response).into_parts();
        let body = read_limited(body, limit).await.map_err(|e| match e {
            BodyError::TooLarge => too_large(limit, head.status),
            BodyError::Read(e) => SendError {
                status: Some(head.status.as_u16()),
                ..reqwest_error(&e)
            },
        })?;
        Ok(Answer {
            status: head.status,
            headers: head.headers,
            body,
        })
    }
}

fn reqwest_error(e: &reqwest::Error) -> SendError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() {
        ErrorKind::Unreachable
    } else {
        ErrorKind::Transport
    };
    SendError::new(kind, error_chain(e))
}

fn too_large(limit: usize, status: StatusCode) -> SendError {
    SendError {
        status: Some(status.as_u16()),
        ..SendError::new(
            ErrorKind::ResponseTooLarge,
            format!("the answer is larger than {limit} bytes"),
        )
    }
}

/// An error with its causes, so "error sending request" says why (a cause whose text the
/// message already holds is not repeated).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(inner) = cause {
        let next = inner.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = inner.source();
    }
    text
}

/// Idle plain-HTTP/1.1 connections by `host:port`.
struct Pool {
    idle: Mutex<IdleConns>,
    idle_timeout: Duration,
}

struct IdleConns {
    by_host: HashMap<String, Vec<Idle>>,
    swept: Instant,
}

struct Idle {
    conn: Conn,
    since: Instant,
}

/// One HTTP/1.1 connection: the handle requests are sent through, and the state machine
/// that reads and writes the socket, polled by whoever awaits an answer on it.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    /// `None` once the connection has ended; dropping it resolves whatever waited on it.
    driver: Option<Connection<TokioIo<TcpStream>, Full<Bytes>>>,
}

impl Conn {
    /// Polls the connection (so it writes and reads), then `inner`.
    fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        inner: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        if let Some(driver) = &mut self.driver
            && Pin::new(driver).poll(cx).is_ready()
        {
            self.driver = None;
        }
        inner(cx)
    }

    /// Whether the connection can carry another request now.
    fn reusable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        // One poll notices a close the server sent meanwhile, and readies the handle.
        let _ = self.poll_with(&mut cx, |_| Poll::Ready(()));
        self.driver.is_some() && self.sender.is_ready()
    }
}

/// An answer's body read through its connection: each poll for a frame first drives the
/// connection, which is what reads the socket (no task of its own does).
struct Driven<'c> {
    conn: &'c mut Conn,
    body: Incoming,
}

impl hyper::body::Body for Driven<'_> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let body = &mut this.body;
        this.conn
            .poll_with(cx, |cx| Pin::new(&mut *body).poll_frame(cx))
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// How an exchange on one connection failed; `answered` once the answer's head arrived
/// (the request then certainly reached the server, so it is never sent again).
struct Failed {
    error: SendError,
    answered: bool,
}

impl Pool {
    fn new(idle_timeout: Duration) -> Self {
        Pool {
            idle: Mutex::new(IdleConns {
                by_host: HashMap::new(),
                swept: Instant::now(),
            }),
            idle_timeout,
        }
    }

    async fn send(&self, out: Outgoing<'_>, limit: usize) -> Result<Answer, SendError> {
        let Outgoing {
            method,
            url,
            mut headers,
            body,
        } = out;
        let host = url.host_str().ok_or_else(|| {
            SendError::new(ErrorKind::Unreachable, format!("`{url}` has no host"))
        })?;
        let port = url.port_or_known_default().unwrap_or(80);
        let authority = format!("{host}:{port}");
        if !headers.contains_key(HOST) {
            let host_header = match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            };
            let value = HeaderValue::from_str(&host_header)
                .map_err(|e| SendError::new(ErrorKind::Transport, e.to_string()))?;
            headers.insert(HOST, value);
        }
        headers
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        let target = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        };
        let request = || {
            let mut request = http::Request::new(Full::new(body.clone()));
            *request.method_mut() = method.clone();
            *request.headers_mut() = headers.clone();
            *request.uri_mut() = target.parse().map_err(|e: http::uri::InvalidUri| {
                SendError::new(ErrorKind::Transport, e.to_string())
            })?;
            Ok::<_, SendError>(request)
        };
        if let Some(conn) = self.checkout(&authority) {
            match self.exchange(&authority, conn, request()?, limit).await {
                Ok(answer) => return Ok(answer),
                // A kept-alive connection the server closed while the request was on its
                // way: the request did not reach the server, so a fresh connection may
                // carry it again, as browsers and HTTP clients do for idempotent methods.
                Err(failed) if !failed.answered && method.is_idempotent() => {}
                Err(failed) => return Err(failed.error),
            }
        }
        let conn = connect(host, port).await?;
        self.exchange(&authority, conn, request()?, limit)
            .await
            .map_err(|failed| failed.error)
    }

    fn checkout(&self, authority: &str) -> Option<Conn> {
        loop {
            let Idle { mut conn, since } = {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                idle.by_host.get_mut(authority)?.pop()?
            };
            // Checked outside the lock: the poll may read the socket.
            if since.elapsed() < self.idle_timeout && conn.reusable() {
                return Some(conn);
            }
        }
    }

    fn checkin(&self, authority: &str, mut conn: Conn) {
        if !conn.reusable() {
            return;
        }
        let mut expired = Vec::new();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.swept.elapsed() >= self.idle_timeout {
            idle.swept = Instant::now();
            for list in idle.by_host.values_mut() {
                let (fresh, old) = std::mem::take(list)
                    .into_iter()
                    .partition(|idle| idle.since.elapsed() < self.idle_timeout);
                *list = fresh;
                expired.push(old);
            }
            idle.by_host.retain(|_, list| !list.is_empty());
        }
        let list = idle.by_host.entry(authority.to_string()).or_default();
        if list.len() < MAX_IDLE_PER_HOST {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
        // The expired connections close (a syscall each) after the lock is released.
        drop(idle);
        drop(expired);
    }

    /// Sends one request on `conn`, reads the whole answer, and returns the connection to
    /// the pool when it can carry another.
    async fn exchange(
        &self,
        authority: &str,
        mut conn: Conn,
        request: http::Request<Full<Bytes>>,
        limit: usize,
    ) -> Result<Answer, Failed> {
        let failed = |e: hyper::Error, answered: bool| Failed {
            error: SendError::new(ErrorKind::Transport, error_chain(&e)),
            answered,
        };
        let mut answer = std::pin::pin!(conn.sender.send_request(request));
        let response = poll_fn(|cx| conn.poll_with(cx, |cx| answer.as_mut().poll(cx)))
            .await
            .map_err(|e| failed(e, false))?;
        let (head, incoming) = response.into_parts();
        let driven = Driven {
            conn: &mut conn,
            body: incoming,
        };
        let body = read_limited(driven, limit).await.map_err(|e| Failed {
            error: match e {
                BodyError::TooLarge => too_large(limit, head.status),
                BodyError::Read(e) => SendError {
                    status: Some(head.status.as_u16()),
                    ..failed(e, true).error
                },
            },
            answered: true,
        })?;
        self.checkin(authority, conn);
        Ok(Answer {
            status: head.status,
            headers: head.headers,
            body,
        })
    }
}

/// Opens a connection (and its HTTP/1.1 handshake) within the connect timeout.
async fn connect(host: &str, port: u16) -> Result<Conn, SendError> {
    let unreachable = |detail: String| SendError::new(ErrorKind::Unreachable, detail);
    // `host_str` spells an IPv6 address in brackets; the resolver wants it bare.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
        .await
        .map_err(|_| {
            unreachable(format!(
                "connecting to {host}:{port} timed out after {} s",
                CONNECT_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| unreachable(format!("cannot connect to {host}:{port}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
    Ok(Conn {
        sender,
        driver: Some(driver),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keep-alive HTTP/1.1 server answering every request with `ok`.
    async fn server() -> url::Url {
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        url::Url::parse(&url).unwrap()
    }

    async fn get(pool: &Pool, url: &url::Url) -> Answer {
        pool.send(Outgoing::get(url), 1024).await.unwrap()
    }

    #[tokio::test]
    async fn idle_connections_of_a_host_no_longer_called_are_closed() {
        let pool = Pool::new(Duration::from_millis(100));
        let (first, second) = (server().await, server().await);
        assert_eq!(get(&pool, &first).await.body, &b"ok"[..]);
        let hosts = |pool: &Pool| -> Vec<String> {
            let idle = pool.idle.lock().unwrap();
            let mut hosts: Vec<String> = idle.by_host.keys().cloned().collect();
            hosts.sort();
            hosts
        };
        let authority = |url: &url::Url| format!("127.0.0.1:{}", url.port().unwrap());
        assert_eq!(hosts(&pool), vec![authority(&first)]);

        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(get(&pool, &second).await.body, &b"ok"[..]);
        assert_eq!(
            hosts(&pool),
            vec![authority(&second)],
            "the first host's connection is closed"
        );
    }
}
