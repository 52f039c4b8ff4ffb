//! The ceiling any hyper-based gateway can reach on the load kit: a bare hyper HTTP/1.1
//! server that answers every request with the same bytes (a captured Q1 or Q2 response),
//! doing no GraphQL work at all. What it measures is the kernel's socket cost plus hyper's
//! parse/encode, the floor under every number in docs/performance.md.
//!
//! ```sh
//! curl -s -XPOST 127.0.0.1:8000/graphql -H 'content-type: application/json' \
//!     -d '{"query":"{posts{id title}}"}' > /tmp/q1.json     # from a running graft
//! cargo run --release -p graft --example ceiling -- /tmp/q1.json --listen 127.0.0.1:8000
//! ```

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut file, mut listen) = (None, "127.0.0.1:8000".to_string());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?,
            other => file = Some(other.to_string()),
        }
    }
    let file = file.ok_or("usage: ceiling BODY.json [--listen ADDR]")?;
    let body = Bytes::from(std::fs::read(&file).map_err(|e| format!("{file}: {e}"))?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| format!("{listen}: {e}"))?;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let body = body.clone();
                    async move {
                        // Read the request body like a gateway must, then answer.
                        let _ = http_body_util::BodyExt::collect(request.into_body()).await;
                        let mut response = hyper::Response::new(Full::new(body));
                        response.headers_mut().insert(
                            http::header::CONTENT_TYPE,
                            http::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
