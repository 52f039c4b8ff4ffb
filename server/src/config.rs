//! The server's configuration file: typed YAML, unknown keys rejected, JSON Schema generated.
//!
//! Every option has a safe default, so an empty file (or no file) is a valid configuration.
//! `graft config-schema` prints the JSON Schema derived from these types; the committed copy
//! in `schemas/config.schema.json` is checked against it by a drift test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8080";

/// graft server configuration (`graft serve --config FILE`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
#[schemars(title = "graft server configuration")]
pub struct Config {
    /// Address to listen on. The `--listen` flag and `GRAFT_LISTEN` override it.
    pub listen: String,
    /// Log output format. The `--log-format` flag and `GRAFT_LOG_FORMAT` override it.
    pub log_format: LogFormat,
    /// Log one line per HTTP request (method, path, status, latency, request id). Off by
    /// default: at gateway request rates the lines cost real throughput.
    pub access_log: bool,
    /// Answer `__schema` and `__type` introspection queries.
    pub introspection: bool,
    /// Serve the explorer UI to browsers at GET /graphql.
    pub explorer: bool,
    pub limits: LimitsConfig,
    pub timeouts: TimeoutsConfig,
    pub headers: HeadersConfig,
    pub cors: CorsConfig,
    /// `graft serve --discover`: what to watch and how often to describe sources again.
    pub discovery: crate::discovery::DiscoveryConfig,
    pub readiness: ReadinessConfig,
    pub execution: ExecutionConfig,
    pub persisted_queries: PersistedQueriesConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: DEFAULT_LISTEN.to_owned(),
            log_format: LogFormat::Text,
            access_log: false,
            introspection: true,
            explorer: true,
            limits: LimitsConfig::default(),
            timeouts: TimeoutsConfig::default(),
            headers: HeadersConfig::default(),
            cors: CorsConfig::default(),
            discovery: crate::discovery::DiscoveryConfig::default(),
            readiness: ReadinessConfig::default(),
            execution: ExecutionConfig::default(),
            persisted_queries: PersistedQueriesConfig::default(),
        }
    }
}

/// Automatic persisted queries (Apollo's APQ protocol): a client may send a query's SHA-256
/// instead of its text, and sends the text once when graft does not know the hash. Known
/// queries are kept in process and, with `execution.shared_cache`, in Redis, so that every
/// replica knows what one was told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PersistedQueriesConfig {
    /// Accept hashes in place of queries. When off, a request with only a hash is answered
    /// PERSISTED_QUERY_NOT_SUPPORTED (clients then send the text).
    pub enabled: bool,
    /// Memory bound of the in-process store of queries, in MiB.
    #[schemars(range(min = 1))]
    pub cache_mib: u64,
    /// How long Redis keeps a query after it was last sent in full, in seconds.
    #[schemars(range(min = 1))]
    pub shared_ttl_s: u64,
    /// A manifest of operations listed ahead of time, run by their id (sent as
    /// `extensions.persistedQuery.sha256Hash`) whether or not `enabled` is on: Apollo's
    /// `apollo-persisted-query-manifest` JSON, or a JSON object of id → text (Relay,
    /// GraphQL Code Generator). Read when graft starts.
    pub manifest: Option<PathBuf>,
    /// Run only the manifest's operations, by id or by their exact text; anything else is
    /// refused with PERSISTED_QUERY_NOT_IN_LIST and no query can be registered. Needs
    /// `manifest`.
    pub only_listed: bool,
}

impl Default for PersistedQueriesConfig {
    fn default() -> Self {
        PersistedQueriesConfig {
            enabled: true,
            cache_mib: 16,
            shared_ttl_s: 24 * 60 * 60,
            manifest: None,
            only_listed: false,
        }
    }
}

/// Log output format.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Limits every request obeys; each refusal is a GraphQL error with a stable code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest accepted request body in bytes (413 above it).
    #[schemars(range(min = 1))]
    pub max_body_bytes: usize,
    /// Deepest selection set (introspection queries included).
    #[schemars(range(min = 1))]
    pub max_depth: usize,
    /// Highest query complexity (each field costs 1).
    #[schemars(range(min = 1))]
    pub max_complexity: usize,
    /// Most aliases in one document.
    pub max_aliases: usize,
    /// Most upstream calls one request may make.
    #[schemars(range(min = 1))]
    pub max_upstream_calls: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let engine = engine::gateway::Limits::default();
        LimitsConfig {
            max_body_bytes: 2 * 1024 * 1024,
            max_depth: engine.max_depth,
            max_complexity: engine.max_complexity,
            max_aliases: engine.max_aliases,
            max_upstream_calls: engine.max_upstream_calls,
        }
    }
}

/// Timeouts, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// Total time for one GraphQL request, body read included (answered with REQUEST_TIMEOUT).
    #[schemars(range(min = 1))]
    pub request_ms: u64,
    /// Time a client has to send a request's headers; slower connections are closed. It
    /// also closes keep-alive connections idle for longer.
    #[schemars(range(min = 1))]
    pub header_read_ms: u64,
    /// Time a write to a client may stall (a client that does not read its response) before
    /// the connection is closed.
    #[schemars(range(min = 1))]
    pub write_ms: u64,
    /// Upstream call timeout when neither the field nor its source sets one.
    #[schemars(range(min = 1))]
    pub upstream_ms: u64,
    /// On SIGTERM/SIGINT, how long in-flight requests may still run before the process exits.
    pub drain_ms: u64,
}

impl Default for TimeoutsConfig {
    fn default() -> Self {
        TimeoutsConfig {
            request_ms: 30_000,
            header_read_ms: 10_000,
            write_ms: 30_000,
            upstream_ms: 10_000,
            drain_ms: 8_000,
        }
    }
}

impl TimeoutsConfig {
    pub fn request(&self) -> Duration {
        Duration::from_millis(self.request_ms.max(1))
    }
    pub fn header_read(&self) -> Duration {
        Duration::from_millis(self.header_read_ms.max(1))
    }
    pub fn write(&self) -> Duration {
        Duration::from_millis(self.write_ms.max(1))
    }
    pub fn upstream(&self) -> Duration {
        Duration::from_millis(self.upstream_ms.max(1))
    }
    pub fn drain(&self) -> Duration {
        Duration::from_millis(self.drain_ms)
    }
}

/// Header policy defaults, merged into every source's own `@source` lists.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HeadersConfig {
    /// Client request headers forwarded to every source (case-insensitive). None by default.
    pub forward: Vec<String>,
    /// Upstream response headers passed back to the client from every source.
    pub response: Vec<String>,
}

/// How operations execute (graft's plan executor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionConfig {
    /// Identical in-flight upstream reads share one call across concurrent requests (a
    /// source's `@source(dedupe: false)` opts out; mutations never share).
    pub dedupe_requests: bool,
    /// Identical in-flight operations made only of shareable reads share one execution and
    /// one response (the key includes every request header that can reach an upstream).
    pub dedupe_operations: bool,
    /// Memory bound of the upstream response cache (fields with `cacheTtl`, reads of
    /// sources with `httpCache`), in MiB; 0 disables it.
    pub response_cache_mib: u64,
    /// Memory bound of the cache of parsed, validated and planned documents, in MiB.
    pub plan_cache_mib: u64,
    /// A response cache shared by every replica, in Redis, behind the in-process one. Off
    /// unless set.
    pub shared_cache: Option<SharedCacheConfig>,
}

/// The response cache's shared tier: answers one replica fetched are served by all of them.
/// Redis is never required: while it is unreachable or slow, lookups are misses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SharedCacheConfig {
    /// `redis://[user:password@]host:port[/db]`.
    pub redis_url: String,
    /// Prepended to every key (several gateways can share one Redis).
    #[serde(default = "SharedCacheConfig::default_key_prefix")]
    pub key_prefix: String,
    /// Bound of each Redis command and connection attempt, in milliseconds; a lookup that
    /// takes longer is a miss.
    #[serde(default = "SharedCacheConfig::default_timeout_ms")]
    pub timeout_ms: u64,
    /// For `rediss://` (TLS): a PEM file of the CA certificates to trust instead of the
    /// system's roots (which also honour `SSL_CERT_FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    /// For `rediss://` to a Redis that verifies clients (`tls-auth-clients`): a PEM file of
    /// the client certificate (chain) graft presents. Set with `tls_key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of `tls_cert_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key_file: Option<PathBuf>,
    /// `redis_url` names a node of a Redis Cluster (ElastiCache with cluster mode on: its
    /// configuration endpoint): keys spread over the shards, and the topology is followed as
    /// slots move between shards.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cluster: bool,
}

impl SharedCacheConfig {
    fn default_key_prefix() -> String {
        "graft:".to_string()
    }
    fn default_timeout_ms() -> u64 {
        50
    }
    /// The engine's options; reads the TLS files.
    pub fn options(&self) -> Result<engine::cache::SharedCacheOptions, String> {
        let root_certificates = self
            .tls_ca_file
            .as_deref()
            .map(|path| read_pem("tls_ca_file", path, "CERTIFICATE"))
            .transpose()?;
        let client_certificate = match (&self.tls_cert_file, &self.tls_key_file) {
            (None, None) => None,
            (Some(certificate), Some(key)) => Some(engine::cache::ClientCertificate {
                certificate: read_pem("tls_cert_file", certificate, "CERTIFICATE")?,
                key: read_pem("tls_key_file", key, "PRIVATE KEY")?,
            }),
            _ => {
                return Err(
                    "execution.shared_cache.tls_cert_file and tls_key_file go together".into(),
                );
            }
        };
        Ok(engine::cache::SharedCacheOptions {
            url: self.redis_url.clone(),
            key_prefix: self.key_prefix.clone(),
            timeout: Duration::from_millis(self.timeout_ms),
            root_certificates,
            client_certificate,
            cluster: self.cluster,
        })
    }
}

/// A PEM file of `execution.shared_cache.<key>` holding a `label` block (`CERTIFICATE`, or
/// a `PRIVATE KEY` of any kind): an empty or wrong file would only fail each connection
/// later.
fn read_pem(key: &str, path: &Path, label: &str) -> Result<Vec<u8>, String> {
    let shown = path.display();
    let pem =
        std::fs::read(path).map_err(|e| format!("execution.shared_cache.{key} {shown}: {e}"))?;
    let text = String::from_utf8_lossy(&pem);
    let found = text
        .lines()
        .any(|line| line.starts_with("-----BEGIN ") && line.contains(label));
    if !found {
        return Err(format!(
            "execution.shared_cache.{key} {shown} holds no PEM {}",
            label.to_ascii_lowercase()
        ));
    }
    Ok(pem)
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        let engine = engine::plan::PlanOptions::default();
        ExecutionConfig {
            dedupe_requests: engine.dedupe_requests,
            dedupe_operations: engine.dedupe_operations,
            response_cache_mib: engine.response_cache_bytes >> 20,
            plan_cache_mib: engine.plan_cache_bytes >> 20,
            shared_cache: None,
        }
    }
}

/// How `/readyz` checks the graph's sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ReadinessConfig {
    /// How often every source is probed: a REST source must answer `GET <base URL>` (any
    /// status), a gRPC endpoint accept a connection; Lambda sources are not probed.
    pub probe_interval_ms: u64,
    /// Time one probe may take.
    pub probe_timeout_ms: u64,
    /// Answer 503 while a probed source is down. Where `/readyz` is a load balancer's health
    /// check, `false` keeps replicas in service when one upstream fails (its fields fail,
    /// the rest of the graph keeps working); the details still show the source as down.
    pub require_sources: bool,
}

impl Default for ReadinessConfig {
    fn default() -> Self {
        ReadinessConfig {
            probe_interval_ms: 10_000,
            probe_timeout_ms: 2_000,
            require_sources: true,
        }
    }
}

/// Cross-origin access for browser apps served from other origins.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConfig {
    /// Origins (`https://app.example.com`) whose pages may call /graphql; `*` allows any.
    /// Empty (the default): no CORS headers, browsers allow same-origin calls only.
    pub allowed_origins: Vec<String>,
}

/// Why a configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    /// Reads and validates a YAML configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Config::from_yaml(&text).map_err(|message| ConfigError::Invalid {
            path: shown,
            message,
        })
    }

    /// Parses YAML text; an empty document is the default configuration.
    pub fn from_yaml(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        let config: Config = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        self.listen_addr()?;
        let l = &self.limits;
        for (name, value) in [
            ("limits.max_body_bytes", l.max_body_bytes),
            ("limits.max_depth", l.max_depth),
            ("limits.max_complexity", l.max_complexity),
            ("limits.max_upstream_calls", l.max_upstream_calls),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        for origin in &self.cors.allowed_origins {
            if origin != "*" && http::HeaderValue::from_str(origin).is_err() {
                return Err(format!(
                    "cors.allowed_origins: {origin:?} is not a valid origin"
                ));
            }
        }
        if let Some(shared) = &self.execution.shared_cache {
            if shared.timeout_ms == 0 {
                return Err("execution.shared_cache.timeout_ms must be at least 1".to_string());
            }
            shared
                .options()?
                .check()
                .map_err(|e| match shared.tls_ca_file {
                    None => format!("execution.shared_cache.redis_url: {e}"),
                    Some(_) => format!("execution.shared_cache.redis_url or tls_ca_file: {e}"),
                })?;
        }
        let t = &self.timeouts;
        let p = &self.persisted_queries;
        for (name, value) in [
            ("timeouts.request_ms", t.request_ms),
            ("timeouts.header_read_ms", t.header_read_ms),
            ("timeouts.write_ms", t.write_ms),
            ("timeouts.upstream_ms", t.upstream_ms),
            ("persisted_queries.cache_mib", p.cache_mib),
            ("persisted_queries.shared_ttl_s", p.shared_ttl_s),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        match &p.manifest {
            Some(path) => {
                crate::persisted::Manifest::read(path)
                    .map_err(|e| format!("persisted_queries.manifest: {e}"))?;
            }
            None if p.only_listed => {
                return Err(
                    "persisted_queries.only_listed needs persisted_queries.manifest".into(),
                );
            }
            None => {}
        }
        Ok(())
    }

    /// The listen address as a socket address.
    pub fn listen_addr(&self) -> Result<SocketAddr, String> {
        self.listen.parse().map_err(|_| {
            format!(
                "listen address {:?} is not HOST:PORT with an IP host",
                self.listen
            )
        })
    }

    /// What the engine is built with.
    pub fn gateway_options(&self) -> engine::gateway::GatewayOptions {
        engine::gateway::GatewayOptions {
            introspection: self.introspection,
            limits: engine::gateway::Limits {
                max_depth: self.limits.max_depth,
                max_complexity: self.limits.max_complexity,
                max_aliases: self.limits.max_aliases,
                max_upstream_calls: self.limits.max_upstream_calls,
            },
            default_timeout: self.timeouts.upstream(),
        }
    }

    /// What the plan executor runs with.
    pub fn plan_options(&self) -> engine::plan::PlanOptions {
        engine::plan::PlanOptions {
            dedupe_requests: self.execution.dedupe_requests,
            dedupe_operations: self.execution.dedupe_operations,
            response_cache_bytes: self.execution.response_cache_mib << 20,
            plan_cache_bytes: self.execution.plan_cache_mib << 20,
            // A connection, not configuration: the server's state holds it across reloads.
            shared_cache: None,
        }
    }
}

/// The JSON Schema of the configuration file, pretty-printed with a final newline.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Config);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_default_configuration() {
        assert_eq!(Config::from_yaml("").unwrap(), Config::default());
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let err = Config::from_yaml("limits:\n  max_dept: 3\n").unwrap_err();
        assert!(err.contains("max_dept"), "{err}");
    }

    #[test]
    fn a_partial_file_keeps_the_other_defaults() {
        let config = Config::from_yaml("introspection: false\nlimits:\n  max_depth: 4\n").unwrap();
        assert!(!config.introspection);
        assert_eq!(config.limits.max_depth, 4);
        assert_eq!(config.limits.max_body_bytes, 2 * 1024 * 1024);
    }

    #[test]
    fn a_shared_cache_client_certificate_is_read_with_its_key() {
        let dir = std::env::temp_dir().join(format!("graft-config-mtls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let signed = rcgen::generate_simple_self_signed(vec!["graft".to_string()]).unwrap();
        let (cert, key) = (dir.join("client.crt"), dir.join("client.key"));
        std::fs::write(&cert, signed.cert.pem()).unwrap();
        std::fs::write(&key, signed.signing_key.serialize_pem()).unwrap();
        let yaml = format!(
            "execution:\n  shared_cache:\n    redis_url: rediss://cache\n    tls_cert_file: {}\n    tls_key_file: {}\n",
            cert.display(),
            key.display()
        );
        let config = Config::from_yaml(&yaml).unwrap();
        let options = config.execution.shared_cache.unwrap().options().unwrap();
        let client = options.client_certificate.unwrap();
        assert_eq!(client.certificate, signed.cert.pem().into_bytes());
        assert_eq!(client.key, signed.signing_key.serialize_pem().into_bytes());
        assert_eq!(format!("{client:?}"), "ClientCertificate(..)");
        // A certificate where the key should be is refused.
        let swapped = yaml.replace("client.key", "client.crt");
        let err = Config::from_yaml(&swapped).unwrap_err();
        assert!(
            err.contains("tls_key_file") && err.contains("holds no PEM private key"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_shared_cache_needs_a_redis_url_and_a_positive_timeout() {
        let config =
            Config::from_yaml("execution:\n  shared_cache:\n    redis_url: redis://cache:6379\n")
                .unwrap();
        let shared = config.execution.shared_cache.unwrap();
        assert_eq!(
            (
                shared.key_prefix.as_str(),
                shared.timeout_ms,
                shared.cluster
            ),
            ("graft:", 50, false)
        );
        let yaml =
            "execution:\n  shared_cache:\n    redis_url: redis://cfg:6379\n    cluster: true\n";
        let config = Config::from_yaml(yaml).unwrap();
        let options = config.execution.shared_cache.unwrap().options().unwrap();
        assert!(options.cluster);
        for (yaml, named) in [
            (
                "execution:\n  shared_cache:\n    redis_url: http://cache\n",
                "redis_url",
            ),
            (
                "execution:\n  shared_cache:\n    redis_url: redis://cache\n    timeout_ms: 0\n",
                "timeout_ms",
            ),
            ("execution:\n  shared_cache: {}\n", "redis_url"),
            (
                "execution:\n  shared_cache:\n    redis_url: rediss://cache\n    tls_ca_file: /nowhere.pem\n",
                "tls_ca_file",
            ),
            (
                "execution:\n  shared_cache:\n    redis_url: rediss://cache\n    tls_ca_file: Cargo.toml\n",
                "holds no PEM certificate",
            ),
            (
                "execution:\n  shared_cache:\n    redis_url: rediss://cache\n    tls_cert_file: Cargo.toml\n",
                "tls_cert_file and tls_key_file go together",
            ),
            (
                "execution:\n  shared_cache:\n    redis_url: rediss://cache\n    tls_cert_file: Cargo.toml\n    tls_key_file: Cargo.toml\n",
                "tls_cert_file Cargo.toml holds no PEM certificate",
            ),
        ] {
            let err = Config::from_yaml(yaml).unwrap_err();
            assert!(err.contains(named), "{yaml}: {err}");
        }
    }

    #[test]
    fn a_zero_limit_is_rejected() {
        assert!(Config::from_yaml("limits:\n  max_depth: 0\n").is_err());
        assert!(Config::from_yaml("listen: nowhere\n").is_err());
    }
}
