//! Test helpers: a real upstream (the demo blog plus `/slow` and `/headers`), graft serving
//! it in-process on a real loopback socket, and the `graft` binary started as a process.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::routing::get;
use graft::app::{AppState, app};
use graft::config::Config;
use graft::server::{ServeOptions, serve};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// Extra fields over the demo graph, served by the same upstream.
pub const EXTRA_SDL: &str = r#"
type Query {
  "Answers after `ms` milliseconds."
  slow(ms: Int!): Slow @rest(source: "demo", path: "/slow/{{args.ms}}")
  "The headers the upstream received."
  seenHeaders: JSON @rest(source: "demo", path: "/headers")
  "The same, cached for a minute."
  cachedHeaders: JSON @rest(source: "demo", path: "/headers", cacheTtl: 60)
}
type Slow { ms: Int }
"#;

/// How many `/slow` calls the upstreams of this test process have received.
pub static SLOW_STARTED: AtomicUsize = AtomicUsize::new(0);

/// Waits (at most 20 s) until `/slow` has been called more than `before` times: the
/// request is then in flight inside graft.
pub async fn slow_call_started(before: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while SLOW_STARTED.load(Ordering::SeqCst) <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow upstream call never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The demo upstream plus `/slow/{ms}` and `/headers`, on an ephemeral port.
pub async fn upstream() -> SocketAddr {
    let extra = axum::Router::new()
        .route(
            "/slow/{ms}",
            get(|Path(ms): Path<u64>| async move {
                SLOW_STARTED.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(ms.min(20_000))).await;
                Json(json!({ "ms": ms }))
            }),
        )
        .route(
            "/headers",
            get(|headers: HeaderMap| async move {
                let seen: serde_json::Map<String, Value> = headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.as_str().to_owned(),
                            Value::String(v.to_str().unwrap_or("").to_owned()),
                        )
                    })
                    .collect();
                // Response headers for the pass-back allowlist test.
                (
                    [("cache-control", "max-age=7"), ("x-upstream-secret", "no")],
                    Json(Value::Object(seen)),
                )
            }),
        );
    let router = graft::commands::demo::upstream_app().merge(extra);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// The SDL files of the test graph for an upstream at `addr`.
pub fn schema_files(addr: SocketAddr) -> Vec<schema_gen::parse::SdlFile> {
    let mut files = graft::commands::demo::schema_files(addr).unwrap();
    files.push(schema_gen::parse::SdlFile::new("extra.graphql", EXTRA_SDL));
    files
}

/// A running in-process graft.
pub struct Graft {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    stop: Option<oneshot::Sender<()>>,
}

impl Graft {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn graphql(&self) -> String {
        self.url("/graphql")
    }
}

impl Drop for Graft {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts graft in-process with `config`, serving the test graph over a fresh upstream.
pub async fn start(config: Config) -> Graft {
    start_over(upstream().await, config).await
}

/// Starts graft in-process with `config`, serving the test graph over the upstream at
/// `upstream` (several grafts can share one, as replicas do).
pub async fn start_over(upstream: SocketAddr, config: Config) -> Graft {
    let checked = schema_gen::parse::parse_files(&schema_files(upstream));
    let catalog = checked
        .catalog
        .unwrap_or_else(|| panic!("test schema does not compile: {:?}", checked.diagnostics));
    let state = AppState::new(config);
    let loaded = graft::commands::serve::build(catalog, &state).unwrap();
    state.swap(loaded);
    start_with(state).await
}

/// Serves `state` (loaded or not) on a loopback port.
pub async fn start_with(state: Arc<AppState>) -> Graft {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let options = ServeOptions {
        header_read_timeout: state.config.timeouts.header_read(),
        write_timeout: state.config.timeouts.write(),
        drain: Duration::from_secs(2),
    };
    let router = app(Arc::clone(&state));
    tokio::spawn(async move {
        serve(listener, router, options, async {
            let _ = stopped.await;
        })
        .await
    });
    Graft {
        addr,
        state,
        stop: Some(stop),
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// A parsed response: status, content type, body.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Answer {
    pub async fn from(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            content_type,
            headers,
            body,
            text,
        }
    }

    /// `extensions.code` of the first error.
    pub fn code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
    }

    pub fn has_data(&self) -> bool {
        self.body.get("data").is_some()
    }
}

/// POSTs `body` (JSON) with `accept`.
pub async fn post(graft: &Graft, accept: Option<&str>, body: Value) -> Answer {
    let mut request = client()
        .post(graft.graphql())
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    Answer::from(request.send().await.unwrap()).await
}

pub const GQL: &str = "application/graphql-response+json";
pub const JSON: &str = "application/json";

/// The SHA-256 of `text` in lowercase hex, as clients of the persisted-query protocol send
/// it (computed here, not by graft's own code, which the tests check).
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
