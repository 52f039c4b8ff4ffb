//! engine: graft's runtime — builds a gateway from a catalog and resolves fields upstream.
//!
//! ```
//! use engine::{Gateway, GatewayOptions, RequestContext};
//! use schema_gen::parse::{SdlFile, parse_files};
//!
//! let sdl = r#"
//! schema @source(name: "blog", rest: {baseUrl: "http://127.0.0.1:9"}) { query: Query }
//! type Query { post(id: ID!): Post @rest(source: "blog", path: "/posts/{{args.id}}") }
//! type Post { id: ID title: String }
//! "#;
//! let catalog = parse_files(&[SdlFile::new("blog.graphql", sdl)]).catalog.unwrap();
//! let gateway = Gateway::build(&catalog, GatewayOptions::default()).unwrap();
//! assert!(gateway.sdl().contains("post(id: ID!): Post"));
//!
//! // Nothing listens on port 9: the field fails alone, with a stable code.
//! let runtime = tokio::runtime::Runtime::new().unwrap();
//! let answer = runtime.block_on(gateway.execute(
//!     async_graphql::Request::new(r#"{ post(id: "1") { title } }"#),
//!     RequestContext::default(),
//! ));
//! let error = &answer.response.errors[0];
//! let code = error.extensions.as_ref().and_then(|e| e.get("code")).cloned();
//! assert_eq!(code, Some(async_graphql::Value::from("UPSTREAM_UNREACHABLE")));
//! ```
//!
//! - [`gateway`]: the one entry point (`Gateway::build`, `Gateway::execute`);
//! - [`upstream`]: the transport-agnostic [`upstream::Invoke`] interface and one file per
//!   transport (describe + invoke);
//! - [`error`]: typed build, upstream and describe errors with stable codes.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod body;
pub mod build;
pub mod cache;
pub mod decoded;
pub mod error;
pub mod gateway;
pub mod limits;
pub mod loader;
pub mod plan;
pub mod projection;
pub mod resolve;
pub mod upstream;

pub use error::{BuildError, DescribeError, ErrorKind, UpstreamError};
pub use gateway::{Gateway, GatewayOptions, GatewayResponse, Limits, RequestContext};
