//! The axum application: shared state with the swappable gateway, and `fn app(state)`, the
//! routes inside the per-request [`Frame`] (request id, panic guard, span, in-flight gauge).
//!
//! Body size and the total request timeout are enforced inside the GraphQL handler so that
//! both refusals are GraphQL errors with stable codes.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use axum::Router;
use axum::routing::get;
use http::HeaderValue;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::config::Config;
use crate::frame::Frame;
use crate::{explorer, ops, subscriptions, telemetry};

/// The request id header, honoured from clients and sent upstream by the engine.
pub const REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// A loaded graph: the gateway and what `/readyz` reports about it.
pub struct Loaded {
    pub gateway: engine::gateway::Gateway,
    /// (source name, transport keyword), in declaration order.
    pub sources: Vec<(String, &'static str)>,
    pub loaded_at: SystemTime,
}

impl Loaded {
    pub fn new(gateway: engine::gateway::Gateway, catalog: &schema_gen::Catalog) -> Self {
        let sources = catalog
            .sources
            .values()
            .map(|s| (s.name.clone(), s.transport.keyword()))
            .collect();
        Loaded {
            gateway,
            sources,
            loaded_at: SystemTime::now(),
        }
    }
}

/// State shared by every request.
pub struct AppState {
    /// The graph being served; replaced atomically on reload, absent until the first build.
    pub graph: ArcSwapOption<Loaded>,
    pub config: Config,
    pub metrics: Option<PrometheusHandle>,
    /// What discovery found, shown in `/readyz` details; absent without `--discover`.
    pub discovery: ArcSwapOption<crate::discovery::DiscoveryReport>,
    /// The last probe of each source, shown in `/readyz`; absent until the first round.
    pub probes: ArcSwapOption<crate::probe::Probes>,
    /// The response cache's shared tier, one connection for every gateway built.
    pub shared_cache: Option<engine::cache::SharedCache>,
    /// `POST /graphql` bodies already parsed; independent of the schema, so kept across reloads.
    pub body_memo: crate::body_memo::BodyMemo,
    /// Queries clients may send by hash (automatic persisted queries).
    pub persisted: crate::persisted::PersistedQueries,
}

impl AppState {
    /// Needs a Tokio runtime when the config has a shared cache (it connects in the
    /// background).
    pub fn new(config: Config) -> Arc<Self> {
        let shared_cache = config.execution.shared_cache.as_ref().and_then(|shared| {
            shared
                .options()
                .and_then(|options| {
                    engine::cache::SharedCache::connect(&options).map_err(|e| e.to_string())
                })
                .inspect_err(|e| tracing::error!(error = %e, "the shared response cache is off"))
                .ok()
        });
        let persisted = crate::persisted::PersistedQueries::new(
            &config.persisted_queries,
            shared_cache.clone(),
        );
        Arc::new(AppState {
            persisted,
            shared_cache,
            graph: ArcSwapOption::empty(),
            config,
            metrics: telemetry::prometheus(),
            discovery: ArcSwapOption::empty(),
            probes: ArcSwapOption::empty(),
            body_memo: Default::default(),
        })
    }

    /// Serves `loaded` from the next request on.
    pub fn swap(&self, loaded: Loaded) {
        self.graph.store(Some(Arc::new(loaded)));
    }
}

/// The whole HTTP surface of graft: the routes, CORS when configured, inside the
/// per-request [`Frame`].
pub fn app(state: Arc<AppState>) -> Frame {
    let access_log = state.config.access_log;
    let cors = cors_layer(&state.config.cors);
    // WebSocket upgrades and event streams go to `subscriptions`, which hands the rest on.
    let mut routes = Router::new().route(
        "/graphql",
        get(subscriptions::get).post(subscriptions::post_route),
    );
    if state.config.explorer {
        routes = routes
            .route("/graphql/explorer.js", get(explorer::script))
            .route("/graphql/explorer.css", get(explorer::style));
    }
    let router = routes
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .with_state(Arc::clone(&state));
    match cors {
        Some(cors) => Frame::new(router.layer(cors), None, access_log),
        None => Frame::new(router, Some(state), access_log),
    }
}

/// CORS for `cors.allowed_origins`; `None` (no CORS headers) when the list is empty.
fn cors_layer(config: &crate::config::CorsConfig) -> Option<CorsLayer> {
    let origins = &config.allowed_origins;
    if origins.is_empty() {
        return None;
    }
    let allow_origin = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        // Invalid origins were refused when the config was loaded.
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([http::Method::GET, http::Method::POST])
            // Which request headers reach upstreams is decided by the forward allowlist.
            .allow_headers(AllowHeaders::mirror_request())
            .expose_headers([REQUEST_ID])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
