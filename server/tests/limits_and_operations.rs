//! Limits, request ids, operations endpoints and the explorer switch, over real sockets.

mod common;

use std::time::{Duration, Instant};

use common::{Answer, GQL, client, post, start, start_with};
use graft::app::{AppState, app};
use graft::config::Config;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

fn config(yaml: &str) -> Config {
    Config::from_yaml(yaml).unwrap()
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413_and_the_server_stays_up() {
    let graft = start(config("limits:\n  max_body_bytes: 1024\n")).await;
    let padding = "x".repeat(4096);
    let declared = post(
        &graft,
        Some(GQL),
        json!({ "query": "{ __typename }", "padding": padding }),
    )
    .await;
    assert_eq!(declared.status, 413);
    assert_eq!(declared.code(), "PAYLOAD_TOO_LARGE");
    assert!(!declared.has_data());
    // Streamed without a Content-Length: cut off while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..64).map(|_| Ok(vec![b' '; 256])).collect();
    let streamed = client()
        .post(graft.graphql())
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    if let Ok(response) = streamed {
        assert_eq!(response.status(), 413);
    }
    let after = post(&graft, Some(GQL), json!({ "query": "{ __typename }" })).await;
    assert_eq!(after.status, 200);
}

/// A body sent in several chunks (no Content-Length) is read whole, and the limit counts
/// all of them.
#[tokio::test]
async fn a_body_in_several_chunks_is_read_whole_within_the_limit() {
    let graft = start(config("limits:\n  max_body_bytes: 1024\n")).await;
    let chunked = |parts: Vec<String>| {
        let stream = futures::stream::unfold(parts.into_iter(), |mut parts| async move {
            let part = parts.next()?;
            // Apart in time, so the server sees them as separate frames.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            Some((Ok::<_, std::io::Error>(part.into_bytes()), parts))
        });
        client()
            .post(graft.graphql())
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(stream))
            .send()
    };
    // 838 bytes in three chunks, the first of them more than half.
    let parts = vec![
        format!(
            "{{\"query\": \"{{ __typename }}\", \"pad\": \"{}",
            "x".repeat(400)
        ),
        "x".repeat(400),
        "\"}".to_string(),
    ];
    let response = chunked(parts).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["data"]["__typename"], "Query", "{body}");
    // Each chunk under the limit, together over it.
    let mut parts = vec!["{\"query\": \"{ __typename }\", \"pad\": \"".to_string()];
    parts.extend((0..3).map(|_| "x".repeat(400)));
    parts.push("\"}".to_string());
    let response = chunked(parts).await.unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn a_huge_body_is_refused_with_the_default_limit() {
    let graft = start(Config::default()).await;
    let huge = format!("{{\"query\": \"{}\"}}", "a".repeat(10 * 1024 * 1024));
    let response = client()
        .post(graft.graphql())
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await;
    // The server may close the connection while the client is still sending; when the
    // answer arrives, it is 413.
    if let Ok(response) = response {
        assert_eq!(response.status(), 413);
    }
    assert_eq!(
        post(&graft, Some(GQL), json!({ "query": "{ __typename }" }))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_request_over_the_timeout_gets_request_timeout_and_the_server_stays_up() {
    let graft = start(config("timeouts:\n  request_ms: 400\n")).await;
    let started = Instant::now();
    let answer = post(
        &graft,
        Some(GQL),
        json!({ "query": "{ slow(ms: 5000) { ms } }" }),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answer.status, 504, "{}", answer.text);
    assert_eq!(answer.code(), "REQUEST_TIMEOUT");
    assert!(!answer.has_data());
    let fast = post(
        &graft,
        Some(GQL),
        json!({ "query": "{ slow(ms: 1) { ms } }" }),
    )
    .await;
    assert_eq!(fast.body["data"]["slow"]["ms"], 1, "{}", fast.text);
}

/// One kept-alive HTTP/1.1 connection to graft, through hyper's client.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    /// Completes when the server closes the connection.
    closed: tokio::task::JoinHandle<()>,
}

impl Connection {
    async fn open(graft: &common::Graft) -> Self {
        let stream = tokio::net::TcpStream::connect(graft.addr).await.unwrap();
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        let closed = tokio::spawn(async move {
            let _ = connection.await;
        });
        Connection { sender, closed }
    }

    /// POSTs `query` to /graphql on this connection: the status and body.
    async fn exchange(&mut self, query: &str) -> (u16, String) {
        use http_body_util::BodyExt;
        let request = http::Request::post("/graphql")
            .header("host", "graft")
            .header("content-type", "application/json")
            .body(json!({ "query": query }).to_string().into())
            .unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

/// The requests of a connection share one timer for their deadlines: each still gets the
/// whole timeout, whether the request before it finished early or timed out.
#[tokio::test]
async fn each_request_on_a_kept_alive_connection_gets_its_own_whole_timeout() {
    let graft = start(config("timeouts:\n  request_ms: 400\n")).await;
    let mut connection = Connection::open(&graft).await;
    for round in 0..2 {
        // Within the timeout, near its end: a deadline left over from the request before
        // would cut it off.
        let started = Instant::now();
        let (status, body) = connection.exchange("{ slow(ms: 250) { ms } }").await;
        assert_eq!(status, 200, "round {round}: {body}");
        assert!(body.contains("\"ms\":250"), "{body}");
        assert!(started.elapsed() >= Duration::from_millis(250));
        let started = Instant::now();
        let (status, body) = connection.exchange("{ slow(ms: 5000) { ms } }").await;
        let waited = started.elapsed();
        assert_eq!(status, 504, "round {round}: {body}");
        assert!(body.contains("REQUEST_TIMEOUT"), "{body}");
        assert!(
            waited >= Duration::from_millis(400) && waited < Duration::from_secs(3),
            "round {round}: timed out after {waited:?}"
        );
    }
}

#[tokio::test]
async fn a_client_that_stalls_while_sending_its_body_gets_request_timeout() {
    let graft = start(config("timeouts:\n  request_ms: 400\n")).await;
    let mut socket = tokio::net::TcpStream::connect(graft.addr).await.unwrap();
    socket
        .write_all(b"POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"query\":")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept a stalled connection open");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let graft = start(config("timeouts:\n  header_read_ms: 300\n")).await;
    let mut socket = tokio::net::TcpStream::connect(graft.addr).await.unwrap();
    socket
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the server kept a connection with unfinished headers open"
    );
}

/// The header reads of a connection share one timer: each gets the whole timeout from when
/// it starts, so a connection used more often than that stays open, and one left idle
/// after its last request is closed a timeout later.
#[tokio::test]
async fn each_header_read_on_a_kept_alive_connection_gets_its_own_whole_timeout() {
    let graft = start(config("timeouts:\n  header_read_ms: 300\n")).await;
    let mut connection = Connection::open(&graft).await;
    for _ in 0..4 {
        let (status, body) = connection.exchange("{ __typename }").await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = connection.exchange("{ __typename }").await;
    assert_eq!(status, 200, "{body}");
    let idle = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(5), connection.closed).await;
    assert!(closed.is_ok(), "the server kept an idle connection open");
    let closed_after = idle.elapsed();
    assert!(
        closed_after >= Duration::from_millis(250) && closed_after < Duration::from_secs(3),
        "closed {closed_after:?} after the last answer"
    );
}

#[tokio::test]
async fn an_idle_connection_that_sends_nothing_is_disconnected() {
    let graft = start(config("timeouts:\n  header_read_ms: 300\n")).await;
    let mut socket = tokio::net::TcpStream::connect(graft.addr).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept a silent connection open");
}

fn nested(depth: usize) -> String {
    // posts { author { posts { author { ... id } } } }
    let mut query = String::from("id");
    for level in (1..=depth).rev() {
        let field = if level % 2 == 1 { "author" } else { "posts" };
        query = format!("{field} {{ {query} }}");
    }
    format!("{{ posts {{ {query} }} }}")
}

#[tokio::test]
async fn a_query_deeper_than_the_limit_is_refused_without_data() {
    let graft = start(config("limits:\n  max_depth: 5\n")).await;
    let answer = post(&graft, Some(GQL), json!({ "query": nested(12) })).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(!answer.has_data());
    assert!(!answer.code().is_empty(), "no stable code: {}", answer.text);
    let shallow = post(&graft, Some(GQL), json!({ "query": nested(2) })).await;
    assert_eq!(shallow.status, 200, "{}", shallow.text);
}

#[tokio::test]
async fn a_deep_introspection_query_is_refused_too() {
    let graft = start(config("limits:\n  max_depth: 5\n")).await;
    let query =
        "{ __schema { types { fields { type { ofType { ofType { ofType { name } } } } } } } }";
    let answer = post(&graft, Some(GQL), json!({ "query": query })).await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(!answer.has_data());
}

#[tokio::test]
async fn an_enormously_aliased_query_is_refused_without_data() {
    let graft = start(config("limits:\n  max_aliases: 10\n")).await;
    let aliases: String = (0..5000).map(|i| format!("a{i}: __typename ")).collect();
    let answer = post(
        &graft,
        Some(GQL),
        json!({ "query": format!("{{ {aliases} }}") }),
    )
    .await;
    assert_eq!(
        answer.status,
        400,
        "{}",
        &answer.text[..answer.text.len().min(500)]
    );
    assert!(!answer.has_data());
}

#[tokio::test]
async fn a_query_over_the_complexity_limit_is_refused_without_data() {
    let graft = start(config("limits:\n  max_complexity: 3\n")).await;
    let answer = post(
        &graft,
        Some(GQL),
        json!({ "query": "{ posts { id title body userId } }" }),
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert!(!answer.has_data());
}

#[tokio::test]
async fn upstream_calls_over_the_limit_are_errors() {
    let graft = start(config("limits:\n  max_upstream_calls: 2\n")).await;
    let query = "{ a: user(id: 1) { name } b: user(id: 2) { name } c: user(id: 3) { name } }";
    let answer = post(&graft, Some(GQL), json!({ "query": query })).await;
    assert!(
        answer.body["errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn the_request_id_is_honoured_echoed_and_sent_upstream() {
    let graft = start(Config::default()).await;
    let response = client()
        .post(graft.graphql())
        .header("content-type", "application/json")
        .header("x-request-id", "test-id-42")
        .body(json!({ "query": "{ seenHeaders }" }).to_string())
        .send()
        .await
        .unwrap();
    let answer = Answer::from(response).await;
    assert_eq!(answer.headers.get("x-request-id").unwrap(), "test-id-42");
    assert_eq!(
        answer.body["data"]["seenHeaders"]["x-request-id"], "test-id-42",
        "{}",
        answer.text
    );
}

#[tokio::test]
async fn a_request_id_is_generated_when_absent_or_unusable() {
    let graft = start(Config::default()).await;
    let generated = client().get(graft.url("/healthz")).send().await.unwrap();
    let id = generated
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let unusable = client()
        .get(graft.url("/healthz"))
        .header("x-request-id", "a b")
        .send()
        .await
        .unwrap();
    assert_ne!(unusable.headers().get("x-request-id").unwrap(), "a b");
}

#[tokio::test]
async fn client_headers_are_forwarded_only_when_the_config_allows_them() {
    let graft = start(config("headers:\n  forward: [X-Tenant]\n")).await;
    let response = client()
        .post(graft.graphql())
        .header("content-type", "application/json")
        .header("x-tenant", "acme")
        .header("x-secret", "no")
        .body(json!({ "query": "{ seenHeaders }" }).to_string())
        .send()
        .await
        .unwrap();
    let answer = Answer::from(response).await;
    let seen = &answer.body["data"]["seenHeaders"];
    assert_eq!(seen["x-tenant"], "acme", "{}", answer.text);
    assert!(seen.get("x-secret").is_none(), "{}", answer.text);
}

#[tokio::test]
async fn upstream_response_headers_are_passed_back_only_when_the_config_names_them() {
    let graft = start(config("headers:\n  response: [Cache-Control]\n")).await;
    let answer = post(&graft, Some(GQL), json!({ "query": "{ seenHeaders }" })).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(
        answer
            .headers
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("max-age=7")
    );
    assert!(answer.headers.get("x-upstream-secret").is_none());
    let closed = start(Config::default()).await;
    let answer = post(&closed, Some(GQL), json!({ "query": "{ seenHeaders }" })).await;
    assert!(answer.headers.get("cache-control").is_none());
}

#[tokio::test]
async fn healthz_answers_while_the_process_is_up() {
    let graft = start(Config::default()).await;
    let answer = Answer::from(client().get(graft.url("/healthz")).send().await.unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["status"], "up");
}

#[tokio::test]
async fn readyz_reports_the_loaded_schema_and_its_sources_as_json() {
    let graft = start(Config::default()).await;
    let answer = Answer::from(client().get(graft.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body["status"], "ready");
    assert_eq!(answer.body["schema"]["loaded"], true);
    assert_eq!(answer.body["sources"][0]["name"], "demo");
    assert_eq!(answer.body["sources"][0]["transport"], "rest");
}

/// Polls `/readyz` until its sources have been probed.
async fn probed_readyz(graft: &common::Graft) -> Answer {
    for _ in 0..100 {
        let answer = Answer::from(client().get(graft.url("/readyz")).send().await.unwrap()).await;
        if !answer.body["sources_checked_at_unix"].is_null() {
            return answer;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the sources were never probed");
}

/// A graph whose one REST source points at `base_url`, with probes every 100 ms.
async fn graft_probing(base_url: &str, require_sources: bool) -> common::Graft {
    let sdl = format!(
        r#"schema @source(name: "gone", rest: {{baseUrl: "{base_url}"}}) {{ query: Query }}
        type Query {{ ping: String @rest(source: "gone", path: "/ping") }}"#
    );
    let catalog =
        schema_gen::parse::parse_files(&[schema_gen::parse::SdlFile::new("p.graphql", sdl)])
            .catalog
            .unwrap();
    let mut config = Config::default();
    config.readiness.probe_interval_ms = 100;
    config.readiness.require_sources = require_sources;
    let state = AppState::new(config);
    state.swap(graft::commands::serve::build(catalog, &state).unwrap());
    graft::probe::spawn(std::sync::Arc::clone(&state));
    start_with(state).await
}

#[tokio::test]
async fn readyz_is_503_while_a_source_does_not_answer_its_probe_and_says_why() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let graft = graft_probing(&format!("http://{closed}"), true).await;
    let answer = probed_readyz(&graft).await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert_eq!(answer.body["status"], "not_ready");
    assert_eq!(answer.body["sources"][0]["status"], "down");
    assert!(
        answer.body["sources"][0]["detail"]
            .as_str()
            .unwrap()
            .contains(&closed.to_string())
    );

    // Where /readyz is a load balancer's health check, a down source may stay a detail.
    let lenient = graft_probing(&format!("http://{closed}"), false).await;
    let answer = probed_readyz(&lenient).await;
    assert_eq!(
        (answer.status, answer.body["sources"][0]["status"].as_str()),
        (200, Some("down"))
    );
}

#[tokio::test]
async fn readyz_reports_a_source_that_answers_as_up() {
    let upstream = common::upstream().await;
    let graft = graft_probing(&format!("http://{upstream}"), true).await;
    let answer = probed_readyz(&graft).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["sources"][0]["status"], "up");
}

#[tokio::test]
async fn without_a_schema_readyz_is_503_and_graphql_says_so() {
    let graft = start_with(AppState::new(Config::default())).await;
    let ready = Answer::from(client().get(graft.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["status"], "not_ready");
    let query = post(&graft, Some(GQL), json!({ "query": "{ __typename }" })).await;
    assert_eq!(query.status, 503);
    assert_eq!(query.code(), "SCHEMA_NOT_LOADED");
    let health = client().get(graft.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn the_app_router_answers_in_process_with_oneshot() {
    let state = AppState::new(Config::default());
    let request = axum::http::Request::get("/readyz")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("x-request-id"));
}

#[tokio::test]
async fn metrics_are_exported_with_graft_names() {
    let graft = start(Config::default()).await;
    post(&graft, Some(GQL), json!({ "query": "{ posts { id } }" })).await;
    post(&graft, Some(GQL), json!({ "query": "{ nope" })).await;
    let response = client().get(graft.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for name in [
        "graft_graphql_requests_total{operation=\"query\",outcome=\"ok\"}",
        "graft_graphql_requests_total{operation=\"unknown\",outcome=\"rejected\"}",
        "graft_graphql_request_duration_seconds_bucket",
        "graft_http_requests_in_flight",
        "graft_schema_builds_total{outcome=\"ok\"}",
        "graft_upstream_calls_total{",
        "graft_upstream_call_duration_seconds_bucket{",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}

#[tokio::test]
async fn cache_lookups_are_counted_by_source_and_result() {
    let graft = start(Config::default()).await;
    for _ in 0..2 {
        let answer = post(&graft, Some(GQL), json!({ "query": "{ cachedHeaders }" })).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
    }
    let response = client().get(graft.url("/metrics")).send().await.unwrap();
    let text = response.text().await.unwrap();
    for name in [
        "graft_cache_lookups_total{source=\"demo\",result=\"miss\"}",
        "graft_cache_lookups_total{source=\"demo\",result=\"hit\"}",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}

#[tokio::test]
async fn browsers_get_the_explorer_and_fetch_gets_graphql() {
    let graft = start(Config::default()).await;
    let browser = client()
        .get(graft.graphql())
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(browser.status(), 200);
    assert!(
        browser.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        browser.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let page = browser.text().await.unwrap();
    assert!(page.contains("graphql/explorer.js") && page.contains("data-introspection=\"true\""));
    for asset in ["/graphql/explorer.js", "/graphql/explorer.css"] {
        let response = client().get(graft.url(asset)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{asset} refers to another origin"
        );
    }
    let fetch = client()
        .get(graft.graphql())
        .header("accept", "*/*")
        .send()
        .await
        .unwrap();
    assert_eq!(fetch.status(), 400);
}

#[tokio::test]
async fn the_explorer_and_introspection_can_be_switched_off() {
    let graft = start(config("explorer: false\nintrospection: false\n")).await;
    let browser = client()
        .get(graft.graphql())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_ne!(
        browser
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .split(';')
            .next(),
        Some("text/html")
    );
    let asset = client()
        .get(graft.url("/graphql/explorer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(asset.status(), 404);
    let answer = post(
        &graft,
        Some(GQL),
        json!({ "query": "{ __schema { types { name } } }" }),
    )
    .await;
    assert!(
        answer.body["errors"]
            .as_array()
            .is_some_and(|e| !e.is_empty()),
        "{}",
        answer.text
    );
    assert!(answer.body["data"]["__schema"].is_null(), "{}", answer.text);
}

#[tokio::test]
async fn a_client_that_does_not_read_its_responses_is_disconnected() {
    let graft = start(config(
        "timeouts:\n  write_ms: 300\n  header_read_ms: 60000\n",
    ))
    .await;
    let mut socket = tokio::net::TcpStream::connect(graft.addr).await.unwrap();
    // Enough pipelined requests that their responses overflow the socket buffers.
    let request = b"GET /graphql/explorer.js HTTP/1.1\r\nhost: x\r\n\r\n";
    let count = 4000;
    let asset_len = client()
        .get(graft.url("/graphql/explorer.js"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .len();
    socket.write_all(&request.repeat(count)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut received = Vec::new();
    let read =
        tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut received)).await;
    assert!(
        read.is_ok(),
        "the server kept writing to a client that stopped reading"
    );
    assert!(
        received.len() < asset_len * count,
        "every response was delivered"
    );
}

#[tokio::test]
async fn cors_is_answered_only_for_configured_origins() {
    let graft = start(config(
        "cors:\n  allowed_origins: [\"https://app.example.com\"]\n",
    ))
    .await;
    let preflight = client()
        .request(reqwest::Method::OPTIONS, graft.graphql())
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let actual = client()
        .post(graft.graphql())
        .header("origin", "https://app.example.com")
        .header("content-type", "application/json")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        actual.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = client()
        .post(graft.graphql())
        .header("origin", "https://evil.example.com")
        .header("content-type", "application/json")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let closed = start(Config::default()).await;
    let response = client()
        .post(closed.graphql())
        .header("origin", "https://app.example.com")
        .header("content-type", "application/json")
        .body(json!({ "query": "{ __typename }" }).to_string())
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test]
async fn a_swapped_graph_serves_the_next_request() {
    let graft = start(Config::default()).await;
    let before = post(
        &graft,
        Some(GQL),
        json!({ "query": "{ slow(ms: 1) { ms } }" }),
    )
    .await;
    assert_eq!(before.status, 200, "{}", before.text);
    // The same upstream without the extra fields: `slow` is gone after the swap.
    let upstream = common::upstream().await;
    let files = graft::commands::demo::schema_files(upstream).unwrap();
    let catalog = schema_gen::parse::parse_files(&files).catalog.unwrap();
    let loaded = graft::commands::serve::build(catalog, &graft.state).unwrap();
    graft.state.swap(loaded);
    let after = post(
        &graft,
        Some(GQL),
        json!({ "query": "{ slow(ms: 1) { ms } }" }),
    )
    .await;
    assert_eq!(after.status, 400, "{}", after.text);
    assert!(!after.has_data());
}
