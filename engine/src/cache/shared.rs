//! The response cache's shared tier: answers kept in Redis, so that every replica of a
//! gateway serves what one of them fetched. The in-process tier stays in front of it.
//!
//! - Keys are `{prefix}{SHA-256 of the rendered request's key}`. The request key holds the
//!   forwarded credentials, which must not be readable in Redis; equal hashes still mean
//!   equal requests, so one caller's credentialed answer reaches only the same credentials.
//! - Values are JSON, `{"value": <the decoded answer>, "headers": [[name, value], …]}`,
//!   stored with the answer's TTL (`PX`). A hit carries its remaining lifetime (`PTTL`)
//!   into the in-process tier, so no replica extends an answer's life.
//! - Redis speeds things up and is never needed: every command runs under a timeout, and an
//!   unreachable Redis, a timeout or an entry that does not decode is a miss (counted in
//!   [`SHARED_CACHE_METRIC`]), never an error of the request.
//! - Writes go out in the background, at most [`MAX_PENDING_WRITES`] at once; beyond that
//!   they are dropped (counted), so a slow Redis holds neither answers nor memory.
//! - A Redis that keeps failing is left alone for a while: after [`FAILURES_TO_SUSPEND`]
//!   commands in a row fail or time out, lookups and writes are skipped for [`SUSPENSION`],
//!   so a hung Redis costs a few requests one timeout each, not every request.
//! - A Redis Cluster (ElastiCache with cluster mode on) is reached through one of its nodes
//!   (the configuration endpoint): keys spread over its shards by hash slot, each command
//!   goes to the shard that owns its key, and the client follows the topology as shards
//!   move (redirections). An entry's two reads (`GET`, `PTTL`) name one key, so they stay
//!   one pipeline to one shard.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use http::{HeaderMap, HeaderName, HeaderValue};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::plan::exec::Fetched;

/// `graft_shared_cache_total{result}`: shared-tier lookups (`hit`, `miss`, `error`: Redis
/// failed or timed out, `invalid`: an entry that does not decode, `skipped`: suspended) and
/// failed writes (`write_dropped`, `write_error`).
pub const SHARED_CACHE_METRIC: &str = "graft_shared_cache_total";

/// Background writes in flight at most; more are dropped.
pub const MAX_PENDING_WRITES: usize = 256;

/// Commands failed in a row (errors or timeouts) that suspend the tier.
pub const FAILURES_TO_SUSPEND: u32 = 3;

/// How long a suspension lasts; the first command after it tries Redis again.
pub const SUSPENSION: Duration = Duration::from_secs(1);

/// How to reach the shared tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedCacheOptions {
    /// `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// Prepended to every key, so several gateways (or other users) can share one Redis.
    pub key_prefix: String,
    /// Bound of each command, and of each connection attempt.
    pub timeout: Duration,
    /// For `rediss://`: the CA certificates (PEM) to trust instead of the system's roots.
    pub root_certificates: Option<Vec<u8>>,
    /// For `rediss://` to a Redis that asks for one (`tls-auth-clients`): the certificate
    /// graft presents and its private key.
    pub client_certificate: Option<ClientCertificate>,
    /// `url` names a node of a Redis Cluster, whose topology the client discovers.
    pub cluster: bool,
}

impl SharedCacheOptions {
    /// Whether the URL (and the certificates, if any) can reach a Redis; nothing is contacted.
    pub fn check(&self) -> Result<(), redis::RedisError> {
        self.connector().map(|_| ())
    }

    fn connector(&self) -> Result<Connector, redis::RedisError> {
        let client_tls = self
            .client_certificate
            .as_ref()
            .map(|c| redis::ClientTlsConfig {
                client_cert: c.certificate.clone(),
                client_key: c.key.clone(),
            });
        let certificates = (self.root_certificates.is_some() || client_tls.is_some()).then(|| {
            redis::TlsCertificates {
                client_tls,
                root_cert: self.root_certificates.clone(),
            }
        });
        if self.cluster {
            let mut builder = ClusterClient::builder([self.url.as_str()])
                .connection_timeout(self.timeout)
                .response_timeout(self.timeout);
            if let Some(certificates) = certificates {
                builder = builder.certs(certificates);
            }
            return builder.build().map(Connector::Cluster);
        }
        let client = match certificates {
            None => redis::Client::open(self.url.as_str()),
            Some(certificates) => redis::Client::build_with_tls(self.url.as_str(), certificates),
        }?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        Ok(Connector::Single(client, config))
    }
}

/// A client certificate chain and its private key, PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    pub certificate: Vec<u8>,
    pub key: Vec<u8>,
}

/// The key stays out of logs.
impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientCertificate(..)")
    }
}

/// How to open the tier's connection.
#[derive(Clone)]
enum Connector {
    Single(redis::Client, ConnectionManagerConfig),
    Cluster(ClusterClient),
}

impl Connector {
    async fn connect(&self) -> Result<Connection, redis::RedisError> {
        match self {
            Connector::Single(client, config) => {
                ConnectionManager::new_with_config(client.clone(), config.clone())
                    .await
                    .map(Connection::Single)
            }
            Connector::Cluster(client) => {
                client.get_async_connection().await.map(Connection::Cluster)
            }
        }
    }
}

/// The tier's connection: to one Redis, or to a cluster's shards. Both reconnect by
/// themselves, and clones share the connection.
#[derive(Clone)]
enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(
        &'a mut self,
        cmd: &'a redis::Cmd,
    ) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            Connection::Single(c) => c.req_packed_command(cmd),
            Connection::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Connection::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(c) => c.get_db(),
            Connection::Cluster(c) => c.get_db(),
        }
    }
}

/// A cheaply cloneable handle on the shared tier. Connects in the background and reconnects
/// by itself; until a connection stands, every lookup is a miss.
#[derive(Clone)]
pub struct SharedCache {
    inner: Arc<Inner>,
}

struct Inner {
    connection: ArcSwapOption<Connection>,
    key_prefix: String,
    timeout: Duration,
    writes: Arc<Semaphore>,
    health: Mutex<Health>,
}

/// Consecutive failures, and the end of the current suspension.
#[derive(Default)]
struct Health {
    failures: u32,
    suspended_until: Option<Instant>,
}

impl fmt::Debug for SharedCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCache")
            .field("key_prefix", &self.inner.key_prefix)
            .field("connected", &self.connected())
            .field("suspended", &self.suspended())
            .finish()
    }
}

/// Handles are equal when they are the same tier.
impl PartialEq for SharedCache {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// What is stored per answer.
#[derive(Serialize, Deserialize)]
struct Stored {
    value: Value,
    headers: Vec<(String, String)>,
}

impl SharedCache {
    /// Checks the URL now and connects in the background, on the current Tokio runtime (an
    /// error without one): a Redis that is down at start-up delays nothing, and is used
    /// once it answers.
    pub fn connect(options: &SharedCacheOptions) -> Result<SharedCache, redis::RedisError> {
        let connector = options.connector()?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| redis::RedisError::from(std::io::Error::other(e)))?;
        let cache = SharedCache {
            inner: Arc::new(Inner {
                connection: ArcSwapOption::empty(),
                key_prefix: options.key_prefix.clone(),
                timeout: options.timeout,
                writes: Arc::new(Semaphore::new(MAX_PENDING_WRITES)),
                health: Mutex::default(),
            }),
        };
        let inner = Arc::downgrade(&cache.inner);
        runtime.spawn(async move {
            let mut pause = Duration::from_millis(250);
            loop {
                match connector.connect().await {
                    Ok(connection) => {
                        if let Some(inner) = inner.upgrade() {
                            inner.connection.store(Some(Arc::new(connection)));
                        }
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the shared response cache (Redis) is not reachable yet");
                    }
                }
                // Retried while some gateway still holds the tier.
                if inner.strong_count() == 0 {
                    return;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        });
        Ok(cache)
    }

    /// Whether a connection stands (it may still fail; lookups then miss).
    pub fn connected(&self) -> bool {
        self.inner.connection.load().is_some()
    }

    /// Whether commands are being skipped after failures in a row ([`SUSPENSION`]).
    pub fn suspended(&self) -> bool {
        self.health()
            .suspended_until
            .is_some_and(|until| Instant::now() < until)
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        // The guarded counters stay consistent whatever panicked while holding them.
        self.inner
            .health
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a command's outcome; the last of [`FAILURES_TO_SUSPEND`] failures in a row
    /// suspends the tier.
    fn outcome(&self, ok: bool) {
        let mut health = self.health();
        if ok {
            health.failures = 0;
            return;
        }
        health.failures += 1;
        if health.failures >= FAILURES_TO_SUSPEND {
            health.failures = 0;
            health.suspended_until = Some(Instant::now() + SUSPENSION);
            tracing::warn!(
                failures = FAILURES_TO_SUSPEND,
                suspension_ms = SUSPENSION.as_millis() as u64,
                "the shared response cache (Redis) keeps failing; skipping it for a while"
            );
        }
    }

    /// The connection to send a command on: none while unconnected or suspended.
    fn usable(&self) -> Option<Arc<Connection>> {
        if self.suspended() {
            return None;
        }
        self.inner.connection.load_full()
    }

    /// The answer stored under `key` and its remaining lifetime, if any.
    pub async fn get(&self, key: &str) -> Option<(Arc<Fetched>, Duration)> {
        let Some(connection) = self.usable() else {
            record(if self.connected() { "skipped" } else { "miss" });
            return None;
        };
        let mut connection = (*connection).clone();
        let key = self.key(key);
        let mut pipe = redis::pipe();
        pipe.get(&key).pttl(&key);
        let reply: Result<(Option<Vec<u8>>, i64), _> =
            self.bounded(pipe.query_async(&mut connection)).await;
        match reply {
            // A key without an expiry (-1) was not written by graft: not trusted.
            Ok((Some(bytes), ttl)) if ttl > 0 => match decode(&bytes) {
                Some(fetched) => {
                    record("hit");
                    Some((Arc::new(fetched), Duration::from_millis(ttl.unsigned_abs())))
                }
                None => {
                    record("invalid");
                    tracing::warn!(
                        key,
                        "a shared response cache entry does not decode; ignored"
                    );
                    None
                }
            },
            Ok(_) => {
                record("miss");
                None
            }
            Err(e) => {
                record("error");
                tracing::debug!(error = %e, "shared response cache lookup failed");
                None
            }
        }
    }

    /// Stores `fetched` under `key` for `ttl`, in the background.
    pub fn put(&self, key: &str, fetched: &Fetched, ttl: Duration) {
        if let Ok(bytes) = serde_json::to_vec(&encode(fetched)) {
            self.write(key, bytes, ttl);
        }
    }

    /// The text another replica stored under `key` with [`SharedCache::put_text`] (not an
    /// answer: a persisted query, say). Failures and timeouts are misses, as for answers,
    /// and count towards the tier's suspension; the answer metric does not count these.
    pub async fn get_text(&self, key: &str) -> Option<String> {
        let mut connection = (*self.usable()?).clone();
        let mut command = redis::cmd("GET");
        command.arg(self.key(key));
        let reply: Result<Option<Vec<u8>>, _> =
            self.bounded(command.query_async(&mut connection)).await;
        String::from_utf8(reply.ok()??).ok()
    }

    /// Stores `text` under `key` for `ttl`, in the background, bounded like answers.
    pub fn put_text(&self, key: &str, text: &str, ttl: Duration) {
        self.write(key, text.as_bytes().to_vec(), ttl);
    }

    /// Writes `bytes` under `key` for `ttl` in the background: at most
    /// [`MAX_PENDING_WRITES`] at once, the rest dropped.
    fn write(&self, key: &str, bytes: Vec<u8>, ttl: Duration) {
        let Some(connection) = self.usable() else {
            return;
        };
        let Ok(permit) = Arc::clone(&self.inner.writes).try_acquire_owned() else {
            record("write_dropped");
            return;
        };
        let key = self.key(key);
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let tier = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let mut connection = (*connection).clone();
            let mut command = redis::cmd("SET");
            command.arg(&key).arg(bytes).arg("PX").arg(millis);
            let written: Result<(), _> = tier.bounded(command.query_async(&mut connection)).await;
            if let Err(e) = written {
                record("write_error");
                tracing::debug!(error = %e, "shared response cache write failed");
            }
        });
    }

    /// A command's reply within the tier's timeout (a timeout is an error), counted towards
    /// the tier's health: the one way every command is sent.
    async fn bounded<T>(
        &self,
        command: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> redis::RedisResult<T> {
        let reply = tokio::time::timeout(self.inner.timeout, command)
            .await
            .unwrap_or_else(|_| Err(timed_out()));
        self.outcome(reply.is_ok());
        reply
    }

    fn key(&self, key: &str) -> String {
        let mut text = String::with_capacity(self.inner.key_prefix.len() + 64);
        text.push_str(&self.inner.key_prefix);
        push_sha256_hex(&mut text, key);
        text
    }
}

/// Appends the SHA-256 of `text` to `out` in lowercase hex (64 digits).
pub fn push_sha256_hex(out: &mut String, text: &str) {
    for byte in Sha256::digest(text.as_bytes()).iter() {
        let _ = write!(out, "{byte:02x}");
    }
}

fn timed_out() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the shared response cache did not answer in time",
    ))
}

fn record(result: &'static str) {
    metrics::counter!(SHARED_CACHE_METRIC, "result" => result).increment(1);
}

fn encode(fetched: &Fetched) -> Stored {
    Stored {
        value: fetched.value.view().to_json().into_owned(),
        headers: fetched
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_owned())))
            .collect(),
    }
}

fn decode(bytes: &[u8]) -> Option<Fetched> {
    let stored: Stored = serde_json::from_slice(bytes).ok()?;
    let mut headers = HeaderMap::new();
    for (name, value) in stored.headers {
        headers.append(
            HeaderName::try_from(name).ok()?,
            HeaderValue::try_from(value).ok()?,
        );
    }
    Some(Fetched {
        value: stored.value.into(),
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_entry_reads_back_as_it_was_stored_and_garbage_does_not_decode() {
        let mut headers = HeaderMap::new();
        headers.append("cache-control", HeaderValue::from_static("max-age=5"));
        let fetched = Fetched {
            value: json!({"id": 1, "tags": ["a"]}).into(),
            headers,
        };
        let bytes = serde_json::to_vec(&encode(&fetched)).unwrap();
        let back = decode(&bytes).unwrap();
        assert_eq!(
            back.value.view().to_json().into_owned(),
            json!({"id": 1, "tags": ["a"]})
        );
        assert_eq!(back.headers["cache-control"], "max-age=5");
        for garbage in [
            &b"not json"[..],
            br#"{"value": 1}"#,
            br#"{"value": 1, "headers": [["bad name", "x"]]}"#,
        ] {
            assert!(
                decode(garbage).is_none(),
                "{}",
                String::from_utf8_lossy(garbage)
            );
        }
    }
}
