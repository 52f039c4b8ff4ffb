//! Subscriptions (and any operation) as streams: WebSocket with the `graphql-transport-ws`
//! protocol (what the `graphql-ws` client library speaks) and GraphQL over SSE.
//!
//! Both live on `/graphql` in front of the plain HTTP handlers in [`crate::graphql`]:
//!
//! - a GET with `Upgrade: websocket` becomes a `graphql-transport-ws` connection:
//!   `connection_init` → `connection_ack` (within [`INIT_TIMEOUT`], else close 4408), then
//!   `subscribe` / `next` / `error` / `complete` per operation id, `ping` / `pong`. Protocol
//!   violations close the socket with the library's codes: 4400 (invalid message), 4401
//!   (subscribe before the ack), 4409 (an id already in use), 4429 (a second init);
//! - a GET or POST that accepts `text/event-stream` (and not JSON first) is GraphQL over SSE
//!   (distinct connections mode): one `next` event per response, then `complete`;
//! - everything else goes to the plain handlers unchanged.
//!
//! Both read requests as the plain handlers do (the same members, checks and errors), and
//! both take persisted queries by hash ([`crate::persisted`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::Request as GqlRequest;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use http::{HeaderMap, header};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::app::{AppState, REQUEST_ID};
use crate::error::{AppError, ErrorCode};
use crate::negotiate::negotiate;
use crate::timer::ConnectionTimer;

/// The WebSocket subprotocol graft speaks.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// How long a client may take to send `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// GET /graphql: WebSocket upgrade, SSE, or the plain handler.
pub async fn get(state: State<Arc<AppState>>, request: Request) -> Response {
    if is_websocket(request.headers()) {
        let (mut parts, _) = request.into_parts();
        return match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
            Ok(upgrade) => {
                let headers = parts.headers;
                let state = Arc::clone(&state.0);
                upgrade
                    .protocols([PROTOCOL])
                    .on_upgrade(move |socket| connection(socket, state, headers))
            }
            Err(rejection) => rejection.into_response(),
        };
    }
    let accepted = negotiate(request.headers().get_all(header::ACCEPT).iter());
    if accepted.event_stream {
        let (parts, _) = request.into_parts();
        let params: Vec<(String, String)> =
            url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        return sse(
            &state,
            crate::graphql::from_url_params(&params),
            parts.headers,
        )
        .await;
    }
    crate::graphql::get(state, request, accepted).await
}

/// POST /graphql as a route: for requests the frame does not hand straight to [`post`].
pub async fn post_route(state: State<Arc<AppState>>, request: Request) -> Response {
    post(state, request, None).await
}

/// POST /graphql: SSE when the client asks for an event stream, else the plain handler,
/// which keeps its deadline on `timer` (the connection's) when given one.
pub async fn post(
    state: State<Arc<AppState>>,
    request: Request,
    timer: Option<ConnectionTimer>,
) -> Response {
    let accepted = negotiate(request.headers().get_all(header::ACCEPT).iter());
    if !accepted.event_stream {
        return crate::graphql::post(state, request, accepted, timer).await;
    }
    let (parts, body) = request.into_parts();
    let request = crate::graphql::read_body(body, state.config.limits.max_body_bytes)
        .await
        .and_then(|bytes| crate::graphql::from_json_body(&bytes));
    sse(&state, request, parts.headers).await
}

fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn context(headers: HeaderMap) -> engine::gateway::RequestContext {
    let request_id = headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    engine::gateway::RequestContext {
        headers,
        request_id,
    }
}

/// The responses of one operation on the currently loaded graph, once a persisted query's
/// text is filled in (as over plain HTTP, see [`crate::persisted`]).
async fn responses(
    state: &AppState,
    request: Result<Box<GqlRequest>, AppError>,
    headers: HeaderMap,
) -> Result<futures::stream::BoxStream<'static, async_graphql::Response>, AppError> {
    let mut request = request?;
    if state.persisted.applies(&request) {
        state.persisted.resolve(&mut request).await?;
    }
    let loaded = state
        .graph
        .load_full()
        .ok_or_else(|| AppError::new(ErrorCode::SchemaNotLoaded, "no schema is loaded yet"))?;
    Ok(loaded.gateway.subscribe(*request, context(headers)))
}

/// GraphQL over SSE: one `next` event per response, then `complete`; a request refused
/// before it runs is answered as over plain HTTP.
async fn sse(
    state: &AppState,
    request: Result<Box<GqlRequest>, AppError>,
    headers: HeaderMap,
) -> Response {
    let stream = match responses(state, request, headers).await {
        Ok(stream) => stream,
        Err(e) => return e.into_response(),
    };
    let events = stream
        .map(|response| {
            let data = serde_json::to_string(&response).unwrap_or_else(|_| "{}".into());
            Ok::<_, std::convert::Infallible>(Event::default().event("next").data(data))
        })
        .chain(futures::stream::once(async {
            Ok(Event::default().event("complete").data(""))
        }));
    Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Why the server closes a connection.
struct Close(u16, String);

/// One `graphql-transport-ws` connection.
async fn connection(socket: WebSocket, state: Arc<AppState>, headers: HeaderMap) {
    let (mut sink, mut incoming) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
    });
    let running: Arc<Mutex<HashMap<String, tokio::task::AbortHandle>>> = Arc::default();
    let close = serve(&mut incoming, &out, &state, headers, &running).await;
    if let Ok(mut running) = running.lock() {
        running.drain().for_each(|(_, task)| task.abort());
    }
    if let Some(Close(code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = out.send(Message::Close(Some(frame))).await;
    }
    drop(out);
    let _ = writer.await;
}

/// Reads client messages until the client leaves (`None`) or breaks the protocol.
async fn serve(
    incoming: &mut futures::stream::SplitStream<WebSocket>,
    out: &mpsc::Sender<Message>,
    state: &Arc<AppState>,
    mut headers: HeaderMap,
    running: &Arc<Mutex<HashMap<String, tokio::task::AbortHandle>>>,
) -> Option<Close> {
    let send = |value: Value| {
        let out = out.clone();
        async move {
            let _ = out.send(Message::Text(value.to_string().into())).await;
        }
    };
    let init_deadline = tokio::time::Instant::now() + INIT_TIMEOUT;
    let mut acknowledged = false;
    loop {
        let next = if acknowledged {
            incoming.next().await
        } else {
            match tokio::time::timeout_at(init_deadline, incoming.next()).await {
                Ok(next) => next,
                Err(_) => return Some(Close(4408, "Connection initialisation timeout".into())),
            }
        };
        let text = match next {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
            Some(Ok(Message::Text(text))) => text.to_string(),
            Some(Ok(Message::Binary(_))) => {
                return Some(Close(4400, "Binary messages are not supported".into()));
            }
            Some(Ok(_)) => continue, // transport-level ping/pong
        };
        let Ok(message) = serde_json::from_str::<Value>(&text) else {
            return Some(Close(4400, "Invalid message received".into()));
        };
        match message.get("type").and_then(Value::as_str) {
            Some("connection_init") => {
                if acknowledged {
                    return Some(Close(4429, "Too many initialisation requests".into()));
                }
                acknowledged = true;
                if let Some(payload) = message.get("payload") {
                    add_connection_params(&mut headers, payload);
                }
                send(json!({"type": "connection_ack"})).await;
            }
            Some("ping") => send(json!({"type": "pong"})).await,
            Some("pong") => {}
            Some("subscribe") => {
                if !acknowledged {
                    return Some(Close(4401, "Unauthorized".into()));
                }
                let Some(id) = message
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                else {
                    return Some(Close(4400, "`subscribe` needs an `id`".into()));
                };
                let payload = message.get("payload").cloned().unwrap_or(Value::Null);
                let Ok(mut map) = running.lock() else {
                    return Some(Close(1011, "internal error".into()));
                };
                if map.contains_key(&id) {
                    return Some(Close(4409, format!("Subscriber for {id} already exists")));
                }
                let task = tokio::spawn(operation(
                    id.clone(),
                    payload,
                    Arc::clone(state),
                    headers.clone(),
                    out.clone(),
                    Arc::clone(running),
                ));
                map.insert(id, task.abort_handle());
            }
            Some("complete") => {
                if let Some(id) = message.get("id").and_then(Value::as_str)
                    && let Ok(mut map) = running.lock()
                    && let Some(task) = map.remove(id)
                {
                    task.abort();
                }
            }
            _ => return Some(Close(4400, "Invalid message received".into())),
        }
    }
}

/// `connection_init`'s payload (the client's `connectionParams`) as request headers: its
/// string members, and those of a `headers` object, replace the upgrade request's headers
/// of the same name (browsers cannot set headers on a WebSocket). Sources still forward
/// only their allowlist.
fn add_connection_params(headers: &mut HeaderMap, payload: &Value) {
    let Value::Object(params) = payload else {
        return;
    };
    let nested = params.get("headers").and_then(Value::as_object);
    for (name, value) in params.iter().chain(nested.into_iter().flatten()) {
        let (Some(value), Ok(name)) = (
            value.as_str(),
            http::HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
        ) else {
            continue;
        };
        if let Ok(value) = http::HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
}

/// Runs one operation of a connection: `next` per response, then `complete`; a request
/// that fails before executing is one `error` message.
async fn operation(
    id: String,
    payload: Value,
    state: Arc<AppState>,
    headers: HeaderMap,
    out: mpsc::Sender<Message>,
    running: Arc<Mutex<HashMap<String, tokio::task::AbortHandle>>>,
) {
    let text = |value: Value| Message::Text(value.to_string().into());
    let request = crate::graphql::from_json_object(payload);
    match responses(&state, request, headers)
        .await
        .map_err(|e| e.errors())
    {
        Err(errors) => {
            let _ = out
                .send(text(json!({"type": "error", "id": id, "payload": errors})))
                .await;
        }
        Ok(mut stream) => {
            let mut first = true;
            while let Some(response) = stream.next().await {
                let value = serde_json::to_value(&response).unwrap_or(Value::Null);
                // Errors without any data on the first response: the request never ran.
                let refused = first
                    && !response.errors.is_empty()
                    && matches!(response.data, async_graphql::Value::Null);
                first = false;
                let message = if refused {
                    json!({"type": "error", "id": id, "payload": value.get("errors")})
                } else {
                    json!({"type": "next", "id": id, "payload": value})
                };
                if out.send(text(message)).await.is_err() {
                    break;
                }
                if refused {
                    if let Ok(mut map) = running.lock() {
                        map.remove(&id);
                    }
                    return;
                }
            }
            let _ = out.send(text(json!({"type": "complete", "id": id}))).await;
        }
    }
    if let Ok(mut map) = running.lock() {
        map.remove(&id);
    }
}
