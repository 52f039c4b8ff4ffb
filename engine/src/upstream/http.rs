//! REST over HTTP: `@rest` calls (invoke) and reading OpenAPI specs (describe).
//!
//! Every call goes through the process-wide client (`client.rs`), so connections are pooled
//! and kept alive across requests and across gateway reloads.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ::http::Method;
use ::http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use futures::future::BoxFuture;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use schema_gen::catalog::{
    BodyEncoding, Field, HttpMethod, RestBatch, RestCall, RestSource, Source,
};
use schema_gen::template::{Scope, Segment, Template};
use serde_json::Value;

use super::client::{HttpClient, Outgoing, SendError, client};
use super::{
    CallInput, CallOutput, Invoke, PrepareContext, Rendered, SendContext, lookup, render_json,
    render_text, substitute_env, value_text, within_deadline,
};
use crate::error::{BuildError, DescribeError, ErrorKind, UpstreamError};

/// Characters escaped in one path segment: everything except RFC 3986 unreserved ones, so a
/// value like `a/b?c` stays inside its segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Headers never copied between the client and an upstream even when allowlisted: they
/// describe one connection or one message body, and copying them would corrupt the other.
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "host",
];

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Upstream answers larger than this fail with `UPSTREAM_RESPONSE_TOO_LARGE` instead of
/// exhausting memory.
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// How much of a readiness probe's answer is read.
const PROBE_BYTES: usize = 64 * 1024;

/// How much of an error body is quoted in the GraphQL error message.
const ERROR_EXCERPT_CHARS: usize = 200;

/// Readiness: any HTTP answer to `GET <base URL>` means the source is reachable.
pub(super) async fn probe(rest: &RestSource, cx: &PrepareContext<'_>) -> super::Probe {
    let url = match substitute_env(&rest.base_url, cx) {
        Ok(url) => url.to_string(),
        Err(error) => return super::Probe::Down(error.to_string()),
    };
    let client = match client() {
        Ok(client) => client,
        Err(message) => return super::Probe::Down(message),
    };
    let parsed = match url::Url::parse(&url) {
        Ok(parsed) => parsed,
        Err(error) => return super::Probe::Down(format!("`{url}`: {error}")),
    };
    let answer = client.send(Outgoing::get(&parsed), PROBE_BYTES).await;
    match answer {
        // An answer too large to read is still an answer.
        Err(error) if error.kind != ErrorKind::ResponseTooLarge => {
            super::Probe::Down(format!("GET {url}: {}", error.detail))
        }
        _ => super::Probe::Up,
    }
}

/// One `@rest` field, prepared: templates with `{{env.X}}` already substituted.
pub struct RestInvoke {
    source_name: String,
    method: Method,
    read: bool,
    /// Base URL without a trailing `/`.
    base: String,
    path: Template,
    query: Vec<(String, Template)>,
    /// Source headers first, then the field's (a field's header replaces the source's).
    headers: Vec<(HeaderName, Template)>,
    body: Option<Template>,
    encoding: BodyEncoding,
    forward: Vec<HeaderName>,
    response_headers: Arc<[HeaderName]>,
    /// The source honours `Cache-Control` (`httpCache`): answers carry their freshness.
    freshness: bool,
    client: HttpClient,
}

impl fmt::Debug for RestInvoke {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RestInvoke({} {} {}{})",
            self.source_name, self.method, self.base, self.path
        )
    }
}

fn header_name(name: &str, cx: &PrepareContext<'_>) -> Result<HeaderName, BuildError> {
    HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| BuildError::InvalidTemplate {
        coordinate: cx.coordinate.to_string(),
        message: format!("`{name}` is not a valid HTTP header name"),
    })
}

/// Prepares one `@rest` call of `field` against `source`.
pub fn prepare(
    source: &Source,
    rest: &RestSource,
    call: &RestCall,
    _field: &Field,
    cx: &PrepareContext<'_>,
) -> Result<RestInvoke, BuildError> {
    let invalid_source = |message: String| BuildError::InvalidSource {
        source_name: source.name.clone(),
        message,
    };
    let base = substitute_env(&rest.base_url, cx)?;
    if !base.is_literal() {
        return Err(invalid_source(format!(
            "the base URL `{}` may only use {{{{env.X}}}}, which is fixed when the gateway is built",
            rest.base_url
        )));
    }
    let base = base.to_string();
    let parsed =
        url::Url::parse(&base).map_err(|e| invalid_source(format!("base URL `{base}`: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid_source(format!(
            "base URL `{base}` must be http or https"
        )));
    }
    let mut headers: Vec<(HeaderName, Template)> = Vec::new();
    for (name, value) in rest.headers.iter().chain(&call.headers) {
        let name = header_name(name, cx)?;
        headers.retain(|(existing, _)| existing != name);
        headers.push((name, substitute_env(value, cx)?));
    }
    let names = |list: &[String]| {
        list.iter()
            .map(|n| header_name(n, cx))
            .filter(|n| {
                n.as_ref()
                    .map_or(true, |n| !NOT_FORWARDED.contains(&n.as_str()))
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let method = Method::from_bytes(call.method.as_str().as_bytes())
        .map_err(|e| invalid_source(format!("method {}: {e}", call.method.as_str())))?;
    Ok(RestInvoke {
        source_name: source.name.clone(),
        method,
        read: call.method.is_read() && !cx.mutation,
        base: base.trim_end_matches('/').to_string(),
        path: substitute_env(&call.path, cx)?,
        query: call
            .query
            .iter()
            .map(|(name, value)| Ok((name.clone(), substitute_env(value, cx)?)))
            .collect::<Result<_, BuildError>>()?,
        headers,
        body: call
            .body
            .as_ref()
            .map(|b| substitute_env(b, cx))
            .transpose()?,
        encoding: call.encoding,
        forward: names(&source.policy.forward_headers)?,
        response_headers: names(&source.policy.response_headers)?.into(),
        freshness: source.policy.http_cache,
        client: client().map_err(invalid_source)?,
    })
}

/// Prepares the batch form of a `@rest` link: one `GET {batch.path}?{query}=k1&{query}=k2…`,
/// or one `POST` (`PUT`, `PATCH`) to `batch.path` whose JSON body is the list of keys (or
/// `{"<keys>": [...]}`), rendered from `{{args.keys}}`, with the link's own headers. Whether a
/// batch call is shared and cached is decided by its link (the executor asks the link's
/// invoker, `exec::add_job`), so a POST lookup serving a GET link is a read like the GETs.
pub fn prepare_batch(
    source: &Source,
    rest: &RestSource,
    call: &RestCall,
    batch: &RestBatch,
    field: &Field,
    cx: &PrepareContext<'_>,
) -> Result<RestInvoke, BuildError> {
    let keys = super::keys_template(batch.keys.as_deref());
    let (query, body) = match &batch.query {
        Some(param) if batch.method == HttpMethod::Get => (vec![(param.clone(), keys)], None),
        _ => (Vec::new(), Some(keys)),
    };
    let batched = RestCall {
        method: batch.method,
        path: batch.path.clone(),
        query,
        headers: call.headers.clone(),
        body,
        // Keys are sent as JSON whatever the link's own body is.
        encoding: BodyEncoding::Json,
        batch: None,
    };
    prepare(source, rest, &batched, field, cx)
}

impl RestInvoke {
    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> UpstreamError {
        UpstreamError::new(kind, &self.source_name, message)
    }

    /// The path with each variable percent-encoded as one segment.
    /// `None` when a parent property the path needs is missing or null: a link whose key is
    /// null resolves to null without a call. A missing argument is an error, never an empty
    /// segment (which would silently address another resource, `/users/` instead of
    /// `/users/7`).
    fn render_path(&self, input: &CallInput<'_>) -> Result<Option<String>, UpstreamError> {
        let mut out = String::new();
        for segment in &self.path.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Var(var) => match lookup(var, input) {
                    Some(value) if !value.is_null() => {
                        out.extend(utf8_percent_encode(&value_text(&value), SEGMENT));
                    }
                    _ if var.scope == Scope::Parent => return Ok(None),
                    _ => {
                        return Err(self.error(
                            ErrorKind::InvalidRequest,
                            format!("the path needs `{{{{{var}}}}}`, which is null or missing"),
                        ));
                    }
                },
            }
        }
        Ok(Some(out))
    }

    fn render_url(&self, input: &CallInput<'_>) -> Result<Option<url::Url>, UpstreamError> {
        let Some(path) = self.render_path(input)? else {
            return Ok(None);
        };
        let joined = if path.is_empty() || path.starts_with('/') || path.starts_with('?') {
            format!("{}{path}", self.base)
        } else {
            format!("{}/{path}", self.base)
        };
        let mut url = url::Url::parse(&joined).map_err(|e| {
            self.error(
                ErrorKind::InvalidRequest,
                format!("the URL `{joined}` is invalid: {e}"),
            )
        })?;
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, template) in &self.query {
                match template.sole_var() {
                    Some(var) => match lookup(var, input).as_deref() {
                        None | Some(Value::Null) => {}
                        Some(Value::Array(items)) => {
                            for item in items.iter().filter(|i| !i.is_null()) {
                                pairs.append_pair(name, &value_text(item));
                            }
                        }
                        Some(value) => {
                            pairs.append_pair(name, &value_text(value));
                        }
                    },
                    None => {
                        pairs.append_pair(name, &render_text(template, input));
                    }
                }
            }
        }
        Ok(Some(url))
    }
}

impl Invoke for RestInvoke {
    fn source_name(&self) -> &str {
        &self.source_name
    }

    fn is_read(&self) -> bool {
        self.read
    }

    fn render(&self, input: &CallInput<'_>) -> Result<Box<dyn Rendered>, UpstreamError> {
        let Some(url) = self.render_url(input)? else {
            return Ok(Box::new(NoCall {
                key: format!("{}\nno call", self.source_name),
            }));
        };
        let mut headers = HeaderMap::new();
        for name in &self.forward {
            for value in input.headers.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        for (name, template) in &self.headers {
            if let Some(var) = template.sole_var()
                && lookup(var, input).is_none_or(|v| v.is_null())
            {
                continue;
            }
            let text = render_text(template, input);
            let value = HeaderValue::from_str(&text).map_err(|_| {
                self.error(
                    ErrorKind::InvalidRequest,
                    format!("the value of header `{name}` is not valid in HTTP"),
                )
            })?;
            headers.insert(name.clone(), value);
        }
        let body = match (&self.body, self.encoding) {
            (None, _) => None,
            (Some(template), BodyEncoding::Form | BodyEncoding::FormBrackets) => Some(
                form_body(&render_json(template, input), self.encoding)
                    .map_err(|message| self.error(ErrorKind::InvalidRequest, message))?,
            ),
            (Some(template), BodyEncoding::Json) => Some(match template.sole_var() {
                Some(_) => render_json(template, input).to_string(),
                None => render_text(template, input),
            }),
        };
        if body.is_some() && !headers.contains_key(CONTENT_TYPE) {
            let media = match self.encoding {
                BodyEncoding::Json => "application/json",
                BodyEncoding::Form | BodyEncoding::FormBrackets => {
                    "application/x-www-form-urlencoded"
                }
            };
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(media));
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        }
        let mut key = format!("{}\n{} {url}\n", self.source_name, self.method);
        for (name, value) in &headers {
            key.push_str(name.as_str());
            key.push(':');
            key.push_str(&String::from_utf8_lossy(value.as_bytes()));
            key.push('\n');
        }
        if let Some(body) = &body {
            key.push_str(body);
        }
        crate::projection::mark_key(&mut key, input.projection.map(|p| &**p));
        Ok(Box::new(RestRequest {
            key,
            projection: input.projection.cloned(),
            source_name: self.source_name.clone(),
            method: self.method.clone(),
            url,
            headers,
            body,
            response_headers: Arc::clone(&self.response_headers),
            freshness: self.freshness,
            client: self.client.clone(),
        }))
    }
}

/// `value` as an `application/x-www-form-urlencoded` body (see [`BodyEncoding`]): each
/// property a `name=value` pair, nested values named in brackets (`card[exp_month]=12`,
/// `items[0][price]=p`); with `Form`, a property that is a list of scalars repeats its name
/// instead (`tags=a&tags=b`). Nulls, empty lists and empty objects have no pair and are
/// left out; a null body is empty.
fn form_body(value: &Value, encoding: BodyEncoding) -> Result<String, String> {
    let object = match value {
        Value::Object(object) => object,
        Value::Null => return Ok(String::new()),
        Value::Array(_) => return Err("a form body must be an object, not a list".into()),
        _ => return Err("a form body must be an object, not a single value".into()),
    };
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    let mut name = String::new();
    for (key, value) in object {
        // The default style repeats the name of a list of scalars once per item.
        let repeated = match value {
            Value::Array(items)
                if encoding == BodyEncoding::Form
                    && items.iter().all(|i| !i.is_array() && !i.is_object()) =>
            {
                items.as_slice()
            }
            _ => std::slice::from_ref(value),
        };
        for value in repeated {
            name.clear();
            name.push_str(key);
            append_form_pairs(&mut form, &mut name, value);
        }
    }
    Ok(form.finish())
}

/// The pairs of `value` under `name` (restored on return).
fn append_form_pairs(
    form: &mut url::form_urlencoded::Serializer<'_, String>,
    name: &mut String,
    value: &Value,
) {
    let len = name.len();
    match value {
        Value::Null => {}
        Value::Bool(b) => {
            form.append_pair(name, if *b { "true" } else { "false" });
        }
        Value::Number(n) => {
            form.append_pair(name, &n.to_string());
        }
        Value::String(s) => {
            form.append_pair(name, s);
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                name.push('[');
                name.push_str(itoa::Buffer::new().format(i));
                name.push(']');
                append_form_pairs(form, name, item);
                name.truncate(len);
            }
        }
        Value::Object(properties) => {
            for (key, item) in properties {
                name.push('[');
                name.push_str(key);
                name.push(']');
                append_form_pairs(form, name, item);
                name.truncate(len);
            }
        }
    }
}

/// A link whose parent key is null: the field is null and nothing is sent.
struct NoCall {
    key: String,
}

impl Rendered for NoCall {
    fn key(&self) -> &str {
        &self.key
    }

    fn send(
        self: Box<Self>,
        _cx: SendContext,
    ) -> BoxFuture<'static, Result<CallOutput, UpstreamError>> {
        Box::pin(async { Ok(CallOutput::default()) })
    }
}

/// One rendered HTTP request.
struct RestRequest {
    key: String,
    source_name: String,
    method: Method,
    url: url::Url,
    headers: HeaderMap,
    body: Option<String>,
    response_headers: Arc<[HeaderName]>,
    freshness: bool,
    client: HttpClient,
    /// Decode only this of the answer.
    projection: Option<Arc<crate::projection::Projection>>,
}

impl Rendered for RestRequest {
    fn key(&self) -> &str {
        &self.key
    }

    fn send(
        self: Box<Self>,
        cx: SendContext,
    ) -> BoxFuture<'static, Result<CallOutput, UpstreamError>> {
        Box::pin(async move {
            let source = self.source_name.clone();
            let (method, url) = (self.method.clone(), self.url.clone());
            let target = move || format!("{method} {}", url.path());
            within_deadline(&source, target, cx.deadline, self.exchange(cx.request_id)).await
        })
    }
}

impl RestRequest {
    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> UpstreamError {
        UpstreamError::new(kind, &self.source_name, message)
    }

    fn transport_error(&self, e: SendError) -> UpstreamError {
        let source = &self.source_name;
        let message = match e.kind {
            ErrorKind::Timeout => format!("upstream `{source}` timed out"),
            ErrorKind::Unreachable => format!("upstream `{source}` is unreachable: {}", e.detail),
            ErrorKind::ResponseTooLarge => {
                format!("upstream `{source}` answered more than {MAX_RESPONSE_BYTES} bytes")
            }
            _ => format!("upstream `{source}` failed: {}", e.detail),
        };
        let error = self.error(e.kind, message);
        match e.status {
            Some(status) => error.with_status(status),
            None => error,
        }
    }

    async fn exchange(
        mut self: Box<Self>,
        request_id: Arc<str>,
    ) -> Result<CallOutput, UpstreamError> {
        // The request is sent once: its headers and body move into it.
        let mut headers = std::mem::take(&mut self.headers);
        // The gateway's id replaces any the client sent (even an allowlisted one), so the
        // upstream sees exactly one.
        if let Ok(id) = HeaderValue::from_str(&request_id)
            && !request_id.is_empty()
        {
            headers.insert(X_REQUEST_ID, id);
        }
        let body = self.body.take().map(Bytes::from).unwrap_or_default();
        let answer = self
            .client
            .send(
                Outgoing {
                    method: self.method.clone(),
                    url: &self.url,
                    headers,
                    body,
                },
                MAX_RESPONSE_BYTES,
            )
            .await
            .map_err(|e| self.transport_error(e))?;
        let (status, body) = (answer.status, answer.body);
        let mut headers = HeaderMap::new();
        for name in self.response_headers.iter() {
            for value in answer.headers.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        let freshness = if self.freshness {
            crate::cache::freshness_headers(&answer.headers)
        } else {
            HeaderMap::new()
        };
        let source = &self.source_name;
        if !status.is_success() {
            let excerpt: String = String::from_utf8_lossy(&body)
                .chars()
                .take(ERROR_EXCERPT_CHARS)
                .collect();
            let excerpt = excerpt.trim();
            let message = if excerpt.is_empty() {
                format!("upstream `{source}` answered HTTP {}", status.as_u16())
            } else {
                format!(
                    "upstream `{source}` answered HTTP {}: {excerpt}",
                    status.as_u16()
                )
            };
            return Err(self
                .error(ErrorKind::HttpStatus, message)
                .with_status(status.as_u16()));
        }
        if body.iter().all(u8::is_ascii_whitespace) {
            // 204 No Content, HEAD, or an empty 200: the field is null, not an error.
            return Ok(CallOutput {
                value: Value::Null.into(),
                headers,
                freshness,
            });
        }
        let projection = self.projection.as_deref();
        let value = crate::projection::decode(&self.key, &body, projection).map_err(|e| {
            let content_type = answer
                .headers
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("no content type")
                .to_string();
            self.error(
                ErrorKind::InvalidJson,
                format!(
                    "upstream `{source}` answered something that is not JSON ({content_type}): {e}"
                ),
            )
            .with_status(status.as_u16())
        })?;
        Ok(CallOutput {
            value,
            headers,
            freshness,
        })
    }
}

// ---------------------------------------------------------------------------------------
// describe
// ---------------------------------------------------------------------------------------

/// Limits for reading a spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchOptions {
    /// Connect and total time for an http(s) fetch.
    pub timeout: Duration,
    /// Larger documents are refused.
    pub max_bytes: u64,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            timeout: Duration::from_secs(30),
            max_bytes: 100 * 1024 * 1024,
        }
    }
}

/// Reads a spec from a file path or an http(s) URL, with the default limits.
pub async fn fetch_spec(location: &str) -> Result<String, DescribeError> {
    fetch_spec_with(location, &FetchOptions::default()).await
}

/// Reads a spec from a file path or an http(s) URL.
pub async fn fetch_spec_with(
    location: &str,
    options: &FetchOptions,
) -> Result<String, DescribeError> {
    if location.starts_with("http://") || location.starts_with("https://") {
        fetch_url(location, options).await
    } else {
        let path = location.strip_prefix("file://").unwrap_or(location);
        read_file(Path::new(path), location, options.max_bytes)
    }
}

async fn fetch_url(location: &str, options: &FetchOptions) -> Result<String, DescribeError> {
    let fetch_error = |message: String| DescribeError::Fetch {
        location: location.to_string(),
        message,
    };
    let client = client().map_err(fetch_error)?;
    let url = url::Url::parse(location).map_err(|e| fetch_error(e.to_string()))?;
    let mut headers = HeaderMap::new();
    headers.insert(
        ACCEPT,
        HeaderValue::from_static("application/json, application/yaml, text/yaml, */*"),
    );
    let limit = usize::try_from(options.max_bytes).unwrap_or(usize::MAX);
    let work = async {
        let status_error = |status: u16| DescribeError::Status {
            location: location.to_string(),
            status,
        };
        let answer = match client
            .send(
                Outgoing {
                    headers,
                    ..Outgoing::get(&url)
                },
                limit,
            )
            .await
        {
            Ok(answer) => answer,
            Err(e) if e.kind == ErrorKind::ResponseTooLarge => {
                return Err(match e.status {
                    Some(status) if !(200..300).contains(&status) => status_error(status),
                    _ => DescribeError::TooLarge {
                        location: location.to_string(),
                        limit: options.max_bytes,
                    },
                });
            }
            Err(e) => return Err(fetch_error(e.detail)),
        };
        if !answer.status.is_success() {
            return Err(status_error(answer.status.as_u16()));
        }
        String::from_utf8(Vec::from(answer.body)).map_err(|_| DescribeError::NotText {
            location: location.to_string(),
        })
    };
    tokio::time::timeout(options.timeout, work)
        .await
        .map_err(|_| DescribeError::Timeout {
            location: location.to_string(),
            seconds: options.timeout.as_secs(),
        })?
}

fn read_file(path: &Path, location: &str, max_bytes: u64) -> Result<String, DescribeError> {
    let io_error = |e: std::io::Error| DescribeError::Io {
        location: location.to_string(),
        message: e.to_string(),
    };
    let metadata = std::fs::metadata(path).map_err(io_error)?;
    if metadata.len() > max_bytes {
        return Err(DescribeError::TooLarge {
            location: location.to_string(),
            limit: max_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(io_error)?;
    String::from_utf8(bytes).map_err(|_| DescribeError::NotText {
        location: location.to_string(),
    })
}

/// Loads the documents that external `$ref`s name, for OpenAPI ingest: `ingest` joins each
/// relative reference with the referring document's location, so this reads exactly the
/// path it is given (`file://` accepted, any `#fragment` ignored), under the same size cap
/// as the root spec. Remote references are refused: the loader is synchronous and runs
/// inside ingest, where blocking on the network would stall the compiler.
#[derive(Debug, Clone)]
pub struct SpecLoader {
    /// Larger documents are refused.
    pub max_bytes: u64,
}

impl Default for SpecLoader {
    fn default() -> Self {
        SpecLoader {
            max_bytes: FetchOptions::default().max_bytes,
        }
    }
}

impl schema_gen::ingest::openapi::DocumentLoader for SpecLoader {
    fn load(&self, uri: &str) -> Result<String, String> {
        let without_fragment = uri.split('#').next().unwrap_or(uri);
        if without_fragment.starts_with("http://") || without_fragment.starts_with("https://") {
            return Err(format!(
                "`{uri}` is remote; only references to files are loaded"
            ));
        }
        let path = without_fragment
            .strip_prefix("file://")
            .unwrap_or(without_fragment);
        read_file(Path::new(path), path, self.max_bytes).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_variables_stay_inside_their_segment() {
        let encoded: String = utf8_percent_encode("a/b?c d", SEGMENT).collect();
        assert_eq!(encoded, "a%2Fb%3Fc%20d");
    }

    #[test]
    fn form_bodies_name_nested_values_in_brackets() {
        let pairs = |body: String| -> Vec<(String, String)> {
            url::form_urlencoded::parse(body.as_bytes())
                .into_owned()
                .collect()
        };
        let value = serde_json::json!({
            "email": "a+b@example.com",
            "amount": 1999,
            "live": false,
            "description": null,
            "metadata": {"order id": "7&8", "empty": {}},
            "expand": ["customer", "invoice"],
            "items": [{"price": "p_1", "quantity": 2}, {"price": "é"}],
            "tags": []
        });
        let body = form_body(&value, BodyEncoding::FormBrackets).unwrap();
        let expected = [
            ("email", "a+b@example.com"),
            ("amount", "1999"),
            ("live", "false"),
            ("metadata[order id]", "7&8"),
            ("expand[0]", "customer"),
            ("expand[1]", "invoice"),
            ("items[0][price]", "p_1"),
            ("items[0][quantity]", "2"),
            ("items[1][price]", "é"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs(body.clone()), expected);
        // Reserved characters are escaped, so a value cannot start another pair.
        assert!(body.contains("metadata%5Border+id%5D=7%268"), "{body}");
        assert!(body.starts_with("email=a%2Bb%40example.com&"), "{body}");

        // The default form style: a list of scalars repeats its name; deeper values are
        // still named in brackets.
        let body = form_body(&value, BodyEncoding::Form).unwrap();
        let mut expected = expected;
        expected[4] = ("expand".into(), "customer".into());
        expected[5] = ("expand".into(), "invoice".into());
        assert_eq!(pairs(body), expected);

        for encoding in [BodyEncoding::Form, BodyEncoding::FormBrackets] {
            assert_eq!(form_body(&Value::Null, encoding).unwrap(), "");
            let list = form_body(&serde_json::json!([1]), encoding);
            assert!(list.unwrap_err().contains("not a list"));
            let single = form_body(&serde_json::json!("x"), encoding);
            assert!(single.unwrap_err().contains("single value"));
        }
    }

    #[test]
    fn the_spec_loader_reads_files_and_refuses_remote_references() {
        use schema_gen::ingest::openapi::DocumentLoader;
        let dir = std::env::temp_dir().join(format!("graft-loader-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("parts")).unwrap();
        std::fs::write(dir.join("parts/pet.yaml"), "type: object").unwrap();
        let loader = SpecLoader::default();
        let path = dir.join("parts/pet.yaml").display().to_string();
        assert_eq!(
            loader.load(&format!("{path}#/Pet")).unwrap(),
            "type: object"
        );
        assert_eq!(
            loader.load(&format!("file://{path}")).unwrap(),
            "type: object"
        );
        let missing = loader.load(&dir.join("parts/missing.yaml").display().to_string());
        assert!(missing.unwrap_err().contains("missing.yaml"));
        assert!(
            loader
                .load("https://example.invalid/x.yaml")
                .unwrap_err()
                .contains("remote")
        );
        let small = SpecLoader { max_bytes: 4 };
        assert!(
            small
                .load(&path)
                .unwrap_err()
                .contains("larger than 4 bytes")
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
