//! The upstream HTTP client (`upstream::client`) against a scripted HTTP/1.1 server on
//! 127.0.0.1 that counts its connections: kept-alive connections are reused, connections a
//! server closed are not, a request cut off on a reused connection is sent again only when
//! that is safe, oversized answers are refused, and a connect that never completes is given
//! up after the connect timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use engine::ErrorKind;
use engine::upstream::client::{HttpClient, Outgoing, client};
use http::{HeaderMap, Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server whose answer depends on the path and on how many requests its connection carried:
/// - `/echo`: the request's head, as the body;
/// - `/close-after`: an answer, then, 30 ms later, the socket closed (without
///   `Connection: close`);
/// - `/drop-second`: the first request of a connection is answered, later ones are cut off;
/// - `/chunked`: a chunked answer;
/// - `/big`: 4 KiB;
/// - `/close-header`: an answer with `Connection: close`, then the socket closed;
/// - `/http10`: an HTTP/1.0 answer without a length, ended by closing the socket;
/// - `/no-content`: 204.
struct Server {
    base: String,
    connections: Arc<AtomicUsize>,
}

async fn serve() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buffer = Vec::new();
                for served in 0.. {
                    let Some(head) = read_request(&mut socket, &mut buffer).await else {
                        return;
                    };
                    let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
                    let answer = match path.as_str() {
                        "/echo" => ok(&head),
                        "/close-after" => {
                            let _ = socket.write_all(ok("closing").as_bytes()).await;
                            // Later, while the client holds the connection idle.
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            return;
                        }
                        "/drop-second" if served > 0 => return,
                        "/drop-second" => ok("first"),
                        "/chunked" => "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                            5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
                            .to_string(),
                        "/big" => ok(&"x".repeat(4096)),
                        "/close-header" => {
                            let answer = "HTTP/1.1 200 OK\r\nconnection: close\r\n\
                                content-length: 3\r\n\r\nbye";
                            let _ = socket.write_all(answer.as_bytes()).await;
                            return;
                        }
                        "/http10" => {
                            // HTTP/1.0, no length: the body ends where the connection does.
                            let answer = "HTTP/1.0 200 OK\r\n\r\nold style";
                            let _ = socket.write_all(answer.as_bytes()).await;
                            return;
                        }
                        "/no-content" => "HTTP/1.1 204 No Content\r\n\r\n".to_string(),
                        _ => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".to_string(),
                    };
                    if socket.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Server { base, connections }
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The next request's head (its body, if any, is read and dropped); `None` at end of stream.
async fn read_request(socket: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_string();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            while buffer.len() < end + 4 + length {
                let mut chunk = [0u8; 4096];
                let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
                buffer.extend_from_slice(&chunk[..n]);
            }
            buffer.drain(..end + 4 + length);
            return Some(head);
        }
        let mut chunk = [0u8; 4096];
        let n = socket.read(&mut chunk).await.ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    }
}

async fn send(
    client: &HttpClient,
    method: Method,
    url: &str,
    limit: usize,
) -> Result<(StatusCode, String), engine::upstream::client::SendError> {
    let url = url::Url::parse(url).unwrap();
    let out = Outgoing {
        method,
        url: &url,
        headers: HeaderMap::new(),
        body: Bytes::from_static(b"{}"),
    };
    let answer = client.send(out, limit).await?;
    Ok((
        answer.status,
        String::from_utf8(answer.body.to_vec()).unwrap(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_turn_and_at_once_reuse_kept_alive_connections() {
    let server = serve().await;
    let client = client().unwrap();
    let echo = format!("{}/echo", server.base);
    for _ in 0..20 {
        let (status, head) = send(&client, Method::GET, &echo, 1 << 20).await.unwrap();
        assert_eq!(status, StatusCode::OK);
        let host = server.base.trim_start_matches("http://");
        assert!(head.starts_with("GET /echo HTTP/1.1"), "{head}");
        assert!(
            head.to_ascii_lowercase().contains(&format!("host: {host}")),
            "{head}"
        );
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);

    // In tasks of their own, on two worker threads.
    let at_once = (0..30).map(|_| {
        let (client, echo) = (client.clone(), echo.clone());
        tokio::spawn(async move { send(&client, Method::GET, &echo, 1 << 20).await })
    });
    for answer in futures::future::join_all(at_once).await {
        assert_eq!(answer.unwrap().unwrap().0, StatusCode::OK);
    }
    let opened = server.connections.load(Ordering::SeqCst);
    assert!(
        (2..=30).contains(&opened),
        "{opened} connections for 30 concurrent calls"
    );
    for _ in 0..5 {
        send(&client, Method::GET, &echo, 1 << 20).await.unwrap();
    }
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        opened,
        "idle ones are reused"
    );
}

#[tokio::test]
async fn a_connection_the_server_closed_while_idle_is_not_reused() {
    let server = serve().await;
    let client = client().unwrap();
    let (_, body) = send(
        &client,
        Method::GET,
        &format!("{}/close-after", server.base),
        1 << 20,
    )
    .await
    .unwrap();
    assert_eq!(body, "closing");
    tokio::time::sleep(Duration::from_millis(150)).await;
    // A POST, which is never sent twice: it must not be tried on the dead connection.
    let (status, _) = send(
        &client,
        Method::POST,
        &format!("{}/echo", server.base),
        1 << 20,
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_request_cut_off_on_a_reused_connection_is_sent_again_only_when_idempotent() {
    let server = serve().await;
    let client = client().unwrap();
    let url = format!("{}/drop-second", server.base);
    // The second GET rides the kept-alive connection, which the server cuts: it is sent
    // again on a fresh connection and answered there.
    for _ in 0..2 {
        let (_, body) = send(&client, Method::GET, &url, 1 << 20).await.unwrap();
        assert_eq!(body, "first");
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);

    // Now the fresh connection has carried one request: a POST on it is cut off too, but it
    // may have been acted on, so it is not sent again and the caller gets the failure.
    let error = send(&client, Method::POST, &url, 1 << 20)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Transport, "{error:?}");
    assert_eq!(error.status, None);
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn chunked_answers_are_read_whole_and_oversized_ones_are_refused() {
    let server = serve().await;
    let client = client().unwrap();
    let (_, body) = send(
        &client,
        Method::GET,
        &format!("{}/chunked", server.base),
        1 << 20,
    )
    .await
    .unwrap();
    assert_eq!(body, "hello world");

    let error = send(&client, Method::GET, &format!("{}/big", server.base), 1024)
        .await
        .unwrap_err();
    assert_eq!(error.kind, ErrorKind::ResponseTooLarge);
    assert_eq!(error.status, Some(200));
    // The refused answer was not drained: its connection is closed, the next call opens one.
    let before = server.connections.load(Ordering::SeqCst);
    send(
        &client,
        Method::GET,
        &format!("{}/echo", server.base),
        1 << 20,
    )
    .await
    .unwrap();
    assert_eq!(server.connections.load(Ordering::SeqCst), before + 1);
}

/// The error of a GET to `addr`, which must be `Unreachable`.
async fn unreachable(addr: std::net::SocketAddr) -> engine::upstream::client::SendError {
    let error = send(
        &client().unwrap(),
        Method::GET,
        &format!("http://{addr}/"),
        1024,
    )
    .await
    .unwrap_err();
    assert_eq!(error.kind, ErrorKind::Unreachable, "{error:?}");
    error
}

#[tokio::test]
async fn a_closed_port_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = unreachable(addr).await;
    assert!(error.detail.contains(&addr.to_string()), "{}", error.detail);
}

#[tokio::test]
async fn answers_ended_by_a_close_are_read_whole_and_their_connections_not_reused() {
    let server = serve().await;
    let client = client().unwrap();
    let get = |path: &str| {
        let url = format!("{}{path}", server.base);
        let client = &client;
        async move { send(client, Method::GET, &url, 1024).await }
    };
    assert_eq!(get("/close-header").await.unwrap().1, "bye");
    assert_eq!(get("/http10").await.unwrap().1, "old style");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
    let (status, body) = get("/no-content").await.unwrap();
    assert_eq!((status, body.as_str()), (StatusCode::NO_CONTENT, ""));
    assert_eq!(get("/echo").await.unwrap().0, StatusCode::OK);
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        3,
        "a 204 keeps its connection alive for the next call"
    );
}

/// A server that never accepts, with a full accept queue: the kernel drops further SYNs,
/// so a connect neither succeeds nor fails. The client gives up after its connect timeout
/// (10 s, passed at once on tokio's paused clock).
#[tokio::test]
async fn a_connect_that_never_completes_is_given_up_after_the_connect_timeout() {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    // Fill the accept queue: connects complete until it is full, then hang.
    let mut queued = Vec::new();
    while let Ok(connected) = tokio::time::timeout(
        Duration::from_millis(300),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    {
        queued.push(connected.expect("the kernel refused a connect instead of dropping its SYN"));
        assert!(queued.len() < 64, "the accept queue never filled");
    }
    tokio::time::pause();
    let started = tokio::time::Instant::now();
    let error = unreachable(addr).await;
    assert!(
        error.detail.contains("timed out after 10 s"),
        "{}",
        error.detail
    );
    assert_eq!(started.elapsed().as_secs(), 10);
    drop(listener);
}
