//! A minimal HTTP front for load-testing the engine alone: `POST /graphql` runs
//! `Gateway::execute_rendered` and sends the rendered body as is.
//!
//! ```sh
//! cargo run --release -p engine --example bench_serve -- schemas/bench/posts.graphql \
//!     --listen 127.0.0.1:8000 [--no-dedupe | --no-op-dedupe | --no-upstream-dedupe] [--no-plan]
//! ```
//! `--no-dedupe` switches off cross-request upstream dedupe and operation dedupe;
//! `--no-plan` serves through async-graphql's executor. `UPSTREAM_URL` etc. come from the
//! environment. The real server is `graft serve`; this exists so the engine can be measured
//! with `../shared/bench/run-peers.sh` on its own (see docs/performance.md).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::serve::ListenerExt;
use engine::plan::PlanOptions;
use engine::{Gateway, GatewayOptions, RequestContext};
use schema_gen::parse::{SdlFile, parse_files};

// The upstream JSON decode allocates per value; glibc malloc was ~20 % of a no-dedupe profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut schema = None;
    let mut listen = "127.0.0.1:8000".to_string();
    let mut plan = Some(PlanOptions::default());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().ok_or("--listen needs an address")?,
            "--no-dedupe" => {
                plan = plan.map(|p| PlanOptions {
                    dedupe_requests: false,
                    dedupe_operations: false,
                    ..p
                });
            }
            "--no-plan" => plan = None,
            "--no-op-dedupe" => {
                plan = plan.map(|p| PlanOptions {
                    dedupe_operations: false,
                    ..p
                })
            }
            "--no-upstream-dedupe" => {
                plan = plan.map(|p| PlanOptions {
                    dedupe_requests: false,
                    ..p
                })
            }
            other => schema = Some(other.to_string()),
        }
    }
    let path =
        schema.ok_or("usage: bench_serve SCHEMA [--listen ADDR] [--no-dedupe] [--no-plan]")?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let checked = parse_files(&[SdlFile::new(&path, &text)]);
    let catalog = checked
        .catalog
        .ok_or_else(|| format!("{:?}", checked.diagnostics))?;
    let gateway = Gateway::build_with_plan(&catalog, GatewayOptions::default(), plan, &|name| {
        std::env::var(name).ok()
    })
    .map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let app = axum::Router::new()
            .route("/graphql", post(graphql))
            .with_state(Arc::new(gateway));
        let listener = tokio::net::TcpListener::bind(&listen)
            .await
            .map_err(|e| e.to_string())?;
        // Responses go out as soon as they are written (no Nagle delay behind a pending ACK).
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, app).await.map_err(|e| e.to_string())
    })
}

async fn graphql(
    State(gateway): State<Arc<Gateway>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return (axum::http::StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let cx = RequestContext {
        headers,
        request_id: String::new(),
    };
    let rendered = gateway.execute_rendered(request, cx).await;
    let mut response = rendered.body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
