//! graft's server: the `graft` command line and the HTTP surface of the gateway.
//!
//! The binary (`src/main.rs`) only parses the command line; everything else lives here so
//! that tests can drive [`app::app`] in-process and the real binary alike.
//!
//! Request handling must never panic on any input: outside tests, `unwrap`, `expect` and
//! `panic!` are refused by clippy (a panic that still slips through answers 500, see
//! [`frame`]).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod app;
pub mod body_memo;
pub mod commands;
pub mod config;
pub mod connection_wake;
pub mod discovery;
pub mod error;
pub mod explorer;
pub mod frame;
pub mod graphql;
pub mod negotiate;
pub mod ops;
pub mod persisted;
pub mod probe;
pub mod reload;
pub mod server;
pub mod subscriptions;
pub mod telemetry;
pub mod timer;
