//! `graft` subcommands: one module per command.

pub mod check;
pub mod config_schema;
pub mod demo;
pub mod r#gen;
pub mod serve;
