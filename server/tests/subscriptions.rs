//! Subscriptions over WebSocket (`graphql-transport-ws`) and SSE, end to end: graft serving
//! a gRPC source whose server-streaming method (`WatchPets`) backs a Subscription field.

mod common;
#[path = "../../engine/tests/grpc_server/mod.rs"]
mod grpc_server;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use graft::app::{AppState, Loaded};
use graft::config::Config;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// graft over the tonic test server; both stop when dropped.
async fn start() -> (grpc_server::TestServer, common::Graft) {
    start_configured(Config::default()).await
}

async fn start_configured(config: Config) -> (grpc_server::TestServer, common::Graft) {
    let upstream = grpc_server::start(grpc_server::Reflection::V1AndV1alpha).await;
    let options = schema_gen::ingest::grpc::GrpcOptions::new("kitchen", upstream.endpoint());
    let mut catalog = schema_gen::ingest::grpc::ingest(&upstream.pool, &options)
        .catalog
        .unwrap();
    catalog
        .sources
        .get_mut("kitchen")
        .unwrap()
        .policy
        .forward_headers = vec!["x-tenant".into()];
    let gateway =
        engine::gateway::Gateway::build(&catalog, engine::GatewayOptions::default()).unwrap();
    let state = AppState::new(config);
    state.swap(Loaded::new(gateway, &catalog));
    (upstream, common::start_with(state).await)
}

async fn connect(graft: &common::Graft) -> Socket {
    let mut request = format!("ws://{}/graphql", graft.addr)
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "graphql-transport-ws"
    );
    socket
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// The next protocol message (a JSON object), or the close code.
async fn receive(socket: &mut Socket) -> Result<Value, u16> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a message in time");
        match message {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).unwrap()),
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map(|f| u16::from(f.code)).unwrap_or(0));
            }
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => return Err(0),
        }
    }
}

async fn initialised(graft: &common::Graft) -> Socket {
    let mut socket = connect(graft).await;
    send(&mut socket, json!({"type": "connection_init"})).await;
    assert_eq!(
        receive(&mut socket).await,
        Ok(json!({"type": "connection_ack"}))
    );
    socket
}

#[tokio::test]
async fn a_websocket_subscription_streams_each_message_then_the_error_then_completes() {
    let (_upstream, graft) = start().await;
    let mut socket = initialised(&graft).await;
    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(receive(&mut socket).await, Ok(json!({"type": "pong"})));
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "1", "payload": {
            "query": "subscription($n: Int) { watchPets(count: $n, fail: true) { id name } }",
            "variables": {"n": 2}
        }}),
    )
    .await;
    for id in [1, 2] {
        assert_eq!(
            receive(&mut socket).await,
            Ok(
                json!({"type": "next", "id": "1", "payload": {"data": {"watchPets": {"id": id, "name": format!("pet {id}")}}}})
            )
        );
    }
    let failed = receive(&mut socket).await.unwrap();
    assert_eq!(failed["type"], "next");
    assert_eq!(
        failed["payload"]["errors"][0]["extensions"]["code"],
        "INTERNAL"
    );
    assert_eq!(
        receive(&mut socket).await,
        Ok(json!({"type": "complete", "id": "1"}))
    );
}

#[tokio::test]
async fn queries_also_run_over_the_websocket_and_bad_documents_are_error_messages() {
    let (_upstream, graft) = start().await;
    let mut socket = initialised(&graft).await;
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "q", "payload": {"query": "{ kitchenGetPet(id: 5) { id } }"}}),
    )
    .await;
    assert_eq!(
        receive(&mut socket).await,
        Ok(json!({"type": "next", "id": "q", "payload": {"data": {"kitchenGetPet": {"id": 5}}}}))
    );
    assert_eq!(
        receive(&mut socket).await,
        Ok(json!({"type": "complete", "id": "q"}))
    );
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "bad", "payload": {"query": "subscription { nope }"}}),
    )
    .await;
    let error = receive(&mut socket).await.unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "bad");
    assert!(
        error["payload"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nope")
    );
}

#[tokio::test]
async fn protocol_violations_close_the_socket_with_graphql_ws_codes() {
    let (_upstream, graft) = start().await;

    let mut socket = connect(&graft).await;
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "1", "payload": {"query": "{ __typename }"}}),
    )
    .await;
    assert_eq!(receive(&mut socket).await, Err(4401));

    let mut socket = initialised(&graft).await;
    send(&mut socket, json!({"type": "connection_init"})).await;
    assert_eq!(receive(&mut socket).await, Err(4429));

    let mut socket = initialised(&graft).await;
    let slow = json!({"type": "subscribe", "id": "same", "payload": {"query": "subscription { watchPets(count: 100) { id } }"}});
    send(&mut socket, slow.clone()).await;
    send(&mut socket, slow).await;
    loop {
        match receive(&mut socket).await {
            Ok(message) => assert_eq!(message["type"], "next"),
            Err(code) => {
                assert_eq!(code, 4409);
                break;
            }
        }
    }

    let mut socket = initialised(&graft).await;
    socket.send(Message::Text("not json".into())).await.unwrap();
    assert_eq!(receive(&mut socket).await, Err(4400));
}

#[tokio::test]
async fn a_completed_subscription_stops_sending() {
    let (_upstream, graft) = start().await;
    let mut socket = initialised(&graft).await;
    send(&mut socket, json!({"type": "subscribe", "id": "1", "payload": {"query": "subscription { watchPets(count: 100) { id } }"}})).await;
    assert_eq!(receive(&mut socket).await.unwrap()["type"], "next");
    send(&mut socket, json!({"type": "complete", "id": "1"})).await;
    // The id is free again once the subscription is stopped.
    tokio::time::sleep(Duration::from_millis(100)).await;
    send(&mut socket, json!({"type": "subscribe", "id": "1", "payload": {"query": "{ kitchenGetPet(id: 9) { id } }"}})).await;
    loop {
        let message = receive(&mut socket).await.expect("no close");
        if message["payload"]["data"]["kitchenGetPet"]["id"] == 9 {
            break;
        }
    }
}

#[tokio::test]
async fn graphql_over_sse_streams_next_events_then_complete() {
    let (_upstream, graft) = start().await;
    let response = common::client()
        .post(graft.graphql())
        .header("accept", "text/event-stream")
        .json(&json!({"query": "subscription { watchPets(count: 2) { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let events = sse_events(&response.text().await.unwrap());
    assert_eq!(
        events,
        [
            ("next".into(), r#"{"data":{"watchPets":{"id":1}}}"#.into()),
            ("next".into(), r#"{"data":{"watchPets":{"id":2}}}"#.into()),
            ("complete".into(), String::new()),
        ]
    );
}

/// An SSE body's events as (event, data), comments and keep-alives left out.
fn sse_events(body: &str) -> Vec<(String, String)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty() && !e.starts_with(':'))
        .map(|event| {
            let field = |name: &str| {
                event
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim)
                    .unwrap_or("")
                    .to_owned()
            };
            (field("event:"), field("data:"))
        })
        .collect()
}

#[tokio::test]
async fn persisted_queries_run_by_hash_over_the_websocket() {
    let (_upstream, graft) = start().await;
    let mut socket = initialised(&graft).await;
    let query = "subscription { watchPets(count: 1) { id } }";
    let hashed = json!({"persistedQuery": {"version": 1, "sha256Hash": common::sha256_hex(query)}});
    let mut subscribe = async |id: &str, payload: Value| {
        send(
            &mut socket,
            json!({"type": "subscribe", "id": id, "payload": payload}),
        )
        .await;
        let mut messages = vec![receive(&mut socket).await.unwrap()];
        while messages.last().unwrap()["type"] == "next" {
            messages.push(receive(&mut socket).await.unwrap());
        }
        messages
    };
    // Unknown: the client is asked for the text, with the protocol's code.
    let unknown = subscribe("1", json!({"extensions": hashed})).await;
    assert_eq!(
        unknown,
        [
            json!({"type": "error", "id": "1", "payload": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]})
        ]
    );
    // A text that is not the hash's is refused, and not kept.
    let other = subscribe(
        "2",
        json!({"query": "subscription { watchPets(count: 2) { id } }", "extensions": hashed}),
    )
    .await;
    assert_eq!(other[0]["type"], "error");
    assert_eq!(
        other[0]["payload"][0]["extensions"]["code"],
        "PERSISTED_QUERY_HASH_MISMATCH"
    );
    let still_unknown = subscribe("3", json!({"extensions": hashed})).await;
    assert_eq!(still_unknown[0]["type"], "error");
    // Sent with its text once, then the hash alone runs it.
    let next = json!({"data": {"watchPets": {"id": 1}}});
    for (id, payload) in [
        ("4", json!({"query": query, "extensions": hashed})),
        ("5", json!({"extensions": hashed})),
    ] {
        assert_eq!(
            subscribe(id, payload).await,
            [
                json!({"type": "next", "id": id, "payload": next}),
                json!({"type": "complete", "id": id}),
            ]
        );
    }
}

#[tokio::test]
async fn persisted_queries_run_by_hash_over_sse() {
    let (_upstream, graft) = start().await;
    let query = "subscription { watchPets(count: 2) { id } }";
    let hashed = json!({"persistedQuery": {"version": 1, "sha256Hash": common::sha256_hex(query)}});
    let sse_post = async |body: Value| {
        common::client()
            .post(graft.graphql())
            .header("accept", "text/event-stream")
            .json(&body)
            .send()
            .await
            .unwrap()
    };
    // Unknown: answered as over plain HTTP (200, the protocol's code), not as a stream.
    let unknown = sse_post(json!({"extensions": hashed})).await;
    assert_eq!(unknown.status(), 200);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
    let registered = sse_post(json!({"query": query, "extensions": hashed})).await;
    assert_eq!(sse_events(&registered.text().await.unwrap()).len(), 3);
    // Then by hash alone, over GET as EventSource sends it.
    let response = common::client()
        .get(graft.graphql())
        .header("accept", "text/event-stream")
        .query(&[("extensions", hashed.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        sse_events(&response.text().await.unwrap()),
        [
            ("next".into(), r#"{"data":{"watchPets":{"id":1}}}"#.into()),
            ("next".into(), r#"{"data":{"watchPets":{"id":2}}}"#.into()),
            ("complete".into(), String::new()),
        ]
    );
}

#[tokio::test]
async fn connection_params_are_request_headers_for_the_allowlist() {
    let (_upstream, graft) = start().await;
    let mut socket = connect(&graft).await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": {"headers": {"X-Tenant": "acme"}}}),
    )
    .await;
    assert_eq!(
        receive(&mut socket).await,
        Ok(json!({"type": "connection_ack"}))
    );
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "1", "payload": {"query": "{ kitchenGetPet(id: 1) { owner { name } } }"}}),
    )
    .await;
    assert_eq!(
        receive(&mut socket).await,
        Ok(
            json!({"type": "next", "id": "1", "payload": {"data": {"kitchenGetPet": {"owner": {"name": "acme"}}}}})
        )
    );
}

#[tokio::test]
async fn only_listed_operations_run_over_the_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let listed = "subscription { watchPets(count: 1) { id } }";
    let path = dir.path().join("persisted-documents.json");
    std::fs::write(&path, json!({ "w1": listed }).to_string()).unwrap();
    let mut config = Config::default();
    config.persisted_queries.manifest = Some(path);
    config.persisted_queries.only_listed = true;
    let (_upstream, graft) = start_configured(config).await;
    let mut socket = initialised(&graft).await;
    let by_id = json!({"persistedQuery": {"version": 1, "sha256Hash": "w1"}});
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "1", "payload": {"extensions": by_id}}),
    )
    .await;
    assert_eq!(
        receive(&mut socket).await,
        Ok(json!({"type": "next", "id": "1", "payload": {"data": {"watchPets": {"id": 1}}}}))
    );
    assert_eq!(
        receive(&mut socket).await,
        Ok(json!({"type": "complete", "id": "1"}))
    );
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "2", "payload": {"query": "subscription { watchPets(count: 2) { id } }"}}),
    )
    .await;
    let refused = receive(&mut socket).await.unwrap();
    assert_eq!(refused["type"], "error");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_IN_LIST"
    );
}

#[tokio::test]
async fn an_sse_request_over_the_body_limit_is_refused_as_over_plain_http() {
    let mut config = Config::default();
    config.limits.max_body_bytes = 1024;
    let (_upstream, graft) = start_configured(config).await;
    let padding = " ".repeat(2048);
    let response = common::client()
        .post(graft.graphql())
        .header("accept", "text/event-stream")
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"query": "subscription {{ watchPets(count: 1) {{ id }} }}"{padding}}}"#
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");
}
