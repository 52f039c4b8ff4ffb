//! engine: graft's runtime — builds a gateway from a catalog and resolves fields upstream.
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

pub mod build;
pub mod cache;
pub mod error;
pub mod gateway;
pub mod limits;
pub mod loader;
pub mod plan;
pub mod resolve;
pub mod upstream;

pub use error::{BuildError, DescribeError, ErrorKind, UpstreamError};
pub use gateway::{Gateway, GatewayOptions, GatewayResponse, Limits, RequestContext};
