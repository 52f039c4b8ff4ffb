//! Discovery: the graph follows what is deployed in the cluster.
//!
//! `graft serve --discover kubernetes [FILES...]` watches labelled Services and
//! `GraphQLSchema` resources ([`kubernetes`]), turns each Service into a typed source
//! ([`annotations`]), and hands the resulting [`Inventory`] to [`crate::reload`], which
//! describes, compiles, merges with the static files and the resources, builds and swaps the
//! gateway. Problems never stop the graph: they are logged, counted in metrics and listed in
//! the [`DiscoveryReport`] that `/readyz` shows.

pub mod annotations;
pub mod crd;
pub mod kubernetes;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use annotations::{AnnotationError, DiscoveredSource, ObjectKey};

/// Metric names of discovery and reload (all `graft_` like the rest, see `telemetry`).
pub mod metric {
    /// Discovered Services by `status` (ok, stale, failed, rejected, pending): a gauge.
    pub const SOURCES: &str = "graft_discovery_sources";
    /// Failed describes (spec fetch, parse or reflection) by `service`.
    pub const DESCRIBE_FAILURES: &str = "graft_discovery_describe_failures_total";
    /// Failed list/watch calls to the API server by `resource` and `reason` (forbidden, ...).
    pub const WATCH_ERRORS: &str = "graft_discovery_watch_errors_total";
    /// GraphQLSchema resources by `status` (merged, rejected): a gauge.
    pub const SCHEMAS: &str = "graft_discovery_schemas";
    /// Removed or changed fields, arguments, types and enum values, by `change`.
    pub const BREAKING_CHANGES: &str = "graft_schema_breaking_changes_total";
    /// Reloads by `outcome` (swapped, unchanged, build_error).
    pub const RELOADS: &str = "graft_schema_reloads_total";

    pub(crate) fn describe() {
        metrics::describe_gauge!(SOURCES, "Discovered Services by status.");
        metrics::describe_counter!(DESCRIBE_FAILURES, "Failed describes of discovered sources.");
        metrics::describe_counter!(
            WATCH_ERRORS,
            "Failed list/watch calls to the Kubernetes API server."
        );
        metrics::describe_gauge!(SCHEMAS, "GraphQLSchema resources by status.");
        metrics::describe_counter!(
            BREAKING_CHANGES,
            "Breaking changes (removed or changed schema elements) applied by reloads."
        );
        metrics::describe_counter!(RELOADS, "Discovery reloads by outcome.");
    }
}

/// `--discover` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Discover {
    /// Watch labelled Services and GraphQLSchema resources (in-cluster config, else KUBECONFIG).
    Kubernetes,
}

/// The `discovery` section of the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct DiscoveryConfig {
    pub kubernetes: KubernetesConfig,
    /// How often every discovered source is described again (milliseconds), so that a spec
    /// changed upstream shows up without a change in the cluster. The default plus the
    /// describe timeout stays within the 30 s in which a change must reach the graph.
    #[schemars(range(min = 100))]
    pub refresh_ms: u64,
    /// Time one describe (a spec fetch or a reflection session) may take (milliseconds).
    #[schemars(range(min = 1))]
    pub describe_timeout_ms: u64,
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        DiscoveryConfig {
            kubernetes: KubernetesConfig::default(),
            refresh_ms: 15_000,
            describe_timeout_ms: 10_000,
        }
    }
}

impl DiscoveryConfig {
    pub fn refresh(&self) -> Duration {
        Duration::from_millis(self.refresh_ms.max(100))
    }
    pub fn describe_timeout(&self) -> Duration {
        Duration::from_millis(self.describe_timeout_ms.max(1))
    }
}

/// Kubernetes discovery settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Namespaces to watch; empty means all (which needs a ClusterRoleBinding).
    pub namespaces: Vec<String>,
}

/// What the cluster holds right now, as the watches last saw it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    /// Every watch has listed once or failed (so an empty inventory means nothing is there).
    pub synced: bool,
    /// Labelled Services, oldest first (the first claimant of a name wins).
    pub services: Vec<Candidate>,
    /// GraphQLSchema resources, oldest first.
    pub schemas: Vec<SchemaResource>,
    /// Watches that are failing right now.
    pub watch_problems: Vec<WatchProblem>,
}

/// A labelled Service: a source, or why it is not one.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub service: ObjectKey,
    pub found: Result<DiscoveredSource, AnnotationError>,
}

/// One `GraphQLSchema` resource's SDL.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaResource {
    pub key: ObjectKey,
    pub sdl: String,
}

/// A list/watch that fails (RBAC denied, CRD missing, API server unreachable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchProblem {
    /// `services` or `graphqlschemas`.
    pub resource: &'static str,
    /// A namespace, or `all namespaces`.
    pub scope: String,
    /// A short reason for metrics: forbidden, not_found, unreachable, other.
    pub reason: &'static str,
    pub message: String,
}

/// What `/readyz` shows about discovery (under `discovery`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiscoveryReport {
    /// Failing watches; empty when all are healthy.
    pub watch_problems: Vec<WatchProblem>,
    pub services: Vec<ServiceReport>,
    pub schemas: Vec<SchemaReport>,
    pub build: BuildReport,
}

/// One labelled Service.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceReport {
    /// `namespace/name`.
    pub service: String,
    pub source: Option<String>,
    pub transport: Option<&'static str>,
    pub status: SourceStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When its served version was described (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub described_at_unix: Option<u64>,
}

/// Where a discovered Service stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// Described and served.
    Ok,
    /// The last describe failed; the last good version is served.
    Stale,
    /// Never described successfully; not in the graph.
    Failed,
    /// Left out: malformed annotations, a name or field claimed by another source, or a
    /// schema that does not merge.
    Rejected,
}

impl SourceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Ok => "ok",
            SourceStatus::Stale => "stale",
            SourceStatus::Failed => "failed",
            SourceStatus::Rejected => "rejected",
        }
    }
}

/// One GraphQLSchema resource.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaReport {
    pub resource: String,
    /// `merged` or `rejected`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The last reload's build.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildReport {
    /// `pending` (nothing built yet), `ok` or `error` (the previous graph is still served).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Breaking changes of the last swap that had any.
    pub last_breaking_changes: Vec<String>,
}

/// `graft serve --discover kubernetes [FILES...]`: serves the static files together with
/// what discovery finds, reloading on every change.
pub async fn serve(mode: Discover, files: Vec<PathBuf>, config: crate::config::Config) -> ExitCode {
    let Discover::Kubernetes = mode;
    let fail = |message: String| {
        eprintln!("graft: {message}");
        ExitCode::FAILURE
    };
    let files = match crate::commands::check::read_files(&files) {
        Ok(files) => files,
        Err(message) => return fail(message),
    };
    if !files.is_empty() {
        let checked = schema_gen::parse::parse_files(&files);
        for diagnostic in &checked.diagnostics {
            eprintln!("{diagnostic}");
        }
        if checked.catalog.is_none() {
            return fail(
                "the schema has errors; not starting (run `graft check` for details)".into(),
            );
        }
    }
    let client = match kube::Client::try_default().await {
        Ok(client) => client,
        Err(e) => {
            return fail(format!(
                "cannot configure the Kubernetes client (in-cluster config, else KUBECONFIG): {e}"
            ));
        }
    };
    metric::describe();
    let state = crate::app::AppState::new(config);
    let watches = kubernetes::start(client, &state.config.discovery.kubernetes);
    let reloader = crate::reload::Reloader::new(Arc::clone(&state), files);
    let reloading = tokio::spawn(reloader.run(watches.subscribe()));
    let code = crate::commands::serve::serve_state(state).await;
    reloading.abort();
    drop(watches);
    code
}
