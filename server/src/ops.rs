//! Operations endpoints: `/healthz` (the process is up), `/readyz` (a graph is loaded and
//! its sources are not known to be down, with details as JSON) and `/metrics` (Prometheus).

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::app::AppState;

pub async fn healthz() -> Response {
    Json(json!({ "status": "up" })).into_response()
}

/// Ready when a graph is loaded and none of its sources was down at the last probe (with
/// `readiness.require_sources`, the default). Details list each source's last probe.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let Some(loaded) = state.graph.load_full() else {
        let body = with_details(
            json!({ "status": "not_ready", "schema": { "loaded": false }, "sources": [] }),
            &state,
        );
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    };
    let probes = state.probes.load_full();
    let sources: Vec<_> = loaded
        .sources
        .iter()
        .map(|(name, transport)| {
            let health = probes.as_ref().and_then(|p| p.sources.get(name));
            let mut source = json!({
                "name": name,
                "transport": transport,
                "status": health.map_or("unchecked", |h| h.status),
            });
            if let (Some(detail), Some(object)) = (
                health.and_then(|h| h.detail.as_ref()),
                source.as_object_mut(),
            ) {
                object.insert("detail".into(), json!(detail));
            }
            source
        })
        .collect();
    let unix = |t: std::time::SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    };
    let down = probes.as_ref().is_some_and(|p| p.any_down());
    let ready = !(down && state.config.readiness.require_sources);
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "schema": { "loaded": true, "loaded_at_unix": unix(loaded.loaded_at) },
        "sources_checked_at_unix": probes.as_ref().map(|p| unix(p.checked_at)),
        "sources": sources,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(with_details(body, &state))).into_response()
}

/// Adds what lies beyond the graph: what discovery found (`graft serve --discover`) under
/// `discovery`, and the shared response cache's state under `shared_cache` (shown only: a
/// replica without Redis still serves).
fn with_details(mut body: serde_json::Value, state: &AppState) -> serde_json::Value {
    let Some(object) = body.as_object_mut() else {
        return body;
    };
    if let Some(report) = state.discovery.load_full() {
        object.insert(
            "discovery".into(),
            serde_json::to_value(&*report).unwrap_or_default(),
        );
    }
    if let Some(shared) = &state.shared_cache {
        object.insert(
            "shared_cache".into(),
            json!({ "connected": shared.connected(), "suspended": shared.suspended() }),
        );
    }
    body
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let Some(handle) = &state.metrics else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable\n",
        )
            .into_response();
    };
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
