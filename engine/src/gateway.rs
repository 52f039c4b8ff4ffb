//! The gateway: one built, immutable graph that executes GraphQL requests.
//!
//! A gateway is built once from a validated catalog and replaced wholesale (ArcSwap in the
//! server) when the graph changes; it is never mutated in place.
//!
//! ```no_run
//! # async fn run(catalog: schema_gen::Catalog) -> Result<(), engine::BuildError> {
//! use engine::gateway::{Gateway, GatewayOptions, RequestContext};
//! let gateway = Gateway::build(&catalog, GatewayOptions::default())?;
//! let answer = gateway.execute(async_graphql::Request::new("{ posts { id } }"), RequestContext::default()).await;
//! println!("{}", serde_json::to_string(&answer.response).unwrap_or_default());
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_graphql::parser::types::OperationType;
use http::HeaderMap;
use schema_gen::Catalog;

use crate::build;
use crate::error::BuildError;
use crate::limits;
use crate::resolve::RequestState;

/// Limits every execution obeys; each refusal is a GraphQL error with a stable code.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Maximum selection depth (introspection queries included).
    pub max_depth: usize,
    /// Maximum query complexity (each field costs 1, lists multiply nothing).
    pub max_complexity: usize,
    /// Maximum number of aliases in one document.
    pub max_aliases: usize,
    /// Maximum upstream calls one request may make.
    pub max_upstream_calls: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 15,
            max_complexity: 5_000,
            max_aliases: 100,
            max_upstream_calls: 500,
        }
    }
}

/// How a gateway is built.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayOptions {
    /// Answer `__schema` / `__type` queries.
    pub introspection: bool,
    pub limits: Limits,
    /// Upstream call timeout when neither the field nor its source sets one.
    pub default_timeout: Duration,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            introspection: true,
            limits: Limits::default(),
            default_timeout: Duration::from_secs(10),
        }
    }
}

/// What the server knows about the client request that the engine may need.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// The client's request headers (the engine forwards only allowlisted ones).
    pub headers: http::HeaderMap,
    /// Sent upstream as `x-request-id`.
    pub request_id: String,
}

/// A GraphQL response plus the upstream response headers to pass back to the client.
#[derive(Debug)]
pub struct GatewayResponse {
    pub response: async_graphql::Response,
    pub headers: http::HeaderMap,
}

/// A built graph: the executable schema with its prepared upstream calls.
pub struct Gateway {
    schema: async_graphql::dynamic::Schema,
    catalog: Arc<Catalog>,
    options: GatewayOptions,
    sdl: String,
    /// The plan executor (issue 6); `None` runs everything through async-graphql.
    plan: Option<Arc<crate::plan::PlanExecutor>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("types", &self.catalog.types.len())
            .field("sources", &self.catalog.sources.len())
            .field("options", &self.options)
            .finish()
    }
}

/// A request whose document was looked up once ([`Gateway::prepare`]).
#[derive(Debug)]
pub struct Prepared {
    request: Box<async_graphql::Request>,
    document: Option<crate::plan::CachedDocument>,
    operation_type: OperationType,
}

impl Prepared {
    /// The type of the operation the request selects.
    pub fn operation_type(&self) -> OperationType {
        self.operation_type
    }
}

/// Why a request cannot run: it selects no operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRunnable {
    /// The document does not parse (async-graphql's message).
    Parse(String),
    /// `operationName` names no operation, or the document has several and names none.
    NoOperation(crate::plan::compile::NoOperation),
}

impl Gateway {
    /// Builds a gateway from a validated catalog. `{{env.X}}` in templates is read from the
    /// process environment now.
    pub fn build(catalog: &Catalog, options: GatewayOptions) -> Result<Gateway, BuildError> {
        Gateway::build_with_env(catalog, options, &|name| std::env::var(name).ok())
    }

    /// Like [`Gateway::build`], reading `{{env.X}}` from `env` instead of the process
    /// environment (tests, and configs that supply variables).
    pub fn build_with_env(
        catalog: &Catalog,
        options: GatewayOptions,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Gateway, BuildError> {
        Gateway::build_with_plan(
            catalog,
            options,
            Some(crate::plan::PlanOptions::default()),
            env,
        )
    }

    /// Like [`Gateway::build_with_env`], choosing how the plan executor runs; `None` switches
    /// it off (every request goes through async-graphql's executor: the differential
    /// tests' oracle).
    pub fn build_with_plan(
        catalog: &Catalog,
        options: GatewayOptions,
        plan: Option<crate::plan::PlanOptions>,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> Result<Gateway, BuildError> {
        let invokes = crate::upstream::prepare_all(catalog, env)?;
        let schema = build::schema(
            catalog,
            &build::BuildOptions {
                introspection: options.introspection,
                default_timeout: options.default_timeout,
                invokes: &invokes,
            },
        )?;
        let sdl = schema.sdl();
        let catalog = Arc::new(catalog.clone());
        let plan = match plan {
            Some(plan_options) => Some(Arc::new(crate::plan::PlanExecutor::new(
                Arc::clone(&catalog),
                &options,
                plan_options,
                &invokes,
                env,
            )?)),
            None => None,
        };
        Ok(Gateway {
            schema,
            catalog,
            options,
            sdl,
            plan,
        })
    }

    /// Executes one GraphQL request and renders the JSON body: through the plan executor
    /// when it is on and supports the operation, else through [`Gateway::execute`].
    pub async fn execute_rendered(
        &self,
        request: async_graphql::Request,
        cx: RequestContext,
    ) -> crate::plan::RenderedResponse {
        let document = self.plan.as_ref().and_then(|plan| plan.document(&request));
        self.run_rendered(Box::new(request), document, cx).await
    }

    /// Looks a request's document up once, for its operation type and its execution: the
    /// server refuses what may not run (a mutation over GET) before executing it with
    /// [`Gateway::execute_prepared`]. A request that selects no operation is an error here
    /// (the message async-graphql's parser gives, or which selection failed).
    pub fn prepare(
        &self,
        request: impl Into<Box<async_graphql::Request>>,
    ) -> Result<Prepared, NotRunnable> {
        let mut request = request.into();
        let document = self.plan.as_ref().and_then(|plan| plan.document(&request));
        let operation_type = match &document {
            Some(document) => document.operation_type(),
            // Not cached by the plan executor (it is off, or the document exceeds the limits):
            // parsed here, and async-graphql keeps the parse in the request for execution.
            None => {
                let name = request.operation_name.clone();
                let parsed = request
                    .parsed_query()
                    .map_err(|e| NotRunnable::Parse(e.message))?;
                crate::plan::compile::select_operation(parsed, name.as_deref())
                    .map_err(NotRunnable::NoOperation)?
                    .node
                    .ty
            }
        };
        Ok(Prepared {
            request,
            document,
            operation_type,
        })
    }

    /// Executes a prepared request and renders the JSON body, as [`Gateway::execute_rendered`].
    pub async fn execute_prepared(
        &self,
        prepared: Prepared,
        cx: RequestContext,
    ) -> crate::plan::RenderedResponse {
        self.run_rendered(prepared.request, prepared.document, cx)
            .await
    }

    async fn run_rendered(
        &self,
        request: Box<async_graphql::Request>,
        document: Option<crate::plan::CachedDocument>,
        cx: RequestContext,
    ) -> crate::plan::RenderedResponse {
        let request = match &self.plan {
            Some(plan) => match plan.execute(&self.schema, request, document, &cx).await {
                crate::plan::Outcome::Done(rendered) => return rendered,
                crate::plan::Outcome::Fallback(request) => *request,
            },
            None => *request,
        };
        // Boxed: async-graphql's executor future is large and rarely needed here.
        let answer = Box::pin(self.execute(request, cx)).await;
        crate::plan::RenderedResponse::from_response(&answer.response, answer.headers)
    }

    /// Why `request` may not run: it does not parse, or it exceeds the limits (checked on
    /// the parsed document, which async-graphql keeps for execution).
    fn refusal(&self, request: &mut async_graphql::Request) -> Option<async_graphql::ServerError> {
        let operation_name = request.operation_name.take();
        let refused = match request.parsed_query() {
            Err(error) => Some(error),
            Ok(doc) => limits::check(doc, operation_name.as_deref(), &self.options.limits)
                .err()
                .map(limits::Exceeded::into_server_error),
        };
        request.operation_name = operation_name;
        refused
    }

    /// Executes one GraphQL request. Upstream failures are errors on their own fields
    /// (partial data); limit refusals are request errors with a stable `extensions.code`.
    pub async fn execute(
        &self,
        mut request: async_graphql::Request,
        cx: RequestContext,
    ) -> GatewayResponse {
        if let Some(error) = self.refusal(&mut request) {
            return GatewayResponse {
                response: async_graphql::Response::from_errors(vec![error]),
                headers: HeaderMap::new(),
            };
        }
        let state = Arc::new(RequestState::new(
            cx.headers,
            &cx.request_id,
            self.options.limits.max_upstream_calls,
        ));
        let response = self.schema.execute(request.data(Arc::clone(&state))).await;
        GatewayResponse {
            response,
            headers: state.loader.take_response_headers(),
        }
    }

    /// Executes a subscription (or any operation) as a stream: one response per upstream
    /// event; a refused or failing request is a single response with errors.
    pub fn subscribe(
        &self,
        mut request: async_graphql::Request,
        cx: RequestContext,
    ) -> futures::stream::BoxStream<'static, async_graphql::Response> {
        use futures::StreamExt;
        if let Some(error) = self.refusal(&mut request) {
            let response = async_graphql::Response::from_errors(vec![error]);
            return futures::stream::once(async move { response }).boxed();
        }
        let state = Arc::new(RequestState::new(
            cx.headers,
            &cx.request_id,
            self.options.limits.max_upstream_calls,
        ));
        self.schema.execute_stream(request.data(state)).boxed()
    }

    /// The served schema as GraphQL SDL (what clients see; no graft directives).
    pub fn sdl(&self) -> String {
        self.sdl.clone()
    }

    /// The catalog this gateway was built from.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn options(&self) -> &GatewayOptions {
        &self.options
    }
}
