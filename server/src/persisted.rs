//! Automatic persisted queries (Apollo's APQ protocol): a client sends
//! `extensions.persistedQuery = {version: 1, sha256Hash}` instead of the query's text. A
//! known hash is answered as if the text had been sent; an unknown one gets
//! `PersistedQueryNotFound`, and the client sends the text with the hash once, which graft
//! checks (SHA-256 of the text) and keeps. Short hashed requests fit in a GET URL, which
//! CDNs and browsers can cache.
//!
//! Queries are kept in process (memory-bounded) and, with a shared cache configured, in
//! Redis under the shared tier's prefix, so a hash told to one replica is known to all of
//! them. Redis is optional here as everywhere: when it fails, an unknown hash is asked for
//! again.
//!
//! A deployment may also list its operations ahead of time in a manifest ([`Manifest`]):
//! listed ids always run, and with `only_listed` nothing else does (a safelist: clients
//! can neither send other text nor register it).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::config::PersistedQueriesConfig;
use crate::error::{AppError, ErrorCode};

/// `graft_persisted_queries_total{result}`: hashes answered from the manifest (`listed`),
/// the process (`hit`) or Redis (`shared_hit`), not known (`miss`), queries kept when sent
/// in full (`registered`), and operations refused as not listed (`not_listed`).
pub const PERSISTED_QUERIES_METRIC: &str = "graft_persisted_queries_total";

/// Known queries by their SHA-256 (lowercase hex).
pub struct PersistedQueries {
    enabled: bool,
    manifest: Option<Manifest>,
    only_listed: bool,
    local: quick_cache::sync::Cache<String, Arc<str>, TextWeight>,
    shared: Option<engine::cache::SharedCache>,
    shared_ttl: Duration,
}

/// Weighs an entry by its text and hash, so the store is bounded in bytes.
#[derive(Clone)]
struct TextWeight;

impl quick_cache::Weighter<String, Arc<str>> for TextWeight {
    fn weight(&self, hash: &String, text: &Arc<str>) -> u64 {
        (hash.len() + text.len() + 64) as u64
    }
}

/// What a request's `persistedQuery` extension asks for: an id, a SHA-256 for APQ.
struct Asked {
    id: String,
}

/// Operations listed ahead of time: their text by id, and the set of listed texts.
///
/// Read from Apollo's manifest (`{"format": "apollo-persisted-query-manifest", "version": 1,
/// "operations": [{"id", "body", ...}]}`, what `generate-persisted-query-manifest` writes)
/// or from a JSON object of id → text (Relay's `persisted_queries.json`, GraphQL Code
/// Generator's `persisted-documents.json`). Ids are whatever the tool chose; clients send
/// them as `extensions.persistedQuery.sha256Hash`.
#[derive(Debug, Default)]
pub struct Manifest {
    by_id: HashMap<String, Arc<str>>,
    texts: HashSet<Arc<str>>,
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Manifest, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Manifest::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Manifest, String> {
        use serde_json::Value;
        let root: Value =
            serde_json::from_str(text).map_err(|e| format!("not a JSON manifest: {e}"))?;
        let Value::Object(root) = root else {
            return Err("a manifest is a JSON object".into());
        };
        let mut entries: Vec<(String, String)> = Vec::new();
        if let Some(format) = root.get("format") {
            if format != "apollo-persisted-query-manifest" {
                return Err(format!(
                    "format {format} is not apollo-persisted-query-manifest"
                ));
            }
            if root.get("version").and_then(Value::as_u64) != Some(1) {
                return Err("an apollo-persisted-query-manifest must have version 1".into());
            }
            let operations = root
                .get("operations")
                .and_then(Value::as_array)
                .ok_or("an apollo-persisted-query-manifest needs an operations list")?;
            for (i, operation) in operations.iter().enumerate() {
                let member = |name: &str| {
                    operation
                        .get(name)
                        .and_then(Value::as_str)
                        .filter(|v| !v.is_empty())
                        .map(str::to_owned)
                        .ok_or_else(|| format!("operations[{i}] has no {name} string"))
                };
                entries.push((member("id")?, member("body")?));
            }
        } else {
            for (id, body) in root {
                match body {
                    Value::String(body) if !body.is_empty() => entries.push((id, body)),
                    _ => return Err(format!("the text of {id:?} is not a non-empty string")),
                }
            }
        }
        if entries.is_empty() {
            return Err("the manifest lists no operations".into());
        }
        let mut manifest = Manifest::default();
        for (id, body) in entries {
            let body: Arc<str> = body.into();
            if let Some(listed) = manifest.by_id.get(&id)
                && *listed != body
            {
                return Err(format!(
                    "the id {id:?} is listed twice with different texts"
                ));
            }
            manifest.texts.insert(Arc::clone(&body));
            manifest.by_id.insert(id, body);
        }
        Ok(manifest)
    }

    /// How many operations it lists.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

impl PersistedQueries {
    pub fn new(
        config: &PersistedQueriesConfig,
        shared: Option<engine::cache::SharedCache>,
    ) -> Self {
        let bytes = config.cache_mib.saturating_mul(1024 * 1024);
        // Entries are a few hundred bytes to a few KiB: the item estimate only sizes tables.
        let items = (bytes / 1024).max(16) as usize;
        // `Config::load` has read the manifest once already; a config built in code that
        // names an unreadable one lists nothing, which with `only_listed` refuses everything.
        let manifest = config.manifest.as_deref().map(|path| {
            let manifest = Manifest::read(path).unwrap_or_else(|e| {
                tracing::error!(error = %e, "the persisted-query manifest lists nothing");
                Manifest::default()
            });
            tracing::info!(
                operations = manifest.len(),
                only_listed = config.only_listed,
                "persisted-query manifest read"
            );
            manifest
        });
        PersistedQueries {
            enabled: config.enabled,
            manifest,
            only_listed: config.only_listed,
            local: quick_cache::sync::Cache::with_weighter(items, bytes, TextWeight),
            shared,
            shared_ttl: Duration::from_secs(config.shared_ttl_s),
        }
    }

    /// Whether [`Self::resolve`] has anything to do for `request`: it names a persisted
    /// query, or only listed operations may run.
    pub fn applies(&self, request: &async_graphql::Request) -> bool {
        self.only_listed || request.extensions.contains_key("persistedQuery")
    }

    /// Completes `request` per the protocol: runs a listed id's text, fills in the text of a
    /// known hash, checks and keeps a text sent with its hash, and refuses an unknown hash
    /// or one that does not match; with `only_listed`, refuses whatever is not listed.
    /// Requests without the extension pass unchanged otherwise.
    pub async fn resolve(&self, request: &mut async_graphql::Request) -> Result<(), AppError> {
        let asked = asked(request)?;
        let has_text = !request.query.is_empty();
        if let Some(manifest) = &self.manifest {
            if !has_text
                && let Some(asked) = &asked
                && let Some(text) = manifest.by_id.get(&asked.id)
            {
                record("listed");
                request.query = text.to_string();
                return Ok(());
            }
            if self.only_listed {
                if has_text && manifest.texts.contains(request.query.as_str()) {
                    return Ok(());
                }
                record("not_listed");
                return Err(AppError::new(
                    ErrorCode::PersistedQueryNotInList,
                    if has_text {
                        "only the operations of the persisted-query manifest may run; this text is not one of them"
                    } else {
                        "the persisted-query manifest does not list this id"
                    },
                ));
            }
        }
        let Some(asked) = asked else {
            return Ok(());
        };
        let hash = sha256_of(&asked)?;
        if !self.enabled {
            if has_text {
                return Ok(());
            }
            return Err(AppError::new(
                ErrorCode::PersistedQueryNotSupported,
                "PersistedQueryNotSupported",
            ));
        }
        if has_text {
            let actual = hex_sha256(&request.query);
            if actual != hash {
                return Err(AppError::new(
                    ErrorCode::PersistedQueryHashMismatch,
                    format!(
                        "the query's SHA-256 is {actual}, not persistedQuery.sha256Hash {hash}"
                    ),
                ));
            }
            let text: Arc<str> = request.query.as_str().into();
            if self.local.get(&hash).is_none() {
                record("registered");
            }
            // Written to Redis each time it is sent in full: its lifetime starts again.
            if let Some(shared) = &self.shared {
                shared.put_text(&shared_key(&hash), &text, self.shared_ttl);
            }
            self.local.insert(hash, text);
            return Ok(());
        }
        if let Some(text) = self.local.get(&hash) {
            record("hit");
            request.query = text.to_string();
            return Ok(());
        }
        if let Some(shared) = &self.shared
            && let Some(text) = shared.get_text(&shared_key(&hash)).await
            // Redis is trusted no further than the hash: text stored by anyone else is
            // checked like text from a client.
            && hex_sha256(&text) == hash
        {
            record("shared_hit");
            self.local.insert(hash, text.as_str().into());
            request.query = text;
            return Ok(());
        }
        record("miss");
        Err(AppError::new(
            ErrorCode::PersistedQueryNotFound,
            "PersistedQueryNotFound",
        ))
    }
}

/// The request's `persistedQuery` extension, checked: `None` without one.
fn asked(request: &async_graphql::Request) -> Result<Option<Asked>, AppError> {
    use async_graphql::Value;
    let Some(extension) = request.extensions.get("persistedQuery") else {
        return Ok(None);
    };
    let bad = |message: &str| AppError::new(ErrorCode::BadRequest, message);
    let Value::Object(fields) = extension else {
        return Err(bad("extensions.persistedQuery must be an object"));
    };
    match fields.get("version") {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        _ => {
            return Err(bad(
                "extensions.persistedQuery.version must be 1 (the only version of the protocol)",
            ));
        }
    }
    match fields.get("sha256Hash") {
        Some(Value::String(id)) if !id.is_empty() => Ok(Some(Asked { id: id.clone() })),
        _ => Err(bad(
            "extensions.persistedQuery.sha256Hash must be the query's SHA-256 in 64 hex digits",
        )),
    }
}

/// The SHA-256 an APQ request names (lowercase): only manifests have ids of another shape.
fn sha256_of(asked: &Asked) -> Result<String, AppError> {
    let id = &asked.id;
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(AppError::new(
            ErrorCode::BadRequest,
            "extensions.persistedQuery.sha256Hash must be the query's SHA-256 in 64 hex digits",
        ))
    }
}

fn shared_key(hash: &str) -> String {
    format!("apq:{hash}")
}

fn hex_sha256(text: &str) -> String {
    let mut hex = String::with_capacity(64);
    engine::cache::shared::push_sha256_hex(&mut hex, text);
    hex
}

fn record(result: &'static str) {
    metrics::counter!(PERSISTED_QUERIES_METRIC, "result" => result).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(query: &str, extension: serde_json::Value) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(query);
        request.extensions.insert(
            "persistedQuery".into(),
            async_graphql::Value::from_json(extension).unwrap(),
        );
        request
    }

    #[tokio::test]
    async fn a_hash_is_asked_for_once_then_answered_and_a_wrong_one_is_refused() {
        let store = PersistedQueries::new(&PersistedQueriesConfig::default(), None);
        let text = "{ posts { id } }";
        let hash = hex_sha256(text);
        // The SHA-256 of the text, as clients compute it.
        assert_eq!(hash.len(), 64);
        let ext = serde_json::json!({"version": 1, "sha256Hash": hash.to_ascii_uppercase()});

        let mut hashed = request("", ext.clone());
        let err = store.resolve(&mut hashed).await.unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (ErrorCode::PersistedQueryNotFound, "PersistedQueryNotFound")
        );

        let mut full = request(text, ext.clone());
        store.resolve(&mut full).await.unwrap();
        let mut hashed = request("", ext.clone());
        store.resolve(&mut hashed).await.unwrap();
        assert_eq!(hashed.query, text);

        let mut wrong = request("{ users { id } }", ext);
        let err = store.resolve(&mut wrong).await.unwrap_err();
        assert_eq!(err.code, ErrorCode::PersistedQueryHashMismatch);

        for (extension, words) in [
            (
                serde_json::json!({"version": 2, "sha256Hash": hash}),
                "version must be 1",
            ),
            (
                serde_json::json!({"version": 1, "sha256Hash": "abc"}),
                "64 hex digits",
            ),
            (serde_json::json!("x"), "must be an object"),
        ] {
            let err = store
                .resolve(&mut request("", extension))
                .await
                .unwrap_err();
            assert_eq!(err.code, ErrorCode::BadRequest);
            assert!(err.message.contains(words), "{}", err.message);
        }
    }

    #[tokio::test]
    async fn switched_off_a_hash_alone_is_not_supported_and_a_text_runs_as_sent() {
        let config = PersistedQueriesConfig {
            enabled: false,
            ..PersistedQueriesConfig::default()
        };
        let store = PersistedQueries::new(&config, None);
        let text = "{ posts { id } }";
        let ext = serde_json::json!({"version": 1, "sha256Hash": hex_sha256(text)});
        let err = store
            .resolve(&mut request("", ext.clone()))
            .await
            .unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (
                ErrorCode::PersistedQueryNotSupported,
                "PersistedQueryNotSupported"
            )
        );
        let mut full = request(text, ext.clone());
        store.resolve(&mut full).await.unwrap();
        assert_eq!(full.query, text);
        // Nothing was kept.
        assert!(store.resolve(&mut request("", ext)).await.is_err());
    }

    const POSTS: &str = "query Posts { posts { id } }";
    const USERS: &str = "query Users { users { id } }";

    /// A store over `manifest` (written to a file, read as graft reads it).
    fn store(
        manifest: serde_json::Value,
        only_listed: bool,
    ) -> (PersistedQueries, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        std::fs::write(&path, manifest.to_string()).unwrap();
        let config = PersistedQueriesConfig {
            manifest: Some(path),
            only_listed,
            ..PersistedQueriesConfig::default()
        };
        (PersistedQueries::new(&config, None), dir)
    }

    fn by_id(id: &str) -> async_graphql::Request {
        let mut request = async_graphql::Request::new("");
        request.extensions.insert(
            "persistedQuery".into(),
            async_graphql::Value::from_json(json!({"version": 1, "sha256Hash": id})).unwrap(),
        );
        request
    }

    fn apollo(operations: serde_json::Value) -> serde_json::Value {
        json!({"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations})
    }

    #[test]
    fn both_manifest_formats_are_read_and_bad_ones_say_what_is_wrong() {
        let hash = hex_sha256(POSTS);
        let listed = Manifest::parse(
            &apollo(json!([{"id": hash, "name": "Posts", "type": "query", "body": POSTS}]))
                .to_string(),
        )
        .unwrap();
        assert_eq!(listed.by_id[&hash].as_ref(), POSTS);
        let relay = Manifest::parse(&json!({"a1b2": POSTS, "c3": USERS}).to_string()).unwrap();
        assert_eq!(relay.len(), 2);
        assert!(relay.texts.contains(USERS));

        for (text, words) in [
            ("{".to_string(), "not a JSON manifest"),
            ("[]".to_string(), "is a JSON object"),
            (json!({}).to_string(), "lists no operations"),
            (
                json!({"format": "persisted-documents", "operations": []}).to_string(),
                "is not apollo-persisted-query-manifest",
            ),
            (
                json!({"format": "apollo-persisted-query-manifest", "version": 2, "operations": []})
                    .to_string(),
                "version 1",
            ),
            (apollo(json!([{"id": "x"}])).to_string(), "operations[0] has no body"),
            (json!({"x": 1}).to_string(), "\"x\" is not a non-empty string"),
            (
                apollo(json!([{"id": "x", "body": POSTS}, {"id": "x", "body": USERS}])).to_string(),
                "listed twice with different texts",
            ),
        ] {
            let err = Manifest::parse(&text).unwrap_err();
            assert!(err.contains(words), "{text}: {err}");
        }
    }

    #[tokio::test]
    async fn a_listed_id_runs_its_text_even_with_apq_off_and_other_requests_go_on_to_apq() {
        let (mut store, _dir) = store(json!({"relay-id-1": POSTS}), false);
        store.enabled = false;
        let mut listed = by_id("relay-id-1");
        store.resolve(&mut listed).await.unwrap();
        assert_eq!(listed.query, POSTS);
        // Not listed: the APQ rules as before (off: a hash alone is not supported).
        let err = store
            .resolve(&mut by_id(&hex_sha256(USERS)))
            .await
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::PersistedQueryNotSupported);
        let mut text = async_graphql::Request::new(USERS);
        assert!(!store.applies(&text));
        store.resolve(&mut text).await.unwrap();
    }

    #[tokio::test]
    async fn only_listed_refuses_every_other_text_and_id_and_registers_nothing() {
        let (store, _dir) = store(apollo(json!([{"id": "p", "body": POSTS}])), true);
        let mut listed = by_id("p");
        store.resolve(&mut listed).await.unwrap();
        assert_eq!(listed.query, POSTS);
        // Its exact text runs too, with or without an id.
        let mut text = async_graphql::Request::new(POSTS);
        assert!(store.applies(&text));
        store.resolve(&mut text).await.unwrap();
        let refused = [
            async_graphql::Request::new(USERS),
            by_id("q"),
            // APQ registration: a correct hash with its text is still not listed.
            {
                let mut r = by_id(&hex_sha256(USERS));
                r.query = USERS.into();
                r
            },
            by_id(&hex_sha256(USERS)),
        ];
        for mut request in refused {
            let err = store.resolve(&mut request).await.unwrap_err();
            assert_eq!(
                err.code,
                ErrorCode::PersistedQueryNotInList,
                "{}",
                err.message
            );
            assert_eq!(err.code.as_str(), "PERSISTED_QUERY_NOT_IN_LIST");
        }
    }
}
