//! The plan executor: runs GraphQL operations as compiled, cached plans over shared upstream
//! values and writes the response as JSON bytes.
//!
//! async-graphql still parses, validates (rules, variables) and answers introspection: a
//! request is validated by running it through the dynamic schema with a [`ValidateOnly`]
//! marker, whose extension answers before execution. The document's plan (`compile.rs`) is
//! cached per (document, operation name, `@skip`/`@include` variable values) in a
//! memory-bounded cache; executing it (`exec.rs`) makes the upstream calls level by level —
//! batching links, sharing identical reads within the request, across requests and through
//! the response cache — and `write.rs` writes the answer.
//!
//! Operation-level dedupe: when every call of a plan is a dedupe-safe read, identical
//! in-flight operations (same document, operation, variables, and the request headers that
//! can reach an upstream) share one execution and one rendered body.
//!
//! A query's `__schema` and `__type` fields are answered by async-graphql's introspection,
//! from a document of their own (`Plan::introspection`: those fields with the fragments and
//! variables they use), and written in their place by the plan, beside the data fields.
//!
//! What stays with async-graphql's executor ([`Outcome::Fallback`]): subscriptions,
//! introspection below the query root or that async-graphql answers with errors, and
//! documents that do not parse or exceed limits (async-graphql and `limits.rs` report
//! those).

pub mod compile;
pub mod exec;
mod inflight;
pub mod variables;
pub mod write;

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Name, Response, Value as GqlValue, Variables};
use bytes::Bytes;
use http::HeaderMap;
use schema_gen::catalog::{Catalog, TypeRef};
use serde_json::Value;

use crate::cache::ResponseCache;
use crate::error::BuildError;
use crate::gateway::{GatewayOptions, RequestContext};
use crate::resolve::Wire;
use crate::upstream::{self, BatchInvoke, Invoke, PrepareContext};
use compile::{Plan, Unsupported};
use exec::{Common, Run};
use inflight::InFlight;

/// How the plan executor runs; every switch is on by default.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanOptions {
    /// Identical in-flight upstream reads share one call across requests (per source
    /// `SourcePolicy::dedupe` still applies).
    pub dedupe_requests: bool,
    /// Identical in-flight operations whose calls are all dedupe-safe reads share one
    /// execution.
    pub dedupe_operations: bool,
    /// Memory bound of the upstream response cache (fields with `cacheTtl`, sources with
    /// `httpCache`); 0 disables it.
    pub response_cache_bytes: u64,
    /// Memory bound of the plan cache (parsed documents and their plans).
    pub plan_cache_bytes: u64,
    /// The response cache's shared tier (Redis), behind the in-process one; none by default.
    pub shared_cache: Option<crate::cache::SharedCache>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            dedupe_requests: true,
            dedupe_operations: true,
            response_cache_bytes: 64 << 20,
            plan_cache_bytes: 32 << 20,
            shared_cache: None,
        }
    }
}

/// A response ready to send: the JSON body as bytes.
#[derive(Debug, Clone)]
pub struct RenderedResponse {
    /// `{"data":…,"errors":[…]}` exactly as async-graphql serializes a `Response`; only
    /// `{"errors":[…]}` when the request never executed.
    pub body: Bytes,
    /// False when the request never executed (parse, validation or limit errors only):
    /// `data` is null and every error is a request error.
    pub executed: bool,
    pub has_errors: bool,
    /// Upstream response headers to pass back to the client.
    pub headers: HeaderMap,
}

impl RenderedResponse {
    /// Serializes an async-graphql response (the fallback path and request errors).
    pub fn from_response(response: &Response, headers: HeaderMap) -> Self {
        let executed = !(response.data == GqlValue::Null
            && !response.errors.is_empty()
            && response.errors.iter().all(|e| e.path.is_empty()));
        let mut all = response.http_headers.clone();
        for (name, value) in &headers {
            all.append(name.clone(), value.clone());
        }
        // A request that never executed has no `data` (GraphQL over HTTP).
        let body = if executed {
            serde_json::to_vec(response)
        } else {
            serde_json::to_vec(&serde_json::json!({"errors": response.errors}))
        };
        RenderedResponse {
            body: Bytes::from(body.unwrap_or_default()),
            executed,
            has_errors: !response.errors.is_empty(),
            headers: all,
        }
    }
}

/// What the plan executor did with a request.
pub enum Outcome {
    Done(RenderedResponse),
    /// Not for the plan executor: run it through async-graphql.
    Fallback(Box<async_graphql::Request>),
}

/// Request data that makes [`ValidateOnly`] answer right after validation.
#[derive(Debug, Clone, Copy)]
pub struct ValidateMarker;

/// The extension behind validate-only requests: registered on the dynamic schema; a request
/// carrying [`ValidateMarker`] in its data gets an empty response once async-graphql has
/// parsed and validated it (validation errors are answered before this hook runs).
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidateOnly;

impl ExtensionFactory for ValidateOnly {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ValidateOnly)
    }
}

#[async_trait::async_trait]
impl Extension for ValidateOnly {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if ctx.data_opt::<ValidateMarker>().is_some() {
            return Response::new(GqlValue::Null);
        }
        next.run(ctx, operation_name).await
    }
}

/// One upstream-backed field, prepared for the plan executor.
#[derive(Debug)]
pub struct PreparedField {
    pub invoke: Arc<dyn Invoke>,
    pub timeout: Duration,
    /// The source allows sharing identical reads.
    pub shareable: bool,
    /// (GraphQL name, wire name) of arguments renamed with `@map`.
    pub renamed_args: Vec<(String, String)>,
    /// Every argument: name, type, default (GraphQL spelling).
    pub args: Vec<(String, TypeRef, Option<Value>)>,
    pub batch: Option<BatchInvoke>,
    pub cache_ttl: Option<Duration>,
    /// The source honours upstream `Cache-Control` (`httpCache`; see [`crate::cache::ttl`]).
    pub http_cache: bool,
    /// The source's answers may reach the shared cache tier (`sharedCache`).
    pub shared_cache: bool,
    /// This field's cache lookups (`graft_cache_lookups_total`).
    pub lookups: crate::cache::Lookups,
    /// The named type at the bottom of the field's type.
    pub type_name: String,
}

/// Whether a document passed async-graphql's validation without variables.
#[derive(Debug, Clone)]
enum Validity {
    Valid,
    Invalid(RenderedResponse),
}

/// A plan, or why the operation is left to async-graphql.
type CompiledPlan = Arc<Result<Plan, Unsupported>>;

/// A parsed document and its plans.
struct DocEntry {
    query: String,
    operation_name: Option<String>,
    /// The type of the operation `operation_name` selects.
    kind: OperationType,
    doc: ExecutableDocument,
    skip_vars: Vec<Name>,
    /// Validated without variables (requests that send none).
    validated: OnceLock<Validity>,
    /// Validated with placeholder variables: valid for any values that `variables::acceptable`
    /// accepts.
    validated_shape: OnceLock<Validity>,
    /// The variables an explicit `null` is accepted for (`variables::nulls_accepted`).
    nulls_accepted: OnceLock<Vec<Name>>,
    /// By `@skip`/`@include` values (at most 2^n keys for n such variables).
    plans: Mutex<rustc_hash::FxHashMap<Vec<bool>, CompiledPlan>>,
    /// Size of the last response, to allocate the next one at once.
    last_size: AtomicUsize,
}

/// A request's document from the plan cache, looked up once per request: the server types
/// the request with it (GET may run queries only; metrics are labelled by type) and the
/// executor runs it.
#[derive(Clone)]
pub struct CachedDocument(Arc<DocEntry>);

impl CachedDocument {
    /// The type of the operation the request selects.
    pub fn operation_type(&self) -> OperationType {
        self.0.kind
    }
}

impl std::fmt::Debug for CachedDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedDocument")
            .field("operation_name", &self.0.operation_name)
            .field("kind", &self.0.kind)
            .finish()
    }
}

/// What a cached document weighs against `plan_cache_bytes`: its AST and plans take
/// roughly 20× its text.
#[derive(Debug, Clone, Copy)]
struct DocWeight;

impl quick_cache::Weighter<u64, Arc<DocEntry>> for DocWeight {
    fn weight(&self, _: &u64, entry: &Arc<DocEntry>) -> u64 {
        (entry.query.len() as u64).saturating_mul(20) + 1024
    }
}

/// The executor of one gateway.
pub struct PlanExecutor {
    catalog: Arc<Catalog>,
    fields: HashMap<(String, String), Arc<PreparedField>>,
    common: Common,
    docs: quick_cache::sync::Cache<u64, Arc<DocEntry>, DocWeight>,
    /// Hashes a document's text and operation name to its `docs` key (seeded, so clients
    /// cannot aim collisions at each other's documents).
    doc_hasher: foldhash::fast::RandomState,
    /// In-flight shared executions; gathering, so on a busy server an execution others
    /// joined is shared with every request received before it finishes.
    operations: InFlight<OperationKey, Arc<RenderedResponse>>,
    options: PlanOptions,
    limits: crate::gateway::Limits,
    /// Client headers that can reach an upstream call (forwarded by a source, or read by a
    /// `{{headers.x}}` template): the only headers in an operation's dedupe key.
    key_headers: HashSet<http::HeaderName>,
}

impl std::fmt::Debug for PlanExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlanExecutor")
            .field("fields", &self.fields.len())
            .field("options", &self.options)
            .finish()
    }
}

impl PlanExecutor {
    /// Takes every upstream-backed field of `catalog` with its invoker (`invokes`) and
    /// prepares its batch form.
    pub fn new(
        catalog: Arc<Catalog>,
        gateway: &GatewayOptions,
        options: PlanOptions,
        invokes: &upstream::Invokes,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Self, BuildError> {
        let mut fields = HashMap::new();
        for type_name in catalog.types.keys() {
            if catalog.roots.subscription.as_deref() == Some(type_name.as_str()) {
                continue;
            }
            let Some(object) = catalog.object(type_name) else {
                continue;
            };
            for field in object.fields.values() {
                let Some(resolver) = &field.resolver else {
                    continue;
                };
                let coordinate = format!("{type_name}.{}", field.name);
                let source = upstream::source_of(&catalog, resolver, &coordinate)?;
                let cx = PrepareContext {
                    coordinate: &coordinate,
                    env,
                    mutation: catalog.roots.mutation.as_deref() == Some(type_name.as_str()),
                };
                let invoke = upstream::prepared(invokes, &coordinate)?;
                let batch = upstream::prepare_batch(source, resolver, field, &cx)?;
                let timeout = upstream::call_timeout(resolver, source, gateway.default_timeout);
                let prepared = PreparedField {
                    invoke,
                    timeout,
                    shareable: source.policy.dedupe.unwrap_or(true),
                    renamed_args: upstream::renamed_args(field),
                    args: field
                        .args
                        .values()
                        .map(|a| (a.name.clone(), a.ty.clone(), a.default.clone()))
                        .collect(),
                    batch,
                    cache_ttl: resolver.policy.cache_ttl_s.map(Duration::from_secs),
                    http_cache: source.policy.http_cache,
                    shared_cache: source.policy.shared_cache.unwrap_or(true),
                    lookups: crate::cache::Lookups::new(&source.name),
                    type_name: field.ty.base().to_string(),
                };
                fields.insert((type_name.clone(), field.name.clone()), Arc::new(prepared));
            }
        }
        let key_headers = key_headers(&catalog);
        // quick_cache rather than moka: a lookup on every request, and moka's (epoch pin,
        // read-log channel, clock read) was a measured share of a shared Q1 request.
        let capacity = options.plan_cache_bytes.max(1);
        let docs = quick_cache::sync::Cache::with_weighter(
            (capacity / 4096).clamp(16, 65536) as usize,
            capacity,
            DocWeight,
        );
        Ok(PlanExecutor {
            common: Common {
                in_flight: Arc::default(),
                cache: ResponseCache::new(
                    options.response_cache_bytes,
                    options.shared_cache.clone(),
                ),
                dedupe_requests: options.dedupe_requests,
                max_calls: gateway.limits.max_upstream_calls,
                wire: Wire::new(&catalog),
            },
            catalog,
            fields,
            docs,
            doc_hasher: foldhash::fast::RandomState::default(),
            operations: InFlight::gathering(),
            options,
            limits: gateway.limits.clone(),
            key_headers,
        })
    }

    pub fn options(&self) -> &PlanOptions {
        &self.options
    }

    /// Executes `request` as a plan, or hands it back for async-graphql.
    pub async fn execute(
        self: &Arc<Self>,
        schema: &async_graphql::dynamic::Schema,
        mut request: Box<async_graphql::Request>,
        document: Option<CachedDocument>,
        cx: &RequestContext,
    ) -> Outcome {
        let Some(CachedDocument(entry)) = document else {
            return Outcome::Fallback(request);
        };
        let Some(op) = compile::operation(&entry.doc, entry.operation_name.as_deref()) else {
            return Outcome::Fallback(request);
        };
        // A required variable that is missing is reported by async-graphql when it executes.
        let missing_variable = op.node.variable_definitions.iter().any(|d| {
            d.node.default_value().is_none() && !request.variables.contains_key(&d.node.name.node)
        });
        if missing_variable {
            return Outcome::Fallback(request);
        }
        // Validation, cached per document: for requests without variables, and for requests
        // whose variable values fit their declared types (see `variables.rs`); anything else
        // is validated in full, every time. Boxed, like every rarely taken await below: an
        // inline async-graphql execution would make this future (moved whole on every
        // request) kilobytes.
        let validity = if request.variables.is_empty() {
            match entry.validated.get() {
                Some(v) => v.clone(),
                None => {
                    let v = Box::pin(validate(schema, &request)).await;
                    entry.validated.get_or_init(|| v).clone()
                }
            }
        } else {
            let shape = match entry.validated_shape.get() {
                Some(v) => v.clone(),
                None => {
                    let v = Box::pin(validate(schema, &placeholders(&entry, &request))).await;
                    entry.validated_shape.get_or_init(|| v).clone()
                }
            };
            match shape {
                Validity::Valid
                    if variables::acceptable(
                        &op.node,
                        &request.variables,
                        &self.catalog,
                        entry.nulls_accepted.get_or_init(|| {
                            variables::nulls_accepted(&entry.doc, &op.node, &self.catalog)
                        }),
                    ) =>
                {
                    Validity::Valid
                }
                _ => Box::pin(validate(schema, &request)).await,
            }
        };
        if let Validity::Invalid(response) = validity {
            return Outcome::Done(response);
        }
        let skip_values: Vec<bool> = entry
            .skip_vars
            .iter()
            .map(|name| {
                let def = op
                    .node
                    .variable_definitions
                    .iter()
                    .find(|d| d.node.name.node == *name);
                let value = request
                    .variables
                    .get(name)
                    .or_else(|| def.and_then(|d| d.node.default_value()));
                matches!(value, Some(GqlValue::Boolean(true)))
            })
            .collect();
        let plan = {
            let mut plans = entry.plans.lock().unwrap_or_else(PoisonError::into_inner);
            match plans.get(&skip_values) {
                Some(plan) => Arc::clone(plan),
                None => {
                    let compiled = compile::compile(
                        &self.catalog,
                        &self.fields,
                        &entry.doc,
                        &op.node,
                        &entry.skip_vars,
                        &skip_values,
                    );
                    let plan = Arc::new(compiled);
                    plans.insert(skip_values, Arc::clone(&plan));
                    plan
                }
            }
        };
        let introspection = match plan.as_ref() {
            Err(_) => return Outcome::Fallback(request),
            Ok(Plan {
                introspection: Some(doc),
                ..
            }) => match Box::pin(introspect(schema, doc, &request.variables)).await {
                Some(data) => Some(data),
                None => return Outcome::Fallback(request),
            },
            Ok(_) => None,
        };
        let variables = std::mem::take(&mut request.variables);
        let request_id = || Arc::<str>::from(cx.request_id.as_str());
        let dedupe =
            self.options.dedupe_operations && plan.as_ref().as_ref().is_ok_and(|p| p.dedupe_safe);
        if !dedupe {
            let run = Arc::clone(self).run(
                entry,
                plan,
                introspection,
                variables,
                cx.headers.clone(),
                request_id(),
            );
            return Outcome::Done(Box::pin(run).await);
        }
        let key = operation_key(&entry, &variables, &cx.headers, &self.key_headers);
        // Only the request that runs the operation copies what the run needs.
        let done = self
            .operations
            .share(key, || {
                let headers = cx.headers.clone();
                let run = Arc::clone(self).run(entry, plan, None, variables, headers, request_id());
                async move { Arc::new(run.await) }
            })
            .await;
        Outcome::Done(RenderedResponse {
            body: done.body.clone(),
            executed: done.executed,
            has_errors: done.has_errors,
            // An empty HeaderMap costs nothing; a clone of one would allocate.
            headers: if done.headers.is_empty() {
                HeaderMap::new()
            } else {
                done.headers.clone()
            },
        })
    }

    /// The cached entry of the request's document, parsing it on first sight. `None` for
    /// documents async-graphql must answer (syntax errors, limits, no such operation).
    pub fn document(&self, request: &async_graphql::Request) -> Option<CachedDocument> {
        let hash = self
            .doc_hasher
            .hash_one((&request.query, &request.operation_name));
        if let Some(entry) = self.docs.get(&hash) {
            if entry.query == request.query && entry.operation_name == request.operation_name {
                return Some(CachedDocument(entry));
            }
            return None;
        }
        let doc = async_graphql::parser::parse_query(&request.query).ok()?;
        crate::limits::check(&doc, request.operation_name.as_deref(), &self.limits).ok()?;
        let kind = compile::operation(&doc, request.operation_name.as_deref())?
            .node
            .ty;
        let entry = Arc::new(DocEntry {
            query: request.query.clone(),
            operation_name: request.operation_name.clone(),
            kind,
            skip_vars: compile::skip_variables(&doc),
            doc,
            validated: OnceLock::new(),
            validated_shape: OnceLock::new(),
            nulls_accepted: OnceLock::new(),
            plans: Mutex::default(),
            last_size: AtomicUsize::new(1024),
        });
        self.docs.insert(hash, Arc::clone(&entry));
        Some(CachedDocument(entry))
    }

    async fn run(
        self: Arc<Self>,
        entry: Arc<DocEntry>,
        plan: CompiledPlan,
        introspection: Option<GqlValue>,
        variables: Variables,
        headers: HeaderMap,
        request_id: Arc<str>,
    ) -> RenderedResponse {
        let (Ok(plan), Some(op)) = (
            plan.as_ref(),
            compile::operation(&entry.doc, entry.operation_name.as_deref()),
        ) else {
            // Unreachable by construction (checked by the caller); answer like a bad plan.
            return RenderedResponse {
                body: Bytes::from_static(b"{\"data\":null}"),
                executed: true,
                has_errors: false,
                headers,
            };
        };
        let mut run = Run::new(
            &self.common,
            plan,
            &headers,
            request_id,
            &variables,
            &op.node,
        );
        run.fetch_all().await;
        let writer = write::Writer::new(
            &run.results,
            &self.common.wire,
            introspection.as_ref(),
            entry.last_size.load(Ordering::Relaxed),
        );
        let (body, has_errors) = writer.response(&plan.root);
        entry.last_size.store(body.len(), Ordering::Relaxed);
        let response_headers = std::mem::take(&mut run.response_headers);
        RenderedResponse {
            body: Bytes::from(body),
            executed: true,
            has_errors,
            headers: response_headers,
        }
    }
}

/// The request with placeholder variables: every `@skip`/`@include` variable `false` (their
/// values are parsed during validation), the others absent (the arguments they reach are
/// then not checked against values).
fn placeholders(entry: &DocEntry, request: &async_graphql::Request) -> async_graphql::Request {
    let mut placeholders = Variables::default();
    for name in &entry.skip_vars {
        placeholders.insert(name.clone(), GqlValue::Boolean(false));
    }
    let mut shaped = async_graphql::Request::new(request.query.clone()).variables(placeholders);
    shaped.operation_name = request.operation_name.clone();
    shaped
}

/// async-graphql's answer to a plan's introspection document (its `data`), or `None` when
/// it has errors: the whole operation then goes to async-graphql, which reports them.
async fn introspect(
    schema: &async_graphql::dynamic::Schema,
    doc: &ExecutableDocument,
    variables: &Variables,
) -> Option<GqlValue> {
    let mut request = async_graphql::Request::new(String::new()).variables(variables.clone());
    request.set_parsed_query(doc.clone());
    let response = schema.execute(request).await;
    response.errors.is_empty().then_some(response.data)
}

/// Validates a request with async-graphql (rules, variables) without executing it.
async fn validate(
    schema: &async_graphql::dynamic::Schema,
    request: &async_graphql::Request,
) -> Validity {
    let mut check =
        async_graphql::Request::new(request.query.clone()).variables(request.variables.clone());
    if let Some(name) = &request.operation_name {
        check = check.operation_name(name.clone());
    }
    let response = schema.execute(check.data(ValidateMarker)).await;
    if response.errors.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid(RenderedResponse::from_response(&response, HeaderMap::new()))
    }
}

/// Identifies an operation execution: the document entry (one per document text and
/// operation name), variables and the request headers that can reach an upstream
/// (`key_headers`), so requests that differ only in headers no call reads (user agent, trace
/// context, the request id) share one execution.
#[derive(Clone, PartialEq, Eq, Hash)]
struct OperationKey {
    document: EntryId,
    /// Variables and key headers; empty for the common request with neither.
    rest: String,
}

/// A document entry compared by address, not by its text: the key holds the entry, so the
/// address cannot be reused by another document while the key exists.
#[derive(Clone)]
struct EntryId(Arc<DocEntry>);

impl PartialEq for EntryId {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for EntryId {}

impl Hash for EntryId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.0).hash(state);
    }
}

fn operation_key(
    entry: &Arc<DocEntry>,
    variables: &Variables,
    headers: &HeaderMap,
    key_headers: &HashSet<http::HeaderName>,
) -> OperationKey {
    let mut key = String::new();
    if !variables.is_empty() {
        key.push_str(&serde_json::to_string(variables).unwrap_or_default());
    }
    for (name, value) in headers
        .iter()
        .filter(|(name, _)| key_headers.contains(*name))
    {
        key.push('\0');
        key.push_str(name.as_str());
        key.push(':');
        key.push_str(&String::from_utf8_lossy(value.as_bytes()));
    }
    OperationKey {
        document: EntryId(Arc::clone(entry)),
        rest: key,
    }
}

/// The client headers that can change an upstream call of `catalog`: every source's
/// `forwardHeaders` and every `{{headers.x}}` of its header templates and field calls. The
/// request id is not among them: the gateway sends its own on every call.
fn key_headers(catalog: &Catalog) -> HashSet<http::HeaderName> {
    use schema_gen::catalog::Transport;
    use schema_gen::template::Scope;
    let mut names: Vec<String> = Vec::new();
    for source in catalog.sources.values() {
        names.extend(source.policy.forward_headers.iter().cloned());
        if let Transport::Rest(rest) = &source.transport {
            let vars = rest.headers.iter().flat_map(|(_, t)| t.vars());
            names.extend(
                vars.filter(|v| v.scope == Scope::Headers)
                    .filter_map(|v| v.path.first().cloned()),
            );
        }
    }
    for object in catalog.types.values().filter_map(|t| match &t.kind {
        schema_gen::catalog::TypeKind::Object(o) => Some(o),
        _ => None,
    }) {
        for resolver in object.fields.values().filter_map(|f| f.resolver.as_ref()) {
            let reads = resolver.call.reads(Scope::Headers);
            names.extend(reads.into_iter().filter_map(|path| path.first().cloned()));
        }
    }
    names
        .into_iter()
        .filter_map(|name| http::HeaderName::try_from(name.to_ascii_lowercase()).ok())
        .filter(|name| name.as_str() != "x-request-id")
        .collect()
}
