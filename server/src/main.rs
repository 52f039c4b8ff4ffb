//! The `graft` binary: command-line parsing and dispatch.
//!
//! Exit codes: 0 ok, 1 failure with a message, 2 usage error (clap's own).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use graft::commands::{check, config_schema, demo, r#gen, serve};

/// glibc's malloc was about a fifth of the load profile (upstream JSON decoding).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// graft: a GraphQL aggregation gateway for REST (OpenAPI), gRPC and AWS Lambda.
#[derive(Debug, Parser)]
#[command(name = "graft", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate an executable schema from a source spec.
    Gen(r#gen::GenArgs),
    /// Check executable schema files; exit 1 with diagnostics when they have errors.
    Check(check::CheckArgs),
    /// Serve executable schema files as one GraphQL API.
    Serve(serve::ServeArgs),
    /// Start sample upstreams on loopback and serve their graph with the explorer.
    Demo(demo::DemoArgs),
    /// Print the JSON Schema of the server configuration file.
    ConfigSchema,
    /// Print the GraphQLSchema CustomResourceDefinition (YAML).
    Crd,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version exit 0, usage errors 2.
        Err(e) => e.exit(),
    };
    // One CPU (an affinity mask or a cgroup quota of one core, as in a pod limited to one
    // CPU): a single-threaded scheduler, without the work-stealing machinery nobody can use.
    let one_cpu = std::thread::available_parallelism().is_ok_and(|n| n.get() == 1);
    let mut builder = if one_cpu {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("graft: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Gen(args) => r#gen::run(args).await,
            Command::Check(args) => check::run(args),
            Command::Serve(args) => serve::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::ConfigSchema => config_schema::run(),
            Command::Crd => graft::discovery::crd::run(),
        }
    })
}
