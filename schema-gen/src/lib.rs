//! schema-gen: graft's pure compiler — source specs in, executable schema (SDL) out, and back.
//!
//! Nothing here does network IO or async: ingest, emit, parse and validation are pure
//! functions of their inputs, so they are snapshot-tested on fixtures.
//!
//! ```
//! let sdl = r#"
//! schema @source(name: "blog", rest: {baseUrl: "http://127.0.0.1:3000"}) { query: Query }
//! type Query { posts: [Post] @rest(source: "blog", path: "/posts") }
//! type Post { id: ID title: String }
//! "#;
//! let checked = schema_gen::parse::parse_files(&[schema_gen::parse::SdlFile::new("blog.graphql", sdl)]);
//! assert!(checked.catalog.is_some(), "{:?}", checked.diagnostics);
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod catalog;
pub mod diagnostics;
pub mod diff;
pub mod directives;
pub mod emit;
pub mod ingest;
pub mod links;
pub mod naming;
pub mod parse;
pub mod template;
pub mod transform;
pub mod validate;

pub use catalog::Catalog;
pub use diagnostics::{Code, Diagnostic, Severity};
