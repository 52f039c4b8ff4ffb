//! GraphQL over HTTP at `/graphql`, per the GraphQL-over-HTTP specification draft.
//!
//! - POST takes `application/json` bodies `{query, operationName, variables, extensions}`;
//!   GET takes the same as URL parameters (`variables`/`extensions` JSON-encoded) and runs
//!   queries only: a mutation over GET is refused with 405 and `Allow: POST`.
//! - The response media type is negotiated (see [`crate::negotiate`]); 406 when nothing fits.
//! - Under `application/graphql-response+json` a request that did not reach execution
//!   (parse, validation, variable or operation-selection errors) is answered 400 without a
//!   `data` key; under `application/json` such GraphQL request errors get 200, as the spec
//!   asks. Malformed HTTP requests get 400 (bad JSON, bad parameters), 413 (body too large)
//!   and 415 (content type) under both.
//! - The whole request, body read included, runs under `timeouts.request_ms`
//!   (REQUEST_TIMEOUT, 504).
//! - A query may be sent as its SHA-256 alone (automatic persisted queries) or as the id
//!   of an operation a manifest lists, over GET and POST (see [`crate::persisted`]).

use std::sync::Arc;
use std::time::Instant;

use async_graphql::parser::types::OperationType;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{Html, IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use engine::body::BodyError;
use engine::gateway::NotRunnable;
use engine::plan::RenderedResponse;
use engine::plan::compile::NoOperation;

use crate::app::{AppState, REQUEST_ID};
use crate::error::{AppError, ErrorCode};
use crate::negotiate::{Accepted, ResponseType};
use crate::timer::{ConnectionTimer, Deadline};
use crate::{explorer, telemetry};

/// GET /graphql: the explorer for browsers, otherwise a query from URL parameters.
/// `accepted` is the request's negotiated `Accept` ([`crate::subscriptions`] reads it first).
pub async fn get(
    State(state): State<Arc<AppState>>,
    request: Request,
    accepted: Accepted,
) -> Response {
    let (parts, _) = request.into_parts();
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let has_query = params.iter().any(|(k, _)| k == "query");
    if !has_query && accepted.prefers_html && state.config.explorer {
        return explorer_page(&state);
    }
    let (deadline, started) = request_timer(&state, None);
    let read = accepted
        .graphql
        .ok_or_else(not_acceptable)
        .and_then(|response_type| {
            from_url_params(&params)
                .map(|request| (response_type, request))
                .map_err(|e| e.responding_as(response_type))
        });
    respond(&state, Method::Get, read, parts.headers, started, deadline).await
}

/// POST /graphql: a JSON body, answered as `accepted` (the request's negotiated `Accept`).
pub async fn post(
    State(state): State<Arc<AppState>>,
    request: Request,
    accepted: Accepted,
    timer: Option<ConnectionTimer>,
) -> Response {
    // One deadline for the whole request: the body read counts against the request timeout
    // too (a slow sender is cut off), and execution gets what is left of it.
    let (mut deadline, started) = request_timer(&state, timer);
    let (parts, body) = request.into_parts();
    let limit = state.config.limits.max_body_bytes;
    let response_type = accepted.graphql.unwrap_or(ResponseType::Json);
    let read = async {
        accepted.graphql.ok_or_else(not_acceptable)?;
        check_content_type(&parts.headers)?;
        let bytes = read_body(body, limit).await?;
        Ok((
            response_type,
            state.body_memo.request(&bytes, from_json_body)?,
        ))
    };
    let read = tokio::select! {
        biased;
        read = read => read.map_err(|e: AppError| match e.code {
            ErrorCode::NotAcceptable => e,
            _ => e.responding_as(response_type),
        }),
        () = &mut deadline => Err(timed_out(response_type)),
    };
    respond(&state, Method::Post, read, parts.headers, started, deadline).await
}

/// The request's deadline (`timeouts.request_ms` from now, on `timer` when given) and its
/// start: one clock read.
fn request_timer(state: &AppState, timer: Option<ConnectionTimer>) -> (Deadline, Instant) {
    let started = tokio::time::Instant::now();
    let at = started + state.config.timeouts.request();
    let deadline = match timer {
        Some(timer) => timer.deadline(at),
        None => Deadline::at(at),
    };
    (deadline, started.into_std())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// Executes a well-formed request or answers its refusal, and records the metrics.
async fn respond(
    state: &AppState,
    method: Method,
    read: Result<(ResponseType, Box<async_graphql::Request>), AppError>,
    headers: HeaderMap,
    started: Instant,
    deadline: Deadline,
) -> Response {
    let response = match read {
        Ok((response_type, request)) => {
            execute(
                state,
                method,
                response_type,
                request,
                headers,
                started,
                deadline,
            )
            .await
        }
        Err(e) => {
            let outcome = match e.code {
                ErrorCode::RequestTimeout => "timeout",
                _ => "http_error",
            };
            finish(e.into_response(), "unknown", outcome, started)
        }
    };
    with_vary(response)
}

fn not_acceptable() -> AppError {
    AppError::new(
        ErrorCode::NotAcceptable,
        "the Accept header allows neither application/graphql-response+json nor application/json",
    )
    .responding_as(ResponseType::Json)
}

fn timed_out(response_type: ResponseType) -> AppError {
    AppError::new(
        ErrorCode::RequestTimeout,
        "the request took longer than the server's request timeout",
    )
    .responding_as(response_type)
}

fn with_vary(mut response: Response) -> Response {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept"));
    response
}

/// POST bodies must be `application/json` (UTF-8, the only charset JSON allows).
fn check_content_type(headers: &HeaderMap) -> Result<(), AppError> {
    let unsupported = |what: &str| {
        AppError::new(
            ErrorCode::UnsupportedMediaType,
            format!("{what}; send the request as application/json"),
        )
    };
    let value = headers
        .get(header::CONTENT_TYPE)
        .ok_or_else(|| unsupported("the request has no Content-Type"))?;
    // The usual spelling needs no media-type parser.
    if value.as_bytes().eq_ignore_ascii_case(b"application/json") {
        return Ok(());
    }
    let mime: mime::Mime = value
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| unsupported("the Content-Type header is not a media type"))?;
    if mime.essence_str() != "application/json" {
        return Err(unsupported(&format!(
            "Content-Type {} is not supported",
            mime.essence_str()
        )));
    }
    if let Some(charset) = mime.get_param(mime::CHARSET)
        && !charset.as_str().eq_ignore_ascii_case("utf-8")
    {
        return Err(unsupported(&format!("charset {charset} is not supported")));
    }
    Ok(())
}

pub(crate) async fn read_body(body: Body, limit: usize) -> Result<Bytes, AppError> {
    engine::body::read_limited(body, limit)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => AppError::new(
                ErrorCode::PayloadTooLarge,
                format!("the request body is larger than {limit} bytes"),
            ),
            BodyError::Read(e) => AppError::new(
                ErrorCode::BadRequest,
                format!("the request body could not be read: {e}"),
            ),
        })
}

fn bad_request(message: impl Into<String>) -> AppError {
    AppError::new(ErrorCode::BadRequest, message)
}

/// `{query, operationName, variables, extensions}`: the members of a JSON request. Others
/// are ignored; each member is checked by [`build_request`].
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestBody {
    query: Option<Value>,
    operation_name: Option<Value>,
    variables: Option<Value>,
    extensions: Option<Value>,
}

impl RequestBody {
    fn into_request(self) -> Result<Box<async_graphql::Request>, AppError> {
        build_request(
            self.query,
            self.operation_name,
            self.variables,
            self.extensions,
        )
    }
}

/// A request from a JSON body.
pub(crate) fn from_json_body(bytes: &[u8]) -> Result<Box<async_graphql::Request>, AppError> {
    // Straight into the four members, without building a map of the whole body first.
    let body: RequestBody = serde_json::from_slice(bytes).map_err(|e| {
        let object = bytes.trim_ascii_start().starts_with(b"{");
        if e.classify() == serde_json::error::Category::Data && !object {
            bad_request("the request body must be a JSON object")
        } else {
            bad_request(format!("the request body is not valid JSON: {e}"))
        }
    })?;
    body.into_request()
}

/// A request from a JSON object already read (a WebSocket `subscribe` message's payload).
pub(crate) fn from_json_object(payload: Value) -> Result<Box<async_graphql::Request>, AppError> {
    if !payload.is_object() {
        return Err(bad_request("the payload must be a JSON object"));
    }
    let body: RequestBody = serde_json::from_value(payload)
        .map_err(|e| bad_request(format!("the payload is not a request: {e}")))?;
    body.into_request()
}

/// The same parameters from a URL query string; `variables` and `extensions` are JSON text.
pub(crate) fn from_url_params(
    params: &[(String, String)],
) -> Result<Box<async_graphql::Request>, AppError> {
    let find = |name: &str| -> Result<Option<&str>, AppError> {
        let mut values = params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(bad_request(format!(
                "the parameter {name} is given more than once"
            )));
        }
        Ok(first)
    };
    let json = |name: &str| -> Result<Option<Value>, AppError> {
        find(name)?
            .map(|text| {
                serde_json::from_str(text).map_err(|e| {
                    bad_request(format!("the parameter {name} is not valid JSON: {e}"))
                })
            })
            .transpose()
    };
    let query = find("query")?.map(|q| Value::String(q.to_owned()));
    let operation_name = find("operationName")?.map(|n| Value::String(n.to_owned()));
    build_request(
        query,
        operation_name,
        json("variables")?,
        json("extensions")?,
    )
}

fn build_request(
    query: Option<Value>,
    operation_name: Option<Value>,
    variables: Option<Value>,
    extensions: Option<Value>,
) -> Result<Box<async_graphql::Request>, AppError> {
    // A persisted query's text may be left out: `persisted.rs` fills it in.
    let hashed = matches!(&extensions, Some(Value::Object(e)) if e.contains_key("persistedQuery"));
    let query = match query {
        Some(Value::String(q)) => q,
        None | Some(Value::Null) if hashed => String::new(),
        None | Some(Value::Null) => return Err(bad_request("the request has no query")),
        Some(_) => return Err(bad_request("query must be a string")),
    };
    // Boxed from the start: the request (344 bytes) passes through several async layers,
    // each of which would otherwise copy it.
    let mut request = Box::new(async_graphql::Request::new(query));
    match operation_name {
        None | Some(Value::Null) => {}
        Some(Value::String(name)) => request.operation_name = Some(name),
        Some(_) => return Err(bad_request("operationName must be a string or null")),
    }
    match variables {
        None | Some(Value::Null) => {}
        // `{}` is the usual "no variables": nothing to convert.
        Some(Value::Object(map)) if map.is_empty() => {}
        Some(v @ Value::Object(_)) => request.variables = async_graphql::Variables::from_json(v),
        Some(_) => return Err(bad_request("variables must be an object or null")),
    }
    match extensions {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let value = async_graphql::Value::from_json(value)
                    .map_err(|e| bad_request(format!("extensions.{key} is not usable: {e}")))?;
                request.extensions.insert(key, value);
            }
        }
        Some(_) => return Err(bad_request("extensions must be an object or null")),
    }
    Ok(request)
}

/// Selects the operation, checks it may run over `method`, and executes it before the
/// request's `deadline`.
async fn execute(
    state: &AppState,
    method: Method,
    response_type: ResponseType,
    mut request: Box<async_graphql::Request>,
    headers: HeaderMap,
    started: Instant,
    deadline: Deadline,
) -> Response {
    // Boxed and only for requests it applies to: the lookup may wait on Redis, and its
    // future inline would grow every request's.
    if state.persisted.applies(&request)
        && let Err(e) = Box::pin(state.persisted.resolve(&mut request)).await
    {
        let response = e.responding_as(response_type).into_response();
        return finish(response, "unknown", "rejected", started);
    }
    let Some(loaded) = state.graph.load_full() else {
        let e = AppError::new(ErrorCode::SchemaNotLoaded, "no schema is loaded yet");
        return finish(
            e.responding_as(response_type).into_response(),
            "unknown",
            "rejected",
            started,
        );
    };
    // The document is looked up once (the plan cache): for its type here, then to run it.
    let prepared = match loaded.gateway.prepare(request) {
        Ok(prepared) => prepared,
        Err(e) => {
            return finish(
                not_runnable(e).responding_as(response_type).into_response(),
                "unknown",
                "rejected",
                started,
            );
        }
    };
    let kind = prepared.operation_type();
    let label = match kind {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    };
    if method == Method::Get && kind != OperationType::Query {
        let e = AppError::new(
            ErrorCode::MethodNotAllowed,
            format!("a {label} cannot be sent with GET; use POST"),
        );
        return finish(
            e.responding_as(response_type).into_response(),
            label,
            "http_error",
            started,
        );
    }
    let request_id = headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let context = engine::gateway::RequestContext {
        headers,
        request_id,
    };
    // Inline, not boxed: the request frame boxes the whole handler once, so nothing moves
    // this future after it starts (a second box cost ~1 % of a shared query's instructions).
    let execution = std::pin::pin!(loaded.gateway.execute_prepared(prepared, context));
    tokio::select! {
        biased;
        answer = execution => {
            let (response, outcome) = render(response_type, answer);
            finish(response, label, outcome, started)
        }
        () = deadline => finish(
            timed_out(response_type).into_response(),
            label,
            "timeout",
            started,
        ),
    }
}

/// The request error for a request that selects no operation.
fn not_runnable(e: NotRunnable) -> AppError {
    match e {
        NotRunnable::Parse(message) => AppError::new(ErrorCode::ParseFailed, message),
        NotRunnable::NoOperation(NoOperation::Unknown(name)) => AppError::new(
            ErrorCode::OperationNotFound,
            format!("unknown operation named \"{name}\""),
        ),
        NotRunnable::NoOperation(NoOperation::NameRequired) => AppError::new(
            ErrorCode::OperationNameRequired,
            "the document has several operations; choose one with operationName",
        ),
    }
}

/// Writes an engine answer with the status the negotiated media type calls for.
///
/// The engine renders the JSON body itself (the plan executor writes bytes directly); only
/// a request that never executed is rewritten, to drop its `"data": null`.
fn render(response_type: ResponseType, answer: RenderedResponse) -> (Response, &'static str) {
    let RenderedResponse {
        body,
        executed,
        has_errors,
        headers,
    } = answer;
    let (status, outcome, body) = if executed {
        (
            StatusCode::OK,
            if has_errors { "partial" } else { "ok" },
            body,
        )
    } else {
        let status = if response_type == ResponseType::Json {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        (status, "rejected", without_data(body))
    };
    // Sized once for what every answer carries (type, vary, request id; hyper adds length
    // and date): growing a header map reallocates it.
    let mut out = HeaderMap::with_capacity(4 + headers.len());
    out.insert(header::CONTENT_TYPE, response_type.content_type());
    for (name, value) in headers.iter() {
        if !is_framing_header(name) {
            out.append(name.clone(), value.clone());
        }
    }
    let mut http = Response::new(Body::from(body));
    *http.status_mut() = status;
    *http.headers_mut() = out;
    (http, outcome)
}

/// The body of a response that did not execute, without its `data` key.
fn without_data(body: Bytes) -> Bytes {
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut map)) => {
            map.remove("data");
            serde_json::to_vec(&Value::Object(map))
                .map(Bytes::from)
                .unwrap_or(body)
        }
        _ => body,
    }
}

/// Headers graft itself owns on the response; upstream values for them are never passed on.
fn is_framing_header(name: &http::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "content-type"
            | "content-length"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "upgrade"
            | "trailer"
            | "x-request-id"
    )
}

fn finish(
    response: Response,
    operation: &'static str,
    outcome: &'static str,
    started: Instant,
) -> Response {
    telemetry::record_request(operation, outcome, started.elapsed().as_secs_f64());
    response
}

fn explorer_page(state: &AppState) -> Response {
    let mut response = Html(explorer::page(state.config.introspection)).into_response();
    explorer::secure(response.headers_mut());
    with_vary(response)
}
