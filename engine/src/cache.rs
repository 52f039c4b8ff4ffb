//! The in-process upstream response cache: memory-bounded, with a TTL per entry.
//!
//! Entries are keyed by the rendered request's key ([`crate::upstream::Rendered::key`]),
//! which holds the source, the method, the URL and every header sent upstream — forwarded
//! credentials included — so one caller's credentialed answer is only ever served to a
//! request that would have sent the same credentials. Only reads are cached; the TTL comes
//! from the field's `cacheTtl` and, for sources that pass `cache-control` back, from the
//! upstream's `max-age` (the smaller wins; `no-store`, `no-cache` and `private` disable it).
//!
//! Values are kept decoded (`Arc`), so a hit costs no parsing and cannot fail to decode.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::sync::Cache;
use serde_json::Value;

use crate::plan::exec::Fetched;

/// A cached answer and how long it lives.
#[derive(Clone)]
struct Entry {
    fetched: Arc<Fetched>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _now: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// A cheaply cloneable handle on one gateway's response cache.
#[derive(Clone)]
pub struct ResponseCache {
    inner: Option<Cache<String, Entry>>,
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("entries", &self.inner.as_ref().map(Cache::entry_count))
            .finish()
    }
}

impl ResponseCache {
    /// A cache holding at most about `max_bytes` of answers; `0` disables caching.
    pub fn new(max_bytes: u64) -> Self {
        if max_bytes == 0 {
            return ResponseCache { inner: None };
        }
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &String, entry: &Entry| {
                u32::try_from(key.len() + approximate_size(&entry.fetched.value))
                    .unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .build();
        ResponseCache { inner: Some(cache) }
    }

    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    pub fn get(&self, key: &str) -> Option<Arc<Fetched>> {
        self.inner.as_ref()?.get(key).map(|e| e.fetched)
    }

    pub fn insert(&self, key: String, fetched: Arc<Fetched>, ttl: Duration) {
        if let Some(cache) = &self.inner
            && !ttl.is_zero()
        {
            cache.insert(key, Entry { fetched, ttl });
        }
    }
}

/// Roughly the heap bytes a JSON value holds (what bounds the cache's memory).
pub fn approximate_size(value: &Value) -> usize {
    const NODE: usize = std::mem::size_of::<Value>();
    match value {
        Value::String(s) => NODE + s.len(),
        Value::Array(items) => NODE + items.iter().map(approximate_size).sum::<usize>(),
        Value::Object(map) => {
            NODE + map
                .iter()
                .map(|(k, v)| k.len() + NODE + approximate_size(v))
                .sum::<usize>()
        }
        _ => NODE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fetched(value: Value) -> Arc<Fetched> {
        Arc::new(Fetched {
            value,
            headers: http::HeaderMap::new(),
        })
    }

    #[test]
    fn entries_expire_after_their_own_ttl() {
        let cache = ResponseCache::new(1 << 20);
        cache.insert("a".into(), fetched(json!(1)), Duration::from_millis(30));
        cache.insert("b".into(), fetched(json!(2)), Duration::from_secs(60));
        assert_eq!(cache.get("a").map(|f| f.value.clone()), Some(json!(1)));
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get("a").is_none());
        assert_eq!(cache.get("b").map(|f| f.value.clone()), Some(json!(2)));
    }

    #[test]
    fn a_disabled_cache_stores_nothing() {
        let cache = ResponseCache::new(0);
        cache.insert("a".into(), fetched(json!(1)), Duration::from_secs(60));
        assert!(!cache.enabled());
        assert!(cache.get("a").is_none());
    }
}
