//! The gateway: one built, immutable graph that executes GraphQL requests.
//!
//! A gateway is built once from a validated catalog and replaced wholesale (ArcSwap in the
//! server) when the graph changes; it is never mutated in place.
//!
//! INTERFACE STUB: signatures are the contract between engine and server; the engine helper
//! replaces the bodies.

use std::time::Duration;

use schema_gen::Catalog;

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
        Limits { max_depth: 15, max_complexity: 5_000, max_aliases: 100, max_upstream_calls: 500 }
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
        GatewayOptions { introspection: true, limits: Limits::default(), default_timeout: Duration::from_secs(10) }
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
