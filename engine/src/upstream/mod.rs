//! Upstream calls, independent of transport: the [`Invoke`] interface every transport
//! implements, the one dispatcher ([`prepare`]) that picks a transport, and template helpers
//! shared by all of them.
//!
//! A field backed by an upstream is prepared once, when the gateway is built, into an
//! `Arc<dyn Invoke>`. Per request the resolver hands it a [`CallInput`]; the invoker renders
//! a [`Rendered`] request whose [`Rendered::key`] identifies it (identical reads share one
//! call, see `loader.rs`), and sending the rendered request yields a [`CallOutput`].
//!
//! Adding a transport means one file here (`grpc.rs`, `lambda.rs`) with a `prepare`
//! function returning `Arc<dyn Invoke>`, plus one arm in [`prepare`] below; nothing else in
//! the engine matches on the transport.

pub mod client;
pub mod grpc;
pub mod http;
pub mod lambda;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use ::http::HeaderMap;
use futures::future::BoxFuture;
use schema_gen::catalog::{Call, Field, Resolver, Source, Transport};
use schema_gen::template::{Scope, Segment, Template, Var};
use serde_json::{Map, Value};

use crate::error::{BuildError, UpstreamError};

/// Everything one call of a field may read, already in the upstream's spelling.
#[derive(Debug, Clone, Copy)]
pub struct CallInput<'a> {
    /// Argument values keyed by their GraphQL names (what `{{args.x}}` reads). Values are in
    /// wire spelling: input-object fields under their `@map` names, enum values as the
    /// upstream spells them, `Int64` as JSON numbers. Absent optional arguments are missing.
    pub args: &'a Map<String, Value>,
    /// The same values keyed by the arguments' wire names (`@map` on an argument); this is
    /// what a transport that sends "the arguments" as a message or payload should send.
    /// Identical to `args` when no argument is renamed.
    pub wire_args: &'a Map<String, Value>,
    /// The parent value for links (`{{parent.x}}`), as the parent's upstream sent it; `None`
    /// on root fields.
    pub parent: Option<crate::decoded::Val<'a>>,
    /// The client's request headers. Transports forward only the source's allowlist
    /// (`SourcePolicy::forward_headers`); `{{headers.x}}` may read any of them.
    pub headers: &'a HeaderMap,
    /// What of a JSON answer the operation reads (the plan executor's; `None` keeps all).
    /// A transport that decodes with it puts its fingerprint into the rendered key.
    pub projection: Option<&'a Arc<crate::projection::Projection>>,
}

/// Per-send facts that do not change what the upstream answers (so they are not part of
/// the dedupe key).
#[derive(Debug, Clone)]
pub struct SendContext {
    /// The call must finish (response body included) by this instant, else it fails with
    /// `UPSTREAM_TIMEOUT`.
    pub deadline: tokio::time::Instant,
    /// The client request's id; sent upstream (HTTP: `x-request-id`).
    pub request_id: Arc<str>,
}

/// A successful call.
#[derive(Debug, Clone, Default)]
pub struct CallOutput {
    /// The decoded response: a JSON answer as a tape when the call has a projection (the plan
    /// executor's), else as a whole `Value`; gRPC messages as the `Value` of their JSON
    /// mapping.
    pub value: crate::decoded::Decoded,
    /// Response headers to pass back to the client: only those the source names in
    /// `SourcePolicy::response_headers`, already filtered by the transport.
    pub headers: HeaderMap,
    /// The answer's `Cache-Control` and `Age`, which the response cache reads
    /// ([`crate::cache::ttl`]); filled only for sources with `httpCache`, whatever they pass
    /// back to clients.
    pub freshness: HeaderMap,
}

/// One field's prepared upstream call. Built once per gateway; cheap to share.
pub trait Invoke: Send + Sync + fmt::Debug {
    /// The source's name, for errors and metrics.
    fn source_name(&self) -> &str;

    /// True when the call only reads (HTTP GET/HEAD/OPTIONS, a gRPC/Lambda call marked safe):
    /// such calls may be deduplicated within a request and, later, cached.
    fn is_read(&self) -> bool;

    /// Renders the request this input produces. Everything that can change the upstream's
    /// answer (URL, forwarded headers, body, ...) goes into the rendered request and its key.
    fn render(&self, input: &CallInput<'_>) -> Result<Box<dyn Rendered>, UpstreamError>;

    /// Opens the stream behind a Subscription field (gRPC server streaming): one value per
    /// upstream message; an error is the stream's last item. `cx.deadline` bounds opening
    /// only. Transports without streams yield one `UPSTREAM_INVALID_REQUEST` error.
    fn subscribe(
        &self,
        input: &CallInput<'_>,
        cx: SendContext,
    ) -> futures::stream::BoxStream<'static, Result<Value, UpstreamError>> {
        let _ = (input, cx);
        let error = UpstreamError::new(
            crate::error::ErrorKind::InvalidRequest,
            self.source_name(),
            format!("source `{}` cannot serve subscriptions", self.source_name()),
        );
        Box::pin(futures::stream::once(async move { Err(error) }))
    }
}

/// A request ready to send.
pub trait Rendered: Send {
    /// Identifies the request: two rendered requests with equal keys get the same answer,
    /// so within one request the engine sends only one of them (when the call is a read).
    /// Keys of different sources and transports never collide (they start with the source).
    fn key(&self) -> &str;

    /// Sends the request. The future owns everything it needs, so it can be shared.
    fn send(
        self: Box<Self>,
        cx: SendContext,
    ) -> BoxFuture<'static, Result<CallOutput, UpstreamError>>;
}

/// What transports need when preparing a field's call.
pub struct PrepareContext<'a> {
    /// `Type.field`, for build errors.
    pub coordinate: &'a str,
    /// Reads `{{env.NAME}}`; templates are resolved against it when the gateway is built.
    pub env: &'a (dyn Fn(&str) -> Option<String> + Sync),
    /// The field is on the mutation root: whatever its transport, its calls are never
    /// shared or cached (`Invoke::is_read` is false).
    pub mutation: bool,
}

/// The one dispatcher from a catalog call to its transport's invoker.
pub fn prepare(
    source: &Source,
    resolver: &Resolver,
    field: &Field,
    cx: &PrepareContext<'_>,
) -> Result<Arc<dyn Invoke>, BuildError> {
    match (&source.transport, &resolver.call) {
        (Transport::Rest(rest), Call::Rest(call)) => {
            Ok(Arc::new(http::prepare(source, rest, call, field, cx)?))
        }
        (Transport::Grpc(grpc), Call::Grpc(call)) => {
            Ok(Arc::new(grpc::prepare(source, grpc, call, field, cx)?))
        }
        (Transport::Lambda(lambda), Call::Lambda(call)) => {
            Ok(Arc::new(lambda::prepare(source, lambda, call, field, cx)?))
        }
        (transport, call) => Err(BuildError::TransportMismatch {
            coordinate: cx.coordinate.to_string(),
            source_name: source.name.clone(),
            call: call.keyword(),
            transport: transport.keyword(),
        }),
    }
}

/// Every upstream-backed field's invoker, by coordinate (`Type.field`).
pub type Invokes = std::collections::HashMap<String, Arc<dyn Invoke>>;

/// Prepares every upstream-backed field of `catalog` once, for both executors (the plan
/// executor and async-graphql's resolvers share these invokers).
pub fn prepare_all(
    catalog: &schema_gen::Catalog,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Invokes, BuildError> {
    let mut invokes = Invokes::new();
    for (type_name, def) in &catalog.types {
        let schema_gen::catalog::TypeKind::Object(object) = &def.kind else {
            continue;
        };
        for field in object.fields.values() {
            let Some(resolver) = &field.resolver else {
                continue;
            };
            let coordinate = format!("{type_name}.{}", field.name);
            let source = source_of(catalog, resolver, &coordinate)?;
            let cx = PrepareContext {
                coordinate: &coordinate,
                env,
                mutation: catalog.roots.mutation.as_deref() == Some(type_name.as_str()),
            };
            let invoke = prepare(source, resolver, field, &cx)?;
            invokes.insert(coordinate, invoke);
        }
    }
    Ok(invokes)
}

/// The source a field's resolver names.
pub fn source_of<'c>(
    catalog: &'c schema_gen::Catalog,
    resolver: &Resolver,
    coordinate: &str,
) -> Result<&'c Source, BuildError> {
    catalog
        .sources
        .get(&resolver.source)
        .ok_or_else(|| BuildError::UnknownSource {
            coordinate: coordinate.to_string(),
            source_name: resolver.source.clone(),
        })
}

/// The invoker [`prepare_all`] prepared for `coordinate`.
pub fn prepared(invokes: &Invokes, coordinate: &str) -> Result<Arc<dyn Invoke>, BuildError> {
    invokes
        .get(coordinate)
        .cloned()
        .ok_or_else(|| BuildError::InvalidTemplate {
            coordinate: coordinate.to_string(),
            message: "the field's upstream call was not prepared".into(),
        })
}

/// A link's batch form: N parent lookups become ⌈N / `max_size`⌉ calls of `invoke`, each
/// rendered with `args.keys` = the list of parent keys, answered by a list of items (the
/// answer itself, or the list at `items` in it) matched back to parents by `item_key`.
#[derive(Debug, Clone)]
pub struct BatchInvoke {
    pub invoke: Arc<dyn Invoke>,
    /// Path of the key in each parent value (`userId` for `{{parent.userId}}`).
    pub parent_key: Vec<String>,
    /// Path of the list of items in the answer; empty when the answer is the list.
    pub items: Arc<[String]>,
    /// Property of each returned item that holds its key.
    pub item_key: String,
    pub max_size: usize,
}

/// The batch form of a link, when its call declares one and reads its parent's key
/// (`Call::parent_key`); each transport prepares the batched call, in its own form.
pub fn prepare_batch(
    source: &Source,
    resolver: &Resolver,
    field: &Field,
    cx: &PrepareContext<'_>,
) -> Result<Option<BatchInvoke>, BuildError> {
    let Some(parent_key) = resolver.call.parent_key() else {
        return Ok(None);
    };
    let (invoke, items, item_key, max_size): (Arc<dyn Invoke>, Vec<String>, String, usize) =
        match (&source.transport, &resolver.call) {
            (Transport::Rest(rest), Call::Rest(call)) => {
                let Some(batch) = &call.batch else {
                    return Ok(None);
                };
                let invoke = http::prepare_batch(source, rest, call, batch, field, cx)?;
                (
                    Arc::new(invoke),
                    property_path(batch.items.as_deref()),
                    batch.key.clone(),
                    batch.max_size,
                )
            }
            (Transport::Grpc(grpc), Call::Grpc(call)) => {
                let Some(batch) = &call.batch else {
                    return Ok(None);
                };
                let invoke = grpc::prepare_batch(source, grpc, batch, field, cx)?;
                let items = vec![grpc::json_name(&batch.items)];
                (
                    Arc::new(invoke),
                    items,
                    grpc::json_name(&batch.key),
                    batch.max_size,
                )
            }
            (Transport::Lambda(lambda), Call::Lambda(call)) => {
                let Some(batch) = &call.batch else {
                    return Ok(None);
                };
                let invoke = lambda::prepare_batch(source, lambda, call, batch, field, cx)?;
                let items = property_path(batch.items.as_deref());
                (Arc::new(invoke), items, batch.key.clone(), batch.max_size)
            }
            _ => return Ok(None),
        };
    Ok(Some(BatchInvoke {
        invoke,
        parent_key: parent_key.to_vec(),
        items: items.into(),
        item_key,
        max_size: max_size.max(1),
    }))
}

/// A batch answer's dotted `items` path (`data.users`) as its property names; empty: the
/// answer itself is the list.
fn property_path(items: Option<&str>) -> Vec<String> {
    items.map_or_else(Vec::new, |path| {
        path.split('.').map(str::to_string).collect()
    })
}

/// The request template of a batch call: `{{args.keys}}` (the list of keys) as it is, or
/// as the one member `property` of a JSON object (`{"ids": [1, 2]}`).
pub fn keys_template(property: Option<&str>) -> Template {
    let keys = Segment::Var(Var {
        scope: Scope::Args,
        path: vec!["keys".to_string()],
    });
    let segments = match property {
        None => vec![keys],
        Some(property) => vec![
            Segment::Literal(format!("{{{}: ", Value::String(property.to_string()))),
            keys,
            Segment::Literal("}".to_string()),
        ],
    };
    Template { segments }
}

/// The field's arguments renamed by `@map`: (GraphQL name, wire name).
pub fn renamed_args(field: &Field) -> Vec<(String, String)> {
    field
        .args
        .values()
        .filter(|a| a.wire_name.is_some())
        .map(|a| (a.name.clone(), a.wire().to_string()))
        .collect()
}

/// `args` keyed by their wire names ([`CallInput::wire_args`]); borrowed when none is renamed.
pub fn wire_args<'a>(
    args: &'a Map<String, Value>,
    renamed: &[(String, String)],
) -> Cow<'a, Map<String, Value>> {
    if renamed.is_empty() {
        return Cow::Borrowed(args);
    }
    let mut map = args.clone();
    for (name, wire) in renamed {
        if let Some(value) = map.remove(name) {
            map.insert(wire.clone(), value);
        }
    }
    Cow::Owned(map)
}

/// How long one call of a field may take: the field's timeout, else its source's, else the
/// gateway's default.
pub fn call_timeout(
    resolver: &Resolver,
    source: &Source,
    default: std::time::Duration,
) -> std::time::Duration {
    resolver
        .policy
        .timeout_ms
        .or(source.policy.timeout_ms)
        .map(std::time::Duration::from_millis)
        .unwrap_or(default)
}

/// What a readiness probe found out about a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The source answered (any answer at all: a 404 still proves it is reachable).
    Up,
    /// It could not be reached; why.
    Down(String),
    /// This transport cannot be probed without calling a function (Lambda).
    Unchecked,
}

/// Checks that a source answers, within `timeout`. Never invokes an operation.
pub async fn probe(
    source: &Source,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    timeout: std::time::Duration,
) -> Probe {
    let cx = PrepareContext {
        coordinate: &source.name,
        env,
        mutation: false,
    };
    let work = async {
        match &source.transport {
            Transport::Rest(rest) => http::probe(rest, &cx).await,
            Transport::Grpc(grpc) => grpc::probe(grpc, &cx).await,
            Transport::Lambda(_) => Probe::Unchecked,
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Probe::Down(format!("no answer within {} ms", timeout.as_millis())))
}

/// Replaces every `{{env.NAME}}` with its value, so that per-request rendering never reads
/// the environment. A variable that is not set is a build error.
pub fn substitute_env(
    template: &Template,
    cx: &PrepareContext<'_>,
) -> Result<Template, BuildError> {
    if !template.vars().any(|v| v.scope == Scope::Env) {
        return Ok(template.clone());
    }
    let mut segments: Vec<Segment> = Vec::with_capacity(template.segments.len());
    for segment in &template.segments {
        let segment = match segment {
            Segment::Var(var) if var.scope == Scope::Env => {
                let name = var.path.join(".");
                let value = (cx.env)(&name).ok_or_else(|| BuildError::MissingEnv {
                    coordinate: cx.coordinate.to_string(),
                    name,
                })?;
                Segment::Literal(value)
            }
            other => other.clone(),
        };
        // Merge neighbouring literals so a fully literal result is recognisable as such.
        match (segments.last_mut(), segment) {
            (Some(Segment::Literal(prev)), Segment::Literal(next)) => prev.push_str(&next),
            (_, segment) => segments.push(segment),
        }
    }
    Ok(Template { segments })
}

/// The value a template variable reads from one call's input; `None` when it is missing
/// (an absent argument, a parent property that is not there, a header not sent).
pub fn lookup<'a>(var: &Var, input: &CallInput<'a>) -> Option<Cow<'a, Value>> {
    let (root, path): (&'a Value, &[String]) = match var.scope {
        Scope::Args => {
            let (first, rest) = var.path.split_first()?;
            (input.args.get(first)?, rest)
        }
        Scope::Parent => {
            let mut value = input.parent?;
            for key in &var.path {
                value = match value.items() {
                    Some(mut items) => items.nth(key.parse::<usize>().ok()?)?,
                    None => value.property(key)?,
                };
            }
            return Some(value.to_json());
        }
        Scope::Headers => {
            let name = var.path.join(".");
            let value = input.headers.get(name.as_str())?.to_str().ok()?;
            return Some(Cow::Owned(Value::String(value.to_string())));
        }
        // Resolved at build time by `substitute_env`.
        Scope::Env => return None,
    };
    let mut value = root;
    for key in path {
        value = match value {
            Value::Object(map) => map.get(key)?,
            Value::Array(items) => items.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(Cow::Borrowed(value))
}

/// A value as template text: strings as they are, other scalars as JSON, null as empty.
pub fn value_text(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        Value::Null => Cow::Borrowed(""),
        other => Cow::Owned(other.to_string()),
    }
}

/// Renders a template as text; missing variables render as nothing.
pub fn render_text(template: &Template, input: &CallInput<'_>) -> String {
    let mut out = String::new();
    for segment in &template.segments {
        match segment {
            Segment::Literal(text) => out.push_str(text),
            Segment::Var(var) => {
                if let Some(value) = lookup(var, input) {
                    out.push_str(&value_text(&value));
                }
            }
        }
    }
    out
}

/// Upstream calls by `source` and `outcome` (`ok` or the error's code).
pub const CALLS_METRIC: &str = "graft_upstream_calls_total";
/// Upstream call latency in seconds by `source`.
pub const DURATION_METRIC: &str = "graft_upstream_call_duration_seconds";
/// Response-cache lookups by `source` and `result` (`hit`, `miss`); recorded by
/// [`crate::cache::Lookups`].
pub const CACHE_LOOKUPS_METRIC: &str = "graft_cache_lookups_total";

/// Runs one upstream exchange within the call's deadline and records it in the call
/// metrics: the one timeout (`UPSTREAM_TIMEOUT`) and the one measurement of every
/// transport's `Rendered::send`, so every executor's calls are bounded and counted alike.
/// `target` names what was called (`GET /posts`, a function, `pkg.Service/Method`); it is
/// only formatted when the call times out.
pub async fn within_deadline(
    source: &str,
    target: impl FnOnce() -> String,
    deadline: tokio::time::Instant,
    exchange: impl std::future::Future<Output = Result<CallOutput, UpstreamError>>,
) -> Result<CallOutput, UpstreamError> {
    let started = std::time::Instant::now();
    let budget = deadline.saturating_duration_since(tokio::time::Instant::now());
    let result = match tokio::time::timeout_at(deadline, exchange).await {
        Ok(result) => result,
        Err(_) => Err(UpstreamError::new(
            crate::error::ErrorKind::Timeout,
            source,
            format!(
                "upstream `{source}` did not answer {} within {} ms",
                target(),
                budget.as_millis()
            ),
        )),
    };
    record_call(source, started, &result);
    result
}

/// Records one finished upstream call in the process's metrics (a no-op until the server
/// installs a recorder); see [`within_deadline`].
fn record_call(
    source: &str,
    started: std::time::Instant,
    result: &Result<CallOutput, UpstreamError>,
) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    };
    metrics::counter!(CALLS_METRIC, "source" => source.to_string(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(DURATION_METRIC, "source" => source.to_string())
        .record(started.elapsed().as_secs_f64());
}

/// Renders a JSON payload template: exactly one `{{...}}` is that value as JSON (null when
/// missing); anything else is the rendered text parsed as JSON, or sent as a JSON string
/// when it is not JSON.
pub fn render_json(template: &Template, input: &CallInput<'_>) -> Value {
    if let Some(var) = template.sole_var() {
        return lookup(var, input)
            .map(Cow::into_owned)
            .unwrap_or(Value::Null);
    }
    let text = render_text(template, input);
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        (name == "HOST").then(|| "http://127.0.0.1:9".to_string())
    }

    #[test]
    fn env_variables_are_substituted_when_preparing() {
        let cx = PrepareContext {
            coordinate: "Query.x",
            env: &env,
            mutation: false,
        };
        let t = Template::parse("{{env.HOST}}/v1").unwrap();
        let done = substitute_env(&t, &cx).unwrap();
        assert!(done.is_literal());
        assert_eq!(done.to_string(), "http://127.0.0.1:9/v1");
        let missing = substitute_env(&Template::parse("{{env.NOPE}}").unwrap(), &cx).unwrap_err();
        assert!(matches!(missing, BuildError::MissingEnv { ref name, .. } if name == "NOPE"));
    }

    #[test]
    fn a_body_batch_finds_items_at_a_dotted_path_and_keys_at_the_parent() {
        use schema_gen::parse::{SdlFile, parse_files};
        let sdl = r#"
schema @source(name: "up", rest: {baseUrl: "{{env.HOST}}"}) { query: Query }
type Query { posts: [Post] @rest(source: "up", path: "/posts") }
type Post {
  userId: Int
  poster: User @rest(source: "up", path: "/users/{{parent.userId}}", batch: {path: "/users/lookup", method: POST, keys: "ids", items: "data.users", key: "id"})
}
type User { id: Int }
"#;
        let catalog = parse_files(&[SdlFile::new("t.graphql", sdl)])
            .catalog
            .unwrap();
        let field = &catalog.object("Post").unwrap().fields["poster"];
        let resolver = field.resolver.as_ref().unwrap();
        let cx = PrepareContext {
            coordinate: "Post.poster",
            env: &env,
            mutation: false,
        };
        let batch = prepare_batch(&catalog.sources["up"], resolver, field, &cx)
            .unwrap()
            .unwrap();
        assert_eq!(&*batch.items, ["data", "users"]);
        assert_eq!(batch.parent_key, ["userId"]);
    }

    #[test]
    fn templates_read_args_parent_and_headers() {
        let args = json!({"id": 7, "filter": {"tag": "x"}});
        let args = args.as_object().unwrap();
        let parent = json!({"user": {"id": "u1"}, "tags": ["a", "b"]});
        let mut headers = HeaderMap::new();
        headers.insert("x-tenant", "acme".parse().unwrap());
        let input = CallInput {
            args,
            wire_args: args,
            parent: Some(crate::decoded::Val::Json(&parent)),
            headers: &headers,
            projection: None,
        };
        let t = Template::parse("{{args.id}}-{{args.filter.tag}}-{{parent.user.id}}-{{parent.tags.1}}-{{headers.x-tenant}}-{{args.none}}").unwrap();
        assert_eq!(render_text(&t, &input), "7-x-u1-b-acme-");
        assert_eq!(
            render_json(&Template::parse("{{args.filter}}").unwrap(), &input),
            json!({"tag": "x"})
        );
        assert_eq!(
            render_json(&Template::parse("{\"a\": {{args.id}}}").unwrap(), &input),
            json!({"a": 7})
        );
    }
}
