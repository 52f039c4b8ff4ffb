//! `graft serve FILE...`: load executable schemas, build the gateway and serve it.
//!
//! Settings come from, highest first: flags, environment (`GRAFT_LISTEN`,
//! `GRAFT_LOG_FORMAT`), the `--config` file, defaults. The process refuses to start (exit 1)
//! when a file is unreadable, the schema has errors or the gateway cannot be built; it
//! exits 0 after a graceful shutdown on SIGTERM/SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use schema_gen::Catalog;

use crate::app::{AppState, Loaded, app};
use crate::config::{Config, LogFormat};
use crate::server::{Drained, ServeOptions, serve, shutdown_signal};
use crate::telemetry;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Executable schema files (merged into one graph).
    #[arg(required_unless_present = "discover")]
    pub files: Vec<PathBuf>,
    /// Also serve what is discovered, reloading on every change (see docs/deploy-eks.md).
    #[arg(long, value_enum)]
    pub discover: Option<crate::discovery::Discover>,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Options `serve` and `demo` share.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Address to listen on [default: 0.0.0.0:8080, or the config file's `listen`].
    #[arg(long, env = "GRAFT_LISTEN")]
    pub listen: Option<String>,
    /// YAML configuration file (see schemas/config.schema.json).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log format [default: text].
    #[arg(long, env = "GRAFT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

impl CommonArgs {
    /// The effective configuration: the file (if any) overridden by flags and environment.
    pub fn config(&self) -> Result<Config, String> {
        let mut config = match &self.config {
            Some(path) => Config::load(path).map_err(|e| e.to_string())?,
            None => Config::default(),
        };
        if let Some(listen) = &self.listen {
            config.listen.clone_from(listen);
            config.listen_addr()?;
        }
        if let Some(format) = self.log_format {
            config.log_format = format;
        }
        Ok(config)
    }
}

pub async fn run(args: ServeArgs) -> ExitCode {
    let config = match args.common.config() {
        Ok(config) => config,
        Err(message) => return fail(&message),
    };
    telemetry::init_logs(config.log_format);
    if let Some(mode) = args.discover {
        return crate::discovery::serve(mode, args.files, config).await;
    }
    let files = match crate::commands::check::read_files(&args.files) {
        Ok(files) => files,
        Err(message) => return fail(&message),
    };
    let checked = schema_gen::parse::parse_files(&files);
    for diagnostic in &checked.diagnostics {
        eprintln!("{diagnostic}");
    }
    let Some(catalog) = checked.catalog else {
        return fail("the schema has errors; not starting (run `graft check` for details)");
    };
    serve_catalog(catalog, config).await
}

/// Builds the gateway for `catalog` and serves it until a shutdown signal.
pub async fn serve_catalog(catalog: Catalog, config: Config) -> ExitCode {
    let state = AppState::new(config);
    let loaded = match build(catalog, &state) {
        Ok(loaded) => loaded,
        Err(message) => return fail(&message),
    };
    state.swap(loaded);
    serve_state(state).await
}

/// Serves `state` (whose graph may be swapped meanwhile) until a shutdown signal.
pub async fn serve_state(state: Arc<AppState>) -> ExitCode {
    let addr = match state.config.listen_addr() {
        Ok(addr) => addr,
        Err(message) => return fail(&message),
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => return fail(&format!("cannot listen on {addr}: {e}")),
    };
    let local = listener.local_addr().unwrap_or(addr);
    // The one line of stdout: where to send queries (tests and scripts read it).
    println!("graft serving http://{local}/graphql");
    tracing::info!(%local, "listening");
    crate::probe::spawn(Arc::clone(&state));
    if let Some(handle) = state.metrics.clone() {
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                handle.run_upkeep();
            }
        });
    }
    let options = ServeOptions {
        header_read_timeout: state.config.timeouts.header_read(),
        write_timeout: state.config.timeouts.write(),
        drain: state.config.timeouts.drain(),
    };
    match serve(
        listener,
        app(Arc::clone(&state)),
        options,
        shutdown_signal(),
    )
    .await
    {
        Drained::Clean => tracing::info!("all connections drained; exiting"),
        Drained::TimedOut { open } => tracing::warn!(
            open,
            "drain time ran out; closing the remaining connections"
        ),
    }
    ExitCode::SUCCESS
}

/// Applies the config's header defaults to every source and builds the gateway.
pub fn build(mut catalog: Catalog, state: &AppState) -> Result<Loaded, String> {
    let config = &state.config;
    for source in catalog.sources.values_mut() {
        merge_lower(&mut source.policy.forward_headers, &config.headers.forward);
        merge_lower(
            &mut source.policy.response_headers,
            &config.headers.response,
        );
    }
    let env = |name: &str| std::env::var(name).ok();
    let built = engine::gateway::Gateway::build_with_plan(
        &catalog,
        config.gateway_options(),
        Some(engine::plan::PlanOptions {
            shared_cache: state.shared_cache.clone(),
            ..config.plan_options()
        }),
        &env,
    );
    match built {
        Ok(gateway) => {
            telemetry::record_build(true);
            Ok(Loaded::new(gateway, &catalog))
        }
        Err(e) => {
            telemetry::record_build(false);
            Err(format!("cannot build the gateway: {e}"))
        }
    }
}

fn merge_lower(into: &mut Vec<String>, defaults: &[String]) {
    for name in defaults {
        let name = name.to_ascii_lowercase();
        if !into.contains(&name) {
            into.push(name);
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("graft: {message}");
    ExitCode::FAILURE
}
