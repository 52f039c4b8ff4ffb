//! The axum application: shared state with the swappable gateway, and `fn app(state) -> Router`.
//!
//! Layer order, outermost first: panic catcher (a bug answers 500, the process stays up),
//! request id (client's `x-request-id` when sane, else a fresh UUID), trace span carrying
//! that id, request id echoed on the response, in-flight gauge, CORS (when configured).
//! Body size and the total request timeout are enforced inside the GraphQL handler so that
//! both refusals are GraphQL errors with stable codes.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use http::HeaderValue;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Config;
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
}

impl AppState {
    pub fn new(config: Config) -> Arc<Self> {
        Arc::new(AppState {
            graph: ArcSwapOption::empty(),
            config,
            metrics: telemetry::prometheus(),
            discovery: ArcSwapOption::empty(),
            probes: ArcSwapOption::empty(),
        })
    }

    /// Serves `loaded` from the next request on.
    pub fn swap(&self, loaded: Loaded) {
        self.graph.store(Some(Arc::new(loaded)));
    }
}

/// The whole HTTP surface of graft.
pub fn app(state: Arc<AppState>) -> Router {
    let access_log = state.config.access_log;
    let cors = cors_layer(&state.config.cors);
    // WebSocket upgrades and event streams go to `subscriptions`, which hands the rest on.
    let mut routes = Router::new().route(
        "/graphql",
        get(subscriptions::get).post(subscriptions::post),
    );
    if state.config.explorer {
        routes = routes
            .route("/graphql/explorer.js", get(explorer::script))
            .route("/graphql/explorer.css", get(explorer::style));
    }
    routes
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .with_state(state)
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::custom(panic_response))
                .layer(middleware::from_fn(drop_unusable_request_id))
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(request_span(access_log))
                        .on_request(())
                        .on_response(
                            DefaultOnResponse::new()
                                .level(Level::INFO)
                                .latency_unit(LatencyUnit::Millis),
                        ),
                )
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .layer(middleware::from_fn(count_in_flight))
                .option_layer(cors),
        )
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

/// The span each request runs in, carrying its id. An enabled span per request costs real
/// throughput, so without the access log it is a DEBUG span, off unless `RUST_LOG` asks.
fn request_span(access_log: bool) -> impl Fn(&Request) -> tracing::Span + Clone {
    move |request: &Request| {
        let id = request
            .extensions()
            .get::<RequestId>()
            .and_then(|id| id.header_value().to_str().ok())
            .unwrap_or("");
        let (method, path) = (request.method(), request.uri().path());
        if access_log {
            tracing::info_span!("request", %method, path, request_id = id)
        } else {
            tracing::debug_span!("request", %method, path, request_id = id)
        }
    }
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    use axum::response::IntoResponse;
    tracing::error!("a request handler panicked");
    crate::error::AppError::new(
        crate::error::ErrorCode::Internal,
        "graft failed while handling the request",
    )
    .into_response()
}

/// A client's request id is used (logs, upstream header) only when it is short printable
/// ASCII; anything else is replaced by a generated one.
async fn drop_unusable_request_id(mut request: Request, next: Next) -> Response {
    let usable = |v: &HeaderValue| {
        let bytes = v.as_bytes();
        !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic())
    };
    if request
        .headers()
        .get(&REQUEST_ID)
        .is_some_and(|v| !usable(v))
    {
        request.headers_mut().remove(&REQUEST_ID);
    }
    next.run(request).await
}

async fn count_in_flight(request: Request, next: Next) -> Response {
    /// Decrements on drop, so cancelled requests are counted out too.
    struct InFlight;
    impl Drop for InFlight {
        fn drop(&mut self) {
            metrics::gauge!(telemetry::IN_FLIGHT).decrement(1.0);
        }
    }
    metrics::gauge!(telemetry::IN_FLIGHT).increment(1.0);
    let _guard = InFlight;
    next.run(request).await
}
