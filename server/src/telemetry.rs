//! Metrics and logs: the Prometheus recorder, graft's metric names, and tracing setup.
//!
//! Every metric graft exports is named here (prefix `graft_`), so `/metrics` has one
//! vocabulary. The engine records upstream calls through the `metrics` facade under the
//! `graft_upstream_*` names below; the recorder installed here exports them.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::LogFormat;

/// GraphQL requests by `operation` (query, mutation, subscription, unknown) and `outcome`
/// (ok, partial, rejected, timeout, http_error).
pub const REQUESTS: &str = "graft_graphql_requests_total";
/// GraphQL request latency in seconds, by `operation` and `outcome`.
pub const REQUEST_DURATION: &str = "graft_graphql_request_duration_seconds";
/// HTTP requests being served right now (every route).
pub const IN_FLIGHT: &str = "graft_http_requests_in_flight";
/// Gateway builds by `outcome` (ok, error).
pub const SCHEMA_BUILDS: &str = "graft_schema_builds_total";
/// Upstream calls by `source` and `outcome` (recorded by the engine).
pub const UPSTREAM_CALLS: &str = engine::upstream::CALLS_METRIC;
/// Upstream call latency in seconds by `source` (recorded by the engine).
pub const UPSTREAM_DURATION: &str = engine::upstream::DURATION_METRIC;
/// Response-cache lookups by `source` and `result` (hit, miss) (recorded by the engine).
pub const CACHE_LOOKUPS: &str = engine::upstream::CACHE_LOOKUPS_METRIC;

/// Latency buckets in seconds: 1 ms to 30 s.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process-wide Prometheus recorder, installed on first use. `None` when another
/// recorder was installed first (then `/metrics` answers 503).
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            describe();
            Some(handle)
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(REQUESTS, "GraphQL requests by operation type and outcome.");
    metrics::describe_histogram!(
        REQUEST_DURATION,
        metrics::Unit::Seconds,
        "GraphQL request latency."
    );
    metrics::describe_gauge!(IN_FLIGHT, "HTTP requests being served.");
    metrics::describe_counter!(SCHEMA_BUILDS, "Gateway (schema) builds by outcome.");
    metrics::describe_counter!(UPSTREAM_CALLS, "Upstream calls by source and outcome.");
    metrics::describe_counter!(
        CACHE_LOOKUPS,
        "Response-cache lookups by source and result."
    );
    metrics::describe_histogram!(
        UPSTREAM_DURATION,
        metrics::Unit::Seconds,
        "Upstream call latency by source."
    );
}

/// Operation labels of [`REQUESTS`] and [`REQUEST_DURATION`].
const OPERATIONS: [&str; 4] = ["query", "mutation", "subscription", "unknown"];
/// Outcome labels of [`REQUESTS`] and [`REQUEST_DURATION`].
const OUTCOMES: [&str; 5] = ["ok", "partial", "rejected", "timeout", "http_error"];

/// Counts one GraphQL request and records its latency.
///
/// The handles of each (operation, outcome) pair are looked up in the registry once, on
/// first use (so a series appears when it first happens), instead of on every request as
/// the `counter!` macro with runtime labels does.
pub fn record_request(operation: &'static str, outcome: &'static str, seconds: f64) {
    type Handles = (metrics::Counter, metrics::Histogram);
    static SLOTS: [OnceLock<Handles>; OPERATIONS.len() * OUTCOMES.len()] =
        [const { OnceLock::new() }; OPERATIONS.len() * OUTCOMES.len()];
    let register = || -> Handles {
        let labels = [("operation", operation), ("outcome", outcome)];
        (
            metrics::counter!(REQUESTS, &labels),
            metrics::histogram!(REQUEST_DURATION, &labels),
        )
    };
    let slot = OPERATIONS
        .iter()
        .position(|o| *o == operation)
        .zip(OUTCOMES.iter().position(|o| *o == outcome))
        .map(|(op, out)| &SLOTS[op * OUTCOMES.len() + out]);
    let fresh;
    let (counter, histogram) = match slot {
        Some(slot) => slot.get_or_init(register),
        // A label outside the lists above: correct, just not cached.
        None => {
            fresh = register();
            &fresh
        }
    };
    counter.increment(1);
    histogram.record(seconds);
}

/// Counts one gateway build.
pub fn record_build(ok: bool) {
    metrics::counter!(SCHEMA_BUILDS, "outcome" => if ok { "ok" } else { "error" }).increment(1);
}

/// Installs the global tracing subscriber, then logs which scheduler the process runs on.
/// `RUST_LOG` filters when set; otherwise `info` (the per-request line is written by the
/// request frame only when `access_log` is on). Logs go to stderr so that stdout stays for
/// command output.
pub fn init_logs(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for people at a terminal, never in collected logs.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // A second init (tests) fails harmlessly.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let scheduler = match runtime.runtime_flavor() {
            tokio::runtime::RuntimeFlavor::CurrentThread => "current_thread",
            _ => "multi_thread",
        };
        let workers = runtime.metrics().num_workers();
        tracing::info!(scheduler, workers, "async runtime");
    }
}
