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

/// Ready when a graph is loaded. Each source carries a `status`; it is `unchecked` until
/// per-source probing exists (the seam: a source reported `down` makes the graph unready).
pub async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let Some(loaded) = state.graph.load_full() else {
        let body = with_discovery(
            json!({ "status": "not_ready", "schema": { "loaded": false }, "sources": [] }),
            &state,
        );
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    };
    let sources: Vec<_> = loaded
        .sources
        .iter()
        .map(|(name, transport)| json!({ "name": name, "transport": transport, "status": "unchecked" }))
        .collect();
    let loaded_at = loaded
        .loaded_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let body = json!({
        "status": "ready",
        "schema": { "loaded": true, "loaded_at_unix": loaded_at },
        "sources": sources,
    });
    Json(with_discovery(body, &state)).into_response()
}

/// Adds what discovery found (`graft serve --discover`) under `discovery`.
fn with_discovery(mut body: serde_json::Value, state: &AppState) -> serde_json::Value {
    if let (Some(report), Some(object)) = (state.discovery.load_full(), body.as_object_mut()) {
        object.insert(
            "discovery".into(),
            serde_json::to_value(&*report).unwrap_or_default(),
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
