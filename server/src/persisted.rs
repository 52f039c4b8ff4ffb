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

use std::sync::Arc;
use std::time::Duration;

use crate::config::PersistedQueriesConfig;
use crate::error::{AppError, ErrorCode};

/// `graft_persisted_queries_total{result}`: hashes answered from the process (`hit`) or
/// from Redis (`shared_hit`), not known (`miss`), and queries kept when sent in full
/// (`registered`).
pub const PERSISTED_QUERIES_METRIC: &str = "graft_persisted_queries_total";

/// Known queries by their SHA-256 (lowercase hex).
pub struct PersistedQueries {
    enabled: bool,
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

/// What a request's `persistedQuery` extension asks for.
struct Asked {
    hash: String,
}

impl PersistedQueries {
    pub fn new(
        config: &PersistedQueriesConfig,
        shared: Option<engine::cache::SharedCache>,
    ) -> Self {
        let bytes = config.cache_mib.saturating_mul(1024 * 1024);
        // Entries are a few hundred bytes to a few KiB: the item estimate only sizes tables.
        let items = (bytes / 1024).max(16) as usize;
        PersistedQueries {
            enabled: config.enabled,
            local: quick_cache::sync::Cache::with_weighter(items, bytes, TextWeight),
            shared,
            shared_ttl: Duration::from_secs(config.shared_ttl_s),
        }
    }

    /// Completes `request` per the protocol: fills in the text of a known hash, checks and
    /// keeps a text sent with its hash, and refuses an unknown hash or one that does not
    /// match. Requests without the extension pass unchanged.
    pub async fn resolve(&self, request: &mut async_graphql::Request) -> Result<(), AppError> {
        let Some(asked) = asked(request)? else {
            return Ok(());
        };
        let has_text = !request.query.is_empty();
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
            if actual != asked.hash {
                return Err(AppError::new(
                    ErrorCode::PersistedQueryHashMismatch,
                    format!(
                        "the query's SHA-256 is {actual}, not persistedQuery.sha256Hash {}",
                        asked.hash
                    ),
                ));
            }
            let text: Arc<str> = request.query.as_str().into();
            if self.local.get(&asked.hash).is_none() {
                record("registered");
            }
            // Written to Redis each time it is sent in full: its lifetime starts again.
            if let Some(shared) = &self.shared {
                shared.put_text(&shared_key(&asked.hash), &text, self.shared_ttl);
            }
            self.local.insert(asked.hash, text);
            return Ok(());
        }
        if let Some(text) = self.local.get(&asked.hash) {
            record("hit");
            request.query = text.to_string();
            return Ok(());
        }
        if let Some(shared) = &self.shared
            && let Some(text) = shared.get_text(&shared_key(&asked.hash)).await
            // Redis is trusted no further than the hash: text stored by anyone else is
            // checked like text from a client.
            && hex_sha256(&text) == asked.hash
        {
            record("shared_hit");
            self.local.insert(asked.hash, text.as_str().into());
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
    let hash = match fields.get("sha256Hash") {
        Some(Value::String(hash))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            hash.to_ascii_lowercase()
        }
        _ => {
            return Err(bad(
                "extensions.persistedQuery.sha256Hash must be the query's SHA-256 in 64 hex digits",
            ));
        }
    };
    Ok(Some(Asked { hash }))
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
}
