//! Ingest: source specs (OpenAPI documents, gRPC descriptors, Lambda manifests) into a catalog.

pub mod grpc;
pub mod lambda;
pub mod openapi;

use crate::{Catalog, Diagnostic};

/// The result of ingesting one spec: a catalog (absent when nothing usable was left) and
/// every diagnostic found on the way.
#[derive(Debug, Clone, Default)]
pub struct Ingested {
    pub catalog: Option<Catalog>,
    pub diagnostics: Vec<Diagnostic>,
}
